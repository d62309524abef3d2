// POST /api/generate/:id/cancel: a caller stops its own running generation. The upstream call is
// cancelled at once (the fake provider sees its socket closed), and the answer still ends
// normally - usage, then done with finish_reason "cancelled" - so the caller is billed exactly
// what the gateway logs. Works from any connection (the call may live on another loop), and only
// for the key that started the call.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { AIGW_BIN, genBody, jsonEvents, parseSSE, startAigw, startFakes, usageRow, waitFor } from './lib.mjs';

let fakes;
let gw;

before(async () => {
  fakes = await startFakes();
  gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SIM_SPEED: '1', AIGW_THREADS: '2' } });
});
after(async () => {
  await gw?.stop();
  await fakes?.stop();
});

/** Starts a streamed generation; resolves `id` at the start event and `events` at the end. */
function stream(body) {
  let resolveId;
  const id = new Promise((r) => { resolveId = r; });
  const events = (async () => {
    const res = await gw.fetch('/api/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      const m = text.match(/"id":"(gen_[0-9a-z]+)"/);
      if (m) resolveId(m[1]);
    }
    return jsonEvents(parseSSE(text).events);
  })();
  return { id, events };
}

const cancel = (id, headers = {}) => gw.fetch(`/api/generate/${id}/cancel`, { method: 'POST', headers });

describe('cancel a running generation', () => {
  test('simulator streams on any loop end with finish_reason cancelled and exact usage rows', async () => {
    const streams = Array.from({ length: 6 }, (_, i) => stream(genBody('simulator', 'sim-chat', `cancel me ${i} [[sim:ttft_ms=0,tokens_per_s=20,output_tokens=400]]`, { stream: true })));
    const ids = await Promise.all(streams.map((s) => s.id));
    await new Promise((r) => setTimeout(r, 300));
    for (const id of ids) assert.equal((await cancel(id)).status, 202);
    for (const [i, s] of streams.entries()) {
      const evs = await s.events;
      const usage = evs.find((e) => e.event === 'usage').data;
      const done = evs.at(-1);
      assert.equal(done.event, 'done');
      assert.equal(done.data.finish_reason, 'cancelled');
      assert.ok(!evs.some((e) => e.event === 'error'), 'a cancel is not an error');
      assert.ok(evs.filter((e) => e.event === 'delta').length < 400, 'stopped before the end');
      const row = await usageRow(gw, ids[i]);
      assert.equal(row.error_code, null);
      assert.equal(BigInt(row.cost_pico), BigInt(Math.round(Number(usage.cost_usd) * 1e12)), 'the row holds the cost the caller saw');
      assert.equal(Number(row.output_tokens), usage.output_tokens);
    }
  });

  test('an HTTP provider call is aborted upstream at once', async () => {
    const mark = `cancel upstream ${Date.now()}`;
    const s = stream(genBody('openai', 'gpt-4o-mini', `${mark} [[fake:slow=100,tokens=200]]`, { stream: true }));
    const id = await s.id;
    assert.equal((await cancel(id)).status, 202);
    const evs = await s.events;
    assert.equal(evs.at(-1).data.finish_reason, 'cancelled');
    await waitFor(async () => {
      const reqs = await fakes.chatRequests('openai');
      return reqs.filter((r) => JSON.stringify(r.body).includes(mark)).every((r) => r.aborted);
    }, { timeout: 3000, what: 'the upstream call to be closed' });
  });

  test('only the key that started a call may cancel it; unknown ids are 404', async () => {
    const r = spawnSync(AIGW_BIN, ['keys', 'create', '--name', 'other'], { env: gw.env, cwd: gw.tmp, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const other = r.stdout.trim();
    await waitFor(async () => (await gw.fetch('/healthz', { headers: { authorization: `Bearer ${other}` } })).status === 200 &&
      (await gw.fetch('/api/models', { headers: { authorization: `Bearer ${other}` } })).status === 200,
    { timeout: 12000, interval: 200, what: 'the new key to load' });
    const s = stream(genBody('simulator', 'sim-chat', 'mine [[sim:ttft_ms=0,tokens_per_s=20,output_tokens=60]]', { stream: true }));
    const id = await s.id;
    const theirs = await cancel(id, { authorization: `Bearer ${other}` });
    assert.equal(theirs.status, 404, "another key's call looks like no call at all");
    const evs = await s.events;
    assert.equal(evs.at(-1).data.finish_reason, 'stop', "another key's cancel had no effect");
    const unknown = await cancel('gen_00000000000000000000000000');
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'not_found');
    const anon = await gw.fetch(`/api/generate/${id}/cancel`, { method: 'POST', auth: false });
    assert.equal(anon.status, 401);
  });
});
