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

GW_OAI_DEFINE_PROVIDER(openai, openai_dialect);
