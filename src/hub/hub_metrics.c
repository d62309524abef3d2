/*
 * hub_metrics.c - definition and updates of teamhub's Prometheus metrics, and
 * the GET /metrics route (see hub_metrics.h).
 */
#include "hub_metrics.h"
#include "hub_app.h"

#include "../core/metrics.h"

#include <stdio.h>

static metric *requests, *errors, *latency, *chats, *tokens, *cost, *ttft;

core_err hub_metrics_init(void)
{
    static const char *const status_label[] = {"status", NULL};
    static const char *const code_label[] = {"code", NULL};
    static const char *const chat_labels[] = {"org", "model", "status", NULL};
    static const char *const token_labels[] = {"org", "model", "kind", NULL};
    static const char *const cost_labels[] = {"org", "model", NULL};
    static const char *const model_label[] = {"model", NULL};
    requests = metrics_counter_define("teamhub_http_requests_total",
                                      "API requests answered, by HTTP status", status_label);
    errors = metrics_counter_define("teamhub_http_errors_total", "API error answers, by error code",
                                    code_label);
    latency = metrics_histogram_define("teamhub_http_request_duration_seconds",
                                       "API request duration (streams: until the last byte)", NULL,
                                       metrics_latency_buckets, metrics_latency_buckets_count);
    chats = metrics_counter_define("teamhub_chat_requests_total",
                                   "POST /api/chat outcomes by org, model and status", chat_labels);
    tokens = metrics_counter_define("teamhub_chat_tokens_total",
                                    "tokens by org, model and kind (input, cached_input, output, "
                                    "reasoning)",
                                    token_labels);
    cost = metrics_counter_define("teamhub_chat_cost_picousd_total",
                                  "exact chat cost in pico-USD (1e-12 USD) by org and model",
                                  cost_labels);
    ttft = metrics_histogram_define("teamhub_chat_ttft_seconds", "time to first token by model",
                                    model_label, metrics_latency_buckets,
                                    metrics_latency_buckets_count);
    return requests && errors && latency && chats && tokens && cost && ttft ? CORE_OK : CORE_ENOMEM;
}

void hub_metrics_request(int status, const char *error_code, double seconds)
{
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    const char *status_values[] = {code};
    if (requests) metrics_add(requests, status_values, 1);
    if (error_code && errors) {
        const char *code_values[] = {error_code};
        metrics_add(errors, code_values, 1);
    }
    if (latency) metrics_observe(latency, NULL, seconds);
}

void hub_metrics_chat(const char *org_id, const char *provider, const char *model,
                      const char *status, const token_usage_t *usage, int64_t cost_pico,
                      int64_t ttft_ms)
{
    char ref[200];
    snprintf(ref, sizeof ref, "%s/%s", provider, model);
    const char *chat_values[] = {org_id, ref, status};
    if (chats) metrics_add(chats, chat_values, 1);
    static const char *const kinds[] = {"input", "cached_input", "output", "reasoning"};
    const int64_t counts[] = {usage->input, usage->cached_input, usage->output, usage->reasoning};
    for (size_t i = 0; tokens && i < ARRAY_LEN(kinds); i++) {
        const char *token_values[] = {org_id, ref, kinds[i]};
        if (counts[i] > 0) metrics_add(tokens, token_values, counts[i]);
    }
    const char *cost_values[] = {org_id, ref};
    if (cost && cost_pico > 0) metrics_add(cost, cost_values, cost_pico);
    const char *model_values[] = {ref};
    if (ttft && ttft_ms >= 0) metrics_observe(ttft, model_values, (double)ttft_ms / 1000.0);
}

static void handle_metrics(http_request *req, void *ud)
{
    buf_t out;
    buf_init(&out, 0);
    if (metrics_render(&out) != CORE_OK) {
        buf_free(&out);
        http_respond_error(req, 500, "internal_error", "metrics rendering failed", true);
        return;
    }
    http_respond(req, 200, "text/plain; version=0.0.4", buf_slice(&out));
    buf_free(&out);
}

core_err hub_routes_metrics(http_router *r)
{
    return http_router_add(r, "GET", "/metrics", handle_metrics, NULL);
}
