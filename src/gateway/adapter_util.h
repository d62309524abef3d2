/*
 * adapter_util.h - pieces every provider adapter shares: the event sink that
 * enforces the provider.h event invariants, the status -> error-class table
 * (providers.md §7.3), retry hints from response headers, exact USD -> pico
 * conversion from a JSON number's original text, a raw JSON member finder
 * that returns the original bytes of a value, and request-building helpers.
 *
 * Pure code: no I/O, no globals. Thread: any, one owner per object.
 */
#ifndef GW_ADAPTER_UTIL_H
#define GW_ADAPTER_UTIL_H

#include "provider.h"

/* ---- event sink ---------------------------------------------------------
 * Wraps the caller's emit function and guarantees: START first and exactly
 * once, nothing but USAGE-keeping after ERROR, no deltas after FINISH, at most
 * one FINISH, exactly one USAGE (the last kept, or an estimate marker) and
 * DONE exactly once, last. */
typedef struct {
    gw_emit_fn emit;
    void *ud;
    bool started;
    bool finished; /* FINISH emitted */
    bool failed;   /* ERROR emitted */
    bool done;     /* DONE emitted */
    bool has_usage;
    gw_usage usage; /* last usage kept */
} gw_sink;

void gw_sink_init(gw_sink *s, gw_emit_fn emit, void *ud);
/* Emits START unless already done. id/model are what the provider reported,
 * empty when it did not (the router then knows the model it asked for). */
void gw_sink_start(gw_sink *s, slice_t id, slice_t model);
/* TEXT / REASONING / TOOL_* passthrough (after START, before FINISH/ERROR). */
void gw_sink_event(gw_sink *s, const gw_event *ev);
void gw_sink_text(gw_sink *s, gw_ev_type type, slice_t text);
void gw_sink_finish(gw_sink *s, gw_finish finish, slice_t raw);
/* Emits ERROR once; later errors are dropped (the first cause wins). */
void gw_sink_error(gw_sink *s, const gw_error_info *err);
void gw_sink_error_simple(gw_sink *s, gw_err code, bool retryable, const char *message);
/* Remembers usage; the last one kept is emitted by gw_sink_end. */
void gw_sink_keep_usage(gw_sink *s, const gw_usage *usage);
/* Ends the stream: when !proper_end and neither FINISH nor ERROR was seen, an
 * ERROR upstream_truncated; then USAGE (kept, or exact=false zeros); DONE. */
void gw_sink_end(gw_sink *s, bool proper_end);

/* ---- errors ------------------------------------------------------------- */

typedef slice_t (*gw_header_fn)(void *hud, const char *name);

/* The status part of the §7.3 table: class and whether a retry may help. */
gw_err gw_adapter_class_from_status(int status, bool *retryable);
/* Fills out from status alone (message static), then applies generic
 * hints: retry_after_ms from headers, x-should-retry override. header may be
 * NULL. */
void gw_adapter_error_init(gw_error_info *out, int status, gw_header_fn header, void *hud);
/* Retry hint in ms from retry-after-ms, retry-after (seconds) or the
 * x-ratelimit-reset-{requests,tokens} durations; -1 when none. */
int64_t gw_adapter_retry_after_ms(gw_header_fn header, void *hud);
/* Go-style duration text ("1s", "6m0s", "250ms", "1.5s", "2h") -> ms; -1 if
 * malformed. A bare number counts as seconds. */
int64_t gw_adapter_duration_ms(slice_t s);
/* Clips provider text to a sane length at a UTF-8 boundary, and replaces it
 * with fallback when it looks like it carries a credential (e.g. OpenAI
 * echoes a masked key in 401 messages). */
slice_t gw_adapter_safe_message(slice_t msg, const char *fallback);

/* ---- JSON --------------------------------------------------------------- */

/* Parses text (leading whitespace/blank lines skipped) as one JSON value;
 * NULL when it is not JSON. Strings may contain NUL. Caller decrefs. */
json_t *gw_adapter_json_parse(slice_t text);
/* In the raw text of a JSON object, finds member path[0] (an object), then
 * path[1] inside it, ...; *out gets the original bytes of the final value
 * (strings keep their quotes and escapes). Duplicate keys: the last wins, as
 * in jansson. false when absent or malformed. */
bool gw_adapter_json_find(slice_t json, const char *const *path, size_t depth, slice_t *out);
/* The raw text of the first element of a raw JSON array. */
bool gw_adapter_json_first_elem(slice_t array, slice_t *out);
/* Inside of a raw JSON string token (quotes stripped, escapes kept). */
bool gw_adapter_json_string_body(slice_t raw, slice_t *out);
/* JSON number text in USD (e.g. "0.0000138", "1.38e-05") -> pico-USD,
 * rounded half up to a whole pico. CORE_EINVAL for negatives, CORE_EPARSE for
 * non-numbers, CORE_ETOOBIG past int64. */
core_err gw_adapter_usd_to_pico(slice_t number_text, int64_t *out);
/* Cost in pico-USD of the number at path in raw JSON, or -1. */
int64_t gw_adapter_cost_at(slice_t json, const char *const *path, size_t depth);

/* Integer member of an object, or 0 when absent / not a number / negative. */
int64_t gw_adapter_json_count(json_t *obj, const char *key);
/* Whole text of a content value: a string, or the "text" parts of an array
 * of content parts joined. *non_text is set when other parts were present.
 * Returns a heap string (caller frees) or NULL on OOM; "" for null. */
char *gw_adapter_content_text(json_t *content, bool *non_text);

/* ---- request building --------------------------------------------------- */

/* "<base or default_base without trailing '/'><path>" in the arena. */
const char *gw_adapter_url(arena_t *arena, const char *base, const char *default_base,
                           const char *path);
/* Adds one "Name: value" header (arena copy). false when full or OOM. */
bool gw_adapter_header(gw_upstream_req *out, arena_t *arena, const char *name, const char *value);
/* Adds "Authorization: Bearer <token>" (arena copy). false when full or OOM. */
bool gw_adapter_bearer(gw_upstream_req *out, arena_t *arena, const char *token);
/* Serializes root compactly into the arena as the body. false on OOM. */
bool gw_adapter_body(gw_upstream_req *out, arena_t *arena, json_t *root);

#endif
