/*
 * hub_budget.c - budgets with reservations (see hub_budget.h for the model).
 * Every write is one statement whose WHERE clause carries the rule, so the
 * database's own locking (row locks on PostgreSQL, the write lock on SQLite)
 * is what makes concurrent reservations safe; no check-then-write in C.
 */
#include "hub_budget.h"
#include "hub_cost.h"
#include "hub_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *const scope_names[HUB_BUDGET__COUNT] = {"org", "user", "agent"};

const char *hub_budget_scope_name(hub_budget_scope s)
{
    return (unsigned)s < HUB_BUDGET__COUNT ? scope_names[s] : "org";
}

core_err hub_budget_scope_parse(const char *name, hub_budget_scope *out)
{
    for (int i = 0; name && i < HUB_BUDGET__COUNT; i++) {
        if (strcmp(name, scope_names[i]) == 0) {
            *out = (hub_budget_scope)i;
            return CORE_OK;
        }
    }
    return CORE_EINVAL;
}

void hub_budget_period(int64_t now_ms, char out[8])
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 8, "%04d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100);
}

core_err hub_budget_max_cost(const price_t *price, int64_t input_estimate, int64_t max_output,
                             int64_t *pico_out)
{
    if (input_estimate < 0 || max_output < 0) return CORE_EINVAL;
    if (input_estimate > INT64_MAX / 4) return CORE_ETOOBIG;
    int64_t padded = input_estimate + input_estimate / 2 + 64;
    int64_t min_pico = 0;
    return hub_cost_range(price, padded, max_output, &min_pico, pico_out);
}

static int64_t remaining_of(int64_t limit, int64_t spent, int64_t reserved)
{
    int64_t r = limit - spent - reserved;
    return r > 0 ? r : 0;
}

/* The subject of scope s for a call, "" when that scope does not apply. */
static const char *subject_of(const hub_budget_subject *who, hub_budget_scope s)
{
    const char *v = s == HUB_BUDGET_ORG    ? who->org_id
                    : s == HUB_BUDGET_USER ? who->user_id
                                           : who->agent_id;
    return v ? v : "";
}

/* Starts a budget's new month: spend restarts at zero, holds stay (they are
 * settled against the month they were made in). */
static core_err roll_period(store_conn *conn, const char *org_id, const char *period,
                            int64_t now_ms)
{
    store_param p[] = {STORE_TEXT(period), STORE_INT(now_ms), STORE_TEXT(org_id)};
    return store_exec(conn,
                      "UPDATE budgets SET period_start = $1, spent_pico = 0, updated_at = $2 "
                      "WHERE org_id = $3 AND period_start <> $1",
                      p, 3);
}

