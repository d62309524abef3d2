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
#include <netinet/in.h>
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
    NATIVE_READ_BUFFER_BYTES = 65536, /* one per client, shared by its connections */
};

/* ---- plain-HTTP fast path: the response parser ---------------------------- */

/* A strict HTTP/1.x response parser, fed in arbitrary pieces. Line-based parts
 * (status line, header lines, chunk-size lines, trailers) are collected in
 * `line`; body bytes go straight to on_body from the caller's buffer. Each
 * ceiling is a named constant below. Interim 1xx responses are parsed and
 * dropped (on_head with interim=true lets the owner forget their headers). */
enum {
    RP_MAX_STATUS_LINE = 8192,
    RP_MAX_CHUNK_LINE = 1024,     /* size, extensions and CRLF */
    RP_MAX_CHUNK_HEX_DIGITS = 15, /* < 2^60 bytes: no overflow */
};

typedef enum {
    RP_STATUS_LINE,
    RP_HEADER_LINE,
    RP_BODY_LENGTH,
    RP_BODY_UNTIL_CLOSE,
    RP_CHUNK_SIZE,
    RP_CHUNK_DATA,
    RP_CHUNK_DATA_END, /* CRLF after a chunk's data */
    RP_TRAILER_LINE,
    RP_DONE,
} rp_state;

typedef struct {
    rp_state state;
    bool head_request; /* a HEAD answer has no body whatever its headers say */
    bool http10;
    bool keep_alive;
    bool saw_length, saw_chunked;
    int status;
    uint64_t content_length;
    uint64_t body_left;  /* of the Content-Length body or of the current chunk */
    size_t header_bytes; /* raw bytes of this response's header section */
    buf_t line;          /* the line being collected */
    const char *error;   /* static text when execute failed */
    /* Owner callbacks; a non-zero return stops execute right after the bytes
     * of that callback (the owner paused, or decided the call's outcome). */
    void *ud;
    core_err (*on_header)(void *ud, slice_t name, slice_t value);
    int (*on_head)(void *ud, int status, bool interim);
    int (*on_body)(void *ud, const char *data, size_t len);
} resp_parser;

static void rp_init(resp_parser *rp, bool head_request)
{
    *rp = (resp_parser){.state = RP_STATUS_LINE, .head_request = head_request};
    buf_init(&rp->line, HTTP_CLIENT_MAX_HEADER_BYTES + 2);
}

static void rp_free(resp_parser *rp)
{
    buf_free(&rp->line);
}

static bool rp_is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* "HTTP/1.1 200 OK": version 1.0 or 1.1, three digits 100-599, then a space
 * and any reason (or nothing). */
static core_err rp_status_line(resp_parser *rp, slice_t line)
{
    if (line.len < 12 || memcmp(line.ptr, "HTTP/1.", 7) != 0 ||
        (line.ptr[7] != '0' && line.ptr[7] != '1') || line.ptr[8] != ' ')
        goto bad;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line.ptr[i] < '0' || line.ptr[i] > '9') goto bad;
        status = status * 10 + (line.ptr[i] - '0');
    }
    if (status < 100 || status > 599 || (line.len > 12 && line.ptr[12] != ' ')) goto bad;
    for (size_t i = 13; i < line.len; i++)
        if ((unsigned char)line.ptr[i] < 0x20 && line.ptr[i] != '\t') goto bad;
    rp->http10 = line.ptr[7] == '0';
    rp->keep_alive = !rp->http10;
    rp->status = status;
    return CORE_OK;
bad:
    rp->error = "malformed status line";
    return CORE_EPARSE;
}

static bool rp_has_token(slice_t value, const char *token)
{
    slice_t want = slice_from_cstr(token);
    while (value.len) {
        const char *comma = memchr(value.ptr, ',', value.len);
        size_t n = comma ? (size_t)(comma - value.ptr) : value.len;
        if (slice_case_eq(slice_trim((slice_t){value.ptr, n}), want)) return true;
        value.ptr += comma ? n + 1 : n;
        value.len -= comma ? n + 1 : n;
    }
    return false;
}

/* "name: value" with a token name and no control bytes in the value
 * (obsolete line folding is refused: the line then starts with a space). */
