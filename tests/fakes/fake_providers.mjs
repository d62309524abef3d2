#!/usr/bin/env node
// Fake LLM provider servers for aigw's black-box tests: ONE node:http process (no npm deps)
// that speaks, on one port, the wire formats of OpenAI, DeepSeek, fal (native openrouter/router),
// Eden AI (v3 OpenAI dialect and v2 text/chat + NDJSON stream) and a local OpenAI-compatible server
// (Ollama-like), as described in /work/shared/reference/providers.md — including each provider's
// auth check, error bodies, rate-limit headers and stream quirks. Answers are deterministic text
// derived from the input so tests can assert exact bytes, tokens and cost.
//
//   node tests/fakes/fake_providers.mjs --port 0      -> first stdout line: {"port":N}
//
// Routes (point the gateway's *_BASE_URL at them):
//   OpenAI   /openai/v1/chat/completions, /openai/v1/models            Bearer FAKE_KEYS.openai
//   DeepSeek /deepseek/chat/completions, /deepseek/models, /deepseek/user/balance   Bearer
//   fal      /fal/openrouter/router, /fal/openrouter/router/stream     "Key id:secret"
//   Eden     /eden/v3/llm/chat/completions, /eden/v2/text/chat, /eden/v2/text/chat/stream   Bearer
//   local    /local/v1/chat/completions, /local/v1/models              no auth (unless --local-key)
//
// Scenario control (fault injection), two ways:
//   - a directive in the last user message: "[[fake:NAME]]" or "[[fake:NAME,NAME2=VALUE]]";
//   - POST /_fake/script {"scenarios":["503","ok"], "provider":"openai"?} queues scenarios that the
//     next chat requests (of that provider, or of any provider) consume in order.
// Control API: GET /_fake/requests (recorded upstream requests: method, path, headers incl. auth,
// parsed body, scenarios, status, aborted), POST /_fake/reset, GET /_fake/health.
// The scenario catalogue is SCENARIO_HELP below.

import http from 'node:http';
import { pathToFileURL } from 'node:url';

// Credentials the fakes accept. The black-box harness hands the same values to the gateway.
export const FAKE_KEYS = {
  openai: 'sk-fake-openai-0123456789abcdef',
  deepseek: 'sk-fake-deepseek-0123456789abcdef',
  fal: 'fakekeyid:fakekeysecret',
  eden: 'fake-eden-token-0123456789',
  local: '', // empty = the local server accepts any (or no) Authorization header, like Ollama
};

export const SCENARIO_HELP = {
  ok: 'normal answer',
  '400': "the provider's invalid-request error",
  '401': "the provider's authentication error (same as a wrong key)",
  '402': "the provider's out-of-credit error (alias: quota): OpenAI 429 insufficient_quota, DeepSeek 402, fal 403 'User is locked', Eden 402",
  '404': "unknown model (alias: model-not-found): OpenAI 404 model_not_found, DeepSeek 400 'Model Not Exist', fal 422, Eden 404, local 404",
  '429': 'rate limited; =MS sets the hint (OpenAI retry-after-ms + x-ratelimit-reset-requests, DeepSeek none, fal/Eden/local Retry-After seconds)',
  '500': 'server error', '502': 'bad gateway (HTML body from the edge proxy)', '503': 'overloaded',
  timeout: 'accept the request, never send headers (until the client hangs up)',
  slow: 'stream tokens with a delay between events (=MS, default 25)',
  stall: 'headers at once, first body byte after =MS (default 300)',
  cut: 'close the socket mid-stream (no [DONE] / final event, no chunked terminator)',
  nodone: 'send the finish chunk (and usage) but no [DONE]; clean EOF',
  garbage: 'a data payload that is not JSON (non-stream: a 200 body that is not JSON)',
  'stream-error': 'data: {"error":{...}} after some content, then close',
  split: 'write every byte in its own write, with small delays',
  crlf: 'CRLF line endings in the event stream',
  keepalive: 'SSE comments between events (DeepSeek non-stream: blank lines before the JSON)',
  nospace: '"data:" without the space', multiline: 'each JSON payload split over two data: lines',
  'no-usage': 'never report usage', 'usage-zeros-every-chunk': 'zero-filled usage on every chunk, real usage on the last',
  huge: 'one event (or NDJSON line) over 4 MiB; non-stream: a 17 MiB body',
  'fal-divergent': 'fal: cumulative output that rewrites its prefix',
  'eden-fail-in-200': 'Eden v2: HTTP 200 with {"<provider>":{"status":"fail",...}}',
  'fal-no-retry': 'fal: 500 with X-Fal-Retryable: false',
  'cache-hit': 'report half of the prompt as cached input tokens',
  parallel: 'two tool calls, fragments interleaved by index (also when the prompt says "parallel")',
  'tokens=N': 'answer with exactly N output tokens',
};

const SCENARIO_ALIASES = { quota: '402', 'model-not-found': '404', auth: '401' };
const ERROR_SCENARIOS = new Set(['400', '401', '402', '404', '429', '500', '502', '503', 'fal-no-retry']);

// ------------------------------------------------------------------------------------ catalogues

const OPENAI_MODELS = {
  // id -> [snapshot the API reports back, created, reasoning model?]
  'gpt-4o-mini': ['gpt-4o-mini-2024-07-18', 1721172741, false],
  'gpt-4o': ['gpt-4o-2024-08-06', 1722814719, false],
  'gpt-4.1': ['gpt-4.1-2025-04-14', 1744316542, false],
  'gpt-4.1-mini': ['gpt-4.1-mini-2025-04-14', 1744318173, false],
  'gpt-4.1-nano': ['gpt-4.1-nano-2025-04-14', 1744321025, false],
  o3: ['o3-2025-04-16', 1744133301, true],
  'o4-mini': ['o4-mini-2025-04-16', 1744225351, true],
  'gpt-5': ['gpt-5-2025-08-07', 1754425777, true],
  'gpt-5-mini': ['gpt-5-mini-2025-08-07', 1754425867, true],
};
const DEEPSEEK_MODELS = ['deepseek-v4-flash', 'deepseek-v4-pro', 'deepseek-chat', 'deepseek-reasoner'];
// OpenRouter list prices in micro-USD per 1M tokens (= pico-USD per token), for fal's usage.cost.
const FAL_PRICES = {
  'google/gemini-2.5-flash': [300_000n, 2_500_000n],
  'anthropic/claude-sonnet-4.5': [3_000_000n, 15_000_000n],
  'meta-llama/llama-4-maverick': [150_000n, 600_000n],
  'openai/gpt-oss-120b': [50_000n, 240_000n],
  'openai/gpt-4.1': [2_000_000n, 8_000_000n],
};
const EDEN_PRICES = {
  'openai/gpt-4o': [2_500_000n, 10_000_000n],
  'openai/gpt-4o-mini': [150_000n, 600_000n],
  'openai/gpt-4.1': [2_000_000n, 8_000_000n],
  'anthropic/claude-sonnet-4-5': [3_000_000n, 15_000_000n],
  'google/gemini-2.5-flash': [300_000n, 2_500_000n],
  'mistral/mistral-large-latest': [2_000_000n, 6_000_000n],
  'deepseek/deepseek-reasoner': [280_000n, 420_000n],
};
const EDEN_REASONING = new Set(['deepseek/deepseek-reasoner']);
const LOCAL_MODELS = [
  // Context length in two styles local servers use: vLLM's max_model_len, llama.cpp's meta.n_ctx_train.
  { id: 'llama3.2:3b', max_model_len: 131072, reasoning: false },
  { id: 'qwen3:8b', meta: { n_ctx_train: 40960 }, reasoning: true },
];

