/*
 * ratelimit.h - in-process token buckets keyed by string (e.g. "key:<id>:rpm"),
 * used for requests-per-minute and tokens-per-minute limits. Integer math
 * only: a bucket of L units per minute holds up to L*60000 "micro-slots" and
 * refills L of them per millisecond, so refill is exact with no drift.
 *
 * Cost may be charged after the fact (tokens are known only when a call
 * ends): rl_charge lets a bucket go into debt, and rl_take refuses while it is
 * in debt, so over any window the average never exceeds the limit.
 *
 * The table has a fixed number of slots (max_keys); the least recently used
 * bucket is recycled when it is full, so memory is bounded whatever the keys.
 * Threads: every function is safe from any thread (one mutex).
 */
#ifndef CORE_RATELIMIT_H
#define CORE_RATELIMIT_H

#include "base.h"

typedef struct rl_table rl_table;

typedef struct {
    bool allowed;
    int64_t limit;          /* per minute */
    int64_t remaining;      /* whole units left now (0 when in debt) */
    int64_t reset_ms;       /* until the bucket is full again */
    int64_t retry_after_ms; /* when refused: until cost units are available */
} rl_result;

/* NULL on OOM. */
rl_table *rl_new(size_t max_keys);
void rl_free(rl_table *t);

/* Takes cost units from key's bucket (limit units per minute) if it holds
 * them; a limit <= 0 means unlimited (always allowed). */
void rl_take(rl_table *t, const char *key, int64_t limit, int64_t cost, int64_t now_ms,
             rl_result *out);
/* Charges cost units without refusing (may go into debt). */
void rl_charge(rl_table *t, const char *key, int64_t limit, int64_t cost, int64_t now_ms);
/* Current state without taking anything. */
void rl_peek(rl_table *t, const char *key, int64_t limit, int64_t now_ms, rl_result *out);

#endif