static bool rp_split_header(slice_t line, slice_t *name, slice_t *value)
{
    const char *colon = memchr(line.ptr, ':', line.len);
    if (!colon || colon == line.ptr) return false;
    *name = (slice_t){line.ptr, (size_t)(colon - line.ptr)};
    for (size_t i = 0; i < name->len; i++)
        if (!rp_is_tchar((unsigned char)name->ptr[i])) return false;
    *value = slice_trim((slice_t){colon + 1, line.len - name->len - 1});
    for (size_t i = 0; i < value->len; i++) {
        unsigned char ch = (unsigned char)value->ptr[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return false;
    }
    return true;
}

/* The framing headers are read here; every header goes to on_header. */
static core_err rp_header_line(resp_parser *rp, slice_t line)
{
    slice_t name, value;
    if (!rp_split_header(line, &name, &value)) {
        rp->error = "malformed response header";
        return CORE_EPARSE;
    }
    if (slice_case_eq(name, SLICE_LIT("content-length"))) {
        int64_t n;
        if (slice_to_i64(value, &n) != CORE_OK || n > (INT64_C(1) << 62) ||
            (rp->saw_length && rp->content_length != (uint64_t)n)) {
            rp->error = "invalid content-length";
            return CORE_EPARSE;
        }
        rp->saw_length = true;
        rp->content_length = (uint64_t)n;
    } else if (slice_case_eq(name, SLICE_LIT("transfer-encoding"))) {
        /* Only plain chunked: we never ask for compression. */
        if (rp->saw_chunked || !slice_case_eq(value, SLICE_LIT("chunked"))) {
            rp->error = "unsupported transfer-encoding";
            return CORE_EPARSE;
        }
        rp->saw_chunked = true;
    } else if (slice_case_eq(name, SLICE_LIT("connection"))) {
        if (rp_has_token(value, "close")) rp->keep_alive = false;
    }
    return rp->on_header ? rp->on_header(rp->ud, name, value) : CORE_OK;
}

/* Forgets the response just parsed (an interim 1xx): the next one starts. */
static void rp_next_response(resp_parser *rp)
{
    rp->state = RP_STATUS_LINE;
    rp->http10 = rp->keep_alive = rp->saw_length = rp->saw_chunked = false;
    rp->status = 0;
    rp->content_length = rp->body_left = 0;
    rp->header_bytes = 0;
}

/* The blank line after the headers: pick the body's framing. */
static core_err rp_headers_end(resp_parser *rp, int *stop)
{
    bool interim = rp->status < 200;
    if (rp->status == 101) {
        rp->error = "unexpected protocol switch (101)";
        return CORE_EPARSE;
    }
    if (rp->saw_chunked && (rp->saw_length || rp->http10)) {
        rp->error = "conflicting body framing";
        return CORE_EPARSE;
    }
    if (interim) {
        rp->state = RP_STATUS_LINE;
    } else if (rp->head_request || rp->status == 204 || rp->status == 304) {
        rp->state = RP_DONE;
    } else if (rp->saw_chunked) {
        rp->state = RP_CHUNK_SIZE;
    } else if (rp->saw_length) {
        rp->body_left = rp->content_length;
        rp->state = rp->body_left ? RP_BODY_LENGTH : RP_DONE;
    } else {
        rp->keep_alive = false; /* the end of the body is the end of the connection */
        rp->state = RP_BODY_UNTIL_CLOSE;
    }
    *stop = rp->on_head ? rp->on_head(rp->ud, rp->status, interim) : 0;
    if (interim) rp_next_response(rp);
    return CORE_OK;
}

/* "1a2f;ext=1": hex size, optional extensions (ignored). */
static core_err rp_chunk_size_line(resp_parser *rp, slice_t line)
{
    size_t i = 0;
    uint64_t size = 0;
    for (; i < line.len; i++) {
        char ch = line.ptr[i];
        int digit = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
        if (digit < 0) break;
        if (i >= RP_MAX_CHUNK_HEX_DIGITS) goto bad;
        size = size * 16 + (uint64_t)digit;
    }
    if (i == 0) goto bad;
    while (i < line.len && (line.ptr[i] == ' ' || line.ptr[i] == '\t'))
        i++;
    if (i < line.len && line.ptr[i] != ';') goto bad;
    for (; i < line.len; i++)
        if ((unsigned char)line.ptr[i] < 0x20 && line.ptr[i] != '\t') goto bad;
    rp->body_left = size;
    rp->state = size ? RP_CHUNK_DATA : RP_TRAILER_LINE;
    return CORE_OK;
bad:
    rp->error = "malformed chunk size";
    return CORE_EPARSE;
}

/* Collects one line of at most max bytes (without its line end). Returns
 * CORE_OK with *complete when a line is in rp->line. A bare LF ends a line
 * too (RFC 9112 allows it); a CR anywhere else is refused. */
static core_err rp_collect_line(resp_parser *rp, const char *data, size_t len, size_t *used,
                                size_t max, bool *complete)
{
    const char *lf = memchr(data, '\n', len);
    size_t take = lf ? (size_t)(lf - data) + 1 : len;
    *used = take;
    *complete = lf != NULL;
    if (rp->line.len + take > max + 2) return CORE_ETOOBIG;
    core_err err = buf_append(&rp->line, data, take);
    if (err) return err == CORE_ETOOBIG ? CORE_ETOOBIG : CORE_ENOMEM;
    if (!lf) return CORE_OK;
    size_t n = rp->line.len - 1;
    if (n && rp->line.data[n - 1] == '\r') n--;
    if (memchr(rp->line.data, '\r', n)) {
        rp->error = "stray carriage return";
        return CORE_EPARSE;
    }
    rp->line.len = n;
    return CORE_OK;
}

/* Feeds bytes; *consumed says how many were used. Stops early when the
 * message is complete (RP_DONE: anything after it is not this response) or
 * when a callback asked to stop. CORE_EPARSE (rp->error says why),
 * CORE_ETOOBIG (header section or a line over its ceiling), CORE_ENOMEM, or
 * what on_header returned. */
static core_err rp_execute(resp_parser *rp, const char *data, size_t len, size_t *consumed)
{
    size_t at = 0;
    core_err err = CORE_OK;
    int stop = 0;
    while (at < len && rp->state != RP_DONE && !stop) {
        size_t used = 0;
        bool complete = false;
        switch (rp->state) {
        case RP_STATUS_LINE:
        case RP_HEADER_LINE:
        case RP_TRAILER_LINE: {
            size_t max =
                rp->state == RP_STATUS_LINE ? RP_MAX_STATUS_LINE : HTTP_CLIENT_MAX_HEADER_BYTES;
            err = rp_collect_line(rp, data + at, len - at, &used, max, &complete);
            rp->header_bytes += used;
            if (err == CORE_OK && rp->header_bytes > HTTP_CLIENT_MAX_HEADER_BYTES)
                err = CORE_ETOOBIG;
            if (err == CORE_ETOOBIG) {
                rp->error = rp->state == RP_STATUS_LINE ? "status line too long"
                                                        : "response headers too large";
                if (rp->state == RP_STATUS_LINE) err = CORE_EPARSE;
            }
            if (err || !complete) break;
            slice_t line = buf_slice(&rp->line);
            if (rp->state == RP_STATUS_LINE) {
                err = rp_status_line(rp, line);
                rp->state = RP_HEADER_LINE;
            } else if (line.len == 0) {
                if (rp->state == RP_TRAILER_LINE)
                    rp->state = RP_DONE;
                else
                    err = rp_headers_end(rp, &stop);
            } else if (rp->state == RP_HEADER_LINE) {
                err = rp_header_line(rp, line);
            } else {
                /* Trailers are checked like headers and not exposed. */
                slice_t name, value;
                if (!rp_split_header(line, &name, &value)) {
                    rp->error = "malformed trailer";
                    err = CORE_EPARSE;
                }
            }
            buf_reset(&rp->line);
            break;
        }
        case RP_CHUNK_SIZE:
            err = rp_collect_line(rp, data + at, len - at, &used, RP_MAX_CHUNK_LINE, &complete);
            if (err == CORE_ETOOBIG) {
                rp->error = "chunk size line too long";
                err = CORE_EPARSE;
            }
            if (err || !complete) break;
            err = rp_chunk_size_line(rp, buf_slice(&rp->line));
            buf_reset(&rp->line);
            break;
        case RP_BODY_LENGTH:
        case RP_CHUNK_DATA:
            used = (size_t)MIN((uint64_t)(len - at), rp->body_left);
            rp->body_left -= used;
            if (!rp->body_left)
                rp->state = rp->state == RP_BODY_LENGTH ? RP_DONE : RP_CHUNK_DATA_END;
            if (rp->on_body) stop = rp->on_body(rp->ud, data + at, used);
            break;
        case RP_BODY_UNTIL_CLOSE:
            used = len - at;
            if (rp->on_body) stop = rp->on_body(rp->ud, data + at, used);
            break;
        case RP_CHUNK_DATA_END:
            /* CRLF, or a bare LF; collected as an (empty) line. */
            err = rp_collect_line(rp, data + at, len - at, &used, 0, &complete);
            if (err == CORE_ETOOBIG || (err == CORE_OK && complete && rp->line.len)) {
                rp->error = "missing CRLF after chunk data";
                err = CORE_EPARSE;
            }
            if (err || !complete) break;
            buf_reset(&rp->line);
            rp->state = RP_CHUNK_SIZE;
            break;
        case RP_DONE:
            break;
        }
        if (err) break;
        at += used;
    }
    *consumed = at;
    return err;
}

/* The peer closed the connection: CORE_OK when that ends the message. */
static core_err rp_finish_eof(resp_parser *rp)
{
    if (rp->state == RP_BODY_UNTIL_CLOSE) {
        rp->state = RP_DONE;
        return CORE_OK;
    }
    if (rp->state == RP_DONE) return CORE_OK;
    rp->error = rp->state == RP_STATUS_LINE && rp->header_bytes == 0 && !rp->line.len
                    ? "connection closed before the response"
                : rp->state <= RP_HEADER_LINE ? "connection closed in the response headers"
                                              : "connection closed mid-body";
    return CORE_EIO;
}

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

typedef struct native_conn native_conn;

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

    /* Plain-HTTP fast path (native == true; easy is then NULL). */
    bool native;
    bool connected;        /* the request is on a connected socket */
    bool retried;          /* already moved once off a stale pooled connection */
    bool message_complete; /* the parser saw the end of the response */
    native_conn *conn;
    buf_t request; /* the request bytes, kept for a retry */
    buf_t held;    /* unparsed bytes read while paused */
    resp_parser parser;
    size_t bytes_in; /* raw response bytes from the current connection */
    uint64_t connect_started_ms;
    uint32_t connect_timeout_ms, total_timeout_ms;
    char authority[80]; /* host[:port] as in the URL; the pool key */
    struct sockaddr_storage addr;

    char curl_error[CURL_ERROR_SIZE];
    char message[CURL_ERROR_SIZE + 128];

    struct http_client_call *prev, *next; /* client->calls: every call not yet reported */
    /* One link per queue: a call can sit in all three at once (started, then
     * resumed and cancelled before on_idle ran). */
    struct http_client_call *start_next, *resume_next, *done_next;
    bool in_start_queue, in_resume_queue, in_done_queue;
};

