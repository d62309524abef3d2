/*
 * http_server.h - HTTP/1.1 server on libuv: one event loop per worker thread,
 * each with its own SO_REUSEPORT listener, so the kernel spreads connections
 * across cores and no lock is taken on the request path.
 *
 * Protocol: keep-alive, pipelining-safe (requests on one connection are served
 * strictly in order; the next one is parsed only after the previous response
 * has been completely queued), Content-Length and chunked request bodies, a
 * strict parser (http_parser.h). Limits answer with a JSON error body and close:
 *   400 malformed request, 408 header/body read too slow, 413 body too large,
 *   431 header section too large, 501 unsupported transfer-coding,
 *   505 unsupported HTTP version.
 * Error body shape (the same as the gateway's):
 *   {"error":{"code":"invalid_request","message":"...","retryable":false}}
 *
 * Request lifetime (the contract handlers rely on):
 *   - The handler is called on the loop thread with the whole body read.
 *   - It answers at once or later; it must end the exchange exactly once with
 *     http_respond*() or http_stream_end() - or, after on_close fired,
 *     with http_request_finish(). Until then the request stays valid.
 *   - If the client disconnects first, on_close (if set) fires once, from the
 *     loop (never from inside an http_* call the handler makes); from then
 *     on writes return CORE_ECLOSED and the handler must still call
 *     http_request_finish() (freeing is deferred if it is called from inside
 *     on_close, so that is allowed). http_respond*() and http_stream_end() on a
 *     closed request also end the exchange (and return CORE_ECLOSED), so a
 *     handler that never looks at on_close cannot leak the request.
 *   - A handler that sets on_close after the client already left is not
 *     called back; http_request_closed() tells, and writes fail.
 *   - All memory from req->arena is freed when the request ends.
 *
 * Connection handling (http_server.c): the socket keeps being read while a
 * handler works, so a disconnect is noticed even when nothing is being
 * written; bytes of a pipelined next request are buffered (bounded) and parsed
 * only after this exchange ended. Whole responses are written with
 * uv_try_write straight from a per-connection scratch buffer; only what the
 * kernel did not take is copied into a write request, so a keep-alive request
 * costs no malloc besides what the handler puts in its arena. HEAD responses
 * carry the headers of the GET response and no body. Responses are always
 * Content-Length framed, chunked (HTTP/1.1 streams) or close-delimited
 * (HTTP/1.0 streams). Connections that end after a response are shut down for
 * writing and drained for a moment before closing, so the client reads the
 * response instead of a reset.
 *
 * Access log: one JSON line per request (method, path, status, bytes,
 * duration_us, req) at LOG_INFO via log_event; HTTP_ACCESS_LOG=0 in the
 * environment at start turns it off.
 *
 * Threads: every function here except http_server_start/stop/wait must be
 * called on the request's loop thread.
 */
#ifndef CORE_HTTP_SERVER_H
#define CORE_HTTP_SERVER_H

#include "arena.h"
#include "base.h"
#include "buf.h"

#include <uv.h>

#define HTTP_MAX_HEADERS 64
/* After on_stop_deadline, time given to flush final bytes before aborting. */
#define HTTP_STOP_FLUSH_MS 200
/* Header slots every connection keeps inline; a request with more takes the
 * rest from its arena. Real clients send 5-15 headers, and an idle or
 * streaming connection should not carry 64 empty slots. */
#define HTTP_INLINE_HEADERS 16

typedef struct http_server http_server;
typedef struct http_conn http_conn;
typedef struct http_request http_request;

typedef struct {
    slice_t name;
    slice_t value;
} http_header;

typedef void (*http_handler_fn)(http_request *req, void *ud);
/* Called when the client went away before the exchange ended. */
typedef void (*http_close_fn)(http_request *req, void *ud);
/* Called when a stream's queued output has drained below the low watermark. */
typedef void (*http_drain_fn)(http_request *req, void *ud);

struct http_request {
    /* Parsed request line and headers; slices point into connection memory
     * that lives as long as the request. */
    slice_t method;
    slice_t target; /* raw request-target */
    slice_t path;   /* target up to '?', percent-decoding NOT applied */
    slice_t query;  /* after '?', without it; empty when absent */
    int version_minor;
    /* nheaders entries, in connection memory (up to HTTP_INLINE_HEADERS) or
     * in the request arena; valid as long as the request. */
    http_header *headers;
    size_t nheaders;
    slice_t body; /* whole request body (dechunked) */

    /* Route parameters filled by the router (":id" segments). */
    http_header params[8];
    size_t nparams;

    arena_t arena;     /* request-scoped memory */
    char id[72];       /* request id "req_..." or the client's sane X-Request-Id
                          (<= 64 chars of [A-Za-z0-9._-]); sent back as X-Request-Id */
    uint64_t start_us; /* monotonic time the request line started arriving */
    uv_loop_t *loop;   /* the loop this request lives on */
    void *loop_data;   /* per-loop application data (see http_server_config) */
    char peer[64];     /* client address "ip:port" */

    /* Opaque server state follows in the implementation. */
    http_conn *conn;
};

/* Routing. Patterns are literal segments and ":name" parameters, e.g.
 * "/api/organizations/:id/models". Method "*" matches any method. A path that
 * matches a pattern but not its method yields 405 with an Allow header;
 * no match yields 404. Both with the JSON error body. */
