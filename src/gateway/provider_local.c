/*
 * provider_local.c - local adapter: the OpenAI Chat Completions dialect
 * (provider_oai.c) with local's differences: the key is optional, reasoning arrives as reasoning
 * (Ollama, vLLM) or reasoning_content (llama.cpp), and models are discovered from {base}/models.
 */
#include "provider_oai.h"

static const gw_oai_dialect local_dialect = {
    .name = "local",
    .default_base = "http://127.0.0.1:11434/v1",
    .path = "/chat/completions",
    .key_required = false,
    .openai_model_rules = false,
    .deepseek_rules = false,
};

static gw_err local_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,
                          gw_upstream_req *out, const char **errmsg)
{
    return gw_oai_build(&local_dialect, cfg, req, arena, out, errmsg);
}

static gw_stream *local_stream_new(const gw_request *req, gw_emit_fn emit, void *ud)
{
    return gw_oai_stream_new(&local_dialect, req, emit, ud);
}

static void local_parse_response(const gw_request *req, slice_t body, gw_emit_fn emit, void *ud)
{
    gw_oai_parse_response(&local_dialect, req, body, emit, ud);
}

static gw_err local_build_models(const gw_provider_cfg *cfg, arena_t *arena, gw_upstream_req *out)
{
    return gw_oai_build_models(&local_dialect, cfg, arena, out);
}

const gw_provider_ops gw_provider_local = {
    .name = "local",
    .build = local_build,
    .stream_new = local_stream_new,
    .stream_feed = gw_oai_stream_feed,
    .stream_finish = gw_oai_stream_finish,
    .stream_free = gw_oai_stream_free,
    .parse_response = local_parse_response,
    .map_error = gw_oai_map_error,
    .build_models = local_build_models,
    .parse_models = gw_oai_parse_models,
};