core_err hub_budget_reserve_tx(store_conn *conn, const hub_budget_subject *who, int64_t amount_pico,
                               int64_t now_ms, int64_t ttl_ms, hub_budget_hold *out)
{
    memset(out, 0, sizeof *out);
    if (!who || !who->org_id || !*who->org_id || amount_pico < 0) return CORE_EINVAL;
    char period[8];
    hub_budget_period(now_ms, period);
    core_err err = roll_period(conn, who->org_id, period, now_ms);
    if (err) return err;

    bool held[HUB_BUDGET__COUNT] = {false, false, false};
    for (int s = 0; s < HUB_BUDGET__COUNT; s++) {
        const char *subject = subject_of(who, (hub_budget_scope)s);
        if (!*subject) continue;
        store_param p[] = {STORE_INT(amount_pico), STORE_INT(now_ms), STORE_TEXT(who->org_id),
                           STORE_TEXT(scope_names[s]), STORE_TEXT(subject)};
        store_rows *rows = NULL;
        bool exists = false;
        /* The second attempt runs only with the row locked by the look below,
         * which saw room that appeared after the first one was evaluated. */
        for (int attempt = 0; attempt < 2 && !held[s]; attempt++) {
            err = store_query(
                conn,
                "UPDATE budgets SET reserved_pico = reserved_pico + CAST($1 AS BIGINT), "
                "updated_at = $2 WHERE org_id = $3 AND scope = $4 AND subject_id = $5 "
                "AND (monthly_limit_pico IS NULL OR spent_pico + reserved_pico + "
                "CAST($1 AS BIGINT) <= monthly_limit_pico) RETURNING id",
                p, 5, &rows);
            if (err) return err;
            held[s] = store_rows_count(rows) == 1;
            store_rows_free(rows);
            rows = NULL;
            if (held[s] || attempt > 0) break;

            /* Either no such budget (nothing to hold) or it is full: look,
             * locking the row (PostgreSQL; SQLite's write lock is held
             * already) so the numbers a refusal reports are the ones that
             * refused - a settle that committed after the UPDATE was
             * evaluated may have made room, and then the UPDATE runs again. */
            store_param q[] = {STORE_TEXT(who->org_id), STORE_TEXT(scope_names[s]),
                               STORE_TEXT(subject)};
            err = store_query(conn,
                              "SELECT monthly_limit_pico, spent_pico, reserved_pico FROM budgets "
                              "WHERE org_id = $1 AND scope = $2 AND subject_id = $3 FOR UPDATE",
                              q, 3, &rows);
            if (err) return err;
            exists = store_rows_count(rows) == 1;
            if (exists) {
                out->scope = (hub_budget_scope)s;
                out->limit_pico = store_rows_i64(rows, 0, 0, 0);
                out->spent_pico = store_rows_i64(rows, 0, 1, 0);
                out->reserved_pico = store_rows_i64(rows, 0, 2, 0);
                out->remaining_pico =
                    remaining_of(out->limit_pico, out->spent_pico, out->reserved_pico);
                out->refused = store_rows_get(rows, 0, 0) && out->remaining_pico < amount_pico;
            }
            store_rows_free(rows);
            rows = NULL;
            if (!exists || out->refused) break;
        }
        /* a budget that could not be held refuses, even in the case that
         * cannot happen with the row locked (the retry failing) */
        if (exists && !held[s]) out->refused = true;
        if (out->refused) return CORE_OK;
    }
    memset(out, 0, sizeof *out);

    random_id("bres_", out->reservation_id, sizeof out->reservation_id);
    store_param r[] = {
        STORE_TEXT(out->reservation_id),
        STORE_TEXT(who->org_id),
        STORE_TEXT_OR_NULL(*subject_of(who, HUB_BUDGET_USER) ? who->user_id : NULL),
        STORE_TEXT_OR_NULL(*subject_of(who, HUB_BUDGET_AGENT) ? who->agent_id : NULL),
        STORE_TEXT_OR_NULL(who->conversation_id),
        STORE_TEXT_OR_NULL(who->provider),
        STORE_TEXT_OR_NULL(who->model),
        STORE_TEXT(period),
        STORE_INT(amount_pico),
        STORE_INT(held[HUB_BUDGET_ORG]),
        STORE_INT(held[HUB_BUDGET_USER]),
        STORE_INT(held[HUB_BUDGET_AGENT]),
        STORE_INT(now_ms),
        STORE_INT(now_ms + (ttl_ms > 0 ? ttl_ms : HUB_BUDGET_HOLD_TTL_MS))};
    return store_exec(conn,
                      "INSERT INTO budget_reservations (id, org_id, user_id, agent_id, "
                      "conversation_id, provider, model, period, amount_pico, hold_org, "
                      "hold_user, hold_agent, state, created_at, expires_at) VALUES ($1, $2, $3, "
                      "$4, $5, $6, $7, $8, $9, $10, $11, $12, 'held', $13, $14)",
                      r, 14);
}

/* ---- alerts ---- */

bool hub_budget_thresholds_valid(const json_t *t)
{
    if (!json_is_array(t) || json_array_size(t) == 0 || json_array_size(t) > 10) return false;
    for (size_t i = 0; i < json_array_size(t); i++) {
        json_t *v = json_array_get(t, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000)
            return false;
        for (size_t j = 0; j < i; j++)
            if (json_integer_value(json_array_get(t, j)) == json_integer_value(v)) return false;
    }
    return true;
}

