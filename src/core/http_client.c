/*
 * http_client.c - libcurl multi_socket driven by libuv (see http_client.h).
 *
 * libcurl tells us which sockets to watch (on_curl_socket -> one uv_poll_t
 * each) and when to wake it up (on_curl_timer -> one uv_timer_t); we hand the
 * readiness back with curl_multi_socket_action and collect finished transfers
 * with curl_multi_info_read.
 *
 * libcurl forbids multi-level calls (add/remove handle) from inside its
 * callbacks, and our contract forbids on_done from inside any other callback of
 * the call. So every such action is recorded in a queue and carried out by one
 * uv_idle_t (on_idle) that runs while a queue is non-empty, at the top of a
 * later loop iteration where no libcurl or user callback is on the stack:
 *   start_queue  - calls to add to the multi,
 *   resume_queue - calls to un-pause with curl_easy_pause(CURLPAUSE_CONT),
 *   done_queue   - calls whose outcome is decided: remove, report, free.
 *
 * Pausing never calls libcurl: a paused call answers the next write callback
 * with CURL_WRITEFUNC_PAUSE, which makes libcurl keep those bytes and stop
 * reading the socket until we un-pause it.
 *
 * Easy handles are pooled per client (curl_easy_reset on release, every
 * option re-applied on reuse): curl_easy_init/cleanup per call cost more than
 * the rest of a small proxied exchange. The receive buffer is kept small
 * (CURLOPT_BUFFERSIZE) because a long-lived stream holds it for its lifetime.
 *
 * Each call owns a uv_timer_t for first-byte and idle deadlines. The timer is
 * lazy: body bytes only record the time of the last activity and the timer,
 * when it fires, re-arms itself for whatever is left.
 */
#include "http_client.h"

#include "buf.h"
#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

enum {
    EASY_POOL_MAX = 64,          /* idle easy handles kept for reuse */
    RECEIVE_BUFFER_BYTES = 8192, /* per transfer; libcurl's default is 16 KiB */
    DEFAULT_CONNECT_TIMEOUT_MS = 5000,
    DEFAULT_FIRST_BYTE_TIMEOUT_MS = 60000,
    DEFAULT_IDLE_TIMEOUT_MS = 60000,
};

/* One socket libcurl asked us to watch. */
typedef struct sock_watch {
    uv_poll_t poll;
    curl_socket_t fd;
    http_client *client;
    struct sock_watch *prev, *next;
} sock_watch;

typedef enum {
    CALL_QUEUED,   /* created; waits in start_queue to be added to the multi */
    CALL_RUNNING,  /* in the multi, transferring */
    CALL_FINISHED, /* outcome decided; waits in done_queue for on_done */
} call_state;

typedef struct {
    size_t name_off, name_len, value_off, value_len;
} header_span;

struct http_client_call {
    http_client *client;
    CURL *easy;
    struct curl_slist *request_headers;
    call_state state;
    bool in_multi;
    bool headers_done; /* final (non-1xx) response headers complete */
    bool user_paused;  /* the owner asked for no more on_data */
    bool curl_paused;  /* we answered CURL_WRITEFUNC_PAUSE; needs CURLPAUSE_CONT */
    core_err result;
    int status;

    /* Response headers of the response being read: lower-cased names and
     * trimmed values back to back in header_bytes; slices built once final. */
    buf_t header_bytes;
    header_span *spans;
    size_t nspans, spans_cap;
    slice_t *names, *values;

    size_t received;
    uint64_t started_ms, last_activity_ms;
    uv_timer_t deadline_timer;

    uint32_t first_byte_timeout_ms, idle_timeout_ms;
    size_t max_response_bytes;
    http_client_headers_fn on_headers;
    http_client_data_fn on_data;
    http_client_done_fn on_done;
    void *ud;

    char curl_error[CURL_ERROR_SIZE];
    char message[CURL_ERROR_SIZE + 128];

    struct http_client_call *prev, *next; /* client->calls: every call not yet reported */
    /* One link per queue: a call can sit in all three at once (started, then
     * resumed and cancelled before on_idle ran). */
    struct http_client_call *start_next, *resume_next, *done_next;
    bool in_start_queue, in_resume_queue, in_done_queue;
};

