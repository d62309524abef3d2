/*
 * http_response_parser.c - the strict HTTP/1.x response parser of the HTTP
 * client's plain-HTTP fast path (see http_response_parser.h), and
 * http_client_parse_response, the test and fuzz hook that runs it over pieces
 * and writes a digest. An explicit state machine (rp_state): line-based states
 * collect into a bounded buffer, body states hand bytes straight through.
 * Each ceiling is a named constant below.
 */
#include "http_response_parser.h"

#include "http_client.h"

#include <stdio.h>
#include <string.h>

/* Ceilings of the line-based parts (header lines: HTTP_CLIENT_MAX_HEADER_BYTES). */
enum {
    RP_MAX_STATUS_LINE = 8192,
    RP_MAX_CHUNK_LINE = 1024,     /* size, extensions and CRLF */
    RP_MAX_CHUNK_HEX_DIGITS = 15, /* < 2^60 bytes: no overflow */
};

void http_resp_parser_init(http_resp_parser *rp, bool head_request)
{
    *rp = (http_resp_parser){.state = RP_STATUS_LINE, .head_request = head_request};
    buf_init(&rp->line, HTTP_CLIENT_MAX_HEADER_BYTES + 2);
}

void http_resp_parser_free(http_resp_parser *rp)
{
    buf_free(&rp->line);
}

bool http_resp_is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* "HTTP/1.1 200 OK": version 1.0 or 1.1, three digits 100-599, then a space
 * and any reason (or nothing). */
static core_err rp_status_line(http_resp_parser *rp, slice_t line)
{
    if (line.len < 12 || memcmp(line.ptr, "HTTP/1.", 7) != 0 ||
        (line.ptr[7] != '0' && line.ptr[7] != '1') || line.ptr[8] != ' ')
        goto bad;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line.ptr[i] < '0' || line.ptr[i] > '9') goto bad;
        status = status * 10 + (line.ptr[i] - '0');
    }
    if (status < 100 || status > 599 || (line.len > 12 && line.ptr[12] != ' ')) goto bad;
    for (size_t i = 13; i < line.len; i++)
        if ((unsigned char)line.ptr[i] < 0x20 && line.ptr[i] != '\t') goto bad;
    rp->http10 = line.ptr[7] == '0';
    rp->keep_alive = !rp->http10;
    rp->status = status;
    return CORE_OK;
bad:
    rp->error = "malformed status line";
    return CORE_EPARSE;
}

static bool rp_has_token(slice_t value, const char *token)
{
    slice_t want = slice_from_cstr(token);
    while (value.len) {
        const char *comma = memchr(value.ptr, ',', value.len);
        size_t n = comma ? (size_t)(comma - value.ptr) : value.len;
        if (slice_case_eq(slice_trim((slice_t){value.ptr, n}), want)) return true;
        value.ptr += comma ? n + 1 : n;
        value.len -= comma ? n + 1 : n;
    }
    return false;
}

/* "name: value" with a token name and no control bytes in the value
 * (obsolete line folding is refused: the line then starts with a space). */
