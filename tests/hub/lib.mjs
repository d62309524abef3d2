// Black-box harness for teamhub: starts the real aigw (simulator, via tests/blackbox/lib.mjs)
// and the real teamhub binary on loopback with a throwaway SQLite or PostgreSQL database and
// the demo organization seeded, and offers small HTTP clients for a signed-in browser (session
// cookie + Origin) and for a personal API token.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

import { BUILD_DIR, TESTS_DIR, freePort, waitFor, startAigw, startPostgres, parseSSE } from '../blackbox/lib.mjs';

export { startAigw, startPostgres, parseSSE, waitFor, TESTS_DIR };
export const TEAMHUB_BIN = path.join(BUILD_DIR, 'teamhub');

/** Exact decimal USD string -> BigInt pico-USD (no floating point anywhere). */
export function pico(usd) {
  assert.match(usd, /^\d+(\.\d{1,12})?$/, `not a decimal USD amount: ${usd}`);
  const [int, frac = ''] = usd.split('.');
  return BigInt(int) * 10n ** 12n + BigInt((frac + '0'.repeat(12)).slice(0, 12));
}

function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(TEAMHUB_|AI_GATEWAY_|DATABASE_URL$)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** Runs a teamhub CLI subcommand against hub's database; returns {status, stdout, stderr}. */
export function teamhubCli(hub, args) {
  return spawnSync(TEAMHUB_BIN, args, { env: hub.env, cwd: hub.tmp, encoding: 'utf8' });
}

/**
 * Starts teamhub next to gw (an aigw from startAigw). database: 'sqlite' or a postgres:// URL.
 * Returns {url, env, tmp, admin:{email,password}, member:{email,password}, orgId?, stop()}.
 */
