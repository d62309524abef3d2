/*
 * hub_uistream.h - encoder for the Vercel AI SDK "UI message stream" (SSE,
 * x-vercel-ai-ui-message-stream: v1) that POST /api/chat answers with. It
 * turns the gateway's normalized stream (text, reasoning, tool-call fragments,
 * end, error) into chunks of the strict ai 5.0.0 shape that every v5+ client
 * accepts (see shared/reference/client-protocols.md §1-2):
 *
 *   start{messageId,messageMetadata} start-step
 *   (reasoning-start/-delta/-end | text-start/-delta/-end |
 *    tool-input-start/-delta/-available)*
 *   [error{errorText}] finish-step message-metadata finish{messageMetadata} [DONE]
 *
 * Ordering guarantees: blocks are opened before their deltas and closed before
 * finish; switching between reasoning and text closes the other block first;
 * at most one text and one reasoning block are open at a time; nothing but
 * [DONE] follows finish/abort. Each chunk is a complete "data: ...\n\n" event.
 *
 * Beside the wire bytes it keeps what is needed to store the assistant
 * message: the UI parts (with state "streaming" for blocks still open when the
 * stream was cut) and the plain text. Total kept content is bounded by
 * max_content; past it the feeding call returns CORE_ETOOBIG.
 *
 * Memory: the encoder owns its state; output is appended to the caller's buf.
 * Thread: single owner.
 */
#ifndef HUB_UISTREAM_H
#define HUB_UISTREAM_H

#include "../core/base.h"
#include "../core/buf.h"

#include <jansson.h>

#define HUB_UI_MAX_TOOLS 16

typedef enum {
    HUB_UI_IDLE = 0, /* nothing sent yet */
    HUB_UI_STEP,     /* start + start-step sent, model output flowing */
    HUB_UI_ENDED,    /* finish or abort sent */
} hub_ui_state;

typedef struct {
    bool used;
    bool available; /* tool-input-available sent */
    char *id;
    char *name;
    buf_t args;
} hub_ui_tool;

typedef struct {
    hub_ui_state state;
    bool text_open;
    bool reasoning_open;
    unsigned block_seq;
    char text_id[16];
    char reasoning_id[16];
    buf_t text_block;      /* text of the open text block */
    buf_t reasoning_block; /* text of the open reasoning block */
    buf_t content;         /* every text delta, for storage and search */
    json_t *parts;         /* closed UI parts, in order */
    hub_ui_tool tools[HUB_UI_MAX_TOOLS];
    size_t kept;        /* bytes kept across all buffers */
    size_t max_content; /* ceiling on kept */
} hub_ui_stream;

void hub_ui_init(hub_ui_stream *s, size_t max_content);
void hub_ui_free(hub_ui_stream *s);

/* start (with messageId and optional metadata, borrowed) + start-step. */
core_err hub_ui_start(hub_ui_stream *s, buf_t *out, const char *message_id, const json_t *metadata);
core_err hub_ui_text(hub_ui_stream *s, buf_t *out, slice_t delta);
core_err hub_ui_reasoning(hub_ui_stream *s, buf_t *out, slice_t delta);
/* A tool-call fragment. id and name are needed on the first fragment of an
 * index (empty later); args is a piece of the JSON argument text. An index
 * outside [0, HUB_UI_MAX_TOOLS) is CORE_EINVAL. */
core_err hub_ui_tool_call(hub_ui_stream *s, buf_t *out, int index, slice_t id, slice_t name,
                          slice_t args);
/* Normal end: closes blocks, emits tool-input-available for tool calls,
 * finish-step, message-metadata and finish (both with metadata) and [DONE]. */
core_err hub_ui_finish(hub_ui_stream *s, buf_t *out, const json_t *metadata);
/* Failure after the stream started: error{errorText}, then the same closing
 * sequence as hub_ui_finish (the SDK's own shape for mid-stream failures). */
core_err hub_ui_fail(hub_ui_stream *s, buf_t *out, const char *error_text, const json_t *metadata);
/* Server-side abort while the client is still there: {"type":"abort"}, [DONE]. */
core_err hub_ui_abort(hub_ui_stream *s, buf_t *out);

/* New reference: the UI parts of the message so far, tool calls as
 * "tool-<name>" parts. Blocks still open are included with state "done" when
 * the answer is complete (it is stored just before the closing chunks are
 * sent) and "streaming" when it was cut. */
json_t *hub_ui_parts(const hub_ui_stream *s, bool complete);
/* The plain text produced so far (valid until the next call). */
slice_t hub_ui_content(const hub_ui_stream *s);

#endif
