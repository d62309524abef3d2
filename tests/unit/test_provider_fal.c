/*
 * test_provider_fal.c - fal's native openrouter/router adapter: prompt
 * flattening and Key auth, cumulative stream -> deltas (including a
 * provider that rewrites its prefix), exact usage.cost, errors in the final
 * event, cut streams, and fal's error table (403 balance lock, error types,
 * X-Fal-Retryable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adapter_harness.h"
#include "core/arena.h"

static const gw_provider_cfg fal_cfg = {.name = "fal", .api_key = "keyid:secret"};

static void test_build_single_turn(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    harness_request(&req, "google/gemini-2.5-flash", true);
    req.system_prompt = "Answer briefly.";
    req.max_tokens = 256;
    req.has_temperature = true;
    req.temperature = 0.2;
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_fal.build(&fal_cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "https://fal.run/openrouter/router/stream");
    assert_string_equal(up.headers[0], "Authorization: Key keyid:secret");
    assert_string_equal(up.headers[1], "Content-Type: application/json");
    assert_string_equal(up.headers[2], "Accept: text/event-stream");
    assert_null(up.headers[3]);
    assert_string_equal(up.body.ptr, "{\"model\":\"google/gemini-2.5-flash\",\"prompt\":\"Hi\","
                                     "\"system_prompt\":\"Answer briefly.\",\"temperature\":0.2,"
                                     "\"max_tokens\":256}");
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_build_flattens_conversation(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    memset(&req, 0, sizeof(req));
    req.model = "openai/gpt-4.1";
    req.reasoning_effort = "high";
    req.messages = json_loads(
        "[{\"role\":\"system\",\"content\":\"Be kind.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"capital of France?\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Paris.\"},"
        "{\"role\":\"user\",\"content\":\"And its population?\"}]",
        0, NULL);
    gw_provider_cfg cfg = {.name = "fal", .base_url = "http://127.0.0.1:1/fal", .api_key = "a:b"};
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_fal.build(&cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "http://127.0.0.1:1/fal/openrouter/router");
    assert_string_equal(up.headers[2], "Accept: application/json");
    assert_string_equal(up.body.ptr,
                        "{\"model\":\"openai/gpt-4.1\",\"prompt\":\"User: capital of France?\\n"
                        "Assistant: Paris.\\nUser: And its population?\\nAssistant:\","
                        "\"system_prompt\":\"Be kind.\",\"reasoning\":true}");
    /* what the endpoint cannot do is refused with a reason */
    req.tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", 0, NULL);
    assert_int_equal(gw_provider_fal.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_INVALID_REQUEST);
    assert_non_null(strstr(errmsg, "tools"));
    json_decref(req.tools);
    req.tools = NULL;
    req.json_mode = true;
    assert_int_equal(gw_provider_fal.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_INVALID_REQUEST);
    assert_non_null(strstr(errmsg, "JSON"));
    req.json_mode = false;
    json_array_append_new(req.messages,
                          json_pack("{s:s,s:[{s:s,s:{s:s}}]}", "role", "user", "content", "type",
                                    "image_url", "image_url", "url", "https://x/y.png"));
    assert_int_equal(gw_provider_fal.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_INVALID_REQUEST);
    assert_non_null(strstr(errmsg, "vision"));
    cfg.api_key = NULL;
    assert_int_equal(gw_provider_fal.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_MODEL_UNAVAILABLE);
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_stream_cumulative(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "google/gemini-2.5-flash", true);
    harness_check_fixture(&gw_provider_fal, &req, "fal/stream.sse",
                          "START id= model=\n"
                          "REASONING \"Think\"\n"
                          "REASONING \"ing.\"\n"
                          "TEXT \"Par\"\n"
                          "TEXT \"is\"\n"
                          "TEXT \". \xc3\x87"
                          "a va\"\n"
                          "FINISH stop raw=\n"
                          "USAGE in=21 cached=0 out=3 reasoning=0 cost=13800000 exact=1\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_divergent(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "openai/gpt-4.1", true);
    /* deltas stop at the rewrite; the final event sends what follows the
     * common prefix, so no text is ever sent twice */
    harness_check_fixture(&gw_provider_fal, &req, "fal/divergent.sse",
                          "START id= model=\n"
                          "TEXT \"Hello wor\"\n"
                          "TEXT \"ld, th\"\n"
                          "TEXT \", world! This answer was rewritten.\"\n"
                          "FINISH stop raw=\n"
                          "USAGE in=5 cached=0 out=9 reasoning=0 cost=15000000 exact=1\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_errors_and_cuts(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "openai/gpt-4.1", true);
    harness_check_fixture(&gw_provider_fal, &req, "fal/error_final.sse",
                          "START id= model=\n"
                          "TEXT \"Hello\"\n"
                          "TEXT \" wo\"\n"
                          "ERROR provider_error status=200 retry=1 after=-1 code= "
                          "msg=\"Upstream provider returned an error: overloaded\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    harness_check_fixture(&gw_provider_fal, &req, "fal/cut.sse",
                          "START id= model=\n"
                          "TEXT \"Hello\"\n"
                          "TEXT \" wo\"\n"
                          "ERROR upstream_truncated status=0 retry=1 after=-1 code= "
                          "msg=\"upstream stream ended before it finished\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    harness_check_stream(&gw_provider_fal, &req,
                         SLICE_LIT("data: {\"output\":\"a\",\"partial\":true}\n\n"
                                   ": comment\n\ndata: {\"output\":\"Fake fal, not json\n\n"),
                         "START id= model=\n"
                         "TEXT \"a\"\n"
                         "ERROR provider_error status=0 retry=1 after=-1 code= msg=\"the "
                         "provider sent a non-JSON event\"\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    gw_request_release(&req);
}

static void test_parse_response(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "google/gemini-2.5-flash", false);
    harness_check_response(&gw_provider_fal, &req,
                           SLICE_LIT("{\"output\":\"Paris.\",\"reasoning\":null,\"partial\":false,"
                                     "\"error\":null,\"usage\":{\"prompt_tokens\":21,"
                                     "\"completion_tokens\":3,\"total_tokens\":24,\"cost\":"
                                     "0.0000138}}"),
                           "START id= model=\n"
                           "TEXT \"Paris.\"\n"
                           "FINISH stop raw=\n"
                           "USAGE in=21 cached=0 out=3 reasoning=0 cost=13800000 exact=1\n"
                           "DONE\n");
    harness_check_response(&gw_provider_fal, &req,
                           SLICE_LIT("{\"output\":\"\",\"partial\":false,\"error\":"
                                     "{\"message\":\"upstream failed\"}}"),
                           "START id= model=\n"
                           "ERROR provider_error status=200 retry=1 after=-1 code= "
                           "msg=\"upstream failed\"\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n");
    gw_request_release(&req);
}

static void expect_error(int status, const char *body, const char *const *headers,
                         const char *expected)
{
    char *got = harness_map_error(&gw_provider_fal, status, body, headers);
    if (strcmp(got, expected) != 0) fail_msg("status %d:\n got %s want %s", status, got, expected);
    free(got);
}

static void test_map_error(void **state)
{
    (void)state;
    expect_error(401, "{\"detail\":\"No user found for Key ID and Secret\"}", NULL,
                 "ERROR provider_auth status=401 retry=0 after=-1 code= msg=\"the provider "
                 "rejected the gateway's credentials\"\n");
    expect_error(403,
                 "{\"detail\":\"User is locked. Reason: Exhausted balance. Top up your balance "
                 "at fal.ai/dashboard/billing.\"}",
                 NULL,
                 "ERROR provider_quota status=403 retry=0 after=-1 code= msg=\"User is locked. "
                 "Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.\"\n");
    expect_error(422,
                 "{\"detail\":[{\"loc\":[\"body\",\"model\"],\"msg\":\"Model 'x/y' is not "
                 "available on the router\",\"type\":\"value_error\",\"ctx\":{}}]}",
                 NULL,
                 "ERROR model_not_found status=422 retry=0 after=-1 code= msg=\"Model 'x/y' is "
                 "not available on the router\"\n");
    expect_error(422, "{\"detail\":[{\"loc\":[\"body\",\"prompt\"],\"msg\":\"field required\"}]}",
                 NULL,
                 "ERROR invalid_request status=422 retry=0 after=-1 code= msg=\"field "
                 "required\"\n");
    const char *const timeout_hdr[] = {"X-Fal-Error-Type", "request_timeout", NULL};
    expect_error(504, "{\"detail\":\"Request timed out\"}", timeout_hdr,
                 "ERROR timeout status=504 retry=1 after=-1 code=request_timeout msg=\"Request "
                 "timed out\"\n");
    const char *const runner[] = {"x-fal-retryable", "true", "retry-after", "3", NULL};
    expect_error(503,
                 "{\"detail\":\"No runner could be scheduled\",\"error_type\":"
                 "\"runner_scheduling_failure\"}",
                 runner,
                 "ERROR model_unavailable status=503 retry=1 after=3000 "
                 "code=runner_scheduling_failure msg=\"No runner could be scheduled\"\n");
    const char *const no_retry[] = {"X-Fal-Retryable", "false", NULL};
    expect_error(500,
                 "{\"detail\":\"Runner raised an error\",\"error_type\":\"runner_server_error\"}",
                 no_retry,
                 "ERROR provider_error status=500 retry=0 after=-1 code=runner_server_error "
                 "msg=\"Runner raised an error\"\n");
    expect_error(502, "{\"detail\":\"incomplete\",\"error_type\":\"runner_incomplete_response\"}",
                 NULL,
                 "ERROR provider_error status=502 retry=1 after=-1 "
                 "code=runner_incomplete_response msg=\"incomplete\"\n");
    expect_error(499, "{\"detail\":\"gone\",\"error_type\":\"client_disconnected\"}", NULL,
                 "ERROR client_closed status=499 retry=0 after=-1 code=client_disconnected "
                 "msg=\"gone\"\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_single_turn),
        cmocka_unit_test(test_build_flattens_conversation),
        cmocka_unit_test(test_stream_cumulative),
        cmocka_unit_test(test_stream_divergent),
        cmocka_unit_test(test_stream_errors_and_cuts),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
