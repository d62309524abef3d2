/*
 * buf.h - a growable byte buffer with a hard ceiling (in the spirit of curl's
 * dynbuf and Redis' sds). Every buffer that outside input can grow is a buf_t
 * with a max, so a hostile peer gets CORE_ETOOBIG, never unbounded memory.
 *
 * Ownership: the buf_t owns data; buf_free releases it. Contents are always
 * NUL-terminated (the NUL is not counted in len) so data can be handed to
 * C-string APIs. Not thread-safe; one owner at a time.
 */
#ifndef CORE_BUF_H
#define CORE_BUF_H

#include "base.h"

#include <stdarg.h>

typedef struct {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* ceiling on len; 0 means "no ceiling" (only for our own output) */
} buf_t;

/* Initializes an empty buffer that will refuse to grow past max bytes. */
void buf_init(buf_t *b, size_t max);
void buf_free(buf_t *b);
/* Keeps the allocation, forgets the contents. */
void buf_reset(buf_t *b);

/* Appends; CORE_ETOOBIG past max (buffer unchanged), CORE_ENOMEM on OOM. */
core_err buf_append(buf_t *b, const void *data, size_t len);
core_err buf_append_slice(buf_t *b, slice_t s);
core_err buf_append_cstr(buf_t *b, const char *s);
core_err buf_append_char(buf_t *b, char c);
core_err buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
core_err buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Appends s as the body of a JSON string (escaped, without quotes). */
core_err buf_append_json_escaped(buf_t *b, slice_t s);
/* Makes room for at least extra more bytes. */
core_err buf_reserve(buf_t *b, size_t extra);
/* Drops the first n bytes (consumed input), moving the rest to the front. */
void buf_consume(buf_t *b, size_t n);
/* Hands the allocation to the caller (who frees it) and leaves b empty. */
char *buf_steal(buf_t *b, size_t *len_out);

static inline slice_t buf_slice(const buf_t *b)
{
    return (slice_t){b->data ? b->data : "", b->len};
}

#endif
