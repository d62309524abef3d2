/*
 * hub_verify.c - the reconciliation behind `teamhub usage verify` (see
 * hub_verify.h). Every check is a query whose rows are the differences (or
 * the material to compare in C), so a clean database answers with empty
 * result sets; amounts are compared as integers, never as decimals.
 */
#include "hub_verify.h"

#include "../core/money.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    hub_verify_report *r;
    const char *org; /* NULL = all */
    char *errbuf;
    size_t errlen;
} verify_ctx;

static void add_diff(hub_verify_report *r, const char *check, const char *id, int64_t expected,
                     int64_t actual, const char *detail)
{
    if (json_array_size(r->differences) >= HUB_VERIFY_MAX_LISTED * 4) return;
    char e[48], a[48];
    json_array_append_new(r->differences,
                          json_pack("{s:s,s:s,s:s,s:s,s:s}", "check", check, "id", id ? id : "",
                                    "expected_usd", money_format_pico(expected, e), "actual_usd",
                                    money_format_pico(actual, a), "detail", detail ? detail : ""));
}

/* Runs sql with the org filter as $1 when the text uses it. */
static core_err query(store_conn *conn, verify_ctx *v, const char *sql_all, const char *sql_org,
                      store_rows **rows)
{
    store_param p[] = {STORE_TEXT(v->org ? v->org : "")};
    core_err err =
        v->org ? store_query(conn, sql_org, p, 1, rows) : store_query(conn, sql_all, NULL, 0, rows);
    if (err) snprintf(v->errbuf, v->errlen, "%s", store_conn_errmsg(conn));
    return err;
}

#define ORG_FILTER(sql_head, col, sql_tail)                                                        \
    sql_head " " sql_tail, sql_head " AND " col " = $1 " sql_tail

/* 1. messages vs the ledger */
static core_err check_messages(store_conn *conn, verify_ctx *v)
{
    hub_verify_report *r = v->r;
    store_rows *rows = NULL;
    core_err err = query(conn, v,
                         ORG_FILTER("SELECT COUNT(*) FROM messages m JOIN conversations c ON "
                                    "c.id = m.conversation_id WHERE m.role = 'assistant'",
                                    "c.org_id", ""),
                         &rows);
    if (err) return err;
    r->messages_checked = store_rows_i64(rows, 0, 0, 0);
    store_rows_free(rows);

    err = query(conn, v,
                ORG_FILTER("SELECT u.message_id, m.cost_pico, u.cost_pico FROM "
                           "model_usage_analytics u JOIN messages m ON m.id = u.message_id "
                           "WHERE m.cost_pico <> u.cost_pico",
                           "u.org_id", "ORDER BY u.message_id"),
                &rows);
    if (err) return err;
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        r->message_mismatches++;
        add_diff(r, "message_vs_ledger", store_rows_get(rows, i, 0), store_rows_i64(rows, i, 2, 0),
                 store_rows_i64(rows, i, 1, 0),
                 "the message's cost differs from its model_usage_analytics row");
    }
    store_rows_free(rows);

    err = query(conn, v,
                ORG_FILTER("SELECT c.id, (SELECT COALESCE(SUM(cost_pico), 0) FROM messages m "
                           "WHERE m.conversation_id = c.id), (SELECT COALESCE(SUM(cost_pico), 0) "
                           "FROM model_usage_analytics u WHERE u.conversation_id = c.id) FROM "
                           "conversations c WHERE 1 = 1",
                           "c.org_id", "ORDER BY c.id"),
                &rows);
    if (err) return err;
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        int64_t msgs = store_rows_i64(rows, i, 1, 0), ledger = store_rows_i64(rows, i, 2, 0);
        if (msgs == ledger) continue;
        r->conversation_mismatches++;
        add_diff(r, "conversation_total", store_rows_get(rows, i, 0), ledger, msgs,
                 "the conversation's message total differs from its ledger total");
    }
    store_rows_free(rows);
    return CORE_OK;
}

