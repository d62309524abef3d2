/*
 * http_parser.c - the HTTP/1.1 request parser: an explicit state machine that
 * scans one byte at a time and records offsets into the caller's buffer (see
 * http_parser.h for the contract). Every check is made on the byte being
 * scanned, never on how much input happens to be present, which is what makes
 * the result independent of how the input was split across reads.
 */
#include "http_parser.h"

enum {
    S_START,    /* before the request line; empty lines are skipped */
    S_START_LF, /* CR of an empty line seen */
    S_METHOD,
    S_TARGET,
    S_VERSION,
    S_LINE_LF,
    S_HDR_START,
    S_HDR_NAME,
    S_HDR_OWS,
    S_HDR_VALUE,
    S_HDR_LF,
    S_HDR_END_LF,
    S_BODY_CL,
    S_CHUNK_SIZE,
    S_CHUNK_WS,
    S_CHUNK_EXT,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR,
    S_CHUNK_DATA_LF,
    S_TRAILER_START,
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_TRAILER_END_LF,
    S_DONE,
    S_ERROR,
};

/* Longest chunk-size line (size + extensions) we accept. */
#define CHUNK_LINE_MAX 1024
/* Longest run of empty lines tolerated before a request line. */
#define EMPTY_LINES_MAX 8

/* tchar per RFC 9110 5.6.2, as a 256-entry table. */
static const unsigned char tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool is_tchar(unsigned char c)
{
    return tchar_table[c] != 0;
}

/* field-vchar / obs-text: what may appear inside a header value besides SP/HT. */
static inline bool is_field_char(unsigned char c)
{
    return (c > 0x20 && c != 0x7f);
}

static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static const char *const known_methods[] = {"GET",    "HEAD",    "POST", "PUT",
                                            "DELETE", "OPTIONS", "PATCH"};

void http_parser_init(http_parser *p, const http_parser_limits *limits)
{
    memset(p, 0, sizeof *p);
    p->limits = *limits;
    http_parser_reset(p, 0);
}

void http_parser_reset(http_parser *p, uint32_t start)
{
    http_parser_limits limits = p->limits;
    memset(p, 0, sizeof *p);
    p->limits = limits;
    p->state = S_START;
    p->pos = start;
    p->msg_start = start;
    p->msg.content_length = -1;
}

static http_parse_result fail(http_parser *p, int status, const char *message)
{
    p->state = S_ERROR;
    p->error_status = status;
    p->error_message = message;
    return HTTP_PARSE_ERROR;
}

/* Iterates over the comma-separated elements of a header list value. */
static bool next_list_element(slice_t *rest, slice_t *elem)
{
    while (rest->len) {
        const char *comma = memchr(rest->ptr, ',', rest->len);
        size_t n = comma ? (size_t)(comma - rest->ptr) : rest->len;
        *elem = slice_trim((slice_t){rest->ptr, n});
        rest->ptr += comma ? n + 1 : n;
        rest->len -= comma ? n + 1 : n;
        if (elem->len) return true; /* empty list elements are allowed and skipped */
    }
    return false;
}

/* Looks at the header that was just completed; returns 0 or an error status. */
static int note_header(http_parser *p, slice_t name, slice_t value, const char **why)
{
    if (slice_case_eq(name, SLICE_LIT("content-length"))) {
        int64_t n;
        if (p->msg.content_length >= 0) {
            *why = "duplicate Content-Length";
            return 400;
        }
        if (slice_to_i64(value, &n) != CORE_OK) {
            *why = "invalid Content-Length";
            return 400;
        }
        p->msg.content_length = n;
    } else if (slice_case_eq(name, SLICE_LIT("transfer-encoding"))) {
        slice_t rest = value, coding;
        p->te_seen++;
        while (next_list_element(&rest, &coding)) {
            if (slice_case_eq(coding, SLICE_LIT("chunked"))) {
                if (p->chunked_seen) {
                    *why = "chunked applied twice";
                    return 400;
                }
                p->chunked_seen = true;
            } else {
                p->te_bad = true;
            }
        }
    } else if (slice_case_eq(name, SLICE_LIT("connection"))) {
        slice_t rest = value, opt;
        while (next_list_element(&rest, &opt)) {
            if (slice_case_eq(opt, SLICE_LIT("close"))) p->conn_close = true;
            if (slice_case_eq(opt, SLICE_LIT("keep-alive"))) p->conn_keep = true;
        }
    } else if (slice_case_eq(name, SLICE_LIT("host"))) {
        if (++p->host_seen > 1) {
            *why = "more than one Host header";
            return 400;
        }
    } else if (slice_case_eq(name, SLICE_LIT("expect"))) {
        if (slice_case_eq(value, SLICE_LIT("100-continue")))
            p->msg.expect_continue = true;
        else
            p->expect_bad = true;
    }
    return 0;
}

