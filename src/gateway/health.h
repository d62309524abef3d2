/*
 * health.h - live health of providers and models: a circuit breaker per
 * provider+model, recent error rates, and latency estimates (median time to
 * first token, median output speed). The router asks gw_health_allow before
 * calling upstream and reports every finished call with gw_health_record;
 * GET /api/models and /v1/models render gw_health_get. Everything here comes
 * from live traffic and probes; nothing is a constant.
 *
 * Two kinds of entry, created on first use:
 *   provider+model  breaker driven by that model's traffic;
 *   provider        (model NULL) breaker driven by provider-wide evidence:
 *                   the provider rejecting our API key (401) and periodic
 *                   health probes. Its counters aggregate all its models.
 * A call is allowed only when both the provider entry and the model entry
 * allow it.
 *
 * Breaker (per entry):
 *   CLOSED     everything passes. Opens after `open_after_failures`
 *              consecutive provider-side failures, or when the failure rate
 *              over the sliding window reaches `open_error_rate_pct` with at
 *              least `window_min_requests` counted calls.
 *   OPEN       nothing passes until the cool-down ends; then HALF_OPEN.
 *   HALF_OPEN  exactly ONE call (the probe) passes. Success closes the
 *              breaker and resets cool-down and window; a provider-side
 *              failure re-opens it with the cool-down doubled (capped at
 *              `cooldown_max_ms`). A neutral outcome (client went away,
 *              invalid request) frees the probe slot for the next caller. A
 *              probe that never reports within `probe_timeout_ms` is treated
 *              as lost and another one is let through.
 *
 * What counts against the breaker (gw_health_record):
 *   failures:  provider_error, timeout, upstream_truncated, provider_quota,
 *              model_not_found (from the provider), and model_unavailable
 *              only when the provider said so (http_status != 0; our own
 *              "circuit open"/"unconfigured" refusals must not feed back);
 *   provider_auth: marks the provider's key bad (see gw_health_mark_key_bad);
 *   rate_limited with http_status 429 (the PROVIDER throttling us): the
 *              model shows as degraded but the breaker stays closed, unless
 *              the provider answers 429 `open_after_rate_limits` times in a
 *              row (persistent throttling), which opens it like failures do;
 *   neutral (ignored, not even counted as requests): rate_limited without
 *              an upstream status (our own limiter), invalid_request,
 *              client_closed, budget_exceeded, unauthorized, forbidden,
 *              payload_too_large, not_found, internal.
 *
 * Status (gw_health_get), first match wins:
 *   unconfigured  the caller says the provider has no credentials;
 *   unavailable   key rejected, failed probe, or a breaker open;
 *   degraded      breaker half-open, failure+429 rate over the window at or
 *                 above `degraded_error_rate_pct` (with at least
 *                 `degraded_min_requests` calls), or provider 429s seen in
 *                 the window;
 *   available     otherwise (including "no traffic yet").
 *
 * Time: every function takes now_ms from the caller (monotonic ms, e.g.
 * uv_now or time_mono_ms) so tests drive a fake clock.
 * Threads: all functions are thread-safe (one internal mutex, held briefly,
 * no I/O under it). Strings passed in are copied; nothing is retained.
 * Ceilings: at most GW_HEALTH_MAX_ENTRIES entries; past it unknown keys are
 * not tracked (allow says yes, get reports "no traffic yet").
 */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include "gw_types.h"

#define GW_HEALTH_MAX_ENTRIES  4096
#define GW_HEALTH_MAX_SAMPLES  128 /* ceiling on latency_samples */
#define GW_HEALTH_WINDOW_SLOTS 12  /* the sliding window is kept in this many time slots */
#define GW_HEALTH_REASON_MAX   192 /* bytes of status_reason, NUL included */
#define GW_HEALTH_DETAIL_MAX   128 /* bytes of a probe detail kept */

typedef struct {
    uint32_t open_after_failures;     /* K consecutive failures open it (default 5) */
    uint32_t open_error_rate_pct;     /* failure % over the window that opens it (50) */
    uint32_t window_ms;               /* sliding window length (60000) */
    uint32_t window_min_requests;     /* min counted calls for the rate rule (10) */
    uint32_t degraded_error_rate_pct; /* failure+429 % that shows degraded (10) */
    uint32_t degraded_min_requests;   /* min calls before a rate can degrade (3) */
    uint32_t open_after_rate_limits;  /* consecutive provider 429s that open it (10) */
    uint32_t cooldown_ms;             /* first cool-down (5000) */
    uint32_t cooldown_max_ms;         /* cap of the doubling cool-down (300000) */
    uint32_t key_bad_cooldown_ms;     /* cool-down after a rejected key (60000) */
    uint32_t probe_timeout_ms;        /* half-open probe presumed lost after (120000) */
    uint32_t latency_samples;         /* N recent samples for medians (32, <= MAX) */
} gw_health_config;

