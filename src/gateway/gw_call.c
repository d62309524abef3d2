/*
 * gw_call.c - the call engine (see gw_call.h for the state machine). It owns
 * the upstream attempt (HTTP via an adapter, or the in-process simulator),
 * the retry/fallback decisions, usage and cost accounting, back-pressure
 * between the client socket and the upstream, cancellation when the client
 * leaves, and the request deadline.
 */
#include "gw_call.h"

#include "../core/log.h"
#include "provider_simulator.h"

#include <stdio.h>
#include <stdlib.h>

#define GW_MAX_OUTPUT (64u << 20) /* accumulated text per call */

/* Call ids have random_id's shape ("<prefix>" + 10 chars of ms time + 16
 * random chars) but come from a per-thread xorshift generator seeded once
 * from getrandom: they must be unique, not secret, and a getrandom syscall
 * per request showed up in profiles. */
static void make_call_id(const char *prefix, char *out, size_t outsz)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    static _Thread_local uint64_t state;
    size_t plen = strlen(prefix);
    if (outsz < plen + 27) {
        if (outsz) out[0] = '\0';
        return;
    }
    if (!state && (random_bytes(&state, sizeof state) != CORE_OK || !state))
        state = time_mono_us() | 1;
    memcpy(out, prefix, plen);
    char *p = out + plen;
    uint64_t ms = (uint64_t)time_wall_ms();
    for (int i = 9; i >= 0; i--) {
        p[i] = alphabet[ms & 31];
        ms >>= 5;
    }
    for (int half = 0; half < 2; half++) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint64_t r = state * 0x2545F4914F6CDD1DULL;
        for (int i = 0; i < 8; i++)
            p[10 + half * 8 + i] = alphabet[(r >> (i * 5)) & 31];
    }
    p[26] = '\0';
}

static void call_next(gw_call *c);
static void attempt_start(gw_call *c);
static void call_unref(gw_call *c);

/* ------------------------------------------------------------------ lifetime */

/* ------------------------------------------------------------------ lifetime (cont.) */

static void on_handle_closed(uv_handle_t *h)
{
    gw_call *c = h->data;
    if (--c->open_handles > 0) return;
    gw_call_index_remove(c);
    if (c->prev_on_loop)
        c->prev_on_loop->next_on_loop = c->next_on_loop;
    else
        c->lp->calls = c->next_on_loop;
    if (c->next_on_loop) c->next_on_loop->prev_on_loop = c->prev_on_loop;
    buf_free(&c->body);
    buf_free(&c->text);
    buf_free(&c->reasoning);
    buf_free(&c->out);
    for (int i = 0; i < c->ntools; i++)
        buf_free(&c->tools[i].args);
    free(c->tools);
    gw_request_release(&c->pr.req);
    gw_app_caller_release(&c->caller);
    arena_free(&c->arena);
    free(c);
}

static void call_unref(gw_call *c)
{
    if (--c->refs > 0) return;
    c->open_handles = 3;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->deadline, on_handle_closed);
    uv_close((uv_handle_t *)&c->keepalive, on_handle_closed);
}

/* Ends the HTTP side of the call (the response is complete or the client is
 * gone) and drops its reference. */
static void http_side_done(gw_call *c)
{
    uv_timer_stop(&c->keepalive);
    uv_timer_stop(&c->deadline);
    if (!c->http) return;
    c->http = NULL;
    call_unref(c);
}

/* ------------------------------------------------------------------ output helpers */

void gw_call_flush(gw_call *c)
{
    if (c->out.len == 0) return;
    gw_call_write(c, buf_slice(&c->out));
    buf_reset(&c->out);
}

void gw_call_write(gw_call *c, slice_t data)
{
    if (!c->http || c->client_gone) return;
    core_err err = http_stream_write(c->http, data);
    c->last_write_ms = time_mono_ms();
    if (err == CORE_EBUSY) c->want_pause = true;
}