// ------------------------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** USD decimal string of an integer pico-USD amount, trailing zeros trimmed ("0.0000138"). */
export function picoToUsd(pico) {
  const whole = pico / 1_000_000_000_000n;
  const frac = (pico % 1_000_000_000_000n).toString().padStart(12, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

/** Text of an OpenAI-style message content (string or array of parts). */
function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
  return '';
}

/** Parses "[[fake:a,b=1]]" directives into [{name, value}] (all directives of the text, in order). */
export function parseDirectives(text) {
  const out = [];
  if (typeof text !== 'string') return out;
  for (const m of text.matchAll(/\[\[fake:([^\]]*)\]\]/g)) {
    for (const item of m[1].split(',')) {
      const t = item.trim();
      if (!t) continue;
      const eq = t.indexOf('=');
      let name = eq < 0 ? t : t.slice(0, eq);
      const value = eq < 0 ? undefined : t.slice(eq + 1);
      name = SCENARIO_ALIASES[name] ?? name;
      out.push({ name, value });
    }
  }
  return out;
}

const stripDirectives = (text) => text.replace(/\[\[fake:[^\]]*\]\]/g, '').replace(/\s+/g, ' ').trim();

/** Splits text into "tokens": each a run of whitespace plus one word, so joining restores the text. */
export function tokenize(text) {
  return text.match(/\s*\S+/g) ?? [];
}

/** Token estimate of request input, deterministic: 4 per message + 1 per 4 bytes, +3 priming. */
function promptTokens(parts) {
  let n = 3;
  for (const p of parts) n += 4 + Math.ceil(Buffer.byteLength(p, 'utf8') / 4);
  return n;
}

/** The deterministic answer for a prompt; contains a 3-byte code point so byte splits hit UTF-8. */
export function replyFor(provider, model, userText, tokenCount) {
  if (tokenCount !== undefined) {
    const n = Math.max(1, tokenCount);
    return Array.from({ length: n }, (_, i) => (i === 0 ? 'w0' : ` w${i}`)).join('');
  }
  const echo = tokenize(stripDirectives(userText)).slice(0, 6).join('').trim() || '(empty)';
  return `Fake ${provider} ${model} reply — you said: ${echo}. The answer is 42.`;
}
const reasoningFor = (userText) => `Considering "${tokenize(stripDirectives(userText)).slice(0, 4).join('').trim()}" step by step.`;

function toolArguments(toolDef, variant) {
  const params = toolDef?.function?.parameters ?? toolDef?.parameters ?? {};
  const props = params.properties ?? {};
  const keys = Array.isArray(params.required) && params.required.length ? params.required : Object.keys(props);
  const args = {};
  for (const k of keys) {
    const s = props[k] ?? {};
    if (Array.isArray(s.enum) && s.enum.length) args[k] = s.enum[variant % s.enum.length];
    else if (s.type === 'number' || s.type === 'integer') args[k] = 1 + variant;
    else if (s.type === 'boolean') args[k] = true;
    else if (s.type === 'array') args[k] = [];
    else if (s.type === 'object') args[k] = {};
    else args[k] = k === 'city' ? ['Paris', 'Tokyo'][variant % 2] : `${k}-${variant}`;
  }
  return JSON.stringify(args);
}

/** Chooses the tool calls an OpenAI-dialect request gets, or [] for a text answer. */
function planToolCalls(body, lastUserText, scenarios, idPrefix) {
  const tools = Array.isArray(body.tools) ? body.tools.filter((t) => t && t.type === 'function' && t.function?.name) : [];
  if (!tools.length || body.tool_choice === 'none') return [];
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  // After a tool result the fake model answers in text, so tool loops terminate.
  if (msgs.length && msgs[msgs.length - 1]?.role === 'tool') return [];
  let chosen = tools;
  const forced = body.tool_choice?.function?.name;
  if (forced) chosen = tools.filter((t) => t.function.name === forced);
  if (!chosen.length) return [];
  const parallel = body.parallel_tool_calls !== false && (scenarios.has('parallel') || /\bparallel\b/i.test(lastUserText));
  const picks = parallel ? [chosen[0], chosen[1] ?? chosen[0]] : [chosen[0]];
  return picks.map((t, i) => ({ id: `${idPrefix}${i}`, name: t.function.name, arguments: toolArguments(t, i) }));
}

const argFragments = (s) => (s.length ? s.match(/[\s\S]{1,6}/g) : []);

// ------------------------------------------------------------------------------------ state

const state = { seq: 0, records: [], queues: new Map() /* provider|'*' -> [scenario string] */ };

function takeScripted(provider) {
  for (const key of [provider, '*']) {
    const q = state.queues.get(key);
    if (q && q.length) return q.shift();
  }
  return undefined;
}

/** Scenario set for one request: scripted entry first, then directives in the last user text. */
function resolveScenarios(provider, lastUserText) {
  const list = [];
  const scripted = takeScripted(provider);
  if (scripted !== undefined) list.push(...parseDirectives(`[[fake:${scripted}]]`));
  list.push(...parseDirectives(lastUserText));
  const map = new Map();
  for (const { name, value } of list) if (!map.has(name)) map.set(name, value);
  return map;
}

/** JSON-friendly copy of a scenario map (valueless scenarios become true). */
const scenarioRecord = (scen) => Object.fromEntries([...scen].map(([k, v]) => [k, v ?? true]));

const intParam = (scen, name, dflt) => {
  const v = scen.get(name);
  const n = v === undefined ? NaN : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : dflt;
};

// ------------------------------------------------------------------------------------ wire output

function sendJson(res, status, obj, headers = {}) {
  const text = typeof obj === 'string' ? obj : JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** res.write that resolves once the bytes reached the socket, so a later destroy() cannot drop them. */
function writeFlushed(res, chunk) {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve();
    res.write(chunk, () => resolve());
  });
}

