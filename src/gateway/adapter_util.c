/*
 * adapter_util.c - shared machinery of the provider adapters: the event sink
 * that enforces provider.h's invariants in one place (so no adapter can emit
 * DONE twice or text after an error), the HTTP status -> error class table,
 * retry hints, exact money from JSON number text, and a raw JSON scanner.
 *
 * Why a raw scanner next to jansson: jansson turns every JSON number with a
 * fraction into a double, and a double cannot hold 0.0000138 exactly. Cost is
 * money, so we read the number's original text from the payload (which
 * jansson already validated) and convert that text with integer math.
 */
#include "adapter_util.h"

#include <stdlib.h>

/* ---- event sink ---------------------------------------------------------- */

static void event_init(gw_event *ev, gw_ev_type type)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->error.retry_after_ms = -1;
    ev->usage.provider_cost_pico = -1;
}

void gw_sink_init(gw_sink *s, gw_emit_fn emit, void *ud)
{
    memset(s, 0, sizeof(*s));
    s->emit = emit;
    s->ud = ud;
    s->usage.provider_cost_pico = -1;
}

void gw_sink_start(gw_sink *s, slice_t id, slice_t model)
{
    if (s->started || s->done) return;
    s->started = true;
    gw_event ev;
    event_init(&ev, GW_EV_START);
    ev.id = id;
    ev.model = model;
    s->emit(s->ud, &ev);
}

void gw_sink_event(gw_sink *s, const gw_event *ev)
{
    if (s->done || s->failed || s->finished) return;
    gw_sink_start(s, SLICE_NULL, SLICE_NULL);
    s->emit(s->ud, ev);
}

void gw_sink_text(gw_sink *s, gw_ev_type type, slice_t text)
{
    if (text.len == 0) return;
    gw_event ev;
    event_init(&ev, type);
    ev.text = text;
    gw_sink_event(s, &ev);
}

void gw_sink_finish(gw_sink *s, gw_finish finish, slice_t raw)
{
    if (s->done || s->failed || s->finished) return;
    gw_sink_start(s, SLICE_NULL, SLICE_NULL);
    s->finished = true;
    gw_event ev;
    event_init(&ev, GW_EV_FINISH);
    ev.finish = finish;
    ev.finish_raw = raw;
    s->emit(s->ud, &ev);
}

void gw_sink_error(gw_sink *s, const gw_error_info *err)
{
    if (s->done || s->failed) return;
    gw_sink_start(s, SLICE_NULL, SLICE_NULL);
    s->failed = true;
    gw_event ev;
    event_init(&ev, GW_EV_ERROR);
    ev.error = *err;
    s->emit(s->ud, &ev);
}

void gw_sink_error_simple(gw_sink *s, gw_err code, bool retryable, const char *message)
{
    gw_error_info err = {
        .code = code,
        .http_status = 0,
        .retryable = retryable,
        .retry_after_ms = -1,
        .message = slice_from_cstr(message),
        .provider_code = SLICE_NULL,
    };
    gw_sink_error(s, &err);
}

void gw_sink_keep_usage(gw_sink *s, const gw_usage *usage)
{
    if (s->done) return;
    s->usage = *usage;
    s->has_usage = true;
}

void gw_sink_end(gw_sink *s, bool proper_end)
{
    if (s->done) return;
    gw_sink_start(s, SLICE_NULL, SLICE_NULL);
    if (!proper_end && !s->finished && !s->failed)
        gw_sink_error_simple(s, GW_ERR_UPSTREAM_TRUNCATED, true,
                             "upstream stream ended before it finished");
    gw_event ev;
    event_init(&ev, GW_EV_USAGE);
    if (s->has_usage) {
        ev.usage = s->usage;
    } else {
        ev.usage.exact = false; /* the router fills in its estimate */
    }
    s->emit(s->ud, &ev);
    event_init(&ev, GW_EV_DONE);
    s->done = true;
    s->emit(s->ud, &ev);
}

/* ---- errors -------------------------------------------------------------- */

