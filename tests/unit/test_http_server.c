/*
 * test_http_server.c - the HTTP server as a black box: a real server on
 * 127.0.0.1 (port 0, two loop threads) and plain blocking sockets as clients,
 * asserting on the bytes that come back. Small limits and timeouts keep it fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/http_server.h"

/* ---- handlers ---------------------------------------------------------- */

static atomic_int slow_stream_closed;
static atomic_int loops_started, loops_stopped;

static void handle_hello(http_request *req, void *ud)
{
    (void)ud;
    http_add_header(req, "X-Hello", "world");
    http_respond(req, 200, "text/plain", SLICE_LIT("hello"));
}

static void handle_echo(http_request *req, void *ud)
{
    (void)ud;
    char len[32];
    snprintf(len, sizeof len, "%zu", req->body.len);
    http_add_header(req, "X-Body-Length", len);
    http_respond(req, 200, "application/octet-stream", req->body);
}

/* Answers "<nheaders>|<value of X-Last>|<value of X-First>". */
static void handle_headers(http_request *req, void *ud)
{
    (void)ud;
    slice_t last = http_request_header(req, "x-last");
    slice_t first = http_request_header(req, "x-first");
    char *text = arena_printf(&req->arena, "%zu|%.*s|%.*s", req->nheaders, (int)last.len, last.ptr,
                              (int)first.len, first.ptr);
    http_respond(req, 200, "text/plain", slice_from_cstr(text));
}

static void handle_item(http_request *req, void *ud)
{
    (void)ud;
    slice_t id = http_request_param(req, "id");
    const char *q = http_request_query(req, "q");
    char *text = arena_printf(&req->arena, "%.*s|%s", (int)id.len, id.ptr, q ? q : "(none)");
    http_respond(req, 200, "text/plain", slice_from_cstr(text));
}

/* A stream driven by a repeating timer: `remaining` writes, then the end; or
 * endless until the client goes away when remaining < 0. */
typedef struct {
    uv_timer_t timer;
    http_request *req;
    int remaining;
    int sent;
} ticker;

static void ticker_free(uv_handle_t *h)
{
    free(h->data);
}

static void ticker_stop(ticker *t)
{
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, ticker_free);
}

static void ticker_on_close(http_request *req, void *ud)
{
    ticker *t = ud;
    atomic_store(&slow_stream_closed, 1);
    ticker_stop(t);
    http_request_finish(req);
}

static void ticker_tick(uv_timer_t *timer)
{
    ticker *t = timer->data;
    if (t->remaining == 0) {
        http_stream_end(t->req);
        ticker_stop(t);
        return;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "event %d\n", t->sent++);
    core_err err = http_stream_write(t->req, (slice_t){line, (size_t)n});
    if (err != CORE_OK && err != CORE_EBUSY && err != CORE_ECLOSED) abort(); /* loop thread */
    if (t->remaining > 0) t->remaining--;
}

static void start_ticker(http_request *req, int count, uint64_t every_ms)
{
    ticker *t = calloc(1, sizeof *t);
    t->req = req;
    t->remaining = count;
    uv_timer_init(req->loop, &t->timer);
    t->timer.data = t;
    http_request_on_close(req, ticker_on_close, t);
    if (http_stream_begin(req, 200, "text/event-stream") != CORE_OK) abort();
    uv_timer_start(&t->timer, ticker_tick, every_ms, every_ms);
}

static void handle_stream(http_request *req, void *ud)
{
    (void)ud;
    const char *n = http_request_query(req, "n");
    start_ticker(req, n ? atoi(n) : 10, 1);
}

static void handle_slow_stream(http_request *req, void *ud)
{
    (void)ud;
    start_ticker(req, -1, 20);
}

static void handle_graceful(http_request *req, void *ud)
{
    (void)ud;
    start_ticker(req, 5, 60);
}

/* Streams BURST_BLOCKS blocks as fast as back-pressure allows: write until
 * CORE_EBUSY, resume from on_drain. The tail reports whether both happened. */
