// POST /api/generate against the simulator and every fake provider: text, reasoning and tool calls,
// non-streaming and streaming (DESIGN §3 event grammar), exact cost (tokens x registry price with
// BigInt), estimated usage when the provider reports none, what the gateway sent upstream, and
// request validation errors.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FAKE_KEYS, LOCAL_TOOLS_SETUP, checkGenerateStream, costPico, expectJsonError, formatPico, genBody, registryEntry, startAigw, startFakes,
} from './lib.mjs';

let fakes;
let gw;
let gwV2; // a second gateway speaking Eden's v2 API
let marker = 0;
const uniq = (label) => `${label} m${++marker}x`;

before(async () => {
  fakes = await startFakes();
  gw = await startAigw({
    fakes,
    setup: [
      LOCAL_TOOLS_SETUP,
      // An admin adds an Eden model that thinks (Eden v3 passes reasoning_content through).
      ['models', 'add', '--provider', 'eden', '--model', 'deepseek/deepseek-reasoner', '--input', '0.28', '--cached-input', '0.028', '--output', '0.42', '--source', 'operator (black-box test)', '--caps', 'chat,streaming,reasoning', '--context', '131072'],
    ],
  });
  gwV2 = await startAigw({ fakes, providers: ['eden'], env: { EDENAI_API_VERSION: 'v2' } });
});
after(async () => {
  await gw?.stop();
  await gwV2?.stop();
  await fakes?.stop();
});
beforeEach(async () => { await fakes.reset(); });

/** The one upstream generation request whose body mentions the marker. */
async function upstreamFor(mark, provider) {
  const recs = (await fakes.chatRequests(provider)).filter((r) => JSON.stringify(r.body).includes(mark));
  assert.equal(recs.length, 1, `expected exactly one upstream request with "${mark}", got ${recs.length}`);
  return recs[0];
}

/** Gateway usage the provider's reported usage must normalize to (null fields are not checked). */
function expectedUsage(provider, rec) {
  const u = rec.response_usage;
  if (!u) return null;
  switch (provider) {
    case 'deepseek':
      return { input_tokens: u.prompt_tokens, cached_input_tokens: u.prompt_cache_hit_tokens, output_tokens: u.completion_tokens, reasoning_tokens: u.completion_tokens_details.reasoning_tokens };
    case 'fal': // no cache or reasoning breakdown in fal's usage
      return { input_tokens: u.prompt_tokens, cached_input_tokens: 0, output_tokens: u.completion_tokens, reasoning_tokens: null };
    case 'local':
      return { input_tokens: u.prompt_tokens, cached_input_tokens: u.prompt_tokens_details?.cached_tokens ?? 0, output_tokens: u.completion_tokens, reasoning_tokens: null };
    default:
      return { input_tokens: u.prompt_tokens, cached_input_tokens: u.prompt_tokens_details?.cached_tokens ?? 0, output_tokens: u.completion_tokens, reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 };
  }
}

function checkUsageAgainst(actual, expected, ctx) {
  for (const k of ['input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens']) {
    assert.ok(Number.isInteger(actual[k]) && actual[k] >= 0, `${ctx}: usage.${k} must be a non-negative integer: ${JSON.stringify(actual)}`);
    if (expected && expected[k] !== null) assert.equal(actual[k], expected[k], `${ctx}: usage.${k}`);
  }
}

const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

/** Normalizes a tool call of output.tool_calls (OpenAI form or flat form) to {id, name, arguments}. */
const flatTool = (tc) => ({ id: tc.id, name: tc.function?.name ?? tc.name, arguments: tc.function?.arguments ?? tc.arguments });

