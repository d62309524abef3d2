/*
 * gw_sinks.c - the four wire encodings of a call's outcome:
 *   /api/generate        stream (named SSE events) and whole JSON body
 *   /v1/chat/completions stream (OpenAI chunks, [DONE]) and whole JSON body
 * Everything is rendered by hand into c->out (one pass over each string, no
 * JSON tree): a whole body is a few hundred bytes written once per request,
 * and building + dumping it with jansson cost more than the rest of the
 * request path together. Key order and value shapes match what the jansson
 * version produced (tests compare them).
 */
#include "gw_call.h"

#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ shared */

static void begin_sse(gw_call *c)
{
    if (!c->http || c->client_gone) return;
    http_add_header(c->http, "Cache-Control", "no-cache");
    http_add_header(c->http, "X-Accel-Buffering", "no");
    http_stream_begin(c->http, 200, "text/event-stream");
    c->http_status = 200;
}

static const char *model_label(gw_call *c, char *buf, size_t len)
{
    int cur = c->cur < c->ntargets ? c->cur : c->ntargets - 1;
    snprintf(buf, len, "%s/%s", c->targets[cur].provider, c->targets[cur].model);
    return buf;
}

/* Output is coalesced in c->out; the engine writes it once per batch of
 * upstream bytes (gw_call_flush), so a burst of events costs one syscall. */
static void flush_out(gw_call *c)
{
    (void)c;
}

static const char *cost_str(gw_call *c, char out[48])
{
    return money_format_pico(c->cost_pico, out);
}

/* ---- small JSON writer: appends to c->out, remembers the first error ---- */

typedef struct {
    buf_t *b;
    core_err err;
} jw;

static void jw_raw(jw *w, const char *s, size_t n)
{
    if (!w->err) w->err = buf_append(w->b, s, n);
}

#define JW_LIT(w, lit) jw_raw((w), (lit), sizeof(lit) - 1)

/* "text" with escapes; NULL is written as "". */
static void jw_str(jw *w, const char *s, size_t n)
{
    JW_LIT(w, "\"");
    if (!w->err && s) w->err = buf_append_json_escaped(w->b, (slice_t){s, n});
    JW_LIT(w, "\"");
}

static void jw_cstring(jw *w, const char *s)
{
    jw_str(w, s, s ? strlen(s) : 0);
}

static void jw_int(jw *w, int64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--i] = '-';
    jw_raw(w, tmp + i, sizeof tmp - (size_t)i);
}

static void jw_bool(jw *w, bool v)
{
    if (v)
        JW_LIT(w, "true");
    else
        JW_LIT(w, "false");
}

static void write_tool_calls(jw *w, gw_call *c, bool openai)
{
    JW_LIT(w, "[");
    for (int i = 0; i < c->ntools; i++) {
        gw_tool_acc *t = &c->tools[i];
        if (i) JW_LIT(w, ",");
        JW_LIT(w, "{\"id\":");
        jw_cstring(w, t->id);
        if (openai) {
            JW_LIT(w, ",\"type\":\"function\",\"function\":{\"name\":");
            jw_cstring(w, t->name);
            JW_LIT(w, ",\"arguments\":");
            jw_str(w, t->args.data, t->args.len);
            JW_LIT(w, "}}");
        } else {
            JW_LIT(w, ",\"name\":");
            jw_cstring(w, t->name);
            JW_LIT(w, ",\"arguments\":");
            jw_str(w, t->args.data, t->args.len);
            JW_LIT(w, "}");
        }
    }
    JW_LIT(w, "]");
}

/* Sends what the writer built in c->out as the whole 200 answer. */
static void respond_built(gw_call *c, jw *w)
{
    if (w->err) {
        buf_reset(&c->out);
        gw_call_respond_error(c, 500, GW_ERR_INTERNAL, "out of memory", true, -1);
        return;
    }
    gw_call_respond_body(c, 200, "application/json", buf_slice(&c->out));
    buf_reset(&c->out);
}

static void fail_common(gw_call *c)
{
    gw_call_respond_error(c, gw_err_status(c->err), c->err,
                          c->err_msg[0] ? c->err_msg : gw_err_code(c->err), c->err_retryable,
                          c->err_retry_after_ms);
}

/* ------------------------------------------------------------------ /api/generate stream */

static void gen_commit(gw_call *c)
{
    char model[300];
    begin_sse(c);
    buf_printf(&c->out, "event: start\ndata: {\"id\":\"%s\",\"provider\":\"", c->id);
    int cur = c->cur < c->ntargets ? c->cur : c->ntargets - 1;
    buf_append_json_escaped(&c->out, slice_from_cstr(c->targets[cur].provider));
    buf_append_cstr(&c->out, "\",\"model\":\"");
    buf_append_json_escaped(&c->out, slice_from_cstr(c->targets[cur].model));
    buf_append_cstr(&c->out, "\"");
    if (cur > 0) {
        snprintf(model, sizeof model, "%s/%s", c->targets[0].provider, c->targets[0].model);
        buf_append_cstr(&c->out, ",\"fallback_from\":\"");
        buf_append_json_escaped(&c->out, slice_from_cstr(model));
        buf_append_cstr(&c->out, "\"");
    }
    buf_append_cstr(&c->out, "}\n\n");
    flush_out(c);
}

