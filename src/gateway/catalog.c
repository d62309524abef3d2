/*
 * catalog.c - the seed catalog: every model aigw knows out of the box, with
 * prices copied from /work/shared/reference/providers.md section 6 (compiled
 * 2026-11-24), each with its source and date. Where the reference marks a
 * price unverified [U] or gives a range, the row says which value was chosen
 * and why. The simulator's prices are made up (and say so) so that cost math
 * is visible offline.
 *
 * Rules for editing: prices are decimal strings (money_parse, scale 6, so at
 * most 6 fractional digits), never floats. Changing a row means bumping
 * GW_CATALOG_VERSION so installed registries pick it up (rows an admin edited
 * are left alone), then regenerating docs/PRICING.md
 * (UPDATE_PRICING_MD=1 ./test_registry).
 */
#include "catalog.h"

#include <stdio.h>
#include <time.h>

static const char *const cap_names[GW_CAP__COUNT] = {
    "chat", "streaming", "tools", "json", "vision", "reasoning",
};

const char *gw_cap_name(unsigned cap)
{
    for (unsigned i = 0; i < GW_CAP__COUNT; i++)
        if (cap == (1u << i)) return cap_names[i];
    return NULL;
}

core_err gw_caps_parse(slice_t list, unsigned *out)
{
    unsigned caps = 0;
    size_t pos = 0;
    while (pos <= list.len) {
        size_t end = pos;
        while (end < list.len && list.ptr[end] != ',')
            end++;
        slice_t item = slice_trim((slice_t){list.ptr + pos, end - pos});
        if (item.len > 0) {
            bool known = false;
            for (unsigned i = 0; i < GW_CAP__COUNT; i++) {
                if (slice_eq_cstr(item, cap_names[i])) {
                    caps |= 1u << i;
                    known = true;
                    break;
                }
            }
            if (!known) return CORE_EPARSE;
        }
        pos = end + 1;
    }
    *out = caps;
    return CORE_OK;
}

core_err gw_caps_format(unsigned caps, buf_t *out)
{
    core_err err = CORE_OK;
    bool first = true;
    for (unsigned i = 0; i < GW_CAP__COUNT; i++) {
        if (!(caps & (1u << i))) continue;
        if (!first && (err = buf_append_char(out, ','))) return err;
        if ((err = buf_append_cstr(out, cap_names[i]))) return err;
        first = false;
    }
    if (!out->data) err = buf_append(out, "", 0); /* an empty list is still a valid string */
    return err;
}

const char *gw_price_unit_name(price_unit unit)
{
    switch (unit) {
    case PRICE_PER_1M_TOKENS:
        return "per_1m_tokens";
    case PRICE_PER_REQUEST:
        return "per_request";
    case PRICE_PER_SECOND:
        return "per_second";
    }
    return "per_1m_tokens";
}

bool gw_price_unit_parse(slice_t name, price_unit *out)
{
    static const price_unit units[] = {PRICE_PER_1M_TOKENS, PRICE_PER_REQUEST, PRICE_PER_SECOND};
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (slice_eq_cstr(name, gw_price_unit_name(units[i]))) {
            *out = units[i];
            return true;
        }
    }
    return false;
}

/* Capability sets used below. */
#define CAPS_GPT        "chat,streaming,tools,json,vision"
#define CAPS_GPT_REASON "chat,streaming,tools,json,vision,reasoning"
#define CAPS_DEEPSEEK   "chat,streaming,tools,json"
#define CAPS_DS_REASON  "chat,streaming,tools,json,reasoning"
/* fal's native openrouter/router takes one prompt string: no tools, no JSON
 * mode, no images (vision lives on a sibling endpoint). */
#define CAPS_FAL        "chat,streaming"
#define CAPS_FAL_REASON "chat,streaming,reasoning"
/* Eden v3 is OpenAI-compatible: tools and response_format pass through. */
#define CAPS_EDEN "chat,streaming,tools,json"

#define TOKENS(in, cached, out) PRICE_PER_1M_TOKENS, in, cached, out, "0"

#define SRC_OPENAI_CACHING                                                                         \
    "OpenAI, \"Prompt Caching in the API\" (openai.com/index/api-prompt-caching) [V]"
