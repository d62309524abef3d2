/*
 * provider_fal.c - fal adapter for the native openrouter/router endpoint
 * (providers.md §3.1, §3.4): POST {base}/openrouter/router[/stream] with
 * "Authorization: Key <id:secret>", messages flattened into prompt +
 * system_prompt (the endpoint has no messages, tools or JSON mode).
 *
 * The stream is SSE where every event is the WHOLE object so far: "output"
 * (and "reasoning") are cumulative. We emit the new suffix when it extends
 * what we already sent; when the provider rewrites its prefix we stop sending
 * deltas and, at the final event (partial:false), send what is left after the
 * longest common prefix (so the client never sees text twice). The final
 * event carries usage with cost in USD, read exactly from its JSON text.
 *
 * Stream states: STREAMING -> ENDED (final event) or FAILED (ERROR sent).
 */
#include "adapter_util.h"

#include "../core/sse_parser.h"

#include <stdlib.h>

#define FAL_DEFAULT_BASE "https://fal.run"

/* ---- request ------------------------------------------------------------- */

static bool append_text(buf_t *b, const char *sep, const char *label, json_t *content,
                        const char **errmsg)
{
    bool non_text;
    char *text = gw_adapter_content_text(content, &non_text);
    bool ok = false;
    if (!text) return false;
    if (non_text) {
        *errmsg = "fal openrouter/router accepts text only (images need openrouter/router/vision)";
        goto out;
    }
    if (b->len && buf_append_cstr(b, sep)) goto out;
    if (label && buf_append_cstr(b, label)) goto out;
    if (buf_append_cstr(b, text)) goto out;
    ok = true;
out:
    free(text);
    return ok;
}

/* Flattens the chat into the endpoint's two strings. One user message is
 * sent as is; a conversation becomes a "User: ../Assistant: .." transcript
 * ending with "Assistant:" so the model answers as the assistant. */
static gw_err flatten(const gw_request *req, buf_t *system, buf_t *prompt, const char **errmsg)
{
    size_t turns = 0, i;
    json_t *msg, *only = NULL;
    if (req->system_prompt && buf_append_cstr(system, req->system_prompt)) return GW_ERR_INTERNAL;
    json_array_foreach(req->messages, i, msg)
    {
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!role) role = "";
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if (!append_text(system, "\n\n", NULL, json_object_get(msg, "content"), errmsg))
                return *errmsg ? GW_ERR_INVALID_REQUEST : GW_ERR_INTERNAL;
            continue;
        }
        if (strcmp(role, "tool") == 0 || json_array_size(json_object_get(msg, "tool_calls"))) {
            *errmsg = "fal openrouter/router does not support tool calls";
            return GW_ERR_INVALID_REQUEST;
        }
        if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0) {
            *errmsg = "fal openrouter/router accepts only system, user and assistant messages";
            return GW_ERR_INVALID_REQUEST;
        }
        turns++;
        only = msg;
    }
    if (turns == 0) {
        *errmsg = "at least one user message is required";
        return GW_ERR_INVALID_REQUEST;
    }
    const char *only_role = json_string_value(json_object_get(only, "role"));
    if (turns == 1 && strcmp(only_role, "user") == 0) {
        if (!append_text(prompt, "", NULL, json_object_get(only, "content"), errmsg))
            return *errmsg ? GW_ERR_INVALID_REQUEST : GW_ERR_INTERNAL;
        return GW_OK;
    }
    const char *last_role = "";
    json_array_foreach(req->messages, i, msg)
    {
        const char *role = json_string_value(json_object_get(msg, "role"));
        bool user = strcmp(role, "user") == 0;
        if (!user && strcmp(role, "assistant") != 0) continue;
        if (!append_text(prompt, "\n",
                         user ? "User: " : "Assistant: ", json_object_get(msg, "content"), errmsg))
            return *errmsg ? GW_ERR_INVALID_REQUEST : GW_ERR_INTERNAL;
        last_role = role;
    }
    if (strcmp(last_role, "user") == 0 && buf_append_cstr(prompt, "\nAssistant:"))
        return GW_ERR_INTERNAL;
    return GW_OK;
}

