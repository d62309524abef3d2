/*
 * hub_uistream.c - the UI message stream encoder (see hub_uistream.h). Chunks
 * with model text are written by hand (one escape pass over the delta); the
 * rarer structured chunks go through jansson.
 */
#include "hub_uistream.h"

#include <stdio.h>
#include <stdlib.h>

#define BLOCK_MAX ((size_t)64 * 1024 * 1024) /* per-buffer hard cap; kept is the real one */

void hub_ui_init(hub_ui_stream *s, size_t max_content)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->text_block, BLOCK_MAX);
    buf_init(&s->reasoning_block, BLOCK_MAX);
    buf_init(&s->content, BLOCK_MAX);
    s->parts = json_array();
    s->max_content = max_content;
}

void hub_ui_free(hub_ui_stream *s)
{
    buf_free(&s->text_block);
    buf_free(&s->reasoning_block);
    buf_free(&s->content);
    json_decref(s->parts);
    s->parts = NULL;
    for (size_t i = 0; i < HUB_UI_MAX_TOOLS; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        buf_free(&s->tools[i].args);
    }
}

/* Counts bytes against the content ceiling. */
static core_err keep(hub_ui_stream *s, size_t n)
{
    if (s->max_content && s->kept + n > s->max_content) return CORE_ETOOBIG;
    s->kept += n;
    return CORE_OK;
}

/* "data: <compact json>\n\n" for obj (borrowed). */
static core_err emit_json(buf_t *out, const json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text) return CORE_ENOMEM;
    core_err err = buf_printf(out, "data: %s\n\n", text);
    free(text);
    return err;
}

/* {"type":type} */
static core_err emit_bare(buf_t *out, const char *type)
{
    return buf_printf(out, "data: {\"type\":\"%s\"}\n\n", type);
}

/* {"type":type,"id":id} */
static core_err emit_block(buf_t *out, const char *type, const char *id)
{
    return buf_printf(out, "data: {\"type\":\"%s\",\"id\":\"%s\"}\n\n", type, id);
}

static core_err emit_delta(buf_t *out, const char *type, const char *id, slice_t delta)
{
    core_err err = buf_printf(out, "data: {\"type\":\"%s\",\"id\":\"%s\",\"delta\":\"", type, id);
    if (!err) err = buf_append_json_escaped(out, delta);
    if (!err) err = buf_append_cstr(out, "\"}\n\n");
    return err;
}

static core_err add_part(hub_ui_stream *s, const char *type, slice_t text, const char *state)
{
    json_t *part = json_object();
    if (!part) return CORE_ENOMEM;
    json_object_set_new(part, "type", json_string(type));
    json_object_set_new(part, "text", json_stringn(text.ptr ? text.ptr : "", text.len));
    json_object_set_new(part, "state", json_string(state));
    return json_array_append_new(s->parts, part) == 0 ? CORE_OK : CORE_ENOMEM;
}

static core_err close_text(hub_ui_stream *s, buf_t *out)
{
    if (!s->text_open) return CORE_OK;
    s->text_open = false;
    core_err err = emit_block(out, "text-end", s->text_id);
    if (!err) err = add_part(s, "text", buf_slice(&s->text_block), "done");
    buf_reset(&s->text_block);
    return err;
}

static core_err close_reasoning(hub_ui_stream *s, buf_t *out)
{
    if (!s->reasoning_open) return CORE_OK;
    s->reasoning_open = false;
    core_err err = emit_block(out, "reasoning-end", s->reasoning_id);
    if (!err) err = add_part(s, "reasoning", buf_slice(&s->reasoning_block), "done");
    buf_reset(&s->reasoning_block);
    return err;
}

core_err hub_ui_start(hub_ui_stream *s, buf_t *out, const char *message_id, const json_t *metadata)
{
    if (s->state != HUB_UI_IDLE) return CORE_EINVAL;
    json_t *start = json_object();
    if (!start) return CORE_ENOMEM;
    json_object_set_new(start, "type", json_string("start"));
    json_object_set_new(start, "messageId", json_string(message_id));
    if (metadata) json_object_set(start, "messageMetadata", (json_t *)metadata);
    core_err err = emit_json(out, start);
    json_decref(start);
    if (!err) err = emit_bare(out, "start-step");
    if (!err) {
        json_t *step = json_object();
        json_object_set_new(step, "type", json_string("step-start"));
        json_array_append_new(s->parts, step);
        s->state = HUB_UI_STEP;
    }
    return err;
}

