/*
 * provider_oai.c - the OpenAI Chat Completions dialect used by openai,
 * deepseek, local servers and Eden v3: request body, SSE chunk parser,
 * non-stream parser, error mapping, model list. See provider_oai.h.
 *
 * Each chunk (and a whole answer) is read by a tree-free fast path
 * (json_scan.h) when it has the usual shape - text, reasoning, finish reason,
 * integer usage - and by jansson otherwise; both emit the same events.
 *
 * The stream is a small state machine (STREAMING -> ENDED on [DONE], or
 * FAILED after an ERROR) over sse_parser events; tool calls are tracked in
 * slots numbered in order of first appearance, which become the normalized
 * tool_index (dense, whatever indices the provider used).
 */
#include "provider_oai.h"

#include "../core/sse_parser.h"
#include "json_scan.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- request ------------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool gw_oai_is_reasoning_model(const char *model)
{
    if (!model) return false;
    return starts_with(model, "o1") || starts_with(model, "o3") || starts_with(model, "o4") ||
           starts_with(model, "gpt-5");
}

/* The body is written straight into one buffer: the already-validated
 * jansson subtrees (messages, tools, schema) are dumped as they are, the
 * scalars are written by hand. Building a second tree only to dump it cost
 * more than the rest of the request path. The bytes are the same as a
 * json_dumps of the equivalent tree (same key order, same number format). */
enum { BODY_DUMP_FLAGS = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15) };

static int dump_to_buf(const char *data, size_t size, void *ud)
{
    return buf_append(ud, data, size) == CORE_OK ? 0 : -1;
}

static bool put_json(buf_t *b, const json_t *value)
{
    return json_dump_callback(value, dump_to_buf, b, BODY_DUMP_FLAGS) == 0;
}

static bool put_string(buf_t *b, const char *s)
{
    return buf_append_char(b, '"') == CORE_OK &&
           buf_append_json_escaped(b, slice_from_cstr(s)) == CORE_OK &&
           buf_append_char(b, '"') == CORE_OK;
}

/* ,"key": */
static bool put_key(buf_t *b, const char *key)
{
    return buf_append_char(b, ',') == CORE_OK && put_string(b, key) &&
           buf_append_char(b, ':') == CORE_OK;
}

static bool is_reasoning_key(const char *key)
{
    return strcmp(key, "reasoning_content") == 0 || strcmp(key, "reasoning") == 0;
}

/* One history message for the upstream. reasoning fields are our record of
 * what the model thought; providers do not want them back, except DeepSeek,
 * which requires reasoning_content on assistant messages that made tool calls
 * in thinking mode (else HTTP 400). Messages without such fields (nearly all)
 * are dumped as received. */
static bool put_message(buf_t *b, json_t *msg, bool deepseek_rules)
{
    if (!json_is_object(msg) ||
        (!json_object_get(msg, "reasoning_content") && !json_object_get(msg, "reasoning")))
        return put_json(b, msg);
    const char *role = json_string_value(json_object_get(msg, "role"));
    json_t *calls = json_object_get(msg, "tool_calls");
    bool replay =
        deepseek_rules && role && strcmp(role, "assistant") == 0 && json_array_size(calls) > 0;
    bool first = true;
    const char *key;
    json_t *value;
    if (buf_append_char(b, '{') != CORE_OK) return false;
    json_object_foreach(msg, key, value)
    {
        if (is_reasoning_key(key)) continue;
        if (!first && buf_append_char(b, ',') != CORE_OK) return false;
        first = false;
        if (!put_string(b, key) || buf_append_char(b, ':') != CORE_OK || !put_json(b, value))
            return false;
    }
    if (replay) {
        json_t *r = json_object_get(msg, "reasoning_content");
        if (!json_is_string(r)) r = json_object_get(msg, "reasoning");
        if (json_is_string(r) && (!(first || buf_append_char(b, ',') == CORE_OK) ||
                                  !put_string(b, "reasoning_content") ||
                                  buf_append_char(b, ':') != CORE_OK || !put_json(b, r)))
            return false;
    }
    return buf_append_char(b, '}') == CORE_OK;
}

static bool put_messages(buf_t *b, const gw_oai_dialect *d, const gw_request *req)
{
    bool first = true;
    if (buf_append_char(b, '[') != CORE_OK) return false;
    if (req->system_prompt) {
        if (buf_append_cstr(b, "{\"role\":\"system\",\"content\":") != CORE_OK ||
            !put_string(b, req->system_prompt) || buf_append_char(b, '}') != CORE_OK)
            return false;
        first = false;
    }
    size_t i;
    json_t *msg;
    json_array_foreach(req->messages, i, msg)
    {
        if (!first && buf_append_char(b, ',') != CORE_OK) return false;
        first = false;
        if (!put_message(b, msg, d->deepseek_rules)) return false;
    }
    return buf_append_char(b, ']') == CORE_OK;
}