/* Is spent at or past pct percent of limit? Exact, no overflow. */
static bool at_threshold(int64_t spent, int64_t limit, int64_t pct)
{
    return (__int128)spent * 100 >= (__int128)limit * pct;
}

typedef struct {
    const char *budget_id, *org_id, *scope, *subject_id, *period, *thresholds, *webhook;
    int64_t limit, spent_before, spent_after;
} alert_check;

/* Records an alert for every threshold crossed between spent_before
 * (exclusive) and spent_after; a threshold already recorded this period is
 * not recorded again (unique key). */
static core_err record_alerts(store_conn *conn, const alert_check *a, int64_t now_ms,
                              hub_budget_alerts *out)
{
    if (a->limit <= 0) return CORE_OK;
    json_error_t jerr;
    json_t *list = json_loads(a->thresholds ? a->thresholds : "[]", 0, &jerr);
    core_err err = CORE_OK;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        int64_t pct = json_integer_value(v);
        if (pct <= 0 || !at_threshold(a->spent_after, a->limit, pct)) continue;
        if (a->spent_before >= 0 && at_threshold(a->spent_before, a->limit, pct)) continue;
        char id[40];
        random_id("alrt_", id, sizeof id);
        bool hook = a->webhook && *a->webhook;
        store_param p[] = {STORE_TEXT(id),
                           STORE_TEXT(a->org_id),
                           STORE_TEXT(a->budget_id),
                           STORE_TEXT(a->scope),
                           STORE_TEXT(a->subject_id),
                           STORE_TEXT(a->period),
                           STORE_INT(pct),
                           STORE_INT(a->spent_after),
                           STORE_INT(a->limit),
                           STORE_TEXT_OR_NULL(hook ? a->webhook : NULL),
                           STORE_TEXT(hook ? "pending" : "none"),
                           STORE_INT(now_ms)};
        err = store_exec(conn,
                         "INSERT INTO budget_alerts (id, org_id, budget_id, scope, subject_id, "
                         "period, threshold, spent_pico, limit_pico, webhook_url, webhook_state, "
                         "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                         "ON CONFLICT (budget_id, period, threshold) DO NOTHING",
                         p, 12);
        if (err) break;
        if (store_changes(conn) != 1 || !out || out->count >= HUB_BUDGET_MAX_ALERTS) continue;
        hub_budget_alert *al = &out->alerts[out->count++];
        memset(al, 0, sizeof *al);
        snprintf(al->alert_id, sizeof al->alert_id, "%s", id);
        snprintf(al->org_id, sizeof al->org_id, "%s", a->org_id);
        snprintf(al->scope, sizeof al->scope, "%s", a->scope);
        snprintf(al->subject_id, sizeof al->subject_id, "%s", a->subject_id);
        snprintf(al->period, sizeof al->period, "%s", a->period);
        al->threshold = (int)pct;
        al->spent_pico = a->spent_after;
        al->limit_pico = a->limit;
        snprintf(al->webhook_url, sizeof al->webhook_url, "%s", hook ? a->webhook : "");
    }
    json_decref(list);
    return err;
}

/* ---- settle / reclaim ---- */

typedef struct {
    char org_id[40], user_id[40], agent_id[40], period[8], state[16];
    int64_t amount;
    bool hold[HUB_BUDGET__COUNT];
} reservation_row;

