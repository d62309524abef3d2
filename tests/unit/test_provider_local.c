/*
 * test_provider_local.c - OpenAI-compatible local servers (Ollama,
 * llama.cpp, vLLM): optional key, both reasoning field names, usage with
 * llama.cpp timings, vLLM's old error shape and mid-stream errors, and model
 * discovery from /models with each server's context-length field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adapter_harness.h"
#include "core/arena.h"

static void test_build_key_optional(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_request req;
    harness_request(&req, "llama3.2:3b", false);
    req.reasoning_effort = "none";
    gw_provider_cfg cfg = {.name = "local", .base_url = "http://127.0.0.1:11434/v1"};
    gw_upstream_req up;
    const char *errmsg;
    assert_int_equal(gw_provider_local.build(&cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.url, "http://127.0.0.1:11434/v1/chat/completions");
    assert_int_equal(up.nheaders, 2);
    assert_string_equal(up.headers[0], "Content-Type: application/json");
    assert_string_equal(up.body.ptr, "{\"model\":\"llama3.2:3b\",\"messages\":[{\"role\":\"user\","
                                     "\"content\":\"Hi\"}],\"reasoning_effort\":\"none\"}");
    cfg.api_key = "k1";
    assert_int_equal(gw_provider_local.build(&cfg, &req, &arena, &up, &errmsg), GW_OK);
    assert_string_equal(up.headers[0], "Authorization: Bearer k1");
    gw_request_release(&req);
    arena_free(&arena);
}

static void test_stream_reasoning_fields(void **state)
{
    (void)state;
    gw_request req;
    harness_request(&req, "qwen3", true);
    /* vLLM/Ollama "reasoning", llama.cpp "reasoning_content"; usage null
     * until an opt-in chunk with no choices key at all (vLLM) */
    harness_check_stream(
        &gw_provider_local, &req,
        SLICE_LIT("data: {\"id\":\"c1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":"
                  "{\"role\":\"assistant\",\"reasoning\":\"a\"}}],\"usage\":null}\n\n"
                  "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{"
                  "\"reasoning_content\":\"b\"}}]}\n\n"
                  "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
                  "\"finish_reason\":\"stop\"}]}\n\n"
                  "data: {\"id\":\"c1\",\"usage\":{\"completion_tokens\":48,\"prompt_tokens\":44,"
                  "\"total_tokens\":92,\"prompt_tokens_details\":{\"cached_tokens\":40}},"
                  "\"timings\":{\"cache_n\":236,\"prompt_n\":1}}\n\n"
                  "data: [DONE]\n\n"),
        "START id=c1 model=qwen3\n"
        "REASONING \"a\"\n"
        "REASONING \"b\"\n"
        "TEXT \"Hi\"\n"
        "FINISH stop raw=stop\n"
        "USAGE in=44 cached=40 out=48 reasoning=0 cost=-1 exact=1\n"
        "DONE\n");
    /* vLLM mid-stream error */
    harness_check_stream(&gw_provider_local, &req,
                         SLICE_LIT("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
                                   "data: {\"error\":{\"message\":\"bad\",\"type\":"
                                   "\"BadRequestError\",\"param\":null,\"code\":400}}\n\n"),
                         "START id= model=\n"
                         "TEXT \"x\"\n"
                         "ERROR invalid_request status=200 retry=0 after=-1 code=400 "
                         "msg=\"bad\"\n"
                         "USAGE in=0 cached=0 out=0 reasoning=0 cost=-1 exact=0\n"
                         "DONE\n");
    gw_request_release(&req);
}

static void test_models(void **state)
{
    (void)state;
    arena_t arena;
    arena_init(&arena, 0);
    gw_provider_cfg cfg = {.name = "local", .base_url = "http://127.0.0.1:8000/v1/"};
    gw_upstream_req up;
    assert_non_null(gw_provider_local.build_models);
    assert_int_equal(gw_provider_local.build_models(&cfg, &arena, &up), GW_OK);
    assert_string_equal(up.method, "GET");
    assert_string_equal(up.url, "http://127.0.0.1:8000/v1/models");
    json_t *list = gw_provider_local.parse_models(SLICE_LIT(
        "{\"object\":\"list\",\"data\":[{\"id\":\"meta-llama/Llama-3.1-8B\",\"object\":\"model\","
        "\"owned_by\":\"vllm\",\"max_model_len\":131072},{\"id\":\"/models/q.gguf\",\"object\":"
        "\"model\",\"owned_by\":\"llamacpp\",\"meta\":{\"n_ctx_train\":32768}},{\"id\":"
        "\"llama3.2:3b\",\"object\":\"model\",\"owned_by\":\"library\"},{\"object\":\"model\"}]}"));
    assert_non_null(list);
    char *text = json_dumps(list, JSON_COMPACT);
    assert_string_equal(text, "[{\"model\":\"meta-llama/Llama-3.1-8B\",\"context_length\":131072},"
                              "{\"model\":\"/models/q.gguf\",\"context_length\":32768},"
                              "{\"model\":\"llama3.2:3b\",\"context_length\":null}]");
    free(text);
    json_decref(list);
    assert_null(gw_provider_local.parse_models(SLICE_LIT("not json")));
    assert_null(gw_provider_local.parse_models(SLICE_LIT("{\"data\":5}")));
    /* OpenAI's GET /models is free too: it is the health probe, with Bearer auth. */
    gw_provider_cfg ocfg = {"openai", "http://127.0.0.1:1/v1", "sk-x", NULL};
    gw_upstream_req oup;
    assert_int_equal(gw_provider_openai.build_models(&ocfg, &arena, &oup), GW_OK);
    assert_string_equal(oup.url, "http://127.0.0.1:1/v1/models");
    assert_string_equal(oup.method, "GET");
    bool auth = false;
    for (size_t i = 0; i < oup.nheaders; i++)
        if (strcmp(oup.headers[i], "Authorization: Bearer sk-x") == 0) auth = true;
    assert_true(auth);
    arena_free(&arena);
}

static void test_map_error(void **state)
{
    (void)state;
    char *got = harness_map_error(&gw_provider_local, 404,
                                  "{\"error\":{\"message\":\"model \\\"llama9\\\" not found, try "
                                  "pulling it first\",\"type\":\"api_error\"}}",
                                  NULL);
    /* message escapes are kept as sent (the raw JSON text) */
    assert_string_equal(got, "ERROR model_not_found status=404 retry=0 after=-1 code=api_error "
                             "msg=\"model \\\\\\\"llama9\\\\\\\" not found, try pulling it "
                             "first\"\n");
    free(got);
    got = harness_map_error(&gw_provider_local, 400,
                            "{\"object\":\"error\",\"message\":\"max_tokens too large\","
                            "\"type\":\"BadRequestError\",\"param\":null,\"code\":400}",
                            NULL);
    assert_string_equal(got, "ERROR invalid_request status=400 retry=0 after=-1 code=400 "
                             "msg=\"max_tokens too large\"\n");
    free(got);
    got = harness_map_error(
        &gw_provider_local, 503,
        "{\"error\":{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}",
        NULL);
    assert_string_equal(got, "ERROR model_unavailable status=503 retry=1 after=-1 code=503 "
                             "msg=\"Loading model\"\n");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_key_optional),
        cmocka_unit_test(test_stream_reasoning_fields),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
