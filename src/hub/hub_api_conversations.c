/*
 * hub_api_conversations.c - a user's conversations in the active organization:
 *   GET    /api/conversations?limit=&offset=&q=   newest first, searchable
 *   POST   /api/conversations                     {title?, agentId?} create empty
 *   GET    /api/conversations/:id                 details, exact cost totals, switches
 *   PATCH  /api/conversations/:id                 {title} rename (PUT accepted)
 *   DELETE /api/conversations/:id
 *   GET    /api/conversations/:id/messages?limit=&after=   messages with their costs
 * A conversation belongs to one user in one organization; anyone else gets 404.
 */
#include "hub_app.h"
#include "hub_settings.h"

#include "../core/money.h"

#include <stdio.h>
#include <stdlib.h>

#define LIST_DEFAULT 20
#define LIST_MAX     100
#define TITLE_MAX    200

static const char *query_param(hub_call *c, int slot)
{
    return c->param[slot];
}

/* Integer query value within [lo, hi], dflt when absent; false (400) when bad. */
static bool query_int(hub_call *c, const char *text, int64_t lo, int64_t hi, int64_t dflt,
                      const char *name, int64_t *out)
{
    *out = dflt;
    if (!text) return true;
    int64_t v;
    if (slice_to_i64(slice_from_cstr(text), &v) != CORE_OK || v < lo || v > hi) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "%s must be an integer in [%lld, %lld]", name,
                 (long long)lo, (long long)hi);
        return false;
    }
    *out = v;
    return true;
}

static json_t *money_json(int64_t pico)
{
    char text[48];
    return json_string(money_format_pico(pico, text));
}

/* true when the conversation is the caller's (in the active org); else 404. */
static bool own_conversation(hub_call *c, store_conn *conn, const char *id)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(id ? id : ""), STORE_TEXT(c->who.org_id),
                       STORE_TEXT(c->who.user_id)};
    if (store_query(conn,
                    "SELECT 1 FROM conversations WHERE id = $1 AND org_id = $2 AND user_id = $3", p,
                    3, &rows) != CORE_OK) {
        hub_fail(c, HUB_ERR_INTERNAL, "database error");
        return false;
    }
    bool own = store_rows_count(rows) == 1;
    store_rows_free(rows);
    if (!own) hub_fail(c, HUB_ERR_NOT_FOUND, "conversation not found");
    return own;
}

static json_t *conversation_json(const store_rows *r, size_t i)
{
    json_t *conv = json_pack(
        "{s:s,s:s,s:o,s:o,s:I,s:I,s:o,s:I}", "id", hub_row_str(r, i, 0), "title",
        hub_row_str(r, i, 1), "agent_id", hub_row_json_str(r, i, 2), "current_model",
        hub_model_ref_json(store_rows_get(r, i, 3), store_rows_get(r, i, 4)), "created_at",
        (json_int_t)store_rows_i64(r, i, 5, 0), "updated_at",
        (json_int_t)store_rows_i64(r, i, 6, 0), "cost_usd", money_json(store_rows_i64(r, i, 7, 0)),
        "message_count", (json_int_t)store_rows_i64(r, i, 8, 0));
    return conv;
}

#define CONVERSATION_COLUMNS                                                                       \
    "c.id, c.title, c.agent_id, c.current_provider, c.current_model, c.created_at, "               \
    "c.updated_at, (SELECT COALESCE(SUM(m.cost_pico), 0) FROM messages m WHERE "                   \
    "m.conversation_id = c.id), (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = "       \
    "c.id)"

/* LIKE pattern for a search term: %term% with \ escaping the wildcards. */
static char *like_pattern(const char *q)
{
    buf_t b;
    buf_init(&b, 0);
    buf_append_char(&b, '%');
    for (const char *p = q; *p; p++) {
        char ch = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if (ch == '%' || ch == '_' || ch == '\\') buf_append_char(&b, '\\');
        buf_append_char(&b, ch);
    }
    buf_append_char(&b, '%');
    return buf_steal(&b, NULL);
}