core_err hub_ui_text(hub_ui_stream *s, buf_t *out, slice_t delta)
{
    if (s->state != HUB_UI_STEP) return CORE_EINVAL;
    if (delta.len == 0) return CORE_OK;
    core_err err = keep(s, delta.len * 2);
    if (err) return err;
    if ((err = close_reasoning(s, out))) return err;
    if (!s->text_open) {
        snprintf(s->text_id, sizeof s->text_id, "t%u", s->block_seq++);
        if ((err = emit_block(out, "text-start", s->text_id))) return err;
        s->text_open = true;
    }
    if ((err = buf_append_slice(&s->text_block, delta))) return err;
    if ((err = buf_append_slice(&s->content, delta))) return err;
    return emit_delta(out, "text-delta", s->text_id, delta);
}

core_err hub_ui_reasoning(hub_ui_stream *s, buf_t *out, slice_t delta)
{
    if (s->state != HUB_UI_STEP) return CORE_EINVAL;
    if (delta.len == 0) return CORE_OK;
    core_err err = keep(s, delta.len);
    if (err) return err;
    if ((err = close_text(s, out))) return err;
    if (!s->reasoning_open) {
        snprintf(s->reasoning_id, sizeof s->reasoning_id, "r%u", s->block_seq++);
        if ((err = emit_block(out, "reasoning-start", s->reasoning_id))) return err;
        s->reasoning_open = true;
    }
    if ((err = buf_append_slice(&s->reasoning_block, delta))) return err;
    return emit_delta(out, "reasoning-delta", s->reasoning_id, delta);
}

core_err hub_ui_tool_call(hub_ui_stream *s, buf_t *out, int index, slice_t id, slice_t name,
                          slice_t args)
{
    if (s->state != HUB_UI_STEP) return CORE_EINVAL;
    if (index < 0 || index >= HUB_UI_MAX_TOOLS) return CORE_EINVAL;
    hub_ui_tool *t = &s->tools[index];
    core_err err = keep(s, args.len + id.len + name.len);
    if (err) return err;
    if (!t->used) {
        if ((err = close_text(s, out)) || (err = close_reasoning(s, out))) return err;
        char fallback[24];
        if (id.len == 0) {
            snprintf(fallback, sizeof fallback, "call_%d", index);
            id = slice_from_cstr(fallback);
        }
        t->id = slice_dup(id);
        t->name = slice_dup(name.len ? name : SLICE_LIT("tool"));
        if (!t->id || !t->name) return CORE_ENOMEM;
        buf_init(&t->args, BLOCK_MAX);
        t->used = true;
        json_t *start = json_pack("{s:s,s:s,s:s}", "type", "tool-input-start", "toolCallId", t->id,
                                  "toolName", t->name);
        if (!start) return CORE_ENOMEM;
        err = emit_json(out, start);
        json_decref(start);
        if (err) return err;
    }
    if (args.len == 0 || t->available) return CORE_OK;
    if ((err = buf_append_slice(&t->args, args))) return err;
    json_t *delta = json_pack("{s:s,s:s,s:s%}", "type", "tool-input-delta", "toolCallId", t->id,
                              "inputTextDelta", args.ptr, args.len);
    if (!delta) return CORE_ENOMEM;
    err = emit_json(out, delta);
    json_decref(delta);
    return err;
}

/* The parsed arguments, or the raw text as a JSON string when not valid JSON. */
static json_t *tool_input(const hub_ui_tool *t)
{
    slice_t raw = buf_slice(&t->args);
    if (raw.len == 0) return json_object();
    json_t *parsed = json_loadb(raw.ptr, raw.len, JSON_DECODE_ANY, NULL);
    return parsed ? parsed : json_stringn(raw.ptr, raw.len);
}

