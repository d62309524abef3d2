/*
 * hub_api_agents.c - agents of the active organization:
 *   GET    /api/agents            list (members)
 *   GET    /api/agents/:id        one agent (members)
 *   POST   /api/agents            create (admins)
 *   PUT    /api/agents/:id        update (admins; fields absent stay unchanged)
 *   DELETE /api/agents/:id        delete (admins)
 * An agent has a name, description, system prompt, optional default model,
 * optional allowed-model subset (within the org's list) and tool definitions
 * (OpenAI-style function tools with JSON Schema parameters) that chat passes
 * to the gateway. Agents of other organizations are "not found". Every
 * change is audited (agent.create/update/delete, before and after) in the
 * transaction that makes it.
 */
#include "hub_audit.h"
#include "hub_settings.h"

#include <stdio.h>
#include <stdlib.h>

#define NAME_MAX_BYTES   120
#define DESC_MAX_BYTES   2000
#define PROMPT_MAX_BYTES 16000
#define TOOLS_MAX_BYTES  (64 * 1024)
#define TOOLS_MAX        32

static json_t *parse_column(const store_rows *r, size_t row, size_t col)
{
    const char *text = store_rows_get(r, row, col);
    json_error_t e;
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &e) : NULL;
    return v ? v : json_null();
}

#define AGENT_COLUMNS                                                                              \
    "id, name, description, system_prompt, default_provider, default_model, allowed_models, "      \
    "tools, created_at, updated_at"

static json_t *agent_json(const store_rows *r, size_t i)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:I}", "id", hub_row_str(r, i, 0), "name",
                     hub_row_str(r, i, 1), "description", hub_row_str(r, i, 2), "system_prompt",
                     hub_row_str(r, i, 3), "default_model",
                     hub_model_ref_json(store_rows_get(r, i, 4), store_rows_get(r, i, 5)),
                     "allowed_models", parse_column(r, i, 6), "tools", parse_column(r, i, 7),
                     "created_at", (json_int_t)store_rows_i64(r, i, 8, 0), "updated_at",
                     (json_int_t)store_rows_i64(r, i, 9, 0));
}

static core_err list_work(hub_call *c, store_conn *conn)
{
    if (!c->who.org_id[0]) return hub_ok(c, 200, json_pack("{s:[]}", "agents"));
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->who.org_id)};
    core_err err = store_query(conn,
                               "SELECT " AGENT_COLUMNS " FROM agents WHERE org_id = $1 "
                               "ORDER BY name, id",
                               p, 1, &rows);
    if (err) return err;
    json_t *list = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++)
        json_array_append_new(list, agent_json(rows, i));
    store_rows_free(rows);
    return hub_ok(c, 200, json_pack("{s:o}", "agents", list));
}

/* Loads one agent of the active org into *out (NULL + 404 when absent). */
static core_err load_agent(hub_call *c, store_conn *conn, json_t **out)
{
    *out = NULL;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0] ? c->param[0] : ""), STORE_TEXT(c->who.org_id)};
    core_err err = store_query(
        conn, "SELECT " AGENT_COLUMNS " FROM agents WHERE id = $1 AND org_id = $2", p, 2, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1)
        *out = agent_json(rows, 0);
    else
        hub_fail(c, HUB_ERR_NOT_FOUND, "agent not found");
    store_rows_free(rows);
    return CORE_OK;
}

static core_err get_work(hub_call *c, store_conn *conn)
{
    json_t *agent;
    core_err err = load_agent(c, conn, &agent);
    if (!err && agent) hub_ok(c, 200, agent);
    return err;
}

/* OpenAI-style function tools: [{type:"function", function:{name, description?,
 * parameters: JSON Schema object}}]. */
static bool validate_tools(hub_call *c, const json_t *tools)
{
    if (json_is_null(tools)) return true;
    if (!json_is_array(tools) || json_array_size(tools) > TOOLS_MAX) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "tools must be an array of at most %d tools",
                 TOOLS_MAX);
        return false;
    }
    size_t i;
    json_t *tool;
    json_array_foreach(tools, i, tool)
    {
        json_t *fn = json_object_get(tool, "function");
        const char *type = json_string_value(json_object_get(tool, "type"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *params = json_object_get(fn, "parameters");
        const char *ptype = json_string_value(json_object_get(params, "type"));
        bool name_ok = name && *name && strlen(name) <= 64;
        for (const char *p = name; name_ok && *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
                name_ok = false;
        if (!type || strcmp(type, "function") != 0 || !json_is_object(fn) || !name_ok ||
            (params && (!json_is_object(params) || !ptype || strcmp(ptype, "object") != 0))) {
            hub_fail(
                c, HUB_ERR_INVALID_REQUEST,
                "tools[%zu] must be {\"type\":\"function\",\"function\":{\"name\":[A-Za-z0-9_-]"
                "{1,64},\"parameters\":{\"type\":\"object\",...}}}",
                i);
            return false;
        }
    }
    char *text = json_dumps(tools, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    free(text);
    if (len > TOOLS_MAX_BYTES) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "tools exceed %d bytes", TOOLS_MAX_BYTES);
        return false;
    }
    return true;
}

static bool text_field(hub_call *c, json_t *body, const char *key, size_t max, char *out,
                       size_t outlen, bool required)
{
    json_t *v = json_object_get(body, key);
    if (!v) {
        if (required) hub_fail(c, HUB_ERR_INVALID_REQUEST, "%s is required", key);
        return !required;
    }
    const char *s = json_string_value(v);
    if (!s || strlen(s) > max || (required && !*s)) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "%s must be a string of at most %zu bytes", key, max);
        return false;
    }
    snprintf(out, outlen, "%s", s);
    return true;
}

