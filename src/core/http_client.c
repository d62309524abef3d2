/*
 * http_client.c - the HTTP client's public API (see http_client.h) and what
 * its two transports share: call bookkeeping, deadlines, response headers,
 * the deferred-work idle and the client's lifetime. The transports live in
 * http_client_curl.c (libcurl multi_socket) and http_client_native.c (the
 * plain-HTTP fast path); http_client_start picks one per call.
 *
 * libcurl forbids multi-level calls (add/remove handle) from inside its
 * callbacks, and our contract forbids on_done from inside any other callback of
 * the call. So every such action is recorded in a queue and carried out by one
 * uv_idle_t (on_idle) that runs while a queue is non-empty, at the top of a
 * later loop iteration where no libcurl or user callback is on the stack:
 *   start_queue  - calls to add to the multi,
 *   resume_queue - calls to un-pause (libcurl's, or the fast path's held bytes),
 *   done_queue   - calls whose outcome is decided: remove, report, free.
 *
 * Each call owns a uv_timer_t for first-byte and idle deadlines. The timer is
 * lazy: body bytes only record the time of the last activity and the timer,
 * when it fires, re-arms itself for whatever is left.
 */
#include "http_client_internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- small helpers -------------------------------------------------------- */

static http_client_call **queue_link(const call_queue *q, http_client_call *call)
{
    return (http_client_call **)((char *)call + q->link_offset);
}

static bool *queue_member(const call_queue *q, http_client_call *call)
{
    return (bool *)((char *)call + q->member_offset);
}

static void queue_init(call_queue *q, size_t link_offset, size_t member_offset)
{
    q->head = q->tail = NULL;
    q->link_offset = link_offset;
    q->member_offset = member_offset;
}

/* No-op when the call is already queued there. */
void http_client_queue_push(call_queue *q, http_client_call *call)
{
    if (*queue_member(q, call)) return;
    *queue_member(q, call) = true;
    *queue_link(q, call) = NULL;
    if (q->tail)
        *queue_link(q, q->tail) = call;
    else
        q->head = call;
    q->tail = call;
}

http_client_call *http_client_queue_pop(call_queue *q)
{
    http_client_call *call = q->head;
    if (!call) return NULL;
    q->head = *queue_link(q, call);
    if (!q->head) q->tail = NULL;
    *queue_link(q, call) = NULL;
    *queue_member(q, call) = false;
    return call;
}

/* Linear, but only needed when a call is freed while still queued (rare). */
static void queue_remove(call_queue *q, http_client_call *call)
{
    if (!*queue_member(q, call)) return;
    http_client_call *prev = NULL;
    for (http_client_call *it = q->head; it; prev = it, it = *queue_link(q, it)) {
        if (it != call) continue;
        if (prev)
            *queue_link(q, prev) = *queue_link(q, it);
        else
            q->head = *queue_link(q, it);
        if (q->tail == it) q->tail = prev;
        break;
    }
    *queue_link(q, call) = NULL;
    *queue_member(q, call) = false;
}

static void on_idle(uv_idle_t *idle);

void http_client_wake_idle(http_client *c)
{
    if (!c->torn_down) uv_idle_start(&c->idle, on_idle);
}

static void on_deadline(uv_timer_t *timer);

/* The earliest deadline that applies to the call now; UINT64_MAX for none. */
static uint64_t call_deadline(const http_client_call *call)
{
    uint64_t deadline = UINT64_MAX;
    if (!call->headers_done)
        deadline = call->started_ms + call->first_byte_timeout_ms;
    else if (!call->user_paused)
        deadline = call->last_activity_ms + call->idle_timeout_ms;
    /* libcurl keeps its own connect timeout; the fast path needs ours. */
    if (call->native && !call->connected)
        deadline = MIN(deadline, call->connect_started_ms + call->connect_timeout_ms);
    if (call->total_timeout_ms) deadline = MIN(deadline, call->started_ms + call->total_timeout_ms);
    return deadline;
}

