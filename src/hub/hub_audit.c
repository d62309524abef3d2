/*
 * hub_audit.c - insert and page through audit_log rows (see hub_audit.h).
 */
#include "hub_audit.h"

#include <stdlib.h>

static char *doc_text(const json_t *doc)
{
    if (!doc) return NULL;
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (text && strlen(text) > HUB_AUDIT_DOC_MAX) {
        free(text);
        text = strdup("{\"truncated\":true}");
    }
    return text;
}

core_err hub_audit_record(store_conn *conn, const hub_call *c, const char *org_id,
                          const char *action, const char *target, const json_t *before,
                          const json_t *after)
{
    if (!action || !*action) return CORE_EINVAL;
    char id[40];
    random_id("aud_", id, sizeof id);
    char *before_text = doc_text(before), *after_text = doc_text(after);
    const char *actor = c && c->who.authenticated ? c->who.user_id : NULL;
    const char *email = c && c->who.authenticated ? c->who.email : "cli";
    store_param p[] = {STORE_TEXT(id),
                       STORE_TEXT_OR_NULL(org_id),
                       STORE_TEXT_OR_NULL(actor),
                       STORE_TEXT(email),
                       STORE_TEXT(action),
                       STORE_TEXT_OR_NULL(target),
                       STORE_TEXT_OR_NULL(before_text),
                       STORE_TEXT_OR_NULL(after_text),
                       STORE_TEXT_OR_NULL(c && c->ip[0] ? c->ip : NULL),
                       STORE_INT(hub_now_ms())};
    core_err err = store_exec(conn,
                              "INSERT INTO audit_log (id, org_id, actor_user_id, actor_email, "
                              "action, target, before_json, after_json, ip, created_at) VALUES "
                              "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                              p, 10);
    free(before_text);
    free(after_text);
    return err;
}

static json_t *doc_json(const store_rows *r, size_t row, size_t col)
{
    const char *text = store_rows_get(r, row, col);
    if (!text) return json_null();
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    return v ? v : json_string(text);
}

core_err hub_audit_list(store_conn *conn, const char *org_id, int64_t before_ms, int limit,
                        const char *action_prefix, json_t **out)
{
    *out = NULL;
    if (limit < 1) limit = 1;
    if (limit > HUB_AUDIT_PAGE_MAX) limit = HUB_AUDIT_PAGE_MAX;
    char prefix[80];
    /* LIKE with the prefix's own wildcards escaped */
    size_t n = 0;
    for (const char *s = action_prefix ? action_prefix : ""; *s && n + 3 < sizeof prefix; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') prefix[n++] = '\\';
        prefix[n++] = *s;
    }
    prefix[n++] = '%';
    prefix[n] = '\0';
    store_param p[] = {STORE_TEXT(org_id), STORE_INT(before_ms > 0 ? before_ms : INT64_MAX),
                       STORE_TEXT(prefix), STORE_INT(limit)};
    store_rows *rows = NULL;
    core_err err = store_query(conn,
                               "SELECT id, actor_user_id, actor_email, action, target, "
                               "before_json, after_json, ip, created_at FROM audit_log WHERE "
                               "org_id = $1 AND created_at < $2 AND action LIKE $3 ESCAPE '\\' "
                               "ORDER BY created_at DESC, id DESC LIMIT $4",
                               p, 4, &rows);
    if (err) return err;
    json_t *list = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        json_array_append_new(
            list,
            json_pack("{s:s,s:{s:o,s:o},s:s,s:o,s:o,s:o,s:o,s:I}", "id", hub_row_str(rows, i, 0),
                      "actor", "user_id", hub_row_json_str(rows, i, 1), "email",
                      hub_row_json_str(rows, i, 2), "action", hub_row_str(rows, i, 3), "target",
                      hub_row_json_str(rows, i, 4), "before", doc_json(rows, i, 5), "after",
                      doc_json(rows, i, 6), "ip", hub_row_json_str(rows, i, 7), "created_at",
                      (json_int_t)store_rows_i64(rows, i, 8, 0)));
    }
    store_rows_free(rows);
    *out = list;
    return CORE_OK;
}