#define BURST_BLOCKS 1024
#define BURST_BLOCK  8192
typedef struct {
    int left;
    int busy;
    int drains;
} burst;

static void burst_finish_on_close(http_request *req, void *ud)
{
    (void)ud;
    http_request_finish(req);
}

static void burst_pump(http_request *req, void *ud)
{
    static char block[BURST_BLOCK];
    burst *b = ud;
    memset(block, 'b', sizeof block);
    while (b->left > 0) {
        b->left--;
        core_err err = http_stream_write(req, (slice_t){block, sizeof block});
        if (err == CORE_EBUSY) {
            b->busy++;
            return; /* resumed by on_drain */
        }
        if (err != CORE_OK) return; /* client gone: on_close finishes */
    }
    char tail[32];
    int n = snprintf(tail, sizeof tail, "|busy=%d,drain=%d", b->busy > 0, b->drains > 0);
    http_stream_write(req, (slice_t){tail, (size_t)n});
    http_stream_end(req);
}

static void burst_on_drain(http_request *req, void *ud)
{
    burst *b = ud;
    b->drains++;
    burst_pump(req, ud);
}

static void handle_burst(http_request *req, void *ud)
{
    (void)ud;
    burst *b = arena_zalloc(&req->arena, sizeof *b);
    b->left = BURST_BLOCKS;
    http_request_on_close(req, burst_finish_on_close, b);
    http_stream_on_drain(req, burst_on_drain, b);
    http_stream_begin(req, 200, "application/octet-stream");
    burst_pump(req, b);
}

static void *hook_start(uv_loop_t *loop, int index, void *ud)
{
    (void)loop;
    (void)ud;
    atomic_fetch_add(&loops_started, 1);
    return (void *)(intptr_t)(index + 1);
}

static void hook_stop(uv_loop_t *loop, void *loop_data, void *ud)
{
    (void)loop;
    (void)ud;
    if ((intptr_t)loop_data < 1) abort(); /* cmocka asserts only work on the test thread */
    atomic_fetch_add(&loops_stopped, 1);
}

/* ---- a tiny blocking client -------------------------------------------- */

typedef struct {
    int fd;
    char buf[1 << 20];
    size_t len;
} client;

typedef struct {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
    bool closed; /* the server closed the connection after this response */
} response;

static int server_port;

static client *client_connect(int port)
{
    client *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return c;
}

static void client_close(client *c)
{
    close(c->fd);
    free(c);
}

static void client_send(client *c, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void client_send_str(client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

/* Reads more bytes into c->buf; 0 on EOF. */
static ssize_t client_fill(client *c)
{
    assert_true(c->len < sizeof c->buf);
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n > 0) c->len += (size_t)n;
    return n;
}

static char *find_crlf2(client *c)
{
    for (size_t i = 0; i + 3 < c->len; i++)
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) return c->buf + i;
    return NULL;
}

static void client_consume(client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static const char *head_value(const response *r, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':') {
            const char *v = p + 3 + nlen;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = MIN((size_t)(end - v), size - 1);
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Reads one whole response (head + framed body). head_only for HEAD requests. */
static void read_response(client *c, response *r, bool head_only)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = find_crlf2(c)))
        assert_true(client_fill(c) > 0);
    size_t head_len = (size_t)(end - c->buf) + 4;
    assert_true(head_len < sizeof r->head);
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    client_consume(c, head_len);
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
    char v[64];
    r->body = malloc(16u << 20);
    if (head_only || r->status == 100) return;
    if (head_value(r, "Content-Length", v, sizeof v)) {
        size_t want = (size_t)atol(v);
        while (c->len < want)
            assert_true(client_fill(c) > 0);
        memcpy(r->body, c->buf, want);
        r->body_len = want;
        client_consume(c, want);
    } else if (head_value(r, "Transfer-Encoding", v, sizeof v)) {
        assert_string_equal(v, "chunked");
        for (;;) {
            char *lf;
            while (!(lf = memchr(c->buf, '\n', c->len)))
                assert_true(client_fill(c) > 0);
            size_t size = strtoul(c->buf, NULL, 16);
            client_consume(c, (size_t)(lf - c->buf) + 1);
            while (c->len < size + 2)
                assert_true(client_fill(c) > 0);
            memcpy(r->body + r->body_len, c->buf, size);
            r->body_len += size;
            assert_memory_equal(c->buf + size, "\r\n", 2);
            client_consume(c, size + 2);
            if (size == 0) break;
        }
    } else { /* close-delimited */
        while (client_fill(c) > 0) {}
        memcpy(r->body, c->buf, c->len);
        r->body_len = c->len;
        c->len = 0;
        r->closed = true;
    }
    r->body[r->body_len] = '\0';
}

