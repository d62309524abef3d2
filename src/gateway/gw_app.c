/*
 * gw_app.c - the facade between the request path and the persistent
 * modules (registry, keys, health, usage log), plus the background work of
 * the gateway: periodic reloads of keys and models (so CLI changes take
 * effect without a restart) and health probes of providers that have a free
 * endpoint. Background work runs on loop 0; database work on store workers.
 */
#include "gw_app.h"

#include "../core/log.h"
#include "../core/ratelimit.h"
#include "health.h"
#include "keys.h"
#include "registry.h"
#include "usage_log.h"

#include <stdlib.h>

#include <stdio.h>

static gw_registry *REG(gw_app *app)
{
    return (gw_registry *)app->registry;
}

bool gw_app_find_model(gw_app *app, const char *provider, const char *model, gw_model_info *out)
{
    const gw_registry_snap *snap = gw_registry_acquire(REG(app));
    if (!snap) return false;
    const gw_model *m =
        gw_registry_find(snap, slice_from_cstr(provider), slice_from_cstr(model));
    bool found = m != NULL;
    if (m) {
        out->price = m->price;
        out->caps = m->capabilities;
        out->context_length = m->context_length;
        out->max_output_tokens = m->max_output_tokens;
        out->enabled = m->enabled;
        out->deprecated = m->deprecated;
    }
    gw_registry_release(snap);
    return found;
}

bool gw_app_provider_configured(gw_app *app, const char *provider)
{
    if (strcmp(provider, "simulator") == 0) return true;
    const gw_provider_cfg *p = gw_config_provider(&app->cfg, provider);
    if (!p) return false;
    if (strcmp(provider, "local") == 0) return p->base_url != NULL;
    return p->api_key != NULL;
}

bool gw_app_health_allow(gw_app *app, const char *provider, const char *model, char *reason,
                         size_t len)
{
    return gw_health_allow(app->health, provider, model, (int64_t)time_mono_ms(), reason, len);
}

void gw_app_health_record(gw_app *app, const char *provider, const char *model, gw_err err,
                          bool retryable, int http_status, int64_t ttft_ms, int64_t output_tokens,
                          int64_t duration_ms)
{
    /* The health tracker runs on the monotonic clock: a wall-clock jump must
     * not hold a breaker open or close it early. */
    int64_t now = (int64_t)time_mono_ms();
    gw_health_outcome o = {
        .ok = err == GW_OK, .err = err, .retryable = retryable, .http_status = http_status};
    if (err == GW_ERR_PROVIDER_AUTH) gw_health_mark_key_bad(app->health, provider, now);
    gw_health_record(app->health, provider, model, &o, ttft_ms, output_tokens, duration_ms, now);
}

bool gw_app_authenticate(gw_app *app, slice_t token, gw_caller *out)
{
    gw_key *key = NULL;
    memset(out, 0, sizeof *out);
    if (gw_keys_verify(app->keys, token, &key) != CORE_OK || !key) return false;
    snprintf(out->key_id, sizeof out->key_id, "%s", key->id);
    out->key = key;
    return true;
}

void gw_app_caller_release(gw_caller *caller)
{
    if (caller->key) gw_key_release(caller->key);
    caller->key = NULL;
}

bool gw_app_caller_may_use(gw_app *app, const gw_caller *caller, const char *provider,
                           const char *model)
{
    (void)app;
    if (!caller->key) return true;
    return gw_keys_model_allowed(caller->key, slice_from_cstr(provider), slice_from_cstr(model));
}

