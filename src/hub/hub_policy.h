/*
 * hub_policy.h - model policy: which registry models a user may use in an
 * organization (org allow-list, agent subset, availability), and which model
 * answers a chat message. Pure functions over jansson values; no I/O, so the
 * rules are unit-tested directly (tests/unit/test_hub_policy.c).
 *
 * Model references are "provider/model" strings; a registry is aigw's
 * GET /api/models "data" array of objects with at least "provider", "model"
 * and "status" (available|degraded|unavailable|unconfigured). An allow-list is
 * a JSON array of "provider/model" strings; NULL (or JSON null) means "every
 * model".
 *
 * Resolution order (DESIGN §4): explicit choice in the request > the
 * conversation's current model > agent default > user default > org default >
 * system default, filtered by the org's (and agent's) allow-list. An explicit
 * choice that fails is an error (never silently replaced); an implicit one
 * that fails is skipped and the skip is mentioned in the reason. With the
 * llm_selection feature off only org default > system default apply.
 *
 * Threads: any; values are borrowed for the duration of a call.
 */
#ifndef HUB_POLICY_H
#define HUB_POLICY_H

#include "../core/base.h"

#include <jansson.h>

#define HUB_MODEL_REF_MAX 200 /* "provider/model" + NUL */

typedef enum {
    HUB_MODEL_OK = 0,
    HUB_MODEL_UNKNOWN,     /* not in the registry -> 404 model_not_found */
    HUB_MODEL_NOT_ALLOWED, /* org or agent policy -> 403 model_not_allowed */
    HUB_MODEL_UNAVAILABLE, /* registry status unavailable/unconfigured -> 503 */
} hub_model_verdict;

typedef enum {
    HUB_SRC_REQUEST = 0,
    HUB_SRC_CONVERSATION,
    HUB_SRC_AGENT,
    HUB_SRC_USER,
    HUB_SRC_ORG,
    HUB_SRC_SYSTEM,
    HUB_SRC_FALLBACK, /* nothing configured worked: first allowed, available model */
    HUB_SRC__COUNT
} hub_model_source;

/* Stable code for the metadata ("request", "conversation", "agent_default",
 * "user_default", "org_default", "system_default", "fallback"). */
const char *hub_model_source_code(hub_model_source src);

/* Finds a model in the registry; NULL when absent. Borrowed reference. */
json_t *hub_registry_find(const json_t *registry, const char *provider, const char *model);
/* Is provider/model on the allow-list? NULL list = yes. */
bool hub_policy_list_allows(const json_t *allow_list, const char *provider, const char *model);
/* Policy + availability verdict for one model. */
hub_model_verdict hub_policy_check(const json_t *registry, const json_t *org_allowed,
                                   const json_t *agent_allowed, const char *provider,
                                   const char *model);
/* New JSON array of "provider/model" strings the user may pick (allowed by
 * both lists and not unavailable), in registry order. */
json_t *hub_policy_alternatives(const json_t *registry, const json_t *org_allowed,
                                const json_t *agent_allowed);
/* New copy of the registry where every entry gains "id" ("provider/model"),
 * "allowed" (bool) and, when not allowed, "reason" (human text). */
json_t *hub_policy_annotate(const json_t *registry, const json_t *org_allowed,
                            const json_t *agent_allowed);

/* Splits "provider/model" (or takes provider and model separately when
 * provider is non-empty) into the two buffers. CORE_EINVAL when malformed. */
core_err hub_model_ref_parse(const char *provider, const char *model, char *prov_out,
                             size_t prov_len, char *model_out, size_t model_len);

typedef struct {
    const char *provider; /* NULL when the source has no choice */
    const char *model;
} hub_model_choice;

typedef struct {
    const json_t *registry;
    const json_t *org_allowed;
    const json_t *agent_allowed;
    bool llm_selection;                          /* org feature flag */
    hub_model_choice choice[HUB_SRC_SYSTEM + 1]; /* indexed by hub_model_source */
} hub_resolve_input;

typedef struct {
    hub_model_verdict verdict; /* OK, or why the explicit/only choice failed */
    hub_model_source source;   /* which source won (valid when verdict OK) */
    char provider[100];
    char model[100];
    char reason[512];                   /* human explanation, also for errors */
    char suggestion[HUB_MODEL_REF_MAX]; /* allowed available alternative or "" */
} hub_resolution;

/* Resolves the model for one message. Always fills out->reason. */
void hub_policy_resolve(const hub_resolve_input *in, hub_resolution *out);

#endif
