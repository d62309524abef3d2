// Browser-test harness for the teamhub web UI: starts the real aigw
// (simulator, AIGW_SIM_SPEED=0.01) and teamhub (--seed-demo) on free loopback
// ports with throwaway SQLite databases, launches Debian's Chromium through
// playwright-core, and offers helpers: API calls with a session cookie,
// sign-in, endpoint probing (to skip flows the server does not serve yet,
// naming the missing endpoint) and screenshots checked for not being blank.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const BUILD_DIR = path.resolve(process.env.BUILD_DIR || path.join(REPO_ROOT, 'build'));
export const ARTIFACTS = path.join(BUILD_DIR, 'test-artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const GATEWAY_KEY = 'web-test-key';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await sleep(interval);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(AIGW_|AI_GATEWAY_|TEAMHUB_|OPENAI_|DEEPSEEK_|FAL_|EDENAI_|LOCAL_|DATABASE_URL$)/.test(k)) env[k] = v;
  return env;
}

function startProcess(bin, args, env, cwd) {
  const child = spawn(bin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  return { child, out };
}

async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await once(child, 'exit');
  clearTimeout(t);
}

// Starts aigw + teamhub. Returns {url, admin:{email,password}, member:{...}, stop()}
// or throws with the servers' output attached.
export async function startStack() {
  for (const bin of ['aigw', 'teamhub'])
    if (!fs.existsSync(path.join(BUILD_DIR, bin))) throw new Error(`${BUILD_DIR}/${bin} is missing: build first`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'teamhub-web-'));
  const gwPort = await freePort();
  const hubPort = await freePort();
  const base = cleanEnv();
  const gw = startProcess(path.join(BUILD_DIR, 'aigw'), [], {
    ...base,
    AIGW_LISTEN: `127.0.0.1:${gwPort}`,
    DATABASE_URL: `sqlite:${tmp}/aigw.db`,
    AIGW_THREADS: '1',
    AI_GATEWAY_API_KEY: GATEWAY_KEY,
    AIGW_SIM_SPEED: '0.01',
    AIGW_PROBE_INTERVAL_MS: '600000',
    HTTP_ACCESS_LOG: '0',
  }, tmp);
  const hubUrl = `http://127.0.0.1:${hubPort}`;
  let hub;
  const tail = () =>
    `\n--- aigw stderr ---\n${gw.out.stderr.slice(-2000)}\n--- teamhub stdout ---\n${hub ? hub.out.stdout.slice(-2000) : ''}` +
    `\n--- teamhub stderr ---\n${hub ? hub.out.stderr.slice(-3000) : ''}`;
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${gwPort}/healthz`)).ok, { timeout: 15000, what: 'aigw /healthz' });
    hub = startProcess(path.join(BUILD_DIR, 'teamhub'), ['--seed-demo'], {
      ...base,
      TEAMHUB_LISTEN: `127.0.0.1:${hubPort}`,
      DATABASE_URL: `sqlite:${tmp}/teamhub.db`,
      AI_GATEWAY_URL: `http://127.0.0.1:${gwPort}`,
      AI_GATEWAY_API_KEY: GATEWAY_KEY,
      TEAMHUB_THREADS: '1',
      TEAMHUB_REGISTRY_TTL_MS: '200',
      HTTP_ACCESS_LOG: '0',
    }, tmp);
    await waitFor(async () => (await fetch(`${hubUrl}/healthz`)).ok, { timeout: 20000, what: 'teamhub /healthz' });
  } catch (e) {
    await stopProcess(gw.child);
    if (hub) await stopProcess(hub.child);
    throw new Error(e.message + tail());
  }
  const cred = (role) => {
    const m = new RegExp(`${role}:\\s+(\\S+)\\s+password:\\s+(\\S+)`).exec(hub.out.stdout);
    return m ? { email: m[1], password: m[2] } : null;
  };
  const stack = {
    url: hubUrl,
    admin: cred('admin'),
    member: cred('member'),
    tail,
    async stop() {
      await stopProcess(hub.child);
      await stopProcess(gw.child);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  if (!stack.admin || !stack.member) {
    await stack.stop();
    throw new Error('teamhub --seed-demo printed no credentials' + tail());
  }
  return stack;
}

// A signed-in API client (cookie session; Origin set for the CSRF check).
export async function apiClient(url, { email, password }) {
  const r = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw new Error(`login ${email}: ${r.status} ${await r.text()}`);
  const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const me = (await r.json()).user;
  const call = async (method, p, body) => {
    const res = await fetch(url + p, {
      method,
      headers: { cookie, origin: url, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (_) { /* CSV or empty */ }
    return { status: res.status, json, text };
  };
  return { me, cookie, call };
}

// Is (method, path) served? The router answers a route it does not know with
// 404 "no such endpoint" or 405; anything else means the endpoint exists.
export async function endpointExists(client, method, p, body) {
  const r = await client.call(method, p, body ?? (method === 'GET' ? undefined : {}));
  if (r.status === 405) return false;
  if (r.status === 404 && r.json && r.json.error && /no such endpoint/.test(r.json.error.message || '')) return false;
  return true;
}

// Which of the listed endpoints are missing, as a skip reason (or false).
export async function missingReason(client, list) {
  const missing = [];
  for (const [method, p, body] of list) if (!(await endpointExists(client, method, p, body))) missing.push(`${method} ${p}`);
  return missing.length ? `teamhub does not serve ${missing.join(', ')} yet` : false;
}

// Chromium with a fresh profile (playwright's launch makes a temporary
// --user-data-dir and removes it on close); one context per page keeps
// sessions of different users apart.
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    // options: {viewport, colorScheme: 'light'|'dark'} (defaults: 1280x800, light)
    async newPage(options = {}) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', ...options });
      const page = await context.newPage();
      page.on('close', () => context.close().catch(() => {}));
      return page;
    },
    close: () => browser.close(),
  };
}

export async function signIn(page, url, { email, password }) {
  await page.goto(`${url}/login`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Message', { exact: true }).waitFor({ timeout: 10000 });
}

// Layout problems a phone shows: the page scrolls sideways, the app does not
// fill the screen's height, or an element (outside a scroll container of its
// own) sticks out of the viewport.
// Returns a list of descriptions (empty = fine).
export async function layoutProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const vw = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > vw + 1) problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${vw})`);
    const main = document.querySelector('main.main');
    if (main && main.getBoundingClientRect().bottom < innerHeight - 1)
      problems.push(`the app ends at ${Math.round(main.getBoundingClientRect().bottom)} px of ${innerHeight} (a blank band below)`);
    const scrolls = (el) => {
      for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return p !== document.body && p !== document.documentElement;
      }
      return false;
    };
    for (const el of document.querySelectorAll('main *, .auth-card *')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
      if ((r.right > vw + 1 || r.left < -1) && !scrolls(el) && !el.closest('.sr-only, .skip-link'))
        problems.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} spans ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}`);
      if (problems.length > 5) break;
    }
    return problems;
  });
}

// Saves a screenshot into $BUILD_DIR/test-artifacts and proves it is not
// blank: a real PNG of some size whose pixels vary (measured by decoding it
// in the browser itself).
export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: false });
  if (png.length < 5000) throw new Error(`${name}.png is only ${png.length} bytes`);
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error(`${name}.png is not a PNG`);
  const stats = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0, sum = 0, sq = 0;
    const colors = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) {
      const l = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      sum += l; sq += l * l; n++;
      if (colors.size < 64) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    const mean = sum / n;
    return { variance: sq / n - mean * mean, colors: colors.size, w: c.width, h: c.height };
  }, png.toString('base64'));
  if (stats.variance < 20 || stats.colors < 4) throw new Error(`${name}.png looks blank: ${JSON.stringify(stats)}`);
  return { file, bytes: png.length, ...stats };
}