#define SRC_GPT41                                                                                  \
    "simonwillison.net 2025-04-14 (GPT-4.1 launch: context, prices) and price tables in "          \
    "client code [S]"
#define SRC_DS_V4 "DeepSeek api-docs quick_start/pricing, V4 edition (archive 2026-04-26) [V]"
#define SRC_SIM   "simulator (not a real price)"

const gw_catalog_entry gw_catalog[] = {
    /* ---- OpenAI ---- */
    {"openai", "gpt-4o", "GPT-4o", 128000, 16384, CAPS_GPT, TOKENS("2.50", "1.25", "10.00"),
     SRC_OPENAI_CACHING, "2024-10", false},
    {"openai", "gpt-4o-mini", "GPT-4o mini", 128000, 16384, CAPS_GPT,
     TOKENS("0.15", "0.075", "0.60"), SRC_OPENAI_CACHING, "2024-10", false},
    {"openai", "gpt-4.1", "GPT-4.1", 1047576, 32768, CAPS_GPT, TOKENS("2.00", "0.50", "8.00"),
     SRC_GPT41, "2025-04-14", false},
    {"openai", "gpt-4.1-mini", "GPT-4.1 mini", 1047576, 32768, CAPS_GPT,
     TOKENS("0.40", "0.10", "1.60"), SRC_GPT41, "2025-04-14", false},
    {"openai", "gpt-4.1-nano", "GPT-4.1 nano", 1047576, 32768, CAPS_GPT,
     TOKENS("0.10", "0.025", "0.40"), SRC_GPT41, "2025-04-14", false},
    {"openai", "o3", "o3", 200000, 100000, CAPS_GPT_REASON, TOKENS("2.00", "0.50", "8.00"),
     "codeswap.net 2026-05, after OpenAI's mid-2025 80% price cut (launch 2025-04 was "
     "10.00/2.50/40.00) [S]",
     "2026-05", false},
    {"openai", "o4-mini", "o4-mini", 200000, 100000, CAPS_GPT_REASON,
     TOKENS("1.10", "0.275", "4.40"), "price tables in client code; langcopilot 2025-09 [S]",
     "2025-09", false},
    /* 400K context = 272K input + 128K output. */
    {"openai", "gpt-5", "GPT-5", 400000, 128000, CAPS_GPT_REASON, TOKENS("1.25", "0.125", "10.00"),
     "stack-snacks / greeden launch write-ups 2025-08 [S]", "2025-08", false},
    {"openai", "gpt-5-mini", "GPT-5 mini", 400000, 128000, CAPS_GPT_REASON,
     TOKENS("0.25", "0.025", "2.00"), "stack-snacks / greeden launch write-ups 2025-08 [S]",
     "2025-08", false},

    /* ---- DeepSeek ---- (1M context = 1,048,576; 384K output = 393,216) */
    {"deepseek", "deepseek-v4-flash", "DeepSeek V4 Flash", 1048576, 393216, CAPS_DS_REASON,
     TOKENS("0.14", "0.028", "0.28"),
     SRC_DS_V4 "; cache-hit price is [U]: a catalogue quoting the same page on 2026-07-04 says "
               "0.0028, the documented 0.028 is used",
     "2026-04-26", false},
    {"deepseek", "deepseek-v4-pro", "DeepSeek V4 Pro", 1048576, 393216, CAPS_DS_REASON,
     TOKENS("1.74", "0.145", "3.48"),
     SRC_DS_V4 "; documented list price. The 75% promotion (0.435/0.03625/0.87) was documented "
               "until 2026-05-05 15:59 UTC; its extension is [U], so it is not used",
     "2026-04-26", false},
    {"deepseek", "deepseek-chat", "DeepSeek Chat (legacy alias)", 1048576, 393216, CAPS_DEEPSEEK,
     TOKENS("0.14", "0.028", "0.28"),
     SRC_DS_V4 "; alias of deepseek-v4-flash (non-thinking) since 2026-04-24, priced as it; "
               "announced retired after 2026-07-24 15:59 UTC [U whether it still resolves]",
     "2026-04-26", true},
    {"deepseek", "deepseek-reasoner", "DeepSeek Reasoner (legacy alias)", 1048576, 393216,
     CAPS_DS_REASON, TOKENS("0.14", "0.028", "0.28"),
     SRC_DS_V4 "; alias of deepseek-v4-flash (thinking) since 2026-04-24, priced as it; "
               "announced retired after 2026-07-24 15:59 UTC [U whether it still resolves]",
     "2026-04-26", true},

    /* ---- fal (OpenRouter slugs through fal's openrouter/router) ----
     * Prices are OpenRouter's; whether fal marks them up is unverified. Output
     * ceilings not in the reference are left 0 (unknown) except where the
     * model's own provider documents them (Gemini 2.5 Flash 65,536; Claude
     * Sonnet 4.5 64,000). */
    {"fal", "google/gemini-2.5-flash", "Gemini 2.5 Flash (via fal)", 1048576, 65536,
     CAPS_FAL_REASON, TOKENS("0.30", "0.30", "2.50"),
     "OpenRouter blog 2026-06 / catalogue [S]; cached-input price is [U] and undocumented, so "
     "cached input is billed at the input price; fal markup unverified",
     "2026-06", false},
    {"fal", "anthropic/claude-sonnet-4.5", "Claude Sonnet 4.5 (via fal)", 200000, 64000,
     CAPS_FAL_REASON, TOKENS("3.00", "0.30", "15.00"),
     "Anthropic tier via 2026 catalogues [S] (cache read 0.30; cache write 3.75 is not "
     "modelled); undated, date is when the reference was compiled; fal markup unverified",
     "2026-11-24", false},
    {"fal", "openai/gpt-4.1", "GPT-4.1 (via fal)", 1047576, 32768, CAPS_FAL,
     TOKENS("2.00", "0.50", "8.00"),
     "OpenRouter, same as OpenAI gpt-4.1 [S]; fal markup "
     "unverified",
     "2025-04-14", false},
    {"fal", "meta-llama/llama-4-maverick", "Llama 4 Maverick (via fal)", 1048576, 0, CAPS_FAL,
     TOKENS("0.15", "0.15", "0.60"),
     "openrouter.ai model page snapshots 2025-26 [S]: current 0.15/0.60 used (earlier "
     "0.17/0.85); no cache price, cached input billed as input; date is when the reference was "
     "compiled; fal markup unverified",
     "2026-11-24", false},
    {"fal", "openai/gpt-oss-120b", "gpt-oss-120b (via fal)", 131072, 0, CAPS_FAL_REASON,
     TOKENS("0.05", "0.05", "0.24"),
     "openrouter.ai snapshots [S]: ~0.04-0.05 in, ~0.18-0.24 out depending on the routed "
     "provider; the upper bound is used so cost is never under-stated; no cache price; date is "
     "when the reference was compiled",
     "2026-11-24", false},

    /* ---- Eden AI (provider/model ids; Eden v3 passes provider prices through) ---- */
    {"eden", "openai/gpt-4o", "GPT-4o (via Eden AI)", 128000, 16384, CAPS_EDEN,
     TOKENS("2.50", "1.25", "10.00"), "priced as OpenAI gpt-4o: " SRC_OPENAI_CACHING, "2024-10",
     false},
    {"eden", "openai/gpt-4o-mini", "GPT-4o mini (via Eden AI)", 128000, 16384, CAPS_EDEN,
     TOKENS("0.15", "0.075", "0.60"), "priced as OpenAI gpt-4o-mini: " SRC_OPENAI_CACHING,
     "2024-10", false},
    {"eden", "openai/gpt-4.1", "GPT-4.1 (via Eden AI)", 1047576, 32768, CAPS_EDEN,
     TOKENS("2.00", "0.50", "8.00"), "priced as OpenAI gpt-4.1: " SRC_GPT41, "2025-04-14", false},
    {"eden", "openai/gpt-4.1-mini", "GPT-4.1 mini (via Eden AI)", 1047576, 32768, CAPS_EDEN,
     TOKENS("0.40", "0.10", "1.60"), "priced as OpenAI gpt-4.1-mini: " SRC_GPT41, "2025-04-14",
     false},
    {"eden", "anthropic/claude-sonnet-4-5", "Claude Sonnet 4.5 (via Eden AI)", 200000, 64000,
     CAPS_EDEN, TOKENS("3.00", "0.30", "15.00"),
     "priced as Anthropic claude-sonnet-4.5 via 2026 catalogues [S]; date is when the "
     "reference was compiled",
     "2026-11-24", false},
    {"eden", "google/gemini-2.5-flash", "Gemini 2.5 Flash (via Eden AI)", 1048576, 65536, CAPS_EDEN,
     TOKENS("0.30", "0.30", "2.50"),
     "priced as Google gemini-2.5-flash per OpenRouter blog 2026-06 [S]; cached-input price "
     "[U], billed at the input price",
     "2026-06", false},

    /* ---- simulator: made-up, small, non-zero prices ---- */
    {"simulator", "sim-fast", "Simulator fast", 32768, 4096, "chat,streaming",
     TOKENS("0.01", "0.005", "0.02"), SRC_SIM, "2026-11-24", false},
    {"simulator", "sim-chat", "Simulator chat", 131072, 16384, "chat,streaming,json",
     TOKENS("0.10", "0.05", "0.40"), SRC_SIM, "2026-11-24", false},
    {"simulator", "sim-reasoning", "Simulator reasoning", 131072, 32768,
     "chat,streaming,json,reasoning", TOKENS("1.00", "0.25", "4.00"), SRC_SIM, "2026-11-24", false},
    {"simulator", "sim-tools", "Simulator tools", 131072, 16384, "chat,streaming,tools,json",
     TOKENS("0.20", "0.10", "0.80"), SRC_SIM, "2026-11-24", false},
};
const size_t gw_catalog_len = ARRAY_LEN(gw_catalog);

