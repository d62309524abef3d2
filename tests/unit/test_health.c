/*
 * test_health.c - circuit breaker, error rates and latency estimates
 * (src/gateway/health.c), driven by a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "gateway/health.h"

static const gw_health_outcome OK = {.ok = true};
static const gw_health_outcome FAIL_5XX = {
    .ok = false, .err = GW_ERR_PROVIDER_ERROR, .retryable = true, .http_status = 500};
static const gw_health_outcome FAIL_TIMEOUT = {
    .ok = false, .err = GW_ERR_TIMEOUT, .retryable = true, .http_status = 0};
static const gw_health_outcome PROVIDER_429 = {
    .ok = false, .err = GW_ERR_RATE_LIMITED, .retryable = true, .http_status = 429};
static const gw_health_outcome OUR_429 = {
    .ok = false, .err = GW_ERR_RATE_LIMITED, .retryable = true, .http_status = 0};
static const gw_health_outcome BAD_REQUEST = {
    .ok = false, .err = GW_ERR_INVALID_REQUEST, .retryable = false, .http_status = 400};
static const gw_health_outcome CLIENT_GONE = {.ok = false, .err = GW_ERR_CLIENT_CLOSED};
static const gw_health_outcome KEY_REJECTED = {
    .ok = false, .err = GW_ERR_PROVIDER_AUTH, .retryable = false, .http_status = 401};

static gw_health *make(void)
{
    gw_health_config cfg;
    gw_health_config_default(&cfg);
    cfg.open_after_failures = 3;
    cfg.cooldown_ms = 1000;
    cfg.cooldown_max_ms = 3000;
    cfg.window_ms = 60000;
    cfg.window_min_requests = 10;
    cfg.open_error_rate_pct = 50;
    cfg.degraded_error_rate_pct = 10;
    cfg.open_after_rate_limits = 4;
    cfg.key_bad_cooldown_ms = 10000;
    cfg.probe_timeout_ms = 5000;
    cfg.latency_samples = 8;
    gw_health *h = gw_health_new(&cfg);
    assert_non_null(h);
    return h;
}

static void rec(gw_health *h, const gw_health_outcome *o, int64_t now)
{
    gw_health_record(h, "openai", "gpt", o, 100, 50, 1100, now);
}

static bool allow(gw_health *h, int64_t now)
{
    char reason[GW_HEALTH_REASON_MAX];
    return gw_health_allow(h, "openai", "gpt", now, reason, sizeof(reason));
}

static gw_model_health get(gw_health *h, int64_t now)
{
    gw_model_health mh;
    gw_health_get(h, "openai", "gpt", true, now, &mh);
    return mh;
}

static void test_unknown_is_available(void **state)
{
    (void)state;
    gw_health *h = make();
    assert_true(allow(h, 0));
    gw_model_health mh = get(h, 0);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_string_equal(mh.status_reason, "no traffic yet");
    assert_int_equal(mh.ttft_p50_ms, -1);
    assert_true(mh.tokens_per_s < 0);
    assert_int_equal(mh.total_requests, 0);
    gw_health_free(h);
}

static void test_opens_after_consecutive_failures(void **state)
{
    (void)state;
    gw_health *h = make();
    int64_t t = 1000;
    rec(h, &FAIL_5XX, t);
    rec(h, &OK, t); /* a success in between resets the streak */
    rec(h, &FAIL_5XX, t);
    rec(h, &FAIL_TIMEOUT, t);
    assert_true(allow(h, t));
    assert_int_equal(get(h, t).breaker, GW_BREAKER_CLOSED);
    rec(h, &FAIL_5XX, t);
    char reason[GW_HEALTH_REASON_MAX];
    assert_false(gw_health_allow(h, "openai", "gpt", t + 10, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "3 consecutive failures"));
    assert_non_null(strstr(reason, "next probe in 990 ms"));
    gw_model_health mh = get(h, t + 10);
    assert_int_equal(mh.status, GW_HEALTH_UNAVAILABLE);
    assert_int_equal(mh.breaker, GW_BREAKER_OPEN);
    assert_int_equal(mh.retry_in_ms, 990);
    assert_int_equal(mh.total_failures, 4);
    /* Other models of the same provider are not affected. */
    assert_true(gw_health_allow(h, "openai", "other", t + 10, NULL, 0));
    gw_health_free(h);
}

