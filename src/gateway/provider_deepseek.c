/*
 * provider_deepseek.c - DeepSeek adapter: the OpenAI Chat Completions dialect
 * (provider_oai.c) with DeepSeek's differences: reasoning_content replayed on tool-call turns,
 * thinking off via reasoning_effort "none", cache hits in prompt_cache_hit_tokens, 400 "Model Not
 * Exist" and the insufficient_system_resource finish reason.
 */
#include "provider_oai.h"

static const gw_oai_dialect deepseek_dialect = {
    .name = "deepseek",
    .default_base = "https://api.deepseek.com",
    .path = "/chat/completions",
    .key_required = true,
    .openai_model_rules = false,
    .deepseek_rules = true,
};

static gw_err deepseek_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                             gw_upstream_req *out, const char **errmsg)
{
    return gw_oai_build(&deepseek_dialect, cfg, req, arena, out, errmsg);
}

static gw_stream *deepseek_stream_new(const gw_request *req, gw_emit_fn emit, void *ud)
{
    return gw_oai_stream_new(&deepseek_dialect, req, emit, ud);
}

static void deepseek_parse_response(const gw_request *req, slice_t body, gw_emit_fn emit, void *ud)
{
    gw_oai_parse_response(&deepseek_dialect, req, body, emit, ud);
}

/* GET /models is free: the health probe uses it. */
static gw_err deepseek_build_models(const gw_provider_cfg *cfg, arena_t *arena,
                                    gw_upstream_req *out)
{
    return gw_oai_build_models(&deepseek_dialect, cfg, arena, out);
}

const gw_provider_ops gw_provider_deepseek = {
    .name = "deepseek",
    .build = deepseek_build,
    .stream_new = deepseek_stream_new,
    .stream_feed = gw_oai_stream_feed,
    .stream_finish = gw_oai_stream_finish,
    .stream_free = gw_oai_stream_free,
    .parse_response = deepseek_parse_response,
    .map_error = gw_oai_map_error,
    .build_models = deepseek_build_models,
    .parse_models = gw_oai_parse_models,
};
