/*
 * fuzz_provider_response.c - every adapter's non-stream parser and error
 * mapper on arbitrary bodies (plus the exact USD parser and raw JSON finder
 * they use): no crash, no leak, parse_response ends with exactly one DONE,
 * and map_error always yields a known error code with a message.
 */
#include "fuzz_provider_check.h"
#include "gateway/adapter_util.h"

static slice_t fuzz_header(void *hud, const char *name)
{
    const slice_t *value = hud;
    (void)name;
    return *value; /* every header has the same (fuzzed) value */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gw_provider_ops *const ops[] = {&gw_provider_openai, &gw_provider_deepseek,
                                                 &gw_provider_fal, &gw_provider_eden,
                                                 &gw_provider_local};
    gw_request req = {.model = "openai/gpt-4o"};
    slice_t body = {(const char *)data, size};
    /* a short prefix of the input doubles as header value and status */
    slice_t header_value = {(const char *)data, size < 12 ? size : 12};
    int status = size >= 2 ? 100 + (data[0] << 8 | data[1]) % 500 : 500;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        fuzz_check c = {0};
        ops[i]->parse_response(&req, body, fuzz_check_emit, &c);
        fuzz_check_end(&c);

        gw_error_info info;
        ops[i]->map_error(status, body, fuzz_header, &header_value, &info);
        if ((unsigned)info.code >= GW_ERR__COUNT || info.code == GW_OK) abort();
        if (!info.message.ptr || info.message.len == 0 || info.message.len > 512) abort();
        fuzz_touch(&c, info.message);
        fuzz_touch(&c, info.provider_code);
    }
    int64_t pico;
    gw_adapter_usd_to_pico(body, &pico);
    gw_adapter_duration_ms(body);
    static const char *const path[] = {"usage", "cost"};
    slice_t out;
    if (gw_adapter_json_find(body, path, 2, &out)) fuzz_touch(&(fuzz_check){0}, out);
    gw_tokens_estimate(body);
    return 0;
}
