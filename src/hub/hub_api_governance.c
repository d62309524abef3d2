/*
 * hub_api_governance.c - the governance HTTP API (routes in
 * hub_governance.h) and the process-wide rate limiter. Every change is
 * written together with its audit row in one transaction, with the view
 * before and after, so the audit log can never miss or invent a change.
 */
#include "hub_alerts.h"
#include "hub_audit.h"
#include "hub_governance.h"

#include "../core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WEBHOOK_URL_MAX 500
#define SUBJECTS_MAX    200 /* per-user / per-agent entries in one PUT */

/* ---- the limiter ---- */

static pthread_mutex_t limiter_mu = PTHREAD_MUTEX_INITIALIZER;
static hub_limits *limiter;

core_err hub_governance_init(const char *redis_url, char *err, size_t errlen)
{
    hub_limits *l = NULL;
    core_err e = hub_limits_new(redis_url, &l, err, errlen);
    if (e) return e;
    pthread_mutex_lock(&limiter_mu);
    hub_limits *old = limiter;
    limiter = l;
    pthread_mutex_unlock(&limiter_mu);
    hub_limits_free(old);
    return CORE_OK;
}

void hub_governance_shutdown(void)
{
    pthread_mutex_lock(&limiter_mu);
    hub_limits *old = limiter;
    limiter = NULL;
    pthread_mutex_unlock(&limiter_mu);
    hub_limits_free(old);
}

hub_limits *hub_governance_limits(void)
{
    pthread_mutex_lock(&limiter_mu);
    if (!limiter) {
        char err[64];
        hub_limits_new(NULL, &limiter, err, sizeof err);
    }
    hub_limits *l = limiter;
    pthread_mutex_unlock(&limiter_mu);
    return l;
}

/* ---- shared ---- */

/* Runs fn in one transaction. fn fails the call itself for caller mistakes
 * (then the transaction rolls back). CORE_EBUSY: it lost a lock conflict and
 * may simply run again. */
static core_err in_transaction_once(hub_call *c, store_conn *conn,
                                    core_err (*fn)(hub_call *, store_conn *))
{
    c->err = HUB_OK;
    core_err err = store_begin(conn);
    if (err) return err;
    err = fn(c, conn);
    if (!err && c->err == HUB_OK)
        err = store_commit(conn);
    else
        store_rollback(conn);
    return err;
}

/* in_transaction_once, retried when it lost a lock conflict. */
static core_err in_transaction(hub_call *c, store_conn *conn,
                               core_err (*fn)(hub_call *, store_conn *))
{
    core_err err = CORE_EBUSY;
    for (int attempt = 0; attempt < 3 && err == CORE_EBUSY; attempt++)
        err = in_transaction_once(c, conn, fn);
    return err;
}

static bool webhook_ok(const char *url)
{
    size_t n = strlen(url);
    return n <= WEBHOOK_URL_MAX &&
           (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
           strcspn(url, " \t\r\n") == n;
}

/* ---- budget ---- */

static core_err budget_view(store_conn *conn, const char *org_id, json_t **out)
{
    *out = NULL;
    int64_t now = hub_now_ms();
    hub_budget_info info;
    core_err err = hub_budget_get_tx(conn, org_id, HUB_BUDGET_ORG, org_id, now, &info);
    if (err) {
        hub_budget_info_free(&info);
        return err;
    }
    json_t *view = hub_budget_info_json(&info, HUB_BUDGET_ORG, org_id);
    hub_budget_info_free(&info);
    json_t *users = json_array(), *agents = json_array();
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id)};
    err = store_query(conn,
                      "SELECT scope, subject_id FROM budgets WHERE org_id = $1 AND scope <> 'org' "
                      "ORDER BY scope, subject_id",
                      p, 1, &rows);
    for (size_t i = 0; !err && i < store_rows_count(rows); i++) {
        hub_budget_scope scope;
        if (hub_budget_scope_parse(store_rows_get(rows, i, 0), &scope)) continue;
        const char *subject = store_rows_get(rows, i, 1);
        err = hub_budget_get_tx(conn, org_id, scope, subject, now, &info);
        if (!err) {
            json_t *j = hub_budget_info_json(&info, scope, subject);
            json_object_set_new(j, scope == HUB_BUDGET_USER ? "user_id" : "agent_id",
                                json_string(subject));
            json_array_append_new(scope == HUB_BUDGET_USER ? users : agents, j);
        }
        hub_budget_info_free(&info);
    }
    store_rows_free(rows);
    json_object_set_new(view, "users", users);
    json_object_set_new(view, "agents", agents);
    if (err) {
        json_decref(view);
        return err;
    }
    *out = view;
    return CORE_OK;
}

