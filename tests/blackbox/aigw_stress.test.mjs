// aigw under load and under fire, black-box: 200 streamed requests at once (simulator, a fake
// provider and the /v1 surface) all complete with their own, whole, non-interleaved content and
// exactly one usage row each; a storm of bad clients and misbehaving providers (malformed and
// oversized bodies, raw garbage, half-sent requests, clients that vanish mid-stream, upstream
// streams that are cut, garbage, oversized) running beside good traffic, after which every good
// answer is exact, every bad one carries its documented error, the process is still up and every
// generation is on record once; and the whole-request deadline (AIGW_REQUEST_TIMEOUT_MS), before
// and after the first byte.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { checkGenerateStream, dbQuery, expectJsonError, genBody, parseSSE, sleep, sseEvents, startAigw, startFakes, usageRow, waitFor } from './lib.mjs';

let fakes;
before(async () => { fakes = await startFakes(); });
after(async () => { await fakes?.stop(); });

const RUN = `${process.pid}_${Date.now() % 100000}`;

/** Generation requests upstream whose body mentions mark. */
async function upstreamWith(mark, provider) {
  return (await fakes.chatRequests(provider)).filter((r) => JSON.stringify(r.body).includes(mark));
}

/** usage_log rows grouped by metadata.conversation_id (one query, parsed here). */
function rowsByConversation(gw) {
  const byConv = new Map();
  for (const r of dbQuery(gw, 'SELECT request_id, http_status, error_code, stream, output_tokens, metadata FROM usage_log')) {
    const c = r.metadata ? JSON.parse(r.metadata).conversation_id : undefined;
    if (!c) continue;
    if (!byConv.has(c)) byConv.set(c, []);
    byConv.get(c).push(r);
  }
  return byConv;
}

/** Body with a unique conversation id, so its usage row can be found. */
function tagged(body, conv) {
  body.metadata = { ...body.metadata, conversation_id: conv };
  return body;
}

/** Text and ids of a /v1 stream: asserts one id throughout, [DONE] last, usage chunk present. */
function checkV1Stream(raw) {
  const events = parseSSE(raw).events;
  assert.equal(events.at(-1)?.data, '[DONE]', 'a /v1 stream ends with [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, `one completion id per stream: ${[...ids].join(',')}`);
  let text = '';
  let usage = null;
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.choices.length) text += c.choices[0].delta.content ?? '';
    if (c.usage) usage = c.usage;
  }
  assert.ok(usage, 'usage chunk (include_usage)');
  return { text, usage, id: [...ids][0] };
}