static core_err close_tools(hub_ui_stream *s, buf_t *out)
{
    for (size_t i = 0; i < HUB_UI_MAX_TOOLS; i++) {
        hub_ui_tool *t = &s->tools[i];
        if (!t->used || t->available) continue;
        json_t *input = tool_input(t);
        json_t *chunk = json_pack("{s:s,s:s,s:s,s:O}", "type", "tool-input-available", "toolCallId",
                                  t->id, "toolName", t->name, "input", input);
        json_decref(input);
        if (!chunk) return CORE_ENOMEM;
        core_err err = emit_json(out, chunk);
        json_decref(chunk);
        if (err) return err;
        t->available = true;
    }
    return CORE_OK;
}

static core_err close_all(hub_ui_stream *s, buf_t *out, const json_t *metadata)
{
    core_err err;
    if ((err = close_reasoning(s, out)) || (err = close_text(s, out)) ||
        (err = close_tools(s, out)))
        return err;
    if ((err = emit_bare(out, "finish-step"))) return err;
    if (metadata) {
        json_t *mm =
            json_pack("{s:s,s:O}", "type", "message-metadata", "messageMetadata", metadata);
        if (!mm) return CORE_ENOMEM;
        err = emit_json(out, mm);
        json_decref(mm);
        if (err) return err;
    }
    json_t *fin = json_pack("{s:s}", "type", "finish");
    if (!fin) return CORE_ENOMEM;
    if (metadata) json_object_set(fin, "messageMetadata", (json_t *)metadata);
    err = emit_json(out, fin);
    json_decref(fin);
    if (err) return err;
    s->state = HUB_UI_ENDED;
    return buf_append_cstr(out, "data: [DONE]\n\n");
}

core_err hub_ui_finish(hub_ui_stream *s, buf_t *out, const json_t *metadata)
{
    if (s->state != HUB_UI_STEP) return CORE_EINVAL;
    return close_all(s, out, metadata);
}

core_err hub_ui_fail(hub_ui_stream *s, buf_t *out, const char *error_text, const json_t *metadata)
{
    if (s->state != HUB_UI_STEP) return CORE_EINVAL;
    json_t *chunk = json_pack("{s:s,s:s}", "type", "error", "errorText",
                              error_text ? error_text : "An error occurred.");
    if (!chunk) return CORE_ENOMEM;
    core_err err = emit_json(out, chunk);
    json_decref(chunk);
    if (err) return err;
    return close_all(s, out, metadata);
}

core_err hub_ui_abort(hub_ui_stream *s, buf_t *out)
{
    if (s->state == HUB_UI_ENDED) return CORE_EINVAL;
    s->state = HUB_UI_ENDED;
    core_err err = emit_bare(out, "abort");
    if (!err) err = buf_append_cstr(out, "data: [DONE]\n\n");
    return err;
}

json_t *hub_ui_parts(const hub_ui_stream *s, bool complete)
{
    json_t *parts = json_deep_copy(s->parts);
    if (!parts) return NULL;
    const char *open_state = complete ? "done" : "streaming";
    if (s->reasoning_open) {
        slice_t r = buf_slice(&s->reasoning_block);
        json_array_append_new(parts, json_pack("{s:s,s:s%,s:s}", "type", "reasoning", "text", r.ptr,
                                               r.len, "state", "streaming"));
    }
    if (s->text_open) {
        slice_t t = buf_slice(&s->text_block);
        json_array_append_new(parts, json_pack("{s:s,s:s%,s:s}", "type", "text", "text", t.ptr,
                                               t.len, "state", open_state));
    }
    for (size_t i = 0; i < HUB_UI_MAX_TOOLS; i++) {
        const hub_ui_tool *t = &s->tools[i];
        if (!t->used) continue;
        char type[160];
        snprintf(type, sizeof type, "tool-%s", t->name);
        json_t *part =
            json_pack("{s:s,s:s,s:s}", "type", type, "toolCallId", t->id, "state",
                      (t->available || complete) ? "input-available" : "input-streaming");
        if (part && (t->available || complete)) json_object_set_new(part, "input", tool_input(t));
        if (part) json_array_append_new(parts, part);
    }
    return parts;
}

slice_t hub_ui_content(const hub_ui_stream *s)
{
    return buf_slice(&s->content);
}
