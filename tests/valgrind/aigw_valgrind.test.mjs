// Memory check of a black-box run: the real aigw (the normal RelWithDebInfo build in $BUILD_DIR)
// runs under valgrind memcheck against the fake providers and a throwaway SQLite database, serves a
// representative mix of traffic (simulator and every fake provider, stream and not, tools, a 429
// retry, a cut upstream stream, a client that hangs up mid-stream, the listings, a bad request, a
// bad key), then gets SIGTERM. It must exit 0 with no memory errors and no definitely lost bytes.
//
// Why not reuse startAigw() from the black-box harness: it spawns the binary directly and its
// start-up timeouts are tuned for native speed; here the binary runs inside valgrind (20-50x
// slower), so this file starts it itself with the same environment and generous timeouts.
//
// Skips (does not fail) when valgrind is not installed or when $BUILD_DIR is a sanitizer build
// (ASan and valgrind cannot both own malloc).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  AIGW_BIN, BUILD_DIR, GATEWAY_KEY, checkGenerateStream, expectJsonError, freePort, genBody, parseSSE, providerEnv, sleep, sseEvents, startFakes, waitFor,
} from '../blackbox/lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SUPPRESSIONS = path.join(HERE, 'aigw.supp');

/** Why this run cannot happen here, or null. */
function skipReason() {
  if (spawnSync('valgrind', ['--version']).status !== 0) return 'valgrind is not installed';
  if (!fs.existsSync(AIGW_BIN)) return `${AIGW_BIN} does not exist`;
  const cache = path.join(BUILD_DIR, 'CMakeCache.txt');
  if (fs.existsSync(cache) && /^AIGW_(SANITIZE|FUZZ):BOOL=ON$/m.test(fs.readFileSync(cache, 'utf8'))) {
    return `${BUILD_DIR} is a sanitizer build; valgrind needs the plain build`;
  }
  return null;
}
const SKIP = skipReason();

/** The test process's environment minus anything that configures aigw or a provider. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AIGW_|AI_GATEWAY_|OPENAI_|DEEPSEEK_|FAL_|EDENAI_|LOCAL_|DATABASE_URL$|HTTP_ACCESS_LOG$|ASAN_|UBSAN_|LSAN_)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

let fakes;
const running = new Set(); // gateways still alive (killed in after() when a test failed early)

/**
 * Starts aigw under valgrind with the black-box harness's environment plus env. Returns
 * {url, child, exited, tmp, vgLog, stderr(), fetch(), post(), stopAndCheck()}.
 */