static core_err load_reservation(store_conn *conn, const char *id, reservation_row *out,
                                 bool *found)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(id)};
    core_err err = store_query(conn,
                               "SELECT org_id, user_id, agent_id, period, amount_pico, hold_org, "
                               "hold_user, hold_agent, state FROM budget_reservations "
                               "WHERE id = $1 FOR UPDATE",
                               p, 1, &rows);
    if (err) return err;
    *found = store_rows_count(rows) == 1;
    if (*found) {
        snprintf(out->org_id, sizeof out->org_id, "%s", store_rows_get(rows, 0, 0));
        const char *u = store_rows_get(rows, 0, 1), *a = store_rows_get(rows, 0, 2);
        snprintf(out->user_id, sizeof out->user_id, "%s", u ? u : "");
        snprintf(out->agent_id, sizeof out->agent_id, "%s", a ? a : "");
        snprintf(out->period, sizeof out->period, "%s", store_rows_get(rows, 0, 3));
        out->amount = store_rows_i64(rows, 0, 4, 0);
        for (int s = 0; s < HUB_BUDGET__COUNT; s++)
            out->hold[s] = store_rows_i64(rows, 0, 5 + (size_t)s, 0) != 0;
        snprintf(out->state, sizeof out->state, "%s", store_rows_get(rows, 0, 8));
    }
    store_rows_free(rows);
    return CORE_OK;
}

/* Applies a closed reservation to its budgets: removes the hold (when
 * release_hold) and adds cost to the spend of budgets in the same period. */
static core_err apply_to_budgets(store_conn *conn, const reservation_row *r, bool release_hold,
                                 int64_t cost, int64_t now_ms, hub_budget_alerts *alerts)
{
    const char *subjects[HUB_BUDGET__COUNT] = {r->org_id, r->user_id, r->agent_id};
    for (int s = 0; s < HUB_BUDGET__COUNT; s++) {
        if (!*subjects[s]) continue;
        int64_t hold = release_hold && r->hold[s] ? r->amount : 0;
        if (hold == 0 && cost == 0) continue;
        store_param p[] = {STORE_INT(hold),        STORE_INT(cost),
                           STORE_TEXT(r->period),  STORE_INT(now_ms),
                           STORE_TEXT(r->org_id),  STORE_TEXT(scope_names[s]),
                           STORE_TEXT(subjects[s])};
        store_rows *rows = NULL;
        core_err err = store_query(
            conn,
            "UPDATE budgets SET reserved_pico = reserved_pico - CAST($1 AS BIGINT), spent_pico = "
            "spent_pico + CASE WHEN period_start = $3 THEN CAST($2 AS BIGINT) ELSE 0 END, "
            "updated_at = $4 WHERE org_id = $5 AND scope = $6 AND subject_id = $7 RETURNING id, "
            "monthly_limit_pico, spent_pico, period_start, alert_thresholds, alert_webhook",
            p, 7, &rows);
        if (err) return err;
        if (store_rows_count(rows) == 1 && store_rows_get(rows, 0, 1) && cost > 0 &&
            strcmp(store_rows_get(rows, 0, 3), r->period) == 0) {
            int64_t spent = store_rows_i64(rows, 0, 2, 0);
            alert_check a = {.budget_id = store_rows_get(rows, 0, 0),
                             .org_id = r->org_id,
                             .scope = scope_names[s],
                             .subject_id = subjects[s],
                             .period = r->period,
                             .thresholds = store_rows_get(rows, 0, 4),
                             .webhook = store_rows_get(rows, 0, 5),
                             .limit = store_rows_i64(rows, 0, 1, 0),
                             .spent_before = spent - cost,
                             .spent_after = spent};
            err = record_alerts(conn, &a, now_ms, alerts);
        }
        store_rows_free(rows);
        if (err) return err;
    }
    return CORE_OK;
}

