/*
 * money.h - exact money. No floating point anywhere in cost math.
 *
 * Units:
 *   price: integer micro-USD per 1M tokens (numerically equal to pico-USD per
 *          token), or micro-USD per request / per second for non-token units;
 *   cost:  integer pico-USD (1e-12 USD). int64 holds up to ~9.2 million USD,
 *          far beyond any one call; sums over a ledger use money_add, which
 *          reports overflow instead of wrapping.
 * Decimal strings appear only at the API edge (money_parse_*, money_format_*).
 */
#ifndef CORE_MONEY_H
#define CORE_MONEY_H

#include "base.h"

#define PICO_PER_MICRO 1000000LL
#define PICO_PER_USD   1000000000000LL

typedef enum {
    PRICE_PER_1M_TOKENS = 0,
    PRICE_PER_REQUEST,
    PRICE_PER_SECOND,
} price_unit;

typedef struct {
    price_unit unit;
    int64_t input_micro;        /* per 1M input tokens not served from cache */
    int64_t cached_input_micro; /* per 1M input tokens served from cache */
    int64_t output_micro;       /* per 1M output tokens (reasoning included) */
    int64_t request_micro;      /* per request (PRICE_PER_REQUEST) or per second */
} price_t;

/* Token counts as the gateway normalizes them: input includes cached_input,
 * output includes reasoning (as OpenAI reports; adapters convert others). */
typedef struct {
    int64_t input;
    int64_t cached_input;
    int64_t output;
    int64_t reasoning;
} token_usage_t;

/* Exact cost of one call in pico-USD. duration_ms is used only by
 * PRICE_PER_SECOND (billed per started millisecond). CORE_EINVAL on negative
 * counts or cached > input, CORE_ETOOBIG on overflow. */
core_err money_cost(const price_t *price, const token_usage_t *usage, int64_t duration_ms,
                    int64_t *pico_out);

/* Overflow-checked addition / multiplication of money values. */
core_err money_add(int64_t a, int64_t b, int64_t *out);
core_err money_mul(int64_t a, int64_t b, int64_t *out);

/* Parses a plain decimal USD amount ("0.15", "2", "0.0028", "25.00") into
 * integer units of 10^-scale USD: scale 6 gives micro-USD, 12 gives pico-USD.
 * Rejects signs unless allow_negative, exponents, spaces, more fractional
 * digits than scale (no silent rounding) and overflow: CORE_EPARSE/ETOOBIG. */
core_err money_parse(slice_t s, int scale, bool allow_negative, int64_t *out);

/* Formats an amount in 10^-scale USD units as a decimal string with at least
 * min_decimals and at most scale fractional digits (trailing zeros trimmed down
 * to min_decimals). out needs 48 bytes. Returns out. */
char *money_format(int64_t amount, int scale, int min_decimals, char out[48]);

/* The API-edge renderings: pico-USD cost as "0.000123" (>= 6 decimals, exact),
 * micro-USD price as "0.15" (>= 2 decimals, exact). */
#define money_format_pico(p, out)  money_format((p), 12, 6, (out))
#define money_format_micro(m, out) money_format((m), 6, 2, (out))

#endif
