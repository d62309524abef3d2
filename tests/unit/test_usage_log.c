/*
 * test_usage_log.c - the batched usage writer against a real SQLite
 * database: 10k rows from 4 threads all land with an exact cost sum, every
 * field round-trips (NULLs included), flush and the periodic timer write
 * without close, the queue ceiling drops and counts instead of blocking,
 * a failing database is retried and, when it stays down, rows are dropped
 * and counted so close still returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "gateway/gw_schema.h"
#include "gateway/usage_log.h"
#include "gw_test_db.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static bool use_postgres; /* which backend the running group uses */

typedef struct {
    gw_test_db db;
    store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char errbuf[256];
    if (gw_test_db_create(&f->db, use_postgres)) return -1;
    if (store_open(f->db.url, 1, &f->store, errbuf, sizeof errbuf)) return -1;
    if (gw_schema_migrate(f->store, errbuf, sizeof errbuf)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->store);
    gw_test_db_destroy(&f->db);
    free(f);
    return 0;
}

static store_rows *sql_rows(fixture *f, const char *sql)
{
    store_rows *rows = gw_test_db_query(f->store, sql);
    assert_non_null(rows);
    return rows;
}

static int64_t sql_scalar(fixture *f, const char *sql)
{
    store_rows *rows = sql_rows(f, sql);
    int64_t v = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return v;
}

static core_err exec_job(store_conn *c, void *ud)
{
    return store_exec(c, ud, NULL, 0);
}

static void sql_exec(fixture *f, const char *sql)
{
    assert_int_equal(store_run_sync(f->store, exec_job, (void *)sql), CORE_OK);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static gw_usage_row basic_row(const char *request_id, int64_t cost)
{
    return (gw_usage_row){
        .request_id = request_id,
        .provider = "simulator",
        .model = "sim-chat",
        .input_tokens = 10,
        .output_tokens = 20,
        .cost_pico = cost,
        .provider_cost_pico = -1,
        .latency_ms = 5,
        .ttft_ms = -1,
        .http_status = 200,
        .attempts = 1,
    };
}

/* ---------- 10k rows from 4 threads ---------- */

#define WRITER_THREADS  4
#define ROWS_PER_THREAD 2500

typedef struct {
    gw_usage_log *log;
    int thread;
    int64_t cost_sum;
    int errors;
} producer_args;

static void *producer_main(void *arg)
{
    producer_args *a = arg;
    char request_id[48], metadata[96];
    for (int i = 0; i < ROWS_PER_THREAD; i++) {
        snprintf(request_id, sizeof request_id, "gen_t%d_%d", a->thread, i);
        snprintf(metadata, sizeof metadata, "{\"org_id\":\"org_%d\",\"n\":%d}", a->thread, i);
        /* Costs near a cent each, with odd pico digits, so a float would drift. */
        int64_t cost = 10000000000LL + (int64_t)a->thread * 1000003 + (int64_t)i * 7919 + 1;
        gw_usage_row row = basic_row(request_id, cost);
        row.metadata_json = metadata;
        row.stream = i % 2;
        if (gw_usage_log_append(a->log, &row) != CORE_OK)
            a->errors++;
        else
            a->cost_sum += cost;
    }
    return NULL;
}

static void test_ten_thousand_rows_four_threads(void **state)
{
    fixture *f = *state;
    gw_usage_log *log = NULL;
    pthread_t threads[WRITER_THREADS];
    producer_args args[WRITER_THREADS];
    int64_t expected = 0;
    assert_int_equal(gw_usage_log_open(f->store, 0, &log), CORE_OK);
    for (int t = 0; t < WRITER_THREADS; t++) {
        args[t] = (producer_args){log, t, 0, 0};
        pthread_create(&threads[t], NULL, producer_main, &args[t]);
    }
    for (int t = 0; t < WRITER_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(args[t].errors, 0);
        expected += args[t].cost_sum;
    }
    gw_usage_stats st;
    gw_usage_log_stats(log, &st);
    assert_int_equal(st.appended, WRITER_THREADS * ROWS_PER_THREAD);
    gw_usage_log_close(log); /* must flush everything */

    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM usage_log"),
                     WRITER_THREADS * ROWS_PER_THREAD);
    assert_int_equal(sql_scalar(f, "SELECT SUM(cost_pico) FROM usage_log"), expected);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(DISTINCT request_id) FROM usage_log"),
                     WRITER_THREADS * ROWS_PER_THREAD);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(DISTINCT id) FROM usage_log"),
                     WRITER_THREADS * ROWS_PER_THREAD);
    assert_int_equal(sql_scalar(f, "SELECT SUM(stream) FROM usage_log"),
                     WRITER_THREADS * ROWS_PER_THREAD / 2);
    /* Each thread's rows kept their own metadata. */
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM usage_log WHERE request_id = 'gen_t3_77'"
                                   " AND metadata = '{\"org_id\":\"org_3\",\"n\":77}'"),
                     1);
}

