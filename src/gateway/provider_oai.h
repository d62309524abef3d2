/*
 * provider_oai.h - the OpenAI Chat Completions dialect, shared by the openai,
 * deepseek, local and eden (v3) adapters: request builder, SSE chunk parser,
 * non-stream response parser, error mapper and model-list parser. Each
 * adapter describes its differences in a gw_oai_dialect and reuses these.
 *
 * Stream parser (providers.md §0, §7.2): raw bytes -> sse_parser -> per
 * payload: "[DONE]" ends; an object with a non-null "error" -> ERROR; else
 * choice 0's delta: content -> TEXT, reasoning_content / reasoning ->
 * REASONING, tool_calls -> TOOL_* by index (fallback by non-blank id),
 * finish_reason -> close tool calls, FINISH. Top-level usage is kept (last
 * non-null wins) and emitted once at the end. Only choice index 0 is read:
 * the gateway never asks for n > 1.
 *
 * Thread: single owner. Memory: the stream owns its buffers; event slices
 * live only during the emit call.
 */
#ifndef GW_PROVIDER_OAI_H
#define GW_PROVIDER_OAI_H

#include "adapter_util.h"

typedef struct {
    const char *name;         /* provider name, for messages */
    const char *default_base; /* base URL used when cfg->base_url is NULL/"" */
    const char *path;         /* appended to the base: "/chat/completions" */
    bool key_required;        /* false: Authorization only when a key is set */
    /* OpenAI model families: o1/o3/o4/gpt-5* get max_completion_tokens, no
     * temperature, and reasoning_effort (which other OpenAI models reject). */
    bool openai_model_rules;
    /* DeepSeek: replay reasoning_content on assistant tool-call messages,
     * reasoning_effort "none" -> thinking disabled, no json_schema. */
    bool deepseek_rules;
} gw_oai_dialect;

/* Chunks and answers of the usual shape are read without building a JSON
 * tree (json_scan.h); everything else goes through jansson, with the same
 * events either way. true by default; tests turn it off to compare the two
 * paths. Set it only while no parser runs. */
extern bool gw_oai_fast_path;

/* True for OpenAI's reasoning families (o1*, o3*, o4*, gpt-5*). */
bool gw_oai_is_reasoning_model(const char *model);

/* Builds POST {base}{path}. Errors: GW_ERR_MODEL_UNAVAILABLE when a required
 * key is missing, GW_ERR_INVALID_REQUEST for unsupported asks, GW_ERR_INTERNAL
 * on OOM; *errmsg is static text then. */
gw_err gw_oai_build(const gw_oai_dialect *d, const gw_provider_cfg *cfg, const gw_request *req,
                    arena_t *arena, gw_upstream_req *out, const char **errmsg);

/* Stream parser; d must outlive the stream (adapters pass a static). feed
 * returns CORE_OK, or after it emitted ERROR: CORE_ETOOBIG (event, tool
 * arguments or tool count past a ceiling), CORE_EPARSE (non-JSON payload),
 * CORE_EIO (the provider reported an error in the stream), CORE_ENOMEM. */
gw_stream *gw_oai_stream_new(const gw_oai_dialect *d, const gw_request *req, gw_emit_fn emit,
                             void *ud);
core_err gw_oai_stream_feed(gw_stream *s, const char *data, size_t len);
void gw_oai_stream_finish(gw_stream *s);
void gw_oai_stream_free(gw_stream *s);

void gw_oai_parse_response(const gw_oai_dialect *d, const gw_request *req, slice_t body,
                           gw_emit_fn emit, void *ud);

/* §7.3 mapping for OpenAI-style bodies ({"error":{message,type,code}}, vLLM's
 * old {"object":"error",...}, FastAPI {"detail":...}). Also used for errors
 * inside a 200 stream (status 200). */
void gw_oai_map_error(int status, slice_t body, gw_header_fn header, void *hud, gw_error_info *out);

/* GET {base}/models and its parser ({"data":[{"id":..}]}; context length from
 * vLLM max_model_len or llama.cpp meta.n_ctx_train, else null). */
gw_err gw_oai_build_models(const gw_oai_dialect *d, const gw_provider_cfg *cfg, arena_t *arena,
                           gw_upstream_req *out);
json_t *gw_oai_parse_models(slice_t body);

/* Defines `const gw_provider_ops gw_provider_<ID>` for a provider that speaks
 * the OpenAI dialect described by DIALECT (a static const gw_oai_dialect in the
 * same file): the entry points that need the dialect are thin wrappers, the
 * rest is shared. One definition, so the three dialect providers cannot drift. */
#define GW_OAI_DEFINE_PROVIDER(ID, DIALECT)                                                        \
    static gw_err ID##_build(const gw_provider_cfg *cfg, const gw_request *req, arena_t *arena,    \
                             gw_upstream_req *out, const char **errmsg)                            \
    {                                                                                              \
        return gw_oai_build(&(DIALECT), cfg, req, arena, out, errmsg);                             \
    }                                                                                              \
    static gw_stream *ID##_stream_new(const gw_request *req, gw_emit_fn emit, void *ud)            \
    {                                                                                              \
        return gw_oai_stream_new(&(DIALECT), req, emit, ud);                                       \
    }                                                                                              \
    static void ID##_parse_response(const gw_request *req, slice_t body, gw_emit_fn emit,          \
                                    void *ud)                                                      \
    {                                                                                              \
        gw_oai_parse_response(&(DIALECT), req, body, emit, ud);                                    \
    }                                                                                              \
    static gw_err ID##_build_models(const gw_provider_cfg *cfg, arena_t *arena,                    \
                                    gw_upstream_req *out)                                          \
    {                                                                                              \
        return gw_oai_build_models(&(DIALECT), cfg, arena, out);                                   \
    }                                                                                              \
    const gw_provider_ops gw_provider_##ID = {                                                     \
        .name = #ID,                                                                               \
        .build = ID##_build,                                                                       \
        .stream_new = ID##_stream_new,                                                             \
        .stream_feed = gw_oai_stream_feed,                                                         \
        .stream_finish = gw_oai_stream_finish,                                                     \
        .stream_free = gw_oai_stream_free,                                                         \
        .parse_response = ID##_parse_response,                                                     \
        .map_error = gw_oai_map_error,                                                             \
        .build_models = ID##_build_models, /* GET /models: health probe and discovery */           \
        .parse_models = gw_oai_parse_models,                                                       \
    }

#endif