/* Intrusive FIFO of calls; link_offset/member_offset pick the call's fields. */
typedef struct {
    http_client_call *head, *tail;
    size_t link_offset;   /* offsetof the http_client_call * link */
    size_t member_offset; /* offsetof the bool "in this queue" flag */
} call_queue;

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer;
    uv_idle_t idle;
    sock_watch *watches;
    http_client_call *calls;
    call_queue start_queue, resume_queue, done_queue;
    CURL *easy_pool[EASY_POOL_MAX]; /* reset handles ready for the next call */
    size_t easy_pooled;
    size_t open_handles; /* uv handles not yet through their close callback */
    bool closing;        /* http_client_close was called */
    bool torn_down;      /* multi cleaned up, own handles closing */
    void (*on_closed)(void *ud);
    void *closed_ud;
};

/* ---- process-wide set-up -------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result;

static void global_init_once(void)
{
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_init_result != CURLE_OK) return;
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    if (!(info->features & CURL_VERSION_ASYNCHDNS))
        log_warn("libcurl %s has no asynchronous resolver: DNS lookups will block the event loop",
                 info->version);
    if (!(info->features & CURL_VERSION_HTTP2))
        log_warn("libcurl %s lacks HTTP/2: upstream calls will use HTTP/1.1", info->version);
}

core_err http_client_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    return global_init_result == CURLE_OK ? CORE_OK : CORE_EIO;
}

void http_client_global_cleanup(void)
{
    curl_global_cleanup();
}

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
static void queue_push(call_queue *q, http_client_call *call)
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

static http_client_call *queue_pop(call_queue *q)
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

static void wake_idle(http_client *c)
{
    if (!c->torn_down) uv_idle_start(&c->idle, on_idle);
}

static void handle_closed(http_client *c);

static void on_deadline(uv_timer_t *timer);

static void arm_deadline(http_client_call *call, uint64_t deadline_ms)
{
    uint64_t now = uv_now(call->client->loop);
    uv_timer_start(&call->deadline_timer, on_deadline, deadline_ms > now ? deadline_ms - now : 0,
                   0);
}

/* Decides the outcome of a call once; on_done follows from on_idle. */
__attribute__((format(printf, 3, 4))) static void finish_call(http_client_call *call, core_err err,
                                                              const char *fmt, ...)
{
    if (call->state == CALL_FINISHED) return;
    call->state = CALL_FINISHED;
    call->result = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
    uv_timer_stop(&call->deadline_timer);
    queue_push(&call->client->done_queue, call);
    wake_idle(call->client);
}

/* ---- deadlines ------------------------------------------------------------ */

static void on_deadline(uv_timer_t *timer)
{
    http_client_call *call = timer->data;
    if (call->state == CALL_FINISHED) return;
    uint64_t now = uv_now(call->client->loop);
    if (!call->headers_done) {
        uint64_t deadline = call->started_ms + call->first_byte_timeout_ms;
        if (now < deadline) {
            arm_deadline(call, deadline);
            return;
        }
        finish_call(call, CORE_ETIMEDOUT, "no response headers within %u ms",
                    call->first_byte_timeout_ms);
        return;
    }
    /* Silence we asked for is not the upstream's fault; resume re-arms. */
    if (call->user_paused) return;
    uint64_t deadline = call->last_activity_ms + call->idle_timeout_ms;
    if (now < deadline) {
        arm_deadline(call, deadline);
        return;
    }
    finish_call(call, CORE_ETIMEDOUT, "no response bytes for %u ms", call->idle_timeout_ms);
}

/* ---- libcurl callbacks of one transfer ------------------------------------ */

static void reset_response_headers(http_client_call *call)
{
    buf_reset(&call->header_bytes);
    call->nspans = 0;
    call->status = 0;
}

/* "HTTP/1.1 200 OK", "HTTP/2 200": the three digits after the first space. */
static int parse_status_line(slice_t line)
{
    const char *space = memchr(line.ptr, ' ', line.len);
    if (!space) return 0;
    size_t at = (size_t)(space - line.ptr) + 1;
    if (line.len < at + 3) return 0;
    int status = 0;
    for (size_t i = at; i < at + 3; i++) {
        if (line.ptr[i] < '0' || line.ptr[i] > '9') return 0;
        status = status * 10 + (line.ptr[i] - '0');
    }
    return status;
}

static core_err store_header(http_client_call *call, slice_t name, slice_t value)
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
static core_err publish_headers(http_client_call *call)
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

/* Called by libcurl once per header line, including status lines and the
 * blank line closing each response (interim 1xx ones too). Returning anything
 * but len aborts the transfer. */