gw_err gw_adapter_class_from_status(int status, bool *retryable)
{
    bool retry = false;
    gw_err code;
    switch (status) {
    case 400:
    case 422:
        code = GW_ERR_INVALID_REQUEST;
        break;
    case 401:
        code = GW_ERR_PROVIDER_AUTH;
        break;
    case 402:
        code = GW_ERR_PROVIDER_QUOTA;
        break;
    case 403:
        code = GW_ERR_FORBIDDEN;
        break;
    case 404:
        code = GW_ERR_MODEL_NOT_FOUND;
        break;
    case 408:
    case 504:
        code = GW_ERR_TIMEOUT;
        retry = true;
        break;
    case 409: /* conflict: OpenAI's clients retry it, so do we */
        code = GW_ERR_PROVIDER_ERROR;
        retry = true;
        break;
    case 413:
        code = GW_ERR_PAYLOAD_TOO_LARGE;
        break;
    case 429:
        code = GW_ERR_RATE_LIMITED;
        retry = true;
        break;
    case 499:
        code = GW_ERR_CLIENT_CLOSED;
        break;
    case 503:
    case 529: /* "overloaded" as some upstreams of OpenRouter spell it */
        code = GW_ERR_MODEL_UNAVAILABLE;
        retry = true;
        break;
    default:
        if (status >= 400 && status <= 499) {
            code = GW_ERR_INVALID_REQUEST;
        } else {
            /* 5xx, and anything else an upstream should never answer */
            code = GW_ERR_PROVIDER_ERROR;
            retry = true;
        }
        break;
    }
    if (retryable) *retryable = retry;
    return code;
}

static const char *class_message(gw_err code)
{
    switch (code) {
    case GW_ERR_INVALID_REQUEST:
        return "the provider rejected the request as invalid";
    case GW_ERR_PROVIDER_AUTH:
        return "the provider rejected the gateway's credentials";
    case GW_ERR_PROVIDER_QUOTA:
        return "the provider account is out of credit or quota";
    case GW_ERR_FORBIDDEN:
        return "the provider refused the request";
    case GW_ERR_MODEL_NOT_FOUND:
        return "the provider does not know this model";
    case GW_ERR_TIMEOUT:
        return "the provider timed out";
    case GW_ERR_RATE_LIMITED:
        return "the provider rate-limited the request";
    case GW_ERR_MODEL_UNAVAILABLE:
        return "the provider is overloaded or the model is unavailable";
    case GW_ERR_PAYLOAD_TOO_LARGE:
        return "the request is too large for the provider";
    case GW_ERR_CLIENT_CLOSED:
        return "the request was cancelled";
    default:
        return "the provider failed to answer";
    }
}

static slice_t get_header(gw_header_fn header, void *hud, const char *name)
{
    if (!header) return SLICE_NULL;
    return slice_trim(header(hud, name));
}

void gw_adapter_error_init(gw_error_info *out, int status, gw_header_fn header, void *hud)
{
    memset(out, 0, sizeof(*out));
    out->code = gw_adapter_class_from_status(status, &out->retryable);
    out->http_status = status;
    out->message = slice_from_cstr(class_message(out->code));
    out->provider_code = SLICE_NULL;
    out->retry_after_ms = gw_adapter_retry_after_ms(header, hud);
    /* OpenAI-style explicit verdict from the server beats our status table. */
    slice_t should = get_header(header, hud, "x-should-retry");
    if (slice_case_eq(should, SLICE_LIT("true"))) out->retryable = true;
    if (slice_case_eq(should, SLICE_LIT("false"))) out->retryable = false;
}

/* Parses "<digits>[.<digits>]" scaled by 10^scale_digits (e.g. seconds with
 * scale 3 -> ms); fraction digits past the scale are dropped. -1 if malformed. */
static int64_t parse_scaled(slice_t s, int scale_digits)
{
    size_t i = 0;
    int64_t v = 0;
    int frac = 0;
    bool any = false;
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s.ptr[i] - '0', &v))
            return -1;
        any = true;
        i++;
    }
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            if (frac < scale_digits) {
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, s.ptr[i] - '0', &v))
                    return -1;
                frac++;
            }
            any = true;
            i++;
        }
    }
    if (!any || i != s.len) return -1;
    for (; frac < scale_digits; frac++)
        if (__builtin_mul_overflow(v, 10, &v)) return -1;
    return v;
}

