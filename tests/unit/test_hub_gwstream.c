/*
 * test_hub_gwstream.c - the reader of aigw's /api/generate SSE stream
 * (src/hub/hub_gwstream.c): every event type, every byte split point of a
 * full stream, malformed payloads and the cut-stream signal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "hub/hub_gwstream.h"

static const char stream_text[] =
    "event: start\r\ndata: "
    "{\"id\":\"gen_1\",\"provider\":\"simulator\",\"model\":\"sim-chat\"}\r\n\r\n"
    ": keep-alive\n\n"
    "event: delta\ndata: {\"reasoning\":\"hm\"}\n\n"
    "event: delta\ndata: {\"text\":\"Hel\"}\n\n"
    "event: delta\ndata: {\"text\":\"lo \\u00e9\\n\"}\n\n"
    "event: delta\ndata: "
    "{\"tool_call\":{\"index\":0,\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\"}}\n\n"
    "event: ping\ndata: {}\n\n"
    "event: usage\ndata: {\"input_tokens\":12,\"cached_input_tokens\":2,\"output_tokens\":30,"
    "\"reasoning_tokens\":4,\"cost_usd\":\"0.000021\",\"estimated\":false}\n\n"
    "event: done\ndata: {\"finish_reason\":\"stop\",\"latency_ms\":812,\"ttft_ms\":240}\n\n";

static const char expected_log[] =
    "start gen_1 simulator sim-chat|ka|reasoning hm|text Hel|text lo \xc3\xa9\n|"
    "tool 0 c1 f {\"a|usage 12 2 30 4 21000000 0|done stop 812 240|";

static int log_event(void *ud, const hub_gw_event *ev)
{
    buf_t *log = ud;
    switch (ev->type) {
    case HUB_GW_START:
        buf_printf(log, "start %.*s %.*s %.*s|", (int)ev->id.len, ev->id.ptr, (int)ev->provider.len,
                   ev->provider.ptr, (int)ev->model.len, ev->model.ptr);
        break;
    case HUB_GW_TEXT:
        buf_printf(log, "text %.*s|", (int)ev->text.len, ev->text.ptr);
        break;
    case HUB_GW_REASONING:
        buf_printf(log, "reasoning %.*s|", (int)ev->text.len, ev->text.ptr);
        break;
    case HUB_GW_TOOL_CALL:
        buf_printf(log, "tool %d %.*s %.*s %.*s|", ev->tool_index, (int)ev->tool_id.len,
                   ev->tool_id.ptr, (int)ev->tool_name.len, ev->tool_name.ptr, (int)ev->text.len,
                   ev->text.ptr);
        break;
    case HUB_GW_USAGE:
        buf_printf(log, "usage %lld %lld %lld %lld %lld %d|", (long long)ev->usage.input,
                   (long long)ev->usage.cached_input, (long long)ev->usage.output,
                   (long long)ev->usage.reasoning, (long long)ev->cost_pico, ev->estimated);
        break;
    case HUB_GW_DONE:
        buf_printf(log, "done %.*s %lld %lld|", (int)ev->finish_reason.len, ev->finish_reason.ptr,
                   (long long)ev->latency_ms, (long long)ev->ttft_ms);
        break;
    case HUB_GW_KEEPALIVE:
        buf_printf(log, "ka|");
        break;
    case HUB_GW_ERROR:
        buf_printf(log, "error %.*s %.*s %d|", (int)ev->error_code.len, ev->error_code.ptr,
                   (int)ev->text.len, ev->text.ptr, ev->retryable);
        break;
    }
    return 0;
}

static void run_split(size_t split, size_t step, buf_t *log)
{
    hub_gw_stream s;
    hub_gw_stream_init(&s, log_event, log);
    size_t len = sizeof stream_text - 1;
    size_t pos = 0;
    if (split) {
        assert_int_equal(hub_gw_stream_feed(&s, stream_text, split), CORE_OK);
        pos = split;
    }
    while (pos < len) {
        size_t n = step ? MIN(step, len - pos) : len - pos;
        assert_int_equal(hub_gw_stream_feed(&s, stream_text + pos, n), CORE_OK);
        pos += n;
    }
    bool truncated = true;
    assert_int_equal(hub_gw_stream_finish(&s, &truncated), CORE_OK);
    assert_false(truncated);
    hub_gw_stream_free(&s);
}

static void test_every_split_point(void **state)
{
    (void)state;
    for (size_t split = 0; split < sizeof stream_text - 1; split++) {
        buf_t log;
        buf_init(&log, 0);
        run_split(split, 0, &log);
        assert_string_equal(log.data, expected_log);
        buf_free(&log);
    }
    buf_t log;
    buf_init(&log, 0);
    run_split(0, 1, &log); /* one byte at a time */
    assert_string_equal(log.data, expected_log);
    buf_free(&log);
}

