/*
 * json_scan.c - tree-free JSON reading for the provider parsers' fast path
 * (see json_scan.h). Decoding a 300-byte chunk with jansson allocates a node
 * per value and a hash table per object, which cost more than the rest of a
 * proxied request; the checker here walks the text once with no allocation,
 * and the iterators re-walk only the parts a parser reads.
 *
 * The checker follows jansson's decoder rule by rule: RFC 8259 grammar, no
 * raw control characters in strings, strict UTF-8 (no overlongs, surrogates
 * or code points past U+10FFFF), \u escapes with paired surrogates, and
 * \u0000 allowed in strings (JSON_ALLOW_NUL) but not in keys. Integer and
 * real overflow are jansson's call, so long numbers answer "unsure".
 */
#include "json_scan.h"

#define MAX_DEPTH      64 /* deeper documents go to jansson */
#define MAX_INT_DIGITS 18 /* fits int64 whatever the digits */
#define MAX_NUMBER_LEN 40 /* a real this short cannot overflow a double */
#define MAX_EXP_DIGITS 2

typedef struct {
    const char *p, *end;
    bool unsure;
} checker;

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(checker *k)
{
    while (k->p < k->end && is_ws(*k->p))
        k->p++;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (p + 4 <= end checked by the caller) -> code unit. */
static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p, 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* k->p at the opening quote. */
static bool check_string(checker *k, bool is_key)
{
    const char *p = k->p + 1, *end = k->end;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            k->p = p + 1;
            return true;
        }
        if (c == '\\') {
            if (is_key) k->unsure = true; /* keys are compared raw */
            if (end - p < 2) return false;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6) return false;
                int u = hex4(p + 2);
                if (u < 0) return false;
                p += 6;
                if (u >= 0xDC00 && u <= 0xDFFF) return false; /* lone low surrogate */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
                    int lo = hex4(p + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF) return false;
                    p += 6;
                }
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
                e != 't')
                return false;
            p += 2;
            continue;
        }
        if (c < 0x20) return false;
        if (c < 0x80) {
            p++;
            while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' &&
                   *p != '\\')
                p++;
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
        if (!n) return false;
        p += n;
    }
    return false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool check_number(checker *k)
{
    const char *p = k->p, *end = k->end, *start = p;
    bool is_real = false;
    if (p < end && *p == '-') p++;
    if (p >= end || !is_digit(*p)) return false;
    const char *int_start = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return false; /* no leading zeros */
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    size_t int_digits = (size_t)(p - int_start);
    if (p < end && *p == '.') {
        is_real = true;
        p++;
        if (p >= end || !is_digit(*p)) return false;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return false;
        const char *exp_start = p;
        while (p < end && is_digit(*p))
            p++;
        if ((size_t)(p - exp_start) > MAX_EXP_DIGITS) k->unsure = true;
    }
    if (!is_real && int_digits > MAX_INT_DIGITS) k->unsure = true;
    if ((size_t)(p - start) > MAX_NUMBER_LEN) k->unsure = true;
    k->p = p;
    return true;
}

static bool check_literal(checker *k, const char *word, size_t n)
{
    if ((size_t)(k->end - k->p) < n || memcmp(k->p, word, n) != 0) return false;
    k->p += n;
    return true;
}

static bool check_value(checker *k, int depth);

static bool check_container(checker *k, int depth, bool object)
{
    char close = object ? '}' : ']';
    if (depth >= MAX_DEPTH) {
        k->unsure = true;
        return false;
    }
    k->p++;
    skip_ws(k);
    if (k->p < k->end && *k->p == close) {
        k->p++;
        return true;
    }
    for (;;) {
        if (object) {
            /* An escaped key (jansson refuses "\u0000" in one, and callers
             * compare keys raw) was marked unsure by check_string. */
            if (k->p >= k->end || *k->p != '"') return false;
            if (!check_string(k, true)) return false;
            skip_ws(k);
            if (k->p >= k->end || *k->p != ':') return false;
            k->p++;
            skip_ws(k);
        }
        if (!check_value(k, depth + 1)) return false;
        skip_ws(k);
        if (k->p >= k->end) return false;
        if (*k->p == ',') {
            k->p++;
            skip_ws(k);
            continue;
        }
        if (*k->p == close) {
            k->p++;
            return true;
        }
        return false;
    }
}

static bool check_value(checker *k, int depth)
{
    if (k->p >= k->end) return false;
    switch (*k->p) {
    case '{':
        return check_container(k, depth, true);
    case '[':
        return check_container(k, depth, false);
    case '"':
        return check_string(k, false);
    case 't':
        return check_literal(k, "true", 4);
    case 'f':
        return check_literal(k, "false", 5);
    case 'n':
        return check_literal(k, "null", 4);
    default:
        return check_number(k);
    }
}

