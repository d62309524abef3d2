/*
 * provider.h - the adapter contract. Each HTTP provider (openai, deepseek,
 * fal, eden, local) is one file implementing gw_provider_ops: it turns a
 * gw_request into an upstream HTTP request, and turns the upstream's bytes
 * (streamed or whole) and errors back into gw_events. Adapters do no I/O:
 * the router owns the HTTP call and feeds bytes in, so every parser can be
 * unit-tested at every byte split point and fuzzed.
 *
 * The simulator is not an HTTP provider; see provider_simulator.h.
 *
 * Event invariants every adapter guarantees through its parser:
 *   START before anything else (exactly once, synthesized on the first
 *   chunk); TEXT/REASONING/TOOL_* in arrival order; at most one FINISH;
 *   at most one USAGE, emitted at the end (the last non-null usage seen);
 *   DONE exactly once, last, from finish(): if the body ended without a
 *   proper end (no [DONE]/final event) and no FINISH was seen, an ERROR with
 *   GW_ERR_UPSTREAM_TRUNCATED precedes DONE. Usage with exact=false is
 *   emitted when the provider sent none (the router fills in the estimate).
 * Details the adapters add (provider_oai.c, adapter_util.c):
 *   START carries the id/model the provider reported, both empty when it
 *   reported none (fal, Eden v2): the router knows what it asked for.
 *   USAGE comes exactly once, immediately before DONE, also after an ERROR
 *   (so a cut stream still bills what the provider reported). After ERROR
 *   only USAGE and DONE follow; after FINISH no more deltas.
 *   tool_index is dense (0, 1, ... in order of first appearance, below
 *   GW_MAX_TOOL_CALLS) whatever indices the provider used.
 *   Error messages are provider text (raw JSON string content, escapes kept,
 *   at most 512 bytes) or static text; auth errors always use static text so
 *   a provider echoing our key can never leak it.
 */
#ifndef GW_PROVIDER_H
#define GW_PROVIDER_H

#include "../core/buf.h"
#include "gw_types.h"

/* Ceilings on what an upstream may send us. */
#define GW_MAX_SSE_LINE      (1u << 20)  /* 1 MiB per line */
#define GW_MAX_SSE_EVENT     (4u << 20)  /* 4 MiB per event */
#define GW_MAX_RESPONSE_BODY (16u << 20) /* 16 MiB non-stream body */
#define GW_MAX_TOOL_ARGS     (1u << 20)  /* 1 MiB of arguments per tool call */
#define GW_MAX_TOOL_CALLS    64

typedef struct {
    const char *name;        /* "openai" */
    const char *base_url;    /* e.g. "https://api.openai.com/v1"; overridable by env */
    const char *api_key;     /* NULL = unconfigured; never logged */
    const char *api_variant; /* eden: "v3" (default) or "v2"; else NULL. Only
                              * build() needs it: the parsers recognise the
                              * generation from the bytes. */
} gw_provider_cfg;

/* An upstream HTTP request built by an adapter; strings live in the arena. */
typedef struct {
    const char *method;
    const char *url;
    const char *headers[16]; /* "Name: value", NULL-terminated */
    size_t nheaders;
    slice_t body;
    bool stream; /* response will be a stream to feed to the stream parser */
} gw_upstream_req;

typedef struct gw_stream gw_stream; /* adapter-private parser state */

typedef struct {
    const char *name;
    /* Builds the upstream request. GW_ERR_INVALID_REQUEST when the request
     * asks for something the provider cannot do (message says what). */
    gw_err (*build)(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                    gw_upstream_req *out, const char **errmsg);

    /* Streaming (2xx stream responses). stream_new returns NULL on OOM. */
    gw_stream *(*stream_new)(const gw_request *req, gw_emit_fn emit, void *ud);
    /* Feeds raw body bytes. Returns CORE_OK, or an error after which the
     * parser already emitted ERROR (e.g. CORE_ETOOBIG, CORE_EPARSE, CORE_EIO
     * when the provider reported an error inside the stream); the caller
     * then calls stream_finish, which emits DONE. */
    core_err (*stream_feed)(gw_stream *s, const char *data, size_t len);
    /* End of body (clean or not); emits the trailing USAGE/ERROR/DONE. */
    void (*stream_finish)(gw_stream *s);
    void (*stream_free)(gw_stream *s);

    /* Whole 2xx non-stream body -> the same event sequence, DONE included. */
    void (*parse_response)(const gw_request *req, slice_t body, gw_emit_fn emit, void *ud);

    /* Non-2xx response (or a 2xx body the provider uses to report failure)
     * -> error info. header(name) looks up a response header. message and
     * provider_code point into body or static text. */
    void (*map_error)(int status, slice_t body, slice_t (*header)(void *hud, const char *name),
                      void *hud, gw_error_info *out);

    /* Optional: request + parser for the provider's model list (local
     * servers discover models from /v1/models). NULL when unsupported. */
    gw_err (*build_models)(const gw_provider_cfg *cfg, arena_t *arena, gw_upstream_req *out);
    /* Parses the list into a JSON array of {"model":..,"context_length":n|null}. */
    json_t *(*parse_models)(slice_t body);
} gw_provider_ops;

extern const gw_provider_ops gw_provider_openai;
extern const gw_provider_ops gw_provider_deepseek;
extern const gw_provider_ops gw_provider_fal;
extern const gw_provider_ops gw_provider_eden;
extern const gw_provider_ops gw_provider_local;

/* Looks up adapter ops by provider name; NULL if unknown (or "simulator"). */
const gw_provider_ops *gw_provider_find(const char *name);

#endif