/* One plain-HTTP connection: attached to one call at a time, or idle in the
 * client's pool (most recently used first). */
struct native_conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    http_client *client;
    http_client_call *call;
    bool connecting, reading, write_pending, closing;
    bool reused;   /* taken from the pool for the current call */
    bool reusable; /* nothing unexpected was seen on it */
    bool pooled;
    char key[80];
    native_conn *prev, *next; /* pool links */
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
    bool native_enabled; /* plain http:// may bypass libcurl */
    native_conn *idle_conns, *idle_tail;
    size_t nidle;
    http_client_stats stats;
    char read_buffer[NATIVE_READ_BUFFER_BYTES];
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

static void rearm_deadline(http_client_call *call)
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
    if (call->total_timeout_ms && now >= call->started_ms + call->total_timeout_ms)
        finish_call(call, CORE_ETIMEDOUT, "no complete response within %u ms",
                    call->total_timeout_ms);
    else if (call->native && !call->connected &&
             now >= call->connect_started_ms + call->connect_timeout_ms)
        finish_call(call, CORE_ETIMEDOUT, "connect to %s timed out after %u ms", call->authority,
                    call->connect_timeout_ms);
    else if (!call->headers_done && now >= call->started_ms + call->first_byte_timeout_ms)
        finish_call(call, CORE_ETIMEDOUT, "no response headers within %u ms",
                    call->first_byte_timeout_ms);
    /* Silence we asked for (paused) is not the upstream's fault. */
    else if (call->headers_done && !call->user_paused &&
             now >= call->last_activity_ms + call->idle_timeout_ms)
        finish_call(call, CORE_ETIMEDOUT, "no response bytes for %u ms", call->idle_timeout_ms);
    else
        rearm_deadline(call);
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
        rearm_deadline(call);
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

