/*
 * test_provider_eden.c - Eden AI: v3 (OpenAI dialect at /v3/llm/chat/
 * completions, cost in usage) and v2 (text/chat body with providers/settings/
 * previous_history, NDJSON stream ending at EOF, failure inside HTTP 200),
 * the generation detected from the bytes, and Eden's 403-is-auth rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adapter_harness.h"
#include "core/arena.h"

static void test_build_v3(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    harness_request(&req, "openai/gpt-4o", true);
    req.reasoning_effort = "low";
    gw_provider_cfg cfg = {.name = "eden", .api_key = "eden-token"};
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_eden.build(&cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "https://api.edenai.run/v3/llm/chat/completions");
    assert_string_equal(up.headers[0], "Authorization: Bearer eden-token");
    assert_string_equal(up.body.ptr,
                        "{\"model\":\"openai/gpt-4o\",\"messages\":[{\"role\":\"user\","
                        "\"content\":\"Hi\"}],\"reasoning_effort\":\"low\",\"stream\":true,"
                        "\"stream_options\":{\"include_usage\":true}}");
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_build_v2(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    memset(&req, 0, sizeof(req));
    req.model = "openai/gpt-4o";
    req.system_prompt = "You are concise.";
    req.messages = json_loads("[{\"role\":\"user\",\"content\":\"Capital of France?\"},"
                              "{\"role\":\"assistant\",\"content\":\"Paris.\"},"
                              "{\"role\":\"user\",\"content\":\"And its population?\"}]",
                              0, NULL);
    req.has_temperature = true;
    req.temperature = 0.2;
    req.max_tokens = 256;
    req.stream = true;
    gw_provider_cfg cfg = {.name = "eden",
                           .base_url = "http://127.0.0.1:5/eden",
                           .api_key = "eden-token",
                           .api_variant = "v2"};
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_eden.build(&cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "http://127.0.0.1:5/eden/v2/text/chat/stream");
    assert_true(up.stream);
    assert_string_equal(up.body.ptr,
                        "{\"providers\":\"openai\",\"settings\":{\"openai\":\"gpt-4o\"},\"text\":"
                        "\"And its population?\",\"chatbot_global_action\":\"You are concise.\","
                        "\"previous_history\":[{\"role\":\"user\",\"message\":\"Capital of "
                        "France?\"},{\"role\":\"assistant\",\"message\":\"Paris.\"}],"
                        "\"temperature\":0.2,\"max_tokens\":256}");
    /* tools are v3 only; the conversation must end with the user */
    req.tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", 0, NULL);
    assert_int_equal(gw_provider_eden.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_INVALID_REQUEST);
    json_decref(req.tools);
    req.tools = NULL;
    json_array_append_new(req.messages,
                          json_pack("{s:s,s:s}", "role", "assistant", "content", "x"));
    assert_int_equal(gw_provider_eden.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_INVALID_REQUEST);
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_stream_v2_ndjson(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "openai/gpt-4o", true);
    harness_check_fixture(&gw_provider_eden, &req, "eden/v2_stream.ndjson",
                          "START id= model=\n"
                          "TEXT \"About\"\n"
                          "TEXT \" 2.1\"\n"
                          "TEXT \" million.\"\n"
                          "FINISH stop raw=\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=210000000 exact=0\n"
                          "DONE\n");
    harness_check_fixture(&gw_provider_eden, &req, "eden/v2_stream_fail.ndjson",
                          "START id= model=\n"
                          "ERROR provider_error status=200 retry=1 after=-1 code=fail "
                          "msg=\"openai returned an error: The model is overloaded.\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    harness_check_fixture(&gw_provider_eden, &req, "eden/v2_stream_cut.ndjson",
                          "START id= model=\n"
                          "TEXT \"About\"\n"
                          "ERROR upstream_truncated status=0 retry=1 after=-1 code= "
                          "msg=\"upstream stream ended inside a line\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    harness_check_stream(&gw_provider_eden, &req,
                         SLICE_LIT("{\"text\":\"a\"}\nthis line is not json\n{\"text\":\"b\"}\n"),
                         "START id= model=\n"
                         "TEXT \"a\"\n"
                         "ERROR provider_error status=0 retry=1 after=-1 code= msg=\"the "
                         "provider sent a non-JSON line\"\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    harness_check_stream(&gw_provider_eden, &req,
                         SLICE_LIT("{\"text\":\"a\"}\n{\"error\":{\"message\":\"Provider openai "
                                   "failed mid-stream\"}}\n"),
                         "START id= model=\n"
                         "TEXT \"a\"\n"
                         "ERROR provider_error status=200 retry=1 after=-1 code= msg=\"Provider "
                         "openai failed mid-stream\"\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    gw_request_release(&req);
}