/* 2. ledger vs settlements */
static core_err check_settlements(store_conn *conn, verify_ctx *v)
{
    hub_verify_report *r = v->r;
    store_rows *rows = NULL;
    core_err err =
        query(conn, v,
              ORG_FILTER("SELECT u.message_id, u.cost_pico, r.id, r.state, r.settled_pico FROM "
                         "model_usage_analytics u LEFT JOIN budget_reservations r ON "
                         "r.message_id = u.message_id WHERE u.message_id IS NOT NULL",
                         "u.org_id", "ORDER BY u.message_id"),
              &rows);
    if (err) return err;
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        const char *id = store_rows_get(rows, i, 0);
        int64_t cost = store_rows_i64(rows, i, 1, 0);
        r->ledger_rows++;
        money_add(r->ledger_total_pico, cost, &r->ledger_total_pico);
        const char *state = store_rows_get(rows, i, 3);
        int64_t settled = store_rows_i64(rows, i, 4, 0);
        if (!store_rows_get(rows, i, 2)) {
            r->settlement_mismatches++;
            add_diff(r, "ledger_vs_settlement", id, cost, 0,
                     "no budget reservation was settled for this call");
        } else if (strcmp(state, "settled") != 0 && strcmp(state, "released") != 0) {
            r->settlement_mismatches++;
            add_diff(r, "ledger_vs_settlement", id, cost, settled,
                     "the call's reservation was never settled");
        } else if (settled != cost) {
            r->settlement_mismatches++;
            add_diff(r, "ledger_vs_settlement", id, cost, settled,
                     "the settled amount differs from the ledger");
        }
    }
    store_rows_free(rows);

    err = query(conn, v,
                ORG_FILTER("SELECT r.id, r.settled_pico, r.message_id FROM budget_reservations r "
                           "WHERE r.state IN ('settled', 'released') AND (r.message_id IS NULL "
                           "OR NOT EXISTS (SELECT 1 FROM model_usage_analytics u WHERE "
                           "u.message_id = r.message_id))",
                           "r.org_id", "ORDER BY r.id"),
                &rows);
    if (err) return err;
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        int64_t settled = store_rows_i64(rows, i, 1, 0);
        if (settled == 0 && !store_rows_get(rows, i, 2)) continue; /* released, never ran */
        r->settlement_mismatches++;
        add_diff(r, "settlement_without_ledger", store_rows_get(rows, i, 0), 0, settled,
                 "a settled reservation has no usage row");
    }
    store_rows_free(rows);

    err = query(conn, v,
                ORG_FILTER("SELECT COALESCE(SUM(settled_pico), 0), COALESCE(SUM(CASE WHEN state "
                           "= 'held' THEN 1 ELSE 0 END), 0) FROM budget_reservations r WHERE "
                           "1 = 1",
                           "r.org_id", ""),
                &rows);
    if (err) return err;
    r->settled_total_pico = store_rows_i64(rows, 0, 0, 0);
    r->open_holds = store_rows_i64(rows, 0, 1, 0);
    store_rows_free(rows);
    return CORE_OK;
}

