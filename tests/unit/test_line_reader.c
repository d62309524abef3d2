/*
 * test_line_reader.c - the NDJSON line splitter fed whole, at every two-way
 * and three-way split point and byte by byte: lines, errors and the last
 * unterminated line must come out the same for every way of cutting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/line_reader.h"

typedef struct {
    buf_t log;
    int lines;
    int stop_after; /* 0 = never */
} collector;

typedef struct {
    char *log;
    core_err err; /* first error from feed or finish */
    int lines;
} run_result;

typedef struct {
    size_t max_line;
    bool skip_empty;
    int stop_after;
} read_opts;

static int collect_line(void *ud, slice_t line)
{
    collector *c = ud;
    assert_int_equal(buf_printf(&c->log, "[%zu]", line.len), CORE_OK);
    assert_int_equal(buf_append_slice(&c->log, line), CORE_OK);
    assert_int_equal(buf_append_char(&c->log, '\n'), CORE_OK);
    c->lines++;
    return c->stop_after && c->lines == c->stop_after;
}

static run_result run_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                           read_opts opts)
{
    collector c = {.stop_after = opts.stop_after};
    buf_init(&c.log, 0);
    line_reader r;
    line_reader_init(&r, opts.max_line, opts.skip_empty, collect_line, &c);
    run_result res = {0};
    size_t at = 0;
    for (size_t k = 0; k <= ncuts && !res.err; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        res.err = line_reader_feed(&r, in + at, end - at);
        at = end;
    }
    core_err fin = line_reader_finish(&r);
    if (res.err) {
        assert_int_equal(fin, res.err); /* poisoned */
        assert_int_equal(line_reader_feed(&r, "x\n", 2), res.err);
    }
    res.err = res.err ? res.err : fin;
    line_reader_free(&r);
    res.lines = c.lines;
    res.log = buf_steal(&c.log, NULL);
    if (!res.log) res.log = strdup("");
    return res;
}

static void assert_same(const run_result *a, const run_result *b, const char *how, size_t at)
{
    if (strcmp(a->log, b->log) != 0 || a->err != b->err) {
        print_error("split %s at %zu differs:\n%s(err %d)\nvs\n%s(err %d)\n", how, at, a->log,
                    a->err, b->log, b->err);
        fail();
    }
}

static run_result read_every_split(const char *in, read_opts opts)
{
    size_t len = strlen(in);
    run_result whole = run_cuts(in, len, NULL, 0, opts);
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            size_t cuts[2] = {i, j};
            run_result r = run_cuts(in, len, cuts, 2, opts);
            assert_same(&whole, &r, "in three", i * 1000 + j);
            free(r.log);
        }
    }
    size_t cuts[512];
    assert_true(len <= ARRAY_LEN(cuts));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    run_result bytewise = run_cuts(in, len, cuts, len ? len - 1 : 0, opts);
    assert_same(&whole, &bytewise, "byte by byte", 0);
    free(bytewise.log);
    return whole;
}

static void test_eden_ndjson_stream(void **state)
{
    (void)state;
    read_opts opts = {.skip_empty = true};
    run_result r = read_every_split("{\"text\":\"About\"}\n{\"text\":\" 2.1\"}\r\n\n"
                                    "{\"text\":\" million.\"}",
                                    opts);
    assert_int_equal(r.err, CORE_OK);
    assert_int_equal(r.lines, 3);
    assert_string_equal(r.log, "[16]{\"text\":\"About\"}\n"
                               "[15]{\"text\":\" 2.1\"}\n"
                               "[20]{\"text\":\" million.\"}\n");
    free(r.log);
}

static void test_empty_lines_and_cr(void **state)
{
    (void)state;
    const char *in = "a\n\r\n\nb\rc\r\n\r";
    read_opts keep = {.skip_empty = false};
    run_result r = read_every_split(in, keep);
    /* A lone CR is content; a CR before LF, or at the very end, is dropped. */
    assert_string_equal(r.log, "[1]a\n[0]\n[0]\n[3]b\rc\n[0]\n");
    free(r.log);
    read_opts skip = {.skip_empty = true};
    r = read_every_split(in, skip);
    assert_string_equal(r.log, "[1]a\n[3]b\rc\n");
    free(r.log);
    r = read_every_split("", skip);
    assert_int_equal(r.lines, 0);
    assert_int_equal(r.err, CORE_OK);
    free(r.log);
}

static void test_line_ceiling(void **state)
{
    (void)state;
    read_opts small = {.max_line = 8, .skip_empty = true};
    /* Exactly 8 bytes, with LF, CRLF and at EOF: fine. */
    run_result r = read_every_split("12345678\n12345678\r\n12345678", small);
    assert_int_equal(r.err, CORE_OK);
    assert_int_equal(r.lines, 3);
    free(r.log);
    /* 9 bytes fail, wherever the line is and whatever ends it. */
    const char *too_long[] = {"ok\n123456789\nnever\n", "ok\n123456789\r\n", "ok\n123456789",
                              "ok\n1234567890123456789"};
    for (size_t i = 0; i < ARRAY_LEN(too_long); i++) {
        r = read_every_split(too_long[i], small);
        assert_int_equal(r.err, CORE_ETOOBIG);
        assert_string_equal(r.log, "[2]ok\n");
        free(r.log);
    }
}

static void test_callback_stop(void **state)
{
    (void)state;
    read_opts stop = {.stop_after = 2};
    run_result r = read_every_split("1\n2\n3\n", stop);
    assert_int_equal(r.err, CORE_ECANCELED);
    assert_string_equal(r.log, "[1]1\n[1]2\n");
    free(r.log);
    /* Stopping on the last, unterminated line is reported by finish. */
    r = read_every_split("1\n2", stop);
    assert_int_equal(r.err, CORE_ECANCELED);
    assert_int_equal(r.lines, 2);
    free(r.log);
}

static int count_line(void *ud, slice_t line)
{
    (void)line;
    (*(int *)ud)++;
    return 0;
}

static void test_reuse_after_finish(void **state)
{
    (void)state;
    int n = 0;
    line_reader r;
    line_reader_init(&r, 0, true, count_line, &n);
    assert_int_equal(r.max_line, LINE_READER_DEFAULT_MAX_LINE);
    assert_int_equal(line_reader_feed(&r, "a\nb", 3), CORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(line_reader_finish(&r), CORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(line_reader_finish(&r), CORE_OK); /* nothing pending twice */
    assert_int_equal(n, 2);
    assert_int_equal(line_reader_feed(&r, "c\n", 2), CORE_OK);
    assert_int_equal(n, 3);
    line_reader_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eden_ndjson_stream), cmocka_unit_test(test_empty_lines_and_cr),
        cmocka_unit_test(test_line_ceiling),       cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_reuse_after_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