void gw_call_end_stream(gw_call *c)
{
    gw_call_flush(c);
    if (!c->http) return;
    http_request *req = c->http;
    if (c->client_gone)
        http_request_finish(req);
    else
        http_stream_end(req);
    http_side_done(c);
}

void gw_call_respond_error(gw_call *c, int status, gw_err err, const char *msg, bool retryable,
                           int64_t retry_after_ms)
{
    if (!c->http) return;
    http_request *req = c->http;
    c->http_status = status;
    if (retry_after_ms >= 0 && (status == 429 || status == 503)) {
        char ra[32];
        snprintf(ra, sizeof ra, "%lld", (long long)((retry_after_ms + 999) / 1000));
        http_add_header(req, "Retry-After", ra);
        snprintf(ra, sizeof ra, "%lld", (long long)retry_after_ms);
        http_add_header(req, "retry-after-ms", ra);
    }
    if (c->client_gone) {
        http_request_finish(req);
    } else if (c->sink == &gw_sink_openai_json || c->sink == &gw_sink_openai_stream) {
        /* OpenAI error shape: message, type, param, code. */
        /* OpenAI's error types, which SDKs map to their exception classes. */
        const char *type = status >= 500   ? "server_error"
                           : status == 429 ? "rate_limit_error"
                           : status == 401 ? "authentication_error"
                           : status == 403 ? "permission_error"
                           : status == 402 ? "insufficient_quota"
                                           : "invalid_request_error";
        json_t *j = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type", type,
                              "param", "code", gw_err_code(err));
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        http_respond(req, status, "application/json", slice_from_cstr(s ? s : "{}"));
        free(s);
        json_decref(j);
    } else {
        http_respond_error(req, status, gw_err_code(err), msg, retryable);
    }
    http_side_done(c);
}

void gw_call_respond_body(gw_call *c, int status, const char *content_type, slice_t body)
{
    if (!c->http) return;
    http_request *req = c->http;
    c->http_status = status;
    if (c->client_gone)
        http_request_finish(req);
    else
        http_respond(req, status, content_type, body);
    http_side_done(c);
}

const char *gw_call_finish_name(const gw_call *c)
{
    if (c->cancel_requested) return "cancelled";
    if (c->have_error) return "error";
    return gw_finish_name(c->have_finish ? c->finish : GW_FIN_STOP);
}

/* ------------------------------------------------------------------ accounting */

static void reset_output(gw_call *c)
{
    buf_reset(&c->text);
    buf_reset(&c->reasoning);
    for (int i = 0; i < c->ntools; i++)
        buf_free(&c->tools[i].args);
    c->ntools = 0;
    memset(&c->usage, 0, sizeof c->usage);
    c->usage.provider_cost_pico = -1;
    c->have_usage = c->have_finish = c->have_error = false;
    c->err = GW_OK;
    c->err_msg[0] = '\0';
    c->err_retry_after_ms = -1;
    c->err_status = 0;
    c->actual_model[0] = '\0';
}

/* Final tokens and exact cost of the answer. */
static void settle_cost(gw_call *c)
{
    token_usage_t t = c->usage.tokens;
    bool estimated = !c->have_usage || !c->usage.exact;
    bool produced = c->text.len || c->reasoning.len || c->ntools;
    if (c->have_error && !produced && !c->have_usage) {
        /* Failed before any output: providers do not bill these, neither do we. */
        memset(&t, 0, sizeof t);
        estimated = false;
    } else if (estimated) {
        /* Provider told us nothing (or the stream was cut): count locally,
         * so billing never silently records zero. */
        int64_t in = gw_tokens_estimate_request(&c->pr.req);
        int64_t rsn = gw_tokens_estimate(buf_slice(&c->reasoning));
        int64_t out = gw_tokens_estimate(buf_slice(&c->text)) + rsn;
        for (int i = 0; i < c->ntools; i++)
            out += gw_tokens_estimate(buf_slice(&c->tools[i].args));
        if (t.input < in) t.input = in;
        if (t.output < out) t.output = out;
        if (t.reasoning < rsn) t.reasoning = rsn;
        if (t.cached_input > t.input) t.cached_input = t.input;
    }
    if (t.reasoning > t.output) t.reasoning = t.output;
    c->final_tokens = t;
    c->final_estimated = estimated;
    uint64_t now = time_mono_us();
    c->latency_ms = (int64_t)((now - c->start_us) / 1000);
    c->ttft_ms = c->first_token_us ? (int64_t)((c->first_token_us - c->start_us) / 1000) : -1;
    c->cost_pico = 0;
    if (money_cost(&c->model_info.price, &t, c->latency_ms, &c->cost_pico) != CORE_OK) {
        log_event(LOG_ERROR, c->http ? c->http->id : NULL, "cost overflow", NULL);
        c->cost_pico = 0;
    }
}