static bool put_double(buf_t *b, double value)
{
    json_t *real = json_real(value); /* jansson's own number format */
    bool ok = real && put_json(b, real);
    json_decref(real);
    return ok;
}

static bool render_body(buf_t *b, const gw_oai_dialect *d, const gw_request *req,
                        bool reasoning_family)
{
    bool ok = buf_append_cstr(b, "{\"model\":") == CORE_OK && put_string(b, req->model) &&
              put_key(b, "messages") && put_messages(b, d, req);
    if (ok && json_array_size(req->tools) > 0) {
        ok = put_key(b, "tools") && put_json(b, req->tools);
        if (ok && req->tool_choice) ok = put_key(b, "tool_choice") && put_json(b, req->tool_choice);
    }
    if (ok && req->json_schema)
        ok = put_key(b, "response_format") &&
             buf_append_cstr(b, "{\"type\":\"json_schema\",\"json_schema\":") == CORE_OK &&
             put_json(b, req->json_schema) && buf_append_char(b, '}') == CORE_OK;
    else if (ok && req->json_mode)
        ok = put_key(b, "response_format") &&
             buf_append_cstr(b, "{\"type\":\"json_object\"}") == CORE_OK;
    if (ok && req->max_tokens > 0)
        ok = put_key(b, reasoning_family ? "max_completion_tokens" : "max_tokens") &&
             buf_printf(b, "%lld", (long long)req->max_tokens) == CORE_OK;
    /* OpenAI reasoning families reject non-default temperature (400). */
    if (ok && req->has_temperature && !reasoning_family)
        ok = put_key(b, "temperature") && put_double(b, req->temperature);
    if (ok && req->reasoning_effort) {
        if (d->deepseek_rules && strcmp(req->reasoning_effort, "none") == 0)
            ok = put_key(b, "thinking") && buf_append_cstr(b, "{\"type\":\"disabled\"}") == CORE_OK;
        else if (!d->openai_model_rules || reasoning_family)
            /* non-reasoning OpenAI models reject reasoning_effort */
            ok = put_key(b, "reasoning_effort") && put_string(b, req->reasoning_effort);
    }
    if (ok && req->stream)
        ok = buf_append_cstr(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}") ==
             CORE_OK;
    return ok && buf_append_char(b, '}') == CORE_OK;
}

gw_err gw_oai_build(const gw_oai_dialect *d, const gw_provider_cfg *cfg, const gw_request *req,
                    arena_t *arena, gw_upstream_req *out, const char **errmsg)
{
    gw_err err = GW_ERR_INTERNAL;
    buf_t body;
    buf_init(&body, 0); /* our own output; its size follows the validated request */
    const char *key = cfg && cfg->api_key && *cfg->api_key ? cfg->api_key : NULL;
    memset(out, 0, sizeof(*out));
    *errmsg = "out of memory while building the upstream request";
    if (d->key_required && !key) {
        *errmsg = "the provider is not configured (no API key)";
        return GW_ERR_MODEL_UNAVAILABLE;
    }
    if (!req->model || !*req->model) {
        *errmsg = "a model is required";
        return GW_ERR_INVALID_REQUEST;
    }
    if (d->deepseek_rules && req->json_schema) {
        *errmsg = "deepseek supports JSON mode (json_object) but not JSON schema";
        return GW_ERR_INVALID_REQUEST;
    }
    bool reasoning_family = d->openai_model_rules && gw_oai_is_reasoning_model(req->model);
    if (buf_reserve(&body, 512) != CORE_OK || !render_body(&body, d, req, reasoning_family))
        goto out;

    out->method = "POST";
    out->url = gw_adapter_url(arena, cfg ? cfg->base_url : NULL, d->default_base, d->path);
    out->stream = req->stream;
    if (!out->url) goto out;
    if (key && !gw_adapter_bearer(out, arena, key)) goto out;
    if (!gw_adapter_header(out, arena, "Content-Type", "application/json") ||
        !gw_adapter_header(out, arena, "Accept",
                           req->stream ? "text/event-stream" : "application/json"))
        goto out;
    char *copy = arena_alloc(arena, body.len + 1);
    if (!copy) goto out;
    memcpy(copy, body.data, body.len + 1);
    out->body = (slice_t){copy, body.len};
    err = GW_OK;
    *errmsg = NULL;
out:
    buf_free(&body);
    return err;
}

gw_err gw_oai_build_models(const gw_oai_dialect *d, const gw_provider_cfg *cfg, arena_t *arena,
                           gw_upstream_req *out)
{
    const char *key = cfg && cfg->api_key && *cfg->api_key ? cfg->api_key : NULL;
    memset(out, 0, sizeof(*out));
    if (d->key_required && !key) return GW_ERR_MODEL_UNAVAILABLE;
    out->method = "GET";
    out->url = gw_adapter_url(arena, cfg ? cfg->base_url : NULL, d->default_base, "/models");
    out->body = SLICE_NULL;
    if (!out->url) return GW_ERR_INTERNAL;
    if (key) {
        char *auth = arena_printf(arena, "Bearer %s", key);
        if (!auth || !gw_adapter_header(out, arena, "Authorization", auth)) return GW_ERR_INTERNAL;
    }
    if (!gw_adapter_header(out, arena, "Accept", "application/json")) return GW_ERR_INTERNAL;
    return GW_OK;
}