void http_client_rearm_deadline(http_client_call *call)
{
    if (call->state == CALL_FINISHED) return;
    uint64_t deadline = call_deadline(call);
    if (deadline == UINT64_MAX) {
        uv_timer_stop(&call->deadline_timer);
        return;
    }
    uint64_t now = uv_now(call->client->loop);
    uv_timer_start(&call->deadline_timer, on_deadline, deadline > now ? deadline - now : 0, 0);
}

void http_client_finish_call(http_client_call *call, core_err err, const char *fmt, ...)
{
    if (call->state == CALL_FINISHED) return;
    call->state = CALL_FINISHED;
    call->result = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
    uv_timer_stop(&call->deadline_timer);
    http_client_queue_push(&call->client->done_queue, call);
    http_client_wake_idle(call->client);
}

/* ---- deadlines ------------------------------------------------------------ */

static void on_deadline(uv_timer_t *timer)
{
    http_client_call *call = timer->data;
    if (call->state == CALL_FINISHED) return;
    uint64_t now = uv_now(call->client->loop);
    if (call->total_timeout_ms && now >= call->started_ms + call->total_timeout_ms)
        http_client_finish_call(call, CORE_ETIMEDOUT, "no complete response within %u ms",
                                call->total_timeout_ms);
    else if (call->native && !call->connected &&
             now >= call->connect_started_ms + call->connect_timeout_ms)
        http_client_finish_call(call, CORE_ETIMEDOUT, "connect to %s timed out after %u ms",
                                call->authority, call->connect_timeout_ms);
    else if (!call->headers_done && now >= call->started_ms + call->first_byte_timeout_ms)
        http_client_finish_call(call, CORE_ETIMEDOUT, "no response headers within %u ms",
                                call->first_byte_timeout_ms);
    /* Silence we asked for (paused) is not the upstream's fault. */
    else if (call->headers_done && !call->user_paused &&
             now >= call->last_activity_ms + call->idle_timeout_ms)
        http_client_finish_call(call, CORE_ETIMEDOUT, "no response bytes for %u ms",
                                call->idle_timeout_ms);
    else
        http_client_rearm_deadline(call);
}

/* ---- response headers, shared by both transports -------------------------- */

void http_client_reset_response_headers(http_client_call *call)
{
    buf_reset(&call->header_bytes);
    call->nspans = 0;
    call->status = 0;
}

core_err http_client_store_header(http_client_call *call, slice_t name, slice_t value)
{
    if (call->nspans == call->spans_cap) {
        size_t cap = call->spans_cap ? call->spans_cap * 2 : 16;
        header_span *spans = realloc(call->spans, cap * sizeof *spans);
        if (!spans) return CORE_ENOMEM;
        call->spans = spans;
        call->spans_cap = cap;
    }
    header_span *span = &call->spans[call->nspans];
    span->name_off = call->header_bytes.len;
    span->name_len = name.len;
    core_err err = buf_append_slice(&call->header_bytes, name);
    if (err) return err;
    for (size_t i = 0; i < name.len; i++) {
        char *ch = &call->header_bytes.data[span->name_off + i];
        if (*ch >= 'A' && *ch <= 'Z') *ch = (char)(*ch + ('a' - 'A'));
    }
    span->value_off = call->header_bytes.len;
    span->value_len = value.len;
    err = buf_append_slice(&call->header_bytes, value);
    if (err) return err;
    call->nspans++;
    return CORE_OK;
}

/* header_bytes no longer moves once the final headers are in: point into it. */
core_err http_client_publish_headers(http_client_call *call)
{
    size_t n = call->nspans;
    call->names = calloc(n ? n : 1, sizeof *call->names);
    call->values = calloc(n ? n : 1, sizeof *call->values);
    if (!call->names || !call->values) return CORE_ENOMEM;
    const char *base = call->header_bytes.data;
    for (size_t i = 0; i < n; i++) {
        call->names[i] = (slice_t){base + call->spans[i].name_off, call->spans[i].name_len};
        call->values[i] = (slice_t){base + call->spans[i].value_off, call->spans[i].value_len};
    }
    return CORE_OK;
}