static core_err list_work(hub_call *c, store_conn *conn)
{
    int64_t limit, offset;
    if (!query_int(c, query_param(c, 0), 1, LIST_MAX, LIST_DEFAULT, "limit", &limit) ||
        !query_int(c, query_param(c, 1), 0, INT32_MAX, 0, "offset", &offset))
        return CORE_OK;
    const char *q = query_param(c, 2);
    if (q && strlen(q) > 200) return hub_fail(c, HUB_ERR_INVALID_REQUEST, "q is too long");
    char *pattern = like_pattern(q ? q : "");
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->who.org_id), STORE_TEXT(c->who.user_id),
                       STORE_TEXT(pattern ? pattern : "%"), STORE_INT(limit + 1),
                       STORE_INT(offset)};
    core_err err = store_query(conn,
                               "SELECT " CONVERSATION_COLUMNS " FROM conversations c WHERE "
                               "c.org_id = $1 AND c.user_id = $2 AND (LOWER(c.title) LIKE $3 "
                               "ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE "
                               "m.conversation_id = c.id AND LOWER(m.content) LIKE $3 ESCAPE "
                               "'\\')) ORDER BY c.updated_at DESC, c.id DESC LIMIT $4 OFFSET $5",
                               p, 5, &rows);
    free(pattern);
    if (err) return err;
    json_t *list = json_array();
    size_t n = store_rows_count(rows);
    bool more = n > (size_t)limit;
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(list, conversation_json(rows, i));
    store_rows_free(rows);
    return hub_ok(c, 200,
                  json_pack("{s:o,s:o}", "conversations", list, "next_offset",
                            more ? json_integer(offset + limit) : json_null()));
}

static void handle_list(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    c->param[0] = http_request_query(req, "limit");
    c->param[1] = http_request_query(req, "offset");
    c->param[2] = http_request_query(req, "q");
    hub_call_submit(c, list_work);
}

static core_err create_work(hub_call *c, store_conn *conn)
{
    if (!c->who.org_id[0])
        return hub_fail(c, HUB_ERR_FORBIDDEN, "join or create an organization first");
    const char *title = hub_body_str(c, "title");
    const char *agent = hub_body_str(c, "agentId");
    if (title && strlen(title) > TITLE_MAX)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "title is longer than %d bytes", TITLE_MAX);
    store_rows *rows = NULL;
    core_err err;
    if (agent) {
        store_param a[] = {STORE_TEXT(agent), STORE_TEXT(c->who.org_id)};
        if ((err = store_query(conn, "SELECT 1 FROM agents WHERE id = $1 AND org_id = $2", a, 2,
                               &rows)))
            return err;
        bool found = store_rows_count(rows) == 1;
        store_rows_free(rows);
        if (!found) return hub_fail(c, HUB_ERR_NOT_FOUND, "agent not found");
    }
    char id[40];
    random_id("conv_", id, sizeof id);
    int64_t now = hub_now_ms();
    store_param p[] = {STORE_TEXT(id),
                       STORE_TEXT(c->who.org_id),
                       STORE_TEXT(c->who.user_id),
                       STORE_TEXT_OR_NULL(agent),
                       STORE_TEXT(title ? title : ""),
                       STORE_INT(now)};
    if ((err = store_exec(conn,
                          "INSERT INTO conversations (id, org_id, user_id, agent_id, title, "
                          "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                          p, 6)))
        return err;
    return hub_ok(c, 201,
                  json_pack("{s:s,s:s,s:o,s:n,s:I,s:I,s:s,s:i}", "id", id, "title",
                            title ? title : "", "agent_id",
                            agent ? json_string(agent) : json_null(), "current_model", "created_at",
                            (json_int_t)now, "updated_at", (json_int_t)now, "cost_usd", "0.000000",
                            "message_count", 0));
}

static core_err get_work(hub_call *c, store_conn *conn)
{
    if (!own_conversation(c, conn, c->param[0])) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0])};
    core_err err = store_query(
        conn, "SELECT " CONVERSATION_COLUMNS " FROM conversations c WHERE c.id = $1", p, 1, &rows);
    if (err) return err;
    json_t *conv = conversation_json(rows, 0);
    store_rows_free(rows);

    /* exact totals: from the messages and from the usage ledger (which also
     * counts refused requests at zero cost); they are equal by construction */
    if ((err = store_query(conn,
                           "SELECT COALESCE(SUM(input_tokens), 0), "
                           "COALESCE(SUM(cached_input_tokens), 0), "
                           "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), "
                           "COALESCE(SUM(cost_pico), 0), COUNT(*) FROM model_usage_analytics "
                           "WHERE conversation_id = $1",
                           p, 1, &rows))) {
        json_decref(conv);
        return err;
    }
    json_object_set_new(conv, "usage",
                        json_pack("{s:I,s:I,s:I,s:I,s:o,s:I}", "input_tokens",
                                  (json_int_t)store_rows_i64(rows, 0, 0, 0), "cached_input_tokens",
                                  (json_int_t)store_rows_i64(rows, 0, 1, 0), "output_tokens",
                                  (json_int_t)store_rows_i64(rows, 0, 2, 0), "reasoning_tokens",
                                  (json_int_t)store_rows_i64(rows, 0, 3, 0), "cost_usd",
                                  money_json(store_rows_i64(rows, 0, 4, 0)), "requests",
                                  (json_int_t)store_rows_i64(rows, 0, 5, 0)));
    store_rows_free(rows);
    if ((err = store_query(conn,
                           "SELECT from_provider, from_model, to_provider, to_model, reason, "
                           "created_at FROM model_switch_events WHERE conversation_id = $1 "
                           "ORDER BY created_at, id",
                           p, 1, &rows))) {
        json_decref(conv);
        return err;
    }
    json_t *switches = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++)
        json_array_append_new(
            switches,
            json_pack("{s:o,s:o,s:s,s:I}", "from",
                      hub_model_ref_json(store_rows_get(rows, i, 0), store_rows_get(rows, i, 1)),
                      "to",
                      hub_model_ref_json(store_rows_get(rows, i, 2), store_rows_get(rows, i, 3)),
                      "reason", hub_row_str(rows, i, 4), "at",
                      (json_int_t)store_rows_i64(rows, i, 5, 0)));
    store_rows_free(rows);
    json_object_set_new(conv, "model_switches", switches);
    return hub_ok(c, 200, conv);
}