json_t *gw_oai_parse_models(slice_t body)
{
    json_t *root = gw_adapter_json_parse(body);
    json_t *data = json_object_get(root, "data");
    json_t *list = NULL;
    if (!json_is_array(data)) goto out;
    list = json_array();
    if (!list) goto out;
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item)
    {
        json_t *id = json_object_get(item, "id");
        if (!json_is_string(id)) continue;
        json_t *ctx = json_object_get(item, "max_model_len"); /* vLLM */
        if (!json_is_integer(ctx))
            ctx = json_object_get(json_object_get(item, "meta"), "n_ctx_train");
        if (!json_is_integer(ctx)) ctx = json_object_get(item, "context_length");
        json_t *entry =
            json_pack("{s:O,s:O}", "model", id, "context_length",
                      json_is_integer(ctx) && json_integer_value(ctx) > 0 ? ctx : json_null());
        if (json_array_append_new(list, entry)) {
            json_decref(list);
            list = NULL;
            goto out;
        }
    }
out:
    json_decref(root);
    return list;
}

/* ---- errors -------------------------------------------------------------- */

/* Finds the provider's message and code in the usual body shapes. */
static void error_fields(slice_t body, slice_t *message, slice_t *code, slice_t *type)
{
    static const char *const err_path[] = {"error"};
    static const char *const msg_key[] = {"message"};
    static const char *const code_key[] = {"code"};
    static const char *const type_key[] = {"type"};
    static const char *const detail_key[] = {"detail"};
    static const char *const msg_in_detail[] = {"msg"};
    slice_t err, raw, first;
    *message = *code = *type = SLICE_NULL;
    if (gw_adapter_json_find(body, err_path, 1, &err)) {
        if (gw_adapter_json_string_body(err, message)) return; /* {"error":"text"} */
    } else {
        err = body; /* vLLM's old {"object":"error","message":...,"code":400} */
    }
    if (gw_adapter_json_find(err, msg_key, 1, &raw)) gw_adapter_json_string_body(raw, message);
    if (gw_adapter_json_find(err, code_key, 1, &raw) && !gw_adapter_json_string_body(raw, code) &&
        raw.len && raw.ptr[0] != 'n' && raw.ptr[0] != '{' && raw.ptr[0] != '[')
        *code = raw; /* numeric code */
    if (gw_adapter_json_find(err, type_key, 1, &raw)) gw_adapter_json_string_body(raw, type);
    if (message->len == 0 && gw_adapter_json_find(body, detail_key, 1, &raw)) {
        /* FastAPI: {"detail":"text"} or {"detail":[{"msg":...}]} */
        if (!gw_adapter_json_string_body(raw, message) && gw_adapter_json_first_elem(raw, &first) &&
            gw_adapter_json_find(first, msg_in_detail, 1, &raw))
            gw_adapter_json_string_body(raw, message);
    }
}

static bool slice_has(slice_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++)
        if (slice_case_eq((slice_t){hay.ptr + i, n}, (slice_t){needle, n})) return true;
    return false;
}

void gw_oai_map_error(int status, slice_t body, gw_header_fn header, void *hud, gw_error_info *out)
{
    slice_t message, code, type;
    gw_adapter_error_init(out, status, header, hud);
    error_fields(body, &message, &code, &type);
    out->provider_code = code.len ? code : type;

    if (status >= 200 && status <= 299) {
        /* An error inside a 2xx (mid-stream): a numeric HTTP-like code tells
         * the class; otherwise it is an upstream failure. */
        int64_t n;
        if (slice_to_i64(code, &n) == CORE_OK && n >= 400 && n <= 599)
            out->code = gw_adapter_class_from_status((int)n, &out->retryable);
        else
            out->code = gw_adapter_class_from_status(502, &out->retryable);
    }
    if (slice_eq_cstr(code, "insufficient_quota") || slice_eq_cstr(type, "insufficient_quota")) {
        out->code = GW_ERR_PROVIDER_QUOTA; /* OpenAI: a 429 that is billing */
        out->retryable = false;
    } else if (slice_eq_cstr(code, "rate_limit_exceeded")) {
        out->code = GW_ERR_RATE_LIMITED;
        out->retryable = true;
    } else if (slice_eq_cstr(code, "model_not_found") || slice_has(message, "model not exist")) {
        out->code = GW_ERR_MODEL_NOT_FOUND; /* DeepSeek says it with a 400 */
        out->retryable = false;
    } else if (slice_has(message, "insufficient balance")) {
        out->code = GW_ERR_PROVIDER_QUOTA;
        out->retryable = false;
    }
    const char *fallback = out->message.ptr;
    out->message = out->code == GW_ERR_PROVIDER_AUTH ? slice_from_cstr(fallback)
                                                     : gw_adapter_safe_message(message, fallback);
}

