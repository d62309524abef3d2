/*
 * http_server.c - the HTTP/1.1 server: loop threads with SO_REUSEPORT
 * listeners, accepting, the connection state machine and its timers, reading
 * and dispatching requests, the request accessors, graceful stop and the
 * access log. See http_server.h for the contract handlers rely on; response
 * writing lives in http_response.c, routing in http_router.c and request
 * parsing in http_parser.c.
 *
 * One connection is an explicit state machine (http_conn_phase):
 *   WAIT     no request bytes yet (idle keep-alive timer, or header timer on a
 *            fresh connection)
 *   HEAD     header section arriving (header timer -> 408)
 *   BODY     body arriving (body timer -> 408)
 *   HANDLING a handler owns the request; reads continue into `pending` so a
 *            disconnect is seen, and pipelined bytes wait there
 *   LINGER   the last response is out (or going out); the write side is shut
 *            and input is discarded until EOF or a short timer, then close
 * A connection's memory lives until both its libuv handles are closed AND its
 * request (if any) has ended, which is what lets a handler keep its request
 * after the client left.
 */
#include "http_server.h"
#include "http_internal.h"
#include "http_parser.h"
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(sizeof(((http_message *)0)->header_names) / sizeof(http_span) == HTTP_MAX_HEADERS,
               "parser and server must agree on HTTP_MAX_HEADERS");
#define READ_CHUNK        65536 /* the loop's shared read buffer */
#define READ_SLACK        65536 /* room beyond header+body limits for pipelined bytes */
#define RESP_HEADERS_MAX  65536
#define LISTEN_BACKLOG    1024
#define ARENA_BASE_MAX    (16u << 20)
#define REQUEST_ID_MAXLEN 64

static void conn_process(http_conn *c);
static void check_loop_done(http_loop *lp);

/* ---- small helpers ---------------------------------------------------- */

static uint64_t rng_next(http_loop *lp)
{
    /* xorshift64*: request ids need to be unique and unguessable enough for
     * log correlation, not secret; seeded from getrandom per loop. */
    uint64_t x = lp->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lp->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Same shape as random_id("req_"): 10 chars of ms time, 16 random chars. */
void http_make_request_id(http_loop *lp, char *out)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    memcpy(out, "req_", 4);
    uint64_t ms = (uint64_t)time_wall_ms();
    for (int i = 13; i >= 4; i--) {
        out[i] = alphabet[ms & 31];
        ms >>= 5;
    }
    uint64_t r1 = rng_next(lp), r2 = rng_next(lp);
    for (int i = 0; i < 8; i++) {
        out[14 + i] = alphabet[(r1 >> (i * 5)) & 31];
        out[22 + i] = alphabet[(r2 >> (i * 5)) & 31];
    }
    out[30] = '\0';
}

