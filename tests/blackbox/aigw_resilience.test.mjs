// How aigw behaves when providers misbehave: error mapping per provider (status + code before the
// first byte, `event: error` + `done` after it), retries (visible as repeated upstream requests),
// Retry-After honoured, fallbacks (per request and AIGW_FALLBACKS), never retrying once bytes reached
// the client, timeouts, stream quirks that must not change the answer (byte splits, CRLF, comments,
// multi-line data, zero usage on every chunk), and cancelling upstream when the client leaves.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  checkGenerateStream, costPico, expectJsonError, formatPico, genBody, registryEntry, sleep, sseEvents, startAigw, startFakes, waitFor,
} from './lib.mjs';

let fakes;
let marker = 0;
const uniq = (label) => `${label} r${++marker}x`;

before(async () => { fakes = await startFakes(); });
after(async () => { await fakes?.stop(); });

/** Generation requests upstream whose body mentions mark. */
async function upstreamWith(mark, provider) {
  return (await fakes.chatRequests(provider)).filter((r) => JSON.stringify(r.body).includes(mark));
}

describe('provider errors before the first byte', () => {
  // One gateway per mode, so that the failures of the non-stream row do not open the circuit
  // breaker of the same model for the stream row.
  const gws = {};
  before(async () => {
    gws.plain = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '2' } });
    gws.stream = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '2' } });
  });
  after(async () => { await gws.plain?.stop(); await gws.stream?.stop(); });
  beforeEach(async () => { await fakes.reset(); });

  // [provider, model, scenario, HTTP status, code, retryable, upstream attempts]
  // Each row uses its own model so the breaker of one row cannot affect another.
  const CASES = [
    ['openai', 'gpt-4o-mini', '400', 400, 'invalid_request', false, 1],
    ['openai', 'gpt-4.1', 'quota', 402, 'provider_quota', false, 1],
    ['deepseek', 'deepseek-v4-flash', 'quota', 402, 'provider_quota', false, 1],
    ['fal', 'google/gemini-2.5-flash', 'quota', 402, 'provider_quota', false, 1],
    ['eden', 'openai/gpt-4o', 'quota', 402, 'provider_quota', false, 1],
    ['openai', 'gpt-4.1-mini', 'model-not-found', 404, 'model_not_found', false, 1],
    ['deepseek', 'deepseek-v4-pro', 'model-not-found', 404, 'model_not_found', false, 1],
    ['fal', 'anthropic/claude-sonnet-4.5', 'model-not-found', 404, 'model_not_found', false, 1],
    ['openai', 'gpt-4o', '503', 503, 'model_unavailable', true, 3],
    ['deepseek', 'deepseek-chat', '503', 503, 'model_unavailable', true, 3],
    ['fal', 'openai/gpt-oss-120b', '503', 503, 'model_unavailable', true, 3],
    ['eden', 'openai/gpt-4o-mini', '500', 502, 'provider_error', true, 3],
    ['local', 'llama3.2:3b', '502', 502, 'provider_error', true, 3],
  ];
  for (const [provider, model, scenario, status, code, retryable, attempts] of CASES) {
    for (const stream of [false, true]) {
      test(`${provider} ${scenario} -> ${status} ${code} (${stream ? 'stream' : 'non-stream'}, ${attempts} upstream attempt${attempts > 1 ? 's' : ''})`, async () => {
        const mark = uniq(`err ${scenario}`);
        await fakes.script(Array(attempts + 2).fill(scenario), provider);
        const gw = stream ? gws.stream : gws.plain;
        const res = await gw.generate(genBody(provider, model, mark, { stream }));
        const err = expectJsonError(res, status, code); // an HTTP error, not an SSE stream, even when streaming was asked
        assert.equal(err.retryable, retryable, JSON.stringify(err));
        assert.equal((await upstreamWith(mark, provider)).length, attempts, 'upstream attempts');
        assert.ok(!JSON.stringify(err).includes('sk-fake'), 'provider secrets never reach the client');
      });
    }
  }

  test('provider rejecting our key -> 502 provider_auth, not retried, not the caller\'s 401', async () => {
    const g = await startAigw({ fakes, providers: ['openai'], env: { OPENAI_API_KEY: 'sk-wrong-key-for-the-fake' } });
    try {
      const mark = uniq('auth');
      const res = await g.generate(genBody('openai', 'gpt-4o-mini', mark));
      const err = expectJsonError(res, 502, 'provider_auth');
      assert.equal(err.retryable, false);
      assert.ok(!err.message.includes('sk-wrong'), 'the provider key is not echoed');
      assert.equal((await upstreamWith(mark, 'openai')).length, 1);
      const list = await (await g.fetch('/api/models')).json();
      const entry = (Array.isArray(list) ? list : list.models ?? list.data).find((m) => m.provider === 'openai' && m.model === 'gpt-4o-mini');
      assert.equal(entry.status, 'unavailable', 'a rejected key makes the provider unavailable');
    } finally {
      await g.stop();
    }
  });
});

