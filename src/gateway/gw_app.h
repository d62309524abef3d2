/*
 * gw_app.h - the running gateway: process-wide state shared by every loop
 * (configuration, store, model registry, key cache, usage log, health
 * tracker) and the per-loop state (the loop's HTTP client). The request path
 * reaches the persistent modules only through the small facade below, so the
 * call engine does not depend on how each module stores its data.
 *
 * Threads: gw_app is created before the loops start and destroyed after they
 * stop; every facade function is safe to call from any loop thread.
 */
#ifndef GW_APP_H
#define GW_APP_H

#include "../core/buf.h"

#include <pthread.h>
#include "../core/http_client.h"
#include "../core/http_server.h"
#include "../store/store.h"
#include "catalog.h" /* GW_CAP_* */
#include "gw_config.h"
#include "gw_types.h"

typedef struct gw_app gw_app;

/* Per-loop state, the loop_data of every request on that loop. */
struct gw_call;

typedef struct {
    uv_loop_t *loop;
    http_client *client;
    gw_app *app;
    int index;
    struct gw_call *calls; /* open calls on this loop (for the shutdown deadline) */
    /* Cancels posted from other loops (POST /api/generate/:id/cancel). */
    uv_async_t cancel_async;
    pthread_mutex_t cancel_mu;
    struct gw_cancel_req *cancel_queue;
    int closing_handles;
} gw_loop;

/* What the call engine needs to know about a model. */
typedef struct {
    price_t price;
    uint32_t caps;
    int64_t context_length;
    int64_t max_output_tokens;
    bool enabled;
    bool deprecated;
} gw_model_info;

/* Identity of the caller behind a gateway key. */
typedef struct {
    char key_id[48];
    void *key; /* gw_key*, one reference; released by gw_app_caller_release */
} gw_caller;

/* One finished request, for the usage log, metrics and health. */
typedef struct {
    const char *request_id;
    const char *key_id;
    const char *provider;
    const char *model;           /* the model that answered (or was last tried) */
    const char *requested_model; /* "provider/model" as asked */
    const char *fallback_from;   /* "provider/model" when a fallback answered, else NULL */
    token_usage_t tokens;
    bool cost_estimated;
    int64_t cost_pico;
    int64_t provider_cost_pico; /* -1 when the provider reported none */
    int64_t latency_ms;
    int64_t ttft_ms; /* -1 when no token arrived */
    int http_status;
    gw_err error;
    int attempts;
    bool stream;
    json_t *metadata; /* borrowed, may be NULL */
    const char *endpoint; /* "generate" | "chat_completions" */
    const gw_caller *caller;
    int64_t tpm_reserved; /* tokens taken from the key's tpm bucket at admission */
} gw_call_summary;

struct gw_app {
    gw_config cfg;
    store *db;
    void *registry; /* gw_registry* */
    void *keys;     /* gw_keys* */
    void *usage;    /* gw_usage_log* */
    void *health;   /* gw_health* */
    void *metrics;  /* gw_metrics_state* */
    void *limits;   /* rl_table*: per-key rpm/tpm buckets */
    http_server *server;
};

/* Model lookup in the registry. false when unknown. */
bool gw_app_find_model(gw_app *app, const char *provider, const char *model, gw_model_info *out);
/* true when the provider has credentials (or needs none: simulator, local). */
bool gw_app_provider_configured(gw_app *app, const char *provider);
/* Circuit breaker check; on false, reason says why (for the error message). */
bool gw_app_health_allow(gw_app *app, const char *provider, const char *model, char *reason,
                         size_t len);
/* Outcome of one upstream attempt; http_status is the provider's (0 when the
 * error did not come from the provider, e.g. a connect failure). */
void gw_app_health_record(gw_app *app, const char *provider, const char *model, gw_err err,
                          bool retryable, int http_status, int64_t ttft_ms, int64_t output_tokens,
                          int64_t duration_ms);
/* Key check for a presented bearer token (constant-time). */
bool gw_app_authenticate(gw_app *app, slice_t token, gw_caller *out);
/* Drops the caller's key reference (safe on a zeroed caller). */
void gw_app_caller_release(gw_caller *caller);
/* Key scope: may this caller use provider/model? */
bool gw_app_caller_may_use(gw_app *app, const gw_caller *caller, const char *provider,
                           const char *model);
/* Per-key rate limits at admission: rpm (1 per request) and tpm (the
 * estimated input tokens, settled with the actual count when the call ends).
 * Adds RateLimit-* headers to req. On refusal answers 429 itself and returns
 * false. *tpm_reserved receives what was taken from the tpm bucket. */
bool gw_app_admit(gw_app *app, http_request *req, const gw_caller *caller,
                  int64_t est_input_tokens, bool openai_errors, int64_t *tpm_reserved);
/* Records a finished request (usage log row, metrics). Non-blocking. */
void gw_app_record(gw_app *app, const gw_call_summary *s);
/* Metrics (gw_metrics.c): set up once, observed per finished request,
 * rendered in the Prometheus text format. */
core_err gw_metrics_init(gw_app *app);
void gw_metrics_free(gw_app *app);
void gw_metrics_observe(gw_app *app, const gw_call_summary *s);
void gw_app_render_metrics(gw_app *app, buf_t *b);

#endif