async function startUnderValgrind(env = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aigw-vg-'));
  const port = await freePort();
  const vgLog = path.join(tmp, 'valgrind.log');
  const fullEnv = {
    ...cleanEnv(),
    AIGW_LISTEN: `127.0.0.1:${port}`,
    DATABASE_URL: `sqlite:${path.join(tmp, 'aigw.db')}`,
    AIGW_THREADS: '2',
    AI_GATEWAY_API_KEY: GATEWAY_KEY,
    AIGW_SIM_SPEED: '0.01',
    AIGW_LOG_LEVEL: 'debug', // the debug paths allocate too; exercise them
    AIGW_PROBE_INTERVAL_MS: '600000',
    AIGW_RETRY_BASE_MS: '20',
    AIGW_RETRY_MAX: '2',
    AIGW_SHUTDOWN_GRACE_MS: '5000',
    // Valgrind slows the gateway down, not the fakes; keep the upstream deadlines far away.
    AIGW_FIRST_BYTE_TIMEOUT_MS: '60000',
    AIGW_IDLE_TIMEOUT_MS: '60000',
    ...providerEnv(fakes),
    ...env,
  };
  const vgArgs = [
    '--leak-check=full', '--errors-for-leak-kinds=definite', '--error-exitcode=99', '--track-fds=no',
    '--num-callers=30', `--log-file=${vgLog}`,
  ];
  if (fs.existsSync(SUPPRESSIONS)) vgArgs.push(`--suppressions=${SUPPRESSIONS}`);
  const child = spawn('valgrind', [...vgArgs, AIGW_BIN], { env: fullEnv, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.resume();
  const gw = { url: `http://127.0.0.1:${port}`, child, exited: once(child, 'exit'), tmp, vgLog, stderr: () => stderr };
  running.add(gw);

  /** fetch with the gateway key unless auth is given (false: no Authorization header). */
  gw.fetch = (p, { auth = `Bearer ${GATEWAY_KEY}`, ...init } = {}) => {
    const headers = { 'content-type': 'application/json', ...(init.headers ?? {}) };
    if (auth) headers.authorization = auth;
    return fetch(gw.url + p, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(60000) });
  };
  /** POST a JSON body (or a raw string); returns {status, headers, raw, json?, events?}. */
  gw.post = async (p, body, opts = {}) => {
    const r = await gw.fetch(p, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...opts });
    const raw = await r.text();
    const out = { status: r.status, headers: r.headers, raw };
    const ct = r.headers.get('content-type') || '';
    if (ct.startsWith('text/event-stream')) out.events = parseSSE(raw).events;
    else if (ct.includes('json')) out.json = JSON.parse(raw);
    return out;
  };
  /** SIGTERM, then the verdict: exit 0, no memory errors, nothing definitely lost. */
  gw.stopAndCheck = async () => {
    await sleep(300); // let the usage writer flush its last batch before the signal
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60000);
    await gw.exited;
    clearTimeout(killer);
    running.delete(gw);
    const log = fs.readFileSync(vgLog, 'utf8');
    const ctx = `\n--- valgrind log (last 6000 bytes) ---\n${log.slice(-6000)}\n--- aigw stderr (last 2000 bytes) ---\n${stderr.slice(-2000)}`;
    assert.equal(child.signalCode, null, `aigw was killed by ${child.signalCode}${ctx}`);
    assert.notEqual(child.exitCode, 99, `valgrind reported errors (exit 99)${ctx}`);
    assert.equal(child.exitCode, 0, `aigw exited with ${child.exitCode}${ctx}`);
    for (const bad of ['Invalid read', 'Invalid write', 'Invalid free', 'Mismatched free', 'uninitialised', 'Syscall param', 'overlap']) {
      assert.ok(!log.includes(bad), `valgrind: "${bad}"${ctx}`);
    }
    // With no leak at all valgrind prints "All heap blocks were freed" instead of a LEAK SUMMARY.
    assert.ok(/definitely lost: 0 bytes in 0 blocks/.test(log) || /All heap blocks were freed -- no leaks are possible/.test(log), `definitely lost bytes${ctx}`);
    assert.match(log, /ERROR SUMMARY: 0 errors/, `error summary${ctx}`);
    if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
  };

  await waitFor(async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`aigw exited early (${child.exitCode ?? child.signalCode}): ${stderr.slice(-2000)}`);
    const r = await fetch(`${gw.url}/healthz`).catch(() => null);
    return r?.status === 200;
  }, { timeout: 60000, interval: 200, what: 'aigw /healthz under valgrind' });
  // Local models appear through discovery shortly after start-up.
  await waitFor(async () => {
    const j = await (await gw.fetch('/api/models')).json();
    const list = Array.isArray(j) ? j : j.models ?? j.data ?? [];
    return list.some((m) => m.provider === 'local');
  }, { timeout: 30000, interval: 200, what: 'local model discovery' });
  return gw;
}

before(async () => {
  if (!SKIP) fakes = await startFakes();
});

after(async () => {
  for (const gw of running) {
    if (gw.child.exitCode === null && gw.child.signalCode === null) {
      gw.child.kill('SIGKILL');
      await gw.exited;
    }
    if (!process.env.KEEP_TMP) fs.rmSync(gw.tmp, { recursive: true, force: true });
  }
  await fakes?.stop();
});

const TARGETS = [
  ['simulator', 'sim-chat'],
  ['openai', 'gpt-4o-mini'],
  ['deepseek', 'deepseek-v4-flash'],
  ['fal', 'google/gemini-2.5-flash'],
  ['eden', 'openai/gpt-4o'],
  ['local', 'llama3.2:3b'],
];

