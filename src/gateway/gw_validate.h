/*
 * gw_validate.h - turns the two front doors' request bodies into one
 * gw_request, with a precise error message for anything malformed:
 *   POST /api/generate          (DESIGN.md §3 shape)
 *   POST /v1/chat/completions   (OpenAI shape, model "provider/model")
 *
 * Both functions parse body (any bytes: the input is hostile), fill *out with
 * arena strings and owned json references (release with gw_request_release
 * even on failure), and return GW_OK or GW_ERR_INVALID_REQUEST with a
 * human-readable reason in errbuf. Pure functions: no I/O, any thread.
 */
#ifndef GW_VALIDATE_H
#define GW_VALIDATE_H

#include "gw_types.h"

#define GW_MAX_MESSAGES    10000
#define GW_MAX_TOOLS       128
#define GW_MAX_FALLBACKS   4
#define GW_MAX_MAX_TOKENS  4000000

typedef struct {
    gw_request req;
    /* Fallback targets requested by the caller, "provider/model" each. */
    char *fallbacks[GW_MAX_FALLBACKS];
    int nfallbacks;
    bool include_usage; /* /v1 stream_options.include_usage */
} gw_parsed_request;

gw_err gw_parse_generate(slice_t body, arena_t *arena, gw_parsed_request *out, char *errbuf,
                         size_t errlen);
gw_err gw_parse_chat_completions(slice_t body, arena_t *arena, gw_parsed_request *out,
                                 char *errbuf, size_t errlen);

/* Splits "provider/model" at the first '/', into arena strings. false when
 * either side is empty. */
bool gw_split_model_id(const char *id, arena_t *arena, char **provider, char **model);

#endif
