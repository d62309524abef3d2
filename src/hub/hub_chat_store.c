/*
 * hub_chat_store.c - the database side of POST /api/chat and
 * /api/chat/estimate: reading the useChat body, checking the conversation and
 * agent, resolving the model with the org policy, loading the history,
 * storing the user message before the gateway is called, and storing the
 * assistant message with its usage and memory rows at the end.
 */
#include "hub_chat.h"
#include "hub_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- request parsing (loop) ---- */

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HUB_CHAT_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* Plain text of a UI message: its text parts joined, or a "content" string. */
static char *message_text(const json_t *msg)
{
    buf_t text;
    buf_init(&text, 0);
    const char *content = json_string_value(json_object_get(msg, "content"));
    if (content) buf_append_cstr(&text, content);
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(msg, "parts"), i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        const char *t = json_string_value(json_object_get(part, "text"));
        if (type && strcmp(type, "text") == 0 && t) buf_append_cstr(&text, t);
    }
    char *out = buf_steal(&text, NULL);
    return out ? out : strdup("");
}

bool hub_chat_parse_request(hub_call *c, hub_chat *chat)
{
    json_t *body = c->body;
    if (!body) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "send a JSON body: {id, messages, provider, model}");
        return false;
    }
    const char *id = json_string_value(json_object_get(body, "id"));
    if (id && !id_ok(id)) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "id must be 1-%d characters of [A-Za-z0-9_-]",
                 HUB_CHAT_ID_MAX);
        return false;
    }
    if (id)
        snprintf(chat->conversation_id, sizeof chat->conversation_id, "%s", id);
    else
        random_id("conv_", chat->conversation_id, sizeof chat->conversation_id);

    const char *trigger = json_string_value(json_object_get(body, "trigger"));
    snprintf(chat->trigger, sizeof chat->trigger, "%s", trigger ? trigger : "submit-message");
    if (strcmp(chat->trigger, "submit-message") != 0 &&
        strcmp(chat->trigger, "regenerate-message") != 0) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST,
                 "trigger must be submit-message or regenerate-message");
        return false;
    }

    json_t *messages = json_object_get(body, "messages");
    if (messages && !json_is_array(messages)) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "messages must be an array of UI messages");
        return false;
    }
    const json_t *last_user = NULL;
    for (size_t i = json_array_size(messages); i-- > 0;) {
        json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0) {
            last_user = m;
            break;
        }
    }
    if (strcmp(chat->trigger, "submit-message") == 0) {
        if (!last_user) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST, "messages holds no user message");
            return false;
        }
        chat->user_text = message_text(last_user);
        json_t *parts = json_object_get(last_user, "parts");
        chat->user_parts = json_is_array(parts)
                               ? json_deep_copy(parts)
                               : json_pack("[{s:s,s:s}]", "type", "text", "text", chat->user_text);
        if (!chat->user_text[0]) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST, "the user message has no text");
            return false;
        }
    }

    const char *provider = json_string_value(json_object_get(body, "provider"));
    const char *model = json_string_value(json_object_get(body, "model"));
    if (model && *model &&
        hub_model_ref_parse(provider, model, chat->req_provider, sizeof chat->req_provider,
                            chat->req_model, sizeof chat->req_model)) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST,
                 "model must be \"provider/model\" or come with a provider field");
        return false;
    }
    const char *agent = json_string_value(json_object_get(body, "agentId"));
    if (agent) {
        if (!id_ok(agent) || strlen(agent) >= sizeof chat->agent_id) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST, "agentId is malformed");
            return false;
        }
        snprintf(chat->agent_id, sizeof chat->agent_id, "%s", agent);
    }
    return true;
}

static void drain_timer_closed(uv_handle_t *h)
{
    free(h);
}

void hub_chat_free(void *p)
{
    hub_chat *chat = p;
    if (!chat) return;
    if (chat->drain_timer) uv_close((uv_handle_t *)chat->drain_timer, drain_timer_closed);
    json_decref(chat->user_parts);
    free(chat->user_text);
    free(chat->gateway_body);
    buf_free(&chat->error_body);
    buf_free(&chat->out);
    if (chat->reader_ready) hub_gw_stream_free(&chat->reader);
    hub_ui_free(&chat->ui);
    free(chat);
}

/* ---- shared loading ---- */

typedef struct {
    bool exists;
    char agent_id[40];
    char current_provider[100], current_model[100];
} conv_row;

typedef struct {
    bool present;
    char system_prompt[16384];
    char default_provider[100], default_model[100];
    json_t *allowed;
    json_t *tools;
} agent_row;

