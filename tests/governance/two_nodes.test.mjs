// Two teamhub nodes on different ports sharing one PostgreSQL database, one Redis and one aigw
// (issue 6): an org rate limit admits exactly its limit across both nodes within a minute, and
// an org budget holds across both (no overshoot, usage verify exact).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startAigw, startPostgres, startTeamhub, startRedis, login, tokenClient, reservationOf, usd, fireChats, outcomes, verify, assertVerified, hubQuery, pico } from './lib.mjs';

const MODEL = 'simulator/sim-fast';
const TEXT = 'One short line, please.';

describe('two teamhub nodes sharing PostgreSQL and Redis', () => {
  let gw, db, redis, node1, node2, api1, api2, admin, orgId;

  before(async () => {
    db = await startPostgres();
    assert.ok(db, 'PostgreSQL is required for this suite (TEST_PG_URL or pg_tmp.sh)');
    redis = startRedis();
    gw = await startAigw({});
    const env = { REDIS_URL: redis.url, TEAMHUB_MAX_OUTPUT_TOKENS: '16' };
    node1 = await startTeamhub({ gw, database: db.url, env });
    // the second node's --seed-demo resets the demo passwords: its credentials are the valid ones
    node2 = await startTeamhub({ gw, database: db.url, env });
    assert.notEqual(node1.url, node2.url);
    admin = await login(node2, node2.admin);
    const member1 = await login(node1, node2.member);
    const member2 = await login(node2, node2.member);
    api1 = await tokenClient(node1, member1);
    api2 = await tokenClient(node2, member2);
    orgId = (await admin.get('/api/auth/me')).json.user.active_org_id;
  });
  after(async () => {
    await node1?.stop();
    await node2?.stop();
    await gw?.stop();
    await db?.stop();
    redis?.stop();
  });

  it('both nodes report the Redis limiter', async () => {
    const r = await admin.get(`/api/organizations/${orgId}/limits`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.backend, 'redis');
    const status = await api1.get('/api/governance/status');
    assert.equal(status.json.limits_backend, 'redis');
  });

  it('admits exactly the org rpm across both nodes', async () => {
    // 5 a minute refills one request every 12 s: the burst below ends long before that
    const RPM = 5;
    const put = await admin.put(`/api/organizations/${orgId}/limits`, { rpm: RPM });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.rpm, RPM);
    const targets = [];
    for (let i = 0; i < 24; i++) {
      const onFirst = i % 2 === 0;
      targets.push({ hub: onFirst ? node1 : node2, api: onFirst ? api1 : api2, id: `rpm-${i}`, text: TEXT, model: MODEL });
    }
    const started = Date.now();
    const { ok, refused } = outcomes(await fireChats(targets));
    assert.ok(Date.now() - started < 12000, 'the burst took longer than one refill');
    assert.deepEqual(Object.keys(refused), ['rate_limited']);
    assert.equal(ok.length, RPM, `${ok.length} admitted across the nodes, limit ${RPM}`);
    assert.equal(refused.rate_limited.length, targets.length - RPM);
    // both nodes refused (the limit is shared, not per node)
    const refusedBy = new Set(refused.rate_limited.map((r) => r.hub.url));
    assert.equal(refusedBy.size, 2, 'only one node refused');
    for (const r of refused.rate_limited) {
      assert.equal(r.status, 429);
      assert.equal(r.json.error.limit_name, 'org_rpm');
      assert.equal(r.json.error.limit, RPM);
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.equal(r.headers.get('ratelimit-limit'), String(RPM));
      assert.equal(r.headers.get('ratelimit-remaining'), '0');
    }
    const clear = await admin.put(`/api/organizations/${orgId}/limits`, { rpm: null });
    assert.equal(clear.status, 200, clear.text);
    assert.equal(clear.json.rpm, null);
  });

  it('holds the org budget across both nodes', async () => {
    const reservation = await reservationOf(api1, MODEL, TEXT);
    const limit = reservation * 10n;
    const b = await admin.put(`/api/organizations/${orgId}/budget`, { monthly_limit_usd: usd(limit) });
    assert.equal(b.status, 200, b.text);
    const already = pico(b.json.spent_usd);
    const targets = [];
    for (let i = 0; i < 60; i++) {
      const onFirst = i % 2 === 0;
      targets.push({ hub: onFirst ? node1 : node2, api: onFirst ? api1 : api2, id: `budget-${i}`, text: TEXT, model: MODEL });
    }
    const { ok, refused } = outcomes(await fireChats(targets));
    assert.deepEqual(Object.keys(refused), ['budget_exceeded']);
    assert.ok(ok.length >= 1 && refused.budget_exceeded.length >= 30, `${ok.length} admitted`);
    const settled = BigInt(hubQuery(node1, "SELECT COALESCE(SUM(settled_pico), 0) AS total FROM budget_reservations")[0].total);
    assert.ok(settled <= limit, `settled ${settled} > limit ${limit}`);
    const budget = (await admin.get(`/api/organizations/${orgId}/budget`)).json;
    assert.equal(pico(budget.spent_usd), settled);
    assert.ok(pico(budget.spent_usd) >= already);
    assert.equal(pico(budget.reserved_usd), 0n);
    assertVerified(await verify(node1, gw));
  });
});