static void gen_event(gw_call *c, const gw_event *ev)
{
    switch (ev->type) {
    case GW_EV_TEXT:
        buf_append_cstr(&c->out, "event: delta\ndata: {\"text\":\"");
        buf_append_json_escaped(&c->out, ev->text);
        buf_append_cstr(&c->out, "\"}\n\n");
        break;
    case GW_EV_REASONING:
        buf_append_cstr(&c->out, "event: delta\ndata: {\"reasoning\":\"");
        buf_append_json_escaped(&c->out, ev->text);
        buf_append_cstr(&c->out, "\"}\n\n");
        break;
    case GW_EV_TOOL_CALL_START:
        buf_printf(&c->out, "event: delta\ndata: {\"tool_call\":{\"index\":%d,\"id\":\"",
                   ev->tool_index);
        buf_append_json_escaped(&c->out, ev->tool_id);
        buf_append_cstr(&c->out, "\",\"name\":\"");
        buf_append_json_escaped(&c->out, ev->tool_name);
        buf_append_cstr(&c->out, "\",\"arguments\":\"\"}}\n\n");
        break;
    case GW_EV_TOOL_ARGS:
        buf_printf(&c->out, "event: delta\ndata: {\"tool_call\":{\"index\":%d,\"arguments\":\"",
                   ev->tool_index);
        buf_append_json_escaped(&c->out, ev->text);
        buf_append_cstr(&c->out, "\"}}\n\n");
        break;
    default:
        return;
    }
    flush_out(c);
}

static void gen_finish(gw_call *c)
{
    char cost[48];
    token_usage_t *t = &c->final_tokens;
    buf_printf(&c->out,
               "event: usage\ndata: {\"input_tokens\":%lld,\"cached_input_tokens\":%lld,"
               "\"output_tokens\":%lld,\"reasoning_tokens\":%lld,\"cost_usd\":\"%s\","
               "\"estimated\":%s}\n\n",
               (long long)t->input, (long long)t->cached_input, (long long)t->output,
               (long long)t->reasoning, cost_str(c, cost), c->final_estimated ? "true" : "false");
    if (c->have_error) {
        buf_printf(&c->out, "event: error\ndata: {\"code\":\"%s\",\"message\":\"",
                   gw_err_code(c->err));
        buf_append_json_escaped(&c->out, slice_from_cstr(c->err_msg));
        buf_printf(&c->out, "\",\"retryable\":%s", c->err_retryable ? "true" : "false");
        if (c->err_status) buf_printf(&c->out, ",\"provider_status\":%d", c->err_status);
        buf_append_cstr(&c->out, "}\n\n");
    }
    buf_printf(&c->out,
               "event: done\ndata: {\"finish_reason\":\"%s\",\"latency_ms\":%lld,\"ttft_ms\":",
               gw_call_finish_name(c), (long long)c->latency_ms);
    if (c->ttft_ms >= 0)
        buf_printf(&c->out, "%lld}\n\n", (long long)c->ttft_ms);
    else
        buf_append_cstr(&c->out, "null}\n\n");
    flush_out(c);
    gw_call_end_stream(c);
}

const gw_sink gw_sink_generate_stream = {true, gen_commit, gen_event, gen_finish, fail_common};

/* ------------------------------------------------------------------ /api/generate JSON */

