/*
 * base.h - the few things every module of the project shares: the core error
 * enum, {ptr,len} slices and small helpers. It depends on nothing but libc, so
 * every layer (core, store, gateway, hub) may include it.
 *
 * Error convention: functions that can fail return core_err (0 == CORE_OK).
 * Higher layers keep their own enum (gw_err, hub_err) that maps 1:1 onto the
 * documented API error codes, and convert from core_err in one place.
 */
#ifndef CORE_BASE_H
#define CORE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    CORE_OK = 0,
    CORE_ENOMEM,    /* allocation failed */
    CORE_EINVAL,    /* caller passed something malformed */
    CORE_ETOOBIG,   /* a ceiling (buffer, line, body, count) was hit */
    CORE_EPARSE,    /* outside input did not follow its grammar */
    CORE_EIO,       /* socket or file error */
    CORE_ETIMEDOUT, /* a deadline passed */
    CORE_ECLOSED,   /* the peer went away */
    CORE_ENOTFOUND, /* the thing asked for does not exist */
    CORE_EEXIST,    /* the thing to create already exists */
    CORE_EDB,       /* the database reported an error */
    CORE_EBUSY,     /* try again later (queue full, lock held) */
    CORE_ECANCELED, /* the operation was cancelled by its owner */
    CORE_EAGAIN,    /* need more input before anything can be decided */
    CORE_ERR__COUNT
} core_err;

/* Static, never-NULL text for an error value. */
const char *core_strerror(core_err err);

/* A borrowed view of bytes. Never owns memory; the owner states the lifetime. */
typedef struct {
    const char *ptr;
    size_t len;
} slice_t;

#define SLICE_LIT(s) ((slice_t){(s), sizeof(s) - 1})
#define SLICE_NULL   ((slice_t){NULL, 0})

static inline slice_t slice_from_cstr(const char *s)
{
    return (slice_t){s, s ? strlen(s) : 0};
}

static inline bool slice_eq(slice_t a, slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool slice_eq_cstr(slice_t a, const char *b)
{
    return slice_eq(a, slice_from_cstr(b));
}

/* ASCII case-insensitive comparison (HTTP header names, tokens). */
bool slice_case_eq(slice_t a, slice_t b);
bool slice_starts_with(slice_t s, slice_t prefix);
/* Strips spaces and tabs at both ends. */
slice_t slice_trim(slice_t s);
/* Parses a non-negative decimal integer that fills the whole slice. No sign, no
 * spaces, no overflow past INT64_MAX. Returns CORE_EPARSE otherwise. */
core_err slice_to_i64(slice_t s, int64_t *out);

/* Heap copy with a terminating NUL; NULL on OOM. Caller frees. */
char *slice_dup(slice_t s);

/* Constant-time comparison of two byte strings of possibly different length.
 * Time depends only on the lengths, never on the contents. */
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)    ((a) < (b) ? (a) : (b))
#define MAX(a, b)    ((a) > (b) ? (a) : (b))
#define UNUSED(x)    ((void)(x))

/* Monotonic clock in milliseconds / microseconds, and wall clock in ms since epoch. */
uint64_t time_mono_ms(void);
uint64_t time_mono_us(void);
int64_t time_wall_ms(void);

/* Fills buf with n cryptographically random bytes (getrandom). */
core_err random_bytes(void *buf, size_t n);
/* Writes a random id of the form "<prefix><26 base32 chars>" into out (needs
 * strlen(prefix) + 27 bytes). Ids sort roughly by time (48-bit ms prefix). */
void random_id(const char *prefix, char *out, size_t outsz);

#endif