core_err hub_budget_settle_tx(store_conn *conn, const char *reservation_id, int64_t cost_pico,
                              bool released, const char *message_id, int64_t now_ms,
                              hub_budget_alerts *alerts)
{
    if (!reservation_id || !*reservation_id || cost_pico < 0) return CORE_EINVAL;
    reservation_row r;
    bool found = false;
    core_err err = load_reservation(conn, reservation_id, &r, &found);
    if (err) return err;
    if (!found) return CORE_ENOTFOUND;
    bool was_held = strcmp(r.state, "held") == 0;
    if (!was_held && strcmp(r.state, "reclaimed") != 0) return CORE_OK; /* already closed */
    store_param p[] = {STORE_TEXT(released && cost_pico == 0 ? "released" : "settled"),
                       STORE_INT(cost_pico), STORE_TEXT_OR_NULL(message_id), STORE_INT(now_ms),
                       STORE_TEXT(reservation_id)};
    err = store_exec(conn,
                     "UPDATE budget_reservations SET state = $1, settled_pico = $2, "
                     "message_id = COALESCE($3, message_id), closed_at = $4 WHERE id = $5",
                     p, 5);
    if (err) return err;
    return apply_to_budgets(conn, &r, was_held, cost_pico, now_ms, alerts);
}

core_err hub_budget_reclaim_stale(store_conn *conn, const char *org_id, int64_t now_ms, int max,
                                  int *count_out)
{
    if (count_out) *count_out = 0;
    store_rows *rows = NULL;
    store_param p[] = {STORE_INT(now_ms), STORE_INT(max > 0 ? max : 100),
                       STORE_TEXT(org_id ? org_id : "")};
    core_err err = store_query(conn,
                               org_id ? "SELECT id FROM budget_reservations WHERE state = 'held' "
                                        "AND expires_at < $1 AND org_id = $3 "
                                        "ORDER BY expires_at LIMIT $2"
                                      : "SELECT id FROM budget_reservations WHERE state = 'held' "
                                        "AND expires_at < $1 ORDER BY expires_at LIMIT $2",
                               p, org_id ? 3 : 2, &rows);
    if (err) return err;
    int done = 0;
    for (size_t i = 0; i < store_rows_count(rows) && !err; i++) {
        reservation_row r;
        bool found = false;
        err = load_reservation(conn, store_rows_get(rows, i, 0), &r, &found);
        if (err || !found || strcmp(r.state, "held") != 0) continue; /* settled meanwhile */
        store_param u[] = {STORE_INT(now_ms), STORE_TEXT(store_rows_get(rows, i, 0))};
        err = store_exec(conn,
                         "UPDATE budget_reservations SET state = 'reclaimed', closed_at = $1 "
                         "WHERE id = $2",
                         u, 2);
        if (!err) err = apply_to_budgets(conn, &r, true, 0, now_ms, NULL);
        if (!err) done++;
    }
    store_rows_free(rows);
    if (count_out) *count_out = done;
    return err;
}

/* ---- administration ---- */

static core_err ledger_spend(store_conn *conn, const char *org_id, hub_budget_scope scope,
                             const char *subject_id, const char *period, int64_t *out)
{
    static const char *const sql[HUB_BUDGET__COUNT] = {
        "SELECT COALESCE(SUM(settled_pico), 0) FROM budget_reservations WHERE org_id = $1 AND "
        "period = $2 AND org_id = $3",
        "SELECT COALESCE(SUM(settled_pico), 0) FROM budget_reservations WHERE org_id = $1 AND "
        "period = $2 AND user_id = $3",
        "SELECT COALESCE(SUM(settled_pico), 0) FROM budget_reservations WHERE org_id = $1 AND "
        "period = $2 AND agent_id = $3",
    };
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(period), STORE_TEXT(subject_id)};
    core_err err = store_query(conn, sql[scope], p, 3, &rows);
    if (err) return err;
    *out = store_rows_i64(rows, 0, 0, 0);
    store_rows_free(rows);
    return CORE_OK;
}

void hub_budget_info_free(hub_budget_info *b)
{
    json_decref(b->thresholds);
    b->thresholds = NULL;
}

