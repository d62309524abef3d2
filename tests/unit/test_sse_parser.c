/*
 * test_sse_parser.c - the SSE parser against realistic provider streams, fed
 * whole, at every two-way split point, one byte at a time and (for short
 * streams) at every three-way split: the events, comments, errors and the
 * truncation flag must be identical for every way of cutting the bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/sse_parser.h"

/* What one run of the parser produced, rendered as text so runs compare with
 * one string comparison and failures print readably. */
typedef struct {
    buf_t log;
    int stop_after; /* stop (return non-zero) at this event number; 0 = never */
    int events;
    int comments;
} collector;

typedef struct {
    char *log;
    core_err feed_err;
    core_err finish_err;
    bool truncated;
    int events;
    int comments;
} run_result;

static void append_field(buf_t *b, const char *name, slice_t v)
{
    assert_int_equal(buf_printf(b, "%s(%zu)=", name, v.len), CORE_OK);
    assert_int_equal(buf_append_slice(b, v), CORE_OK);
    assert_int_equal(buf_append_char(b, ' '), CORE_OK);
}

static int collect_event(void *ud, const sse_event *ev)
{
    collector *c = ud;
    /* The slices must be NUL-free views that stay readable during the call. */
    assert_non_null(ev->data.ptr);
    assert_non_null(ev->event.ptr);
    assert_non_null(ev->id.ptr);
    append_field(&c->log, "event", ev->event);
    append_field(&c->log, "data", ev->data);
    append_field(&c->log, "id", ev->id);
    assert_int_equal(buf_append_cstr(&c->log, "\n"), CORE_OK);
    c->events++;
    return c->stop_after && c->events == c->stop_after;
}

static void collect_comment(void *ud, slice_t comment)
{
    collector *c = ud;
    append_field(&c->log, "comment", comment);
    assert_int_equal(buf_append_cstr(&c->log, "\n"), CORE_OK);
    c->comments++;
}

typedef struct {
    size_t max_line;
    size_t max_event;
    int stop_after;
} parse_opts;

/* Feeds input cut at the given ascending offsets; stops at the first error. */
static run_result run_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                           parse_opts opts)
{
    collector c = {.stop_after = opts.stop_after};
    buf_init(&c.log, 0);
    sse_parser p;
    sse_parser_init(&p, opts.max_line, opts.max_event, collect_event, collect_comment, &c);
    run_result r = {0};
    size_t at = 0;
    for (size_t k = 0; k <= ncuts && !r.feed_err; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        r.feed_err = sse_parser_feed(&p, in + at, end - at);
        at = end;
    }
    r.finish_err = sse_parser_finish(&p, &r.truncated);
    if (r.feed_err) {
        /* Poisoned: every later call repeats the failure. */
        assert_int_equal(r.finish_err, r.feed_err);
        assert_int_equal(sse_parser_feed(&p, "data: x\n\n", 9), r.feed_err);
        r.truncated = false;
    }
    sse_parser_free(&p);
    r.events = c.events;
    r.comments = c.comments;
    r.log = buf_steal(&c.log, NULL);
    if (!r.log) r.log = strdup("");
    return r;
}

static void assert_same_run(const run_result *a, const run_result *b, const char *how, size_t at)
{
    if (strcmp(a->log, b->log) != 0 || a->feed_err != b->feed_err || a->truncated != b->truncated) {
        print_error("split %s at %zu differs:\n--- whole ---\n%s(err %d trunc %d)\n--- split "
                    "---\n%s(err %d trunc %d)\n",
                    how, at, a->log, a->feed_err, a->truncated, b->log, b->feed_err, b->truncated);
        fail();
    }
}

/* Parses in whole and every other way; returns the (identical) result. */
static run_result parse_every_split(const char *in, size_t len, parse_opts opts)
{
    run_result whole = run_cuts(in, len, NULL, 0, opts);
    for (size_t i = 0; i <= len; i++) {
        run_result r = run_cuts(in, len, &i, 1, opts);
        assert_same_run(&whole, &r, "in two", i);
        free(r.log);
    }
    size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    run_result bytewise = run_cuts(in, len, cuts, len ? len - 1 : 0, opts);
    assert_same_run(&whole, &bytewise, "byte by byte", 0);
    free(bytewise.log);
    free(cuts);
    if (len <= 160) {
        for (size_t i = 0; i <= len; i++) {
            for (size_t j = i; j <= len; j++) {
                size_t two[2] = {i, j};
                run_result r = run_cuts(in, len, two, 2, opts);
                assert_same_run(&whole, &r, "in three", i * 1000 + j);
                free(r.log);
            }
        }
    }
    return whole;
}