static json_t *json_column(const store_rows *r, size_t col)
{
    const char *text = store_rows_get(r, 0, col);
    json_error_t e;
    return text ? json_loads(text, JSON_DECODE_ANY, &e) : NULL;
}

/* Conversation ownership: someone else's conversation is "not found". */
static core_err load_conversation(hub_call *c, store_conn *conn, const char *id, conv_row *out,
                                  bool *visible)
{
    memset(out, 0, sizeof *out);
    *visible = true;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(id)};
    core_err err = store_query(conn,
                               "SELECT org_id, user_id, agent_id, current_provider, current_model "
                               "FROM conversations WHERE id = $1",
                               p, 1, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1) {
        out->exists = true;
        *visible = strcmp(hub_row_str(rows, 0, 0), c->who.org_id) == 0 &&
                   strcmp(hub_row_str(rows, 0, 1), c->who.user_id) == 0;
        snprintf(out->agent_id, sizeof out->agent_id, "%s", hub_row_str(rows, 0, 2));
        snprintf(out->current_provider, sizeof out->current_provider, "%s",
                 hub_row_str(rows, 0, 3));
        snprintf(out->current_model, sizeof out->current_model, "%s", hub_row_str(rows, 0, 4));
    }
    store_rows_free(rows);
    return CORE_OK;
}

static core_err load_agent(store_conn *conn, const char *org_id, const char *agent_id,
                           agent_row *out)
{
    memset(out, 0, sizeof *out);
    if (!agent_id || !*agent_id) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(agent_id), STORE_TEXT(org_id)};
    core_err err = store_query(conn,
                               "SELECT system_prompt, default_provider, default_model, "
                               "allowed_models, tools FROM agents WHERE id = $1 AND org_id = $2",
                               p, 2, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1) {
        out->present = true;
        snprintf(out->system_prompt, sizeof out->system_prompt, "%s", hub_row_str(rows, 0, 0));
        snprintf(out->default_provider, sizeof out->default_provider, "%s",
                 hub_row_str(rows, 0, 1));
        snprintf(out->default_model, sizeof out->default_model, "%s", hub_row_str(rows, 0, 2));
        out->allowed = json_column(rows, 3);
        if (!json_is_array(out->allowed)) {
            json_decref(out->allowed);
            out->allowed = NULL;
        }
        out->tools = json_column(rows, 4);
        if (!json_is_array(out->tools) || json_array_size(out->tools) == 0) {
            json_decref(out->tools);
            out->tools = NULL;
        }
    }
    store_rows_free(rows);
    return CORE_OK;
}

static void agent_free(agent_row *a)
{
    json_decref(a->allowed);
    json_decref(a->tools);
}

/* History as gateway messages [{role, content}], oldest first. For a
 * regeneration the trailing assistant turns are dropped. */
static core_err load_history(store_conn *conn, const char *conv_id, bool regenerate, json_t **out,
                             int64_t *tokens)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(conv_id)};
    core_err err = store_query(conn,
                               "SELECT role, content FROM messages WHERE conversation_id = $1 "
                               "AND content <> '' ORDER BY seq",
                               p, 1, &rows);
    if (err) return err;
    size_t n = store_rows_count(rows);
    if (regenerate)
        while (n > 0 && strcmp(hub_row_str(rows, n - 1, 0), "assistant") == 0)
            n--;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *content = hub_row_str(rows, i, 1);
        json_array_append_new(
            list, json_pack("{s:s,s:s}", "role", hub_row_str(rows, i, 0), "content", content));
        *tokens += hub_tokens_estimate(slice_from_cstr(content)) + HUB_TOKENS_PER_MESSAGE;
    }
    store_rows_free(rows);
    *out = list;
    return CORE_OK;
}

/* A usage row for a request that never reached the gateway (policy refusal). */
static core_err record_refusal(hub_call *c, store_conn *conn, const char *conv_id,
                               const char *agent_id, const char *provider, const char *model,
                               const char *code)
{
    char id[40], day[16];
    random_id("use_", id, sizeof id);
    int64_t now = hub_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    store_param p[] = {STORE_TEXT(id),
                       STORE_TEXT(c->who.org_id),
                       STORE_TEXT(c->who.user_id),
                       STORE_TEXT_OR_NULL(agent_id && *agent_id ? agent_id : NULL),
                       STORE_TEXT(conv_id),
                       STORE_TEXT(provider && *provider ? provider : "-"),
                       STORE_TEXT(model && *model ? model : "-"),
                       STORE_TEXT(code),
                       STORE_TEXT(day),
                       STORE_INT(now)};
    return store_exec(conn,
                      "INSERT INTO model_usage_analytics (id, org_id, user_id, agent_id, "
                      "conversation_id, provider, model, status, error_code, day, created_at) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, 'error', $8, $9, $10)",
                      p, 10);
}

