/*
 * test_http_client.c - the libuv-driven libcurl client against a small
 * HTTP/1.1 server running in threads of this process (blocking sockets on
 * 127.0.0.1; test code only). The server answers by path: JSON, echo,
 * 100-continue, slow SSE, big and huge bodies, stalls, a body cut short, 429.
 * It counts accepted connections so connection reuse can be asserted.
 *
 * main runs every test twice: with libcurl (AIGW_HTTP_CLIENT=curl) and with
 * the plain-HTTP fast path (the default for http://127.0.0.1 URLs); the
 * client's counters prove which one carried the calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/http_client.h"

/* The path under test: true for the plain-HTTP fast path, false for libcurl. */
static bool native_mode;

/* ---- the test server -------------------------------------------------------- */

typedef struct {
    int listen_fd;
    int port;
    pthread_t accept_thread;
    atomic_int accepted;
    atomic_int live_connections;
} test_server;

typedef struct {
    test_server *server;
    int fd;
} connection;

enum { SSE_EVENTS = 20, BIG_BODY = 2 * 1024 * 1024, HUGE_BODY = 8 * 1024 * 1024 };

static char body_byte(size_t i)
{
    return (char)('a' + (i * 7) % 26);
}

static bool send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* Waits until the client closes the connection (or 5 s pass). */
static void wait_for_peer_close(int fd)
{
    char scratch[4096];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (int waited = 0; waited < 5000; waited += 50) {
        if (poll(&pfd, 1, 50) > 0 && recv(fd, scratch, sizeof scratch, 0) <= 0) return;
    }
}

typedef struct {
    char method[16];
    char path[256];
    char test_header[256]; /* value of "X-Test", if sent */
    char *body;
    size_t body_len;
} request;

/* Reads one request into req, keeping bytes past it in inbuf. false on EOF. */
static bool read_request(int fd, buf_t *inbuf, request *req)
{
    memset(req, 0, sizeof *req);
    char *head_end;
    while (!(inbuf->len && (head_end = strstr(inbuf->data, "\r\n\r\n")))) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        if (buf_append(inbuf, chunk, (size_t)n) != CORE_OK) return false;
    }
    size_t head_len = (size_t)(head_end - inbuf->data) + 4;
    if (sscanf(inbuf->data, "%15s %255s", req->method, req->path) != 2) return false;
    size_t content_length = 0;
    for (char *line = strstr(inbuf->data, "\r\n") + 2; line < head_end;
         line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = strtoul(line + 15, 0, 10);
        if (strncasecmp(line, "X-Test:", 7) == 0) sscanf(line + 7, " %255[^\r]", req->test_header);
    }
    while (inbuf->len < head_len + content_length) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        if (buf_append(inbuf, chunk, (size_t)n) != CORE_OK) return false;
    }
    req->body = malloc(content_length + 1);
    memcpy(req->body, inbuf->data + head_len, content_length);
    req->body[content_length] = '\0';
    req->body_len = content_length;
    buf_consume(inbuf, head_len + content_length);
    return true;
}

static bool send_chunk(int fd, const char *data, size_t len)
{
    char size_line[32];
    snprintf(size_line, sizeof size_line, "%zx\r\n", len);
    return send_str(fd, size_line) && send_all(fd, data, len) && send_str(fd, "\r\n");
}