static void record_summary(gw_call *c, int status, gw_err err)
{
    char requested[300], from[300];
    snprintf(requested, sizeof requested, "%s/%s", c->targets[0].provider, c->targets[0].model);
    snprintf(from, sizeof from, "%s/%s", c->targets[0].provider, c->targets[0].model);
    const char *prov = c->targets[c->cur < c->ntargets ? c->cur : c->ntargets - 1].provider;
    /* The registry id that was priced, not the provider's dated alias. */
    const char *model = c->targets[c->cur < c->ntargets ? c->cur : c->ntargets - 1].model;
    gw_call_summary s = {
        .request_id = c->id,
        .key_id = c->caller.key_id,
        .provider = prov,
        .model = model,
        .requested_model = requested,
        .fallback_from = c->cur > 0 && c->cur < c->ntargets ? from : NULL,
        .tokens = c->final_tokens,
        .cost_estimated = c->final_estimated,
        .cost_pico = c->cost_pico,
        .provider_cost_pico = c->usage.provider_cost_pico,
        .latency_ms = c->latency_ms,
        .ttft_ms = c->ttft_ms,
        .http_status = status,
        .error = err,
        .attempts = c->attempts,
        .stream = c->pr.req.stream,
        .metadata = c->pr.req.metadata,
        .endpoint = c->endpoint,
        .caller = &c->caller,
        .tpm_reserved = c->tpm_reserved,
    };
    gw_app_record(c->app, &s);
}

/* ------------------------------------------------------------------ final outcomes */

static void finish_success(gw_call *c)
{
    c->done = true;
    settle_cost(c);
    c->http_status = 200;
    record_summary(c, c->client_gone ? 499 : 200,
                   c->client_gone ? GW_ERR_CLIENT_CLOSED : (c->have_error ? c->err : GW_OK));
    if (c->http && !c->client_gone) {
        if (!c->committed && c->sink->streams) c->sink->commit(c);
        c->sink->finish(c);
    } else if (c->http) {
        gw_call_end_stream(c);
    }
}

static void finish_failure(gw_call *c)
{
    c->done = true;
    settle_cost(c);
    if (!c->have_error) {
        c->err = GW_ERR_INTERNAL;
        snprintf(c->err_msg, sizeof c->err_msg, "the call ended without an answer");
    }
    if (c->committed) {
        c->http_status = 200;
        record_summary(c, c->client_gone ? 499 : 200,
                       c->client_gone ? GW_ERR_CLIENT_CLOSED : c->err);
        c->sink->finish(c); /* writes the error event */
        return;
    }
    int status = gw_err_status(c->err);
    record_summary(c, c->client_gone ? 499 : status,
                   c->client_gone ? GW_ERR_CLIENT_CLOSED : c->err);
    if (c->http) c->sink->fail(c);
}

/* ------------------------------------------------------------------ events from adapters */

static void note_first_token(gw_call *c)
{
    if (!c->first_token_us) c->first_token_us = time_mono_us();
}

