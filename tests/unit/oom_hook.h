/*
 * oom_hook.h - allocation-failure injection for unit tests (SQLite's habit):
 * arm the hook, run the code under test, and the Nth allocation from then on
 * returns NULL. Sweeping N = 1, 2, ... until a run no longer reaches the
 * failure shows that every allocation site of a parser turns OOM into an error
 * instead of a crash, a leak or a silently wrong result.
 *
 * How: this header DEFINES malloc, calloc, realloc, free and the aligned
 * allocators. A definition in the executable takes precedence over libc's for
 * the whole process (libjansson and the project's libraries included), and
 * each one delegates to glibc's __libc_* entry points. That needs no linker
 * flags (-Wl,--wrap would need a CMake change). Include this header from
 * exactly ONE .c file of a test executable.
 *
 * Under AddressSanitizer the hook is compiled out (ASan owns malloc, and
 * bypassing it would hide the very errors it looks for): oom_hook_active()
 * is false, arming does nothing, nothing fires and oom_live_blocks() stays 0.
 * Such a build still runs every scenario once, and LeakSanitizer checks leaks.
 *
 * Besides failing, the hook counts live heap blocks (successful allocations
 * minus frees), so a test can assert that a run left nothing behind.
 *
 * Thread-safety: counters are atomic, so allocations from other threads do
 * not corrupt them; but an armed hook fails the Nth allocation of ANY thread,
 * so arm it only around single-threaded code.
 */
#ifndef TESTS_OOM_HOOK_H
#define TESTS_OOM_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define OOM_HOOK_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define OOM_HOOK_ENABLED 0
#endif
#endif
#ifndef OOM_HOOK_ENABLED
#define OOM_HOOK_ENABLED 1
#endif

typedef struct {
    uint64_t calls;   /* allocation calls since oom_arm (malloc, calloc, realloc, aligned) */
    uint64_t fail_at; /* 1-based call number that fails; 0 = disarmed */
    bool persistent;  /* once failing, keep failing every later call */
    bool fired;       /* a failure was injected since oom_arm */
    int64_t live;     /* successful allocations minus frees, process-wide */
    int suspended;    /* > 0: count nothing against fail_at (test bookkeeping) */
} oom_hook_state;

static oom_hook_state oom_state;

/* True when the hook really injects failures in this build. */
static inline bool oom_hook_active(void)
{
    return OOM_HOOK_ENABLED;
}

/* From now on, the fail_at-th allocation call fails (and with persistent, every
 * call after it too). fail_at == 0 disarms. Resets the call counter. */
static inline void oom_arm(uint64_t fail_at, bool persistent)
{
    __atomic_store_n(&oom_state.calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&oom_state.fired, false, __ATOMIC_SEQ_CST);
    oom_state.persistent = persistent;
    __atomic_store_n(&oom_state.fail_at, fail_at, __ATOMIC_SEQ_CST);
}

static inline void oom_disarm(void)
{
    __atomic_store_n(&oom_state.fail_at, 0, __ATOMIC_SEQ_CST);
}

/* Whether a failure was injected since the last oom_arm. */
static inline bool oom_fired(void)
{
    return __atomic_load_n(&oom_state.fired, __ATOMIC_SEQ_CST);
}

/* Allocation calls seen since the last oom_arm (0 under ASan). */
static inline uint64_t oom_calls(void)
{
    return __atomic_load_n(&oom_state.calls, __ATOMIC_SEQ_CST);
}

/* Live heap blocks, process-wide (0 under ASan). Compare before/after a run. */
static inline int64_t oom_live_blocks(void)
{
    return __atomic_load_n(&oom_state.live, __ATOMIC_SEQ_CST);
}

/* Brackets test bookkeeping (collectors, asserts) inside an armed region so
 * its allocations neither fail nor count as calls. Nestable. */
static inline void oom_suspend(void)
{
    __atomic_add_fetch(&oom_state.suspended, 1, __ATOMIC_SEQ_CST);
}

static inline void oom_resume(void)
{
    __atomic_sub_fetch(&oom_state.suspended, 1, __ATOMIC_SEQ_CST);
}

#if OOM_HOOK_ENABLED

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);

#include <errno.h>

/* Counts one allocation call; true when this one must fail. */
static bool oom_should_fail(void)
{
    if (__atomic_load_n(&oom_state.suspended, __ATOMIC_SEQ_CST) > 0) return false;
    uint64_t fail_at = __atomic_load_n(&oom_state.fail_at, __ATOMIC_SEQ_CST);
    uint64_t n = __atomic_add_fetch(&oom_state.calls, 1, __ATOMIC_SEQ_CST);
    if (fail_at == 0) return false;
    if (n == fail_at || (oom_state.persistent && n > fail_at)) {
        __atomic_store_n(&oom_state.fired, true, __ATOMIC_SEQ_CST);
        return true;
    }
    return false;
}

static void oom_count_live(int64_t delta)
{
    __atomic_add_fetch(&oom_state.live, delta, __ATOMIC_SEQ_CST);
}

void *malloc(size_t size)
{
    if (oom_should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_malloc(size);
    if (p) oom_count_live(1);
    return p;
}

void *calloc(size_t n, size_t size)
{
    if (oom_should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_calloc(n, size);
    if (p) oom_count_live(1);
    return p;
}

void *realloc(void *old, size_t size)
{
    if (old && size == 0) { /* glibc frees and returns NULL */
        oom_count_live(-1);
        return __libc_realloc(old, 0);
    }
    if (oom_should_fail()) {
        errno = ENOMEM;
        return NULL; /* old stays valid, as with a real failure */
    }
    void *p = __libc_realloc(old, size);
    if (p && !old) oom_count_live(1);
    return p;
}

void free(void *p)
{
    if (!p) return;
    oom_count_live(-1);
    __libc_free(p);
}

static void *oom_aligned(size_t alignment, size_t size)
{
    if (oom_should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_memalign(alignment, size);
    if (p) oom_count_live(1);
    return p;
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1))) return EINVAL;
    void *p = oom_aligned(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return oom_aligned(alignment, size);
}

void *memalign(size_t alignment, size_t size)
{
    return oom_aligned(alignment, size);
}

#endif /* OOM_HOOK_ENABLED */

#endif