static size_t on_curl_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_client_call *call = ud;
    size_t len = size * nmemb;
    if (call->state == CALL_FINISHED) return 0;
    if (call->headers_done) return len; /* trailers: not exposed */

    slice_t line = {ptr, len};
    while (line.len && (line.ptr[line.len - 1] == '\n' || line.ptr[line.len - 1] == '\r'))
        line.len--;

    if (slice_starts_with(line, SLICE_LIT("HTTP/"))) {
        reset_response_headers(call); /* a new response: 100-continue came first */
        call->status = parse_status_line(line);
        if (!call->status) {
            finish_call(call, CORE_EIO, "malformed status line");
            return 0;
        }
        return len;
    }
    if (line.len == 0) {
        if (call->status >= 100 && call->status < 200) return len; /* interim: wait for more */
        core_err err = publish_headers(call);
        if (err) {
            finish_call(call, err, "out of memory for response headers");
            return 0;
        }
        call->headers_done = true;
        call->last_activity_ms = uv_now(call->client->loop);
        arm_deadline(call, call->last_activity_ms + call->idle_timeout_ms);
        if (call->on_headers) {
            http_client_response resp = {call->status, call->nspans, call->names, call->values};
            call->on_headers(call->ud, &resp);
        }
        return call->state == CALL_FINISHED ? 0 : len;
    }
    if (line.ptr[0] == ' ' || line.ptr[0] == '\t') return len; /* obsolete folding: dropped */
    const char *colon = memchr(line.ptr, ':', line.len);
    if (!colon) return len;
    slice_t name = slice_trim((slice_t){line.ptr, (size_t)(colon - line.ptr)});
    slice_t value = slice_trim((slice_t){colon + 1, line.len - (size_t)(colon - line.ptr) - 1});
    core_err err = store_header(call, name, value);
    if (err) {
        if (err == CORE_ETOOBIG)
            finish_call(call, err, "response headers over %u bytes", HTTP_CLIENT_MAX_HEADER_BYTES);
        else
            finish_call(call, err, "out of memory for response headers");
        return 0;
    }
    return len;
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_client_call *call = ud;
    size_t len = size * nmemb;
    if (call->state == CALL_FINISHED) return 0; /* abort: nobody wants the rest */
    if (call->user_paused) {
        /* libcurl keeps these bytes and stops reading until CURLPAUSE_CONT. */
        call->curl_paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (call->max_response_bytes && len > call->max_response_bytes - call->received) {
        finish_call(call, CORE_ETOOBIG, "response body over %zu bytes", call->max_response_bytes);
        return 0;
    }
    call->received += len;
    call->last_activity_ms = uv_now(call->client->loop);
    if (call->on_data && call->on_data(call->ud, ptr, len) == HTTP_CLIENT_PAUSE)
        call->user_paused = true;
    return call->state == CALL_FINISHED ? 0 : len;
}

/* ---- driving the multi ---------------------------------------------------- */

static core_err core_err_from_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return CORE_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return CORE_ETIMEDOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return CORE_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        return CORE_ENOMEM;
    default:
        return CORE_EIO;
    }
}

static void drain_finished_transfers(http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        http_client_call *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        CURLcode rc = msg->data.result;
        if (rc == CURLE_OK)
            finish_call(call, CORE_OK, "%s", "");
        else
            finish_call(call, core_err_from_curl(rc), "%s",
                        call->curl_error[0] ? call->curl_error : curl_easy_strerror(rc));
    }
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    sock_watch *watch = poll->data;
    http_client *c = watch->client;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running;
    /* May close this very watch (CURL_POLL_REMOVE): do not touch it after. */
    curl_multi_socket_action(c->multi, watch->fd, flags, &running);
    drain_finished_transfers(c);
}

static void on_watch_closed(uv_handle_t *handle)
{
    sock_watch *watch = handle->data;
    http_client *c = watch->client;
    free(watch);
    handle_closed(c);
}