static bool sane_request_id(slice_t v)
{
    if (v.len == 0 || v.len > REQUEST_ID_MAXLEN) return false;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.ptr[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

/* ---- request lifecycle -------------------------------------------------- */

void http_conn_abort(http_conn *c)
{
    c->peer_gone = true;
    http_conn_close(c);
}

static void access_log(http_conn *c)
{
    http_request *r = &c->req;
    char fields[640];
    size_t n = 0;
    n += (size_t)snprintf(fields, sizeof fields, "\"method\":\"%.*s\",\"path\":\"",
                          (int)MIN(r->method.len, 16), r->method.ptr);
    for (size_t i = 0; i < r->path.len && n < 520; i++) {
        unsigned char ch = (unsigned char)r->path.ptr[i];
        if (ch == '"' || ch == '\\') fields[n++] = '\\';
        fields[n++] = (char)ch; /* the parser admits only visible ASCII in targets */
    }
    snprintf(fields + n, sizeof fields - n,
             "\",\"status\":%d,\"bytes\":%zu,\"duration_us\":%llu,\"peer\":\"%s\"", c->status,
             c->body_bytes, (unsigned long long)(time_mono_us() - r->start_us), c->peer);
    log_event(LOG_INFO, r->id, "http request", fields);
}

static void conn_free(http_conn *c)
{
    http_loop *lp = c->lp;
    if (c->prev)
        c->prev->next = c->next;
    else
        lp->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    lp->nconns--;
    buf_free(&c->in);
    buf_free(&c->pending);
    buf_free(&c->out);
    buf_free(&c->resp_headers);
    free(c);
    check_loop_done(lp);
}

/* The exchange is over: free the request, then either serve the next
 * pipelined request, wait for one, or wind the connection down. */
void http_exchange_end(http_conn *c)
{
    if (!c->req_active) return;
    http_server *s = c->lp->server;
    if (s->access_log) access_log(c);
    arena_free(&c->req.arena);
    c->req.headers = NULL; /* may have lived in the arena */
    c->req.nheaders = 0;
    c->req_active = false;
    c->on_close = NULL;
    c->on_drain = NULL;
    atomic_fetch_sub(&s->active_requests, 1);

    if (c->closing) {
        if (c->handles_open == 0 && !c->in_on_close) conn_free(c);
        return;
    }
    if (!c->keep_alive || c->lp->stopping) {
        c->phase = HTTP_PHASE_LINGER;
        if (c->writes_in_flight == 0)
            http_conn_begin_linger(c);
        else /* bound how long a client that does not read can hold us */
            uv_timer_start(&c->timer, http_conn_on_timer, s->cfg.idle_timeout_ms, 0);
        return;
    }
    buf_consume(&c->in, c->parser.msg.end);
    http_parser_reset(&c->parser, 0);
    c->phase = HTTP_PHASE_WAIT;
    c->sent_continue = false;
    uv_timer_start(&c->timer, http_conn_on_timer, s->cfg.idle_timeout_ms, 0);
    if (c->read_paused) {
        c->read_paused = false;
        http_conn_start_reading(c);
    }
    if (!c->in_process) conn_process(c);
}

static void dispatch(http_conn *c)
{
    http_loop *lp = c->lp;
    http_server *s = lp->server;
    const http_message *m = &c->parser.msg;
    const char *data = c->in.data;
    http_request *r = &c->req;

    uv_timer_stop(&c->timer);
    c->phase = HTTP_PHASE_HANDLING;
    c->req_active = true;
    c->close_notified = false;
    c->response_started = false;
    c->streaming = false;
    c->drain_wanted = false;
    c->status = 0;
    c->body_bytes = 0;
    c->on_close = NULL;
    c->on_drain = NULL;
    buf_reset(&c->resp_headers);
    atomic_fetch_add(&s->active_requests, 1);

    r->method = http_span_slice(data, m->method);
    r->target = http_span_slice(data, m->target);
    const char *q = memchr(r->target.ptr, '?', r->target.len);
    if (q) {
        r->path = (slice_t){r->target.ptr, (size_t)(q - r->target.ptr)};
        r->query = (slice_t){q + 1, r->target.len - r->path.len - 1};
    } else {
        r->path = r->target;
        r->query = (slice_t){r->target.ptr + r->target.len, 0};
    }
    r->version_minor = m->version_minor;
    r->body = http_span_slice(data, m->body);
    r->nparams = 0;
    arena_init(&r->arena, ARENA_BASE_MAX + 4 * s->cfg.max_body_bytes);
    r->nheaders = m->nheaders;
    r->headers = m->nheaders <= HTTP_INLINE_HEADERS
                     ? c->inline_headers
                     : arena_alloc(&r->arena, m->nheaders * sizeof *r->headers);
    if (!r->headers) r->nheaders = 0; /* out of memory: answered below, before routing */
    for (uint32_t i = 0; i < r->nheaders; i++) {
        r->headers[i].name = http_span_slice(data, m->header_names[i]);
        r->headers[i].value = http_span_slice(data, m->header_values[i]);
    }
    slice_t client_id = http_request_header(r, "x-request-id");
    if (sane_request_id(client_id)) {
        memcpy(r->id, client_id.ptr, client_id.len);
        r->id[client_id.len] = '\0';
    } else {
        http_make_request_id(lp, r->id);
    }
    r->loop = &lp->loop;
    r->loop_data = lp->loop_data;
    memcpy(r->peer, c->peer, sizeof r->peer);
    r->conn = c;
    c->keep_alive = m->keep_alive && !lp->stopping;
    c->is_head = slice_eq_cstr(r->method, "HEAD");

    if (!r->headers) {
        c->keep_alive = false;
        http_respond_error(r, 503, "overloaded", "out of memory", true);
        return;
    }
    http_router_dispatch(s->cfg.router, r);
}

/* Parses what is buffered and dispatches complete requests, one at a time. */
static void conn_process(http_conn *c)
{
    if (c->in_process || c->req_active || c->closing || c->phase == HTTP_PHASE_LINGER) return;
    http_server *s = c->lp->server;
    c->in_process = true;
    while (!c->req_active && !c->closing && c->phase != HTTP_PHASE_LINGER) {
        if (c->pending.len) {
            size_t room = c->in.max - c->in.len;
            size_t n = MIN(room, c->pending.len);
            if (n && buf_append(&c->in, c->pending.data, n) == CORE_OK) buf_consume(&c->pending, n);
        }
        if (c->in.len == 0) break;
        if (c->phase == HTTP_PHASE_WAIT) {
            c->phase = HTTP_PHASE_HEAD;
            c->req.start_us = time_mono_us();
            uv_timer_start(&c->timer, http_conn_on_timer, s->cfg.header_timeout_ms, 0);
        }
        size_t len = c->in.len;
        http_parse_result r = http_parser_execute(&c->parser, c->in.data, &len);
        c->in.len = len;
        c->in.data[len] = '\0';
        if (r == HTTP_PARSE_ERROR) {
            http_send_error_and_close(c, c->parser.error_status, c->parser.error_message);
            break;
        }
        if (c->phase == HTTP_PHASE_HEAD && c->parser.headers_complete && r == HTTP_PARSE_AGAIN) {
            c->phase = HTTP_PHASE_BODY;
            uv_timer_start(&c->timer, http_conn_on_timer, s->cfg.body_timeout_ms, 0);
            if (c->parser.msg.expect_continue && c->parser.msg.version_minor == 1) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
                c->sent_continue = true;
                http_conn_send(c, &b, 1);
            }
        }
        if (r == HTTP_PARSE_AGAIN) {
            if (c->in.len >= c->in.max) http_send_error_and_close(c, 413, "request too large");
            break;
        }
        dispatch(c);
    }
    c->in_process = false;
}

/* ---- reading ---------------------------------------------------------- */

static buf_t *read_target(http_conn *c)
{
    return (c->req_active || c->pending.len || c->phase == HTTP_PHASE_LINGER) ? &c->pending
                                                                              : &c->in;
}

/* Every read lands in the loop's shared buffer and only the bytes that came
 * are copied into the connection's own buffer, so an idle or streaming
 * connection holds its request's bytes, not a read-sized buffer (the copy is
 * cheap next to the syscall). */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    http_conn *c = h->data;
    buf_t *b = read_target(c);
    size_t room = READ_CHUNK;
    if (c->phase != HTTP_PHASE_LINGER && b->max) room = MIN(room, b->max - b->len);
    if (!c->lp->read_buf) c->lp->read_buf = malloc(READ_CHUNK);
    if (room == 0 || !c->lp->read_buf) {
        *out = uv_buf_init(NULL, 0); /* read callback gets UV_ENOBUFS */
        return;
    }
    *out = uv_buf_init(c->lp->read_buf, (unsigned)room);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *ubuf)
{
    http_conn *c = stream->data;
    if (c->closing) return;
    if (nread == UV_ENOBUFS) {
        /* Our buffers are full: with a handler running, stop reading until the
         * exchange ends; otherwise the request cannot fit. */
        if (c->req_active) {
            c->read_paused = true;
            uv_read_stop(stream);
        } else if (c->phase == HTTP_PHASE_LINGER) {
            http_conn_close(c);
        } else {
            http_send_error_and_close(c, 413, "request too large");
        }
        return;
    }
    if (nread < 0) {
        if (c->req_active)
            http_conn_abort(c); /* on_close fires from the close callback */
        else
            http_conn_close(c);
        return;
    }
    if (nread == 0 || c->phase == HTTP_PHASE_LINGER) return; /* lingering: input is discarded */
    buf_t *b = read_target(c);
    if (buf_append(b, ubuf->base, (size_t)nread) != CORE_OK) {
        if (c->req_active)
            http_conn_abort(c);
        else
            http_send_error_and_close(c, 413, "request too large");
        return;
    }
    if (!c->req_active) conn_process(c);
}