static gw_tool_acc *tool_slot(gw_call *c, int index)
{
    if (index < 0 || index >= GW_CALL_MAX_TOOLS) return NULL;
    if (index >= c->tools_cap) { /* most answers have no tool calls: no array */
        int cap = MAX(index + 1, MIN(GW_CALL_MAX_TOOLS, c->tools_cap ? c->tools_cap * 2 : 2));
        gw_tool_acc *grown = realloc(c->tools, (size_t)cap * sizeof(*grown));
        if (!grown) return NULL;
        c->tools = grown;
        c->tools_cap = cap;
    }
    while (c->ntools <= index) {
        gw_tool_acc *t = &c->tools[c->ntools++];
        t->id = t->name = NULL;
        buf_init(&t->args, 1u << 20);
    }
    return &c->tools[index];
}

static void relay(gw_call *c, const gw_event *ev)
{
    if (c->sink->streams && !c->committed) {
        c->committed = true;
        c->sink->commit(c);
    }
    if (c->sink->streams) c->sink->event(c, ev);
}

void gw_call_on_event(void *ud, const gw_event *ev)
{
    gw_call *c = ud;
    if (c->done) return;
    switch (ev->type) {
    case GW_EV_START:
        if (ev->model.len && ev->model.len < sizeof c->actual_model) {
            memcpy(c->actual_model, ev->model.ptr, ev->model.len);
            c->actual_model[ev->model.len] = '\0';
        }
        break;
    case GW_EV_TEXT:
        if (ev->text.len == 0) break;
        note_first_token(c);
        if (buf_append_slice(&c->text, ev->text) != CORE_OK) break;
        relay(c, ev);
        break;
    case GW_EV_REASONING:
        if (ev->text.len == 0) break;
        note_first_token(c);
        if (buf_append_slice(&c->reasoning, ev->text) != CORE_OK) break;
        relay(c, ev);
        break;
    case GW_EV_TOOL_CALL_START: {
        gw_tool_acc *t = tool_slot(c, ev->tool_index);
        if (!t) break;
        note_first_token(c);
        /* Ids and names live in the call's arena: small and bounded by
         * the number of tool slots. */
        t->id = arena_strdup(&c->arena, ev->tool_id);
        t->name = arena_strdup(&c->arena, ev->tool_name);
        relay(c, ev);
        break;
    }
    case GW_EV_TOOL_ARGS: {
        gw_tool_acc *t = tool_slot(c, ev->tool_index);
        if (!t) break;
        buf_append_slice(&t->args, ev->text);
        relay(c, ev);
        break;
    }
    case GW_EV_TOOL_CALL_END:
        break;
    case GW_EV_USAGE:
        c->usage = ev->usage;
        c->have_usage = true;
        break;
    case GW_EV_FINISH:
        c->finish = ev->finish;
        c->have_finish = true;
        break;
    case GW_EV_ERROR:
        if (c->have_error) break;
        c->have_error = true;
        c->err = ev->error.code;
        c->err_status = ev->error.http_status;
        c->err_retryable = ev->error.retryable;
        c->err_retry_after_ms = ev->error.retry_after_ms;
        snprintf(c->err_msg, sizeof c->err_msg, "%.*s", (int)MIN(ev->error.message.len, 400),
                 ev->error.message.ptr ? ev->error.message.ptr : "");
        break;
    case GW_EV_DONE:
        break;
    }
}

/* ------------------------------------------------------------------ attempt outcome */

static bool error_is_fallbackable(gw_err e)
{
    switch (e) {
    case GW_ERR_INVALID_REQUEST:
    case GW_ERR_UNAUTHORIZED:
    case GW_ERR_FORBIDDEN:
    case GW_ERR_BUDGET_EXCEEDED:
    case GW_ERR_PAYLOAD_TOO_LARGE:
    case GW_ERR_CLIENT_CLOSED:
        return false;
    default:
        return true;
    }
}

static void on_timer_next(uv_timer_t *t)
{
    gw_call *c = t->data;
    c->in_backoff = false;
    attempt_start(c);
}