/* ---- stream parser ------------------------------------------------------- */

typedef enum {
    OAI_STREAMING = 0, /* reading chunks */
    OAI_ENDED,         /* saw [DONE]; the rest of the body is ignored */
    OAI_FAILED,        /* emitted ERROR; feed returns the failure */
} oai_state;

typedef struct {
    int wire_index; /* provider's index; -1 none; -2 superseded */
    char *id;       /* heap; NULL until known */
    char *name;
    bool started; /* TOOL_CALL_START emitted */
    bool closed;  /* TOOL_CALL_END emitted */
    buf_t args;   /* joined arguments, bounded by GW_MAX_TOOL_ARGS */
} oai_tool;

typedef struct {
    const gw_oai_dialect *dialect;
    oai_state state;
    core_err failure;
    bool whole_body; /* parse_response: each tool_calls element is its own call */
    sse_parser sse;
    gw_sink sink;
    oai_tool *tools; /* grown on demand up to GW_MAX_TOOL_CALLS */
    int ntools, tools_cap;
    buf_t scratch[2]; /* decoded strings of the fast path (escapes only) */
} oai_stream;

static void stream_fail(oai_stream *s, core_err failure, gw_err code, const char *message)
{
    /* A ceiling we hit is not transient: retrying would hit it again. */
    gw_sink_error_simple(&s->sink, code, failure != CORE_ETOOBIG, message);
    s->state = OAI_FAILED;
    s->failure = failure;
}

static void emit_tool_start(oai_stream *s, int slot)
{
    oai_tool *t = &s->tools[slot];
    char synthesized[32];
    gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = GW_EV_TOOL_CALL_START;
    ev.tool_index = slot;
    if (t->id) {
        ev.tool_id = slice_from_cstr(t->id);
    } else {
        /* the client needs an id to send the result back; unique per answer */
        snprintf(synthesized, sizeof(synthesized), "call_%d", slot);
        ev.tool_id = slice_from_cstr(synthesized);
    }
    ev.tool_name = slice_from_cstr(t->name ? t->name : "");
    t->started = true;
    gw_sink_event(&s->sink, &ev);
    if (t->args.len) { /* arguments that arrived before the name */
        ev.type = GW_EV_TOOL_ARGS;
        ev.text = buf_slice(&t->args);
        gw_sink_event(&s->sink, &ev);
    }
}

static void close_tools(oai_stream *s)
{
    for (int i = 0; i < s->ntools; i++) {
        oai_tool *t = &s->tools[i];
        if (t->closed) continue;
        if (!t->started) emit_tool_start(s, i);
        t->closed = true;
        gw_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = GW_EV_TOOL_CALL_END;
        ev.tool_index = i;
        ev.text = buf_slice(&t->args);
        json_error_t jerr;
        json_t *parsed =
            t->args.len ? json_loadb(t->args.data, t->args.len, JSON_DECODE_ANY, &jerr) : NULL;
        ev.args_valid_json = parsed != NULL;
        json_decref(parsed);
        gw_sink_event(&s->sink, &ev);
    }
}

static const char *nonblank_string(json_t *v)
{
    const char *s = json_string_value(v);
    return s && *s ? s : NULL;
}

/* The slot a tool_calls fragment belongs to, or -1 after failing. */
static int tool_slot(oai_stream *s, json_t *frag)
{
    json_t *index = json_object_get(frag, "index");
    const char *id = nonblank_string(json_object_get(frag, "id"));
    int wire =
        json_is_integer(index) ? (int)MIN(MAX(json_integer_value(index), -1), INT32_MAX) : -1;
    if (!s->whole_body) {
        for (int i = 0; i < s->ntools; i++) {
            oai_tool *t = &s->tools[i];
            if (wire >= 0 ? t->wire_index == wire : (id && t->id && strcmp(t->id, id) == 0)) {
                /* a different id on a known index is a new call (some
                 * servers number every call 0) */
                if (wire >= 0 && id && t->id && strcmp(t->id, id) != 0) {
                    t->wire_index = -2;
                    break;
                }
                return i;
            }
        }
        if (wire < 0 && !id && s->ntools > 0) return s->ntools - 1; /* continuation */
    }
    if (s->ntools >= GW_MAX_TOOL_CALLS) {
        stream_fail(s, CORE_ETOOBIG, GW_ERR_PROVIDER_ERROR,
                    "the provider sent too many tool calls");
        return -1;
    }
    if (s->ntools == s->tools_cap) {
        int cap = s->tools_cap ? MIN(s->tools_cap * 2, GW_MAX_TOOL_CALLS) : 4;
        oai_tool *grown = realloc(s->tools, (size_t)cap * sizeof(*grown));
        if (!grown) {
            stream_fail(s, CORE_ENOMEM, GW_ERR_INTERNAL, "out of memory");
            return -1;
        }
        s->tools = grown;
        s->tools_cap = cap;
    }
    oai_tool *t = &s->tools[s->ntools];
    memset(t, 0, sizeof(*t));
    t->wire_index = wire;
    buf_init(&t->args, GW_MAX_TOOL_ARGS);
    return s->ntools++;
}

