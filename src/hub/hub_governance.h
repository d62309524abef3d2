/*
 * hub_governance.h - teamhub's governance as one face for the rest of the
 * server: the process-wide rate limiter (in-process or Redis), the routes
 * of hub_api_governance.c, and the budget/limit view of one member.
 *
 *   GET|PUT /api/organizations/:id/budget   org budget (+ per-user/per-agent)
 *   GET|PUT /api/organizations/:id/limits   rpm/tpm per org and per member
 *   GET     /api/organizations/:id/audit    admin changes, newest first
 *   GET     /api/organizations/:id/alerts   budget threshold alerts
 *   GET     /api/governance/status          my remaining budget and limits
 * The org routes are for admins; /api/governance/status for any member.
 *
 * Threads: init/shutdown on the main thread before/after the server runs;
 * hub_governance_limits from anywhere; the *_view helpers inside store jobs.
 */
#ifndef HUB_GOVERNANCE_H
#define HUB_GOVERNANCE_H

#include "hub_app.h"
#include "hub_budget.h"
#include "hub_limits.h"

/* Sets up the limiter: Redis when redis_url is non-empty. CORE_EINVAL with a
 * reason in err for a bad URL. Idempotent (a second call replaces it). */
core_err hub_governance_init(const char *redis_url, char *err, size_t errlen);
void hub_governance_shutdown(void);
/* The process-wide limiter (in-process until init ran). Never NULL unless
 * out of memory. */
hub_limits *hub_governance_limits(void);

/* Registers the routes listed above. */
core_err hub_routes_governance(http_router *r);

/* Worker side: the member's budget/limit status in org_id, as served by
 * GET /api/governance/status. New reference, NULL on a database error. */
json_t *hub_governance_status_json(store_conn *conn, const char *org_id, const char *user_id,
                                   int64_t now_ms);

/* ---- the chat path (hub_gov_chat.c): every call that can reach a model ---- */

/* What one model call is about to do. Strings borrowed for the call. */
typedef struct {
    const char *org_id, *user_id, *agent_id; /* agent_id "" when none */
    const char *conversation_id;
    const char *provider, *model;
    int64_t input_estimate; /* tokens */
    int64_t max_output;     /* the maxTokens sent to the gateway */
    price_t price;
    bool have_price;
    /* for naming cheaper models that would fit */
    const json_t *registry, *org_allowed, *agent_allowed;
    int64_t max_output_default;
} hub_gov_call;

typedef enum {
    HUB_GOV_OK = 0,
    HUB_GOV_RATE_LIMITED,    /* -> 429 rate_limited + Retry-After, RateLimit-* */
    HUB_GOV_BUDGET_EXCEEDED, /* -> budget_exceeded */
    HUB_GOV_LIMITER_DOWN,    /* Redis unreachable -> 503, refuse rather than let through */
} hub_gov_outcome;

/* State carried from admission to settlement. */
typedef struct {
    hub_limit_config limits;
    hub_limit_verdict verdict; /* for the RateLimit-* headers */
    int64_t tokens_taken;      /* tpm charged up front */
    int64_t reserved_pico;
    char reservation_id[40]; /* "" until reserved */
} hub_gov_ticket;

/* Step 1, on the worker OUTSIDE any transaction (Redis may be asked): loads
 * the org's limits and takes from the buckets. On a refusal fills msg and
 * *extra (new object: {limit, remaining, retry_after_ms, scope}). */
core_err hub_governance_admit_rate(store_conn *conn, const hub_gov_call *call,
                                   hub_gov_ticket *ticket, hub_gov_outcome *outcome, json_t **extra,
                                   char *msg, size_t msglen);
/* Step 2, inside the caller's transaction (just before it commits): reserves
 * the call's maximum cost. On a refusal fills msg and *extra (new object:
 * {scope, remaining_usd, limit_usd, required_usd, cheaper_models:[..]}) and
 * the caller must roll back. */
core_err hub_governance_reserve_tx(store_conn *conn, const hub_gov_call *call,
                                   hub_gov_ticket *ticket, hub_gov_outcome *outcome, json_t **extra,
                                   char *msg, size_t msglen);
/* Step 3, inside the transaction that stores the outcome: settles the
 * reservation with the exact cost (released when the call produced nothing
 * billable). Charges the tpm buckets afterwards is the caller's job via
 * hub_governance_charge_tokens, outside the transaction. */
core_err hub_governance_settle_tx(store_conn *conn, const hub_gov_ticket *ticket,
                                  const char *message_id, int64_t cost_pico, bool released,
                                  hub_budget_alerts *alerts);
/* Worker: whether the call would fit the budgets that apply right now (for
 * estimates; the reservation decides for real). New object
 *   {remaining_usd|null, required_usd|null, fits, budget_scope|null,
 *    cheaper_models:[..]}
 * remaining_usd is the tightest limited budget's, null when none has a
 * limit; cheaper_models only when it does not fit. NULL on a database error. */
json_t *hub_governance_budget_outlook(store_conn *conn, const hub_gov_call *call);
/* Worker, outside transactions: the real token total minus what was taken. */
void hub_governance_charge_tokens(const hub_gov_call *call, const hub_gov_ticket *ticket,
                                  int64_t total_tokens);
/* Records RateLimit-Limit/-Remaining/-Reset (and Retry-After when refused)
 * for verdict on c's response (hub_call_header); nothing when no limit
 * applies. Worker or loop. */
void hub_governance_rate_headers(hub_call *c, const hub_limit_verdict *verdict);
#endif
