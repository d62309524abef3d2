/*
 * hub_metrics.h - teamhub's Prometheus metrics (core/metrics.h registry):
 * API requests by status, errors by code, request latency; chat requests,
 * tokens and exact cost by organization and model; time to first token.
 * GET /metrics renders the whole registry. Thread-safe.
 */
#ifndef HUB_METRICS_H
#define HUB_METRICS_H

#include "../core/base.h"
#include "../core/money.h"

/* Defines every metric; call once at start-up. */
core_err hub_metrics_init(void);
/* One finished API exchange (status code, error code or NULL, seconds). */
void hub_metrics_request(int status, const char *error_code, double seconds);
/* One finished chat: outcome status complete|partial|error, usage and cost. */
void hub_metrics_chat(const char *org_id, const char *provider, const char *model,
                      const char *status, const token_usage_t *usage, int64_t cost_pico,
                      int64_t ttft_ms);

#endif