/* Answers one request; returns false when the connection must close. */
static bool answer(int fd, const request *req)
{
    char head[1024];
    const char *path = req->path;
    if (strcmp(path, "/json") == 0) {
        const char *body = "{\"ok\":true}";
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "X-Padded:   spaced value  \r\nX-Echo: %s\r\nContent-Length: %zu\r\n\r\n",
                 req->test_header, strlen(body));
        return send_str(fd, head) && send_str(fd, body);
    }
    if (strcmp(path, "/echo") == 0) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nX-Method: %s\r\nContent-Length: %zu\r\n\r\n", req->method,
                 req->body_len);
        return send_str(fd, head) && send_all(fd, req->body, req->body_len);
    }
    if (strcmp(path, "/continue") == 0) {
        return send_str(fd, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                            "HTTP/1.1 201 Created\r\nX-Final: yes\r\nContent-Length: 4\r\n\r\n"
                            "done");
    }
    if (strcmp(path, "/429") == 0) {
        const char *body = "{\"error\":{\"message\":\"slow down\"}}";
        snprintf(head, sizeof head,
                 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 strlen(body));
        return send_str(fd, head) && send_str(fd, body);
    }
    if (strcmp(path, "/sse") == 0) {
        if (!send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n"))
            return false;
        for (int i = 0; i < SSE_EVENTS; i++) {
            char event[64];
            int n = snprintf(event, sizeof event, "data: {\"n\":%d}\n\n", i);
            if (!send_chunk(fd, event, (size_t)n)) return false;
            sleep_ms(5);
        }
        return send_str(fd, "0\r\n\r\n");
    }
    if (strcmp(path, "/big") == 0) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG_BODY);
        if (!send_str(fd, head)) return false;
        char *body = malloc(BIG_BODY);
        for (size_t i = 0; i < BIG_BODY; i++)
            body[i] = body_byte(i);
        bool ok = send_all(fd, body, BIG_BODY);
        free(body);
        return ok;
    }
    if (strcmp(path, "/huge") == 0 || strcmp(path, "/huge-unsized") == 0) {
        bool sized = strcmp(path, "/huge") == 0;
        if (sized)
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", HUGE_BODY);
        else
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        if (!send_str(fd, head)) return false;
        char block[16384];
        memset(block, 'x', sizeof block);
        for (size_t sent = 0; sent < HUGE_BODY; sent += sizeof block)
            if (!send_all(fd, block, sizeof block)) return false;
        return sized;
    }
    if (strcmp(path, "/many-headers") == 0) {
        /* ~80 KiB of headers: past HTTP_CLIENT_MAX_HEADER_BYTES. */
        if (!send_str(fd, "HTTP/1.1 200 OK\r\n")) return false;
        for (int i = 0; i < 800; i++) {
            snprintf(head, sizeof head, "X-Filler-%03d: %090d\r\n", i, i);
            if (!send_str(fd, head)) return false;
        }
        return send_str(fd, "Content-Length: 0\r\n\r\n");
    }
    if (strcmp(path, "/stall-head") == 0) {
        wait_for_peer_close(fd);
        return false;
    }
    if (strcmp(path, "/stall-body") == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        wait_for_peer_close(fd);
        return false;
    }
    if (strcmp(path, "/json-then-drop") == 0) {
        /* Keep-alive answer; the server then drops the connection when the
         * next request arrives (as when its idle timeout races our reuse). */
        return send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    if (strcmp(path, "/cut") == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        char part[100];
        memset(part, 'c', sizeof part);
        send_all(fd, part, sizeof part);
        return false;
    }
    send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    return true;
}

static void *connection_main(void *arg)
{
    connection *conn = arg;
    buf_t inbuf;
    buf_init(&inbuf, 1 << 20);
    request req;
    bool drop_next = false;
    while (read_request(conn->fd, &inbuf, &req)) {
        if (drop_next) {
            free(req.body);
            break;
        }
        drop_next = strcmp(req.path, "/json-then-drop") == 0;
        bool keep = answer(conn->fd, &req);
        free(req.body);
        if (!keep) break;
    }
    buf_free(&inbuf);
    close(conn->fd);
    atomic_fetch_sub(&conn->server->live_connections, 1);
    free(conn);
    return NULL;
}

static void *accept_main(void *arg)
{
    test_server *server = arg;
    for (;;) {
        int fd = accept(server->listen_fd, NULL, NULL);
        if (fd < 0) return NULL; /* shutdown() woke us */
        atomic_fetch_add(&server->accepted, 1);
        atomic_fetch_add(&server->live_connections, 1);
        connection *conn = malloc(sizeof *conn);
        conn->server = server;
        conn->fd = fd;
        pthread_t thread;
        pthread_create(&thread, NULL, connection_main, conn);
        pthread_detach(thread);
    }
}

static int listen_on_loopback(int *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t alen = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    *port_out = ntohs(addr.sin_port);
    return fd;
}

static int server_setup(void **state)
{
    test_server *server = calloc(1, sizeof *server);
    server->listen_fd = listen_on_loopback(&server->port);
    assert_int_equal(listen(server->listen_fd, 64), 0);
    pthread_create(&server->accept_thread, NULL, accept_main, server);
    *state = server;
    return 0;
}

static int server_teardown(void **state)
{
    test_server *server = *state;
    shutdown(server->listen_fd, SHUT_RDWR);
    pthread_join(server->accept_thread, NULL);
    close(server->listen_fd);
    /* Connection threads end when the client side closes (it has by now). */
    for (int waited = 0; atomic_load(&server->live_connections) > 0 && waited < 6000; waited += 10)
        sleep_ms(10);
    assert_int_equal(atomic_load(&server->live_connections), 0);
    free(server);
    return 0;
}

/* ---- client-side harness ---------------------------------------------------- */

