/*
 * hub_gwstream.h - reader for aigw's streaming answer to POST /api/generate
 * (DESIGN §3): SSE events start, delta, usage, done and error, each with a
 * JSON data payload, decoded into one tagged event per callback. Bytes are fed
 * exactly as they arrive; any split gives the same events (the SSE layer is
 * core/sse_parser).
 *
 * Errors from hub_gw_stream_feed: CORE_ETOOBIG (line/event ceiling),
 * CORE_EPARSE (payload not the documented JSON shape), CORE_ECANCELED (the
 * callback returned non-zero). After any error the reader is poisoned.
 *
 * Slices in an event are valid only during the callback. Thread: single owner.
 */
#ifndef HUB_GWSTREAM_H
#define HUB_GWSTREAM_H

#include "../core/base.h"
#include "../core/money.h"
#include "../core/sse_parser.h"

typedef enum {
    HUB_GW_START = 0, /* id, provider, model */
    HUB_GW_TEXT,      /* text */
    HUB_GW_REASONING, /* text */
    HUB_GW_TOOL_CALL, /* tool_index, tool_id?, tool_name?, text = argument fragment */
    HUB_GW_USAGE,     /* usage, cost_pico, estimated */
    HUB_GW_DONE,      /* finish_reason, latency_ms, ttft_ms (-1 when absent) */
    HUB_GW_ERROR,     /* error_code, text = message, retryable */
    HUB_GW_KEEPALIVE, /* an SSE comment: the gateway is alive while the model is silent */
} hub_gw_event_type;

typedef struct {
    hub_gw_event_type type;
    slice_t id;
    slice_t provider;
    slice_t model;
    slice_t text;
    int tool_index;
    slice_t tool_id;
    slice_t tool_name;
    token_usage_t usage;
    int64_t cost_pico;
    bool estimated;
    slice_t finish_reason;
    int64_t latency_ms;
    int64_t ttft_ms;
    slice_t error_code;
    bool retryable;
} hub_gw_event;

/* Return 0 to continue, non-zero to stop (feed then returns CORE_ECANCELED). */
typedef int (*hub_gw_event_fn)(void *ud, const hub_gw_event *ev);

typedef struct {
    sse_parser sse;
    hub_gw_event_fn on_event;
    void *ud;
    core_err failure; /* first decoding error, CORE_OK while healthy */
} hub_gw_stream;

#define HUB_GW_MAX_LINE  (256 * 1024)
#define HUB_GW_MAX_EVENT (1024 * 1024)

void hub_gw_stream_init(hub_gw_stream *s, hub_gw_event_fn on_event, void *ud);
core_err hub_gw_stream_feed(hub_gw_stream *s, const char *data, size_t len);
/* End of body; *truncated tells whether a partial event was pending. */
core_err hub_gw_stream_finish(hub_gw_stream *s, bool *truncated);
void hub_gw_stream_free(hub_gw_stream *s);

#endif
