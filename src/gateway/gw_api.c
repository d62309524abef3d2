/*
 * gw_api.c - aigw's HTTP surface: authentication of gateway keys, the two
 * generation front doors (/api/generate and /v1/chat/completions), the model
 * lists (/api/models with status and latency, /v1/models in OpenAI's shape),
 * /healthz and /metrics. Handlers validate and hand off to the call engine.
 */
#include "gw_api.h"

#include "../core/log.h"
#include "gw_call.h"
#include "health.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>

static bool is_openai_path(const http_request *req)
{
    return slice_starts_with(req->path, SLICE_LIT("/v1/"));
}

static void respond_openai_error(http_request *req, int status, const char *code,
                                 const char *type, const char *msg)
{
    json_t *j = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type", type, "param",
                          "code", code);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    http_respond(req, status, "application/json", slice_from_cstr(s ? s : "{}"));
    free(s);
    json_decref(j);
}

/* Checks "Authorization: Bearer <key>". On failure the 401 is already sent. */
static bool authenticate(http_request *req, gw_app *app, gw_caller *out)
{
    slice_t h = http_request_header(req, "authorization");
    slice_t token = SLICE_NULL;
    if (h.len > 7 && slice_case_eq((slice_t){h.ptr, 7}, SLICE_LIT("Bearer ")))
        token = slice_trim((slice_t){h.ptr + 7, h.len - 7});
    if (token.len && gw_app_authenticate(app, token, out)) return true;
    const char *msg = token.len ? "invalid or revoked gateway key"
                                : "missing gateway key: send Authorization: Bearer <key>";
    http_add_header(req, "WWW-Authenticate", "Bearer");
    if (is_openai_path(req))
        respond_openai_error(req, 401, "unauthorized", "authentication_error", msg);
    else
        http_respond_error(req, 401, "unauthorized", msg, false);
    return false;
}

static void respond_json_value(http_request *req, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        http_respond_error(req, 500, "internal", "out of memory", true);
        return;
    }
    http_respond(req, status, "application/json", slice_from_cstr(s));
    free(s);
}

/* ------------------------------------------------------------------ generation */

static void serve_generation(http_request *req, bool openai)
{
    gw_loop *lp = req->loop_data;
    gw_caller caller;
    if (!authenticate(req, lp->app, &caller)) return;
    gw_call *c = gw_call_new(req, openai ? &gw_sink_openai_json : &gw_sink_generate_json,
                             openai ? "chat_completions" : "generate", &caller);
    if (!c) {
        gw_app_caller_release(&caller);
        http_respond_error(req, 500, "internal", "out of memory", true);
        return;
    }
    char err[512];
    gw_err e = openai ? gw_parse_chat_completions(req->body, &c->arena, &c->pr, err, sizeof err)
                      : gw_parse_generate(req->body, &c->arena, &c->pr, err, sizeof err);
    if (e != GW_OK) {
        gw_call_reject(c, e, err);
        return;
    }
    if (c->pr.req.stream)
        c->sink = openai ? &gw_sink_openai_stream : &gw_sink_generate_stream;
    if (!gw_app_admit(lp->app, req, &c->caller, gw_tokens_estimate_request(&c->pr.req), openai,
                      &c->tpm_reserved)) {
        gw_call_discard(c, 429, GW_ERR_RATE_LIMITED);
        return;
    }
    gw_call_start(c);
}

static void h_generate(http_request *req, void *ud)
{
    (void)ud;
    serve_generation(req, false);
}

static void h_chat_completions(http_request *req, void *ud)
{
    (void)ud;
    serve_generation(req, true);
}

/* POST /api/generate/:id/cancel: stops a running generation of the same key.
 * The stream (or whole answer) then ends normally with finish_reason
 * "cancelled" and the usage so far, so the caller can bill exactly. */
static void h_cancel(http_request *req, void *ud)
{
    (void)ud;
    gw_loop *lp = req->loop_data;
    gw_caller caller;
    if (!authenticate(req, lp->app, &caller)) return;
    slice_t id = http_request_param(req, "id");
    char idbuf[48];
    if (id.len == 0 || id.len >= sizeof idbuf) {
        gw_app_caller_release(&caller);
        http_respond_error(req, 404, "not_found", "no running generation with this id", false);
        return;
    }
    memcpy(idbuf, id.ptr, id.len);
    idbuf[id.len] = '\0';
    gw_loop *owner = gw_call_find_loop(idbuf, caller.key_id);
    bool ok = false;
    if (owner == lp)
        ok = gw_call_cancel_by_id(lp, idbuf, caller.key_id);
    else if (owner)
        ok = gw_loop_post_cancel(owner, idbuf, caller.key_id) == CORE_OK; /* key checked there */
    gw_app_caller_release(&caller);
    if (!ok) {
        http_respond_error(req, 404, "not_found", "no running generation with this id", false);
        return;
    }
    http_respond(req, 202, "application/json", SLICE_LIT("{\"status\":\"cancelling\"}"));
}