static bool handle_tool_fragment(oai_stream *s, json_t *frag)
{
    int slot = tool_slot(s, frag);
    if (slot < 0) return false;
    oai_tool *t = &s->tools[slot];
    if (t->closed) return true;
    json_t *fn = json_object_get(frag, "function");
    const char *id = nonblank_string(json_object_get(frag, "id"));
    const char *name = nonblank_string(json_object_get(fn, "name"));
    json_t *args = json_object_get(fn, "arguments");
    if (id && !t->id && !(t->id = strdup(id))) goto oom;
    if (name && !t->name && !(t->name = strdup(name))) goto oom;
    if (json_is_string(args) && json_string_length(args)) {
        slice_t piece = {json_string_value(args), json_string_length(args)};
        core_err err = buf_append_slice(&t->args, piece);
        if (err == CORE_ETOOBIG) {
            stream_fail(s, CORE_ETOOBIG, GW_ERR_PROVIDER_ERROR,
                        "tool call arguments exceed the gateway's 1 MiB limit");
            return false;
        }
        if (err) goto oom;
        if (t->started) {
            gw_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.type = GW_EV_TOOL_ARGS;
            ev.tool_index = slot;
            ev.text = piece;
            gw_sink_event(&s->sink, &ev);
        }
    }
    if (!t->started && t->name) emit_tool_start(s, slot);
    return true;
oom:
    stream_fail(s, CORE_ENOMEM, GW_ERR_INTERNAL, "out of memory");
    return false;
}

static gw_finish finish_from_raw(const char *raw)
{
    if (strcmp(raw, "stop") == 0) return GW_FIN_STOP;
    if (strcmp(raw, "length") == 0) return GW_FIN_LENGTH;
    if (strcmp(raw, "tool_calls") == 0 || strcmp(raw, "function_call") == 0)
        return GW_FIN_TOOL_CALLS;
    if (strcmp(raw, "content_filter") == 0) return GW_FIN_CONTENT_FILTER;
    if (strcmp(raw, "error") == 0) return GW_FIN_ERROR;
    return GW_FIN_OTHER;
}

static void handle_finish(oai_stream *s, const char *raw)
{
    if (!raw) return;
    if (strcmp(raw, "insufficient_system_resource") == 0) {
        /* DeepSeek ran out of capacity mid-answer: an overload, not success */
        gw_error_info err = {
            .code = GW_ERR_MODEL_UNAVAILABLE,
            .retryable = true,
            .retry_after_ms = -1,
            .message = SLICE_LIT("the provider ran out of capacity while answering"),
            .provider_code = SLICE_LIT("insufficient_system_resource"),
        };
        gw_sink_error(&s->sink, &err);
        s->state = OAI_FAILED;
        s->failure = CORE_EIO;
        return;
    }
    close_tools(s);
    gw_sink_finish(&s->sink, finish_from_raw(raw), slice_from_cstr(raw));
}

/* Proper end without a finish_reason ([DONE], or a whole body lacking one). */
static void synthesize_finish(oai_stream *s)
{
    if (s->sink.finished || s->sink.failed) return;
    close_tools(s);
    gw_sink_finish(&s->sink, s->ntools > 0 ? GW_FIN_TOOL_CALLS : GW_FIN_STOP, SLICE_NULL);
}

/* Clamps, sets the provider cost (pico, or -1) and keeps u. */
static void keep_usage_counts(oai_stream *s, gw_usage *u, int64_t provider_cost_pico)
{
    if (u->tokens.cached_input > u->tokens.input) u->tokens.cached_input = u->tokens.input;
    if (u->tokens.reasoning > u->tokens.output) u->tokens.reasoning = u->tokens.output;
    u->provider_cost_pico = provider_cost_pico;
    u->exact = true;
    gw_sink_keep_usage(&s->sink, u);
}

/* OpenRouter-style usage.cost, or a top-level cost (Eden v3), in raw text. */
static int64_t provider_cost(slice_t raw)
{
    static const char *const cost_in_usage[] = {"usage", "cost"};
    static const char *const cost_top[] = {"cost"};
    int64_t pico = gw_adapter_cost_at(raw, cost_in_usage, 2);
    return pico >= 0 ? pico : gw_adapter_cost_at(raw, cost_top, 1);
}

static void keep_usage(oai_stream *s, json_t *usage, slice_t raw)
{
    gw_usage u;
    memset(&u, 0, sizeof(u));
    u.tokens.input = gw_adapter_json_count(usage, "prompt_tokens");
    u.tokens.output = gw_adapter_json_count(usage, "completion_tokens");
    /* DeepSeek reports hit/miss separately; everyone else (and DeepSeek too,
     * lately) inside prompt_tokens_details. Both are subsets of prompt. */
    if (json_object_get(usage, "prompt_cache_hit_tokens"))
        u.tokens.cached_input = gw_adapter_json_count(usage, "prompt_cache_hit_tokens");
    else
        u.tokens.cached_input =
            gw_adapter_json_count(json_object_get(usage, "prompt_tokens_details"), "cached_tokens");
    u.tokens.reasoning = gw_adapter_json_count(json_object_get(usage, "completion_tokens_details"),
                                               "reasoning_tokens");
    keep_usage_counts(s, &u, provider_cost(raw));
}