describe('200 parallel streamed requests', () => {
  let gw;
  before(async () => {
    // Real simulator speed: the streams last a few hundred ms each and overlap for real.
    gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SIM_SPEED: '1', HTTP_ACCESS_LOG: '0', AIGW_LOG_LEVEL: 'warn' } });
  });
  after(async () => { await gw?.stop(); });

  test('all complete with their own exact content, non-interleaved, one usage row each', async () => {
    const N_SIM = 80;
    const N_FAKE = 80;
    const N_V1 = 40;
    const words = (i) => Array.from({ length: 16 }, (_, w) => `r${i}w${w}`).join(' ');
    const jobs = [];
    for (let i = 0; i < N_SIM; i++) {
      const conv = `par_${RUN}_sim_${i}`;
      const body = tagged(genBody('simulator', 'sim-chat', `parallel sim ${i}`, { stream: true, featureOptions: { simulate: { reply: words(i), ttft_ms: 20, tokens_per_s: 60 } } }), conv);
      jobs.push({ conv, kind: 'sim', expected: words(i), run: () => gw.generate(body) });
    }
    for (let i = 0; i < N_FAKE; i++) {
      const conv = `par_${RUN}_fake_${i}`;
      const mark = `parallel provider ${RUN} n${i}`;
      const body = tagged(genBody('openai', 'gpt-4o-mini', `${mark} [[fake:slow=15,tokens=20]]`, { stream: true }), conv);
      jobs.push({ conv, kind: 'fake', mark, run: () => gw.generate(body) });
    }
    for (let i = 0; i < N_V1; i++) {
      const conv = `par_${RUN}_v1_${i}`;
      const reply = words(1000 + i);
      const body = { model: 'simulator/sim-chat', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: `v1 ${i}` }], simulate: { reply, ttft_ms: 20, tokens_per_s: 60 }, metadata: { conversation_id: conv } };
      jobs.push({ conv, kind: 'v1', expected: reply, run: () => gw.chat(body) });
    }
    const t0 = Date.now();
    const results = await Promise.all(jobs.map((j) => j.run()));
    const elapsed = Date.now() - t0;

    const ids = new Set();
    for (const [k, job] of jobs.entries()) {
      const res = results[k];
      assert.equal(res.status, 200, `${job.conv}: ${res.raw.slice(0, 200)}`);
      if (job.kind === 'v1') {
        const s = checkV1Stream(res.raw);
        assert.equal(s.text, job.expected, `${job.conv}: its own text, whole and in order`);
        assert.equal(s.usage.completion_tokens, 16);
        ids.add(s.id);
        continue;
      }
      const s = checkGenerateStream(res.events);
      assert.equal(s.error, null, `${job.conv}: ${JSON.stringify(s.error)}`);
      ids.add(s.start.id);
      if (job.kind === 'sim') {
        assert.equal(s.text, job.expected, `${job.conv}: its own text, whole and in order`);
        assert.equal(s.usage.output_tokens, 16);
      } else {
        const [up] = await upstreamWith(job.mark, 'openai');
        assert.equal(s.text, up.response_text, `${job.conv}: the provider's text, whole and in order`);
        assert.equal(s.usage.output_tokens, up.response_usage.completion_tokens);
      }
    }
    assert.equal(ids.size, jobs.length, 'every answer has its own id');
    // 16 tokens at 60/s is ~270 ms; 200 of them one after the other would take ~50 s.
    assert.ok(elapsed < 15000, `200 streams took ${elapsed} ms: they ran in parallel`);

    const byConv = await waitFor(() => {
      const m = rowsByConversation(gw);
      return jobs.every((j) => m.has(j.conv)) ? m : null;
    }, { timeout: 5000, what: 'a usage row for every stream' });
    for (const job of jobs) {
      const rows = byConv.get(job.conv);
      assert.equal(rows.length, 1, `${job.conv}: exactly one usage row`);
      assert.equal(Number(rows[0].http_status), 200);
      assert.equal(Number(rows[0].stream), 1);
    }
    const dup = dbQuery(gw, 'SELECT request_id, COUNT(*) AS n FROM usage_log GROUP BY request_id HAVING COUNT(*) > 1');
    assert.deepEqual(dup, [], 'no request id recorded twice');
  });
});

