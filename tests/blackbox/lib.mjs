// Black-box test harness for aigw: starts the fake provider server (tests/fakes/fake_providers.mjs)
// and the real aigw binary ($BUILD_DIR/aigw, default <repo>/build) on loopback with a throwaway
// database, and offers the small helpers the suites share: WHATWG-conformant SSE parsing, calls to
// /api/generate and /v1, exact money math with BigInt (the same rules as src/core/money.h), reading
// usage rows from SQLite or PostgreSQL, and running the official-client conformance scripts.
//
// Every helper fails loudly with the gateway's stderr attached, so a red test says why.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

import { FAKE_KEYS } from '../fakes/fake_providers.mjs';

export { FAKE_KEYS };
export const TESTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(TESTS_DIR, '..');
export const BUILD_DIR = path.resolve(process.env.BUILD_DIR || path.join(REPO_ROOT, 'build'));
export const AIGW_BIN = path.join(BUILD_DIR, 'aigw');
export const GATEWAY_KEY = 'test-key';
export const PROVIDERS = ['openai', 'deepseek', 'fal', 'eden', 'local'];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls fn until it returns a truthy value (returned) or the timeout passes (throws). */
export async function waitFor(fn, { timeout = 5000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Reads the first line a child prints on stdout. */
function firstLine(stream) {
  return new Promise((resolve, reject) => {
    let acc = '';
    const onData = (d) => {
      acc += d;
      const nl = acc.indexOf('\n');
      if (nl >= 0) { stream.off('data', onData); resolve(acc.slice(0, nl)); }
    };
    stream.setEncoding('utf8');
    stream.on('data', onData);
    stream.on('end', () => reject(new Error(`stream ended before a line: ${acc}`)));
  });
}

// ------------------------------------------------------------------------------------ fakes

/**
 * Starts the fake provider server as a child process.
 * Returns {port, url, base: {openai, deepseek, fal, eden, local}, requests(), chatRequests(),
 * script(), reset(), stop()}.
 */
export async function startFakes() {
  const child = spawn(process.execPath, [path.join(TESTS_DIR, 'fakes', 'fake_providers.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const line = await Promise.race([
    firstLine(child.stdout),
    once(child, 'exit').then(([code]) => { throw new Error(`fake providers exited (${code}): ${stderr}`); }),
  ]);
  const { port } = JSON.parse(line);
  const url = `http://127.0.0.1:${port}`;
  const control = async (method, p, body) => {
    const r = await fetch(url + p, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, `fake control ${method} ${p}: ${r.status}`);
    return r.json();
  };
  const fakes = {
    port,
    url,
    base: {
      openai: `${url}/openai/v1`,
      deepseek: `${url}/deepseek`,
      fal: `${url}/fal`,
      eden: `${url}/eden`,
      local: `${url}/local/v1`,
    },
    /** Recorded upstream requests (optionally of one provider). */
    requests: (provider) => control('GET', `/_fake/requests${provider ? `?provider=${provider}` : ''}`),
    /** Only the generation requests (no model listings, balance checks or probes). */
    async chatRequests(provider) {
      const all = await fakes.requests(provider);
      return all.filter((r) => r.method === 'POST' && !/\/models$|\/balance$/.test(r.path));
    },
    /** Queues scenarios for the next generation requests (of provider, or of any provider). */
    script: (scenarios, provider) => control('POST', '/_fake/script', provider ? { scenarios, provider } : { scenarios }),
    reset: () => control('POST', '/_fake/reset', {}),
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
  return fakes;
}

/** Environment that points every provider at the fakes with the right credentials. */
export function providerEnv(fakes, providers = PROVIDERS) {
  const env = {};
  if (providers.includes('openai')) Object.assign(env, { OPENAI_API_KEY: FAKE_KEYS.openai, OPENAI_BASE_URL: fakes.base.openai });
  if (providers.includes('deepseek')) Object.assign(env, { DEEPSEEK_API_KEY: FAKE_KEYS.deepseek, DEEPSEEK_BASE_URL: fakes.base.deepseek });
  if (providers.includes('fal')) Object.assign(env, { FAL_KEY: FAKE_KEYS.fal, FAL_BASE_URL: fakes.base.fal });
  if (providers.includes('eden')) Object.assign(env, { EDENAI_API_KEY: FAKE_KEYS.eden, EDENAI_BASE_URL: fakes.base.eden });
  if (providers.includes('local')) Object.assign(env, { LOCAL_BASE_URL: fakes.base.local });
  return env;
}

// ------------------------------------------------------------------------------------ aigw

/** Environment of the test process without anything that configures aigw or a provider. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AIGW_|AI_GATEWAY_|OPENAI_|DEEPSEEK_|FAL_|EDENAI_|LOCAL_|DATABASE_URL$|HTTP_ACCESS_LOG$)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/**
 * Starts aigw. Options:
 *   fakes       a startFakes() result; providers are pointed at it
 *   providers   which providers get credentials (default all five)
 *   env         extra environment (wins over the defaults)
 *   database    'sqlite' (default: a temp file) or a postgres:// URL
 *   args        extra command-line flags
 *   setup       admin commands to run first against the same database, e.g.
 *               [['models', 'update', 'openai/gpt-4o', '--caps', 'chat']]
 *   waitLocal   wait until the local provider's models are discovered (when it is configured)
 * Returns {url, port, key, dbUrl, dbPath, child, logs(), stderr(), stop(), fetch(), generate(), chat()}.
 */
export async function startAigw({ fakes, providers = PROVIDERS, env = {}, database = 'sqlite', args = [], waitLocal = true, setup = [] } = {}) {
  if (!fs.existsSync(AIGW_BIN)) throw new Error(`${AIGW_BIN} does not exist: build it first (cmake --build ${BUILD_DIR}) or set BUILD_DIR`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aigw-bb-'));
  const dbPath = database === 'sqlite' ? path.join(tmp, 'aigw.db') : null;
  const dbUrl = database === 'sqlite' ? `sqlite:${dbPath}` : database;
  const port = await freePort();
  const fullEnv = {
    ...cleanEnv(),
    AIGW_LISTEN: `127.0.0.1:${port}`,
    DATABASE_URL: dbUrl,
    AIGW_THREADS: '2',
    AI_GATEWAY_API_KEY: GATEWAY_KEY,
    AIGW_SIM_SPEED: '0.01',
    AIGW_LOG_LEVEL: 'debug',
    // Probes only GET {base}/models (never a generation), and they also drive local model
    // discovery; a long interval keeps the probe traffic to the one at start-up.
    AIGW_PROBE_INTERVAL_MS: '600000',
    AIGW_RETRY_BASE_MS: '20',
    AIGW_SHUTDOWN_GRACE_MS: '3000',
    ...(fakes ? providerEnv(fakes, providers) : {}),
    ...env,
  };
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined || v === null) delete fullEnv[k];
  for (const cmd of setup) {
    const r = spawnSync(AIGW_BIN, cmd, { env: fullEnv, cwd: tmp, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`aigw ${cmd.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  }
  const child = spawn(AIGW_BIN, args, { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8');
  child.stdout.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const tail = () => `\n--- aigw stderr (last 4000 bytes) ---\n${stderr.slice(-4000)}\n--- stdout ---\n${stdout.slice(-1000)}`;

  try {
    await waitFor(async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`aigw exited early (${child.exitCode ?? child.signalCode})`);
      const r = await fetch(`${url}/healthz`).catch(() => null);
      return r && r.status === 200;
    }, { timeout: 15000, interval: 50, what: 'aigw /healthz' });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}${tail()}`);
  }

  // Local models come from discovery ({LOCAL_BASE_URL}/models) shortly after start-up.
  if (fullEnv.LOCAL_BASE_URL && waitLocal) {
    try {
      await waitFor(async () => {
        const r = await fetch(`${url}/api/models`, { headers: { authorization: `Bearer ${GATEWAY_KEY}` } });
        const j = await r.json();
        const list = Array.isArray(j) ? j : j.models ?? j.data ?? [];
        return list.some((m) => m.provider === 'local');
      }, { timeout: 5000, interval: 50, what: 'local model discovery' });
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${e.message}${tail()}`);
    }
  }

  let signalled = false;
  const gw = {
    url, port, key: GATEWAY_KEY, dbUrl, dbPath, tmp, child, env: fullEnv,
    stderr: () => stderr,
    tail,
    /** aigw's stderr parsed as JSON lines (non-JSON lines come back as {raw}). */
    logs: () => stderr.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { raw: l }; } }),
    /** fetch against the gateway; adds the gateway key unless headers.authorization is given. */
    fetch(p, init = {}) {
      const headers = { ...(init.headers ?? {}) };
      if (!('authorization' in headers) && init.auth !== false) headers.authorization = `Bearer ${GATEWAY_KEY}`;
      if (headers.authorization === null) delete headers.authorization;
      return fetch(url + p, { ...init, headers });
    },
    /** POST /api/generate; returns {status, headers, json?, raw, events?} (events when text/event-stream). */
    generate: (body, opts = {}) => callJson(gw, '/api/generate', body, opts),
    /** POST /v1/chat/completions, same return shape. */
    chat: (body, opts = {}) => callJson(gw, '/v1/chat/completions', body, opts),
    /** Sends SIGTERM once (a second one may legitimately force an immediate exit). */
    terminate() {
      if (!signalled) { signalled = true; child.kill('SIGTERM'); }
    },
    /** Stops with SIGTERM and asserts a clean exit (status 0, no signal) within the timeout. */
    async stop({ timeout = 10000 } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        gw.terminate();
        const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
        await exited;
        clearTimeout(timer);
      }
      try {
        assert.equal(child.signalCode, null, `aigw was killed by ${child.signalCode} (did not exit on SIGTERM within ${timeout} ms)${tail()}`);
        assert.equal(child.exitCode, 0, `aigw exited with status ${child.exitCode} after SIGTERM${tail()}`);
      } finally {
        if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
  return gw;
}

async function callJson(gw, p, body, { headers = {}, raw = false } = {}) {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
  };
  const r = await gw.fetch(p, init);
  const text = await r.text();
  const out = { status: r.status, headers: r.headers, raw: text };
  const ct = r.headers.get('content-type') || '';
  if (ct.startsWith('text/event-stream')) out.events = parseSSE(text).events;
  else if (ct.includes('json')) {
    try { out.json = JSON.parse(text); } catch (e) { out.jsonError = e.message; }
  }
  return out;
}

// ------------------------------------------------------------------------------------ SSE

/**
 * Parses an event-stream body by the WHATWG rules: lines end at CRLF, LF or CR; ':' lines are
 * comments; "data" lines join with '\n'; one leading space of a value is stripped; an event is
 * dispatched at a blank line (and only if it has data); "event" defaults to "message".
 * Returns {events: [{event, data, id}], comments, trailing} - trailing is true when the body ended
 * inside an event that was never dispatched.
 */
export function parseSSE(text) {
  const events = [];
  let comments = 0;
  let data = [];
  let event = '';
  let lastId = '';
  let pending = false;
  const lines = text.split(/\r\n|\r|\n/);
  // A body that ends with a terminator yields a final '' that is not a blank line.
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    if (line === '') {
      if (data.length) events.push({ event: event || 'message', data: data.join('\n'), id: lastId });
      data = []; event = ''; pending = false;
      continue;
    }
    if (line.startsWith(':')) { comments++; continue; }
    pending = true;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
  }
  return { events, comments, trailing: pending };
}

/** Incremental reader of a fetch Response body: yields {event, data} as they arrive. */
export async function* sseEvents(response) {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of response.body) {
    buf += decoder.decode(chunk, { stream: true });
    // Dispatch only complete events (terminated by a blank line).
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(buf);
      if (!m) break;
      const block = buf.slice(0, m.index + m[0].length);
      buf = buf.slice(m.index + m[0].length);
      for (const ev of parseSSE(block).events) yield ev;
    }
  }
}

/** The /api/generate events as [{event, data: parsed JSON}]; asserts every data is JSON. */
export function jsonEvents(events) {
  return events.map((e) => {
    let data;
    try { data = JSON.parse(e.data); } catch { assert.fail(`event ${e.event} carries non-JSON data: ${e.data.slice(0, 200)}`); }
    return { event: e.event, data };
  });
}

/**
 * Checks the /api/generate stream grammar of DESIGN §3: start, delta*, usage, done - or start,
 * delta*, error, done (usage allowed before error). Returns the collected pieces.
 */
export function checkGenerateStream(events) {
  const evs = jsonEvents(events);
  const names = evs.map((e) => e.event);
  assert.ok(evs.length >= 2, `too few events: ${names.join(',')}`);
  assert.equal(names[0], 'start', `first event must be start: ${names.join(',')}`);
  assert.equal(names.at(-1), 'done', `last event must be done: ${names.join(',')}`);
  assert.equal(names.filter((n) => n === 'start').length, 1, 'exactly one start');
  assert.equal(names.filter((n) => n === 'done').length, 1, 'exactly one done');
  const allowed = new Set(['start', 'delta', 'usage', 'done', 'error']);
  for (const n of names) assert.ok(allowed.has(n), `unknown event "${n}"`);
  const firstNonDelta = names.findIndex((n, i) => i > 0 && n !== 'delta');
  for (let i = firstNonDelta; i < names.length; i++) assert.notEqual(names[i], 'delta', `delta after ${names[firstNonDelta]}: ${names.join(',')}`);
  const out = { start: evs[0].data, text: '', reasoning: '', toolCalls: new Map(), usage: null, done: evs.at(-1).data, error: null, names };
  for (const { event, data } of evs) {
    if (event === 'delta') {
      if (typeof data.text === 'string') out.text += data.text;
      else if (typeof data.reasoning === 'string') out.reasoning += data.reasoning;
      else if (data.tool_call) {
        const tc = data.tool_call;
        assert.ok(Number.isInteger(tc.index), 'tool_call.index must be an integer');
        const slot = out.toolCalls.get(tc.index) ?? { id: undefined, name: undefined, arguments: '' };
        if (tc.id !== undefined) slot.id = tc.id;
        if (tc.name !== undefined) slot.name = tc.name;
        if (typeof tc.arguments === 'string') slot.arguments += tc.arguments;
        out.toolCalls.set(tc.index, slot);
      } else assert.fail(`delta without text/reasoning/tool_call: ${JSON.stringify(data)}`);
    } else if (event === 'usage') {
      assert.equal(out.usage, null, 'at most one usage event');
      out.usage = data;
    } else if (event === 'error') {
      assert.equal(out.error, null, 'at most one error event');
      out.error = data;
    }
  }
  if (out.error) {
    assert.equal(names.at(-2), 'error', `error must directly precede done: ${names.join(',')}`);
    checkErrorObject(out.error);
  } else assert.ok(out.usage, `usage event missing (it is always sent): ${names.join(',')}`);
  return out;
}

/** Asserts the shape of an error object {code, message, retryable}. */
export function checkErrorObject(err) {
  assert.equal(typeof err, 'object');
  assert.equal(typeof err.code, 'string', `error.code must be a string: ${JSON.stringify(err)}`);
  assert.ok(err.code.length > 0);
  assert.equal(typeof err.message, 'string', `error.message must be a string: ${JSON.stringify(err)}`);
  assert.ok(err.message.length > 0, 'error.message must not be empty');
  assert.equal(typeof err.retryable, 'boolean', `error.retryable must be a boolean: ${JSON.stringify(err)}`);
}

/** Asserts an HTTP JSON error answer {error:{code,message,retryable}} with the given status and code. */
export function expectJsonError(res, status, code) {
  const ctx = `HTTP ${res.status} ${res.raw.slice(0, 400)}`;
  assert.equal(res.status, status, ctx);
  assert.match(res.headers.get('content-type') || '', /application\/json/, ctx);
  assert.ok(res.json && typeof res.json.error === 'object', ctx);
  checkErrorObject(res.json.error);
  if (code) assert.equal(res.json.error.code, code, ctx);
  return res.json.error;
}

// ------------------------------------------------------------------------------------ money

/** Parses a plain decimal string into integer units of 10^-scale (BigInt); rejects anything else. */
export function parseDecimal(s, scale) {
  assert.equal(typeof s, 'string', `expected a decimal string, got ${JSON.stringify(s)}`);
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  assert.ok(m, `not a plain decimal string: ${JSON.stringify(s)}`);
  const frac = m[2] ?? '';
  assert.ok(frac.length <= scale, `${s} has more than ${scale} decimals`);
  return BigInt(m[1]) * 10n ** BigInt(scale) + BigInt(frac.padEnd(scale, '0') || '0');
}

/** money_format: amount in 10^-scale units, at least minDecimals, trailing zeros trimmed. */
export function formatDecimal(amount, scale, minDecimals) {
  const unit = 10n ** BigInt(scale);
  const whole = amount / unit;
  let frac = (amount % unit).toString().padStart(scale, '0');
  while (frac.length > minDecimals && frac.endsWith('0')) frac = frac.slice(0, -1);
  return frac.length ? `${whole}.${frac}` : `${whole}`;
}
export const formatPico = (pico) => formatDecimal(pico, 12, 6);

/**
 * Exact cost in pico-USD of token usage under a registry pricing object (decimal strings, USD per
 * 1M tokens = micro-USD per 1M = pico per token): uncached input at the input price, cached input
 * at the cached price, output (reasoning included) at the output price.
 */
export function costPico(pricing, usage) {
  assert.equal(pricing.unit, 'per_1m_tokens');
  const input = BigInt(usage.input_tokens);
  const cached = BigInt(usage.cached_input_tokens ?? 0);
  const output = BigInt(usage.output_tokens);
  return (input - cached) * parseDecimal(pricing.input, 6) + cached * parseDecimal(pricing.cached_input, 6) + output * parseDecimal(pricing.output, 6);
}

/** Registry entry for provider/model from GET /api/models. */
export async function registryEntry(gw, provider, model) {
  const r = await gw.fetch('/api/models');
  assert.equal(r.status, 200);
  const j = await r.json();
  const list = Array.isArray(j) ? j : j.models ?? j.data;
  const e = list.find((m) => m.provider === provider && m.model === model);
  assert.ok(e, `${provider}/${model} not in /api/models`);
  return e;
}

// ------------------------------------------------------------------------------------ databases

/** Rows of a SQL query against the gateway's database (sqlite3 / psql CLI), as objects. */
export function dbQuery(gw, sql) {
  if (gw.dbPath) {
    const r = spawnSync('sqlite3', ['-json', '-cmd', '.timeout 5000', gw.dbPath, sql], { encoding: 'utf8' });
    assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : [];
  }
  const r = spawnSync('psql', [gw.dbUrl, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', `SELECT coalesce(json_agg(t), '[]') FROM (${sql}) t`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim() || '[]');
}

/** Waits until the usage_log row of a request id exists (the writer batches) and returns it. */
export async function usageRow(gw, requestId, { timeout = 5000 } = {}) {
  const esc = requestId.replace(/'/g, "''");
  return waitFor(() => dbQuery(gw, `SELECT * FROM usage_log WHERE request_id = '${esc}'`)[0], { timeout, what: `usage_log row ${requestId}` });
}

let pgCluster = null;

/**
 * A PostgreSQL database for one suite: a fresh database in the cluster of TEST_PG_URL when set
 * (scripts/test.sh starts one), else in a throwaway cluster started here with scripts/pg_tmp.sh.
 * Returns {url, stop()} or null when PostgreSQL is not available on this machine.
 */
export async function startPostgres() {
  let baseUrl = process.env.TEST_PG_URL;
  if (!baseUrl) {
    if (!pgCluster) {
      const script = path.join(REPO_ROOT, 'scripts', 'pg_tmp.sh');
      if (!fs.existsSync(script) || !fs.existsSync('/usr/lib/postgresql')) return null;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aigw-pg-'));
      fs.rmdirSync(dir); // pg_tmp.sh creates it (and refuses an existing data dir)
      const r = spawnSync(script, ['start', dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`pg_tmp.sh start failed: ${r.stderr}`);
      pgCluster = { dir, url: r.stdout.trim().split('\n').pop(), users: 0 };
      process.on('exit', () => { spawnSync(script, ['stop', dir]); });
    }
    baseUrl = pgCluster.url;
  }
  const name = `aigw_bb_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = spawnSync('psql', [baseUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE ${name}`], { encoding: 'utf8' });
  if (admin.status !== 0) throw new Error(`CREATE DATABASE failed: ${admin.stderr}`);
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async stop() {
      spawnSync('psql', [baseUrl, '-X', '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { encoding: 'utf8' });
    },
  };
}

// ------------------------------------------------------------------------------------ clients

/** Runs one of tests/clients/*.mjs with env; resolves {code, stdout, stderr}. */
export function runClientScript(name, env, { timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(TESTS_DIR, 'clients', name)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: path.join(TESTS_DIR, 'clients') });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? signal, stdout, stderr }); });
  });
}

/**
 * Admin command declaring that the local llama3.2:3b calls tools: discovery cannot know a local
 * model's capabilities, so an operator states them (an admin row, which discovery leaves alone).
 */
export const LOCAL_TOOLS_SETUP = ['models', 'add', '--provider', 'local', '--model', 'llama3.2:3b', '--input', '0', '--output', '0', '--source', 'operator (black-box test)', '--caps', 'chat,streaming,tools', '--context', '131072'];

/** Standard /api/generate body. */
export function genBody(provider, model, text, { stream = false, extra = {}, featureOptions = {}, input = {} } = {}) {
  return {
    provider, model, feature: 'llm', subfeature: 'chat',
    featureOptions: { streaming: stream, ...featureOptions },
    input: { messages: [{ role: 'user', content: text }], ...input },
    metadata: { org_id: 'org_bb', user_id: 'user_bb', conversation_id: 'conv_bb' },
    ...extra,
  };
}