/* 3. budget rows vs reservations */
static core_err check_budgets(store_conn *conn, verify_ctx *v)
{
    hub_verify_report *r = v->r;
    store_rows *rows = NULL;
    core_err err = query(
        conn, v,
        ORG_FILTER(
            "SELECT b.id, b.scope, b.subject_id, b.spent_pico, b.reserved_pico, (SELECT "
            "COALESCE(SUM(r.settled_pico), 0) FROM budget_reservations r WHERE r.org_id = "
            "b.org_id AND r.period = b.period_start AND (b.scope = 'org' OR (b.scope = 'user' AND "
            "r.user_id = b.subject_id) OR (b.scope = 'agent' AND r.agent_id = b.subject_id))), "
            "(SELECT COALESCE(SUM(r.amount_pico), 0) FROM budget_reservations r WHERE r.org_id = "
            "b.org_id AND r.state = 'held' AND ((b.scope = 'org' AND r.hold_org = 1) OR (b.scope "
            "= 'user' AND r.user_id = b.subject_id AND r.hold_user = 1) OR (b.scope = 'agent' AND "
            "r.agent_id = b.subject_id AND r.hold_agent = 1))) FROM budgets b WHERE 1 = 1",
            "b.org_id", "ORDER BY b.id"),
        &rows);
    if (err) return err;
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        char what[200];
        snprintf(what, sizeof what, "%s budget of %s", store_rows_get(rows, i, 1),
                 store_rows_get(rows, i, 2));
        int64_t spent = store_rows_i64(rows, i, 3, 0), reserved = store_rows_i64(rows, i, 4, 0);
        int64_t want_spent = store_rows_i64(rows, i, 5, 0);
        int64_t want_reserved = store_rows_i64(rows, i, 6, 0);
        if (spent != want_spent) {
            r->budget_mismatches++;
            char d[300];
            snprintf(d, sizeof d, "%s: spent differs from its settlements", what);
            add_diff(r, "budget_spent", store_rows_get(rows, i, 0), want_spent, spent, d);
        }
        if (reserved != want_reserved) {
            r->budget_mismatches++;
            char d[300];
            snprintf(d, sizeof d, "%s: reserved differs from its open holds", what);
            add_diff(r, "budget_reserved", store_rows_get(rows, i, 0), want_reserved, reserved, d);
        }
    }
    store_rows_free(rows);
    return CORE_OK;
}

static core_err hub_job(store_conn *conn, void *ud)
{
    verify_ctx *v = ud;
    core_err err = check_messages(conn, v);
    if (!err) err = check_settlements(conn, v);
    if (!err) err = check_budgets(conn, v);
    return err;
}

/* ---- 4. the gateway's usage_log ---- */

typedef struct {
    char *message_id;
    int64_t cost;
    bool matched;
} gw_row;

typedef struct {
    verify_ctx *v;
    gw_row *rows;
    size_t n;
} gw_ctx;

static int by_message(const void *a, const void *b)
{
    return strcmp(((const gw_row *)a)->message_id, ((const gw_row *)b)->message_id);
}

static core_err gateway_job(store_conn *conn, void *ud)
{
    gw_ctx *g = ud;
    store_rows *rows = NULL;
    core_err err = store_query(conn,
                               "SELECT cost_pico, metadata FROM usage_log WHERE metadata LIKE "
                               "'%message_id%'",
                               NULL, 0, &rows);
    if (err) {
        snprintf(g->v->errbuf, g->v->errlen, "gateway database: %s", store_conn_errmsg(conn));
        return err;
    }
    size_t n = store_rows_count(rows);
    g->rows = n ? calloc(n, sizeof *g->rows) : NULL;
    if (n && !g->rows) err = CORE_ENOMEM;
    for (size_t i = 0; !err && i < n; i++) {
        json_error_t jerr;
        json_t *meta = json_loads(store_rows_get(rows, i, 1), 0, &jerr);
        const char *mid = json_string_value(json_object_get(meta, "message_id"));
        const char *org = json_string_value(json_object_get(meta, "org_id"));
        if (mid && (!g->v->org || (org && strcmp(org, g->v->org) == 0))) {
            g->rows[g->n].message_id = strdup(mid);
            g->rows[g->n].cost = store_rows_i64(rows, i, 0, 0);
            if (g->rows[g->n].message_id) g->n++;
        }
        json_decref(meta);
    }
    store_rows_free(rows);
    if (g->n) qsort(g->rows, g->n, sizeof *g->rows, by_message);
    return err;
}

typedef struct {
    verify_ctx *v;
    gw_ctx *g;
} cmp_ctx;