typedef struct http_router http_router;
http_router *http_router_new(void);
void http_router_free(http_router *r);
/* Registers a route; pattern and method are copied. CORE_ENOMEM/CORE_EINVAL. */
core_err http_router_add(http_router *r, const char *method, const char *pattern,
                         http_handler_fn fn, void *ud);
/* Value of ":name" for the matched route, or SLICE_NULL. Percent-decoded (into
 * the request arena) when the segment contained '%'. */
slice_t http_request_param(const http_request *req, const char *name);
/* Finds the route for req and calls its handler, or answers 404/405 itself.
 * HEAD falls back to the GET route. The server calls this for every request;
 * exposed so tests and embedders can route a request by hand. Loop thread. */
void http_router_dispatch(const http_router *r, http_request *req);

typedef struct {
    const char *host;           /* e.g. "127.0.0.1" or "::1" */
    int port;                   /* 0 = pick a free port (read it back with http_server_port) */
    int threads;                /* event loops; 0 = number of CPUs */
    size_t max_header_bytes;    /* request line + headers; default 16 KiB -> 431 */
    size_t max_body_bytes;      /* default 4 MiB -> 413 */
    uint32_t header_timeout_ms; /* whole header section must arrive in time; default 10000 -> 408 */
    uint32_t body_timeout_ms;   /* body must arrive in time; default 30000 -> 408 */
    uint32_t idle_timeout_ms;   /* keep-alive idle close; default 60000 */
    size_t max_connections;     /* per loop; extra ones are closed at once; default 20000 */
    size_t stream_high_water;   /* queued response bytes that make http_stream_write
                                   report back-pressure; default 256 KiB */
    http_router *router;        /* required; borrowed, must outlive the server */
    /* Per-loop hooks, run on each loop thread before it serves / after it
     * stopped serving. on_loop_start returns the loop_data pointer for that
     * loop (e.g. its HTTP client). on_loop_stop runs inside the loop once the
     * server is done with it (listener closed, every connection closed and
     * every request ended); it must close the handles it opened on that loop,
     * since the loop thread exits when no handle is left. */
    void *(*on_loop_start)(uv_loop_t *loop, int index, void *ud);
    void (*on_loop_stop)(uv_loop_t *loop, void *loop_data, void *ud);
    /* Optional: the stop deadline passed with requests still open on this
     * loop. Runs on the loop thread; handlers may end their exchanges here
     * (e.g. a last error event on a stream). What is still open
     * HTTP_STOP_FLUSH_MS later is aborted. */
    void (*on_stop_deadline)(uv_loop_t *loop, void *loop_data, void *ud);
    void *hook_ud;
} http_server_config;

/* Fills defaults for every zero field. */
void http_server_config_defaults(http_server_config *cfg);

/* Binds and starts all loop threads. Returns once every loop is listening
 * (so http_server_port is valid) or with an error (CORE_EIO: bind failed). */
core_err http_server_start(const http_server_config *cfg, http_server **out);
int http_server_port(const http_server *s);
/* Graceful stop, callable from any thread or a signal watcher: stop accepting,
 * close idle connections, let in-flight requests and open streams finish for
 * up to deadline_ms, then close whatever is left. Non-blocking. */
void http_server_stop(http_server *s, uint32_t deadline_ms);
/* Blocks until every loop thread has exited, then frees the server. Call it
 * once, after http_server_stop, from a thread that is not a loop thread. */
void http_server_wait(http_server *s);
/* Number of requests currently open across loops (for metrics / shutdown). */
size_t http_server_active_requests(const http_server *s);

/* Request helpers. */
slice_t http_request_header(const http_request *req, const char *name); /* case-insensitive */
/* Value of a query parameter, percent-decoded into the arena; NULL if absent. */
const char *http_request_query(http_request *req, const char *name);
bool http_request_closed(const http_request *req);
void http_request_on_close(http_request *req, http_close_fn fn, void *ud);

/* Adds a response header (copied) before the response starts. Names and values
 * with CR/LF are refused with CORE_EINVAL. */
core_err http_add_header(http_request *req, const char *name, const char *value);

/* Whole responses (end the exchange). Content-Length is set for you.
 * CORE_EINVAL if a response already began; CORE_ECLOSED if the client is gone
 * (the exchange is ended anyway). */
core_err http_respond(http_request *req, int status, const char *content_type, slice_t body);
/* Sends {"error":{"code":code,"message":message,"retryable":retryable}}. */
core_err http_respond_error(http_request *req, int status, const char *code, const char *message,
                            bool retryable);

/* Streaming responses: chunked transfer-encoding (HTTP/1.1) or close-delimited
 * (HTTP/1.0). http_stream_write copies the bytes into the connection's queue
 * and returns CORE_OK, or CORE_EBUSY when the queue is above the high-water
 * mark (the bytes WERE queued; stop producing until on_drain fires), or
 * CORE_ECLOSED when the client is gone. Each write is flushed immediately
 * (TCP_NODELAY is on), so one SSE event per write reaches the client at once. */
/* Sends the status line and headers. CORE_EINVAL if a response already began,
 * CORE_ECLOSED if the client is gone. */
core_err http_stream_begin(http_request *req, int status, const char *content_type);
core_err http_stream_write(http_request *req, slice_t data);
void http_stream_on_drain(http_request *req, http_drain_fn fn, void *ud);
/* Ends the stream and the exchange. */
core_err http_stream_end(http_request *req);
/* Ends an exchange whose client already went away (after on_close). Called on
 * a live connection without a complete response, it aborts the connection. */
void http_request_finish(http_request *req);

#endif
