/*
 * catalog.h - the seed catalog of models: every provider's models with their
 * published prices (as exact decimal USD strings), the source and date of each
 * price, context sizes and capabilities. The registry (registry.h) seeds the
 * models table from it; docs/PRICING.md is rendered from it.
 *
 * Also the small vocabulary shared by catalog, registry and CLI: capability
 * bits and price units with their wire names.
 *
 * Everything here is static, immutable data and pure functions: any thread.
 */
#ifndef GW_CATALOG_H
#define GW_CATALOG_H

#include "../core/buf.h"
#include "../core/money.h"

/* Bump when a catalog row changes. Seeding then refreshes rows whose
 * updated_by is still 'catalog' (admin edits are never overwritten). */
#define GW_CATALOG_VERSION 1

/* Capabilities, as /api/models lists them. */
enum {
    GW_CAP_CHAT = 1u << 0,
    GW_CAP_STREAMING = 1u << 1,
    GW_CAP_TOOLS = 1u << 2,
    GW_CAP_JSON = 1u << 3,
    GW_CAP_VISION = 1u << 4,
    GW_CAP_REASONING = 1u << 5,
};
#define GW_CAP__COUNT 6

/* Static name of one capability bit ("chat", ...), NULL if not a single known bit. */
const char *gw_cap_name(unsigned cap);
/* Parses "chat,streaming,tools" (spaces around items allowed, empty list ok).
 * CORE_EPARSE on an unknown name (the bit set so far is not written). */
core_err gw_caps_parse(slice_t list, unsigned *out);
/* Appends "chat,streaming,..." in canonical order. */
core_err gw_caps_format(unsigned caps, buf_t *out);

/* "per_1m_tokens" | "per_request" | "per_second". */
const char *gw_price_unit_name(price_unit unit);
bool gw_price_unit_parse(slice_t name, price_unit *out);

/* One catalog row. Prices are decimal USD strings parsed with money_parse at
 * scale 6: per 1M tokens for per_1m_tokens; for per_request/per_second the
 * price is in `request` and input/cached_input/output are "0". price_date is
 * "YYYY-MM-DD", or "YYYY-MM" when the source gives only a month. */
typedef struct {
    const char *provider;
    const char *model;
    const char *display_name;
    int64_t context_length;    /* tokens; 0 = unknown */
    int64_t max_output_tokens; /* tokens; 0 = unknown */
    const char *capabilities;  /* "chat,streaming,..." */
    price_unit unit;
    const char *input;
    const char *cached_input;
    const char *output;
    const char *request;
    const char *price_source;
    const char *price_date;
    bool deprecated;
} gw_catalog_entry;

extern const gw_catalog_entry gw_catalog[];
extern const size_t gw_catalog_len;

/* Parses a row's price strings into price_t. CORE_EPARSE/ETOOBIG from money_parse. */
core_err gw_catalog_price(const gw_catalog_entry *e, price_t *out);

/* True for "YYYY-MM-DD" or "YYYY-MM" with plausible month/day numbers. */
bool gw_price_date_valid(slice_t date);
/* Today's UTC date as "YYYY-MM-DD": the price date of an edit or discovery
 * that names none. */
void gw_price_date_today(char out[11]);

/* Renders the catalog as a Markdown table (docs/PRICING.md embeds it). */
core_err gw_catalog_render_markdown(buf_t *out);

#endif