static void test_error_event_and_cut(void **state)
{
    (void)state;
    buf_t log;
    buf_init(&log, 0);
    hub_gw_stream s;
    hub_gw_stream_init(&s, log_event, &log);
    const char *text = "event: delta\ndata: {\"text\":\"par\"}\n\n"
                       "event: error\ndata: {\"code\":\"upstream_truncated\",\"message\":\"cut\","
                       "\"retryable\":true}\n\n"
                       "event: delta\ndata: {\"text\":\"never fini";
    assert_int_equal(hub_gw_stream_feed(&s, text, strlen(text)), CORE_OK);
    bool truncated = false;
    assert_int_equal(hub_gw_stream_finish(&s, &truncated), CORE_OK);
    assert_true(truncated);
    assert_string_equal(log.data, "text par|error upstream_truncated cut 1|");
    hub_gw_stream_free(&s);
    buf_free(&log);
}

static void expect_parse_error(const char *text)
{
    buf_t log;
    buf_init(&log, 0);
    hub_gw_stream s;
    hub_gw_stream_init(&s, log_event, &log);
    assert_int_equal(hub_gw_stream_feed(&s, text, strlen(text)), CORE_EPARSE);
    /* poisoned */
    assert_int_equal(hub_gw_stream_feed(&s, "\n\n", 2), CORE_EPARSE);
    hub_gw_stream_free(&s);
    buf_free(&log);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_parse_error("event: delta\ndata: not json\n\n");
    expect_parse_error("event: delta\ndata: {\"nothing\":1}\n\n");
    expect_parse_error("event: delta\ndata: [1]\n\n");
    expect_parse_error("event: usage\ndata: {\"input_tokens\":-1}\n\n");
    expect_parse_error("event: usage\ndata: {\"cost_usd\":\"1e-3\"}\n\n");
    expect_parse_error("event: delta\ndata: {\"tool_call\":{\"index\":-2}}\n\n");
}

static int stop_at_first(void *ud, const hub_gw_event *ev)
{
    (void)ud;
    (void)ev;
    return 1;
}

static void test_callback_stop_and_ceiling(void **state)
{
    (void)state;
    hub_gw_stream s;
    hub_gw_stream_init(&s, stop_at_first, NULL);
    assert_int_equal(hub_gw_stream_feed(&s, stream_text, sizeof stream_text - 1), CORE_ECANCELED);
    hub_gw_stream_free(&s);

    hub_gw_stream big;
    hub_gw_stream_init(&big, stop_at_first, NULL);
    char *line = malloc(HUB_GW_MAX_LINE + 16);
    memset(line, 'x', HUB_GW_MAX_LINE + 16);
    memcpy(line, "data: ", 6);
    assert_int_equal(hub_gw_stream_feed(&big, line, HUB_GW_MAX_LINE + 16), CORE_ETOOBIG);
    free(line);
    hub_gw_stream_free(&big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_error_event_and_cut),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_callback_stop_and_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
