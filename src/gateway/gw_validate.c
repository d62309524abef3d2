/*
 * gw_validate.c - validation and normalization of request bodies. Every
 * rejection names the offending field, so a caller can fix the request from
 * the error alone.
 */
#include "gw_validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static gw_err fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static gw_err fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return GW_ERR_INVALID_REQUEST;
}

/* Out of memory is the server's problem, never reported as the caller's. */
static gw_err oom(char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "out of memory while reading the request");
    return GW_ERR_INTERNAL;
}

static bool is_model_id(const char *id)
{
    const char *slash = id ? strchr(id, '/') : NULL;
    return slash && slash != id && slash[1] != '\0';
}

bool gw_split_model_id(const char *id, arena_t *arena, char **provider, char **model)
{
    if (!is_model_id(id)) return false;
    const char *slash = strchr(id, '/');
    *provider = arena_strdup(arena, (slice_t){id, (size_t)(slash - id)});
    *model = arena_strdup(arena, slice_from_cstr(slash + 1));
    return *provider && *model;
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c == 0x7f) return false;
    }
    return true;
}

/* Appends text to a growing system prompt held in the arena. */
static char *join_system(arena_t *arena, char *prev, const char *text)
{
    if (!prev) return arena_strdup(arena, slice_from_cstr(text));
    return arena_printf(arena, "%s\n\n%s", prev, text);
}

/* Text of a content value that is a string or an array of text parts. */
static const char *content_text(json_t *content, arena_t *arena)
{
    if (json_is_string(content)) return json_string_value(content);
    if (!json_is_array(content)) return NULL;
    char *acc = NULL;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (!t) continue;
        acc = acc ? arena_printf(arena, "%s\n%s", acc, t) : arena_strdup(arena, slice_from_cstr(t));
        if (!acc) return NULL; /* out of memory */
    }
    return acc ? acc : "";
}

static gw_err check_content(json_t *content, const char *where, bool may_be_null, char *errbuf,
                            size_t errlen)
{
    if (json_is_string(content)) return GW_OK;
    if (json_is_null(content) || !content) {
        if (may_be_null) return GW_OK;
        return fail(errbuf, errlen, "%s.content is required", where);
    }
    if (!json_is_array(content))
        return fail(errbuf, errlen, "%s.content must be a string or an array of parts", where);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type) return fail(errbuf, errlen, "%s.content[%zu].type must be a string", where, i);
        if (strcmp(type, "text") == 0) {
            if (!json_is_string(json_object_get(part, "text")))
                return fail(errbuf, errlen, "%s.content[%zu].text must be a string", where, i);
        } else if (strcmp(type, "image_url") == 0) {
            json_t *iu = json_object_get(part, "image_url");
            const char *url =
                json_string_value(json_is_object(iu) ? json_object_get(iu, "url") : iu);
            if (!url)
                return fail(errbuf, errlen, "%s.content[%zu].image_url.url must be a string", where,
                            i);
        } else if (strcmp(type, "input_audio") != 0 && strcmp(type, "file") != 0) {
            return fail(errbuf, errlen,
                        "%s.content[%zu].type '%.40s' is not supported (text, image_url, "
                        "input_audio, file)",
                        where, i, type);
        }
    }
    return GW_OK;
}

static gw_err check_tool_calls(json_t *calls, const char *where, char *errbuf, size_t errlen)
{
    if (!json_is_array(calls)) return fail(errbuf, errlen, "%s.tool_calls must be an array", where);
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        if (!json_is_string(json_object_get(c, "id")) || !json_is_object(fn) ||
            !json_is_string(json_object_get(fn, "name")) ||
            !json_is_string(json_object_get(fn, "arguments")))
            return fail(errbuf, errlen,
                        "%s.tool_calls[%zu] needs id, function.name and function.arguments "
                        "(strings)",
                        where, i);
    }
    return GW_OK;
}