static void close_watch(http_client *c, sock_watch *watch)
{
    if (watch->prev)
        watch->prev->next = watch->next;
    else
        c->watches = watch->next;
    if (watch->next) watch->next->prev = watch->prev;
    uv_poll_stop(&watch->poll);
    uv_close((uv_handle_t *)&watch->poll, on_watch_closed);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    http_client *c = userp;
    sock_watch *watch = socketp;
    if (c->torn_down) return 0;
    if (what == CURL_POLL_REMOVE) {
        if (watch) {
            close_watch(c, watch);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!watch) {
        watch = calloc(1, sizeof *watch);
        if (!watch) return -1;
        if (uv_poll_init_socket(c->loop, &watch->poll, fd) != 0) {
            free(watch);
            return -1;
        }
        watch->fd = fd;
        watch->client = c;
        watch->poll.data = watch;
        watch->next = c->watches;
        if (c->watches) c->watches->prev = watch;
        c->watches = watch;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, watch);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    return uv_poll_start(&watch->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *timer)
{
    http_client *c = timer->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_finished_transfers(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    http_client *c = userp;
    if (c->torn_down) return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->curl_timer);
    else
        /* Even for 0 ms: libcurl must not be re-entered from this callback. */
        uv_timer_start(&c->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- call teardown and the deferred-work idle ----------------------------- */

static void on_call_timer_closed(uv_handle_t *handle)
{
    http_client_call *call = handle->data;
    http_client *c = call->client;
    free(call);
    handle_closed(c);
}

static CURL *easy_acquire(http_client *c)
{
    return c->easy_pooled ? c->easy_pool[--c->easy_pooled] : curl_easy_init();
}

/* The handle must be out of the multi. */
static void easy_release(http_client *c, CURL *easy)
{
    if (!c->closing && c->easy_pooled < EASY_POOL_MAX) {
        curl_easy_reset(easy);
        c->easy_pool[c->easy_pooled++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

static void free_call_resources(http_client_call *call)
{
    if (call->easy) easy_release(call->client, call->easy);
    curl_slist_free_all(call->request_headers);
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
    if (call->in_multi) {
        curl_multi_remove_handle(c->multi, call->easy);
        call->in_multi = false;
    }
    unlink_call(c, call);
    queue_remove(&c->start_queue, call);
    queue_remove(&c->resume_queue, call);
    call->on_done(call->ud, call->result, call->message);
    /* on_done may have called resume on this (finished) call: a no-op. */
    free_call_resources(call);
    uv_close((uv_handle_t *)&call->deadline_timer, on_call_timer_closed);
}

static void add_queued_calls(http_client *c)
{
    http_client_call *call;
    while ((call = queue_pop(&c->start_queue))) {
        if (call->state != CALL_QUEUED) continue; /* cancelled before it started */
        CURLMcode mc = curl_multi_add_handle(c->multi, call->easy);
        if (mc != CURLM_OK) {
            finish_call(call, mc == CURLM_OUT_OF_MEMORY ? CORE_ENOMEM : CORE_EIO, "%s",
                        curl_multi_strerror(mc));
            continue;
        }
        call->in_multi = true;
        call->state = CALL_RUNNING;
    }
}

static void resume_paused_calls(http_client *c)
{
    http_client_call *call;
    while ((call = queue_pop(&c->resume_queue))) {
        if (call->state != CALL_RUNNING || call->user_paused || !call->curl_paused) continue;
        call->curl_paused = false;
        /* May deliver the held-back bytes right here, through on_curl_write. */
        CURLcode rc = curl_easy_pause(call->easy, CURLPAUSE_CONT);
        if (rc != CURLE_OK)
            finish_call(call, core_err_from_curl(rc), "resume failed: %s", curl_easy_strerror(rc));
    }
}

static void teardown(http_client *c);

static void on_idle(uv_idle_t *idle)
{
    http_client *c = idle->data;
    add_queued_calls(c);
    resume_paused_calls(c);
    http_client_call *call;
    while ((call = queue_pop(&c->done_queue)))
        report_call(c, call);
    /* on_done may have queued more work: keep going next iteration. */
    if (!c->start_queue.head && !c->done_queue.head && !c->resume_queue.head)
        uv_idle_stop(&c->idle);
    if (c->closing && !c->torn_down && !c->calls) teardown(c);
}

/* ---- client lifetime ------------------------------------------------------ */

static void handle_closed(http_client *c)
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
    handle_closed(handle->data);
}

/* Every call has been reported: release libcurl, then our handles. */
static void teardown(http_client *c)
{
    /* Stop watching before libcurl closes the sockets in its connection cache;
     * the callbacks ignore what cleanup tells them once torn_down is set. */
    while (c->watches) {
        curl_multi_assign(c->multi, c->watches->fd, NULL);
        close_watch(c, c->watches);
    }
    c->torn_down = true;
    while (c->easy_pooled)
        curl_easy_cleanup(c->easy_pool[--c->easy_pooled]);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
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
    queue_init(&c->start_queue, offsetof(http_client_call, start_next),
               offsetof(http_client_call, in_start_queue));
    queue_init(&c->resume_queue, offsetof(http_client_call, resume_next),
               offsetof(http_client_call, in_resume_queue));
    queue_init(&c->done_queue, offsetof(http_client_call, done_next),
               offsetof(http_client_call, in_done_queue));
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_CLIENT_MAX_IDLE_CONNECTIONS);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    uv_timer_init(loop, &c->curl_timer);
    c->curl_timer.data = c;
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
        finish_call(call, CORE_ECANCELED, "client closed");
    wake_idle(c); /* teardown happens there, even with no calls */
}

/* ---- calls ---------------------------------------------------------------- */

static bool has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':') return true;
    return false;
}

static core_err configure_easy(http_client_call *call, const http_client_request *req)
{
    CURL *e = call->easy;
    const char *method = req->method ? req->method : "GET";
    bool ok = true;
#define SET(opt, val) ok = ok && curl_easy_setopt(e, opt, val) == CURLE_OK
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_PRIVATE, call);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, call->curl_error);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_BUFFERSIZE, (long)RECEIVE_BUFFER_BYTES);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, 30L);
    SET(CURLOPT_TCP_KEEPINTVL, 15L);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        (long)(req->connect_timeout_ms ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS));
    if (req->total_timeout_ms) SET(CURLOPT_TIMEOUT_MS, (long)req->total_timeout_ms);
    if (req->max_response_bytes)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MIN(req->max_response_bytes, (size_t)INT64_MAX));
    /* Through an https_proxy, the proxy's "200 Connection established" would
     * otherwise look like the final response to on_curl_header. */
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_HEADERFUNCTION, on_curl_header);
    SET(CURLOPT_HEADERDATA, call);
    SET(CURLOPT_WRITEFUNCTION, on_curl_write);
    SET(CURLOPT_WRITEDATA, call);

    if (strcmp(method, "GET") == 0 && req->body.len == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") == 0)
            SET(CURLOPT_POST, 1L);
        else
            SET(CURLOPT_CUSTOMREQUEST, method);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        SET(CURLOPT_COPYPOSTFIELDS, req->body.len ? req->body.ptr : "");
    }
