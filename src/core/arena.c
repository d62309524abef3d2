/*
 * arena.c - chained-block bump allocator. Blocks grow geometrically; requests
 * larger than a block get a block of their own.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Small first block: most requests need a few hundred bytes, and an open
 * stream keeps its arenas for its whole life; blocks then double. */
#define ARENA_BLOCK_MIN 1024
#define ARENA_ALIGN     16

struct arena_block {
    arena_block *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char mem[];
};

void arena_init(arena_t *a, size_t max)
{
    a->head = NULL;
    a->used_total = 0;
    a->max = max;
}

void *arena_alloc(arena_t *a, size_t size)
{
    size_t need = (size + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size) return NULL;
    if (a->max && (need > a->max || a->used_total > a->max - need)) return NULL;
    arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = b ? b->cap * 2 : ARENA_BLOCK_MIN;
        if (cap > 1 << 20) cap = 1 << 20;
        if (cap < need) cap = need;
        b = malloc(sizeof(arena_block) + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->mem + b->used;
    b->used += need;
    a->used_total += need;
    return p;
}

void *arena_zalloc(arena_t *a, size_t size)
{
    void *p = arena_alloc(a, size);
    if (p) memset(p, 0, size);
    return p;
}

char *arena_strdup(arena_t *a, slice_t s)
{
    char *p = arena_alloc(a, s.len + 1);
    if (!p) return NULL;
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    /* Short results (nearly all) are formatted once, into the stack, and
     * copied; only longer ones take a measuring pass first. */
    char small[256];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : arena_alloc(a, (size_t)n + 1);
    if (p && (size_t)n < sizeof small)
        memcpy(p, small, (size_t)n + 1);
    else if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void arena_free(arena_t *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_total = 0;
}
