/*
 * http_client.h - asynchronous HTTP client: libcurl's multi_socket API driven
 * by the same libuv loop that serves requests, so upstream calls never block
 * the loop. One http_client per loop; it keeps connections alive and reuses
 * them, and negotiates HTTP/2 where the upstream offers it over TLS. DNS runs
 * on libcurl's threaded resolver (checked by http_client_global_init).
 *
 * Process set-up: call http_client_global_init() once from main before any
 * thread starts (it runs curl_global_init), and http_client_global_cleanup()
 * at exit after every client is closed.
 *
 * Call lifetime: http_client_start returns a call; exactly one on_done fires for
 * it, always from a later loop iteration (never from inside http_client_start,
 * and never from inside another callback of the same call), also after
 * http_client_cancel (then with CORE_ECANCELED). The call is freed right after
 * on_done returns; do not touch it afterwards. Any public function may be
 * called from inside any callback (they only record the request; the work
 * happens on the loop, outside libcurl's callbacks).
 *
 * Back-pressure: on_data may return HTTP_CLIENT_PAUSE to stop reading the
 * response (the bytes passed in that call WERE consumed); http_client_pause
 * does the same from anywhere. http_client_resume starts reading again; the
 * bytes libcurl held back are delivered from a later loop iteration, in order.
 * The idle timeout does not run while a call is paused.
 *
 * Timeouts give CORE_ETIMEDOUT: connect_timeout_ms (TCP+TLS), then
 * first_byte_timeout_ms (from start until the final response headers), then
 * idle_timeout_ms (silence between body bytes), and total_timeout_ms over all.
 *
 * The response body is handed over exactly as received: no Accept-Encoding is
 * sent and nothing is decompressed. Redirects are not followed. libcurl honours
 * the usual proxy environment variables (https_proxy, no_proxy, ...).
 *
 * Plain-HTTP fast path: a request to http://<IPv4 | [IPv6] | localhost>[:port]
 * with an ordinary method and headers goes over libuv TCP directly (our own
 * HTTP/1.1 client and strict response parser, a keep-alive pool of at most
 * HTTP_CLIENT_MAX_IDLE_CONNECTIONS idle connections) with the same callbacks,
 * timeouts and errors; everything else (https, host names that need DNS,
 * proxies set in the environment) goes through libcurl. AIGW_HTTP_CLIENT=curl
 * in the environment (read when a client is created) forces libcurl. A request
 * that finds its pooled connection closed by the server is sent once more on
 * a fresh connection, only when no byte of a response arrived for it. The
 * fast path sends no Expect and no default Accept/Content-Type headers.
 *
 * Threads: everything on the owning loop's thread, except the global
 * init/cleanup pair (main thread, while no client exists).
 */
#ifndef CORE_HTTP_CLIENT_H
#define CORE_HTTP_CLIENT_H

#include "base.h"
#include "buf.h"

#include <uv.h>

typedef struct http_client http_client;
typedef struct http_client_call http_client_call;

enum { HTTP_CLIENT_CONTINUE = 0, HTTP_CLIENT_PAUSE = 1 };

/* Ceiling on the response header block of one response (names + values). */
#define HTTP_CLIENT_MAX_HEADER_BYTES (64u * 1024u)
/* Idle connections one client keeps for reuse (CURLMOPT_MAXCONNECTS). */
#define HTTP_CLIENT_MAX_IDLE_CONNECTIONS 128

typedef struct {
    int status; /* HTTP status of the final response */
    size_t nheaders;
    const slice_t *names;  /* response header names (lower-cased) */
    const slice_t *values; /* response header values (trimmed) */
} http_client_response;

typedef void (*http_client_headers_fn)(void *ud, const http_client_response *resp);
typedef int (*http_client_data_fn)(void *ud, const char *data, size_t len);
/* err: CORE_OK (complete response received, any status), CORE_ETIMEDOUT,
 * CORE_ECANCELED, CORE_ETOOBIG (response over max_response_bytes, or headers
 * over HTTP_CLIENT_MAX_HEADER_BYTES), CORE_ENOMEM, CORE_EIO (connect/TLS/
 * protocol failure, or the peer closed mid-body; detail in message). message
 * is never NULL ("" on success) and valid only during the callback. */
