// Every request leaves one usage_log row with exact integer pico-USD cost: successes, retries,
// fallbacks, estimated usage, failures and /v1 calls - on SQLite (the default) and, when a PostgreSQL
// server is available (TEST_PG_URL or local binaries), on PostgreSQL too. Rows are read straight from
// the database file / server, not through the gateway.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { costPico, dbQuery, genBody, registryEntry, startAigw, startFakes, startPostgres, usageRow, waitFor } from './lib.mjs';

let fakes;
before(async () => { fakes = await startFakes(); });
after(async () => { await fakes?.stop(); });

let marker = 0;
const conv = () => `conv_usage_${process.pid}_${++marker}`;

/** The usage row of a /api/generate call made with metadata.conversation_id = c. */
async function rowFor(gw, c) {
  const rows = await waitFor(() => { const r = dbQuery(gw, `SELECT * FROM usage_log WHERE metadata LIKE '%${c}%'`); return r.length ? r : null; }, { what: `usage row for ${c}` });
  assert.equal(rows.length, 1, `one row per request: ${JSON.stringify(rows)}`);
  return rows[0];
}

const big = (v) => BigInt(String(v));

function suite(label, dbOption) {
  describe(`usage_log on ${label}`, () => {
    let gw;
    let db;
    before(async (t) => {
      if (dbOption === 'postgres') {
        db = await startPostgres();
        if (!db) return;
        gw = await startAigw({ fakes, database: db.url, env: { AIGW_RETRY_MAX: '2' } });
      } else {
        gw = await startAigw({ fakes, env: { AIGW_RETRY_MAX: '2' } });
      }
    });
    after(async () => { await gw?.stop(); await db?.stop(); });
    beforeEach(async () => { await fakes.reset(); });
    const need = (t) => { if (!gw) { t.skip('PostgreSQL is not available on this machine'); return false; } return true; };

    test('a successful call: tokens, exact cost, latency, key, metadata', async (t) => {
      if (!need(t)) return;
      const c = conv();
      const body = genBody('openai', 'gpt-4o-mini', 'record me');
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 200, res.raw);
      const row = await rowFor(gw, c);
      assert.equal(row.request_id, res.json.id, 'request_id is the id the client saw');
      assert.equal(row.provider, 'openai');
      assert.equal(row.model, 'gpt-4o-mini');
      assert.equal(row.requested_model, 'openai/gpt-4o-mini');
      for (const k of ['input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens']) assert.equal(Number(row[k]), res.json.usage[k], k);
      const pricing = (await registryEntry(gw, 'openai', 'gpt-4o-mini')).pricing;
      assert.equal(big(row.cost_pico), costPico(pricing, res.json.usage), 'cost_pico is the exact integer cost');
      assert.ok(big(row.cost_pico) > 0n);
      assert.equal(Number(row.cost_estimated), 0);
      assert.equal(Number(row.http_status), 200);
      assert.equal(row.error_code, null);
      assert.equal(Number(row.attempts), 1);
      assert.equal(Number(row.stream), 0);
      assert.ok(Number(row.latency_ms) >= 0 && Number(row.ttft_ms) >= 0);
      assert.ok(row.key_id, 'the gateway key that paid is recorded');
      assert.ok(!String(row.key_id).includes('test-key'), 'the key id is not the secret');
      const md = JSON.parse(row.metadata);
      assert.equal(md.org_id, 'org_bb');
      assert.equal(md.user_id, 'user_bb');
    });

    test('a streamed call with a provider-reported cost (fal)', async (t) => {
      if (!need(t)) return;
      const c = conv();
      const body = genBody('fal', 'google/gemini-2.5-flash', 'record my stream', { stream: true });
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 200);
      const row = await rowFor(gw, c);
      assert.equal(Number(row.stream), 1);
      const [up] = (await fakes.chatRequests('fal'));
      const usage = { input_tokens: up.response_usage.prompt_tokens, cached_input_tokens: 0, output_tokens: up.response_usage.completion_tokens };
      assert.equal(big(row.cost_pico), costPico((await registryEntry(gw, 'fal', 'google/gemini-2.5-flash')).pricing, usage));
      // fal reported usage.cost in USD; the row keeps it in pico-USD beside our own figure.
      const [w, f = ''] = up.response_cost_usd.split('.');
      assert.equal(big(row.provider_cost_pico), BigInt(w) * 10n ** 12n + BigInt(f.padEnd(12, '0')));
    });

    test('retries are counted in attempts', async (t) => {
      if (!need(t)) return;
      const c = conv();
      await fakes.script(['503', 'ok'], 'deepseek');
      const body = genBody('deepseek', 'deepseek-v4-flash', 'retry me');
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 200, res.raw);
      const row = await rowFor(gw, c);
      assert.equal(Number(row.attempts), 2);
      assert.equal(Number(row.http_status), 200);
    });

    test('a fallback records who answered and what was asked', async (t) => {
      if (!need(t)) return;
      const c = conv();
      await fakes.script(['quota'], 'openai');
      const body = genBody('openai', 'gpt-4.1', 'fall back', { extra: { fallbacks: ['simulator/sim-chat'] } });
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 200, res.raw);
      const row = await rowFor(gw, c);
      assert.equal(row.provider, 'simulator');
      assert.equal(row.model, 'sim-chat');
      assert.equal(row.requested_model, 'openai/gpt-4.1');
      assert.equal(row.fallback_from, 'openai/gpt-4.1');
      assert.equal(big(row.cost_pico), costPico((await registryEntry(gw, 'simulator', 'sim-chat')).pricing, res.json.usage));
    });

    test('estimated usage is flagged in the row', async (t) => {
      if (!need(t)) return;
      const c = conv();
      const body = genBody('local', 'llama3.2:3b', 'no usage [[fake:no-usage]]', { stream: true });
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 200);
      const row = await rowFor(gw, c);
      assert.equal(Number(row.cost_estimated), 1);
      assert.ok(Number(row.output_tokens) > 0, 'estimated tokens are recorded, never zero');
    });

    test('a failed call is recorded with its error code and no cost', async (t) => {
      if (!need(t)) return;
      const c = conv();
      await fakes.script(['quota'], 'eden');
      const body = genBody('eden', 'openai/gpt-4o', 'no credit');
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 402);
      const row = await rowFor(gw, c);
      assert.equal(row.error_code, 'provider_quota');
      assert.equal(Number(row.http_status), 402);
      assert.equal(big(row.cost_pico), 0n);
    });

    test('/v1/chat/completions calls are recorded too', async (t) => {
      if (!need(t)) return;
      const res = await gw.chat({ model: 'simulator/sim-fast', messages: [{ role: 'user', content: 'v1 usage' }] });
      assert.equal(res.status, 200, res.raw);
      const esc = res.json.id.replace(/'/g, "''");
      const row = await waitFor(() => dbQuery(gw, `SELECT * FROM usage_log WHERE request_id = '${esc}'`)[0], { what: 'v1 usage row' });
      assert.equal(row.provider, 'simulator');
      assert.equal(Number(row.input_tokens), res.json.usage.prompt_tokens);
      assert.equal(Number(row.output_tokens), res.json.usage.completion_tokens);
    });

    test('a cut stream is recorded once, estimated, with its error', async (t) => {
      if (!need(t)) return;
      const c = conv();
      const body = genBody('openai', 'gpt-4.1-nano', 'cut [[fake:cut]]', { stream: true });
      body.metadata.conversation_id = c;
      const res = await gw.generate(body);
      assert.equal(res.status, 200);
      const row = await rowFor(gw, c);
      assert.equal(row.error_code, 'upstream_truncated');
      assert.equal(Number(row.cost_estimated), 1);
      assert.equal(Number(row.attempts), 1);
    });

    test('the same request id appears exactly once after a burst of calls', async (t) => {
      if (!need(t)) return;
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => gw.generate(genBody('simulator', 'sim-fast', `burst ${i}`))));
      const ids = results.map((r) => r.json.id);
      assert.equal(new Set(ids).size, ids.length, 'ids are unique');
      await waitFor(() => dbQuery(gw, `SELECT request_id FROM usage_log WHERE request_id IN (${ids.map((i) => `'${i}'`).join(',')})`).length === ids.length, { what: 'all burst rows' });
      const dup = dbQuery(gw, `SELECT request_id, COUNT(*) AS n FROM usage_log GROUP BY request_id HAVING COUNT(*) > 1`);
      assert.deepEqual(dup, []);
    });
  });
}

suite('SQLite', 'sqlite');
suite('PostgreSQL', 'postgres');
