/*
 * hub_budget.h - monthly budgets per organization, and optionally per user
 * and per agent inside it, enforced with reservations so that concurrent
 * calls can never spend past a limit.
 *
 * The life of one model call:
 *   reserve  before the gateway is called: the most the call can cost
 *            (hub_budget_max_cost) is added to reserved_pico of every budget
 *            that applies (org, user, agent), each with one atomic
 *              UPDATE budgets SET reserved = reserved + amt
 *              WHERE id = .. AND spent + reserved + amt <= limit
 *            - a row lock on PostgreSQL (READ COMMITTED re-checks the WHERE
 *            on the locked row), the database write lock on SQLite (BEGIN
 *            IMMEDIATE). Rows are always touched in the order org, user,
 *            agent, so two reservations cannot deadlock.
 *   settle   when usage arrives, in the transaction that stores the answer:
 *            the hold is removed and the exact cost added to spent_pico;
 *            a call that failed with nothing to pay is "released".
 *   reclaim  a hold left behind by a crashed process or a lost job expires
 *            (expires_at) and is released by hub_budget_reclaim_stale, which
 *            hub_budget_reserve runs first for its organization.
 *
 * Every call gets a reservation row, budget or not: the table is the
 * settlement ledger `teamhub usage verify` reconciles against messages,
 * model_usage_analytics and aigw's usage_log.
 *
 * Threads: the *_tx functions run inside a store job, inside a transaction
 * the caller opened with store_begin (they never begin/commit themselves);
 * errors are the store's (CORE_EBUSY: retry the whole transaction). The pure
 * helpers run anywhere.
 */
#ifndef HUB_BUDGET_H
#define HUB_BUDGET_H

#include "../core/money.h"
#include "../store/store.h"

#include <jansson.h>

typedef enum {
    HUB_BUDGET_ORG = 0,
    HUB_BUDGET_USER,
    HUB_BUDGET_AGENT,
    HUB_BUDGET__COUNT
} hub_budget_scope;

/* "org", "user", "agent". */
const char *hub_budget_scope_name(hub_budget_scope s);
/* CORE_EINVAL for anything else. */
core_err hub_budget_scope_parse(const char *name, hub_budget_scope *out);

/* Default lifetime of a hold: longer than any call may take (aigw's first
 * byte and idle timeouts are 2 minutes each), short enough that a crash does
 * not freeze a budget for long. */
#define HUB_BUDGET_HOLD_TTL_MS (15 * 60 * 1000LL)
#define HUB_BUDGET_MAX_ALERTS  8 /* new alerts reported by one settle */

/* Who a call is made for. user_id and agent_id may be "" (no such budget). */
typedef struct {
    const char *org_id;
    const char *user_id;
    const char *agent_id;
    const char *conversation_id; /* for the ledger; may be NULL */
    const char *provider, *model;
} hub_budget_subject;

typedef struct {
    bool refused;
    hub_budget_scope scope; /* the budget that refused */
    int64_t limit_pico;     /* of that budget */
    int64_t spent_pico;
    int64_t reserved_pico;
    int64_t remaining_pico;  /* limit - spent - reserved, never negative */
    char reservation_id[40]; /* set when not refused */
} hub_budget_hold;

/* The UTC month of now_ms as "YYYY-MM". */
void hub_budget_period(int64_t now_ms, char out[8]);

/* The most a call can cost: input tokens padded for tokenizer differences
 * (x1.5 + 64: the hub estimates 4 bytes a token, providers count their own
 * way) plus max_output tokens at the output price. CORE_ETOOBIG on overflow. */
core_err hub_budget_max_cost(const price_t *price, int64_t input_estimate, int64_t max_output,
                             int64_t *pico_out);

/* Reserves amount_pico for one call. On refusal out->refused is set with the
 * numbers of the refusing budget and nothing is written - but the caller must
 * still roll back (earlier budgets of the same call were already held). */
