/*
 * http_response.c - writing HTTP responses: the status line and the headers
 * every response carries, whole Content-Length responses, the server's own
 * error answers, chunked (or close-delimited) streaming with back-pressure,
 * and the per-connection write queue that holds only what the kernel did not
 * take at once. When the last byte of a closing connection is out, the write
 * side is shut and the connection lingers (http_conn_begin_linger). The
 * connection state machine itself lives in http_server.c.
 */
#include "http_server.h"
#include "http_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define LINGER_MS 2000

/* A write request owns a copy of the bytes the kernel did not take at once. */
typedef struct {
    uv_write_t req;
    http_conn *conn;
    size_t len;
    char data[];
} write_req;

/* ---- small helpers ---------------------------------------------------- */

static void append_u64(buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

static const char *error_code_for(int status)
{
    switch (status) {
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "timeout";
    case 413:
        return "payload_too_large";
    case 417:
        return "expectation_failed";
    case 431:
        return "headers_too_large";
    case 501:
        return "not_implemented";
    case 505:
        return "http_version_not_supported";
    default:
        return "invalid_request";
    }
}

static void append_error_body(buf_t *b, const char *code, const char *message, bool retryable)
{
    buf_append_cstr(b, "{\"error\":{\"code\":\"");
    buf_append_json_escaped(b, slice_from_cstr(code));
    buf_append_cstr(b, "\",\"message\":\"");
    buf_append_json_escaped(b, slice_from_cstr(message));
    buf_append_cstr(b, retryable ? "\",\"retryable\":true}}" : "\",\"retryable\":false}}");
}

/* ---- writing ---------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *sreq, int status)
{
    http_conn *c = sreq->data;
    if (status < 0) http_conn_close(c);
}

/* Everything for this connection has been written: half-close and drain. */
void http_conn_begin_linger(http_conn *c)
{
    if (c->closing) return;
    c->phase = HTTP_PHASE_LINGER;
    if (c->read_paused) {
        c->read_paused = false;
        http_conn_start_reading(c);
    }
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        http_conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, http_conn_on_timer, LINGER_MS, 0);
}

static void on_write(uv_write_t *ureq, int status)
{
    write_req *w = (write_req *)ureq;
    http_conn *c = w->conn;
    c->writes_in_flight--;
    c->queued_bytes -= w->len;
    free(w);
    if (c->closing) return;
    if (status < 0) {
        http_conn_abort(c);
        return;
    }
    if (c->phase == HTTP_PHASE_LINGER && c->writes_in_flight == 0) {
        http_conn_begin_linger(c);
        return;
    }
    size_t low = c->lp->server->cfg.stream_high_water / 2;
    if (c->drain_wanted && c->queued_bytes <= low && c->req_active && !c->peer_gone) {
        c->drain_wanted = false;
        if (c->on_drain) c->on_drain(&c->req, c->on_drain_ud);
    }
}

/* Writes bufs in order: straight to the kernel if nothing is queued, the rest
 * copied into one write request. */
core_err http_conn_send(http_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (c->peer_gone || c->closing) return CORE_ECLOSED;
    size_t total = 0, written = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (total == 0) return CORE_OK;
    if (c->writes_in_flight == 0) {
        int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
        if (r >= 0) {
            written = (size_t)r;
        } else if (r != UV_EAGAIN) {
            http_conn_abort(c);
            return CORE_ECLOSED;
        }
    }
    if (written == total) return CORE_OK;
    size_t rest = total - written;
    write_req *w = malloc(sizeof *w + rest);
    if (!w) {
        http_conn_abort(c);
        return CORE_ENOMEM;
    }
    w->conn = c;
    w->len = rest;
    size_t skip = written, at = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t n = bufs[i].len;
        if (skip >= n) {
            skip -= n;
            continue;
        }
        memcpy(w->data + at, bufs[i].base + skip, n - skip);
        at += n - skip;
        skip = 0;
    }
    uv_buf_t one = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &one, 1, on_write) != 0) {
        free(w);
        http_conn_abort(c);
        return CORE_ECLOSED;
    }
    c->writes_in_flight++;
    c->queued_bytes += rest;
    return CORE_OK;
}