export async function startTeamhub({ gw, database = 'sqlite', env = {} } = {}) {
  if (!fs.existsSync(TEAMHUB_BIN)) throw new Error(`${TEAMHUB_BIN} does not exist: build it first or set BUILD_DIR`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'teamhub-bb-'));
  const dbPath = database === 'sqlite' ? path.join(tmp, 'teamhub.db') : null;
  const port = await freePort();
  const fullEnv = {
    ...cleanEnv(),
    TEAMHUB_LISTEN: `127.0.0.1:${port}`,
    DATABASE_URL: dbPath ? `sqlite:${dbPath}` : database,
    AI_GATEWAY_URL: gw.url,
    AI_GATEWAY_API_KEY: gw.key,
    TEAMHUB_THREADS: '2',
    TEAMHUB_REGISTRY_TTL_MS: '200',
    ...env,
  };
  const child = spawn(TEAMHUB_BIN, ['--seed-demo'], { env: fullEnv, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const tail = () => `\n--- teamhub stderr ---\n${stderr.slice(-4000)}\n--- stdout ---\n${stdout.slice(-1000)}`;
  try {
    await waitFor(async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`teamhub exited early (${child.exitCode ?? child.signalCode})`);
      const r = await fetch(`${url}/healthz`).catch(() => null);
      return r && r.status === 200;
    }, { timeout: 15000, interval: 50, what: 'teamhub /healthz' });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}${tail()}`);
  }
  const cred = (role) => {
    const m = stdout.match(new RegExp(`${role}:\\s+(\\S+)\\s+password: (\\S+)`));
    assert.ok(m, `no ${role} credentials printed${tail()}`);
    return { email: m[1], password: m[2] };
  };
  const hub = {
    url, env: fullEnv, tmp, dbPath, dbUrl: fullEnv.DATABASE_URL, tail, stderr: () => stderr,
    admin: cred('admin'), member: cred('member'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(timer);
      }
      try {
        assert.equal(child.signalCode, null, `teamhub was killed by ${child.signalCode}${tail()}`);
        assert.equal(child.exitCode, 0, `teamhub exited with ${child.exitCode}${tail()}`);
      } finally {
        if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
  return hub;
}

/**
 * An HTTP client for hub. kind: 'anonymous' | 'cookie' (session + same-origin Origin header)
 * | 'token' (Authorization: Bearer). call(method, path, body) resolves {status, json, text, headers}.
 */
export function client(hub, { cookie = null, token = null, origin = hub.url } = {}) {
  const c = {
    cookie, token,
    headers(extra = {}) {
      const h = { ...extra };
      if (c.cookie) { h.cookie = c.cookie; if (origin) h.origin = origin; }
      if (c.token) h.authorization = `Bearer ${c.token}`;
      return h;
    },
    async call(method, p, body, extraHeaders = {}) {
      const init = { method, headers: c.headers(extraHeaders) };
      if (body !== undefined) { init.body = typeof body === 'string' ? body : JSON.stringify(body); init.headers['content-type'] = 'application/json'; }
      const r = await fetch(hub.url + p, init);
      const text = await r.text();
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      const setCookie = r.headers.get('set-cookie');
      if (setCookie && /teamhub_session=([^;]*)/.test(setCookie)) {
        const v = setCookie.match(/teamhub_session=([^;]*)/)[1];
        c.cookie = v ? `teamhub_session=${v}` : null;
      }
      return { status: r.status, json, text, headers: r.headers };
    },
    get: (p) => c.call('GET', p),
    post: (p, body = {}) => c.call('POST', p, body),
    put: (p, body = {}) => c.call('PUT', p, body),
    del: (p) => c.call('DELETE', p),
  };
  return c;
}

/** Signs in with e-mail and password; returns a cookie client (throws on failure). */
export async function login(hub, { email, password }) {
  const c = client(hub);
  const r = await c.post('/api/auth/login', { email, password });
  assert.equal(r.status, 200, `login ${email}: ${r.text}`);
  assert.ok(c.cookie, 'login set no session cookie');
  return c;
}

/** A personal API token client for the user behind cookie client c. */
export async function tokenClient(hub, c) {
  const r = await c.post('/api/auth/tokens', { name: 'tests' });
  assert.equal(r.status, 201, r.text);
  return client(hub, { token: r.json.token });
}

/** POST /api/chat; resolves {status, headers, raw, chunks (parsed JSON), done, json (errors)}. */
export async function chat(hub, c, body) {
  const r = await fetch(hub.url + '/api/chat', { method: 'POST', headers: { ...c.headers(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const raw = await r.text();
  const out = { status: r.status, headers: r.headers, raw };
  if ((r.headers.get('content-type') || '').startsWith('text/event-stream')) {
    const { events } = parseSSE(raw);
    out.done = events.length > 0 && events.at(-1).data === '[DONE]';
    out.chunks = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  } else {
    try { out.json = JSON.parse(raw); } catch { out.json = undefined; }
  }
  return out;
}

/** A useChat-shaped body with one user turn. */
export function turn(id, text, extra = {}) {
  return { id, messages: [{ id: `u-${Math.random().toString(36).slice(2)}`, role: 'user', parts: [{ type: 'text', text }] }], trigger: 'submit-message', ...extra };
}

/** Reads a database of hub with the sqlite3 / psql CLI; returns rows as objects. */
export function hubQuery(hub, sql) {
  if (hub.dbPath) {
    const r = spawnSync('sqlite3', ['-json', '-cmd', '.timeout 5000', hub.dbPath, sql], { encoding: 'utf8' });
    assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : [];
  }
  const r = spawnSync('psql', [hub.dbUrl, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', `SELECT coalesce(json_agg(t), '[]') FROM (${sql}) t`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim() || '[]');
}

/** Runs the shared ui-stream-check.mjs conformance script against hub's /api/chat. */
export function runUiStreamCheck(hub, token, env = {}) {
  // The script imports the AI SDK packages; node resolves them from the script's location, so a
  // copy is placed under tests/node_modules/.cache (a cache directory, never committed).
  const src = path.join(TESTS_DIR, 'clients', 'ui-stream-check.mjs');
  const dir = path.join(TESTS_DIR, 'node_modules', '.cache', 'teamhub');
  fs.mkdirSync(dir, { recursive: true });
  const script = path.join(dir, 'ui-stream-check.mjs');
  fs.copyFileSync(src, script);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, UI_STREAM_URL: `${hub.url}/api/chat`, GATEWAY_API_KEY: token, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
