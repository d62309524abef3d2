// api.js - every call the UI makes to the teamhub server, in one place.
//
// The rest of the UI only sees the normalized shapes returned here, so when a
// server response shape differs from what was assumed, this is the only file
// to adapt. Errors are thrown as ApiError with the server's stable `code`, its
// human `message` and any extra fields (e.g. `alternatives`, `suggestion`).
import { DefaultChatTransport, readUIMessageStream } from 'ai';

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_' + status;
    this.extra = extra;
  }
}

// Parses a server error body ({error:{code,message,...}}) or plain text.
export function errorFromBody(status, text) {
  try {
    const j = JSON.parse(text);
    const e = j && (j.error || j);
    if (e && (e.code || e.message)) {
      const { code, message, ...extra } = e;
      return new ApiError(status, code, message, extra);
    }
  } catch (_) {
    /* not JSON: keep the text */
  }
  return new ApiError(status, 'http_' + status, text || `request failed (${status})`);
}

async function request(method, path, body, { raw = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection.');
  }
  if (raw && res.ok) return res;
  const text = await res.text();
  if (!res.ok) throw errorFromBody(res.status, text);
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch (_) {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
}

const get = (p) => request('GET', p);
const post = (p, b) => request('POST', p, b ?? {});
const put = (p, b) => request('PUT', p, b ?? {});
const patch = (p, b) => request('PATCH', p, b ?? {});
const del = (p) => request('DELETE', p);
const enc = encodeURIComponent;
const pick = (obj, ...keys) => {
  for (const k of keys) if (obj && obj[k] !== undefined) return obj[k];
  return undefined;
};
const listOf = (j, ...keys) => (Array.isArray(j) ? j : pick(j, ...keys, 'data', 'items') || []);

// ---- model references ----
export const modelRef = (provider, model) => (provider && model ? `${provider}/${model}` : '');
export function splitRef(ref) {
  if (!ref) return { provider: '', model: '' };
  const i = ref.indexOf('/');
  return i < 0 ? { provider: '', model: ref } : { provider: ref.slice(0, i), model: ref.slice(i + 1) };
}
// Accepts "p/m", {provider, model} or {provider_id, model_id}.
function refOf(v) {
  if (!v) return '';
  if (typeof v === 'string') return v;
  if (!v.provider && typeof v.model === 'string' && v.model.includes('/')) return v.model;
  return modelRef(v.provider, v.model || v.name) || v.id || '';
}

// ---- auth ----
function normUser(j) {
  const u = j.user || j;
  return {
    id: u.id,
    email: u.email,
    name: u.name || '',
    orgId: u.active_org_id || (u.organizations && u.organizations[0] && u.organizations[0].id) || '',
    role: u.role || '',
    organizations: u.organizations || [],
  };
}
export const auth = {
  me: async () => normUser(await get('/api/auth/me')),
  login: async (email, password) => normUser(await post('/api/auth/login', { email, password })),
  register: async ({ email, password, name, organization, invitation }) =>
    normUser(await post('/api/auth/register', { email, password, name, organization, invitation })),
  logout: () => post('/api/auth/logout'),
  switchOrg: async (orgId) => normUser(await post(`/api/organizations/${enc(orgId)}/activate`)),
  // GET /api/invitations/:token (public) -> {organization:{name}, expires_at}; 404 when unknown,
  // used or expired
  invitation: (token) => get(`/api/invitations/${enc(token)}`),
  acceptInvitation: (token) => post('/api/invitations/accept', { token }),
};

// ---- models ----
function normModel(m) {
  const provider = m.provider;
  const model = m.model;
  const caps = m.capabilities || [];
  return {
    id: m.id || modelRef(provider, model),
    provider,
    model,
    name: m.display_name || model,
    contextLength: m.context_length || 0,
    maxOutput: m.max_output_tokens || 0,
    capabilities: Array.isArray(caps) ? caps : String(caps).split(','),
    pricing: m.pricing || {},
    status: m.status || 'available',
    statusReason: m.status_reason || '',
    latency: m.latency || {},
    deprecated: !!m.deprecated,
    allowed: m.allowed !== false,
    reason: m.reason || '',
  };
}
// GET /api/models -> {models:[...], default:{model,source,reason}, llm_selection, pinned_models}
export async function listModels() {
  const j = await get('/api/models');
  const models = listOf(j, 'models').map(normModel);
  const d = pick(j, 'default', 'resolved_default');
  const def = d
    ? { ref: refOf(d), source: d.source || '', reason: d.reason || '' }
    : null;
  return {
    models,
    default: def,
    llmSelection: pick(j, 'llm_selection') !== false,
    pinned: (j.pinned_models || []).map(refOf),
  };
}

// ---- preferences ----
function normPrefs(j) {
  const p = j.preferences || j;
  const def = refOf(p.default_model) || refOf(p.default);
  return { defaultModel: def || '', pinned: (p.pinned_models || p.pinned || []).map(refOf) };
}
export const prefs = {
  get: async () => normPrefs(await get('/api/users/preferences/llm')),
  save: async ({ defaultModel, pinned }) =>
    normPrefs(await post('/api/users/preferences/llm', { default_model: defaultModel || null, pinned_models: pinned })),
};

// ---- conversations ----
function normConv(c) {
  return {
    id: c.id,
    title: c.title || 'New chat',
    agentId: c.agent_id || null,
    modelRef: refOf(c.current_model),
    updatedAt: c.updated_at || c.created_at || 0,
    costUsd: c.cost_usd || c.total_cost_usd || null,
  };
}
function normMessage(m) {
  const md = m.metadata || {};
  const parts = m.parts || (m.content ? [{ type: 'text', text: m.content }] : []);
  return {
    id: m.id,
    role: m.role,
    parts: typeof parts === 'string' ? JSON.parse(parts) : parts,
    metadata: {
      ...md,
      provider: md.provider || m.provider || m.model_provider,
      model: md.model || m.model || m.model_name,
      usage: md.usage || m.usage,
      cost_usd: md.cost_usd ?? m.cost_usd,
      latency_ms: md.latency_ms ?? m.latency_ms,
      ttft_ms: md.ttft_ms ?? m.ttft_ms,
      status: md.status || m.status,
      error_code: md.error_code,
    },
  };
}
export const conversations = {
  // GET /api/conversations?q=&limit=&offset= -> {conversations:[...], next_offset}
  list: async ({ q = '', offset = 0 } = {}) => {
    const qs = new URLSearchParams({ limit: '50' });
    if (q) qs.set('q', q);
    if (offset) qs.set('offset', String(offset));
    const j = await get('/api/conversations?' + qs);
    return { items: listOf(j, 'conversations').map(normConv), next: j.next_offset ?? null };
  },
  create: async ({ agentId, title } = {}) => {
    const j = await post('/api/conversations', { title: title || undefined, agentId: agentId || undefined });
    return normConv(j.conversation || j);
  },
  // GET /api/conversations/:id (with usage and model_switches) + /messages, paged by seq
  get: async (id) => {
    const j = await get(`/api/conversations/${enc(id)}`);
    const messages = [];
    let after = null;
    for (let page = 0; page < 20; page++) {
      const qs = new URLSearchParams({ limit: '500' });
      if (after !== null) qs.set('after', String(after));
      const m = await get(`/api/conversations/${enc(id)}/messages?${qs}`);
      messages.push(...listOf(m, 'messages').map(normMessage));
      if (m.next_after === null || m.next_after === undefined) break;
      after = m.next_after;
    }
    const conv = normConv(j.conversation || j);
    if (j.usage && j.usage.cost_usd) conv.costUsd = j.usage.cost_usd;
    return { conversation: conv, messages, switches: j.model_switches || [] };
  },
  rename: (id, title) => patch(`/api/conversations/${enc(id)}`, { title }),
  remove: (id) => del(`/api/conversations/${enc(id)}`),
};

// POST /api/chat/estimate {conversationId?, draft, provider, model}
//   -> {estimated_input_tokens, max_output_tokens, cost_min_usd, cost_max_usd, ...}
export async function estimateCost({ conversationId, draft, modelRef: ref }) {
  const { provider, model } = splitRef(ref);
  const j = await post('/api/chat/estimate', { conversationId: conversationId || undefined, draft, provider, model });
  const e = j.estimate || j;
  const b = e.budget || null;
  return {
    inputTokens: pick(e, 'input_tokens', 'estimated_input_tokens') ?? null,
    minUsd: pick(e, 'cost_min_usd', 'min_usd', 'cost_usd') ?? null,
    maxUsd: pick(e, 'cost_max_usd', 'max_usd') ?? null,
    // what the budgets say about this turn: {remainingUsd|null, requiredUsd, fits, cheaper:[{id, maxCostUsd}]}
    budget: b && {
      remainingUsd: b.remaining_usd ?? null,
      requiredUsd: b.required_usd ?? null,
      fits: b.fits !== false,
      cheaper: (b.cheaper_models || []).map((m) => ({ id: m.id, maxCostUsd: m.max_cost_usd })),
    },
  };
}

// ---- chat stream (Vercel AI SDK UI message stream, parsed by the `ai` package) ----
// Streams one assistant turn. onUpdate(message) gets every UIMessage snapshot.
// Resolves with the final message; throws ApiError for refusals before the
// stream and for an `error` chunk inside it (err.partial holds what arrived).
export async function streamChat({ chatId, messages, modelRef: ref, agentId, signal, onUpdate }) {
  const { provider, model } = splitRef(ref);
  const transport = new DefaultChatTransport({ api: '/api/chat', credentials: 'same-origin' });
  let stream;
  try {
    stream = await transport.sendMessages({
      trigger: 'submit-message',
      chatId,
      messageId: undefined,
      messages,
      abortSignal: signal,
      body: { provider: provider || undefined, model: model || undefined, agentId: agentId || undefined },
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    if (e && e.statusCode) throw errorFromBody(e.statusCode, e.responseBody || e.message);
    throw new ApiError(0, 'network_error', (e && e.message) || 'The chat request failed.');
  }
  let streamError = null;
  let last = null;
  for await (const msg of readUIMessageStream({
    stream,
    onError: (e) => {
      streamError = streamError || e;
    },
  })) {
    last = msg;
    onUpdate && onUpdate(msg);
  }
  if (streamError) {
    // errorText is "<code>: <message> (the partial answer was kept)"
    const text = (streamError && streamError.message) || String(streamError);
    const m = /^([a-z_]+): (.*)$/s.exec(text);
    const err = m ? new ApiError(200, m[1], m[2]) : errorFromBody(200, text);
    err.partial = last;
    throw err;
  }
  return last;
}

// ---- organizations (admin) ----
// GET /api/organizations/:id/models -> {allowed_models (null = all), default_model, feature_flags, system_default, models}
function normOrgModels(j) {
  const allowed = pick(j, 'allowed_models', 'allowed');
  return {
    allowed: allowed == null ? null : allowed.map(refOf),
    defaultModel: refOf(pick(j, 'default_model', 'default')),
    systemDefault: refOf(j.system_default),
    features: j.feature_flags || {},
  };
}
export const orgs = {
  models: async (orgId) => normOrgModels(await get(`/api/organizations/${enc(orgId)}/models`)),
  saveModels: async (orgId, { allowed, defaultModel }) =>
    normOrgModels(
      await put(`/api/organizations/${enc(orgId)}/models`, { allowed_models: allowed, default_model: defaultModel || null }),
    ),
  // feature flags live in the org settings (same answer as /models)
  features: async (orgId) => normOrgModels(await get(`/api/organizations/${enc(orgId)}/settings`)).features,
  saveFeatures: async (orgId, features) =>
    normOrgModels(await put(`/api/organizations/${enc(orgId)}/settings`, { feature_flags: features })).features,
  // -> [{user_id, email, name, role, joined_at}]
  members: async (orgId) => listOf(await get(`/api/organizations/${enc(orgId)}/members`), 'members'),
  setRole: (orgId, userId, role) => put(`/api/organizations/${enc(orgId)}/members/${enc(userId)}`, { role }),
  removeMember: (orgId, userId) => del(`/api/organizations/${enc(orgId)}/members/${enc(userId)}`),
  // pending ones: [{id, role, email|null, created_at, expires_at}] (never the token)
  invitations: async (orgId) => listOf(await get(`/api/organizations/${enc(orgId)}/invitations`), 'invitations'),
  revokeInvitation: (orgId, id) => del(`/api/organizations/${enc(orgId)}/invitations/${enc(id)}`),
  // -> {id, token, url:"/invite/<token>", expires_at}
  invite: (orgId, email, role) =>
    post(`/api/organizations/${enc(orgId)}/invitations`, { email: email || undefined, role }),
};

// ---- governance: budgets, rate limits, audit log, alerts ----
// GET /api/governance/status -> {remaining_usd|null, budget:{organization,user}, limits:{org_rpm:{limit,remaining}|null,..},
//   refusal:{code,message}|null, can_send}
export const governance = {
  status: () => get('/api/governance/status'),
  // {monthly_limit_usd|null, spent_usd, reserved_usd, remaining_usd|null, period_start, alert_thresholds,
  //  alert_webhook, users:[..], agents:[..]}
  budget: (orgId) => get(`/api/organizations/${enc(orgId)}/budget`),
  saveBudget: (orgId, body) => put(`/api/organizations/${enc(orgId)}/budget`, body),
  // {rpm, tpm, user_rpm, user_tpm (null = unlimited), backend}
  limits: (orgId) => get(`/api/organizations/${enc(orgId)}/limits`),
  saveLimits: (orgId, body) => put(`/api/organizations/${enc(orgId)}/limits`, body),
  // {entries:[{id, actor:{user_id,email}, action, target, before, after, ip, created_at}], next_before}
  audit: (orgId, { before, action } = {}) => {
    const qs = new URLSearchParams({ limit: '50' });
    if (before) qs.set('before', String(before));
    if (action) qs.set('action', action);
    return get(`/api/organizations/${enc(orgId)}/audit?${qs}`);
  },
  alerts: (orgId) => get(`/api/organizations/${enc(orgId)}/alerts`),
};

// ---- agents ----
function normAgent(a) {
  return {
    id: a.id,
    name: a.name,
    description: a.description || '',
    systemPrompt: a.system_prompt || '',
    defaultModel: refOf(a.default_model),
    allowedModels: a.allowed_models ? a.allowed_models.map(refOf) : null, // null = the org's list
    tools: Array.isArray(a.tools) ? a.tools : [],
  };
}
function agentBody(a) {
  return {
    name: a.name,
    description: a.description,
    system_prompt: a.systemPrompt,
    default_model: a.defaultModel || null,
    allowed_models: a.allowedModels && a.allowedModels.length ? a.allowedModels : null,
    tools: a.tools && a.tools.length ? a.tools : null,
  };
}
// /api/agents: the agents of the active organization (orgId only keys the UI's reloads)
export const agents = {
  list: async (_orgId) => listOf(await get('/api/agents'), 'agents').map(normAgent),
  create: async (_orgId, a) => {
    const j = await post('/api/agents', agentBody(a));
    return normAgent(j.agent || j);
  },
  update: (_orgId, id, a) => put(`/api/agents/${enc(id)}`, agentBody(a)),
  remove: (_orgId, id) => del(`/api/agents/${enc(id)}`),
};

// ---- usage ----
// GET /api/organizations/:id/usage?from&to&group_by=model|user|agent|day|day,model
//   -> {groups:[{key, id?, name? (user, agent), day?, model? (day,model), requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
//        cost_usd, errors, partial, estimated}], totals:{...}}
export async function usage(orgId, { from, to, groupBy }) {
  const qs = new URLSearchParams({ group_by: groupBy });
  if (from) qs.set('from', from);
  if (to) qs.set('to', to);
  const j = await get(`/api/organizations/${enc(orgId)}/usage?${qs}`);
  return { totals: j.totals || {}, rows: listOf(j, 'rows', 'groups') };
}
export function usageCsvUrl(orgId, { from, to, groupBy }) {
  const qs = new URLSearchParams({ group_by: groupBy, format: 'csv' });
  if (from) qs.set('from', from);
  if (to) qs.set('to', to);
  return `/api/organizations/${enc(orgId)}/usage?${qs}`;
}