core_err hub_budget_get_tx(store_conn *conn, const char *org_id, hub_budget_scope scope,
                           const char *subject_id, int64_t now_ms, hub_budget_info *out)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)scope >= HUB_BUDGET__COUNT) return CORE_EINVAL;
    hub_budget_period(now_ms, out->period);
    core_err err = roll_period(conn, org_id, out->period, now_ms);
    if (err) return err;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(scope_names[scope]), STORE_TEXT(subject_id)};
    err = store_query(conn,
                      "SELECT id, monthly_limit_pico, spent_pico, reserved_pico, period_start, "
                      "alert_thresholds, alert_webhook FROM budgets WHERE org_id = $1 AND "
                      "scope = $2 AND subject_id = $3",
                      p, 3, &rows);
    if (err) return err;
    json_error_t jerr;
    if (store_rows_count(rows) == 1) {
        out->exists = true;
        snprintf(out->id, sizeof out->id, "%s", store_rows_get(rows, 0, 0));
        out->has_limit = store_rows_get(rows, 0, 1) != NULL;
        out->limit_pico = store_rows_i64(rows, 0, 1, 0);
        out->spent_pico = store_rows_i64(rows, 0, 2, 0);
        out->reserved_pico = store_rows_i64(rows, 0, 3, 0);
        snprintf(out->period, sizeof out->period, "%s", store_rows_get(rows, 0, 4));
        out->thresholds = json_loads(store_rows_get(rows, 0, 5), 0, &jerr);
        const char *hook = store_rows_get(rows, 0, 6);
        snprintf(out->webhook, sizeof out->webhook, "%s", hook ? hook : "");
    }
    store_rows_free(rows);
    if (!out->exists)
        err = ledger_spend(conn, org_id, scope, subject_id, out->period, &out->spent_pico);
    if (!json_is_array(out->thresholds)) {
        json_decref(out->thresholds);
        out->thresholds = json_pack("[i,i,i]", 50, 80, 100);
    }
    if (out->has_limit)
        out->remaining_pico = remaining_of(out->limit_pico, out->spent_pico, out->reserved_pico);
    return err;
}

json_t *hub_budget_info_json(const hub_budget_info *b, hub_budget_scope scope,
                             const char *subject_id)
{
    char limit[48], spent[48], reserved[48], remaining[48];
    return json_pack(
        "{s:s,s:s,s:o,s:s,s:s,s:o,s:s,s:O,s:o}", "scope", hub_budget_scope_name(scope),
        "subject_id", subject_id, "monthly_limit_usd",
        b->has_limit ? json_string(money_format_pico(b->limit_pico, limit)) : json_null(),
        "spent_usd", money_format_pico(b->spent_pico, spent), "reserved_usd",
        money_format_pico(b->reserved_pico, reserved), "remaining_usd",
        b->has_limit ? json_string(money_format_pico(b->remaining_pico, remaining)) : json_null(),
        "period_start", b->period, "alert_thresholds", b->thresholds, "alert_webhook",
        b->webhook[0] ? json_string(b->webhook) : json_null());
}