static run_result parse_all(const char *in, parse_opts opts)
{
    return parse_every_split(in, strlen(in), opts);
}

static const parse_opts defaults = {0};

static void test_openai_tool_call_stream(void **state)
{
    (void)state;
#define CHUNK_HEAD                                                                                 \
    "{\"id\":\"chatcmpl-9x2\",\"object\":\"chat.completion.chunk\",\"created\":1763990001,"        \
    "\"model\":\"gpt-4.1\",\"choices\":"
    static const char *datas[] = {
        CHUNK_HEAD
        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
        "[{\"index\":0,\"id\":\"call_a1\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
                   "\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}],\"usage\":null}",
        CHUNK_HEAD "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
                   "\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}],"
                   "\"usage\":null}",
        CHUNK_HEAD "[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":null}",
        CHUNK_HEAD "[],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":17,\"total_tokens\":"
                   "97,\"prompt_tokens_details\":{\"cached_tokens\":0},"
                   "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
        "[DONE]",
    };
    buf_t in, expect;
    buf_init(&in, 0);
    buf_init(&expect, 0);
    for (size_t i = 0; i < ARRAY_LEN(datas); i++) {
        assert_int_equal(buf_printf(&in, "data: %s\n\n", datas[i]), CORE_OK);
        assert_int_equal(
            buf_printf(&expect, "event(0)= data(%zu)=%s id(0)= \n", strlen(datas[i]), datas[i]),
            CORE_OK);
    }
    run_result r = parse_every_split(in.data, in.len, defaults);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_int_equal(r.finish_err, CORE_OK);
    assert_false(r.truncated);
    assert_int_equal(r.events, 6);
    assert_string_equal(r.log, expect.data);
    free(r.log);
    buf_free(&in);
    buf_free(&expect);
}

static void test_deepseek_keepalive_and_blank_lines(void **state)
{
    (void)state;
    /* Waiting for capacity: keep-alive comments and stray blank lines before
     * the first chunk; "data:" without the space on one line. */
    const char *in = ": keep-alive\n\n: keep-alive\n\n\n"
                     "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Hm\"}}]}\n\n"
                     ":OPENROUTER PROCESSING\n"
                     "data:{\"choices\":[{\"delta\":{\"content\":\"Paris\"}}]}\n\n"
                     "\n\n"
                     "data: [DONE]\n\n";
    run_result r = parse_all(in, defaults);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_false(r.truncated);
    assert_int_equal(r.comments, 3);
    assert_int_equal(r.events, 3);
    assert_string_equal(
        r.log,
        "comment(10)=keep-alive \n"
        "comment(10)=keep-alive \n"
        "event(0)= data(50)={\"choices\":[{\"delta\":{\"reasoning_content\":\"Hm\"}}]} id(0)= \n"
        "comment(21)=OPENROUTER PROCESSING \n"
        "event(0)= data(43)={\"choices\":[{\"delta\":{\"content\":\"Paris\"}}]} id(0)= \n"
        "event(0)= data(6)=[DONE] id(0)= \n");
    free(r.log);
}

static void test_crlf_and_lone_cr_line_ends(void **state)
{
    (void)state;
    const char *crlf = "event: delta\r\ndata: {\"text\":\"Hel\"}\r\nid: 7\r\n\r\n"
                       "data: one\r\ndata: two\r\n\r\n";
    const char *cr = "event: delta\rdata: {\"text\":\"Hel\"}\rid: 7\r\r"
                     "data: one\rdata: two\r\r";
    const char *lf = "event: delta\ndata: {\"text\":\"Hel\"}\nid: 7\n\n"
                     "data: one\ndata: two\n\n";
    const char *expect = "event(5)=delta data(14)={\"text\":\"Hel\"} id(1)=7 \n"
                         "event(0)= data(7)=one\ntwo id(0)= \n";
    const char *inputs[] = {crlf, cr, lf};
    for (size_t i = 0; i < ARRAY_LEN(inputs); i++) {
        run_result r = parse_all(inputs[i], defaults);
        assert_int_equal(r.feed_err, CORE_OK);
        assert_false(r.truncated);
        assert_string_equal(r.log, expect);
        free(r.log);
    }
    /* "\r\r\n": a CR line end, then an empty line (CRLF) that dispatches. */
    run_result r = parse_all("data: a\r\r\ndata: b\n\n", defaults);
    assert_string_equal(r.log, "event(0)= data(1)=a id(0)= \nevent(0)= data(1)=b id(0)= \n");
    free(r.log);
}

