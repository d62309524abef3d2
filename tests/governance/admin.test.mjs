// Governance on one teamhub node (issue 6): rate limits answer 429 with Retry-After and
// RateLimit-* headers; admin changes (restrictions, defaults, budgets, limits, flags) land in
// the audit log with before/after; budget alerts are recorded at their thresholds and POSTed to
// a webhook with retries; a client that aborts a chat is billed exactly what aigw logged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { startAigw, startTeamhub, sessions, reservationOf, usd, chat, turn, outcomes, fireChats, verify, assertVerified, hubQuery, pico, waitFor } from './lib.mjs';

const MODEL = 'simulator/sim-chat';
const TEXT = 'A short answer, please.';

/** A webhook receiver that fails the first `failures` POSTs of every alert with 500. */
async function startWebhook(failures) {
  const posts = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const json = JSON.parse(body);
      posts.push({ headers: req.headers, json });
      const attempt = posts.filter((p) => p.json.alert_id === json.alert_id).length;
      res.writeHead(attempt <= failures ? 500 : 200).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, posts, stop: () => new Promise((resolve) => server.close(resolve)) };
}

describe('governance on one node', () => {
  let gw, hub, s, hook;

  before(async () => {
    gw = await startAigw({});
    hub = await startTeamhub({ gw, env: { TEAMHUB_MAX_OUTPUT_TOKENS: '16' } });
    s = await sessions(hub);
    hook = await startWebhook(2);
  });
  after(async () => {
    await hub?.stop();
    await gw?.stop();
    await hook?.stop();
  });

  it('answers 429 rate_limited with Retry-After and RateLimit-* headers', async () => {
    const put = await s.admin.put(`/api/organizations/${s.orgId}/limits`, { user: { rpm: 2 } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.user_rpm, 2);
    assert.equal(put.json.backend, 'in_process');
    const first = await chat(hub, s.memberApi, turn('rl-1', TEXT, { model: MODEL }));
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('ratelimit-limit'), '2');
    assert.equal(first.headers.get('ratelimit-remaining'), '1');
    assert.ok(Number(first.headers.get('ratelimit-reset')) >= 1);
    const second = await chat(hub, s.memberApi, turn('rl-2', TEXT, { model: MODEL }));
    assert.equal(second.status, 200);
    assert.equal(second.headers.get('ratelimit-remaining'), '0');
    const third = await chat(hub, s.memberApi, turn('rl-3', TEXT, { model: MODEL }));
    assert.equal(third.status, 429, third.raw);
    const e = third.json.error;
    assert.equal(e.code, 'rate_limited');
    assert.equal(e.retryable, true);
    assert.equal(e.limit_name, 'user_rpm');
    assert.equal(e.limit, 2);
    assert.ok(e.retry_after_ms > 0 && e.retry_after_ms <= 60000);
    assert.match(e.message, /your limit of 2 requests per minute reached; retry in \d+ s/);
    const retryAfter = Number(third.headers.get('retry-after'));
    assert.equal(retryAfter, Math.ceil(e.retry_after_ms / 1000));
    assert.equal(third.headers.get('ratelimit-limit'), '2');
    assert.equal(third.headers.get('ratelimit-remaining'), '0');
    // the limit is per member: the admin still gets through
    const other = await chat(hub, s.adminApi, turn('rl-admin', TEXT, { model: MODEL }));
    assert.equal(other.status, 200);
    // the status endpoint shows why the member cannot send
    const status = await s.memberApi.get('/api/governance/status');
    assert.equal(status.status, 200, status.text);
    assert.equal(status.json.can_send, false);
    assert.equal(status.json.refusal.code, 'rate_limited');
    assert.equal(status.json.limits.user_rpm.limit, 2);
    assert.equal(status.json.limits.user_rpm.remaining, 0);
    const clear = await s.admin.put(`/api/organizations/${s.orgId}/limits`, { user: { rpm: null } });
    assert.equal(clear.status, 200, clear.text);
    assert.equal((await s.memberApi.get('/api/governance/status')).json.can_send, true);
  });

  it('records admin changes in the audit log with before and after', async () => {
    const base = `/api/organizations/${s.orgId}`;
    const steps = [
      ['PUT', `${base}/models`, { allowed_models: ['simulator/sim-chat', 'simulator/sim-fast'] }, 'org.models.update'],
      ['PUT', `${base}/models`, { default_model: 'simulator/sim-fast' }, 'org.models.update'],
      ['PUT', `${base}/settings`, { feature_flags: { llm_selection: false } }, 'org.settings.update'],
      ['PUT', `${base}/budget`, { monthly_limit_usd: '25.00' }, 'budget.update'],
      ['PUT', `${base}/limits`, { rpm: 600, tpm: 200000 }, 'limits.update'],
    ];
    for (const [method, p, body] of steps) {
      const r = await s.admin.call(method, p, body);
      assert.equal(r.status, 200, `${method} ${p}: ${r.text}`);
    }
    const denied = await s.memberApi.put(`${base}/budget`, { monthly_limit_usd: '1000.00' });
    assert.equal(denied.status, 403, 'a member changed the budget');
    const log = await s.admin.get(`${base}/audit?limit=20`);
    assert.equal(log.status, 200, log.text);
    const entries = log.json.entries.slice().reverse(); // oldest first
    const mine = entries.slice(-steps.length);
    assert.deepEqual(mine.map((e) => e.action), steps.map((st) => st[3]));
    for (const e of mine) {
      assert.equal(e.actor.email, hub.admin.email);
      assert.equal(e.target, `org:${s.orgId}`);
      assert.ok(e.created_at > 0);
      assert.notDeepEqual(e.before, e.after, `${e.action} recorded no change`);
    }
    const [restrict, dflt, flags, budget, limits] = mine;
    assert.equal(restrict.before.allowed_models, null);
    assert.deepEqual(restrict.after.allowed_models, ['simulator/sim-chat', 'simulator/sim-fast']);
    assert.equal(dflt.before.default_model, null);
    assert.equal(dflt.after.default_model, 'simulator/sim-fast');
    assert.equal(flags.before.feature_flags.llm_selection, true);
    assert.equal(flags.after.feature_flags.llm_selection, false);
    assert.equal(budget.before.monthly_limit_usd, null);
    assert.equal(pico(budget.after.monthly_limit_usd), pico('25.00'));
    assert.equal(limits.before.rpm, null);
    assert.equal(limits.after.rpm, 600);
    assert.equal(limits.after.tpm, 200000);
    // filtered by action, and members cannot read it
    const only = await s.admin.get(`${base}/audit?action=budget.`);
    assert.ok(only.json.entries.length >= 1 && only.json.entries.every((e) => e.action.startsWith('budget.')));
    assert.equal((await s.memberApi.get(`${base}/audit`)).status, 403);
    // restore what the later tests rely on
    for (const body of [{ allowed_models: null, default_model: null }]) assert.equal((await s.admin.put(`${base}/models`, body)).status, 200);
    assert.equal((await s.admin.put(`${base}/settings`, { feature_flags: { llm_selection: true } })).status, 200);
    assert.equal((await s.admin.put(`${base}/limits`, { rpm: null, tpm: null })).status, 200);
  });

  it('records alerts at the thresholds and POSTs them to the webhook with retries', async () => {
    // a fresh organization of the admin's, so nothing is spent yet
    const created = await s.adminApi.post('/api/organizations', { name: 'Alerts Org' });
    assert.equal(created.status, 201, created.text);
    const base = `/api/organizations/${created.json.id}`;
    try {
      const reservation = await reservationOf(s.adminApi, MODEL, TEXT);
      // one short answer costs well over 10% of four reservations: it crosses 5% and 10%
      const limit = reservation * 4n;
      const put = await s.adminApi.put(`${base}/budget`, { monthly_limit_usd: usd(limit), alert_thresholds: [5, 10], alert_webhook: hook.url });
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(put.json.alert_thresholds, [5, 10]);
      assert.equal(put.json.alert_webhook, hook.url);
      assert.equal((await s.adminApi.get(`${base}/alerts`)).json.alerts.length, 0, 'alerts before any spend');
      const { ok } = outcomes(await fireChats([{ hub, api: s.adminApi, id: 'alerts-1', text: TEXT, model: MODEL }]));
      assert.equal(ok.length, 1);
      const cost = pico(ok[0].chunks.find((c) => c.type === 'finish').messageMetadata.cost_usd);
      assert.ok(cost * 10n >= limit, `one chat (${cost}) did not reach 10% of ${limit}`);

      // recorded, listed for admins, delivered on the third attempt
      const alerts = await waitFor(async () => {
        const r = await s.adminApi.get(`${base}/alerts`);
        return r.json.alerts.length === 2 && r.json.alerts.every((a) => a.webhook?.state === 'delivered') ? r.json.alerts : null;
      }, { timeout: 15000, interval: 100, what: 'both alerts delivered' });
      assert.deepEqual(alerts.map((a) => a.threshold_percent).sort((a, b) => a - b), [5, 10]);
      for (const a of alerts) {
        assert.equal(a.scope, 'org');
        assert.equal(a.subject_id, created.json.id);
        assert.equal(pico(a.limit_usd), limit);
        assert.equal(pico(a.spent_usd), cost);
        assert.equal(a.webhook.attempts, 3, 'two failures, then delivered');
        const got = hook.posts.filter((p) => p.json.alert_id === a.id);
        assert.equal(got.length, 3, 'the webhook saw each alert three times');
        for (const p of got) {
          assert.equal(p.headers['x-teamhub-event'], 'budget.threshold');
          assert.equal(p.json.type, 'budget.threshold');
          assert.equal(p.json.org_id, created.json.id);
          assert.equal(p.json.threshold_percent, a.threshold_percent);
          assert.equal(p.json.spent_usd, a.spent_usd);
          assert.equal(p.json.limit_usd, a.limit_usd);
        }
      }
      // a threshold is announced once per period
      outcomes(await fireChats([{ hub, api: s.adminApi, id: 'alerts-2', text: TEXT, model: MODEL }]));
      assert.equal((await s.adminApi.get(`${base}/alerts`)).json.alerts.length, 2);
      assert.equal((await s.memberApi.get(`${base}/alerts`)).status, 404, 'a non-member sees the org');
      assertVerified(await verify(hub, gw));
    } finally {
      await s.adminApi.post(`/api/organizations/${s.orgId}/activate`);
    }
  });

  it('bills a chat the client aborted exactly what aigw logged', async () => {
    const id = 'abort-exact';
    const ctl = new AbortController();
    const res = await fetch(`${hub.url}/api/chat`, {
      method: 'POST', signal: ctl.signal,
      headers: { ...s.memberApi.headers(), 'content-type': 'application/json' },
      body: JSON.stringify(turn(id, 'count to 40 [[sim:tokens_per_s=1,output_tokens=4000]]', { model: MODEL })),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    let seen = '';
    while (!seen.includes('text-delta')) {
      const { done, value } = await reader.read();
      assert.ok(!done, `stream ended before any text: ${seen}`);
      seen += new TextDecoder().decode(value);
    }
    ctl.abort();
    // Wait for the answer's final state (not a row still being written).
    const row = await waitFor(() => hubQuery(hub, `SELECT status, error_code, cost_pico, cost_estimated FROM messages WHERE conversation_id = '${id}' AND role = 'assistant' AND status IN ('partial', 'complete', 'error')`)[0], { timeout: 10000, what: 'the stored answer' });
    assert.equal(row.error_code, 'client_closed');
    assert.equal(row.status, 'partial');
    // teamhub asked aigw to cancel: aigw stopped the model at once and sent the usage so far
    // (estimated by aigw, as no provider reports usage for a stopped stream); verify below proves
    // the stored cost is exactly the one aigw logged.
    assert.ok(BigInt(row.cost_pico) > 0n);
    assertVerified(await verify(hub, gw));
  });
});