void http_conn_start_reading(http_conn *c)
{
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- timers and closing ----------------------------------------------- */

void http_conn_on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->closing) return;
    switch (c->phase) {
    case HTTP_PHASE_WAIT:
        if (c->writes_in_flight) { /* still delivering the last response */
            uv_timer_start(&c->timer, http_conn_on_timer, c->lp->server->cfg.idle_timeout_ms, 0);
            return;
        }
        http_conn_close(c);
        break;
    case HTTP_PHASE_HEAD:
        http_send_error_and_close(c, 408, "request header timeout");
        break;
    case HTTP_PHASE_BODY:
        http_send_error_and_close(c, 408, "request body timeout");
        break;
    case HTTP_PHASE_LINGER:
        http_conn_close(c);
        break;
    case HTTP_PHASE_HANDLING:
        break;
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    c->handles_open--;
    if (h == (uv_handle_t *)&c->tcp && c->req_active && !c->close_notified) {
        c->close_notified = true;
        if (c->on_close) {
            c->in_on_close = true;
            c->on_close(&c->req, c->on_close_ud);
            c->in_on_close = false;
        }
    }
    if (c->handles_open == 0 && !c->req_active) conn_free(c);
}

void http_conn_close(http_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* ---- accepting ---------------------------------------------------------- */

static void format_peer(http_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_loop *lp = listener->data;
    http_server *s = lp->server;
    if (status < 0 || lp->stopping) return;
    http_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->lp = lp;
    uv_tcp_init(&lp->loop, &c->tcp);
    uv_timer_init(&lp->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = lp->conns;
    if (lp->conns) lp->conns->prev = c;
    lp->conns = c;
    lp->nconns++;
    size_t in_max = s->cfg.max_header_bytes + s->cfg.max_body_bytes + READ_SLACK;
    buf_init(&c->in, in_max);
    buf_init(&c->pending, in_max);
    buf_init(&c->out, 0);
    buf_init(&c->resp_headers, RESP_HEADERS_MAX);
    http_parser_limits limits = {s->cfg.max_header_bytes, s->cfg.max_body_bytes, true};
    http_parser_init(&c->parser, &limits);
    c->phase = HTTP_PHASE_WAIT;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || lp->nconns > s->cfg.max_connections) {
        http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    format_peer(c);
    uv_timer_start(&c->timer, http_conn_on_timer, s->cfg.header_timeout_ms, 0);
    http_conn_start_reading(c);
}

/* ---- loops, start and stop ------------------------------------------------ */

static void on_loop_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void check_loop_done(http_loop *lp)
{
    if (!lp->stopping || lp->nconns != 0 || lp->finished) return;
    lp->finished = true;
    http_server *s = lp->server;
    if (lp->hooks_started && s->cfg.on_loop_stop)
        s->cfg.on_loop_stop(&lp->loop, lp->loop_data, s->cfg.hook_ud);
    uv_close((uv_handle_t *)&lp->wakeup, on_loop_handle_closed);
    uv_close((uv_handle_t *)&lp->deadline_timer, on_loop_handle_closed);
}

static void on_deadline(uv_timer_t *t)
{
    http_loop *lp = t->data;
    http_server *s = lp->server;
    if (!lp->deadline_warned && lp->conns && s->cfg.on_stop_deadline && lp->hooks_started) {
        /* Give the application one chance to end its exchanges cleanly, then
         * a short flush before the hard abort. */
        lp->deadline_warned = true;
        s->cfg.on_stop_deadline(&lp->loop, lp->loop_data, s->cfg.hook_ud);
        uv_timer_start(&lp->deadline_timer, on_deadline, HTTP_STOP_FLUSH_MS, 0);
        return;
    }
    for (http_conn *c = lp->conns; c; c = c->next)
        http_conn_abort(c);
}

static void begin_stop(http_loop *lp)
{
    if (lp->stopping) return;
    lp->stopping = true;
    uv_close((uv_handle_t *)&lp->listener, on_loop_handle_closed);
    http_conn *next;
    for (http_conn *c = lp->conns; c; c = next) {
        next = c->next; /* http_conn_close never frees synchronously, but stay safe */
        if (c->closing) continue;
        if (c->req_active) {
            c->keep_alive = false;
        } else if (c->phase == HTTP_PHASE_WAIT) {
            if (c->writes_in_flight)
                c->phase = HTTP_PHASE_LINGER; /* on_write half-closes when done */
            else
                http_conn_close(c);
        }
    }
    uv_timer_start(&lp->deadline_timer, on_deadline, atomic_load(&lp->server->stop_deadline_ms), 0);
    check_loop_done(lp);
}

static void on_wakeup(uv_async_t *a)
{
    http_loop *lp = a->data;
    if (atomic_load(&lp->server->stop_requested)) begin_stop(lp);
}

static void close_any_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void report_ready(http_server *s, core_err err)
{
    uv_mutex_lock(&s->start_lock);
    if (err && !s->start_err) s->start_err = err;
    s->loops_ready++;
    uv_cond_signal(&s->start_cond);
    uv_mutex_unlock(&s->start_lock);
}

static void loop_thread(void *arg)
{
    http_loop *lp = arg;
    http_server *s = lp->server;
    core_err err = CORE_OK;
    if (uv_loop_init(&lp->loop) != 0) {
        report_ready(s, CORE_EIO);
        return;
    }
    uv_tcp_init(&lp->loop, &lp->listener);
    lp->listener.data = lp;
    uv_async_init(&lp->loop, &lp->wakeup, on_wakeup);
    lp->wakeup.data = lp;
    uv_timer_init(&lp->loop, &lp->deadline_timer);
    lp->deadline_timer.data = lp;
    if (uv_tcp_open(&lp->listener, lp->listen_fd) != 0) {
        err = CORE_EIO;
    } else {
        lp->listen_fd = -1; /* owned by the handle now */
        if (uv_listen((uv_stream_t *)&lp->listener, LISTEN_BACKLOG, on_connection) != 0)
            err = CORE_EIO;
    }
    /* On error the loop still runs: http_server_start stops every loop through
     * the same async path, so the wakeup handle stays valid until then. */
    if (!err && s->cfg.on_loop_start) {
        lp->loop_data = s->cfg.on_loop_start(&lp->loop, lp->index, s->cfg.hook_ud);
        lp->hooks_started = true;
    }
    lp->loop_ok = true;
    report_ready(s, err);
    uv_run(&lp->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&lp->loop) == UV_EBUSY) {
        /* Something (an application handle) outlived on_loop_stop; close it so
         * the loop can be released. */
        uv_walk(&lp->loop, close_any_handle, NULL);
        uv_run(&lp->loop, UV_RUN_DEFAULT);
        uv_loop_close(&lp->loop);
    }
}

void http_server_config_defaults(http_server_config *cfg)
{
    if (!cfg->host) cfg->host = "127.0.0.1";
    if (cfg->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? (int)n : 1;
    }
    if (!cfg->max_header_bytes) cfg->max_header_bytes = 16 * 1024;
    if (!cfg->max_body_bytes) cfg->max_body_bytes = 4 * 1024 * 1024;
    if (!cfg->header_timeout_ms) cfg->header_timeout_ms = 10000;
    if (!cfg->body_timeout_ms) cfg->body_timeout_ms = 30000;
    if (!cfg->idle_timeout_ms) cfg->idle_timeout_ms = 60000;
    if (!cfg->max_connections) cfg->max_connections = 20000;
    if (!cfg->stream_high_water) cfg->stream_high_water = 256 * 1024;
}

/* Creates a bound SO_REUSEPORT socket; the loop thread listens on it. */
static core_err bind_socket(const struct sockaddr *addr, socklen_t addrlen, int *fd_out)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return CORE_EIO;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, addr, addrlen) != 0) {
        close(fd);
        return CORE_EIO;
    }
    *fd_out = fd;
    return CORE_OK;
}