/* Create (existing == NULL) or update. */
static core_err save_agent(hub_call *c, store_conn *conn, json_t *existing)
{
    json_t *body = c->body ? c->body : json_object();
    if (!c->body) c->body = body;
    char name[NAME_MAX_BYTES + 1], desc[DESC_MAX_BYTES + 1];
    char *prompt = calloc(1, PROMPT_MAX_BYTES + 1);
    core_err err = CORE_OK;
    hub_org_settings s;
    memset(&s, 0, sizeof s);
    char prov[100] = "", model[100] = "";
    json_t *allowed = NULL, *tools = NULL;
    if (!prompt) return CORE_ENOMEM;
    snprintf(name, sizeof name, "%s",
             existing ? json_string_value(json_object_get(existing, "name")) : "");
    snprintf(desc, sizeof desc, "%s",
             existing ? json_string_value(json_object_get(existing, "description")) : "");
    snprintf(prompt, PROMPT_MAX_BYTES + 1, "%s",
             existing ? json_string_value(json_object_get(existing, "system_prompt")) : "");
    if (!text_field(c, body, "name", NAME_MAX_BYTES, name, sizeof name, !existing) ||
        !text_field(c, body, "description", DESC_MAX_BYTES, desc, sizeof desc, false) ||
        !text_field(c, body, "system_prompt", PROMPT_MAX_BYTES, prompt, PROMPT_MAX_BYTES + 1,
                    false))
        goto out;
    if (!name[0]) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "name must not be empty");
        goto out;
    }
    if ((err = hub_settings_load(conn, &c->app->cfg, c->who.org_id, &s))) goto out;

    allowed = json_object_get(body, "allowed_models");
    allowed = allowed
                  ? json_incref(allowed)
                  : (existing ? json_incref(json_object_get(existing, "allowed_models")) : NULL);
    if (json_is_null(allowed)) {
        json_decref(allowed);
        allowed = NULL;
    }
    if (!hub_validate_model_list(c, allowed, 500, "allowed_models")) goto out;
    size_t i;
    json_t *item;
    json_array_foreach(allowed, i, item)
    {
        char p[100], m[100];
        hub_model_ref_parse(NULL, json_string_value(item), p, sizeof p, m, sizeof m);
        if (!hub_policy_list_allows(s.allowed, p, m)) {
            hub_fail_extra(c, HUB_ERR_MODEL_NOT_ALLOWED,
                           json_pack("{s:o}", "allowed_models",
                                     hub_policy_alternatives(c->registry, s.allowed, NULL)),
                           "allowed_models: %s is not allowed in this organization",
                           json_string_value(item));
            goto out;
        }
    }

    json_t *dflt = json_object_get(body, "default_model");
    if (!dflt && existing) dflt = json_object_get(existing, "default_model");
    if (dflt && !json_is_null(dflt)) {
        if (!json_is_string(dflt) || hub_model_ref_parse(NULL, json_string_value(dflt), prov,
                                                         sizeof prov, model, sizeof model)) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST,
                     "default_model must be \"provider/model\" or null");
            goto out;
        }
        hub_model_verdict v = hub_policy_check(c->registry, s.allowed, allowed, prov, model);
        if (v == HUB_MODEL_UNKNOWN) {
            hub_fail(c, HUB_ERR_MODEL_NOT_FOUND, "default_model: unknown model %s/%s", prov, model);
            goto out;
        }
        if (v == HUB_MODEL_NOT_ALLOWED) {
            hub_fail_extra(c, HUB_ERR_MODEL_NOT_ALLOWED,
                           json_pack("{s:o}", "allowed_models",
                                     hub_policy_alternatives(c->registry, s.allowed, allowed)),
                           "default_model %s/%s is not allowed for this agent", prov, model);
            goto out;
        }
    }

    tools = json_object_get(body, "tools");
    tools = tools ? json_incref(tools)
                  : (existing ? json_incref(json_object_get(existing, "tools")) : NULL);
    if (tools && !validate_tools(c, tools)) goto out;

    char *allowed_text = allowed ? json_dumps(allowed, JSON_COMPACT) : NULL;
    char *tools_text = tools && !json_is_null(tools) ? json_dumps(tools, JSON_COMPACT) : NULL;
    char id[40];
    int64_t now = hub_now_ms();
    if (existing)
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(existing, "id")));
    else
        random_id("agt_", id, sizeof id);
    store_param p[] = {STORE_TEXT(id),
                       STORE_TEXT(c->who.org_id),
                       STORE_TEXT(name),
                       STORE_TEXT(desc),
                       STORE_TEXT(prompt),
                       model[0] ? STORE_TEXT(prov) : STORE_NULL,
                       model[0] ? STORE_TEXT(model) : STORE_NULL,
                       STORE_TEXT_OR_NULL(allowed_text),
                       STORE_TEXT_OR_NULL(tools_text),
                       STORE_TEXT(c->who.user_id),
                       STORE_INT(now)};
    bool begun = (err = store_begin(conn)) == CORE_OK;
    if (err) {
        /* nothing written */
    } else if (existing) {
        store_param u[] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[10]};
        err = store_exec(conn,
                         "UPDATE agents SET name = $3, description = $4, system_prompt = $5, "
                         "default_provider = $6, default_model = $7, allowed_models = $8, tools "
                         "= $9, updated_at = $10 WHERE id = $1 AND org_id = $2",
                         u, 10);
    } else {
        err = store_exec(conn,
                         "INSERT INTO agents (id, org_id, name, description, system_prompt, "
                         "default_provider, default_model, allowed_models, tools, created_by, "
                         "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                         "$11, $11)",
                         p, 11);
    }
    free(allowed_text);
    free(tools_text);
    if (!err) {
        json_t *saved;
        c->param[0] = NULL;
        store_rows *rows = NULL;
        store_param q[] = {STORE_TEXT(id)};
        err = store_query(conn, "SELECT " AGENT_COLUMNS " FROM agents WHERE id = $1", q, 1, &rows);
        if (!err) {
            saved = agent_json(rows, 0);
            store_rows_free(rows);
            char target[60];
            snprintf(target, sizeof target, "agent:%s", id);
            err =
                hub_audit_record(conn, c, c->who.org_id, existing ? "agent.update" : "agent.create",
                                 target, existing, saved);
            if (!err) err = store_commit(conn);
            if (!err)
                hub_ok(c, existing ? 200 : 201, saved);
            else
                json_decref(saved);
        }
    }
    if (err && begun) store_rollback(conn);
