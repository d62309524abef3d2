/*
 * fuzz_provider_check.h - event-invariant checker shared by the provider
 * fuzz targets: START first and exactly once, DONE exactly once and last,
 * at most one FINISH, exactly one USAGE, and every slice readable (ASan
 * flags a slice that points outside live memory). Any violation aborts.
 */
#ifndef FUZZ_PROVIDER_CHECK_H
#define FUZZ_PROVIDER_CHECK_H

#include "gateway/provider.h"

#include <stdlib.h>

typedef struct {
    int events, starts, dones, finishes, usages;
    unsigned checksum; /* keeps the slice reads from being optimized away */
} fuzz_check;

static inline void fuzz_touch(fuzz_check *c, slice_t s)
{
    if (s.len && !s.ptr) abort();
    for (size_t i = 0; i < s.len; i++)
        c->checksum += (unsigned char)s.ptr[i];
}

static inline void fuzz_check_emit(void *ud, const gw_event *ev)
{
    fuzz_check *c = ud;
    if (c->dones) abort(); /* nothing after DONE */
    if (c->events++ == 0 && ev->type != GW_EV_START) abort();
    fuzz_touch(c, ev->id);
    fuzz_touch(c, ev->model);
    fuzz_touch(c, ev->text);
    fuzz_touch(c, ev->tool_id);
    fuzz_touch(c, ev->tool_name);
    fuzz_touch(c, ev->finish_raw);
    fuzz_touch(c, ev->error.message);
    fuzz_touch(c, ev->error.provider_code);
    switch (ev->type) {
    case GW_EV_START:
        c->starts++;
        break;
    case GW_EV_DONE:
        c->dones++;
        break;
    case GW_EV_FINISH:
        c->finishes++;
        break;
    case GW_EV_USAGE:
        c->usages++;
        if (ev->usage.tokens.cached_input > ev->usage.tokens.input) abort();
        if (ev->usage.tokens.reasoning > ev->usage.tokens.output) abort();
        if (ev->usage.tokens.input < 0 || ev->usage.tokens.output < 0) abort();
        break;
    case GW_EV_TOOL_CALL_START:
    case GW_EV_TOOL_ARGS:
    case GW_EV_TOOL_CALL_END:
        if (ev->tool_index < 0 || ev->tool_index >= GW_MAX_TOOL_CALLS) abort();
        break;
    default:
        break;
    }
}

static inline void fuzz_check_end(const fuzz_check *c)
{
    if (c->starts != 1 || c->dones != 1 || c->finishes > 1 || c->usages != 1) abort();
}

/* Feeds data to a stream parser in pieces whose sizes come from the data's
 * first byte (1..16 byte steps, or whole), then finishes it. */
static inline void fuzz_stream(const gw_provider_ops *ops, const gw_request *req, const uint8_t *data,
                        size_t size)
{
    fuzz_check c = {0};
    gw_stream *s = ops->stream_new(req, fuzz_check_emit, &c);
    if (!s) abort();
    size_t step = size ? (data[0] & 0x0f) + 1 : 1;
    if (size && (data[0] & 0x10)) step = size;
    for (size_t pos = 0; pos < size; pos += step) {
        size_t n = size - pos < step ? size - pos : step;
        if (ops->stream_feed(s, (const char *)data + pos, n) != CORE_OK) break;
    }
    ops->stream_finish(s);
    ops->stream_free(s);
    fuzz_check_end(&c);
}

#endif
