/*
 * hub_settings.h - organization settings (allowed models, default model,
 * feature flags with environment defaults) and a user's LLM preferences, as
 * loaded inside store jobs. Also the validation of model lists against the
 * registry that every writer of these settings shares.
 */
#ifndef HUB_SETTINGS_H
#define HUB_SETTINGS_H

#include "hub_app.h"
#include "hub_policy.h"

typedef struct {
    json_t *allowed; /* array of "provider/model", NULL = every model */
    char default_provider[100];
    char default_model[100]; /* "" when none */
    json_t *flags;           /* stored overrides (object, never NULL after load) */
    bool llm_selection;      /* effective value */
} hub_org_settings;

typedef struct {
    char default_provider[100];
    char default_model[100]; /* "" when none */
    json_t *pinned;          /* array of "provider/model", never NULL after load */
} hub_user_prefs;

/* Worker side. A missing row yields the defaults. */
core_err hub_settings_load(store_conn *conn, const hub_config *cfg, const char *org_id,
                           hub_org_settings *out);
void hub_settings_free(hub_org_settings *s);
/* {allowed_models, default_model, feature_flags:{llm_selection}} */
json_t *hub_settings_json(const hub_org_settings *s);

core_err hub_prefs_load(store_conn *conn, const char *user_id, const char *org_id,
                        hub_user_prefs *out);
void hub_prefs_free(hub_user_prefs *p);

/* "provider/model" of a (provider, model) pair, or JSON null when empty. */
json_t *hub_model_ref_json(const char *provider, const char *model);

/* Checks that list is null or an array of at most max distinct known
 * "provider/model" strings. On failure fails the call (400 for shape, 404
 * model_not_found naming the unknown ones) and returns false. */
bool hub_validate_model_list(hub_call *c, const json_t *list, size_t max, const char *field);

#endif