/* Status line and the headers every response carries, into c->out. */
static void build_head(http_conn *c, int status, const char *content_type, const char *req_id)
{
    buf_t *o = &c->out;
    buf_reset(o);
    buf_append_cstr(o, "HTTP/1.1 ");
    append_u64(o, (uint64_t)status);
    buf_append_char(o, ' ');
    buf_append_cstr(o, http_status_text(status));
    buf_append_cstr(o, "\r\n");
    if (content_type) {
        buf_append_cstr(o, "Content-Type: ");
        buf_append_cstr(o, content_type);
        buf_append_cstr(o, "\r\n");
    }
    buf_append_cstr(o, "X-Request-Id: ");
    buf_append_cstr(o, req_id);
    buf_append_cstr(o, "\r\n");
    if (!c->keep_alive)
        buf_append_cstr(o, "Connection: close\r\n");
    else if (c->req_active && c->req.version_minor == 0)
        buf_append_cstr(o, "Connection: keep-alive\r\n");
}

/* An error the server answers on its own (no handler involved); closes after. */
void http_send_error_and_close(http_conn *c, int status, const char *message)
{
    if (c->closing || c->phase == HTTP_PHASE_LINGER) return;
    if (status == 413 && c->parser.headers_complete && c->parser.msg.expect_continue &&
        !c->sent_continue)
        status = 417;
    char id[40];
    http_make_request_id(c->lp, id);
    buf_t body;
    buf_init(&body, 0);
    append_error_body(&body, error_code_for(status), message, false);
    c->keep_alive = false;
    build_head(c, status, "application/json", id);
    buf_append_cstr(&c->out, "Content-Length: ");
    append_u64(&c->out, body.len);
    buf_append_cstr(&c->out, "\r\n\r\n");
    uv_buf_t bufs[2] = {uv_buf_init(c->out.data, (unsigned)c->out.len),
                        uv_buf_init(body.data, (unsigned)body.len)};
    uv_timer_stop(&c->timer);
    c->phase = HTTP_PHASE_LINGER;
    core_err err = http_conn_send(c, bufs, 2);
    buf_free(&body);
    if (c->lp->server->access_log) {
        char fields[160];
        snprintf(fields, sizeof fields, "\"status\":%d,\"peer\":\"%s\"", status, c->peer);
        log_event(LOG_INFO, id, "http error", fields);
    }
    if (err == CORE_OK && c->writes_in_flight == 0) http_conn_begin_linger(c);
}

/* ---- response headers and back-pressure hooks ---------------------------- */

void http_stream_on_drain(http_request *req, http_drain_fn fn, void *ud)
{
    req->conn->on_drain = fn;
    req->conn->on_drain_ud = ud;
}

