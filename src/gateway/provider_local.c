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

GW_OAI_DEFINE_PROVIDER(local, local_dialect);