static gw_err fal_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                        gw_upstream_req *out, const char **errmsg)
{
    gw_err err = GW_ERR_INTERNAL;
    json_t *root = NULL;
    buf_t system, prompt;
    const char *key = cfg && cfg->api_key && *cfg->api_key ? cfg->api_key : NULL;
    buf_init(&system, 0);
    buf_init(&prompt, 0);
    memset(out, 0, sizeof(*out));
    *errmsg = NULL;
    if (!key) {
        *errmsg = "the provider is not configured (no FAL_KEY)";
        err = GW_ERR_MODEL_UNAVAILABLE;
        goto out;
    }
    if (json_array_size(req->tools) > 0) {
        *errmsg = "fal openrouter/router does not support tools";
        err = GW_ERR_INVALID_REQUEST;
        goto out;
    }
    if (req->json_mode || req->json_schema) {
        *errmsg = "fal openrouter/router does not support JSON mode";
        err = GW_ERR_INVALID_REQUEST;
        goto out;
    }
    if (!req->model || !*req->model) {
        *errmsg = "a model is required";
        err = GW_ERR_INVALID_REQUEST;
        goto out;
    }
    err = flatten(req, &system, &prompt, errmsg);
    if (err) goto out;
    err = GW_ERR_INTERNAL;
    root =
        json_pack("{s:s,s:s%}", "model", req->model, "prompt", buf_slice(&prompt).ptr, prompt.len);
    if (!root) goto out;
    if (system.len && json_object_set_new(root, "system_prompt",
                                          json_stringn(buf_slice(&system).ptr, system.len)))
        goto out;
    /* "reasoning" asks the router to include the model's reasoning text */
    if (req->reasoning_effort && strcmp(req->reasoning_effort, "none") != 0 &&
        json_object_set_new(root, "reasoning", json_true()))
        goto out;
    if (req->has_temperature &&
        json_object_set_new(root, "temperature", json_real(req->temperature)))
        goto out;
    if (req->max_tokens > 0 &&
        json_object_set_new(root, "max_tokens", json_integer(req->max_tokens)))
        goto out;
    out->method = "POST";
    out->url = gw_adapter_url(arena, cfg->base_url, FAL_DEFAULT_BASE,
                              req->stream ? "/openrouter/router/stream" : "/openrouter/router");
    out->stream = req->stream;
    char *auth = arena_printf(arena, "Key %s", key);
    if (!out->url || !auth || !gw_adapter_header(out, arena, "Authorization", auth) ||
        !gw_adapter_header(out, arena, "Content-Type", "application/json") ||
        !gw_adapter_header(out, arena, "Accept",
                           req->stream ? "text/event-stream" : "application/json") ||
        !gw_adapter_body(out, arena, root))
        goto out;
    err = GW_OK;
out:
    if (err == GW_ERR_INTERNAL) *errmsg = "out of memory while building the upstream request";
    json_decref(root);
    buf_free(&system);
    buf_free(&prompt);
    return err;
}

/* ---- errors -------------------------------------------------------------- */

static slice_t fal_detail(slice_t body)
{
    static const char *const detail_key[] = {"detail"};
    static const char *const msg_key[] = {"msg"};
    static const char *const error_key[] = {"error"};
    static const char *const message_key[] = {"message"};
    slice_t raw, first, msg = SLICE_NULL;
    if (gw_adapter_json_find(body, detail_key, 1, &raw)) {
        if (gw_adapter_json_string_body(raw, &msg)) return msg;
        if (gw_adapter_json_first_elem(raw, &first) &&
            gw_adapter_json_find(first, msg_key, 1, &raw) && gw_adapter_json_string_body(raw, &msg))
            return msg;
    }
    /* stream objects: "error" as text or {"message":..} */
    if (gw_adapter_json_find(body, error_key, 1, &raw)) {
        if (gw_adapter_json_string_body(raw, &msg)) return msg;
        if (gw_adapter_json_find(raw, message_key, 1, &raw) &&
            gw_adapter_json_string_body(raw, &msg))
            return msg;
    }
    return SLICE_NULL;
}

static bool has_text(slice_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++)
        if (slice_case_eq((slice_t){hay.ptr + i, n}, (slice_t){needle, n})) return true;
    return false;
}

