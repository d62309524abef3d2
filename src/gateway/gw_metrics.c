/*
 * gw_metrics.c - aigw's Prometheus metrics: requests by provider, model and
 * outcome code, tokens and exact cost by model, a latency and a TTFT
 * histogram per model, usage-log queue health and open requests. Series live
 * in a fixed-size table (bounded memory whatever the traffic) under one
 * mutex; an observation is a hash lookup and a few additions.
 */
#include "gw_app.h"

#include "usage_log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SERIES_MAX 2048
static const int64_t latency_buckets_ms[] = {5,    10,   25,    50,    100,   250,
                                             500,  1000, 2500,  5000,  10000, 30000,
                                             60000};
#define NBUCKETS ((int)(sizeof latency_buckets_ms / sizeof latency_buckets_ms[0]))

typedef struct {
    char provider[64];
    char model[160];
    char code[32]; /* "ok" or an error code */
    bool used;
    uint64_t requests;
    uint64_t input_tokens, cached_tokens, output_tokens, reasoning_tokens;
    int64_t cost_pico;
    uint64_t lat_count, lat_buckets[NBUCKETS];
    int64_t lat_sum_ms;
    uint64_t ttft_count, ttft_buckets[NBUCKETS];
    int64_t ttft_sum_ms;
} series;

typedef struct {
    pthread_mutex_t mu;
    series table[SERIES_MAX];
    uint64_t dropped_series;
} gw_metrics_state;

core_err gw_metrics_init(gw_app *app)
{
    gw_metrics_state *m = calloc(1, sizeof *m);
    if (!m) return CORE_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    app->metrics = m;
    return CORE_OK;
}

void gw_metrics_free(gw_app *app)
{
    gw_metrics_state *m = app->metrics;
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
    app->metrics = NULL;
}

static uint64_t fnv1a(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static series *find_series(gw_metrics_state *m, const char *provider, const char *model,
                           const char *code)
{
    uint64_t h = fnv1a(provider, model, code);
    for (int probe = 0; probe < SERIES_MAX; probe++) {
        series *s = &m->table[(h + (uint64_t)probe) % SERIES_MAX];
        if (!s->used) {
            s->used = true;
            snprintf(s->provider, sizeof s->provider, "%s", provider);
            snprintf(s->model, sizeof s->model, "%s", model);
            snprintf(s->code, sizeof s->code, "%s", code);
            return s;
        }
        if (strcmp(s->provider, provider) == 0 && strcmp(s->model, model) == 0 &&
            strcmp(s->code, code) == 0)
            return s;
    }
    return NULL;
}

static void observe_hist(uint64_t *buckets, uint64_t *count, int64_t *sum, int64_t v)
{
    (*count)++;
    *sum += v;
    for (int i = 0; i < NBUCKETS; i++)
        if (v <= latency_buckets_ms[i]) buckets[i]++;
}

void gw_metrics_observe(gw_app *app, const gw_call_summary *s)
{
    gw_metrics_state *m = app->metrics;
    if (!m) return;
    const char *code = s->error == GW_OK ? "ok" : gw_err_code(s->error);
    pthread_mutex_lock(&m->mu);
    series *se = find_series(m, s->provider ? s->provider : "", s->model ? s->model : "", code);
    if (!se) {
        m->dropped_series++;
    } else {
        se->requests++;
        se->input_tokens += (uint64_t)s->tokens.input;
        se->cached_tokens += (uint64_t)s->tokens.cached_input;
        se->output_tokens += (uint64_t)s->tokens.output;
        se->reasoning_tokens += (uint64_t)s->tokens.reasoning;
        if (money_add(se->cost_pico, s->cost_pico, &se->cost_pico) != CORE_OK)
            se->cost_pico = INT64_MAX;
        if (s->latency_ms >= 0)
            observe_hist(se->lat_buckets, &se->lat_count, &se->lat_sum_ms, s->latency_ms);
        if (s->ttft_ms >= 0)
            observe_hist(se->ttft_buckets, &se->ttft_count, &se->ttft_sum_ms, s->ttft_ms);
    }
    pthread_mutex_unlock(&m->mu);
}

static void labels(buf_t *b, const series *s, bool with_code)
{
    buf_append_cstr(b, "{provider=\"");
    buf_append_json_escaped(b, slice_from_cstr(s->provider));
    buf_append_cstr(b, "\",model=\"");
    buf_append_json_escaped(b, slice_from_cstr(s->model));
    if (with_code) {
        buf_append_cstr(b, "\",code=\"");
        buf_append_cstr(b, s->code);
    }
    buf_append_cstr(b, "\"");
}

static void render_hist(buf_t *b, const char *name, const series *s, const uint64_t *buckets,
                        uint64_t count, int64_t sum)
{
    for (int i = 0; i < NBUCKETS; i++) {
        buf_printf(b, "%s_bucket", name);
        labels(b, s, true);
        buf_printf(b, ",le=\"%g\"} %llu\n", (double)latency_buckets_ms[i] / 1000.0,
                   (unsigned long long)buckets[i]);
    }
    buf_printf(b, "%s_bucket", name);
    labels(b, s, true);
    buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)count);
    buf_printf(b, "%s_sum", name);
    labels(b, s, true);
    buf_printf(b, "} %lld.%03lld\n", (long long)(sum / 1000), (long long)(sum % 1000));
    buf_printf(b, "%s_count", name);
    labels(b, s, true);
    buf_printf(b, "} %llu\n", (unsigned long long)count);
}

