/*
 * hub_settings.c - loading organization settings and user LLM preferences,
 * and validating model lists against the registry (see hub_settings.h).
 */
#include "hub_settings.h"

#include <stdio.h>

static json_t *parse_json_column(const char *text)
{
    if (!text) return NULL;
    json_error_t e;
    return json_loads(text, JSON_DECODE_ANY, &e);
}

core_err hub_settings_load(store_conn *conn, const hub_config *cfg, const char *org_id,
                           hub_org_settings *out)
{
    memset(out, 0, sizeof *out);
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id ? org_id : "")};
    core_err err = store_query(conn,
                               "SELECT allowed_models, default_provider, default_model, "
                               "feature_flags FROM org_settings WHERE org_id = $1",
                               p, 1, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1) {
        json_t *allowed = parse_json_column(store_rows_get(rows, 0, 0));
        if (json_is_array(allowed))
            out->allowed = allowed;
        else
            json_decref(allowed);
        snprintf(out->default_provider, sizeof out->default_provider, "%s",
                 hub_row_str(rows, 0, 1));
        snprintf(out->default_model, sizeof out->default_model, "%s", hub_row_str(rows, 0, 2));
        out->flags = parse_json_column(store_rows_get(rows, 0, 3));
    }
    store_rows_free(rows);
    if (!json_is_object(out->flags)) {
        json_decref(out->flags);
        out->flags = json_object();
    }
    json_t *sel = json_object_get(out->flags, "llm_selection");
    out->llm_selection = json_is_boolean(sel) ? json_is_true(sel) : cfg->llm_selection_default;
    return CORE_OK;
}

void hub_settings_free(hub_org_settings *s)
{
    json_decref(s->allowed);
    json_decref(s->flags);
    s->allowed = s->flags = NULL;
}

json_t *hub_model_ref_json(const char *provider, const char *model)
{
    if (!provider || !*provider || !model || !*model) return json_null();
    char ref[HUB_MODEL_REF_MAX];
    snprintf(ref, sizeof ref, "%s/%s", provider, model);
    return json_string(ref);
}

json_t *hub_settings_json(const hub_org_settings *s)
{
    return json_pack("{s:O,s:o,s:{s:b}}", "allowed_models", s->allowed ? s->allowed : json_null(),
                     "default_model", hub_model_ref_json(s->default_provider, s->default_model),
                     "feature_flags", "llm_selection", s->llm_selection);
}

core_err hub_prefs_load(store_conn *conn, const char *user_id, const char *org_id,
                        hub_user_prefs *out)
{
    memset(out, 0, sizeof *out);
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(user_id), STORE_TEXT(org_id ? org_id : "")};
    core_err err = store_query(conn,
                               "SELECT default_provider, default_model, pinned_models FROM "
                               "user_llm_preferences WHERE user_id = $1 AND org_id = $2",
                               p, 2, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1) {
        snprintf(out->default_provider, sizeof out->default_provider, "%s",
                 hub_row_str(rows, 0, 0));
        snprintf(out->default_model, sizeof out->default_model, "%s", hub_row_str(rows, 0, 1));
        out->pinned = parse_json_column(store_rows_get(rows, 0, 2));
    }
    store_rows_free(rows);
    if (!json_is_array(out->pinned)) {
        json_decref(out->pinned);
        out->pinned = json_array();
    }
    return CORE_OK;
}

void hub_prefs_free(hub_user_prefs *p)
{
    json_decref(p->pinned);
    p->pinned = NULL;
}

bool hub_validate_model_list(hub_call *c, const json_t *list, size_t max, const char *field)
{
    if (!list || json_is_null(list)) return true;
    if (!json_is_array(list) || json_array_size(list) > max) {
        hub_fail(c, HUB_ERR_INVALID_REQUEST,
                 "%s must be null or an array of at most %zu "
                 "\"provider/model\" strings",
                 field, max);
        return false;
    }
    json_t *unknown = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        char prov[100], model[100];
        const char *ref = json_string_value(item);
        if (!ref || hub_model_ref_parse(NULL, ref, prov, sizeof prov, model, sizeof model)) {
            json_decref(unknown);
            hub_fail(c, HUB_ERR_INVALID_REQUEST, "%s[%zu] is not a \"provider/model\" string",
                     field, i);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (json_equal(json_array_get(list, j), item)) {
                json_decref(unknown);
                hub_fail(c, HUB_ERR_INVALID_REQUEST, "%s lists %s twice", field, ref);
                return false;
            }
        }
        if (!hub_registry_find(c->registry, prov, model)) json_array_append(unknown, item);
    }
    if (json_array_size(unknown) > 0) {
        const char *first = json_string_value(json_array_get(unknown, 0));
        hub_fail_extra(c, HUB_ERR_MODEL_NOT_FOUND, json_pack("{s:o}", "unknown_models", unknown),
                       "unknown model %s in %s (see GET /api/models)", first, field);
        return false;
    }
    json_decref(unknown);
    return true;
}
