/*
 * hub_cost.c - exact prices from registry entries, token estimates and the
 * cost range of a next turn (see hub_cost.h).
 */
#include "hub_cost.h"

static core_err price_field(const json_t *pricing, const char *key, bool required, int64_t *out)
{
    const char *text = json_string_value(json_object_get(pricing, key));
    *out = 0;
    if (!text) return required ? CORE_EPARSE : CORE_OK;
    return money_parse(slice_from_cstr(text), 6, false, out);
}

core_err hub_price_from_entry(const json_t *entry, price_t *price)
{
    memset(price, 0, sizeof *price);
    const json_t *pricing = json_object_get(entry, "pricing");
    if (!json_is_object(pricing)) return CORE_EPARSE;
    const char *unit = json_string_value(json_object_get(pricing, "unit"));
    if (!unit || strcmp(unit, "per_1m_tokens") == 0)
        price->unit = PRICE_PER_1M_TOKENS;
    else if (strcmp(unit, "per_request") == 0)
        price->unit = PRICE_PER_REQUEST;
    else if (strcmp(unit, "per_second") == 0)
        price->unit = PRICE_PER_SECOND;
    else
        return CORE_EPARSE;
    core_err err =
        price_field(pricing, "input", price->unit == PRICE_PER_1M_TOKENS, &price->input_micro);
    if (!err) err = price_field(pricing, "output", false, &price->output_micro);
    if (!err) err = price_field(pricing, "cached_input", false, &price->cached_input_micro);
    if (!err && price->unit != PRICE_PER_1M_TOKENS) {
        err = price_field(pricing, "request", false, &price->request_micro);
        /* some catalogs put the per-request price in "input" */
        if (!err && price->request_micro == 0) price->request_micro = price->input_micro;
    }
    if (!err && !json_object_get(pricing, "cached_input"))
        price->cached_input_micro = price->input_micro;
    return err;
}

int64_t hub_entry_max_output(const json_t *entry, int64_t dflt)
{
    json_t *v = json_object_get(entry, "max_output_tokens");
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : dflt;
}

int64_t hub_tokens_estimate(slice_t text)
{
    if (text.len == 0) return 0;
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < text.len; i++) {
        unsigned char ch = (unsigned char)text.ptr[i];
        bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
        if (!space && !in_word) words++;
        in_word = !space;
    }
    int64_t by_bytes = (int64_t)((text.len + 3) / 4);
    return MAX(by_bytes, words);
}

core_err hub_cost_range(const price_t *price, int64_t input_tokens, int64_t max_output,
                        int64_t *min_pico, int64_t *max_pico)
{
    token_usage_t none = {input_tokens, 0, 0, 0};
    token_usage_t full = {input_tokens, 0, max_output, 0};
    core_err err = money_cost(price, &none, 0, min_pico);
    if (!err) err = money_cost(price, &full, 0, max_pico);
    return err;
}