static core_err budget_get_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    json_t *view = NULL;
    core_err err = budget_view(conn, c->param[0], &view);
    return err ? err : hub_ok(c, 200, view);
}

/* "monthly_limit_usd": decimal string, or null for "no limit". */
static bool parse_limit(hub_call *c, const json_t *v, const char *field, bool *has_limit,
                        int64_t *pico)
{
    *has_limit = false;
    *pico = 0;
    if (!v || json_is_null(v)) return true;
    const char *text = json_string_value(v);
    if (!text || money_parse(slice_from_cstr(text), 12, false, pico) != CORE_OK) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST,
                 "%s must be a decimal USD string like \"25.00\", or null", field);
        return false;
    }
    *has_limit = true;
    return true;
}

static bool subject_exists(store_conn *conn, const char *org_id, hub_budget_scope scope,
                           const char *id)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(id)};
    core_err err = store_query(conn,
                               scope == HUB_BUDGET_USER
                                   ? "SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2"
                                   : "SELECT 1 FROM agents WHERE org_id = $1 AND id = $2",
                               p, 2, &rows);
    bool found = !err && store_rows_count(rows) == 1;
    store_rows_free(rows);
    return found;
}

/* Applies the "users" or "agents" list of a PUT. */
static core_err apply_subjects(hub_call *c, store_conn *conn, const char *org_id,
                               hub_budget_scope scope, const json_t *list, int64_t now)
{
    const char *list_name = scope == HUB_BUDGET_USER ? "users" : "agents";
    const char *id_name = scope == HUB_BUDGET_USER ? "user_id" : "agent_id";
    if (!list) return CORE_OK;
    if (!json_is_array(list) || json_array_size(list) > SUBJECTS_MAX)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST,
                        "%s must be an array of at most %d {%s, monthly_limit_usd, remove}",
                        list_name, SUBJECTS_MAX, id_name);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, id_name));
        if (!id || !subject_exists(conn, org_id, scope, id))
            return hub_fail(c, HUB_ERR_NOT_FOUND, "%s[%zu]: %s is not in this organization",
                            list_name, i, id ? id : "(missing id)");
        core_err err;
        if (json_is_true(json_object_get(item, "remove"))) {
            err = hub_budget_delete_tx(conn, org_id, scope, id);
        } else {
            bool has_limit;
            int64_t pico;
            if (!parse_limit(c, json_object_get(item, "monthly_limit_usd"), "monthly_limit_usd",
                             &has_limit, &pico))
                return CORE_OK;
            err =
                hub_budget_set_tx(conn, org_id, scope, id, has_limit, pico, NULL, NULL, now, c->ud);
        }
        if (err) return err;
    }
    return CORE_OK;
}

