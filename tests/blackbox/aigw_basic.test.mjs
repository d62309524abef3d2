// aigw's plumbing endpoints: /healthz, /metrics, gateway-key auth, GET /api/models (every field of
// DESIGN §3 Models, with status and latency from live traffic, not constants), GET /v1/models, and
// a clean shutdown on SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { PROVIDERS, expectJsonError, genBody, startAigw, startFakes, waitFor } from './lib.mjs';

let fakes;
let gw; // every provider configured
let gwPartial; // only openai configured

before(async () => {
  fakes = await startFakes();
  gw = await startAigw({ fakes });
  gwPartial = await startAigw({ fakes, providers: ['openai'] });
});
after(async () => {
  await gw?.stop();
  await gwPartial?.stop();
  await fakes?.stop();
});

async function models(g) {
  const r = await g.fetch('/api/models');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /application\/json/);
  const j = await r.json();
  const list = Array.isArray(j) ? j : j.models ?? j.data;
  assert.ok(Array.isArray(list), `GET /api/models must list models: ${JSON.stringify(j).slice(0, 200)}`);
  return list;
}

describe('health and metrics', () => {
  test('GET /healthz -> 200 {"status":"ok"} without a key', async () => {
    const r = await gw.fetch('/healthz', { auth: false });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /application\/json/);
    assert.deepEqual(await r.json(), { status: 'ok' });
  });

  test('GET /metrics is Prometheus text and counts requests', async () => {
    const scrape = async () => {
      const r = await gw.fetch('/metrics');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') || '', /^text\/plain/);
      return r.text();
    };
    const sumRequests = (text) => {
      let total = 0;
      for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        // name{labels} value [timestamp]
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
        assert.ok(m, `not a Prometheus sample line: ${line}`);
        assert.ok(!Number.isNaN(Number(m[3])) || /^[+-]?Inf$|^NaN$/.test(m[3]), `bad value in ${line}`);
        if (/request/.test(m[1]) && /_total$|_count$/.test(m[1])) total += Number(m[3]);
      }
      return total;
    };
    const before0 = await scrape();
    assert.match(before0, /^# (HELP|TYPE) /m, 'HELP/TYPE comments');
    const res = await gw.generate(genBody('simulator', 'sim-fast', 'count me'));
    assert.equal(res.status, 200);
    const after0 = await waitFor(async () => { const t = await scrape(); return sumRequests(t) > sumRequests(before0) && t; }, { timeout: 3000, what: 'a request counter to grow' });
    assert.ok(sumRequests(after0) > sumRequests(before0));
  });
});