/* ---- call teardown and the deferred-work idle ----------------------------- */

static void on_call_timer_closed(uv_handle_t *handle)
{
    http_client_call *call = handle->data;
    http_client *c = call->client;
    free(call);
    http_client_handle_closed(c);
}

static void free_call_resources(http_client_call *call)
{
    http_client_curl_free(call);
    if (call->native) http_client_native_free(call);
    buf_free(&call->header_bytes);
    free(call->spans);
    free(call->names);
    free(call->values);
}

static void unlink_call(http_client *c, http_client_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

static void report_call(http_client *c, http_client_call *call)
{
    http_client_curl_detach(call);
    unlink_call(c, call);
    queue_remove(&c->start_queue, call);
    queue_remove(&c->resume_queue, call);
    /* Back to the pool first, so a call started from on_done can reuse it. */
    if (call->native) http_client_native_release(call);
    call->on_done(call->ud, call->result, call->message);
    /* on_done may have called resume on this (finished) call: a no-op. */
    free_call_resources(call);
    uv_close((uv_handle_t *)&call->deadline_timer, on_call_timer_closed);
}

static void resume_paused_calls(http_client *c)
{
    http_client_call *call;
    while ((call = http_client_queue_pop(&c->resume_queue))) {
        if (call->native) {
            if (call->state != CALL_FINISHED && !call->user_paused) http_client_native_resume(call);
            continue;
        }
        http_client_curl_resume(call);
    }
}

static void teardown(http_client *c);

static void on_idle(uv_idle_t *idle)
{
    http_client *c = idle->data;
    http_client_curl_add_queued(c);
    resume_paused_calls(c);
    http_client_call *call;
    while ((call = http_client_queue_pop(&c->done_queue)))
        report_call(c, call);
    /* on_done may have queued more work: keep going next iteration. */
    if (!c->start_queue.head && !c->done_queue.head && !c->resume_queue.head)
        uv_idle_stop(&c->idle);
    if (c->closing && !c->torn_down && !c->calls) teardown(c);
}

/* ---- client lifetime ------------------------------------------------------ */

void http_client_handle_closed(http_client *c)
{
    c->open_handles--;
    if (!c->torn_down || c->open_handles) return;
    void (*on_closed)(void *) = c->on_closed;
    void *ud = c->closed_ud;
    free(c);
    if (on_closed) on_closed(ud);
}

static void on_own_handle_closed(uv_handle_t *handle)
{
    http_client_handle_closed(handle->data);
}

/* Every call has been reported: release libcurl, then our handles. */
static void teardown(http_client *c)
{
    http_client_curl_stop_watching(c);
    http_client_native_close_idle(c);
    c->torn_down = true;
    http_client_curl_cleanup(c);
    uv_idle_stop(&c->idle);
    uv_close((uv_handle_t *)&c->idle, on_own_handle_closed);
    uv_close((uv_handle_t *)&c->curl_timer, on_own_handle_closed);
}

http_client *http_client_new(uv_loop_t *loop)
{
    if (http_client_global_init() != CORE_OK) return NULL;
    http_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop;
    c->native_enabled = http_client_native_allowed_by_env();
    queue_init(&c->start_queue, offsetof(http_client_call, start_next),
               offsetof(http_client_call, in_start_queue));
    queue_init(&c->resume_queue, offsetof(http_client_call, resume_next),
               offsetof(http_client_call, in_resume_queue));
    queue_init(&c->done_queue, offsetof(http_client_call, done_next),
               offsetof(http_client_call, in_done_queue));
    if (http_client_curl_init(c) != CORE_OK) {
        free(c);
        return NULL;
    }
    uv_idle_init(loop, &c->idle);
    c->idle.data = c;
    c->open_handles = 2;
    return c;
}

void http_client_close(http_client *c, void (*on_closed)(void *ud), void *ud)
{
    if (c->closing) return;
    c->closing = true;
    c->on_closed = on_closed;
    c->closed_ud = ud;
    for (http_client_call *call = c->calls; call; call = call->next)
        http_client_finish_call(call, CORE_ECANCELED, "client closed");
    http_client_wake_idle(c); /* teardown happens there, even with no calls */
}

/* ---- calls ---------------------------------------------------------------- */

bool http_client_has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':') return true;
    return false;
}

