/*
 * hub_api_chat.c - POST /api/chat on the loop: after hub_chat_prepare (store
 * job) it calls aigw's POST /api/generate, translates the gateway's SSE events
 * into the UI message stream as they arrive (back-pressure: aigw is paused
 * while our client's socket is full), and stores the outcome before the
 * final chunks are written, so a client that saw "finish" always finds the
 * message in the history. A client disconnect stops the writing but not the
 * upstream call: it is drained to its usage event so the stored cost is
 * aigw's exact one (see hub_chat.h). Also POST /api/chat/estimate.
 */
#include "hub_alerts.h"
#include "hub_chat.h"
#include "hub_metrics.h"

#include "../core/log.h"

#include <stdio.h>
#include <stdlib.h>

static void chat_persist(hub_call *c);

#define DRAIN_TICK_MS 250

/* Ends a drain at its deadline or when the server stops. */
static void on_drain_tick(uv_timer_t *t)
{
    hub_call *c = t->data;
    hub_chat *chat = c->ud;
    if (!chat->upstream) return;
    uint64_t waited = time_mono_ms() - chat->gone_ms;
    if (waited < (uint64_t)c->app->cfg.abort_drain_ms && !atomic_load(&c->app->stopping)) return;
    chat->drain_cut = true;
    http_client_cancel(chat->upstream);
}

/* Fire-and-forget POST /api/generate/:id/cancel: aigw stops the provider at
 * once and ends our stream with the exact usage so far, so the drain below
 * finishes in milliseconds with aigw's own figures. */
typedef struct {
    char url[700];
    char auth[300];
    const char *headers[3];
} cancel_req;

static void cancel_done(void *ud, core_err err, const char *message)
{
    (void)err;
    (void)message;
    free(ud);
}

static void ask_gateway_to_cancel(hub_call *c)
{
    hub_chat *chat = c->ud;
    if (!chat->gen_id[0]) return; /* no start event yet: the drain deadline applies */
    cancel_req *r = calloc(1, sizeof *r);
    if (!r) return;
    snprintf(r->url, sizeof r->url, "%s/api/generate/%s/cancel", c->app->cfg.gateway_url,
             chat->gen_id);
    snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s", c->app->cfg.gateway_key);
    r->headers[0] = c->app->cfg.gateway_key[0] ? r->auth : NULL;
    http_client_request creq = {
        .method = "POST",
        .url = r->url,
        .headers = r->headers,
        .connect_timeout_ms = 2000,
        .total_timeout_ms = 5000,
        .max_response_bytes = 4096,
        .on_done = cancel_done,
        .ud = r,
    };
    if (http_client_start(c->hl->client, &creq, NULL) != CORE_OK) free(r);
}

/* The client went away: nothing more is written; aigw is asked to stop the
 * generation (it answers with the usage so far), and the stream is read to
 * that end - at most TEAMHUB_ABORT_DRAIN_MS - so the stored cost is aigw's. */
static void client_left(hub_call *c)
{
    hub_chat *chat = c->ud;
    if (chat->client_gone) return;
    chat->client_gone = true;
    chat->gone_ms = time_mono_ms();
    if (!chat->upstream) return;
    if (chat->backpressured) {
        chat->backpressured = false;
        http_client_resume(chat->upstream);
    }
    if (c->app->cfg.abort_drain_ms <= 0) {
        chat->drain_cut = true;
        http_client_cancel(chat->upstream);
        return;
    }
    chat->drain_timer = malloc(sizeof *chat->drain_timer);
    if (!chat->drain_timer || uv_timer_init(c->req->loop, chat->drain_timer) != 0) {
        free(chat->drain_timer);
        chat->drain_timer = NULL;
        chat->drain_cut = true;
        http_client_cancel(chat->upstream);
        return;
    }
    chat->drain_timer->data = c;
    uv_timer_start(chat->drain_timer, on_drain_tick, DRAIN_TICK_MS, DRAIN_TICK_MS);
    ask_gateway_to_cancel(c);
}

/* Writes what the encoder produced; dropped once the client is gone. */
static void flush(hub_call *c)
{
    hub_chat *chat = c->ud;
    if (chat->out.len == 0) return;
    if (!chat->client_gone) {
        core_err err = http_stream_write(c->req, buf_slice(&chat->out));
        if (err == CORE_EBUSY)
            chat->backpressured = true;
        else if (err == CORE_ECLOSED)
            client_left(c);
    }
    buf_reset(&chat->out);
}