gw_json_verdict gw_json_check(slice_t text, slice_t *value)
{
    checker k = {text.ptr, text.ptr + text.len, false};
    if (!text.ptr) return GW_JSON_INVALID;
    skip_ws(&k);
    const char *start = k.p;
    bool ok = check_value(&k, 0);
    const char *stop = k.p;
    if (ok) {
        skip_ws(&k);
        ok = k.p == k.end;
    }
    if (k.unsure) return GW_JSON_UNSURE;
    if (!ok) return GW_JSON_INVALID;
    if (value) *value = (slice_t){start, (size_t)(stop - start)};
    return GW_JSON_VALID;
}

/* ---- iterators over checked text ------------------------------------------ */

static const char *skip_ws_p(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

/* p at the opening quote of a checked string; returns the byte after it. A
 * quote ends the string unless an odd run of backslashes precedes it. */
static const char *skip_string(const char *p, const char *end)
{
    const char *start = ++p;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return end;
        size_t slashes = 0;
        while (q - slashes > start && q[-1 - (ptrdiff_t)slashes] == '\\')
            slashes++;
        if (slashes % 2 == 0) return q + 1;
        p = q + 1;
    }
    return end;
}

/* End of the checked value starting at p. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end) return end;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if ((c == '}' || c == ']') && --depth == 0) return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p))
        p++;
    return p;
}

static bool begin(slice_t raw, gw_json_iter *it, char open)
{
    if (raw.len < 2 || raw.ptr[0] != open) return false;
    it->p = raw.ptr + 1;
    it->end = raw.ptr + raw.len - 1; /* the closing bracket */
    return true;
}

bool gw_json_object_begin(slice_t raw, gw_json_iter *it)
{
    return begin(raw, it, '{');
}

bool gw_json_array_begin(slice_t raw, gw_json_iter *it)
{
    return begin(raw, it, '[');
}

bool gw_json_object_next(gw_json_iter *it, slice_t *key, slice_t *value)
{
    const char *p = skip_ws_p(it->p, it->end);
    if (p < it->end && *p == ',') p = skip_ws_p(p + 1, it->end);
    if (p >= it->end || *p != '"') return false;
    const char *q = skip_string(p, it->end);
    *key = (slice_t){p + 1, (size_t)(q - 1 - (p + 1))};
    p = skip_ws_p(q, it->end);
    p = skip_ws_p(p + 1, it->end); /* past ':' */
    q = skip_value(p, it->end);
    *value = (slice_t){p, (size_t)(q - p)};
    it->p = q;
    return true;
}

bool gw_json_array_next(gw_json_iter *it, slice_t *value)
{
    const char *p = skip_ws_p(it->p, it->end);
    if (p < it->end && *p == ',') p = skip_ws_p(p + 1, it->end);
    if (p >= it->end) return false;
    const char *q = skip_value(p, it->end);
    *value = (slice_t){p, (size_t)(q - p)};
    it->p = q;
    return true;
}

slice_t gw_json_member(slice_t obj, const char *key)
{
    gw_json_iter it;
    slice_t k, v, found = SLICE_NULL;
    slice_t want = slice_from_cstr(key);
    if (!gw_json_object_begin(obj, &it)) return SLICE_NULL;
    while (gw_json_object_next(&it, &k, &v))
        if (slice_eq(k, want)) found = v;
    return found;
}

/* ---- values ---------------------------------------------------------------- */

static core_err put_utf8(buf_t *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(b, u, n);
}

core_err gw_json_string(slice_t raw, buf_t *scratch, slice_t *out)
{
    slice_t body = {raw.ptr + 1, raw.len - 2};
    const char *esc = memchr(body.ptr, '\\', body.len);
    if (!esc) {
        *out = body;
        return CORE_OK;
    }
    buf_reset(scratch);
    const char *p = body.ptr, *end = body.ptr + body.len;
    core_err err = CORE_OK;
    while (p < end && !err) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            err = buf_append(scratch, p, (size_t)(end - p));
            break;
        }
        err = buf_append(scratch, p, (size_t)(bs - p));
        if (err) break;
        char e = bs[1];
        p = bs + 2;
        switch (e) {
        case 'b':
            err = buf_append_char(scratch, '\b');
            break;
        case 'f':
            err = buf_append_char(scratch, '\f');
            break;
        case 'n':
            err = buf_append_char(scratch, '\n');
            break;
        case 'r':
            err = buf_append_char(scratch, '\r');
            break;
        case 't':
            err = buf_append_char(scratch, '\t');
            break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* the checker saw the low half */
                uint32_t lo = (uint32_t)hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            err = put_utf8(scratch, cp);
            break;
        }
        default: /* " \ / */
            err = buf_append_char(scratch, e);
            break;
        }
    }
    if (err) return err;
    *out = buf_slice(scratch);
    return CORE_OK;
}

bool gw_json_integer(slice_t raw, int64_t *out)
{
    size_t i = 0;
    bool negative = raw.len && raw.ptr[0] == '-';
    if (negative) i = 1;
    if (i >= raw.len || raw.len - i > MAX_INT_DIGITS) return false;
    int64_t v = 0;
    for (; i < raw.len; i++) {
        if (!is_digit(raw.ptr[i])) return false;
        v = v * 10 + (raw.ptr[i] - '0');
    }
    *out = negative ? -v : v;
    return true;
}
