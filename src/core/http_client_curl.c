/*
 * http_client_curl.c - the HTTP client's libcurl path: libcurl multi_socket
 * driven by libuv (see http_client.h; the shared bookkeeping that decides
 * when the work below runs is in http_client.c).
 *
 * libcurl tells us which sockets to watch (on_curl_socket -> one uv_poll_t
 * each) and when to wake it up (on_curl_timer -> one uv_timer_t); we hand the
 * readiness back with curl_multi_socket_action and collect finished transfers
 * with curl_multi_info_read.
 *
 * libcurl forbids multi-level calls (add/remove handle) from inside its
 * callbacks, so adding (http_client_curl_add_queued), un-pausing
 * (http_client_curl_resume) and removing (http_client_curl_detach) are only
 * called from the client's idle, outside every libcurl callback.
 *
 * Pausing never calls libcurl: a paused call answers the next write callback
 * with CURL_WRITEFUNC_PAUSE, which makes libcurl keep those bytes and stop
 * reading the socket until we un-pause it.
 *
 * Easy handles are pooled per client (curl_easy_reset on release, every
 * option re-applied on reuse): curl_easy_init/cleanup per call cost more than
 * the rest of a small proxied exchange. The receive buffer is kept small
 * (CURLOPT_BUFFERSIZE) because a long-lived stream holds it for its lifetime.
 */
#include "http_client_internal.h"

#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    RECEIVE_BUFFER_BYTES = 8192, /* per transfer; libcurl's default is 16 KiB */
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

/* ---- libcurl callbacks of one transfer ------------------------------------ */

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
        http_client_reset_response_headers(call); /* a new response: 100-continue came first */
        call->status = parse_status_line(line);
        if (!call->status) {
            http_client_finish_call(call, CORE_EIO, "malformed status line");
            return 0;
        }
        return len;
    }
    if (line.len == 0) {
        if (call->status >= 100 && call->status < 200) return len; /* interim: wait for more */
        core_err err = http_client_publish_headers(call);
        if (err) {
            http_client_finish_call(call, err, "out of memory for response headers");
            return 0;
        }
        call->headers_done = true;
        call->last_activity_ms = uv_now(call->client->loop);
        http_client_rearm_deadline(call);
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
    core_err err = http_client_store_header(call, name, value);
    if (err) {
        if (err == CORE_ETOOBIG)
            http_client_finish_call(call, err, "response headers over %u bytes",
                                    HTTP_CLIENT_MAX_HEADER_BYTES);
        else
            http_client_finish_call(call, err, "out of memory for response headers");
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
        http_client_finish_call(call, CORE_ETOOBIG, "response body over %zu bytes",
                                call->max_response_bytes);
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
            http_client_finish_call(call, CORE_OK, "%s", "");
        else
            http_client_finish_call(call, core_err_from_curl(rc), "%s",
                                    call->curl_error[0] ? call->curl_error
                                                        : curl_easy_strerror(rc));
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
    http_client_handle_closed(c);
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

/* ---- easy handles and the calls' way through the multi ------------------- */

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

void http_client_curl_add_queued(http_client *c)
{
    http_client_call *call;
    while ((call = http_client_queue_pop(&c->start_queue))) {
        if (call->state != CALL_QUEUED) continue; /* cancelled before it started */
        CURLMcode mc = curl_multi_add_handle(c->multi, call->easy);
        if (mc != CURLM_OK) {
            http_client_finish_call(call, mc == CURLM_OUT_OF_MEMORY ? CORE_ENOMEM : CORE_EIO, "%s",
                                    curl_multi_strerror(mc));
            continue;
        }
        call->in_multi = true;
        call->state = CALL_RUNNING;
    }
}

void http_client_curl_resume(http_client_call *call)
{
    if (call->state != CALL_RUNNING || call->user_paused || !call->curl_paused) return;
    call->curl_paused = false;
    /* May deliver the held-back bytes right here, through on_curl_write. */
    CURLcode rc = curl_easy_pause(call->easy, CURLPAUSE_CONT);
    if (rc != CURLE_OK)
        http_client_finish_call(call, core_err_from_curl(rc), "resume failed: %s",
                                curl_easy_strerror(rc));
}

void http_client_curl_detach(http_client_call *call)
{
    if (!call->in_multi) return;
    curl_multi_remove_handle(call->client->multi, call->easy);
    call->in_multi = false;
}

void http_client_curl_free(http_client_call *call)
{
    if (call->easy) easy_release(call->client, call->easy);
    curl_slist_free_all(call->request_headers);
}

/* Stop watching before libcurl closes the sockets in its connection cache;
 * the callbacks ignore what cleanup tells them once torn_down is set. */
void http_client_curl_stop_watching(http_client *c)
{
    while (c->watches) {
        curl_multi_assign(c->multi, c->watches->fd, NULL);
        close_watch(c, c->watches);
    }
}

void http_client_curl_cleanup(http_client *c)
{
    while (c->easy_pooled)
        curl_easy_cleanup(c->easy_pool[--c->easy_pooled]);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
}

core_err http_client_curl_init(http_client *c)
{
    c->multi = curl_multi_init();
    if (!c->multi) return CORE_ENOMEM;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_CLIENT_MAX_IDLE_CONNECTIONS);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    uv_timer_init(c->loop, &c->curl_timer);
    c->curl_timer.data = c;
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
    if (!http_client_has_header(req->headers, "Expect")) {
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

core_err http_client_curl_prepare(http_client_call *call, const http_client_request *req)
{
    call->easy = easy_acquire(call->client);
    return call->easy ? configure_easy(call, req) : CORE_ENOMEM;
}