static void note_first_token(hub_chat *chat)
{
    if (!chat->first_token_us) chat->first_token_us = time_mono_us();
}

static void set_outcome(hub_chat *chat, const char *status, const char *code, const char *message)
{
    snprintf(chat->status, sizeof chat->status, "%s", status);
    if (code && !chat->error_code[0]) {
        snprintf(chat->error_code, sizeof chat->error_code, "%s", code);
        snprintf(chat->error_message, sizeof chat->error_message, "%s", message ? message : "");
    }
}

static int on_gateway_event(void *ud, const hub_gw_event *ev)
{
    hub_call *c = ud;
    hub_chat *chat = c->ud;
    core_err err = CORE_OK;
    switch (ev->type) {
    case HUB_GW_START:
        if (ev->id.len && ev->id.len < sizeof chat->gen_id) {
            memcpy(chat->gen_id, ev->id.ptr, ev->id.len);
            chat->gen_id[ev->id.len] = '\0';
        }
        break;
    case HUB_GW_KEEPALIVE:
        /* pass the gateway's heartbeat on, so idle-timeout proxies and fetch keep the stream */
        err = buf_append_cstr(&chat->out, ": keep-alive\n\n");
        break;
    case HUB_GW_TEXT:
        note_first_token(chat);
        err = hub_ui_text(&chat->ui, &chat->out, ev->text);
        break;
    case HUB_GW_REASONING:
        note_first_token(chat);
        err = hub_ui_reasoning(&chat->ui, &chat->out, ev->text);
        break;
    case HUB_GW_TOOL_CALL:
        note_first_token(chat);
        err = hub_ui_tool_call(&chat->ui, &chat->out, ev->tool_index, ev->tool_id, ev->tool_name,
                               ev->text);
        break;
    case HUB_GW_USAGE:
        chat->saw_usage = true;
        chat->usage = ev->usage;
        chat->cost_pico = ev->cost_pico;
        chat->cost_estimated = ev->estimated;
        break;
    case HUB_GW_DONE:
        chat->saw_done = true;
        chat->latency_ms = ev->latency_ms;
        chat->ttft_ms = ev->ttft_ms;
        snprintf(chat->finish_reason, sizeof chat->finish_reason, "%.*s",
                 (int)ev->finish_reason.len, ev->finish_reason.ptr);
        break;
    case HUB_GW_ERROR: {
        char code[48], message[300];
        snprintf(code, sizeof code, "%.*s", (int)ev->error_code.len, ev->error_code.ptr);
        snprintf(message, sizeof message, "%.*s", (int)ev->text.len, ev->text.ptr);
        set_outcome(chat, "partial", code, message);
        break;
    }
    }
    if (err == CORE_ETOOBIG) {
        set_outcome(chat, "partial", "response_too_large", "the answer exceeded the size limit");
        return 1;
    }
    flush(c);
    return 0;
}

/* ---- upstream callbacks ---- */

static void on_upstream_headers(void *ud, const http_client_response *resp)
{
    hub_call *c = ud;
    hub_chat *chat = c->ud;
    chat->upstream_status = resp->status;
    if (resp->status != 200) {
        chat->state = HUB_CHAT_REJECTED;
        return;
    }
    chat->state = HUB_CHAT_STREAMING;
    if (!chat->client_gone) {
        http_add_header(c->req, "Cache-Control", "no-cache");
        http_add_header(c->req, "X-Accel-Buffering", "no");
        http_add_header(c->req, "x-vercel-ai-ui-message-stream", "v1");
        hub_call_apply_headers(c); /* RateLimit-* from admission */
        if (http_stream_begin(c->req, 200, "text/event-stream") != CORE_OK) client_left(c);
    }
    json_t *meta = hub_chat_start_metadata(chat);
    hub_ui_start(&chat->ui, &chat->out, chat->assistant_message_id, meta);
    json_decref(meta);
    flush(c);
}

static int on_upstream_data(void *ud, const char *data, size_t len)
{
    hub_call *c = ud;
    hub_chat *chat = c->ud;
    if (chat->state == HUB_CHAT_REJECTED) {
        buf_append(&chat->error_body, data, len); /* past the ceiling the rest is dropped */
        return HTTP_CLIENT_CONTINUE;
    }
    core_err err = hub_gw_stream_feed(&chat->reader, data, len);
    if (err && err != CORE_ECANCELED) {
        set_outcome(chat, "partial", "gateway_error", "the gateway stream was malformed");
        http_client_cancel(chat->upstream);
        return HTTP_CLIENT_CONTINUE;
    }
    if (err == CORE_ECANCELED) http_client_cancel(chat->upstream);
    return chat->backpressured && !chat->client_gone ? HTTP_CLIENT_PAUSE : HTTP_CLIENT_CONTINUE;
}

