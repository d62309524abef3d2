/*
 * provider_eden.c - Eden AI adapter, two API generations (providers.md §4):
 *   v3 (default): OpenAI dialect at {base}/v3/llm/chat/completions, model ids
 *       "provider/model"; all parsing is provider_oai.c's.
 *   v2 (cfg api_variant "v2"): {base}/v2/text/chat[/stream] with providers,
 *       settings, text, previous_history and chatbot_global_action; answers
 *       keyed by provider, failure reported inside HTTP 200; the stream is
 *       NDJSON lines {"text":..} ending at EOF, without usage.
 * The base URL is the host root (default https://api.edenai.run).
 *
 * The parser callbacks do not get the provider config, so the stream and
 * body parsers recognise the generation from the bytes themselves: an NDJSON
 * stream starts with '{', an SSE stream with a field name or ':'; a v3 body
 * has "choices", a v2 body is keyed by provider. Stream states: DETECT (no
 * byte seen yet) -> SSE (delegated) or NDJSON -> FAILED.
 */
#include "provider_oai.h"

#include "../core/line_reader.h"

#include <stdlib.h>

#define EDEN_DEFAULT_BASE "https://api.edenai.run"

static const gw_oai_dialect eden_v3_dialect = {
    .name = "eden",
    .default_base = EDEN_DEFAULT_BASE,
    .path = "/v3/llm/chat/completions",
    .key_required = true,
    .openai_model_rules = false,
    .deepseek_rules = false,
};

static bool is_v2(const gw_provider_cfg *cfg)
{
    return cfg && cfg->api_variant && strcmp(cfg->api_variant, "v2") == 0;
}

/* ---- v2 request ---------------------------------------------------------- */

static gw_err v2_text(json_t *content, char **out, const char **errmsg)
{
    bool non_text;
    *out = gw_adapter_content_text(content, &non_text);
    if (!*out) return GW_ERR_INTERNAL;
    if (non_text) {
        *errmsg = "eden v2 text/chat accepts text only";
        return GW_ERR_INVALID_REQUEST;
    }
    return GW_OK;
}

static gw_err v2_fill(const gw_request *req, json_t *root, const char **errmsg)
{
    gw_err err = GW_ERR_INTERNAL;
    buf_t system;
    char *text = NULL;
    json_t *history = json_array();
    size_t count = json_array_size(req->messages), i;
    buf_init(&system, 0);
    if (!history) goto out;
    if (req->system_prompt && buf_append_cstr(&system, req->system_prompt)) goto out;
    json_t *last = count ? json_array_get(req->messages, count - 1) : NULL;
    const char *last_role = json_string_value(json_object_get(last, "role"));
    if (!last_role || strcmp(last_role, "user") != 0) {
        *errmsg = "eden v2 text/chat needs the conversation to end with a user message";
        err = GW_ERR_INVALID_REQUEST;
        goto out;
    }
    for (i = 0; i < count; i++) {
        json_t *msg = json_array_get(req->messages, i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!role) role = "";
        if (strcmp(role, "tool") == 0 || json_array_size(json_object_get(msg, "tool_calls"))) {
            *errmsg = "eden v2 text/chat does not support tool calls";
            err = GW_ERR_INVALID_REQUEST;
            goto out;
        }
        free(text);
        text = NULL;
        err = v2_text(json_object_get(msg, "content"), &text, errmsg);
        if (err) goto out;
        err = GW_ERR_INTERNAL;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if ((system.len && buf_append_cstr(&system, "\n\n")) || buf_append_cstr(&system, text))
                goto out;
        } else if (strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0) {
            if (i + 1 == count) break; /* the last user message is "text" */
            if (json_array_append_new(history,
                                      json_pack("{s:s,s:s}", "role", role, "message", text)))
                goto out;
        } else {
            *errmsg = "eden v2 text/chat accepts only system, user and assistant messages";
            err = GW_ERR_INVALID_REQUEST;
            goto out;
        }
    }
    if (json_object_set_new(root, "text", json_string(text))) goto out;
    if (system.len &&
        json_object_set_new(root, "chatbot_global_action", json_stringn(system.data, system.len)))
        goto out;
    if (json_array_size(history) && json_object_set(root, "previous_history", history)) goto out;
    err = GW_OK;
out:
    free(text);
    json_decref(history);
    buf_free(&system);
    return err;
}