typedef struct probe probe;
struct probe {
    http_client_call *call;
    int done_count;
    core_err err;
    char message[512];
    int status;        /* from on_headers */
    int headers_count; /* on_headers calls */
    size_t nheaders;
    char retry_after[32]; /* looked up through http_client_header in on_headers */
    char padded[64];
    char interim[8];
    buf_t body;
    int data_calls;
    int data_after_cancel;
    bool cancelled;
    /* behaviours */
    bool pause_every_chunk; /* return HTTP_CLIENT_PAUSE, resume from a timer */
    bool cancel_on_first_data;
    bool close_client_on_done;
    http_client *client;
    uv_timer_t resume_timer;
    int resumes;
    bool timer_closing;
};

static void on_headers(void *ud, const http_client_response *resp)
{
    probe *p = ud;
    p->headers_count++;
    p->status = resp->status;
    p->nheaders = resp->nheaders;
    for (size_t i = 0; i < resp->nheaders; i++) {
        /* Names arrive lower-cased. */
        for (size_t k = 0; k < resp->names[i].len; k++)
            assert_false(resp->names[i].ptr[k] >= 'A' && resp->names[i].ptr[k] <= 'Z');
    }
    slice_t v = http_client_header(p->call, "Retry-After");
    snprintf(p->retry_after, sizeof p->retry_after, "%.*s", (int)v.len, v.ptr ? v.ptr : "");
    v = http_client_header(p->call, "x-padded");
    snprintf(p->padded, sizeof p->padded, "%.*s", (int)v.len, v.ptr ? v.ptr : "");
    v = http_client_header(p->call, "x-interim");
    snprintf(p->interim, sizeof p->interim, "%.*s", (int)v.len, v.ptr ? v.ptr : "");
    assert_int_equal(http_client_status(p->call), resp->status);
}

static void on_resume_timer(uv_timer_t *t)
{
    probe *p = t->data;
    if (p->done_count) return; /* the call is gone after on_done (contract) */
    p->resumes++;
    http_client_resume(p->call);
}

static int on_data(void *ud, const char *data, size_t len)
{
    probe *p = ud;
    if (p->cancelled) p->data_after_cancel++;
    p->data_calls++;
    assert_int_equal(buf_append(&p->body, data, len), CORE_OK);
    if (p->cancel_on_first_data && !p->cancelled) {
        p->cancelled = true;
        http_client_cancel(p->call);
        http_client_cancel(p->call); /* twice: still one on_done */
    }
    if (p->pause_every_chunk && p->done_count == 0) {
        uv_timer_start(&p->resume_timer, on_resume_timer, 1, 0);
        return HTTP_CLIENT_PAUSE;
    }
    return HTTP_CLIENT_CONTINUE;
}

static void on_done(void *ud, core_err err, const char *message)
{
    probe *p = ud;
    assert_non_null(message);
    p->done_count++;
    p->err = err;
    snprintf(p->message, sizeof p->message, "%s", message);
    /* The call is freed after on_done returns: a pending resume must not touch it. */
    if (uv_is_active((uv_handle_t *)&p->resume_timer)) uv_timer_stop(&p->resume_timer);
    if (p->close_client_on_done) http_client_close(p->client, NULL, NULL);
}

typedef struct {
    uv_loop_t loop;
    http_client *client;
    bool closed;
    test_server *server;
} harness;

static void harness_init(harness *h, test_server *server)
{
    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->client = http_client_new(&h->loop);
    assert_non_null(h->client);
    h->closed = false;
    h->server = server;
}

static void on_client_closed(void *ud)
{
    *(bool *)ud = true;
}