static void on_client_drain(http_request *req, void *ud)
{
    hub_call *c = ud;
    hub_chat *chat = c->ud;
    if (chat->backpressured && chat->upstream) {
        chat->backpressured = false;
        http_client_resume(chat->upstream);
    }
}

static void on_client_close(http_request *req, void *ud)
{
    (void)req;
    client_left(ud);
}

/* Cost of what was produced when the gateway never reported usage. Like
 * aigw, a call that produced nothing costs nothing. */
static void estimate_usage(hub_chat *chat)
{
    slice_t content = hub_ui_content(&chat->ui);
    memset(&chat->usage, 0, sizeof chat->usage);
    chat->cost_estimated = true;
    chat->cost_pico = 0;
    if (content.len == 0 && !chat->ui.tools[0].used) return;
    chat->usage.input = chat->input_estimate;
    chat->usage.cached_input = 0;
    chat->usage.output = hub_tokens_estimate(content);
    chat->usage.reasoning = 0;
    chat->cost_estimated = true;
    chat->cost_pico = 0;
    if (chat->have_price) {
        int64_t elapsed_ms = (int64_t)((time_mono_us() - chat->started_us) / 1000);
        if (money_cost(&chat->price, &chat->usage, elapsed_ms, &chat->cost_pico) != CORE_OK)
            chat->cost_pico = 0;
    }
}

static void on_upstream_done(void *ud, core_err err, const char *message)
{
    hub_call *c = ud;
    hub_chat *chat = c->ud;
    chat->upstream = NULL; /* freed by the client after this returns */
    if (chat->drain_timer) uv_timer_stop(chat->drain_timer);
    uint64_t now_us = time_mono_us();
    if (chat->latency_ms < 0) chat->latency_ms = (int64_t)((now_us - chat->started_us) / 1000);
    if (chat->ttft_ms < 0 && chat->first_token_us)
        chat->ttft_ms = (int64_t)((chat->first_token_us - chat->started_us) / 1000);

    if (chat->state == HUB_CHAT_REJECTED) {
        json_error_t jerr;
        json_t *doc = json_loadb(chat->error_body.data ? chat->error_body.data : "",
                                 chat->error_body.len, 0, &jerr);
        json_t *error = json_object_get(doc, "error");
        const char *code = json_string_value(json_object_get(error, "code"));
        const char *msg = json_string_value(json_object_get(error, "message"));
        char fallback[120];
        snprintf(fallback, sizeof fallback, "the gateway answered HTTP %d", chat->upstream_status);
        set_outcome(chat, "error", code ? code : "gateway_error", msg ? msg : fallback);
        json_decref(doc);
    } else if (chat->client_gone) {
        set_outcome(chat, hub_ui_content(&chat->ui).len ? "partial" : "error", "client_closed",
                    "the client disconnected");
    } else if (err != CORE_OK && err != CORE_ECANCELED) {
        set_outcome(chat, "partial", err == CORE_ETIMEDOUT ? "timeout" : "gateway_error",
                    message ? message : core_strerror(err));
    } else if (chat->state == HUB_CHAT_STREAMING) {
        bool truncated = false;
        hub_gw_stream_finish(&chat->reader, &truncated);
        if (!chat->saw_done && !chat->error_code[0])
            set_outcome(chat, "partial", "upstream_truncated",
                        "the gateway stream ended before the answer was complete");
    } else if (chat->state == HUB_CHAT_CONNECTING) {
        set_outcome(chat, "error", "gateway_error",
                    message ? message : "no answer from the gateway");
    }
    if (!chat->status[0]) snprintf(chat->status, sizeof chat->status, "complete");
    if (strcmp(chat->status, "partial") == 0 && hub_ui_content(&chat->ui).len == 0 &&
        !chat->ui.tools[0].used)
        snprintf(chat->status, sizeof chat->status, "error"); /* nothing was produced */
    if (!chat->saw_usage) estimate_usage(chat);
    chat_persist(c);
}

/* ---- after persistence: finish the exchange ---- */