/** Writes bytes honouring the split scenario (one write per byte, small pauses). */
async function writeBytes(res, text, scen) {
  if (res.destroyed) return;
  if (!scen.has('split')) { await writeFlushed(res, text); return; }
  const buf = Buffer.from(text, 'utf8');
  for (let i = 0; i < buf.length; i++) {
    if (res.destroyed) return;
    await writeFlushed(res, buf.subarray(i, i + 1));
    // A timer every few bytes lets the kernel ship them as separate segments; setImmediate between.
    if (i % 32 === 31) await sleep(1); else await new Promise((r) => setImmediate(r));
  }
}

/**
 * Streams a list of steps. Step kinds: {data: object|string} (one SSE event / NDJSON line),
 * {comment: text}, {raw: text}, and {cutHere: true} (where the cut scenario drops the socket).
 * Applies crlf, keepalive, nospace, multiline, slow, stall, split and cut.
 */
async function sendStream(req, res, rec, steps, scen, { ndjson = false, headers = {} } = {}) {
  res.writeHead(200, {
    'content-type': ndjson ? 'application/x-ndjson' : 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...headers,
  });
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  if (scen.has('stall')) await sleep(intParam(scen, 'stall', 300));
  const eol = scen.has('crlf') ? '\r\n' : '\n';
  const slowMs = scen.has('slow') ? intParam(scen, 'slow', 25) : 0;
  for (const step of steps) {
    if (res.destroyed) return;
    if (step.cutHere) {
      if (scen.has('cut')) { rec.outcome = 'cut'; res.socket?.destroy(); return; }
      continue;
    }
    let text;
    if (step.comment !== undefined) text = `: ${step.comment}${eol}${eol}`;
    else if (step.raw !== undefined) text = step.raw;
    else {
      const payload = typeof step.data === 'string' ? step.data : JSON.stringify(step.data);
      if (ndjson) text = payload + '\n';
      else {
        const prefix = scen.has('nospace') ? 'data:' : 'data: ';
        let lines = [payload];
        if (scen.has('multiline') && payload !== '[DONE]' && payload.length > 2) {
          const at = payload.indexOf(',') > 0 ? payload.indexOf(',') + 1 : Math.floor(payload.length / 2);
          lines = [payload.slice(0, at), payload.slice(at)];
        }
        text = lines.map((l) => prefix + l + eol).join('') + eol;
        if (scen.has('keepalive')) text = `: keep-alive${eol}${eol}` + text;
      }
    }
    await writeBytes(res, text, scen);
    if (slowMs) await sleep(slowMs);
  }
  if (!res.destroyed) res.end();
  rec.outcome ??= 'complete';
}

/** Non-stream 2xx body with the delivery scenarios (stall/slow delay, split, cut, keepalive). */
async function sendBody(res, rec, obj, scen, { leadingBlankLines = false, headers = {} } = {}) {
  let text = typeof obj === 'string' ? obj : JSON.stringify(obj);
  if (scen.has('garbage')) text = '<html><body>upstream said something that is not JSON</body></html>';
  if (scen.has('huge')) text = JSON.stringify({ ...obj, padding: 'x'.repeat(17 << 20) });
  if (leadingBlankLines) text = '\n\n\n' + text;
  const delay = (scen.has('stall') ? intParam(scen, 'stall', 300) : 0) + (scen.has('slow') ? intParam(scen, 'slow', 25) * 4 : 0);
  if (delay) await sleep(delay);
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.socket?.setNoDelay(true);
  if (scen.has('cut')) {
    await writeFlushed(res, text.slice(0, Math.floor(text.length / 2)));
    await sleep(5);
    rec.outcome = 'cut';
    res.socket?.destroy();
    return;
  }
  await writeBytes(res, text, scen);
  if (!res.destroyed) res.end();
  rec.outcome = 'complete';
}

/** Holds the request without answering until the client gives up (timeout scenario). */
function holdForever(req, res, rec) {
  rec.outcome = 'held';
  const t = setTimeout(() => res.destroy(), 120_000);
  res.on('close', () => clearTimeout(t));
}

// ------------------------------------------------------------------------------------ errors

const oaiError = (message, type, param, code) => ({ error: { message, type, param: param ?? null, code: code ?? null } });
const HTML_502 = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function hintMs(scen, dflt) { return intParam(scen, '429', dflt); }