/* Runs the loop until cond(ud) holds; fails after 10 s. */
static void run_until(harness *h, bool (*cond)(void *), void *ud)
{
    uint64_t start = time_mono_ms();
    while (!cond(ud)) {
        assert_true(time_mono_ms() - start < 10000);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

static bool probe_done(void *ud)
{
    return ((probe *)ud)->done_count > 0;
}

static bool flag_set(void *ud)
{
    return *(bool *)ud;
}

static void probe_init(probe *p, harness *h)
{
    memset(p, 0, sizeof *p);
    buf_init(&p->body, 0);
    p->client = h->client;
    uv_timer_init(&h->loop, &p->resume_timer);
    p->resume_timer.data = p;
}

static void on_probe_timer_closed(uv_handle_t *handle)
{
    ((probe *)handle->data)->timer_closing = false;
}

/* Waits for the timer's close so the probe's memory can be reused. */
static void probe_free(probe *p)
{
    buf_free(&p->body);
    p->timer_closing = true;
    uv_close((uv_handle_t *)&p->resume_timer, on_probe_timer_closed);
    while (p->timer_closing)
        uv_run(p->resume_timer.loop, UV_RUN_NOWAIT);
}

static void harness_close(harness *h)
{
    http_client_close(h->client, on_client_closed, &h->closed);
    run_until(h, flag_set, &h->closed);
    uv_run(&h->loop, UV_RUN_NOWAIT); /* let probe timers finish closing */
    /* Every handle the client opened is closed: the loop closes cleanly. */
    assert_int_equal(uv_loop_close(&h->loop), 0);
}

static http_client_request make_request(harness *h, probe *p, const char *path, char *url,
                                        size_t urlsz)
{
    snprintf(url, urlsz, "http://127.0.0.1:%d%s", h->server->port, path);
    return (http_client_request){
        .url = url,
        .on_headers = on_headers,
        .on_data = on_data,
        .on_done = on_done,
        .ud = p,
    };
}

/* Starts a call and checks that nothing fires synchronously. */
static void start(harness *h, probe *p, const http_client_request *req)
{
    assert_int_equal(http_client_start(h->client, req, &p->call), CORE_OK);
    assert_int_equal(p->done_count, 0);
    assert_int_equal(p->headers_count, 0);
}

static void run_call(harness *h, probe *p, const http_client_request *req)
{
    start(h, p, req);
    run_until(h, probe_done, p);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_json_and_connection_reuse(void **state)
{
    test_server *server = *state;
    harness h;
    harness_init(&h, server);
    for (int i = 0; i < 2; i++) {
        probe p;
        probe_init(&p, &h);
        char url[128];
        http_client_request req = make_request(&h, &p, "/json", url, sizeof url);
        const char *headers[] = {"X-Test: call-42", "Accept: application/json", NULL};
        req.headers = headers;
        run_call(&h, &p, &req);
        assert_int_equal(p.err, CORE_OK);
        assert_string_equal(p.message, "");
        assert_int_equal(p.done_count, 1);
        assert_int_equal(p.headers_count, 1);
        assert_int_equal(p.status, 200);
        assert_string_equal(p.body.data, "{\"ok\":true}");
        assert_string_equal(p.padded, "spaced value");
        assert_string_equal(p.retry_after, "");
        probe_free(&p);
    }
    /* Two sequential calls, one TCP connection. */
    assert_int_equal(atomic_load(&server->accepted), 1);
    http_client_stats stats;
    http_client_get_stats(h.client, &stats);
    assert_int_equal(stats.native_calls, native_mode ? 2 : 0);
    assert_int_equal(stats.curl_calls, native_mode ? 0 : 2);
    if (native_mode) {
        assert_int_equal(stats.connections_opened, 1);
        assert_int_equal(stats.reused_connections, 1);
    }
    harness_close(&h);
}

static void test_post_body_and_custom_method(void **state)
{
    test_server *server = *state;
    harness h;
    harness_init(&h, server);
    /* Large enough that libcurl would ask for 100-continue on its own. */
    buf_t big;
    buf_init(&big, 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_printf(&big, "%d,", i), CORE_OK);
    const char *methods[] = {"POST", "PUT"};
    for (size_t m = 0; m < ARRAY_LEN(methods); m++) {
        probe p;
        probe_init(&p, &h);
        char url[128];
        http_client_request req = make_request(&h, &p, "/echo", url, sizeof url);
        req.method = methods[m];
        req.body = buf_slice(&big);
        run_call(&h, &p, &req);
        assert_int_equal(p.err, CORE_OK);
        assert_int_equal(p.status, 200);
        assert_int_equal(p.body.len, big.len);
        assert_memory_equal(p.body.data, big.data, big.len);
        probe_free(&p);
    }
    buf_free(&big);
    harness_close(&h);
}

static void test_final_status_after_100_continue(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    char url[128];
    http_client_request req = make_request(&h, &p, "/continue", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_OK);
    assert_int_equal(p.headers_count, 1);
    assert_int_equal(p.status, 201);
    assert_string_equal(p.interim, ""); /* headers of the 100 are not kept */
    assert_int_equal(p.nheaders, 2);    /* x-final, content-length */
    assert_string_equal(p.body.data, "done");
    probe_free(&p);
    harness_close(&h);
}

static void test_429_with_retry_after(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    char url[128];
    http_client_request req = make_request(&h, &p, "/429", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_OK); /* any status is a completed response */
    assert_int_equal(p.status, 429);
    assert_string_equal(p.retry_after, "7");
    assert_string_equal(p.body.data, "{\"error\":{\"message\":\"slow down\"}}");
    probe_free(&p);
    harness_close(&h);
}

static void expected_sse(buf_t *out)
{
    buf_init(out, 0);
    for (int i = 0; i < SSE_EVENTS; i++)
        assert_int_equal(buf_printf(out, "data: {\"n\":%d}\n\n", i), CORE_OK);
}

static void test_sse_stream_with_pause_resume(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    p.pause_every_chunk = true;
    char url[128];
    http_client_request req = make_request(&h, &p, "/sse", url, sizeof url);
    req.idle_timeout_ms = 2000;
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_OK);
    buf_t want;
    expected_sse(&want);
    assert_int_equal(p.body.len, want.len);
    assert_memory_equal(p.body.data, want.data, want.len);
    assert_true(p.resumes >= SSE_EVENTS - 1);
    buf_free(&want);
    probe_free(&p);
    harness_close(&h);
}

static void test_big_body_pause_resume_in_order(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    p.pause_every_chunk = true;
    char url[128];
    http_client_request req = make_request(&h, &p, "/big", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_OK);
    assert_int_equal(p.body.len, BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i++)
        if (p.body.data[i] != body_byte(i)) fail_msg("byte %zu out of order", i);
    assert_true(p.data_calls > 10);
    probe_free(&p);
    harness_close(&h);
}

typedef struct {
    probe *p;
    harness *h;
    int phase;
    size_t bytes_at_pause;
} pause_window;

static void on_pause_window(uv_timer_t *t)
{
    pause_window *w = t->data;
    if (w->phase == 0) {
        http_client_pause(w->p->call);
        w->bytes_at_pause = w->p->body.len;
        w->phase = 1;
        uv_timer_start(t, on_pause_window, 300, 0);
    } else {
        /* Paused for 300 ms, longer than the idle timeout: no bytes were
         * delivered beyond the one chunk that was in flight, no timeout fired. */
        assert_int_equal(w->p->done_count, 0);
        assert_true(w->p->body.len - w->bytes_at_pause <= 32);
        http_client_resume(w->p->call);
        w->phase = 2;
    }
}

static void test_pause_from_outside_holds_data_and_idle_timer(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    char url[128];
    http_client_request req = make_request(&h, &p, "/sse", url, sizeof url);
    req.idle_timeout_ms = 150;
    start(&h, &p, &req);
    pause_window w = {.p = &p, .h = &h};
    uv_timer_t t;
    uv_timer_init(&h.loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_pause_window, 30, 0);
    run_until(&h, probe_done, &p);
    assert_int_equal(w.phase, 2);
    assert_int_equal(p.err, CORE_OK);
    buf_t want;
    expected_sse(&want);
    assert_int_equal(p.body.len, want.len);
    assert_memory_equal(p.body.data, want.data, want.len);
    buf_free(&want);
    uv_close((uv_handle_t *)&t, NULL);
    probe_free(&p);
    harness_close(&h);
}

static void test_max_response_bytes(void **state)
{
    harness h;
    harness_init(&h, *state);
    const char *paths[] = {"/huge", "/huge-unsized"};
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        probe p;
        probe_init(&p, &h);
        char url[128];
        http_client_request req = make_request(&h, &p, paths[i], url, sizeof url);
        req.max_response_bytes = 1024 * 1024;
        run_call(&h, &p, &req);
        assert_int_equal(p.err, CORE_ETOOBIG);
        assert_int_equal(p.done_count, 1);
        assert_true(p.body.len <= req.max_response_bytes);
        probe_free(&p);
    }
    harness_close(&h);
}

static void test_response_header_ceiling(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    char url[128];
    http_client_request req = make_request(&h, &p, "/many-headers", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_ETOOBIG);
    assert_int_equal(p.headers_count, 0);
    assert_non_null(strstr(p.message, "headers"));
    probe_free(&p);
    harness_close(&h);
}

static void test_first_byte_and_idle_timeouts(void **state)
{
    harness h;
    harness_init(&h, *state);

    probe p;
    probe_init(&p, &h);
    char url[128];
    http_client_request req = make_request(&h, &p, "/stall-head", url, sizeof url);
    req.first_byte_timeout_ms = 150;
    uint64_t t0 = time_mono_ms();
    run_call(&h, &p, &req);
    uint64_t took = time_mono_ms() - t0;
    assert_int_equal(p.err, CORE_ETIMEDOUT);
    assert_int_equal(p.headers_count, 0);
    assert_true(took >= 140 && took < 2000);
    probe_free(&p);

    probe_init(&p, &h);
    req = make_request(&h, &p, "/stall-body", url, sizeof url);
    req.idle_timeout_ms = 150;
    t0 = time_mono_ms();
    run_call(&h, &p, &req);
    took = time_mono_ms() - t0;
    assert_int_equal(p.err, CORE_ETIMEDOUT);
    assert_int_equal(p.status, 200);
    assert_string_equal(p.body.data, "0123456789");
    assert_true(took >= 140 && took < 2000);
    probe_free(&p);

    probe_init(&p, &h);
    req = make_request(&h, &p, "/stall-body", url, sizeof url);
    req.total_timeout_ms = 200;
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_ETIMEDOUT);
    probe_free(&p);
    harness_close(&h);
}

