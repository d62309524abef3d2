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

#endif
