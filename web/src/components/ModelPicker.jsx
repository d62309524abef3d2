// ModelPicker.jsx - the LLM selector: a command-palette combobox (shadcn/ui
// style). Search matches name, id, provider and capabilities; pinned and
// recent models come first, the rest grouped by provider. Each option shows
// capabilities, context, price in/out, live status with its reason and a
// latency estimate; models the org does not allow are shown disabled with the
// reason. Keyboard: Up/Down/Home/End move, Enter picks, Esc closes, P pins
// (Alt+P from the search field); Ctrl/Cmd+K opens it from anywhere.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { formatMs, formatPrice, formatTokens } from '../format.js';
import { Icon } from './ui.jsx';

const RECENT_KEY = 'teamhub.recentModels';
const CAPS = ['tools', 'vision', 'json', 'reasoning'];
const STATUS_TEXT = {
  available: 'Available',
  degraded: 'Degraded',
  unavailable: 'Unavailable',
  unconfigured: 'Not configured',
};
export const SOURCE_TEXT = {
  request: 'your choice',
  conversation: "this conversation's model",
  agent_default: "the agent's default",
  user_default: 'your default',
  org_default: "your organization's default",
  system_default: 'the system default',
  fallback: 'the first available model',
};

export function recentModels() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
  } catch (_) {
    return [];
  }
}
export function pushRecent(ref) {
  const list = [ref, ...recentModels().filter((r) => r !== ref)].slice(0, 5);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
}

export function priceText(m) {
  const p = m.pricing || {};
  if (p.unit === 'per_request') return `${formatPrice(p.request ?? p.input)}/request`;
  if (p.unit === 'per_second') return `${formatPrice(p.input)}/s`;
  return `${formatPrice(p.input)} in · ${formatPrice(p.output)} out /1M`;
}

export function latencyText(m) {
  const l = m.latency || {};
  const parts = [];
  if (l.ttft_p50_ms != null) parts.push(`~${formatMs(l.ttft_p50_ms)} to first token`);
  if (l.tokens_per_s != null) parts.push(`${Math.round(l.tokens_per_s)} tok/s`);
  return parts.join(' · ') || 'no latency data yet';
}

// 0 = no match; higher is better: the whole query in the name or id beats
// every word in them, which beats a match through provider or capabilities.
function score(m, q) {
  if (!q) return 1;
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const hay = [m.name, m.id, m.provider, ...m.capabilities].join(' ').toLowerCase();
  if (!words.every((t) => hay.includes(t))) return 0;
  const ident = `${m.name} ${m.id}`.toLowerCase().replace(/[-_/.]/g, ' ');
  if (ident.includes(words.join(' '))) return 3;
  return words.every((t) => ident.includes(t)) ? 2 : 1;
}

function disabledReason(m) {
  if (!m.allowed) return m.reason || 'Not allowed in your organization';
  if (m.status === 'unavailable' || m.status === 'unconfigured')
    return m.statusReason || STATUS_TEXT[m.status];
  return '';
}

// Builds [{label, items:[model]}] in display order; every model appears once.
function groupModels(models, q, pinned, recent) {
  const scores = new Map(models.map((m) => [m.id, score(m, q)]));
  const hits = models.filter((m) => scores.get(m.id) > 0);
  const byId = new Map(hits.map((m) => [m.id, m]));
  const used = new Set();
  const groups = [];
  const take = (label, ids) => {
    const items = ids.map((id) => byId.get(id)).filter((m) => m && !used.has(m.id));
    items.forEach((m) => used.add(m.id));
    if (items.length) groups.push({ label, items });
  };
  take('Pinned', pinned);
  take('Recent', recent);
  const providers = [...new Set(hits.map((m) => m.provider))];
  for (const p of providers)
    take(p, hits.filter((m) => m.provider === p).map((m) => m.id));
  if (!q) return groups;
  // searching: best matches first, inside and across groups (stable otherwise)
  const best = (g) => Math.max(...g.items.map((m) => scores.get(m.id)));
  groups.forEach((g) => g.items.sort((a, b) => scores.get(b.id) - scores.get(a.id)));
  return groups.map((g, i) => [g, i]).sort((a, b) => best(b[0]) - best(a[0]) || a[1] - b[1]).map(([g]) => g);
}

export function ModelOption({ m, id, active, selected, pinned, onPin, onPick, onHover }) {
  const reason = disabledReason(m);
  const caps = CAPS.filter((c) => m.capabilities.includes(c));
  return (
    <li id={id} role="option" class="option" aria-selected={active ? 'true' : 'false'}
      aria-disabled={reason ? 'true' : undefined} data-model={m.id}
      onMouseMove={onHover} onClick={() => !reason && onPick(m)}>
      <span class="check" aria-hidden="true">{selected ? <Icon name="check" /> : null}</span>
      <span class="row" style="min-width:0">
        <span class={'dot ' + m.status} title={m.statusReason || STATUS_TEXT[m.status]} />
        <span class="opt-name">{m.name}</span>
        <span class="muted small">{m.id}</span>
      </span>
      <span class="opt-right">
        {onPin && (
          <button type="button" class="pin-btn" tabIndex={-1} aria-pressed={pinned ? 'true' : 'false'}
            aria-label={(pinned ? 'Unpin ' : 'Pin ') + m.name} title={pinned ? 'Unpin' : 'Pin'}
            onClick={(e) => { e.stopPropagation(); onPin(m.id); }}>
            <Icon name="star" size={14} />
          </button>
        )}
      </span>
      <span class="opt-sub">
        {caps.map((c) => <span class="badge">{c}</span>)}
        <span>{formatTokens(m.contextLength)} context</span>
        <span>{priceText(m)}</span>
        <span>{latencyText(m)}</span>
        {!reason && <span class="opt-status">
          {STATUS_TEXT[m.status] || m.status}
          {m.statusReason && m.status !== 'available' ? `: ${m.statusReason}` : ''}
        </span>}
        {reason && (
          <span class="opt-reason" style="color:var(--danger)">
            <Icon name="lock" size={12} /> {reason}
          </span>
        )}
      </span>
    </li>
  );
}