out:
    free(prompt);
    json_decref(allowed);
    json_decref(tools);
    hub_settings_free(&s);
    return err;
}

static core_err create_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->who.org_id, "admin", NULL)) return CORE_OK;
    return save_agent(c, conn, NULL);
}

static core_err update_work(hub_call *c, store_conn *conn)
{
    json_t *existing;
    core_err err = load_agent(c, conn, &existing);
    if (err || !existing) return err;
    if (hub_require_org(c, conn, c->who.org_id, "admin", NULL)) err = save_agent(c, conn, existing);
    json_decref(existing);
    return err;
}

static core_err delete_work(hub_call *c, store_conn *conn)
{
    json_t *existing;
    core_err err = load_agent(c, conn, &existing);
    if (err || !existing) return err;
    if (!hub_require_org(c, conn, c->who.org_id, "admin", NULL)) {
        json_decref(existing);
        return CORE_OK;
    }
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_TEXT(c->who.org_id)};
    char target[60];
    snprintf(target, sizeof target, "agent:%s", c->param[0]);
    core_err e2 = store_begin(conn);
    if (e2) {
        json_decref(existing);
        return e2;
    }
    e2 = store_exec(conn, "UPDATE conversations SET agent_id = NULL WHERE agent_id = $1", p, 1);
    if (!e2) e2 = store_exec(conn, "DELETE FROM agents WHERE id = $1 AND org_id = $2", p, 2);
    if (!e2) e2 = hub_audit_record(conn, c, c->who.org_id, "agent.delete", target, existing, NULL);
    json_decref(existing);
    if (e2) {
        store_rollback(conn);
        return e2;
    }
    if ((e2 = store_commit(conn))) return e2;
    return hub_ok(c, 200, json_pack("{s:b}", "ok", 1));
}

HUB_USER_HANDLER(list_work, NULL, NULL)
HUB_USER_HANDLER(get_work, "id", NULL)
HUB_USER_HANDLER(delete_work, "id", NULL)

static void handle_create(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (c) hub_call_submit_with_registry(c, create_work);
}

static void handle_update(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (!c) return;
    hub_call_param(c, 0, "id");
    hub_call_submit_with_registry(c, update_work);
}

core_err hub_routes_agents(http_router *r)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/api/agents", handle_list_work},
        {"POST", "/api/agents", handle_create},
        {"GET", "/api/agents/:id", handle_get_work},
        {"PUT", "/api/agents/:id", handle_update},
        {"DELETE", "/api/agents/:id", handle_delete_work},
    };
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        core_err err = http_router_add(r, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
        if (err) return err;
    }
    return CORE_OK;
}
