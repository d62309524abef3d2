// The OpenAI-compatible surface (/v1/chat/completions, /v1/models): the official `openai` client and
// the Vercel AI SDK's OpenAI-compatible provider run unmodified against aigw (the reference
// conformance scripts in tests/clients, as child processes), plus wire checks of our own for usage
// chunks, tool-call fragments, errors before and after the first byte.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { GATEWAY_KEY, LOCAL_TOOLS_SETUP, parseSSE, runClientScript, startAigw, startFakes } from './lib.mjs';

let fakes;
let gw;
let marker = 0;
const uniq = (label) => `${label} v${++marker}x`;

before(async () => {
  fakes = await startFakes();
  gw = await startAigw({ fakes, setup: [LOCAL_TOOLS_SETUP] });
});
after(async () => {
  await gw?.stop();
  await fakes?.stop();
});

const clientEnv = (model, extra = {}) => ({ GATEWAY_BASE_URL: `${gw.url}/v1`, GATEWAY_API_KEY: GATEWAY_KEY, GATEWAY_MODEL: model, ...extra });

function assertClean(r, what) {
  assert.equal(r.code, 0, `${what} reported violations (exit ${r.code}):\n${r.stdout}\n${r.stderr}${gw.tail()}`);
  assert.match(r.stdout, /PASSED/);
}

// Independent child processes against one gateway: run them side by side.
describe('official clients (reference conformance scripts)', { concurrency: 4 }, () => {
  for (const model of ['simulator/sim-chat', 'openai/gpt-4o-mini', 'deepseek/deepseek-v4-flash', 'fal/google/gemini-2.5-flash', 'eden/openai/gpt-4o', 'local/llama3.2:3b']) {
    test(`openai npm client against ${model}`, async () => {
      assertClean(await runClientScript('openai-chat.mjs', clientEnv(model)), 'openai-chat.mjs');
    });
  }

  test('openai npm client with the default model (first of GET /v1/models)', async () => {
    const env = clientEnv(undefined);
    delete env.GATEWAY_MODEL;
    assertClean(await runClientScript('openai-chat.mjs', env), 'openai-chat.mjs');
  });

  test('AI SDK (generateText, streamText, required tool call) against simulator/sim-tools', async () => {
    assertClean(await runClientScript('ai-sdk-chat.mjs', clientEnv('simulator/sim-tools', { CHECK_TOOLS: '1' })), 'ai-sdk-chat.mjs');
  });

  for (const model of ['openai/gpt-4o-mini', 'deepseek/deepseek-v4-pro', 'eden/openai/gpt-4o-mini', 'local/llama3.2:3b']) {
    test(`AI SDK with tools against ${model}`, async () => {
      assertClean(await runClientScript('ai-sdk-chat.mjs', clientEnv(model, { CHECK_TOOLS: '1' })), 'ai-sdk-chat.mjs');
    });
  }

  for (const model of ['simulator/sim-reasoning', 'fal/anthropic/claude-sonnet-4.5']) {
    test(`AI SDK text against ${model}`, async () => {
      assertClean(await runClientScript('ai-sdk-chat.mjs', clientEnv(model)), 'ai-sdk-chat.mjs');
    });
  }
});