static void test_multiline_data_and_fields(void **state)
{
    (void)state;
    const char *in = "data: first\ndata:second\ndata\ndata:  two spaces\n\n" /* joined */
                     "event: only-name\n\n"               /* dispatched with empty data */
                     "id: 42\n\n"                         /* id alone: nothing to deliver */
                     "retry: 1000\nfoo: bar\ndata: x\n\n" /* ignored fields */
                     "data\n\n"                           /* one empty data line */
                     "id: a\0b\ndata: nul-id\n\n";        /* id with NUL is ignored */
    size_t len = strlen(in) + strlen(in + strlen(in) + 1) + 1;
    run_result r = parse_every_split(in, len, defaults);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_false(r.truncated);
    assert_string_equal(r.log, "event(0)= data(25)=first\nsecond\n\n two spaces id(0)= \n"
                               "event(9)=only-name data(0)= id(0)= \n"
                               "event(0)= data(1)=x id(0)= \n"
                               "event(0)= data(0)= id(0)= \n"
                               "event(0)= data(6)=nul-id id(0)= \n");
    free(r.log);
}

static void test_truncated_streams(void **state)
{
    (void)state;
    /* Cut inside an event after complete lines: the event is not dispatched. */
    run_result r = parse_all("data: {\"a\":1}\n\ndata: {\"b\":", defaults);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_true(r.truncated);
    assert_int_equal(r.events, 1);
    assert_string_equal(r.log, "event(0)= data(7)={\"a\":1} id(0)= \n");
    free(r.log);

    /* Complete line, missing blank line. */
    r = parse_all("data: {\"a\":1}\n\ndata: [DONE]\n", defaults);
    assert_true(r.truncated);
    assert_int_equal(r.events, 1);
    free(r.log);

    /* A clean end, and an empty body, are not truncated; a lone comment neither. */
    const char *clean[] = {"data: x\n\n", "", "\n\n", ": bye\n", "data: x\r\n\r\n"};
    for (size_t i = 0; i < ARRAY_LEN(clean); i++) {
        r = parse_all(clean[i], defaults);
        assert_false(r.truncated);
        free(r.log);
    }
    /* A trailing comment without its line end is a partial line. */
    r = parse_all("data: x\n\n: partial", defaults);
    assert_true(r.truncated);
    assert_int_equal(r.comments, 0);
    free(r.log);
}

static void test_bom(void **state)
{
    (void)state;
    run_result r = parse_all("\xEF\xBB\xBF"
                             "data: after-bom\n\n",
                             defaults);
    assert_string_equal(r.log, "event(0)= data(9)=after-bom id(0)= \n");
    free(r.log);

    /* Only one BOM is skipped: a second one makes the field name unknown. */
    r = parse_all("\xEF\xBB\xBF\xEF\xBB\xBF"
                  "data: x\n\ndata: y\n\n",
                  defaults);
    assert_string_equal(r.log, "event(0)= data(1)=y id(0)= \n");
    free(r.log);

    /* A BOM prefix that is not a BOM stays part of the first line. */
    r = parse_all("\xEF\xBB:x\n\xEF\n\ndata: z\n\n", defaults);
    assert_string_equal(r.log, "event(0)= data(1)=z id(0)= \n");
    free(r.log);
    r = parse_all("\xEF\xBB", defaults);
    assert_true(r.truncated);
    free(r.log);

    /* The BOM only counts at the very start of the body. */
    r = parse_all("data: a\n\n\xEF\xBB\xBF"
                  "data: b\n\n",
                  defaults);
    assert_string_equal(r.log, "event(0)= data(1)=a id(0)= \n");
    free(r.log);
}

