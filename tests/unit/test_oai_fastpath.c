/*
 * test_oai_fastpath.c - the OpenAI-dialect parser's tree-free fast path must
 * emit exactly the events of the jansson path, for streams (at every byte
 * split of the body) and whole answers, on hand-picked shapes and on
 * pseudo-random mutations of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "gateway/provider_oai.h"

static const gw_oai_dialect dialect = {.name = "openai",
                                       .default_base = "http://x/v1",
                                       .path = "/chat/completions",
                                       .key_required = false};

static void log_slice(buf_t *log, const char *name, slice_t s)
{
    buf_printf(log, " %s=%s[", name, s.ptr ? "" : "NULL");
    buf_append(log, s.ptr ? s.ptr : "", s.len);
    buf_append_cstr(log, "]");
}

static void record(void *ud, const gw_event *ev)
{
    buf_t *log = ud;
    buf_printf(log, "%d", (int)ev->type);
    switch (ev->type) {
    case GW_EV_START:
        log_slice(log, "id", ev->id);
        log_slice(log, "model", ev->model);
        break;
    case GW_EV_TEXT:
    case GW_EV_REASONING:
        log_slice(log, "text", ev->text);
        break;
    case GW_EV_TOOL_CALL_START:
    case GW_EV_TOOL_ARGS:
    case GW_EV_TOOL_CALL_END:
        buf_printf(log, " i=%d valid=%d", ev->tool_index, ev->args_valid_json);
        log_slice(log, "tid", ev->tool_id);
        log_slice(log, "name", ev->tool_name);
        log_slice(log, "text", ev->text);
        break;
    case GW_EV_USAGE:
        buf_printf(log, " %lld %lld %lld %lld cost=%lld exact=%d",
                   (long long)ev->usage.tokens.input, (long long)ev->usage.tokens.cached_input,
                   (long long)ev->usage.tokens.output, (long long)ev->usage.tokens.reasoning,
                   (long long)ev->usage.provider_cost_pico, ev->usage.exact);
        break;
    case GW_EV_FINISH:
        buf_printf(log, " finish=%d", (int)ev->finish);
        log_slice(log, "raw", ev->finish_raw);
        break;
    case GW_EV_ERROR:
        buf_printf(log, " code=%d retry=%d", (int)ev->error.code, ev->error.retryable);
        log_slice(log, "msg", ev->error.message);
        break;
    default:
        break;
    }
    buf_append_cstr(log, "\n");
}

/* Events of body as a stream fed in pieces of `step` bytes (0: whole). */
static void run_stream(slice_t body, size_t step, bool fast, buf_t *log)
{
    gw_request req;
    memset(&req, 0, sizeof req);
    gw_oai_fast_path = fast;
    buf_reset(log);
    gw_stream *s = gw_oai_stream_new(&dialect, &req, record, log);
    assert_non_null(s);
    size_t at = 0;
    while (at < body.len) {
        size_t n = step ? MIN(step, body.len - at) : body.len;
        if (gw_oai_stream_feed(s, body.ptr + at, n) != CORE_OK) break;
        at += n;
    }
    gw_oai_stream_finish(s);
    gw_oai_stream_free(s);
    gw_oai_fast_path = true;
}

static void run_whole(slice_t body, bool fast, buf_t *log)
{
    gw_request req;
    memset(&req, 0, sizeof req);
    gw_oai_fast_path = fast;
    buf_reset(log);
    gw_oai_parse_response(&dialect, &req, body, record, log);
    gw_oai_fast_path = true;
}

static void assert_same_logs(const buf_t *a, const buf_t *b, slice_t input)
{
    if (a->len == b->len && memcmp(a->data, b->data, a->len) == 0) return;
    print_error("input [%.*s]\nfast:\n%s\njansson:\n%s\n", (int)input.len, input.ptr, a->data,
                b->data);
    fail();
}

