/*
 * http_internal.h - what the HTTP server's own files share: the connection,
 * loop and server structures (http_server.c owns their lifecycle), the
 * connection-lifecycle calls http_response.c makes, the response-writing calls
 * http_server.c makes, and the percent-decoding helper http_router.c uses.
 * Not part of the public HTTP API; nothing outside src/core/http_*.c includes
 * it. Every function here runs on the loop thread of the connection.
 */
#ifndef CORE_HTTP_INTERNAL_H
#define CORE_HTTP_INTERNAL_H

#include "http_parser.h"
#include "http_server.h"

#include <stdatomic.h>
#include <uv.h>

typedef struct http_loop http_loop;

typedef enum {
    HTTP_PHASE_WAIT,
    HTTP_PHASE_HEAD,
    HTTP_PHASE_BODY,
    HTTP_PHASE_HANDLING,
    HTTP_PHASE_LINGER
} http_conn_phase;

struct http_conn {
    uv_tcp_t tcp; /* first: handle->data is also set, but keep the layout obvious */
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    http_loop *lp;
    http_conn *prev, *next;
    http_conn_phase phase;
    int handles_open;

    buf_t in;      /* bytes of the request being parsed / handled */
    buf_t pending; /* bytes read while a request is handled (pipelined or junk) */
    buf_t out;     /* scratch for response heads and error bodies */
    buf_t resp_headers;
    http_parser parser;
    http_request req;
    http_header inline_headers[HTTP_INLINE_HEADERS]; /* req.headers when few */

    bool req_active;
    bool closing;   /* uv_close issued */
    bool peer_gone; /* writes fail from now on */
    bool close_notified;
    bool in_on_close;
    bool in_process;
    bool keep_alive;
    bool read_paused;
    bool sent_continue;
    bool is_head;
    bool response_started;
    bool streaming;
    bool stream_chunked;
    bool drain_wanted;

    unsigned writes_in_flight;
    size_t queued_bytes;
    http_close_fn on_close;
    void *on_close_ud;
    http_drain_fn on_drain;
    void *on_drain_ud;
    int status;
    size_t body_bytes;
    char peer[64];
};

struct http_loop {
    http_server *server;
    int index;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wakeup;
    uv_timer_t deadline_timer;
    bool deadline_warned; /* on_stop_deadline ran; the next firing aborts */
    int listen_fd;
    void *loop_data;
    http_conn *conns;
    size_t nconns;
    bool stopping;
    bool finished;
    bool hooks_started;
    bool loop_ok; /* uv_loop_init succeeded: the wakeup handle exists */
    uint64_t rng;
    char *read_buf; /* READ_CHUNK bytes shared by every connection of the loop */
};

struct http_server {
    http_server_config cfg;
    int nloops;
    http_loop *loops;
    int port;
    bool access_log;
    _Atomic size_t active_requests;
    _Atomic bool stop_requested;
    _Atomic uint32_t stop_deadline_ms;
    uv_mutex_t start_lock;
    uv_cond_t start_cond;
    int loops_ready;
    core_err start_err;
};

/* ---- http_server.c: connection lifecycle ------------------------------- */

/* Writes a fresh request id ("req_" + 26 chars, NUL-terminated) into out,
 * which holds at least 31 bytes. */
void http_make_request_id(http_loop *lp, char *out);

/* Closes both handles of c (idempotent); memory goes once both are closed and
 * no request is active. */
void http_conn_close(http_conn *c);

/* The peer is unusable: later writes fail with CORE_ECLOSED, then close. */
void http_conn_abort(http_conn *c);

/* Ends the active exchange: frees the request, then serves the next pipelined
 * request, waits for one, or winds the connection down. No-op if none. */
void http_exchange_end(http_conn *c);

void http_conn_start_reading(http_conn *c);

/* The connection timer's callback (header, body, idle and linger timeouts). */
void http_conn_on_timer(uv_timer_t *t);

/* ---- http_response.c: writing ------------------------------------------ */

/* Writes bufs in order, copying only what the kernel did not take at once.
 * CORE_ECLOSED if the connection is already gone or the write fails, and
 * CORE_ENOMEM if the copy cannot be allocated; both failures abort c. */
core_err http_conn_send(http_conn *c, const uv_buf_t *bufs, unsigned nbufs);

/* Answers with a JSON error the server produces itself, then closes. */
void http_send_error_and_close(http_conn *c, int status, const char *message);

/* Everything for c has been written: half-close and drain before closing. */
void http_conn_begin_linger(http_conn *c);

/* ---- http_server.c: request helpers for http_router.c ------------------ */

/* Percent-decodes s ('+' as space when form) into a NUL-terminated copy in the
 * request arena; malformed escapes are kept literally. NULL on arena OOM.
 * Loop thread of req. */
char *http_decode_into_arena(http_request *req, slice_t s, bool form, size_t *len_out);

#endif