/* ---------- one row, every field ---------- */

static void test_fields_round_trip(void **state)
{
    fixture *f = *state;
    gw_usage_log *log = NULL;
    assert_int_equal(gw_usage_log_open(f->store, 0, &log), CORE_OK);
    gw_usage_row full = {
        .request_id = "gen_full",
        .ts_ms = 1764000000123,
        .key_id = "key_abc",
        .provider = "deepseek",
        .model = "deepseek-v4-flash",
        .requested_model = "openai/gpt-4o-mini",
        .input_tokens = 1200,
        .cached_input_tokens = 1000,
        .output_tokens = 300,
        .reasoning_tokens = 120,
        .cost_pico = 140 * 200 + 28 * 1000 + 280 * 300,
        .cost_estimated = true,
        .provider_cost_pico = 111000,
        .latency_ms = 812,
        .ttft_ms = 240,
        .http_status = 200,
        .error_code = NULL,
        .attempts = 2,
        .fallback_from = "openai/gpt-4o-mini",
        .stream = true,
        .metadata_json = "{\"org_id\":\"o1\",\"user_id\":\"u1\",\"conversation_id\":\"c1\"}",
    };
    gw_usage_row sparse = {
        .request_id = "gen_sparse",
        .provider = "openai",
        .model = "gpt-4o",
        .provider_cost_pico = -1,
        .latency_ms = -1,
        .ttft_ms = -1,
        .error_code = "timeout",
    };
    assert_int_equal(gw_usage_log_append(log, &full), CORE_OK);
    assert_int_equal(gw_usage_log_append(log, &sparse), CORE_OK);
    gw_usage_log_close(log);

    store_rows *r = sql_rows(
        f, "SELECT request_id, ts_ms, key_id, provider, model, requested_model, input_tokens,"
           " cached_input_tokens, output_tokens, reasoning_tokens, cost_pico, cost_estimated,"
           " provider_cost_pico, latency_ms, ttft_ms, http_status, error_code, attempts,"
           " fallback_from, stream, metadata FROM usage_log ORDER BY request_id");
    assert_int_equal(store_rows_count(r), 2);
    /* gen_full */
    assert_string_equal(store_rows_get(r, 0, 0), "gen_full");
    assert_int_equal(store_rows_i64(r, 0, 1, 0), 1764000000123);
    assert_string_equal(store_rows_get(r, 0, 2), "key_abc");
    assert_string_equal(store_rows_get(r, 0, 3), "deepseek");
    assert_string_equal(store_rows_get(r, 0, 4), "deepseek-v4-flash");
    assert_string_equal(store_rows_get(r, 0, 5), "openai/gpt-4o-mini");
    assert_int_equal(store_rows_i64(r, 0, 6, 0), 1200);
    assert_int_equal(store_rows_i64(r, 0, 7, 0), 1000);
    assert_int_equal(store_rows_i64(r, 0, 8, 0), 300);
    assert_int_equal(store_rows_i64(r, 0, 9, 0), 120);
    assert_int_equal(store_rows_i64(r, 0, 10, 0), full.cost_pico);
    assert_int_equal(store_rows_i64(r, 0, 11, 0), 1);
    assert_int_equal(store_rows_i64(r, 0, 12, 0), 111000);
    assert_int_equal(store_rows_i64(r, 0, 13, 0), 812);
    assert_int_equal(store_rows_i64(r, 0, 14, 0), 240);
    assert_int_equal(store_rows_i64(r, 0, 15, 0), 200);
    assert_null(store_rows_get(r, 0, 16));
    assert_int_equal(store_rows_i64(r, 0, 17, 0), 2);
    assert_string_equal(store_rows_get(r, 0, 18), "openai/gpt-4o-mini");
    assert_int_equal(store_rows_i64(r, 0, 19, 0), 1);
    assert_string_equal(store_rows_get(r, 0, 20), full.metadata_json);
    /* gen_sparse: unknowns are NULL, defaults filled in. */
    assert_string_equal(store_rows_get(r, 1, 0), "gen_sparse");
    int64_t ts = store_rows_i64(r, 1, 1, 0);
    assert_true(ts > 1700000000000 && ts <= time_wall_ms());
    assert_null(store_rows_get(r, 1, 2));
    assert_null(store_rows_get(r, 1, 5));
    assert_null(store_rows_get(r, 1, 12));
    assert_null(store_rows_get(r, 1, 13));
    assert_null(store_rows_get(r, 1, 14));
    assert_null(store_rows_get(r, 1, 15));
    assert_string_equal(store_rows_get(r, 1, 16), "timeout");
    assert_int_equal(store_rows_i64(r, 1, 17, -1), 0); /* 0 attempts: refused before any */
    assert_null(store_rows_get(r, 1, 18));
    assert_int_equal(store_rows_i64(r, 1, 19, -1), 0);
    assert_null(store_rows_get(r, 1, 20));
    store_rows_free(r);
}