/* Decides what follows a finished attempt. Runs outside adapter callbacks. */
static void attempt_outcome(gw_call *c)
{
    const char *prov = c->targets[c->cur].provider, *model = c->targets[c->cur].model;
    int64_t dur = (int64_t)((time_mono_us() - c->attempt_start_us) / 1000);
    int64_t ttft = c->first_token_us && c->first_token_us >= c->attempt_start_us
                       ? (int64_t)((c->first_token_us - c->attempt_start_us) / 1000)
                       : -1;
    if (c->client_gone) {
        c->upstream = NULL;
        c->sim = NULL;
        if (!c->done) {
            c->done = true;
            settle_cost(c);
            record_summary(c, 499, GW_ERR_CLIENT_CLOSED);
        }
        call_unref(c); /* the upstream's reference */
        return;
    }
    c->upstream = NULL;
    c->sim = NULL;
    if (c->done) { /* deadline fired meanwhile and already answered */
        call_unref(c);
        return;
    }
    if (c->cancel_requested) {
        /* Stopped on purpose by its caller: a normal end with what was
         * produced so far (usage estimated unless the provider said). */
        c->have_error = false;
        finish_success(c);
        call_unref(c);
        return;
    }
    if (!c->have_error) {
        gw_app_health_record(c->app, prov, model, GW_OK, false, 200, ttft,
                             c->have_usage ? c->usage.tokens.output : 0, dur);
        finish_success(c);
        call_unref(c);
        return;
    }
    gw_app_health_record(c->app, prov, model, c->err, c->err_retryable, c->err_status, ttft, 0,
                         dur);
    log_event(LOG_WARN, c->id, "upstream attempt failed", NULL);
    if (c->committed) { /* bytes reached the client: never retry */
        finish_failure(c);
        call_unref(c);
        return;
    }
    /* Retry the same target? */
    if (c->err_retryable && c->tries_on_cur <= c->app->cfg.retry_max) {
        int64_t wait = c->err_retry_after_ms;
        if (wait < 0) {
            uint64_t base = (uint64_t)c->app->cfg.retry_base_ms << (c->tries_on_cur - 1);
            uint32_t r = 0;
            random_bytes(&r, sizeof r);
            wait = (int64_t)(base / 2 + (base ? r % (base + 1) : 0)); /* 0.5x .. 1.5x */
        }
        if (wait <= (int64_t)c->app->cfg.retry_after_cap_ms) {
            call_unref(c); /* the finished attempt's reference */
            c->in_backoff = true;
            uv_timer_start(&c->timer, on_timer_next, (uint64_t)wait, 0);
            return;
        }
    }
    /* Fall back to the next target? */
    if (error_is_fallbackable(c->err) && c->cur + 1 < c->ntargets) {
        c->cur++;
        c->tries_on_cur = 0;
        call_unref(c);
        c->in_backoff = true;
        uv_timer_start(&c->timer, on_timer_next, 0, 0);
        return;
    }
    finish_failure(c);
    call_unref(c);
}

static void on_timer_outcome(uv_timer_t *t)
{
    attempt_outcome(t->data);
}

void gw_call_schedule_outcome(gw_call *c)
{
    uv_timer_start(&c->timer, on_timer_outcome, 0, 0);
}

void gw_call_emit_error(gw_call *c, gw_err code, int status, bool retryable, const char *msg)
{
    gw_event ev = {.type = GW_EV_ERROR};
    ev.error.code = code;
    ev.error.http_status = status;
    ev.error.retryable = retryable;
    ev.error.retry_after_ms = -1;
    ev.error.message = slice_from_cstr(msg);
    gw_call_on_event(c, &ev);
}

/* ------------------------------------------------------------------ target selection */