static void suggest_alternative(hub_call *c, json_t *extra)
{
    hub_chat *chat = c->ud;
    json_t *alts = c->registry ? hub_policy_alternatives(c->registry, NULL, NULL) : json_array();
    size_t i;
    json_t *alt;
    char current[HUB_MODEL_REF_MAX];
    snprintf(current, sizeof current, "%s/%s", chat->provider, chat->model);
    json_array_foreach(alts, i, alt)
    {
        if (strcmp(json_string_value(alt), current) != 0) {
            json_object_set(extra, "suggestion", alt);
            break;
        }
    }
    json_decref(alts);
}

static void chat_finish(hub_call *c)
{
    hub_chat *chat = c->ud;
    chat->state = HUB_CHAT_ENDED;
    if (chat->client_gone || http_request_closed(c->req)) {
        http_request_finish(c->req);
        hub_call_free(c);
        return;
    }
    if (chat->ui.state == HUB_UI_IDLE) {
        /* refused before the first byte: a plain JSON error, stream never opened */
        hub_err herr = HUB_ERR_GATEWAY;
        if (strcmp(chat->error_code, "model_unavailable") == 0)
            herr = HUB_ERR_MODEL_UNAVAILABLE;
        else if (strcmp(chat->error_code, "model_not_found") == 0)
            herr = HUB_ERR_MODEL_NOT_FOUND;
        else if (strcmp(chat->error_code, "rate_limited") == 0)
            herr = HUB_ERR_RATE_LIMITED;
        else if (strcmp(chat->error_code, "budget_exceeded") == 0)
            herr = HUB_ERR_BUDGET_EXCEEDED;
        json_t *extra = json_pack("{s:s,s:s,s:s}", "gateway_code", chat->error_code, "provider",
                                  chat->provider, "model", chat->model);
        suggest_alternative(c, extra);
        const char *suggestion = json_string_value(json_object_get(extra, "suggestion"));
        json_decref(c->resp);
        c->resp = NULL;
        if (suggestion)
            hub_fail_extra(c, herr, extra, "%s/%s: %s; try %s", chat->provider, chat->model,
                           chat->error_message, suggestion);
        else
            hub_fail_extra(c, herr, extra, "%s/%s: %s", chat->provider, chat->model,
                           chat->error_message);
        hub_call_respond(c);
        return;
    }
    json_t *meta = hub_chat_finish_metadata(chat);
    if (strcmp(chat->status, "complete") == 0) {
        hub_ui_finish(&chat->ui, &chat->out, meta);
    } else {
        char text[400];
        snprintf(text, sizeof text, "%s: %s (the partial answer was kept)", chat->error_code,
                 chat->error_message);
        hub_ui_fail(&chat->ui, &chat->out, text, meta);
    }
    json_decref(meta);
    flush(c);
    hub_metrics_request(200, chat->error_code[0] ? chat->error_code : NULL,
                        (double)(time_mono_us() - c->req->start_us) / 1e6);
    if (chat->client_gone)
        http_request_finish(c->req);
    else
        http_stream_end(c->req);
    hub_call_free(c);
}

static void persist_done(core_err err, void *ud)
{
    hub_call *c = ud;
    hub_chat *chat = c->ud;
    if (err)
        log_msgf(LOG_ERROR, c->req->id, "chat: storing the answer failed: %s", core_strerror(err));
    else
        hub_alerts_deliver(c->hl, &chat->alerts);
    hub_metrics_chat(chat->org_id, chat->provider, chat->model, chat->status, &chat->usage,
                     chat->cost_pico, chat->ttft_ms);
    chat_finish(c);
}

/* A transaction that lost a lock conflict (CORE_EBUSY) was rolled back and
 * can simply run again. */
#define CHAT_TX_ATTEMPTS 3

static core_err persist_job(store_conn *conn, void *ud)
{
    hub_call *c = ud;
    core_err err = CORE_EBUSY;
    for (int i = 0; i < CHAT_TX_ATTEMPTS && err == CORE_EBUSY; i++)
        err = hub_chat_persist(c, conn);
    if (!err) hub_chat_charge_tokens(c->ud); /* may ask Redis: outside the transaction */
    return err;
}

static void chat_persist(hub_call *c)
{
    hub_chat *chat = c->ud;
    chat->state = HUB_CHAT_PERSISTING;
    if (store_submit(c->app->db, c->req->loop, persist_job, persist_done, c) != CORE_OK) {
        /* the hold expires and is reclaimed (HUB_BUDGET_HOLD_TTL_MS) */
        log_msgf(LOG_ERROR, c->req->id, "chat: store queue full, answer not stored");
        chat_finish(c);
    }
}

