/*
 * http_response_parser.h - the strict, incremental HTTP/1.x response parser of
 * the HTTP client's plain-HTTP fast path (internal to src/core/http_client*).
 *
 * Fed in arbitrary pieces; line-based parts (status line, header lines,
 * chunk-size lines, trailers) are collected in `line`, whose ceiling is
 * HTTP_CLIENT_MAX_HEADER_BYTES; body bytes go straight to on_body from the
 * caller's buffer. Interim 1xx responses are parsed and dropped (on_head with
 * interim=true lets the owner forget their headers).
 *
 * Ownership: the parser owns `line` (init allocates lazily, free releases it).
 * Threads: none of its own; one parser is used by one thread at a time.
 */
#ifndef CORE_HTTP_RESPONSE_PARSER_H
#define CORE_HTTP_RESPONSE_PARSER_H

#include "base.h"
#include "buf.h"

typedef enum {
    RP_STATUS_LINE,
    RP_HEADER_LINE,
    RP_BODY_LENGTH,
    RP_BODY_UNTIL_CLOSE,
    RP_CHUNK_SIZE,
    RP_CHUNK_DATA,
    RP_CHUNK_DATA_END, /* CRLF after a chunk's data */
    RP_TRAILER_LINE,
    RP_DONE,
} rp_state;

typedef struct {
    rp_state state;
    bool head_request; /* a HEAD answer has no body whatever its headers say */
    bool http10;
    bool keep_alive;
    bool saw_length, saw_chunked;
    int status;
    uint64_t content_length;
    uint64_t body_left;  /* of the Content-Length body or of the current chunk */
    size_t header_bytes; /* raw bytes of this response's header section */
    buf_t line;          /* the line being collected */
    const char *error;   /* static text when execute failed */
    /* Owner callbacks; a non-zero return stops execute right after the bytes
     * of that callback (the owner paused, or decided the call's outcome). */
    void *ud;
    core_err (*on_header)(void *ud, slice_t name, slice_t value);
    int (*on_head)(void *ud, int status, bool interim);
    int (*on_body)(void *ud, const char *data, size_t len);
} http_resp_parser;

void http_resp_parser_init(http_resp_parser *rp, bool head_request);
void http_resp_parser_free(http_resp_parser *rp);
/* Feeds bytes; *consumed says how many were used. Stops early when the
 * message is complete (RP_DONE: anything after it is not this response) or
 * when a callback asked to stop. CORE_EPARSE (rp->error says why),
 * CORE_ETOOBIG (header section or a line over its ceiling), CORE_ENOMEM, or
 * what on_header returned. */
core_err http_resp_parser_execute(http_resp_parser *rp, const char *data, size_t len,
                                  size_t *consumed);
/* The peer closed the connection: CORE_OK when that ends the message, else
 * CORE_EIO with rp->error set. */
core_err http_resp_parser_finish_eof(http_resp_parser *rp);
/* RFC 9110 token character (header names). */
bool http_resp_is_tchar(unsigned char ch);

#endif
