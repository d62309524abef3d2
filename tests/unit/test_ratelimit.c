/*
 * test_ratelimit.c - token buckets (src/core/ratelimit.c) with a fake clock:
 * exact refill, refusal with retry-after, debt from after-the-fact charges,
 * unlimited, bounded table, and a concurrent hammer that never overshoots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void test_rpm(void **state)
{
    (void)state;
    rl_table *t = rl_new(64);
    rl_result r;
    for (int i = 0; i < 60; i++) {
        rl_take(t, "k", 60, 1, 1000, &r);
        assert_true(r.allowed);
    }
    assert_int_equal(r.remaining, 0);
    rl_take(t, "k", 60, 1, 1000, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_ms, 1000); /* 60/min = one per second */
    rl_take(t, "k", 60, 1, 1999, &r);
    assert_false(r.allowed);
    rl_take(t, "k", 60, 1, 2000, &r);
    assert_true(r.allowed);
    rl_take(t, "other", 60, 1, 2000, &r); /* separate bucket */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 59);
    rl_free(t);
}

static void test_debt_and_unlimited(void **state)
{
    (void)state;
    rl_table *t = rl_new(64);
    rl_result r;
    rl_take(t, "tpm", 1000, 10, 0, &r);
    assert_true(r.allowed);
    rl_charge(t, "tpm", 1000, 5000, 0); /* the call used far more than estimated */
    rl_take(t, "tpm", 1000, 1, 0, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    /* debt capped at -1000: after 60 s the bucket is back at 0, at 61 s 16 units */
    rl_take(t, "tpm", 1000, 1, 60000, &r);
    assert_false(r.allowed);
    rl_take(t, "tpm", 1000, 16, 61000, &r);
    assert_true(r.allowed);
    rl_take(t, "x", 0, 1000000, 0, &r);
    assert_true(r.allowed);
    rl_free(t);
}

static void test_bounded(void **state)
{
    (void)state;
    rl_table *t = rl_new(8);
    rl_result r;
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        rl_take(t, k, 10, 1, 0, &r);
        assert_true(r.allowed);
    }
    rl_free(t);
}

/* Keys longer than a slot's key field (hub keys carry two ids) must keep
 * their own bucket: a key that never matched again would get a fresh, full
 * bucket on every call, i.e. no limit at all. */
static void test_long_keys(void **state)
{
    (void)state;
    rl_table *t = rl_new(64);
    rl_result r;
    char a[200], b[200];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[sizeof b - 2] = 'y'; /* same first 198 bytes, different key */
    for (int i = 0; i < 3; i++) {
        rl_take(t, a, 3, 1, 0, &r);
        assert_true(r.allowed);
    }
    rl_take(t, a, 3, 1, 0, &r);
    assert_false(r.allowed);
    rl_take(t, b, 3, 1, 0, &r); /* a different long key has its own bucket */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
    rl_free(t);
}

/* Limits and costs near INT64_MAX (a misconfigured tpm, a provider reporting
 * absurd token counts) and long idle gaps must not overflow (UBSan checks). */
static void test_huge_values(void **state)
{
    (void)state;
    rl_table *t = rl_new(64);
    rl_result r;
    rl_take(t, "big", INT64_MAX, 1, 0, &r);
    assert_true(r.allowed);
    rl_charge(t, "big", INT64_MAX, INT64_MAX, 1);
    rl_take(t, "big", INT64_MAX, INT64_MAX, INT64_MAX / 2, &r);
    assert_true(r.allowed);
    rl_take(t, "small", 10, INT64_MAX, 0, &r); /* more than the bucket: needs it full */
    assert_true(r.allowed);
    rl_take(t, "small", 10, 1, 1, &r);
    assert_false(r.allowed);
    rl_charge(t, "small", 10, INT64_MAX, 2);
    rl_peek(t, "small", 10, INT64_MAX / 2, &r); /* decades later: full again */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 10);
    rl_free(t);
}

static rl_table *shared;
static int allowed_count;
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        rl_result r;
        rl_take(shared, "hot", 100, 1, 5, &r);
        if (r.allowed) {
            pthread_mutex_lock(&count_mu);
            allowed_count++;
            pthread_mutex_unlock(&count_mu);
        }
    }
    return NULL;
}

static void test_concurrent_no_overshoot(void **state)
{
    (void)state;
    shared = rl_new(16);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(allowed_count, 100); /* clock frozen: exactly the bucket */
    rl_free(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpm),         cmocka_unit_test(test_debt_and_unlimited),
        cmocka_unit_test(test_bounded),     cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_huge_values), cmocka_unit_test(test_concurrent_no_overshoot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