static void response_free(response *r)
{
    free(r->body);
    r->body = NULL;
}

/* True once the server has closed the connection (EOF, nothing more sent). */
static bool server_closed(client *c)
{
    return client_fill(c) == 0;
}

static void exchange(const char *request, response *r)
{
    client *c = client_connect(server_port);
    client_send_str(c, request);
    read_response(c, r, false);
    client_close(c);
}

/* ---- server setup ------------------------------------------------------- */

static http_router *make_router(void)
{
    http_router *router = http_router_new();
    assert_int_equal(http_router_add(router, "GET", "/hello", handle_hello, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "POST", "/echo", handle_echo, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/items/:id", handle_item, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/headers", handle_headers, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/stream", handle_stream, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/slow", handle_slow_stream, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/graceful", handle_graceful, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/burst", handle_burst, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "/items/special", handle_hello, NULL), CORE_OK);
    assert_int_equal(http_router_add(router, "GET", "bad", handle_hello, NULL), CORE_EINVAL);
    return router;
}

static http_server_config test_config(http_router *router)
{
    http_server_config cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .threads = 2,
        .max_header_bytes = 1024,
        .max_body_bytes = 4096,
        .header_timeout_ms = 300,
        .body_timeout_ms = 300,
        .idle_timeout_ms = 2000,
        .stream_high_water = 64 * 1024,
        .router = router,
        .on_loop_start = hook_start,
        .on_loop_stop = hook_stop,
    };
    return cfg;
}

static http_server *server;
static http_router *router;

static int group_setup(void **state)
{
    (void)state;
    setenv("HTTP_ACCESS_LOG", "0", 1);
    router = make_router();
    http_server_config cfg = test_config(router);
    if (http_server_start(&cfg, &server) != CORE_OK) return -1;
    server_port = http_server_port(server);
    return server_port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_stop(server, 1000);
    http_server_wait(server);
    http_router_free(router);
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void test_simple_get(void **state)
{
    (void)state;
    response r;
    exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    char v[128];
    assert_non_null(head_value(&r, "X-Request-Id", v, sizeof v));
    assert_memory_equal(v, "req_", 4);
    assert_int_equal(strlen(v), 30);
    assert_non_null(head_value(&r, "X-Hello", v, sizeof v));
    assert_string_equal(v, "world");
    assert_string_equal(head_value(&r, "Content-Type", v, sizeof v), "text/plain");
    response_free(&r);

    exchange("GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-Id: trace.ABC-123_x\r\n\r\n", &r);
    assert_string_equal(head_value(&r, "X-Request-Id", v, sizeof v), "trace.ABC-123_x");
    response_free(&r);
    exchange("GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-Id: bad id!\r\n\r\n", &r);
    assert_memory_equal(head_value(&r, "X-Request-Id", v, sizeof v), "req_", 4);
    response_free(&r);
}

static void test_post_content_length(void **state)
{
    (void)state;
    response r;
    exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    char v[32];
    assert_string_equal(head_value(&r, "X-Body-Length", v, sizeof v), "11");
    response_free(&r);
}

static void test_chunked_upload(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    /* Sent in pieces to exercise the incremental path. */
    client_send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhel");
    usleep(20000);
    client_send_str(c, "lo\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n");
    response r;
    read_response(c, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    response_free(&r);
    client_close(c);
}

static void test_keep_alive_reuse(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    for (int i = 0; i < 5; i++) {
        client_send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
        response r;
        read_response(c, &r, false);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello");
        char v[32];
        assert_null(head_value(&r, "Connection", v, sizeof v));
        response_free(&r);
    }
    client_close(c);
}

static void test_pipelined_in_order(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    /* The first one streams over time; the second must wait for it. */
    client_send_str(c, "GET /stream?n=20 HTTP/1.1\r\nHost: t\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"
                       "GET /items/7?q=third HTTP/1.1\r\nHost: t\r\n\r\n");
    response r;
    read_response(c, &r, false);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "event 19\n"));
    response_free(&r);
    read_response(c, &r, false);
    assert_string_equal(r.body, "second");
    response_free(&r);
    read_response(c, &r, false);
    assert_string_equal(r.body, "7|third");
    response_free(&r);
    client_close(c);
}