core_err hub_budget_reserve_tx(store_conn *conn, const hub_budget_subject *who, int64_t amount_pico,
                               int64_t now_ms, int64_t ttl_ms, hub_budget_hold *out);

/* One alert a settle created (threshold newly crossed this period). */
typedef struct {
    char alert_id[40];
    char org_id[40];
    char scope[8];
    char subject_id[40];
    char period[8];
    int threshold;
    int64_t spent_pico, limit_pico;
    char webhook_url[512]; /* "" when none configured */
} hub_budget_alert;

typedef struct {
    size_t count;
    hub_budget_alert alerts[HUB_BUDGET_MAX_ALERTS];
} hub_budget_alerts;

/* Settles reservation_id with the exact cost (>= 0) and links it to
 * message_id (may be NULL). released = true marks a call that produced
 * nothing billable (gateway error, abort before output) - cost should then
 * be 0. A reservation already reclaimed is still settled (its cost counts;
 * its hold was already removed). Settling twice is a no-op (CORE_OK).
 * CORE_ENOTFOUND when the id is unknown. New alerts go into alerts (may be
 * NULL). */
core_err hub_budget_settle_tx(store_conn *conn, const char *reservation_id, int64_t cost_pico,
                              bool released, const char *message_id, int64_t now_ms,
                              hub_budget_alerts *alerts);

/* Releases holds whose expires_at passed (state "reclaimed"). org_id NULL =
 * every organization. At most max rows per call; *count_out gets the number
 * (may be NULL). */
core_err hub_budget_reclaim_stale(store_conn *conn, const char *org_id, int64_t now_ms, int max,
                                  int *count_out);

/* ---- administration (inside a transaction too) ---- */

typedef struct {
    bool exists;
    char id[40];
    bool has_limit;
    int64_t limit_pico;
    int64_t spent_pico, reserved_pico, remaining_pico; /* remaining: 0 when !has_limit */
    char period[8];
    json_t *thresholds; /* array of ints, never NULL after load */
    char webhook[512];
} hub_budget_info;

/* Loads a budget (rolled over to the current month when needed). A missing
 * row gives exists=false and the spend of the period from the ledger. */
core_err hub_budget_get_tx(store_conn *conn, const char *org_id, hub_budget_scope scope,
                           const char *subject_id, int64_t now_ms, hub_budget_info *out);
void hub_budget_info_free(hub_budget_info *b);
/* {scope, subject_id, monthly_limit_usd|null, spent_usd, reserved_usd,
 * remaining_usd|null, period_start, alert_thresholds, alert_webhook}. */
json_t *hub_budget_info_json(const hub_budget_info *b, hub_budget_scope scope,
                             const char *subject_id);

/* Creates or updates a budget. has_limit false = no limit (tracking only).
 * thresholds may be NULL (keep / default), webhook NULL = keep, "" = none.
 * A new row starts with the period's settled spend from the ledger. A limit
 * already crossed records its alerts at once; they are added to alerts (may
 * be NULL) for webhook delivery. */
core_err hub_budget_set_tx(store_conn *conn, const char *org_id, hub_budget_scope scope,
                           const char *subject_id, bool has_limit, int64_t limit_pico,
                           const json_t *thresholds, const char *webhook, int64_t now_ms,
                           hub_budget_alerts *alerts);
/* Removes a budget row (spend stays in the ledger). */
core_err hub_budget_delete_tx(store_conn *conn, const char *org_id, hub_budget_scope scope,
                              const char *subject_id);

/* Validates alert thresholds: an array of 1..10 distinct integers 1..1000. */
bool hub_budget_thresholds_valid(const json_t *t);

/* Models the caller may use whose maximum cost for this turn fits in
 * remaining_pico, cheapest first: new array of {"id":"provider/model",
 * "max_cost_usd":".."}. registry/allow-lists as in hub_policy.h. */
json_t *hub_budget_cheaper_models(const json_t *registry, const json_t *org_allowed,
                                  const json_t *agent_allowed, int64_t input_estimate,
                                  int64_t max_output_default, int64_t remaining_pico);

#endif