describe('gateway key auth', () => {
  const routes = [
    ['POST', '/api/generate', genBody('simulator', 'sim-fast', 'hi')],
    ['POST', '/v1/chat/completions', { model: 'simulator/sim-fast', messages: [{ role: 'user', content: 'hi' }] }],
    ['GET', '/api/models'],
    ['GET', '/v1/models'],
  ];
  for (const [method, path, body] of routes) {
    for (const [label, authorization] of [['no key', null], ['wrong key', 'Bearer not-the-key'], ['wrong scheme', 'Basic dGVzdC1rZXk6'], ['empty bearer', 'Bearer ']]) {
      test(`${method} ${path} with ${label} -> 401 JSON`, async () => {
        const r = await gw.fetch(path, { method, headers: { authorization, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
        const raw = await r.text();
        const res = { status: r.status, headers: r.headers, raw, json: JSON.parse(raw) };
        if (path.startsWith('/v1/')) {
          // OpenAI clients read error.message / type / code.
          assert.equal(res.status, 401, raw);
          assert.equal(typeof res.json.error?.message, 'string');
          assert.ok('type' in res.json.error && 'code' in res.json.error, raw);
        } else {
          expectJsonError(res, 401, 'unauthorized');
        }
      });
    }
  }

  test('the right key works and the key never appears in the logs', async () => {
    const res = await gw.generate(genBody('simulator', 'sim-fast', 'hi'));
    assert.equal(res.status, 200);
    const logs = gw.stderr();
    assert.ok(!logs.includes('test-key'), 'gateway key leaked into the log');
    for (const k of ['sk-fake-openai', 'sk-fake-deepseek', 'fakekeysecret', 'fake-eden-token']) assert.ok(!logs.includes(k), `provider secret ${k} leaked into the log`);
  });
});

describe('GET /api/models', () => {
  const CAPS = new Set(['chat', 'streaming', 'tools', 'json', 'vision', 'reasoning']);
  const STATUS = new Set(['available', 'degraded', 'unavailable', 'unconfigured']);

  test('every entry has every field of the contract', async () => {
    const list = await models(gw);
    assert.ok(list.length >= 20, `expected the whole catalog, got ${list.length}`);
    for (const m of list) {
      const at = `${m.provider}/${m.model}`;
      assert.equal(typeof m.provider, 'string', at);
      assert.equal(typeof m.model, 'string', at);
      assert.equal(typeof m.display_name, 'string', at);
      assert.ok(m.display_name.length > 0, at);
      // null = unknown (e.g. an output ceiling no source documents)
      for (const k of ['context_length', 'max_output_tokens']) assert.ok(m[k] === null || (Number.isInteger(m[k]) && m[k] > 0), `${at}: ${k} ${m[k]}`);
      assert.ok(Array.isArray(m.capabilities), `${at}: capabilities`);
      for (const c of m.capabilities) assert.ok(CAPS.has(c), `${at}: unknown capability ${c}`);
      assert.ok(m.capabilities.includes('chat'), `${at}: chat capability`);
      assert.ok(['per_1m_tokens', 'per_request', 'per_second'].includes(m.pricing?.unit), `${at}: pricing.unit ${m.pricing?.unit}`);
      for (const k of ['input', 'cached_input', 'output']) assert.match(m.pricing[k], /^\d+\.\d{2,6}$/, `${at}: pricing.${k} must be a decimal string`);
      assert.equal(m.pricing.currency, 'USD', at);
      assert.ok(STATUS.has(m.status), `${at}: status ${m.status}`);
      assert.ok('status_reason' in m, `${at}: status_reason`);
      assert.ok(m.status_reason === null || typeof m.status_reason === 'string', `${at}: status_reason`);
      assert.equal(typeof m.latency, 'object', `${at}: latency`);
      for (const k of ['ttft_p50_ms', 'tokens_per_s']) assert.ok(m.latency[k] === null || (typeof m.latency[k] === 'number' && m.latency[k] >= 0), `${at}: latency.${k} ${m.latency[k]}`);
      assert.equal(typeof m.deprecated, 'boolean', `${at}: deprecated`);
    }
  });

  test('the catalog covers every provider and the documented model ids', async () => {
    const ids = new Set((await models(gw)).map((m) => `${m.provider}/${m.model}`));
    for (const id of ['openai/gpt-4o-mini', 'openai/gpt-4o', 'openai/gpt-4.1', 'openai/gpt-4.1-mini', 'openai/gpt-4.1-nano', 'openai/o3', 'openai/o4-mini', 'openai/gpt-5', 'openai/gpt-5-mini',
      'deepseek/deepseek-v4-flash', 'deepseek/deepseek-v4-pro', 'fal/google/gemini-2.5-flash', 'fal/anthropic/claude-sonnet-4.5', 'fal/meta-llama/llama-4-maverick', 'fal/openai/gpt-oss-120b',
      'eden/openai/gpt-4o', 'simulator/sim-fast', 'simulator/sim-chat', 'simulator/sim-reasoning', 'simulator/sim-tools']) {
      assert.ok(ids.has(id), `${id} missing from /api/models`);
    }
  });

  test('prices are the published ones, as exact decimal strings', async () => {
    const list = await models(gw);
    const get = (p, m) => list.find((x) => x.provider === p && x.model === m).pricing;
    assert.deepEqual({ ...get('openai', 'gpt-4o-mini') }, { unit: 'per_1m_tokens', input: '0.15', cached_input: '0.075', output: '0.60', currency: 'USD' });
    assert.deepEqual({ ...get('openai', 'gpt-4o') }, { unit: 'per_1m_tokens', input: '2.50', cached_input: '1.25', output: '10.00', currency: 'USD' });
    assert.equal(get('deepseek', 'deepseek-v4-flash').output, '0.28');
  });

  test('local models are discovered from the local server, with their context length', async () => {
    const list = await models(gw);
    const llama = list.find((m) => m.provider === 'local' && m.model === 'llama3.2:3b');
    const qwen = list.find((m) => m.provider === 'local' && m.model === 'qwen3:8b');
    assert.ok(llama && qwen, `local models missing: ${list.filter((m) => m.provider === 'local').map((m) => m.model)}`);
    assert.equal(llama.context_length, 131072, 'vLLM-style max_model_len');
    assert.equal(qwen.context_length, 40960, 'llama.cpp-style meta.n_ctx_train');
    assert.equal(llama.pricing.input, '0.00');
    const reqs = await fakes.requests('local');
    assert.ok(reqs.some((r) => r.method === 'GET' && r.path === '/local/v1/models'), 'discovery calls {LOCAL_BASE_URL}/models');
  });

  test('status follows configuration: providers without credentials are unconfigured', async () => {
    const list = await models(gwPartial);
    for (const m of list) {
      const at = `${m.provider}/${m.model}`;
      if (m.provider === 'openai' || m.provider === 'simulator') assert.notEqual(m.status, 'unconfigured', at);
      else {
        assert.equal(m.status, 'unconfigured', at);
        assert.ok(typeof m.status_reason === 'string' && m.status_reason.length > 0, `${at}: status_reason says why`);
      }
    }
    assert.ok(!list.some((m) => m.provider === 'local'), 'no local models without LOCAL_BASE_URL');
    // And the same models are not unconfigured where credentials exist.
    const full = await models(gw);
    for (const p of PROVIDERS) assert.ok(full.some((m) => m.provider === p && m.status !== 'unconfigured'), `${p} configured in the full gateway`);
  });

  test('an unconfigured provider answers model_unavailable without an upstream call', async () => {
    await fakes.reset();
    const res = await gwPartial.generate(genBody('deepseek', 'deepseek-v4-flash', 'hi'));
    const err = expectJsonError(res, 503, 'model_unavailable');
    assert.match(err.message, /deepseek|configured|credential|key/i);
    assert.equal((await fakes.chatRequests('deepseek')).length, 0);
  });

  test('latency comes from live traffic', async () => {
    const before0 = (await models(gw)).find((m) => m.provider === 'openai' && m.model === 'gpt-4.1-nano');
    assert.equal(before0.status, 'available', 'no traffic yet counts as available');
    for (let i = 0; i < 3; i++) {
      const res = await gw.generate(genBody('openai', 'gpt-4.1-nano', `measure me ${i} [[fake:stall=40]]`, { stream: true }));
      assert.equal(res.status, 200);
    }
    const m = await waitFor(async () => {
      const e = (await models(gw)).find((x) => x.provider === 'openai' && x.model === 'gpt-4.1-nano');
      return typeof e.latency.ttft_p50_ms === 'number' && e.latency.ttft_p50_ms > 0 && e;
    }, { timeout: 3000, what: 'ttft_p50_ms of gpt-4.1-nano' });
    assert.ok(m.latency.ttft_p50_ms >= 30, `ttft_p50_ms ${m.latency.ttft_p50_ms} must reflect the 40 ms stall`);
    assert.ok(m.latency.tokens_per_s === null || m.latency.tokens_per_s > 0);
    assert.equal(m.status, 'available');
  });

  test('repeated upstream failures make a model unavailable (circuit breaker)', async () => {
    await fakes.script(Array(8).fill('500'), 'eden');
    for (let i = 0; i < 8; i++) await gw.generate(genBody('eden', 'openai/gpt-4.1-mini', `fail ${i}`));
    const m = (await models(gw)).find((x) => x.provider === 'eden' && x.model === 'openai/gpt-4.1-mini');
    assert.ok(['unavailable', 'degraded'].includes(m.status), `status after failures: ${m.status}`);
    assert.ok(m.status_reason && m.status_reason.length > 0, 'status_reason explains');
    await fakes.reset();
  });
});

describe('GET /v1/models', () => {
  test('OpenAI list shape with provider/model ids', async () => {
    const r = await gw.fetch('/v1/models');
    assert.equal(r.status, 200);
    const j = await r.json();
    assert.equal(j.object, 'list');
    assert.ok(Array.isArray(j.data));
    for (const m of j.data) {
      assert.equal(m.object, 'model');
      assert.ok(Number.isInteger(m.created), `${m.id}: created`);
      assert.equal(typeof m.owned_by, 'string');
      assert.ok(m.id.includes('/'), `${m.id} must be provider/model`);
    }
    const ids = new Set(j.data.map((m) => m.id));
    for (const id of ['simulator/sim-chat', 'openai/gpt-4o-mini', 'deepseek/deepseek-v4-flash', 'fal/google/gemini-2.5-flash', 'eden/openai/gpt-4o', 'local/llama3.2:3b']) assert.ok(ids.has(id), `${id} missing from /v1/models`);
  });
});

describe('shutdown', () => {
  test('SIGTERM while idle exits 0 quickly', async () => {
    const g = await startAigw({ fakes });
    const t0 = Date.now();
    await g.stop();
    assert.ok(Date.now() - t0 < 5000, 'idle shutdown must not wait for the grace period');
  });

  test('SIGTERM lets an open stream finish', async () => {
    const g = await startAigw({ fakes });
    const pending = g.generate(genBody('openai', 'gpt-4o-mini', 'slowly [[fake:slow=30]]', { stream: true }));
    await waitFor(async () => (await fakes.chatRequests('openai')).some((r) => JSON.stringify(r.body).includes('slowly')), { what: 'upstream call' });
    g.terminate();
    const res = await pending;
    assert.equal(res.status, 200);
    const names = res.events.map((e) => e.event);
    assert.equal(names.at(-1), 'done', `stream completed during shutdown: ${names.join(',')}`);
    await g.stop();
  });
});