/* ---- a chat that ends before the gateway is called ---- */

static core_err release_job(store_conn *conn, void *ud)
{
    core_err err = CORE_EBUSY;
    for (int i = 0; i < CHAT_TX_ATTEMPTS && err == CORE_EBUSY; i++)
        err = hub_chat_release(ud, conn);
    return err;
}

static void release_done(core_err err, void *ud)
{
    hub_call *c = ud;
    if (err)
        log_msgf(LOG_WARN, c->req->id, "chat: releasing the budget hold failed: %s",
                 core_strerror(err));
    http_request_finish(c->req);
    hub_call_free(c);
}

/* ---- start ---- */

static void chat_start_upstream(hub_call *c)
{
    hub_chat *chat = c->ud;
    if (chat->client_gone || http_request_closed(c->req)) {
        /* the user message is stored; nothing was asked of the gateway, so the
         * hold goes back (when the queue is full, it expires and is reclaimed) */
        chat->state = HUB_CHAT_ENDED;
        if (store_submit(c->app->db, c->req->loop, release_job, release_done, c) != CORE_OK)
            release_done(CORE_EBUSY, c);
        return;
    }
    chat->state = HUB_CHAT_CONNECTING;
    chat->started_us = time_mono_us();
    chat->latency_ms = chat->ttft_ms = -1;
    hub_gw_stream_init(&chat->reader, on_gateway_event, c);
    chat->reader_ready = true;

    char url[600], auth[300];
    snprintf(url, sizeof url, "%s/api/generate", c->app->cfg.gateway_url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->app->cfg.gateway_key);
    const char *headers[] = {"Content-Type: application/json", "Accept: text/event-stream", auth,
                             NULL};
    if (!c->app->cfg.gateway_key[0]) headers[2] = NULL;
    http_client_request creq = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = slice_from_cstr(chat->gateway_body),
        .connect_timeout_ms = 5000,
        .first_byte_timeout_ms = 120000,
        .idle_timeout_ms = 120000,
        .on_headers = on_upstream_headers,
        .on_data = on_upstream_data,
        .on_done = on_upstream_done,
        .ud = c,
    };
    http_stream_on_drain(c->req, on_client_drain, c);
    core_err err = http_client_start(c->hl->client, &creq, &chat->upstream);
    if (err) {
        chat->upstream = NULL;
        set_outcome(chat, "error", "gateway_error", "the gateway request could not start");
        chat->latency_ms = 0;
        estimate_usage(chat);
        chat_persist(c);
    }
}

/* hub_chat_prepare answers through the framework; on success it leaves a 200
 * without a body, which is where the stream takes over. */
static core_err chat_prepare_work(hub_call *c, store_conn *conn)
{
    core_err err = CORE_EBUSY;
    for (int i = 0; i < CHAT_TX_ATTEMPTS && err == CORE_EBUSY; i++)
        err = hub_chat_prepare(c, conn);
    if (!err && c->err == HUB_OK && c->status == 200) c->next = chat_start_upstream;
    return err;
}

static void handle_chat_entry(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    hub_chat *chat = calloc(1, sizeof *chat);
    if (!chat) {
        hub_fail(c, HUB_ERR_INTERNAL, "out of memory");
        hub_call_respond(c);
        return;
    }
    hub_ui_init(&chat->ui, HUB_CHAT_MAX_CONTENT);
    buf_init(&chat->out, 0);
    buf_init(&chat->error_body, HUB_CHAT_MAX_ERRBODY);
    c->ud = chat;
    c->ud_free = hub_chat_free;
    if (!hub_chat_parse_request(c, chat)) {
        hub_call_respond(c);
        return;
    }
    http_request_on_close(req, on_client_close, c);
    hub_call_submit_with_registry(c, chat_prepare_work);
}

static core_err estimate_work(hub_call *c, store_conn *conn)
{
    return hub_chat_estimate(c, conn);
}

static void handle_estimate(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (c) hub_call_submit_with_registry(c, estimate_work);
}

core_err hub_routes_chat(http_router *r)
{
    core_err err = http_router_add(r, "POST", "/api/chat", handle_chat_entry, NULL);
    if (!err) err = http_router_add(r, "POST", "/api/chat/estimate", handle_estimate, NULL);
    return err;
}