static void emit_string(oai_stream *s, gw_ev_type type, json_t *v)
{
    if (json_is_string(v))
        gw_sink_text(&s->sink, type, (slice_t){json_string_value(v), json_string_length(v)});
}

/* One chunk (stream) or the whole response (whole_body). false after fail. */
static bool handle_object(oai_stream *s, json_t *obj, slice_t raw)
{
    json_t *err = json_object_get(obj, "error");
    if (err && !json_is_null(err)) {
        gw_error_info info;
        gw_oai_map_error(200, raw, NULL, NULL, &info);
        gw_sink_error(&s->sink, &info);
        s->state = OAI_FAILED;
        s->failure = CORE_EIO;
        return false;
    }
    json_t *id = json_object_get(obj, "id");
    json_t *model = json_object_get(obj, "model");
    gw_sink_start(&s->sink, (slice_t){json_string_value(id), json_string_length(id)},
                  (slice_t){json_string_value(model), json_string_length(model)});

    json_t *choices = json_object_get(obj, "choices"), *choice = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(choices, i, c)
    {
        json_t *index = json_object_get(c, "index");
        if (!index || (json_is_integer(index) && json_integer_value(index) == 0)) {
            choice = c;
            break;
        }
    }
    if (s->whole_body && !choice) {
        stream_fail(s, CORE_EPARSE, GW_ERR_PROVIDER_ERROR, "the provider's answer has no choices");
        return false;
    }
    if (choice) {
        json_t *delta = json_object_get(choice, s->whole_body ? "message" : "delta");
        emit_string(s, GW_EV_REASONING, json_object_get(delta, "reasoning_content"));
        emit_string(s, GW_EV_REASONING, json_object_get(delta, "reasoning"));
        json_t *content = json_object_get(delta, "content");
        if (json_is_array(content)) {
            bool non_text;
            char *text = gw_adapter_content_text(content, &non_text);
            if (!text) {
                stream_fail(s, CORE_ENOMEM, GW_ERR_INTERNAL, "out of memory");
                return false;
            }
            gw_sink_text(&s->sink, GW_EV_TEXT, slice_from_cstr(text));
            free(text);
        } else {
            emit_string(s, GW_EV_TEXT, content);
        }
        json_t *frag;
        json_array_foreach(json_object_get(delta, "tool_calls"), i, frag)
        {
            if (!handle_tool_fragment(s, frag)) return false;
        }
        handle_finish(s, json_string_value(json_object_get(choice, "finish_reason")));
    }
    json_t *usage = json_object_get(obj, "usage");
    if (json_is_object(usage)) keep_usage(s, usage, raw);
    return true;
}

/* ---- fast path ----------------------------------------------------------- */

bool gw_oai_fast_path = true;

/* gw_adapter_json_count on raw text: false when only jansson can say (a real). */
static bool fast_count(slice_t obj, const char *key, int64_t *out)
{
    slice_t v = gw_json_member(obj, key);
    *out = 0;
    if (!v.len || (v.ptr[0] != '-' && (v.ptr[0] < '0' || v.ptr[0] > '9'))) return true;
    int64_t n;
    if (!gw_json_integer(v, &n)) return false;
    *out = n < 0 ? 0 : n;
    return true;
}

static bool fast_usage(slice_t usage, gw_usage *u)
{
    memset(u, 0, sizeof(*u));
    bool ok = fast_count(usage, "prompt_tokens", &u->tokens.input) &&
              fast_count(usage, "completion_tokens", &u->tokens.output);
    if (gw_json_member(usage, "prompt_cache_hit_tokens").ptr)
        ok = ok && fast_count(usage, "prompt_cache_hit_tokens", &u->tokens.cached_input);
    else
        ok = ok && fast_count(gw_json_member(usage, "prompt_tokens_details"), "cached_tokens",
                              &u->tokens.cached_input);
    return ok && fast_count(gw_json_member(usage, "completion_tokens_details"), "reasoning_tokens",
                            &u->tokens.reasoning);
}

/* Decoded string value (json_string_value semantics: {NULL,0} for a
 * non-string), into scratch when it has escapes. false on OOM (failed). */
static bool fast_string(oai_stream *s, slice_t raw, int which, slice_t *out)
{
    *out = SLICE_NULL;
    if (!gw_json_is_string(raw)) return true;
    if (gw_json_string(raw, &s->scratch[which], out) == CORE_OK) return true;
    stream_fail(s, CORE_ENOMEM, GW_ERR_INTERNAL, "out of memory");
    return false;
}