static core_err rename_work(hub_call *c, store_conn *conn)
{
    const char *title = hub_body_str(c, "title");
    if (!title || strlen(title) > TITLE_MAX)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "title (string, at most %d bytes) is required",
                        TITLE_MAX);
    if (!own_conversation(c, conn, c->param[0])) return CORE_OK;
    store_param p[] = {STORE_TEXT(title), STORE_INT(hub_now_ms()), STORE_TEXT(c->param[0])};
    core_err err = store_exec(
        conn, "UPDATE conversations SET title = $1, updated_at = $2 WHERE id = $3", p, 3);
    if (err) return err;
    return get_work(c, conn);
}

static core_err delete_work(hub_call *c, store_conn *conn)
{
    if (!own_conversation(c, conn, c->param[0])) return CORE_OK;
    store_param p[] = {STORE_TEXT(c->param[0])};
    /* children first: SQLite enforces ON DELETE CASCADE only with foreign_keys on */
    static const char *const statements[] = {
        "DELETE FROM model_switch_events WHERE conversation_id = $1",
        "DELETE FROM conversation_memories WHERE conversation_id = $1",
        "DELETE FROM messages WHERE conversation_id = $1",
        "DELETE FROM conversations WHERE id = $1",
    };
    core_err err = store_begin(conn);
    for (size_t i = 0; !err && i < ARRAY_LEN(statements); i++)
        err = store_exec(conn, statements[i], p, 1);
    if (err) {
        store_rollback(conn);
        return err;
    }
    if ((err = store_commit(conn))) return err;
    return hub_ok(c, 200, json_pack("{s:b}", "ok", 1));
}