describe('a storm of bad clients and bad providers beside good traffic', () => {
  const MAX_BODY = 65536;
  let gw;
  before(async () => {
    // No retries: every upstream fault shows its own error at once. Each provider gets few
    // enough faults (3 of 10 calls) that no circuit breaker opens and changes the answers.
    gw = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '0', AIGW_MAX_BODY_BYTES: String(MAX_BODY), AIGW_SIM_SPEED: '1', HTTP_ACCESS_LOG: '0', AIGW_LOG_LEVEL: 'warn' } });
  });
  after(async () => { await gw?.stop(); });

  const TARGETS = [['openai', 'gpt-4o-mini'], ['deepseek', 'deepseek-v4-flash'], ['fal', 'google/gemini-2.5-flash'], ['eden', 'openai/gpt-4o'], ['local', 'llama3.2:3b']];

  /** Raw bytes on a fresh socket; resolves with whatever came back before the server closed. */
  function rawGarbage(bytes, { hangUpAfterMs } = {}) {
    return new Promise((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => { got += d.toString('latin1'); });
      s.on('error', () => {});
      s.on('close', () => resolve(got));
      s.on('connect', () => {
        s.write(bytes);
        if (hangUpAfterMs !== undefined) setTimeout(() => s.destroy(), hangUpAfterMs);
      });
    });
  }

  /** A stream the client abandons after two deltas. */
  async function vanishingClient(body) {
    const ac = new AbortController();
    const r = await gw.fetch('/api/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: ac.signal });
    assert.equal(r.status, 200);
    let deltas = 0;
    try {
      for await (const ev of sseEvents(r)) if (ev.event === 'delta' && ++deltas === 2) break;
    } finally {
      ac.abort();
    }
    return deltas;
  }

  test('good answers stay exact, bad ones get their documented error, the gateway stays up, every generation is on record once', async () => {
    const checks = [];
    const generations = []; // {conv, status, error_code} expected in usage_log
    let n = 0;
    const conv = (label) => `storm_${RUN}_${label}_${++n}`;

    // Good traffic: simulator streams with known text, and provider streams.
    for (let i = 0; i < 40; i++) {
      const c = conv('good_sim');
      const reply = Array.from({ length: 12 }, (_, w) => `g${i}w${w}`).join(' ');
      generations.push({ conv: c, status: 200 });
      checks.push(gw.generate(tagged(genBody('simulator', 'sim-chat', `good ${i}`, { stream: true, featureOptions: { simulate: { reply, ttft_ms: 10, tokens_per_s: 80 } } }), c)).then((res) => {
        assert.equal(res.status, 200, res.raw.slice(0, 200));
        const s = checkGenerateStream(res.events);
        assert.equal(s.error, null);
        assert.equal(s.text, reply);
      }));
    }
    for (const [provider, model] of TARGETS) {
      for (let i = 0; i < 6; i++) {
        const c = conv(`good_${provider}`);
        const mark = `storm good ${RUN} ${c}`;
        generations.push({ conv: c, status: 200 });
        checks.push(gw.generate(tagged(genBody(provider, model, `${mark} [[fake:slow=5]]`, { stream: i % 2 === 0 }), c)).then(async (res) => {
          assert.equal(res.status, 200, `${provider}: ${res.raw.slice(0, 200)}`);
          const text = res.events ? checkGenerateStream(res.events).text : res.json.output.text;
          const [up] = await upstreamWith(mark, provider);
          assert.equal(text, up.response_text, `${provider} good answer is exact`);
        }));
      }

      // Upstream faults, three per provider: cut mid-stream, garbage, oversized.
      const cutConv = conv(`cut_${provider}`);
      generations.push({ conv: cutConv, status: 502, code: 'upstream_truncated' });
      checks.push(gw.generate(tagged(genBody(provider, model, `storm cut ${cutConv} [[fake:cut]]`, { stream: true }), cutConv)).then((res) => {
        assert.equal(res.status, 200);
        const s = checkGenerateStream(res.events);
        assert.equal(s.error?.code, 'upstream_truncated', `${provider} cut: ${JSON.stringify(s.error)}`);
      }));
      const garbageConv = conv(`garbage_${provider}`);
      generations.push({ conv: garbageConv, code: 'provider_error' });
      checks.push(gw.generate(tagged(genBody(provider, model, `storm garbage ${garbageConv} [[fake:garbage]]`), garbageConv)).then((res) => {
        expectJsonError(res, 502, 'provider_error');
      }));
      const hugeConv = conv(`huge_${provider}`);
      const hugeStream = provider === 'deepseek' || provider === 'fal' || provider === 'local';
      generations.push({ conv: hugeConv, code: 'provider_error' });
      checks.push(gw.generate(tagged(genBody(provider, model, `storm huge ${hugeConv} [[fake:huge]]`, { stream: hugeStream }), hugeConv)).then((res) => {
        if (hugeStream) {
          assert.equal(res.status, 200);
          const s = checkGenerateStream(res.events);
          assert.equal(s.error?.code, 'provider_error', `${provider} huge event: ${JSON.stringify(s.error)}`);
          assert.ok(s.text.length < 4 << 20, 'the oversized event never reached the client');
        } else {
          const err = expectJsonError(res, 502, 'provider_error');
          assert.equal(err.retryable, false, 'an oversized response is not retryable');
        }
      }));

      // A client that vanishes mid-stream: the upstream is cancelled, the call recorded.
      const goneConv = conv(`gone_${provider}`);
      const goneMark = `storm gone ${goneConv}`;
      generations.push({ conv: goneConv, status: 499, code: 'client_closed', mark: goneMark, provider });
      checks.push(vanishingClient(tagged(genBody(provider, model, `${goneMark} [[fake:slow=50,tokens=200]]`, { stream: true }), goneConv)).then(async (deltas) => {
        assert.equal(deltas, 2);
        await waitFor(async () => (await upstreamWith(goneMark, provider))[0]?.aborted, { timeout: 3000, what: `${provider} upstream cancelled after the client left` });
      }));
    }

    // Bad clients: no generation, no usage row.
    for (let i = 0; i < 10; i++) {
      checks.push(gw.generate(`{"provider":"simulator","model":"sim-fast","input":{"messages":[{"role":"user","content":"broken ${i}"`, { raw: true }).then((res) => {
        const err = expectJsonError(res, 400, 'invalid_request');
        assert.match(err.message, /not valid JSON/);
      }));
      const big = JSON.stringify(tagged(genBody('simulator', 'sim-fast', 'x'.repeat(MAX_BODY)), `storm_${RUN}_too_big_${i}`));
      checks.push(gw.generate(big, { raw: true }).then((res) => { expectJsonError(res, 413, 'payload_too_large'); }).catch((e) => {
        // The gateway may answer 413 and close before the whole body was written: then the
        // client sees the connection go, which is also fine - but it must not be a 200.
        assert.match(String(e.cause?.code ?? e.message), /EPIPE|ECONNRESET|UND_ERR_SOCKET|other side closed|fetch failed/, String(e));
      }));
      checks.push(rawGarbage(Buffer.from(Array.from({ length: 200 }, (_, k) => (k * 37 + i * 11) % 256))).then((got) => {
        assert.match(got, /^HTTP\/1\.1 (400|501|505) /, `garbage bytes answered with an error: ${JSON.stringify(got.slice(0, 80))}`);
        assert.match(got, /"error":\{"code":"/);
      }));
      checks.push(rawGarbage(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nContent-Length: 900\r\n\r\n{"provider":"simul`, { hangUpAfterMs: 50 }).then((got) => {
        assert.equal(got, '', 'a half-sent request gets no answer and costs nothing');
      }));
    }

    const outcomes = await Promise.allSettled(checks);
    const failures = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason?.message ?? String(o.reason));
    assert.deepEqual(failures, [], `${failures.length} of ${checks.length} checks failed${gw.tail()}`);

    // Still up and serving.
    const after = await gw.generate(genBody('simulator', 'sim-fast', 'after the storm'));
    assert.equal(after.status, 200);
    assert.equal((await gw.fetch('/healthz')).status, 200);

    // Every generation exactly once, with its outcome; nothing for the refused requests.
    const byConv = await waitFor(() => {
      const m = rowsByConversation(gw);
      return generations.every((g) => m.has(g.conv)) ? m : null;
    }, { timeout: 5000, what: 'usage rows for every generation of the storm' });
    for (const g of generations) {
      const rows = byConv.get(g.conv);
      assert.equal(rows.length, 1, `${g.conv}: exactly one row, got ${JSON.stringify(rows)}`);
      if (g.status === 200) assert.equal(Number(rows[0].http_status), 200, `${g.conv}: ${JSON.stringify(rows[0])}`);
      if (g.code) assert.equal(rows[0].error_code, g.code, `${g.conv}: ${JSON.stringify(rows[0])}`);
      if (g.status === 499) assert.equal(Number(rows[0].http_status), 499);
    }
    for (const [c] of byConv) assert.ok(!c.includes('_too_big_'), 'an oversized request is not a generation');
  });
});