static void test_router_404_405(void **state)
{
    (void)state;
    response r;
    exchange("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "{\"error\":{\"code\":\"not_found\""));
    char v[64];
    assert_string_equal(head_value(&r, "Content-Type", v, sizeof v), "application/json");
    response_free(&r);

    exchange("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(head_value(&r, "Allow", v, sizeof v), "GET, HEAD");
    assert_non_null(strstr(r.body, "\"code\":\"method_not_allowed\""));
    response_free(&r);

    /* Literal segment beats the parameter; params and query are decoded. */
    exchange("GET /items/special HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "hello");
    response_free(&r);
    exchange("GET /items/a%20b?x=1&q=x+y%21&q=2 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "a b|x y!");
    response_free(&r);
    exchange("GET /items/9 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "9|(none)");
    response_free(&r);
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    client_send_str(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    response r;
    read_response(c, &r, true);
    assert_int_equal(r.status, 200);
    char v[32];
    assert_string_equal(head_value(&r, "Content-Length", v, sizeof v), "5");
    response_free(&r);
    read_response(c, &r, false); /* would misparse if HEAD had sent a body */
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    response_free(&r);
    client_close(c);
}

static void test_errors_413_431_400_505(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    client_send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    response r;
    read_response(c, &r, false);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"code\":\"payload_too_large\""));
    char v[32];
    assert_string_equal(head_value(&r, "Connection", v, sizeof v), "close");
    assert_true(server_closed(c));
    response_free(&r);
    client_close(c);

    char big[2048];
    snprintf(big, sizeof big, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %01500d\r\n\r\n", 1);
    exchange(big, &r);
    assert_int_equal(r.status, 431);
    assert_non_null(strstr(r.body, "\"code\":\"headers_too_large\""));
    response_free(&r);

    exchange("GET /hello HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"code\":\"invalid_request\""));
    response_free(&r);

    exchange("GET /hello HTTP/2.0\r\n\r\n", &r);
    assert_int_equal(r.status, 505);
    response_free(&r);

    exchange("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", &r);
    assert_int_equal(r.status, 501);
    response_free(&r);
}

/* Header slots: the first HTTP_INLINE_HEADERS live in the connection, the
 * rest in the request arena; every count up to HTTP_MAX_HEADERS must read
 * the same, and one more is refused. */
static void test_header_counts(void **state)
{
    (void)state;
    const int counts[] = {1,
                          HTTP_INLINE_HEADERS - 1,
                          HTTP_INLINE_HEADERS,
                          HTTP_INLINE_HEADERS + 1,
                          HTTP_MAX_HEADERS - 1,
                          HTTP_MAX_HEADERS,
                          HTTP_MAX_HEADERS + 1};
    for (size_t k = 0; k < ARRAY_LEN(counts); k++) {
        int n = counts[k];
        char req[8192];
        /* n header fields in all: Host (required), X-First, fillers, X-Last. */
        int len = snprintf(req, sizeof req, "GET /headers HTTP/1.1\r\nHost: t\r\n");
        if (n >= 2) len += snprintf(req + len, sizeof req - (size_t)len, "X-First: a%d\r\n", n);
        for (int i = 1; i < n - 2; i++)
            len += snprintf(req + len, sizeof req - (size_t)len, "F%d: \r\n", i);
        if (n >= 3) len += snprintf(req + len, sizeof req - (size_t)len, "X-Last: z%d\r\n", n);
        snprintf(req + len, sizeof req - (size_t)len, "\r\n");
        response r;
        exchange(req, &r);
        if (n > HTTP_MAX_HEADERS) {
            assert_int_equal(r.status, 431);
        } else {
            char want[64];
            if (n >= 3)
                snprintf(want, sizeof want, "%d|z%d|a%d", n, n, n);
            else if (n == 2)
                snprintf(want, sizeof want, "2||a2");
            else
                snprintf(want, sizeof want, "1||");
            assert_int_equal(r.status, 200);
            assert_string_equal(r.body, want);
        }
        response_free(&r);
    }
}

static void test_408_slow_header(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    client_send_str(c, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    response r;
    read_response(c, &r, false); /* header timeout is 300 ms */
    assert_int_equal(r.status, 408);
    assert_non_null(strstr(r.body, "\"code\":\"timeout\""));
    assert_true(server_closed(c));
    response_free(&r);
    client_close(c);

    c = client_connect(server_port);
    client_send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    read_response(c, &r, false);
    assert_int_equal(r.status, 408);
    response_free(&r);
    client_close(c);
}

static void test_expect_continue(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    client_send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    response r;
    read_response(c, &r, false);
    assert_int_equal(r.status, 100);
    response_free(&r);
    client_send_str(c, "ping");
    read_response(c, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ping");
    response_free(&r);
    client_close(c);

    exchange("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 99999\r\n\r\n", &r);
    assert_int_equal(r.status, 417);
    response_free(&r);
}

static void test_http10_close(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    client_send_str(c, "GET /hello HTTP/1.0\r\n\r\n");
    response r;
    read_response(c, &r, false);
    assert_int_equal(r.status, 200);
    char v[32];
    assert_string_equal(head_value(&r, "Connection", v, sizeof v), "close");
    assert_true(server_closed(c));
    response_free(&r);
    client_close(c);

    /* 1.0 keep-alive is honoured; a 1.0 stream is close-delimited. */
    c = client_connect(server_port);
    client_send_str(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(c, &r, false);
    assert_string_equal(head_value(&r, "Connection", v, sizeof v), "keep-alive");
    response_free(&r);
    client_send_str(c, "GET /stream?n=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(c, &r, false);
    assert_true(r.closed);
    assert_string_equal(r.body, "event 0\nevent 1\nevent 2\n");
    response_free(&r);
    client_close(c);

    exchange("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
    assert_string_equal(head_value(&r, "Connection", v, sizeof v), "close");
    response_free(&r);
}

static void test_streaming_many_writes(void **state)
{
    (void)state;
    response r;
    exchange("GET /stream?n=300 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    char v[64];
    assert_string_equal(head_value(&r, "Content-Type", v, sizeof v), "text/event-stream");
    buf_t want;
    buf_init(&want, 0);
    for (int i = 0; i < 300; i++)
        buf_printf(&want, "event %d\n", i);
    assert_int_equal(r.body_len, want.len);
    assert_memory_equal(r.body, want.data, want.len);
    buf_free(&want);
    response_free(&r);
}

static void test_backpressure(void **state)
{
    (void)state;
    client *c = client_connect(server_port);
    client_send_str(c, "GET /burst HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(50000); /* let the server run into the high-water mark */
    response r;
    read_response(c, &r, false);
    assert_int_equal(r.body_len, BURST_BLOCKS * BURST_BLOCK + 15);
    assert_string_equal(r.body + BURST_BLOCKS * BURST_BLOCK, "|busy=1,drain=1");
    response_free(&r);
    client_close(c);
}

static void test_on_close_mid_stream(void **state)
{
    (void)state;
    atomic_store(&slow_stream_closed, 0);
    size_t before = http_server_active_requests(server);
    client *c = client_connect(server_port);
    client_send_str(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    while (!strstr(c->buf, "event 1\n"))
        assert_true(client_fill(c) > 0);
    assert_int_equal(http_server_active_requests(server), before + 1);
    client_close(c);
    for (int i = 0; i < 200 && !atomic_load(&slow_stream_closed); i++)
        usleep(10000);
    assert_int_equal(atomic_load(&slow_stream_closed), 1);
    for (int i = 0; i < 200 && http_server_active_requests(server) != before; i++)
        usleep(10000);
    assert_int_equal(http_server_active_requests(server), before);
}

static void test_graceful_stop_finishes_stream(void **state)
{
    (void)state;
    atomic_store(&loops_started, 0);
    atomic_store(&loops_stopped, 0);
    http_router *r2 = make_router();
    http_server_config cfg = test_config(r2);
    http_server *s2;
    assert_int_equal(http_server_start(&cfg, &s2), CORE_OK);
    assert_int_equal(atomic_load(&loops_started), 2);
    client *idle = client_connect(http_server_port(s2));
    client_send_str(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    response r;
    read_response(idle, &r, false);
    response_free(&r);

    client *c = client_connect(http_server_port(s2));
    client_send_str(c, "GET /graceful HTTP/1.1\r\nHost: t\r\n\r\n");
    while (!strstr(c->buf, "event 0\n"))
        assert_true(client_fill(c) > 0);
    http_server_stop(s2, 5000);
    assert_true(server_closed(idle)); /* idle keep-alive connections go at once */
    client_close(idle);
    read_response(c, &r, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "event 0\nevent 1\nevent 2\nevent 3\nevent 4\n");
    assert_true(server_closed(c));
    response_free(&r);
    client_close(c);
    http_server_wait(s2);
    assert_int_equal(atomic_load(&loops_stopped), 2);
    http_router_free(r2);
}

static void test_stop_deadline_forces_close(void **state)
{
    (void)state;
    atomic_store(&slow_stream_closed, 0);
    http_router *r2 = make_router();
    http_server_config cfg = test_config(r2);
    http_server *s2;
    assert_int_equal(http_server_start(&cfg, &s2), CORE_OK);
    client *c = client_connect(http_server_port(s2));
    client_send_str(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    while (!strstr(c->buf, "event 0\n"))
        assert_true(client_fill(c) > 0);
    uint64_t t0 = time_mono_ms();
    http_server_stop(s2, 100);
    http_server_wait(s2);
    assert_true(time_mono_ms() - t0 < 2000);
    assert_int_equal(atomic_load(&slow_stream_closed), 1);
    while (client_fill(c) > 0) {}
    client_close(c);
    http_router_free(r2);
}

static void test_bind_failure(void **state)
{
    (void)state;
    http_router *r2 = make_router();
    http_server_config cfg = test_config(r2);
    cfg.host = "203.0.113.1"; /* not a local address */
    http_server *s2 = NULL;
    assert_int_equal(http_server_start(&cfg, &s2), CORE_EIO);
    assert_null(s2);
    http_router_free(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_chunked_upload),
        cmocka_unit_test(test_keep_alive_reuse),
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_router_404_405),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_errors_413_431_400_505),
        cmocka_unit_test(test_header_counts),
        cmocka_unit_test(test_408_slow_header),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_http10_close),
        cmocka_unit_test(test_streaming_many_writes),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_on_close_mid_stream),
        cmocka_unit_test(test_graceful_stop_finishes_stream),
        cmocka_unit_test(test_stop_deadline_forces_close),
        cmocka_unit_test(test_bind_failure),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