static void test_invalid_rows_and_ceilings(void **state)
{
    fixture *f = *state;
    gw_usage_log *log = NULL;
    assert_int_equal(gw_usage_log_open(f->store, 0, &log), CORE_OK);
    gw_usage_row row = basic_row(NULL, 1);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_EINVAL);
    row = basic_row("", 1);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_EINVAL);
    row = basic_row("gen_1", 1);
    row.provider = NULL;
    assert_int_equal(gw_usage_log_append(log, &row), CORE_EINVAL);
    row = basic_row("gen_1", 1);
    row.model = "";
    assert_int_equal(gw_usage_log_append(log, &row), CORE_EINVAL);
    assert_int_equal(gw_usage_log_append(log, NULL), CORE_EINVAL);

    /* Oversized metadata is replaced, oversized ids are cut on a UTF-8 boundary. */
    char *big = malloc(GW_USAGE_METADATA_MAX + 64);
    memset(big, ' ', GW_USAGE_METADATA_MAX + 63);
    big[0] = '{';
    big[GW_USAGE_METADATA_MAX + 62] = '}';
    big[GW_USAGE_METADATA_MAX + 63] = '\0';
    char model[GW_USAGE_TEXT_MAX + 8];
    memset(model, 'm', GW_USAGE_TEXT_MAX - 1);
    /* A 2-byte character straddling the cut. */
    model[GW_USAGE_TEXT_MAX - 1] = (char)0xC3;
    model[GW_USAGE_TEXT_MAX] = (char)0xA9;
    model[GW_USAGE_TEXT_MAX + 1] = '\0';
    row = basic_row("gen_big", 1);
    row.metadata_json = big;
    row.model = model;
    assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    free(big);
    gw_usage_log_close(log);
    store_rows *r = sql_rows(f, "SELECT metadata, model FROM usage_log");
    assert_int_equal(store_rows_count(r), 1);
    assert_string_equal(store_rows_get(r, 0, 0), "{\"truncated\":true}");
    assert_int_equal(strlen(store_rows_get(r, 0, 1)), GW_USAGE_TEXT_MAX - 1);
    store_rows_free(r);
}

static void test_flush_and_timer(void **state)
{
    fixture *f = *state;
    gw_usage_log *log = NULL;
    gw_usage_row row;
    assert_int_equal(gw_usage_log_open(f->store, 0, &log), CORE_OK);
    gw_usage_log_flush(log); /* nothing queued: returns at once */
    row = basic_row("gen_a", 5);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    row = basic_row("gen_b", 7);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    gw_usage_log_flush(log);
    assert_int_equal(sql_scalar(f, "SELECT SUM(cost_pico) FROM usage_log"), 12);
    /* Without flush, the 50 ms timer writes it. */
    row = basic_row("gen_c", 100);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    int64_t count = 0;
    for (int i = 0; i < 100 && count != 3; i++) {
        sleep_ms(20);
        count = sql_scalar(f, "SELECT COUNT(*) FROM usage_log");
    }
    assert_int_equal(count, 3);
    gw_usage_stats st;
    gw_usage_log_stats(log, &st);
    assert_int_equal(st.appended, 3);
    assert_int_equal(st.written, 3);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.queued, 0);
    gw_usage_log_close(log);
    gw_usage_log_close(NULL);
}

/* ---------- queue ceiling while the database is held ---------- */

typedef struct {
    store *store;
    sem_t entered;
    sem_t release;
} blocker_args;

