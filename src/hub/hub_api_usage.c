/*
 * hub_api_usage.c - GET /api/organizations/:id/usage: the exact usage ledger
 * (model_usage_analytics) of an organization, grouped by model, user, agent
 * or day, with totals, as JSON or CSV (format=csv). Admins only. Money is
 * summed as integer pico-USD and rendered as decimal strings, so the totals
 * equal the sum of the per-message costs exactly.
 *
 *   from, to   YYYY-MM-DD (UTC, both inclusive) or epoch milliseconds
 *              (to exclusive); default: the last 30 days
 *   group_by   model (default) | user | agent | day | day,model (a series per
 *              model over time, for the dashboard's chart)
 *
 * Every group carries `key` (the model, the user's e-mail, the agent's name
 * or the day) plus what the UI shows instead of raw ids: `id` and `name` for
 * users (their display name) and agents, `day` and `model` for day,model.
 */
#include "hub_app.h"

#include "../core/money.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DAY_MS (24LL * 3600 * 1000)

/* "YYYY-MM-DD" -> ms at 00:00 UTC, or plain epoch ms. */
static bool parse_time(const char *text, int64_t *ms, bool *was_date)
{
    *was_date = false;
    int y, m, d;
    char tail;
    if (strlen(text) == 10 && sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
        if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1970 || y > 9999) return false;
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        *ms = (int64_t)timegm(&tm) * 1000;
        *was_date = true;
        return true;
    }
    return slice_to_i64(slice_from_cstr(text), ms) == CORE_OK;
}