core_err http_add_header(http_request *req, const char *name, const char *value)
{
    http_conn *c = req->conn;
    if (c->response_started || !name[0] || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return CORE_EINVAL;
    buf_t *h = &c->resp_headers;
    size_t before = h->len;
    core_err err = buf_append_cstr(h, name);
    if (!err) err = buf_append(h, ": ", 2);
    if (!err) err = buf_append_cstr(h, value);
    if (!err) err = buf_append(h, "\r\n", 2);
    if (err) {
        h->len = before;
        if (h->data) h->data[before] = '\0';
    }
    return err;
}

/* ---- responses ------------------------------------------------------------ */

/* Common entry checks for the response functions. */
static core_err response_precheck(http_request *req, http_conn **out)
{
    http_conn *c = req->conn;
    *out = c;
    if (!c->req_active || c->response_started) return CORE_EINVAL;
    if (c->peer_gone || c->closing) return CORE_ECLOSED;
    return CORE_OK;
}

core_err http_respond(http_request *req, int status, const char *content_type, slice_t body)
{
    http_conn *c;
    core_err err = response_precheck(req, &c);
    if (err == CORE_EINVAL) return err;
    if (err == CORE_ECLOSED) {
        http_exchange_end(c);
        return err;
    }
    c->response_started = true;
    c->status = status;
    build_head(c, status, content_type, req->id);
    buf_append_cstr(&c->out, "Content-Length: ");
    append_u64(&c->out, body.len);
    buf_append_cstr(&c->out, "\r\n");
    buf_append_slice(&c->out, buf_slice(&c->resp_headers));
    buf_append_cstr(&c->out, "\r\n");
    uv_buf_t bufs[2] = {uv_buf_init(c->out.data, (unsigned)c->out.len),
                        uv_buf_init((char *)body.ptr, (unsigned)body.len)};
    bool with_body = !c->is_head && body.len;
    err = http_conn_send(c, bufs, with_body ? 2 : 1);
    if (with_body) c->body_bytes = body.len;
    http_exchange_end(c);
    return err;
}

core_err http_respond_error(http_request *req, int status, const char *code, const char *message,
                            bool retryable)
{
    buf_t body;
    buf_init(&body, 0);
    append_error_body(&body, code, message, retryable);
    core_err err = http_respond(req, status, "application/json", buf_slice(&body));
    buf_free(&body);
    return err;
}

core_err http_stream_begin(http_request *req, int status, const char *content_type)
{
    http_conn *c;
    core_err err = response_precheck(req, &c);
    if (err) return err;
    c->response_started = true;
    c->streaming = true;
    c->status = status;
    /* HTTP/1.0 has no chunked coding: the body ends when the connection does. */
    c->stream_chunked = req->version_minor == 1;
    if (!c->stream_chunked) c->keep_alive = false;
    build_head(c, status, content_type, req->id);
    if (c->stream_chunked) buf_append_cstr(&c->out, "Transfer-Encoding: chunked\r\n");
    buf_append_slice(&c->out, buf_slice(&c->resp_headers));
    buf_append_cstr(&c->out, "\r\n");
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    return http_conn_send(c, &b, 1);
}

core_err http_stream_write(http_request *req, slice_t data)
{
    http_conn *c = req->conn;
    if (!c->req_active || !c->streaming) return CORE_EINVAL;
    if (c->peer_gone || c->closing) return CORE_ECLOSED;
    if (c->is_head || data.len == 0) return CORE_OK; /* an empty chunk would end the body */
    core_err err;
    if (c->stream_chunked) {
        char prefix[24];
        int n = snprintf(prefix, sizeof prefix, "%zx\r\n", data.len);
        uv_buf_t bufs[3] = {uv_buf_init(prefix, (unsigned)n),
                            uv_buf_init((char *)data.ptr, (unsigned)data.len),
                            uv_buf_init((char *)"\r\n", 2)};
        err = http_conn_send(c, bufs, 3);
    } else {
        uv_buf_t b = uv_buf_init((char *)data.ptr, (unsigned)data.len);
        err = http_conn_send(c, &b, 1);
    }
    if (err) return err;
    c->body_bytes += data.len;
    if (c->queued_bytes > c->lp->server->cfg.stream_high_water) {
        c->drain_wanted = true;
        return CORE_EBUSY;
    }
    return CORE_OK;
}

core_err http_stream_end(http_request *req)
{
    http_conn *c = req->conn;
    if (!c->req_active || !c->streaming) return CORE_EINVAL;
    core_err err = CORE_OK;
    if (c->peer_gone || c->closing) {
        err = CORE_ECLOSED;
    } else if (c->stream_chunked && !c->is_head) {
        uv_buf_t b = uv_buf_init((char *)"0\r\n\r\n", 5);
        err = http_conn_send(c, &b, 1);
    }
    http_exchange_end(c);
    return err;
}

void http_request_finish(http_request *req)
{
    http_conn *c = req->conn;
    if (!c->req_active) return;
    if (!c->peer_gone && !c->closing) {
        /* No complete response went out: the connection cannot be reused. */
        if (!c->status) c->status = 499;
        http_conn_abort(c);
    }
    http_exchange_end(c);
}