static core_err blocking_job(store_conn *c, void *ud)
{
    blocker_args *a = ud;
    (void)c;
    sem_post(&a->entered);
    sem_wait(&a->release);
    return CORE_OK;
}

static void *blocker_main(void *arg)
{
    blocker_args *a = arg;
    store_run_sync(a->store, blocking_job, a);
    return NULL;
}

static void test_ceiling_drops_instead_of_blocking(void **state)
{
    fixture *f = *state;
    gw_usage_log *log = NULL;
    blocker_args blocker = {.store = f->store};
    pthread_t thread;
    char id[32];
    sem_init(&blocker.entered, 0, 0);
    sem_init(&blocker.release, 0, 0);
    assert_int_equal(gw_usage_log_open(f->store, 10, &log), CORE_OK);
    /* Hold the store's sync connection: the writer will wait for it. */
    pthread_create(&thread, NULL, blocker_main, &blocker);
    sem_wait(&blocker.entered);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "gen_first_%d", i);
        gw_usage_row row = basic_row(id, 1);
        assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    }
    sleep_ms(200); /* the writer takes those 10 and waits for the database */
    for (int i = 0; i < 15; i++) {
        snprintf(id, sizeof id, "gen_second_%d", i);
        gw_usage_row row = basic_row(id, 1);
        uint64_t t0 = time_mono_ms();
        core_err err = gw_usage_log_append(log, &row);
        assert_true(time_mono_ms() - t0 < 50); /* never waits for the database */
        assert_int_equal(err, i < 10 ? CORE_OK : CORE_EBUSY);
    }
    gw_usage_stats st;
    gw_usage_log_stats(log, &st);
    assert_int_equal(st.appended, 20);
    assert_int_equal(st.dropped, 5);
    assert_int_equal(st.queued, 10);
    sem_post(&blocker.release);
    pthread_join(thread, NULL);
    gw_usage_log_close(log);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM usage_log"), 20);
    sem_destroy(&blocker.entered);
    sem_destroy(&blocker.release);
}

/* ---------- database failures ---------- */

static void test_retries_then_drops_when_database_stays_down(void **state)
{
    fixture *f = *state;
    gw_usage_log *log = NULL;
    gw_usage_stats st;
    gw_usage_row row;
    assert_int_equal(gw_usage_log_open(f->store, 0, &log), CORE_OK);

    /* A short outage: the batch is retried and lands. */
    sql_exec(f, "ALTER TABLE usage_log RENAME TO usage_log_away");
    row = basic_row("gen_retry_1", 3);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    row = basic_row("gen_retry_2", 4);
    assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    for (int i = 0; i < 100; i++) {
        gw_usage_log_stats(log, &st);
        if (st.failed_flushes > 0) break;
        sleep_ms(10);
    }
    assert_true(st.failed_flushes > 0);
    sql_exec(f, "ALTER TABLE usage_log_away RENAME TO usage_log");
    gw_usage_log_flush(log);
    assert_int_equal(sql_scalar(f, "SELECT SUM(cost_pico) FROM usage_log"), 7);
    gw_usage_log_stats(log, &st);
    assert_int_equal(st.written, 2);
    assert_int_equal(st.dropped, 0);

    /* The database stays down: rows are dropped and counted, close returns. */
    sql_exec(f, "ALTER TABLE usage_log RENAME TO usage_log_away");
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "gen_lost_%d", i);
        row = basic_row(id, 1);
        assert_int_equal(gw_usage_log_append(log, &row), CORE_OK);
    }
    gw_usage_log_flush(log);
    gw_usage_log_stats(log, &st);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.written, 2);
    assert_true(st.failed_flushes >= 1 + GW_USAGE_MAX_ATTEMPTS);
    gw_usage_log_close(log);
    sql_exec(f, "ALTER TABLE usage_log_away RENAME TO usage_log");
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM usage_log"), 2);
}

int main(void)
{
    log_set_level((log_level)(LOG_ERROR + 1)); /* the failure tests log errors on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ten_thousand_rows_four_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_rows_and_ceilings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_and_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ceiling_drops_instead_of_blocking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_then_drops_when_database_stays_down, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("usage_log_sqlite", tests, NULL, NULL);
    if (gw_test_db_pg_url()) {
        use_postgres = true;
        failed += cmocka_run_group_tests_name("usage_log_postgres", tests, NULL, NULL);
    }
    return failed;
}