static void test_half_open_single_probe_and_recovery(void **state)
{
    (void)state;
    gw_health *h = make();
    for (int i = 0; i < 3; i++)
        rec(h, &FAIL_5XX, 0);
    assert_false(allow(h, 999));
    /* Cool-down over: exactly one probe passes. */
    assert_true(allow(h, 1000));
    assert_false(allow(h, 1001));
    assert_false(allow(h, 1500));
    assert_int_equal(get(h, 1500).breaker, GW_BREAKER_HALF_OPEN);
    assert_int_equal(get(h, 1500).status, GW_HEALTH_DEGRADED);
    /* The probe succeeds: closed, and the old failures no longer count. */
    rec(h, &OK, 1600);
    assert_true(allow(h, 1601));
    assert_true(allow(h, 1602));
    gw_model_health mh = get(h, 1602);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_int_equal(mh.breaker, GW_BREAKER_CLOSED);
    assert_int_equal(mh.window_failures, 0);
    gw_health_free(h);
}

static void test_failed_probe_reopens_longer_capped(void **state)
{
    (void)state;
    gw_health *h = make();
    for (int i = 0; i < 3; i++)
        rec(h, &FAIL_5XX, 0);
    /* cool-downs: 1000, then 2000, then 3000 (cap), then 3000 */
    int64_t t = 1000;
    int64_t expect[] = {2000, 3000, 3000};
    for (size_t i = 0; i < ARRAY_LEN(expect); i++) {
        assert_true(allow(h, t));
        rec(h, &FAIL_TIMEOUT, t);
        assert_false(allow(h, t + expect[i] - 1));
        gw_model_health mh = get(h, t);
        assert_int_equal(mh.retry_in_ms, expect[i]);
        assert_non_null(strstr(mh.status_reason, "probe request failed (timeout)"));
        t += expect[i];
    }
    assert_true(allow(h, t));
    rec(h, &OK, t);
    /* After recovery the cool-down starts over at 1000. */
    for (int i = 0; i < 3; i++)
        rec(h, &FAIL_5XX, t);
    assert_int_equal(get(h, t).retry_in_ms, 1000);
    gw_health_free(h);
}

static void test_neutral_outcomes(void **state)
{
    (void)state;
    gw_health *h = make();
    for (int i = 0; i < 10; i++) {
        rec(h, &BAD_REQUEST, 0);
        rec(h, &CLIENT_GONE, 0);
        rec(h, &OUR_429, 0);
    }
    gw_model_health mh = get(h, 0);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_int_equal(mh.total_requests, 0);
    assert_true(allow(h, 0));

    /* A neutral outcome of the half-open probe frees the probe slot. */
    for (int i = 0; i < 3; i++)
        rec(h, &FAIL_5XX, 0);
    assert_true(allow(h, 1000));
    assert_false(allow(h, 1000));
    rec(h, &CLIENT_GONE, 1001);
    assert_true(allow(h, 1002));
    assert_false(allow(h, 1003));
    /* A probe that never reports is presumed lost after probe_timeout_ms. */
    assert_false(allow(h, 1002 + 4999));
    assert_true(allow(h, 1002 + 5000));
    gw_health_free(h);
}

static void test_error_rate_degraded_then_open(void **state)
{
    (void)state;
    gw_health *h = make();
    /* 1 failure in 10: degraded, breaker closed. */
    rec(h, &FAIL_5XX, 100);
    for (int i = 0; i < 9; i++)
        rec(h, &OK, 100);
    gw_model_health mh = get(h, 200);
    assert_int_equal(mh.status, GW_HEALTH_DEGRADED);
    assert_int_equal(mh.error_rate_pct, 10);
    assert_int_equal(mh.window_requests, 10);
    assert_string_equal(mh.status_reason,
                        "elevated error rate: 1 of 10 calls failed in the last 60 s");
    assert_int_equal(mh.breaker, GW_BREAKER_CLOSED);

    /* Pairs of failures (never 3 in a row) push the rate towards 50%. */
    for (int i = 0; i < 6; i++) {
        rec(h, &FAIL_5XX, 300);
        rec(h, &FAIL_5XX, 300);
        rec(h, &OK, 300);
    }
    mh = get(h, 300);
    assert_int_equal(mh.window_requests, 28);
    assert_int_equal(mh.window_failures, 13);
    assert_int_equal(mh.breaker, GW_BREAKER_CLOSED);
    rec(h, &FAIL_5XX, 300); /* 14 of 29: still closed */
    assert_int_equal(get(h, 300).breaker, GW_BREAKER_CLOSED);
    rec(h, &FAIL_5XX, 300); /* 15 of 30 reaches 50%: open */
    mh = get(h, 300);
    assert_int_equal(mh.breaker, GW_BREAKER_OPEN);
    assert_non_null(strstr(mh.status_reason, "15 of 30 calls failed in the last 60 s"));

    /* The window slides: a minute later the old failures are gone. */
    assert_true(allow(h, 1300));
    rec(h, &OK, 1300);
    mh = get(h, 70000);
    assert_int_equal(mh.window_requests, 0);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_string_equal(mh.status_reason, "ok: no calls in the last 60 s");
    gw_health_free(h);
}