static void test_cut_mid_body_is_eio(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    char url[128];
    http_client_request req = make_request(&h, &p, "/cut", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_EIO);
    assert_int_equal(p.body.len, 100);
    assert_true(strlen(p.message) > 0);
    probe_free(&p);
    harness_close(&h);
}

static void test_connect_refused_is_eio(void **state)
{
    harness h;
    harness_init(&h, *state);
    int port;
    close(listen_on_loopback(&port)); /* a port nobody listens on */
    probe p;
    probe_init(&p, &h);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    http_client_request req = {.url = url, .on_data = on_data, .on_done = on_done, .ud = &p};
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_EIO);
    assert_int_equal(p.done_count, 1);
    assert_non_null(strstr(p.message, "onnect"));
    probe_free(&p);
    harness_close(&h);
}

/* A pooled connection the server closed when our request arrived: the
 * request goes again on a fresh connection, since nothing of a response came
 * back. A response cut after its first bytes is never sent again. */
static void test_stale_pooled_connection_retried_once(void **state)
{
    test_server *server = *state;
    harness h;
    harness_init(&h, server);
    const char *paths[] = {"/json-then-drop", "/json", "/json", "/cut"};
    const char *methods[] = {"GET", "POST", "GET", "POST"};
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        probe p;
        probe_init(&p, &h);
        char url[128];
        http_client_request req = make_request(&h, &p, paths[i], url, sizeof url);
        req.method = methods[i];
        req.body = SLICE_LIT("{\"q\":1}");
        run_call(&h, &p, &req);
        if (i < 3) {
            assert_int_equal(p.err, CORE_OK);
            assert_int_equal(p.status, 200);
        } else {
            assert_int_equal(p.err, CORE_EIO);
            assert_int_equal(p.body.len, 100);
        }
        probe_free(&p);
    }
    /* The dropped connection, its replacement (reused by the third call and
     * by the cut one, which was not retried). */
    assert_int_equal(atomic_load(&server->accepted), 2);
    if (native_mode) {
        http_client_stats stats;
        http_client_get_stats(h.client, &stats);
        assert_int_equal(stats.connections_opened, 2);
    }
    harness_close(&h);
}