int64_t gw_adapter_duration_ms(slice_t s)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {
        /* longest spellings first so "ms" is not read as "m" */
        {"ms", 1000000LL},      {"us", 1000LL},       {"\xc2\xb5s", 1000LL}, {"ns", 1LL},
        {"h", 3600000000000LL}, {"m", 60000000000LL}, {"s", 1000000000LL},
    };
    s = slice_trim(s);
    if (s.len == 0) return -1;
    int64_t bare = parse_scaled(s, 3);
    if (bare >= 0) return bare; /* a bare number is seconds */
    int64_t total_ns = 0;
    size_t i = 0;
    while (i < s.len) {
        size_t start = i;
        while (i < s.len && ((s.ptr[i] >= '0' && s.ptr[i] <= '9') || s.ptr[i] == '.'))
            i++;
        if (i == start) return -1;
        slice_t number = {s.ptr + start, i - start};
        size_t u;
        for (u = 0; u < ARRAY_LEN(units); u++)
            if (slice_starts_with((slice_t){s.ptr + i, s.len - i}, slice_from_cstr(units[u].unit)))
                break;
        if (u == ARRAY_LEN(units)) return -1;
        i += strlen(units[u].unit);
        /* number * unit in ns, keeping 9 fraction digits */
        int64_t scaled = parse_scaled(number, 9), part;
        if (scaled < 0) return -1;
        int64_t whole = scaled / 1000000000LL, frac = scaled % 1000000000LL;
        if (__builtin_mul_overflow(whole, units[u].ns, &part) ||
            __builtin_add_overflow(total_ns, part, &total_ns))
            return -1;
        /* frac < 1e9 and a unit <= 3.6e12 ns: the product needs 128 bits */
        int64_t frac_ns = (int64_t)((__int128)frac * units[u].ns / 1000000000LL);
        if (__builtin_add_overflow(total_ns, frac_ns, &total_ns)) return -1;
    }
    return (total_ns + 999999) / 1000000;
}

int64_t gw_adapter_retry_after_ms(gw_header_fn header, void *hud)
{
    if (!header) return -1;
    int64_t ms = parse_scaled(get_header(header, hud, "retry-after-ms"), 0);
    if (ms >= 0) return ms;
    /* seconds, possibly with a fraction; HTTP dates are not honoured */
    ms = parse_scaled(get_header(header, hud, "retry-after"), 3);
    if (ms >= 0) return ms;
    /* OpenAI's per-window reset durations: the exhausted window decides; when
     * the headers do not say which one is exhausted, the sooner reset. */
    int64_t req_reset =
        gw_adapter_duration_ms(get_header(header, hud, "x-ratelimit-reset-requests"));
    int64_t tok_reset = gw_adapter_duration_ms(get_header(header, hud, "x-ratelimit-reset-tokens"));
    bool req_out = slice_eq_cstr(get_header(header, hud, "x-ratelimit-remaining-requests"), "0");
    bool tok_out = slice_eq_cstr(get_header(header, hud, "x-ratelimit-remaining-tokens"), "0");
    if (req_out || tok_out) {
        int64_t best = -1;
        if (req_out && req_reset >= 0) best = req_reset;
        if (tok_out && tok_reset > best) best = tok_reset;
        if (best >= 0) return best;
    }
    if (req_reset >= 0 && tok_reset >= 0) return MIN(req_reset, tok_reset);
    return req_reset >= 0 ? req_reset : tok_reset;
}

static bool contains_nocase(slice_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++)
        if (slice_case_eq((slice_t){hay.ptr + i, n}, (slice_t){needle, n})) return true;
    return false;
}

#define GW_MAX_ERROR_MESSAGE 512

slice_t gw_adapter_safe_message(slice_t msg, const char *fallback)
{
    if (msg.len == 0 || contains_nocase(msg, "sk-") || contains_nocase(msg, "bearer ") ||
        contains_nocase(msg, "api key:") || contains_nocase(msg, "api key provided"))
        return slice_from_cstr(fallback);
    if (msg.len > GW_MAX_ERROR_MESSAGE) {
        size_t len = GW_MAX_ERROR_MESSAGE;
        /* back up to the start of a UTF-8 sequence */
        while (len > 0 && ((unsigned char)msg.ptr[len] & 0xC0) == 0x80)
            len--;
        msg.len = len;
    }
    return msg;
}

/* ---- JSON ---------------------------------------------------------------- */

static slice_t skip_leading_space(slice_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t' || s.ptr[0] == '\r' || s.ptr[0] == '\n')) {
        s.ptr++;
        s.len--;
    }
    return s;
}