/* "<field>[<index>]" for error messages. Runs for every message of every
 * request, where snprintf's cost showed in the profiles. */
static void format_where(char *out, size_t outsz, const char *field, size_t index)
{
    char digits[24];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    size_t flen = strlen(field);
    if (flen + nd + 3 > outsz) flen = outsz > nd + 3 ? outsz - nd - 3 : 0;
    if (flen + nd + 3 > outsz) {
        if (outsz) out[0] = '\0';
        return;
    }
    memcpy(out, field, flen);
    char *p = out + flen;
    *p++ = '[';
    while (nd)
        *p++ = digits[--nd];
    *p++ = ']';
    *p = '\0';
}

/* Validates messages, moves system/developer messages into system_prompt and
 * returns a new array (owned reference) of the rest. */
static gw_err normalize_messages(json_t *msgs, const char *field, arena_t *arena, gw_request *r,
                                 char *errbuf, size_t errlen)
{
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return fail(errbuf, errlen, "%s must be a non-empty array of messages", field);
    if (json_array_size(msgs) > GW_MAX_MESSAGES)
        return fail(errbuf, errlen, "%s has more than %d messages", field, GW_MAX_MESSAGES);
    json_t *out = json_array();
    if (!out) return oom(errbuf, errlen);
    size_t i;
    json_t *m;
    char where[64];
    json_array_foreach(msgs, i, m)
    {
        format_where(where, sizeof where, field, i);
        if (!json_is_object(m)) {
            json_decref(out);
            return fail(errbuf, errlen, "%s must be an object", where);
        }
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        gw_err e = GW_OK;
        if (!role) {
            e = fail(errbuf, errlen, "%s.role must be a string", where);
        } else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if ((e = check_content(content, where, false, errbuf, errlen)) == GW_OK) {
                const char *t = content_text(content, arena);
                char *joined = t ? join_system(arena, r->system_prompt, t) : NULL;
                if (!joined) {
                    json_decref(out);
                    return oom(errbuf, errlen);
                }
                r->system_prompt = joined;
                continue;
            }
        } else if (strcmp(role, "user") == 0) {
            e = check_content(content, where, false, errbuf, errlen);
        } else if (strcmp(role, "assistant") == 0) {
            json_t *tc = json_object_get(m, "tool_calls");
            e = check_content(content, where, tc != NULL, errbuf, errlen);
            if (!e && tc && !json_is_null(tc)) e = check_tool_calls(tc, where, errbuf, errlen);
        } else if (strcmp(role, "tool") == 0) {
            e = check_content(content, where, false, errbuf, errlen);
            if (!e && !json_is_string(json_object_get(m, "tool_call_id")))
                e = fail(errbuf, errlen, "%s.tool_call_id must be a string for role tool", where);
        } else {
            e = fail(errbuf, errlen,
                     "%s.role '%.32s' must be one of system, developer, user, assistant, tool",
                     where, role);
        }
        if (e) {
            json_decref(out);
            return e;
        }
        if (json_array_append(out, m) != 0) {
            json_decref(out);
            return oom(errbuf, errlen);
        }
    }
    if (json_array_size(out) == 0) {
        json_decref(out);
        return fail(errbuf, errlen, "%s has no user or assistant message", field);
    }
    r->messages = out;
    return GW_OK;
}

/* Accepts OpenAI tools [{type:function,function:{...}}] or the short form
 * [{name,description,parameters}]; stores the OpenAI form. */