/* Which requests the fast path takes: literal addresses and localhost over
 * http://; anything it cannot express goes to libcurl with the same result. */
static void test_fast_path_eligibility(void **state)
{
    test_server *server = *state;
    harness h;
    harness_init(&h, server);
    char urls[3][128];
    snprintf(urls[0], sizeof urls[0], "http://localhost:%d/json", server->port);
    snprintf(urls[1], sizeof urls[1], "http://127.0.0.1:%d/json", server->port);
    snprintf(urls[2], sizeof urls[2], "http://127.0.0.1:%d/json", server->port);
    const char *plain[] = {"X-Test: call-42", NULL};
    const char *odd[] = {"X-Test: call-42", "X-Odd;", NULL}; /* libcurl: an empty header */
    const char *const *headers[] = {plain, plain, odd};
    for (size_t i = 0; i < ARRAY_LEN(urls); i++) {
        probe p;
        probe_init(&p, &h);
        http_client_request req = {.url = urls[i],
                                   .headers = headers[i],
                                   .on_headers = on_headers,
                                   .on_data = on_data,
                                   .on_done = on_done,
                                   .ud = &p};
        run_call(&h, &p, &req);
        assert_int_equal(p.err, CORE_OK);
        assert_string_equal(p.body.data, "{\"ok\":true}");
        probe_free(&p);
    }
    http_client_stats stats;
    http_client_get_stats(h.client, &stats);
    assert_int_equal(stats.native_calls, native_mode ? 2 : 0);
    assert_int_equal(stats.curl_calls, native_mode ? 1 : 3);
    harness_close(&h);
}