json_t *gw_adapter_json_parse(slice_t text)
{
    text = skip_leading_space(text);
    if (text.len == 0) return NULL;
    json_error_t jerr;
    return json_loadb(text.ptr, text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p at the opening quote; returns the byte after the closing quote. */
static const char *skip_string(const char *p, const char *end)
{
    p++;
    while (p < end) {
        if (*p == '\\') {
            p += 2;
            continue;
        }
        if (*p == '"') return p + 1;
        p++;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                if (!p) return NULL;
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\r' && *p != '\n')
        p++;
    return p == start ? NULL : p;
}

static bool object_member(slice_t obj, slice_t key, slice_t *val)
{
    const char *p = obj.ptr, *end = obj.ptr + obj.len;
    bool found = false;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return false;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end) return false;
        if (*p == '}') return found;
        if (*p != '"') return false;
        const char *key_start = p + 1;
        const char *q = skip_string(p, end);
        if (!q) return false;
        slice_t this_key = {key_start, (size_t)(q - 1 - key_start)};
        p = skip_ws(q, end);
        if (p >= end || *p != ':') return false;
        p = skip_ws(p + 1, end);
        const char *value_start = p;
        q = skip_value(p, end);
        if (!q) return false;
        if (slice_eq(this_key, key)) {
            found = true;
            *val = (slice_t){value_start, (size_t)(q - value_start)};
        }
        p = skip_ws(q, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}') return found;
        return false;
    }
}

bool gw_adapter_json_find(slice_t json, const char *const *path, size_t depth, slice_t *out)
{
    slice_t cur = json;
    for (size_t i = 0; i < depth; i++)
        if (!object_member(cur, slice_from_cstr(path[i]), &cur)) return false;
    *out = cur;
    return true;
}

bool gw_adapter_json_first_elem(slice_t array, slice_t *out)
{
    const char *p = array.ptr, *end = array.ptr + array.len;
    p = skip_ws(p, end);
    if (p >= end || *p != '[') return false;
    p = skip_ws(p + 1, end);
    if (p >= end || *p == ']') return false;
    const char *q = skip_value(p, end);
    if (!q) return false;
    *out = (slice_t){p, (size_t)(q - p)};
    return true;
}

bool gw_adapter_json_string_body(slice_t raw, slice_t *out)
{
    if (raw.len < 2 || raw.ptr[0] != '"' || raw.ptr[raw.len - 1] != '"') return false;
    *out = (slice_t){raw.ptr + 1, raw.len - 2};
    return true;
}

#define USD_MAX_MANTISSA_DIGITS 18

core_err gw_adapter_usd_to_pico(slice_t t, int64_t *out)
{
    size_t i = 0;
    int64_t mantissa = 0;
    int digits = 0;        /* significant digits kept in mantissa */
    int64_t exp10 = 0;     /* value = mantissa * 10^exp10 USD */
    bool any = false;      /* saw at least one digit */
    bool round_up = false; /* first digit dropped from the mantissa was >= 5 */
    bool dropping = false; /* mantissa full: later digits only shift/round */
    if (t.len == 0) return CORE_EPARSE;
    if (t.ptr[0] == '-') return CORE_EINVAL;
    for (int part = 0; part < 2; part++) { /* 0: integer part, 1: fraction */
        if (part == 1) {
            if (!any) return CORE_EPARSE; /* JSON needs a digit before the '.' */
            if (i >= t.len || t.ptr[i] != '.') break;
            i++;
            if (i >= t.len || t.ptr[i] < '0' || t.ptr[i] > '9') return CORE_EPARSE;
        }
        while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9') {
            int d = t.ptr[i] - '0';
            any = true;
            i++;
            if (digits == 0 && d == 0) {
                if (part == 1) exp10--;
                continue;
            }
            if (digits >= USD_MAX_MANTISSA_DIGITS) {
                if (!dropping) round_up = d >= 5;
                dropping = true;
                if (part == 0) exp10++;
                continue;
            }
            mantissa = mantissa * 10 + d;
            digits++;
            if (part == 1) exp10--;
        }
    }
    if (!any) return CORE_EPARSE;
    if (i < t.len && (t.ptr[i] == 'e' || t.ptr[i] == 'E')) {
        i++;
        bool neg = false;
        if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-')) neg = t.ptr[i++] == '-';
        if (i >= t.len) return CORE_EPARSE;
        int64_t e = 0;
        while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9') {
            if (e < 100000) e = e * 10 + (t.ptr[i] - '0');
            i++;
        }
        exp10 += neg ? -e : e;
    }
    if (i != t.len) return CORE_EPARSE;
    if (round_up) mantissa++;
    if (mantissa == 0) {
        *out = 0;
        return CORE_OK;
    }
    int64_t scale = exp10 + 12; /* pico = mantissa * 10^scale */
    int64_t v = mantissa;
    if (scale >= 0) {
        for (int64_t k = 0; k < scale; k++)
            if (__builtin_mul_overflow(v, 10, &v)) return CORE_ETOOBIG;
        *out = v;
        return CORE_OK;
    }
    if (-scale > USD_MAX_MANTISSA_DIGITS) { /* mantissa < 10^18: rounds to 0 */
        *out = 0;
        return CORE_OK;
    }
    int64_t divisor = 1;
    for (int64_t k = 0; k < -scale; k++)
        divisor *= 10;
    int64_t q = v / divisor, r = v % divisor;
    if (r * 2 >= divisor) q++;
    *out = q;
    return CORE_OK;
}