static gw_err normalize_tools(json_t *tools, const char *field, gw_request *r, char *errbuf,
                              size_t errlen)
{
    if (!tools || json_is_null(tools)) return GW_OK;
    if (!json_is_array(tools)) return fail(errbuf, errlen, "%s must be an array", field);
    if (json_array_size(tools) == 0) return GW_OK;
    if (json_array_size(tools) > GW_MAX_TOOLS)
        return fail(errbuf, errlen, "%s has more than %d tools", field, GW_MAX_TOOLS);
    json_t *out = json_array();
    if (!out) return oom(errbuf, errlen);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = json_object_get(t, "function");
        if (!json_is_object(fn)) fn = t;
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *params = json_object_get(fn, "parameters");
        json_t *desc = json_object_get(fn, "description");
        if (!name || !valid_name(name, 64)) {
            json_decref(out);
            return fail(errbuf, errlen, "%s[%zu].function.name must be a name of 1-64 characters",
                        field, i);
        }
        if (params && !json_is_object(params)) {
            json_decref(out);
            return fail(errbuf, errlen, "%s[%zu].function.parameters must be a JSON Schema object",
                        field, i);
        }
        if (desc && !json_is_string(desc)) {
            json_decref(out);
            return fail(errbuf, errlen, "%s[%zu].function.description must be a string", field, i);
        }
        json_t *f = json_pack("{s:s}", "name", name);
        json_t *p =
            params ? json_incref(params) : json_pack("{s:s,s:{}}", "type", "object", "properties");
        json_t *strict = json_object_get(fn, "strict");
        bool ok = f && p && json_object_set_new(f, "parameters", p) == 0;
        if (!f || !ok) json_decref(p);
        p = NULL;
        if (ok && desc) ok = json_object_set(f, "description", desc) == 0;
        if (ok && json_is_boolean(strict)) ok = json_object_set(f, "strict", strict) == 0;
        json_t *tool = ok ? json_pack("{s:s,s:o}", "type", "function", "function", f) : NULL;
        if (!ok) json_decref(f);
        if (!tool || json_array_append_new(out, tool) != 0) {
            json_decref(out);
            return oom(errbuf, errlen);
        }
    }
    r->tools = out;
    return GW_OK;
}

static gw_err get_int(json_t *v, const char *field, int64_t min, int64_t max, int64_t *out,
                      char *errbuf, size_t errlen)
{
    if (!json_is_integer(v)) return fail(errbuf, errlen, "%s must be an integer", field);
    int64_t n = json_integer_value(v);
    if (n < min || n > max)
        return fail(errbuf, errlen, "%s must be between %lld and %lld", field, (long long)min,
                    (long long)max);
    *out = n;
    return GW_OK;
}

static gw_err get_temperature(json_t *v, const char *field, gw_request *r, char *errbuf,
                              size_t errlen)
{
    if (!v || json_is_null(v)) return GW_OK;
    if (!json_is_number(v)) return fail(errbuf, errlen, "%s must be a number", field);
    double t = json_number_value(v);
    if (!(t >= 0.0 && t <= 2.0)) return fail(errbuf, errlen, "%s must be between 0 and 2", field);
    r->has_temperature = true;
    r->temperature = t;
    return GW_OK;
}

static gw_err get_fallbacks(json_t *v, const char *field, arena_t *arena, gw_parsed_request *out,
                            char *errbuf, size_t errlen)
{
    if (!v || json_is_null(v)) return GW_OK;
    if (!json_is_array(v)) return fail(errbuf, errlen, "%s must be an array", field);
    if (json_array_size(v) > GW_MAX_FALLBACKS)
        return fail(errbuf, errlen, "%s allows at most %d models", field, GW_MAX_FALLBACKS);
    size_t i;
    json_t *f;
    json_array_foreach(v, i, f)
    {
        const char *id = json_string_value(f);
        char *p, *m;
        /* Two fields may list fallbacks; the ceiling is on their total. */
        if (out->nfallbacks >= GW_MAX_FALLBACKS)
            return fail(errbuf, errlen, "at most %d fallback models in total", GW_MAX_FALLBACKS);
        if (json_is_object(f)) {
            const char *fp = json_string_value(json_object_get(f, "provider"));
            const char *fm = json_string_value(json_object_get(f, "model"));
            id = fp && fm ? arena_printf(arena, "%s/%s", fp, fm) : NULL;
            if (fp && fm && !id) return oom(errbuf, errlen);
        }
        if (!id || !valid_name(id, 200) || !is_model_id(id))
            return fail(errbuf, errlen,
                        "%s[%zu] must be \"provider/model\" or {\"provider\",\"model\"}", field, i);
        if (!gw_split_model_id(id, arena, &p, &m) ||
            !(out->fallbacks[out->nfallbacks] = arena_strdup(arena, slice_from_cstr(id))))
            return oom(errbuf, errlen);
        out->nfallbacks++;
    }
    return GW_OK;
}