static core_err compare_job(store_conn *conn, void *ud)
{
    cmp_ctx *cc = ud;
    hub_verify_report *r = cc->v->r;
    gw_ctx *g = cc->g;
    store_rows *rows = NULL;
    core_err err = query(conn, cc->v,
                         ORG_FILTER("SELECT message_id, cost_pico FROM model_usage_analytics u "
                                    "WHERE u.message_id IS NOT NULL",
                                    "u.org_id", "ORDER BY u.message_id"),
                         &rows);
    if (err) return err;
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        const char *mid = store_rows_get(rows, i, 0);
        int64_t cost = store_rows_i64(rows, i, 1, 0);
        gw_row key = {.message_id = (char *)mid};
        gw_row *hit = g->n ? bsearch(&key, g->rows, g->n, sizeof *g->rows, by_message) : NULL;
        /* several gateway rows for one message would be a bug; sum them */
        int64_t gw_cost = 0;
        if (hit) {
            while (hit > g->rows && strcmp(hit[-1].message_id, mid) == 0)
                hit--;
            for (; hit < g->rows + g->n && strcmp(hit->message_id, mid) == 0; hit++) {
                gw_cost += hit->cost;
                hit->matched = true;
            }
        }
        if (gw_cost != cost) {
            r->gateway_mismatches++;
            add_diff(r, "ledger_vs_gateway", mid, gw_cost, cost,
                     "teamhub's cost for this call differs from aigw's usage_log");
        }
    }
    store_rows_free(rows);
    for (size_t i = 0; i < g->n; i++) {
        money_add(r->gateway_total_pico, g->rows[i].cost, &r->gateway_total_pico);
        if (g->rows[i].matched) continue;
        r->gateway_mismatches++;
        add_diff(r, "gateway_without_ledger", g->rows[i].message_id, 0, g->rows[i].cost,
                 "aigw logged a teamhub call that teamhub has no usage row for");
    }
    r->gateway_rows = (int64_t)g->n;
    return CORE_OK;
}

core_err hub_verify_run(store *hub, store *gateway, const char *org_id, hub_verify_report *out,
                        char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->differences = json_array();
    if (errlen) errbuf[0] = '\0';
    verify_ctx v = {out, org_id && *org_id ? org_id : NULL, errbuf, errlen};
    core_err err = store_run_sync(hub, hub_job, &v);
    if (err || !gateway) return err;
    gw_ctx g = {.v = &v};
    err = store_run_sync(gateway, gateway_job, &g);
    if (!err) {
        cmp_ctx cc = {&v, &g};
        err = store_run_sync(hub, compare_job, &cc);
        out->gateway_checked = err == CORE_OK;
    }
    for (size_t i = 0; i < g.n; i++)
        free(g.rows[i].message_id);
    free(g.rows);
    return err;
}

void hub_verify_report_free(hub_verify_report *r)
{
    json_decref(r->differences);
    r->differences = NULL;
}

int64_t hub_verify_problems(const hub_verify_report *r)
{
    return r->message_mismatches + r->conversation_mismatches + r->settlement_mismatches +
           r->budget_mismatches + r->gateway_mismatches;
}

json_t *hub_verify_report_json(const hub_verify_report *r)
{
    char ledger[48], settled[48], gw[48];
    json_t *j = json_pack(
        "{s:b,s:I,s:I,s:I,s:I,s:s,s:I,s:s,s:I,s:I,s:O}", "ok", hub_verify_problems(r) == 0,
        "messages_checked", (json_int_t)r->messages_checked, "message_mismatches",
        (json_int_t)r->message_mismatches, "conversation_mismatches",
        (json_int_t)r->conversation_mismatches, "ledger_rows", (json_int_t)r->ledger_rows,
        "ledger_total_usd", money_format_pico(r->ledger_total_pico, ledger),
        "settlement_mismatches", (json_int_t)r->settlement_mismatches, "settled_total_usd",
        money_format_pico(r->settled_total_pico, settled), "open_holds", (json_int_t)r->open_holds,
        "budget_mismatches", (json_int_t)r->budget_mismatches, "differences", r->differences);
    if (r->gateway_checked)
        json_object_set_new(j, "gateway",
                            json_pack("{s:I,s:s,s:I}", "rows", (json_int_t)r->gateway_rows,
                                      "total_usd", money_format_pico(r->gateway_total_pico, gw),
                                      "mismatches", (json_int_t)r->gateway_mismatches));
    else
        json_object_set_new(j, "gateway", json_null());
    return j;
}

