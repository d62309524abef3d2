/*
 * health.c - circuit breakers, error rates and latency estimates per provider
 * and per provider+model, fed by the router after every upstream call and by
 * periodic probes. See health.h for the rules; this file keeps the state in
 * a small chained hash table under one mutex. Sliding windows are kept as
 * GW_HEALTH_WINDOW_SLOTS time slots so recording and reading are O(1) in the
 * traffic volume; medians sort a copy of at most GW_HEALTH_MAX_SAMPLES values.
 */
#include "health.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define HEALTH_BUCKETS 256

typedef struct {
    int64_t epoch; /* now_ms / slot_ms of the counts below; -1 = empty */
    uint32_t requests;
    uint32_t failures;
    uint32_t rate_limited;
} window_slot;

typedef struct {
    gw_breaker_state state;
    int64_t open_until_ms;
    uint32_t cooldown_ms; /* length of the current opening; doubles on re-open */
    bool probe_in_flight;
    int64_t probe_started_ms;
    char open_reason[GW_HEALTH_REASON_MAX];
} breaker;

typedef struct health_entry {
    struct health_entry *next;
    uint64_t hash;
    char *provider;
    char *model; /* NULL for the provider-level entry */

    breaker br;
    uint32_t consecutive_failures;
    uint32_t consecutive_rate_limits;
    gw_err last_err;

    window_slot slots[GW_HEALTH_WINDOW_SLOTS];
    uint64_t total_requests;
    uint64_t total_failures;

    int64_t ttft_samples[GW_HEALTH_MAX_SAMPLES];
    uint32_t ttft_count, ttft_next;
    int64_t tps_tenths_samples[GW_HEALTH_MAX_SAMPLES]; /* tokens/s * 10, rounded */
    uint32_t tps_count, tps_next;

    /* Provider-level evidence (model == NULL entries only). */
    bool key_bad;
    bool probe_failed;
    char probe_detail[GW_HEALTH_DETAIL_MAX];
} health_entry;

struct gw_health {
    pthread_mutex_t lock;
    gw_health_config cfg;
    uint32_t slot_ms;
    size_t nentries;
    health_entry *buckets[HEALTH_BUCKETS];
};

typedef enum {
    COUNT_SUCCESS,
    COUNT_FAILURE,
    COUNT_RATE_LIMITED,
    COUNT_KEY_BAD,
    COUNT_NEUTRAL
} count_kind;

void gw_health_config_default(gw_health_config *cfg)
{
    *cfg = (gw_health_config){
        .open_after_failures = 5,
        .open_error_rate_pct = 50,
        .window_ms = 60000,
        .window_min_requests = 10,
        .degraded_error_rate_pct = 10,
        .degraded_min_requests = 3,
        .open_after_rate_limits = 10,
        .cooldown_ms = 5000,
        .cooldown_max_ms = 300000,
        .key_bad_cooldown_ms = 60000,
        .probe_timeout_ms = 120000,
        .latency_samples = 32,
    };
}

const char *gw_health_status_name(gw_health_status status)
{
    switch (status) {
    case GW_HEALTH_AVAILABLE:
        return "available";
    case GW_HEALTH_DEGRADED:
        return "degraded";
    case GW_HEALTH_UNAVAILABLE:
        return "unavailable";
    case GW_HEALTH_UNCONFIGURED:
        return "unconfigured";
    }
    return "unavailable";
}