static void genj_finish(gw_call *c)
{
    char cost[48];
    int cur = c->cur < c->ntargets ? c->cur : c->ntargets - 1;
    token_usage_t *t = &c->final_tokens;
    jw w = {&c->out, CORE_OK};
    buf_reset(&c->out);
    JW_LIT(&w, "{\"id\":");
    jw_cstring(&w, c->id);
    JW_LIT(&w, ",\"provider\":");
    jw_cstring(&w, c->targets[cur].provider);
    JW_LIT(&w, ",\"model\":");
    jw_cstring(&w, c->targets[cur].model);
    JW_LIT(&w, ",\"output\":{\"text\":");
    jw_str(&w, c->text.data, c->text.len);
    JW_LIT(&w, ",\"tool_calls\":");
    write_tool_calls(&w, c, false);
    JW_LIT(&w, ",\"finish_reason\":");
    jw_cstring(&w, gw_call_finish_name(c));
    if (c->reasoning.len) {
        JW_LIT(&w, ",\"reasoning\":");
        jw_str(&w, c->reasoning.data, c->reasoning.len);
    }
    JW_LIT(&w, "},\"usage\":{\"input_tokens\":");
    jw_int(&w, t->input);
    JW_LIT(&w, ",\"cached_input_tokens\":");
    jw_int(&w, t->cached_input);
    JW_LIT(&w, ",\"output_tokens\":");
    jw_int(&w, t->output);
    JW_LIT(&w, ",\"reasoning_tokens\":");
    jw_int(&w, t->reasoning);
    JW_LIT(&w, "},\"cost\":{\"usd\":");
    jw_cstring(&w, cost_str(c, cost));
    JW_LIT(&w, ",\"estimated\":");
    jw_bool(&w, c->final_estimated);
    JW_LIT(&w, "},\"latency_ms\":");
    jw_int(&w, c->latency_ms);
    JW_LIT(&w, ",\"ttft_ms\":");
    if (c->ttft_ms >= 0)
        jw_int(&w, c->ttft_ms);
    else
        JW_LIT(&w, "null");
    if (cur > 0) {
        JW_LIT(&w, ",\"fallback_from\":\"");
        if (!w.err)
            w.err = buf_append_json_escaped(&c->out, slice_from_cstr(c->targets[0].provider));
        JW_LIT(&w, "/");
        if (!w.err) w.err = buf_append_json_escaped(&c->out, slice_from_cstr(c->targets[0].model));
        JW_LIT(&w, "\"");
    }
    JW_LIT(&w, "}");
    respond_built(c, &w);
}

static void nop_commit(gw_call *c)
{
    (void)c;
}

static void nop_event(gw_call *c, const gw_event *ev)
{
    (void)c;
    (void)ev;
}

const gw_sink gw_sink_generate_json = {false, nop_commit, nop_event, genj_finish, fail_common};

/* ------------------------------------------------------------------ /v1 stream */

/* "data: {...,\"choices\":[" is the same for every chunk of a call once it is
 * committed (the target no longer changes): render it once into the arena. */
static void oai_chunk_open(gw_call *c)
{
    int cur = c->cur < c->ntargets ? c->cur : c->ntargets - 1;
    if (!c->chunk_head || c->chunk_head_cur != cur) {
        char model[300];
        buf_t head;
        buf_init(&head, 0);
        jw w = {&head, CORE_OK};
        JW_LIT(&w, "data: {\"id\":");
        jw_cstring(&w, c->id);
        JW_LIT(&w, ",\"object\":\"chat.completion.chunk\",\"created\":");
        jw_int(&w, c->created);
        JW_LIT(&w, ",\"model\":");
        jw_cstring(&w, model_label(c, model, sizeof model));
        JW_LIT(&w, ",\"system_fingerprint\":null,\"choices\":[");
        c->chunk_head = w.err ? NULL : arena_strdup(&c->arena, buf_slice(&head));
        c->chunk_head_len = head.len;
        c->chunk_head_cur = cur;
        buf_free(&head);
        if (!c->chunk_head) return;
    }
    buf_append(&c->out, c->chunk_head, c->chunk_head_len);
}

static void oai_chunk_close(gw_call *c)
{
    buf_append_cstr(&c->out, "]");
    if (c->pr.include_usage) buf_append_cstr(&c->out, ",\"usage\":null");
    buf_append_cstr(&c->out, "}\n\n");
}

static void oai_commit(gw_call *c)
{
    begin_sse(c);
    oai_chunk_open(c);
    buf_append_cstr(&c->out, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                             "\"logprobs\":null,\"finish_reason\":null}");
    oai_chunk_close(c);
    flush_out(c);
}

static void oai_event(gw_call *c, const gw_event *ev)
{
    if (ev->type != GW_EV_TEXT && ev->type != GW_EV_REASONING &&
        ev->type != GW_EV_TOOL_CALL_START && ev->type != GW_EV_TOOL_ARGS)
        return;
    oai_chunk_open(c);
    buf_append_cstr(&c->out, "{\"index\":0,\"delta\":{");
    switch (ev->type) {
    case GW_EV_TEXT:
        buf_append_cstr(&c->out, "\"content\":\"");
        buf_append_json_escaped(&c->out, ev->text);
        buf_append_cstr(&c->out, "\"");
        break;
    case GW_EV_REASONING:
        buf_append_cstr(&c->out, "\"reasoning_content\":\"");
        buf_append_json_escaped(&c->out, ev->text);
        buf_append_cstr(&c->out, "\"");
        break;
    case GW_EV_TOOL_CALL_START:
        buf_printf(&c->out, "\"tool_calls\":[{\"index\":%d,\"id\":\"", ev->tool_index);
        buf_append_json_escaped(&c->out, ev->tool_id);
        buf_append_cstr(&c->out, "\",\"type\":\"function\",\"function\":{\"name\":\"");
        buf_append_json_escaped(&c->out, ev->tool_name);
        buf_append_cstr(&c->out, "\",\"arguments\":\"\"}}]");
        break;
    default:
        buf_printf(&c->out, "\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":\"",
                   ev->tool_index);
        buf_append_json_escaped(&c->out, ev->text);
        buf_append_cstr(&c->out, "\"}}]");
        break;
    }
    buf_append_cstr(&c->out, "},\"logprobs\":null,\"finish_reason\":null}");
    oai_chunk_close(c);
    flush_out(c);
}