static void test_line_ceiling(void **state)
{
    (void)state;
    parse_opts small = {.max_line = 16, .max_event = 64};
    /* 16 bytes exactly is fine, 17 is not. */
    run_result r = parse_all("data: 0123456789\n\n", small);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_int_equal(r.events, 1);
    free(r.log);

    r = parse_all("data: ok\n\ndata: 0123456789A\n\ndata: never\n\n", small);
    assert_int_equal(r.feed_err, CORE_ETOOBIG);
    assert_int_equal(r.events, 1);
    assert_string_equal(r.log, "event(0)= data(2)=ok id(0)= \n");
    free(r.log);

    /* An endless line without terminator fails too, not only at its end. */
    r = parse_all("data: ok\n\n: a comment that goes on and on", small);
    assert_int_equal(r.feed_err, CORE_ETOOBIG);
    free(r.log);

    /* The line ceiling counts the line, not its CRLF. */
    r = parse_all("data: 0123456789\r\n\r\n", small);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_int_equal(r.events, 1);
    free(r.log);
}

static void test_event_ceiling(void **state)
{
    (void)state;
    parse_opts small = {.max_line = 64, .max_event = 20};
    /* Joined data: "0123456789\n012345678" is 20 bytes: fits. */
    run_result r = parse_all("data: 0123456789\ndata: 012345678\n\n", small);
    assert_int_equal(r.feed_err, CORE_OK);
    assert_int_equal(r.events, 1);
    free(r.log);
    /* One more byte does not. */
    r = parse_all("data: a\n\ndata: 0123456789\ndata: 0123456789\n\n", small);
    assert_int_equal(r.feed_err, CORE_ETOOBIG);
    assert_int_equal(r.events, 1);
    free(r.log);
    /* Many empty data lines add up through the joining newlines. */
    buf_t in;
    buf_init(&in, 0);
    for (int i = 0; i < 30; i++)
        assert_int_equal(buf_append_cstr(&in, "data\n"), CORE_OK);
    assert_int_equal(buf_append_cstr(&in, "\n"), CORE_OK);
    r = parse_every_split(in.data, in.len, small);
    assert_int_equal(r.feed_err, CORE_ETOOBIG);
    assert_int_equal(r.events, 0);
    free(r.log);
    buf_free(&in);
}

static void test_callback_stop(void **state)
{
    (void)state;
    parse_opts stop2 = {.stop_after = 2};
    run_result r = parse_all("data: 1\n\ndata: 2\n\ndata: 3\n\n", stop2);
    assert_int_equal(r.feed_err, CORE_ECANCELED);
    assert_int_equal(r.events, 2);
    assert_string_equal(r.log, "event(0)= data(1)=1 id(0)= \nevent(0)= data(1)=2 id(0)= \n");
    free(r.log);
}

static int count_event(void *ud, const sse_event *ev)
{
    (void)ev;
    (*(int *)ud)++;
    return 0;
}

static void test_finish_resets_for_reuse(void **state)
{
    (void)state;
    int n = 0;
    sse_parser p;
    sse_parser_init(&p, 0, 0, count_event, NULL, &n);
    assert_int_equal(p.max_line, SSE_DEFAULT_MAX_LINE);
    assert_int_equal(p.max_event, SSE_DEFAULT_MAX_EVENT);
    bool truncated = false;
    assert_int_equal(sse_parser_feed(&p, "data: a\n\ndata: cut", 18), CORE_OK);
    assert_int_equal(sse_parser_finish(&p, &truncated), CORE_OK);
    assert_true(truncated);
    /* A new body: a leading BOM is skipped again and the cut event is gone. */
    assert_int_equal(sse_parser_feed(&p,
                                     "\xEF\xBB\xBF"
                                     "data: b\n\n",
                                     12),
                     CORE_OK);
    assert_int_equal(sse_parser_finish(&p, &truncated), CORE_OK);
    assert_false(truncated);
    assert_int_equal(n, 2);
    sse_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_tool_call_stream),
        cmocka_unit_test(test_deepseek_keepalive_and_blank_lines),
        cmocka_unit_test(test_crlf_and_lone_cr_line_ends),
        cmocka_unit_test(test_multiline_data_and_fields),
        cmocka_unit_test(test_truncated_streams),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_line_ceiling),
        cmocka_unit_test(test_event_ceiling),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_finish_resets_for_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
