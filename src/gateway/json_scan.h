/*
 * json_scan.h - allocation-free reading of small JSON documents without
 * building a tree: a strict one-pass checker, member/element iterators over
 * the raw text and a string decoder. The provider parsers use it as a fast
 * path for the common shape of a chunk or answer and fall back to jansson for
 * anything else, so the checker's verdict must never differ from jansson's
 * (json_loadb with JSON_DECODE_ANY | JSON_ALLOW_NUL after leading
 * whitespace): where only jansson can tell (integer and real ranges, deep
 * nesting, escaped object keys) it answers GW_JSON_UNSURE.
 *
 * Pure code, no globals. Slices point into the caller's text.
 */
#ifndef GW_JSON_SCAN_H
#define GW_JSON_SCAN_H

#include "../core/buf.h"

typedef enum {
    GW_JSON_INVALID = 0, /* jansson would refuse it too */
    GW_JSON_VALID = 1,   /* one well-formed value (+ surrounding whitespace) */
    GW_JSON_UNSURE = -1, /* take the jansson path */
} gw_json_verdict;

/* Checks that text (leading and trailing whitespace allowed) is exactly one
 * JSON value that jansson would decode identically. On GW_JSON_VALID, *value
 * (may be NULL) receives the value without the surrounding whitespace. */
gw_json_verdict gw_json_check(slice_t text, slice_t *value);

/* Iterators over a value that passed gw_json_check (or is part of one). */
typedef struct {
    const char *p, *end;
} gw_json_iter;

/* false when raw is not an object / array. */
bool gw_json_object_begin(slice_t raw, gw_json_iter *it);
bool gw_json_array_begin(slice_t raw, gw_json_iter *it);
/* Next member: *key is the key's raw body (between the quotes; the checker
 * guarantees it has no escapes), *value the raw value. false at the end. */
bool gw_json_object_next(gw_json_iter *it, slice_t *key, slice_t *value);
bool gw_json_array_next(gw_json_iter *it, slice_t *value);
/* Last value of member key in raw object (duplicates: the last wins, as in
 * jansson); SLICE_NULL when absent or raw is not an object. */
slice_t gw_json_member(slice_t obj, const char *key);

static inline bool gw_json_is_string(slice_t raw)
{
    return raw.len >= 2 && raw.ptr[0] == '"';
}
static inline bool gw_json_is_null(slice_t raw)
{
    return raw.len == 4 && memcmp(raw.ptr, "null", 4) == 0;
}

/* Decoded contents of a checked string token: a view into raw when it has
 * no escapes, else decoded into scratch (whose ceiling applies: CORE_ETOOBIG,
 * or CORE_ENOMEM). */
core_err gw_json_string(slice_t raw, buf_t *scratch, slice_t *out);
/* A checked number token that is an integer (no fraction or exponent) ->
 * value. false for reals and non-numbers. */
bool gw_json_integer(slice_t raw, int64_t *out);

#endif