core_err hub_budget_set_tx(store_conn *conn, const char *org_id, hub_budget_scope scope,
                           const char *subject_id, bool has_limit, int64_t limit_pico,
                           const json_t *thresholds, const char *webhook, int64_t now_ms,
                           hub_budget_alerts *alerts)
{
    if ((unsigned)scope >= HUB_BUDGET__COUNT || (has_limit && limit_pico < 0)) return CORE_EINVAL;
    if (thresholds && !hub_budget_thresholds_valid(thresholds)) return CORE_EINVAL;
    hub_budget_info cur;
    core_err err = hub_budget_get_tx(conn, org_id, scope, subject_id, now_ms, &cur);
    if (err) goto out;
    char *thr_text = json_dumps(thresholds ? thresholds : cur.thresholds, JSON_COMPACT);
    if (!thr_text) {
        err = CORE_ENOMEM;
        goto out;
    }
    const char *hook = webhook ? webhook : cur.webhook;
    char id[40];
    if (cur.exists) {
        snprintf(id, sizeof id, "%s", cur.id);
        store_param p[] = {has_limit ? STORE_INT(limit_pico) : STORE_NULL, STORE_TEXT(thr_text),
                           STORE_TEXT_OR_NULL(*hook ? hook : NULL), STORE_INT(now_ms),
                           STORE_TEXT(id)};
        err = store_exec(conn,
                         "UPDATE budgets SET monthly_limit_pico = $1, alert_thresholds = $2, "
                         "alert_webhook = $3, updated_at = $4 WHERE id = $5",
                         p, 5);
    } else {
        random_id("bud_", id, sizeof id);
        store_param p[] = {STORE_TEXT(id),
                           STORE_TEXT(org_id),
                           STORE_TEXT(scope_names[scope]),
                           STORE_TEXT(subject_id),
                           has_limit ? STORE_INT(limit_pico) : STORE_NULL,
                           STORE_TEXT(cur.period),
                           STORE_INT(cur.spent_pico),
                           STORE_TEXT(thr_text),
                           STORE_TEXT_OR_NULL(*hook ? hook : NULL),
                           STORE_INT(now_ms)};
        err = store_exec(conn,
                         "INSERT INTO budgets (id, org_id, scope, subject_id, monthly_limit_pico, "
                         "period_start, spent_pico, reserved_pico, alert_thresholds, "
                         "alert_webhook, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, "
                         "$9, $10)",
                         p, 10);
    }
    /* A lowered limit (or a new budget over a month already spent) may
     * already be past thresholds: record them now, not at the next call. */
    if (!err && has_limit) {
        alert_check a = {.budget_id = id,
                         .org_id = org_id,
                         .scope = scope_names[scope],
                         .subject_id = subject_id,
                         .period = cur.period,
                         .thresholds = thr_text,
                         .webhook = hook,
                         .limit = limit_pico,
                         .spent_before = -1,
                         .spent_after = cur.spent_pico};
        err = record_alerts(conn, &a, now_ms, alerts);
    }
    free(thr_text);
out:
    hub_budget_info_free(&cur);
    return err;
}

core_err hub_budget_delete_tx(store_conn *conn, const char *org_id, hub_budget_scope scope,
                              const char *subject_id)
{
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(hub_budget_scope_name(scope)),
                       STORE_TEXT(subject_id)};
    return store_exec(
        conn, "DELETE FROM budgets WHERE org_id = $1 AND scope = $2 AND subject_id = $3", p, 3);
}

/* ---- cheaper alternatives ---- */

typedef struct {
    const char *id;
    int64_t cost;
} priced_model;

static int by_cost(const void *a, const void *b)
{
    const priced_model *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? -1 : 1;
    return strcmp(x->id, y->id);
}

json_t *hub_budget_cheaper_models(const json_t *registry, const json_t *org_allowed,
                                  const json_t *agent_allowed, int64_t input_estimate,
                                  int64_t max_output_default, int64_t remaining_pico)
{
    json_t *ids = hub_policy_alternatives(registry, org_allowed, agent_allowed);
    json_t *out = json_array();
    size_t n = json_array_size(ids);
    priced_model *list = n ? calloc(n, sizeof *list) : NULL;
    size_t kept = 0;
    for (size_t i = 0; list && i < n; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        char provider[100], model[100];
        if (!id || hub_model_ref_parse(NULL, id, provider, sizeof provider, model, sizeof model))
            continue;
        const json_t *entry = hub_registry_find(registry, provider, model);
        price_t price;
        int64_t max_out = MIN(hub_entry_max_output(entry, max_output_default), max_output_default);
        int64_t cost = 0;
        if (hub_price_from_entry(entry, &price) != CORE_OK ||
            hub_budget_max_cost(&price, input_estimate, max_out, &cost) != CORE_OK ||
            cost > remaining_pico)
            continue;
        list[kept++] = (priced_model){id, cost};
    }
    if (kept) qsort(list, kept, sizeof *list, by_cost);
    for (size_t i = 0; i < kept; i++) {
        char text[48];
        json_array_append_new(out, json_pack("{s:s,s:s}", "id", list[i].id, "max_cost_usd",
                                             money_format_pico(list[i].cost, text)));
    }
    free(list);
    json_decref(ids);
    return out;
}