void gw_app_render_metrics(gw_app *app, buf_t *b)
{
    gw_metrics_state *m = app->metrics;
    buf_append_cstr(b, "# HELP aigw_requests_total Finished generation requests by provider, "
                       "model and outcome code.\n# TYPE aigw_requests_total counter\n");
    if (m) pthread_mutex_lock(&m->mu);
    for (int i = 0; m && i < SERIES_MAX; i++) {
        series *s = &m->table[i];
        if (!s->used) continue;
        buf_append_cstr(b, "aigw_requests_total");
        labels(b, s, true);
        buf_printf(b, "} %llu\n", (unsigned long long)s->requests);
    }
    static const char *const tok_names[] = {"input", "cached_input", "output", "reasoning"};
    buf_append_cstr(b, "# HELP aigw_tokens_total Tokens by provider, model, outcome and kind.\n"
                       "# TYPE aigw_tokens_total counter\n");
    for (int i = 0; m && i < SERIES_MAX; i++) {
        series *s = &m->table[i];
        if (!s->used) continue;
        uint64_t v[4] = {s->input_tokens, s->cached_tokens, s->output_tokens, s->reasoning_tokens};
        for (int k = 0; k < 4; k++) {
            buf_append_cstr(b, "aigw_tokens_total");
            labels(b, s, true);
            buf_printf(b, ",kind=\"%s\"} %llu\n", tok_names[k], (unsigned long long)v[k]);
        }
    }
    buf_append_cstr(b, "# HELP aigw_cost_usd_total Exact cost in USD (sum of integer pico-USD).\n"
                       "# TYPE aigw_cost_usd_total counter\n");
    for (int i = 0; m && i < SERIES_MAX; i++) {
        series *s = &m->table[i];
        if (!s->used) continue;
        char usd[48];
        buf_append_cstr(b, "aigw_cost_usd_total");
        labels(b, s, true);
        buf_printf(b, "} %s\n", money_format_pico(s->cost_pico, usd));
    }
    buf_append_cstr(b, "# HELP aigw_request_duration_seconds Whole request latency.\n"
                       "# TYPE aigw_request_duration_seconds histogram\n");
    for (int i = 0; m && i < SERIES_MAX; i++) {
        series *s = &m->table[i];
        if (s->used && s->lat_count)
            render_hist(b, "aigw_request_duration_seconds", s, s->lat_buckets, s->lat_count,
                        s->lat_sum_ms);
    }
    buf_append_cstr(b, "# HELP aigw_ttft_seconds Time to first token.\n"
                       "# TYPE aigw_ttft_seconds histogram\n");
    for (int i = 0; m && i < SERIES_MAX; i++) {
        series *s = &m->table[i];
        if (s->used && s->ttft_count)
            render_hist(b, "aigw_ttft_seconds", s, s->ttft_buckets, s->ttft_count, s->ttft_sum_ms);
    }
    uint64_t dropped_series = m ? m->dropped_series : 0;
    if (m) pthread_mutex_unlock(&m->mu);
    buf_printf(b, "# HELP aigw_metric_series_dropped_total Observations without a free series.\n"
                  "# TYPE aigw_metric_series_dropped_total counter\n"
                  "aigw_metric_series_dropped_total %llu\n",
               (unsigned long long)dropped_series);
    if (app->usage) {
        gw_usage_stats st;
        gw_usage_log_stats(app->usage, &st);
        buf_printf(b,
                   "# HELP aigw_usage_rows_total Usage log rows by fate.\n"
                   "# TYPE aigw_usage_rows_total counter\n"
                   "aigw_usage_rows_total{fate=\"appended\"} %llu\n"
                   "aigw_usage_rows_total{fate=\"written\"} %llu\n"
                   "aigw_usage_rows_total{fate=\"dropped\"} %llu\n"
                   "# HELP aigw_usage_rows_queued Usage rows waiting for the writer.\n"
                   "# TYPE aigw_usage_rows_queued gauge\n"
                   "aigw_usage_rows_queued %llu\n",
                   (unsigned long long)st.appended, (unsigned long long)st.written,
                   (unsigned long long)st.dropped, (unsigned long long)st.queued);
    }
    if (app->server)
        buf_printf(b,
                   "# HELP aigw_open_requests HTTP requests being served.\n"
                   "# TYPE aigw_open_requests gauge\naigw_open_requests %zu\n",
                   http_server_active_requests(app->server));
}