static void on_cancel_timer(uv_timer_t *t)
{
    probe *p = t->data;
    http_client_cancel(p->call);
    http_client_cancel(p->call);
}

static void test_cancel_exactly_once(void **state)
{
    harness h;
    harness_init(&h, *state);
    char url[128];

    /* Cancelled while waiting for headers. */
    probe p;
    probe_init(&p, &h);
    http_client_request req = make_request(&h, &p, "/stall-head", url, sizeof url);
    start(&h, &p, &req);
    uv_timer_t t;
    uv_timer_init(&h.loop, &t);
    t.data = &p;
    uv_timer_start(&t, on_cancel_timer, 50, 0);
    run_until(&h, probe_done, &p);
    assert_int_equal(p.err, CORE_ECANCELED);
    /* Nothing else arrives for it later. */
    for (int i = 0; i < 20; i++)
        uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(p.done_count, 1);
    uv_close((uv_handle_t *)&t, NULL);
    probe_free(&p);

    /* Cancelled right after start, before it ever reached libcurl. */
    probe_init(&p, &h);
    req = make_request(&h, &p, "/json", url, sizeof url);
    start(&h, &p, &req);
    http_client_cancel(p.call);
    assert_int_equal(p.done_count, 0); /* not re-entrant */
    run_until(&h, probe_done, &p);
    assert_int_equal(p.err, CORE_ECANCELED);
    assert_int_equal(p.headers_count, 0);
    probe_free(&p);

    /* Cancelled from inside on_data: no more data, one on_done. */
    probe_init(&p, &h);
    p.cancel_on_first_data = true;
    req = make_request(&h, &p, "/sse", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_ECANCELED);
    assert_int_equal(p.data_after_cancel, 0);
    assert_int_equal(p.data_calls, 1);
    for (int i = 0; i < 20; i++)
        uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(p.done_count, 1);
    probe_free(&p);
    harness_close(&h);
}

static void test_close_cancels_open_calls(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe a, b;
    probe_init(&a, &h);
    probe_init(&b, &h);
    char url_a[128], url_b[128];
    http_client_request ra = make_request(&h, &a, "/stall-head", url_a, sizeof url_a);
    http_client_request rb = make_request(&h, &b, "/stall-body", url_b, sizeof url_b);
    start(&h, &a, &ra);
    start(&h, &b, &rb);
    /* Let both reach the server. */
    uint64_t t0 = time_mono_ms();
    while (b.headers_count == 0 && time_mono_ms() - t0 < 5000)
        uv_run(&h.loop, UV_RUN_ONCE);
    assert_int_equal(b.headers_count, 1);
    http_client_close(h.client, on_client_closed, &h.closed);
    assert_int_equal(a.done_count + b.done_count, 0);
    /* Starting more once closing is refused without callbacks. */
    probe c;
    probe_init(&c, &h);
    char url_c[128];
    http_client_request rc = make_request(&h, &c, "/json", url_c, sizeof url_c);
    assert_int_equal(http_client_start(h.client, &rc, &c.call), CORE_EINVAL);
    run_until(&h, flag_set, &h.closed);
    assert_int_equal(a.done_count, 1);
    assert_int_equal(b.done_count, 1);
    assert_int_equal(c.done_count, 0);
    assert_int_equal(a.err, CORE_ECANCELED);
    assert_int_equal(b.err, CORE_ECANCELED);
    probe_free(&a);
    probe_free(&b);
    probe_free(&c);
    uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&h.loop), 0);
}

static void test_close_from_on_done_and_chained_start(void **state)
{
    harness h;
    harness_init(&h, *state);
    probe p;
    probe_init(&p, &h);
    p.close_client_on_done = true;
    char url[128];
    http_client_request req = make_request(&h, &p, "/json", url, sizeof url);
    run_call(&h, &p, &req);
    assert_int_equal(p.err, CORE_OK);
    probe_free(&p);
    /* The client was closed from on_done; wait for its handles to go. */
    uint64_t t0 = time_mono_ms();
    while (uv_loop_alive(&h.loop) && time_mono_ms() - t0 < 5000)
        uv_run(&h.loop, UV_RUN_ONCE);
    assert_int_equal(uv_loop_close(&h.loop), 0);
}

/* A second call started from inside the first one's on_headers (a libcurl
 * callback, where curl_multi_add_handle is forbidden) still runs. */
typedef struct {
    probe first, second;
    harness *h;
    char url[128];
} chain;

