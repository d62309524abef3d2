/*
 * fuzz_provider_fal.c - fal's cumulative-object SSE stream parser on
 * arbitrary bytes in arbitrary pieces: no crash, no leak, invariants hold.
 */
#include "fuzz_provider_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_request req = {.model = "openai/gpt-4.1", .stream = true};
    fuzz_stream(&gw_provider_fal, &req, data, size);
    return 0;
}
