/*
 * gw_call.h - the call engine: serves one normalized request by trying its
 * targets (the requested model, then fallbacks) through the right adapter,
 * retrying retryable failures with jittered backoff - but only while nothing
 * has reached the client - and relaying the normalized events to a sink that
 * speaks the front door's wire format.
 *
 * State machine of a call:
 *   PICK -> (target unusable: next target) -> UPSTREAM -> outcome:
 *     success                       -> DONE
 *     retryable error, not committed -> BACKOFF -> UPSTREAM (same target)
 *     retries used up / not retryable -> PICK next fallback, or DONE (error)
 *     error after commit             -> DONE (error event on the wire)
 * "Committed" = the sink has put bytes on the wire (stream sinks commit at the
 * first content event; whole-body sinks never commit before the end).
 *
 * Lifetime: a call holds one reference for the HTTP exchange and one for an
 * active upstream; it is freed (after closing its timers) when both are gone,
 * so neither the client leaving nor the upstream finishing can free it under
 * the other's feet.
 */
#ifndef GW_CALL_H
#define GW_CALL_H

#include "../core/buf.h"
#include "gw_app.h"
#include "gw_validate.h"

/* Ceiling on an upstream error body we keep (the rest is dropped). */
#define GW_MAX_ERROR_BODY (64u * 1024u)

typedef struct gw_call gw_call;

/* A sink turns engine events into one front door's wire format. */
typedef struct {
    bool streams; /* writes to the wire before the call ends */
    /* First content is about to be relayed: send status line + prologue. */
    void (*commit)(gw_call *c);
    /* TEXT, REASONING, TOOL_CALL_START, TOOL_ARGS after commit. */
    void (*event)(gw_call *c, const gw_event *ev);
    /* The call ended after commit (success or error event), or ended
     * successfully without commit (whole-body sinks): write the rest and end. */
    void (*finish)(gw_call *c);
    /* The call failed before commit: answer with an HTTP error. */
    void (*fail)(gw_call *c);
} gw_sink;

typedef struct {
    char *id;
    char *name;
    buf_t args;
} gw_tool_acc;

#define GW_CALL_MAX_TOOLS 16 /* tool calls kept per answer */

struct gw_call {
    arena_t arena; /* lives as long as the call (longer than the HTTP request) */
    http_request *http;
    gw_loop *lp;
    gw_app *app;
    const gw_sink *sink;
    const char *endpoint;
    gw_parsed_request pr;
    gw_caller caller;
    char id[48];     /* "gen_..." / "chatcmpl-..." */
    int64_t created; /* epoch seconds */

    /* Targets: [0] = requested, then fallbacks. */
    struct {
        char *provider;
        char *model;
    } targets[1 + GW_MAX_FALLBACKS + 4];
    int ntargets;
    int cur;          /* index of the target being tried */
    int tries_on_cur; /* attempts on the current target */
    int attempts;     /* upstream attempts in total */
    gw_model_info model_info;

    /* Current attempt. */
    const gw_provider_ops *ops;
    gw_provider_cfg pcfg;
    http_client_call *upstream;
    struct gw_sim_call *sim;
    struct gw_stream *parser;
    int upstream_status;
    bool upstream_streaming; /* 2xx stream response being parsed */
    buf_t body;              /* whole body (non-stream 2xx) or error body */
    uint64_t attempt_start_us;
    core_err transport_err;
    char transport_msg[160];
    bool want_pause;
    bool paused;
    bool in_backoff; /* timer holds the next attempt; no upstream reference */

    /* Output so far (all attempts reset it). */
    buf_t text;
    buf_t reasoning;
    gw_tool_acc *tools; /* heap, grown on demand up to GW_CALL_MAX_TOOLS */
    int ntools, tools_cap;
    gw_usage usage;
    bool have_usage;
    gw_finish finish;
    bool have_finish;
    bool have_error;
    gw_err err;
    int err_status; /* upstream status behind err */
    bool err_retryable;
    int64_t err_retry_after_ms;
    char err_msg[512];
    char actual_model[200];

    /* Outcome. */
    bool committed;
    bool done; /* final answer written or failed */
    bool client_gone;
    uint64_t start_us;
    uint64_t first_token_us;
    uint64_t last_write_ms;
    token_usage_t final_tokens;
    bool final_estimated;
    int64_t cost_pico;
    int64_t latency_ms;
    int64_t ttft_ms;
    int http_status;

