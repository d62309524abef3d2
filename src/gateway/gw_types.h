/*
 * gw_types.h - the gateway's normalized vocabulary: error codes (1:1 with the
 * documented API error codes), the normalized request every front door
 * (/api/generate, /v1/chat/completions) is turned into, and the normalized
 * event stream every provider adapter produces.
 *
 * The normalized request keeps messages in the OpenAI chat format as jansson
 * values (most providers speak that dialect); adapters for other wire formats
 * translate from it.
 */
#ifndef GW_TYPES_H
#define GW_TYPES_H

#include "../core/arena.h"
#include "../core/base.h"
#include "../core/money.h"

#include <jansson.h>

/* The documented API error codes. Rendered by gw_err_code(); HTTP status by
 * gw_err_status(). Keep docs/API.md in sync. */
typedef enum {
    GW_OK = 0,
    GW_ERR_INVALID_REQUEST,    /* 400 */
    GW_ERR_UNAUTHORIZED,       /* 401 */
    GW_ERR_FORBIDDEN,          /* 403 key may not use this model/provider */
    GW_ERR_NOT_FOUND,          /* 404 no such route/resource */
    GW_ERR_MODEL_NOT_FOUND,    /* 404 unknown provider/model */
    GW_ERR_MODEL_UNAVAILABLE,  /* 503 unconfigured, circuit open, overloaded */
    GW_ERR_RATE_LIMITED,       /* 429 ours or the provider's */
    GW_ERR_PROVIDER_QUOTA,     /* 402 provider account out of credit */
    GW_ERR_PROVIDER_AUTH,      /* 502 provider rejected our credentials */
    GW_ERR_PROVIDER_ERROR,     /* 502 provider failed or answered garbage */
    GW_ERR_TIMEOUT,            /* 504 */
    GW_ERR_UPSTREAM_TRUNCATED, /* stream cut before it finished (only after first byte) */
    GW_ERR_PAYLOAD_TOO_LARGE,  /* 413 */
    GW_ERR_BUDGET_EXCEEDED,    /* 402 */
    GW_ERR_CLIENT_CLOSED,      /* 499 client went away (logged, never sent) */
    GW_ERR_INTERNAL,           /* 500 */
    GW_ERR__COUNT
} gw_err;

const char *gw_err_code(gw_err e); /* "invalid_request", ... */
int gw_err_status(gw_err e);       /* HTTP status before the first byte */
bool gw_err_from_code(const char *code, gw_err *out);

typedef enum {
    GW_FIN_STOP = 0,
    GW_FIN_LENGTH,
    GW_FIN_TOOL_CALLS,
    GW_FIN_CONTENT_FILTER,
    GW_FIN_ERROR,
    GW_FIN_OTHER,
} gw_finish;

const char *gw_finish_name(gw_finish f); /* OpenAI spelling: "stop", "tool_calls", ... */

/* Normalized request. Owned by the request arena; json values hold one
 * reference each, released by gw_request_release. */
typedef struct {
    char *provider;      /* registry provider name: "openai", "simulator", ... */
    char *model;         /* provider's model id */
    json_t *messages;    /* OpenAI chat messages, system prompt NOT included */
    char *system_prompt; /* NULL when absent */
    json_t *tools;       /* OpenAI tools array or NULL */
    json_t *tool_choice; /* NULL = provider default */
    bool stream;
    bool json_mode;      /* response_format json_object */
    json_t *json_schema; /* response_format json_schema object, or NULL */
    int64_t max_tokens;  /* 0 = not set */
    bool has_temperature;
    double temperature;     /* sampling parameter, not money */
    char *reasoning_effort; /* NULL or "low"/"medium"/"high"/... */
    json_t *simulate;       /* simulator fault/speed directives, or NULL */
    json_t *metadata;       /* caller metadata, logged with usage */
} gw_request;

void gw_request_release(gw_request *r);

/* Usage as reported (or estimated). Token semantics as token_usage_t:
 * input includes cached_input, output includes reasoning. */
typedef struct {
    token_usage_t tokens;
    int64_t provider_cost_pico; /* cost the provider reported, -1 if none */
    bool exact;                 /* false = counted locally */
} gw_usage;

typedef enum {
    GW_EV_START = 0,       /* once: id, model (actual model the provider reports) */
    GW_EV_TEXT,            /* text: a fragment of whole UTF-8 code points */
    GW_EV_REASONING,       /* text */
    GW_EV_TOOL_CALL_START, /* tool_index, tool_id, tool_name */
    GW_EV_TOOL_ARGS,       /* tool_index, text: raw argument fragment */
    GW_EV_TOOL_CALL_END,   /* tool_index, text: full arguments, args_valid_json */
    GW_EV_USAGE,           /* usage (last one wins) */
    GW_EV_FINISH,          /* finish, finish_raw */
    GW_EV_ERROR,           /* error */
    GW_EV_DONE,            /* exactly once, always last */
} gw_ev_type;

typedef struct {
    gw_err code;
    int http_status; /* upstream status, 0 when none */
    bool retryable;
    int64_t retry_after_ms; /* -1 when the provider gave no hint */
    slice_t message;        /* human text, never containing secrets */
    slice_t provider_code;  /* provider's own code string, may be empty */
} gw_error_info;

typedef struct {
    gw_ev_type type;
    slice_t id;           /* START */
    slice_t model;        /* START */
    slice_t text;         /* TEXT, REASONING, TOOL_ARGS, TOOL_CALL_END */
    int tool_index;       /* TOOL_* */
    slice_t tool_id;      /* TOOL_CALL_START */
    slice_t tool_name;    /* TOOL_CALL_START */
    bool args_valid_json; /* TOOL_CALL_END */
    gw_usage usage;       /* USAGE */
    gw_finish finish;     /* FINISH */
    slice_t finish_raw;   /* FINISH */
    gw_error_info error;  /* ERROR */
} gw_event;

/* Slices in ev are valid only during the call. */
typedef void (*gw_emit_fn)(void *ud, const gw_event *ev);

/* Estimate of the token count of UTF-8 text when a provider reports none
 * (about 4 bytes per token for English, at least one per word). */
int64_t gw_tokens_estimate(slice_t text);
/* Estimated input tokens of a normalized request (messages + system + tools). */
int64_t gw_tokens_estimate_request(const gw_request *r);

#endif
