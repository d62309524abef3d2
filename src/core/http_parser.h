/*
 * http_parser.h - strict, incremental HTTP/1.1 request parser.
 *
 * Design: the caller keeps every byte of the request being parsed in one
 * contiguous buffer it owns and appends to it as data arrives; the parser
 * remembers how far it has scanned (an explicit state machine, one byte at a
 * time, no sscanf) and records request line, headers and body as offsets into
 * that buffer, so a buffer that moves (realloc) stays valid and nothing is
 * copied. A chunked body is de-chunked in place: chunk data is moved down over
 * the framing, and the buffer shrinks (*len decreases) as framing is dropped,
 * so the buffer never holds more than header section + decoded body + the
 * not-yet-parsed tail.
 *
 * Results do not depend on how the input is split across calls.
 *
 * Errors carry the HTTP status the server answers with:
 *   400 malformed (bad tokens, bad chars, obs-fold, bare LF, bad framing,
 *       duplicate Content-Length, Content-Length with Transfer-Encoding)
 *   413 body larger than max_body_bytes (also when a Content-Length announces it)
 *   417 an Expect other than 100-continue
 *   431 request line + headers over max_header_bytes, or more than
 *       HTTP_MAX_HEADERS header fields
 *   501 a method we do not implement, or a transfer-coding other than chunked
 *   505 an HTTP version other than 1.0 / 1.1
 *
 * Not thread-safe; one parser per connection. No allocation.
 */
#ifndef CORE_HTTP_PARSER_H
#define CORE_HTTP_PARSER_H

#include "base.h"

#ifndef HTTP_MAX_HEADERS
#define HTTP_MAX_HEADERS 64
#endif

typedef enum {
    HTTP_PARSE_AGAIN = 0, /* need more bytes */
    HTTP_PARSE_DONE,      /* one whole request parsed; see http_parser.msg */
    HTTP_PARSE_ERROR,     /* see error_status / error_message; the connection is done */
} http_parse_result;

/* Offset + length into the caller's buffer. */
typedef struct {
    uint32_t off;
    uint32_t len;
} http_span;

typedef struct {
    http_span method;
    http_span target;
    int version_minor; /* 0 or 1 */
    http_span header_names[HTTP_MAX_HEADERS];
    http_span header_values[HTTP_MAX_HEADERS]; /* leading/trailing OWS trimmed */
    uint32_t nheaders;
    http_span body;         /* Content-Length body, or the de-chunked body */
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;      /* after Connection and version rules */
    bool expect_continue; /* Expect: 100-continue */
    bool has_body;        /* a body follows the header section (CL > 0 or chunked) */
    uint32_t end;         /* offset just past this request: the next one starts here */
} http_message;

typedef struct {
    size_t max_header_bytes; /* request line + header section */
    size_t max_body_bytes;   /* decoded body */
    bool require_host;       /* RFC 9112 3.2: an HTTP/1.1 request without Host is a 400 */
} http_parser_limits;

typedef struct {
    http_parser_limits limits;
    http_message msg;
    /* Set once the header section is complete (body may still be pending), so the
     * server can switch timers and answer Expect: 100-continue. */
    bool headers_complete;
    int error_status;          /* 0, or the HTTP status for HTTP_PARSE_ERROR */
    const char *error_message; /* static text for the error body */

    /* Scanner state (private). */
    int state;
    uint32_t pos;        /* next byte to scan */
    uint32_t msg_start;  /* first byte of the request line */
    uint32_t tok_start;  /* start of the token being scanned */
    uint32_t name_end;   /* end of the header name being scanned */
    uint32_t val_start;  /* first non-OWS byte of the header value */
    uint32_t val_end;    /* just past the last non-OWS byte of the header value */
    uint32_t body_write; /* where the next de-chunked byte goes */
    uint64_t remaining;  /* bytes left in a Content-Length body or chunk */
    uint32_t line_len;   /* chunk-size / trailer line length so far */
    uint32_t trailer_bytes;
    uint32_t chunk_digits;
    bool chunk_ext_quoted; /* inside a quoted-string of a chunk extension */
    bool chunk_ext_escape;
    int te_seen;       /* number of Transfer-Encoding header fields */
    bool te_bad;       /* a transfer coding other than chunked was listed */
    bool conn_close;   /* Connection: close */
    bool conn_keep;    /* Connection: keep-alive */
    bool chunked_seen; /* "chunked" appeared in Transfer-Encoding */
    bool expect_bad;   /* an expectation other than 100-continue */
    int host_seen;     /* number of Host header fields (RFC 9112 3.2: exactly one in 1.1) */
} http_parser;

void http_parser_init(http_parser *p, const http_parser_limits *limits);
/* Forgets the previous message and gets ready for the next one, which starts at
 * offset `start` of the buffer (usually 0 after the caller dropped the old one). */
void http_parser_reset(http_parser *p, uint32_t start);

/* Scans data[p->pos .. *len). May move bytes and lower *len while de-chunking
 * (only bytes at or after the body start). Once DONE or ERROR, further calls
 * return the same result until http_parser_reset. data must not be larger than
 * UINT32_MAX bytes. */
http_parse_result http_parser_execute(http_parser *p, char *data, size_t *len);

/* Returns the span as a slice of data. */
static inline slice_t http_span_slice(const char *data, http_span s)
{
    return (slice_t){data + s.off, s.len};
}

/* Reason phrase for a status code ("OK", "Not Found"); "Unknown" if unknown. */
const char *http_status_text(int status);

#endif