static void oai_usage_fields(buf_t *b, const token_usage_t *t)
{
    buf_printf(b,
               "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
               "\"prompt_tokens_details\":{\"cached_tokens\":%lld},"
               "\"completion_tokens_details\":{\"reasoning_tokens\":%lld}}",
               (long long)t->input, (long long)t->output, (long long)(t->input + t->output),
               (long long)t->cached_input, (long long)t->reasoning);
}

static void oai_finish(gw_call *c)
{
    char model[300], cost[48];
    if (c->have_error) {
        /* OpenAI's mid-stream error shape; the stream then closes. */
        buf_append_cstr(&c->out, "data: {\"error\":{\"message\":\"");
        buf_append_json_escaped(&c->out, slice_from_cstr(c->err_msg));
        buf_printf(&c->out, "\",\"type\":\"server_error\",\"param\":null,\"code\":\"%s\"}}\n\n",
                   gw_err_code(c->err));
        flush_out(c);
        gw_call_end_stream(c);
        return;
    }
    oai_chunk_open(c);
    buf_printf(&c->out, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}",
               gw_call_finish_name(c));
    oai_chunk_close(c);
    if (c->pr.include_usage) {
        buf_printf(&c->out,
                   "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
                   "\"model\":\"",
                   c->id, (long long)c->created);
        buf_append_json_escaped(&c->out, slice_from_cstr(model_label(c, model, sizeof model)));
        buf_append_cstr(&c->out, "\",\"system_fingerprint\":null,\"choices\":[],\"usage\":");
        oai_usage_fields(&c->out, &c->final_tokens);
        buf_printf(&c->out, ",\"cost\":{\"usd\":\"%s\",\"estimated\":%s}}\n\n", cost_str(c, cost),
                   c->final_estimated ? "true" : "false");
    }
    buf_append_cstr(&c->out, "data: [DONE]\n\n");
    flush_out(c);
    gw_call_end_stream(c);
}

const gw_sink gw_sink_openai_stream = {true, oai_commit, oai_event, oai_finish, fail_common};

/* ------------------------------------------------------------------ /v1 JSON */

static void oaij_finish(gw_call *c)
{
    char model[300], cost[48];
    token_usage_t *t = &c->final_tokens;
    jw w = {&c->out, CORE_OK};
    buf_reset(&c->out);
    JW_LIT(&w, "{\"id\":");
    jw_cstring(&w, c->id);
    JW_LIT(&w, ",\"object\":\"chat.completion\",\"created\":");
    jw_int(&w, c->created);
    JW_LIT(&w, ",\"model\":");
    jw_cstring(&w, model_label(c, model, sizeof model));
    JW_LIT(&w, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"refusal\":null,"
               "\"content\":");
    if (c->ntools && !c->text.len)
        JW_LIT(&w, "null");
    else
        jw_str(&w, c->text.data, c->text.len);
    if (c->ntools) {
        JW_LIT(&w, ",\"tool_calls\":");
        write_tool_calls(&w, c, true);
    }
    if (c->reasoning.len) {
        JW_LIT(&w, ",\"reasoning_content\":");
        jw_str(&w, c->reasoning.data, c->reasoning.len);
    }
    JW_LIT(&w, "},\"logprobs\":null,\"finish_reason\":");
    jw_cstring(&w, gw_call_finish_name(c));
    JW_LIT(&w, "}],\"usage\":{\"prompt_tokens\":");
    jw_int(&w, t->input);
    JW_LIT(&w, ",\"completion_tokens\":");
    jw_int(&w, t->output);
    JW_LIT(&w, ",\"total_tokens\":");
    jw_int(&w, t->input + t->output);
    JW_LIT(&w, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    jw_int(&w, t->cached_input);
    JW_LIT(&w, "},\"completion_tokens_details\":{\"reasoning_tokens\":");
    jw_int(&w, t->reasoning);
    JW_LIT(&w, "}},\"cost\":{\"usd\":");
    jw_cstring(&w, cost_str(c, cost));
    JW_LIT(&w, ",\"estimated\":");
    jw_bool(&w, c->final_estimated);
    JW_LIT(&w, "}}");
    respond_built(c, &w);
}

const gw_sink gw_sink_openai_json = {false, nop_commit, nop_event, oaij_finish, fail_common};
