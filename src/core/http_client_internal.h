/*
 * http_client_internal.h - what the files of the HTTP client share (internal
 * to src/core/http_client*.c; nothing outside them includes it):
 *   http_client.c          - public API, call bookkeeping, deadlines, the
 *                            deferred-work idle and client lifetime;
 *   http_client_curl.c     - the libcurl multi_socket path;
 *   http_client_native.c   - the plain-HTTP fast path (pool + request writer);
 *   http_response_parser.c - the fast path's strict response parser.
 * The structs below are shared state; each field is used by the file that
 * owns its idea. Threads: everything on the owning loop's thread.
 */
#ifndef CORE_HTTP_CLIENT_INTERNAL_H
#define CORE_HTTP_CLIENT_INTERNAL_H

#include "http_client.h"
#include "http_response_parser.h"

#include <curl/curl.h>
#include <netinet/in.h>

enum {
    EASY_POOL_MAX = 64, /* idle easy handles kept for reuse */
    DEFAULT_CONNECT_TIMEOUT_MS = 5000,
    DEFAULT_FIRST_BYTE_TIMEOUT_MS = 60000,
    DEFAULT_IDLE_TIMEOUT_MS = 60000,
    NATIVE_READ_BUFFER_BYTES = 65536, /* one per client, shared by its connections */
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
    http_resp_parser parser;
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

/* ---- http_client.c: shared call bookkeeping ------------------------------- */

/* Queues a call on q (no-op when already there) / takes the oldest. */
void http_client_queue_push(call_queue *q, http_client_call *call);
http_client_call *http_client_queue_pop(call_queue *q);
/* Makes on_idle run at the top of a later loop iteration. */
void http_client_wake_idle(http_client *c);
/* A handle counted in open_handles went through its close callback; frees
 * the client when it was the last one after teardown. */
void http_client_handle_closed(http_client *c);
/* Re-arms the call's deadline timer for whatever deadline applies now. */
void http_client_rearm_deadline(http_client_call *call);
/* Decides the outcome of a call once; on_done follows from on_idle. */
__attribute__((format(printf, 3, 4))) void
http_client_finish_call(http_client_call *call, core_err err, const char *fmt, ...);
/* Forgets the headers of an interim response. */
void http_client_reset_response_headers(http_client_call *call);
/* Stores one response header (name lower-cased); CORE_ETOOBIG over
 * HTTP_CLIENT_MAX_HEADER_BYTES, CORE_ENOMEM. */
core_err http_client_store_header(http_client_call *call, slice_t name, slice_t value);
/* Builds names/values once the final headers are in. CORE_ENOMEM. */
core_err http_client_publish_headers(http_client_call *call);
/* Whether a NULL-terminated "Name: value" list has the header name. */
bool http_client_has_header(const char *const *headers, const char *name);

/* ---- http_client_curl.c: the libcurl path --------------------------------- */

/* Creates the multi and the libcurl timer handle (not counted in
 * open_handles here). CORE_ENOMEM when the multi cannot be made. */
core_err http_client_curl_init(http_client *c);
/* Gives the call an easy handle configured for req. CORE_ENOMEM/CORE_EINVAL;
 * whatever was set up is released by http_client_curl_free. */
core_err http_client_curl_prepare(http_client_call *call, const http_client_request *req);
/* Adds the calls of start_queue to the multi. */
void http_client_curl_add_queued(http_client *c);
/* Un-pauses a libcurl call taken off resume_queue. */
void http_client_curl_resume(http_client_call *call);
/* Takes the call's easy handle out of the multi (before on_done). */
void http_client_curl_detach(http_client_call *call);
/* Releases the call's easy handle and header list. */
void http_client_curl_free(http_client_call *call);
/* Teardown, first step: stop watching libcurl's sockets. */
void http_client_curl_stop_watching(http_client *c);
/* Teardown, after torn_down is set: release the easy pool and the multi. */
void http_client_curl_cleanup(http_client *c);

/* ---- http_client_native.c: the plain-HTTP fast path ----------------------- */

/* AIGW_HTTP_CLIENT=curl or a proxy setting in the environment forbid it. */
bool http_client_native_allowed_by_env(void);
/* Builds the request bytes when the fast path can carry the request;
 * CORE_EAGAIN when libcurl must (the call is left as it was). */
core_err http_client_native_prepare(http_client_call *call, const http_client_request *req);
/* Sends the call on an idle pooled connection to its host, or a new one. */
void http_client_native_dispatch(http_client_call *call);
/* Before on_done: the connection goes back to the pool or is closed. */
void http_client_native_release(http_client_call *call);
/* resume_queue for a plain-HTTP call: held bytes first, then the socket. */
void http_client_native_resume(http_client_call *call);
/* Stops reading the call's connection (owner paused). */
void http_client_native_pause(http_client_call *call);
/* Releases the call's request, held bytes and parser. */
void http_client_native_free(http_client_call *call);
/* Teardown: closes every pooled connection. */
void http_client_native_close_idle(http_client *c);

#endif