/* ---- plain-HTTP fast path: connections and calls ------------------------- */

static void native_conn_closed(uv_handle_t *handle)
{
    native_conn *conn = handle->data;
    http_client *c = conn->client;
    free(conn);
    handle_closed(c);
}

static void pool_unlink(http_client *c, native_conn *conn)
{
    if (!conn->pooled) return;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        c->idle_conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    else
        c->idle_tail = conn->prev;
    conn->prev = conn->next = NULL;
    conn->pooled = false;
    c->nidle--;
}

static void conn_close(native_conn *conn)
{
    if (conn->closing) return;
    conn->closing = true;
    pool_unlink(conn->client, conn);
    if (conn->call) conn->call->conn = NULL;
    conn->call = NULL;
    uv_close((uv_handle_t *)&conn->tcp, native_conn_closed);
}

static void on_native_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    native_conn *conn = handle->data;
    /* One buffer per client: every read is handled (parsed, or the rest copied
     * to the call) before the next one starts. */
    *out = uv_buf_init(conn->client->read_buffer, NATIVE_READ_BUFFER_BYTES);
}

static void on_native_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(native_conn *conn)
{
    if (conn->reading || conn->closing) return;
    if (uv_read_start((uv_stream_t *)&conn->tcp, on_native_alloc, on_native_read) == 0)
        conn->reading = true;
}

static void conn_read_stop(native_conn *conn)
{
    if (!conn->reading) return;
    uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->reading = false;
}

/* Parser callbacks: the call's stored headers, published when final. */
static core_err native_on_header(void *ud, slice_t name, slice_t value)
{
    http_client_call *call = ud;
    core_err err = store_header(call, name, value);
    if (err == CORE_ETOOBIG) call->parser.error = "response headers too large";
    return err;
}