/* ---- CLI ---- */

static const char *flag(int argc, char **argv, int start, const char *name)
{
    for (int i = start; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}

int hub_verify_main(int argc, char **argv, int start, const char *default_database)
{
    const char *db_url = flag(argc, argv, start, "--database");
    const char *gw_url = flag(argc, argv, start, "--gateway-database");
    const char *org = flag(argc, argv, start, "--org");
    bool as_json = false;
    for (int i = start; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0) as_json = true;
    if (!db_url) db_url = default_database;
    if (!gw_url) gw_url = getenv("AIGW_DATABASE_URL");
    if (!db_url || !*db_url) {
        fprintf(stderr, "usage: teamhub usage verify [--database URL] [--gateway-database URL] "
                        "[--org ID] [--json]\n");
        return 2;
    }
    store *hub = NULL, *gw = NULL;
    char errbuf[512] = "";
    int rc = 2;
    hub_verify_report r;
    memset(&r, 0, sizeof r);
    if (store_open(db_url, 1, &hub, errbuf, sizeof errbuf) != CORE_OK) {
        fprintf(stderr, "teamhub: cannot open the database: %s\n", errbuf);
        goto out;
    }
    if (gw_url && *gw_url && store_open(gw_url, 1, &gw, errbuf, sizeof errbuf) != CORE_OK) {
        fprintf(stderr, "teamhub: cannot open the gateway database: %s\n", errbuf);
        goto out;
    }
    if (hub_verify_run(hub, gw, org, &r, errbuf, sizeof errbuf) != CORE_OK) {
        fprintf(stderr, "teamhub: verify failed: %s\n", errbuf[0] ? errbuf : "database error");
        goto out;
    }
    rc = hub_verify_problems(&r) == 0 ? 0 : 1;
    if (as_json) {
        json_t *j = hub_verify_report_json(&r);
        char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(j);
    } else {
        char a[48], b[48], c[48];
        printf("assistant messages checked:        %lld\n"
               "message vs ledger differences:     %lld\n"
               "conversation total differences:    %lld\n"
               "ledger rows (calls):               %lld, %s USD\n"
               "settlements:                       %s USD, %lld differences, %lld open holds\n"
               "budget row differences:            %lld\n",
               (long long)r.messages_checked, (long long)r.message_mismatches,
               (long long)r.conversation_mismatches, (long long)r.ledger_rows,
               money_format_pico(r.ledger_total_pico, a),
               money_format_pico(r.settled_total_pico, b), (long long)r.settlement_mismatches,
               (long long)r.open_holds, (long long)r.budget_mismatches);
        if (r.gateway_checked)
            printf("gateway usage_log:                 %lld rows, %s USD, %lld differences\n",
                   (long long)r.gateway_rows, money_format_pico(r.gateway_total_pico, c),
                   (long long)r.gateway_mismatches);
        else
            printf("gateway usage_log:                 not checked (no --gateway-database)\n");
        size_t i;
        json_t *d;
        json_array_foreach(r.differences, i, d)
        {
            if (i >= HUB_VERIFY_MAX_LISTED) break;
            printf("  DIFF %s %s: expected %s, found %s (%s)\n",
                   json_string_value(json_object_get(d, "check")),
                   json_string_value(json_object_get(d, "id")),
                   json_string_value(json_object_get(d, "expected_usd")),
                   json_string_value(json_object_get(d, "actual_usd")),
                   json_string_value(json_object_get(d, "detail")));
        }
        printf("%s\n", rc == 0 ? "OK: exact" : "MISMATCH");
    }
out:
    hub_verify_report_free(&r);
    if (gw) store_close(gw);
    if (hub) store_close(hub);
    return rc;
}