static core_err budget_put_tx(hub_call *c, store_conn *conn)
{
    const char *org_id = c->param[0];
    int64_t now = hub_now_ms();
    json_t *before = NULL, *after = NULL;
    core_err err = budget_view(conn, org_id, &before);
    if (err) return err;
    const json_t *body = c->body;
    const json_t *limit_v = json_object_get(body, "monthly_limit_usd");
    const json_t *thresholds = json_object_get(body, "alert_thresholds");
    const json_t *hook_v = json_object_get(body, "alert_webhook");
    const char *hook = NULL;
    if (thresholds && !hub_budget_thresholds_valid(thresholds)) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST,
                 "alert_thresholds must be 1 to 10 distinct integer percents from 1 to 1000");
        goto out;
    }
    if (hook_v && !json_is_null(hook_v)) {
        hook = json_string_value(hook_v);
        if (!hook || !webhook_ok(hook)) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST,
                     "alert_webhook must be an http(s) URL of at most %d bytes, or null",
                     WEBHOOK_URL_MAX);
            goto out;
        }
    } else if (hook_v) {
        hook = "";
    }
    if (limit_v || thresholds || hook_v) {
        bool has_limit;
        int64_t pico;
        if (!limit_v) { /* keep the current limit */
            const char *cur = json_string_value(json_object_get(before, "monthly_limit_usd"));
            has_limit = cur && money_parse(slice_from_cstr(cur), 12, false, &pico) == CORE_OK;
            if (!has_limit) pico = 0;
        } else if (!parse_limit(c, limit_v, "monthly_limit_usd", &has_limit, &pico)) {
            goto out;
        }
        err = hub_budget_set_tx(conn, org_id, HUB_BUDGET_ORG, org_id, has_limit, pico, thresholds,
                                hook, now, c->ud);
        if (err) goto out;
    }
    if ((err = apply_subjects(c, conn, org_id, HUB_BUDGET_USER, json_object_get(body, "users"),
                              now)) ||
        c->err)
        goto out;
    if ((err = apply_subjects(c, conn, org_id, HUB_BUDGET_AGENT, json_object_get(body, "agents"),
                              now)) ||
        c->err)
        goto out;
    if ((err = budget_view(conn, org_id, &after))) goto out;
    char target[60];
    snprintf(target, sizeof target, "org:%s", org_id);
    err = hub_audit_record(conn, c, org_id, "budget.update", target, before, after);
    if (!err) hub_ok(c, 200, json_incref(after));
out:
    json_decref(before);
    json_decref(after);
    return err;
}

/* Loop: a budget change may itself cross thresholds; their webhooks go out
 * once the change is committed. */
static void budget_put_deliver(hub_call *c)
{
    hub_alerts_deliver(c->hl, c->ud);
    hub_call_respond(c);
}

static core_err budget_put_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    if (!c->body) return hub_fail(c, HUB_ERR_INVALID_REQUEST, "send {\"monthly_limit_usd\":..}");
    hub_budget_alerts *alerts = c->ud;
    core_err err = CORE_EBUSY;
    for (int attempt = 0; attempt < 3 && err == CORE_EBUSY; attempt++) {
        alerts->count = 0; /* a rolled-back attempt's alerts were never written */
        err = in_transaction_once(c, conn, budget_put_tx);
    }
    if (!err && c->err == HUB_OK && alerts->count) c->next = budget_put_deliver;
    return err;
}

/* ---- limits ---- */

static json_t *limits_view(const hub_limit_config *cfg)
{
    json_t *j = hub_limits_json(cfg);
    json_object_set_new(
        j, "backend",
        json_string(hub_limits_distributed(hub_governance_limits()) ? "redis" : "in_process"));
    return j;
}

static core_err limits_get_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    hub_limit_config cfg;
    core_err err = hub_limits_load(conn, c->param[0], &cfg);
    return err ? err : hub_ok(c, 200, limits_view(&cfg));
}

static core_err limits_put_tx(hub_call *c, store_conn *conn)
{
    hub_limit_config before, after;
    core_err err = hub_limits_load(conn, c->param[0], &before);
    if (err) return err;
    after = before;
    char msg[200];
    if (!hub_limits_from_json(c->body, &after, msg, sizeof msg))
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "%s", msg);
    if ((err = hub_limits_save(conn, c->param[0], &after, hub_now_ms()))) return err;
    json_t *b = hub_limits_json(&before), *a = hub_limits_json(&after);
    char target[60];
    snprintf(target, sizeof target, "org:%s", c->param[0]);
    err = hub_audit_record(conn, c, c->param[0], "limits.update", target, b, a);
    json_decref(b);
    json_decref(a);
    return err ? err : hub_ok(c, 200, limits_view(&after));
}