describe('retries', () => {
  let gw;
  before(async () => { gw = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '2' } }); });
  after(async () => { await gw?.stop(); });
  beforeEach(async () => { await fakes.reset(); });

  for (const stream of [false, true]) {
    test(`503 then ok -> success after one retry (${stream ? 'stream' : 'non-stream'})`, async () => {
      const mark = uniq('retry');
      await fakes.script(['503', 'ok'], 'openai');
      const res = await gw.generate(genBody('openai', 'gpt-4o-mini', mark, { stream }));
      assert.equal(res.status, 200, res.raw.slice(0, 300));
      const ups = await upstreamWith(mark, 'openai');
      assert.equal(ups.length, 2, 'one failed attempt + one retry');
      assert.equal(ups[0].outcome, 'error:503');
      assert.equal(ups[1].outcome, 'complete');
      assert.deepEqual(ups[1].body, ups[0].body, 'the retry sends the same request');
      const text = stream ? checkGenerateStream(res.events).text : res.json.output.text;
      assert.equal(text, ups[1].response_text);
    });
  }

  test('429 with retry-after-ms (OpenAI) is honoured before retrying', async () => {
    const mark = uniq('ratelimited');
    await fakes.script(['429=400', 'ok'], 'openai');
    const res = await gw.generate(genBody('openai', 'gpt-4.1-nano', mark));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    const ups = await upstreamWith(mark, 'openai');
    assert.equal(ups.length, 2);
    const gap = ups[1].t_ms - ups[0].t_ms;
    assert.ok(gap >= 380, `waited ${gap} ms, provider asked for 400 ms`);
  });

  test('429 with Retry-After seconds (Eden) is honoured before retrying', async () => {
    const mark = uniq('ratelimited eden');
    await fakes.script(['429=1000', 'ok'], 'eden');
    const res = await gw.generate(genBody('eden', 'openai/gpt-4.1', mark));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    const ups = await upstreamWith(mark, 'eden');
    assert.equal(ups.length, 2);
    const gap = ups[1].t_ms - ups[0].t_ms;
    assert.ok(gap >= 950, `waited ${gap} ms, provider said Retry-After: 1`);
  });

  test('429 that persists -> 429 rate_limited, retryable', async () => {
    const mark = uniq('always limited');
    await fakes.script(['429=30', '429=30', '429=30', '429=30'], 'deepseek');
    const res = await gw.generate(genBody('deepseek', 'deepseek-reasoner', mark));
    const err = expectJsonError(res, 429, 'rate_limited');
    assert.equal(err.retryable, true);
    assert.equal((await upstreamWith(mark, 'deepseek')).length, 3);
  });

  test('AIGW_RETRY_MAX=0 disables retries', async () => {
    const g = await startAigw({ fakes, providers: ['openai'], env: { AIGW_RETRY_MAX: '0' } });
    try {
      const mark = uniq('no retry');
      await fakes.script(['503', 'ok'], 'openai');
      const res = await g.generate(genBody('openai', 'gpt-4o-mini', mark));
      expectJsonError(res, 503, 'model_unavailable');
      assert.equal((await upstreamWith(mark, 'openai')).length, 1);
    } finally {
      await g.stop();
    }
  });
});

