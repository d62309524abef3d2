/*
 * hub_api_models.c - the model endpoints and settings that steer model choice:
 *   GET  /api/models                          registry as this user sees it in the active org
 *   GET  /api/organizations/:id/models        the org's policy + annotated registry (members)
 *   PUT  /api/organizations/:id/models        allowed_models / default_model (admins)
 *   GET  /api/organizations/:id/settings      policy + feature flags (members)
 *   PUT  /api/organizations/:id/settings      same fields + feature_flags (admins)
 *   GET|POST /api/users/preferences/llm       default model and pinned models
 * Every model named in a write is checked against aigw's registry (unknown ->
 * 404 model_not_found) and the org policy (not allowed -> 403). Org writes
 * are audited (org.models.update / org.settings.update, before and after) in
 * the transaction that makes them.
 */
#include "hub_audit.h"
#include "hub_settings.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_ALLOWED 500
#define MAX_PINNED  50

/* The system default from configuration. */
static hub_model_choice system_choice(const hub_call *c)
{
    return (hub_model_choice){c->app->cfg.system_provider, c->app->cfg.system_model};
}

/* The default model this user gets with no explicit choice (user > org >
 * system, filtered), as "provider/model" and the reason. */
static json_t *effective_default(const hub_call *c, const hub_org_settings *s,
                                 const hub_user_prefs *prefs)
{
    hub_resolve_input in;
    memset(&in, 0, sizeof in);
    in.registry = c->registry;
    in.org_allowed = s->allowed;
    in.llm_selection = s->llm_selection;
    if (prefs)
        in.choice[HUB_SRC_USER] = (hub_model_choice){prefs->default_provider, prefs->default_model};
    in.choice[HUB_SRC_ORG] = (hub_model_choice){s->default_provider, s->default_model};
    in.choice[HUB_SRC_SYSTEM] = system_choice(c);
    hub_resolution r;
    hub_policy_resolve(&in, &r);
    if (r.verdict != HUB_MODEL_OK) return json_pack("{s:n,s:s}", "model", "reason", r.reason);
    return json_pack("{s:o,s:s,s:s}", "model", hub_model_ref_json(r.provider, r.model), "source",
                     hub_model_source_code(r.source), "reason", r.reason);
}

/* ---- GET /api/models ---- */

static core_err models_work(hub_call *c, store_conn *conn)
{
    hub_org_settings s;
    hub_user_prefs prefs;
    core_err err = hub_settings_load(conn, &c->app->cfg, c->who.org_id, &s);
    if (err) return err;
    if ((err = hub_prefs_load(conn, c->who.user_id, c->who.org_id, &prefs))) {
        hub_settings_free(&s);
        return err;
    }
    json_t *models = hub_policy_annotate(c->registry, s.allowed, NULL);
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        json_t *id = json_object_get(m, "id");
        bool pinned = false;
        size_t j;
        json_t *p;
        json_array_foreach(prefs.pinned, j, p) if (json_equal(p, id)) pinned = true;
        json_object_set_new(m, "pinned", json_boolean(pinned));
    }
    json_t *resp = json_pack("{s:o,s:o,s:b,s:o,s:O}", "models", models, "org_id",
                             c->who.org_id[0] ? json_string(c->who.org_id) : json_null(),
                             "llm_selection", s.llm_selection, "default",
                             effective_default(c, &s, &prefs), "pinned_models", prefs.pinned);
    hub_settings_free(&s);
    hub_prefs_free(&prefs);
    return hub_ok(c, 200, resp);
}

static void handle_models(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_USER);
    if (c) hub_call_submit_with_registry(c, models_work);
}

/* ---- organization policy ---- */

static core_err org_models_get_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "member", NULL)) return CORE_OK;
    hub_org_settings s;
    core_err err = hub_settings_load(conn, &c->app->cfg, c->param[0], &s);
    if (err) return err;
    json_t *resp = hub_settings_json(&s);
    json_object_set_new(resp, "models", hub_policy_annotate(c->registry, s.allowed, NULL));
    json_object_set_new(resp, "system_default",
                        hub_model_ref_json(c->app->cfg.system_provider, c->app->cfg.system_model));
    hub_settings_free(&s);
    return hub_ok(c, 200, resp);
}