/* Resolution shared by chat and estimate. On failure the call is failed and
 * false returned. */
static bool resolve_model(hub_call *c, const hub_chat *chat, const conv_row *conv,
                          const agent_row *agent, const hub_org_settings *s,
                          const hub_user_prefs *prefs, hub_resolution *r)
{
    hub_resolve_input in;
    memset(&in, 0, sizeof in);
    in.registry = c->registry;
    in.org_allowed = s->allowed;
    in.agent_allowed = agent->allowed;
    in.llm_selection = s->llm_selection;
    in.choice[HUB_SRC_REQUEST] = (hub_model_choice){chat->req_provider, chat->req_model};
    in.choice[HUB_SRC_CONVERSATION] =
        (hub_model_choice){conv->current_provider, conv->current_model};
    in.choice[HUB_SRC_AGENT] = (hub_model_choice){agent->default_provider, agent->default_model};
    in.choice[HUB_SRC_USER] = (hub_model_choice){prefs->default_provider, prefs->default_model};
    in.choice[HUB_SRC_ORG] = (hub_model_choice){s->default_provider, s->default_model};
    in.choice[HUB_SRC_SYSTEM] =
        (hub_model_choice){c->app->cfg.system_provider, c->app->cfg.system_model};
    hub_policy_resolve(&in, r);
    if (r->verdict == HUB_MODEL_OK) return true;
    json_t *extra =
        json_pack("{s:o,s:o,s:o}", "allowed_models",
                  hub_policy_alternatives(c->registry, s->allowed, agent->allowed), "suggestion",
                  r->suggestion[0] ? json_string(r->suggestion) : json_null(), "requested",
                  hub_model_ref_json(r->provider, r->model));
    hub_err err = r->verdict == HUB_MODEL_UNKNOWN       ? HUB_ERR_MODEL_NOT_FOUND
                  : r->verdict == HUB_MODEL_NOT_ALLOWED ? HUB_ERR_MODEL_NOT_ALLOWED
                                                        : HUB_ERR_MODEL_UNAVAILABLE;
    if (r->suggestion[0])
        hub_fail_extra(c, err, extra, "%s; try %s", r->reason, r->suggestion);
    else
        hub_fail_extra(c, err, extra, "%s", r->reason);
    return false;
}

/* Locks the conversation row for the rest of the transaction. Every writer of
 * a conversation's messages takes this lock first, so two turns of the same
 * conversation (an aborted answer being stored while the next question
 * arrives) serialize instead of deadlocking on the (conversation_id, seq) key.
 * SQLite's BEGIN IMMEDIATE already serializes writers; it ignores FOR UPDATE. */
static core_err lock_conversation(store_conn *conn, const char *id)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(id)};
    core_err err =
        store_query(conn, "SELECT id FROM conversations WHERE id = $1 FOR UPDATE", p, 1, &rows);
    store_rows_free(rows);
    return err;
}

/* ---- governance ---- */

/* What governance needs to know about the call chat is about to make. */
static void gov_call_of(const hub_call *c, const hub_chat *chat, const json_t *org_allowed,
                        const json_t *agent_allowed, hub_gov_call *out)
{
    memset(out, 0, sizeof *out);
    out->org_id = chat->org_id;
    out->user_id = chat->user_id;
    out->agent_id = chat->agent_id;
    out->conversation_id = chat->conversation_id;
    out->provider = chat->provider;
    out->model = chat->model;
    out->input_estimate = chat->input_estimate;
    out->max_output = chat->max_output;
    out->price = chat->price;
    out->have_price = chat->have_price;
    out->registry = c->registry;
    out->org_allowed = org_allowed;
    out->agent_allowed = agent_allowed;
    out->max_output_default = c->app->cfg.max_output_tokens;
}

/* Rate limits, once per chat (a retried transaction does not take twice).
 * Returns false after failing the call (429 / 503) and recording the refusal. */
static bool admit_rate(hub_call *c, store_conn *conn, hub_chat *chat, const hub_gov_call *call,
                       core_err *err)
{
    *err = CORE_OK;
    if (chat->rate_admitted) return true;
    hub_gov_outcome outcome;
    json_t *extra = NULL;
    char msg[300];
    *err = hub_governance_admit_rate(conn, call, &chat->gov, &outcome, &extra, msg, sizeof msg);
    if (*err) return false;
    hub_governance_rate_headers(c, &chat->gov.verdict);
    if (outcome == HUB_GOV_OK) {
        chat->rate_admitted = true;
        return true;
    }
    if (outcome == HUB_GOV_RATE_LIMITED) {
        hub_fail_extra(c, HUB_ERR_RATE_LIMITED, extra, "%s", msg);
    } else {
        json_decref(extra);
        hub_fail_extra(c, HUB_ERR_BUSY, json_pack("{s:s}", "reason", "rate_limiter_unavailable"),
                       "%s", msg);
    }
    *err = record_refusal(c, conn, chat->conversation_id, chat->agent_id, chat->provider,
                          chat->model, hub_err_code(c->err));
    return false;
}