describe('fallbacks', () => {
  let gw;
  before(async () => {
    gw = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '1', AIGW_FALLBACKS: 'openai/gpt-4o=deepseek/deepseek-v4-flash;fal/google/gemini-2.5-flash=eden/google/gemini-2.5-flash,simulator/sim-chat' } });
  });
  after(async () => { await gw?.stop(); });
  beforeEach(async () => { await fakes.reset(); });

  test('request fallbacks: quota at openai -> answered by deepseek, priced as deepseek', async () => {
    const mark = uniq('fallback');
    await fakes.script(['quota'], 'openai');
    const body = genBody('openai', 'gpt-4o-mini', mark, { extra: { fallbacks: ['deepseek/deepseek-v4-flash'] } });
    const res = await gw.generate(body);
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    assert.equal(res.json.provider, 'deepseek');
    assert.equal(res.json.model, 'deepseek-v4-flash');
    assert.equal((await upstreamWith(mark, 'openai')).length, 1, 'quota errors are not retried');
    const [ds] = await upstreamWith(mark, 'deepseek');
    assert.equal(ds.body.model, 'deepseek-v4-flash');
    assert.equal(res.json.output.text, ds.response_text);
    const pricing = (await registryEntry(gw, 'deepseek', 'deepseek-v4-flash')).pricing;
    assert.equal(res.json.cost.usd, formatPico(costPico(pricing, res.json.usage)));
  });

  test('request fallbacks in streaming: the start event names the model that answers', async () => {
    const mark = uniq('fallback stream');
    await fakes.script(['404'], 'openai');
    const res = await gw.generate(genBody('openai', 'o3', mark, { stream: true, featureOptions: { fallbacks: [{ provider: 'simulator', model: 'sim-fast' }] } }));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    const s = checkGenerateStream(res.events);
    assert.equal(s.error, null);
    assert.equal(s.start.provider, 'simulator');
    assert.equal(s.start.model, 'sim-fast');
  });

  test('AIGW_FALLBACKS: openai/gpt-4o failing with 503 falls back to deepseek after its retries', async () => {
    const mark = uniq('env fallback');
    await fakes.script(['503', '503', '503'], 'openai');
    const res = await gw.generate(genBody('openai', 'gpt-4o', mark));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    assert.equal(res.json.provider, 'deepseek');
    assert.equal((await upstreamWith(mark, 'openai')).length, 2, 'AIGW_RETRY_MAX=1: two attempts before falling back');
    assert.equal((await upstreamWith(mark, 'deepseek')).length, 1);
  });

  test('AIGW_FALLBACKS chain: fal and eden fail, the simulator answers', async () => {
    const mark = uniq('chain');
    await fakes.script(['quota'], 'fal');
    await fakes.script(['quota'], 'eden');
    const res = await gw.generate(genBody('fal', 'google/gemini-2.5-flash', mark));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    assert.equal(res.json.provider, 'simulator');
    assert.equal(res.json.model, 'sim-chat');
    assert.equal((await upstreamWith(mark, 'fal')).length, 1);
    assert.equal((await upstreamWith(mark, 'eden')).length, 1);
  });

  test('invalid requests do not fall back', async () => {
    const mark = uniq('no fallback on 400');
    await fakes.script(['400'], 'openai');
    const res = await gw.generate(genBody('openai', 'gpt-4o', mark));
    expectJsonError(res, 400, 'invalid_request');
    assert.equal((await upstreamWith(mark, 'deepseek')).length, 0);
  });

  test('every fallback failing -> the error of the last attempt', async () => {
    const mark = uniq('all fail');
    await fakes.script(['quota'], 'openai');
    await fakes.script(['quota'], 'deepseek');
    const res = await gw.generate(genBody('openai', 'gpt-4.1-mini', mark, { extra: { fallbacks: ['deepseek/deepseek-v4-pro'] } }));
    expectJsonError(res, 402, 'provider_quota');
  });
});

