// Gateway keys end to end: keys created with the admin CLI while aigw runs become valid within a
// reload period, per-key rpm/tpm limits answer 429 with Retry-After and RateLimit-* headers on both
// front doors, a key limited to some models is refused the others (and does not even see them in
// the model lists), a revoked key stops working, and `aigw keys list` never shows secrets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { AIGW_BIN, genBody, startAigw, usageRow, waitFor } from './lib.mjs';

let gw;
const keys = {};

function cli(args) {
  const r = spawnSync(AIGW_BIN, args, { env: gw.env, cwd: gw.tmp, encoding: 'utf8' });
  assert.equal(r.status, 0, `aigw ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

function callWith(token, path, body) {
  return gw.fetch(path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const simBody = genBody('simulator', 'sim-fast', 'hello');

before(async () => {
  gw = await startAigw({});
  keys.rpm = cli(['keys', 'create', '--name', 'rpm-limited', '--rpm', '3']);
  keys.tpm = cli(['keys', 'create', '--name', 'tpm-limited', '--tpm', '40']);
  keys.scoped = cli(['keys', 'create', '--name', 'scoped', '--models', 'simulator/sim-fast']);
  keys.revoke = cli(['keys', 'create', '--name', 'to-revoke']);
  for (const t of Object.values(keys)) assert.match(t, /^aigw_[0-9A-Za-z]{43}$/);
  // The server reloads keys periodically; wait until the last one works.
  await waitFor(async () => (await callWith(keys.revoke, '/api/generate', simBody)).status === 200,
    { timeout: 12000, interval: 200, what: 'new keys to be loaded' });
});
after(async () => { await gw?.stop(); });

describe('per-key limits', () => {
  test('rpm: the 4th request in a minute is refused with 429, Retry-After and RateLimit-*', async () => {
    const statuses = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await callWith(keys.rpm, '/api/generate', simBody);
      statuses.push(last.status);
      if (i < 3) {
        assert.equal(last.headers.get('ratelimit-limit'), '3');
        assert.equal(last.headers.get('ratelimit-remaining'), String(2 - i));
        await last.text();
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.ok(Number(last.headers.get('retry-after')) >= 1);
    assert.equal(last.headers.get('ratelimit-remaining'), '0');
    const j = await last.json();
    assert.equal(j.error.code, 'rate_limited');
    assert.equal(j.error.retryable, true);
    assert.match(j.error.message, /requests limit \(3 per minute\)/);
    // The OpenAI front door answers in OpenAI's error shape.
    const r = await callWith(keys.rpm, '/v1/chat/completions',
      { model: 'simulator/sim-fast', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.status, 429);
    const e = await r.json();
    assert.equal(e.error.type, 'rate_limit_error');
    assert.equal(e.error.code, 'rate_limited');
  });

  test('tpm: tokens actually used are charged, and the key is refused once over', async () => {
    const first = await callWith(keys.tpm, '/api/generate', simBody);
    assert.equal(first.status, 200);
    const used = (await first.json()).usage;
    assert.ok(used.input_tokens + used.output_tokens > 40, 'the simulated answer alone exceeds 40 tokens');
    const second = await callWith(keys.tpm, '/api/generate', simBody);
    assert.equal(second.status, 429);
    assert.match((await second.json()).error.message, /tokens limit \(40 per minute\)/);
  });
});

describe('model scope', () => {
  test('a key limited to simulator/sim-fast may use it and nothing else', async () => {
    const ok = await callWith(keys.scoped, '/api/generate', simBody);
    assert.equal(ok.status, 200);
    await ok.text();
    const no = await callWith(keys.scoped, '/api/generate', genBody('simulator', 'sim-chat', 'hi'));
    assert.equal(no.status, 403);
    const j = await no.json();
    assert.equal(j.error.code, 'forbidden');
    assert.match(j.error.message, /may not use 'simulator\/sim-chat'/);
  });

  test('the scoped key sees only its models in both lists', async () => {
    const r = await gw.fetch('/api/models', { headers: { authorization: `Bearer ${keys.scoped}` } });
    const ids = (await r.json()).models.map((m) => `${m.provider}/${m.model}`);
    assert.deepEqual(ids, ['simulator/sim-fast']);
    const v = await gw.fetch('/v1/models', { headers: { authorization: `Bearer ${keys.scoped}` } });
    assert.deepEqual((await v.json()).data.map((m) => m.id), ['simulator/sim-fast']);
  });
});

describe('key lifecycle', () => {
  test('keys list shows names and prefixes but never a token or hash', () => {
    const out = cli(['keys', 'list']);
    for (const name of ['rpm-limited', 'tpm-limited', 'scoped', 'to-revoke']) assert.ok(out.includes(name), out);
    for (const t of Object.values(keys)) assert.ok(!out.includes(t), 'a full token appears in keys list');
    assert.ok(!/[0-9a-f]{64}/.test(out), 'something that looks like a SHA-256 hash appears in keys list');
  });

  test('a revoked key stops working within a reload period', async () => {
    const list = cli(['keys', 'list', '--json']);
    const entry = JSON.parse(list).find((k) => k.name === 'to-revoke');
    assert.ok(entry?.id, list);
    cli(['keys', 'revoke', entry.id]);
    await waitFor(async () => (await callWith(keys.revoke, '/api/generate', simBody)).status === 401,
      { timeout: 12000, interval: 200, what: 'revocation to take effect' });
  });
});

describe('every answered request is in the ledger', () => {
  test('a refused request (invalid, rate limited) gets a usage row at zero cost', async () => {
    const bad = await gw.fetch('/api/generate', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'simulator', model: 'sim-fast', input: { messages: [] } }),
    });
    assert.equal(bad.status, 400);
    const id = bad.headers.get('x-generation-id');
    assert.match(id, /^gen_/);
    const row = await usageRow(gw, id);
    assert.equal(row.error_code, 'invalid_request');
    assert.equal(Number(row.http_status), 400);
    assert.equal(Number(row.cost_pico), 0);
    assert.equal(Number(row.attempts), 0);
    assert.equal(row.provider, 'simulator');

    const limited = await callWith(keys.rpm, '/api/generate', simBody);
    assert.equal(limited.status, 429);
    const lrow = await usageRow(gw, limited.headers.get('x-generation-id'));
    assert.equal(lrow.error_code, 'rate_limited');
    assert.equal(Number(lrow.http_status), 429);
    assert.ok(lrow.key_id, 'the refused request is attributed to its key');
  });
});

describe('admin audit', () => {
  test('key and model changes made with the CLI are in `aigw audit`, with actor and before/after, never a secret', () => {
    const r = spawnSync(AIGW_BIN, ['models', 'update', 'simulator/sim-fast', '--display-name', 'Sim fast (audited)'],
      { env: { ...gw.env, AIGW_ACTOR: 'ops-alice' }, cwd: gw.tmp, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const log = JSON.parse(cli(['audit', '--json']));
    const creates = log.filter((e) => e.action === 'key.create');
    assert.ok(creates.length >= 4, JSON.stringify(log).slice(0, 300));
    assert.ok(log.some((e) => e.action === 'key.revoke' && e.before && e.after && e.before.revoked_at === null && e.after.revoked_at), JSON.stringify(log.filter((e) => e.action === 'key.revoke')));
    const upd = log.find((e) => e.action === 'model.update' && e.target === 'simulator/sim-fast');
    assert.equal(upd.actor, 'ops-alice');
    assert.notEqual(upd.before.display_name, upd.after.display_name);
    assert.equal(upd.after.display_name, 'Sim fast (audited)');
    const text = JSON.stringify(log);
    for (const t of Object.values(keys)) assert.ok(!text.includes(t), 'a token appears in the audit log');
    assert.ok(!/"hash"/.test(text), 'a key hash appears in the audit log');
  });
});
