/*
 * test_provider_deepseek.c - DeepSeek's differences from the OpenAI dialect:
 * reasoning_content replay in tool loops, thinking toggle, cache-hit usage
 * fields, keep-alive comments and leading blank lines, usage on the last
 * content chunk, insufficient_system_resource, "Model Not Exist" and 402.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adapter_harness.h"
#include "core/arena.h"

static const gw_provider_cfg deepseek_cfg = {.name = "deepseek", .api_key = "sk-ds"};

static void test_build_tool_loop_replay(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    memset(&req, 0, sizeof(req));
    req.model = "deepseek-v4-flash";
    req.messages = json_loads(
        "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
        "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"reasoning_content\":\"old\"},"
        "{\"role\":\"user\",\"content\":\"Please.\"},"
        "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"need tool\","
        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"w\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]",
        0, NULL);
    req.max_tokens = 50;
    req.has_temperature = true;
    req.temperature = 1;
    req.reasoning_effort = "none";
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_deepseek.build(&deepseek_cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "https://api.deepseek.com/chat/completions");
    assert_string_equal(up.headers[0], "Authorization: Bearer sk-ds");
    /* reasoning dropped from the plain turn, kept on the tool-call turn */
    assert_string_equal(
        up.body.ptr,
        "{\"model\":\"deepseek-v4-flash\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather "
        "in Paris?\"},{\"role\":\"assistant\",\"content\":\"Let me check.\"},{\"role\":\"user\","
        "\"content\":\"Please.\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
        "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":"
        "\"{}\"}}],\"reasoning_content\":\"need tool\"},{\"role\":\"tool\",\"tool_call_id\":"
        "\"call_1\",\"content\":\"sunny\"}],\"max_tokens\":50,\"temperature\":1.0,"
        "\"thinking\":{\"type\":\"disabled\"}}");
    /* the same history to OpenAI loses every reasoning field */
    gw_provider_cfg openai_cfg = {.name = "openai", .api_key = "k"};
    assert_int_equal(gw_provider_openai.build(&openai_cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_null(strstr(up.body.ptr, "reasoning_content"));
    /* JSON schema is not something DeepSeek does */
    req.json_schema = json_pack("{s:s,s:{}}", "name", "x", "schema");
    assert_int_equal(gw_provider_deepseek.build(&deepseek_cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_INVALID_REQUEST);
    assert_non_null(strstr(errmsg, "schema"));
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_stream_reasoning(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "deepseek-v4-flash", true);
    harness_check_fixture(&gw_provider_deepseek, &req, "deepseek/reasoning.sse",
                          "START id=a3f0 model=deepseek-v4-flash\n"
                          "REASONING \"User asks \"\n"
                          "REASONING \"capital...\"\n"
                          "TEXT \"Paris\"\n"
                          "TEXT \".\"\n"
                          "FINISH stop raw=stop\n"
                          "USAGE in=1030 cached=1024 out=92 reasoning=81 cost=-1 exact=1\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_usage_last_wins(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "deepseek-v4-flash", true);
    harness_check_fixture(&gw_provider_deepseek, &req, "deepseek/usage_last_chunk.sse",
                          "START id=a3f0 model=deepseek-v4-flash\n"
                          "TEXT \"Hi\"\n"
                          "TEXT \"!\"\n"
                          "FINISH length raw=length\n"
                          "USAGE in=12 cached=0 out=2 reasoning=0 cost=-1 exact=1\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_insufficient_resource(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "deepseek-v4-flash", true);
    harness_check_fixture(&gw_provider_deepseek, &req, "deepseek/insufficient.sse",
                          "START id=a3f0 model=deepseek-v4-flash\n"
                          "TEXT \"Par\"\n"
                          "ERROR model_unavailable status=0 retry=1 after=-1 "
                          "code=insufficient_system_resource msg=\"the provider ran out of "
                          "capacity while answering\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_parse_response_leading_blank_lines(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "deepseek-v4-flash", false);
    harness_check_response(
        &gw_provider_deepseek, &req,
        SLICE_LIT(
            "\n\n\n{\"id\":\"a3f0\",\"object\":\"chat.completion\",\"created\":1763990100,"
            "\"model\":\"deepseek-v4-flash\",\"choices\":[{\"index\":0,\"finish_reason\":"
            "\"stop\",\"logprobs\":null,\"message\":{\"role\":\"assistant\",\"content\":"
            "\"Paris.\",\"reasoning_content\":\"User asks capital...\"}}],\"usage\":{"
            "\"prompt_tokens\":1030,\"completion_tokens\":92,\"total_tokens\":1122,"
            "\"prompt_tokens_details\":{\"cached_tokens\":1024},\"completion_tokens_details\":"
            "{\"reasoning_tokens\":81},\"prompt_cache_hit_tokens\":1024,"
            "\"prompt_cache_miss_tokens\":6},\"system_fingerprint\":\"fp_x\"}"),
        "START id=a3f0 model=deepseek-v4-flash\n"
        "REASONING \"User asks capital...\"\n"
        "TEXT \"Paris.\"\n"
        "FINISH stop raw=stop\n"
        "USAGE in=1030 cached=1024 out=92 reasoning=81 cost=-1 exact=1\n"
        "DONE\n");
    gw_request_release(&req);
}

static void expect_error(int status, const char *body, const char *expected)
{
    char *got = harness_map_error(&gw_provider_deepseek, status, body, NULL);
    if (strcmp(got, expected) != 0) fail_msg("status %d:\n got %s want %s", status, got, expected);
    free(got);
}

static void test_map_error(void **state)
{
    (void)state;
    expect_error(400,
                 "{\"error\":{\"message\":\"Model Not Exist\",\"type\":\"invalid_request_error\","
                 "\"param\":null,\"code\":\"invalid_request_error\"}}",
                 "ERROR model_not_found status=400 retry=0 after=-1 code=invalid_request_error "
                 "msg=\"Model Not Exist\"\n");
    expect_error(402,
                 "{\"error\":{\"message\":\"Insufficient Balance\",\"type\":\"unknown_error\","
                 "\"param\":null,\"code\":\"invalid_request_error\"}}",
                 "ERROR provider_quota status=402 retry=0 after=-1 code=invalid_request_error "
                 "msg=\"Insufficient Balance\"\n");
    expect_error(401,
                 "{\"error\":{\"message\":\"Authentication Fails, Your api key: ****abcd is "
                 "invalid\",\"type\":\"authentication_error\",\"param\":null,\"code\":"
                 "\"invalid_request_error\"}}",
                 "ERROR provider_auth status=401 retry=0 after=-1 code=invalid_request_error "
                 "msg=\"the provider rejected the gateway's credentials\"\n");
    expect_error(422, "{\"error\":{\"message\":\"Invalid Parameters\",\"type\":\"x\"}}",
                 "ERROR invalid_request status=422 retry=0 after=-1 code=x msg=\"Invalid "
                 "Parameters\"\n");
    expect_error(429, "{\"error\":{\"message\":\"Rate Limit Reached\"}}",
                 "ERROR rate_limited status=429 retry=1 after=-1 code= msg=\"Rate Limit "
                 "Reached\"\n");
    expect_error(503, "{\"error\":{\"message\":\"Server Overloaded\"}}",
                 "ERROR model_unavailable status=503 retry=1 after=-1 code= msg=\"Server "
                 "Overloaded\"\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_tool_loop_replay),
        cmocka_unit_test(test_stream_reasoning),
        cmocka_unit_test(test_stream_usage_last_wins),
        cmocka_unit_test(test_stream_insufficient_resource),
        cmocka_unit_test(test_parse_response_leading_blank_lines),
        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