static core_err limits_put_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    return in_transaction(c, conn, limits_put_tx);
}

/* ---- audit and alerts ---- */

static int64_t query_int(const char *text, int64_t dflt)
{
    int64_t v;
    if (!text || slice_to_i64(slice_from_cstr(text), &v) != CORE_OK) return dflt;
    return v;
}

static core_err audit_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    int64_t limit = query_int(c->param[1], 50);
    int64_t before = query_int(c->param[2], 0);
    json_t *list = NULL;
    core_err err =
        hub_audit_list(conn, c->param[0], before, (int)MIN(limit, 1000), c->param[3], &list);
    if (err) return err;
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    return hub_ok(c, 200,
                  json_pack("{s:o,s:o}", "entries", list, "next_before",
                            last ? json_incref(json_object_get(last, "created_at")) : json_null()));
}

static core_err alerts_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    json_t *list = NULL;
    core_err err =
        hub_alerts_list(conn, c->param[0], (int)MIN(query_int(c->param[1], 50), 200), &list);
    return err ? err : hub_ok(c, 200, json_pack("{s:o}", "alerts", list));
}

/* ---- my status ---- */

static json_t *budget_brief(const hub_budget_info *b)
{
    char limit[48], spent[48], reserved[48], remaining[48];
    if (!b->exists) return json_null();
    return json_pack(
        "{s:o,s:s,s:s,s:o,s:s}", "monthly_limit_usd",
        b->has_limit ? json_string(money_format_pico(b->limit_pico, limit)) : json_null(),
        "spent_usd", money_format_pico(b->spent_pico, spent), "reserved_usd",
        money_format_pico(b->reserved_pico, reserved), "remaining_usd",
        b->has_limit ? json_string(money_format_pico(b->remaining_pico, remaining)) : json_null(),
        "period_start", b->period);
}

json_t *hub_governance_status_json(store_conn *conn, const char *org_id, const char *user_id,
                                   int64_t now_ms)
{
    hub_budget_info org, user;
    memset(&user, 0, sizeof user);
    core_err err = hub_budget_get_tx(conn, org_id, HUB_BUDGET_ORG, org_id, now_ms, &org);
    if (!err) err = hub_budget_get_tx(conn, org_id, HUB_BUDGET_USER, user_id, now_ms, &user);
    hub_limit_config cfg;
    if (!err) err = hub_limits_load(conn, org_id, &cfg);
    hub_limit_verdict v;
    memset(&v, 0, sizeof v);
    bool limits_known = false;
    if (!err)
        limits_known =
            hub_limits_peek(hub_governance_limits(), &cfg, org_id, user_id, now_ms, &v) == CORE_OK;
    json_t *out = NULL;
    if (!err) {
        json_t *limits = json_object();
        for (int k = 0; k < HUB_LIMIT__COUNT; k++) {
            json_t *entry =
                cfg.value[k] > 0
                    ? json_pack("{s:I,s:o}", "limit", (json_int_t)cfg.value[k], "remaining",
                                limits_known ? json_integer(v.bucket_remaining[k]) : json_null())
                    : json_null();
            json_object_set_new(limits, hub_limit_kind_name((hub_limit_kind)k), entry);
        }
        /* the tightest budget decides what a member may still spend */
        json_t *refusal = json_null();
        int64_t remaining = -1;
        const hub_budget_info *tight[] = {&org, &user};
        const char *names[] = {"organization", "personal"};
        for (size_t i = 0; i < ARRAY_LEN(tight); i++) {
            if (!tight[i]->exists || !tight[i]->has_limit) continue;
            if (remaining < 0 || tight[i]->remaining_pico < remaining)
                remaining = tight[i]->remaining_pico;
            if (tight[i]->remaining_pico == 0 && json_is_null(refusal)) {
                char msg[200];
                snprintf(msg, sizeof msg, "the %s monthly budget is used up", names[i]);
                json_decref(refusal);
                refusal = json_pack("{s:s,s:s}", "code", "budget_exceeded", "message", msg);
            }
        }
        for (int k = 0; limits_known && k < HUB_LIMIT__COUNT && json_is_null(refusal); k++) {
            if (cfg.value[k] > 0 && v.bucket_remaining[k] == 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "the %s limit is reached for now",
                         hub_limit_kind_name((hub_limit_kind)k));
                json_decref(refusal);
                refusal = json_pack("{s:s,s:s}", "code", "rate_limited", "message", msg);
            }
        }
        char rem[48];
        out = json_pack(
            "{s:s,s:{s:o,s:o},s:o,s:o,s:s,s:o,s:b}", "org_id", org_id, "budget", "organization",
            budget_brief(&org), "user", budget_brief(&user), "remaining_usd",
            remaining >= 0 ? json_string(money_format_pico(remaining, rem)) : json_null(), "limits",
            limits, "limits_backend",
            hub_limits_distributed(hub_governance_limits()) ? "redis" : "in_process", "refusal",
            refusal, "can_send", json_is_null(refusal));
    }
    hub_budget_info_free(&org);
    hub_budget_info_free(&user);
    return out;
}