core_err http_server_start(const http_server_config *cfg_in, http_server **out)
{
    core_err err = CORE_OK;
    *out = NULL;
    if (!cfg_in || !cfg_in->router) return CORE_EINVAL;
    http_server *s = calloc(1, sizeof *s);
    if (!s) return CORE_ENOMEM;
    s->cfg = *cfg_in;
    http_server_config_defaults(&s->cfg);
    const char *env = getenv("HTTP_ACCESS_LOG");
    s->access_log = !(env && strcmp(env, "0") == 0);
    signal(SIGPIPE, SIG_IGN);
    uv_mutex_init(&s->start_lock);
    uv_cond_init(&s->start_cond);
    s->nloops = s->cfg.threads;
    s->loops = calloc((size_t)s->nloops, sizeof *s->loops);
    if (!s->loops) {
        err = CORE_ENOMEM;
        goto fail_early;
    }
    for (int i = 0; i < s->nloops; i++)
        s->loops[i].listen_fd = -1;

    struct sockaddr_storage ss;
    socklen_t sslen;
    bool v6 = strchr(s->cfg.host, ':') != NULL;
    if (v6 ? uv_ip6_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in6 *)&ss)
           : uv_ip4_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in *)&ss)) {
        err = CORE_EINVAL;
        goto fail_early;
    }
    sslen = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    for (int i = 0; i < s->nloops; i++) {
        err = bind_socket((struct sockaddr *)&ss, sslen, &s->loops[i].listen_fd);
        if (err) goto fail_early;
        if (i == 0) { /* port 0: every other listener joins the port the kernel picked */
            struct sockaddr_storage bound;
            socklen_t blen = sizeof bound;
            getsockname(s->loops[0].listen_fd, (struct sockaddr *)&bound, &blen);
            s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                               : ((struct sockaddr_in *)&bound)->sin_port);
            if (v6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)s->port);
            else
                ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)s->port);
        }
    }

    int started = 0;
    for (int i = 0; i < s->nloops; i++) {
        http_loop *lp = &s->loops[i];
        lp->server = s;
        lp->index = i;
        if (random_bytes(&lp->rng, sizeof lp->rng) != CORE_OK || lp->rng == 0)
            lp->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) ^ time_mono_us();
        if (uv_thread_create(&lp->thread, loop_thread, lp) != 0) {
            err = CORE_EIO;
            break;
        }
        started++;
    }
    uv_mutex_lock(&s->start_lock);
    while (s->loops_ready < started)
        uv_cond_wait(&s->start_cond, &s->start_lock);
    if (!err) err = s->start_err;
    uv_mutex_unlock(&s->start_lock);
    if (err) {
        s->nloops = started;
        http_server_stop(s, 0);
        http_server_wait(s);
        return err;
    }
    *out = s;
    return CORE_OK;

