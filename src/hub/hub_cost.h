/*
 * hub_cost.h - pricing and token estimates on teamhub's side: reading a
 * registry entry's decimal prices into exact integers, counting tokens of text
 * when the gateway reported none (a cut stream), and the cost range of a next
 * turn. Exact integer math only (core/money.h).
 */
#ifndef HUB_COST_H
#define HUB_COST_H

#include "../core/base.h"
#include "../core/money.h"

#include <jansson.h>

/* Fills price from entry.pricing ({unit, input, cached_input, output,
 * request}); CORE_EPARSE when missing or malformed. */
core_err hub_price_from_entry(const json_t *entry, price_t *price);
/* entry.max_output_tokens, or dflt when absent/null. */
int64_t hub_entry_max_output(const json_t *entry, int64_t dflt);

/* Rough token count of UTF-8 text: one per 4 bytes, at least one per word,
 * 0 for empty text. Used only when the provider gave no count. */
int64_t hub_tokens_estimate(slice_t text);
/* Per-message framing overhead the estimate adds for chat formats. */
#define HUB_TOKENS_PER_MESSAGE 4

/* Cost range of a turn with input_tokens in: min with no output, max with
 * max_output tokens out. CORE_ETOOBIG on overflow. */
core_err hub_cost_range(const price_t *price, int64_t input_tokens, int64_t max_output,
                        int64_t *min_pico, int64_t *max_pico);

#endif