static void test_window_slides(void **state)
{
    (void)state;
    gw_health *h = make();
    rec(h, &FAIL_5XX, 0);
    rec(h, &OK, 0);
    rec(h, &OK, 0);
    assert_int_equal(get(h, 0).status, GW_HEALTH_DEGRADED);
    assert_int_equal(get(h, 30000).window_requests, 3);
    rec(h, &OK, 30000);
    /* Slot of t=0 drops out of the 60 s window; the t=30000 one stays. */
    gw_model_health mh = get(h, 65000);
    assert_int_equal(mh.window_requests, 1);
    assert_int_equal(mh.window_failures, 0);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_int_equal(mh.total_requests, 4);
    gw_health_free(h);
}

static void test_provider_429(void **state)
{
    (void)state;
    gw_health *h = make();
    rec(h, &OK, 0);
    rec(h, &PROVIDER_429, 0);
    gw_model_health mh = get(h, 0);
    assert_int_equal(mh.status, GW_HEALTH_DEGRADED);
    assert_non_null(strstr(mh.status_reason, "rate limiting: 1 of 2"));
    assert_true(allow(h, 0));
    /* 429s do not count as failures for the consecutive rule... */
    rec(h, &PROVIDER_429, 0);
    rec(h, &PROVIDER_429, 0);
    assert_true(allow(h, 0));
    assert_int_equal(get(h, 0).total_failures, 0);
    /* ...but persistent throttling (4 in a row) opens the breaker. */
    rec(h, &PROVIDER_429, 0);
    assert_false(allow(h, 1));
    assert_non_null(strstr(get(h, 1).status_reason, "429 to 4 calls in a row"));
    gw_health_free(h);
}

static void test_p50_and_speed(void **state)
{
    (void)state;
    gw_health *h = make();
    /* ttft 100..500; generation 1000 ms for 20..60 tokens. */
    int64_t ttfts[] = {500, 100, 300, 200, 400};
    for (int i = 0; i < 5; i++)
        gw_health_record(h, "openai", "gpt", &OK, ttfts[i], 20 + 10 * i, ttfts[i] + 1000, 0);
    gw_model_health mh = get(h, 0);
    assert_int_equal(mh.ttft_p50_ms, 300);
    assert_true(mh.tokens_per_s > 39.95 && mh.tokens_per_s < 40.05);
    /* Even count: mean of the middle two. */
    gw_health_record(h, "openai", "gpt", &OK, 600, 1, 600, 0); /* 1 token: no speed sample */
    mh = get(h, 0);
    assert_int_equal(mh.ttft_p50_ms, 350);
    assert_true(mh.tokens_per_s > 39.95 && mh.tokens_per_s < 40.05);
    /* An absurd provider-reported token count gives a huge speed, not UB. */
    gw_health_record(h, "big", "y", &OK, 0, INT64_MAX, 1000, 0);
    gw_health_get(h, "big", "y", true, 0, &mh);
    assert_true(mh.tokens_per_s > 1e12);
    /* One decimal: 10 tokens in 3 s = 3.3 tokens/s. */
    gw_health_record(h, "x", "y", &OK, 0, 10, 3000, 0);
    gw_health_get(h, "x", "y", true, 0, &mh);
    assert_true(mh.tokens_per_s > 3.29 && mh.tokens_per_s < 3.31);
    /* Only the last N (8) samples count. */
    for (int i = 0; i < 8; i++)
        gw_health_record(h, "openai", "gpt", &OK, 1000, 10, 2000, 0);
    assert_int_equal(get(h, 0).ttft_p50_ms, 1000);
    assert_true(get(h, 0).tokens_per_s > 9.95 && get(h, 0).tokens_per_s < 10.05);
    /* Failures bring no latency samples; the provider view aggregates. */
    gw_health_get(h, "openai", NULL, true, 0, &mh);
    assert_int_equal(mh.ttft_p50_ms, 1000);
    assert_int_equal(mh.total_requests, 14);
    gw_health_free(h);
}

static void test_unconfigured_wins(void **state)
{
    (void)state;
    gw_health *h = make();
    for (int i = 0; i < 3; i++)
        rec(h, &FAIL_5XX, 0);
    gw_health_mark_key_bad(h, "openai", 0);
    gw_model_health mh;
    gw_health_get(h, "openai", "gpt", false, 0, &mh);
    assert_int_equal(mh.status, GW_HEALTH_UNCONFIGURED);
    assert_string_equal(gw_health_status_name(mh.status), "unconfigured");
    gw_health_get(h, "never-seen", "m", false, 0, &mh);
    assert_int_equal(mh.status, GW_HEALTH_UNCONFIGURED);
    gw_health_free(h);
}