typedef void (*http_client_done_fn)(void *ud, core_err err, const char *message);

typedef struct {
    const char *method;                /* "GET" (default when NULL), "POST", "HEAD", ... */
    const char *url;                   /* http:// or https:// only */
    const char *const *headers;        /* NULL-terminated "Name: value" strings; copied */
    slice_t body;                      /* copied */
    uint32_t connect_timeout_ms;       /* 0 = default 5000 */
    uint32_t first_byte_timeout_ms;    /* until final response headers; 0 = default 60000 */
    uint32_t idle_timeout_ms;          /* max silence between body bytes; 0 = default 60000 */
    uint32_t total_timeout_ms;         /* 0 = none */
    size_t max_response_bytes;         /* 0 = no ceiling (streaming callers enforce their own) */
    http_client_headers_fn on_headers; /* may be NULL */
    http_client_data_fn on_data;       /* may be NULL: body discarded */
    http_client_done_fn on_done;       /* required */
    void *ud;
} http_client_request;

/* Once per process, from main before threads start. Logs a warning when
 * libcurl lacks an asynchronous resolver (DNS would then block the loop).
 * CORE_EIO if curl_global_init fails. Safe to call more than once. */
core_err http_client_global_init(void);
void http_client_global_cleanup(void);

/* NULL on OOM. The client lives until http_client_close completes. */
http_client *http_client_new(uv_loop_t *loop);
/* Cancels every open call (their on_done fire with CORE_ECANCELED), closes the
 * libuv handles and frees the client once they are closed; on_closed(ud) is
 * then called from the loop (on_closed may be NULL). Call once. */
void http_client_close(http_client *c, void (*on_closed)(void *ud), void *ud);

/* Starts a call. CORE_ENOMEM/CORE_EINVAL on immediate failure (then no
 * callback fires; *out is untouched). CORE_EINVAL also once the client is
 * closing. out may be NULL if the caller never needs to cancel/pause. */
core_err http_client_start(http_client *c, const http_client_request *req, http_client_call **out);
void http_client_pause(http_client_call *call);
void http_client_resume(http_client_call *call);
/* on_done follows from a later loop iteration with CORE_ECANCELED, unless the
 * call's outcome was already decided (then that outcome is reported). */
void http_client_cancel(http_client_call *call);
/* Counters of one client, for tests and diagnostics (loop thread). */
typedef struct {
    uint64_t native_calls;       /* calls carried by the plain-HTTP fast path */
    uint64_t curl_calls;         /* calls carried by libcurl */
    uint64_t connections_opened; /* fast-path TCP connections opened */
    uint64_t reused_connections; /* fast-path requests sent on a pooled connection */
} http_client_stats;
void http_client_get_stats(const http_client *c, http_client_stats *out);

/* Test and fuzz hook: runs the fast path's response parser over the pieces in
 * order (eof: the peer then closed the connection) and appends a canonical
 * digest to summary (per response its "name: value" lines with names as
 * received, then "interim|final STATUS"; the body bytes; then keep-alive and
 * the count of bytes past the message). CORE_OK for one complete response, CORE_EAGAIN when it
 * needs more bytes, CORE_EPARSE/CORE_ETOOBIG/CORE_EIO (cut by eof) otherwise.
 * The digest is the same however the bytes are split. */
core_err http_client_parse_response(const slice_t *pieces, size_t npieces, bool head_request,
                                    bool eof, buf_t *summary);

/* Value of a response header (case-insensitive), valid from on_headers until
 * on_done returns; SLICE_NULL when absent. */
slice_t http_client_header(const http_client_call *call, const char *name);
/* Status of the final response, 0 before its headers arrived. */
int http_client_status(const http_client_call *call);

#endif