void gw_app_record(gw_app *app, const gw_call_summary *s)
{
    char *meta = s->metadata ? json_dumps(s->metadata, JSON_COMPACT) : NULL;
    gw_usage_row row = {
        .request_id = s->request_id,
        .ts_ms = time_wall_ms(),
        .key_id = s->key_id && s->key_id[0] ? s->key_id : NULL,
        .provider = s->provider,
        .model = s->model,
        .requested_model = s->requested_model,
        .input_tokens = s->tokens.input,
        .cached_input_tokens = s->tokens.cached_input,
        .output_tokens = s->tokens.output,
        .reasoning_tokens = s->tokens.reasoning,
        .cost_pico = s->cost_pico,
        .cost_estimated = s->cost_estimated,
        .provider_cost_pico = s->provider_cost_pico,
        .latency_ms = s->latency_ms,
        .ttft_ms = s->ttft_ms,
        .http_status = s->http_status,
        .error_code = s->error != GW_OK ? gw_err_code(s->error) : NULL,
        .attempts = s->attempts, /* 0: refused before any upstream call */
        .fallback_from = s->fallback_from,
        .stream = s->stream,
        .metadata_json = meta,
    };
    core_err err = gw_usage_log_append(app->usage, &row);
    if (err != CORE_OK)
        log_event(LOG_ERROR, s->request_id, "usage row not queued", NULL);
    free(meta);
    gw_metrics_observe(app, s);
    gw_key *key = s->caller ? s->caller->key : NULL;
    if (key && key->tpm > 0 && app->limits) {
        char bucket[96];
        snprintf(bucket, sizeof bucket, "k:%s:tpm", key->id);
        int64_t used;
        if (money_add(s->tokens.input, s->tokens.output, &used) != CORE_OK) used = INT64_MAX / 2;
        rl_charge(app->limits, bucket, key->tpm, used - s->tpm_reserved, time_wall_ms());
    }
}

static void set_ratelimit_headers(http_request *req, const rl_result *r)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)r->limit);
    http_add_header(req, "RateLimit-Limit", v);
    snprintf(v, sizeof v, "%lld", (long long)r->remaining);
    http_add_header(req, "RateLimit-Remaining", v);
    snprintf(v, sizeof v, "%lld", (long long)((r->reset_ms + 999) / 1000));
    http_add_header(req, "RateLimit-Reset", v);
}

static void refuse(http_request *req, const rl_result *r, const char *what, bool openai)
{
    char msg[200], ra[32];
    int64_t secs = (r->retry_after_ms + 999) / 1000;
    snprintf(msg, sizeof msg,
             "this gateway key is over its %s limit (%lld per minute); retry in %lld s", what,
             (long long)r->limit, (long long)(secs ? secs : 1));
    snprintf(ra, sizeof ra, "%lld", (long long)(secs ? secs : 1));
    http_add_header(req, "Retry-After", ra);
    if (openai) {
        json_t *j = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type",
                              "rate_limit_error", "param", "code", "rate_limited");
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        http_respond(req, 429, "application/json", slice_from_cstr(body ? body : "{}"));
        free(body);
        json_decref(j);
    } else {
        http_respond_error(req, 429, "rate_limited", msg, true);
    }
}

bool gw_app_admit(gw_app *app, http_request *req, const gw_caller *caller,
                  int64_t est_input_tokens, bool openai_errors, int64_t *tpm_reserved)
{
    *tpm_reserved = 0;
    gw_key *key = caller->key;
    if (!key || !app->limits || (key->rpm <= 0 && key->tpm <= 0)) return true;
    int64_t now = time_wall_ms();
    char bucket[96];
    rl_result r;
    if (key->rpm > 0) {
        snprintf(bucket, sizeof bucket, "k:%s:rpm", key->id);
        rl_take(app->limits, bucket, key->rpm, 1, now, &r);
        set_ratelimit_headers(req, &r);
        if (!r.allowed) {
            refuse(req, &r, "requests", openai_errors);
            return false;
        }
    }
    if (key->tpm > 0) {
        snprintf(bucket, sizeof bucket, "k:%s:tpm", key->id);
        rl_take(app->limits, bucket, key->tpm, est_input_tokens, now, &r);
        if (key->rpm <= 0) set_ratelimit_headers(req, &r);
        if (!r.allowed) {
            refuse(req, &r, "tokens", openai_errors);
            return false;
        }
        *tpm_reserved = est_input_tokens;
    }
    return true;
}