/* ---- prepare ---- */

core_err hub_chat_prepare(hub_call *c, store_conn *conn)
{
    hub_chat *chat = c->ud;
    if (!c->who.org_id[0])
        return hub_fail(c, HUB_ERR_FORBIDDEN, "join or create an organization first");
    snprintf(chat->org_id, sizeof chat->org_id, "%s", c->who.org_id);
    snprintf(chat->user_id, sizeof chat->user_id, "%s", c->who.user_id);

    conv_row conv;
    bool visible;
    agent_row agent;
    hub_org_settings s;
    hub_user_prefs prefs;
    memset(&agent, 0, sizeof agent);
    memset(&s, 0, sizeof s);
    memset(&prefs, 0, sizeof prefs);
    json_t *history = NULL;
    core_err err = load_conversation(c, conn, chat->conversation_id, &conv, &visible);
    if (err) return err;
    if (!visible) return hub_fail(c, HUB_ERR_NOT_FOUND, "conversation not found");
    bool regenerate = strcmp(chat->trigger, "regenerate-message") == 0;
    if (regenerate && !conv.exists)
        return hub_fail(c, HUB_ERR_NOT_FOUND, "nothing to regenerate in a new conversation");
    if (!chat->agent_id[0] && conv.agent_id[0])
        snprintf(chat->agent_id, sizeof chat->agent_id, "%s", conv.agent_id);
    if ((err = load_agent(conn, c->who.org_id, chat->agent_id, &agent))) goto out;
    if (chat->agent_id[0] && !agent.present) {
        hub_fail(c, HUB_ERR_NOT_FOUND, "agent not found");
        goto out;
    }
    if ((err = hub_settings_load(conn, &c->app->cfg, c->who.org_id, &s))) goto out;
    if ((err = hub_prefs_load(conn, c->who.user_id, c->who.org_id, &prefs))) goto out;

    hub_resolution r;
    if (!resolve_model(c, chat, &conv, &agent, &s, &prefs, &r)) {
        err = record_refusal(c, conn, chat->conversation_id, chat->agent_id, r.provider, r.model,
                             hub_err_code(c->err));
        goto out;
    }
    snprintf(chat->provider, sizeof chat->provider, "%s", r.provider);
    snprintf(chat->model, sizeof chat->model, "%s", r.model);
    snprintf(chat->model_source, sizeof chat->model_source, "%s", hub_model_source_code(r.source));
    snprintf(chat->model_reason, sizeof chat->model_reason, "%s", r.reason);
    const json_t *entry = hub_registry_find(c->registry, r.provider, r.model);
    chat->have_price = hub_price_from_entry(entry, &chat->price) == CORE_OK;
    int64_t max_out = MIN(hub_entry_max_output(entry, c->app->cfg.max_output_tokens),
                          c->app->cfg.max_output_tokens);

    int64_t tokens = 0;
    if ((err = load_history(conn, chat->conversation_id, regenerate, &history, &tokens))) goto out;
    if (!regenerate) {
        json_array_append_new(history,
                              json_pack("{s:s,s:s}", "role", "user", "content", chat->user_text));
        tokens += hub_tokens_estimate(slice_from_cstr(chat->user_text)) + HUB_TOKENS_PER_MESSAGE;
    }
    if (json_array_size(history) == 0) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST, "nothing to answer: the conversation is empty");
        goto out;
    }
    if (agent.system_prompt[0]) tokens += hub_tokens_estimate(slice_from_cstr(agent.system_prompt));
    chat->input_estimate = tokens;
    chat->max_output = max_out;
    /* the answer's id travels in the gateway metadata, so aigw's usage_log row
     * and teamhub's ledger row of this call can be matched by `usage verify` */
    random_id("msg_", chat->assistant_message_id, sizeof chat->assistant_message_id);

    json_t *input = json_pack("{s:O}", "messages", history);
    if (agent.system_prompt[0])
        json_object_set_new(input, "systemPrompt", json_string(agent.system_prompt));
    if (agent.tools) json_object_set(input, "tools", agent.tools);
    json_t *gw = json_pack(
        "{s:s,s:s,s:s,s:s,s:{s:b,s:I},s:o,s:{s:s,s:s,s:s,s:o}}", "provider", chat->provider,
        "model", chat->model, "feature", "llm", "subfeature", "chat", "featureOptions", "streaming",
        1, "maxTokens", (json_int_t)max_out, "input", input, "metadata", "org_id", c->who.org_id,
        "user_id", c->who.user_id, "conversation_id", chat->conversation_id, "agent_id",
        chat->agent_id[0] ? json_string(chat->agent_id) : json_null());
    json_object_set_new(json_object_get(gw, "metadata"), "message_id",
                        json_string(chat->assistant_message_id));
    free(chat->gateway_body); /* a retried transaction builds it again */
    chat->gateway_body = gw ? json_dumps(gw, JSON_COMPACT) : NULL;
    json_decref(gw);
    if (!chat->gateway_body) {
        err = CORE_ENOMEM;
        goto out;
    }

    hub_gov_call gcall;
    gov_call_of(c, chat, s.allowed, agent.allowed, &gcall);
    if (!admit_rate(c, conn, chat, &gcall, &err)) goto out;

    /* store the conversation change and the user message before aigw is called */
    int64_t now = hub_now_ms();
    if ((err = store_begin(conn))) goto out;
    if (conv.exists && (err = lock_conversation(conn, chat->conversation_id))) {
        store_rollback(conn);
        goto out;
    }
    if (!conv.exists) {
        char title[121];
        snprintf(title, sizeof title, "%s", chat->user_text ? chat->user_text : "");
        for (char *t = title; *t; t++)
            if (*t == '\n' || *t == '\r') *t = ' ';
        store_param p[] = {STORE_TEXT(chat->conversation_id),
                           STORE_TEXT(c->who.org_id),
                           STORE_TEXT(c->who.user_id),
                           STORE_TEXT_OR_NULL(chat->agent_id[0] ? chat->agent_id : NULL),
                           STORE_TEXT(title),
                           STORE_TEXT(chat->provider),
                           STORE_TEXT(chat->model),
                           STORE_INT(now)};
        err = store_exec(conn,
                         "INSERT INTO conversations (id, org_id, user_id, agent_id, title, "
                         "current_provider, current_model, created_at, updated_at) VALUES ($1, "
                         "$2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING",
                         p, 8);
    } else {
        bool switched = conv.current_model[0] && (strcmp(conv.current_provider, chat->provider) ||
                                                  strcmp(conv.current_model, chat->model));
        if (switched) {
            char sid[40];
            random_id("msw_", sid, sizeof sid);
            store_param p[] = {STORE_TEXT(sid),
                               STORE_TEXT(chat->conversation_id),
                               STORE_TEXT(c->who.user_id),
                               STORE_TEXT(conv.current_provider),
                               STORE_TEXT(conv.current_model),
                               STORE_TEXT(chat->provider),
                               STORE_TEXT(chat->model),
                               STORE_TEXT(chat->model_source),
                               STORE_INT(now)};
            err = store_exec(conn,
                             "INSERT INTO model_switch_events (id, conversation_id, user_id, "
                             "from_provider, from_model, to_provider, to_model, reason, "
                             "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                             p, 9);
        }
        store_param u[] = {STORE_TEXT(chat->provider), STORE_TEXT(chat->model),
                           STORE_TEXT_OR_NULL(chat->agent_id[0] ? chat->agent_id : NULL),
                           STORE_INT(now), STORE_TEXT(chat->conversation_id)};
        if (!err)
            err = store_exec(conn,
                             "UPDATE conversations SET current_provider = $1, current_model = $2, "
                             "agent_id = $3, updated_at = $4 WHERE id = $5",
                             u, 5);
    }
    if (!err && !regenerate) {
        random_id("msg_", chat->user_message_id, sizeof chat->user_message_id);
        char *parts = json_dumps(chat->user_parts, JSON_COMPACT);
        store_param m[] = {STORE_TEXT(chat->user_message_id), STORE_TEXT(chat->conversation_id),
                           STORE_TEXT(chat->user_text), STORE_TEXT(parts ? parts : "[]"),
                           STORE_INT(now)};
        err = store_exec(conn,
                         "INSERT INTO messages (id, conversation_id, seq, role, content, parts, "
                         "status, created_at) SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, 'user', "
                         "$3, $4, 'complete', $5 FROM messages WHERE conversation_id = $2",
                         m, 5);
        free(parts);
    }
    /* the budget hold is the transaction's last write: the budget rows stay
     * locked for the shortest time, and a refusal rolls everything back */
    hub_gov_outcome outcome = HUB_GOV_OK;
    json_t *extra = NULL;
    char msg[500];
    if (!err)
        err =
            hub_governance_reserve_tx(conn, &gcall, &chat->gov, &outcome, &extra, msg, sizeof msg);
    if (err) {
        store_rollback(conn);
        goto out;
    }
    if (outcome != HUB_GOV_OK) {
        store_rollback(conn);
        chat->gov.reservation_id[0] = '\0';
        hub_fail_extra(c, HUB_ERR_BUDGET_EXCEEDED, extra, "%s", msg);
        err = record_refusal(c, conn, chat->conversation_id, chat->agent_id, chat->provider,
                             chat->model, hub_err_code(c->err));
        goto out;
    }
    if ((err = store_commit(conn))) {
        chat->gov.reservation_id[0] = '\0';
        goto out;
    }
    hub_ok(c, 200, json_object());
out:
    json_decref(history);
    agent_free(&agent);
    hub_settings_free(&s);
    hub_prefs_free(&prefs);
    return err;
}