describe('streams: errors after the first byte are events, never retried', () => {
  let gw;
  before(async () => { gw = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '2', AIGW_FALLBACKS: 'openai/gpt-4o-mini=simulator/sim-chat' } }); });
  after(async () => { await gw?.stop(); });
  beforeEach(async () => { await fakes.reset(); });

  const MID_STREAM = [
    ['openai', 'gpt-4o-mini', 'cut', 'upstream_truncated'],
    ['deepseek', 'deepseek-v4-flash', 'cut', 'upstream_truncated'],
    ['fal', 'google/gemini-2.5-flash', 'cut', 'upstream_truncated'],
    ['eden', 'openai/gpt-4o', 'cut', 'upstream_truncated'],
    ['local', 'llama3.2:3b', 'cut', 'upstream_truncated'],
    ['openai', 'gpt-4o-mini', 'stream-error', 'provider_error'],
    ['local', 'qwen3:8b', 'stream-error', 'provider_error'],
    ['fal', 'anthropic/claude-sonnet-4.5', 'stream-error', 'provider_error'],
    ['openai', 'gpt-4.1', 'garbage', 'provider_error'],
    ['deepseek', 'deepseek-v4-pro', 'huge', 'provider_error'],
  ];
  for (const [provider, model, scenario, code] of MID_STREAM) {
    test(`${provider} ${scenario} mid-stream -> event: error (${code}) then done; exactly one upstream request`, async () => {
      const mark = uniq(`${scenario} [[fake:${scenario}]]`);
      const res = await gw.generate(genBody(provider, model, mark, { stream: true }));
      assert.equal(res.status, 200, 'the stream had started');
      const s = checkGenerateStream(res.events);
      assert.ok(s.names.includes('delta'), `some content reached the client first: ${s.names.join(',')}`);
      assert.ok(s.error, `an error event is sent: ${s.names.join(',')}`);
      assert.equal(s.error.code, code);
      assert.equal(s.start.provider, provider, 'no fallback once content was sent');
      assert.equal((await upstreamWith(mark, provider)).length, 1, 'never retried after bytes reached the client');
      if (s.usage) assert.equal(s.usage.estimated, true, 'usage of a broken stream is an estimate');
    });
  }

  test('cut in a non-stream answer is retried (nothing reached the client)', async () => {
    const mark = uniq('cut body');
    await fakes.script(['cut', 'ok'], 'openai');
    const res = await gw.generate(genBody('openai', 'gpt-4o-mini', mark));
    assert.equal(res.status, 200, res.raw.slice(0, 300));
    assert.equal((await upstreamWith(mark, 'openai')).length, 2);
  });

  test('a non-JSON 200 body is a provider_error', async () => {
    const mark = uniq('garbage body');
    await fakes.script(['garbage', 'garbage', 'garbage'], 'deepseek');
    const res = await gw.generate(genBody('deepseek', 'deepseek-chat', mark));
    expectJsonError(res, 502, 'provider_error');
  });

  test('stream ends after finish without [DONE] -> success with exact usage', async () => {
    const mark = uniq('nodone [[fake:nodone]]');
    const res = await gw.generate(genBody('openai', 'gpt-4.1-mini', mark, { stream: true }));
    const s = checkGenerateStream(res.events);
    assert.equal(s.error, null, JSON.stringify(s.error));
    const [up] = await upstreamWith(mark, 'openai');
    assert.equal(s.text, up.response_text);
    assert.equal(s.usage.estimated, false);
    assert.equal(s.usage.output_tokens, up.response_usage.completion_tokens);
  });

  test('fal cumulative output that rewrites its prefix still ends cleanly with the final text', async () => {
    const mark = uniq('divergent [[fake:fal-divergent]]');
    const res = await gw.generate(genBody('fal', 'openai/gpt-4.1', mark, { stream: true }));
    const s = checkGenerateStream(res.events);
    assert.equal(s.error, null, JSON.stringify(s.error));
    assert.ok(s.text.endsWith('This answer was rewritten.'), `text: ${JSON.stringify(s.text)}`);
    const nonStream = await gw.generate(genBody('fal', 'openai/gpt-4.1', uniq('divergent [[fake:fal-divergent]]')));
    assert.equal(nonStream.json.output.text, 'Hello, world! This answer was rewritten.');
  });
});

// Every test finds its upstream request by a unique marker, so they can run side by side (and the
// fake's records are not reset in between).
describe('stream quirks do not change the answer', { concurrency: 4 }, () => {
  let gw;
  before(async () => { gw = await startAigw({ fakes }); });
  after(async () => { await gw?.stop(); });

  const QUIRKS = ['split', 'crlf', 'keepalive', 'nospace', 'multiline', 'usage-zeros-every-chunk', 'stall=150', 'slow=15'];
  const TARGETS = [['openai', 'gpt-4o-mini'], ['deepseek', 'deepseek-v4-flash'], ['eden', 'openai/gpt-4o'], ['local', 'qwen3:8b'], ['fal', 'google/gemini-2.5-flash']];
  for (const quirk of QUIRKS) {
    for (const [provider, model] of TARGETS) {
      if (quirk === 'usage-zeros-every-chunk' && provider === 'fal') continue;
      test(`${provider} ${quirk}`, async () => {
        const mark = uniq(`quirk [[fake:${quirk}]] café ☕`);
        const res = await gw.generate(genBody(provider, model, mark, { stream: true }));
        assert.equal(res.status, 200, res.raw.slice(0, 300));
        const s = checkGenerateStream(res.events);
        assert.equal(s.error, null, `${JSON.stringify(s.error)}${gw.tail()}`);
        const [up] = await upstreamWith(mark, provider);
        assert.equal(s.text, up.response_text, 'same text, whole code points');
        if (up.response_reasoning) assert.equal(s.reasoning, up.response_reasoning);
        assert.equal(s.usage.estimated, false);
        assert.equal(s.usage.input_tokens, up.response_usage.prompt_tokens);
        assert.equal(s.usage.output_tokens, up.response_usage.completion_tokens);
        if (quirk.startsWith('stall')) assert.ok(s.done.ttft_ms >= 140, `ttft_ms ${s.done.ttft_ms} includes the stall`);
      });
    }
  }

  test('parallel tool calls stream interleaved by index and come out whole', async () => {
    const mark = uniq('weather in two cities, in parallel');
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const res = await gw.generate(genBody('openai', 'gpt-4o', mark, { stream: true, input: { tools } }));
    const s = checkGenerateStream(res.events);
    assert.equal(s.error, null);
    assert.equal(s.done.finish_reason, 'tool_calls');
    const calls = [...s.toolCalls.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls.map((c) => JSON.parse(c.arguments).city), ['Paris', 'Tokyo']);
    const [up] = await upstreamWith(mark, 'openai');
    assert.deepEqual(calls.map((c) => c.id), up.response_tool_calls.map((c) => c.id));
    const nonStream = await gw.generate(genBody('openai', 'gpt-4o', uniq('again in parallel'), { input: { tools } }));
    assert.equal(nonStream.json.output.tool_calls.length, 2);
  });
});