static void test_stream_v2_oversized_line(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "openai/gpt-4o", true);
    buf_t body;
    buf_init(&body, 0);
    buf_append_cstr(&body, "{\"text\":\"a\"}\n{\"text\":\"");
    for (int i = 0; i < (1 << 20); i++)
        buf_append_char(&body, 'H');
    buf_append_cstr(&body, "\"}\n");
    const char *expected = "START id= model=\n"
                           "TEXT \"a\"\n"
                           /* our ceiling: a retry would hit it again */
                           "ERROR provider_error status=0 retry=0 after=-1 code= msg=\"the "
                           "provider sent a stream line larger than the gateway accepts\"\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n";
    char *got = harness_run(&gw_provider_eden, &req, buf_slice(&body), NULL, 0, 0);
    assert_string_equal(got, expected);
    free(got);
    got = harness_run(&gw_provider_eden, &req, buf_slice(&body), NULL, 0, 4096);
    assert_string_equal(got, expected);
    free(got);
    buf_free(&body);
    gw_request_release(&req);
}

static void test_stream_v3_sse(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "openai/gpt-4o", true);
    harness_check_fixture(&gw_provider_eden, &req, "eden/v3_stream.sse",
                          "START id=eden-1 model=openai/gpt-4o\n"
                          "TEXT \"Bon\"\n"
                          "REASONING \"hmm\"\n"
                          "TEXT \"jour\"\n"
                          "FINISH stop raw=stop\n"
                          "USAGE in=10 cached=0 out=2 reasoning=0 cost=45000000 exact=1\n"
                          "DONE\n");
    /* nothing at all: a cut stream */
    harness_check_stream(&gw_provider_eden, &req, SLICE_LIT("\n\n"),
                         "START id= model=\n"
                         "ERROR upstream_truncated status=0 retry=1 after=-1 code= msg=\"upstream "
                         "stream ended before it finished\"\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    gw_request_release(&req);
}

static void test_parse_response(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "openai/gpt-4o", false);
    harness_check_response(
        &gw_provider_eden, &req,
        SLICE_LIT("{\"openai\":{\"status\":\"success\",\"generated_text\":\"About 2.1 million.\","
                  "\"cost\":0.00021,\"message\":[{\"role\":\"user\",\"message\":\"x\"}]}}"),
        "START id= model=\n"
        "TEXT \"About 2.1 million.\"\n"
        "FINISH stop raw=\n"
        "USAGE in=0 cached=0 out=0 reasoning=0 cost=210000000 exact=0\n"
        "DONE\n");
    harness_check_response(&gw_provider_eden, &req,
                           SLICE_LIT("{\"openai\":{\"status\":\"fail\",\"error\":{\"message\":"
                                     "\"overloaded\"},\"cost\":0}}"),
                           "START id= model=\n"
                           "ERROR provider_error status=200 retry=1 after=-1 code=fail "
                           "msg=\"overloaded\"\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n");
    /* v3: OpenAI shape with a top-level cost */
    harness_check_response(
        &gw_provider_eden, &req,
        SLICE_LIT("{\"id\":\"e\",\"object\":\"chat.completion\",\"model\":\"openai/gpt-4o\","
                  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                  "\"Hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
                  "\"completion_tokens\":1},\"cost\":0.000027}"),
        "START id=e model=openai/gpt-4o\n"
        "TEXT \"Hi\"\n"
        "FINISH stop raw=stop\n"
        "USAGE in=9 cached=0 out=1 reasoning=0 cost=27000000 exact=1\n"
        "DONE\n");
    gw_request_release(&req);
}

static void expect_error(int status, const char *body, const char *const *headers,
                         const char *expected)
{
    char *got = harness_map_error(&gw_provider_eden, status, body, headers);
    if (strcmp(got, expected) != 0) fail_msg("status %d:\n got %s want %s", status, got, expected);
    free(got);
}

static void test_map_error(void **state)
{
    (void)state;
    expect_error(403, "{\"detail\":\"Authentication credentials were not provided.\"}", NULL,
                 "ERROR provider_auth status=403 retry=0 after=-1 code= msg=\"the provider "
                 "rejected the gateway's credentials\"\n");
    expect_error(402, "{\"detail\":\"You don't have enough credits to perform this request.\"}",
                 NULL,
                 "ERROR provider_quota status=402 retry=0 after=-1 code= msg=\"You don't have "
                 "enough credits to perform this request.\"\n");
    expect_error(404, "{\"detail\":\"Model openai/gpt-9 not found\"}", NULL,
                 "ERROR model_not_found status=404 retry=0 after=-1 code= msg=\"Model "
                 "openai/gpt-9 not found\"\n");
    expect_error(422,
                 "{\"detail\":[{\"loc\":[\"body\",\"messages\"],\"msg\":\"field required\","
                 "\"type\":\"missing\"}]}",
                 NULL,
                 "ERROR invalid_request status=422 retry=0 after=-1 code= msg=\"field "
                 "required\"\n");
    const char *const after[] = {"retry-after", "1", NULL};
    expect_error(429, "{\"detail\":\"Request was throttled. Expected available in 1 second.\"}",
                 after,
                 "ERROR rate_limited status=429 retry=1 after=1000 code= msg=\"Request was "
                 "throttled. Expected available in 1 second.\"\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_v3),
        cmocka_unit_test(test_build_v2),
        cmocka_unit_test(test_stream_v2_ndjson),
        cmocka_unit_test(test_stream_v3_sse),
        cmocka_unit_test(test_stream_v2_oversized_line),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
