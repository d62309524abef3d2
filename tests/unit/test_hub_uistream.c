/*
 * test_hub_uistream.c - the UI message stream encoder (src/hub/hub_uistream.c):
 * exact chunk sequences for text, reasoning, tool calls, mid-stream failure
 * and abort; strict ai 5.0.0 key sets; the stored parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "hub/hub_uistream.h"

/* Splits the encoder output into its JSON chunks; checks the SSE framing and
 * that "[DONE]" (when present) is last. Returns a JSON array of chunks. */
static json_t *chunks_of(const buf_t *out, bool *saw_done)
{
    json_t *list = json_array();
    *saw_done = false;
    const char *p = out->data ? out->data : "";
    while (*p) {
        assert_int_equal(strncmp(p, "data: ", 6), 0);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        slice_t data = {p + 6, (size_t)(end - p - 6)};
        assert_null(memchr(data.ptr, '\n', data.len)); /* one line per event */
        assert_false(*saw_done);
        if (slice_eq_cstr(data, "[DONE]")) {
            *saw_done = true;
        } else {
            json_error_t e;
            json_t *chunk = json_loadb(data.ptr, data.len, 0, &e);
            assert_non_null(chunk);
            json_array_append_new(list, chunk);
        }
        p = end + 2;
    }
    return list;
}

static const char *type_at(json_t *chunks, size_t i)
{
    return json_string_value(json_object_get(json_array_get(chunks, i), "type"));
}

/* Every key must be one the strict ai 5.0.0 schema accepts for that type. */
static void assert_strict_keys(json_t *chunks)
{
    static const struct {
        const char *type;
        const char *keys[6];
    } allowed[] = {
        {"start", {"messageId", "messageMetadata"}},
        {"finish", {"messageMetadata"}},
        {"abort", {NULL}},
        {"message-metadata", {"messageMetadata"}},
        {"start-step", {NULL}},
        {"finish-step", {NULL}},
        {"error", {"errorText"}},
        {"text-start", {"id"}},
        {"text-delta", {"id", "delta"}},
        {"text-end", {"id"}},
        {"reasoning-start", {"id"}},
        {"reasoning-delta", {"id", "delta"}},
        {"reasoning-end", {"id"}},
        {"tool-input-start", {"toolCallId", "toolName"}},
        {"tool-input-delta", {"toolCallId", "inputTextDelta"}},
        {"tool-input-available", {"toolCallId", "toolName", "input"}},
    };
    size_t i;
    json_t *chunk;
    json_array_foreach(chunks, i, chunk)
    {
        const char *type = json_string_value(json_object_get(chunk, "type"));
        assert_non_null(type);
        size_t k;
        for (k = 0; k < ARRAY_LEN(allowed); k++)
            if (strcmp(allowed[k].type, type) == 0) break;
        assert_true(k < ARRAY_LEN(allowed));
        const char *key;
        json_t *value;
        json_object_foreach(chunk, key, value)
        {
            if (strcmp(key, "type") == 0) continue;
            bool ok = false;
            for (size_t j = 0; j < 6 && allowed[k].keys[j]; j++)
                if (strcmp(allowed[k].keys[j], key) == 0) ok = true;
            if (!ok) fail_msg("key %s not allowed on %s", key, type);
        }
    }
}

