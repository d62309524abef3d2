/*
 * provider_openai.c - OpenAI adapter: the OpenAI Chat Completions dialect
 * (provider_oai.c) with OpenAI's differences: max_completion_tokens and no temperature for the
 * reasoning families (o1/o3/o4/gpt-5*), 429 insufficient_quota as a quota error.
 */
#include "provider_oai.h"

static const gw_oai_dialect openai_dialect = {
    .name = "openai",
    .default_base = "https://api.openai.com/v1",
    .path = "/chat/completions",
    .key_required = true,
    .openai_model_rules = true,
    .deepseek_rules = false,
};

static gw_err openai_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                           gw_upstream_req *out, const char **errmsg)
{
    return gw_oai_build(&openai_dialect, cfg, req, arena, out, errmsg);
}

static gw_stream *openai_stream_new(const gw_request *req, gw_emit_fn emit, void *ud)
{
    return gw_oai_stream_new(&openai_dialect, req, emit, ud);
}

static void openai_parse_response(const gw_request *req, slice_t body, gw_emit_fn emit, void *ud)
{
    gw_oai_parse_response(&openai_dialect, req, body, emit, ud);
}

/* GET /models is free: the health probe uses it. */
static gw_err openai_build_models(const gw_provider_cfg *cfg, arena_t *arena, gw_upstream_req *out)
{
    return gw_oai_build_models(&openai_dialect, cfg, arena, out);
}

const gw_provider_ops gw_provider_openai = {
    .name = "openai",
    .build = openai_build,
    .stream_new = openai_stream_new,
    .stream_feed = gw_oai_stream_feed,
    .stream_finish = gw_oai_stream_finish,
    .stream_free = gw_oai_stream_free,
    .parse_response = openai_parse_response,
    .map_error = gw_oai_map_error,
    .build_models = openai_build_models,
    .parse_models = gw_oai_parse_models,
};