static void csv_field(buf_t *out, const char *value)
{
    bool quote = strpbrk(value, ",\"\n\r") != NULL || value[0] == '=' || value[0] == '+' ||
                 value[0] == '-' || value[0] == '@';
    if (!quote) {
        buf_append_cstr(out, value);
        return;
    }
    buf_append_char(out, '"');
    if (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@')
        buf_append_char(out, '\''); /* keep spreadsheets from evaluating it */
    for (const char *p = value; *p; p++) {
        if (*p == '"') buf_append_char(out, '"');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '"');
}

static core_err usage_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    const char *group = c->param[1] ? c->param[1] : "model";
    const char *format = c->param[4] ? c->param[4] : "json";
    /* key, second key (day,model only), id and name columns of each grouping */
    const char *key_sql, *key2_sql = "''", *id_sql = "''", *name_sql = "''";
    bool by_day_model = false;
    if (strcmp(group, "model") == 0) {
        key_sql = "u.provider || '/' || u.model";
    } else if (strcmp(group, "user") == 0) {
        key_sql = "COALESCE(us.email, u.user_id, '')";
        id_sql = "COALESCE(u.user_id, '')";
        name_sql = "COALESCE(us.name, '')";
    } else if (strcmp(group, "agent") == 0) {
        key_sql = "COALESCE(a.name, u.agent_id, '(none)')";
        id_sql = "COALESCE(u.agent_id, '')";
        name_sql = "COALESCE(a.name, '')";
    } else if (strcmp(group, "day") == 0) {
        key_sql = "u.day";
    } else if (strcmp(group, "day,model") == 0) {
        key_sql = "u.day";
        key2_sql = "u.provider || '/' || u.model";
        by_day_model = true;
    } else {
        return hub_fail(c, HUB_ERR_INVALID_REQUEST,
                        "group_by must be model, user, agent, day or day,model");
    }
    if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "format must be json or csv");

    int64_t now = hub_now_ms();
    int64_t from = now - 30 * DAY_MS, to = now + 1;
    bool date;
    if (c->param[2] && !parse_time(c->param[2], &from, &date))
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "from must be YYYY-MM-DD or epoch ms");
    if (c->param[3]) {
        if (!parse_time(c->param[3], &to, &date))
            return hub_fail(c, HUB_ERR_INVALID_REQUEST, "to must be YYYY-MM-DD or epoch ms");
        if (date) to += DAY_MS; /* a date is inclusive */
    }
    if (to <= from) return hub_fail(c, HUB_ERR_INVALID_REQUEST, "to must be after from");

    char sql[1600];
    snprintf(
        sql, sizeof sql,
        "SELECT %s AS k, %s AS k2, %s AS id, %s AS nm, COUNT(*), COALESCE(SUM(u.input_tokens), 0), "
        "COALESCE(SUM(u.cached_input_tokens), 0), COALESCE(SUM(u.output_tokens), 0), "
        "COALESCE(SUM(u.reasoning_tokens), 0), COALESCE(SUM(u.cost_pico), 0), "
        "COALESCE(SUM(CASE WHEN u.status = 'error' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN u.status = 'partial' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(u.cost_estimated), 0) "
        "FROM model_usage_analytics u LEFT JOIN users us ON us.id = u.user_id "
        "LEFT JOIN agents a ON a.id = u.agent_id "
        "WHERE u.org_id = $1 AND u.created_at >= $2 AND u.created_at < $3 "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2",
        key_sql, key2_sql, id_sql, name_sql);
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_INT(from), STORE_INT(to)};
    core_err err = store_query(conn, sql, p, 3, &rows);
    if (err) return err;

    static const char *const fields[] = {"requests",      "input_tokens",     "cached_input_tokens",
                                         "output_tokens", "reasoning_tokens", NULL};
    int64_t totals[9] = {0};
    json_t *groups = json_array();
    bool csv = strcmp(format, "csv") == 0;
    if (csv && by_day_model)
        buf_append_cstr(&c->raw, "day,model,requests,input_tokens,"
                                 "cached_input_tokens,output_tokens,"
                                 "reasoning_tokens,cost_usd,errors,partial,"
                                 "estimated\r\n");
    else if (csv)
        buf_append_cstr(&c->raw, "group,requests,input_tokens,cached_input_tokens,output_tokens,"
                                 "reasoning_tokens,cost_usd,errors,partial,estimated\r\n");
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        int64_t v[9];
        for (size_t col = 0; col < 9; col++) {
            v[col] = store_rows_i64(rows, i, col + 4, 0);
            if (col == 5) {
                if (money_add(totals[5], v[5], &totals[5]) != CORE_OK) {
                    store_rows_free(rows);
                    json_decref(groups);
                    return hub_fail(c, HUB_ERR_INTERNAL, "cost total overflow");
                }
            } else {
                totals[col] += v[col];
            }
        }
        char cost[48];
        money_format_pico(v[5], cost);
        const char *key = hub_row_str(rows, i, 0);
        const char *key2 = hub_row_str(rows, i, 1), *id = hub_row_str(rows, i, 2),
                   *name = hub_row_str(rows, i, 3);
        if (csv) {
            csv_field(&c->raw, key);
            if (by_day_model) {
                buf_append_char(&c->raw, ',');
                csv_field(&c->raw, key2);
            }
            buf_printf(&c->raw, ",%lld,%lld,%lld,%lld,%lld,%s,%lld,%lld,%lld\r\n", (long long)v[0],
                       (long long)v[1], (long long)v[2], (long long)v[3], (long long)v[4], cost,
                       (long long)v[6], (long long)v[7], (long long)v[8]);
            continue;
        }
        json_t *g =
            json_pack("{s:s,s:s,s:I,s:I,s:I}", "key", key, "cost_usd", cost, "errors",
                      (json_int_t)v[6], "partial", (json_int_t)v[7], "estimated", (json_int_t)v[8]);
        for (size_t f = 0; fields[f]; f++)
            json_object_set_new(g, fields[f], json_integer(v[f]));
        if (by_day_model) {
            json_object_set_new(g, "day", json_string(key));
            json_object_set_new(g, "model", json_string(key2));
        } else if (*id) {
            json_object_set_new(g, "id", json_string(id));
            json_object_set_new(g, "name", json_string(*name ? name : key));
        }
        json_array_append_new(groups, g);
    }
    store_rows_free(rows);
    char total_cost[48];
    money_format_pico(totals[5], total_cost);
    if (csv) {
        buf_append_cstr(&c->raw, by_day_model ? "total,," : "total,"); /* empty model column */
        buf_printf(&c->raw, "%lld,%lld,%lld,%lld,%lld,%s,%lld,%lld,%lld\r\n", (long long)totals[0],
                   (long long)totals[1], (long long)totals[2], (long long)totals[3],
                   (long long)totals[4], total_cost, (long long)totals[6], (long long)totals[7],
                   (long long)totals[8]);
        json_decref(groups);
        c->raw_type = "text/csv; charset=utf-8";
        snprintf(c->content_disposition, sizeof c->content_disposition,
                 "attachment; filename=\"usage-%s-%s.csv\"", c->param[0], group);
        c->status = 200;
        c->err = HUB_OK;
        return CORE_OK;
    }
    json_t *total =
        json_pack("{s:s,s:I,s:I,s:I}", "cost_usd", total_cost, "errors", (json_int_t)totals[6],
                  "partial", (json_int_t)totals[7], "estimated", (json_int_t)totals[8]);
    for (size_t f = 0; fields[f]; f++)
        json_object_set_new(total, fields[f], json_integer(totals[f]));
    return hub_ok(c, 200,
                  json_pack("{s:s,s:s,s:I,s:I,s:o,s:o}", "org_id", c->param[0], "group_by", group,
                            "from", (json_int_t)from, "to", (json_int_t)to, "groups", groups,
                            "totals", total));
}

static void handle_usage(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    hub_call_param(c, 0, "id");
    c->param[1] = http_request_query(req, "group_by");
    c->param[2] = http_request_query(req, "from");
    c->param[3] = http_request_query(req, "to");
    c->param[4] = http_request_query(req, "format");
    hub_call_submit(c, usage_work);
}

core_err hub_routes_usage(http_router *r)
{
    return http_router_add(r, "GET", "/api/organizations/:id/usage", handle_usage, NULL);
}
