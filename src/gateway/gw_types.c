/*
 * gw_types.c - rendering of the gateway's error codes and finish reasons,
 * release of normalized requests, and the local token estimate used when a
 * provider reports no usage.
 *
 * The estimate is a documented, deterministic heuristic (no tokenizer):
 *   units  = 1 per ASCII byte (and per invalid byte), 2 per 2-byte UTF-8
 *            code point, 4 per 3- or 4-byte code point (CJK, emoji);
 *   tokens = max(words, ceil(units / 4)), words = runs of non-space bytes.
 * English averages ~4 characters per token, CJK about one token per
 * character, so this errs on the high side rather than billing zero.
 */
#include "gw_types.h"

#include <stdlib.h>

static const struct {
    const char *code;
    int status;
} gw_err_table[GW_ERR__COUNT] = {
    [GW_OK] = {"ok", 200},
    [GW_ERR_INVALID_REQUEST] = {"invalid_request", 400},
    [GW_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [GW_ERR_FORBIDDEN] = {"forbidden", 403},
    [GW_ERR_NOT_FOUND] = {"not_found", 404},
    [GW_ERR_MODEL_NOT_FOUND] = {"model_not_found", 404},
    [GW_ERR_MODEL_UNAVAILABLE] = {"model_unavailable", 503},
    [GW_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [GW_ERR_PROVIDER_QUOTA] = {"provider_quota", 402},
    [GW_ERR_PROVIDER_AUTH] = {"provider_auth", 502},
    [GW_ERR_PROVIDER_ERROR] = {"provider_error", 502},
    [GW_ERR_TIMEOUT] = {"timeout", 504},
    [GW_ERR_UPSTREAM_TRUNCATED] = {"upstream_truncated", 502},
    [GW_ERR_PAYLOAD_TOO_LARGE] = {"payload_too_large", 413},
    [GW_ERR_BUDGET_EXCEEDED] = {"budget_exceeded", 402},
    [GW_ERR_CLIENT_CLOSED] = {"client_closed", 499},
    [GW_ERR_INTERNAL] = {"internal", 500},
};

const char *gw_err_code(gw_err e)
{
    if ((unsigned)e >= GW_ERR__COUNT) return "internal";
    return gw_err_table[e].code;
}

int gw_err_status(gw_err e)
{
    if ((unsigned)e >= GW_ERR__COUNT) return 500;
    return gw_err_table[e].status;
}

bool gw_err_from_code(const char *code, gw_err *out)
{
    if (!code) return false;
    for (int i = 0; i < GW_ERR__COUNT; i++) {
        if (strcmp(gw_err_table[i].code, code) == 0) {
            *out = (gw_err)i;
            return true;
        }
    }
    return false;
}

const char *gw_finish_name(gw_finish f)
{
    switch (f) {
    case GW_FIN_STOP:
        return "stop";
    case GW_FIN_LENGTH:
        return "length";
    case GW_FIN_TOOL_CALLS:
        return "tool_calls";
    case GW_FIN_CONTENT_FILTER:
        return "content_filter";
    case GW_FIN_ERROR:
        return "error";
    case GW_FIN_OTHER:
        break;
    }
    return "other";
}

void gw_request_release(gw_request *r)
{
    if (!r) return;
    json_decref(r->messages);
    json_decref(r->tools);
    json_decref(r->tool_choice);
    json_decref(r->json_schema);
    json_decref(r->simulate);
    json_decref(r->metadata);
    r->messages = r->tools = r->tool_choice = r->json_schema = r->simulate = r->metadata = NULL;
}

int64_t gw_tokens_estimate(slice_t text)
{
    int64_t units = 0, words = 0;
    bool in_word = false;
    size_t i = 0;
    while (i < text.len) {
        unsigned char c = (unsigned char)text.ptr[i];
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (!space && !in_word) words++;
        in_word = !space;
        size_t seq = 1;
        if (c >= 0xC2 && c <= 0xDF)
            seq = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            seq = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            seq = 4;
        /* a valid multi-byte sequence needs its continuation bytes */
        if (seq > 1) {
            if (i + seq > text.len) seq = 1;
            for (size_t k = 1; k < seq; k++)
                if (((unsigned char)text.ptr[i + k] & 0xC0) != 0x80) seq = 1;
        }
        units += seq == 1 ? 1 : seq == 2 ? 2 : 4;
        i += seq;
    }
    int64_t by_size = (units + 3) / 4;
    return by_size > words ? by_size : words;
}

/* Per-message framing overhead, as OpenAI's chat format adds ~3-4 tokens. */
#define GW_TOKENS_PER_MESSAGE 4
/* A low-detail image costs 85 tokens at OpenAI; a floor for any image part. */
#define GW_TOKENS_PER_IMAGE 85
/* Every reply is primed with a few tokens. */
#define GW_TOKENS_REPLY_PRIMING 3

static int64_t estimate_json_text(json_t *v)
{
    if (!v) return 0;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return 0;
    int64_t n = gw_tokens_estimate(slice_from_cstr(text));
    free(text);
    return n;
}

static int64_t estimate_content(json_t *content)
{
    if (json_is_string(content))
        return gw_tokens_estimate(
            (slice_t){json_string_value(content), json_string_length(content)});
    int64_t n = 0;
    if (json_is_array(content)) {
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part)
        {
            json_t *text = json_object_get(part, "text");
            if (json_is_string(text))
                n += gw_tokens_estimate(
                    (slice_t){json_string_value(text), json_string_length(text)});
            else
                n += GW_TOKENS_PER_IMAGE;
        }
    }
    return n;
}

int64_t gw_tokens_estimate_request(const gw_request *r)
{
    int64_t n = GW_TOKENS_REPLY_PRIMING;
    if (!r) return 0;
    if (r->system_prompt)
        n += GW_TOKENS_PER_MESSAGE + gw_tokens_estimate(slice_from_cstr(r->system_prompt));
    size_t i;
    json_t *msg;
    json_array_foreach(r->messages, i, msg)
    {
        n += GW_TOKENS_PER_MESSAGE + estimate_content(json_object_get(msg, "content"));
        n += estimate_json_text(json_object_get(msg, "tool_calls"));
    }
    n += estimate_json_text(r->tools);
    return n;
}