/* The header section is complete: decide how the body is framed. */
static http_parse_result headers_done(http_parser *p, uint32_t body_start)
{
    http_message *m = &p->msg;
    p->headers_complete = true;
    m->keep_alive = m->version_minor == 1 ? !p->conn_close : (p->conn_keep && !p->conn_close);
    m->body.off = body_start;
    m->body.len = 0;
    if (p->limits.require_host && m->version_minor == 1 && p->host_seen == 0)
        return fail(p, 400, "missing Host header (required in HTTP/1.1)");
    if (p->te_seen) {
        if (m->content_length >= 0)
            return fail(p, 400, "Content-Length together with Transfer-Encoding");
        if (p->te_bad) return fail(p, 501, "unsupported transfer-coding");
        if (!p->chunked_seen) return fail(p, 400, "invalid Transfer-Encoding");
    }
    if (p->expect_bad) return fail(p, 417, "unsupported expectation");
    if (m->content_length > 0 && (uint64_t)m->content_length > p->limits.max_body_bytes)
        return fail(p, 413, "request body too large");
    if (p->chunked_seen) {
        m->chunked = true;
        m->has_body = true;
        p->body_write = body_start;
        p->state = S_CHUNK_SIZE;
    } else if (m->content_length > 0) {
        m->has_body = true;
        p->remaining = (uint64_t)m->content_length;
        p->state = S_BODY_CL;
    } else {
        p->state = S_DONE;
    }
    return HTTP_PARSE_AGAIN;
}

static http_parse_result finish_request_line_token(http_parser *p, const char *data)
{
    http_message *m = &p->msg;
    slice_t method = http_span_slice(data, m->method);
    for (size_t i = 0; i < ARRAY_LEN(known_methods); i++)
        if (slice_eq_cstr(method, known_methods[i])) return HTTP_PARSE_AGAIN;
    return fail(p, 501, "unsupported request method");
}

static http_parse_result check_target(http_parser *p, const char *data)
{
    slice_t target = http_span_slice(data, p->msg.target);
    if (target.len == 0) return fail(p, 400, "empty request target");
    if (target.ptr[0] == '/') return HTTP_PARSE_AGAIN;
    if (target.len == 1 && target.ptr[0] == '*' &&
        slice_eq_cstr(http_span_slice(data, p->msg.method), "OPTIONS"))
        return HTTP_PARSE_AGAIN;
    return fail(p, 400, "request target must be in origin-form");
}

static http_parse_result check_version(http_parser *p, const char *data)
{
    slice_t v = http_span_slice(data, (http_span){p->tok_start, p->pos - p->tok_start});
    if (v.len != 8 || memcmp(v.ptr, "HTTP/", 5) != 0 || v.ptr[5] < '0' || v.ptr[5] > '9' ||
        v.ptr[6] != '.' || v.ptr[7] < '0' || v.ptr[7] > '9')
        return fail(p, 400, "malformed HTTP version");
    if (v.ptr[5] != '1') return fail(p, 505, "HTTP version not supported");
    /* RFC 9110 2.5: a higher minor version of 1.x is served as the highest we
     * implement, 1.1. */
    p->msg.version_minor = v.ptr[7] == '0' ? 0 : 1;
    return HTTP_PARSE_AGAIN;
}

/* Drops the chunk framing scanned so far by moving the unscanned tail down to
 * the end of the decoded body. */
static void compact_chunked(http_parser *p, char *data, size_t *len)
{
    if (!p->msg.chunked || p->body_write >= p->pos) return;
    size_t tail = *len - p->pos;
    if (tail) memmove(data + p->body_write, data + p->pos, tail);
    *len -= p->pos - p->body_write;
    p->pos = p->body_write;
}

