/*
 * test_metrics.c - the Prometheus registry: definitions, updates by handle and
 * by name, the exact text exposition output, label escaping, the series cap
 * and concurrent updates from several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/metrics.h"

static int reset_registry(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static char *render(void)
{
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(metrics_render(&b), CORE_OK);
    return buf_steal(&b, NULL);
}

static void test_counter_and_gauge_rendering(void **state)
{
    (void)state;
    const char *const labels[] = {"provider", "status", NULL};
    metric *req = metrics_counter_define("aigw_requests_total", "Requests served.", labels);
    assert_non_null(req);
    assert_ptr_equal(metrics_counter_define("aigw_requests_total", "again", labels), req);
    assert_null(metrics_gauge_define("aigw_requests_total", "clash", labels));
    metric *open = metrics_gauge_define("aigw_open_streams", "Open streams.", NULL);
    assert_non_null(open);

    const char *const ok[] = {"openai", "200"};
    const char *const bad[] = {"openai", "503"};
    assert_int_equal(metrics_add(req, ok, 3), CORE_OK);
    assert_int_equal(metrics_counter_add("aigw_requests_total", bad, 1), CORE_OK);
    assert_int_equal(metrics_counter_add("aigw_requests_total", ok, 2), CORE_OK);
    assert_int_equal(metrics_add(req, ok, -1), CORE_EINVAL);
    assert_int_equal(metrics_counter_add("nope_total", ok, 1), CORE_ENOTFOUND);
    assert_int_equal(metrics_gauge_set("aigw_open_streams", NULL, 7), CORE_OK);
    assert_int_equal(metrics_gauge_add("aigw_open_streams", NULL, -2), CORE_OK);
    assert_int_equal(metrics_set(req, ok, 1), CORE_EINVAL);
    assert_int_equal(metrics_value(req, ok), 5);
    assert_int_equal(metrics_value(open, NULL), 5);

    char *text = render();
    assert_string_equal(text, "# HELP aigw_requests_total Requests served.\n"
                              "# TYPE aigw_requests_total counter\n"
                              "aigw_requests_total{provider=\"openai\",status=\"200\"} 5\n"
                              "aigw_requests_total{provider=\"openai\",status=\"503\"} 1\n"
                              "# HELP aigw_open_streams Open streams.\n"
                              "# TYPE aigw_open_streams gauge\n"
                              "aigw_open_streams 5\n");
    free(text);
}

static void test_histogram_rendering(void **state)
{
    (void)state;
    const char *const labels[] = {"route", NULL};
    const double buckets[] = {0.01, 0.1, 1};
    metric *h =
        metrics_histogram_define("http_request_duration_seconds", "Latency.", labels, buckets, 3);
    assert_non_null(h);
    const char *const api[] = {"/api"};
    assert_int_equal(metrics_observe(h, api, 0.005), CORE_OK);
    assert_int_equal(metrics_observe(h, api, 0.1), CORE_OK); /* le is inclusive */
    assert_int_equal(metrics_histogram_observe("http_request_duration_seconds", api, 2.5), CORE_OK);
    assert_int_equal(metrics_add(h, api, 1), CORE_EINVAL);
    char *text = render();
    assert_string_equal(text, "# HELP http_request_duration_seconds Latency.\n"
                              "# TYPE http_request_duration_seconds histogram\n"
                              "http_request_duration_seconds_bucket{route=\"/api\",le=\"0.01\"} 1\n"
                              "http_request_duration_seconds_bucket{route=\"/api\",le=\"0.1\"} 2\n"
                              "http_request_duration_seconds_bucket{route=\"/api\",le=\"1\"} 2\n"
                              "http_request_duration_seconds_bucket{route=\"/api\",le=\"+Inf\"} 3\n"
                              "http_request_duration_seconds_sum{route=\"/api\"} 2.605\n"
                              "http_request_duration_seconds_count{route=\"/api\"} 3\n");
    free(text);
    const double unsorted[] = {1, 0.5};
    assert_null(metrics_histogram_define("h2", "x", NULL, unsorted, 2));
    const char *const le[] = {"le", NULL};
    assert_null(metrics_histogram_define("h3", "x", le, buckets, 3));
    assert_non_null(metrics_histogram_define("h4", "x", NULL, metrics_latency_buckets,
                                             metrics_latency_buckets_count));
}