/* Applies allowed_models / default_model / feature_flags from the body. */
static core_err settings_put(hub_call *c, store_conn *conn, bool with_flags)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    hub_org_settings s;
    core_err err = hub_settings_load(conn, &c->app->cfg, c->param[0], &s);
    if (err) return err;
    json_t *before = hub_settings_json(&s);
    json_t *body = c->body ? c->body : json_object();
    if (!c->body) c->body = body;

    json_t *allowed = json_object_get(body, "allowed_models");
    if (allowed) {
        if (!hub_validate_model_list(c, allowed, MAX_ALLOWED, "allowed_models")) goto out;
        json_decref(s.allowed);
        s.allowed = json_is_array(allowed) ? json_incref(allowed) : NULL;
    }
    json_t *dflt = json_object_get(body, "default_model");
    if (dflt) {
        if (json_is_null(dflt)) {
            s.default_provider[0] = s.default_model[0] = '\0';
        } else if (!json_is_string(dflt) ||
                   hub_model_ref_parse(NULL, json_string_value(dflt), s.default_provider,
                                       sizeof s.default_provider, s.default_model,
                                       sizeof s.default_model)) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST,
                     "default_model must be \"provider/model\" or null");
            goto out;
        }
    }
    if (s.default_model[0]) {
        hub_model_verdict v =
            hub_policy_check(c->registry, s.allowed, NULL, s.default_provider, s.default_model);
        if (v == HUB_MODEL_UNKNOWN) {
            hub_fail(c, HUB_ERR_MODEL_NOT_FOUND, "unknown default model %s/%s", s.default_provider,
                     s.default_model);
            goto out;
        }
        if (v == HUB_MODEL_NOT_ALLOWED) {
            hub_fail_extra(c, HUB_ERR_MODEL_NOT_ALLOWED,
                           json_pack("{s:o}", "allowed_models",
                                     hub_policy_alternatives(c->registry, s.allowed, NULL)),
                           "the default model %s/%s is not in allowed_models", s.default_provider,
                           s.default_model);
            goto out;
        }
    }
    json_t *flags = json_object_get(body, "feature_flags");
    if (flags && with_flags) {
        const char *key;
        json_t *value;
        if (!json_is_object(flags)) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST, "feature_flags must be an object");
            goto out;
        }
        json_object_foreach(flags, key, value)
        {
            if (strcmp(key, "llm_selection") != 0 || !json_is_boolean(value)) {
                hub_fail(c, HUB_ERR_INVALID_REQUEST,
                         "unknown feature flag or non-boolean value: %s (known: llm_selection)",
                         key);
                goto out;
            }
            json_object_set(s.flags, key, value);
        }
        json_t *sel = json_object_get(s.flags, "llm_selection");
        if (json_is_boolean(sel)) s.llm_selection = json_is_true(sel);
    }

    char *allowed_text = s.allowed ? json_dumps(s.allowed, JSON_COMPACT) : NULL;
    char *flags_text = json_dumps(s.flags, JSON_COMPACT);
    store_param p[] = {STORE_TEXT(c->param[0]),
                       STORE_TEXT_OR_NULL(allowed_text),
                       s.default_model[0] ? STORE_TEXT(s.default_provider) : STORE_NULL,
                       s.default_model[0] ? STORE_TEXT(s.default_model) : STORE_NULL,
                       STORE_TEXT(flags_text ? flags_text : "{}"),
                       STORE_INT(hub_now_ms())};
    json_t *after = hub_settings_json(&s);
    char target[60];
    snprintf(target, sizeof target, "org:%s", c->param[0]);
    bool begun = (err = store_begin(conn)) == CORE_OK;
    if (!err)
        err = store_exec(
            conn,
            "INSERT INTO org_settings (org_id, allowed_models, default_provider, "
            "default_model, feature_flags, updated_at) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (org_id) DO UPDATE SET allowed_models = excluded.allowed_models, "
            "default_provider = excluded.default_provider, default_model = "
            "excluded.default_model, feature_flags = excluded.feature_flags, updated_at "
            "= excluded.updated_at",
            p, 6);
    if (!err)
        err = hub_audit_record(conn, c, c->param[0],
                               with_flags ? "org.settings.update" : "org.models.update", target,
                               before, after);
    if (!err)
        err = store_commit(conn);
    else if (begun)
        store_rollback(conn);
    free(allowed_text);
    free(flags_text);
    if (!err) {
        json_object_set_new(after, "models", hub_policy_annotate(c->registry, s.allowed, NULL));
        hub_ok(c, 200, json_incref(after));
    }
    json_decref(after);
