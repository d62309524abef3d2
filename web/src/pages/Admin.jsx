// Admin.jsx - organization administration: allowed models and the org
// default, agents with their default models, feature flags, the monthly
// budget (org and per member, alert thresholds and webhook) with its alerts,
// rate limits, the audit log, members (role, removal) and invitation links
// (create, list, revoke). Agents edit their tools (JSON, checked here for
// being JSON; the server checks the shape) and allowed-model subset. The
// server enforces every rule; this page only edits them.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { ModelPicker, priceText } from '../components/ModelPicker.jsx';
import { copyText, ErrorAlert, Field, Icon, Loading, toast } from '../components/ui.jsx';
import { formatDate, formatUsd } from '../format.js';

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

const emptyAgent = { name: '', description: '', systemPrompt: '', defaultModel: '', allowedModels: null, tools: [] };

// The tools text of the form -> the array the server expects, or an error text.
export function parseTools(text) {
  if (!text.trim()) return { tools: [] };
  let v;
  try { v = JSON.parse(text); } catch (e) { return { error: `Tools are not valid JSON: ${e.message}` }; }
  if (!Array.isArray(v)) return { error: 'Tools must be a JSON array of {"type":"function","function":{"name",…,"parameters":{JSON Schema}}}.' };
  for (const [i, t] of v.entries()) {
    if (!t || t.type !== 'function' || !t.function || typeof t.function.name !== 'string')
      return { error: `Tool ${i + 1} must look like {"type":"function","function":{"name":"…","parameters":{…}}}.` };
  }
  return { tools: v };
}
const toolsText = (tools) => (tools && tools.length ? JSON.stringify(tools, null, 2) : '');
const TOOLS_PLACEHOLDER = '[{"type":"function","function":{"name":"getWeather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]';

