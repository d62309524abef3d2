/*
 * fuzz_validate.c - libFuzzer target for request validation: any bytes as a
 * body of /api/generate and of /v1/chat/completions must give GW_OK or a
 * clean GW_ERR_INVALID_REQUEST with a non-empty message, never a crash or a
 * leak.
 */
#include "gateway/gw_validate.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int door = 0; door < 2; door++) {
        arena_t arena;
        arena_init(&arena, 8u << 20);
        gw_parsed_request pr;
        char err[512] = "";
        slice_t body = {(const char *)data, size};
        gw_err e = door ? gw_parse_chat_completions(body, &arena, &pr, err, sizeof err)
                        : gw_parse_generate(body, &arena, &pr, err, sizeof err);
        if (e != GW_OK && e != GW_ERR_INVALID_REQUEST) abort();
        if (e != GW_OK && err[0] == '\0') abort();
        if (e == GW_OK && (!pr.req.provider || !pr.req.model || !pr.req.messages)) abort();
        gw_request_release(&pr.req);
        arena_free(&arena);
    }
    return 0;
}