static void test_escaping_and_validation(void **state)
{
    (void)state;
    const char *const labels[] = {"model", NULL};
    metric *m = metrics_counter_define("x_total", "Help with \\ and\nnewline.", labels);
    const char *const odd[] = {"a\"b\\c\nd"};
    assert_int_equal(metrics_add(m, odd, 1), CORE_OK);
    char *text = render();
    assert_string_equal(text, "# HELP x_total Help with \\\\ and\\nnewline.\n"
                              "# TYPE x_total counter\n"
                              "x_total{model=\"a\\\"b\\\\c\\nd\"} 1\n");
    free(text);
    assert_null(metrics_counter_define("9bad", "x", NULL));
    assert_null(metrics_counter_define("bad-name", "x", NULL));
    const char *const too_many[] = {"a", "b", "c", "d", "e", NULL};
    assert_null(metrics_counter_define("many_total", "x", too_many));
    const char *const bad_label[] = {"a:b", NULL};
    assert_null(metrics_counter_define("colon_total", "x", bad_label));
}

static void test_series_cap(void **state)
{
    (void)state;
    const char *const labels[] = {"user", NULL};
    metric *m = metrics_counter_define("capped_total", "x", labels);
    char name[32];
    const char *const values[] = {name};
    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        snprintf(name, sizeof name, "u%d", i);
        assert_int_equal(metrics_add(m, values, 1), CORE_OK);
    }
    snprintf(name, sizeof name, "one-more");
    assert_int_equal(metrics_add(m, values, 1), CORE_ETOOBIG);
    snprintf(name, sizeof name, "u42"); /* existing series still update */
    assert_int_equal(metrics_add(m, values, 1), CORE_OK);
    assert_int_equal(metrics_value(m, values), 2);
}

static void *hammer(void *arg)
{
    metric *m = arg;
    const char *const a[] = {"a"};
    const char *const b[] = {"b"};
    for (int i = 0; i < 20000; i++) {
        metrics_add(m, (i & 1) ? a : b, 1);
        metrics_histogram_observe("conc_seconds", NULL, 0.002);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    const char *const labels[] = {"k", NULL};
    metric *m = metrics_counter_define("conc_total", "x", labels);
    metrics_histogram_define("conc_seconds", "x", NULL, metrics_latency_buckets,
                             metrics_latency_buckets_count);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, m);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    const char *const a[] = {"a"};
    assert_int_equal(metrics_value(m, a), 40000);
    char *text = render();
    assert_non_null(strstr(text, "conc_seconds_count 80000\n"));
    assert_non_null(strstr(text, "conc_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(text, "conc_seconds_bucket{le=\"0.0025\"} 80000\n"));
    free(text);
}

static void test_render_ceiling(void **state)
{
    (void)state;
    metrics_counter_define("some_total", "x", NULL);
    metrics_counter_add("some_total", NULL, 1);
    buf_t b;
    buf_init(&b, 10);
    assert_int_equal(metrics_render(&b), CORE_ETOOBIG);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counter_and_gauge_rendering, reset_registry),
        cmocka_unit_test_setup(test_histogram_rendering, reset_registry),
        cmocka_unit_test_setup(test_escaping_and_validation, reset_registry),
        cmocka_unit_test_setup(test_series_cap, reset_registry),
        cmocka_unit_test_setup(test_concurrent_updates, reset_registry),
        cmocka_unit_test_setup(test_render_ceiling, reset_registry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
