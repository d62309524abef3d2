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

GW_OAI_DEFINE_PROVIDER(deepseek, deepseek_dialect);