static void assert_types(json_t *chunks, const char *const *types, size_t n)
{
    if (json_array_size(chunks) != n) {
        for (size_t i = 0; i < json_array_size(chunks); i++)
            print_message("chunk %zu: %s\n", i, type_at(chunks, i));
    }
    assert_int_equal(json_array_size(chunks), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(type_at(chunks, i), types[i]);
}

static void test_text_and_reasoning(void **state)
{
    (void)state;
    hub_ui_stream s;
    buf_t out;
    hub_ui_init(&s, 1 << 20);
    buf_init(&out, 0);
    json_t *meta = json_pack("{s:s,s:s}", "provider", "simulator", "model", "sim-reasoning");
    assert_int_equal(hub_ui_start(&s, &out, "msg_1", meta), CORE_OK);
    assert_int_equal(hub_ui_reasoning(&s, &out, SLICE_LIT("think")), CORE_OK);
    assert_int_equal(hub_ui_reasoning(&s, &out, SLICE_LIT("ing")), CORE_OK);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("Hel")), CORE_OK);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("lo \"q\"\n")), CORE_OK);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_NULL), CORE_OK); /* empty delta: nothing */
    json_t *fin = json_pack("{s:s}", "cost_usd", "0.000123");
    assert_int_equal(hub_ui_finish(&s, &out, fin), CORE_OK);
    /* nothing may follow the end */
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("late")), CORE_EINVAL);
    assert_int_equal(hub_ui_finish(&s, &out, fin), CORE_EINVAL);

    bool done;
    json_t *chunks = chunks_of(&out, &done);
    assert_true(done);
    static const char *const want[] = {"start",           "start-step",      "reasoning-start",
                                       "reasoning-delta", "reasoning-delta", "reasoning-end",
                                       "text-start",      "text-delta",      "text-delta",
                                       "text-end",        "finish-step",     "message-metadata",
                                       "finish"};
    assert_types(chunks, want, ARRAY_LEN(want));
    assert_strict_keys(chunks);
    json_t *start = json_array_get(chunks, 0);
    assert_string_equal(json_string_value(json_object_get(start, "messageId")), "msg_1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(start, "messageMetadata"), "model")),
        "sim-reasoning");
    /* blocks: reasoning and text ids differ, deltas reference the open block */
    const char *rid = json_string_value(json_object_get(json_array_get(chunks, 2), "id"));
    const char *tid = json_string_value(json_object_get(json_array_get(chunks, 6), "id"));
    assert_string_not_equal(rid, tid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(chunks, 8), "id")), tid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(chunks, 8), "delta")),
                        "lo \"q\"\n");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(chunks, 12), "messageMetadata"), "cost_usd")),
        "0.000123");

    slice_t content = hub_ui_content(&s);
    assert_true(slice_eq_cstr(content, "Hello \"q\"\n"));
    json_t *parts = hub_ui_parts(&s, false);
    assert_int_equal(json_array_size(parts), 3);
    assert_string_equal(type_at(parts, 0), "step-start");
    assert_string_equal(type_at(parts, 1), "reasoning");
    assert_string_equal(json_string_value(json_object_get(json_array_get(parts, 1), "text")),
                        "thinking");
    assert_string_equal(json_string_value(json_object_get(json_array_get(parts, 2), "state")),
                        "done");
    json_decref(parts);
    json_decref(chunks);
    json_decref(meta);
    json_decref(fin);
    buf_free(&out);
    hub_ui_free(&s);
}

static void test_tool_calls(void **state)
{
    (void)state;
    hub_ui_stream s;
    buf_t out;
    hub_ui_init(&s, 1 << 20);
    buf_init(&out, 0);
    assert_int_equal(hub_ui_start(&s, &out, "msg_2", NULL), CORE_OK);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("Let me check.")), CORE_OK);
    assert_int_equal(hub_ui_tool_call(&s, &out, 0, SLICE_LIT("call_a"), SLICE_LIT("getWeather"),
                                      SLICE_LIT("{\"city\"")),
                     CORE_OK);
    assert_int_equal(
        hub_ui_tool_call(&s, &out, 0, SLICE_NULL, SLICE_NULL, SLICE_LIT(":\"Paris\"}")), CORE_OK);
    assert_int_equal(
        hub_ui_tool_call(&s, &out, 1, SLICE_NULL, SLICE_LIT("broken"), SLICE_LIT("{x")), CORE_OK);
    assert_int_equal(
        hub_ui_tool_call(&s, &out, HUB_UI_MAX_TOOLS, SLICE_NULL, SLICE_NULL, SLICE_NULL),
        CORE_EINVAL);
    assert_int_equal(hub_ui_finish(&s, &out, NULL), CORE_OK);
    bool done;
    json_t *chunks = chunks_of(&out, &done);
    assert_true(done);
    static const char *const want[] = {"start",
                                       "start-step",
                                       "text-start",
                                       "text-delta",
                                       "text-end",
                                       "tool-input-start",
                                       "tool-input-delta",
                                       "tool-input-delta",
                                       "tool-input-start",
                                       "tool-input-delta",
                                       "tool-input-available",
                                       "tool-input-available",
                                       "finish-step",
                                       "finish"};
    assert_types(chunks, want, ARRAY_LEN(want));
    assert_strict_keys(chunks);
    json_t *avail = json_array_get(chunks, 10);
    assert_string_equal(json_string_value(json_object_get(avail, "toolCallId")), "call_a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(avail, "input"), "city")),
                        "Paris");
    /* invalid JSON arguments are passed as the raw string, with a generated id */
    json_t *bad = json_array_get(chunks, 11);
    assert_string_equal(json_string_value(json_object_get(bad, "toolCallId")), "call_1");
    assert_string_equal(json_string_value(json_object_get(bad, "input")), "{x");

    json_t *parts = hub_ui_parts(&s, false);
    assert_int_equal(json_array_size(parts), 4);
    assert_string_equal(type_at(parts, 2), "tool-getWeather");
    assert_string_equal(json_string_value(json_object_get(json_array_get(parts, 2), "state")),
                        "input-available");
    json_decref(parts);
    json_decref(chunks);
    buf_free(&out);
    hub_ui_free(&s);
}