/** {status, body, headers} of one provider's error of a given kind. */
function providerError(provider, kind, ctx) {
  const model = ctx.model ?? '';
  const scen = ctx.scen ?? new Map();
  switch (provider) {
    case 'openai': switch (kind) {
      case '400': return { status: 400, body: oaiError("Invalid value for 'messages': the fake was told to reject this request.", 'invalid_request_error', 'messages', 'invalid_value') };
      case '401': return { status: 401, body: oaiError(`Incorrect API key provided: ${redactKey(ctx.key)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key') };
      case '401-missing': return { status: 401, body: oaiError("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null, null) };
      case '402': return { status: 429, body: oaiError('You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.', 'insufficient_quota', null, 'insufficient_quota') };
      case '404': return { status: 404, body: oaiError(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', null, 'model_not_found') };
      case '429': { const ms = hintMs(scen, 300); return { status: 429, body: oaiError(`Rate limit reached for ${model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in ${ms}ms.`, 'requests', null, 'rate_limit_exceeded'), headers: { 'retry-after-ms': String(ms), 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': `${ms}ms`, 'x-ratelimit-limit-tokens': '40000', 'x-ratelimit-remaining-tokens': '39000', 'x-ratelimit-reset-tokens': '1.5s' } }; }
      case '500': return { status: 500, body: oaiError('The server had an error while processing your request. Sorry about that!', 'server_error', null, null) };
      case '502': return { status: 502, body: HTML_502, headers: { 'content-type': 'text/html' } };
      case '503': return { status: 503, body: oaiError('The engine is currently overloaded, please try again later.', 'server_error', null, null) };
    } break;
    case 'deepseek': switch (kind) {
      case '400': return { status: 400, body: oaiError('Invalid request: the fake was told to reject this request', 'invalid_request_error', null, 'invalid_request_error') };
      case '401': case '401-missing': return { status: 401, body: oaiError(`Authentication Fails, Your api key: ${redactKey(ctx.key)} is invalid`, 'authentication_error', null, 'invalid_request_error') };
      case '402': return { status: 402, body: oaiError('Insufficient Balance', 'unknown_error', null, 'invalid_request_error') };
      case '404': return { status: 400, body: oaiError('Model Not Exist', 'invalid_request_error', null, 'invalid_request_error') };
      case '429': return { status: 429, body: oaiError('Rate Limit Reached', 'rate_limit_error', null, 'rate_limit_exceeded') }; // no Retry-After documented
      case '500': return { status: 500, body: oaiError('Server Error', 'api_error', null, 'internal_error') };
      case '502': return { status: 502, body: HTML_502, headers: { 'content-type': 'text/html' } };
      case '503': return { status: 503, body: oaiError('Server Overloaded', 'api_error', null, 'service_unavailable') };
    } break;
    case 'fal': {
      const platform = (status, detail, type, extra = {}) => ({ status, body: { detail, error_type: type }, headers: { 'x-fal-error-type': type, ...extra } });
      switch (kind) {
        case '400': return platform(400, 'Bad request', 'bad_request');
        case '401': return { status: 401, body: { detail: 'No user found for Key ID and Secret' } };
        case '401-missing': return { status: 401, body: { detail: 'Missing authorization header' } };
        case '401-format': return { status: 401, body: { detail: "Invalid Key Authorization header format. Expected '<key_id>:<key_secret>'." } };
        case '402': return { status: 403, body: { detail: 'User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.' } };
        case '404': return { status: 422, body: { detail: [{ loc: ['body', 'model'], msg: `Model '${model}' is not available on the router`, type: 'value_error', url: 'https://docs.fal.ai/errors/#value_error', ctx: {} }] } };
        case '429': { const s = Math.max(1, Math.ceil(hintMs(scen, 1000) / 1000)); return { status: 429, body: { detail: 'Too many concurrent requests' }, headers: { 'retry-after': String(s) } }; }
        case '500': return platform(500, 'Internal server error', 'internal_error');
        case 'fal-no-retry': return platform(500, 'Runner raised an error', 'runner_server_error', { 'x-fal-retryable': 'false' });
        case '502': return platform(502, 'Runner returned an incomplete response', 'runner_incomplete_response');
        case '503': return platform(503, 'No runner could be scheduled for the request', 'runner_scheduling_failure', { 'x-fal-retryable': 'true' });
      }
      break;
    }
    case 'eden': switch (kind) {
      case '400': return { status: 400, body: { detail: 'Bad request: the fake was told to reject this request' } };
      case '401': return { status: 401, body: { detail: 'Invalid token.' } };
      case '401-missing': return { status: 403, body: { detail: 'Authentication credentials were not provided.' } };
      case '402': return { status: 402, body: { detail: "You don't have enough credits to perform this request. Please top up your account." } };
      case '404': return { status: 404, body: { detail: `Model ${model} not found` } };
      case '429': { const s = Math.max(1, Math.ceil(hintMs(scen, 1000) / 1000)); return { status: 429, body: { detail: `Request was throttled. Expected available in ${s} second${s === 1 ? '' : 's'}.` }, headers: { 'retry-after': String(s) } }; }
      case '500': return { status: 500, body: { detail: 'Internal server error' } };
      case '502': return { status: 502, body: HTML_502, headers: { 'content-type': 'text/html' } };
      case '503': return { status: 503, body: { detail: 'Service temporarily unavailable' } };
    } break;
    case 'local': switch (kind) {
      case '400': return { status: 400, body: oaiError('invalid request: the fake was told to reject this request', 'invalid_request_error', null, null) };
      case '401': case '401-missing': return { status: 401, body: { error: 'Unauthorized' } }; // vLLM --api-key shape
      case '402': return { status: 402, body: oaiError('payment required', 'api_error', null, null) };
      case '404': return { status: 404, body: oaiError(`model "${model}" not found, try pulling it first`, 'api_error', null, null) };
      case '429': { const s = Math.max(1, Math.ceil(hintMs(scen, 1000) / 1000)); return { status: 429, body: oaiError('server busy, please try again. maximum pending requests exceeded', 'api_error', null, null), headers: { 'retry-after': String(s) } }; }
      case '500': return { status: 500, body: oaiError('llama runner process has terminated: exit status 2', 'api_error', null, null) };
      case '502': return { status: 502, body: HTML_502, headers: { 'content-type': 'text/html' } };
      case '503': return { status: 503, body: { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } } };
    } break;
  }
  return { status: 500, body: { error: `fake: no ${kind} error for ${provider}` } };
}

function redactKey(key) {
  if (!key) return '';
  return key.length > 8 ? `${key.slice(0, 3)}*****${key.slice(-4)}` : '****';
}

function sendProviderError(res, rec, provider, kind, ctx) {
  const e = providerError(provider, kind, ctx);
  rec.outcome = `error:${kind}`;
  const headers = { ...(e.headers ?? {}) };
  if (provider === 'fal') headers['x-fal-request-id'] = `fal-req-${rec.id}`;
  const ct = headers['content-type'];
  delete headers['content-type'];
  const text = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
  res.writeHead(e.status, { 'content-type': ct ?? 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

// ------------------------------------------------------------------------------------ auth

/** Returns an error kind ('401', '401-missing', '401-format') or null when the credentials are right. */
function checkAuth(provider, headers, keyOverride) {
  const auth = headers.authorization;
  const want = keyOverride[provider];
  if (provider === 'local') {
    if (!want) return null;
    return auth === `Bearer ${want}` ? null : '401';
  }
  if (provider === 'fal') {
    if (!auth) return '401-missing';
    const m = /^Key (.*)$/.exec(auth);
    if (!m) return '401-format';
    if (!m[1].includes(':')) return '401-format';
    return m[1] === want ? null : '401';
  }
  if (!auth) return '401-missing';
  const m = /^Bearer (.*)$/.exec(auth);
  if (!m) return provider === 'eden' ? '401-missing' : '401';
  return m[1] === want ? null : '401';
}

// ------------------------------------------------------------------------------------ OpenAI dialect

/**
 * Handles chat completions for the OpenAI-dialect providers (openai, deepseek, eden v3, local).
 * flavor: provider name; decides reasoning field, usage placement, keep-alives and model checks.
 */
async function handleOpenAIDialect(req, res, rec, flavor, body, keys) {
  if (body === undefined) {
    const msg = flavor === 'openai'
      ? "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
      : 'Failed to deserialize the JSON body into the target type';
    return sendJson(res, flavor === 'deepseek' ? 422 : 400, oaiError(msg, 'invalid_request_error', null, null));
  }
  const model = body.model;
  const messages = body.messages;
  const lastUser = Array.isArray(messages) ? [...messages].reverse().find((m) => m?.role === 'user') : undefined;
  const lastUserText = contentText(lastUser?.content);
  const scen = resolveScenarios(flavor, lastUserText);
  rec.scenarios = scenarioRecord(scen);
  if (scen.has('timeout')) return holdForever(req, res, rec);
  for (const kind of ERROR_SCENARIOS) if (scen.has(kind)) return sendProviderError(res, rec, flavor, kind, { model, scen, key: keys[flavor] });

  // Request validation, with each provider's own answers.
  const invalid = (message, param, code, status = 400) => {
    rec.outcome = 'error:validation';
    if (flavor === 'eden') return sendJson(res, 422, { detail: [{ loc: ['body', param ?? 'body'], msg: message, type: 'value_error' }] });
    return sendJson(res, status, oaiError(message, 'invalid_request_error', param, code));
  };
  if (typeof model !== 'string' || !model) return invalid('you must provide a model parameter', 'model', null);
  if (!Array.isArray(messages)) return invalid("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (messages.length === 0) return invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  for (const [i, m] of messages.entries()) {
    if (!m || !['system', 'developer', 'user', 'assistant', 'tool'].includes(m.role)) return invalid(`Invalid value: '${m?.role}'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'.`, `messages[${i}].role`, 'invalid_value');
    if (m.role === 'tool' && typeof m.tool_call_id !== 'string') return invalid(`Missing required parameter: 'messages[${i}].tool_call_id'.`, `messages[${i}].tool_call_id`, 'missing_required_parameter');
  }
  if (body.stream_options != null && body.stream !== true) return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options', 'invalid_value');

  let reportedModel = model;
  let reasoningVisible = false; // reasoning text streamed to the client
  let reasoningHidden = false; // reasoning tokens billed but never shown (OpenAI o-series, gpt-5)
  let reasoningField = 'reasoning_content';
  if (flavor === 'openai') {
    const m = OPENAI_MODELS[model];
    if (!m) return sendProviderError(res, rec, 'openai', '404', { model });
    reportedModel = m[0];
    if (m[2]) {
      reasoningHidden = true;
      if (body.max_tokens != null) return invalid("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", 'max_tokens', 'unsupported_parameter');
      if (body.temperature != null && body.temperature !== 1) return invalid(`Unsupported value: 'temperature' does not support ${body.temperature} with this model. Only the default (1) value is supported.`, 'temperature', 'unsupported_value');
    }
  } else if (flavor === 'deepseek') {
    if (!DEEPSEEK_MODELS.includes(model)) return sendProviderError(res, rec, 'deepseek', '404', { model });
    // V4 models think by default; deepseek-reasoner always thinks; deepseek-chat never does.
    reasoningVisible = model === 'deepseek-reasoner' || (model.startsWith('deepseek-v4') && body.thinking?.type !== 'disabled');
    if (reasoningVisible) {
      const missing = messages.findIndex((m) => m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length && typeof m.reasoning_content !== 'string');
      if (missing >= 0) return invalid('The reasoning_content in the thinking mode must be passed back to the API.', null, 'invalid_request_error');
    }
  } else if (flavor === 'eden') {
    if (typeof model !== 'string' || !model.includes('/')) return sendProviderError(res, rec, 'eden', '404', { model });
    if (!EDEN_PRICES[model]) return sendProviderError(res, rec, 'eden', '404', { model });
    reasoningVisible = EDEN_REASONING.has(model);
  } else if (flavor === 'local') {
    const m = LOCAL_MODELS.find((x) => x.id === model);
    if (!m) return sendProviderError(res, rec, 'local', '404', { model });
    reasoningVisible = m.reasoning;
    reasoningField = 'reasoning';
  }

  const stream = body.stream === true;
  const includeUsage = body.stream_options?.include_usage === true;
  const id = flavor === 'deepseek' ? `${(0x9e3779b9 * rec.id >>> 0).toString(16)}-fake-${rec.id}` : `chatcmpl-fake${rec.id}`;
  const created = nowSeconds();
  const tokenCount = scen.has('tokens') ? intParam(scen, 'tokens', 8) : undefined;
  const toolCalls = planToolCalls(body, lastUserText, scen, flavor === 'deepseek' ? `call_00_fake${rec.id}_` : `call_fake${rec.id}_`);
  const lastMsg = messages[messages.length - 1];
  const text = toolCalls.length ? '' : lastMsg?.role === 'tool'
    ? `Tool result received: ${contentText(lastMsg.content).slice(0, 40)}.`
    : replyFor(flavor, model, lastUserText, tokenCount);
  const reasoning = reasoningVisible ? reasoningFor(lastUserText) : '';
  const textTokens = tokenize(text);
  const reasoningTokens = tokenize(reasoning);
  const toolTokens = toolCalls.reduce((n, c) => n + 4 + Math.ceil(c.arguments.length / 4), 0);
  const hiddenReasoning = reasoningHidden ? 16 + 2 * textTokens.length : 0;
  const promptParts = messages.map((m) => contentText(m.content) + (m.tool_calls ? JSON.stringify(m.tool_calls) : ''));
  if (Array.isArray(body.tools)) promptParts.push(JSON.stringify(body.tools));
  const prompt = promptTokens(promptParts);
  const cached = scen.has('cache-hit') ? Math.floor(prompt / 2) : 0;
  const completion = textTokens.length + reasoningTokens.length + toolTokens + hiddenReasoning;
  const reasoningCount = reasoningTokens.length + hiddenReasoning;
  const usage = usageObject(flavor, prompt, cached, completion, reasoningCount);
  rec.response_usage = scen.has('no-usage') ? null : usage;
  rec.response_text = text;
  rec.response_reasoning = reasoning;
  rec.response_tool_calls = toolCalls;
  const finish = toolCalls.length ? 'tool_calls' : (tokenCount !== undefined && body.max_tokens != null && tokenCount > body.max_tokens ? 'length' : 'stop');
  const edenCost = flavor === 'eden' ? costOf(EDEN_PRICES[model], prompt, completion) : undefined;

  if (!stream) {
    const message = { role: 'assistant', content: toolCalls.length ? null : text };
    if (flavor === 'openai') message.refusal = null;
    if (reasoningVisible) message[reasoningField] = reasoning;
    if (toolCalls.length) message.tool_calls = toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
    const out = { id, object: 'chat.completion', created, model: reportedModel, choices: [{ index: 0, message, logprobs: null, finish_reason: finish }] };
    if (!scen.has('no-usage')) out.usage = usage;
    if (flavor === 'openai') { out.service_tier = 'default'; out.system_fingerprint = 'fp_fake0001'; }
    if (flavor === 'deepseek') out.system_fingerprint = 'fp_fake_ds01';
    if (flavor === 'local') out.system_fingerprint = 'fp_ollama';
    if (flavor === 'eden' && !scen.has('no-usage')) out.cost = Number(picoToUsd(edenCost));
    // DeepSeek answers "waiting for capacity" with blank lines before a non-stream body.
    return sendBody(res, rec, out, scen, { leadingBlankLines: flavor === 'deepseek' && scen.has('keepalive'), headers: providerHeaders(flavor, rec) });
  }

  // ---- streaming
  const withUsageKey = includeUsage || scen.has('usage-zeros-every-chunk');
  const zeros = flavor === 'deepseek' ? usageObject('deepseek', 0, 0, 0, 0) : { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  const chunk = (choices, usageVal) => {
    const c = { id, object: 'chat.completion.chunk', created, model: reportedModel };
    if (flavor === 'openai') { c.service_tier = 'default'; c.system_fingerprint = 'fp_fake0001'; }
    if (flavor === 'deepseek') c.system_fingerprint = 'fp_fake_ds01';
    if (flavor === 'local') c.system_fingerprint = 'fp_ollama';
    c.choices = choices;
    if (usageVal !== undefined) c.usage = usageVal;
    else if (scen.has('usage-zeros-every-chunk')) c.usage = zeros;
    else if (withUsageKey) c.usage = null;
    return c;
  };
  const choice = (delta, finishReason = null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });
  // Ollama repeats the role on every delta; the others send it on the first chunk only.
  const roleEvery = flavor === 'local' ? { role: 'assistant' } : {};
  const steps = [];
  if (flavor === 'deepseek') steps.push({ comment: 'keep-alive' }); // sent while waiting for capacity

  const first = { role: 'assistant', content: toolCalls.length && flavor === 'openai' ? null : '' };
  if (flavor === 'openai') first.refusal = null;
  if (reasoningVisible && flavor === 'deepseek') { first.content = null; first.reasoning_content = ''; }
  steps.push({ data: chunk([choice(first)]) });
  for (const piece of reasoningTokens) {
    const d = { ...roleEvery, content: flavor === 'local' ? '' : null, [reasoningField]: piece };
    steps.push({ data: chunk([choice(d)]), content: true });
  }
  for (const piece of textTokens) {
    const d = { ...roleEvery, content: piece };
    if (flavor === 'deepseek' && reasoningVisible) d.reasoning_content = null;
    steps.push({ data: chunk([choice(d)]), content: true });
  }
  if (toolCalls.length) {
    // First fragment of each call carries id/type/name; argument pieces interleave by index.
    const frags = toolCalls.map((c, i) => [{ index: i, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }, ...argFragments(c.arguments).map((a) => ({ index: i, function: { arguments: a } }))]);
    const longest = Math.max(...frags.map((f) => f.length));
    for (let k = 0; k < longest; k++) for (const f of frags) if (k < f.length) steps.push({ data: chunk([choice({ ...roleEvery, tool_calls: [f[k]] })]), content: true });
  }
  // The cut scenario drops the socket in the middle of the content.
  const contentIdx = steps.map((s, i) => (s.content ? i : -1)).filter((i) => i >= 0);
  const cutAt = contentIdx.length ? contentIdx[Math.floor(contentIdx.length / 2)] : steps.length;
  steps.splice(cutAt, 0, { cutHere: true });

  if (scen.has('garbage')) steps.splice(cutAt, 0, { data: '{"id":"' + id + '","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"unterminat' });
  if (scen.has('huge')) steps.splice(cutAt, 0, { data: chunk([choice({ ...roleEvery, content: 'H'.repeat((4 << 20) + 4096) })]) });
  if (scen.has('stream-error')) {
    steps.splice(cutAt + 1);
    steps.push({ data: oaiError('The server had an error while processing your request. Sorry about that!', 'server_error', null, null) });
    return sendStream(req, res, rec, steps, scen, { headers: providerHeaders(flavor, rec) });
  }

  const finalDelta = flavor === 'deepseek' ? { content: '', ...(reasoningVisible ? { reasoning_content: null } : {}) } : { ...roleEvery };
  if (flavor === 'local') finalDelta.content = '';
  const noUsage = scen.has('no-usage');
  if (flavor === 'deepseek') {
    // DeepSeek: usage rides on the last chunk (the one with finish_reason), requested or not.
    steps.push({ data: chunk([choice(finalDelta, finish)], noUsage ? (withUsageKey ? null : undefined) : usage) });
  } else {
    steps.push({ data: chunk([choice(finalDelta, finish)]) });
    if (!noUsage && (includeUsage || scen.has('usage-zeros-every-chunk'))) {
      const u = chunk([], usage);
      if (flavor === 'eden') u.cost = Number(picoToUsd(edenCost));
      steps.push({ data: u });
    }
  }
  if (!scen.has('nodone')) steps.push({ data: '[DONE]' });
  return sendStream(req, res, rec, steps, scen, { headers: providerHeaders(flavor, rec) });
}

function usageObject(flavor, prompt, cached, completion, reasoning) {
  const u = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (flavor === 'local') { u.prompt_tokens_details = { cached_tokens: cached }; return u; }
  u.prompt_tokens_details = { cached_tokens: cached };
  u.completion_tokens_details = { reasoning_tokens: reasoning };
  if (flavor === 'openai') {
    u.prompt_tokens_details.audio_tokens = 0;
    Object.assign(u.completion_tokens_details, { audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 });
  }
  if (flavor === 'deepseek') { u.prompt_cache_hit_tokens = cached; u.prompt_cache_miss_tokens = prompt - cached; }
  return u;
}

function costOf(prices, input, output) {
  if (!prices) return 0n;
  return BigInt(input) * prices[0] + BigInt(output) * prices[1];
}

function providerHeaders(flavor, rec) {
  if (flavor === 'openai') return { 'x-request-id': `req_fake${rec.id}`, 'openai-processing-ms': '7', 'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999', 'x-ratelimit-reset-requests': '6ms' };
  if (flavor === 'fal') return { 'x-fal-request-id': `fal-req-${rec.id}` };
  return {};
}

// ------------------------------------------------------------------------------------ fal native

async function handleFal(req, res, rec, body, streaming, keys) {
  if (body === undefined || typeof body !== 'object' || body === null) return sendJson(res, 422, { detail: 'Invalid JSON body' });
  const scen = resolveScenarios('fal', typeof body.prompt === 'string' ? body.prompt : '');
  rec.scenarios = scenarioRecord(scen);
  if (scen.has('timeout')) return holdForever(req, res, rec);
  for (const kind of ERROR_SCENARIOS) if (scen.has(kind)) return sendProviderError(res, rec, 'fal', kind, { model: body.model, scen, key: keys.fal });
  const missing = ['model', 'prompt'].filter((k) => typeof body[k] !== 'string' || !body[k]);
  if (missing.length) {
    rec.outcome = 'error:validation';
    return sendJson(res, 422, { detail: missing.map((k) => ({ loc: ['body', k], msg: 'field required', type: 'value_error.missing' })) });
  }
  if (!FAL_PRICES[body.model]) return sendProviderError(res, rec, 'fal', '404', { model: body.model });
  for (const k of ['messages', 'tools']) {
    if (k in body) { rec.outcome = 'error:validation'; return sendJson(res, 422, { detail: [{ loc: ['body', k], msg: 'extra fields not permitted', type: 'value_error.extra' }] }); }
  }
  const tokenCount = scen.has('tokens') ? intParam(scen, 'tokens', 8) : undefined;
  // The prompt is the flattened conversation; echo its last "User:" turn when present.
  const lastTurn = body.prompt.split(/\n?User: /).pop().replace(/\n?Assistant:\s*$/, '');
  const text = scen.has('fal-divergent') ? 'Hello, world! This answer was rewritten.' : replyFor('fal', body.model, lastTurn, tokenCount);
  const reasoning = body.reasoning === true ? reasoningFor(lastTurn) : '';
  const textTokens = tokenize(text);
  const reasoningTokens = tokenize(reasoning);
  const prompt = promptTokens([body.system_prompt ?? '', body.prompt].filter(Boolean));
  const completion = textTokens.length + reasoningTokens.length;
  const costPico = costOf(FAL_PRICES[body.model], prompt, completion);
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, cost: Number(picoToUsd(costPico)) };
  rec.response_usage = scen.has('no-usage') ? null : usage;
  rec.response_cost_usd = picoToUsd(costPico);
  rec.response_text = text;
  rec.response_reasoning = reasoning;
  const final = { output: text, reasoning: reasoning || null, partial: false, error: null };
  if (!scen.has('no-usage')) final.usage = usage;
  if (!streaming) return sendBody(res, rec, final, scen, { headers: providerHeaders('fal', rec) });

  // Every event is the whole object so far: cumulative output with partial:true.
  const steps = [];
  let r = '';
  for (const piece of reasoningTokens) { r += piece; steps.push({ data: { output: '', reasoning: r, partial: true, error: null }, content: true }); }
  let out = '';
  if (scen.has('fal-divergent')) {
    for (const o of ['Hello wor', 'Hello world, th', 'Hello, world! This answer', 'Hello, world! This answer was rewritten.']) steps.push({ data: { output: o, reasoning: r || null, partial: true, error: null }, content: true });
  } else {
    for (const piece of textTokens) { out += piece; steps.push({ data: { output: out, reasoning: r || null, partial: true, error: null }, content: true }); }
  }
  const contentIdx = steps.map((s, i) => (s.content ? i : -1)).filter((i) => i >= 0);
  const cutAt = contentIdx.length ? contentIdx[Math.floor(contentIdx.length / 2)] : steps.length;
  steps.splice(cutAt, 0, { cutHere: true });
  if (scen.has('garbage')) steps.splice(cutAt, 0, { data: '{"output":"Fake fal, not json' });
  if (scen.has('huge')) steps.splice(cutAt, 0, { data: { output: 'H'.repeat((4 << 20) + 4096), reasoning: null, partial: true, error: null } });
  if (scen.has('stream-error')) {
    steps.splice(cutAt + 1);
    steps.push({ data: { output: out.slice(0, 10), reasoning: null, partial: false, error: 'Upstream provider returned an error: overloaded' } });
  } else if (!scen.has('nodone')) steps.push({ data: final });
  return sendStream(req, res, rec, steps, scen, { headers: providerHeaders('fal', rec) });
}

// ------------------------------------------------------------------------------------ Eden v2

async function handleEdenV2(req, res, rec, body, streaming) {
  if (body === undefined || typeof body !== 'object' || body === null) return sendJson(res, 400, { detail: 'JSON parse error' });
  const scen = resolveScenarios('eden', typeof body.text === 'string' ? body.text : '');
  rec.scenarios = scenarioRecord(scen);
  if (scen.has('timeout')) return holdForever(req, res, rec);
  for (const kind of ERROR_SCENARIOS) if (scen.has(kind)) return sendProviderError(res, rec, 'eden', kind, { model: body.providers, scen });
  // providers: "openai" + settings {"openai":"gpt-4o"}, or "openai/gpt-4o".
  const provSpec = Array.isArray(body.providers) ? body.providers[0] : body.providers;
  const errors = {};
  if (typeof provSpec !== 'string' || !provSpec) errors.providers = ['This field is required.'];
  if (typeof body.text !== 'string') errors.text = ['This field is required.'];
  if (Object.keys(errors).length) { rec.outcome = 'error:validation'; return sendJson(res, 400, { error: { type: 'Invalid request', message: errors } }); }
  const slash = provSpec.indexOf('/');
  const provName = slash < 0 ? provSpec : provSpec.slice(0, slash);
  const subModel = slash < 0 ? body.settings?.[provName] : provSpec.slice(slash + 1);
  const model = `${provName}/${subModel}`;
  if (!EDEN_PRICES[model]) return sendProviderError(res, rec, 'eden', '404', { model });
  const text = replyFor('eden', model, body.text, scen.has('tokens') ? intParam(scen, 'tokens', 8) : undefined);
  const history = Array.isArray(body.previous_history) ? body.previous_history : [];
  const prompt = promptTokens([body.chatbot_global_action ?? '', ...history.map((h) => h?.message ?? ''), body.text].filter(Boolean));
  const completion = tokenize(text).length;
  const costPico = costOf(EDEN_PRICES[model], prompt, completion);
  rec.response_text = text;
  rec.response_usage = null; // v2 reports no token counts
  rec.response_cost_usd = picoToUsd(costPico);
  if (scen.has('eden-fail-in-200')) {
    const fail = { [provName]: { status: 'fail', error: { message: `${provName} returned an error: The model is overloaded. Please try again later.` }, cost: 0 } };
    rec.outcome = 'fail-in-200';
    if (!streaming) return sendJson(res, 200, fail);
    return sendStream(req, res, rec, [{ data: fail }], scen, { ndjson: true });
  }
  if (!streaming) {
    const out = { [provName]: { status: 'success', generated_text: text, cost: Number(picoToUsd(costPico)), message: [{ role: 'user', message: body.text }, { role: 'assistant', message: text }] } };
    return sendBody(res, rec, out, scen);
  }
  const steps = tokenize(text).map((t) => ({ data: { text: t }, content: true }));
  const cutAt = Math.floor(steps.length / 2);
  steps.splice(cutAt, 0, { cutHere: true });
  if (scen.has('garbage')) steps.splice(cutAt, 0, { data: 'this line is not json' });
  if (scen.has('huge')) steps.splice(cutAt, 0, { data: { text: 'H'.repeat((4 << 20) + 4096) } });
  if (scen.has('stream-error')) { steps.splice(cutAt + 1); steps.push({ data: { error: { message: 'Provider openai failed mid-stream' } } }); }
  return sendStream(req, res, rec, steps, scen, { ndjson: true });
}

// ------------------------------------------------------------------------------------ routing

function readBody(req, limit = 64 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const ROUTES = [
  // [method, path, provider, handler kind]
  ['POST', '/openai/v1/chat/completions', 'openai', 'chat'],
  ['GET', '/openai/v1/models', 'openai', 'models'],
  ['POST', '/deepseek/chat/completions', 'deepseek', 'chat'],
  ['POST', '/deepseek/v1/chat/completions', 'deepseek', 'chat'], // /v1 is an accepted alias
  ['GET', '/deepseek/models', 'deepseek', 'models'],
  ['GET', '/deepseek/user/balance', 'deepseek', 'balance'],
  ['POST', '/fal/openrouter/router', 'fal', 'fal-sync'],
  ['POST', '/fal/openrouter/router/stream', 'fal', 'fal-stream'],
  ['POST', '/eden/v3/llm/chat/completions', 'eden', 'chat'],
  ['POST', '/eden/v3/chat/completions', 'eden', 'chat'],
  ['POST', '/eden/v2/text/chat', 'eden', 'eden-v2'],
  ['POST', '/eden/v2/text/chat/stream', 'eden', 'eden-v2-stream'],
  ['POST', '/local/v1/chat/completions', 'local', 'chat'],
  ['GET', '/local/v1/models', 'local', 'models'],
];

function modelsList(provider) {
  if (provider === 'openai') return { object: 'list', data: Object.entries(OPENAI_MODELS).map(([id, m]) => ({ id, object: 'model', created: m[1], owned_by: 'system' })) };
  if (provider === 'deepseek') return { object: 'list', data: DEEPSEEK_MODELS.map((id) => ({ id, object: 'model', owned_by: 'deepseek' })) };
  return { object: 'list', data: LOCAL_MODELS.map((m) => ({ id: m.id, object: 'model', created: 1730000000, owned_by: 'library', ...(m.max_model_len ? { max_model_len: m.max_model_len } : {}), ...(m.meta ? { meta: m.meta } : {}) })) };
}

async function handleControl(req, res, url, raw) {
  if (req.method === 'GET' && url.pathname === '/_fake/health') return sendJson(res, 200, { status: 'ok' });
  if (req.method === 'GET' && url.pathname === '/_fake/requests') {
    const provider = url.searchParams.get('provider');
    return sendJson(res, 200, state.records.filter((r) => !provider || r.provider === provider));
  }
  if (req.method === 'POST' && url.pathname === '/_fake/reset') {
    state.records = [];
    state.queues.clear();
    return sendJson(res, 200, { ok: true });
  }
  if (req.method === 'POST' && url.pathname === '/_fake/script') {
    let j;
    try { j = JSON.parse(raw); } catch { return sendJson(res, 400, { error: 'body must be JSON' }); }
    if (!Array.isArray(j?.scenarios) || !j.scenarios.every((s) => typeof s === 'string')) return sendJson(res, 400, { error: 'scenarios must be an array of strings' });
    const key = typeof j.provider === 'string' ? j.provider : '*';
    if (!state.queues.has(key)) state.queues.set(key, []);
    state.queues.get(key).push(...j.scenarios);
    return sendJson(res, 200, { queued: state.queues.get(key).length });
  }
  if (req.method === 'GET' && url.pathname === '/_fake/scenarios') return sendJson(res, 200, SCENARIO_HELP);
  return sendJson(res, 404, { error: 'unknown control route' });
}

export function createFakeServer({ keys = FAKE_KEYS, log = () => {} } = {}) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://fake.local');
    let raw;
    try { raw = await readBody(req); } catch { return; }
    if (url.pathname.startsWith('/_fake/')) return handleControl(req, res, url, raw);

    const route = ROUTES.find(([m, p]) => p === url.pathname && m === req.method)
      ?? ROUTES.find(([, p]) => p === url.pathname);
    let body;
    if (raw.length) { try { body = JSON.parse(raw); } catch { body = undefined; } }
    const rec = {
      id: ++state.seq, time: new Date().toISOString(), t_ms: Date.now(), method: req.method, path: url.pathname, query: url.search,
      provider: route?.[2] ?? null, headers: { ...req.headers }, body: body ?? (raw.length ? raw : null),
      body_is_json: body !== undefined, scenarios: {}, status: null, outcome: null, aborted: false,
    };
    state.records.push(rec);
    // aborted = the client hung up before we finished answering (client-disconnect tests).
    res.on('close', () => { rec.status = res.statusCode; if (!res.writableFinished) rec.aborted = true; rec.closed_at_ms = Date.now(); });
    log(`${req.method} ${url.pathname}`);
    if (!route) return sendJson(res, 404, { error: { message: `Unknown route ${req.method} ${url.pathname}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
    const [method, , provider, kind] = route;
    if (req.method !== method) return sendJson(res, 405, { error: { message: `Method ${req.method} not allowed`, type: 'invalid_request_error', param: null, code: null } });
    const authErr = checkAuth(provider, req.headers, keys);
    if (authErr) return sendProviderError(res, rec, provider, authErr, { key: (req.headers.authorization ?? '').replace(/^\S+\s+/, '') });
    try {
      switch (kind) {
        case 'models': rec.outcome = 'complete'; return sendJson(res, 200, modelsList(provider));
        case 'balance': rec.outcome = 'complete'; return sendJson(res, 200, { is_available: true, balance_infos: [{ currency: 'USD', total_balance: '9.80', granted_balance: '0.00', topped_up_balance: '9.80' }] });
        case 'chat': return await handleOpenAIDialect(req, res, rec, provider, body, keys);
        case 'fal-sync': return await handleFal(req, res, rec, body, false, keys);
        case 'fal-stream': return await handleFal(req, res, rec, body, true, keys);
        case 'eden-v2': return await handleEdenV2(req, res, rec, body, false);
        case 'eden-v2-stream': return await handleEdenV2(req, res, rec, body, true);
      }
    } catch (e) {
      log(`fake handler crashed: ${e.stack}`);
      if (!res.headersSent) sendJson(res, 500, { error: { message: `fake crashed: ${e.message}`, type: 'fake', param: null, code: null } });
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 60_000;
  server.requestTimeout = 0; // the timeout scenario holds requests open on purpose
  return server;
}

// ------------------------------------------------------------------------------------ main

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', keys: { ...FAKE_KEYS }, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--verbose') opts.verbose = true;
    else if (/^--(openai|deepseek|fal|eden|local)-key$/.test(a)) opts.keys[a.slice(2, -4)] = next();
    else if (a === '--help' || a === '-h') {
      console.log('usage: node fake_providers.mjs [--port N] [--host H] [--{openai,deepseek,fal,eden,local}-key K] [--verbose]');
      console.log('scenarios:\n' + Object.entries(SCENARIO_HELP).map(([k, v]) => `  ${k.padEnd(24)} ${v}`).join('\n'));
      process.exit(0);
    } else { console.error(`unknown argument ${a}`); process.exit(2); }
  }
  return opts;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const opts = parseArgs(process.argv.slice(2));
  const server = createFakeServer({ keys: opts.keys, log: opts.verbose ? (m) => console.error(`[fake] ${m}`) : () => {} });
  server.listen(opts.port, opts.host, () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  const stop = () => { server.close(); server.closeAllConnections(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
