// Budgets under concurrency (issue 6): 200 chats fired at once at an org budget that covers
// about 50 of them, on SQLite and on PostgreSQL. The settled total never exceeds the budget,
// every refusal is a 402 budget_exceeded that names the remaining amount and cheaper allowed
// models that would fit, no reservation is left behind, and `teamhub usage verify` agrees with
// aigw's usage_log to the pico-USD.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startAigw, startPostgres, startTeamhub, sessions, reservationOf, usd, fireChats, outcomes, verify, assertVerified, hubQuery, pico } from './lib.mjs';

const CHATS = 200;
const COVERED = 50n;
const MODEL = 'simulator/sim-chat';
const ALLOWED = ['simulator/sim-chat', 'simulator/sim-fast', 'simulator/sim-reasoning'];
const TEXT = 'Say something short about budgets.';

const backends = [{ name: 'sqlite', database: async () => ({ url: 'sqlite', stop: async () => {} }) }];
backends.push({ name: 'postgres', database: startPostgres });

for (const backend of backends) {
  describe(`budget race on ${backend.name}`, () => {
    let gw, hub, db, s, reservation, limit;

    before(async () => {
      db = await backend.database();
      assert.ok(db, 'PostgreSQL is required for this suite (TEST_PG_URL or pg_tmp.sh)');
      gw = await startAigw({});
      // a small maxTokens keeps each reservation close to what a short answer really costs
      hub = await startTeamhub({ gw, database: db.url, env: { TEAMHUB_MAX_OUTPUT_TOKENS: '16', TEAMHUB_THREADS: '2' } });
      s = await sessions(hub);
      const r = await s.admin.put(`/api/organizations/${s.orgId}/models`, { allowed_models: ALLOWED });
      assert.equal(r.status, 200, r.text);
      reservation = await reservationOf(s.memberApi, MODEL, TEXT);
      limit = reservation * COVERED;
      const b = await s.admin.put(`/api/organizations/${s.orgId}/budget`, { monthly_limit_usd: usd(limit) });
      assert.equal(b.status, 200, b.text);
      assert.equal(pico(b.json.monthly_limit_usd), limit);
    });
    after(async () => {
      await hub?.stop();
      await gw?.stop();
      await db?.stop();
    });

    it(`never settles past the budget with ${CHATS} concurrent chats`, async () => {
      const targets = [];
      for (let i = 0; i < CHATS; i++) targets.push({ hub, api: i % 2 ? s.memberApi : s.adminApi, id: `race-${backend.name}-${i}`, text: TEXT, model: MODEL });
      const { ok, refused } = outcomes(await fireChats(targets));
      const codes = Object.keys(refused);
      assert.deepEqual(codes.filter((c) => c !== 'budget_exceeded'), [], `unexpected refusals: ${codes}`);
      const denied = refused.budget_exceeded ?? [];
      assert.equal(ok.length + denied.length, CHATS);
      assert.ok(ok.length >= 1, 'nothing was admitted');
      assert.ok(denied.length >= CHATS / 2, `only ${denied.length} refusals: the budget covers about ${COVERED}`);

      // the ledger: settled spend within the limit, and what the budget row says
      const settled = hubQuery(hub, "SELECT COALESCE(SUM(settled_pico), 0) AS total, COUNT(*) AS n FROM budget_reservations WHERE state IN ('settled', 'released')")[0];
      assert.ok(BigInt(settled.total) <= limit, `settled ${settled.total} > limit ${limit}`);
      assert.equal(Number(settled.n), ok.length, 'one closed reservation per answered chat');
      const answered = ok.reduce((sum, r) => sum + pico(r.chunks.find((c) => c.type === 'finish').messageMetadata.cost_usd), 0n);
      assert.equal(answered, BigInt(settled.total), 'the costs the clients saw are the settled costs');

      const budget = (await s.admin.get(`/api/organizations/${s.orgId}/budget`)).json;
      assert.equal(pico(budget.spent_usd), BigInt(settled.total));
      assert.equal(pico(budget.reserved_usd), 0n, 'a hold is still counted');
      assert.equal(pico(budget.remaining_usd), limit - BigInt(settled.total));

      // every refusal names its reason and the numbers behind it
      let namedFast = false;
      for (const r of denied) {
        assert.equal(r.status, 402);
        const e = r.json.error;
        assert.equal(e.budget_scope, 'org');
        assert.equal(pico(e.limit_usd), limit);
        assert.equal(pico(e.required_usd), reservation);
        assert.ok(pico(e.remaining_usd) < reservation, `refused with ${e.remaining_usd} left for ${e.required_usd}`);
        assert.match(e.message, /monthly budget has [\d.]+ USD left/);
        assert.ok(Array.isArray(e.cheaper_models));
        for (const m of e.cheaper_models) {
          assert.ok(ALLOWED.includes(m.id), `${m.id} is not allowed in the org`);
          assert.notEqual(m.id, MODEL);
          assert.ok(pico(m.max_cost_usd) <= pico(e.remaining_usd), `${m.id} does not fit`);
        }
        if (e.cheaper_models.some((m) => m.id === 'simulator/sim-fast')) namedFast = true;
      }
      assert.ok(namedFast, 'no refusal suggested the cheaper simulator/sim-fast');
      const refusalRows = hubQuery(hub, "SELECT COUNT(*) AS n FROM model_usage_analytics WHERE error_code = 'budget_exceeded'")[0];
      assert.equal(Number(refusalRows.n), denied.length, 'each refusal is recorded in the ledger');
      // a refused turn stored nothing: no conversation, no user message
      const convs = hubQuery(hub, "SELECT COUNT(*) AS n FROM conversations WHERE id LIKE 'race-%'")[0];
      assert.equal(Number(convs.n), ok.length);

      assertVerified(await verify(hub, gw));
    });

    it('lets a cheaper model through where the requested one is refused', async () => {
      const budget = (await s.admin.get(`/api/organizations/${s.orgId}/budget`)).json;
      const fast = await reservationOf(s.memberApi, 'simulator/sim-fast', TEXT);
      assert.ok(fast <= pico(budget.remaining_usd), 'the race left no room for sim-fast');
      const est = await s.memberApi.post('/api/chat/estimate', { draft: TEXT, model: MODEL });
      assert.equal(est.json.budget.fits, pico(est.json.budget.required_usd) <= pico(budget.remaining_usd));
      const { ok } = outcomes(await fireChats([{ hub, api: s.memberApi, id: `cheap-${backend.name}`, text: TEXT, model: 'simulator/sim-fast' }]));
      assert.equal(ok.length, 1);
      assertVerified(await verify(hub, gw));
    });
  });
}
