/*
 * hub_policy.c - model allow-lists, availability and the resolution order for
 * a chat message (see hub_policy.h for the rules).
 */
#include "hub_policy.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const source_codes[HUB_SRC__COUNT] = {
    [HUB_SRC_REQUEST] = "request",     [HUB_SRC_CONVERSATION] = "conversation",
    [HUB_SRC_AGENT] = "agent_default", [HUB_SRC_USER] = "user_default",
    [HUB_SRC_ORG] = "org_default",     [HUB_SRC_SYSTEM] = "system_default",
    [HUB_SRC_FALLBACK] = "fallback",
};

static const char *const source_text[HUB_SRC__COUNT] = {
    [HUB_SRC_REQUEST] = "chosen in the request",
    [HUB_SRC_CONVERSATION] = "the conversation's current model",
    [HUB_SRC_AGENT] = "the agent's default model",
    [HUB_SRC_USER] = "your default model",
    [HUB_SRC_ORG] = "the organization's default model",
    [HUB_SRC_SYSTEM] = "the system default model",
    [HUB_SRC_FALLBACK] = "the first model allowed and available",
};

const char *hub_model_source_code(hub_model_source src)
{
    return (unsigned)src < HUB_SRC__COUNT ? source_codes[src] : "unknown";
}

static const char *str_field(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

json_t *hub_registry_find(const json_t *registry, const char *provider, const char *model)
{
    size_t i;
    json_t *entry;
    if (!provider || !model) return NULL;
    json_array_foreach(registry, i, entry)
    {
        if (strcmp(str_field(entry, "provider"), provider) == 0 &&
            strcmp(str_field(entry, "model"), model) == 0)
            return entry;
    }
    return NULL;
}

bool hub_policy_list_allows(const json_t *allow_list, const char *provider, const char *model)
{
    if (!allow_list || json_is_null(allow_list)) return true;
    size_t plen = strlen(provider);
    size_t i;
    json_t *item;
    json_array_foreach(allow_list, i, item)
    {
        const char *ref = json_string_value(item);
        if (ref && strncmp(ref, provider, plen) == 0 && ref[plen] == '/' &&
            strcmp(ref + plen + 1, model) == 0)
            return true;
    }
    return false;
}

static bool status_usable(const json_t *entry)
{
    const char *status = str_field(entry, "status");
    /* degraded still answers; an entry without status is trusted */
    return strcmp(status, "unavailable") != 0 && strcmp(status, "unconfigured") != 0;
}

hub_model_verdict hub_policy_check(const json_t *registry, const json_t *org_allowed,
                                   const json_t *agent_allowed, const char *provider,
                                   const char *model)
{
    json_t *entry = hub_registry_find(registry, provider, model);
    if (!entry) return HUB_MODEL_UNKNOWN;
    if (!hub_policy_list_allows(org_allowed, provider, model) ||
        !hub_policy_list_allows(agent_allowed, provider, model))
        return HUB_MODEL_NOT_ALLOWED;
    if (!status_usable(entry)) return HUB_MODEL_UNAVAILABLE;
    return HUB_MODEL_OK;
}

json_t *hub_policy_alternatives(const json_t *registry, const json_t *org_allowed,
                                const json_t *agent_allowed)
{
    json_t *out = json_array();
    size_t i;
    json_t *entry;
    if (!out) return NULL;
    json_array_foreach(registry, i, entry)
    {
        const char *provider = str_field(entry, "provider");
        const char *model = str_field(entry, "model");
        if (hub_policy_check(registry, org_allowed, agent_allowed, provider, model) != HUB_MODEL_OK)
            continue;
        char ref[HUB_MODEL_REF_MAX];
        snprintf(ref, sizeof ref, "%s/%s", provider, model);
        json_array_append_new(out, json_string(ref));
    }
    return out;
}

json_t *hub_policy_annotate(const json_t *registry, const json_t *org_allowed,
                            const json_t *agent_allowed)
{
    json_t *out = json_array();
    size_t i;
    json_t *entry;
    if (!out) return NULL;
    json_array_foreach(registry, i, entry)
    {
        if (!json_is_object(entry)) continue;
        json_t *copy = json_deep_copy(entry);
        if (!copy) continue;
        const char *provider = str_field(entry, "provider");
        const char *model = str_field(entry, "model");
        char ref[HUB_MODEL_REF_MAX];
        snprintf(ref, sizeof ref, "%s/%s", provider, model);
        json_object_set_new(copy, "id", json_string(ref));
        bool org_ok = hub_policy_list_allows(org_allowed, provider, model);
        bool agent_ok = hub_policy_list_allows(agent_allowed, provider, model);
        json_object_set_new(copy, "allowed", json_boolean(org_ok && agent_ok));
        if (!org_ok)
            json_object_set_new(copy, "reason",
                                json_string("not in this organization's allowed models"));
        else if (!agent_ok)
            json_object_set_new(copy, "reason", json_string("not allowed for this agent"));
        json_array_append_new(out, copy);
    }
    return out;
}

core_err hub_model_ref_parse(const char *provider, const char *model, char *prov_out,
                             size_t prov_len, char *model_out, size_t model_len)
{
    if (!model || !*model) return CORE_EINVAL;
    const char *prov = provider;
    size_t plen = prov ? strlen(prov) : 0;
    const char *name = model;
    if (plen == 0) {
        const char *slash = strchr(model, '/');
        if (!slash || slash == model) return CORE_EINVAL;
        prov = model;
        plen = (size_t)(slash - model);
        name = slash + 1;
    }
    size_t nlen = strlen(name);
    if (nlen == 0 || plen >= prov_len || nlen >= model_len) return CORE_EINVAL;
    memcpy(prov_out, prov, plen);
    prov_out[plen] = '\0';
    memcpy(model_out, name, nlen + 1);
    return CORE_OK;
}

static const char *verdict_text(hub_model_verdict v)
{
    switch (v) {
    case HUB_MODEL_UNKNOWN:
        return "is not a known model";
    case HUB_MODEL_NOT_ALLOWED:
        return "is not allowed in this organization";
    case HUB_MODEL_UNAVAILABLE:
        return "is currently unavailable";
    default:
        return "is usable";
    }
}

/* Appends "; " + a formatted note to out->reason, truncating safely. */
static void reason_append(hub_resolution *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reason_append(hub_resolution *out, const char *fmt, ...)
{
    size_t used = strlen(out->reason);
    if (used + 1 >= sizeof out->reason) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason + used, sizeof out->reason - used, fmt, ap);
    va_end(ap);
}

static void set_choice(hub_resolution *out, hub_model_source src, const char *provider,
                       const char *model)
{
    out->verdict = HUB_MODEL_OK;
    out->source = src;
    snprintf(out->provider, sizeof out->provider, "%.*s", (int)sizeof out->provider - 1, provider);
    snprintf(out->model, sizeof out->model, "%.*s", (int)sizeof out->model - 1, model);
}

static void first_alternative(const hub_resolve_input *in, char *ref, size_t len)
{
    ref[0] = '\0';
    json_t *alts = hub_policy_alternatives(in->registry, in->org_allowed, in->agent_allowed);
    const char *first = json_string_value(json_array_get(alts, 0));
    if (first) snprintf(ref, len, "%s", first);
    json_decref(alts);
}

void hub_policy_resolve(const hub_resolve_input *in, hub_resolution *out)
{
    memset(out, 0, sizeof *out);
    char notes[400] = "";
    size_t notes_len = 0;

    for (int src = HUB_SRC_REQUEST; src <= HUB_SRC_SYSTEM; src++) {
        const hub_model_choice *c = &in->choice[src];
        if (!c->provider || !c->model || !*c->provider || !*c->model) continue;
        if (!in->llm_selection && src != HUB_SRC_ORG && src != HUB_SRC_SYSTEM) {
            if (src == HUB_SRC_REQUEST && notes_len < sizeof notes)
                notes_len += (size_t)snprintf(notes + notes_len, sizeof notes - notes_len,
                                              "; model selection is disabled in this "
                                              "organization, the request's choice was ignored");
            continue;
        }
        hub_model_verdict v = hub_policy_check(in->registry, in->org_allowed, in->agent_allowed,
                                               c->provider, c->model);
        if (v == HUB_MODEL_OK) {
            set_choice(out, (hub_model_source)src, c->provider, c->model);
            snprintf(out->reason, sizeof out->reason, "%s/%s: %s", c->provider, c->model,
                     source_text[src]);
            if (notes_len) reason_append(out, "%s", notes);
            return;
        }
        if (src == HUB_SRC_REQUEST) {
            /* an explicit choice is refused, never silently replaced */
            out->verdict = v;
            out->source = HUB_SRC_REQUEST;
            snprintf(out->provider, sizeof out->provider, "%s", c->provider);
            snprintf(out->model, sizeof out->model, "%s", c->model);
            snprintf(out->reason, sizeof out->reason, "%s/%s %s", c->provider, c->model,
                     verdict_text(v));
            first_alternative(in, out->suggestion, sizeof out->suggestion);
            return;
        }
        if (notes_len < sizeof notes)
            notes_len += (size_t)snprintf(notes + notes_len, sizeof notes - notes_len,
                                          "; skipped %s %s/%s: it %s", source_text[src],
                                          c->provider, c->model, verdict_text(v));
    }

    char ref[HUB_MODEL_REF_MAX];
    first_alternative(in, ref, sizeof ref);
    char *slash = strchr(ref, '/');
    if (!slash) {
        out->verdict = HUB_MODEL_NOT_ALLOWED;
        out->source = HUB_SRC_FALLBACK;
        snprintf(out->reason, sizeof out->reason,
                 "no model is both allowed in this organization and available%s", notes);
        return;
    }
    *slash = '\0';
    set_choice(out, HUB_SRC_FALLBACK, ref, slash + 1);
    snprintf(out->reason, sizeof out->reason, "%s/%s: %s", ref, slash + 1,
             source_text[HUB_SRC_FALLBACK]);
    if (notes_len) reason_append(out, "%s", notes);
}