static void fal_map_error(int status, slice_t body, gw_header_fn header, void *hud,
                          gw_error_info *out)
{
    static const char *const type_key[] = {"error_type"};
    slice_t raw, type = SLICE_NULL;
    gw_adapter_error_init(out, status, header, hud);
    if (status >= 200 && status <= 299) /* failure reported inside a 2xx */
        out->code = gw_adapter_class_from_status(502, &out->retryable);
    slice_t message = fal_detail(body);
    if (gw_adapter_json_find(body, type_key, 1, &raw)) gw_adapter_json_string_body(raw, &type);
    if (!type.len && header) type = slice_trim(header(hud, "x-fal-error-type"));
    out->provider_code = type;
    if (slice_eq_cstr(type, "request_timeout") || slice_eq_cstr(type, "startup_timeout")) {
        out->code = GW_ERR_TIMEOUT;
        out->retryable = true;
    } else if (slice_eq_cstr(type, "runner_incomplete_response") ||
               slice_eq_cstr(type, "runner_server_error") ||
               slice_eq_cstr(type, "internal_error")) {
        out->code = GW_ERR_PROVIDER_ERROR;
        out->retryable = true;
    } else if (slice_starts_with(type, SLICE_LIT("runner_"))) {
        out->code = GW_ERR_MODEL_UNAVAILABLE; /* no runner to serve it now */
        out->retryable = true;
    } else if (slice_eq_cstr(type, "client_disconnected") ||
               slice_eq_cstr(type, "client_cancelled")) {
        out->code = GW_ERR_CLIENT_CLOSED;
        out->retryable = false;
    } else if (slice_eq_cstr(type, "bad_request")) {
        out->code = GW_ERR_INVALID_REQUEST;
        out->retryable = false;
    }
    /* fal says "no balance" with a 403 account lock, not a 402 */
    if (status == 403 && (has_text(message, "exhausted balance") || has_text(message, "locked"))) {
        out->code = GW_ERR_PROVIDER_QUOTA;
        out->retryable = false;
    }
    if (status == 422 && has_text(message, "model") &&
        (has_text(message, "not available") || has_text(message, "not found") ||
         has_text(message, "does not exist")))
        out->code = GW_ERR_MODEL_NOT_FOUND;
    if (header) { /* fal's own verdict beats our status heuristics */
        slice_t retry = slice_trim(header(hud, "x-fal-retryable"));
        if (slice_case_eq(retry, SLICE_LIT("true"))) out->retryable = true;
        if (slice_case_eq(retry, SLICE_LIT("false"))) out->retryable = false;
    }
    const char *fallback = out->message.ptr;
    out->message = out->code == GW_ERR_PROVIDER_AUTH ? slice_from_cstr(fallback)
                                                     : gw_adapter_safe_message(message, fallback);
}

/* ---- stream -------------------------------------------------------------- */

typedef enum {
    FAL_STREAMING = 0, /* reading cumulative objects */
    FAL_ENDED,         /* final object (partial:false) handled */
    FAL_FAILED,        /* ERROR emitted */
} fal_state;

/* One cumulative field ("output" or "reasoning"). */
typedef struct {
    buf_t sent;    /* what we emitted so far; bounded like one event */
    bool diverged; /* the provider rewrote text we had already sent */
} fal_track;

typedef struct {
    fal_state state;
    core_err failure;
    sse_parser sse;
    gw_sink sink;
    fal_track output;
    fal_track reasoning;
} fal_stream;

static void fal_fail(fal_stream *s, core_err failure, gw_err code, const char *message)
{
    /* A ceiling we hit is not transient: retrying would hit it again. */
    gw_sink_error_simple(&s->sink, code, failure != CORE_ETOOBIG, message);
    s->state = FAL_FAILED;
    s->failure = failure;
}

/* Emits the part of value that is new. At the final event a diverged track
 * sends what follows the longest common prefix. */
static bool track_update(fal_stream *s, fal_track *t, gw_ev_type type, json_t *value, bool final)
{
    if (!json_is_string(value)) return true;
    slice_t now = {json_string_value(value), json_string_length(value)};
    slice_t sent = buf_slice(&t->sent);
    size_t from;
    if (!t->diverged && slice_starts_with(now, sent)) {
        from = sent.len;
    } else {
        t->diverged = true;
        if (!final) return true;
        from = 0;
        while (from < now.len && from < sent.len && now.ptr[from] == sent.ptr[from])
            from++;
        /* do not start inside a UTF-8 sequence */
        while (from > 0 && ((unsigned char)now.ptr[from] & 0xC0) == 0x80)
            from--;
    }
    slice_t fresh = {now.ptr + from, now.len - from};
    if (!t->diverged) {
        core_err err = buf_append_slice(&t->sent, fresh);
        if (err) {
            fal_fail(s, err, GW_ERR_PROVIDER_ERROR, "the provider's answer is too large");
            return false;
        }
    }
    gw_sink_text(&s->sink, type, fresh);
    return true;
}

static void fal_keep_usage(gw_sink *sink, json_t *usage, slice_t raw)
{
    static const char *const cost_path[] = {"usage", "cost"};
    gw_usage u;
    memset(&u, 0, sizeof(u));
    u.tokens.input = gw_adapter_json_count(usage, "prompt_tokens");
    u.tokens.output = gw_adapter_json_count(usage, "completion_tokens");
    u.provider_cost_pico = gw_adapter_cost_at(raw, cost_path, 2);
    u.exact = true;
    gw_sink_keep_usage(sink, &u);
}

