// Tests of the fake providers themselves: the fake OpenAI endpoint must satisfy the official clients
// (else gateway tests would test against a wrong wire format), each provider checks credentials
// with its own error body, and the scenario controls (directives, scripts, recording) work.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { FAKE_KEYS, parseSSE, runClientScript, startFakes } from './lib.mjs';

let fakes;
before(async () => { fakes = await startFakes(); });
after(async () => { await fakes?.stop(); });
beforeEach(async () => { await fakes.reset(); });

const post = (url, body, headers = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const oaiBody = (text, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra });

describe('fake OpenAI endpoint vs the official clients', () => {
  test('openai npm client: no violations', async () => {
    const r = await runClientScript('openai-chat.mjs', { GATEWAY_BASE_URL: fakes.base.openai, GATEWAY_API_KEY: FAKE_KEYS.openai });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  test('AI SDK with tools: no violations', async () => {
    const r = await runClientScript('ai-sdk-chat.mjs', { GATEWAY_BASE_URL: fakes.base.openai, GATEWAY_API_KEY: FAKE_KEYS.openai, GATEWAY_MODEL: 'gpt-4o-mini', CHECK_TOOLS: '1' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe('credentials, each provider its own way', () => {
  const cases = [
    ['openai', `${'/openai/v1/chat/completions'}`, oaiBody('hi'), 'Bearer nope', 401, (j) => j.error.code === 'invalid_api_key'],
    ['deepseek', '/deepseek/chat/completions', { ...oaiBody('hi'), model: 'deepseek-v4-flash' }, 'Bearer nope', 401, (j) => /Authentication Fails/.test(j.error.message)],
    ['fal', '/fal/openrouter/router', { model: 'google/gemini-2.5-flash', prompt: 'hi' }, 'Key nope:nope', 401, (j) => j.detail === 'No user found for Key ID and Secret'],
    ['fal (Bearer)', '/fal/openrouter/router', { model: 'google/gemini-2.5-flash', prompt: 'hi' }, `Bearer ${FAKE_KEYS.fal}`, 401, (j) => /Invalid Key Authorization header format/.test(j.detail)],
    ['eden', '/eden/v3/llm/chat/completions', { ...oaiBody('hi'), model: 'openai/gpt-4o' }, 'Bearer nope', 401, (j) => j.detail === 'Invalid token.'],
    ['eden (no Bearer)', '/eden/v2/text/chat', { providers: 'openai', text: 'hi' }, FAKE_KEYS.eden, 403, (j) => /credentials were not provided/.test(j.detail)],
  ];
  for (const [name, p, body, auth, status, check] of cases) {
    test(`${name}: wrong credentials -> ${status} with the provider's body`, async () => {
      const r = await post(fakes.url + p, body, { authorization: auth });
      assert.equal(r.status, status);
      assert.ok(check(await r.json()));
    });
  }
  test('local accepts any credentials', async () => {
    const r = await post(`${fakes.base.local}/chat/completions`, { ...oaiBody('hi'), model: 'llama3.2:3b' });
    assert.equal(r.status, 200);
  });
});

describe('scenario control', () => {
  const openai = (text, extra) => post(`${fakes.base.openai}/chat/completions`, oaiBody(text, extra), { authorization: `Bearer ${FAKE_KEYS.openai}` });

  test('scripted scenarios are consumed in order, per provider, and recorded', async () => {
    await fakes.script(['503', 'ok'], 'openai');
    assert.equal((await openai('a')).status, 503);
    assert.equal((await openai('b')).status, 200);
    assert.equal((await openai('c')).status, 200);
    const recs = await fakes.chatRequests('openai');
    assert.deepEqual(recs.map((r) => r.outcome), ['error:503', 'complete', 'complete']);
    assert.equal(recs[0].headers.authorization, `Bearer ${FAKE_KEYS.openai}`);
    assert.equal(recs[0].body.messages[0].content, 'a');
  });

  test('quota has each provider\'s own shape', async () => {
    const r1 = await openai('x [[fake:quota]]');
    assert.equal(r1.status, 429);
    assert.equal((await r1.json()).error.code, 'insufficient_quota');
    const r2 = await post(`${fakes.base.fal}/openrouter/router`, { model: 'google/gemini-2.5-flash', prompt: 'x [[fake:402]]' }, { authorization: `Key ${FAKE_KEYS.fal}` });
    assert.equal(r2.status, 403);
    assert.match((await r2.json()).detail, /Exhausted balance/);
  });

  test('429 carries the OpenAI rate-limit headers', async () => {
    const r = await openai('x [[fake:429=250]]');
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after-ms'), '250');
    assert.equal(r.headers.get('x-ratelimit-reset-requests'), '250ms');
  });

  test('split and crlf deliver the same events as a clean stream', async () => {
    const clean = await (await openai('same [[fake:tokens=5]]', { stream: true })).text();
    const odd = await (await openai('same [[fake:tokens=5,split,crlf,keepalive,multiline]]', { stream: true })).text();
    const norm = (t) => parseSSE(t).events.map((e) => { try { const j = JSON.parse(e.data); delete j.created; delete j.id; return JSON.stringify(j); } catch { return e.data; } });
    assert.deepEqual(norm(odd), norm(clean));
    assert.ok(odd.includes('\r\n'));
  });

  test('cut drops the connection without the [DONE] event', async () => {
    const r = await openai('x [[fake:cut]]', { stream: true });
    await assert.rejects(r.text());
    const [rec] = await fakes.chatRequests('openai');
    assert.equal(rec.outcome, 'cut');
  });

  test('huge sends an event over 4 MiB', async () => {
    const t = await (await openai('x [[fake:huge]]', { stream: true })).text();
    assert.ok(Math.max(...parseSSE(t).events.map((e) => e.data.length)) > 4 << 20);
  });

  test('fal streams cumulative output and ends with usage.cost', async () => {
    const r = await post(`${fakes.base.fal}/openrouter/router/stream`, { model: 'google/gemini-2.5-flash', prompt: 'hello' }, { authorization: `Key ${FAKE_KEYS.fal}` });
    const evs = parseSSE(await r.text()).events.map((e) => JSON.parse(e.data));
    for (let i = 1; i < evs.length; i++) assert.ok(evs[i].output.startsWith(evs[i - 1].output));
    assert.equal(evs.at(-1).partial, false);
    assert.equal(typeof evs.at(-1).usage.cost, 'number');
  });

  test('eden v2 streams NDJSON text lines', async () => {
    const r = await post(`${fakes.base.eden}/v2/text/chat/stream`, { providers: 'openai', settings: { openai: 'gpt-4o' }, text: 'hello' }, { authorization: `Bearer ${FAKE_KEYS.eden}` });
    const lines = (await r.text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length > 3 && lines.every((l) => typeof l.text === 'string'));
  });
});
