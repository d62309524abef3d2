/*
 * arena.h - request-scoped bump allocator. Allocate freely while serving one
 * request, free everything at once with arena_free when the request ends.
 *
 * Ownership: memory returned by arena_* belongs to the arena and lives until
 * arena_free/arena_reset. A ceiling (max bytes) bounds what one request can
 * take; past it arena_alloc returns NULL just as on OOM. Not thread-safe.
 */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include "base.h"

typedef struct arena_block arena_block;

typedef struct {
    arena_block *head;
    size_t used_total; /* bytes handed out across blocks, for the ceiling */
    size_t max;        /* 0 = no ceiling */
} arena_t;

void arena_init(arena_t *a, size_t max);
/* 16-byte aligned memory; NULL on OOM or past the ceiling. */
void *arena_alloc(arena_t *a, size_t size);
void *arena_zalloc(arena_t *a, size_t size);
/* NUL-terminated copy of s inside the arena. */
char *arena_strdup(arena_t *a, slice_t s);
/* printf into the arena; NULL on failure. */
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(arena_t *a);

#endif
