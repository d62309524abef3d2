/*
 * fuzz_sse_parser.c - libFuzzer target for the SSE parser. Each input is
 * parsed whole, then again cut in two at a point chosen by the input itself
 * and again in uneven small chunks; the rendered events, comments, error and
 * truncation flag must be identical every time. Small ceilings make the
 * CORE_ETOOBIG paths reachable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/sse_parser.h"

typedef struct {
    buf_t log;
    int events;
} collector;

static void log_slice(buf_t *log, char tag, slice_t s)
{
    /* Length-prefixed so that different event lists never render alike. */
    buf_printf(log, "%c%zu:", tag, s.len);
    buf_append_slice(log, s);
}

static int on_event(void *ud, const sse_event *ev)
{
    collector *c = ud;
    log_slice(&c->log, 'E', ev->event);
    log_slice(&c->log, 'D', ev->data);
    log_slice(&c->log, 'I', ev->id);
    /* Stop at the 50th event so the cancel path is fuzzed too. */
    return ++c->events == 50;
}

static void on_comment(void *ud, slice_t comment)
{
    log_slice(&((collector *)ud)->log, 'C', comment);
}

typedef struct {
    char *log;
    size_t log_len;
    core_err err;
    bool truncated;
} outcome;

/* chunk == 0: two pieces split at `split`; otherwise pieces of 1..chunk bytes. */
static outcome parse(const uint8_t *data, size_t size, size_t split, size_t chunk)
{
    collector c = {0};
    buf_init(&c.log, 0);
    sse_parser p;
    sse_parser_init(&p, 256, 1024, on_event, on_comment, &c);
    outcome out = {0};
    const char *in = (const char *)data;
    if (chunk == 0) {
        out.err = sse_parser_feed(&p, in, split);
        if (!out.err) out.err = sse_parser_feed(&p, in + split, size - split);
    } else {
        size_t at = 0, step = 1;
        while (at < size && !out.err) {
            size_t n = MIN(step, size - at);
            out.err = sse_parser_feed(&p, in + at, n);
            at += n;
            step = step % chunk + 1;
        }
    }
    core_err fin = sse_parser_finish(&p, &out.truncated);
    if (out.err && fin != out.err) abort(); /* poisoned parsers repeat their error */
    if (!out.err) out.err = fin;
    sse_parser_free(&p);
    out.log = buf_steal(&c.log, &out.log_len);
    return out;
}

static void expect_same(const outcome *a, const outcome *b)
{
    if (a->err != b->err || a->log_len != b->log_len ||
        (a->log_len && memcmp(a->log, b->log, a->log_len) != 0) ||
        (!a->err && a->truncated != b->truncated)) {
        fprintf(stderr, "split changed the result: err %d/%d trunc %d/%d\n", a->err, b->err,
                a->truncated, b->truncated);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    outcome whole = parse(data, size, size, 0);
    size_t split = size ? (data[0] * 131u + (size > 1 ? data[size - 1] : 0)) % (size + 1) : 0;
    outcome halves = parse(data, size, split, 0);
    expect_same(&whole, &halves);
    outcome chunks = parse(data, size, 0, 7);
    expect_same(&whole, &chunks);
    free(whole.log);
    free(halves.log);
    free(chunks.log);
    return 0;
}