core_err http_client_start(http_client *c, const http_client_request *req, http_client_call **out)
{
    if (c->closing || !req->url || !req->on_done) return CORE_EINVAL;
    core_err err = CORE_ENOMEM;
    http_client_call *call = calloc(1, sizeof *call);
    if (!call) return CORE_ENOMEM;
    call->client = c;
    call->state = CALL_QUEUED;
    buf_init(&call->header_bytes, HTTP_CLIENT_MAX_HEADER_BYTES);
    call->first_byte_timeout_ms =
        req->first_byte_timeout_ms ? req->first_byte_timeout_ms : DEFAULT_FIRST_BYTE_TIMEOUT_MS;
    call->idle_timeout_ms = req->idle_timeout_ms ? req->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
    call->max_response_bytes = req->max_response_bytes;
    call->on_headers = req->on_headers;
    call->on_data = req->on_data;
    call->on_done = req->on_done;
    call->ud = req->ud;
    call->connect_timeout_ms =
        req->connect_timeout_ms ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    call->total_timeout_ms = req->total_timeout_ms;
    err = http_client_native_prepare(call, req);
    if (err == CORE_EAGAIN) {
        err = http_client_curl_prepare(call, req);
    }
    if (err) goto fail;

    uv_timer_init(c->loop, &call->deadline_timer);
    call->deadline_timer.data = call;
    c->open_handles++;
    call->started_ms = uv_now(c->loop);

    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
    if (call->native) {
        /* Sending now is safe: nothing here calls back into the owner. */
        call->state = CALL_RUNNING;
        c->stats.native_calls++;
        http_client_native_dispatch(call);
    } else {
        c->stats.curl_calls++;
        http_client_queue_push(&c->start_queue, call);
        http_client_wake_idle(c);
    }
    http_client_rearm_deadline(call);
    if (out) *out = call;
    return CORE_OK;
fail:
    free_call_resources(call);
    free(call);
    return err;
}

void http_client_pause(http_client_call *call)
{
    call->user_paused = true;
    if (call->native && call->state != CALL_FINISHED) http_client_native_pause(call);
}

void http_client_resume(http_client_call *call)
{
    if (call->state == CALL_FINISHED || !call->user_paused) return;
    call->user_paused = false;
    http_client *c = call->client;
    if (call->headers_done) call->last_activity_ms = uv_now(c->loop);
    http_client_rearm_deadline(call);
    /* Even when libcurl is not paused yet: a write callback may be about to
     * pause it, and on_idle re-checks the flags when it runs. */
    http_client_queue_push(&c->resume_queue, call);
    http_client_wake_idle(c);
}

void http_client_cancel(http_client_call *call)
{
    http_client_finish_call(call, CORE_ECANCELED, "cancelled");
}

slice_t http_client_header(const http_client_call *call, const char *name)
{
    if (!call->headers_done) return SLICE_NULL;
    slice_t wanted = slice_from_cstr(name);
    for (size_t i = 0; i < call->nspans; i++)
        if (slice_case_eq(call->names[i], wanted)) return call->values[i];
    return SLICE_NULL;
}

int http_client_status(const http_client_call *call)
{
    return call->headers_done ? call->status : 0;
}

void http_client_get_stats(const http_client *c, http_client_stats *out)
{
    *out = c->stats;
}