describe('oversized provider responses', () => {
  let gw;
  before(async () => { gw = await startAigw({ fakes, providers: ['openai', 'deepseek'], env: { AIGW_RETRY_MAX: '2', AIGW_RETRY_BASE_MS: '10' } }); });
  after(async () => { await gw?.stop(); });

  test('a stream event over the 4 MiB ceiling -> event: error provider_error naming it, not retried', async () => {
    const mark = `huge event ${RUN}`;
    const res = await gw.generate(genBody('deepseek', 'deepseek-chat', `${mark} [[fake:huge]]`, { stream: true }));
    const s = checkGenerateStream(res.events);
    assert.equal(s.error?.code, 'provider_error', JSON.stringify(s.error));
    assert.match(s.error.message, /larger than the gateway accepts/);
    assert.ok(s.text.length < 4 << 20, 'the oversized event never reached the client');
    assert.equal((await upstreamWith(mark, 'deepseek')).length, 1);
  });

  // docs/API.md (Errors, provider_error): "an event over the 4 MiB ceiling ... not retryable".
  test('that error event says retryable: false', async () => {
    const res = await gw.generate(genBody('openai', 'gpt-4.1', `huge event flag ${RUN} [[fake:huge]]`, { stream: true }));
    const s = checkGenerateStream(res.events);
    assert.equal(s.error?.code, 'provider_error');
    assert.equal(s.error.retryable, false);
  });

  // docs/API.md (Errors, provider_error): "a response over the size ceiling: ... not retryable".
  test('a non-stream body over the size ceiling -> 502 provider_error saying so, not retryable, not retried', async () => {
    const mark = `huge body ${RUN}`;
    const res = await gw.generate(genBody('openai', 'gpt-4o-mini', `${mark} [[fake:huge]]`));
    const err = expectJsonError(res, 502, 'provider_error');
    assert.match(err.message, /larger than|too large/, err.message);
    assert.equal(err.retryable, false);
    assert.equal((await upstreamWith(mark, 'openai')).length, 1, 'a 17 MiB answer is not fetched again');
  });
});