static json_t *load_object(slice_t body, char *errbuf, size_t errlen, gw_err *e)
{
    *e = GW_ERR_INVALID_REQUEST;
    json_error_t jerr;
    if (body.len == 0) {
        fail(errbuf, errlen, "request body is empty; send a JSON object");
        return NULL;
    }
    json_t *root = json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root && json_error_code(&jerr) == json_error_out_of_memory) {
        *e = oom(errbuf, errlen);
        return NULL;
    }
    if (!root) {
        fail(errbuf, errlen, "request body is not valid JSON: %s at line %d column %d", jerr.text,
             jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(errbuf, errlen, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

static gw_err check_json_mode(json_t *rf, const char *field, gw_request *r, char *errbuf,
                              size_t errlen)
{
    if (!rf || json_is_null(rf)) return GW_OK;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!type) return fail(errbuf, errlen, "%s.type must be a string", field);
    if (strcmp(type, "json_object") == 0) {
        r->json_mode = true;
    } else if (strcmp(type, "json_schema") == 0) {
        json_t *js = json_object_get(rf, "json_schema");
        if (!json_is_object(js) || !json_is_object(json_object_get(js, "schema")))
            return fail(errbuf, errlen, "%s.json_schema.schema must be an object", field);
        r->json_mode = true;
        r->json_schema = json_incref(js);
    } else if (strcmp(type, "text") != 0) {
        return fail(errbuf, errlen, "%s.type must be text, json_object or json_schema", field);
    }
    return GW_OK;
}

gw_err gw_parse_generate(slice_t body, arena_t *arena, gw_parsed_request *out, char *errbuf,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    gw_request *r = &out->req;
    gw_err e = GW_OK;
    json_t *root = load_object(body, errbuf, errlen, &e);
    if (!root) return e;

    const char *provider = json_string_value(json_object_get(root, "provider"));
    const char *model = json_string_value(json_object_get(root, "model"));
    if (!model) {
        e = fail(errbuf, errlen, "model is required (a string, e.g. \"gpt-4o-mini\")");
        goto out;
    }
    if (!provider) {
        /* Accept "provider/model" in model alone. */
        char *p, *m;
        if (!is_model_id(model)) {
            e = fail(errbuf, errlen, "provider is required (or give model as \"provider/model\")");
            goto out;
        }
        if (!gw_split_model_id(model, arena, &p, &m)) {
            e = oom(errbuf, errlen);
            goto out;
        }
        r->provider = p;
        r->model = m;
    } else {
        r->provider = arena_strdup(arena, slice_from_cstr(provider));
        r->model = arena_strdup(arena, slice_from_cstr(model));
        if (!r->provider || !r->model) {
            e = oom(errbuf, errlen);
            goto out;
        }
    }
    if (!valid_name(r->provider, 64) || !valid_name(r->model, 200)) {
        e = fail(errbuf, errlen, "provider and model must be non-empty names without spaces");
        goto out;
    }
    const char *feature = json_string_value(json_object_get(root, "feature"));
    if (json_object_get(root, "feature") && (!feature || strcmp(feature, "llm") != 0)) {
        e = fail(errbuf, errlen, "feature must be \"llm\" (the only feature this gateway serves)");
        goto out;
    }
    const char *sub = json_string_value(json_object_get(root, "subfeature"));
    if (json_object_get(root, "subfeature") && (!sub || strcmp(sub, "chat") != 0)) {
        e = fail(errbuf, errlen, "subfeature must be \"chat\"");
        goto out;
    }

    json_t *fo = json_object_get(root, "featureOptions");
    if (fo && !json_is_object(fo) && !json_is_null(fo)) {
        e = fail(errbuf, errlen, "featureOptions must be an object");
        goto out;
    }
    if (json_is_object(fo)) {
        json_t *v;
        if ((v = json_object_get(fo, "streaming")) && !json_is_null(v)) {
            if (!json_is_boolean(v)) {
                e = fail(errbuf, errlen, "featureOptions.streaming must be a boolean");
                goto out;
            }
            r->stream = json_is_true(v);
        }
        if ((v = json_object_get(fo, "json")) && !json_is_null(v)) {
            if (!json_is_boolean(v)) {
                e = fail(errbuf, errlen, "featureOptions.json must be a boolean");
                goto out;
            }
            r->json_mode = json_is_true(v);
        }
        if ((v = json_object_get(fo, "maxTokens")) && !json_is_null(v) &&
            (e = get_int(v, "featureOptions.maxTokens", 1, GW_MAX_MAX_TOKENS, &r->max_tokens,
                         errbuf, errlen)))
            goto out;
        if ((e = get_temperature(json_object_get(fo, "temperature"), "featureOptions.temperature",
                                 r, errbuf, errlen)))
            goto out;
        if ((v = json_object_get(fo, "reasoningEffort")) && !json_is_null(v)) {
            if (!json_is_string(v)) {
                e = fail(errbuf, errlen, "featureOptions.reasoningEffort must be a string");
                goto out;
            }
            r->reasoning_effort = arena_strdup(arena, slice_from_cstr(json_string_value(v)));
            if (!r->reasoning_effort) {
                e = oom(errbuf, errlen);
                goto out;
            }
        }
        if ((v = json_object_get(fo, "jsonSchema")) && !json_is_null(v)) {
            if (!json_is_object(v)) {
                e = fail(errbuf, errlen, "featureOptions.jsonSchema must be an object");
                goto out;
            }
            r->json_mode = true;
            r->json_schema = json_pack("{s:s,s:O}", "name", "response", "schema", v);
            if (!r->json_schema) {
                e = oom(errbuf, errlen);
                goto out;
            }
        }
        if ((e = get_fallbacks(json_object_get(fo, "fallbacks"), "featureOptions.fallbacks", arena,
                               out, errbuf, errlen)))
            goto out;
        if ((v = json_object_get(fo, "simulate")) && !json_is_null(v)) {
            if (!json_is_object(v)) {
                e = fail(errbuf, errlen, "featureOptions.simulate must be an object");
                goto out;
            }
            r->simulate = json_incref(v);
        }
    }
    if ((e = get_fallbacks(json_object_get(root, "fallbacks"), "fallbacks", arena, out, errbuf,
                           errlen)))
        goto out;

    json_t *input = json_object_get(root, "input");
    if (!json_is_object(input)) {
        e = fail(errbuf, errlen, "input must be an object with messages");
        goto out;
    }
    json_t *sp = json_object_get(input, "systemPrompt");
    if (sp && !json_is_null(sp)) {
        if (!json_is_string(sp)) {
            e = fail(errbuf, errlen, "input.systemPrompt must be a string");
            goto out;
        }
        if (json_string_length(sp) > 0 &&
            !(r->system_prompt = arena_strdup(arena, slice_from_cstr(json_string_value(sp))))) {
            e = oom(errbuf, errlen);
            goto out;
        }
    }
    if ((e = normalize_messages(json_object_get(input, "messages"), "input.messages", arena, r,
                                errbuf, errlen)))
        goto out;
    if ((e = normalize_tools(json_object_get(input, "tools"), "input.tools", r, errbuf, errlen)))
        goto out;
    json_t *tc = json_object_get(input, "toolChoice");
    if (tc && !json_is_null(tc)) r->tool_choice = json_incref(tc);

    json_t *md = json_object_get(root, "metadata");
    if (md && !json_is_null(md)) {
        if (!json_is_object(md)) {
            e = fail(errbuf, errlen, "metadata must be an object");
            goto out;
        }
        if (json_object_size(md) > 64) {
            e = fail(errbuf, errlen, "metadata has more than 64 keys");
            goto out;
        }
        r->metadata = json_incref(md);
    }
out:
    json_decref(root);
    return e;
}

gw_err gw_parse_chat_completions(slice_t body, arena_t *arena, gw_parsed_request *out, char *errbuf,
                                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    gw_request *r = &out->req;
    gw_err e = GW_OK;
    json_t *root = load_object(body, errbuf, errlen, &e);
    if (!root) return e;
    json_t *v;

    const char *model = json_string_value(json_object_get(root, "model"));
    if (!model) {
        e = fail(errbuf, errlen, "model is required, as \"provider/model\" (see GET /v1/models)");
        goto out;
    }
    if (!valid_name(model, 260) || !is_model_id(model)) {
        e = fail(errbuf, errlen,
                 "model '%.100s' must be \"provider/model\", e.g. \"openai/gpt-4o-mini\"", model);
        goto out;
    }
    if (!gw_split_model_id(model, arena, &r->provider, &r->model)) {
        e = oom(errbuf, errlen);
        goto out;
    }
    if ((v = json_object_get(root, "stream")) && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            e = fail(errbuf, errlen, "stream must be a boolean");
            goto out;
        }
        r->stream = json_is_true(v);
    }
    if ((v = json_object_get(root, "stream_options")) && !json_is_null(v)) {
        if (!json_is_object(v)) {
            e = fail(errbuf, errlen, "stream_options must be an object");
            goto out;
        }
        out->include_usage = json_is_true(json_object_get(v, "include_usage"));
    }
    if ((e = normalize_messages(json_object_get(root, "messages"), "messages", arena, r, errbuf,
                                errlen)))
        goto out;
    if ((e = normalize_tools(json_object_get(root, "tools"), "tools", r, errbuf, errlen))) goto out;
    if ((v = json_object_get(root, "tool_choice")) && !json_is_null(v)) {
        if (!json_is_string(v) && !json_is_object(v)) {
            e = fail(errbuf, errlen, "tool_choice must be a string or an object");
            goto out;
        }
        r->tool_choice = json_incref(v);
    }
    if ((e = check_json_mode(json_object_get(root, "response_format"), "response_format", r, errbuf,
                             errlen)))
        goto out;
    json_t *mt = json_object_get(root, "max_completion_tokens");
    if (!mt || json_is_null(mt)) mt = json_object_get(root, "max_tokens");
    if (mt && !json_is_null(mt) &&
        (e = get_int(mt, "max_tokens", 1, GW_MAX_MAX_TOKENS, &r->max_tokens, errbuf, errlen)))
        goto out;
    if ((e = get_temperature(json_object_get(root, "temperature"), "temperature", r, errbuf,
                             errlen)))
        goto out;
    if ((v = json_object_get(root, "reasoning_effort")) && json_is_string(v) &&
        !(r->reasoning_effort = arena_strdup(arena, slice_from_cstr(json_string_value(v))))) {
        e = oom(errbuf, errlen);
        goto out;
    }
    if ((v = json_object_get(root, "n")) && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) != 1)) {
        e = fail(errbuf, errlen, "n must be 1 (one choice per request)");
        goto out;
    }
    if ((e = get_fallbacks(json_object_get(root, "fallbacks"), "fallbacks", arena, out, errbuf,
                           errlen)))
        goto out;
    if ((v = json_object_get(root, "metadata")) && json_is_object(v) && json_object_size(v) <= 64)
        r->metadata = json_incref(v);
    if ((v = json_object_get(root, "simulate")) && json_is_object(v)) r->simulate = json_incref(v);
out:
    json_decref(root);
    return e;
}