static void on_headers_start_second(void *ud, const http_client_response *resp)
{
    chain *ch = ud;
    ch->first.headers_count++;
    ch->first.status = resp->status;
    http_client_request req = make_request(ch->h, &ch->second, "/json", ch->url, sizeof ch->url);
    assert_int_equal(http_client_start(ch->h->client, &req, &ch->second.call), CORE_OK);
}

static bool both_done(void *ud)
{
    chain *ch = ud;
    return ch->first.done_count && ch->second.done_count;
}

static void test_start_from_inside_a_callback(void **state)
{
    harness h;
    harness_init(&h, *state);
    chain ch = {.h = &h};
    probe_init(&ch.first, &h);
    probe_init(&ch.second, &h);
    char url[128];
    http_client_request req = make_request(&h, &ch.first, "/sse", url, sizeof url);
    req.on_headers = on_headers_start_second;
    req.on_data = NULL; /* body discarded */
    req.ud = &ch;       /* on_done sees ch.first: the struct's first member */
    assert_int_equal(http_client_start(h.client, &req, &ch.first.call), CORE_OK);
    run_until(&h, both_done, &ch);
    assert_int_equal(ch.first.err, CORE_OK);
    assert_int_equal(ch.first.status, 200);
    assert_int_equal(ch.first.body.len, 0);
    assert_int_equal(ch.second.err, CORE_OK);
    assert_int_equal(ch.second.status, 200);
    assert_string_equal(ch.second.body.data, "{\"ok\":true}");
    probe_free(&ch.first);
    probe_free(&ch.second);
    harness_close(&h);
}

enum { PARALLEL_CALLS = 30 };

static bool all_done(void *ud)
{
    probe *probes = ud;
    for (int i = 0; i < PARALLEL_CALLS; i++)
        if (!probes[i].done_count) return false;
    return true;
}

static void test_parallel_streams_share_the_pool(void **state)
{
    test_server *server = *state;
    harness h;
    harness_init(&h, server);
    static probe probes[PARALLEL_CALLS];
    static char urls[PARALLEL_CALLS][128];
    buf_t want;
    expected_sse(&want);
    const char *paths[] = {"/sse", "/json"};
    for (size_t round = 0; round < ARRAY_LEN(paths); round++) {
        for (int i = 0; i < PARALLEL_CALLS; i++) {
            probe_init(&probes[i], &h);
            http_client_request req =
                make_request(&h, &probes[i], paths[round], urls[i], sizeof urls[i]);
            start(&h, &probes[i], &req);
        }
        run_until(&h, all_done, probes);
        for (int i = 0; i < PARALLEL_CALLS; i++) {
            assert_int_equal(probes[i].err, CORE_OK);
            assert_int_equal(probes[i].done_count, 1);
            if (round == 0) {
                assert_int_equal(probes[i].body.len, want.len);
                assert_memory_equal(probes[i].body.data, want.data, want.len);
            } else {
                assert_string_equal(probes[i].body.data, "{\"ok\":true}");
            }
            probe_free(&probes[i]);
        }
        /* HTTP/1.1: one connection per concurrent call; the second round
         * reuses the idle ones instead of opening more. */
        assert_int_equal(atomic_load(&server->accepted), PARALLEL_CALLS);
    }
    buf_free(&want);
    harness_close(&h);
}

static int run_suite(const char *name)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_and_connection_reuse, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_post_body_and_custom_method, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_final_status_after_100_continue, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_429_with_retry_after, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_sse_stream_with_pause_resume, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_big_body_pause_resume_in_order, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_pause_from_outside_holds_data_and_idle_timer,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_max_response_bytes, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_response_header_ceiling, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_first_byte_and_idle_timeouts, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_cut_mid_body_is_eio, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused_is_eio, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_exactly_once, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_open_calls, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_close_from_on_done_and_chained_start, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_start_from_inside_a_callback, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_parallel_streams_share_the_pool, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_stale_pooled_connection_retried_once, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_fast_path_eligibility, server_setup, server_teardown),
    };
    return _cmocka_run_group_tests(name, tests, ARRAY_LEN(tests), NULL, NULL);
}

int main(void)
{
    if (http_client_global_init() != CORE_OK) return 1;
    /* Proxy settings would send the curl mode elsewhere and turn the fast
     * path off. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    native_mode = false;
    setenv("AIGW_HTTP_CLIENT", "curl", 1);
    int failed = run_suite("http_client_curl");
    native_mode = true;
    setenv("AIGW_HTTP_CLIENT", "native", 1);
    failed += run_suite("http_client_native");
    http_client_global_cleanup();
    return failed;
}
