// Admin.jsx - organization administration: allowed models and the org
// default, agents with their default models, feature flags, invitations.
// The server enforces every rule; this page only edits them.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { ModelPicker, priceText } from '../components/ModelPicker.jsx';
import { ErrorAlert, Field, Icon, Loading, toast } from '../components/ui.jsx';

function ModelsSection({ ctx, orgId }) {
  const all = ctx.models.models;
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api.orgs.models(orgId).then(setState, setError); }, [orgId]);
  if (error && !state) return <ErrorAlert error={error} />;
  if (!state) return <Loading />;
  const restricted = state.allowed !== null;
  const allowedSet = new Set(state.allowed || all.map((m) => m.id));
  const save = async (next) => {
    setError(null);
    try {
      setState(await api.orgs.saveModels(orgId, next));
      toast('Organization models saved');
      ctx.loadModels();
    } catch (e) { setError(e); }
  };
  const toggle = (id) => {
    const s = new Set(allowedSet);
    s.has(id) ? s.delete(id) : s.add(id);
    save({ ...state, allowed: [...s] });
  };
  return (
    <div class="stack">
      <ErrorAlert error={error} />
      <div class="row wrap">
        <span style="font-weight:500">Organization default</span>
        <ModelPicker label="Organization default model" models={all.map((m) => ({ ...m, allowed: allowedSet.has(m.id), reason: allowedSet.has(m.id) ? '' : 'not in the allowed list' }))}
          value={state.defaultModel} onChange={(ref) => save({ ...state, defaultModel: ref })} />
      </div>
      <label class="row">
        <input type="checkbox" checked={restricted} onChange={() => save({ ...state, allowed: restricted ? null : all.map((m) => m.id) })} />
        Restrict members to the models checked below
      </label>
      <div class="model-list" role="group" aria-label="Allowed models">
        {all.map((m) => (
          <label>
            <input type="checkbox" disabled={!restricted} checked={allowedSet.has(m.id)} onChange={() => toggle(m.id)} />
            <span class={'dot ' + m.status} aria-hidden="true" />
            <span style="font-weight:500">{m.name}</span>
            <span class="small muted">{m.id}</span>
            <span class="spacer" />
            <span class="small muted">{priceText(m)}</span>
          </label>
        ))}
      </div>
    </div>
  );
}

const emptyAgent = { name: '', description: '', systemPrompt: '', defaultModel: '' };