static gw_err v2_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                       gw_upstream_req *out, const char **errmsg)
{
    gw_err err = GW_ERR_INTERNAL;
    json_t *root = NULL;
    *errmsg = NULL;
    if (json_array_size(req->tools) > 0 || req->json_mode || req->json_schema) {
        *errmsg = "eden v2 text/chat does not support tools or JSON mode (use api_variant v3)";
        err = GW_ERR_INVALID_REQUEST;
        goto out;
    }
    /* "openai/gpt-4o" -> providers "openai", settings {"openai":"gpt-4o"} */
    const char *slash = strchr(req->model, '/');
    if (slash) {
        char *provider = arena_strdup(arena, (slice_t){req->model, (size_t)(slash - req->model)});
        if (!provider) goto out;
        root = json_pack("{s:s,s:{s:s}}", "providers", provider, "settings", provider, slash + 1);
    } else {
        root = json_pack("{s:s}", "providers", req->model);
    }
    if (!root) goto out;
    err = v2_fill(req, root, errmsg);
    if (err) goto out;
    err = GW_ERR_INTERNAL;
    if (req->has_temperature &&
        json_object_set_new(root, "temperature", json_real(req->temperature)))
        goto out;
    if (req->max_tokens > 0 &&
        json_object_set_new(root, "max_tokens", json_integer(req->max_tokens)))
        goto out;
    out->method = "POST";
    out->url = gw_adapter_url(arena, cfg->base_url, EDEN_DEFAULT_BASE,
                              req->stream ? "/v2/text/chat/stream" : "/v2/text/chat");
    out->stream = req->stream;
    char *auth = arena_printf(arena, "Bearer %s", cfg->api_key);
    if (!out->url || !auth || !gw_adapter_header(out, arena, "Authorization", auth) ||
        !gw_adapter_header(out, arena, "Content-Type", "application/json") ||
        !gw_adapter_header(out, arena, "Accept",
                           req->stream ? "application/x-ndjson" : "application/json") ||
        !gw_adapter_body(out, arena, root))
        goto out;
    err = GW_OK;
out:
    if (err == GW_ERR_INTERNAL) *errmsg = "out of memory while building the upstream request";
    json_decref(root);
    return err;
}

static gw_err eden_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                         gw_upstream_req *out, const char **errmsg)
{
    if (!is_v2(cfg)) return gw_oai_build(&eden_v3_dialect, cfg, req, arena, out, errmsg);
    memset(out, 0, sizeof(*out));
    if (!cfg->api_key || !*cfg->api_key) {
        *errmsg = "the provider is not configured (no API key)";
        return GW_ERR_MODEL_UNAVAILABLE;
    }
    if (!req->model || !*req->model) {
        *errmsg = "a model is required";
        return GW_ERR_INVALID_REQUEST;
    }
    return v2_build(cfg, req, arena, out, errmsg);
}

/* ---- errors -------------------------------------------------------------- */

/* v2 reports a provider's failure keyed by provider name:
 * {"openai":{"status":"fail","error":{"message":..}}}. Finds the first
 * member whose status is "fail" and its message. */
static bool v2_keyed_failure(json_t *obj, const char **key_out, slice_t *message)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        const char *status = json_string_value(json_object_get(value, "status"));
        if (!status || strcmp(status, "fail") != 0) continue;
        json_t *m = json_object_get(json_object_get(value, "error"), "message");
        *key_out = key;
        *message =
            json_is_string(m) ? (slice_t){json_string_value(m), json_string_length(m)} : SLICE_NULL;
        return true;
    }
    return false;
}

static void eden_map_error(int status, slice_t body, gw_header_fn header, void *hud,
                           gw_error_info *out)
{
    gw_oai_map_error(status, body, header, hud, out);
    if (status == 403) { /* Eden answers 403 when the Bearer prefix is missing */
        gw_error_info auth;
        gw_adapter_error_init(&auth, 401, header, hud);
        out->code = GW_ERR_PROVIDER_AUTH;
        out->retryable = false;
        out->message = auth.message;
    }
}

/* ---- v2 stream (NDJSON) and v3 delegation -------------------------------- */

typedef enum {
    EDEN_DETECT = 0, /* nothing but whitespace seen yet */
    EDEN_SSE,        /* v3: bytes go to the OpenAI-dialect parser */
    EDEN_NDJSON,     /* v2: lines of {"text":..} */
    EDEN_FAILED,     /* v2 parser emitted ERROR */
} eden_mode;