/* ---- persist ---- */

core_err hub_chat_persist(hub_call *c, store_conn *conn)
{
    hub_chat *chat = c->ud;
    chat->alerts.count = 0; /* a retried transaction reports them again */
    int64_t now = hub_now_ms();
    char day[16], usage_id[40], memory_id[40], cost_text[48];
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    random_id("use_", usage_id, sizeof usage_id);
    random_id("mem_", memory_id, sizeof memory_id);
    slice_t content = hub_ui_content(&chat->ui);
    json_t *parts_json = hub_ui_parts(&chat->ui, strcmp(chat->status, "complete") == 0);
    char *parts = parts_json ? json_dumps(parts_json, JSON_COMPACT) : NULL;
    json_decref(parts_json);
    /* the seed's DECIMAL(10,6) column: rounded to 6 decimals for display only */
    int64_t micro = (chat->cost_pico + 500000) / 1000000;
    money_format(micro, 6, 6, cost_text);

    store_param msg[] = {STORE_TEXT(chat->assistant_message_id),
                         STORE_TEXT(chat->conversation_id),
                         STORE_TEXTN(content.ptr, content.len),
                         STORE_TEXT(parts ? parts : "[]"),
                         STORE_TEXT(chat->provider),
                         STORE_TEXT(chat->model),
                         STORE_TEXT(chat->model_reason),
                         STORE_INT(chat->usage.input),
                         STORE_INT(chat->usage.cached_input),
                         STORE_INT(chat->usage.output),
                         STORE_INT(chat->usage.reasoning),
                         STORE_INT(chat->cost_pico),
                         STORE_INT(chat->cost_estimated ? 1 : 0),
                         chat->latency_ms >= 0 ? STORE_INT(chat->latency_ms) : STORE_NULL,
                         chat->ttft_ms >= 0 ? STORE_INT(chat->ttft_ms) : STORE_NULL,
                         STORE_TEXT(chat->status),
                         STORE_TEXT_OR_NULL(chat->error_code[0] ? chat->error_code : NULL),
                         STORE_INT(now)};
    store_param use[] = {STORE_TEXT(usage_id),
                         STORE_TEXT(chat->org_id),
                         STORE_TEXT(chat->user_id),
                         STORE_TEXT_OR_NULL(chat->agent_id[0] ? chat->agent_id : NULL),
                         STORE_TEXT(chat->conversation_id),
                         STORE_TEXT(chat->assistant_message_id),
                         STORE_TEXT(chat->provider),
                         STORE_TEXT(chat->model),
                         STORE_INT(chat->usage.input),
                         STORE_INT(chat->usage.cached_input),
                         STORE_INT(chat->usage.output),
                         STORE_INT(chat->usage.reasoning),
                         STORE_INT(chat->cost_pico),
                         STORE_INT(chat->cost_estimated ? 1 : 0),
                         chat->latency_ms >= 0 ? STORE_INT(chat->latency_ms) : STORE_NULL,
                         chat->ttft_ms >= 0 ? STORE_INT(chat->ttft_ms) : STORE_NULL,
                         STORE_TEXT(chat->status),
                         STORE_TEXT_OR_NULL(chat->error_code[0] ? chat->error_code : NULL),
                         STORE_TEXT(day),
                         STORE_INT(now)};
    size_t memory_len = MIN(content.len, (size_t)2000);
    store_param mem[] = {STORE_TEXT(memory_id),
                         STORE_TEXT(chat->conversation_id),
                         STORE_TEXT(chat->assistant_message_id),
                         STORE_TEXT(chat->org_id),
                         STORE_TEXT(chat->user_id),
                         STORE_TEXTN(content.ptr, memory_len),
                         STORE_TEXT(chat->provider),
                         STORE_TEXT(chat->model),
                         STORE_TEXT(cost_text),
                         STORE_INT(chat->cost_pico),
                         STORE_INT(now)};
    core_err err = store_begin(conn);
    if (err) goto out;
    err = lock_conversation(conn, chat->conversation_id);
    if (!err)
        err = store_exec(conn,
                         "INSERT INTO messages (id, conversation_id, seq, role, content, parts, "
                         "provider, model, model_reason, input_tokens, cached_input_tokens, "
                         "output_tokens, reasoning_tokens, cost_pico, cost_estimated, latency_ms, "
                         "ttft_ms, status, error_code, created_at) SELECT $1, $2, "
                         "COALESCE(MAX(seq), 0) + 1, 'assistant', $3, $4, $5, $6, $7, $8, $9, $10, "
                         "$11, $12, $13, $14, $15, $16, $17, $18 FROM messages WHERE "
                         "conversation_id = $2",
                         msg, 18);
    if (!err)
        err = store_exec(conn,
                         "INSERT INTO model_usage_analytics (id, org_id, user_id, agent_id, "
                         "conversation_id, message_id, provider, model, input_tokens, "
                         "cached_input_tokens, output_tokens, reasoning_tokens, cost_pico, "
                         "cost_estimated, latency_ms, ttft_ms, status, error_code, day, "
                         "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                         "$13, $14, $15, $16, $17, $18, $19, $20)",
                         use, 20);
    if (!err && content.len > 0)
        err = store_exec(conn,
                         "INSERT INTO conversation_memories (id, conversation_id, message_id, "
                         "org_id, user_id, content, model_provider, model_name, estimated_cost, "
                         "cost_pico, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                         "$10, $11)",
                         mem, 11);
    if (!err) {
        store_param u[] = {STORE_INT(now), STORE_TEXT(chat->conversation_id)};
        err = store_exec(conn, "UPDATE conversations SET updated_at = $1 WHERE id = $2", u, 2);
    }
    /* the settlement commits with the ledger row it must equal */
    if (!err)
        err = hub_governance_settle_tx(conn, &chat->gov, chat->assistant_message_id,
                                       chat->cost_pico, chat->cost_pico == 0, &chat->alerts);
    if (err) {
        store_rollback(conn);
        goto out;
    }
    err = store_commit(conn);
