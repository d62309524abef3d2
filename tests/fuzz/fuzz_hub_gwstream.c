/*
 * fuzz_hub_gwstream.c - libFuzzer target for teamhub's reader of aigw's
 * /api/generate SSE stream, chained into the UI message stream encoder as in
 * POST /api/chat. Each input is read twice, whole and in pieces whose size
 * comes from the first byte; both runs must produce the same events, the same
 * UI bytes and the same error. Every UI chunk must be one "data: " line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "hub/hub_gwstream.h"
#include "hub/hub_uistream.h"

typedef struct {
    buf_t digest;
    buf_t ui_out;
    hub_ui_stream ui;
} run_state;

static int on_event(void *ud, const hub_gw_event *ev)
{
    run_state *st = ud;
    buf_printf(&st->digest, "%d:", (int)ev->type);
    switch (ev->type) {
    case HUB_GW_TEXT:
        hub_ui_text(&st->ui, &st->ui_out, ev->text);
        break;
    case HUB_GW_REASONING:
        hub_ui_reasoning(&st->ui, &st->ui_out, ev->text);
        break;
    case HUB_GW_TOOL_CALL:
        hub_ui_tool_call(&st->ui, &st->ui_out, ev->tool_index, ev->tool_id, ev->tool_name,
                         ev->text);
        break;
    case HUB_GW_USAGE:
        buf_printf(&st->digest, "%lld/%lld;", (long long)ev->usage.output,
                   (long long)ev->cost_pico);
        break;
    default:
        break;
    }
    buf_append(&st->digest, ev->text.ptr ? ev->text.ptr : "", ev->text.len);
    buf_append_char(&st->digest, ';');
    return 0;
}

static void run(const uint8_t *data, size_t size, size_t piece, run_state *st)
{
    buf_init(&st->digest, 0);
    buf_init(&st->ui_out, 0);
    hub_ui_init(&st->ui, 1 << 20);
    hub_ui_start(&st->ui, &st->ui_out, "msg_fuzz", NULL);
    hub_gw_stream reader;
    hub_gw_stream_init(&reader, on_event, st);
    core_err err = CORE_OK;
    for (size_t fed = 0; fed < size && !err;) {
        size_t n = piece ? piece : size;
        if (n > size - fed) n = size - fed;
        err = hub_gw_stream_feed(&reader, (const char *)data + fed, n);
        fed += n;
    }
    bool truncated = false;
    if (!err) err = hub_gw_stream_finish(&reader, &truncated);
    buf_printf(&st->digest, "|err=%d,trunc=%d", (int)err, truncated && !err);
    hub_ui_finish(&st->ui, &st->ui_out, NULL);
    json_t *parts = hub_ui_parts(&st->ui, true);
    if (!parts) abort();
    json_decref(parts);
    hub_gw_stream_free(&reader);
}

static void check_framing(const buf_t *out)
{
    const char *p = out->data ? out->data : "";
    while (*p) {
        if (strncmp(p, "data: ", 6) != 0) abort();
        const char *end = strstr(p, "\n\n");
        if (!end || memchr(p, '\n', (size_t)(end - p)) != NULL) abort();
        p = end + 2;
    }
}

static void done(run_state *st)
{
    buf_free(&st->digest);
    buf_free(&st->ui_out);
    hub_ui_free(&st->ui);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t piece = (size_t)(data[0] % 17) + 1;
    run_state whole, pieces;
    run(data + 1, size - 1, 0, &whole);
    run(data + 1, size - 1, piece, &pieces);
    if (whole.digest.len != pieces.digest.len ||
        memcmp(whole.digest.data, pieces.digest.data, whole.digest.len) != 0)
        abort();
    if (whole.ui_out.len != pieces.ui_out.len ||
        memcmp(whole.ui_out.data, pieces.ui_out.data, whole.ui_out.len) != 0)
        abort();
    check_framing(&whole.ui_out);
    done(&whole);
    done(&pieces);
    return 0;
}