out:
    json_decref(before);
    hub_settings_free(&s);
    return err;
}

static core_err org_models_put_work(hub_call *c, store_conn *conn)
{
    return settings_put(c, conn, false);
}

static core_err org_settings_put_work(hub_call *c, store_conn *conn)
{
    return settings_put(c, conn, true);
}

/* ---- user preferences ---- */

static core_err prefs_get_work(hub_call *c, store_conn *conn)
{
    hub_org_settings s;
    hub_user_prefs prefs;
    core_err err = hub_settings_load(conn, &c->app->cfg, c->who.org_id, &s);
    if (err) return err;
    if ((err = hub_prefs_load(conn, c->who.user_id, c->who.org_id, &prefs))) {
        hub_settings_free(&s);
        return err;
    }
    json_t *resp = json_pack("{s:o,s:O,s:o,s:b,s:o}", "default_model",
                             hub_model_ref_json(prefs.default_provider, prefs.default_model),
                             "pinned_models", prefs.pinned, "effective_default",
                             effective_default(c, &s, &prefs), "llm_selection", s.llm_selection,
                             "org_id", c->who.org_id[0] ? json_string(c->who.org_id) : json_null());
    hub_settings_free(&s);
    hub_prefs_free(&prefs);
    return hub_ok(c, 200, resp);
}

/* 404 unknown / 403 not allowed for one reference; true when fine. */
static bool check_usable(hub_call *c, const hub_org_settings *s, const char *prov,
                         const char *model, const char *field)
{
    hub_model_verdict v = hub_policy_check(c->registry, s->allowed, NULL, prov, model);
    if (v == HUB_MODEL_UNKNOWN) {
        hub_fail(c, HUB_ERR_MODEL_NOT_FOUND, "%s: unknown model %s/%s", field, prov, model);
        return false;
    }
    if (v == HUB_MODEL_NOT_ALLOWED) {
        hub_fail_extra(c, HUB_ERR_MODEL_NOT_ALLOWED,
                       json_pack("{s:o}", "allowed_models",
                                 hub_policy_alternatives(c->registry, s->allowed, NULL)),
                       "%s: %s/%s is not allowed in this organization", field, prov, model);
        return false;
    }
    return true; /* unavailable models may still be preferred; chat reports it */
}

