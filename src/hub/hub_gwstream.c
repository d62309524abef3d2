/*
 * hub_gwstream.c - decodes aigw's /api/generate SSE stream into tagged events
 * (see hub_gwstream.h). Each event's JSON is parsed exactly once, here.
 */
#include "hub_gwstream.h"

#include <jansson.h>

static slice_t jslice(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return SLICE_NULL;
    return (slice_t){json_string_value(v), json_string_length(v)};
}

static int64_t jint(const json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static core_err decode_delta(const json_t *data, hub_gw_event *ev)
{
    json_t *tool = json_object_get(data, "tool_call");
    if (json_is_string(json_object_get(data, "text"))) {
        ev->type = HUB_GW_TEXT;
        ev->text = jslice(data, "text");
    } else if (json_is_string(json_object_get(data, "reasoning"))) {
        ev->type = HUB_GW_REASONING;
        ev->text = jslice(data, "reasoning");
    } else if (json_is_object(tool)) {
        ev->type = HUB_GW_TOOL_CALL;
        int64_t index = jint(tool, "index", 0);
        if (index < 0 || index > 1000) return CORE_EPARSE;
        ev->tool_index = (int)index;
        ev->tool_id = jslice(tool, "id");
        ev->tool_name = jslice(tool, "name");
        ev->text = jslice(tool, "arguments");
    } else {
        return CORE_EPARSE;
    }
    return CORE_OK;
}

static core_err decode_usage(const json_t *data, hub_gw_event *ev)
{
    ev->type = HUB_GW_USAGE;
    ev->usage.input = jint(data, "input_tokens", 0);
    ev->usage.cached_input = jint(data, "cached_input_tokens", 0);
    ev->usage.output = jint(data, "output_tokens", 0);
    ev->usage.reasoning = jint(data, "reasoning_tokens", 0);
    if (ev->usage.input < 0 || ev->usage.cached_input < 0 || ev->usage.output < 0 ||
        ev->usage.reasoning < 0)
        return CORE_EPARSE;
    ev->estimated = json_is_true(json_object_get(data, "estimated"));
    slice_t cost = jslice(data, "cost_usd");
    ev->cost_pico = 0;
    if (cost.len && money_parse(cost, 12, false, &ev->cost_pico) != CORE_OK) return CORE_EPARSE;
    return CORE_OK;
}

static int on_sse_event(void *ud, const sse_event *sev)
{
    hub_gw_stream *s = ud;
    hub_gw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.latency_ms = ev.ttft_ms = -1;
    json_error_t jerr;
    json_t *data = json_loadb(sev->data.ptr, sev->data.len, 0, &jerr);
    core_err err = CORE_OK;
    if (!json_is_object(data)) {
        err = CORE_EPARSE;
        goto out;
    }
    if (slice_eq_cstr(sev->event, "start")) {
        ev.type = HUB_GW_START;
        ev.id = jslice(data, "id");
        ev.provider = jslice(data, "provider");
        ev.model = jslice(data, "model");
    } else if (slice_eq_cstr(sev->event, "delta")) {
        err = decode_delta(data, &ev);
    } else if (slice_eq_cstr(sev->event, "usage")) {
        err = decode_usage(data, &ev);
    } else if (slice_eq_cstr(sev->event, "done")) {
        ev.type = HUB_GW_DONE;
        ev.finish_reason = jslice(data, "finish_reason");
        ev.latency_ms = jint(data, "latency_ms", -1);
        ev.ttft_ms = jint(data, "ttft_ms", -1);
    } else if (slice_eq_cstr(sev->event, "error")) {
        ev.type = HUB_GW_ERROR;
        ev.error_code = jslice(data, "code");
        ev.text = jslice(data, "message");
        ev.retryable = json_is_true(json_object_get(data, "retryable"));
        if (ev.error_code.len == 0) ev.error_code = SLICE_LIT("provider_error");
    } else {
        goto out; /* unknown events are ignored, as SSE intends */
    }
    if (err) goto out;
    if (s->on_event(s->ud, &ev) != 0) err = CORE_ECANCELED;
out:
    json_decref(data);
    if (err) {
        s->failure = err;
        return 1;
    }
    return 0;
}

static void on_sse_comment(void *ud, slice_t comment)
{
    hub_gw_stream *s = ud;
    hub_gw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = HUB_GW_KEEPALIVE;
    ev.text = comment;
    ev.latency_ms = ev.ttft_ms = -1;
    if (!s->failure && s->on_event(s->ud, &ev) != 0) s->failure = CORE_ECANCELED;
}

void hub_gw_stream_init(hub_gw_stream *s, hub_gw_event_fn on_event, void *ud)
{
    s->on_event = on_event;
    s->ud = ud;
    s->failure = CORE_OK;
    sse_parser_init(&s->sse, HUB_GW_MAX_LINE, HUB_GW_MAX_EVENT, on_sse_event, on_sse_comment, s);
}

core_err hub_gw_stream_feed(hub_gw_stream *s, const char *data, size_t len)
{
    if (s->failure) return s->failure;
    core_err err = sse_parser_feed(&s->sse, data, len);
    if (s->failure) return s->failure;
    if (err) s->failure = err;
    return err;
}

core_err hub_gw_stream_finish(hub_gw_stream *s, bool *truncated)
{
    if (s->failure) return s->failure;
    return sse_parser_finish(&s->sse, truncated);
}

void hub_gw_stream_free(hub_gw_stream *s)
{
    sse_parser_free(&s->sse);
}