// value: "provider/model"; onChange(ref) fires only for enabled models.
// note: text under the trigger saying which default applied and why.
export function ModelPicker({ models, value, onChange, pinned = [], onTogglePin, note, label = 'Model', hotkey = false }) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const triggerRef = useRef(null);
  const inputRef = useRef(null);
  const listRef = useRef(null);
  const current = models.find((m) => m.id === value);

  const groups = useMemo(() => groupModels(models, query, pinned, recentModels()), [models, query, pinned, open]);
  const flat = useMemo(() => groups.flatMap((g) => g.items), [groups]);

  useEffect(() => {
    if (!hotkey) return undefined;
    const onKey = (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setOpen(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [hotkey]);

  useEffect(() => {
    if (open) {
      setQuery('');
      const i = flat.findIndex((m) => m.id === value);
      setActive(i < 0 ? 0 : i);
      setTimeout(() => inputRef.current && inputRef.current.focus(), 0);
    }
  }, [open]);
  useEffect(() => setActive((a) => Math.min(a, Math.max(0, flat.length - 1))), [flat.length]);
  useEffect(() => {
    const el = listRef.current && listRef.current.querySelector('[aria-selected="true"]');
    el && el.scrollIntoView && el.scrollIntoView({ block: 'nearest' });
  }, [active, open]);

  const close = () => {
    setOpen(false);
    setTimeout(() => triggerRef.current && triggerRef.current.focus(), 0);
  };
  const pick = (m) => {
    if (disabledReason(m)) return;
    pushRecent(m.id);
    close();
    if (m.id !== value) onChange(m.id);
  };
  const onKeyDown = (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); setActive((a) => Math.min(flat.length - 1, a + 1)); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setActive((a) => Math.max(0, a - 1)); }
    else if (e.key === 'Home' && e.ctrlKey) { e.preventDefault(); setActive(0); }
    else if (e.key === 'End' && e.ctrlKey) { e.preventDefault(); setActive(flat.length - 1); }
    else if (e.key === 'PageDown') { e.preventDefault(); setActive((a) => Math.min(flat.length - 1, a + 5)); }
    else if (e.key === 'PageUp') { e.preventDefault(); setActive((a) => Math.max(0, a - 5)); }
    else if (e.key === 'Enter') { e.preventDefault(); flat[active] && pick(flat[active]); }
    else if (e.key === 'Escape') { e.preventDefault(); close(); }
    else if (e.key === 'Tab') { e.preventDefault(); } // focus stays in the dialog
    else if (e.altKey && e.key.toLowerCase() === 'p' && onTogglePin && flat[active]) { e.preventDefault(); onTogglePin(flat[active].id); }
  };

  let index = -1;
  return (
    <div class="picker">
      <button type="button" ref={triggerRef} class="btn picker-trigger" aria-haspopup="dialog"
        aria-expanded={open ? 'true' : 'false'} aria-label={`${label}: ${current ? current.name : 'none chosen'}`}
        data-testid="model-trigger" onClick={() => setOpen(true)}>
        {current && <span class={'dot ' + current.status} aria-hidden="true" />}
        <span class="label">{current ? current.name : 'Choose a model'}</span>
        <Icon name="chevron" size={14} />
      </button>
      {note && <div class="small muted" data-testid="model-note" style="margin-top:4px">{note}</div>}
      {open && (
        <div class="overlay" onMouseDown={(e) => e.target === e.currentTarget && close()}>
          <div class="palette" role="dialog" aria-modal="true" aria-label="Choose a model">
            <div class="palette-search">
              <Icon name="search" />
              <input ref={inputRef} role="combobox" aria-expanded="true" aria-controls="model-listbox"
                aria-autocomplete="list" aria-label="Search models by name, provider or capability"
                aria-activedescendant={flat[active] ? `model-opt-${active}` : undefined}
                placeholder="Search models, providers, capabilities…" value={query}
                onInput={(e) => { setQuery(e.currentTarget.value); setActive(0); }} onKeyDown={onKeyDown} />
              <kbd>Esc</kbd>
            </div>
            <ul class="palette-list" id="model-listbox" role="listbox" aria-label="Models" ref={listRef}>
              {flat.length === 0 && <li class="muted" style="padding:16px;text-align:center">No model matches “{query}”.</li>}
              {groups.map((g) => (
                <li role="presentation" key={g.label}>
                  <div class="palette-group" id={`grp-${g.label}`} role="presentation">{g.label}</div>
                  <ul role="group" aria-labelledby={`grp-${g.label}`} style="list-style:none;margin:0;padding:0">
                    {g.items.map((m) => {
                      index += 1;
                      const i = index;
                      return (
                        <ModelOption key={m.id} m={m} id={`model-opt-${i}`} active={i === active} selected={m.id === value}
                          pinned={pinned.includes(m.id)} onPin={onTogglePin} onPick={pick} onHover={() => setActive(i)} />
                      );
                    })}
                  </ul>
                </li>
              ))}
            </ul>
            <div class="palette-foot">
              <span><kbd>↑</kbd> <kbd>↓</kbd> move</span>
              <span><kbd>Enter</kbd> choose</span>
              {onTogglePin && <span><kbd>Alt</kbd>+<kbd>P</kbd> pin</span>}
              <span><kbd>Esc</kbd> close</span>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