static void test_fail_mid_stream(void **state)
{
    (void)state;
    hub_ui_stream s;
    buf_t out;
    hub_ui_init(&s, 1 << 20);
    buf_init(&out, 0);
    assert_int_equal(hub_ui_start(&s, &out, "msg_3", NULL), CORE_OK);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("partial an")), CORE_OK);
    /* parts before the failure: the open block is kept as streaming, or as
     * done when the answer is declared complete */
    json_t *parts = hub_ui_parts(&s, true);
    assert_string_equal(json_string_value(json_object_get(json_array_get(parts, 1), "state")),
                        "done");
    json_decref(parts);
    parts = hub_ui_parts(&s, false);
    assert_string_equal(json_string_value(json_object_get(json_array_get(parts, 1), "state")),
                        "streaming");
    json_decref(parts);
    json_t *meta = json_pack("{s:s}", "status", "partial");
    assert_int_equal(hub_ui_fail(&s, &out, "upstream cut", meta), CORE_OK);
    bool done;
    json_t *chunks = chunks_of(&out, &done);
    assert_true(done);
    static const char *const want[] = {"start", "start-step", "text-start",  "text-delta",
                                       "error", "text-end",   "finish-step", "message-metadata",
                                       "finish"};
    assert_types(chunks, want, ARRAY_LEN(want));
    assert_strict_keys(chunks);
    assert_string_equal(json_string_value(json_object_get(json_array_get(chunks, 4), "errorText")),
                        "upstream cut");
    json_decref(chunks);
    json_decref(meta);
    buf_free(&out);
    hub_ui_free(&s);
}

static void test_abort_and_ceiling(void **state)
{
    (void)state;
    hub_ui_stream s;
    buf_t out;
    hub_ui_init(&s, 16);
    buf_init(&out, 0);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("x")), CORE_EINVAL); /* before start */
    assert_int_equal(hub_ui_start(&s, &out, "msg_4", NULL), CORE_OK);
    assert_int_equal(hub_ui_start(&s, &out, "msg_4", NULL), CORE_EINVAL);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("12345")), CORE_OK);
    assert_int_equal(hub_ui_text(&s, &out, SLICE_LIT("1234567890")), CORE_ETOOBIG);
    assert_int_equal(hub_ui_abort(&s, &out), CORE_OK);
    assert_int_equal(hub_ui_abort(&s, &out), CORE_EINVAL);
    bool done;
    json_t *chunks = chunks_of(&out, &done);
    assert_true(done);
    static const char *const want[] = {"start", "start-step", "text-start", "text-delta", "abort"};
    assert_types(chunks, want, ARRAY_LEN(want));
    assert_strict_keys(chunks);
    json_decref(chunks);
    buf_free(&out);
    hub_ui_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_reasoning),
        cmocka_unit_test(test_tool_calls),
        cmocka_unit_test(test_fail_mid_stream),
        cmocka_unit_test(test_abort_and_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
