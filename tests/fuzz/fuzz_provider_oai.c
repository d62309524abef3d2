/*
 * fuzz_provider_oai.c - the OpenAI-dialect SSE stream parser (openai,
 * deepseek, local, eden v3) on arbitrary bytes fed in arbitrary pieces:
 * no crash, no leak, and the event invariants of provider.h hold.
 */
#include "fuzz_provider_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gw_provider_ops *const ops[] = {&gw_provider_openai, &gw_provider_deepseek,
                                                 &gw_provider_local};
    gw_request req = {.model = "m", .stream = true};
    const gw_provider_ops *p = ops[size ? (data[0] >> 5) % 3 : 0];
    fuzz_stream(p, &req, data, size);
    return 0;
}
