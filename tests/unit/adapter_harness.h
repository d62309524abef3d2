/*
 * adapter_harness.h - shared helpers for the provider adapter tests: records
 * gw_events as comparable text (one line per event), checks the provider.h
 * invariants on every recording, feeds a body whole, byte by byte and at
 * every 2-way split point (asserting the identical event list), and loads
 * wire fixtures from tests/unit/fixtures/. Header-only: each test program
 * includes it once (after cmocka.h).
 */
#ifndef ADAPTER_HARNESS_H
#define ADAPTER_HARNESS_H

#include "core/buf.h"
#include "gateway/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

typedef struct {
    buf_t text;
    int starts, dones, finishes, usages, events;
    bool first_was_start;
    bool event_after_done;
} harness_rec;

static inline void harness_escaped(buf_t *b, slice_t s)
{
    buf_append_char(b, '"');
    buf_append_json_escaped(b, s);
    buf_append_char(b, '"');
}

static inline void harness_emit(void *ud, const gw_event *ev)
{
    harness_rec *r = ud;
    buf_t *b = &r->text;
    if (r->dones) r->event_after_done = true;
    if (r->events++ == 0) r->first_was_start = ev->type == GW_EV_START;
    switch (ev->type) {
    case GW_EV_START:
        r->starts++;
        buf_printf(b, "START id=%.*s model=%.*s\n", (int)ev->id.len, ev->id.ptr ? ev->id.ptr : "",
                   (int)ev->model.len, ev->model.ptr ? ev->model.ptr : "");
        break;
    case GW_EV_TEXT:
        buf_append_cstr(b, "TEXT ");
        harness_escaped(b, ev->text);
        buf_append_char(b, '\n');
        break;
    case GW_EV_REASONING:
        buf_append_cstr(b, "REASONING ");
        harness_escaped(b, ev->text);
        buf_append_char(b, '\n');
        break;
    case GW_EV_TOOL_CALL_START:
        buf_printf(b, "TOOL_START %d id=%.*s name=%.*s\n", ev->tool_index, (int)ev->tool_id.len,
                   ev->tool_id.ptr ? ev->tool_id.ptr : "", (int)ev->tool_name.len,
                   ev->tool_name.ptr ? ev->tool_name.ptr : "");
        break;
    case GW_EV_TOOL_ARGS:
        buf_printf(b, "TOOL_ARGS %d ", ev->tool_index);
        harness_escaped(b, ev->text);
        buf_append_char(b, '\n');
        break;
    case GW_EV_TOOL_CALL_END:
        buf_printf(b, "TOOL_END %d valid=%d ", ev->tool_index, ev->args_valid_json ? 1 : 0);
        harness_escaped(b, ev->text);
        buf_append_char(b, '\n');
        break;
    case GW_EV_USAGE:
        r->usages++;
        buf_printf(b, "USAGE in=%lld cached=%lld out=%lld reasoning=%lld cost=%lld exact=%d\n",
                   (long long)ev->usage.tokens.input, (long long)ev->usage.tokens.cached_input,
                   (long long)ev->usage.tokens.output, (long long)ev->usage.tokens.reasoning,
                   (long long)ev->usage.provider_cost_pico, ev->usage.exact ? 1 : 0);
        break;
    case GW_EV_FINISH:
        r->finishes++;
        buf_printf(b, "FINISH %s raw=%.*s\n", gw_finish_name(ev->finish), (int)ev->finish_raw.len,
                   ev->finish_raw.ptr ? ev->finish_raw.ptr : "");
        break;
    case GW_EV_ERROR:
        buf_printf(b, "ERROR %s status=%d retry=%d after=%lld code=%.*s msg=",
                   gw_err_code(ev->error.code), ev->error.http_status, ev->error.retryable ? 1 : 0,
                   (long long)ev->error.retry_after_ms, (int)ev->error.provider_code.len,
                   ev->error.provider_code.ptr ? ev->error.provider_code.ptr : "");
        harness_escaped(b, ev->error.message);
        buf_append_char(b, '\n');
        break;
    case GW_EV_DONE:
        r->dones++;
        buf_append_cstr(b, "DONE\n");
        break;
    }
}

static inline void harness_rec_init(harness_rec *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->text, 0);
}

