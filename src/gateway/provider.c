/*
 * provider.c - the table of HTTP provider adapters, looked up by the
 * registry's provider name. The simulator is not here: it is not an HTTP
 * provider (see provider_simulator.h).
 */
#include "provider.h"

const gw_provider_ops *gw_provider_find(const char *name)
{
    static const gw_provider_ops *const adapters[] = {
        &gw_provider_openai, &gw_provider_deepseek, &gw_provider_fal,
        &gw_provider_eden,   &gw_provider_local,
    };
    if (!name) return NULL;
    for (size_t i = 0; i < ARRAY_LEN(adapters); i++)
        if (strcmp(adapters[i]->name, name) == 0) return adapters[i];
    return NULL;
}