function AgentsSection({ ctx, orgId }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [edit, setEdit] = useState(null); // agent being edited or created
  const load = () => api.agents.list(orgId).then(setList, (e) => { setList([]); setError(e); });
  useEffect(() => { load(); }, [orgId]);
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      if (edit.id) await api.agents.update(orgId, edit.id, edit);
      else await api.agents.create(orgId, edit);
      setEdit(null);
      toast('Agent saved');
      load();
    } catch (err) { setError(err); }
  };
  const remove = async (a) => {
    if (!confirm(`Delete the agent “${a.name}”?`)) return;
    try { await api.agents.remove(orgId, a.id); load(); } catch (err) { setError(err); }
  };
  if (!list) return <Loading />;
  const modelName = (ref) => (ctx.models.models.find((m) => m.id === ref) || {}).name || ref || 'organization default';
  return (
    <div class="stack">
      <ErrorAlert error={error} />
      {list.length === 0 && <p class="muted small" style="margin:0">No agents yet.</p>}
      {list.length > 0 && (
        <table class="table">
          <thead><tr><th>Name</th><th>Default model</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.map((a) => (
              <tr>
                <td><div style="font-weight:500">{a.name}</div><div class="small muted">{a.description}</div></td>
                <td>{modelName(a.defaultModel)}</td>
                <td class="num">
                  <button class="btn ghost sm" onClick={() => setEdit(a)}>Edit</button>
                  <button class="btn ghost sm danger" onClick={() => remove(a)} aria-label={`Delete ${a.name}`}><Icon name="trash" size={14} /></button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {edit ? (
        <form class="card stack" onSubmit={save} aria-label={edit.id ? 'Edit agent' : 'New agent'}>
          <Field label="Name"><input class="input" required value={edit.name} onInput={(e) => setEdit({ ...edit, name: e.currentTarget.value })} /></Field>
          <Field label="Description"><input class="input" value={edit.description} onInput={(e) => setEdit({ ...edit, description: e.currentTarget.value })} /></Field>
          <Field label="System prompt"><textarea class="input" rows={4} value={edit.systemPrompt} onInput={(e) => setEdit({ ...edit, systemPrompt: e.currentTarget.value })} /></Field>
          <div class="field"><span>Default model</span>
            <ModelPicker label="Agent default model" models={ctx.models.models} value={edit.defaultModel} onChange={(ref) => setEdit({ ...edit, defaultModel: ref })} />
          </div>
          <div class="row"><button class="btn primary" type="submit">Save agent</button><button type="button" class="btn ghost" onClick={() => setEdit(null)}>Cancel</button></div>
        </form>
      ) : (
        <div><button class="btn" onClick={() => setEdit({ ...emptyAgent })}><Icon name="plus" /> New agent</button></div>
      )}
    </div>
  );
}

const FLAG_TEXT = { llm_selection: 'Members may choose the model (when off, the picker is hidden and chat uses the organization default)' };

function FlagsSection({ ctx, orgId }) {
  const [flags, setFlags] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api.orgs.features(orgId).then(setFlags, (e) => { setError(e); setFlags({}); }); }, [orgId]);
  if (!flags) return <Loading />;
  const toggle = async (k) => {
    try { setFlags(await api.orgs.saveFeatures(orgId, { ...flags, [k]: !flags[k] })); ctx.loadModels(); toast('Feature flag saved'); } catch (e) { setError(e); }
  };
  const keys = Object.keys({ llm_selection: true, ...flags }).filter((k) => typeof (flags[k] ?? true) === 'boolean');
  return (
    <div class="stack">
      <ErrorAlert error={error} />
      {keys.map((k) => (
        <label class="row">
          <input type="checkbox" role="switch" checked={flags[k] !== false} onChange={() => toggle(k)} />
          <span><code>{k}</code> <span class="small muted">{FLAG_TEXT[k] || ''}</span></span>
        </label>
      ))}
    </div>
  );
}

function InviteSection({ orgId }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('member');
  const [link, setLink] = useState('');
  const [error, setError] = useState(null);
  const invite = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api.orgs.invite(orgId, email, role);
      const url = r.url || `/invite/${encodeURIComponent(r.token)}`;
      setLink(url.startsWith('/') ? location.origin + url : url);
    } catch (err) { setError(err); }
  };
  return (
    <form class="stack" onSubmit={invite}>
      <div class="row wrap">
        <label class="field" style="flex:1;min-width:200px"><span>E-mail (optional: limits the link to this address)</span><input class="input" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        <label class="field"><span>Role</span><select class="input" value={role} onChange={(e) => setRole(e.currentTarget.value)}><option value="member">Member</option><option value="admin">Admin</option></select></label>
      </div>
      <div><button class="btn" type="submit">Create invitation link</button></div>
      <ErrorAlert error={error} />
      {link && <div class="alert"><div class="small muted">Send this link (it works once):</div><code style="word-break:break-all">{link}</code></div>}
    </form>
  );
}

export function AdminPage({ ctx }) {
  const orgId = ctx.user.orgId;
  const org = ctx.user.organizations.find((o) => o.id === orgId);
  return (
    <>
      <header class="topbar">
        <button class="btn ghost icon menu-btn" aria-label="Open menu" onClick={ctx.onMenu}><Icon name="menu" /></button>
        <h1 class="title" style="font-size:15px;margin:0">Admin · {org ? org.name : ''}</h1>
      </header>
      <div class="page">
        <div class="page-inner">
          {!ctx.isAdmin && <ErrorAlert error="Only organization admins can change these settings." />}
          <section class="card stack" aria-labelledby="adm-models"><h2 id="adm-models">Models</h2><ModelsSection ctx={ctx} orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-agents"><h2 id="adm-agents">Agents</h2><AgentsSection ctx={ctx} orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-flags"><h2 id="adm-flags">Feature flags</h2><FlagsSection ctx={ctx} orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-invite"><h2 id="adm-invite">Invite people</h2><InviteSection orgId={orgId} /></section>
        </div>
      </div>
    </>
  );
}