/* Asserts the provider.h invariants; returns the text (caller frees). */
static inline char *harness_rec_take(harness_rec *r)
{
    assert_int_equal(r->starts, 1);
    assert_true(r->first_was_start);
    assert_int_equal(r->dones, 1);
    assert_false(r->event_after_done);
    assert_true(r->finishes <= 1);
    assert_int_equal(r->usages, 1);
    if (!r->text.data) buf_append(&r->text, "", 0);
    return buf_steal(&r->text, NULL);
}

/* Feeds body in pieces: cuts[] are offsets (ascending); step > 0 feeds in
 * step-byte pieces instead. Stops feeding after an error, as the router does. */
static inline char *harness_run(const gw_provider_ops *ops, const gw_request *req, slice_t body,
                                const size_t *cuts, size_t ncuts, size_t step)
{
    harness_rec r;
    harness_rec_init(&r);
    gw_stream *s = ops->stream_new(req, harness_emit, &r);
    assert_non_null(s);
    size_t pos = 0, k = 0;
    while (pos < body.len) {
        size_t next = step ? MIN(body.len, pos + step) : (k < ncuts ? cuts[k++] : body.len);
        if (next < pos) next = pos;
        if (ops->stream_feed(s, body.ptr + pos, next - pos) != CORE_OK) break;
        pos = next;
    }
    ops->stream_finish(s);
    ops->stream_free(s);
    return harness_rec_take(&r);
}

/* Whole, byte by byte, and every 2-way split must all give `expected`. */
static inline void harness_check_stream(const gw_provider_ops *ops, const gw_request *req,
                                        slice_t body, const char *expected)
{
    char *got = harness_run(ops, req, body, NULL, 0, 0);
    if (strcmp(got, expected) != 0)
        fail_msg("whole body:\n--- got ---\n%s--- expected ---\n%s", got, expected);
    free(got);
    got = harness_run(ops, req, body, NULL, 0, 1);
    if (strcmp(got, expected) != 0) fail_msg("byte by byte:\n%s", got);
    free(got);
    for (size_t cut = 1; cut < body.len; cut++) {
        got = harness_run(ops, req, body, &cut, 1, 0);
        if (strcmp(got, expected) != 0) fail_msg("split at %zu:\n%s", cut, got);
        free(got);
    }
}

static inline void harness_check_response(const gw_provider_ops *ops, const gw_request *req,
                                          slice_t body, const char *expected)
{
    harness_rec r;
    harness_rec_init(&r);
    ops->parse_response(req, body, harness_emit, &r);
    char *got = harness_rec_take(&r);
    if (strcmp(got, expected) != 0)
        fail_msg("response:\n--- got ---\n%s--- expected ---\n%s", got, expected);
    free(got);
}

/* Loads tests/unit/fixtures/<name> (next to this header). Caller frees. */
static inline char *harness_fixture(const char *name, size_t *len)
{
    char path[1024];
    const char *here = __FILE__;
    const char *slash = strrchr(here, '/');
    int dirlen = slash ? (int)(slash - here) : 1;
    snprintf(path, sizeof(path), "%.*s/fixtures/%s", dirlen, slash ? here : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open fixture %s", path);
    buf_t b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_append(&b, "", 0);
    return buf_steal(&b, len);
}

static inline void harness_check_fixture(const gw_provider_ops *ops, const gw_request *req,
                                         const char *name, const char *expected)
{
    size_t len;
    char *body = harness_fixture(name, &len);
    harness_check_stream(ops, req, (slice_t){body, len}, expected);
    free(body);
}

/* Header lookup over a NULL-terminated {name, value, name, value, ...}. */
static inline slice_t harness_header(void *hud, const char *name)
{
    const char *const *kv = hud;
    for (; kv && kv[0]; kv += 2)
        if (strcasecmp(kv[0], name) == 0) return slice_from_cstr(kv[1]);
    return SLICE_NULL;
}

/* map_error rendered like an ERROR event line. */
static inline char *harness_map_error(const gw_provider_ops *ops, int status, const char *body,
                                      const char *const *headers)
{
    gw_error_info info;
    harness_rec r;
    harness_rec_init(&r);
    ops->map_error(status, slice_from_cstr(body), harness_header, (void *)headers, &info);
    gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = GW_EV_ERROR;
    ev.error = info;
    harness_emit(&r, &ev);
    return buf_steal(&r.text, NULL);
}

/* A request with one user message. model/stream set by the caller. */
static inline void harness_request(gw_request *req, const char *model, bool stream)
{
    memset(req, 0, sizeof(*req));
    req->model = (char *)model;
    req->stream = stream;
    req->messages = json_pack("[{s:s,s:s}]", "role", "user", "content", "Hi");
}

#endif