function AgentsSection({ ctx, orgId }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [edit, setEdit] = useState(null); // agent being edited or created
  const load = () => api.agents.list(orgId).then(setList, (e) => { setList([]); setError(e); });
  useEffect(() => { load(); }, [orgId]);
  const [toolsError, setToolsError] = useState('');
  const startEdit = (a) => { setToolsError(''); setEdit({ ...a, toolsText: toolsText(a.tools) }); };
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const parsed = parseTools(edit.toolsText || '');
    setToolsError(parsed.error || '');
    if (parsed.error) { e.currentTarget.querySelector('[name="tools"]').focus(); return; }
    const agent = { ...edit, tools: parsed.tools };
    try {
      if (edit.id) await api.agents.update(orgId, edit.id, agent);
      else await api.agents.create(orgId, agent);
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
          <thead><tr><th>Name</th><th>Default model</th><th>Models</th><th class="num">Tools</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.map((a) => (
              <tr>
                <td><div style="font-weight:500">{a.name}</div><div class="small muted">{a.description}</div></td>
                <td>{modelName(a.defaultModel)}</td>
                <td class="small">{a.allowedModels ? `${a.allowedModels.length} allowed` : 'organization list'}</td>
                <td class="num" data-testid="agent-tools-count">{a.tools.length}</td>
                <td class="num">
                  <button class="btn ghost sm" onClick={() => startEdit(a)} aria-label={`Edit ${a.name}`}>Edit</button>
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
          <fieldset class="stack" style="border:0;padding:0;margin:0">
            <legend class="small" style="font-weight:500;margin-bottom:4px">Models this agent may use</legend>
            <label class="row">
              <input type="checkbox" checked={edit.allowedModels !== null} data-testid="agent-restrict"
                onChange={() => setEdit({ ...edit, allowedModels: edit.allowedModels === null ? ctx.models.models.filter((m) => m.allowed).map((m) => m.id) : null })} />
              Only a subset of the organization's models
            </label>
            {edit.allowedModels !== null && (
              <div class="model-list" role="group" aria-label="Agent allowed models">
                {ctx.models.models.filter((m) => m.allowed).map((m) => (
                  <label>
                    <input type="checkbox" checked={edit.allowedModels.includes(m.id)} data-model={m.id}
                      onChange={() => setEdit({ ...edit, allowedModels: edit.allowedModels.includes(m.id) ? edit.allowedModels.filter((x) => x !== m.id) : [...edit.allowedModels, m.id] })} />
                    <span style="font-weight:500">{m.name}</span>
                    <span class="small muted">{m.id}</span>
                  </label>
                ))}
              </div>
            )}
          </fieldset>
          <label class="field">
            <span>Tools (JSON array of function definitions with JSON Schema parameters)</span>
            <textarea class="input mono" name="tools" rows={6} spellcheck={false} placeholder={TOOLS_PLACEHOLDER}
              aria-invalid={toolsError ? 'true' : undefined} aria-describedby={toolsError ? 'tools-error' : undefined}
              value={edit.toolsText || ''} onInput={(e) => { setEdit({ ...edit, toolsText: e.currentTarget.value }); setToolsError(''); }} />
            {toolsError && <small id="tools-error" class="field-error" role="alert" data-testid="tools-error">{toolsError}</small>}
          </label>
          <div class="row"><button class="btn primary" type="submit">Save agent</button><button type="button" class="btn ghost" onClick={() => setEdit(null)}>Cancel</button></div>
        </form>
      ) : (
        <div><button class="btn" onClick={() => startEdit({ ...emptyAgent })}><Icon name="plus" /> New agent</button></div>
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


// "" -> null (no limit); otherwise the decimal text as typed (the server checks it)
const usdOrNull = (v) => (v.trim() === '' ? null : v.trim());

function BudgetSection({ orgId }) {
  const [budget, setBudget] = useState(null);
  const [members, setMembers] = useState([]);
  const [alerts, setAlerts] = useState([]);
  const [form, setForm] = useState(null);
  const [member, setMember] = useState({ userId: '', limit: '' });
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      const b = await api.governance.budget(orgId);
      setBudget(b);
      setForm({
        limit: b.monthly_limit_usd || '',
        thresholds: (b.alert_thresholds || []).join(', '),
        webhook: b.alert_webhook || '',
      });
      setAlerts((await api.governance.alerts(orgId)).alerts || []);
    } catch (e) { setError(e); }
  };
  useEffect(() => {
    load();
    api.orgs.members(orgId).then(setMembers, () => setMembers([]));
  }, [orgId]);
  if (error && !budget) return <ErrorAlert error={error} />;
  if (!budget || !form) return <Loading />;
  const save = async (body, what) => {
    setError(null);
    try {
      setBudget(await api.governance.saveBudget(orgId, body));
      toast(what);
      load();
    } catch (e) { setError(e); }
  };
  const saveOrg = (e) => {
    e.preventDefault();
    const thresholds = form.thresholds.split(',').map((t) => t.trim()).filter(Boolean).map(Number);
    save({ monthly_limit_usd: usdOrNull(form.limit), alert_thresholds: thresholds, alert_webhook: form.webhook.trim() || null }, 'Budget saved');
  };
  const saveMember = (e) => {
    e.preventDefault();
    if (!member.userId) return;
    save({ users: [{ user_id: member.userId, monthly_limit_usd: usdOrNull(member.limit) }] }, 'Member budget saved');
  };
  const who = (id) => (members.find((m) => m.user_id === id) || {}).email || id;
  return (
    <div class="stack">
      <ErrorAlert error={error} />
      <div class="row wrap small" data-testid="admin-budget">
        <span class="badge">Period {budget.period_start}</span>
        <span class="badge" data-testid="admin-budget-spent">Spent {formatUsd(budget.spent_usd)}</span>
        <span class="badge">In flight {formatUsd(budget.reserved_usd)}</span>
        <span class="badge" data-testid="admin-budget-remaining">
          {budget.remaining_usd != null ? `Left ${formatUsd(budget.remaining_usd)}` : 'No limit'}
        </span>
      </div>
      <form class="stack" onSubmit={saveOrg} aria-label="Organization budget">
        <div class="row wrap">
          <Field label="Monthly limit (USD, empty = no limit)"><input class="input" inputMode="decimal" value={form.limit} onInput={(e) => setForm({ ...form, limit: e.currentTarget.value })} data-testid="budget-limit" /></Field>
          <Field label="Alert at (% of the limit)"><input class="input" value={form.thresholds} onInput={(e) => setForm({ ...form, thresholds: e.currentTarget.value })} /></Field>
          <Field label="Alert webhook (optional)"><input class="input" type="url" value={form.webhook} onInput={(e) => setForm({ ...form, webhook: e.currentTarget.value })} /></Field>
        </div>
        <div><button class="btn primary" type="submit" data-testid="budget-save">Save budget</button></div>
      </form>
      <form class="row wrap" onSubmit={saveMember} aria-label="Member budget">
        <label class="field"><span>Member</span>
          <select class="input" value={member.userId} onChange={(e) => setMember({ ...member, userId: e.currentTarget.value })}>
            <option value="">Choose…</option>
            {members.map((m) => <option value={m.user_id}>{m.email}</option>)}
          </select>
        </label>
        <Field label="Personal monthly limit (USD, empty = none)"><input class="input" inputMode="decimal" value={member.limit} onInput={(e) => setMember({ ...member, limit: e.currentTarget.value })} /></Field>
        <button class="btn" type="submit" style="align-self:flex-end">Save member budget</button>
      </form>
      {budget.users && budget.users.length > 0 && (
        <table class="table">
          <thead><tr><th>Member</th><th class="num">Limit</th><th class="num">Spent</th><th class="num">Left</th></tr></thead>
          <tbody>
            {budget.users.map((u) => (
              <tr>
                <td>{who(u.user_id)}</td>
                <td class="num">{u.monthly_limit_usd != null ? formatUsd(u.monthly_limit_usd) : 'none'}</td>
                <td class="num">{formatUsd(u.spent_usd)}</td>
                <td class="num">{u.remaining_usd != null ? formatUsd(u.remaining_usd) : '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3 style="margin:0;font-size:14px">Alerts</h3>
      {alerts.length === 0 ? <p class="muted small" style="margin:0">No threshold crossed this period.</p> : (
        <table class="table" data-testid="admin-alerts">
          <thead><tr><th>When</th><th>Budget</th><th class="num">Threshold</th><th class="num">Spent / limit</th><th>Webhook</th></tr></thead>
          <tbody>
            {alerts.map((a) => (
              <tr>
                <td>{formatDate(a.created_at)}</td>
                <td>{a.scope === 'org' ? 'organization' : `${a.scope} ${who(a.subject_id)}`}</td>
                <td class="num">{a.threshold_percent}%</td>
                <td class="num">{formatUsd(a.spent_usd)} / {formatUsd(a.limit_usd)}</td>
                <td>{a.webhook ? `${a.webhook.state} (${a.webhook.attempts} attempts)` : '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const LIMIT_FIELDS = [
  ['rpm', 'Organization requests / minute'],
  ['tpm', 'Organization tokens / minute'],
  ['user_rpm', 'Per member requests / minute'],
  ['user_tpm', 'Per member tokens / minute'],
];

function LimitsSection({ orgId }) {
  const [limits, setLimits] = useState(null);
  const [form, setForm] = useState({});
  const [error, setError] = useState(null);
  const take = (l) => {
    setLimits(l);
    setForm(Object.fromEntries(LIMIT_FIELDS.map(([k]) => [k, l[k] == null ? '' : String(l[k])])));
  };
  useEffect(() => { api.governance.limits(orgId).then(take, setError); }, [orgId]);
  if (error && !limits) return <ErrorAlert error={error} />;
  if (!limits) return <Loading />;
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const body = {};
    for (const [k] of LIMIT_FIELDS) body[k] = form[k].trim() === '' ? null : Number(form[k]);
    try { take(await api.governance.saveLimits(orgId, body)); toast('Rate limits saved'); } catch (err) { setError(err); }
  };
  return (
    <form class="stack" onSubmit={save} aria-label="Rate limits">
      <ErrorAlert error={error} />
      <div class="row wrap">
        {LIMIT_FIELDS.map(([k, label]) => (
          <Field label={label} hint="empty = unlimited">
            <input class="input" inputMode="numeric" value={form[k]} data-testid={`limit-${k}`} onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value })} />
          </Field>
        ))}
      </div>
      <div class="row">
        <button class="btn primary" type="submit">Save limits</button>
        <span class="small muted">{limits.backend === 'redis' ? 'Shared by every teamhub node (Redis).' : 'Counted per teamhub process.'}</span>
      </div>
    </form>
  );
}

const docText = (d) => (d == null ? '—' : JSON.stringify(d, null, 1));

function AuditSection({ orgId }) {
  const [entries, setEntries] = useState(null);
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);
  const load = async (before) => {
    try {
      const r = await api.governance.audit(orgId, { before });
      setEntries((cur) => (before && cur ? [...cur, ...r.entries] : r.entries));
      setNext(r.entries.length >= 50 ? r.next_before : null); // a full page: there may be more
    } catch (e) { setError(e); setEntries((cur) => cur || []); }
  };
  useEffect(() => { load(); }, [orgId]);
  if (!entries) return <Loading />;
  return (
    <div class="stack">
      <ErrorAlert error={error} />
      <div class="row"><button class="btn sm" onClick={() => load()}>Refresh</button></div>
      {entries.length === 0 ? <p class="muted small" style="margin:0">No changes recorded yet.</p> : (
        <table class="table" data-testid="audit-log">
          <thead><tr><th>When</th><th>Who</th><th>What</th><th>Before → after</th></tr></thead>
          <tbody>
            {entries.map((e) => (
              <tr data-action={e.action}>
                <td>{formatDate(e.created_at)}</td>
                <td>{(e.actor && e.actor.email) || 'cli'}</td>
                <td><code>{e.action}</code><div class="small muted">{e.target}</div></td>
                <td>
                  <details><summary class="small">show</summary>
                    <div class="row wrap" style="align-items:flex-start">
                      <pre class="small" style="margin:0;max-width:320px;overflow:auto">{docText(e.before)}</pre>
                      <pre class="small" style="margin:0;max-width:320px;overflow:auto">{docText(e.after)}</pre>
                    </div>
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && <div><button class="btn sm" onClick={() => load(next)}>Older entries</button></div>}
    </div>
  );
}

const ROLES = ['member', 'admin', 'owner'];

function MembersSection({ ctx, orgId }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const load = () => api.orgs.members(orgId).then(setList, (e) => { setError(e); setList((cur) => cur || []); });
  useEffect(() => { load(); }, [orgId]);
  if (!list) return <Loading />;
  const iAmOwner = ctx.user.role === 'owner';
  const setRole = async (m, role) => {
    setError(null);
    try { await api.orgs.setRole(orgId, m.user_id, role); toast(`${m.email} is now ${role}`); } catch (e) { setError(e); }
    load();
  };
  const remove = async (m) => {
    if (!confirm(`Remove ${m.email} from the organization?`)) return;
    setError(null);
    try { await api.orgs.removeMember(orgId, m.user_id); toast(`${m.email} removed`); } catch (e) { setError(e); }
    load();
  };
  return (
    <div class="stack">
      <ErrorAlert error={error} />
      <div style="overflow:auto">
        <table class="table" data-testid="members">
          <thead><tr><th>Member</th><th>Role</th><th class="hide-phone">Joined</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.map((m) => {
              const me = m.user_id === ctx.user.id;
              // only owners touch owner roles (the server says so too)
              const locked = me || (m.role === 'owner' && !iAmOwner);
              return (
                <tr data-email={m.email}>
                  <td><div style="font-weight:500">{m.name || m.email}</div>{m.name && <div class="small muted">{m.email}</div>}</td>
                  <td>
                    <select class="input" aria-label={`Role of ${m.email}`} value={m.role} disabled={locked}
                      onChange={(e) => setRole(m, e.currentTarget.value)}>
                      {ROLES.filter((r) => r !== 'owner' || iAmOwner || m.role === 'owner').map((r) => <option value={r}>{r}</option>)}
                    </select>
                  </td>
                  <td class="small muted hide-phone">{formatDate(m.joined_at)}</td>
                  <td class="num">
                    {!locked && <button class="btn ghost sm danger" onClick={() => remove(m)} aria-label={`Remove ${m.email}`}><Icon name="trash" size={14} /></button>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function InviteSection({ orgId }) {
  const [pending, setPending] = useState(null);
  const loadPending = () => api.orgs.invitations(orgId).then(setPending, () => setPending([]));
  useEffect(() => { loadPending(); }, [orgId]);
  const revoke = async (inv) => {
    if (!confirm(`Revoke the invitation${inv.email ? ' for ' + inv.email : ''}? Its link stops working.`)) return;
    setError(null);
    try { await api.orgs.revokeInvitation(orgId, inv.id); toast('Invitation revoked'); } catch (err) { setError(err); }
    loadPending();
  };
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
      loadPending();
    } catch (err) { setError(err); }
  };
  const copy = async () => {
    toast((await copyText(link)) ? 'Link copied' : 'Copy the link by hand');
  };
  return (
    <div class="stack">
    <form class="stack" onSubmit={invite} aria-label="New invitation">
      <div class="row wrap">
        <label class="field" style="flex:1;min-width:200px"><span>E-mail (optional: limits the link to this address)</span><input class="input" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        <label class="field"><span>Role</span><select class="input" value={role} onChange={(e) => setRole(e.currentTarget.value)}><option value="member">Member</option><option value="admin">Admin</option></select></label>
      </div>
      <div><button class="btn" type="submit">Create invitation link</button></div>
      <ErrorAlert error={error} />
      {link && (
        <div class="alert">
          <div class="small muted">Send this link (it works once):</div>
          <div class="row wrap"><code style="word-break:break-all" data-testid="invite-link">{link}</code><button type="button" class="btn ghost sm" onClick={copy}><Icon name="copy" size={14} /> Copy</button></div>
        </div>
      )}
    </form>
    <h3 style="margin:0;font-size:14px">Pending invitations</h3>
    {!pending ? <Loading lines={2} /> : pending.length === 0 ? <p class="muted small" style="margin:0">No pending invitations.</p> : (
      <div style="overflow:auto">
        <table class="table" data-testid="invitations">
          <thead><tr><th>For</th><th>Role</th><th>Expires</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {pending.map((inv) => (
              <tr data-id={inv.id}>
                <td>{inv.email || <span class="muted">anyone with the link</span>}</td>
                <td>{inv.role}</td>
                <td class="small">{formatDate(inv.expires_at)}</td>
                <td class="num"><button class="btn ghost sm danger" onClick={() => revoke(inv)}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
    </div>
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
          <section class="card stack" aria-labelledby="adm-budget"><h2 id="adm-budget">Budget</h2><BudgetSection orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-limits"><h2 id="adm-limits">Rate limits</h2><LimitsSection orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-audit"><h2 id="adm-audit">Audit log</h2><AuditSection orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-members"><h2 id="adm-members">Members</h2><MembersSection ctx={ctx} orgId={orgId} /></section>
          <section class="card stack" aria-labelledby="adm-invite"><h2 id="adm-invite">Invite people</h2><InviteSection orgId={orgId} /></section>
        </div>
      </div>
    </>
  );
}