describe('the whole-request deadline (AIGW_REQUEST_TIMEOUT_MS)', () => {
  const DEADLINE = 800;
  let gw;
  before(async () => {
    gw = await startAigw({ fakes, providers: ['openai', 'deepseek'], env: { AIGW_REQUEST_TIMEOUT_MS: String(DEADLINE), AIGW_RETRY_MAX: '3', AIGW_RETRY_BASE_MS: '400' } });
  });
  after(async () => { await gw?.stop(); });

  test('no answer before the deadline -> 504 timeout, not retryable, upstream cancelled, recorded', async () => {
    const mark = `deadline silent ${RUN}`;
    const t0 = Date.now();
    const res = await gw.generate(genBody('openai', 'gpt-4o-mini', `${mark} [[fake:timeout]]`));
    const elapsed = Date.now() - t0;
    const err = expectJsonError(res, 504, 'timeout');
    assert.equal(err.retryable, false, 'the deadline passed: retrying the same request cannot help');
    assert.ok(elapsed >= DEADLINE - 50 && elapsed < DEADLINE + 1500, `answered after ${elapsed} ms (deadline ${DEADLINE})`);
    await waitFor(async () => (await upstreamWith(mark, 'openai')).every((r) => r.aborted), { timeout: 2000, what: 'upstream closed' });
    const rows = await waitFor(() => { const r = dbQuery(gw, `SELECT * FROM usage_log WHERE error_code = 'timeout'`); return r.length ? r : null; }, { what: 'usage row of the timed-out call' });
    assert.equal(Number(rows[0].http_status), 504);
  });

  test('retries stop at the deadline', async () => {
    const mark = `deadline retries ${RUN}`;
    await fakes.script(Array(10).fill('503'), 'deepseek');
    const t0 = Date.now();
    const res = await gw.generate(genBody('deepseek', 'deepseek-chat', mark));
    const elapsed = Date.now() - t0;
    const attempts = (await upstreamWith(mark, 'deepseek')).length;
    // Backoffs of ~400, ~800, ~1600 ms cannot all fit in 800 ms: the answer is the deadline's
    // 504 timeout (not retryable), or the last provider error when aigw sees that the next wait
    // would overrun the deadline - in both cases on time and without the remaining attempts.
    if (res.status === 504) assert.equal(expectJsonError(res, 504, 'timeout').retryable, false);
    else expectJsonError(res, 503, 'model_unavailable');
    assert.ok(attempts < 4, `${attempts} attempts`);
    assert.ok(elapsed < DEADLINE + 1500, `gave up after ${elapsed} ms (deadline ${DEADLINE}); retries do not extend it`);
    await fakes.reset();
  });

  test('a stream still running at the deadline ends with event: error (timeout) and done', async () => {
    const mark = `deadline stream ${RUN}`;
    const t0 = Date.now();
    const res = await gw.generate(genBody('openai', 'gpt-4.1', `${mark} [[fake:slow=100,tokens=100]]`, { stream: true }));
    const elapsed = Date.now() - t0;
    assert.equal(res.status, 200);
    const s = checkGenerateStream(res.events);
    assert.ok(s.text.length > 0, 'some text came first');
    assert.equal(s.error?.code, 'timeout', JSON.stringify(s.error));
    assert.equal(s.error.retryable, false);
    assert.equal(s.done.finish_reason, 'error');
    assert.ok(elapsed < DEADLINE + 1500, `stream ended after ${elapsed} ms`);
    await waitFor(async () => (await upstreamWith(mark, 'openai'))[0]?.aborted, { timeout: 2000, what: 'upstream closed at the deadline' });
    const row = await usageRow(gw, s.start.id);
    assert.equal(row.error_code, 'timeout');
    assert.ok(Number(row.output_tokens) > 0, 'the tokens sent before the deadline are counted');
  });

  test('a fast call is unaffected by the deadline', async () => {
    await sleep(10);
    const res = await gw.generate(genBody('openai', 'gpt-4o-mini', `deadline fast ${RUN}`));
    assert.equal(res.status, 200, res.raw);
  });
});