/* Checks a target; on failure records the error and returns false. */
static bool target_usable(gw_call *c)
{
    const char *prov = c->targets[c->cur].provider, *model = c->targets[c->cur].model;
    char reason[200];
    if (!gw_app_find_model(c->app, prov, model, &c->model_info)) {
        snprintf(reason, sizeof reason, "unknown model '%s/%s' (see GET /api/models)", prov, model);
        gw_call_emit_error(c, GW_ERR_MODEL_NOT_FOUND, 0, false, reason);
        return false;
    }
    if (!c->model_info.enabled) {
        snprintf(reason, sizeof reason, "model '%s/%s' is disabled by the operator", prov, model);
        gw_call_emit_error(c, GW_ERR_MODEL_UNAVAILABLE, 0, false, reason);
        return false;
    }
    if (!gw_app_caller_may_use(c->app, &c->caller, prov, model)) {
        snprintf(reason, sizeof reason, "this gateway key may not use '%s/%s'", prov, model);
        gw_call_emit_error(c, GW_ERR_FORBIDDEN, 0, false, reason);
        return false;
    }
    if (!gw_app_provider_configured(c->app, prov)) {
        snprintf(reason, sizeof reason,
                 "provider '%s' is not configured on this gateway (no API key set)", prov);
        gw_call_emit_error(c, GW_ERR_MODEL_UNAVAILABLE, 0, false, reason);
        return false;
    }
    if (c->pr.req.tools && !(c->model_info.caps & GW_CAP_TOOLS)) {
        snprintf(reason, sizeof reason, "model '%s/%s' does not support tools", prov, model);
        gw_call_emit_error(c, GW_ERR_INVALID_REQUEST, 0, false, reason);
        return false;
    }
    char why[160] = "";
    if (!gw_app_health_allow(c->app, prov, model, why, sizeof why)) {
        snprintf(reason, sizeof reason, "model '%s/%s' is unavailable: %s", prov, model, why);
        gw_call_emit_error(c, GW_ERR_MODEL_UNAVAILABLE, 0, true, reason);
        c->err_retryable = false; /* the breaker is open: go to the fallback */
        return false;
    }
    return true;
}

static void attempt_start(gw_call *c)
{
    if (c->client_gone || c->done) return;
    for (;;) {
        reset_output(c);
        if (!target_usable(c)) {
            if (c->cur + 1 < c->ntargets && error_is_fallbackable(c->err)) {
                c->cur++;
                c->tries_on_cur = 0;
                continue;
            }
            finish_failure(c);
            return;
        }
        break;
    }
    const char *prov = c->targets[c->cur].provider;
    c->tries_on_cur++;
    c->attempts++;
    c->attempt_start_us = time_mono_us();
    c->transport_err = CORE_OK;
    c->upstream_status = 0;
    c->upstream_streaming = false;
    c->paused = false;
    c->refs++; /* the upstream's reference */
    bool ok;
    if (strcmp(prov, "simulator") == 0) {
        c->ops = NULL;
        ok = gw_upstream_start_sim(c);
    } else {
        c->ops = gw_provider_find(prov);
        const gw_provider_cfg *pc = gw_config_provider(&c->app->cfg, prov);
        if (!c->ops || !pc) {
            gw_call_emit_error(c, GW_ERR_MODEL_NOT_FOUND, 0, false, "unknown provider");
            ok = false;
        } else {
            c->pcfg = *pc;
            ok = gw_upstream_start_http(c);
        }
    }
    if (!ok) uv_timer_start(&c->timer, on_timer_outcome, 0, 0);
}

static void call_next(gw_call *c)
{
    attempt_start(c);
}

/* ------------------------------------------------------------------ client side */

static void cancel_upstream(gw_call *c)
{
    if (c->upstream) {
        c->transport_err = CORE_ECANCELED;
        http_client_cancel(c->upstream); /* on_done follows and drops the reference */
    } else if (c->sim) {
        gw_sim_cancel(c->sim);
        c->sim = NULL;
        uv_timer_start(&c->timer, on_timer_outcome, 0, 0);
    }
}

static void on_client_close(http_request *req, void *ud)
{
    gw_call *c = ud;
    c->client_gone = true;
    log_event(LOG_INFO, req->id, "client went away; cancelling the upstream call", NULL);
    cancel_upstream(c);
    if (c->in_backoff && !c->done) {
        /* Waiting for a backoff: nothing upstream to cancel. */
        c->in_backoff = false;
        uv_timer_stop(&c->timer);
        c->done = true;
        settle_cost(c);
        record_summary(c, 499, GW_ERR_CLIENT_CLOSED);
    }
    http_request_finish(req);
    c->http = NULL;
    uv_timer_stop(&c->keepalive);
    uv_timer_stop(&c->deadline);
    call_unref(c);
}