test('aigw under valgrind: representative traffic, SIGTERM, exit 0, no leaks, no memory errors', { skip: SKIP ?? false, timeout: 120000 }, async () => {
  const gw = await startUnderValgrind();
  const post = gw.post;
  // Every provider, stream and not, two at a time (valgrind serializes threads anyway).
  const calls = [];
  for (const [provider, model] of TARGETS) {
    for (const stream of [false, true]) calls.push({ provider, model, stream });
  }
  for (let i = 0; i < calls.length; i += 2) {
    await Promise.all(calls.slice(i, i + 2).map(async ({ provider, model, stream }) => {
      const res = await post('/api/generate', genBody(provider, model, `valgrind ${provider} ${stream}`, { stream }));
      assert.equal(res.status, 200, `${provider} stream=${stream}: ${res.raw.slice(0, 300)}`);
      if (stream) {
        const s = checkGenerateStream(res.events);
        assert.equal(s.error, null, `${provider}: ${JSON.stringify(s.error)}`);
        assert.ok(s.text.length > 0);
      } else {
        assert.ok(res.json.output.text.length > 0, `${provider}: ${res.raw.slice(0, 300)}`);
      }
    }));
  }

  // Tool call (stream and not).
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const toolStream = await post('/api/generate', genBody('openai', 'gpt-4o', 'weather in two cities, in parallel', { stream: true, input: { tools } }));
  const ts = checkGenerateStream(toolStream.events);
  assert.equal(ts.done.finish_reason, 'tool_calls');
  assert.ok(ts.toolCalls.size >= 1);
  const toolPlain = await post('/api/generate', genBody('openai', 'gpt-4o', 'weather in Paris', { input: { tools } }));
  assert.equal(toolPlain.status, 200, toolPlain.raw.slice(0, 300));
  assert.ok(toolPlain.json.output.tool_calls.length >= 1);

  // 429 with a retry hint, then success.
  await fakes.script(['429=50', 'ok'], 'openai');
  const retried = await post('/api/generate', genBody('openai', 'gpt-4.1-nano', 'valgrind retry'));
  assert.equal(retried.status, 200, retried.raw.slice(0, 300));

  // Upstream cuts the stream mid-way: error event, then done.
  const cut = await post('/api/generate', genBody('deepseek', 'deepseek-v4-pro', 'valgrind [[fake:cut]]', { stream: true }));
  const cs = checkGenerateStream(cut.events);
  assert.equal(cs.error?.code, 'upstream_truncated');

  // The client hangs up in the middle of a slow stream.
  const ac = new AbortController();
  const r = await gw.fetch('/api/generate', { method: 'POST', body: JSON.stringify(genBody('openai', 'gpt-4.1-mini', 'valgrind leave [[fake:slow=100,tokens=100]]', { stream: true })), signal: ac.signal });
  assert.equal(r.status, 200);
  let deltas = 0;
  try {
    for await (const ev of sseEvents(r)) if (ev.event === 'delta' && ++deltas === 2) break;
  } finally {
    ac.abort();
  }
  await waitFor(async () => (await fakes.requests('openai')).some((q) => q.aborted), { timeout: 20000, what: 'the upstream request to be cancelled' });

  // The OpenAI-compatible surface, stream and not.
  const v1 = await post('/v1/chat/completions', { model: 'simulator/sim-chat', messages: [{ role: 'user', content: 'valgrind v1' }] });
  assert.equal(v1.status, 200, v1.raw.slice(0, 300));
  assert.ok(v1.json.choices[0].message.content.length > 0);
  const v1s = await post('/v1/chat/completions', { model: 'deepseek/deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'valgrind v1 stream' }] });
  assert.equal(v1s.status, 200, v1s.raw.slice(0, 300));
  assert.equal(v1s.events.at(-1).data, '[DONE]');

  // Listings.
  for (const p of ['/api/models', '/v1/models']) {
    const res = await gw.fetch(p);
    assert.equal(res.status, 200, p);
    assert.ok((await res.text()).length > 100, p);
  }

  // A bad request (invalid JSON, then a valid JSON that breaks the rules) and a bad key.
  expectJsonError(await post('/api/generate', '{"provider": "openai", "model": '), 400, 'invalid_request');
  expectJsonError(await post('/api/generate', { provider: 'openai', model: 'gpt-4o-mini', input: { messages: [] } }), 400, 'invalid_request');
  expectJsonError(await post('/api/generate', genBody('simulator', 'sim-chat', 'hi'), { auth: 'Bearer not-a-key' }), 401, 'unauthorized');
  const unknown = await post('/v1/chat/completions', { model: 'nope/none', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(unknown.status, 404, unknown.raw);
  assert.equal(unknown.json.error.code, 'model_not_found'); // OpenAI's error shape on /v1

  await gw.stopAndCheck();
});

test('aigw under valgrind: failure paths, Eden v2 NDJSON, ceilings, admin CLI', { skip: SKIP ?? false, timeout: 120000 }, async () => {
  const gw = await startUnderValgrind({ EDENAI_API_VERSION: 'v2', AIGW_FIRST_BYTE_TIMEOUT_MS: '2500', AIGW_RETRY_MAX: '1' });
  const { post } = gw;

  // Eden v2: NDJSON stream (the line reader), plain answer, a failure inside HTTP 200, a cut stream.
  for (const stream of [false, true]) {
    const res = await post('/api/generate', genBody('eden', 'openai/gpt-4o', `valgrind eden v2 ${stream}`, { stream }));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    if (stream) assert.equal(checkGenerateStream(res.events).error, null);
  }
  expectJsonError(await post('/api/generate', genBody('eden', 'openai/gpt-4o', 'valgrind [[fake:eden-fail-in-200]]')), 502, 'provider_error');
  // (Only the grammar is checked: whether a v2 cut is reported as upstream_truncated is the
  // black-box suite's business; here the point is the memory of that path.)
  checkGenerateStream((await post('/api/generate', genBody('eden', 'openai/gpt-4o', 'valgrind [[fake:cut]]', { stream: true }))).events);

  // Retries exhausted, then a fallback that answers.
  await fakes.script(['503', '503', '503'], 'openai');
  expectJsonError(await post('/api/generate', genBody('openai', 'gpt-4o-mini', 'valgrind 503')), 503, 'model_unavailable');
  await fakes.script(['quota'], 'openai');
  const fb = await post('/api/generate', genBody('openai', 'gpt-4.1', 'valgrind fallback', { stream: true, extra: { fallbacks: ['simulator/sim-chat'] } }));
  assert.equal(checkGenerateStream(fb.events).start.provider, 'simulator');

  // Mid-stream failures: garbage payload, provider error event, an event over the 4 MiB ceiling.
  for (const [provider, model, scenario] of [['openai', 'gpt-4o', 'garbage'], ['local', 'qwen3:8b', 'stream-error'], ['deepseek', 'deepseek-v4-pro', 'huge']]) {
    const res = await post('/api/generate', genBody(provider, model, `valgrind [[fake:${scenario}]]`, { stream: true }));
    assert.equal(checkGenerateStream(res.events).error?.code, 'provider_error', `${provider} ${scenario}`);
  }
  // Non-stream 17 MiB body over the response ceiling.
  expectJsonError(await post('/api/generate', genBody('deepseek', 'deepseek-chat', 'valgrind [[fake:huge]]')), 502, 'provider_error');

  // No response headers within the first-byte timeout (one retry): 504.
  expectJsonError(await post('/api/generate', genBody('fal', 'google/gemini-2.5-flash', 'valgrind [[fake:timeout]]', { stream: true })), 504, 'timeout');

  // Request ceilings and malformed HTTP on a raw socket.
  const big = JSON.stringify(genBody('simulator', 'sim-chat', 'x'.repeat(4_300_000)));
  const tooBig = await gw.fetch('/api/generate', { method: 'POST', body: big }).catch((e) => ({ status: `error ${e.message}` }));
  assert.ok(tooBig.status === 413 || String(tooBig.status).startsWith('error'), `oversized body: ${tooBig.status}`);
  const answer = await new Promise((resolve, reject) => {
    const sock = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { got += d; });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
    sock.write('POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!');
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  expectJsonError(await post('/api/generate', genBody('simulator', 'sim-chat', 'no key'), { auth: false }), 401, 'unauthorized');
  expectJsonError(await post('/api/generate', { ...genBody('simulator', 'sim-chat', 'x'), featureOptions: { maxTokens: -1 } }), 400, 'invalid_request');

  await gw.stopAndCheck();

  // The admin CLI against the same kind of database, under valgrind too.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aigw-vg-cli-'));
  try {
    const env = { ...cleanEnv(), DATABASE_URL: `sqlite:${path.join(tmp, 'cli.db')}` };
    const cmds = [
      ['migrate'],
      ['models', 'add', '--provider', 'local', '--model', 'vg-model', '--input', '0.1', '--output', '0.2', '--source', 'valgrind test', '--caps', 'chat,streaming'],
      ['models', 'update', 'local/vg-model', '--output', '0.3', '--source', 'valgrind test'],
      ['models', 'list', '--json'],
      ['keys', 'create', '--name', 'vg', '--rpm', '10', '--models', 'simulator/*'],
      ['keys', 'list'],
      ['models', 'add', '--provider', 'local'], // usage error: exit 2, still no leak
    ];
    for (const [i, cmd] of cmds.entries()) {
      const vgLog = path.join(tmp, `cli-${i}.log`);
      const r = spawnSync('valgrind', ['--leak-check=full', '--errors-for-leak-kinds=definite', '--error-exitcode=99', `--log-file=${vgLog}`, AIGW_BIN, ...cmd], { env, cwd: tmp, encoding: 'utf8', timeout: 60000 });
      const log = fs.readFileSync(vgLog, 'utf8');
      const ctx = `aigw ${cmd.join(' ')}: exit ${r.status}\n${r.stderr.slice(-1000)}\n${log.slice(-4000)}`;
      assert.notEqual(r.status, 99, ctx);
      assert.equal(r.status, i === cmds.length - 1 ? 2 : 0, ctx);
      assert.ok(/definitely lost: 0 bytes in 0 blocks/.test(log) || /All heap blocks were freed/.test(log), ctx);
      assert.match(log, /ERROR SUMMARY: 0 errors/, ctx);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