typedef struct {
    eden_mode mode;
    core_err failure;
    gw_stream *sse; /* v3 delegate, created up front */
    line_reader lines;
    gw_sink sink;
    bool at_eof;           /* the line being handled had no "\n" */
    int64_t provider_cost; /* v2 "cost" when a line carried one, else -1 */
} eden_stream;

static void v2_fail(eden_stream *s, core_err failure, gw_err code, const char *message)
{
    /* A ceiling we hit is not transient: retrying would hit it again. */
    gw_sink_error_simple(&s->sink, code, failure != CORE_ETOOBIG, message);
    s->mode = EDEN_FAILED;
    s->failure = failure;
}

static int v2_on_line(void *ud, slice_t line)
{
    static const char *const cost_path[] = {"cost"};
    eden_stream *s = ud;
    if (s->mode != EDEN_NDJSON) return 0;
    line = slice_trim(line);
    if (line.len == 0) return 0;
    json_t *obj = gw_adapter_json_parse(line);
    if (!json_is_object(obj)) {
        json_decref(obj);
        if (s->at_eof)
            v2_fail(s, CORE_EPARSE, GW_ERR_UPSTREAM_TRUNCATED,
                    "upstream stream ended inside a line");
        else
            v2_fail(s, CORE_EPARSE, GW_ERR_PROVIDER_ERROR, "the provider sent a non-JSON line");
        return 1;
    }
    gw_sink_start(&s->sink, SLICE_NULL, SLICE_NULL);
    json_t *error = json_object_get(obj, "error");
    const char *key;
    slice_t message;
    if (error && !json_is_null(error)) {
        gw_error_info info;
        eden_map_error(200, line, NULL, NULL, &info);
        gw_sink_error(&s->sink, &info);
        s->mode = EDEN_FAILED;
        s->failure = CORE_EIO;
    } else if (v2_keyed_failure(obj, &key, &message)) {
        gw_error_info info;
        gw_adapter_error_init(&info, 502, NULL, NULL);
        info.http_status = 200;
        info.message = gw_adapter_safe_message(message, "the provider failed to answer");
        info.provider_code = SLICE_LIT("fail");
        /* message points into obj: emit before releasing it */
        gw_sink_error(&s->sink, &info);
        s->mode = EDEN_FAILED;
        s->failure = CORE_EIO;
    } else {
        json_t *text = json_object_get(obj, "text");
        if (json_is_string(text))
            gw_sink_text(&s->sink, GW_EV_TEXT,
                         (slice_t){json_string_value(text), json_string_length(text)});
        int64_t cost = gw_adapter_cost_at(line, cost_path, 1);
        if (cost >= 0) s->provider_cost = cost;
    }
    json_decref(obj);
    return s->mode == EDEN_FAILED ? 1 : 0;
}

static gw_stream *eden_stream_new(const gw_request *req, gw_emit_fn emit, void *ud)
{
    eden_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->provider_cost = -1;
    s->sse = gw_oai_stream_new(&eden_v3_dialect, req, emit, ud);
    if (!s->sse) {
        free(s);
        return NULL;
    }
    gw_sink_init(&s->sink, emit, ud);
    line_reader_init(&s->lines, GW_MAX_SSE_LINE, true, v2_on_line, s);
    return (gw_stream *)s;
}

static core_err eden_stream_feed(gw_stream *gs, const char *data, size_t len)
{
    eden_stream *s = (eden_stream *)gs;
    if (s->mode == EDEN_DETECT) {
        while (len && (*data == ' ' || *data == '\t' || *data == '\r' || *data == '\n')) {
            data++;
            len--;
        }
        if (len == 0) return CORE_OK;
        s->mode = *data == '{' ? EDEN_NDJSON : EDEN_SSE;
    }
    if (s->mode == EDEN_SSE) return gw_oai_stream_feed(s->sse, data, len);
    if (s->mode == EDEN_FAILED) return s->failure;
    core_err err = line_reader_feed(&s->lines, data, len);
    if (s->mode == EDEN_FAILED) return s->failure;
    if (err == CORE_ETOOBIG)
        v2_fail(s, CORE_ETOOBIG, GW_ERR_PROVIDER_ERROR,
                "the provider sent a stream line larger than the gateway accepts");
    else if (err)
        v2_fail(s, err, GW_ERR_INTERNAL, "the stream parser failed");
    return s->mode == EDEN_FAILED ? s->failure : CORE_OK;
}