    /* Sink scratch. */
    buf_t out;
    int sink_state;
    char *chunk_head; /* OpenAI chunk prefix, rendered once (arena) */
    size_t chunk_head_len;
    int chunk_head_cur; /* target index chunk_head was rendered for */

    uv_timer_t timer;     /* backoff / next step */
    uv_timer_t deadline;  /* whole-request deadline */
    uv_timer_t keepalive; /* SSE comments while the model is silent */
    int refs;
    int open_handles;
    int64_t tpm_reserved;
    struct gw_call *next_on_loop, *prev_on_loop; /* gw_loop.calls */
    bool cancel_requested;      /* its caller asked to stop it (POST /api/generate/:id/cancel) */
    struct gw_call *next_by_id; /* process-wide id index (cancel from any loop) */
};

/* Creates a call for req answering through sink. The handler then parses
 * the body into c->pr using c->arena, and either calls gw_call_start or
 * gw_call_reject. NULL on OOM (the handler answers 500 itself). */
gw_call *gw_call_new(http_request *req, const gw_sink *sink, const char *endpoint,
                     const gw_caller *caller);
/* Resolves targets and starts the first attempt. The caller must not touch
 * req or c afterwards. */
void gw_call_start(gw_call *c);
/* Answers with an error before anything started, and frees the call. */
void gw_call_reject(gw_call *c, gw_err err, const char *msg);
/* Frees a call whose request the caller already answered with status/err
 * (recorded in the usage log like every other answered request). */
void gw_call_discard(gw_call *c, int status, gw_err err);

/* Stops the call with this id on lp if key_id started it: the upstream is
 * cancelled at once and the answer ends normally with finish_reason
 * "cancelled" and the usage so far. Returns false when no such call of that
 * key is open on lp. Loop thread. */
bool gw_call_cancel_by_id(gw_loop *lp, const char *id, const char *key_id);
/* Engine internals shared with gw_upstream.c (loop thread). */
void gw_call_on_event(void *ud, const gw_event *ev); /* a gw_emit_fn */
void gw_call_emit_error(gw_call *c, gw_err code, int status, bool retryable, const char *msg);
void gw_call_schedule_outcome(gw_call *c); /* decide the attempt's fate in a fresh loop turn */
/* Start one attempt on the current target; false when it could not start
 * (an ERROR event was emitted and the outcome must be scheduled). */
bool gw_upstream_start_http(gw_call *c);
bool gw_upstream_start_sim(gw_call *c);

/* The id index (gw_call_registry.c), maintained by the engine: a call is in
 * it from gw_call_new until it is freed. Any thread. */
void gw_call_index_add(gw_call *c);
void gw_call_index_remove(gw_call *c);
/* Any thread: the loop running the open call with this id started by key_id,
 * or NULL (another key's call looks exactly like no call). */
gw_loop *gw_call_find_loop(const char *id, const char *key_id);
/* Posts a cancel to another loop (any thread); it runs there through
 * gw_call_cancel_by_id. CORE_ENOMEM. */
core_err gw_loop_post_cancel(gw_loop *lp, const char *id, const char *key_id);
/* Sets up / tears down the cross-loop cancel queue of lp (its loop thread).
 * gw_loop_cancel_close closes the async handle; on_closed(lp) runs after. */
core_err gw_loop_cancel_init(gw_loop *lp);
void gw_loop_cancel_close(gw_loop *lp, void (*on_closed)(gw_loop *lp));

/* The server's shutdown deadline passed: ends every open call on lp with a
 * clear "shutting down" error (an error event on committed streams, a 503
 * before), cancelling upstream calls. Loop thread. */
void gw_calls_shutdown(gw_loop *lp);

/* The four sinks. */
extern const gw_sink gw_sink_generate_stream;
extern const gw_sink gw_sink_generate_json;
extern const gw_sink gw_sink_openai_stream;
extern const gw_sink gw_sink_openai_json;

/* Helpers for sinks. Sinks append to c->out; gw_call_flush writes it. */
void gw_call_write(gw_call *c, slice_t data);
void gw_call_flush(gw_call *c);
void gw_call_end_stream(gw_call *c);
/* Whole response (ends the HTTP side). */
void gw_call_respond_body(gw_call *c, int status, const char *content_type, slice_t body);
/* Sends the error body matching the endpoint's dialect, before commit. */
void gw_call_respond_error(gw_call *c, int status, gw_err err, const char *msg, bool retryable,
                           int64_t retry_after_ms);
/* "0.000123" cost and the finish reason name for the outcome. */
const char *gw_call_finish_name(const gw_call *c);

#endif