static const char *const chunks[] = {
    "{\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\\"q\\\" \\ud83d"
    "\\ude00\\n\"}}]}",
    "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"think\","
    "\"reasoning\":\"more\",\"content\":null}}]}",
    "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}},{\"delta\":{\"content\":\"first"
    "\"}}]}",
    "{\"choices\":[{\"index\":0.0,\"delta\":{\"content\":\"real index\"}}]}",
    "{\"choices\":[{\"index\":-0,\"delta\":{\"content\":\"minus zero\"},\"finish_reason\":\"len"
    "gth\"}]}",
    "{\"choices\":[5,{\"index\":0}]}",
    "{\"choices\":{\"index\":0}}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\",\"content\":\"b\"}}],\"id\":1}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[]},\"finish_reason\":\"stop\"}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":"
    "{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"parts\"}]}}]"
    "}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"st\\u006fp\"}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"insufficient_system_resource\"}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":8,\"total_tokens\":20,"
    "\"prompt_tokens_details\":{\"cached_tokens\":30},\"completion_tokens_details\":{\"reasoning_"
    "tokens\":3},\"cost\":\"0.0000138\"}}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":-4,\"completion_tokens\":2.5,"
    "\"prompt_cache_hit_tokens\":null},\"cost\":1.5e-05}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":\"7\",\"prompt_cache_hit_tokens\":3,"
    "\"completion_tokens_details\":5}}",
    "{\"error\":{\"message\":\"overloaded\",\"code\":503}}",
    "{\"error\":null,\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}",
    "{\"\\u0069d\":\"escaped key\",\"choices\":[]}",
    "[1,2]",
    "not json",
    "{\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}",
    "{\"id\":\"big\",\"created\":123456789012345678901234}",
};

static void test_stream_chunks(void **state)
{
    (void)state;
    buf_t body, fast, slow;
    buf_init(&body, 0);
    buf_init(&fast, 0);
    buf_init(&slow, 0);
    /* each chunk alone, then all together, at several split steps */
    for (size_t i = 0; i <= ARRAY_LEN(chunks); i++) {
        buf_reset(&body);
        for (size_t j = 0; j < ARRAY_LEN(chunks); j++)
            if (i == ARRAY_LEN(chunks) ? j + 3 < ARRAY_LEN(chunks) : j == i)
                buf_printf(&body, "data: %s\n\n", chunks[j]);
        buf_append_cstr(&body, "data: [DONE]\n\n");
        size_t steps[] = {0, 1, 2, 7, 64};
        for (size_t k = 0; k < ARRAY_LEN(steps); k++) {
            run_stream(buf_slice(&body), steps[k], true, &fast);
            run_stream(buf_slice(&body), steps[k], false, &slow);
            assert_same_logs(&fast, &slow, buf_slice(&body));
        }
    }
    buf_free(&body);
    buf_free(&fast);
    buf_free(&slow);
}

static void test_whole_answers(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt\",\"choices\":[{"
        "\"ind"
        "ex\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\",\"refusal\":null},\"fin"
        "ish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7}}",
        "  \n{\"choices\":[{\"message\":{\"content\":\"no finish\"}}]}  ",
        "{\"choices\":[]}",
        "{\"id\":\"x\"}",
        "{\"choices\":[{\"message\":{\"reasoning_content\":\"r\",\"content\":\"\\t\"},\"finish_rea"
        "son\":\"content_filter\"}],\"usage\":{\"prompt_tokens\":1},\"cost\":\"0.5\"}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
        "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}",
        "",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}]} trailing",
    };
    buf_t fast, slow;
    buf_init(&fast, 0);
    buf_init(&slow, 0);
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        run_whole(slice_from_cstr(bodies[i]), true, &fast);
        run_whole(slice_from_cstr(bodies[i]), false, &slow);
        assert_same_logs(&fast, &slow, slice_from_cstr(bodies[i]));
    }
    for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
        run_whole(slice_from_cstr(chunks[i]), true, &fast);
        run_whole(slice_from_cstr(chunks[i]), false, &slow);
        assert_same_logs(&fast, &slow, slice_from_cstr(chunks[i]));
    }
    buf_free(&fast);
    buf_free(&slow);
}

static void test_mutations(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\",:\\u0aeE+-.1nt \x80\xc3\xa9";
    buf_t body, fast, slow;
    buf_init(&body, 0);
    buf_init(&fast, 0);
    buf_init(&slow, 0);
    uint64_t x = 0x243F6A8885A308D3ULL;
    for (int round = 0; round < 6000; round++) {
        const char *seed = chunks[(size_t)round % ARRAY_LEN(chunks)];
        size_t n = strlen(seed);
        buf_reset(&body);
        buf_append(&body, seed, n);
        for (int e = 0; e < 1 + round % 3; e++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body.data[x % n] = alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        run_whole(buf_slice(&body), true, &fast);
        run_whole(buf_slice(&body), false, &slow);
        assert_same_logs(&fast, &slow, buf_slice(&body));
    }
    buf_free(&body);
    buf_free(&fast);
    buf_free(&slow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_chunks),
        cmocka_unit_test(test_whole_answers),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