static void on_drain(http_request *req, void *ud)
{
    gw_call *c = ud;
    c->want_pause = false;
    if (!c->paused) return;
    c->paused = false;
    if (c->upstream) http_client_resume(c->upstream);
    if (c->sim) gw_sim_resume(c->sim);
}

static void on_deadline(uv_timer_t *t)
{
    gw_call *c = t->data;
    if (c->done) return;
    c->have_error = false; /* the deadline is the error the caller sees */
    gw_call_emit_error(c, GW_ERR_TIMEOUT, 0, false, "the request deadline passed");
    bool upstream_active = c->upstream || c->sim;
    if (c->in_backoff) { /* nothing upstream: just stop waiting */
        c->in_backoff = false;
        uv_timer_stop(&c->timer);
    }
    finish_failure(c);
    /* The attempt's outcome then only drops its reference (c->done is set). */
    if (upstream_active) cancel_upstream(c);
}

static void on_keepalive(uv_timer_t *t)
{
    gw_call *c = t->data;
    if (!c->committed || !c->http || c->done) return;
    if (time_mono_ms() - c->last_write_ms + 10 >= c->app->cfg.keepalive_ms) {
        gw_call_flush(c);
        gw_call_write(c, SLICE_LIT(": keep-alive\n\n"));
    }
}

gw_call *gw_call_new(http_request *req, const gw_sink *sink, const char *endpoint,
                     const gw_caller *caller)
{
    gw_loop *lp = req->loop_data;
    gw_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    arena_init(&c->arena, 64u << 20);
    c->http = req;
    c->lp = lp;
    c->app = lp->app;
    c->sink = sink;
    c->endpoint = endpoint;
    if (caller) c->caller = *caller;
    c->start_us = req->start_us ? req->start_us : time_mono_us();
    c->created = time_wall_ms() / 1000;
    make_call_id(sink == &gw_sink_openai_json || sink == &gw_sink_openai_stream ? "chatcmpl-"
                                                                                : "gen_",
                 c->id, sizeof c->id);
    /* The generation id is also the usage_log request_id: sent on every
     * answer, errors included, so a caller can find its ledger row. */
    http_add_header(req, "X-Generation-Id", c->id);
    buf_init(&c->body, GW_MAX_RESPONSE_BODY);
    buf_init(&c->text, GW_MAX_OUTPUT);
    buf_init(&c->reasoning, GW_MAX_OUTPUT);
    buf_init(&c->out, 0);
    uv_timer_init(lp->loop, &c->timer);
    uv_timer_init(lp->loop, &c->deadline);
    uv_timer_init(lp->loop, &c->keepalive);
    c->timer.data = c->deadline.data = c->keepalive.data = c;
    c->refs = 1; /* the HTTP exchange */
    c->usage.provider_cost_pico = -1;
    c->err_retry_after_ms = -1;
    c->next_on_loop = lp->calls;
    if (lp->calls) lp->calls->prev_on_loop = c;
    lp->calls = c;
    gw_call_index_add(c);
    return c;
}

bool gw_call_cancel_by_id(gw_loop *lp, const char *id, const char *key_id)
{
    for (gw_call *c = lp->calls; c; c = c->next_on_loop) {
        if (strcmp(c->id, id) != 0) continue;
        /* Only the key that started a call may stop it. */
        if (strcmp(c->caller.key_id, key_id ? key_id : "") != 0) return false;
        if (c->done || c->client_gone || c->cancel_requested) return true;
        c->cancel_requested = true;
        if (c->in_backoff) { /* nothing upstream: end now */
            c->in_backoff = false;
            uv_timer_stop(&c->timer);
            c->refs++; /* balanced by the outcome's unref */
            uv_timer_start(&c->timer, on_timer_outcome, 0, 0);
        } else {
            cancel_upstream(c);
        }
        return true;
    }
    return false;
}

