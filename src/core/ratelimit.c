/*
 * ratelimit.c - exact integer token buckets in a bounded LRU-recycled table.
 *
 * Keys longer than a slot's key field are stored truncated and matched by
 * their stored prefix plus the hash of the whole key, so two long keys that
 * share a prefix still get separate buckets and a long key still finds its
 * own bucket again (it never silently starts over with a full one).
 *
 * Limits and costs come from configuration and from provider-reported token
 * counts; both are clamped to RL_MAX_UNITS so the micro-slot arithmetic
 * (units * 60000) can never overflow int64.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define MS_PER_MIN 60000
/* Largest limit or cost taken at face value: a quarter of what fits in int64
 * as micro-slots, so a full bucket minus one maximal cost never overflows. */
#define RL_MAX_UNITS (INT64_MAX / MS_PER_MIN / 4)

typedef struct {
    char key[96];
    uint64_t key_hash; /* of the whole key, which may be longer than key[] */
    bool used;
    int64_t limit;
    int64_t level;    /* micro-slots: units * MS_PER_MIN; may be negative (debt) */
    int64_t last_ms;  /* last refill */
    uint64_t touched; /* LRU clock */
} bucket;

struct rl_table {
    pthread_mutex_t mu;
    bucket *slots;
    size_t n;
    uint64_t clock;
};

rl_table *rl_new(size_t max_keys)
{
    rl_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n = max_keys ? max_keys : 4096;
    t->slots = calloc(t->n, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void rl_free(rl_table *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t->slots);
    free(t);
}

static uint64_t hash_key(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

static int64_t clamp_units(int64_t units)
{
    return units > RL_MAX_UNITS ? RL_MAX_UNITS : units;
}

/* Same key: equal hashes of the whole key and equal stored (maybe truncated)
 * text. For keys that fit, the text comparison alone is exact. */
static bool bucket_has_key(const bucket *b, const char *key, uint64_t h)
{
    return b->used && b->key_hash == h && strncmp(b->key, key, sizeof b->key - 1) == 0;
}

/* Finds or creates the bucket (full when new). Caller holds the mutex. */
static bucket *lookup(rl_table *t, const char *key, int64_t limit, int64_t now_ms)
{
    uint64_t h = hash_key(key);
    bucket *victim = NULL;
    for (size_t probe = 0; probe < 16 && probe < t->n; probe++) {
        bucket *b = &t->slots[(h + probe) % t->n];
        if (bucket_has_key(b, key, h)) {
            b->touched = ++t->clock;
            return b;
        }
        if (!b->used) {
            if (!victim || victim->used) victim = b;
        } else if (!victim || (victim->used && b->touched < victim->touched)) {
            victim = b;
        }
    }
    /* Recycle the least recently used of the probed slots. */
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->key_hash = h;
    victim->used = true;
    victim->limit = limit;
    victim->level = limit * MS_PER_MIN;
    victim->last_ms = now_ms;
    victim->touched = ++t->clock;
    return victim;
}

static void refill(bucket *b, int64_t limit, int64_t now_ms)
{
    int64_t cap = limit * MS_PER_MIN;
    if (b->limit != limit) { /* limit changed: keep the fill ratio simple */
        if (b->level > cap) b->level = cap;
        b->limit = limit;
    }
    if (now_ms > b->last_ms) {
        /* Compare in elapsed time first: (now - last) * limit can overflow
         * after a long idle period, while the room left in the bucket cannot
         * (level >= -cap - RL_MAX_UNITS * MS_PER_MIN). */
        int64_t elapsed = now_ms - b->last_ms;
        int64_t room = cap - b->level;
        if (room <= 0 || elapsed >= room / limit + 1)
            b->level = cap;
        else
            b->level = MIN(cap, b->level + elapsed * limit);
        b->last_ms = now_ms;
    }
}

static void fill_result(const bucket *b, int64_t limit, rl_result *out)
{
    int64_t cap = limit * MS_PER_MIN;
    out->limit = limit;
    out->remaining = b->level > 0 ? b->level / MS_PER_MIN : 0;
    out->reset_ms = (cap - b->level + limit - 1) / limit;
}

void rl_take(rl_table *t, const char *key, int64_t limit, int64_t cost, int64_t now_ms,
             rl_result *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = true;
    if (limit <= 0) {
        out->limit = 0;
        return;
    }
    if (cost < 0) cost = 0;
    limit = clamp_units(limit);
    cost = clamp_units(cost);
    pthread_mutex_lock(&t->mu);
    bucket *b = lookup(t, key, limit, now_ms);
    refill(b, limit, now_ms);
    int64_t need = cost * MS_PER_MIN;
    if (cost > limit) need = limit * MS_PER_MIN; /* a single huge request needs a full bucket */
    if (b->level >= need && b->level > 0) {
        b->level -= cost * MS_PER_MIN;
    } else {
        out->allowed = false;
        out->retry_after_ms = (need - b->level + limit - 1) / limit;
    }
    fill_result(b, limit, out);
    pthread_mutex_unlock(&t->mu);
}

void rl_charge(rl_table *t, const char *key, int64_t limit, int64_t cost, int64_t now_ms)
{
    if (limit <= 0 || cost <= 0) return;
    limit = clamp_units(limit);
    cost = clamp_units(cost);
    pthread_mutex_lock(&t->mu);
    bucket *b = lookup(t, key, limit, now_ms);
    refill(b, limit, now_ms);
    /* Debt is capped at one minute's worth so a runaway call cannot lock a
     * caller out for hours. */
    int64_t floor = -limit * MS_PER_MIN;
    int64_t next = b->level - cost * MS_PER_MIN;
    b->level = next < floor ? floor : next;
    pthread_mutex_unlock(&t->mu);
}

void rl_peek(rl_table *t, const char *key, int64_t limit, int64_t now_ms, rl_result *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = true;
    if (limit <= 0) return;
    limit = clamp_units(limit);
    pthread_mutex_lock(&t->mu);
    bucket *b = lookup(t, key, limit, now_ms);
    refill(b, limit, now_ms);
    fill_result(b, limit, out);
    out->allowed = b->level > 0;
    pthread_mutex_unlock(&t->mu);
}