static int native_on_head(void *ud, int status, bool interim)
{
    http_client_call *call = ud;
    if (interim) {
        reset_response_headers(call);
        return 0;
    }
    call->status = status;
    core_err err = publish_headers(call);
    if (err) {
        finish_call(call, err, "out of memory for response headers");
        return 1;
    }
    if (call->max_response_bytes && call->parser.saw_length && !call->parser.head_request &&
        call->parser.content_length > call->max_response_bytes) {
        finish_call(call, CORE_ETOOBIG, "response body over %zu bytes", call->max_response_bytes);
        return 1;
    }
    call->headers_done = true;
    call->last_activity_ms = uv_now(call->client->loop);
    rearm_deadline(call);
    if (call->on_headers) {
        http_client_response resp = {call->status, call->nspans, call->names, call->values};
        call->on_headers(call->ud, &resp);
    }
    return call->state == CALL_FINISHED || call->user_paused;
}

static int native_on_body(void *ud, const char *data, size_t len)
{
    http_client_call *call = ud;
    if (call->max_response_bytes && len > call->max_response_bytes - call->received) {
        finish_call(call, CORE_ETOOBIG, "response body over %zu bytes", call->max_response_bytes);
        return 1;
    }
    call->received += len;
    call->last_activity_ms = uv_now(call->client->loop);
    if (call->on_data && call->on_data(call->ud, data, len) == HTTP_CLIENT_PAUSE)
        call->user_paused = true;
    return call->state == CALL_FINISHED || call->user_paused;
}

static core_err native_parse_error(http_client_call *call, core_err err)
{
    if (err == CORE_ETOOBIG) {
        finish_call(call, CORE_ETOOBIG, "response headers over %u bytes",
                    HTTP_CLIENT_MAX_HEADER_BYTES);
    } else if (err == CORE_ENOMEM) {
        finish_call(call, CORE_ENOMEM, "out of memory for the response");
    } else {
        finish_call(call, CORE_EIO, "invalid response from %s: %s", call->authority,
                    call->parser.error ? call->parser.error : "protocol error");
    }
    return err;
}

/* Parses bytes of the call's response. Returns how many were used; the rest
 * (the call paused, or a callback decided the outcome) is the caller's. */
static size_t native_feed(http_client_call *call, const char *data, size_t len)
{
    size_t used = 0;
    core_err err = rp_execute(&call->parser, data, len, &used);
    if (call->state == CALL_FINISHED) return len;
    if (err) {
        native_parse_error(call, err);
        return len;
    }
    if (call->parser.state == RP_DONE) {
        call->message_complete = true;
        /* Bytes past the response: a confused or pipelining server. */
        if (used < len && call->conn) call->conn->reusable = false;
        finish_call(call, CORE_OK, "%s", "");
        return len;
    }
    return used;
}

/* Keeps bytes read while the owner has the call paused; resume feeds them. */
static void native_hold(http_client_call *call, const char *data, size_t len)
{
    if (buf_append(&call->held, data, len) != CORE_OK)
        finish_call(call, CORE_ENOMEM, "out of memory holding a paused response");
    if (call->conn) conn_read_stop(call->conn);
}

static void native_dispatch(http_client_call *call);

/* The connection ended (EOF, reset, failed write) while the call used it. */
static void native_conn_lost(http_client_call *call, int status)
{
    native_conn *conn = call->conn;
    bool reused = conn && conn->reused;
    if (conn) conn_close(conn);
    if (status == UV_EOF && call->bytes_in) {
        core_err err = rp_finish_eof(&call->parser);
        if (err == CORE_OK) {
            call->message_complete = true;
            finish_call(call, CORE_OK, "%s", "");
        } else {
            finish_call(call, CORE_EIO, "%s", call->parser.error);
        }
        return;
    }
    /* A kept-alive connection the server had closed before it saw our
     * request: try once on a fresh one. Never after a response byte. */
    if (reused && !call->bytes_in && !call->retried) {
        call->retried = true;
        native_dispatch(call);
        return;
    }
    if (status == UV_EOF)
        finish_call(call, CORE_EIO, "connection to %s closed before the response", call->authority);
    else
        finish_call(call, CORE_EIO, "connection to %s failed: %s", call->authority,
                    uv_strerror(status));
}

static void on_native_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    native_conn *conn = stream->data;
    http_client_call *call = conn->call;
    if (nread == 0) return;
    if (!call) {
        /* Idle in the pool: the server closed it, or sent what nobody asked. */
        conn_close(conn);
        return;
    }
    if (call->state == CALL_FINISHED) {
        conn->reusable = false; /* whatever this is, it was not asked for */
        conn_read_stop(conn);
        return;
    }
    if (nread < 0) {
        native_conn_lost(call, (int)nread);
        return;
    }
    call->bytes_in += (size_t)nread;
    if (call->user_paused) {
        native_hold(call, buf->base, (size_t)nread);
        return;
    }
    size_t used = native_feed(call, buf->base, (size_t)nread);
    if (used < (size_t)nread && call->state != CALL_FINISHED)
        native_hold(call, buf->base + used, (size_t)nread - used);
}