static bool fast_text(oai_stream *s, gw_ev_type type, slice_t raw)
{
    slice_t text;
    if (!fast_string(s, raw, 0, &text)) return false;
    if (text.ptr) gw_sink_text(&s->sink, type, text);
    return true;
}

/* gw_adapter_cost_at on an already located value (SLICE_NULL: -1). */
static int64_t fast_cost(slice_t raw)
{
    slice_t text;
    int64_t pico;
    if (!raw.ptr) return -1;
    if (!gw_adapter_json_string_body(raw, &text)) text = raw; /* decimal string or number */
    return gw_adapter_usd_to_pico(text, &pico) == CORE_OK ? pico : -1;
}

/* handle_object for a chunk or answer of the usual shape, read straight from
 * the text with one pass per object level: 1 handled, 0 handled and failed,
 * -1 not handled (nothing was emitted; the jansson path decides). Errors,
 * tool calls and content parts always take the jansson path. Duplicate keys:
 * the last wins, as in jansson. */
static int fast_handle(oai_stream *s, slice_t text)
{
    slice_t obj, key, value, elem;
    slice_t error = SLICE_NULL, id = SLICE_NULL, model = SLICE_NULL, choices = SLICE_NULL,
            usage = SLICE_NULL, cost = SLICE_NULL;
    gw_json_iter it;
    if (gw_json_check(text, &obj) != GW_JSON_VALID || !gw_json_object_begin(obj, &it)) return -1;
    while (gw_json_object_next(&it, &key, &value)) {
        if (slice_eq_cstr(key, "error"))
            error = value;
        else if (slice_eq_cstr(key, "id"))
            id = value;
        else if (slice_eq_cstr(key, "model"))
            model = value;
        else if (slice_eq_cstr(key, "choices"))
            choices = value;
        else if (slice_eq_cstr(key, "usage"))
            usage = value;
        else if (slice_eq_cstr(key, "cost"))
            cost = value;
    }
    if (error.ptr && !gw_json_is_null(error)) return -1;

    /* choice 0: the first element whose index is absent or 0 */
    slice_t delta = SLICE_NULL, finish = SLICE_NULL;
    bool have_choice = false;
    if (gw_json_array_begin(choices, &it)) {
        while (!have_choice && gw_json_array_next(&it, &elem)) {
            slice_t index = SLICE_NULL, d = SLICE_NULL, f = SLICE_NULL;
            gw_json_iter members;
            if (gw_json_object_begin(elem, &members)) {
                while (gw_json_object_next(&members, &key, &value)) {
                    if (slice_eq_cstr(key, "index"))
                        index = value;
                    else if (slice_eq_cstr(key, s->whole_body ? "message" : "delta"))
                        d = value;
                    else if (slice_eq_cstr(key, "finish_reason"))
                        f = value;
                }
            }
            if (!index.ptr || slice_eq_cstr(index, "0") || slice_eq_cstr(index, "-0")) {
                delta = d;
                finish = f;
                have_choice = true;
            }
        }
    }
    slice_t reasoning_content = SLICE_NULL, reasoning = SLICE_NULL, content = SLICE_NULL,
            tools = SLICE_NULL;
    if (gw_json_object_begin(delta, &it)) {
        while (gw_json_object_next(&it, &key, &value)) {
            if (slice_eq_cstr(key, "content"))
                content = value;
            else if (slice_eq_cstr(key, "reasoning_content"))
                reasoning_content = value;
            else if (slice_eq_cstr(key, "reasoning"))
                reasoning = value;
            else if (slice_eq_cstr(key, "tool_calls"))
                tools = value;
        }
    }
    if (content.len && content.ptr[0] == '[') return -1;
    if (gw_json_array_begin(tools, &it) && gw_json_array_next(&it, &elem)) return -1;
    gw_usage u;
    bool have_usage = usage.len && usage.ptr[0] == '{';
    if (have_usage && !fast_usage(usage, &u)) return -1;

    /* Committed to the fast path from here on. */
    slice_t id_text, model_text;
    if (!fast_string(s, id, 0, &id_text) || !fast_string(s, model, 1, &model_text)) return 0;
    gw_sink_start(&s->sink, id_text, model_text);
    if (s->whole_body && !have_choice) {
        stream_fail(s, CORE_EPARSE, GW_ERR_PROVIDER_ERROR, "the provider's answer has no choices");
        return 0;
    }
    if (have_choice) {
        if (!fast_text(s, GW_EV_REASONING, reasoning_content) ||
            !fast_text(s, GW_EV_REASONING, reasoning) || !fast_text(s, GW_EV_TEXT, content))
            return 0;
        if (gw_json_is_string(finish)) {
            slice_t reason;
            buf_t *z = &s->scratch[1];
            if (!fast_string(s, finish, 0, &reason)) return 0;
            buf_reset(z); /* NUL-terminated copy: handle_finish reads a C string */
            if (buf_append_slice(z, reason) != CORE_OK) {
                stream_fail(s, CORE_ENOMEM, GW_ERR_INTERNAL, "out of memory");
                return 0;
            }
            handle_finish(s, z->data);
            if (s->state == OAI_FAILED) return 0;
        }
    }
    if (have_usage) {
        int64_t pico = fast_cost(gw_json_member(usage, "cost"));
        keep_usage_counts(s, &u, pico >= 0 ? pico : fast_cost(cost));
    }
    return 1;
}

