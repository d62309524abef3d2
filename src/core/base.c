/*
 * base.c - error text, slice helpers, clocks, randomness and constant-time
 * comparison shared by every module.
 */
#include "base.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <errno.h>

static const char *const core_err_text[CORE_ERR__COUNT] = {
    [CORE_OK] = "ok",
    [CORE_ENOMEM] = "out of memory",
    [CORE_EINVAL] = "invalid argument",
    [CORE_ETOOBIG] = "size limit exceeded",
    [CORE_EPARSE] = "malformed input",
    [CORE_EIO] = "i/o error",
    [CORE_ETIMEDOUT] = "timed out",
    [CORE_ECLOSED] = "connection closed",
    [CORE_ENOTFOUND] = "not found",
    [CORE_EEXIST] = "already exists",
    [CORE_EDB] = "database error",
    [CORE_EBUSY] = "busy",
    [CORE_ECANCELED] = "canceled",
    [CORE_EAGAIN] = "need more input",
};

const char *core_strerror(core_err err)
{
    if ((unsigned)err >= CORE_ERR__COUNT || !core_err_text[err]) return "unknown error";
    return core_err_text[err];
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool slice_case_eq(slice_t a, slice_t b)
{
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++)
        if (ascii_lower((unsigned char)a.ptr[i]) != ascii_lower((unsigned char)b.ptr[i]))
            return false;
    return true;
}

bool slice_starts_with(slice_t s, slice_t prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

slice_t slice_trim(slice_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

core_err slice_to_i64(slice_t s, int64_t *out)
{
    if (s.len == 0 || s.len > 19) return CORE_EPARSE;
    int64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < '0' || c > '9') return CORE_EPARSE;
        if (v > (INT64_MAX - (c - '0')) / 10) return CORE_EPARSE;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return CORE_OK;
}

char *slice_dup(slice_t s)
{
    char *p = malloc(s.len + 1);
    if (!p) return NULL;
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Compare over the longer length so the loop count leaks only lengths. */
    const unsigned char *x = a, *y = b;
    size_t n = MAX(alen, blen);
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = i < alen ? x[i] : 0;
        unsigned char cy = i < blen ? y[i] : 0;
        diff |= (unsigned char)(cx ^ cy);
    }
    return diff == 0;
}

uint64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t time_mono_ms(void)
{
    return time_mono_us() / 1000u;
}

int64_t time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

core_err random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return CORE_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return CORE_OK;
}

void random_id(const char *prefix, char *out, size_t outsz)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    size_t plen = strlen(prefix);
    if (outsz < plen + 27) {
        if (outsz) out[0] = '\0';
        return;
    }
    memcpy(out, prefix, plen);
    uint64_t ms = (uint64_t)time_wall_ms();
    char *p = out + plen;
    /* 10 chars of time (50 bits, top bits zero), 16 chars of randomness. */
    for (int i = 9; i >= 0; i--) {
        p[i] = alphabet[ms & 31];
        ms >>= 5;
    }
    unsigned char rnd[16];
    if (random_bytes(rnd, sizeof rnd) != CORE_OK) memset(rnd, 0, sizeof rnd);
    for (int i = 0; i < 16; i++)
        p[10 + i] = alphabet[rnd[i] & 31];
    p[26] = '\0';
}