static core_err status_work(hub_call *c, store_conn *conn)
{
    if (!c->who.org_id[0])
        return hub_fail(c, HUB_ERR_FORBIDDEN, "join or create an organization first");
    json_t *j = hub_governance_status_json(conn, c->who.org_id, c->who.user_id, hub_now_ms());
    return j ? hub_ok(c, 200, j) : CORE_EDB;
}

/* ---- routes ---- */

HUB_USER_HANDLER(budget_get_work, "id", NULL)

static void handle_budget_put_work(http_request *req, void *ud)
{
    (void)ud;
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    c->ud = calloc(1, sizeof(hub_budget_alerts));
    if (!c->ud) {
        hub_fail(c, HUB_ERR_INTERNAL, "out of memory");
        hub_call_respond(c);
        return;
    }
    c->ud_free = free;
    hub_call_param(c, 0, "id");
    hub_call_submit(c, budget_put_work);
}
HUB_USER_HANDLER(limits_get_work, "id", NULL)
HUB_USER_HANDLER(limits_put_work, "id", NULL)
HUB_USER_HANDLER(status_work, NULL, NULL)

static void handle_audit(http_request *req, void *ud)
{
    (void)ud;
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    hub_call_param(c, 0, "id");
    c->param[1] = http_request_query(req, "limit");
    c->param[2] = http_request_query(req, "before");
    c->param[3] = http_request_query(req, "action");
    hub_call_submit(c, audit_work);
}

static void handle_alerts(http_request *req, void *ud)
{
    (void)ud;
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    hub_call_param(c, 0, "id");
    c->param[1] = http_request_query(req, "limit");
    hub_call_submit(c, alerts_work);
}

core_err hub_routes_governance(http_router *r)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/api/organizations/:id/budget", handle_budget_get_work},
        {"PUT", "/api/organizations/:id/budget", handle_budget_put_work},
        {"GET", "/api/organizations/:id/limits", handle_limits_get_work},
        {"PUT", "/api/organizations/:id/limits", handle_limits_put_work},
        {"GET", "/api/organizations/:id/audit", handle_audit},
        {"GET", "/api/organizations/:id/alerts", handle_alerts},
        {"GET", "/api/governance/status", handle_status_work},
    };
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        core_err err = http_router_add(r, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
        if (err) return err;
    }
    return CORE_OK;
}
