/*
 * test_provider_openai.c - the OpenAI adapter (and through it the shared
 * OpenAI-dialect parser): exact request bodies and headers, stream fixtures
 * at every split point, non-stream bodies and the error-class table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adapter_harness.h"
#include "core/arena.h"
#include "gateway/provider_oai.h"

static const gw_provider_cfg openai_cfg = {
    .name = "openai", .base_url = "http://127.0.0.1:9/openai/v1/", .api_key = "sk-test-123"};

static void header_list(const gw_upstream_req *up, char *out, size_t outsz)
{
    out[0] = '\0';
    for (size_t i = 0; i < up->nheaders; i++) {
        strncat(out, up->headers[i], outsz - strlen(out) - 2);
        strncat(out, "|", outsz - strlen(out) - 1);
    }
    assert_null(up->headers[up->nheaders]);
}

static void test_build_chat_model(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    memset(&req, 0, sizeof(req));
    req.model = "gpt-4o-mini";
    req.system_prompt = "Be brief.";
    req.messages = json_loads("[{\"role\":\"user\",\"content\":\"Hi\"},"
                              "{\"role\":\"assistant\",\"content\":\"Hello\","
                              "\"reasoning_content\":\"secret thoughts\"},"
                              "{\"role\":\"user\",\"content\":\"Weather?\"}]",
                              0, NULL);
    req.tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                           "\"parameters\":{\"type\":\"object\"}}}]",
                           0, NULL);
    req.tool_choice = json_string("auto");
    req.json_mode = true;
    req.max_tokens = 100;
    req.has_temperature = true;
    req.temperature = 0.7;
    req.reasoning_effort = "low"; /* gpt-4o rejects it: must be dropped */
    req.stream = true;
    gw_upstream_req up;
    const char *errmsg = "unset";
    assert_int_equal(gw_provider_openai.build(&openai_cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_null(errmsg);
    assert_string_equal(up.method, "POST");
    assert_string_equal(up.url, "http://127.0.0.1:9/openai/v1/chat/completions");
    assert_true(up.stream);
    char headers[512];
    header_list(&up, headers, sizeof(headers));
    assert_string_equal(headers, "Authorization: Bearer sk-test-123|Content-Type: "
                                 "application/json|Accept: text/event-stream|");
    assert_int_equal(up.body.len, strlen(up.body.ptr));
    assert_string_equal(
        up.body.ptr,
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"},"
        "{\"role\":\"user\",\"content\":\"Weather?\"}],\"tools\":[{\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}],"
        "\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"json_object\"},"
        "\"max_tokens\":100,\"temperature\":0.7,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true}}");
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_build_reasoning_model(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    harness_request(&req, "o3-mini", false);
    req.max_tokens = 2000;
    req.has_temperature = true;
    req.temperature = 0.2;
    req.reasoning_effort = "high";
    req.json_schema = json_loads("{\"name\":\"answer\",\"schema\":{\"type\":\"object\"},"
                                 "\"strict\":true}",
                                 0, NULL);
    req.json_mode = true;
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_openai.build(&openai_cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_false(up.stream);
    assert_string_equal(up.headers[2], "Accept: application/json");
    assert_string_equal(
        up.body.ptr,
        "{\"model\":\"o3-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"answer\","
        "\"schema\":{\"type\":\"object\"},\"strict\":true}},\"max_completion_tokens\":2000,"
        "\"reasoning_effort\":\"high\"}");
    assert_true(gw_oai_is_reasoning_model("gpt-5-mini"));
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_build_without_key(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    harness_request(&req, "gpt-4o", false);
    gw_provider_cfg cfg = {.name = "openai", .base_url = NULL, .api_key = NULL};
    gw_upstream_req up;
    const char *errmsg = NULL;
    assert_int_equal(gw_provider_openai.build(&cfg, &req, &arena, &up, &errmsg),
                     GW_ERR_MODEL_UNAVAILABLE);
    assert_non_null(errmsg);
    cfg.api_key = "k";
    assert_int_equal(gw_provider_openai.build(&cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "https://api.openai.com/v1/chat/completions");
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_stream_text(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    harness_check_fixture(&gw_provider_openai, &req, "openai/text.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"Hel\"\n"
                          "TEXT \"lo, w\xc3\xb6rld\"\n"
                          "TEXT \" \xf0\x9f\x98\x80\"\n"
                          "FINISH stop raw=stop\n"
                          "USAGE in=80 cached=64 out=17 reasoning=5 cost=-1 exact=1\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_parallel_tools(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    harness_check_fixture(&gw_provider_openai, &req, "openai/tools_parallel.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TOOL_START 0 id=call_a1 name=get_weather\n"
                          "TOOL_ARGS 0 \"{\\\"ci\"\n"
                          "TOOL_START 1 id=call_b2 name=get_time\n"
                          "TOOL_ARGS 1 \"{\\\"tz\\\":\"\n"
                          "TOOL_ARGS 0 \"ty\\\":\\\"Paris\\\"}\"\n"
                          "TOOL_ARGS 1 \"\\\"CET\\\"\"\n"
                          "TOOL_END 0 valid=1 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
                          "TOOL_END 1 valid=0 \"{\\\"tz\\\":\\\"CET\\\"\"\n"
                          "FINISH tool_calls raw=tool_calls\n"
                          "USAGE in=80 cached=0 out=17 reasoning=0 cost=-1 exact=1\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_crlf_comments_multiline(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    harness_check_fixture(&gw_provider_openai, &req, "openai/crlf_comments.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"A\"\n"
                          "TEXT \"B\"\n"
                          "FINISH length raw=length\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_ends(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    /* finish + usage but no [DONE]: a clean end */
    harness_check_fixture(&gw_provider_openai, &req, "openai/no_done.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"Hi\"\n"
                          "FINISH stop raw=stop\n"
                          "USAGE in=80 cached=64 out=17 reasoning=5 cost=-1 exact=1\n"
                          "DONE\n");
    /* cut in the middle of an event, before any finish */
    harness_check_fixture(&gw_provider_openai, &req, "openai/cut.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"Hi\"\n"
                          "TEXT \" there\"\n"
                          "ERROR upstream_truncated status=0 retry=1 after=-1 code= msg=\"upstream "
                          "stream ended before it finished\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    /* usage null everywhere, [DONE]: estimated usage */
    harness_check_fixture(&gw_provider_openai, &req, "openai/usage_null.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"Hi\"\n"
                          "FINISH stop raw=stop\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    /* empty body: START from the request, truncated */
    harness_check_stream(&gw_provider_openai, &req, SLICE_LIT(""),
                         "START id= model=\n"
                         "ERROR upstream_truncated status=0 retry=1 after=-1 code= msg=\"upstream "
                         "stream ended before it finished\"\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    /* [DONE] with no finish_reason: a stop is synthesized */
    harness_check_stream(&gw_provider_openai, &req,
                         SLICE_LIT("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
                                   "data: [DONE]\n\n"),
                         "START id= model=\n"
                         "TEXT \"x\"\n"
                         "FINISH stop raw=\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    gw_request_release(&req);
}

static void test_stream_errors(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    harness_check_fixture(&gw_provider_openai, &req, "openai/stream_error.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"Hi\"\n"
                          "ERROR provider_error status=200 retry=1 after=-1 code=server_error "
                          "msg=\"The server had an error while processing your request.\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    harness_check_fixture(&gw_provider_openai, &req, "openai/garbage.sse",
                          "START id=chatcmpl-9x2 model=gpt-4.1-2025-04-14\n"
                          "TEXT \"Hi\"\n"
                          "ERROR provider_error status=0 retry=1 after=-1 code= msg=\"the "
                          "provider sent a non-JSON event\"\n"
                          "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                          "DONE\n");
    gw_request_release(&req);
}

static void test_stream_tool_identity(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    /* no index: calls are told apart by id; a blank id is no identity (a
     * continuation of the last call); a new id on a used index is a new call;
     * arguments before the name are held until TOOL_CALL_START */
    harness_check_stream(
        &gw_provider_openai, &req,
        SLICE_LIT("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"call_x\","
                  "\"function\":{\"name\":\"a\",\"arguments\":\"{\\\"q\\\"\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"\","
                  "\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"call_y\","
                  "\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"call_y\","
                  "\"function\":{\"name\":\"b\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                  "\"c1\",\"function\":{\"name\":\"c\",\"arguments\":\"[\"}}]}}]}\n\n"
                  "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
                  "\"c2\",\"function\":{\"name\":\"d\",\"arguments\":\"]\"}}]},"
                  "\"finish_reason\":\"tool_calls\"}]}\n\n"
                  "data: [DONE]\n\n"),
        "START id= model=\n"
        "TOOL_START 0 id=call_x name=a\n"
        "TOOL_ARGS 0 \"{\\\"q\\\"\"\n"
        "TOOL_ARGS 0 \":1}\"\n"
        "TOOL_START 1 id=call_y name=b\n"
        "TOOL_ARGS 1 \"{}\"\n"
        "TOOL_START 2 id=c1 name=c\n"
        "TOOL_ARGS 2 \"[\"\n"
        "TOOL_START 3 id=c2 name=d\n"
        "TOOL_ARGS 3 \"]\"\n"
        "TOOL_END 0 valid=1 \"{\\\"q\\\":1}\"\n"
        "TOOL_END 1 valid=1 \"{}\"\n"
        "TOOL_END 2 valid=0 \"[\"\n"
        "TOOL_END 3 valid=0 \"]\"\n"
        "FINISH tool_calls raw=tool_calls\n"
        "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
        "DONE\n");
    gw_request_release(&req);
}

static void test_stream_oversized_event(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    /* one data line just past the 4 MiB event ceiling, split in 1 MiB-ish
     * lines so the per-line ceiling is not what trips */
    buf_t body;
    buf_init(&body, 0);
    buf_append_cstr(&body, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n");
    for (int line = 0; line < 5; line++) {
        buf_append_cstr(&body, "data: ");
        for (int i = 0; i < (1 << 20) - 100; i++)
            buf_append_char(&body, ' ');
        buf_append_char(&body, '\n');
    }
    buf_append_cstr(&body, "\n");
    const char *expected = "START id= model=\n"
                           "TEXT \"ok\"\n"
                           /* our ceiling: a retry would hit it again */
                           "ERROR provider_error status=0 retry=0 after=-1 code= msg=\"the "
                           "provider sent a stream event larger than the gateway accepts\"\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n";
    char *got = harness_run(&gw_provider_openai, &req, buf_slice(&body), NULL, 0, 0);
    assert_string_equal(got, expected);
    free(got);
    got = harness_run(&gw_provider_openai, &req, buf_slice(&body), NULL, 0, 65536);
    assert_string_equal(got, expected);
    free(got);
    buf_free(&body);
    gw_request_release(&req);
}

static void test_stream_too_many_tools(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", true);
    buf_t body;
    buf_init(&body, 0);
    for (int i = 0; i <= GW_MAX_TOOL_CALLS; i++)
        buf_printf(&body,
                   "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":%d,\"id\":\"c%d\","
                   "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n",
                   i, i);
    char *got = harness_run(&gw_provider_openai, &req, buf_slice(&body), NULL, 0, 0);
    assert_non_null(strstr(got, "TOOL_START 63 id=c63 name=f\n"));
    assert_null(strstr(got, "TOOL_START 64"));
    assert_non_null(strstr(got, "msg=\"the provider sent too many tool calls\"\nUSAGE"));
    free(got);
    buf_free(&body);
    gw_request_release(&req);
}

static void test_parse_response(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "gpt-4.1", false);
    harness_check_response(
        &gw_provider_openai, &req,
        SLICE_LIT(
            "{\"id\":\"chatcmpl-9x1\",\"object\":\"chat.completion\",\"created\":1763990000,"
            "\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"finish_reason\":"
            "\"tool_calls\",\"logprobs\":null,\"message\":{\"role\":\"assistant\",\"content\":"
            "null,\"refusal\":null,\"tool_calls\":[{\"id\":\"call_a1\",\"type\":\"function\","
            "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\""
            "}\"}},{\"id\":\"call_b2\",\"type\":\"function\",\"function\":{\"name\":\"noop\","
            "\"arguments\":\"\"}}]}}],\"usage\":{\"prompt_tokens\":2006,\"completion_tokens\":"
            "300,\"total_tokens\":2306,\"prompt_tokens_details\":{\"cached_tokens\":1920,"
            "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}"),
        "START id=chatcmpl-9x1 model=gpt-4.1-2025-04-14\n"
        "TOOL_START 0 id=call_a1 name=get_weather\n"
        "TOOL_ARGS 0 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
        "TOOL_START 1 id=call_b2 name=noop\n"
        "TOOL_END 0 valid=1 \"{\\\"city\\\":\\\"Paris\\\"}\"\n"
        "TOOL_END 1 valid=0 \"\"\n"
        "FINISH tool_calls raw=tool_calls\n"
        "USAGE in=2006 cached=1920 out=300 reasoning=0 cost=-1 exact=1\n"
        "DONE\n");
    harness_check_response(&gw_provider_openai, &req,
                           SLICE_LIT("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{"
                                     "\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}]}"),
                           "START id=x model=\n"
                           "TEXT \"Hello!\"\n"
                           "FINISH stop raw=stop\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n");
    harness_check_response(&gw_provider_openai, &req, SLICE_LIT("<html>oops</html>"),
                           "START id= model=\n"
                           "ERROR provider_error status=0 retry=1 after=-1 code= msg=\"the "
                           "provider sent a non-JSON answer\"\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n");
    harness_check_response(&gw_provider_openai, &req, SLICE_LIT("{\"id\":\"x\",\"choices\":[]}"),
                           "START id=x model=\n"
                           "ERROR provider_error status=0 retry=1 after=-1 code= msg=\"the "
                           "provider's answer has no choices\"\n"
                           "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                           "DONE\n");
    gw_request_release(&req);
}

static void expect_error(int status, const char *body, const char *const *headers,
                         const char *expected)
{
    char *got = harness_map_error(&gw_provider_openai, status, body, headers);
    if (strcmp(got, expected) != 0) fail_msg("status %d:\n got %s want %s", status, got, expected);
    free(got);
}

static void test_map_error(void **state)
{
    (void)state;
    expect_error(429,
                 "{\"error\":{\"message\":\"You exceeded your current quota, please check your "
                 "plan.\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":"
                 "\"insufficient_quota\"}}",
                 NULL,
                 "ERROR provider_quota status=429 retry=0 after=-1 code=insufficient_quota "
                 "msg=\"You exceeded your current quota, please check your plan.\"\n");
    const char *const ms[] = {"retry-after-ms", "1500", "retry-after", "9", NULL};
    expect_error(429,
                 "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                 "\"code\":\"rate_limit_exceeded\"}}",
                 ms,
                 "ERROR rate_limited status=429 retry=1 after=1500 code=rate_limit_exceeded "
                 "msg=\"Rate limit reached\"\n");
    const char *const reset[] = {"x-ratelimit-remaining-requests",
                                 "0",
                                 "x-ratelimit-reset-requests",
                                 "6m0s",
                                 "x-ratelimit-remaining-tokens",
                                 "100",
                                 "x-ratelimit-reset-tokens",
                                 "1s",
                                 NULL};
    expect_error(429, "{\"error\":{\"message\":\"slow down\",\"code\":\"rate_limit_exceeded\"}}",
                 reset,
                 "ERROR rate_limited status=429 retry=1 after=360000 code=rate_limit_exceeded "
                 "msg=\"slow down\"\n");
    expect_error(401,
                 "{\"error\":{\"message\":\"Incorrect API key provided: sk-test-***123. You can "
                 "find your API key at https://platform.openai.com/account/api-keys.\",\"type\":"
                 "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}",
                 NULL,
                 "ERROR provider_auth status=401 retry=0 after=-1 code=invalid_api_key "
                 "msg=\"the provider rejected the gateway's credentials\"\n");
    expect_error(404,
                 "{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have "
                 "access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":"
                 "\"model_not_found\"}}",
                 NULL,
                 "ERROR model_not_found status=404 retry=0 after=-1 code=model_not_found "
                 "msg=\"The model `gpt-9` does not exist or you do not have access to it.\"\n");
    expect_error(400,
                 "{\"error\":{\"message\":\"Unsupported parameter: 'max_tokens'\",\"type\":"
                 "\"invalid_request_error\",\"param\":\"max_tokens\",\"code\":"
                 "\"unsupported_parameter\"}}",
                 NULL,
                 "ERROR invalid_request status=400 retry=0 after=-1 code=unsupported_parameter "
                 "msg=\"Unsupported parameter: 'max_tokens'\"\n");
    expect_error(403, "{\"error\":{\"message\":\"Country not supported\",\"type\":\"x\"}}", NULL,
                 "ERROR forbidden status=403 retry=0 after=-1 code=x msg=\"Country not "
                 "supported\"\n");
    expect_error(500, "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}", NULL,
                 "ERROR provider_error status=500 retry=1 after=-1 code=server_error "
                 "msg=\"boom\"\n");
    const char *const after[] = {"Retry-After", "2", NULL};
    expect_error(503, "{\"error\":{\"message\":\"Slow Down\"}}", after,
                 "ERROR model_unavailable status=503 retry=1 after=2000 code= msg=\"Slow "
                 "Down\"\n");
    expect_error(502, "<html>bad gateway</html>", NULL,
                 "ERROR provider_error status=502 retry=1 after=-1 code= msg=\"the provider "
                 "failed to answer\"\n");
    expect_error(504, "", NULL,
                 "ERROR timeout status=504 retry=1 after=-1 code= msg=\"the provider timed "
                 "out\"\n");
    expect_error(408, "", NULL,
                 "ERROR timeout status=408 retry=1 after=-1 code= msg=\"the provider timed "
                 "out\"\n");
    const char *const no_retry[] = {"x-should-retry", "false", NULL};
    expect_error(500, "{}", no_retry,
                 "ERROR provider_error status=500 retry=0 after=-1 code= msg=\"the provider "
                 "failed to answer\"\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_chat_model),
        cmocka_unit_test(test_build_reasoning_model),
        cmocka_unit_test(test_build_without_key),
        cmocka_unit_test(test_stream_text),
        cmocka_unit_test(test_stream_parallel_tools),
        cmocka_unit_test(test_stream_crlf_comments_multiline),
        cmocka_unit_test(test_stream_ends),
        cmocka_unit_test(test_stream_errors),
        cmocka_unit_test(test_stream_tool_identity),
        cmocka_unit_test(test_stream_oversized_event),
        cmocka_unit_test(test_stream_too_many_tools),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