/* ------------------------------------------------------------------ models */

static json_t *latency_json(const gw_model_health *mh)
{
    json_t *l = json_object();
    json_object_set_new(l, "ttft_p50_ms",
                        mh->ttft_p50_ms >= 0 ? json_integer(mh->ttft_p50_ms) : json_null());
    json_object_set_new(l, "tokens_per_s",
                        mh->tokens_per_s >= 0 ? json_real(mh->tokens_per_s) : json_null());
    return l;
}

static void h_models(http_request *req, void *ud)
{
    (void)ud;
    gw_loop *lp = req->loop_data;
    gw_app *app = lp->app;
    gw_caller caller;
    if (!authenticate(req, app, &caller)) return;
    const char *want_provider = http_request_query(req, "provider");
    bool all = http_request_query(req, "include_disabled") != NULL;
    const gw_registry_snap *snap = gw_registry_acquire(app->registry);
    json_t *arr = json_array();
    int64_t now = (int64_t)time_mono_ms(); /* the health tracker's clock */
    for (size_t i = 0; snap && i < snap->count; i++) {
        const gw_model *m = &snap->models[i];
        if (!m->enabled && !all) continue;
        if (want_provider && strcmp(want_provider, m->provider) != 0) continue;
        if (!gw_app_caller_may_use(app, &caller, m->provider, m->model)) continue;
        json_t *j = gw_model_to_json(m);
        if (!j) continue;
        gw_model_health mh;
        gw_health_get(app->health, m->provider, m->model,
                      gw_app_provider_configured(app, m->provider), now, &mh);
        json_object_set_new(j, "id", json_sprintf("%s/%s", m->provider, m->model));
        json_object_set_new(j, "status", json_string(gw_health_status_name(mh.status)));
        json_object_set_new(j, "status_reason", json_string(mh.status_reason));
        json_object_set_new(j, "latency", latency_json(&mh));
        json_object_set_new(j, "enabled", json_boolean(m->enabled));
        json_array_append_new(arr, j);
    }
    if (snap) gw_registry_release(snap);
    gw_app_caller_release(&caller);
    respond_json_value(req, 200, json_pack("{s:o}", "models", arr));
}

static void h_v1_models(http_request *req, void *ud)
{
    (void)ud;
    gw_loop *lp = req->loop_data;
    gw_app *app = lp->app;
    gw_caller caller;
    if (!authenticate(req, app, &caller)) return;
    const gw_registry_snap *snap = gw_registry_acquire(app->registry);
    json_t *arr = json_array();
    for (size_t i = 0; snap && i < snap->count; i++) {
        const gw_model *m = &snap->models[i];
        if (!m->enabled || !gw_app_caller_may_use(app, &caller, m->provider, m->model)) continue;
        json_array_append_new(arr, json_pack("{s:o,s:s,s:I,s:s}", "id",
                                             json_sprintf("%s/%s", m->provider, m->model), "object",
                                             "model", "created",
                                             (json_int_t)(m->updated_at / 1000),
                                             "owned_by", m->provider));
    }
    if (snap) gw_registry_release(snap);
    gw_app_caller_release(&caller);
    respond_json_value(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", arr));
}

/* ------------------------------------------------------------------ ops */

static void h_healthz(http_request *req, void *ud)
{
    (void)ud;
    http_respond(req, 200, "application/json", SLICE_LIT("{\"status\":\"ok\"}"));
}

static void h_metrics(http_request *req, void *ud)
{
    (void)ud;
    gw_loop *lp = req->loop_data;
    buf_t b;
    buf_init(&b, 0);
    gw_app_render_metrics(lp->app, &b);
    http_respond(req, 200, "text/plain; version=0.0.4", buf_slice(&b));
    buf_free(&b);
}

core_err gw_api_routes(http_router *r)
{
    core_err err = CORE_OK;
    if ((err = http_router_add(r, "GET", "/healthz", h_healthz, NULL))) return err;
    if ((err = http_router_add(r, "GET", "/metrics", h_metrics, NULL))) return err;
    if ((err = http_router_add(r, "GET", "/api/models", h_models, NULL))) return err;
    if ((err = http_router_add(r, "POST", "/api/generate", h_generate, NULL))) return err;
    if ((err = http_router_add(r, "POST", "/api/generate/:id/cancel", h_cancel, NULL))) return err;
    if ((err = http_router_add(r, "POST", "/v1/chat/completions", h_chat_completions, NULL)))
        return err;
    if ((err = http_router_add(r, "GET", "/v1/models", h_v1_models, NULL))) return err;
    return err;
}