/* One payload (a chunk, or the whole answer): fast path, else jansson. */
static bool handle_payload(oai_stream *s, slice_t data, const char *non_json_message)
{
    int fast = gw_oai_fast_path ? fast_handle(s, data) : -1;
    if (fast >= 0) return fast == 1;
    json_t *obj = gw_adapter_json_parse(data);
    if (!json_is_object(obj)) {
        json_decref(obj);
        stream_fail(s, CORE_EPARSE, GW_ERR_PROVIDER_ERROR, non_json_message);
        return false;
    }
    bool ok = handle_object(s, obj, data);
    json_decref(obj);
    return ok;
}

static int on_sse_event(void *ud, const sse_event *ev)
{
    oai_stream *s = ud;
    if (s->state != OAI_STREAMING) return 0;
    slice_t data = slice_trim(ev->data);
    if (data.len == 0) return 0;
    if (slice_eq_cstr(data, "[DONE]")) {
        synthesize_finish(s);
        s->state = OAI_ENDED;
        return 0;
    }
    return handle_payload(s, data, "the provider sent a non-JSON event") ? 0 : 1;
}

gw_stream *gw_oai_stream_new(const gw_oai_dialect *d, const gw_request *req, gw_emit_fn emit,
                             void *ud)
{
    oai_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->dialect = d;
    s->state = OAI_STREAMING;
    buf_init(&s->scratch[0], GW_MAX_SSE_EVENT);
    buf_init(&s->scratch[1], GW_MAX_SSE_EVENT);
    gw_sink_init(&s->sink, emit, ud);
    sse_parser_init(&s->sse, GW_MAX_SSE_LINE, GW_MAX_SSE_EVENT, on_sse_event, NULL, s);
    return (gw_stream *)s;
}

core_err gw_oai_stream_feed(gw_stream *gs, const char *data, size_t len)
{
    oai_stream *s = (oai_stream *)gs;
    if (s->state == OAI_FAILED) return s->failure;
    if (s->state == OAI_ENDED) return CORE_OK;
    core_err err = sse_parser_feed(&s->sse, data, len);
    if (s->state == OAI_FAILED) return s->failure;
    if (err == CORE_ETOOBIG) {
        stream_fail(s, CORE_ETOOBIG, GW_ERR_PROVIDER_ERROR,
                    "the provider sent a stream event larger than the gateway accepts");
    } else if (err) {
        stream_fail(s, err, GW_ERR_INTERNAL, "the stream parser failed");
    }
    return s->state == OAI_FAILED ? s->failure : CORE_OK;
}

void gw_oai_stream_finish(gw_stream *gs)
{
    oai_stream *s = (oai_stream *)gs;
    bool truncated = false;
    if (s->state == OAI_STREAMING) {
        /* a last event without its blank line is not dispatched (WHATWG);
         * whether it existed does not matter: no [DONE] is no proper end */
        sse_parser_finish(&s->sse, &truncated);
    }
    gw_sink_end(&s->sink, s->state == OAI_ENDED);
}

void gw_oai_stream_free(gw_stream *gs)
{
    oai_stream *s = (oai_stream *)gs;
    if (!s) return;
    for (int i = 0; i < s->ntools; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        buf_free(&s->tools[i].args);
    }
    free(s->tools);
    buf_free(&s->scratch[0]);
    buf_free(&s->scratch[1]);
    sse_parser_free(&s->sse);
    free(s);
}

void gw_oai_parse_response(const gw_oai_dialect *d, const gw_request *req, slice_t body,
                           gw_emit_fn emit, void *ud)
{
    oai_stream *s = calloc(1, sizeof(*s));
    gw_sink fallback;
    if (!s) {
        /* still honour the contract: START, ERROR, USAGE, DONE */
        gw_sink_init(&fallback, emit, ud);
        gw_sink_error_simple(&fallback, GW_ERR_INTERNAL, false, "out of memory");
        gw_sink_end(&fallback, true);
        return;
    }
    gw_sink_init(&s->sink, emit, ud);
    s->dialect = d;
    s->whole_body = true;
    buf_init(&s->scratch[0], GW_MAX_RESPONSE_BODY);
    buf_init(&s->scratch[1], GW_MAX_RESPONSE_BODY);
    if (handle_payload(s, body, "the provider sent a non-JSON answer")) synthesize_finish(s);
    gw_sink_end(&s->sink, true);
    for (int i = 0; i < s->ntools; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        buf_free(&s->tools[i].args);
    }
    free(s->tools);
    buf_free(&s->scratch[0]);
    buf_free(&s->scratch[1]);
    free(s);
}