describe('/v1/chat/completions on the wire', () => {
  beforeEach(async () => { await fakes.reset(); });

  const upstreamWith = async (mark, provider) => (await fakes.chatRequests(provider)).filter((r) => JSON.stringify(r.body).includes(mark));
  const chunksOf = (res) => {
    const { events, trailing } = parseSSE(res.raw);
    assert.equal(trailing, false, 'every event is terminated');
    return events.map((e) => e.data);
  };

  test('non-stream: OpenAI shape, provider/model id, usage equal to the provider\'s', async () => {
    const mark = uniq('hello v1');
    const res = await gw.chat({ model: 'openai/gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: mark }], max_tokens: 50 });
    assert.equal(res.status, 200, res.raw);
    const j = res.json;
    assert.match(j.id, /^chatcmpl-/);
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.model, 'openai/gpt-4o-mini');
    const [up] = await upstreamWith(mark, 'openai');
    assert.equal(j.choices[0].message.content, up.response_text);
    assert.equal(j.choices[0].finish_reason, 'stop');
    assert.equal(j.usage.prompt_tokens, up.response_usage.prompt_tokens);
    assert.equal(j.usage.completion_tokens, up.response_usage.completion_tokens);
    assert.equal(j.usage.total_tokens, up.response_usage.total_tokens);
    assert.equal(up.body.messages[0].role, 'system', 'system prompt forwarded first');
    assert.equal(up.body.max_tokens ?? up.body.max_completion_tokens, 50);
  });

  test('stream without include_usage has no usage chunk', async () => {
    const res = await gw.chat({ model: 'deepseek/deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: uniq('no usage chunk') }] });
    assert.equal(res.status, 200);
    const datas = chunksOf(res);
    assert.equal(datas.at(-1), '[DONE]');
    for (const d of datas.slice(0, -1)) {
      const c = JSON.parse(d);
      assert.ok(c.usage === undefined || c.usage === null, `usage only when asked: ${d}`);
      assert.ok(Array.isArray(c.choices) && c.choices.length === 1);
    }
  });

  test('stream with include_usage: one usage chunk with choices [] right before [DONE]', async () => {
    const mark = uniq('usage chunk');
    const res = await gw.chat({ model: 'deepseek/deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: mark }] });
    const datas = chunksOf(res);
    assert.equal(datas.at(-1), '[DONE]');
    const last = JSON.parse(datas.at(-2));
    assert.deepEqual(last.choices, []);
    const [up] = await upstreamWith(mark, 'deepseek');
    assert.equal(last.usage.prompt_tokens, up.response_usage.prompt_tokens);
    assert.equal(last.usage.completion_tokens, up.response_usage.completion_tokens);
    assert.equal(last.usage.prompt_tokens_details?.cached_tokens ?? 0, up.response_usage.prompt_cache_hit_tokens);
    for (const d of datas.slice(0, -2)) assert.equal(JSON.parse(d).usage, null, 'other chunks carry usage:null');
    const text = datas.slice(0, -2).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, up.response_text, 'DeepSeek keep-alives and reasoning do not leak into content');
  });

  test('stream tool calls: first fragment has id/type/name, then argument pieces; finish tool_calls', async () => {
    const mark = uniq('weather please');
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const res = await gw.chat({ model: 'openai/gpt-4.1', stream: true, tools, messages: [{ role: 'user', content: mark }] });
    const chunks = chunksOf(res).slice(0, -1).map((d) => JSON.parse(d));
    const frags = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    assert.ok(frags.length >= 2);
    assert.equal(frags[0].index, 0);
    assert.equal(frags[0].type, 'function');
    assert.equal(frags[0].function.name, 'get_weather');
    assert.equal(typeof frags[0].id, 'string');
    assert.deepEqual(JSON.parse(frags.map((f) => f.function?.arguments ?? '').join('')), { city: 'Paris' });
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
  });

  test('a tool result turn goes upstream in OpenAI form and gets a text answer', async () => {
    const mark = uniq('weather turn two');
    const res = await gw.chat({
      model: 'openai/gpt-4o-mini',
      messages: [
        { role: 'user', content: mark },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"weather":"sunny"}' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    assert.equal(res.status, 200, res.raw);
    assert.match(res.json.choices[0].message.content, /sunny/);
    const [up] = await upstreamWith(mark, 'openai');
    assert.equal(up.body.messages.at(-1).role, 'tool');
    assert.equal(up.body.messages.at(-1).tool_call_id, 'call_1');
    assert.equal(up.body.messages[1].tool_calls[0].function.arguments, '{"city":"Paris"}');
  });

  test('errors before the first byte: HTTP status + OpenAI error body, even for stream:true', async () => {
    await fakes.script(['quota'], 'openai');
    const res = await gw.chat({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: uniq('quota') }] });
    assert.equal(res.status, 402, res.raw);
    assert.match(res.headers.get('content-type'), /application\/json/);
    assert.equal(typeof res.json.error.message, 'string');
    assert.equal(res.json.error.code, 'provider_quota');
    assert.ok('type' in res.json.error && 'param' in res.json.error);
  });

  test('unknown model -> 404 model_not_found', async () => {
    const res = await gw.chat({ model: 'openai/gpt-0', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, 'model_not_found');
  });

  test('model without provider prefix -> 400', async () => {
    const res = await gw.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(res.status, 400);
    assert.match(res.json.error.message, /provider\/model/);
  });

  test('errors after the first byte: a data: {"error":...} event, no [DONE] success', async () => {
    const mark = uniq('cut me [[fake:cut]]');
    const res = await gw.chat({ model: 'openai/gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: mark }] });
    assert.equal(res.status, 200);
    const datas = chunksOf(res);
    const errs = datas.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)).filter((c) => c.error);
    assert.equal(errs.length, 1, `one error payload: ${datas.join('\n')}`);
    assert.equal(typeof errs[0].error.message, 'string');
    assert.equal(errs[0].error.code, 'upstream_truncated');
    const finishes = datas.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)).flatMap((c) => c.choices ?? []).filter((ch) => ch.finish_reason === 'stop');
    assert.equal(finishes.length, 0, 'a cut stream does not claim to have finished normally');
    assert.equal((await upstreamWith(mark, 'openai')).length, 1);
  });
});