describe('timeouts', () => {
  let gw;
  before(async () => { gw = await startAigw({ fakes, env: { AIGW_FIRST_BYTE_TIMEOUT_MS: '400', AIGW_IDLE_TIMEOUT_MS: '400', AIGW_RETRY_MAX: '1' } }); });
  after(async () => { await gw?.stop(); });
  beforeEach(async () => { await fakes.reset(); });

  test('no response headers within the first-byte timeout -> 504 timeout; upstream abandoned', async () => {
    const mark = uniq('hold [[fake:timeout]]');
    const t0 = Date.now();
    const res = await gw.generate(genBody('openai', 'gpt-4o-mini', mark, { stream: true }));
    const err = expectJsonError(res, 504, 'timeout');
    assert.equal(err.retryable, true);
    const ups = await upstreamWith(mark, 'openai');
    assert.ok(ups.length >= 1 && ups.length <= 2, `attempts: ${ups.length}`);
    assert.ok(Date.now() - t0 < 4000, 'the timeout is the configured one');
    await waitFor(async () => (await upstreamWith(mark, 'openai')).every((r) => r.aborted), { what: 'upstream connections closed' });
  });

  test('silence inside the body past the idle timeout -> timeout', async () => {
    const mark = uniq('silent [[fake:stall=1500]]');
    const res = await gw.generate(genBody('deepseek', 'deepseek-v4-flash', mark, { stream: true }));
    expectJsonError(res, 504, 'timeout');
  });
});

describe('client disconnects', () => {
  let gw;
  before(async () => { gw = await startAigw({ fakes }); });
  after(async () => { await gw?.stop(); });
  beforeEach(async () => { await fakes.reset(); });

  for (const [provider, model] of [['openai', 'gpt-4o-mini'], ['deepseek', 'deepseek-v4-flash'], ['fal', 'google/gemini-2.5-flash'], ['local', 'llama3.2:3b']]) {
    test(`${provider}: closing the client stream cancels the upstream request`, async () => {
      const mark = uniq('long story [[fake:slow=100,tokens=100]]');
      const ac = new AbortController();
      const r = await gw.fetch('/api/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(genBody(provider, model, mark, { stream: true })), signal: ac.signal });
      assert.equal(r.status, 200);
      let deltas = 0;
      try {
        for await (const ev of sseEvents(r)) {
          if (ev.event === 'delta' && ++deltas === 2) break;
        }
      } finally {
        ac.abort();
      }
      const t0 = Date.now();
      await waitFor(async () => { const [u] = await upstreamWith(mark, provider); return u?.aborted; }, { timeout: 3000, what: 'the fake to see the gateway hang up' });
      assert.ok(Date.now() - t0 < 3000);
      const [u] = await upstreamWith(mark, provider);
      assert.notEqual(u.outcome, 'complete', 'upstream did not run to the end');
    });
  }

  test('non-stream: a client that leaves while waiting cancels the upstream request', async () => {
    const mark = uniq('wait [[fake:timeout]]');
    const ac = new AbortController();
    const p = gw.fetch('/api/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(genBody('eden', 'openai/gpt-4o', mark)), signal: ac.signal }).catch(() => null);
    await waitFor(async () => (await upstreamWith(mark, 'eden')).length === 1, { what: 'upstream call' });
    ac.abort();
    await p;
    await waitFor(async () => (await upstreamWith(mark, 'eden'))[0].aborted, { timeout: 3000, what: 'upstream abort' });
  });

  test('the gateway keeps serving after clients vanished', async () => {
    await sleep(50);
    const res = await gw.generate(genBody('openai', 'gpt-4o-mini', uniq('still there?')));
    assert.equal(res.status, 200);
  });
});