static void test_key_bad(void **state)
{
    (void)state;
    gw_health *h = make();
    rec(h, &OK, 0);
    rec(h, &KEY_REJECTED, 100);
    char reason[GW_HEALTH_REASON_MAX];
    /* Every model of the provider is refused. */
    assert_false(gw_health_allow(h, "openai", "gpt", 200, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "provider rejected the API key"));
    assert_false(gw_health_allow(h, "openai", "other", 200, NULL, 0));
    assert_true(gw_health_allow(h, "deepseek", "chat", 200, NULL, 0));
    gw_model_health mh = get(h, 200);
    assert_int_equal(mh.status, GW_HEALTH_UNAVAILABLE);
    assert_string_equal(mh.status_reason, "provider rejected the API key");
    gw_health_get(h, "openai", NULL, true, 200, &mh);
    assert_int_equal(mh.status, GW_HEALTH_UNAVAILABLE);
    /* The model's own breaker did not take the blame. */
    rec(h, &OK, 200); /* a late success of a call started earlier: key works */
    assert_true(allow(h, 201));

    /* Key rejected again; after the key cool-down one call probes it. */
    gw_health_mark_key_bad(h, "openai", 1000);
    assert_false(allow(h, 10999));
    assert_true(allow(h, 11000));
    assert_false(gw_health_allow(h, "openai", "other", 11001, NULL, 0));
    rec(h, &KEY_REJECTED, 11100); /* still bad: closed for another cool-down */
    assert_false(allow(h, 21099));
    assert_int_equal(get(h, 21099).status, GW_HEALTH_UNAVAILABLE);
    assert_true(allow(h, 21100));
    rec(h, &OK, 21200);
    assert_int_equal(get(h, 21200).status, GW_HEALTH_AVAILABLE);
    assert_true(gw_health_allow(h, "openai", "other", 21201, NULL, 0));
    gw_health_free(h);
}

static void test_probes(void **state)
{
    (void)state;
    gw_health *h = make();
    gw_health_mark_probe(h, "local", false, "connection refused", 0);
    gw_model_health mh;
    gw_health_get(h, "local", "llama", true, 10, &mh);
    assert_int_equal(mh.status, GW_HEALTH_UNAVAILABLE);
    assert_string_equal(mh.status_reason, "health probe failed: connection refused");
    assert_false(gw_health_allow(h, "local", "llama", 10, NULL, 0));
    gw_health_mark_probe(h, "local", true, NULL, 20);
    gw_health_get(h, "local", "llama", true, 20, &mh);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_true(gw_health_allow(h, "local", "llama", 20, NULL, 0));
    /* A good probe also clears a bad key. */
    gw_health_mark_key_bad(h, "local", 30);
    gw_health_mark_probe(h, "local", true, "", 40);
    assert_true(gw_health_allow(h, "local", "llama", 40, NULL, 0));
    /* Reset forgets everything. */
    gw_health_mark_probe(h, "local", false, NULL, 50);
    gw_health_reset_provider(h, "local");
    gw_health_get(h, "local", "llama", true, 50, &mh);
    assert_int_equal(mh.status, GW_HEALTH_AVAILABLE);
    assert_string_equal(mh.status_reason, "no traffic yet");
    gw_health_free(h);
}

typedef struct {
    gw_health *h;
    int id;
} thread_arg;

static void *hammer(void *p)
{
    thread_arg *arg = p;
    char model[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(model, sizeof(model), "m%d", i % 7);
        if (gw_health_allow(arg->h, "p", model, i, NULL, 0))
            gw_health_record(arg->h, "p", model, (i + arg->id) % 3 ? &OK : &FAIL_5XX, 10, 5, 100,
                             i);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    gw_health *h = make();
    pthread_t threads[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){h, i};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    gw_model_health mh;
    gw_health_get(h, "p", NULL, true, 20000, &mh);
    assert_true(mh.total_requests > 0);
    assert_int_equal(mh.ttft_p50_ms, 10);
    gw_health_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_is_available),
        cmocka_unit_test(test_opens_after_consecutive_failures),
        cmocka_unit_test(test_half_open_single_probe_and_recovery),
        cmocka_unit_test(test_failed_probe_reopens_longer_capped),
        cmocka_unit_test(test_neutral_outcomes),
        cmocka_unit_test(test_error_rate_degraded_then_open),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_provider_429),
        cmocka_unit_test(test_p50_and_speed),
        cmocka_unit_test(test_unconfigured_wins),
        cmocka_unit_test(test_key_bad),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