/* Handles one object (a stream event, or the whole sync body). */
static bool fal_handle_object(fal_stream *s, json_t *obj, slice_t raw, bool whole_body)
{
    json_t *error = json_object_get(obj, "error");
    bool platform_error = json_object_get(obj, "detail") && !json_object_get(obj, "output");
    if ((error && !json_is_null(error)) || platform_error) {
        gw_error_info info;
        fal_map_error(200, raw, NULL, NULL, &info);
        gw_sink_error(&s->sink, &info);
        s->state = FAL_FAILED;
        s->failure = CORE_EIO;
        return false;
    }
    gw_sink_start(&s->sink, SLICE_NULL, SLICE_NULL);
    json_t *partial = json_object_get(obj, "partial");
    bool final = whole_body || json_is_false(partial);
    if (!track_update(s, &s->reasoning, GW_EV_REASONING, json_object_get(obj, "reasoning"),
                      final) ||
        !track_update(s, &s->output, GW_EV_TEXT, json_object_get(obj, "output"), final))
        return false;
    json_t *usage = json_object_get(obj, "usage");
    if (json_is_object(usage)) fal_keep_usage(&s->sink, usage, raw);
    if (final) {
        /* the endpoint has no finish reason: a clean final object is a stop */
        gw_sink_finish(&s->sink, GW_FIN_STOP, SLICE_NULL);
        s->state = FAL_ENDED;
    }
    return true;
}

static int fal_on_event(void *ud, const sse_event *ev)
{
    fal_stream *s = ud;
    if (s->state != FAL_STREAMING) return 0;
    slice_t data = slice_trim(ev->data);
    if (data.len == 0) return 0;
    json_t *obj = gw_adapter_json_parse(data);
    if (!json_is_object(obj)) {
        json_decref(obj);
        fal_fail(s, CORE_EPARSE, GW_ERR_PROVIDER_ERROR, "the provider sent a non-JSON event");
        return 1;
    }
    bool ok = fal_handle_object(s, obj, data, false);
    json_decref(obj);
    return ok ? 0 : 1;
}

static void fal_tracks_init(fal_stream *s)
{
    buf_init(&s->output.sent, GW_MAX_SSE_EVENT);
    buf_init(&s->reasoning.sent, GW_MAX_SSE_EVENT);
}

static void fal_tracks_free(fal_stream *s)
{
    buf_free(&s->output.sent);
    buf_free(&s->reasoning.sent);
}

static gw_stream *fal_stream_new(const gw_request *req, gw_emit_fn emit, void *ud)
{
    fal_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    gw_sink_init(&s->sink, emit, ud);
    s->state = FAL_STREAMING;
    fal_tracks_init(s);
    sse_parser_init(&s->sse, GW_MAX_SSE_LINE, GW_MAX_SSE_EVENT, fal_on_event, NULL, s);
    return (gw_stream *)s;
}

static core_err fal_stream_feed(gw_stream *gs, const char *data, size_t len)
{
    fal_stream *s = (fal_stream *)gs;
    if (s->state == FAL_FAILED) return s->failure;
    if (s->state == FAL_ENDED) return CORE_OK;
    core_err err = sse_parser_feed(&s->sse, data, len);
    if (s->state == FAL_FAILED) return s->failure;
    if (err == CORE_ETOOBIG)
        fal_fail(s, CORE_ETOOBIG, GW_ERR_PROVIDER_ERROR,
                 "the provider sent a stream event larger than the gateway accepts");
    else if (err)
        fal_fail(s, err, GW_ERR_INTERNAL, "the stream parser failed");
    return s->state == FAL_FAILED ? s->failure : CORE_OK;
}

static void fal_stream_finish(gw_stream *gs)
{
    fal_stream *s = (fal_stream *)gs;
    bool truncated;
    if (s->state == FAL_STREAMING) sse_parser_finish(&s->sse, &truncated);
    /* the proper end of a fal stream is its final object */
    gw_sink_end(&s->sink, s->state == FAL_ENDED);
}

static void fal_stream_free(gw_stream *gs)
{
    fal_stream *s = (fal_stream *)gs;
    if (!s) return;
    sse_parser_free(&s->sse);
    fal_tracks_free(s);
    free(s);
}

static void fal_parse_response(const gw_request *req, slice_t body, gw_emit_fn emit, void *ud)
{
    fal_stream s;
    memset(&s, 0, sizeof(s));
    gw_sink_init(&s.sink, emit, ud);
    fal_tracks_init(&s);
    json_t *obj = gw_adapter_json_parse(body);
    if (!json_is_object(obj))
        fal_fail(&s, CORE_EPARSE, GW_ERR_PROVIDER_ERROR, "the provider sent a non-JSON answer");
    else
        fal_handle_object(&s, obj, body, true);
    json_decref(obj);
    gw_sink_end(&s.sink, true);
    fal_tracks_free(&s);
}

const gw_provider_ops gw_provider_fal = {
    .name = "fal",
    .build = fal_build,
    .stream_new = fal_stream_new,
    .stream_feed = fal_stream_feed,
    .stream_finish = fal_stream_finish,
    .stream_free = fal_stream_free,
    .parse_response = fal_parse_response,
    .map_error = fal_map_error,
    .build_models = NULL,
    .parse_models = NULL,
};
