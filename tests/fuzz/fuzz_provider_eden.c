/*
 * fuzz_provider_eden.c - Eden's stream parser: v2 NDJSON lines (input that
 * starts with '{') or v3 SSE, detected from the bytes, fed in arbitrary
 * pieces: no crash, no leak, invariants hold.
 */
#include "fuzz_provider_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_request req = {.model = "openai/gpt-4o", .stream = true};
    fuzz_stream(&gw_provider_eden, &req, data, size);
    return 0;
}