out:
    free(parts);
    if (!err) hub_ok(c, 200, json_object());
    return err;
}

core_err hub_chat_release(hub_call *c, store_conn *conn)
{
    hub_chat *chat = c->ud;
    if (!chat->gov.reservation_id[0]) return CORE_OK;
    core_err err = store_begin(conn);
    if (err) return err;
    err = hub_governance_settle_tx(conn, &chat->gov, NULL, 0, true, NULL);
    if (err) {
        store_rollback(conn);
        return err;
    }
    return store_commit(conn);
}

void hub_chat_charge_tokens(hub_chat *chat)
{
    hub_gov_call call;
    memset(&call, 0, sizeof call);
    call.org_id = chat->org_id;
    call.user_id = chat->user_id;
    hub_governance_charge_tokens(&call, &chat->gov, chat->usage.input + chat->usage.output);
}

/* ---- metadata ---- */

json_t *hub_chat_start_metadata(const hub_chat *chat)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "provider", chat->provider, "model", chat->model,
                     "model_reason", chat->model_reason, "model_source", chat->model_source,
                     "conversation_id", chat->conversation_id);
}

json_t *hub_chat_finish_metadata(const hub_chat *chat)
{
    char cost[48];
    money_format_pico(chat->cost_pico, cost);
    json_t *meta = json_pack(
        "{s:s,s:s,s:{s:I,s:I,s:I,s:I},s:s,s:b,s:s}", "provider", chat->provider, "model",
        chat->model, "usage", "input_tokens", (json_int_t)chat->usage.input, "cached_input_tokens",
        (json_int_t)chat->usage.cached_input, "output_tokens", (json_int_t)chat->usage.output,
        "reasoning_tokens", (json_int_t)chat->usage.reasoning, "cost_usd", cost, "cost_estimated",
        chat->cost_estimated, "status", chat->status);
    json_object_set_new(meta, "latency_ms",
                        chat->latency_ms >= 0 ? json_integer(chat->latency_ms) : json_null());
    json_object_set_new(meta, "ttft_ms",
                        chat->ttft_ms >= 0 ? json_integer(chat->ttft_ms) : json_null());
    if (chat->finish_reason[0])
        json_object_set_new(meta, "finish_reason", json_string(chat->finish_reason));
    if (chat->error_code[0])
        json_object_set_new(
            meta, "error",
            json_pack("{s:s,s:s}", "code", chat->error_code, "message", chat->error_message));
    return meta;
}

