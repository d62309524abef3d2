/*
 * http_client_native.c - the HTTP client's plain-HTTP fast path (see
 * http_client.h): requests to http://<IPv4 | [IPv6] | localhost>[:port] go
 * over libuv TCP directly. It decides whether a request qualifies, writes the
 * HTTP/1.1 request bytes, keeps a keep-alive pool of idle connections per
 * client (most recently used first, at most HTTP_CLIENT_MAX_IDLE_CONNECTIONS)
 * and feeds what it reads to the strict response parser
 * (http_response_parser.c). A request whose pooled connection turns out
 * closed is sent once more on a fresh one, only when no response byte came.
 * Call bookkeeping, deadlines and on_done are http_client.c's.
 */
#include "http_client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- connections and calls ----------------------------------------------- */

static void native_conn_closed(uv_handle_t *handle)
{
    native_conn *conn = handle->data;
    http_client *c = conn->client;
    free(conn);
    http_client_handle_closed(c);
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
    core_err err = http_client_store_header(call, name, value);
    if (err == CORE_ETOOBIG) call->parser.error = "response headers too large";
    return err;
}

static int native_on_head(void *ud, int status, bool interim)
{
    http_client_call *call = ud;
    if (interim) {
        http_client_reset_response_headers(call);
        return 0;
    }
    call->status = status;
    core_err err = http_client_publish_headers(call);
    if (err) {
        http_client_finish_call(call, err, "out of memory for response headers");
        return 1;
    }
    if (call->max_response_bytes && call->parser.saw_length && !call->parser.head_request &&
        call->parser.content_length > call->max_response_bytes) {
        http_client_finish_call(call, CORE_ETOOBIG, "response body over %zu bytes",
                                call->max_response_bytes);
        return 1;
    }
    call->headers_done = true;
    call->last_activity_ms = uv_now(call->client->loop);
    http_client_rearm_deadline(call);
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
        http_client_finish_call(call, CORE_ETOOBIG, "response body over %zu bytes",
                                call->max_response_bytes);
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
        http_client_finish_call(call, CORE_ETOOBIG, "response headers over %u bytes",
                                HTTP_CLIENT_MAX_HEADER_BYTES);
    } else if (err == CORE_ENOMEM) {
        http_client_finish_call(call, CORE_ENOMEM, "out of memory for the response");
    } else {
        http_client_finish_call(call, CORE_EIO, "invalid response from %s: %s", call->authority,
                                call->parser.error ? call->parser.error : "protocol error");
    }
    return err;
}

/* Parses bytes of the call's response. Returns how many were used; the rest
 * (the call paused, or a callback decided the outcome) is the caller's. */
static size_t native_feed(http_client_call *call, const char *data, size_t len)
{
    size_t used = 0;
    core_err err = http_resp_parser_execute(&call->parser, data, len, &used);
    if (call->state == CALL_FINISHED) return len;
    if (err) {
        native_parse_error(call, err);
        return len;
    }
    if (call->parser.state == RP_DONE) {
        call->message_complete = true;
        /* Bytes past the response: a confused or pipelining server. */
        if (used < len && call->conn) call->conn->reusable = false;
        http_client_finish_call(call, CORE_OK, "%s", "");
        return len;
    }
    return used;
}

/* Keeps bytes read while the owner has the call paused; resume feeds them. */
static void native_hold(http_client_call *call, const char *data, size_t len)
{
    if (buf_append(&call->held, data, len) != CORE_OK)
        http_client_finish_call(call, CORE_ENOMEM, "out of memory holding a paused response");
    if (call->conn) conn_read_stop(call->conn);
}

/* The connection ended (EOF, reset, failed write) while the call used it. */
static void native_conn_lost(http_client_call *call, int status)
{
    native_conn *conn = call->conn;
    bool reused = conn && conn->reused;
    if (conn) conn_close(conn);
    if (status == UV_EOF && call->bytes_in) {
        core_err err = http_resp_parser_finish_eof(&call->parser);
        if (err == CORE_OK) {
            call->message_complete = true;
            http_client_finish_call(call, CORE_OK, "%s", "");
        } else {
            http_client_finish_call(call, CORE_EIO, "%s", call->parser.error);
        }
        return;
    }
    /* A kept-alive connection the server had closed before it saw our
     * request: try once on a fresh one. Never after a response byte. */
    if (reused && !call->bytes_in && !call->retried) {
        call->retried = true;
        http_client_native_dispatch(call);
        return;
    }
    if (status == UV_EOF)
        http_client_finish_call(call, CORE_EIO, "connection to %s closed before the response",
                                call->authority);
    else
        http_client_finish_call(call, CORE_EIO, "connection to %s failed: %s", call->authority,
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
    http_client_rearm_deadline(call);
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
        http_client_finish_call(call, CORE_EIO, "connect to %s failed: %s", call->authority,
                                uv_strerror(status));
        return;
    }
    native_send(conn);
}