static bool rp_split_header(slice_t line, slice_t *name, slice_t *value)
{
    const char *colon = memchr(line.ptr, ':', line.len);
    if (!colon || colon == line.ptr) return false;
    *name = (slice_t){line.ptr, (size_t)(colon - line.ptr)};
    for (size_t i = 0; i < name->len; i++)
        if (!http_resp_is_tchar((unsigned char)name->ptr[i])) return false;
    *value = slice_trim((slice_t){colon + 1, line.len - name->len - 1});
    for (size_t i = 0; i < value->len; i++) {
        unsigned char ch = (unsigned char)value->ptr[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return false;
    }
    return true;
}

/* The framing headers are read here; every header goes to on_header. */
static core_err rp_header_line(http_resp_parser *rp, slice_t line)
{
    slice_t name, value;
    if (!rp_split_header(line, &name, &value)) {
        rp->error = "malformed response header";
        return CORE_EPARSE;
    }
    if (slice_case_eq(name, SLICE_LIT("content-length"))) {
        int64_t n;
        if (slice_to_i64(value, &n) != CORE_OK || n > (INT64_C(1) << 62) ||
            (rp->saw_length && rp->content_length != (uint64_t)n)) {
            rp->error = "invalid content-length";
            return CORE_EPARSE;
        }
        rp->saw_length = true;
        rp->content_length = (uint64_t)n;
    } else if (slice_case_eq(name, SLICE_LIT("transfer-encoding"))) {
        /* Only plain chunked: we never ask for compression. */
        if (rp->saw_chunked || !slice_case_eq(value, SLICE_LIT("chunked"))) {
            rp->error = "unsupported transfer-encoding";
            return CORE_EPARSE;
        }
        rp->saw_chunked = true;
    } else if (slice_case_eq(name, SLICE_LIT("connection"))) {
        if (rp_has_token(value, "close")) rp->keep_alive = false;
    }
    return rp->on_header ? rp->on_header(rp->ud, name, value) : CORE_OK;
}

/* Forgets the response just parsed (an interim 1xx): the next one starts. */
static void rp_next_response(http_resp_parser *rp)
{
    rp->state = RP_STATUS_LINE;
    rp->http10 = rp->keep_alive = rp->saw_length = rp->saw_chunked = false;
    rp->status = 0;
    rp->content_length = rp->body_left = 0;
    rp->header_bytes = 0;
}

/* The blank line after the headers: pick the body's framing. */
static core_err rp_headers_end(http_resp_parser *rp, int *stop)
{
    bool interim = rp->status < 200;
    if (rp->status == 101) {
        rp->error = "unexpected protocol switch (101)";
        return CORE_EPARSE;
    }
    if (rp->saw_chunked && (rp->saw_length || rp->http10)) {
        rp->error = "conflicting body framing";
        return CORE_EPARSE;
    }
    if (interim) {
        rp->state = RP_STATUS_LINE;
    } else if (rp->head_request || rp->status == 204 || rp->status == 304) {
        rp->state = RP_DONE;
    } else if (rp->saw_chunked) {
        rp->state = RP_CHUNK_SIZE;
    } else if (rp->saw_length) {
        rp->body_left = rp->content_length;
        rp->state = rp->body_left ? RP_BODY_LENGTH : RP_DONE;
    } else {
        rp->keep_alive = false; /* the end of the body is the end of the connection */
        rp->state = RP_BODY_UNTIL_CLOSE;
    }
    *stop = rp->on_head ? rp->on_head(rp->ud, rp->status, interim) : 0;
    if (interim) rp_next_response(rp);
    return CORE_OK;
}

/* "1a2f;ext=1": hex size, optional extensions (ignored). */
static core_err rp_chunk_size_line(http_resp_parser *rp, slice_t line)
{
    size_t i = 0;
    uint64_t size = 0;
    for (; i < line.len; i++) {
        char ch = line.ptr[i];
        int digit = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
        if (digit < 0) break;
        if (i >= RP_MAX_CHUNK_HEX_DIGITS) goto bad;
        size = size * 16 + (uint64_t)digit;
    }
    if (i == 0) goto bad;
    while (i < line.len && (line.ptr[i] == ' ' || line.ptr[i] == '\t'))
        i++;
    if (i < line.len && line.ptr[i] != ';') goto bad;
    for (; i < line.len; i++)
        if ((unsigned char)line.ptr[i] < 0x20 && line.ptr[i] != '\t') goto bad;
    rp->body_left = size;
    rp->state = size ? RP_CHUNK_DATA : RP_TRAILER_LINE;
    return CORE_OK;
bad:
    rp->error = "malformed chunk size";
    return CORE_EPARSE;
}

/* Collects one line of at most max bytes (without its line end). Returns
 * CORE_OK with *complete when a line is in rp->line. A bare LF ends a line
 * too (RFC 9112 allows it); a CR anywhere else is refused. */
static core_err rp_collect_line(http_resp_parser *rp, const char *data, size_t len, size_t *used,
                                size_t max, bool *complete)
{
    const char *lf = memchr(data, '\n', len);
    size_t take = lf ? (size_t)(lf - data) + 1 : len;
    *used = take;
    *complete = lf != NULL;
    if (rp->line.len + take > max + 2) return CORE_ETOOBIG;
    core_err err = buf_append(&rp->line, data, take);
    if (err) return err == CORE_ETOOBIG ? CORE_ETOOBIG : CORE_ENOMEM;
    if (!lf) return CORE_OK;
    size_t n = rp->line.len - 1;
    if (n && rp->line.data[n - 1] == '\r') n--;
    if (memchr(rp->line.data, '\r', n)) {
        rp->error = "stray carriage return";
        return CORE_EPARSE;
    }
    rp->line.len = n;
    return CORE_OK;
}

/* Feeds bytes; *consumed says how many were used. Stops early when the
 * message is complete (RP_DONE: anything after it is not this response) or
 * when a callback asked to stop. CORE_EPARSE (rp->error says why),
 * CORE_ETOOBIG (header section or a line over its ceiling), CORE_ENOMEM, or
 * what on_header returned. */
core_err http_resp_parser_execute(http_resp_parser *rp, const char *data, size_t len,
                                  size_t *consumed)
{
    size_t at = 0;
    core_err err = CORE_OK;
    int stop = 0;
    while (at < len && rp->state != RP_DONE && !stop) {
        size_t used = 0;
        bool complete = false;
        switch (rp->state) {
        case RP_STATUS_LINE:
        case RP_HEADER_LINE:
        case RP_TRAILER_LINE: {
            size_t max =
                rp->state == RP_STATUS_LINE ? RP_MAX_STATUS_LINE : HTTP_CLIENT_MAX_HEADER_BYTES;
            err = rp_collect_line(rp, data + at, len - at, &used, max, &complete);
            rp->header_bytes += used;
            if (err == CORE_OK && rp->header_bytes > HTTP_CLIENT_MAX_HEADER_BYTES)
                err = CORE_ETOOBIG;
            if (err == CORE_ETOOBIG) {
                rp->error = rp->state == RP_STATUS_LINE ? "status line too long"
                                                        : "response headers too large";
                if (rp->state == RP_STATUS_LINE) err = CORE_EPARSE;
            }
            if (err || !complete) break;
            slice_t line = buf_slice(&rp->line);
            if (rp->state == RP_STATUS_LINE) {
                err = rp_status_line(rp, line);
                rp->state = RP_HEADER_LINE;
            } else if (line.len == 0) {
                if (rp->state == RP_TRAILER_LINE)
                    rp->state = RP_DONE;
                else
                    err = rp_headers_end(rp, &stop);
            } else if (rp->state == RP_HEADER_LINE) {
                err = rp_header_line(rp, line);
            } else {
                /* Trailers are checked like headers and not exposed. */
                slice_t name, value;
                if (!rp_split_header(line, &name, &value)) {
                    rp->error = "malformed trailer";
                    err = CORE_EPARSE;
                }
            }
            buf_reset(&rp->line);
            break;
        }
        case RP_CHUNK_SIZE:
            err = rp_collect_line(rp, data + at, len - at, &used, RP_MAX_CHUNK_LINE, &complete);
            if (err == CORE_ETOOBIG) {
                rp->error = "chunk size line too long";
                err = CORE_EPARSE;
            }
            if (err || !complete) break;
            err = rp_chunk_size_line(rp, buf_slice(&rp->line));
            buf_reset(&rp->line);
            break;
        case RP_BODY_LENGTH:
        case RP_CHUNK_DATA:
            used = (size_t)MIN((uint64_t)(len - at), rp->body_left);
            rp->body_left -= used;
            if (!rp->body_left)
                rp->state = rp->state == RP_BODY_LENGTH ? RP_DONE : RP_CHUNK_DATA_END;
            if (rp->on_body) stop = rp->on_body(rp->ud, data + at, used);
            break;
        case RP_BODY_UNTIL_CLOSE:
            used = len - at;
            if (rp->on_body) stop = rp->on_body(rp->ud, data + at, used);
            break;
        case RP_CHUNK_DATA_END:
            /* CRLF, or a bare LF; collected as an (empty) line. */
            err = rp_collect_line(rp, data + at, len - at, &used, 0, &complete);
            if (err == CORE_ETOOBIG || (err == CORE_OK && complete && rp->line.len)) {
                rp->error = "missing CRLF after chunk data";
                err = CORE_EPARSE;
            }
            if (err || !complete) break;
            buf_reset(&rp->line);
            rp->state = RP_CHUNK_SIZE;
            break;
        case RP_DONE:
            break;
        }
        if (err) break;
        at += used;
    }
    *consumed = at;
    return err;
}

/* The peer closed the connection: CORE_OK when that ends the message. */
core_err http_resp_parser_finish_eof(http_resp_parser *rp)
{
    if (rp->state == RP_BODY_UNTIL_CLOSE) {
        rp->state = RP_DONE;
        return CORE_OK;
    }
    if (rp->state == RP_DONE) return CORE_OK;
    rp->error = rp->state == RP_STATUS_LINE && rp->header_bytes == 0 && !rp->line.len
                    ? "connection closed before the response"
                : rp->state <= RP_HEADER_LINE ? "connection closed in the response headers"
                                              : "connection closed mid-body";
    return CORE_EIO;
}

/* ---- the test and fuzz hook (declared in http_client.h) ------------------- */

static core_err summary_header(void *ud, slice_t name, slice_t value)
{
    buf_t *out = ud;
    buf_append_slice(out, name);
    buf_append_cstr(out, ": ");
    buf_append_slice(out, value);
    return buf_append_char(out, '\n');
}

static int summary_head(void *ud, int status, bool interim)
{
    buf_printf(ud, "%s %d\n", interim ? "interim" : "final", status);
    return 0;
}

static int summary_body(void *ud, const char *data, size_t len)
{
    buf_append(ud, data, len);
    return 0;
}

core_err http_client_parse_response(const slice_t *pieces, size_t npieces, bool head_request,
                                    bool eof, buf_t *summary)
{
    http_resp_parser rp;
    http_resp_parser_init(&rp, head_request);
    rp.ud = summary;
    rp.on_header = summary_header;
    rp.on_head = summary_head;
    rp.on_body = summary_body;
    core_err err = CORE_OK;
    size_t extra = 0;
    for (size_t i = 0; i < npieces; i++) {
        size_t used = 0;
        if (rp.state == RP_DONE) {
            extra += pieces[i].len;
            continue;
        }
        err = http_resp_parser_execute(&rp, pieces[i].ptr, pieces[i].len, &used);
        if (err) goto out;
        extra += pieces[i].len - used;
    }
    if (eof) {
        err = http_resp_parser_finish_eof(&rp);
        if (err) goto out;
    }
    buf_printf(summary, "\n[end keep-alive=%d extra=%zu]", rp.keep_alive, extra);
    err = rp.state == RP_DONE ? CORE_OK : CORE_EAGAIN;
out:
    http_resp_parser_free(&rp);
    return err;
}