/* ---- estimate ---- */

core_err hub_chat_estimate(hub_call *c, store_conn *conn)
{
    if (!c->who.org_id[0])
        return hub_fail(c, HUB_ERR_FORBIDDEN, "join or create an organization first");
    hub_chat chat;
    memset(&chat, 0, sizeof chat);
    const char *conv_id = hub_body_str(c, "conversationId");
    const char *draft = hub_body_str(c, "draft");
    const char *provider = hub_body_str(c, "provider");
    const char *model = hub_body_str(c, "model");
    if (!draft) draft = "";
    if (model && *model &&
        hub_model_ref_parse(provider, model, chat.req_provider, sizeof chat.req_provider,
                            chat.req_model, sizeof chat.req_model))
        return hub_fail(c, HUB_ERR_INVALID_REQUEST,
                        "model must be \"provider/model\" or come with a provider field");
    conv_row conv;
    memset(&conv, 0, sizeof conv);
    bool visible = true;
    core_err err;
    if (conv_id && (err = load_conversation(c, conn, conv_id, &conv, &visible))) return err;
    if (!visible || (conv_id && !conv.exists))
        return hub_fail(c, HUB_ERR_NOT_FOUND, "conversation not found");
    agent_row agent;
    hub_org_settings s;
    hub_user_prefs prefs;
    memset(&s, 0, sizeof s);
    memset(&prefs, 0, sizeof prefs);
    json_t *history = NULL;
    if ((err = load_agent(conn, c->who.org_id, conv.agent_id, &agent))) return err;
    if ((err = hub_settings_load(conn, &c->app->cfg, c->who.org_id, &s))) goto out;
    if ((err = hub_prefs_load(conn, c->who.user_id, c->who.org_id, &prefs))) goto out;
    hub_resolution r;
    if (!resolve_model(c, &chat, &conv, &agent, &s, &prefs, &r)) goto out;
    int64_t tokens = 0;
    if (conv_id && (err = load_history(conn, conv_id, false, &history, &tokens))) goto out;
    tokens += hub_tokens_estimate(slice_from_cstr(draft)) + HUB_TOKENS_PER_MESSAGE;
    if (agent.system_prompt[0]) tokens += hub_tokens_estimate(slice_from_cstr(agent.system_prompt));
    const json_t *entry = hub_registry_find(c->registry, r.provider, r.model);
    price_t price;
    int64_t max_out = MIN(hub_entry_max_output(entry, c->app->cfg.max_output_tokens),
                          c->app->cfg.max_output_tokens);
    int64_t min_pico = 0, max_pico = 0;
    if (hub_price_from_entry(entry, &price) != CORE_OK ||
        hub_cost_range(&price, tokens, max_out, &min_pico, &max_pico) != CORE_OK) {
        hub_fail(c, HUB_ERR_GATEWAY, "the registry has no usable price for %s/%s", r.provider,
                 r.model);
        goto out;
    }
    /* what the budgets say about this turn (a send is refused when it does not fit) */
    snprintf(chat.org_id, sizeof chat.org_id, "%s", c->who.org_id);
    snprintf(chat.user_id, sizeof chat.user_id, "%s", c->who.user_id);
    snprintf(chat.agent_id, sizeof chat.agent_id, "%s", agent.present ? conv.agent_id : "");
    snprintf(chat.provider, sizeof chat.provider, "%s", r.provider);
    snprintf(chat.model, sizeof chat.model, "%s", r.model);
    chat.price = price;
    chat.have_price = true;
    chat.input_estimate = tokens;
    chat.max_output = max_out;
    hub_gov_call gcall;
    gov_call_of(c, &chat, s.allowed, agent.allowed, &gcall);
    json_t *budget = hub_governance_budget_outlook(conn, &gcall);
    if (!budget) {
        err = CORE_EDB;
        goto out;
    }
    char min_text[48], max_text[48];
    hub_ok(c, 200,
           json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:o,s:b,s:o}", "provider", r.provider,
                     "model", r.model, "model_source", hub_model_source_code(r.source),
                     "model_reason", r.reason, "estimated_input_tokens", (json_int_t)tokens,
                     "max_output_tokens", (json_int_t)max_out, "cost_min_usd",
                     money_format_pico(min_pico, min_text), "cost_max_usd",
                     money_format_pico(max_pico, max_text), "pricing",
                     json_deep_copy(json_object_get(entry, "pricing")), "estimated", 1, "budget",
                     budget));
out:
    json_decref(history);
    agent_free(&agent);
    hub_settings_free(&s);
    hub_prefs_free(&prefs);
    return err;
}