static core_err messages_work(hub_call *c, store_conn *conn)
{
    int64_t limit, after;
    if (!query_int(c, c->param[1], 1, 500, 200, "limit", &limit) ||
        !query_int(c, c->param[2], 0, INT64_MAX, 0, "after", &after))
        return CORE_OK;
    if (!own_conversation(c, conn, c->param[0])) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_INT(after), STORE_INT(limit + 1)};
    core_err err = store_query(
        conn,
        "SELECT id, seq, role, content, parts, provider, model, model_reason, input_tokens, "
        "cached_input_tokens, output_tokens, reasoning_tokens, cost_pico, cost_estimated, "
        "latency_ms, ttft_ms, status, error_code, created_at FROM messages WHERE "
        "conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        p, 3, &rows);
    if (err) return err;
    json_t *list = json_array();
    size_t n = store_rows_count(rows);
    bool more = n > (size_t)limit;
    int64_t last_seq = after;
    for (size_t i = 0; i < n && i < (size_t)limit; i++) {
        json_error_t jerr;
        json_t *parts = json_loads(hub_row_str(rows, i, 4), 0, &jerr);
        last_seq = store_rows_i64(rows, i, 1, 0);
        json_t *m = json_pack("{s:s,s:I,s:s,s:s,s:o,s:s}", "id", hub_row_str(rows, i, 0), "seq",
                              (json_int_t)last_seq, "role", hub_row_str(rows, i, 2), "content",
                              hub_row_str(rows, i, 3), "parts", parts ? parts : json_array(),
                              "status", hub_row_str(rows, i, 16));
        json_object_set_new(m, "created_at", json_integer(store_rows_i64(rows, i, 18, 0)));
        if (strcmp(hub_row_str(rows, i, 2), "assistant") == 0) {
            json_t *meta =
                json_pack("{s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I},s:o,s:b,s:o,s:o,s:o}", "provider",
                          hub_row_json_str(rows, i, 5), "model", hub_row_json_str(rows, i, 6),
                          "model_reason", hub_row_json_str(rows, i, 7), "usage", "input_tokens",
                          (json_int_t)store_rows_i64(rows, i, 8, 0), "cached_input_tokens",
                          (json_int_t)store_rows_i64(rows, i, 9, 0), "output_tokens",
                          (json_int_t)store_rows_i64(rows, i, 10, 0), "reasoning_tokens",
                          (json_int_t)store_rows_i64(rows, i, 11, 0), "cost_usd",
                          money_json(store_rows_i64(rows, i, 12, 0)), "cost_estimated",
                          store_rows_i64(rows, i, 13, 0) != 0, "latency_ms",
                          store_rows_get(rows, i, 14) ? json_integer(store_rows_i64(rows, i, 14, 0))
                                                      : json_null(),
                          "ttft_ms",
                          store_rows_get(rows, i, 15) ? json_integer(store_rows_i64(rows, i, 15, 0))
                                                      : json_null(),
                          "error_code", hub_row_json_str(rows, i, 17));
            json_object_set_new(m, "metadata", meta);
        }
        json_array_append_new(list, m);
    }
    store_rows_free(rows);
    return hub_ok(c, 200,
                  json_pack("{s:o,s:o}", "messages", list, "next_after",
                            more ? json_integer(last_seq) : json_null()));
}

static void handle_messages(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    hub_call_param(c, 0, "id");
    c->param[1] = http_request_query(req, "limit");
    c->param[2] = http_request_query(req, "after");
    hub_call_submit(c, messages_work);
}

HUB_USER_HANDLER(create_work, NULL, NULL)
HUB_USER_HANDLER(get_work, "id", NULL)
HUB_USER_HANDLER(rename_work, "id", NULL)
HUB_USER_HANDLER(delete_work, "id", NULL)

core_err hub_routes_conversations(http_router *r)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/api/conversations", handle_list},
        {"POST", "/api/conversations", handle_create_work},
        {"GET", "/api/conversations/:id", handle_get_work},
        {"PATCH", "/api/conversations/:id", handle_rename_work},
        {"PUT", "/api/conversations/:id", handle_rename_work},
        {"DELETE", "/api/conversations/:id", handle_delete_work},
        {"GET", "/api/conversations/:id/messages", handle_messages},
    };
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        core_err err = http_router_add(r, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
        if (err) return err;
    }
    return CORE_OK;
}