fail_early:
    for (int i = 0; s->loops && i < s->nloops; i++)
        if (s->loops[i].listen_fd >= 0) close(s->loops[i].listen_fd);
    uv_mutex_destroy(&s->start_lock);
    uv_cond_destroy(&s->start_cond);
    free(s->loops);
    free(s);
    return err;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_stop(http_server *s, uint32_t deadline_ms)
{
    if (atomic_exchange(&s->stop_requested, true)) return;
    atomic_store(&s->stop_deadline_ms, deadline_ms);
    for (int i = 0; i < s->nloops; i++)
        if (s->loops[i].loop_ok) uv_async_send(&s->loops[i].wakeup);
}

void http_server_wait(http_server *s)
{
    for (int i = 0; i < s->nloops; i++) {
        uv_thread_join(&s->loops[i].thread);
        if (s->loops[i].listen_fd >= 0) close(s->loops[i].listen_fd);
        free(s->loops[i].read_buf);
    }
    uv_mutex_destroy(&s->start_lock);
    uv_cond_destroy(&s->start_cond);
    free(s->loops);
    free(s);
}

size_t http_server_active_requests(const http_server *s)
{
    return atomic_load(&((http_server *)s)->active_requests);
}

/* ---- request helpers -------------------------------------------------- */

slice_t http_request_header(const http_request *req, const char *name)
{
    slice_t want = slice_from_cstr(name);
    for (size_t i = 0; i < req->nheaders; i++)
        if (slice_case_eq(req->headers[i].name, want)) return req->headers[i].value;
    return SLICE_NULL;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s (and '+' as space when form) into out, which holds s.len
 * bytes; a malformed escape is kept literally. Returns the decoded length. */
static size_t percent_decode(slice_t s, bool form, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch == '%' && i + 2 < s.len && hex_digit(s.ptr[i + 1]) >= 0 &&
            hex_digit(s.ptr[i + 2]) >= 0) {
            out[n++] = (char)(hex_digit(s.ptr[i + 1]) * 16 + hex_digit(s.ptr[i + 2]));
            i += 2;
        } else {
            out[n++] = (form && ch == '+') ? ' ' : ch;
        }
    }
    return n;
}

