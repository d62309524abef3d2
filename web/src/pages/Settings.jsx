// Settings.jsx - my default model and pinned models (saved through
// /api/users/preferences/llm), and the theme.
import { useState } from 'preact/hooks';
import * as api from '../api.js';
import { ModelPicker, priceText } from '../components/ModelPicker.jsx';
import { ErrorAlert, Icon, toast } from '../components/ui.jsx';
import { currentTheme, setTheme } from '../theme.js';

export function SettingsPage({ ctx }) {
  const { prefs, models } = ctx;
  const [error, setError] = useState(null);
  const [theme, setThemeState] = useState(currentTheme());

  const save = async (next) => {
    setError(null);
    const before = prefs;
    ctx.setPrefs(next);
    try {
      ctx.setPrefs(await api.prefs.save(next));
      toast('Preferences saved');
      ctx.loadModels();
    } catch (e) {
      ctx.setPrefs(before);
      setError(e);
    }
  };
  const togglePin = (ref) =>
    save({ ...prefs, pinned: prefs.pinned.includes(ref) ? prefs.pinned.filter((p) => p !== ref) : [...prefs.pinned, ref] });
  const byId = (id) => models.models.find((m) => m.id === id);

  return (
    <>
      <header class="topbar">
        <button class="btn ghost icon menu-btn" aria-label="Open menu" onClick={ctx.onMenu}><Icon name="menu" /></button>
        <h1 class="title" style="font-size:15px;margin:0">Settings</h1>
      </header>
      <div class="page">
        <div class="page-inner" style="max-width:720px">
          <ErrorAlert error={error} />
          <section class="card stack" aria-labelledby="default-h">
            <div>
              <h2 id="default-h">Default model</h2>
              <p class="muted small" style="margin:0">Used for new conversations unless an agent or your organization decides otherwise.</p>
            </div>
            <div class="row wrap">
              <ModelPicker label="Default model" models={models.models} value={prefs.defaultModel}
                onChange={(ref) => save({ ...prefs, defaultModel: ref })} pinned={prefs.pinned} onTogglePin={togglePin} />
              {prefs.defaultModel && (
                <button class="btn ghost sm" onClick={() => save({ ...prefs, defaultModel: '' })}>Clear (use the organization default)</button>
              )}
            </div>
            <p class="small muted" style="margin:0" data-testid="settings-default">
              {prefs.defaultModel ? `Current default: ${(byId(prefs.defaultModel) || {}).name || prefs.defaultModel}` : 'No personal default: the organization default applies.'}
            </p>
          </section>
          <section class="card stack" aria-labelledby="pins-h">
            <div>
              <h2 id="pins-h">Pinned models</h2>
              <p class="muted small" style="margin:0">Pinned models come first in the model selector. Pin more from the selector with the star or <kbd>Alt</kbd>+<kbd>P</kbd>.</p>
            </div>
            {prefs.pinned.length === 0 && <p class="muted small" style="margin:0">Nothing pinned yet.</p>}
            <ul class="stack" style="list-style:none;margin:0;padding:0;gap:6px">
              {prefs.pinned.map((ref) => {
                const m = byId(ref);
                return (
                  <li class="row">
                    <span class={'dot ' + (m ? m.status : 'unconfigured')} aria-hidden="true" />
                    <span style="font-weight:500">{m ? m.name : ref}</span>
                    <span class="small muted">{m ? priceText(m) : 'not available to you'}</span>
                    <span class="spacer" />
                    <button class="btn ghost sm" onClick={() => togglePin(ref)} aria-label={`Unpin ${m ? m.name : ref}`}>Unpin</button>
                  </li>
                );
              })}
            </ul>
          </section>
          <section class="card stack" aria-labelledby="theme-h">
            <h2 id="theme-h">Appearance</h2>
            <div class="row" role="radiogroup" aria-label="Theme">
              {['light', 'dark'].map((t) => (
                <button class={'btn' + (theme === t ? ' primary' : '')} role="radio" aria-checked={theme === t ? 'true' : 'false'}
                  onClick={() => { setTheme(t); setThemeState(t); }}>{t === 'light' ? 'Light' : 'Dark'}</button>
              ))}
            </div>
          </section>
        </div>
      </div>
    </>
  );
}