typedef struct gw_health gw_health;

typedef enum {
    GW_HEALTH_AVAILABLE = 0,
    GW_HEALTH_DEGRADED,
    GW_HEALTH_UNAVAILABLE,
    GW_HEALTH_UNCONFIGURED,
} gw_health_status;

typedef enum {
    GW_BREAKER_CLOSED = 0,
    GW_BREAKER_OPEN,
    GW_BREAKER_HALF_OPEN,
} gw_breaker_state;

/* One finished upstream call, as the router saw it. */
typedef struct {
    bool ok;         /* the call completed (FINISH/DONE without ERROR) */
    gw_err err;      /* when !ok: the error the call ended with */
    bool retryable;  /* when !ok: as the adapter classified it */
    int http_status; /* upstream HTTP status, 0 when none came from the provider */
} gw_health_outcome;

typedef struct {
    gw_health_status status;
    char status_reason[GW_HEALTH_REASON_MAX]; /* human text, never empty */
    gw_breaker_state breaker;
    int64_t retry_in_ms;          /* OPEN: ms until a probe may pass; else 0 */
    int64_t ttft_p50_ms;          /* median of recent successful calls; -1 when none */
    double tokens_per_s;          /* median recent output speed, rounded to 0.1; -1 when none */
    uint32_t window_requests;     /* counted calls in the sliding window */
    uint32_t window_failures;     /* provider-side failures in the window */
    uint32_t window_rate_limited; /* provider 429s in the window */
    uint32_t error_rate_pct;      /* (failures + 429s) * 100 / requests, 0 when none */
    uint64_t total_requests;      /* counted calls since start */
    uint64_t total_failures;
} gw_model_health;

/* Fills cfg with the defaults documented above. */
void gw_health_config_default(gw_health_config *cfg);

/* New tracker; cfg NULL = defaults (copied). NULL on OOM. */
gw_health *gw_health_new(const gw_health_config *cfg);
/* Frees the tracker. No other thread may be using it. */
void gw_health_free(gw_health *h);

/* May a call to provider/model go upstream now? When false, reason (if not
 * NULL) receives why, e.g. "circuit open: 5 consecutive failures (timeout);
 * next probe in 4200 ms". A true answer in HALF_OPEN reserves the single
 * probe slot: the caller MUST report the call with gw_health_record. */
bool gw_health_allow(gw_health *h, const char *provider, const char *model, int64_t now_ms,
                     char *reason, size_t reason_len);

/* Reports one finished call (see "What counts" above). ttft_ms: ms to the
 * first output byte (-1 unknown); output_tokens and duration_ms (whole call)
 * feed the speed estimate, which uses output_tokens / (duration - ttft). */
void gw_health_record(gw_health *h, const char *provider, const char *model,
                      const gw_health_outcome *outcome, int64_t ttft_ms, int64_t output_tokens,
                      int64_t duration_ms, int64_t now_ms);

/* The provider answered 401 to our credentials: the provider is unavailable
 * ("provider rejected the API key") and refuses calls for key_bad_cooldown_ms,
 * then lets one probe call through; a success (or a good probe) clears it. */
void gw_health_mark_key_bad(gw_health *h, const char *provider, int64_t now_ms);

/* Result of a periodic health probe of a provider. ok=false opens the
 * provider breaker (reason "health probe failed: <detail>"); ok=true closes it
 * and clears a bad key. detail may be NULL; it is copied (truncated). */
void gw_health_mark_probe(gw_health *h, const char *provider, bool ok, const char *detail,
                          int64_t now_ms);

/* Forgets everything about a provider (all its entries), e.g. after its
 * credentials changed. */
void gw_health_reset_provider(gw_health *h, const char *provider);

/* Snapshot for the API. model NULL = the provider-level view. configured=false
 * forces UNCONFIGURED (the tracker does not know about credentials). */
void gw_health_get(gw_health *h, const char *provider, const char *model, bool configured,
                   int64_t now_ms, gw_model_health *out);

/* "available", "degraded", "unavailable", "unconfigured". */
const char *gw_health_status_name(gw_health_status status);
/* "closed", "open", "half_open". */
const char *gw_breaker_state_name(gw_breaker_state state);

#endif