http_parse_result http_parser_execute(http_parser *p, char *data, size_t *len)
{
    http_message *m = &p->msg;
    http_parse_result r = HTTP_PARSE_AGAIN;
    const size_t max_head = p->limits.max_header_bytes;

    if (p->state == S_DONE) goto done;
    if (p->state == S_ERROR) return HTTP_PARSE_ERROR;

    while (p->pos < *len && p->state != S_DONE) {
        unsigned char c = (unsigned char)data[p->pos];

        if (p->state < S_BODY_CL && (size_t)(p->pos - p->msg_start) >= max_head)
            return fail(p, 431, "request header section too large");

        switch (p->state) {
        case S_START:
            if (c == '\r') {
                if (p->pos - p->msg_start >= 2 * EMPTY_LINES_MAX)
                    return fail(p, 400, "too many empty lines");
                p->state = S_START_LF;
            } else if (is_tchar(c)) {
                m->method.off = p->pos;
                p->state = S_METHOD;
            } else {
                return fail(p, 400, "invalid request line");
            }
            break;
        case S_START_LF:
            if (c != '\n') return fail(p, 400, "invalid line ending");
            p->state = S_START;
            break;
        case S_METHOD:
            if (c == ' ') {
                m->method.len = p->pos - m->method.off;
                r = finish_request_line_token(p, data);
                if (r == HTTP_PARSE_ERROR) return r;
                m->target.off = p->pos + 1;
                p->state = S_TARGET;
            } else if (!is_tchar(c)) {
                return fail(p, 400, "invalid method");
            }
            break;
        case S_TARGET:
            if (c == ' ') {
                m->target.len = p->pos - m->target.off;
                r = check_target(p, data);
                if (r == HTTP_PARSE_ERROR) return r;
                p->tok_start = p->pos + 1;
                p->state = S_VERSION;
            } else if (c <= 0x20 || c >= 0x7f) {
                return fail(p, 400, "invalid character in request target");
            }
            break;
        case S_VERSION:
            if (c == '\r') {
                r = check_version(p, data);
                if (r == HTTP_PARSE_ERROR) return r;
                p->state = S_LINE_LF;
            } else if (p->pos - p->tok_start >= 8 || c <= 0x20 || c >= 0x7f) {
                return fail(p, 400, "malformed HTTP version");
            }
            break;
        case S_LINE_LF:
            if (c != '\n') return fail(p, 400, "invalid line ending");
            p->state = S_HDR_START;
            break;
        case S_HDR_START:
            if (c == '\r') {
                p->state = S_HDR_END_LF;
            } else if (c == ' ' || c == '\t') {
                return fail(p, 400, "obsolete header line folding");
            } else if (is_tchar(c)) {
                if (m->nheaders >= HTTP_MAX_HEADERS) return fail(p, 431, "too many header fields");
                p->tok_start = p->pos;
                p->state = S_HDR_NAME;
            } else {
                return fail(p, 400, "invalid header name");
            }
            break;
        case S_HDR_NAME:
            if (c == ':') {
                p->name_end = p->pos;
                p->val_start = p->val_end = p->pos + 1;
                p->state = S_HDR_OWS;
            } else if (!is_tchar(c)) {
                return fail(p, 400, "invalid header name");
            }
            break;
        case S_HDR_OWS:
            if (c == ' ' || c == '\t') {
                p->val_start = p->val_end = p->pos + 1;
                break;
            }
            p->state = S_HDR_VALUE;
            /* fall through */
        case S_HDR_VALUE:
            if (c == '\r') {
                p->state = S_HDR_LF;
            } else if (is_field_char(c)) {
                p->val_end = p->pos + 1;
            } else if (c != ' ' && c != '\t') {
                return fail(p, 400, "invalid character in header value");
            }
            break;
        case S_HDR_LF: {
            if (c != '\n') return fail(p, 400, "invalid line ending");
            http_span name = {p->tok_start, p->name_end - p->tok_start};
            http_span value = {p->val_start, p->val_end - p->val_start};
            m->header_names[m->nheaders] = name;
            m->header_values[m->nheaders] = value;
            m->nheaders++;
            const char *why = NULL;
            int status =
                note_header(p, http_span_slice(data, name), http_span_slice(data, value), &why);
            if (status) return fail(p, status, why);
            p->state = S_HDR_START;
            break;
        }
        case S_HDR_END_LF:
            if (c != '\n') return fail(p, 400, "invalid line ending");
            r = headers_done(p, p->pos + 1);
            if (r == HTTP_PARSE_ERROR) return r;
            break;
        case S_BODY_CL: {
            size_t avail = *len - p->pos;
            size_t take = p->remaining < avail ? (size_t)p->remaining : avail;
            p->remaining -= take;
            p->pos += (uint32_t)take;
            if (p->remaining == 0) {
                m->body.len = (uint32_t)m->content_length;
                p->state = S_DONE;
            }
            continue; /* pos already advanced */
        }
        case S_CHUNK_SIZE: {
            int h = hex_value(c);
            if (++p->line_len > CHUNK_LINE_MAX) return fail(p, 400, "chunk line too long");
            if (h >= 0) {
                p->remaining = p->remaining * 16 + (uint64_t)h;
                p->chunk_digits++;
                if (p->remaining > p->limits.max_body_bytes)
                    return fail(p, 413, "request body too large");
            } else if (p->chunk_digits == 0) {
                return fail(p, 400, "invalid chunk size");
            } else if (c == '\r') {
                p->state = S_CHUNK_SIZE_LF;
            } else if (c == ';') {
                p->state = S_CHUNK_EXT;
            } else if (c == ' ' || c == '\t') {
                p->state = S_CHUNK_WS;
            } else {
                return fail(p, 400, "invalid chunk size");
            }
            break;
        }
        case S_CHUNK_WS:
            if (++p->line_len > CHUNK_LINE_MAX) return fail(p, 400, "chunk line too long");
            if (c == ';')
                p->state = S_CHUNK_EXT;
            else if (c == '\r')
                p->state = S_CHUNK_SIZE_LF;
            else if (c != ' ' && c != '\t')
                return fail(p, 400, "invalid chunk extension");
            break;
        case S_CHUNK_EXT:
            /* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
             * Extensions are ignored; we only make sure the line is well-formed text. */
            if (++p->line_len > CHUNK_LINE_MAX) return fail(p, 400, "chunk line too long");
            if (p->chunk_ext_quoted) {
                if (p->chunk_ext_escape) {
                    if (c != '\t' && (c < 0x20 || c == 0x7f))
                        return fail(p, 400, "invalid chunk extension");
                    p->chunk_ext_escape = false;
                } else if (c == '\\') {
                    p->chunk_ext_escape = true;
                } else if (c == '"') {
                    p->chunk_ext_quoted = false;
                } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
                    return fail(p, 400, "invalid chunk extension");
                }
            } else if (c == '\r') {
                p->state = S_CHUNK_SIZE_LF;
            } else if (c == '"') {
                p->chunk_ext_quoted = true;
            } else if (!is_tchar(c) && c != ';' && c != '=' && c != ' ' && c != '\t') {
                return fail(p, 400, "invalid chunk extension");
            }
            break;
        case S_CHUNK_SIZE_LF:
            if (c != '\n') return fail(p, 400, "invalid line ending");
            if (p->remaining > p->limits.max_body_bytes - (p->body_write - m->body.off))
                return fail(p, 413, "request body too large");
            p->line_len = 0;
            p->chunk_digits = 0;
            p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER_START;
            break;
        case S_CHUNK_DATA: {
            size_t avail = *len - p->pos;
            size_t take = p->remaining < avail ? (size_t)p->remaining : avail;
            if (p->body_write != p->pos) memmove(data + p->body_write, data + p->pos, take);
            p->body_write += (uint32_t)take;
            p->pos += (uint32_t)take;
            p->remaining -= take;
            if (p->remaining == 0) p->state = S_CHUNK_DATA_CR;
            continue;
        }
        case S_CHUNK_DATA_CR:
            if (c != '\r') return fail(p, 400, "chunk data longer than its size");
            p->state = S_CHUNK_DATA_LF;
            break;
        case S_CHUNK_DATA_LF:
            if (c != '\n') return fail(p, 400, "invalid line ending");
            p->state = S_CHUNK_SIZE;
            break;
        case S_TRAILER_START:
        case S_TRAILER_NAME:
        case S_TRAILER_VALUE:
        case S_TRAILER_LF:
        case S_TRAILER_END_LF:
            /* Trailer fields are validated like header fields, then dropped. */
            if (++p->trailer_bytes > max_head) return fail(p, 431, "trailer section too large");
            if (p->state == S_TRAILER_START) {
                if (c == '\r')
                    p->state = S_TRAILER_END_LF;
                else if (c == ' ' || c == '\t')
                    return fail(p, 400, "obsolete line folding in trailer");
                else if (is_tchar(c))
                    p->state = S_TRAILER_NAME;
                else
                    return fail(p, 400, "invalid trailer field");
            } else if (p->state == S_TRAILER_NAME) {
                if (c == ':')
                    p->state = S_TRAILER_VALUE;
                else if (!is_tchar(c))
                    return fail(p, 400, "invalid trailer field");
            } else if (p->state == S_TRAILER_VALUE) {
                if (c == '\r')
                    p->state = S_TRAILER_LF;
                else if (!is_field_char(c) && c != ' ' && c != '\t')
                    return fail(p, 400, "invalid trailer field");
            } else if (p->state == S_TRAILER_LF) {
                if (c != '\n') return fail(p, 400, "invalid line ending");
                p->state = S_TRAILER_START;
            } else {
                if (c != '\n') return fail(p, 400, "invalid line ending");
                m->body.len = p->body_write - m->body.off;
                p->state = S_DONE;
            }
            break;
        default:
            break;
        }
        p->pos++;
    }

    compact_chunked(p, data, len);
    if (p->state != S_DONE) return HTTP_PARSE_AGAIN;
done:
    m->end = p->pos;
    return HTTP_PARSE_DONE;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