core_err gw_catalog_price(const gw_catalog_entry *e, price_t *out)
{
    core_err err;
    price_t p = {.unit = e->unit};
    if ((err = money_parse(slice_from_cstr(e->input), 6, false, &p.input_micro))) return err;
    if ((err = money_parse(slice_from_cstr(e->cached_input), 6, false, &p.cached_input_micro)))
        return err;
    if ((err = money_parse(slice_from_cstr(e->output), 6, false, &p.output_micro))) return err;
    if ((err = money_parse(slice_from_cstr(e->request ? e->request : "0"), 6, false,
                           &p.request_micro)))
        return err;
    *out = p;
    return CORE_OK;
}

static bool digits_in_range(const char *p, size_t n, int lo, int hi)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (p[i] - '0');
    }
    return v >= lo && v <= hi;
}

bool gw_price_date_valid(slice_t d)
{
    if (d.len != 7 && d.len != 10) return false;
    if (!digits_in_range(d.ptr, 4, 2000, 2999) || d.ptr[4] != '-') return false;
    if (!digits_in_range(d.ptr + 5, 2, 1, 12)) return false;
    if (d.len == 7) return true;
    return d.ptr[7] == '-' && digits_in_range(d.ptr + 8, 2, 1, 31);
}

void gw_price_date_today(char out[11])
{
    time_t now = (time_t)(time_wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

core_err gw_catalog_render_markdown(buf_t *out)
{
    core_err err = CORE_OK;
    err = buf_append_cstr(out, "| Provider | Model | Unit | Input | Cached input | Output | "
                               "Context | Max output | Capabilities | Source | Date |\n"
                               "|---|---|---|---:|---:|---:|---:|---:|---|---|---|\n");
    for (size_t i = 0; i < gw_catalog_len && !err; i++) {
        const gw_catalog_entry *e = &gw_catalog[i];
        char ctx[24] = "unknown", maxo[24] = "unknown";
        if (e->context_length) snprintf(ctx, sizeof ctx, "%lld", (long long)e->context_length);
        if (e->max_output_tokens)
            snprintf(maxo, sizeof maxo, "%lld", (long long)e->max_output_tokens);
        err = buf_printf(out, "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                         e->provider, e->model, e->deprecated ? " (deprecated)" : "",
                         gw_price_unit_name(e->unit), e->input, e->cached_input, e->output, ctx,
                         maxo, e->capabilities, e->price_source, e->price_date);
    }
    return err;
}