char *http_decode_into_arena(http_request *req, slice_t s, bool form, size_t *len_out)
{
    char *out = arena_alloc(&req->arena, s.len + 1);
    if (!out) return NULL;
    size_t n = percent_decode(s, form, out);
    out[n] = '\0';
    if (len_out) *len_out = n;
    return out;
}

const char *http_request_query(http_request *req, const char *name)
{
    size_t name_len = strlen(name);
    slice_t rest = req->query;
    while (rest.len) {
        const char *amp = memchr(rest.ptr, '&', rest.len);
        slice_t pair = {rest.ptr, amp ? (size_t)(amp - rest.ptr) : rest.len};
        rest.ptr += amp ? pair.len + 1 : pair.len;
        rest.len -= amp ? pair.len + 1 : pair.len;
        const char *eq = memchr(pair.ptr, '=', pair.len);
        slice_t key = {pair.ptr, eq ? (size_t)(eq - pair.ptr) : pair.len};
        slice_t value = eq ? (slice_t){eq + 1, pair.len - key.len - 1} : (slice_t){"", 0};
        char keybuf[256];
        if (key.len > sizeof keybuf) continue;
        size_t klen = percent_decode(key, true, keybuf);
        if (klen != name_len || memcmp(keybuf, name, klen) != 0) continue;
        return http_decode_into_arena(req, value, true, NULL);
    }
    return NULL;
}

bool http_request_closed(const http_request *req)
{
    return req->conn->peer_gone || req->conn->closing;
}

void http_request_on_close(http_request *req, http_close_fn fn, void *ud)
{
    req->conn->on_close = fn;
    req->conn->on_close_ud = ud;
}