void gw_calls_shutdown(gw_loop *lp)
{
    gw_call *next;
    for (gw_call *c = lp->calls; c; c = next) {
        next = c->next_on_loop;
        if (c->done || !c->http || c->client_gone) continue;
        /* An answer cut by shutdown is retryable elsewhere: say so in place
         * of a bare disconnect. */
        c->have_error = false;
        gw_call_emit_error(c, GW_ERR_MODEL_UNAVAILABLE, 0, true,
                           "the gateway is shutting down; retry the request");
        bool upstream_active = c->upstream || c->sim;
        c->refs++; /* keep c alive across finish + cancel */
        if (c->in_backoff) {
            c->in_backoff = false;
            uv_timer_stop(&c->timer);
        }
        finish_failure(c);
        if (upstream_active) cancel_upstream(c);
        call_unref(c);
    }
}

/* A usage row for a request refused before any upstream attempt, so every
 * request the gateway answered is in the ledger (at zero cost). */
static void record_refusal(gw_call *c, int status, gw_err err)
{
    const gw_request *r = &c->pr.req;
    const char *prov = r->provider && r->provider[0] ? r->provider : "-";
    const char *model = r->model && r->model[0] ? r->model : "-";
    char requested[300];
    snprintf(requested, sizeof requested, "%s/%s", prov, model);
    gw_call_summary s = {
        .request_id = c->id,
        .key_id = c->caller.key_id,
        .provider = prov,
        .model = model,
        .requested_model = requested,
        .provider_cost_pico = -1,
        .latency_ms = (int64_t)((time_mono_us() - c->start_us) / 1000),
        .ttft_ms = -1,
        .http_status = status,
        .error = err,
        .attempts = 0,
        .stream = r->stream,
        .metadata = r->metadata,
        .endpoint = c->endpoint,
        .caller = &c->caller,
    };
    gw_app_record(c->app, &s);
}

void gw_call_reject(gw_call *c, gw_err err, const char *msg)
{
    record_refusal(c, gw_err_status(err), err);
    gw_call_respond_error(c, gw_err_status(err), err, msg, false, -1);
}

void gw_call_discard(gw_call *c, int status, gw_err err)
{
    record_refusal(c, status, err);
    c->http = NULL;
    call_unref(c);
}

void gw_call_start(gw_call *c)
{
    gw_request *r = &c->pr.req;
    c->targets[0].provider = r->provider;
    c->targets[0].model = r->model;
    c->ntargets = 1;
    char *p, *m;
    for (int i = 0; i < c->pr.nfallbacks; i++)
        if (gw_split_model_id(c->pr.fallbacks[i], &c->arena, &p, &m)) {
            c->targets[c->ntargets].provider = p;
            c->targets[c->ntargets].model = m;
            c->ntargets++;
        }
    const char *cfg_fb[4];
    int n = gw_config_fallbacks(&c->app->cfg, r->provider, r->model, cfg_fb);
    for (int i = 0; i < n && c->ntargets < (int)ARRAY_LEN(c->targets); i++)
        if (gw_split_model_id(cfg_fb[i], &c->arena, &p, &m)) {
            c->targets[c->ntargets].provider = p;
            c->targets[c->ntargets].model = m;
            c->ntargets++;
        }
    http_request_on_close(c->http, on_client_close, c);
    http_stream_on_drain(c->http, on_drain, c);
    if (c->app->cfg.request_timeout_ms)
        uv_timer_start(&c->deadline, on_deadline, c->app->cfg.request_timeout_ms, 0);
    if (c->sink->streams && c->app->cfg.keepalive_ms)
        uv_timer_start(&c->keepalive, on_keepalive, c->app->cfg.keepalive_ms,
                       c->app->cfg.keepalive_ms);
    call_next(c);
}