static void on_native_write(uv_write_t *req, int status)
{
    native_conn *conn = req->data;
    conn->write_pending = false;
    if (status < 0 && !conn->closing && conn->call && conn->call->state != CALL_FINISHED)
        native_conn_lost(conn->call, status);
}

static void native_send(native_conn *conn)
{
    http_client_call *call = conn->call;
    call->connected = true;
    rearm_deadline(call);
    uv_buf_t out = uv_buf_init(call->request.data, (unsigned)call->request.len);
    conn->write_req.data = conn;
    int rc = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &out, 1, on_native_write);
    if (rc < 0) {
        native_conn_lost(call, rc);
        return;
    }
    conn->write_pending = true;
    conn_read_start(conn);
}

static void on_native_connect(uv_connect_t *req, int status)
{
    native_conn *conn = req->data;
    conn->connecting = false;
    if (conn->closing) return;
    http_client_call *call = conn->call;
    if (!call) {
        conn_close(conn);
        return;
    }
    if (status < 0) {
        conn_close(conn);
        finish_call(call, CORE_EIO, "connect to %s failed: %s", call->authority,
                    uv_strerror(status));
        return;
    }
    native_send(conn);
}

/* An idle pooled connection to the call's host, or a new one. */
static void native_dispatch(http_client_call *call)
{
    http_client *c = call->client;
    for (native_conn *conn = c->idle_conns; conn; conn = conn->next) {
        if (strcmp(conn->key, call->authority) != 0) continue;
        pool_unlink(c, conn);
        conn->call = call;
        conn->reused = true;
        call->conn = conn;
        c->stats.reused_connections++;
        native_send(conn);
        return;
    }
    native_conn *conn = calloc(1, sizeof *conn);
    if (!conn) {
        finish_call(call, CORE_ENOMEM, "out of memory for a connection");
        return;
    }
    conn->client = c;
    conn->reusable = true;
    snprintf(conn->key, sizeof conn->key, "%s", call->authority);
    int rc = uv_tcp_init(c->loop, &conn->tcp);
    if (rc < 0) {
        free(conn);
        finish_call(call, CORE_EIO, "connect to %s failed: %s", call->authority, uv_strerror(rc));
        return;
    }
    conn->tcp.data = conn;
    c->open_handles++;
    conn->call = call;
    call->conn = conn;
    call->connected = false;
    call->connect_started_ms = uv_now(c->loop);
    rearm_deadline(call);
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_tcp_keepalive(&conn->tcp, 1, 30);
    conn->connect_req.data = conn;
    rc = uv_tcp_connect(&conn->connect_req, &conn->tcp, (const struct sockaddr *)&call->addr,
                        on_native_connect);
    if (rc < 0) {
        conn_close(conn);
        finish_call(call, CORE_EIO, "connect to %s failed: %s", call->authority, uv_strerror(rc));
        return;
    }
    conn->connecting = true;
    c->stats.connections_opened++;
}

/* From report_call, before on_done: the connection goes back to the pool
 * when the response ended cleanly and nothing else is in flight on it. */
static void native_release(http_client_call *call)
{
    native_conn *conn = call->conn;
    if (!conn) return;
    http_client *c = call->client;
    conn->call = NULL;
    call->conn = NULL;
    bool keep = call->message_complete && conn->reusable && call->parser.keep_alive &&
                !conn->write_pending && !c->closing && !call->held.len;
    if (!keep) {
        conn_close(conn);
        return;
    }
    conn->reused = false;
    conn->next = c->idle_conns;
    conn->prev = NULL;
    if (c->idle_conns)
        c->idle_conns->prev = conn;
    else
        c->idle_tail = conn;
    c->idle_conns = conn;
    conn->pooled = true;
    c->nidle++;
    conn_read_start(conn); /* to see the server close it */
    if (c->nidle > HTTP_CLIENT_MAX_IDLE_CONNECTIONS) conn_close(c->idle_tail);
}