static core_err prefs_post_work(hub_call *c, store_conn *conn)
{
    if (!c->who.org_id[0])
        return hub_fail(c, HUB_ERR_FORBIDDEN, "join or create an organization first");
    hub_org_settings s;
    hub_user_prefs prefs;
    core_err err = hub_settings_load(conn, &c->app->cfg, c->who.org_id, &s);
    if (err) return err;
    if ((err = hub_prefs_load(conn, c->who.user_id, c->who.org_id, &prefs))) {
        hub_settings_free(&s);
        return err;
    }
    json_t *body = c->body;
    json_t *dflt = body ? json_object_get(body, "default_model") : NULL;
    const char *prov_field = body ? json_string_value(json_object_get(body, "provider")) : NULL;
    const char *model_field = body ? json_string_value(json_object_get(body, "model")) : NULL;
    if (!dflt && model_field) dflt = json_object_get(body, "model"); /* {provider, model} form */
    if (dflt) {
        if (json_is_null(dflt)) {
            prefs.default_provider[0] = prefs.default_model[0] = '\0';
        } else if (!json_is_string(dflt) ||
                   hub_model_ref_parse(dflt == json_object_get(body, "model") ? prov_field : NULL,
                                       json_string_value(dflt), prefs.default_provider,
                                       sizeof prefs.default_provider, prefs.default_model,
                                       sizeof prefs.default_model)) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST,
                     "default_model must be \"provider/model\" (or send provider and model)");
            goto out;
        } else if (!check_usable(c, &s, prefs.default_provider, prefs.default_model,
                                 "default_model")) {
            goto out;
        }
    }
    json_t *pinned = body ? json_object_get(body, "pinned_models") : NULL;
    if (pinned) {
        if (json_is_null(pinned)) pinned = NULL;
        if (!hub_validate_model_list(c, pinned, MAX_PINNED, "pinned_models")) goto out;
        size_t i;
        json_t *item;
        json_array_foreach(pinned, i, item)
        {
            char prov[100], model[100];
            hub_model_ref_parse(NULL, json_string_value(item), prov, sizeof prov, model,
                                sizeof model);
            if (!check_usable(c, &s, prov, model, "pinned_models")) goto out;
        }
        json_decref(prefs.pinned);
        prefs.pinned = pinned ? json_incref(pinned) : json_array();
    }
    char *pinned_text = json_dumps(prefs.pinned, JSON_COMPACT);
    store_param p[] = {STORE_TEXT(c->who.user_id),
                       STORE_TEXT(c->who.org_id),
                       prefs.default_model[0] ? STORE_TEXT(prefs.default_provider) : STORE_NULL,
                       prefs.default_model[0] ? STORE_TEXT(prefs.default_model) : STORE_NULL,
                       STORE_TEXT(pinned_text ? pinned_text : "[]"),
                       STORE_INT(hub_now_ms())};
    err = store_exec(conn,
                     "INSERT INTO user_llm_preferences (user_id, org_id, default_provider, "
                     "default_model, pinned_models, updated_at) VALUES ($1, $2, $3, $4, $5, $6) "
                     "ON CONFLICT (user_id, org_id) DO UPDATE SET default_provider = "
                     "excluded.default_provider, default_model = excluded.default_model, "
                     "pinned_models = excluded.pinned_models, updated_at = excluded.updated_at",
                     p, 6);
    free(pinned_text);
    if (!err)
        hub_ok(c, 200,
               json_pack("{s:o,s:O,s:o,s:b,s:s}", "default_model",
                         hub_model_ref_json(prefs.default_provider, prefs.default_model),
                         "pinned_models", prefs.pinned, "effective_default",
                         effective_default(c, &s, &prefs), "llm_selection", s.llm_selection,
                         "org_id", c->who.org_id));
out:
    hub_settings_free(&s);
    hub_prefs_free(&prefs);
    return err;
}

#define REGISTRY_HANDLER(work, p0)                                                                 \
    static void handle_##work(http_request *req, void *ud)                                         \
    {                                                                                              \
        (void)ud;                                                                                  \
        hub_call *c = hub_call_new(req, HUB_AUTH_USER);                                            \
        if (!c) return;                                                                            \
        if (p0) hub_call_param(c, 0, p0);                                                          \
        hub_call_submit_with_registry(c, work);                                                    \
    }
REGISTRY_HANDLER(org_models_get_work, "id")
REGISTRY_HANDLER(org_models_put_work, "id")
REGISTRY_HANDLER(org_settings_put_work, "id")
REGISTRY_HANDLER(prefs_get_work, NULL)
REGISTRY_HANDLER(prefs_post_work, NULL)
#undef REGISTRY_HANDLER

core_err hub_routes_models(http_router *r)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/api/models", handle_models},
        {"GET", "/api/organizations/:id/models", handle_org_models_get_work},
        {"PUT", "/api/organizations/:id/models", handle_org_models_put_work},
        {"GET", "/api/organizations/:id/settings", handle_org_models_get_work},
        {"PUT", "/api/organizations/:id/settings", handle_org_settings_put_work},
        {"GET", "/api/users/preferences/llm", handle_prefs_get_work},
        {"POST", "/api/users/preferences/llm", handle_prefs_post_work},
        {"PUT", "/api/users/preferences/llm", handle_prefs_post_work},
    };
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        core_err err = http_router_add(r, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
        if (err) return err;
    }
    return CORE_OK;
}
