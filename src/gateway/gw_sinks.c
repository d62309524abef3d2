/*
 * gw_sinks.c - the four wire encodings of a call's outcome:
 *   /api/generate        stream (named SSE events) and whole JSON body
 *   /v1/chat/completions stream (OpenAI chunks, [DONE]) and whole JSON body
 * Stream events are rendered with bounded buffers and escaped by hand (one
 * pass over the delta, no JSON tree per token); whole bodies use jansson.
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

static json_t *tool_calls_json(gw_call *c, bool openai)
{
    json_t *arr = json_array();
    for (int i = 0; i < c->ntools; i++) {
        gw_tool_acc *t = &c->tools[i];
        const char *args = t->args.data ? t->args.data : "";
        if (openai)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", t->id ? t->id : "",
                                                 "type", "function", "function", "name",
                                                 t->name ? t->name : "", "arguments", args));
        else
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "id", t->id ? t->id : "", "name",
                                                 t->name ? t->name : "", "arguments", args));
    }
    return arr;
}

static void respond_json(gw_call *c, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        gw_call_respond_error(c, 500, GW_ERR_INTERNAL, "out of memory", true, -1);
        return;
    }
    gw_call_respond_body(c, 200, "application/json", slice_from_cstr(s));
    free(s);
}

static void fail_common(gw_call *c)
{
    gw_call_respond_error(c, gw_err_status(c->err), c->err, c->err_msg[0] ? c->err_msg : gw_err_code(c->err),
                          c->err_retryable, c->err_retry_after_ms);
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
        buf_printf(&c->out, "event: error\ndata: {\"code\":\"%s\",\"message\":\"", gw_err_code(c->err));
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
    json_t *output = json_pack("{s:s%,s:o,s:s}", "text", c->text.data ? c->text.data : "",
                               c->text.len, "tool_calls", tool_calls_json(c, false),
                               "finish_reason", gw_call_finish_name(c));
    if (c->reasoning.len)
        json_object_set_new(output, "reasoning", json_stringn(c->reasoning.data, c->reasoning.len));
    token_usage_t *t = &c->final_tokens;
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:o,s:{s:I,s:I,s:I,s:I},s:{s:s,s:b},s:I,s:o}", "id", c->id, "provider",
        c->targets[cur].provider, "model", c->targets[cur].model, "output", output, "usage",
        "input_tokens", (json_int_t)t->input, "cached_input_tokens", (json_int_t)t->cached_input,
        "output_tokens", (json_int_t)t->output, "reasoning_tokens", (json_int_t)t->reasoning,
        "cost", "usd", cost_str(c, cost), "estimated", c->final_estimated, "latency_ms",
        (json_int_t)c->latency_ms, "ttft_ms",
        c->ttft_ms >= 0 ? json_integer(c->ttft_ms) : json_null());
    if (j && cur > 0) {
        char from[300];
        snprintf(from, sizeof from, "%s/%s", c->targets[0].provider, c->targets[0].model);
        json_object_set_new(j, "fallback_from", json_string(from));
    }
    respond_json(c, j);
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

static void oai_chunk_open(gw_call *c)
{
    char model[300];
    buf_printf(&c->out, "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
                        "\"model\":\"",
               c->id, (long long)c->created);
    buf_append_json_escaped(&c->out, slice_from_cstr(model_label(c, model, sizeof model)));
    buf_append_cstr(&c->out, "\",\"system_fingerprint\":null,\"choices\":[");
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
    if (ev->type != GW_EV_TEXT && ev->type != GW_EV_REASONING && ev->type != GW_EV_TOOL_CALL_START &&
        ev->type != GW_EV_TOOL_ARGS)
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
    json_t *msg = json_pack("{s:s,s:n}", "role", "assistant", "refusal");
    if (c->ntools) {
        json_object_set_new(msg, "content",
                            c->text.len ? json_stringn(c->text.data, c->text.len) : json_null());
        json_object_set_new(msg, "tool_calls", tool_calls_json(c, true));
    } else {
        json_object_set_new(msg, "content", json_stringn(c->text.data ? c->text.data : "", c->text.len));
    }
    if (c->reasoning.len)
        json_object_set_new(msg, "reasoning_content",
                            json_stringn(c->reasoning.data, c->reasoning.len));
    token_usage_t *t = &c->final_tokens;
    json_t *j = json_pack(
        "{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}],s:{s:I,s:I,s:I,s:{s:I},s:{s:I}},s:{s:s,s:b}}",
        "id", c->id, "object", "chat.completion", "created", (json_int_t)c->created, "model",
        model_label(c, model, sizeof model), "choices", "index", 0, "message", msg, "logprobs",
        "finish_reason", gw_call_finish_name(c), "usage", "prompt_tokens", (json_int_t)t->input,
        "completion_tokens", (json_int_t)t->output, "total_tokens",
        (json_int_t)(t->input + t->output), "prompt_tokens_details", "cached_tokens",
        (json_int_t)t->cached_input, "completion_tokens_details", "reasoning_tokens",
        (json_int_t)t->reasoning, "cost", "usd", cost_str(c, cost), "estimated",
        c->final_estimated);
    respond_json(c, j);
}

const gw_sink gw_sink_openai_json = {false, nop_commit, nop_event, oaij_finish, fail_common};