/* An idle pooled connection to the call's host, or a new one. */
void http_client_native_dispatch(http_client_call *call)
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
        http_client_finish_call(call, CORE_ENOMEM, "out of memory for a connection");
        return;
    }
    conn->client = c;
    conn->reusable = true;
    snprintf(conn->key, sizeof conn->key, "%s", call->authority);
    int rc = uv_tcp_init(c->loop, &conn->tcp);
    if (rc < 0) {
        free(conn);
        http_client_finish_call(call, CORE_EIO, "connect to %s failed: %s", call->authority,
                                uv_strerror(rc));
        return;
    }
    conn->tcp.data = conn;
    c->open_handles++;
    conn->call = call;
    call->conn = conn;
    call->connected = false;
    call->connect_started_ms = uv_now(c->loop);
    http_client_rearm_deadline(call);
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_tcp_keepalive(&conn->tcp, 1, 30);
    conn->connect_req.data = conn;
    rc = uv_tcp_connect(&conn->connect_req, &conn->tcp, (const struct sockaddr *)&call->addr,
                        on_native_connect);
    if (rc < 0) {
        conn_close(conn);
        http_client_finish_call(call, CORE_EIO, "connect to %s failed: %s", call->authority,
                                uv_strerror(rc));
        return;
    }
    conn->connecting = true;
    c->stats.connections_opened++;
}

/* From report_call, before on_done: the connection goes back to the pool
 * when the response ended cleanly and nothing else is in flight on it. */
void http_client_native_release(http_client_call *call)
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
void http_client_native_resume(http_client_call *call)
{
    while (call->held.len && call->state != CALL_FINISHED && !call->user_paused) {
        size_t used = native_feed(call, call->held.data, call->held.len);
        if (call->state == CALL_FINISHED) break;
        buf_consume(&call->held, used);
    }
    if (call->state == CALL_FINISHED || call->user_paused || call->held.len) return;
    if (call->conn) conn_read_start(call->conn);
}

/* AIGW_HTTP_CLIENT=curl forces libcurl; so does any proxy setting, which
 * only libcurl honours. Read once per client. */
bool http_client_native_allowed_by_env(void)
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

/* ---- is this request one for the fast path? ------------------------------ */

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
        if (!http_resp_is_tchar((unsigned char)*p)) return false;
    /* Framing is ours to write. */
    size_t n = (size_t)(colon - h);
    return !((n == 14 && strncasecmp(h, "Content-Length", n) == 0) ||
             (n == 17 && strncasecmp(h, "Transfer-Encoding", n) == 0));
}

/* Builds the request bytes when the fast path can carry the request;
 * CORE_EAGAIN when libcurl must (the call is left as it was). */
core_err http_client_native_prepare(http_client_call *call, const http_client_request *req)
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
    if (!http_client_has_header(req->headers, "Host")) {
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
    http_resp_parser_init(&call->parser, strcmp(method, "HEAD") == 0);
    call->parser.ud = call;
    call->parser.on_header = native_on_header;
    call->parser.on_head = native_on_head;
    call->parser.on_body = native_on_body;
    /* Reading stops as soon as bytes are held: at most one read's worth. */
    buf_init(&call->held, 2 * NATIVE_READ_BUFFER_BYTES);
    call->native = true;
    return CORE_OK;
}

void http_client_native_pause(http_client_call *call)
{
    if (call->conn) conn_read_stop(call->conn);
}

void http_client_native_free(http_client_call *call)
{
    buf_free(&call->request);
    buf_free(&call->held);
    http_resp_parser_free(&call->parser);
}

void http_client_native_close_idle(http_client *c)
{
    while (c->idle_conns)
        conn_close(c->idle_conns);
}