/* resume_queue for a plain-HTTP call: held bytes first, then the socket. */
static void native_resume(http_client_call *call)
{
    while (call->held.len && call->state != CALL_FINISHED && !call->user_paused) {
        size_t used = native_feed(call, call->held.data, call->held.len);
        if (call->state == CALL_FINISHED) break;
        buf_consume(&call->held, used);
    }
    if (call->state == CALL_FINISHED || call->user_paused || call->held.len) return;
    if (call->conn) conn_read_start(call->conn);
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
    if (call->native) {
        buf_free(&call->request);
        buf_free(&call->held);
        rp_free(&call->parser);
    }
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
    /* Back to the pool first, so a call started from on_done can reuse it. */
    if (call->native) native_release(call);
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
        if (call->native) {
            if (call->state != CALL_FINISHED && !call->user_paused) native_resume(call);
            continue;
        }
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
    while (c->idle_conns)
        conn_close(c->idle_conns);
    c->torn_down = true;
    while (c->easy_pooled)
        curl_easy_cleanup(c->easy_pool[--c->easy_pooled]);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    uv_idle_stop(&c->idle);
    uv_close((uv_handle_t *)&c->idle, on_own_handle_closed);
    uv_close((uv_handle_t *)&c->curl_timer, on_own_handle_closed);
}

/* AIGW_HTTP_CLIENT=curl forces libcurl; so does any proxy setting, which
 * only libcurl honours. Read once per client. */
static bool native_allowed_by_env(void)
{
    const char *mode = getenv("AIGW_HTTP_CLIENT");
    if (mode && strcmp(mode, "curl") == 0) return false;
    static const char *const PROXIES[] = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < ARRAY_LEN(PROXIES); i++) {
        const char *v = getenv(PROXIES[i]);
        if (v && *v) return false;
    }
    return true;
}

http_client *http_client_new(uv_loop_t *loop)
{
    if (http_client_global_init() != CORE_OK) return NULL;
    http_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop;
    c->native_enabled = native_allowed_by_env();
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

/* ---- plain-HTTP fast path: is this request one for it? ------------------- */

static bool native_method_ok(const char *m)
{
    static const char *const METHODS[] = {"GET",    "POST", "PUT",    "PATCH",
                                          "DELETE", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < ARRAY_LEN(METHODS); i++)
        if (strcmp(m, METHODS[i]) == 0) return true;
    return false;
}

/* http://<IPv4 | [IPv6] | localhost>[:port][/path]: fills the call's address,
 * authority and returns the path (never NULL) or NULL when not eligible. */
static const char *native_parse_url(http_client_call *call, const char *url)
{
    if (strncmp(url, "http://", 7) != 0) return NULL;
    const char *host = url + 7;
    size_t authority_len = strcspn(host, "/?#");
    const char *path = host + authority_len;
    if (*path == '?' || strpbrk(path, "# \t\r\n")) return NULL;
    if (authority_len == 0 || authority_len >= sizeof call->authority) return NULL;
    memcpy(call->authority, host, authority_len);
    call->authority[authority_len] = '\0';
    if (strchr(call->authority, '@') || strchr(call->authority, '%')) return NULL;

    char name[64];
    const char *port_text;
    bool v6 = call->authority[0] == '[';
    if (v6) {
        const char *close = strchr(call->authority, ']');
        if (!close || (size_t)(close - call->authority - 1) >= sizeof name) return NULL;
        memcpy(name, call->authority + 1, (size_t)(close - call->authority - 1));
        name[close - call->authority - 1] = '\0';
        port_text = close[1] == ':' ? close + 2 : close[1] == '\0' ? "" : NULL;
    } else {
        const char *colon = strchr(call->authority, ':');
        size_t n = colon ? (size_t)(colon - call->authority) : authority_len;
        if (n >= sizeof name) return NULL;
        memcpy(name, call->authority, n);
        name[n] = '\0';
        port_text = colon ? colon + 1 : "";
    }
    if (!port_text) return NULL;
    int port = 80;
    if (*port_text) {
        int64_t p;
        if (slice_to_i64(slice_from_cstr(port_text), &p) != CORE_OK || p < 1 || p > 65535)
            return NULL;
        port = (int)p;
    }
    if (strcasecmp(name, "localhost") == 0) snprintf(name, sizeof name, "127.0.0.1");
    if (v6) {
        if (uv_ip6_addr(name, port, (struct sockaddr_in6 *)&call->addr) != 0) return NULL;
    } else {
        /* inet_pton refuses shorthand like "127.1" that a resolver would take. */
        if (uv_ip4_addr(name, port, (struct sockaddr_in *)&call->addr) != 0) return NULL;
        struct in_addr probe;
        if (uv_inet_pton(AF_INET, name, &probe) != 0) return NULL;
    }
    return *path ? path : "/";
}

static bool native_header_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strpbrk(h, "\r\n")) return false;
    for (const char *p = h; p < colon; p++)
        if (!rp_is_tchar((unsigned char)*p)) return false;
    /* Framing is ours to write. */
    size_t n = (size_t)(colon - h);
    return !((n == 14 && strncasecmp(h, "Content-Length", n) == 0) ||
             (n == 17 && strncasecmp(h, "Transfer-Encoding", n) == 0));
}

