/*
 * buf.c - bounded growable buffers. See buf.h for the contract.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>

void buf_init(buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

core_err buf_reserve(buf_t *b, size_t extra)
{
    if (b->max && (extra > b->max || b->len > b->max - extra)) return CORE_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need < b->len) return CORE_ETOOBIG; /* overflow */
    if (need <= b->cap) return CORE_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) return CORE_ENOMEM;
    b->data = p;
    b->cap = cap;
    return CORE_OK;
}

core_err buf_append(buf_t *b, const void *data, size_t len)
{
    core_err err = buf_reserve(b, len);
    if (err) return err;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return CORE_OK;
}

core_err buf_append_slice(buf_t *b, slice_t s)
{
    return buf_append(b, s.ptr, s.len);
}

core_err buf_append_cstr(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

core_err buf_append_char(buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

core_err buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return CORE_EINVAL;
    core_err err = buf_reserve(b, (size_t)n);
    if (err) return err;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CORE_OK;
}

core_err buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_err err = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

core_err buf_append_json_escaped(buf_t *b, slice_t s)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        const char *esc = NULL;
        char ubuf[6];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                ubuf[0] = '\\';
                ubuf[1] = 'u';
                ubuf[2] = '0';
                ubuf[3] = '0';
                ubuf[4] = hex[c >> 4];
                ubuf[5] = hex[c & 15];
            } else {
                continue;
            }
        }
        core_err err = buf_append(b, s.ptr + run, i - run);
        if (!err) err = esc ? buf_append_cstr(b, esc) : buf_append(b, ubuf, 6);
        if (err) return err;
        run = i + 1;
    }
    return buf_append(b, s.ptr + run, s.len - run);
}

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_steal(buf_t *b, size_t *len_out)
{
    char *p = b->data;
    if (len_out) *len_out = b->len;
    if (!p) {
        p = malloc(1);
        if (p) p[0] = '\0';
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
