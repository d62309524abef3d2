/*
 * money.c - integer cost math and decimal conversion at the API edge.
 */
#include "money.h"

#include <stdio.h>

core_err money_add(int64_t a, int64_t b, int64_t *out)
{
    if (__builtin_add_overflow(a, b, out)) return CORE_ETOOBIG;
    return CORE_OK;
}

core_err money_mul(int64_t a, int64_t b, int64_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) return CORE_ETOOBIG;
    return CORE_OK;
}

core_err money_cost(const price_t *price, const token_usage_t *u, int64_t duration_ms,
                    int64_t *pico_out)
{
    int64_t total = 0, part;
    core_err err = CORE_OK;
    if (u->input < 0 || u->cached_input < 0 || u->output < 0 || u->reasoning < 0 ||
        u->cached_input > u->input || duration_ms < 0)
        return CORE_EINVAL;
    switch (price->unit) {
    case PRICE_PER_1M_TOKENS:
        /* micro-USD per 1M tokens == pico-USD per token: multiply, no division. */
        if ((err = money_mul(u->input - u->cached_input, price->input_micro, &part))) goto out;
        if ((err = money_add(total, part, &total))) goto out;
        if ((err = money_mul(u->cached_input, price->cached_input_micro, &part))) goto out;
        if ((err = money_add(total, part, &total))) goto out;
        if ((err = money_mul(u->output, price->output_micro, &part))) goto out;
        if ((err = money_add(total, part, &total))) goto out;
        break;
    case PRICE_PER_REQUEST:
        if ((err = money_mul(price->request_micro, PICO_PER_MICRO, &total))) goto out;
        break;
    case PRICE_PER_SECOND:
        /* micro-USD per second * ms = nano-USD; * 1000 = pico-USD. */
        if ((err = money_mul(price->request_micro, duration_ms, &part))) goto out;
        if ((err = money_mul(part, 1000, &total))) goto out;
        break;
    default:
        err = CORE_EINVAL;
        goto out;
    }
    *pico_out = total;
out:
    return err;
}

core_err money_parse(slice_t s, int scale, bool allow_negative, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    int64_t v = 0;
    int frac_digits = 0, int_digits = 0;
    bool seen_dot = false;
    if (scale < 0 || scale > 15) return CORE_EINVAL;
    if (s.len == 0) return CORE_EPARSE;
    if (s.ptr[0] == '-') {
        if (!allow_negative) return CORE_EPARSE;
        neg = true;
        i = 1;
    }
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '.') {
            if (seen_dot) return CORE_EPARSE;
            seen_dot = true;
            continue;
        }
        if (c < '0' || c > '9') return CORE_EPARSE;
        if (seen_dot) {
            if (++frac_digits > scale) {
                if (c != '0') return CORE_EPARSE; /* would lose precision */
                continue;
            }
        } else {
            int_digits++;
        }
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
            return CORE_ETOOBIG;
    }
    if (int_digits == 0 && frac_digits == 0) return CORE_EPARSE;
    if (seen_dot && frac_digits == 0) return CORE_EPARSE;
    for (int k = MIN(frac_digits, scale); k < scale; k++)
        if (__builtin_mul_overflow(v, 10, &v)) return CORE_ETOOBIG;
    *out = neg ? -v : v;
    return CORE_OK;
}

char *money_format(int64_t amount, int scale, int min_decimals, char out[48])
{
    uint64_t mag = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    uint64_t div = 1;
    for (int k = 0; k < scale; k++)
        div *= 10;
    uint64_t ip = mag / div, fp = mag % div;
    char frac[24];
    snprintf(frac, sizeof frac, "%0*llu", scale, (unsigned long long)fp);
    int keep = scale;
    while (keep > min_decimals && frac[keep - 1] == '0')
        keep--;
    frac[keep] = '\0';
    if (keep > 0)
        snprintf(out, 48, "%s%llu.%s", amount < 0 ? "-" : "", (unsigned long long)ip, frac);
    else
        snprintf(out, 48, "%s%llu", amount < 0 ? "-" : "", (unsigned long long)ip);
    return out;
}