static void eden_stream_finish(gw_stream *gs)
{
    eden_stream *s = (eden_stream *)gs;
    if (s->mode == EDEN_SSE || s->mode == EDEN_DETECT) {
        /* an empty body is a cut stream whatever the generation */
        gw_oai_stream_finish(s->sse);
        return;
    }
    if (s->mode == EDEN_NDJSON) {
        s->at_eof = true;
        line_reader_finish(&s->lines);
    }
    if (s->mode == EDEN_NDJSON) {
        /* v2 streams end at EOF and carry no token counts */
        gw_usage usage = {.provider_cost_pico = s->provider_cost, .exact = false};
        gw_sink_keep_usage(&s->sink, &usage);
        gw_sink_finish(&s->sink, GW_FIN_STOP, SLICE_NULL);
    }
    gw_sink_end(&s->sink, true);
}

static void eden_stream_free(gw_stream *gs)
{
    eden_stream *s = (eden_stream *)gs;
    if (!s) return;
    gw_oai_stream_free(s->sse);
    line_reader_free(&s->lines);
    free(s);
}

/* ---- non-stream ---------------------------------------------------------- */

static void v2_parse_response(const gw_request *req, json_t *obj, slice_t body, gw_sink *sink)
{
    const char *key = NULL;
    slice_t message;
    if (v2_keyed_failure(obj, &key, &message)) {
        gw_error_info info;
        gw_adapter_error_init(&info, 502, NULL, NULL);
        info.http_status = 200;
        info.message = gw_adapter_safe_message(message, "the provider failed to answer");
        info.provider_code = SLICE_LIT("fail");
        gw_sink_error(sink, &info);
        return;
    }
    /* the member of the requested provider, else the first answer */
    json_t *answer = NULL, *value;
    const char *slash = req && req->model ? strchr(req->model, '/') : NULL;
    size_t keylen = slash ? (size_t)(slash - req->model) : 0;
    json_object_foreach(obj, key, value)
    {
        if (!json_is_string(json_object_get(value, "generated_text"))) continue;
        if (!answer || (keylen && strlen(key) == keylen && strncmp(key, req->model, keylen) == 0))
            answer = value;
    }
    if (!answer) {
        gw_sink_error_simple(sink, GW_ERR_PROVIDER_ERROR, true,
                             "the provider's answer has no generated_text");
        return;
    }
    json_t *text = json_object_get(answer, "generated_text");
    gw_sink_start(sink, SLICE_NULL, SLICE_NULL);
    gw_sink_text(sink, GW_EV_TEXT, (slice_t){json_string_value(text), json_string_length(text)});
    gw_sink_finish(sink, GW_FIN_STOP, SLICE_NULL);
    /* cost per request in USD; no token counts in v2 */
    const char *answer_key = NULL;
    json_object_foreach(obj, key, value)
    {
        if (value == answer) answer_key = key;
    }
    const char *cost_path[] = {answer_key, "cost"};
    gw_usage usage = {.provider_cost_pico = gw_adapter_cost_at(body, cost_path, 2), .exact = false};
    gw_sink_keep_usage(sink, &usage);
}

static void eden_parse_response(const gw_request *req, slice_t body, gw_emit_fn emit, void *ud)
{
    json_t *obj = gw_adapter_json_parse(body);
    if (!json_is_object(obj) || json_object_get(obj, "choices") || json_object_get(obj, "error")) {
        /* v3 (or garbage / an error object, which the dialect parser reports) */
        json_decref(obj);
        gw_oai_parse_response(&eden_v3_dialect, req, body, emit, ud);
        return;
    }
    gw_sink sink;
    gw_sink_init(&sink, emit, ud);
    v2_parse_response(req, obj, body, &sink);
    gw_sink_end(&sink, true);
    json_decref(obj);
}

const gw_provider_ops gw_provider_eden = {
    .name = "eden",
    .build = eden_build,
    .stream_new = eden_stream_new,
    .stream_feed = eden_stream_feed,
    .stream_finish = eden_stream_finish,
    .stream_free = eden_stream_free,
    .parse_response = eden_parse_response,
    .map_error = eden_map_error,
    .build_models = NULL,
    .parse_models = NULL,
};
