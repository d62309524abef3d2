// teamhub black-box API tests: the real teamhub and aigw (simulator) on loopback, on SQLite and,
// when PostgreSQL is available (TEST_PG_URL or a throwaway cluster), on PostgreSQL too. Covers
// auth (sessions, CSRF, tokens, throttling), the full chat flow parsed by the `ai` package,
// the UI stream conformance script, model switching, defaults and restrictions, gateway failure
// mid-stream, client aborts, exact cost totals, agents, invitations and the operator CLI.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readUIMessageStream } from 'ai';

import { startAigw, startPostgres, startTeamhub, client, login, tokenClient, chat, turn, pico, hubQuery, runUiStreamCheck, teamhubCli, waitFor } from './lib.mjs';

const backends = [{ name: 'sqlite', database: () => 'sqlite' }];
const pg = await startPostgres().catch((e) => { console.error(`postgres unavailable: ${e.message}`); return null; });
if (pg) backends.push({ name: 'postgres', database: () => pg.url });
after(async () => { if (pg) await pg.stop(); });

for (const backend of backends) {
  describe(`teamhub on ${backend.name}`, () => {
    let gw, hub, admin, member, adminApi, memberApi, orgId;

    before(async () => {
      gw = await startAigw({});
      hub = await startTeamhub({ gw, database: backend.database() });
      admin = await login(hub, hub.admin);
      member = await login(hub, hub.member);
      adminApi = await tokenClient(hub, admin);
      memberApi = await tokenClient(hub, member);
      orgId = (await admin.get('/api/auth/me')).json.user.active_org_id;
    });
    after(async () => {
      await hub?.stop();
      await gw?.stop();
    });

    it('signs in, reports the user, signs out; sessions are HttpOnly SameSite cookies', async () => {
      const c = client(hub);
      const bad = await c.post('/api/auth/login', { email: hub.member.email, password: 'wrong password' });
      assert.equal(bad.status, 401);
      assert.equal(bad.json.error.code, 'unauthorized');
      const r = await c.post('/api/auth/login', hub.member);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('set-cookie'), /HttpOnly; SameSite=Lax; Max-Age=\d+/);
      const me = await c.get('/api/auth/me');
      assert.equal(me.json.user.email, hub.member.email);
      assert.equal(me.json.user.role, 'member');
      assert.equal((await c.post('/api/auth/logout')).status, 200);
      assert.equal((await client(hub, { cookie: r.headers.get('set-cookie').split(';')[0] }).get('/api/auth/me')).status, 401);
    });

    it('registers a new user with an organization of their own', async () => {
      const c = client(hub);
      const email = `new-${backend.name}@example.com`;
      const r = await c.post('/api/auth/register', { email, password: 'a long password', name: 'New', organization: 'New Co' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.user.role, 'owner');
      assert.equal(r.json.user.organizations[0].name, 'New Co');
      assert.equal((await client(hub).post('/api/auth/register', { email, password: 'a long password' })).status, 409);
      assert.equal((await client(hub).post('/api/auth/register', { email: 'x@y.z', password: 'short' })).status, 400);
    });

    it('refuses cookie-authenticated writes from another origin (CSRF) but not token ones', async () => {
      const cross = client(hub, { cookie: admin.cookie, origin: 'http://evil.example' });
      const r = await cross.post('/api/auth/tokens', { name: 'x' });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'csrf_failed');
      const none = client(hub, { cookie: admin.cookie, origin: null });
      assert.equal((await none.post('/api/auth/tokens', { name: 'x' })).status, 403);
      assert.equal((await none.get('/api/auth/me')).status, 200); // safe methods pass
      assert.equal((await adminApi.post('/api/conversations', { title: 'via token' })).status, 201);
      // no login CSRF: a browser on another origin cannot sign a victim in
      const evil = await fetch(hub.url + '/api/auth/login', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json' }, body: JSON.stringify(hub.member) });
      assert.equal(evil.status, 403);
      assert.equal(evil.headers.get('set-cookie'), null);
    });

    it('throttles repeated failed sign-ins per e-mail and address', async () => {
      const c = client(hub);
      const email = `throttle-${backend.name}@example.com`;
      assert.equal((await c.post('/api/auth/register', { email, password: 'right password' })).status, 201);
      for (let i = 0; i < 5; i++) assert.equal((await client(hub).post('/api/auth/login', { email, password: 'wrong password' })).status, 401);
      const locked = await client(hub).post('/api/auth/login', { email, password: 'right password' });
      assert.equal(locked.status, 429);
      assert.equal(locked.json.error.code, 'rate_limited');
      assert.ok(locked.json.error.retry_after_ms > 0);
    });

    it('streams a chat that the ai package parses, stores both messages and exact costs', async () => {
      const r = await chat(hub, memberApi, turn(`flow-${backend.name}`, 'Hello there', { provider: 'simulator', model: 'sim-reasoning' }));
      assert.equal(r.status, 200, r.raw);
      assert.equal(r.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
      assert.equal(r.headers.get('content-type'), 'text/event-stream');
      assert.ok(r.done, 'stream ends with [DONE]');
      assert.equal(r.chunks[0].type, 'start');
      assert.equal(r.chunks.at(-1).type, 'finish');
      let last;
      const stream = new ReadableStream({ start(ctl) { for (const ch of r.chunks) ctl.enqueue(ch); ctl.close(); } });
      for await (const m of readUIMessageStream({ stream, terminateOnError: true })) last = m;
      assert.equal(last.id, r.chunks[0].messageId);
      assert.ok(last.parts.some((p) => p.type === 'reasoning' && p.text.length > 0));
      const text = last.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');
      assert.ok(text.length > 0);
      assert.equal(last.metadata.provider, 'simulator');
      assert.equal(last.metadata.model, 'sim-reasoning');
      assert.equal(last.metadata.model_source, 'request');
      assert.match(last.metadata.cost_usd, /^\d+\.\d{6,12}$/);
      assert.ok(last.metadata.usage.output_tokens > 0);
      assert.ok(Number.isInteger(last.metadata.latency_ms) && Number.isInteger(last.metadata.ttft_ms));

      const msgs = await memberApi.get(`/api/conversations/flow-${backend.name}/messages`);
      assert.equal(msgs.status, 200);
      assert.deepEqual(msgs.json.messages.map((m) => m.role), ['user', 'assistant']);
      const stored = msgs.json.messages[1];
      assert.equal(stored.id, last.id);
      assert.equal(stored.content, text);
      assert.equal(stored.status, 'complete');
      assert.equal(stored.metadata.cost_usd, last.metadata.cost_usd);
      assert.deepEqual(stored.metadata.usage, last.metadata.usage);
    });

    it('passes the ui-stream-check conformance script (strict ai 5.0 shapes, stop(), follow-up)', async () => {
      const res = await runUiStreamCheck(hub, memberApi.token, { UI_EXTRA_BODY: JSON.stringify({ model: 'simulator/sim-chat' }) });
      assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stdout, /PASSED/);
    });

    it('switches models mid-conversation, records it, and keeps the full history', async () => {
      const id = `switch-${backend.name}`;
      const a = await chat(hub, memberApi, turn(id, 'first question', { model: 'simulator/sim-fast' }));
      const b = await chat(hub, memberApi, turn(id, 'second question', { model: 'simulator/sim-chat' }));
      const c = await chat(hub, memberApi, turn(id, 'third question'));
      const meta = (r) => r.chunks.at(-1).messageMetadata;
      assert.equal(a.chunks[0].messageMetadata.model, 'sim-fast');
      assert.equal(b.chunks[0].messageMetadata.model, 'sim-chat');
      assert.equal(c.chunks[0].messageMetadata.model, 'sim-chat');
      assert.equal(c.chunks[0].messageMetadata.model_source, 'conversation');
      assert.ok(meta(b).usage.input_tokens > meta(a).usage.input_tokens, 'turn 2 carries turn 1');
      assert.ok(meta(c).usage.input_tokens > meta(b).usage.input_tokens, 'turn 3 carries turns 1-2');
      const conv = await memberApi.get(`/api/conversations/${id}`);
      assert.equal(conv.json.current_model, 'simulator/sim-chat');
      assert.deepEqual(conv.json.model_switches.map((s) => [s.from, s.to]), [['simulator/sim-fast', 'simulator/sim-chat']]);
      const ids = new Set([a, b, c].map((r) => r.chunks[0].messageId));
      assert.equal(ids.size, 3, 'message ids are unique per response');
    });

    it('regenerates the last answer from the stored history without a new user turn', async () => {
      const id = `regen-${backend.name}`;
      const first = await chat(hub, memberApi, turn(id, 'a question to answer twice', { model: 'simulator/sim-fast' }));
      const again = await chat(hub, memberApi, { id, messages: [], trigger: 'regenerate-message', messageId: first.chunks[0].messageId });
      assert.equal(again.status, 200, again.raw);
      assert.notEqual(again.chunks[0].messageId, first.chunks[0].messageId);
      assert.equal(again.chunks.at(-1).messageMetadata.usage.input_tokens, first.chunks.at(-1).messageMetadata.usage.input_tokens, 'same prompt as the first answer');
      const roles = (await memberApi.get(`/api/conversations/${id}/messages`)).json.messages.map((m) => m.role);
      assert.deepEqual(roles, ['user', 'assistant', 'assistant']);
      assert.equal((await chat(hub, memberApi, { id: `regen-none-${backend.name}`, messages: [], trigger: 'regenerate-message' })).status, 404);
    });

    it('applies org restrictions, defaults and user preferences; refuses with clear errors', async () => {
      const put = await admin.put(`/api/organizations/${orgId}/models`, { allowed_models: ['simulator/sim-fast', 'simulator/sim-chat'], default_model: 'simulator/sim-chat' });
      assert.equal(put.status, 200, put.text);
      assert.equal((await member.put(`/api/organizations/${orgId}/models`, { allowed_models: null })).status, 403);
      const models = await memberApi.get('/api/models');
      const byId = Object.fromEntries(models.json.models.map((m) => [m.id, m]));
      assert.equal(byId['simulator/sim-fast'].allowed, true);
      assert.equal(byId['simulator/sim-reasoning'].allowed, false);
      assert.ok(byId['simulator/sim-reasoning'].reason);
      assert.ok(byId['simulator/sim-fast'].pricing && byId['simulator/sim-fast'].status);

      const refused = await chat(hub, memberApi, turn(`r-${backend.name}`, 'hi', { model: 'simulator/sim-reasoning' }));
      assert.equal(refused.status, 403);
      assert.equal(refused.json.error.code, 'model_not_allowed');
      assert.deepEqual(refused.json.error.allowed_models.sort(), ['simulator/sim-chat', 'simulator/sim-fast']);
      const unknown = await chat(hub, memberApi, turn(`r-${backend.name}`, 'hi', { model: 'nope/none' }));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.error.code, 'model_not_found');

      const orgDefault = await chat(hub, memberApi, turn(`d1-${backend.name}`, 'hi'));
      assert.equal(orgDefault.chunks[0].messageMetadata.model, 'sim-chat');
      assert.equal(orgDefault.chunks[0].messageMetadata.model_source, 'org_default');

      assert.equal((await memberApi.post('/api/users/preferences/llm', { default_model: 'simulator/sim-reasoning' })).status, 403);
      const pref = await memberApi.post('/api/users/preferences/llm', { default_model: 'simulator/sim-fast', pinned_models: ['simulator/sim-chat'] });
      assert.equal(pref.status, 200, pref.text);
      assert.equal(pref.json.effective_default.model, 'simulator/sim-fast');
      assert.deepEqual((await memberApi.get('/api/users/preferences/llm')).json.pinned_models, ['simulator/sim-chat']);
      const userDefault = await chat(hub, memberApi, turn(`d2-${backend.name}`, 'hi'));
      assert.equal(userDefault.chunks[0].messageMetadata.model, 'sim-fast');
      assert.equal(userDefault.chunks[0].messageMetadata.model_source, 'user_default');

      // llm_selection off: the picker is hidden and chat uses the org default
      assert.equal((await admin.put(`/api/organizations/${orgId}/settings`, { feature_flags: { llm_selection: false } })).status, 200);
      const forced = await chat(hub, memberApi, turn(`d3-${backend.name}`, 'hi', { model: 'simulator/sim-fast' }));
      assert.equal(forced.chunks[0].messageMetadata.model, 'sim-chat');
      assert.equal(forced.chunks[0].messageMetadata.model_source, 'org_default');
      assert.equal((await memberApi.get('/api/models')).json.llm_selection, false);

      assert.equal((await admin.put(`/api/organizations/${orgId}/settings`, { allowed_models: null, default_model: null, feature_flags: { llm_selection: true } })).status, 200);
      assert.equal((await memberApi.post('/api/users/preferences/llm', { default_model: null })).status, 200);
    });

    it('answers an unavailable model with a clear error and an alternative, never a hang', async () => {
      const r = await chat(hub, memberApi, turn(`u-${backend.name}`, 'hi', { model: 'openai/gpt-4o-mini' }));
      assert.equal(r.status, 503);
      assert.equal(r.json.error.code, 'model_unavailable');
      assert.match(r.json.error.suggestion, /^simulator\//);
    });

    it('keeps the partial answer, records usage and sends an error chunk when the gateway cuts', async () => {
      const id = `cut-${backend.name}`;
      const r = await chat(hub, memberApi, turn(id, 'tell me a story [[sim:cut_after=5]]', { model: 'simulator/sim-chat' }));
      assert.equal(r.status, 200);
      const types = r.chunks.map((c) => c.type);
      assert.ok(types.includes('error'), `error chunk in ${types}`);
      assert.ok(types.indexOf('text-delta') < types.indexOf('error'));
      assert.equal(types.at(-1), 'finish');
      assert.ok(r.done);
      const fin = r.chunks.at(-1).messageMetadata;
      assert.equal(fin.status, 'partial');
      const msgs = (await memberApi.get(`/api/conversations/${id}/messages`)).json.messages;
      const answer = msgs.at(-1);
      assert.equal(answer.role, 'assistant');
      assert.equal(answer.status, 'partial');
      assert.ok(answer.content.length > 0);
      assert.ok(answer.metadata.error_code);
      const rows = hubQuery(hub, `SELECT status, cost_pico, error_code FROM model_usage_analytics WHERE message_id = '${answer.id}'`);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 'partial');
      assert.equal(BigInt(rows[0].cost_pico), pico(answer.metadata.cost_usd));
    });

    it('stores a partial answer and cancels upstream when the client disconnects', async () => {
      const id = `abort-${backend.name}`;
      const ctl = new AbortController();
      const res = await fetch(hub.url + '/api/chat', { method: 'POST', signal: ctl.signal, headers: { ...memberApi.headers(), 'content-type': 'application/json' }, body: JSON.stringify(turn(id, 'count slowly to 50 [[sim:tokens_per_s=20]]', { model: 'simulator/sim-chat' })) });
      const reader = res.body.getReader();
      let seen = '';
      assert.equal(res.status, 200);
      while (!seen.includes('text-delta')) {
        const { done, value } = await reader.read();
        assert.ok(!done, `stream ended before any text: ${seen}`);
        seen += new TextDecoder().decode(value);
      }
      ctl.abort();
      const row = await waitFor(() => hubQuery(hub, `SELECT m.status, m.error_code FROM messages m WHERE m.conversation_id = '${id}' AND m.role = 'assistant'`)[0], { timeout: 5000, what: 'stored partial answer' });
      assert.equal(row.error_code, 'client_closed');
      assert.ok(['partial', 'error'].includes(row.status));
      assert.equal(hubQuery(hub, `SELECT COUNT(*) AS n FROM model_usage_analytics WHERE conversation_id = '${id}'`)[0].n, 1);
    });

    it('makes org usage totals equal the sum of per-message costs, exactly (JSON and CSV)', async () => {
      const usage = await admin.get(`/api/organizations/${orgId}/usage?group_by=model`);
      assert.equal(usage.status, 200, usage.text);
      const sumGroups = usage.json.groups.reduce((s, g) => s + pico(g.cost_usd), 0n);
      assert.equal(sumGroups, pico(usage.json.totals.cost_usd));
      const rows = hubQuery(hub, `SELECT m.cost_pico FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.org_id = '${orgId}' AND m.role = 'assistant'`);
      const sumMessages = rows.reduce((s, r) => s + BigInt(r.cost_pico), 0n);
      assert.equal(pico(usage.json.totals.cost_usd), sumMessages);
      for (const g of ['user', 'agent', 'day', 'day,model']) {
        const r = await admin.get(`/api/organizations/${orgId}/usage?group_by=${g}`);
        assert.equal(r.status, 200, r.text);
        assert.equal(pico(r.json.totals.cost_usd), sumMessages, `group_by=${g}`);
        assert.equal(r.json.groups.reduce((s, x) => s + pico(x.cost_usd), 0n), sumMessages, `group_by=${g} groups`);
      }
      // the day x model series: one row per (day, model), exact per model over the days
      const series = (await admin.get(`/api/organizations/${orgId}/usage?group_by=day,model`)).json.groups;
      assert.ok(series.length >= 2 && series.every((g) => /^\d{4}-\d{2}-\d{2}$/.test(g.day) && g.model.includes('/')));
      for (const m of usage.json.groups) {
        const perModel = series.filter((g) => g.model === m.key).reduce((s, g) => s + pico(g.cost_usd), 0n);
        assert.equal(perModel, pico(m.cost_usd), `series of ${m.key}`);
      }
      // users and agents carry names, not only ids
      const byUser = (await admin.get(`/api/organizations/${orgId}/usage?group_by=user`)).json.groups;
      const memberRow = byUser.find((g) => g.key === hub.member.email);
      assert.ok(memberRow && memberRow.id && memberRow.name && !memberRow.name.startsWith('usr'), JSON.stringify(byUser));
      const dmCsv = await admin.get(`/api/organizations/${orgId}/usage?group_by=day,model&format=csv`);
      const dmLines = dmCsv.text.trim().split('\r\n');
      assert.equal(dmLines[0].split(',').slice(0, 3).join(','), 'day,model,requests');
      assert.equal(pico(dmLines.at(-1).split(',')[7]), sumMessages);
      assert.equal((await admin.get(`/api/organizations/${orgId}/usage?group_by=model,user`)).status, 400);
      const csv = await admin.get(`/api/organizations/${orgId}/usage?group_by=user&format=csv`);
      assert.match(csv.headers.get('content-type'), /^text\/csv/);
      const total = csv.text.trim().split('\r\n').at(-1).split(',');
      assert.equal(total[0], 'total');
      assert.equal(pico(total[6]), sumMessages);
      // per conversation: details total == sum of its messages
      const conv = await memberApi.get(`/api/conversations/switch-${backend.name}`);
      const msgs = (await memberApi.get(`/api/conversations/switch-${backend.name}/messages`)).json.messages;
      const perMsg = msgs.filter((m) => m.metadata).reduce((s, m) => s + pico(m.metadata.cost_usd), 0n);
      assert.equal(pico(conv.json.cost_usd), perMsg);
      assert.equal(pico(conv.json.usage.cost_usd), perMsg);
      const verify = teamhubCli(hub, ['usage', 'verify']);
      assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    });

    it('estimates the cost range of the next turn', async () => {
      const r = await memberApi.post('/api/chat/estimate', { conversationId: `switch-${backend.name}`, draft: 'one more question', model: 'simulator/sim-chat' });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.estimated_input_tokens > 10);
      assert.ok(pico(r.json.cost_min_usd) > 0n);
      assert.ok(pico(r.json.cost_max_usd) > pico(r.json.cost_min_usd));
      assert.equal((await memberApi.post('/api/chat/estimate', { conversationId: 'not-mine', draft: 'x' })).status, 404);
    });

    it('lists, searches, paginates, renames and deletes conversations', async () => {
      const list = await memberApi.get('/api/conversations?limit=2');
      assert.equal(list.json.conversations.length, 2);
      assert.equal(list.json.next_offset, 2);
      const found = await memberApi.get('/api/conversations?q=second%20question');
      assert.deepEqual(found.json.conversations.map((c) => c.id), [`switch-${backend.name}`]);
      const ren = await memberApi.call('PATCH', `/api/conversations/switch-${backend.name}`, { title: 'Renamed' });
      assert.equal(ren.json.title, 'Renamed');
      const created = await memberApi.post('/api/conversations', { title: 'temp' });
      assert.equal((await memberApi.del(`/api/conversations/${created.json.id}`)).status, 200);
      assert.equal((await memberApi.get(`/api/conversations/${created.json.id}`)).status, 404);
    });

    it('runs agents with their default model, tools and admin-only management', async () => {
      const a = await admin.post('/api/agents', { name: 'Weather', system_prompt: 'Report weather.', default_model: 'simulator/sim-tools', tools: [{ type: 'function', function: { name: 'getWeather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }] });
      assert.equal(a.status, 201, a.text);
      assert.equal((await member.post('/api/agents', { name: 'nope' })).status, 403);
      assert.equal((await admin.post('/api/agents', { name: 'bad', tools: [{ type: 'function', function: { name: 'x y' } }] })).status, 400);
      const r = await chat(hub, memberApi, turn(`agent-${backend.name}`, 'Weather in Paris?', { agentId: a.json.id }));
      assert.equal(r.status, 200);
      assert.equal(r.chunks[0].messageMetadata.model_source, 'agent_default');
      const avail = r.chunks.find((c) => c.type === 'tool-input-available');
      assert.equal(avail.toolName, 'getWeather');
      assert.equal(typeof avail.input, 'object');
      assert.equal((await memberApi.get(`/api/agents/${a.json.id}`)).status, 200);
      assert.equal((await admin.del(`/api/agents/${a.json.id}`)).status, 200);
    });

    it('enforces the authorization matrix: anonymous 401, member 403, other org 404, nothing leaked', async () => {
      const anon = client(hub);
      const outsider = client(hub);
      assert.equal((await outsider.post('/api/auth/register', { email: `outsider-${backend.name}@example.com`, password: 'outsider password', organization: 'Other' })).status, 201);
      const outsiderApi = await tokenClient(hub, outsider);
      const convId = `switch-${backend.name}`;
      const matrix = [
        // [method, path, body, anonymous, member, admin, other-org user]
        ['GET', '/api/auth/me', undefined, 401, 200, 200, 200],
        ['GET', '/api/models', undefined, 401, 200, 200, 200],
        ['GET', `/api/organizations/${orgId}`, undefined, 401, 200, 200, 404],
        ['GET', `/api/organizations/${orgId}/models`, undefined, 401, 200, 200, 404],
        ['PUT', `/api/organizations/${orgId}/models`, {}, 401, 403, 200, 404],
        ['GET', `/api/organizations/${orgId}/settings`, undefined, 401, 200, 200, 404],
        ['PUT', `/api/organizations/${orgId}/settings`, {}, 401, 403, 200, 404],
        ['GET', `/api/organizations/${orgId}/members`, undefined, 401, 200, 200, 404],
        ['GET', `/api/organizations/${orgId}/usage`, undefined, 401, 403, 200, 404],
        ['POST', `/api/organizations/${orgId}/invitations`, {}, 401, 403, 201, 404],
        ['GET', `/api/organizations/${orgId}/invitations`, undefined, 401, 403, 200, 404],
        ['GET', `/api/organizations/${orgId}/usage?group_by=day,model`, undefined, 401, 403, 200, 404],
        ['DELETE', `/api/organizations/${orgId}/invitations/inv_none`, undefined, 401, 403, 404, 404],
        ['GET', '/api/invitations/inv_none.secret', undefined, 404, 404, 404, 404],
        ['GET', '/api/users/preferences/llm', undefined, 401, 200, 200, 200],
        ['GET', '/api/conversations', undefined, 401, 200, 200, 200],
        ['GET', `/api/conversations/${convId}`, undefined, 401, 200, 404, 404],
        ['GET', `/api/conversations/${convId}/messages`, undefined, 401, 200, 404, 404],
        ['DELETE', `/api/conversations/${convId}`, undefined, 401, null, 404, 404],
        ['POST', '/api/agents', { name: 'matrix' }, 401, 403, 201, 201],
        ['POST', '/api/chat', turn(convId, 'hi'), 401, null, 404, 404],
        ['POST', '/api/chat/estimate', { conversationId: convId, draft: 'x' }, 401, 200, 404, 404],
      ];
      const who = [['anonymous', anon], ['member', memberApi], ['admin', adminApi], ['other org', outsiderApi]];
      for (const [method, p, body, ...expected] of matrix) {
        for (let i = 0; i < who.length; i++) {
          if (expected[i] === null) continue;
          const r = await who[i][1].call(method, p, body);
          assert.equal(r.status, expected[i], `${method} ${p} as ${who[i][0]}: ${r.status} ${r.text.slice(0, 200)}`);
          if (r.status >= 400) {
            assert.ok(r.json?.error?.code, `${method} ${p} as ${who[i][0]}: error body`);
            assert.ok(!r.text.includes('Hello') && !r.text.includes('second question'), 'no content leaked');
          }
        }
      }
    });

    it('joins another organization by invitation link and switches the active one', async () => {
      const inv = await admin.post(`/api/organizations/${orgId}/invitations`, { role: 'member' });
      assert.equal(inv.status, 201);
      assert.match(inv.json.url, /^\/invite\//);
      // the public look-up (no session) shows the organization's name and the expiry, nothing else
      const look = await client(hub).get(`/api/invitations/${encodeURIComponent(inv.json.token)}`);
      assert.equal(look.status, 200, look.text);
      const org = (await admin.get(`/api/organizations/${orgId}`)).json;
      assert.deepEqual(look.json, { organization: { name: org.name }, expires_at: inv.json.expires_at });
      const wrongSecret = inv.json.token.replace(/\.(.)/, (m, ch) => '.' + (ch === 'A' ? 'B' : 'A'));
      assert.equal((await client(hub).get(`/api/invitations/${encodeURIComponent(wrongSecret)}`)).status, 404);
      const guest = client(hub);
      const reg = await guest.post('/api/auth/register', { email: `guest-${backend.name}@example.com`, password: 'guest password', organization: 'Guest Co' });
      const ownOrg = reg.json.user.active_org_id;
      const acc = await guest.post('/api/invitations/accept', { token: inv.json.token });
      assert.equal(acc.status, 200, acc.text);
      assert.equal(acc.json.user.active_org_id, orgId);
      assert.equal(acc.json.user.organizations.length, 2);
      assert.equal((await guest.post('/api/invitations/accept', { token: inv.json.token })).status, 404);
      assert.equal((await client(hub).get(`/api/invitations/${encodeURIComponent(inv.json.token)}`)).status, 404, 'a used link is gone');
      const sw = await guest.post(`/api/organizations/${ownOrg}/activate`);
      assert.equal(sw.json.user.active_org_id, ownOrg);
      assert.equal(sw.json.user.role, 'owner');
    });

    it('lists and revokes invitations (admins only, audited); a revoked link no longer works', async () => {
      const inv = await admin.post(`/api/organizations/${orgId}/invitations`, { role: 'admin', email: `revoked-${backend.name}@example.com` });
      assert.equal(inv.status, 201, inv.text);
      const list = (await admin.get(`/api/organizations/${orgId}/invitations`)).json.invitations;
      const row = list.find((i) => i.id === inv.json.id);
      assert.equal(row.role, 'admin');
      assert.ok(!JSON.stringify(list).includes(inv.json.token.split('.')[1]), 'the secret is never listed');
      assert.equal((await member.del(`/api/organizations/${orgId}/invitations/${inv.json.id}`)).status, 403);
      assert.equal((await admin.del(`/api/organizations/${orgId}/invitations/${inv.json.id}`)).status, 200);
      assert.equal((await admin.del(`/api/organizations/${orgId}/invitations/${inv.json.id}`)).status, 404);
      assert.ok(!(await admin.get(`/api/organizations/${orgId}/invitations`)).json.invitations.some((i) => i.id === inv.json.id));
      assert.equal((await client(hub).get(`/api/invitations/${encodeURIComponent(inv.json.token)}`)).status, 404);
      const guest = client(hub);
      const reg = await guest.post('/api/auth/register', { email: `revoked-${backend.name}@example.com`, password: 'guest password' });
      assert.equal(reg.status, 201, reg.text);
      assert.equal((await guest.post('/api/invitations/accept', { token: inv.json.token })).status, 404);
      const audit = (await admin.get(`/api/organizations/${orgId}/audit?action=invitation.`)).json.entries;
      const actions = audit.filter((e) => e.target === `invitation:${inv.json.id}`).map((e) => e.action);
      assert.deepEqual(actions.sort(), ['invitation.create', 'invitation.revoke']);
    });

    it('serves /healthz and Prometheus /metrics with chat tokens and cost by org and model', async () => {
      assert.equal((await fetch(hub.url + '/healthz')).status, 200);
      const text = await (await fetch(hub.url + '/metrics')).text();
      assert.match(text, /teamhub_chat_requests_total\{org="[^"]+",model="simulator\/sim-chat",status="complete"\} \d+/);
      assert.match(text, /teamhub_chat_cost_picousd_total\{/);
      assert.match(text, /teamhub_http_errors_total\{code="model_not_allowed"\}/);
    });

    it('creates users and tokens from the operator CLI', async () => {
      const email = `cli-${backend.name}@example.com`;
      const u = teamhubCli(hub, ['users', 'create', '--email', email, '--password', 'cli password', '--org', 'CLI Org', '--role', 'admin']);
      assert.equal(u.status, 0, u.stderr);
      const t = teamhubCli(hub, ['tokens', 'create', '--email', email]);
      assert.equal(t.status, 0, t.stderr);
      const me = await client(hub, { token: t.stdout.trim() }).get('/api/auth/me');
      assert.equal(me.json.user.email, email);
      assert.equal(me.json.user.role, 'admin');
      assert.equal(teamhubCli(hub, ['migrate']).status, 0);
    });
  });
}