/** Upstream request checks every provider shares: right path, exact credentials, model id, prompt. */
function checkUpstream(provider, model, rec, { stream, text, gateway }) {
  const b = rec.body;
  switch (provider) {
    case 'openai':
      assert.equal(rec.path, '/openai/v1/chat/completions');
      assert.equal(rec.headers.authorization, `Bearer ${FAKE_KEYS.openai}`);
      break;
    case 'deepseek':
      assert.equal(rec.path, '/deepseek/chat/completions');
      assert.equal(rec.headers.authorization, `Bearer ${FAKE_KEYS.deepseek}`);
      break;
    case 'fal':
      assert.equal(rec.path, stream ? '/fal/openrouter/router/stream' : '/fal/openrouter/router');
      assert.equal(rec.headers.authorization, `Key ${FAKE_KEYS.fal}`);
      assert.equal(b.model, model);
      assert.ok(b.prompt.includes(text), `fal prompt must carry the user text: ${b.prompt}`);
      return;
    case 'eden':
      assert.equal(rec.headers.authorization, `Bearer ${FAKE_KEYS.eden}`);
      if (gateway === 'v2') {
        assert.equal(rec.path, stream ? '/eden/v2/text/chat/stream' : '/eden/v2/text/chat');
        assert.ok(b.text.includes(text));
        return;
      }
      assert.equal(rec.path, '/eden/v3/llm/chat/completions');
      break;
    case 'local':
      assert.equal(rec.path, '/local/v1/chat/completions');
      break;
  }
  assert.equal(b.model, model, 'the provider model id goes upstream without the gateway prefix');
  assert.equal(b.stream === true, stream, `upstream stream flag: ${JSON.stringify(b.stream)}`);
  if (stream) assert.equal(b.stream_options?.include_usage, true, 'streams must ask for usage (stream_options.include_usage)');
  const last = b.messages.at(-1);
  assert.equal(last.role, 'user');
  assert.ok(JSON.stringify(last.content).includes(text.replace(/"/g, '\\"')), 'last upstream message carries the user text');
}

// One row per provider/model/kind. kind: text | reasoning | tool.
const MATRIX = [
  ['openai', 'gpt-4o-mini', 'text'],
  ['openai', 'gpt-4o-mini', 'tool'],
  ['openai', 'o4-mini', 'reasoning'], // hidden reasoning: tokens billed, no text
  ['deepseek', 'deepseek-v4-flash', 'text'],
  ['deepseek', 'deepseek-v4-flash', 'reasoning'],
  ['deepseek', 'deepseek-v4-pro', 'tool'],
  ['fal', 'google/gemini-2.5-flash', 'text'],
  ['fal', 'anthropic/claude-sonnet-4.5', 'reasoning'],
  ['eden', 'openai/gpt-4o', 'text'],
  ['eden', 'openai/gpt-4o-mini', 'tool'],
  ['eden', 'deepseek/deepseek-reasoner', 'reasoning'],
  ['local', 'llama3.2:3b', 'text'],
  ['local', 'qwen3:8b', 'reasoning'],
  ['local', 'llama3.2:3b', 'tool'],
];

function bodyFor(provider, model, kind, text, stream) {
  const opts = { stream, featureOptions: { maxTokens: 256 }, input: { systemPrompt: 'You are terse.' } };
  if (kind === 'reasoning') opts.featureOptions.reasoningEffort = 'high';
  if (kind === 'tool') opts.input.tools = [WEATHER_TOOL];
  return genBody(provider, model, text, opts);
}

describe('/api/generate with fake providers', () => {
  for (const [provider, model, kind] of MATRIX) {
    for (const stream of [false, true]) {
      test(`${provider}/${model} ${kind} ${stream ? 'stream' : 'non-stream'}`, async () => {
        const text = uniq(`Tell me about ${kind} in Paris`);
        const t0 = Date.now();
        const res = await gw.generate(bodyFor(provider, model, kind, text, stream));
        const elapsed = Date.now() - t0;
        assert.equal(res.status, 200, `HTTP ${res.status}: ${res.raw.slice(0, 500)}${gw.tail()}`);
        const rec = await upstreamFor(text, provider);
        checkUpstream(provider, model, rec, { stream, text });
        const pricing = (await registryEntry(gw, provider, model)).pricing;
        const want = expectedUsage(provider, rec);

        let out;
        if (!stream) {
          const j = res.json;
          assert.ok(j, `non-stream answer must be JSON: ${res.raw.slice(0, 200)}`);
          assert.match(j.id, /^gen_/);
          assert.equal(j.provider, provider);
          assert.equal(j.model, model);
          assert.equal(typeof j.output.text, 'string');
          assert.ok(Array.isArray(j.output.tool_calls), 'output.tool_calls is an array');
          assert.ok(Number.isInteger(j.latency_ms) && j.latency_ms >= 0 && j.latency_ms <= elapsed + 5, `latency_ms ${j.latency_ms}`);
          assert.ok(Number.isInteger(j.ttft_ms) && j.ttft_ms >= 0 && j.ttft_ms <= j.latency_ms, `ttft_ms ${j.ttft_ms}`);
          checkUsageAgainst(j.usage, want, 'usage');
          assert.equal(j.cost.estimated, false);
          assert.equal(j.cost.usd, formatPico(costPico(pricing, j.usage)), 'cost = tokens x registry price');
          out = { text: j.output.text, reasoning: j.output.reasoning, toolCalls: j.output.tool_calls.map(flatTool), finish: j.output.finish_reason };
        } else {
          assert.match(res.headers.get('content-type'), /^text\/event-stream/);
          const s = checkGenerateStream(res.events);
          assert.equal(s.error, null, `unexpected error event: ${JSON.stringify(s.error)}`);
          assert.match(s.start.id, /^gen_/);
          assert.equal(s.start.provider, provider);
          assert.equal(s.start.model, model);
          checkUsageAgainst(s.usage, want, 'usage event');
          assert.equal(s.usage.estimated, false);
          assert.equal(s.usage.cost_usd, formatPico(costPico(pricing, s.usage)), 'cost_usd = tokens x registry price');
          assert.ok(Number.isInteger(s.done.latency_ms) && s.done.latency_ms >= 0);
          assert.ok(Number.isInteger(s.done.ttft_ms) && s.done.ttft_ms <= s.done.latency_ms);
          out = { text: s.text, reasoning: s.reasoning, toolCalls: [...s.toolCalls.values()], finish: s.done.finish_reason };
        }

        if (kind === 'tool') {
          assert.equal(out.finish, 'tool_calls');
          assert.equal(out.toolCalls.length, 1, JSON.stringify(out.toolCalls));
          const [want0] = rec.response_tool_calls;
          assert.equal(out.toolCalls[0].id, want0.id);
          assert.equal(out.toolCalls[0].name, 'get_weather');
          assert.deepEqual(JSON.parse(out.toolCalls[0].arguments), { city: 'Paris' });
          assert.equal(rec.body.tools?.[0]?.function?.name, 'get_weather', 'tools forwarded upstream');
        } else {
          assert.equal(out.finish, 'stop');
          assert.equal(out.text, rec.response_text, 'text relayed byte for byte');
          if (kind === 'reasoning' && provider !== 'openai') assert.ok(rec.response_reasoning, 'a reasoning request must ask the provider for reasoning');
          if (rec.response_reasoning) assert.equal(out.reasoning ?? '', rec.response_reasoning, 'reasoning relayed');
        }
        if (provider === 'openai' && model === 'o4-mini') {
          assert.equal(rec.body.max_tokens, undefined, 'o-series reject max_tokens: send max_completion_tokens');
          assert.equal(rec.body.max_completion_tokens, 256);
        }
      });
    }
  }

  test('fal has no tool calling: tools are refused before anything goes upstream', async () => {
    const res = await gw.generate(bodyFor('fal', 'google/gemini-2.5-flash', 'tool', uniq('tools on fal'), false));
    const err = expectJsonError(res, 400, 'invalid_request');
    assert.match(err.message, /tool/i);
    assert.equal((await fakes.chatRequests('fal')).length, 0);
  });

  test('deepseek thinking + tools: history replays reasoning_content upstream', async () => {
    const text = uniq('second turn');
    const messages = [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: null, reasoning_content: 'I should call the tool.', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_9', content: '{"weather":"rain"}' },
      { role: 'user', content: text },
    ];
    const res = await gw.generate(genBody('deepseek', 'deepseek-v4-flash', text, { featureOptions: { reasoningEffort: 'high' }, input: { messages, tools: [WEATHER_TOOL] } }));
    assert.equal(res.status, 200, `DeepSeek rejects a thinking-mode tool history without reasoning_content: ${res.raw.slice(0, 300)}`);
    const rec = await upstreamFor(text, 'deepseek');
    assert.equal(rec.body.messages[1].reasoning_content, 'I should call the tool.');
  });

  test('deepseek cache hits are billed at the cached price', async () => {
    const text = uniq('cache me [[fake:cache-hit]]');
    const res = await gw.generate(genBody('deepseek', 'deepseek-v4-flash', text));
    assert.equal(res.status, 200, res.raw);
    const rec = await upstreamFor(text, 'deepseek');
    assert.ok(rec.response_usage.prompt_cache_hit_tokens > 0);
    assert.equal(res.json.usage.cached_input_tokens, rec.response_usage.prompt_cache_hit_tokens);
    assert.equal(res.json.usage.input_tokens, rec.response_usage.prompt_tokens, 'input includes cached (hit + miss)');
    const pricing = (await registryEntry(gw, 'deepseek', 'deepseek-v4-flash')).pricing;
    assert.equal(res.json.cost.usd, formatPico(costPico(pricing, res.json.usage)));
  });

  test('openai cached tokens are a subset of prompt tokens', async () => {
    const text = uniq('cache me too [[fake:cache-hit]]');
    const res = await gw.generate(genBody('openai', 'gpt-4o', text, { stream: true }));
    const s = checkGenerateStream(res.events);
    const rec = await upstreamFor(text, 'openai');
    assert.equal(s.usage.cached_input_tokens, rec.response_usage.prompt_tokens_details.cached_tokens);
    assert.equal(s.usage.input_tokens, rec.response_usage.prompt_tokens);
    const pricing = (await registryEntry(gw, 'openai', 'gpt-4o')).pricing;
    assert.equal(s.usage.cost_usd, formatPico(costPico(pricing, s.usage)));
  });

  test('fal usage.cost agrees with the registry price', async () => {
    const text = uniq('price check');
    const res = await gw.generate(genBody('fal', 'meta-llama/llama-4-maverick', text));
    assert.equal(res.status, 200, res.raw);
    const rec = await upstreamFor(text, 'fal');
    assert.equal(res.json.cost.usd, formatPico(costPico((await registryEntry(gw, 'fal', 'meta-llama/llama-4-maverick')).pricing, res.json.usage)));
    // The fake prices like OpenRouter; when the registry agrees the two costs are the same number.
    assert.equal(Number(res.json.cost.usd), Number(rec.response_cost_usd));
  });

  for (const [provider, model] of [['openai', 'gpt-4o-mini'], ['deepseek', 'deepseek-v4-flash'], ['fal', 'google/gemini-2.5-flash'], ['local', 'llama3.2:3b']]) {
    for (const stream of [false, true]) {
      test(`${provider}: usage the provider omitted is estimated (${stream ? 'stream' : 'non-stream'})`, async () => {
        const text = uniq('no usage please [[fake:no-usage]]');
        const res = await gw.generate(genBody(provider, model, text, { stream }));
        assert.equal(res.status, 200, res.raw.slice(0, 400));
        const rec = await upstreamFor(text, provider);
        const pricing = (await registryEntry(gw, provider, model)).pricing;
        let usage;
        let usd;
        let estimated;
        if (stream) {
          const s = checkGenerateStream(res.events);
          assert.equal(s.error, null);
          assert.equal(s.text, rec.response_text);
          usage = s.usage; usd = s.usage.cost_usd; estimated = s.usage.estimated;
        } else {
          assert.equal(res.json.output.text, rec.response_text);
          usage = res.json.usage; usd = res.json.cost.usd; estimated = res.json.cost.estimated;
        }
        assert.equal(estimated, true, 'usage counted locally is flagged estimated');
        assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0, `estimate must not bill zero: ${JSON.stringify(usage)}`);
        assert.equal(usd, formatPico(costPico(pricing, usage)));
      });
    }
  }

  for (const stream of [false, true]) {
    test(`eden v2 (EDENAI_API_VERSION=v2) ${stream ? 'NDJSON stream' : 'non-stream'}: text, estimated usage`, async () => {
      const text = uniq('hello eden two');
      const res = await gwV2.generate(genBody('eden', 'openai/gpt-4o', text, { stream, input: { systemPrompt: 'Be kind.' } }));
      assert.equal(res.status, 200, res.raw.slice(0, 400) + gwV2.tail());
      const rec = await upstreamFor(text, 'eden');
      checkUpstream('eden', 'openai/gpt-4o', rec, { stream, text, gateway: 'v2' });
      const b = rec.body;
      const prov = Array.isArray(b.providers) ? b.providers[0] : b.providers;
      assert.ok(prov === 'openai/gpt-4o' || (prov === 'openai' && b.settings?.openai === 'gpt-4o'), `v2 provider selection: ${JSON.stringify(b)}`);
      assert.equal(b.chatbot_global_action, 'Be kind.', 'system prompt travels as chatbot_global_action');
      const pricing = (await registryEntry(gwV2, 'eden', 'openai/gpt-4o')).pricing;
      if (stream) {
        const s = checkGenerateStream(res.events);
        assert.equal(s.error, null);
        assert.equal(s.text, rec.response_text);
        assert.equal(s.done.finish_reason, 'stop');
        assert.equal(s.usage.estimated, true, 'v2 streams report no usage');
        assert.equal(s.usage.cost_usd, formatPico(costPico(pricing, s.usage)));
      } else {
        assert.equal(res.json.output.text, rec.response_text);
        assert.equal(res.json.cost.estimated, true, 'v2 reports no token counts');
        assert.ok(res.json.usage.output_tokens > 0);
      }
    });
  }

  test('eden v2 failure inside HTTP 200 is an error, not an empty answer', async () => {
    const res = await gwV2.generate(genBody('eden', 'openai/gpt-4o', uniq('fail please [[fake:eden-fail-in-200]]')));
    const err = expectJsonError(res, 502, 'provider_error');
    assert.match(err.message, /overloaded|fail/i);
  });
});

describe('/api/generate with the simulator', () => {
  for (const [model, kind] of [['sim-chat', 'text'], ['sim-fast', 'text'], ['sim-reasoning', 'reasoning'], ['sim-tools', 'tool']]) {
    for (const stream of [false, true]) {
      test(`simulator/${model} ${stream ? 'stream' : 'non-stream'}`, async () => {
        const res = await gw.generate(bodyFor('simulator', model, kind, uniq('Say something about the sea'), stream));
        assert.equal(res.status, 200, res.raw.slice(0, 400));
        const pricing = (await registryEntry(gw, 'simulator', model)).pricing;
        let out;
        if (stream) {
          const s = checkGenerateStream(res.events);
          assert.equal(s.error, null);
          assert.equal(s.start.provider, 'simulator');
          assert.equal(s.start.model, model);
          assert.equal(s.usage.estimated, false);
          assert.equal(s.usage.cost_usd, formatPico(costPico(pricing, s.usage)));
          out = { text: s.text, reasoning: s.reasoning, tools: [...s.toolCalls.values()], finish: s.done.finish_reason, usage: s.usage };
        } else {
          const j = res.json;
          assert.equal(j.provider, 'simulator');
          assert.equal(j.cost.estimated, false);
          assert.equal(j.cost.usd, formatPico(costPico(pricing, j.usage)));
          out = { text: j.output.text, reasoning: j.output.reasoning, tools: j.output.tool_calls.map(flatTool), finish: j.output.finish_reason, usage: j.usage };
        }
        assert.ok(out.usage.input_tokens > 0 && out.usage.output_tokens > 0);
        if (kind === 'tool') {
          assert.equal(out.finish, 'tool_calls');
          assert.equal(out.tools[0].name, 'get_weather');
          assert.equal(typeof JSON.parse(out.tools[0].arguments), 'object');
        } else {
          assert.equal(out.finish, 'stop');
          assert.ok(out.text.length > 0, 'simulator answers with text');
        }
        if (kind === 'reasoning') {
          assert.ok((out.reasoning ?? '').length > 0, 'sim-reasoning streams reasoning');
          assert.ok(out.usage.reasoning_tokens > 0);
        }
      });
    }
  }

  test('the simulator is deterministic', async () => {
    const body = genBody('simulator', 'sim-chat', 'Same question, same answer');
    const a = await gw.generate(body);
    const b = await gw.generate(body);
    assert.equal(a.json.output.text, b.json.output.text);
    assert.deepEqual(a.json.usage, b.json.usage);
    assert.equal(a.json.cost.usd, b.json.cost.usd);
  });
});

describe('/api/generate validation', () => {
  const valid = () => genBody('simulator', 'sim-fast', 'hi');
  const cases = [
    ['bad JSON', '{"provider": "simulator", "model": ', /JSON/i],
    ['empty body', '', /empty|JSON/i],
    ['a JSON array', '[]', /object/i],
    ['missing model', (() => { const b = valid(); delete b.model; return JSON.stringify(b); })(), /model/],
    ['model of the wrong type', JSON.stringify({ ...valid(), model: 42 }), /model/],
    ['messages not an array', JSON.stringify({ ...valid(), input: { messages: 'hi' } }), /messages/],
    ['empty messages', JSON.stringify({ ...valid(), input: { messages: [] } }), /messages/],
    ['missing input', (() => { const b = valid(); delete b.input; return JSON.stringify(b); })(), /input/],
    ['streaming not a boolean', JSON.stringify({ ...valid(), featureOptions: { streaming: 'yes' } }), /streaming/],
    ['maxTokens not an integer', JSON.stringify({ ...valid(), featureOptions: { maxTokens: 'many' } }), /maxTokens/],
    ['temperature out of range', JSON.stringify({ ...valid(), featureOptions: { temperature: 7 } }), /temperature/],
    ['bad role', JSON.stringify({ ...valid(), input: { messages: [{ role: 'wizard', content: 'x' }] } }), /role/],
  ];
  for (const [name, raw, re] of cases) {
    test(`400 invalid_request: ${name}`, async () => {
      const res = await gw.generate(raw, { raw: true });
      const err = expectJsonError(res, 400, 'invalid_request');
      assert.match(err.message, re, `message should say what is wrong: ${err.message}`);
      assert.equal(err.retryable, false);
    });
  }

  test('unknown provider -> 404 model_not_found', async () => {
    const res = await gw.generate(genBody('nosuchprovider', 'x-1', 'hi'));
    const err = expectJsonError(res, 404, 'model_not_found');
    assert.match(err.message, /nosuchprovider/);
  });

  test('unknown model of a known provider -> 404 model_not_found, nothing sent upstream', async () => {
    const res = await gw.generate(genBody('openai', 'gpt-2-turbo-ultra', 'hi'));
    const err = expectJsonError(res, 404, 'model_not_found');
    assert.match(err.message, /gpt-2-turbo-ultra/);
    assert.equal((await fakes.chatRequests('openai')).length, 0);
  });

  test('model_not_found also for streaming requests (HTTP status, not an event)', async () => {
    const res = await gw.generate(genBody('simulator', 'sim-nope', 'hi', { stream: true }));
    expectJsonError(res, 404, 'model_not_found');
  });

  test('provider/model in model alone is accepted', async () => {
    const b = genBody('simulator', 'sim-fast', 'hi');
    delete b.provider;
    b.model = 'simulator/sim-fast';
    const res = await gw.generate(b);
    assert.equal(res.status, 200, res.raw);
    assert.equal(res.json.provider, 'simulator');
    assert.equal(res.json.model, 'sim-fast');
  });

  test('body over the limit -> 413 payload_too_large', async () => {
    const b = genBody('simulator', 'sim-fast', 'x'.repeat(5 << 20));
    const res = await gw.generate(b);
    expectJsonError(res, 413, 'payload_too_large');
  });

  test('the gateway still serves after the validation errors', async () => {
    const res = await gw.generate(valid());
    assert.equal(res.status, 200);
  });
});