/* Builds the request bytes when the fast path can carry the request;
 * CORE_EAGAIN when libcurl must (the call is left as it was). */
static core_err native_prepare(http_client_call *call, const http_client_request *req)
{
    const char *method = req->method ? req->method : "GET";
    if (!call->client->native_enabled || !native_method_ok(method)) return CORE_EAGAIN;
    const char *path = native_parse_url(call, req->url);
    if (!path) return CORE_EAGAIN;
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        if (!native_header_ok(req->headers[i])) return CORE_EAGAIN;

    buf_t *out = &call->request;
    buf_init(out, 0); /* our own output */
    core_err err = buf_reserve(out, 128 + strlen(path) + req->body.len);
    if (err) {
        buf_free(out);
        return err;
    }
    buf_append_cstr(out, method);
    buf_append_char(out, ' ');
    buf_append_cstr(out, path);
    buf_append_cstr(out, " HTTP/1.1\r\n");
    if (!has_header(req->headers, "Host")) {
        buf_append_cstr(out, "Host: ");
        buf_append_cstr(out, call->authority);
        buf_append_cstr(out, "\r\n");
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        const char *h = req->headers[i];
        slice_t value = slice_trim(slice_from_cstr(strchr(h, ':') + 1));
        if (!value.len) continue; /* "Name:" removes a header, as with libcurl */
        buf_append_cstr(out, h);
        buf_append_cstr(out, "\r\n");
    }
    bool body_method =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (req->body.len || body_method) buf_printf(out, "Content-Length: %zu\r\n", req->body.len);
    buf_append_cstr(out, "\r\n");
    err = buf_append_slice(out, req->body);
    if (err) {
        buf_free(out);
        return err;
    }
    rp_init(&call->parser, strcmp(method, "HEAD") == 0);
    call->parser.ud = call;
    call->parser.on_header = native_on_header;
    call->parser.on_head = native_on_head;
    call->parser.on_body = native_on_body;
    /* Reading stops as soon as bytes are held: at most one read's worth. */
    buf_init(&call->held, 2 * NATIVE_READ_BUFFER_BYTES);
    call->native = true;
    return CORE_OK;
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
    call->connect_timeout_ms =
        req->connect_timeout_ms ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    call->total_timeout_ms = req->total_timeout_ms;
    err = native_prepare(call, req);
    if (err == CORE_EAGAIN) {
        call->easy = easy_acquire(c);
        err = call->easy ? configure_easy(call, req) : CORE_ENOMEM;
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
        native_dispatch(call);
    } else {
        c->stats.curl_calls++;
        queue_push(&c->start_queue, call);
        wake_idle(c);
    }
    rearm_deadline(call);
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
    if (call->native && call->conn && call->state != CALL_FINISHED) conn_read_stop(call->conn);
}

void http_client_resume(http_client_call *call)
{
    if (call->state == CALL_FINISHED || !call->user_paused) return;
    call->user_paused = false;
    http_client *c = call->client;
    if (call->headers_done) call->last_activity_ms = uv_now(c->loop);
    rearm_deadline(call);
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

void http_client_get_stats(const http_client *c, http_client_stats *out)
{
    *out = c->stats;
}

/* ---- the parser's test and fuzz hook -------------------------------------- */

static core_err summary_header(void *ud, slice_t name, slice_t value)
{
    buf_t *out = ud;
    buf_append_slice(out, name);
    buf_append_cstr(out, ": ");
    buf_append_slice(out, value);
    return buf_append_char(out, '\n');
}

static int summary_head(void *ud, int status, bool interim)
{
    buf_printf(ud, "%s %d\n", interim ? "interim" : "final", status);
    return 0;
}

static int summary_body(void *ud, const char *data, size_t len)
{
    buf_append(ud, data, len);
    return 0;
}

core_err http_client_parse_response(const slice_t *pieces, size_t npieces, bool head_request,
                                    bool eof, buf_t *summary)
{
    resp_parser rp;
    rp_init(&rp, head_request);
    rp.ud = summary;
    rp.on_header = summary_header;
    rp.on_head = summary_head;
    rp.on_body = summary_body;
    core_err err = CORE_OK;
    size_t extra = 0;
    for (size_t i = 0; i < npieces; i++) {
        size_t used = 0;
        if (rp.state == RP_DONE) {
            extra += pieces[i].len;
            continue;
        }
        err = rp_execute(&rp, pieces[i].ptr, pieces[i].len, &used);
        if (err) goto out;
        extra += pieces[i].len - used;
    }
    if (eof) {
        err = rp_finish_eof(&rp);
        if (err) goto out;
    }
    buf_printf(summary, "\n[end keep-alive=%d extra=%zu]", rp.keep_alive, extra);
    err = rp.state == RP_DONE ? CORE_OK : CORE_EAGAIN;
out:
    rp_free(&rp);
    return err;
}