const char *gw_breaker_state_name(gw_breaker_state state)
{
    switch (state) {
    case GW_BREAKER_CLOSED:
        return "closed";
    case GW_BREAKER_OPEN:
        return "open";
    case GW_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "open";
}

gw_health *gw_health_new(const gw_health_config *cfg)
{
    gw_health *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    if (cfg)
        h->cfg = *cfg;
    else
        gw_health_config_default(&h->cfg);
    if (h->cfg.latency_samples == 0 || h->cfg.latency_samples > GW_HEALTH_MAX_SAMPLES)
        h->cfg.latency_samples = GW_HEALTH_MAX_SAMPLES;
    if (h->cfg.window_ms < GW_HEALTH_WINDOW_SLOTS) h->cfg.window_ms = GW_HEALTH_WINDOW_SLOTS;
    if (h->cfg.cooldown_max_ms < h->cfg.cooldown_ms) h->cfg.cooldown_max_ms = h->cfg.cooldown_ms;
    h->slot_ms = h->cfg.window_ms / GW_HEALTH_WINDOW_SLOTS;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

static void entry_free(health_entry *e)
{
    free(e->provider);
    free(e->model);
    free(e);
}

void gw_health_free(gw_health *h)
{
    if (!h) return;
    for (size_t i = 0; i < HEALTH_BUCKETS; i++) {
        health_entry *e = h->buckets[i];
        while (e) {
            health_entry *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* FNV-1a over "provider\0model" (model absent for the provider entry). */
static uint64_t key_hash(const char *provider, const char *model)
{
    uint64_t hash = 1469598103934665603ULL;
    for (const char *p = provider; *p; p++)
        hash = (hash ^ (uint8_t)*p) * 1099511628211ULL;
    hash = (hash ^ 0xffu) * 1099511628211ULL;
    if (model)
        for (const char *p = model; *p; p++)
            hash = (hash ^ (uint8_t)*p) * 1099511628211ULL;
    return hash;
}

static bool entry_matches(const health_entry *e, uint64_t hash, const char *provider,
                          const char *model)
{
    if (e->hash != hash || strcmp(e->provider, provider) != 0) return false;
    if (!model || !e->model) return !model && !e->model;
    return strcmp(e->model, model) == 0;
}

/* Finds (and with create, makes) an entry. Lock held. NULL when absent, on
 * OOM, or past the entry ceiling. */
static health_entry *entry_find(gw_health *h, const char *provider, const char *model, bool create)
{
    if (!provider) return NULL;
    uint64_t hash = key_hash(provider, model);
    health_entry **bucket = &h->buckets[hash % HEALTH_BUCKETS];
    for (health_entry *e = *bucket; e; e = e->next)
        if (entry_matches(e, hash, provider, model)) return e;
    if (!create || h->nentries >= GW_HEALTH_MAX_ENTRIES) return NULL;
    health_entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    e->provider = strdup(provider);
    e->model = model ? strdup(model) : NULL;
    if (!e->provider || (model && !e->model)) {
        entry_free(e);
        return NULL;
    }
    e->hash = hash;
    e->br.cooldown_ms = h->cfg.cooldown_ms;
    for (size_t i = 0; i < GW_HEALTH_WINDOW_SLOTS; i++)
        e->slots[i].epoch = -1;
    e->next = *bucket;
    *bucket = e;
    h->nentries++;
    return e;
}

/* ---- sliding window ---- */

static window_slot *window_current(gw_health *h, health_entry *e, int64_t now_ms)
{
    int64_t epoch = (now_ms < 0 ? 0 : now_ms) / h->slot_ms;
    window_slot *slot = &e->slots[epoch % GW_HEALTH_WINDOW_SLOTS];
    if (slot->epoch != epoch) *slot = (window_slot){.epoch = epoch};
    return slot;
}

static void window_sum(const gw_health *h, const health_entry *e, int64_t now_ms, window_slot *sum)
{
    int64_t epoch = (now_ms < 0 ? 0 : now_ms) / h->slot_ms;
    *sum = (window_slot){0};
    for (size_t i = 0; i < GW_HEALTH_WINDOW_SLOTS; i++) {
        const window_slot *slot = &e->slots[i];
        if (slot->epoch < 0 || slot->epoch > epoch || slot->epoch <= epoch - GW_HEALTH_WINDOW_SLOTS)
            continue;
        sum->requests += slot->requests;
        sum->failures += slot->failures;
        sum->rate_limited += slot->rate_limited;
    }
}

static void window_clear(health_entry *e)
{
    for (size_t i = 0; i < GW_HEALTH_WINDOW_SLOTS; i++)
        e->slots[i] = (window_slot){.epoch = -1};
}

/* ---- latency samples ---- */

static void sample_push(int64_t *samples, uint32_t *count, uint32_t *next, uint32_t cap,
                        int64_t value)
{
    samples[*next] = value;
    *next = (*next + 1) % cap;
    if (*count < cap) (*count)++;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Median of the samples (mean of the middle two, rounded down, for an even
 * count); -1 when there are none. */
static int64_t sample_median(const int64_t *samples, uint32_t count)
{
    if (count == 0) return -1;
    int64_t sorted[GW_HEALTH_MAX_SAMPLES];
    memcpy(sorted, samples, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), cmp_i64);
    if (count % 2) return sorted[count / 2];
    return (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

/* ---- breaker ---- */

static void breaker_open(health_entry *e, int64_t now_ms, uint32_t cooldown_ms, const char *reason)
{
    e->br.state = GW_BREAKER_OPEN;
    e->br.cooldown_ms = cooldown_ms;
    e->br.open_until_ms = now_ms + cooldown_ms;
    e->br.probe_in_flight = false;
    if (reason != e->br.open_reason) /* re-opening keeps the old reason in place */
        snprintf(e->br.open_reason, sizeof(e->br.open_reason), "%s", reason);
}

/* Re-opens after a failed half-open probe: twice the last cool-down, capped. */
static uint32_t next_cooldown(const gw_health *h, const health_entry *e)
{
    uint64_t doubled = (uint64_t)e->br.cooldown_ms * 2;
    if (doubled < h->cfg.cooldown_ms) doubled = h->cfg.cooldown_ms;
    return (uint32_t)MIN(doubled, (uint64_t)h->cfg.cooldown_max_ms);
}

static void breaker_close(gw_health *h, health_entry *e)
{
    e->br = (breaker){.state = GW_BREAKER_CLOSED, .cooldown_ms = h->cfg.cooldown_ms};
    e->consecutive_failures = 0;
    e->consecutive_rate_limits = 0;
    /* The failures that opened the breaker are stale now; keeping them would
     * let the rate rule re-open it on the very next failure. */
    window_clear(e);
}

/* Would the breaker let a call through now? No side effects. */
static bool breaker_would_allow(const gw_health *h, const health_entry *e, int64_t now_ms)
{
    if (!e) return true;
    switch (e->br.state) {
    case GW_BREAKER_CLOSED:
        return true;
    case GW_BREAKER_OPEN:
        return now_ms >= e->br.open_until_ms;
    case GW_BREAKER_HALF_OPEN:
        return !e->br.probe_in_flight ||
               now_ms - e->br.probe_started_ms >= (int64_t)h->cfg.probe_timeout_ms;
    }
    return false;
}

/* Commits an allowed call: an OPEN breaker past its cool-down turns
 * HALF_OPEN, and a HALF_OPEN breaker hands out its single probe slot. */
static void breaker_take(health_entry *e, int64_t now_ms)
{
    if (!e || e->br.state == GW_BREAKER_CLOSED) return;
    e->br.state = GW_BREAKER_HALF_OPEN;
    e->br.probe_in_flight = true;
    e->br.probe_started_ms = now_ms;
}

static void refusal_reason(const health_entry *e, int64_t now_ms, char *reason, size_t reason_len)
{
    if (!reason || reason_len == 0) return;
    if (e->br.state == GW_BREAKER_OPEN)
        snprintf(reason, reason_len, "%s; next probe in %" PRId64 " ms", e->br.open_reason,
                 e->br.open_until_ms - now_ms);
    else
        snprintf(reason, reason_len, "circuit half-open: a probe request is in flight (%s)",
                 e->br.open_reason);
}

bool gw_health_allow(gw_health *h, const char *provider, const char *model, int64_t now_ms,
                     char *reason, size_t reason_len)
{
    if (reason && reason_len) reason[0] = '\0';
    pthread_mutex_lock(&h->lock);
    health_entry *prov = entry_find(h, provider, NULL, false);
    health_entry *mod = model ? entry_find(h, provider, model, false) : NULL;
    bool allowed = false;
    if (!breaker_would_allow(h, prov, now_ms)) {
        refusal_reason(prov, now_ms, reason, reason_len);
        goto out;
    }
    if (!breaker_would_allow(h, mod, now_ms)) {
        refusal_reason(mod, now_ms, reason, reason_len);
        goto out;
    }
    breaker_take(prov, now_ms);
    breaker_take(mod, now_ms);
    allowed = true;
out:
    pthread_mutex_unlock(&h->lock);
    return allowed;
}

/* ---- recording ---- */

static count_kind classify(const gw_health_outcome *o)
{
    if (o->ok) return COUNT_SUCCESS;
    switch (o->err) {
    case GW_ERR_PROVIDER_ERROR:
    case GW_ERR_TIMEOUT:
    case GW_ERR_UPSTREAM_TRUNCATED:
    case GW_ERR_PROVIDER_QUOTA:
    case GW_ERR_MODEL_NOT_FOUND:
        return COUNT_FAILURE;
    case GW_ERR_MODEL_UNAVAILABLE:
        return o->http_status != 0 ? COUNT_FAILURE : COUNT_NEUTRAL;
    case GW_ERR_RATE_LIMITED:
        return o->http_status != 0 ? COUNT_RATE_LIMITED : COUNT_NEUTRAL;
    case GW_ERR_PROVIDER_AUTH:
        return COUNT_KEY_BAD;
    default:
        return COUNT_NEUTRAL;
    }
}

static void mark_key_bad_locked(gw_health *h, health_entry *prov, int64_t now_ms)
{
    prov->key_bad = true;
    breaker_open(prov, now_ms, h->cfg.key_bad_cooldown_ms, "provider rejected the API key");
}

/* Provider-wide good news: the key works and the provider answers. */
static void provider_clear(gw_health *h, health_entry *prov)
{
    prov->key_bad = false;
    prov->probe_failed = false;
    prov->probe_detail[0] = '\0';
    if (prov->br.state != GW_BREAKER_CLOSED) breaker_close(h, prov);
}

static void count_in_window(gw_health *h, health_entry *e, count_kind kind, int64_t now_ms)
{
    window_slot *slot = window_current(h, e, now_ms);
    slot->requests++;
    e->total_requests++;
    if (kind == COUNT_FAILURE || kind == COUNT_KEY_BAD) {
        slot->failures++;
        e->total_failures++;
    } else if (kind == COUNT_RATE_LIMITED) {
        slot->rate_limited++;
    }
}

static void record_latency(gw_health *h, health_entry *e, int64_t ttft_ms, int64_t output_tokens,
                           int64_t duration_ms)
{
    uint32_t cap = h->cfg.latency_samples;
    if (ttft_ms >= 0) sample_push(e->ttft_samples, &e->ttft_count, &e->ttft_next, cap, ttft_ms);
    int64_t generation_ms = duration_ms - MAX(ttft_ms, 0);
    /* Token counts come from the provider: keep tokens * 10000 inside int64
     * whatever it reports (such a sample is absurd, but must not be UB). */
    output_tokens = MIN(output_tokens, INT64_MAX / 10000 - INT64_MAX / 20000);
    /* One token says nothing about speed; it all arrives with the first byte. */
    if (output_tokens >= 2 && generation_ms > 0) {
        int64_t tenths = (output_tokens * 10000 + generation_ms / 2) / generation_ms;
        sample_push(e->tps_tenths_samples, &e->tps_count, &e->tps_next, cap, tenths);
    }
}

/* Applies one counted outcome to the model entry's breaker. */
static void model_breaker_update(gw_health *h, health_entry *e, const gw_health_outcome *o,
                                 count_kind kind, int64_t now_ms)
{
    char reason[GW_HEALTH_REASON_MAX];
    if (kind == COUNT_SUCCESS) {
        if (e->br.state == GW_BREAKER_HALF_OPEN) breaker_close(h, e);
        e->consecutive_failures = 0;
        e->consecutive_rate_limits = 0;
        return;
    }
    if (kind == COUNT_RATE_LIMITED) {
        e->consecutive_rate_limits++;
        if (e->br.state == GW_BREAKER_HALF_OPEN) {
            breaker_open(e, now_ms, next_cooldown(h, e), e->br.open_reason);
        } else if (e->br.state == GW_BREAKER_CLOSED &&
                   e->consecutive_rate_limits >= h->cfg.open_after_rate_limits) {
            snprintf(reason, sizeof(reason),
                     "circuit open: provider answered 429 to %u calls in a row",
                     e->consecutive_rate_limits);
            breaker_open(e, now_ms, h->cfg.cooldown_ms, reason);
        }
        return;
    }
    /* A provider-side failure. */
    e->consecutive_failures++;
    e->consecutive_rate_limits = 0;
    e->last_err = o->err;
    if (e->br.state == GW_BREAKER_HALF_OPEN) {
        snprintf(reason, sizeof(reason), "circuit open: probe request failed (%s)",
                 gw_err_code(o->err));
        breaker_open(e, now_ms, next_cooldown(h, e), reason);
        return;
    }
    if (e->br.state != GW_BREAKER_CLOSED)
        return; /* a call let through before the breaker opened, ending late */
    if (e->consecutive_failures >= h->cfg.open_after_failures) {
        snprintf(reason, sizeof(reason), "circuit open: %u consecutive failures (last: %s)",
                 e->consecutive_failures, gw_err_code(o->err));
        breaker_open(e, now_ms, h->cfg.cooldown_ms, reason);
        return;
    }
    window_slot sum;
    window_sum(h, e, now_ms, &sum);
    uint32_t counted = sum.requests - sum.rate_limited;
    if (counted >= h->cfg.window_min_requests &&
        (uint64_t)sum.failures * 100 >= (uint64_t)h->cfg.open_error_rate_pct * counted) {
        snprintf(reason, sizeof(reason),
                 "circuit open: %u of %u calls failed in the last %u s (last: %s)", sum.failures,
                 counted, h->cfg.window_ms / 1000, gw_err_code(o->err));
        breaker_open(e, now_ms, h->cfg.cooldown_ms, reason);
    }
}

/* The provider entry's breaker only reacts to traffic while a probe call is
 * out (HALF_OPEN); in CLOSED state model failures stay with their model. */
static void provider_breaker_update(gw_health *h, health_entry *prov, count_kind kind,
                                    const gw_health_outcome *o, int64_t now_ms)
{
    if (kind == COUNT_SUCCESS) {
        provider_clear(h, prov);
        return;
    }
    if (prov->br.state != GW_BREAKER_HALF_OPEN) return;
    if (prov->key_bad) {
        /* Still rejected keys re-open through COUNT_KEY_BAD; other failures
         * say nothing about the key, so the provider probe slot is freed. */
        prov->br.probe_in_flight = false;
        return;
    }
    char reason[GW_HEALTH_REASON_MAX];
    snprintf(reason, sizeof(reason), "circuit open: provider probe request failed (%s)",
             gw_err_code(o->err));
    breaker_open(prov, now_ms, next_cooldown(h, prov), reason);
}

void gw_health_record(gw_health *h, const char *provider, const char *model,
                      const gw_health_outcome *outcome, int64_t ttft_ms, int64_t output_tokens,
                      int64_t duration_ms, int64_t now_ms)
{
    count_kind kind = classify(outcome);
    pthread_mutex_lock(&h->lock);
    health_entry *prov = entry_find(h, provider, NULL, true);
    health_entry *mod = model ? entry_find(h, provider, model, true) : NULL;
    if (kind == COUNT_NEUTRAL) {
        /* Says nothing about the provider; only hand the probe slot back. */
        if (prov && prov->br.state == GW_BREAKER_HALF_OPEN) prov->br.probe_in_flight = false;
        if (mod && mod->br.state == GW_BREAKER_HALF_OPEN) mod->br.probe_in_flight = false;
        goto out;
    }
    if (prov) {
        count_in_window(h, prov, kind, now_ms);
        if (kind == COUNT_SUCCESS) record_latency(h, prov, ttft_ms, output_tokens, duration_ms);
        if (kind == COUNT_KEY_BAD)
            mark_key_bad_locked(h, prov, now_ms);
        else
            provider_breaker_update(h, prov, kind, outcome, now_ms);
    }
    if (mod && kind == COUNT_KEY_BAD) {
        /* The provider entry carries it; the model is not at fault. */
        if (mod->br.state == GW_BREAKER_HALF_OPEN) mod->br.probe_in_flight = false;
    } else if (mod) {
        count_in_window(h, mod, kind, now_ms);
        if (kind == COUNT_SUCCESS) record_latency(h, mod, ttft_ms, output_tokens, duration_ms);
        model_breaker_update(h, mod, outcome, kind, now_ms);
    }
out:
    pthread_mutex_unlock(&h->lock);
}

void gw_health_mark_key_bad(gw_health *h, const char *provider, int64_t now_ms)
{
    pthread_mutex_lock(&h->lock);
    health_entry *prov = entry_find(h, provider, NULL, true);
    if (prov) mark_key_bad_locked(h, prov, now_ms);
    pthread_mutex_unlock(&h->lock);
}

void gw_health_mark_probe(gw_health *h, const char *provider, bool ok, const char *detail,
                          int64_t now_ms)
{
    pthread_mutex_lock(&h->lock);
    health_entry *prov = entry_find(h, provider, NULL, true);
    if (!prov) goto out;
    if (ok) {
        provider_clear(h, prov);
        goto out;
    }
    prov->probe_failed = true;
    snprintf(prov->probe_detail, sizeof(prov->probe_detail), "%s",
             detail && *detail ? detail : "no detail");
    char reason[GW_HEALTH_REASON_MAX];
    snprintf(reason, sizeof(reason), "health probe failed: %s", prov->probe_detail);
    uint32_t cooldown =
        prov->br.state == GW_BREAKER_CLOSED ? h->cfg.cooldown_ms : next_cooldown(h, prov);
    if (prov->key_bad) cooldown = MAX(cooldown, h->cfg.key_bad_cooldown_ms);
    breaker_open(prov, now_ms, cooldown, prov->key_bad ? prov->br.open_reason : reason);
out:
    pthread_mutex_unlock(&h->lock);
}

void gw_health_reset_provider(gw_health *h, const char *provider)
{
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < HEALTH_BUCKETS; i++) {
        health_entry **link = &h->buckets[i];
        while (*link) {
            health_entry *e = *link;
            if (strcmp(e->provider, provider) == 0) {
                *link = e->next;
                entry_free(e);
                h->nentries--;
            } else {
                link = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
}

/* ---- snapshot ---- */

static void fill_counts(gw_health *h, const health_entry *e, int64_t now_ms, gw_model_health *out)
{
    window_slot sum;
    window_sum(h, e, now_ms, &sum);
    out->window_requests = sum.requests;
    out->window_failures = sum.failures;
    out->window_rate_limited = sum.rate_limited;
    out->error_rate_pct =
        sum.requests ? (uint32_t)(((uint64_t)sum.failures + sum.rate_limited) * 100 / sum.requests)
                     : 0;
    out->total_requests = e->total_requests;
    out->total_failures = e->total_failures;
    out->ttft_p50_ms = sample_median(e->ttft_samples, e->ttft_count);
    int64_t tenths = sample_median(e->tps_tenths_samples, e->tps_count);
    out->tokens_per_s = tenths < 0 ? -1.0 : (double)tenths / 10.0;
}

/* Status from one entry's breaker; false when it says nothing (closed). */
static bool breaker_status(const health_entry *e, int64_t now_ms, gw_model_health *out)
{
    if (!e || e->br.state == GW_BREAKER_CLOSED) return false;
    out->breaker = e->br.state;
    if (e->br.state == GW_BREAKER_OPEN && now_ms < e->br.open_until_ms) {
        out->status = GW_HEALTH_UNAVAILABLE;
        out->retry_in_ms = e->br.open_until_ms - now_ms;
        snprintf(out->status_reason, sizeof(out->status_reason), "%s", e->br.open_reason);
    } else {
        /* Cool-down over (or probing): the next call tests the water. */
        out->status = GW_HEALTH_DEGRADED;
        snprintf(out->status_reason, sizeof(out->status_reason), "recovering: %.170s",
                 e->br.open_reason);
    }
    return true;
}

void gw_health_get(gw_health *h, const char *provider, const char *model, bool configured,
                   int64_t now_ms, gw_model_health *out)
{
    *out = (gw_model_health){.status = GW_HEALTH_AVAILABLE,
                             .breaker = GW_BREAKER_CLOSED,
                             .ttft_p50_ms = -1,
                             .tokens_per_s = -1.0};
    pthread_mutex_lock(&h->lock);
    health_entry *prov = entry_find(h, provider, NULL, false);
    health_entry *mod = model ? entry_find(h, provider, model, false) : prov;
    if (mod) fill_counts(h, mod, now_ms, out);

    if (!configured) {
        out->status = GW_HEALTH_UNCONFIGURED;
        snprintf(out->status_reason, sizeof(out->status_reason),
                 "provider not configured (no credentials)");
        goto out;
    }
    if (prov && prov->key_bad) {
        out->status = GW_HEALTH_UNAVAILABLE;
        out->breaker = prov->br.state;
        if (prov->br.state == GW_BREAKER_OPEN && now_ms < prov->br.open_until_ms)
            out->retry_in_ms = prov->br.open_until_ms - now_ms;
        snprintf(out->status_reason, sizeof(out->status_reason), "provider rejected the API key");
        goto out;
    }
    if (breaker_status(prov, now_ms, out)) goto out;
    if (mod != prov && breaker_status(mod, now_ms, out)) goto out;

    uint32_t window_s = h->cfg.window_ms / 1000;
    if (out->window_requests >= h->cfg.degraded_min_requests &&
        out->error_rate_pct >= h->cfg.degraded_error_rate_pct && out->window_failures > 0) {
        out->status = GW_HEALTH_DEGRADED;
        snprintf(out->status_reason, sizeof(out->status_reason),
                 "elevated error rate: %u of %u calls failed in the last %u s",
                 out->window_failures + out->window_rate_limited, out->window_requests, window_s);
    } else if (out->window_rate_limited > 0) {
        out->status = GW_HEALTH_DEGRADED;
        snprintf(out->status_reason, sizeof(out->status_reason),
                 "provider is rate limiting: %u of %u calls got 429 in the last %u s",
                 out->window_rate_limited, out->window_requests, window_s);
    } else if (out->window_requests > 0) {
        snprintf(out->status_reason, sizeof(out->status_reason),
                 "ok: %u calls in the last %u s, %u failed", out->window_requests, window_s,
                 out->window_failures);
    } else if (out->total_requests > 0) {
        snprintf(out->status_reason, sizeof(out->status_reason), "ok: no calls in the last %u s",
                 window_s);
    } else {
        snprintf(out->status_reason, sizeof(out->status_reason), "no traffic yet");
    }
out:
    pthread_mutex_unlock(&h->lock);
}