#undef SET
    if (!ok) return CORE_EINVAL;

    struct curl_slist *list = NULL;
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *grown = curl_slist_append(list, req->headers[i]);
        if (!grown) goto oom;
        list = grown;
    }
    /* libcurl would otherwise wait for "100 Continue" before sending large
     * bodies, a round trip most LLM APIs never answer. */
    if (!has_header(req->headers, "Expect")) {
        struct curl_slist *grown = curl_slist_append(list, "Expect:");
        if (!grown) goto oom;
        list = grown;
    }
    call->request_headers = list;
    return curl_easy_setopt(e, CURLOPT_HTTPHEADER, list) == CURLE_OK ? CORE_OK : CORE_EINVAL;
oom:
    curl_slist_free_all(list);
    return CORE_ENOMEM;
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
    call->easy = easy_acquire(c);
    if (!call->easy) goto fail;
    err = configure_easy(call, req);
    if (err) goto fail;

    uv_timer_init(c->loop, &call->deadline_timer);
    call->deadline_timer.data = call;
    c->open_handles++;
    call->started_ms = uv_now(c->loop);
    arm_deadline(call, call->started_ms + call->first_byte_timeout_ms);

    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
    queue_push(&c->start_queue, call);
    wake_idle(c);
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
}

void http_client_resume(http_client_call *call)
{
    if (call->state == CALL_FINISHED || !call->user_paused) return;
    call->user_paused = false;
    http_client *c = call->client;
    if (call->headers_done) {
        call->last_activity_ms = uv_now(c->loop);
        arm_deadline(call, call->last_activity_ms + call->idle_timeout_ms);
    }
    /* Even when libcurl is not paused yet: a write callback may be about to
     * pause it, and on_idle re-checks the flags when it runs. */
    queue_push(&c->resume_queue, call);
    wake_idle(c);
}

void http_client_cancel(http_client_call *call)
{
    finish_call(call, CORE_ECANCELED, "cancelled");
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
