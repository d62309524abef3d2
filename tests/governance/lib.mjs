// Helpers shared by the governance suites: a throwaway Redis (scripts/redis_tmp.sh), teamhub
// nodes next to one aigw, `teamhub usage verify` against aigw's usage_log, and small helpers to
// fire many chats at once and sort their outcomes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

import { startAigw, startPostgres, startTeamhub, client, login, tokenClient, chat, turn, pico, hubQuery, teamhubCli, waitFor, TESTS_DIR } from '../hub/lib.mjs';

export { startAigw, startPostgres, startTeamhub, client, login, tokenClient, chat, turn, pico, hubQuery, teamhubCli, waitFor };

const REDIS_SCRIPT = path.resolve(TESTS_DIR, '..', 'scripts', 'redis_tmp.sh');

/** Starts a throwaway redis-server; resolves {url, stop()} or null when redis-server is missing. */
export function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'teamhub-redis-'));
  fs.rmdirSync(dir); // redis_tmp.sh creates it
  const r = spawnSync(REDIS_SCRIPT, ['start', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis_tmp.sh start failed: ${r.stderr}`);
  const url = r.stdout.trim().split('\n').pop();
  const stop = () => spawnSync(REDIS_SCRIPT, ['stop', dir], { encoding: 'utf8' });
  process.on('exit', stop);
  return { url, stop };
}

/** The admin's cookie client, API token client, a member token client and the org id. */
export async function sessions(hub) {
  const admin = await login(hub, hub.admin);
  const member = await login(hub, hub.member);
  const adminApi = await tokenClient(hub, admin);
  const memberApi = await tokenClient(hub, member);
  const orgId = (await admin.get('/api/auth/me')).json.user.active_org_id;
  return { admin, member, adminApi, memberApi, orgId };
}

/** The most one chat turn with `text` on `model` may cost (the reservation), from /api/chat/estimate. */
export async function reservationOf(api, model, text) {
  const r = await api.post('/api/chat/estimate', { draft: text, model });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.budget, `estimate without budget outlook: ${r.text}`);
  return pico(r.json.budget.required_usd);
}

/** pico-USD (BigInt) -> exact decimal USD string. */
export function usd(p) {
  const s = p.toString().padStart(13, '0');
  return `${s.slice(0, -12)}.${s.slice(-12)}`;
}

/** Fires one chat per entry of `targets` ({hub, api, id, text, model}) at once; resolves the results. */
export function fireChats(targets) {
  return Promise.all(targets.map(async (t) => {
    const r = await chat(t.hub, t.api, turn(t.id, t.text, { model: t.model }));
    return { ...t, ...r };
  }));
}

/** Splits chat results into answered streams and refusals by error code; anything else fails. */
export function outcomes(results) {
  const ok = [];
  const refused = {};
  for (const r of results) {
    if (r.status === 200) {
      assert.ok(r.done, `stream did not end with [DONE]: ${r.raw.slice(-300)}`);
      const finish = r.chunks.find((c) => c.type === 'finish');
      assert.ok(finish, `no finish chunk: ${r.raw.slice(-300)}`);
      ok.push(r);
    } else {
      assert.ok(r.json?.error?.code, `status ${r.status} without an error code: ${r.raw}`);
      (refused[r.json.error.code] ??= []).push(r);
    }
  }
  return { ok, refused };
}

/**
 * `teamhub usage verify --json` of hub against gw's usage_log. aigw writes its rows in batches a
 * moment after each call, so the run is repeated until it agrees or `timeout` passes; the last
 * report is returned with its exit status.
 */
export async function verify(hub, gw, { timeout = 8000 } = {}) {
  let last;
  try {
    await waitFor(() => {
      const r = teamhubCli(hub, ['usage', 'verify', '--gateway-database', gw.dbUrl, '--json']);
      last = { status: r.status, stderr: r.stderr, report: r.stdout ? JSON.parse(r.stdout) : null };
      return r.status === 0;
    }, { timeout, interval: 100, what: 'usage verify to agree' });
  } catch { /* the caller asserts on the last report */ }
  return last;
}

/** Asserts that verify passed, checked the gateway and left no hold open. */
export function assertVerified(v) {
  assert.equal(v.status, 0, `usage verify failed: ${v.stderr}\n${JSON.stringify(v.report, null, 1)}`);
  assert.equal(v.report.ok, true);
  assert.ok(v.report.gateway, 'the gateway usage_log was not checked');
  assert.equal(v.report.gateway.mismatches, 0);
  assert.equal(v.report.open_holds, 0, 'a budget reservation was left behind');
}
