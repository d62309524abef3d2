/*
 * test_validate.c - request validation and normalization of both front doors
 * (src/gateway/gw_validate.c): accepted shapes, system prompt extraction,
 * tool normalization, and a precise message for each kind of bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/gw_validate.h"

typedef struct {
    arena_t arena;
    gw_parsed_request pr;
    char err[512];
    gw_err e;
} parsed;

static void parse(parsed *p, bool openai, const char *body)
{
    arena_init(&p->arena, 1u << 20);
    p->err[0] = '\0';
    p->e = openai
               ? gw_parse_chat_completions(slice_from_cstr(body), &p->arena, &p->pr, p->err,
                                           sizeof p->err)
               : gw_parse_generate(slice_from_cstr(body), &p->arena, &p->pr, p->err, sizeof p->err);
}

static void done(parsed *p)
{
    gw_request_release(&p->pr.req);
    arena_free(&p->arena);
}

static void expect_error(bool openai, const char *body, const char *fragment)
{
    parsed p;
    parse(&p, openai, body);
    assert_int_equal(p.e, GW_ERR_INVALID_REQUEST);
    if (!strstr(p.err, fragment)) fail_msg("error '%s' does not mention '%s'", p.err, fragment);
    done(&p);
}

static void test_generate_ok(void **state)
{
    (void)state;
    parsed p;
    parse(&p, false,
          "{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"feature\":\"llm\","
          "\"subfeature\":\"chat\",\"featureOptions\":{\"streaming\":true,\"maxTokens\":64,"
          "\"temperature\":0.5,\"fallbacks\":[\"deepseek/deepseek-v4-flash\"]},"
          "\"input\":{\"systemPrompt\":\"Be brief\",\"messages\":[{\"role\":\"system\","
          "\"content\":\"And kind\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
          "\"tools\":[{\"name\":\"f\",\"description\":\"d\"}]},\"metadata\":{\"org_id\":\"o\"}}");
    assert_int_equal(p.e, GW_OK);
    assert_string_equal(p.pr.req.provider, "openai");
    assert_string_equal(p.pr.req.model, "gpt-4o-mini");
    assert_true(p.pr.req.stream);
    assert_int_equal(p.pr.req.max_tokens, 64);
    assert_true(p.pr.req.has_temperature);
    assert_string_equal(p.pr.req.system_prompt, "Be brief\n\nAnd kind");
    assert_int_equal(json_array_size(p.pr.req.messages), 1);
    assert_int_equal(p.pr.nfallbacks, 1);
    assert_string_equal(p.pr.fallbacks[0], "deepseek/deepseek-v4-flash");
    json_t *fn = json_object_get(json_array_get(p.pr.req.tools, 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "f");
    assert_true(json_is_object(json_object_get(fn, "parameters")));
    assert_non_null(p.pr.req.metadata);
    done(&p);
}

static void test_chat_ok(void **state)
{
    (void)state;
    parsed p;
    parse(&p, true,
          "{\"model\":\"fal/google/gemini-2.5-flash\",\"stream\":true,"
          "\"stream_options\":{\"include_usage\":true},\"max_completion_tokens\":9,"
          "\"response_format\":{\"type\":\"json_object\"},"
          "\"messages\":[{\"role\":\"developer\",\"content\":\"sys\"},"
          "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}");
    assert_int_equal(p.e, GW_OK);
    assert_string_equal(p.pr.req.provider, "fal");
    assert_string_equal(p.pr.req.model, "google/gemini-2.5-flash");
    assert_true(p.pr.include_usage);
    assert_true(p.pr.req.json_mode);
    assert_int_equal(p.pr.req.max_tokens, 9);
    assert_string_equal(p.pr.req.system_prompt, "sys");
    done(&p);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(false, "", "empty");
    expect_error(false, "{not json", "not valid JSON");
    expect_error(false, "[1]", "JSON object");
    expect_error(false, "{\"provider\":\"openai\",\"input\":{}}", "model is required");
    expect_error(false, "{\"model\":\"gpt\",\"input\":{}}", "provider is required");
    expect_error(false, "{\"provider\":\"openai\",\"model\":\"m\"}", "input must be an object");
    expect_error(false, "{\"provider\":\"openai\",\"model\":\"m\",\"input\":{\"messages\":[]}}",
                 "non-empty array");
    expect_error(false,
                 "{\"provider\":\"openai\",\"model\":\"m\",\"input\":{\"messages\":[{\"role\":"
                 "\"wizard\",\"content\":\"x\"}]}}",
                 "input.messages[0].role");
    /* Multi-digit positions are named exactly. */
    char many[8192];
    int n = snprintf(many, sizeof many, "{\"model\":\"openai/m\",\"messages\":[");
    for (int i = 0; i < 120; i++)
        n += snprintf(many + n, sizeof many - (size_t)n, "{\"role\":\"user\",\"content\":\"x\"},");
    snprintf(many + n, sizeof many - (size_t)n, "{\"role\":\"user\",\"content\":7}]}");
    expect_error(true, many, "messages[120].content must be a string");
    expect_error(false,
                 "{\"provider\":\"openai\",\"model\":\"m\",\"featureOptions\":{\"maxTokens\":0},"
                 "\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}",
                 "maxTokens");
    expect_error(false,
                 "{\"provider\":\"openai\",\"model\":\"m\",\"featureOptions\":{\"temperature\":"
                 "\"hot\"},\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}",
                 "temperature must be a number");
    expect_error(false,
                 "{\"provider\":\"openai\",\"model\":\"m\",\"input\":{\"messages\":[{\"role\":"
                 "\"tool\",\"content\":\"x\"}]}}",
                 "tool_call_id");
    expect_error(false,
                 "{\"provider\":\"openai\",\"model\":\"m\",\"feature\":\"image\",\"input\":{}}",
                 "feature must be");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 "model is required");
    /* Four fallbacks in each of the two fields: the ceiling is on the total. */
    expect_error(false,
                 "{\"provider\":\"simulator\",\"model\":\"sim-fast\",\"featureOptions\":{"
                 "\"fallbacks\":[\"a/b\",\"a/c\",\"a/d\",\"a/e\"]},\"fallbacks\":[\"b/b\","
                 "\"b/c\",\"b/d\",\"b/e\"],\"input\":{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"x\"}]}}",
                 "at most 4 fallback models in total");
    expect_error(true,
                 "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 "provider/model");
    expect_error(true, "{\"model\":\"openai/gpt-4o\",\"stream\":true}", "messages");
    expect_error(true,
                 "{\"model\":\"openai/gpt-4o\",\"n\":3,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"x\"}]}",
                 "n must be 1");
    expect_error(true,
                 "{\"model\":\"a/b\",\"a\":1,\"a\":2,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"x\"}]}",
                 "duplicate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_ok),
        cmocka_unit_test(test_chat_ok),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