int64_t gw_adapter_cost_at(slice_t json, const char *const *path, size_t depth)
{
    slice_t raw, text;
    int64_t pico;
    if (!gw_adapter_json_find(json, path, depth, &raw)) return -1;
    /* some aggregators send money as a decimal string */
    if (!gw_adapter_json_string_body(raw, &text)) text = raw;
    if (gw_adapter_usd_to_pico(text, &pico) != CORE_OK) return -1;
    return pico;
}

int64_t gw_adapter_json_count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) return json_integer_value(v) < 0 ? 0 : json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d < 9e18) return (int64_t)d;
    }
    return 0;
}

char *gw_adapter_content_text(json_t *content, bool *non_text)
{
    buf_t b;
    buf_init(&b, 0);
    *non_text = false;
    if (json_is_string(content)) {
        if (buf_append(&b, json_string_value(content), json_string_length(content))) goto fail;
    } else if (json_is_array(content)) {
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part)
        {
            json_t *text = json_object_get(part, "text");
            const char *type = json_string_value(json_object_get(part, "type"));
            if (json_is_string(part)) {
                text = part;
            } else if (!type || strcmp(type, "text") != 0 || !json_is_string(text)) {
                *non_text = true;
                continue;
            }
            if (buf_append(&b, json_string_value(text), json_string_length(text))) goto fail;
        }
    } else if (content && !json_is_null(content)) {
        *non_text = true;
    }
    if (buf_append(&b, "", 0)) goto fail; /* make sure data exists */
    return buf_steal(&b, NULL);
fail:
    buf_free(&b);
    return NULL;
}

/* ---- request building ---------------------------------------------------- */

/* a + b + c joined into one arena string: these run for every upstream
 * request, where printf's format parsing showed in the profiles. */
static char *arena_join3(arena_t *arena, slice_t a, slice_t b, slice_t c)
{
    char *p = arena_alloc(arena, a.len + b.len + c.len + 1);
    if (!p) return NULL;
    if (a.len) memcpy(p, a.ptr, a.len);
    if (b.len) memcpy(p + a.len, b.ptr, b.len);
    if (c.len) memcpy(p + a.len + b.len, c.ptr, c.len);
    p[a.len + b.len + c.len] = '\0';
    return p;
}

const char *gw_adapter_url(arena_t *arena, const char *base, const char *default_base,
                           const char *path)
{
    const char *b = (base && *base) ? base : default_base;
    size_t len = strlen(b);
    while (len > 0 && b[len - 1] == '/')
        len--;
    return arena_join3(arena, (slice_t){b, len}, slice_from_cstr(path), SLICE_NULL);
}

static bool add_header(gw_upstream_req *out, arena_t *arena, slice_t a, slice_t b, slice_t c)
{
    if (out->nheaders + 1 >= ARRAY_LEN(out->headers)) return false;
    char *h = arena_join3(arena, a, b, c);
    if (!h) return false;
    out->headers[out->nheaders++] = h;
    out->headers[out->nheaders] = NULL;
    return true;
}

bool gw_adapter_header(gw_upstream_req *out, arena_t *arena, const char *name, const char *value)
{
    return add_header(out, arena, slice_from_cstr(name), SLICE_LIT(": "), slice_from_cstr(value));
}

bool gw_adapter_bearer(gw_upstream_req *out, arena_t *arena, const char *token)
{
    return add_header(out, arena, SLICE_LIT("Authorization: Bearer "), slice_from_cstr(token),
                      SLICE_NULL);
}

bool gw_adapter_body(gw_upstream_req *out, arena_t *arena, json_t *root)
{
    /* 15 significant digits print 0.7 as 0.7 (17 would give 0.69999999999999996) */
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text) return false;
    size_t len = strlen(text);
    char *copy = arena_strdup(arena, (slice_t){text, len});
    free(text);
    if (!copy) return false;
    out->body = (slice_t){copy, len};
    return true;
}
