/*
 * test_store.c - the storage layer against real databases: one test body run
 * on SQLite (a temp file) and, when TEST_PG_URL is set, on PostgreSQL (a
 * unique schema per run, dropped at the end). Covers migrations, parameters,
 * RETURNING, unique violations, transactions, completions on the submitting
 * loop's thread, the queue ceiling, concurrent row-locked increments, exact
 * BIGINT round trips, reconnects and password-free error texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/base.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    const char *label;
    store_kind kind;
    char url[512];
    char dir[128];   /* sqlite: temp directory */
    char schema[64]; /* postgres: schema of this run */
    char base_url[384];
} fixture;

/* ------------------------------------------------------------------------ */
/* Helpers running SQL synchronously */

typedef struct {
    const char *sql;
    const store_param *params;
    int nparams;
    store_rows *rows;
    char errmsg[512];
} sql_call;

static core_err exec_job(store_conn *c, void *ud)
{
    sql_call *call = ud;
    core_err err = store_exec(c, call->sql, call->params, call->nparams);
    snprintf(call->errmsg, sizeof call->errmsg, "%s", store_conn_errmsg(c));
    return err;
}

static core_err query_job(store_conn *c, void *ud)
{
    sql_call *call = ud;
    core_err err = store_query(c, call->sql, call->params, call->nparams, &call->rows);
    snprintf(call->errmsg, sizeof call->errmsg, "%s", store_conn_errmsg(c));
    return err;
}

static core_err sync_exec(store *s, const char *sql, const store_param *params, int nparams)
{
    sql_call call = {sql, params, nparams, NULL, ""};
    return store_run_sync(s, exec_job, &call);
}

static store_rows *sync_query(store *s, const char *sql, const store_param *params, int nparams)
{
    sql_call call = {sql, params, nparams, NULL, ""};
    core_err err = store_run_sync(s, query_job, &call);
    if (err) print_message("query '%s': %s\n", sql, call.errmsg);
    assert_int_equal(err, CORE_OK);
    assert_non_null(call.rows);
    return call.rows;
}

/* First column of the first row as an integer (dflt if none). */
static int64_t sync_i64(store *s, const char *sql, const store_param *params, int nparams,
                        int64_t dflt)
{
    store_rows *rows = sync_query(s, sql, params, nparams);
    int64_t v = store_rows_i64(rows, 0, 0, dflt);
    store_rows_free(rows);
    return v;
}

static store *open_store(const fixture *fx, int workers)
{
    char errbuf[256];
    store *s = NULL;
    core_err err = store_open(fx->url, workers, &s, errbuf, sizeof errbuf);
    if (err) print_message("store_open(%s): %s\n", fx->url, errbuf);
    assert_int_equal(err, CORE_OK);
    assert_int_equal(store_get_kind(s), fx->kind);
    return s;
}

/* ------------------------------------------------------------------------ */
/* The schema the tests use */

static const store_migration test_migrations[] = {
    {1, "accounts",
     "CREATE TABLE accounts (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE,"
     " credits BIGINT, note TEXT, active INTEGER NOT NULL DEFAULT 1);"
     "CREATE INDEX accounts_credits ON accounts (credits)",
     NULL},
    {2, "counters",
     "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
     "INSERT INTO counters (name, value) VALUES ('hits', 0)",
     NULL},
    /* A ';' inside a string literal must not split the statement; the
     * PostgreSQL variant adds a comment to prove it is the one applied. */
    {3, "ledger",
     "CREATE TABLE ledger (id TEXT PRIMARY KEY, pico BIGINT NOT NULL,"
     " memo TEXT NOT NULL DEFAULT 'a;b')",
     "CREATE TABLE ledger (id TEXT PRIMARY KEY, pico BIGINT NOT NULL,"
     " memo TEXT NOT NULL DEFAULT 'a;b');"
     "COMMENT ON TABLE ledger IS 'exact; ledger'"},
};

static int setup_common(fixture *fx)
{
    char errbuf[256];
    store *s = NULL;
    if (store_open(fx->url, 1, &s, errbuf, sizeof errbuf) != CORE_OK) {
        print_message("setup: %s\n", errbuf);
        return -1;
    }
    core_err err = store_migrate(s, "test", test_migrations, ARRAY_LEN(test_migrations), errbuf,
                                 sizeof errbuf);
    if (err) print_message("setup migrate: %s\n", errbuf);
    store_close(s);
    return err ? -1 : 0;
}

static fixture sqlite_fx = {.label = "sqlite", .kind = STORE_SQLITE};
static fixture pg_fx = {.label = "postgres", .kind = STORE_POSTGRES};

static int setup_sqlite(void **state)
{
    fixture *fx = &sqlite_fx;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(fx->dir)) return -1;
    snprintf(fx->url, sizeof fx->url, "sqlite:%s/test.db", fx->dir);
    *state = fx;
    return setup_common(fx);
}

static int teardown_sqlite(void **state)
{
    fixture *fx = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup_pg(void **state)
{
    fixture *fx = &pg_fx;
    const char *base = getenv("TEST_PG_URL");
    snprintf(fx->base_url, sizeof fx->base_url, "%s", base);
    char id[40];
    random_id("", id, sizeof id);
    for (char *p = id; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    snprintf(fx->schema, sizeof fx->schema, "test_store_%s", id);
    snprintf(fx->url, sizeof fx->url, "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? '&' : '?', fx->schema);
    *state = fx;

    char errbuf[256], sql[128];
    store *s = NULL;
    if (store_open(fx->base_url, 1, &s, errbuf, sizeof errbuf) != CORE_OK) {
        print_message("setup: %s\n", errbuf);
        return -1;
    }
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", fx->schema);
    core_err err = sync_exec(s, sql, NULL, 0);
    store_close(s);
    if (err) return -1;
    return setup_common(fx);
}

static int teardown_pg(void **state)
{
    fixture *fx = *state;
    char errbuf[256], sql[128];
    store *s = NULL;
    if (store_open(fx->base_url, 1, &s, errbuf, sizeof errbuf) != CORE_OK) return -1;
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", fx->schema);
    core_err err = sync_exec(s, sql, NULL, 0);
    store_close(s);
    return err ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Migrations */

static void test_migrations_idempotent(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    char errbuf[256];
    store_param comp[] = {STORE_TEXT("test")};

    /* Applied once by the setup; rerunning changes nothing. */
    assert_int_equal(store_migrate(s, "test", test_migrations, 3, errbuf, sizeof errbuf), CORE_OK);
    assert_int_equal(
        sync_i64(s, "SELECT COUNT(*) FROM schema_migrations WHERE component = $1", comp, 1, -1), 3);
    assert_int_equal(sync_i64(s, "SELECT COUNT(*) FROM counters", NULL, 0, -1), 1);
    store_rows *rows = sync_query(
        s, "SELECT name, applied_at FROM schema_migrations WHERE component = $1 AND version = 3",
        comp, 1);
    assert_int_equal(store_rows_count(rows), 1);
    assert_string_equal(store_rows_get(rows, 0, 0), "ledger");
    const char *applied_at = store_rows_get(rows, 0, 1);
    assert_int_equal(strlen(applied_at), 24); /* 2026-11-24T15:51:49.123Z */
    assert_int_equal(applied_at[10], 'T');
    assert_int_equal(applied_at[23], 'Z');
    store_rows_free(rows);

    /* The literal with ';' survived; the PostgreSQL variant ran on PostgreSQL. */
    assert_int_equal(sync_exec(s, "INSERT INTO ledger (id, pico) VALUES ('m1', 1)", NULL, 0),
                     CORE_OK);
    rows = sync_query(s, "SELECT memo FROM ledger WHERE id = 'm1'", NULL, 0);
    assert_string_equal(store_rows_get(rows, 0, 0), "a;b");
    store_rows_free(rows);
    if (fx->kind == STORE_POSTGRES) {
        rows = sync_query(s, "SELECT obj_description('ledger'::regclass, 'pg_class')", NULL, 0);
        assert_string_equal(store_rows_get(rows, 0, 0), "exact; ledger");
        store_rows_free(rows);
    }

    /* A new version is applied on top, once. */
    store_migration more[4];
    memcpy(more, test_migrations, sizeof test_migrations);
    more[3] = (store_migration){4, "notes", "CREATE TABLE notes (id TEXT PRIMARY KEY)", NULL};
    assert_int_equal(store_migrate(s, "test", more, 4, errbuf, sizeof errbuf), CORE_OK);
    assert_int_equal(store_migrate(s, "test", more, 4, errbuf, sizeof errbuf), CORE_OK);
    assert_int_equal(
        sync_i64(s, "SELECT COUNT(*) FROM schema_migrations WHERE component = $1", comp, 1, -1), 4);

    /* Another component numbers its versions independently. */
    store_migration other[] = {{1, "other", "CREATE TABLE other_things (id TEXT)", NULL}};
    assert_int_equal(store_migrate(s, "other", other, 1, errbuf, sizeof errbuf), CORE_OK);
    store_param other_comp[] = {STORE_TEXT("other")};
    assert_int_equal(sync_i64(s, "SELECT COUNT(*) FROM schema_migrations WHERE component = $1",
                              other_comp, 1, -1),
                     1);
    store_close(s);
}

static void test_migration_failure_rolls_back(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    char errbuf[256];
    store_migration bad[] = {
        {1, "fine", "CREATE TABLE bad_first (id TEXT)", NULL},
        {2, "broken", "CREATE TABLE bad_half (id TEXT); CREATE TABLE oops (", NULL},
    };
    assert_int_equal(store_migrate(s, "bad", bad, 2, errbuf, sizeof errbuf), CORE_EDB);
    assert_non_null(strstr(errbuf, "bad v2 (broken)"));
    /* v1 stays applied; v2 left nothing behind, not even its first statement. */
    store_param comp[] = {STORE_TEXT("bad")};
    assert_int_equal(
        sync_i64(s, "SELECT MAX(version) FROM schema_migrations WHERE component = $1", comp, 1, -1),
        1);
    assert_int_equal(sync_exec(s, "INSERT INTO bad_first (id) VALUES ('x')", NULL, 0), CORE_OK);
    assert_int_equal(sync_exec(s, "INSERT INTO bad_half (id) VALUES ('x')", NULL, 0), CORE_EDB);

    store_migration unordered[] = {{2, "b", "SELECT 1", NULL}, {1, "a", "SELECT 1", NULL}};
    assert_int_equal(store_migrate(s, "bad", unordered, 2, errbuf, sizeof errbuf), CORE_EINVAL);
    store_migration zero[] = {{0, "z", "SELECT 1", NULL}};
    assert_int_equal(store_migrate(s, "bad", zero, 1, errbuf, sizeof errbuf), CORE_EINVAL);
    store_close(s);
}

typedef struct {
    const fixture *fx;
    uv_barrier_t *barrier;
    core_err result;
    char errbuf[256];
} race_arg;

static const store_migration race_migrations[] = {
    {1, "log", "CREATE TABLE race_log (step INTEGER NOT NULL)", NULL},
    {2, "one", "INSERT INTO race_log (step) VALUES (2)", NULL},
    {3, "two", "INSERT INTO race_log (step) VALUES (3); INSERT INTO race_log (step) VALUES (33)",
     NULL},
};

static void race_thread(void *arg)
{
    race_arg *ra = arg;
    store *s = NULL;
    ra->result = store_open(ra->fx->url, 1, &s, ra->errbuf, sizeof ra->errbuf);
    uv_barrier_wait(ra->barrier);
    if (ra->result) return;
    ra->result = store_migrate(s, "race", race_migrations, ARRAY_LEN(race_migrations), ra->errbuf,
                               sizeof ra->errbuf);
    store_close(s);
}

/* Two "processes" (separate stores, separate connections) start at once. */
static void test_concurrent_migrations_apply_once(void **state)
{
    fixture *fx = *state;
    uv_barrier_t barrier;
    uv_barrier_init(&barrier, 3);
    race_arg args[3];
    uv_thread_t threads[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (race_arg){fx, &barrier, CORE_OK, ""};
        assert_int_equal(uv_thread_create(&threads[i], race_thread, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        uv_thread_join(&threads[i]);
        if (args[i].result) print_message("race %d: %s\n", i, args[i].errbuf);
        assert_int_equal(args[i].result, CORE_OK);
    }
    uv_barrier_destroy(&barrier);
    store *s = open_store(fx, 1);
    assert_int_equal(sync_i64(s, "SELECT COUNT(*) FROM race_log", NULL, 0, -1), 3);
    assert_int_equal(sync_i64(s, "SELECT SUM(step) FROM race_log", NULL, 0, -1), 38);
    store_param comp[] = {STORE_TEXT("race")};
    assert_int_equal(
        sync_i64(s, "SELECT COUNT(*) FROM schema_migrations WHERE component = $1", comp, 1, -1), 3);
    store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Statements */

static void test_params_and_types(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    const char *slice_src = "bob@example.comXXXX"; /* only the first 15 bytes are the value */
    store_param insert[] = {STORE_TEXT("acc_1"), STORE_TEXTN(slice_src, 15), STORE_INT(42),
                            STORE_NULL};
    assert_int_equal(sync_exec(s,
                               "INSERT INTO accounts (id, email, credits, note)"
                               " VALUES ($1, $2, $3, $4)",
                               insert, 4),
                     CORE_OK);
    store_param quoted[] = {STORE_TEXT("acc_2"), STORE_TEXT("o'hara@example.com"),
                            STORE_TEXT_OR_NULL(NULL), STORE_TEXT("caf\xc3\xa9 \"q\" ;--")};
    assert_int_equal(sync_exec(s,
                               "INSERT INTO accounts (id, email, credits, note)"
                               " VALUES ($1, $2, $3, $4)",
                               quoted, 4),
                     CORE_OK);

    store_param key[] = {STORE_TEXT("acc_1")};
    store_rows *rows = sync_query(
        s, "SELECT id, email, credits, note, active FROM accounts WHERE id = $1", key, 1);
    assert_int_equal(store_rows_count(rows), 1);
    assert_int_equal(store_rows_columns(rows), 5);
    assert_string_equal(store_rows_name(rows, 1), "email");
    assert_string_equal(store_rows_get(rows, 0, 1), "bob@example.com");
    assert_int_equal(store_rows_len(rows, 0, 1), 15);
    assert_int_equal(store_rows_i64(rows, 0, 2, -1), 42);
    assert_null(store_rows_get(rows, 0, 3));
    assert_int_equal(store_rows_i64(rows, 0, 3, -7), -7);
    assert_int_equal(store_rows_i64(rows, 0, 4, -1), 1);
    assert_int_equal(store_rows_i64(rows, 0, 1, -9), -9); /* not an integer */
    assert_null(store_rows_get(rows, 1, 0));              /* out of range */
    store_rows_free(rows);

    store_param key2[] = {STORE_TEXT("acc_2")};
    rows = sync_query(s, "SELECT email, credits, note FROM accounts WHERE id = $1", key2, 1);
    assert_string_equal(store_rows_get(rows, 0, 0), "o'hara@example.com");
    assert_null(store_rows_get(rows, 0, 1));
    assert_string_equal(store_rows_get(rows, 0, 2), "caf\xc3\xa9 \"q\" ;--");
    store_rows_free(rows);

    /* One placeholder used twice; a literal mentioning "for update" is kept. */
    store_param twice[] = {STORE_TEXT("acc_1")};
    rows = sync_query(
        s, "SELECT COUNT(*), 'x for update' FROM accounts WHERE id = $1 OR email = $1", twice, 1);
    assert_int_equal(store_rows_i64(rows, 0, 0, -1), 1);
    assert_string_equal(store_rows_get(rows, 0, 1), "x for update");
    store_rows_free(rows);

    /* Paging. */
    store_param page[] = {STORE_INT(1), STORE_INT(1)};
    rows = sync_query(s, "SELECT id FROM accounts ORDER BY id LIMIT $1 OFFSET $2", page, 2);
    assert_int_equal(store_rows_count(rows), 1);
    assert_string_equal(store_rows_get(rows, 0, 0), "acc_2");
    store_rows_free(rows);

    /* A parameter the SQL does not use is refused on both backends. */
    store_param extra[] = {STORE_TEXT("acc_1"), STORE_INT(5)};
    sql_call call = {"SELECT id FROM accounts WHERE id = $1", extra, 2, NULL, ""};
    assert_int_equal(store_run_sync(s, query_job, &call), CORE_EINVAL);
    assert_null(call.rows);
    assert_non_null(strstr(call.errmsg, "$2"));
    /* And a placeholder without a parameter; '$3' inside a literal is text. */
    call = (sql_call){"SELECT id, '$3' FROM accounts WHERE id = $1 AND email = $2", extra, 1, NULL,
                      ""};
    assert_int_equal(store_run_sync(s, query_job, &call), CORE_EINVAL);
    assert_non_null(strstr(call.errmsg, "$2"));
    call = (sql_call){"SELECT id, '$3' FROM accounts WHERE id = $1", extra, 1, NULL, ""};
    assert_int_equal(store_run_sync(s, query_job, &call), CORE_OK);
    assert_string_equal(store_rows_get(call.rows, 0, 1), "$3");
    store_rows_free(call.rows);
    store_param nul_inside[] = {STORE_TEXTN("a\0b", 3)};
    call = (sql_call){"SELECT $1", nul_inside, 1, NULL, ""};
    assert_int_equal(store_run_sync(s, query_job, &call), CORE_EINVAL);

    /* Bad SQL: CORE_EDB with a message. */
    call = (sql_call){"SELEKT nonsense", NULL, 0, NULL, ""};
    assert_int_equal(store_run_sync(s, query_job, &call), CORE_EDB);
    assert_true(strlen(call.errmsg) > 0);
    store_close(s);
}

static void test_bigint_exact(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    const int64_t values[] = {9000000000000000000LL, INT64_MAX, -9000000000000000000LL,
                              INT64_MIN + 1, 123456789012345678LL};
    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        char id[32];
        snprintf(id, sizeof id, "big_%zu", i);
        store_param p[] = {STORE_TEXT(id), STORE_INT(values[i])};
        assert_int_equal(sync_exec(s, "INSERT INTO ledger (id, pico) VALUES ($1, $2)", p, 2),
                         CORE_OK);
        store_param key[] = {STORE_TEXT(id)};
        store_rows *rows = sync_query(s, "SELECT pico FROM ledger WHERE id = $1", key, 1);
        char expect[32];
        snprintf(expect, sizeof expect, "%" PRId64, values[i]);
        assert_string_equal(store_rows_get(rows, 0, 0), expect);
        assert_true(store_rows_i64(rows, 0, 0, 0) == values[i]);
        store_rows_free(rows);
        /* Integer comparison on the server, not a text match. */
        store_param cmp[] = {STORE_INT(values[i])};
        assert_int_equal(sync_i64(s, "SELECT COUNT(*) FROM ledger WHERE pico = $1", cmp, 1, -1), 1);
    }
    /* Arithmetic stays integer: 9e18 + 1 in SQL. */
    store_param key[] = {STORE_TEXT("big_0"), STORE_INT(1)};
    assert_true(sync_i64(s, "SELECT pico + $2 FROM ledger WHERE id = $1", key, 2, 0) ==
                9000000000000000001LL);
    store_close(s);
}

typedef struct {
    char id[64];
    int64_t credits;
    int64_t changes;
    core_err err;
} returning_ctx;

static core_err returning_job(store_conn *c, void *ud)
{
    returning_ctx *ctx = ud;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT("ret_1"), STORE_TEXT("ret@example.com"), STORE_INT(7)};
    core_err err = store_query(c,
                               "INSERT INTO accounts (id, email, credits) VALUES ($1, $2, $3)"
                               " RETURNING id, credits",
                               p, 3, &rows);
    if (err) return err;
    snprintf(ctx->id, sizeof ctx->id, "%s", store_rows_get(rows, 0, 0));
    store_rows_free(rows);
    store_param upd[] = {STORE_INT(5), STORE_TEXT("ret_1")};
    err =
        store_query(c, "UPDATE accounts SET credits = credits + $1 WHERE id = $2 RETURNING credits",
                    upd, 2, &rows);
    if (err) return err;
    ctx->credits = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    store_param none[] = {STORE_TEXT("nobody")};
    err = store_exec(c, "UPDATE accounts SET credits = 0 WHERE id = $1", none, 1);
    if (err) return err;
    if (store_changes(c) != 0) return CORE_EINVAL;
    err = store_exec(c, "UPDATE accounts SET active = 1", NULL, 0);
    ctx->changes = store_changes(c);
    return err;
}

static void test_returning_and_changes(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    int64_t total = sync_i64(s, "SELECT COUNT(*) FROM accounts", NULL, 0, -1);
    returning_ctx ctx = {0};
    assert_int_equal(store_run_sync(s, returning_job, &ctx), CORE_OK);
    assert_string_equal(ctx.id, "ret_1");
    assert_int_equal(ctx.credits, 12);
    assert_int_equal(ctx.changes, total + 1);
    store_close(s);
}

static void test_unique_violation(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    store_param a[] = {STORE_TEXT("uniq_1"), STORE_TEXT("uniq@example.com")};
    assert_int_equal(sync_exec(s, "INSERT INTO accounts (id, email) VALUES ($1, $2)", a, 2),
                     CORE_OK);
    /* Same primary key. */
    store_param b[] = {STORE_TEXT("uniq_1"), STORE_TEXT("other@example.com")};
    sql_call call = {"INSERT INTO accounts (id, email) VALUES ($1, $2)", b, 2, NULL, ""};
    assert_int_equal(store_run_sync(s, exec_job, &call), CORE_EEXIST);
    assert_true(strlen(call.errmsg) > 0);
    /* Same UNIQUE column. */
    store_param c[] = {STORE_TEXT("uniq_2"), STORE_TEXT("uniq@example.com")};
    assert_int_equal(sync_exec(s, "INSERT INTO accounts (id, email) VALUES ($1, $2)", c, 2),
                     CORE_EEXIST);
    /* NOT NULL is a different failure. */
    store_param d[] = {STORE_TEXT("uniq_3"), STORE_NULL};
    assert_int_equal(sync_exec(s, "INSERT INTO accounts (id, email) VALUES ($1, $2)", d, 2),
                     CORE_EDB);
    /* Upsert in the portable form. */
    store_param up[] = {STORE_TEXT("uniq_1"), STORE_TEXT("uniq@example.com"), STORE_INT(99)};
    assert_int_equal(sync_exec(s,
                               "INSERT INTO accounts (id, email, credits) VALUES ($1, $2, $3)"
                               " ON CONFLICT (id) DO UPDATE SET credits = excluded.credits",
                               up, 3),
                     CORE_OK);
    store_param key[] = {STORE_TEXT("uniq_1")};
    assert_int_equal(sync_i64(s, "SELECT credits FROM accounts WHERE id = $1", key, 1, -1), 99);
    store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Transactions */

static core_err insert_then(store_conn *c, const char *id, bool commit)
{
    core_err err = store_begin(c);
    if (err) return err;
    char email[64];
    snprintf(email, sizeof email, "%s@example.com", id);
    store_param p[] = {STORE_TEXT(id), STORE_TEXT(email)};
    err = store_exec(c, "INSERT INTO accounts (id, email) VALUES ($1, $2)", p, 2);
    if (err) return err;
    return commit ? store_commit(c) : store_rollback(c);
}

static core_err tx_commit_job(store_conn *c, void *ud)
{
    return insert_then(c, "tx_commit", true);
}

static core_err tx_rollback_job(store_conn *c, void *ud)
{
    return insert_then(c, "tx_rollback", false);
}

/* Returns inside an open transaction: the store must roll it back. */
static core_err tx_abandon_job(store_conn *c, void *ud)
{
    core_err err = store_begin(c);
    if (err) return err;
    return store_exec(c, "INSERT INTO accounts (id, email) VALUES ('tx_abandon', 'ab@x')", NULL, 0);
}

static core_err tx_failed_commit_job(store_conn *c, void *ud)
{
    core_err err = store_begin(c);
    if (err) return err;
    err = store_exec(c, "INSERT INTO accounts (id, email) VALUES ('tx_failed', 'f@x')", NULL, 0);
    if (err) return err;
    /* Fails; PostgreSQL then refuses everything until the end of the tx. */
    if (store_exec(c, "INSERT INTO accounts (id, email) VALUES ('tx_failed', 'f@x')", NULL, 0) !=
        CORE_EEXIST)
        return CORE_EINVAL;
    if (store_conn_kind(c) == STORE_SQLITE) return store_rollback(c);
    return store_commit(c); /* must report the rollback, not success */
}

static void test_transactions(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    assert_int_equal(store_run_sync(s, tx_commit_job, NULL), CORE_OK);
    assert_int_equal(store_run_sync(s, tx_rollback_job, NULL), CORE_OK);
    assert_int_equal(store_run_sync(s, tx_abandon_job, NULL), CORE_OK);
    core_err failed = store_run_sync(s, tx_failed_commit_job, NULL);
    assert_int_equal(failed, fx->kind == STORE_POSTGRES ? CORE_EDB : CORE_OK);
    store_param ids[] = {STORE_TEXT("tx_commit"), STORE_TEXT("tx_rollback"),
                         STORE_TEXT("tx_abandon"), STORE_TEXT("tx_failed")};
    const int64_t expected[] = {1, 0, 0, 0};
    for (size_t i = 0; i < ARRAY_LEN(ids); i++)
        assert_int_equal(sync_i64(s, "SELECT COUNT(*) FROM accounts WHERE id = $1", &ids[i], 1, -1),
                         expected[i]);
    /* The connection is usable again after all of that. */
    assert_int_equal(sync_i64(s, "SELECT 1 + 1", NULL, 0, -1), 2);
    store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Jobs on a loop */

typedef struct {
    store *s;
    uv_loop_t *loop;
    uv_thread_t loop_thread;
    int submitted;
    int completed;
    int failures;
    bool wrong_thread;
    bool detach_when_done;
} loop_ctx;

typedef struct {
    loop_ctx *lc;
    uv_thread_t ran_on;
    int64_t value;
    int sleep_ms;
} one_job;

static core_err select_job(store_conn *c, void *ud)
{
    one_job *job = ud;
    job->ran_on = uv_thread_self();
    if (job->sleep_ms) usleep((useconds_t)job->sleep_ms * 1000);
    store_rows *rows = NULL;
    store_param p[] = {STORE_INT(job->value)};
    core_err err = store_query(c, "SELECT $1 * 2", p, 1, &rows);
    if (err) return err;
    job->value = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return CORE_OK;
}

static void count_done(loop_ctx *lc, core_err err)
{
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &lc->loop_thread)) lc->wrong_thread = true;
    if (err) lc->failures++;
    lc->completed++;
    if (lc->detach_when_done && lc->completed == lc->submitted) store_detach_loop(lc->s, lc->loop);
}

static void select_done(core_err err, void *ud)
{
    one_job *job = ud;
    /* The job ran elsewhere; its result is visible here. */
    if (uv_thread_equal(&job->ran_on, &job->lc->loop_thread)) job->lc->wrong_thread = true;
    count_done(job->lc, err);
}

static void test_submit_completes_on_loop_thread(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 4);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    loop_ctx lc = {
        .s = s, .loop = &loop, .loop_thread = uv_thread_self(), .detach_when_done = true};

    assert_int_equal(store_submit(s, &loop, select_job, select_done, NULL), CORE_EINVAL);
    assert_int_equal(store_attach_loop(s, &loop), CORE_OK);
    assert_int_equal(store_attach_loop(s, &loop), CORE_EEXIST);
    enum { NJOBS = 40 };
    one_job jobs[NJOBS];
    for (int i = 0; i < NJOBS; i++) {
        jobs[i] = (one_job){.lc = &lc, .value = i};
        assert_int_equal(store_submit(s, &loop, select_job, select_done, &jobs[i]), CORE_OK);
        lc.submitted++;
    }
    /* Runs until the last completion detached the loop and the handle closed. */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lc.completed, NJOBS);
    assert_int_equal(lc.failures, 0);
    assert_false(lc.wrong_thread);
    for (int i = 0; i < NJOBS; i++)
        assert_int_equal(jobs[i].value, 2 * i);
    /* Detached: submits fail, and the loop has no handle left. */
    assert_int_equal(store_submit(s, &loop, select_job, select_done, &jobs[0]), CORE_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
    store_close(s);
}

static void test_detach_waits_for_jobs_in_flight(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 2);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    loop_ctx lc = {.s = s, .loop = &loop, .loop_thread = uv_thread_self()};
    assert_int_equal(store_attach_loop(s, &loop), CORE_OK);
    one_job jobs[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (one_job){.lc = &lc, .value = 10 + i, .sleep_ms = 30};
        assert_int_equal(store_submit(s, &loop, select_job, select_done, &jobs[i]), CORE_OK);
        lc.submitted++;
    }
    store_detach_loop(s, &loop); /* before any job could finish */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lc.completed, 3);
    assert_int_equal(jobs[2].value, 24);
    assert_false(lc.wrong_thread);
    assert_int_equal(uv_loop_close(&loop), 0);
    store_close(s);
}

typedef struct {
    uv_sem_t started;
    uv_sem_t release;
    loop_ctx *lc;
} gate;

static core_err gated_job(store_conn *c, void *ud)
{
    gate *g = ud;
    uv_sem_post(&g->started);
    uv_sem_wait(&g->release);
    return CORE_OK;
}

static core_err noop_job(store_conn *c, void *ud)
{
    return CORE_OK;
}

static void noop_done(core_err err, void *ud)
{
    count_done(ud, err);
}

static void gated_done(core_err err, void *ud)
{
    count_done(((gate *)ud)->lc, err);
}

static void test_queue_ceiling(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    store_set_queue_limit(s, 3);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    loop_ctx lc = {
        .s = s, .loop = &loop, .loop_thread = uv_thread_self(), .detach_when_done = true};
    assert_int_equal(store_attach_loop(s, &loop), CORE_OK);

    gate g;
    uv_sem_init(&g.started, 0);
    uv_sem_init(&g.release, 0);
    g.lc = &lc;
    assert_int_equal(store_submit(s, &loop, gated_job, gated_done, &g), CORE_OK);
    lc.submitted++;
    uv_sem_wait(&g.started); /* the only worker is now busy */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_submit(s, &loop, noop_job, noop_done, &lc), CORE_OK);
        lc.submitted++;
    }
    assert_int_equal(store_submit(s, &loop, noop_job, noop_done, &lc), CORE_EBUSY);
    assert_int_equal(store_submit(s, &loop, noop_job, NULL, NULL), CORE_EBUSY);
    uv_sem_post(&g.release);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lc.completed, 4);
    assert_int_equal(lc.failures, 0);
    assert_false(lc.wrong_thread);
    assert_int_equal(uv_loop_close(&loop), 0);
    uv_sem_destroy(&g.started);
    uv_sem_destroy(&g.release);
    store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Concurrency */

enum { COUNTER_JOBS = 8, COUNTER_ROUNDS = 50 };

static core_err increment_once(store_conn *c)
{
    store_rows *rows = NULL;
    store_param name[] = {STORE_TEXT("hits")};
    core_err err = store_begin(c);
    if (err) return err;
    err = store_query(c, "SELECT value FROM counters WHERE name = $1 FOR UPDATE", name, 1, &rows);
    if (err) goto fail;
    int64_t value = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    if (value < 0) {
        err = CORE_ENOTFOUND;
        goto fail;
    }
    store_param upd[] = {STORE_INT(value + 1), STORE_TEXT("hits")};
    err = store_exec(c, "UPDATE counters SET value = $1 WHERE name = $2", upd, 2);
    if (err) goto fail;
    return store_commit(c);
fail:
    store_rollback(c);
    return err;
}

static core_err counter_job(store_conn *c, void *ud)
{
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        core_err err;
        int tries = 0;
        /* Serialization failures are the caller's to retry, as documented. */
        while ((err = increment_once(c)) == CORE_EBUSY && ++tries < 20)
            ;
        if (err) return err;
    }
    return CORE_OK;
}

static void test_concurrent_increments(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, COUNTER_JOBS);
    assert_int_equal(sync_exec(s, "UPDATE counters SET value = 0 WHERE name = 'hits'", NULL, 0),
                     CORE_OK);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    loop_ctx lc = {
        .s = s, .loop = &loop, .loop_thread = uv_thread_self(), .detach_when_done = true};
    assert_int_equal(store_attach_loop(s, &loop), CORE_OK);
    for (int i = 0; i < COUNTER_JOBS; i++) {
        assert_int_equal(store_submit(s, &loop, counter_job, noop_done, &lc), CORE_OK);
        lc.submitted++;
    }
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lc.completed, COUNTER_JOBS);
    assert_int_equal(lc.failures, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(sync_i64(s, "SELECT value FROM counters WHERE name = 'hits'", NULL, 0, -1),
                     COUNTER_JOBS * COUNTER_ROUNDS);
    store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Backend specifics */

typedef struct {
    int64_t pid;
} pid_ctx;

static core_err backend_pid_job(store_conn *c, void *ud)
{
    pid_ctx *ctx = ud;
    store_rows *rows = NULL;
    core_err err = store_query(c, "SELECT pg_backend_pid()", NULL, 0, &rows);
    if (err) return err;
    ctx->pid = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return CORE_OK;
}

/* The server drops a connection (restart, idle kill): the next call reconnects. */
static void test_pg_reconnects(void **state)
{
    fixture *fx = *state;
    store *s = open_store(fx, 1);
    store *admin = open_store(fx, 1);
    pid_ctx before = {-1}, after = {-1};
    assert_int_equal(store_run_sync(s, backend_pid_job, &before), CORE_OK);
    assert_true(before.pid > 0);
    store_param pid[] = {STORE_INT(before.pid)};
    store_rows *rows = sync_query(admin, "SELECT pg_terminate_backend($1::integer)", pid, 1);
    assert_string_equal(store_rows_get(rows, 0, 0), "t");
    store_rows_free(rows);
    usleep(100 * 1000);
    assert_int_equal(store_run_sync(s, backend_pid_job, &after), CORE_OK);
    assert_true(after.pid > 0);
    assert_true(after.pid != before.pid);
    store_close(admin);
    store_close(s);
}

static void test_sqlite_memory_is_shared(void **state)
{
    fixture mem = {.label = "memory", .kind = STORE_SQLITE};
    snprintf(mem.url, sizeof mem.url, "sqlite::memory:");
    store *s = open_store(&mem, 3);
    store *other = open_store(&mem, 1);
    char errbuf[256];
    assert_int_equal(store_migrate(s, "test", test_migrations, 3, errbuf, sizeof errbuf), CORE_OK);

    /* Writes from worker connections are visible to the sync connection. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    loop_ctx lc = {
        .s = s, .loop = &loop, .loop_thread = uv_thread_self(), .detach_when_done = true};
    assert_int_equal(store_attach_loop(s, &loop), CORE_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_submit(s, &loop, counter_job, noop_done, &lc), CORE_OK);
        lc.submitted++;
    }
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lc.failures, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(sync_i64(s, "SELECT value FROM counters", NULL, 0, -1), 3 * COUNTER_ROUNDS);

    /* A second memory store is a different database. */
    sql_call call = {"SELECT value FROM counters", NULL, 0, NULL, ""};
    assert_int_equal(store_run_sync(other, query_job, &call), CORE_EDB);
    store_close(other);
    store_close(s);
}

static void test_urls_and_secrets(void **state)
{
    char out[256];
    store_url_redact("postgres://app:hunter2@db:5432/main?sslmode=require", out, sizeof out);
    assert_string_equal(out, "postgres://app:***@db:5432/main?sslmode=require");
    store_url_redact("postgresql://db/main?user=app&password=hunter2&x=1", out, sizeof out);
    assert_string_equal(out, "postgresql://db/main?user=app&password=***&x=1");
    store_url_redact("postgres://app@db/main", out, sizeof out);
    assert_string_equal(out, "postgres://app@db/main");
    store_url_redact("sqlite:/var/lib/x.db", out, sizeof out);
    assert_string_equal(out, "sqlite:/var/lib/x.db");

    char errbuf[256];
    store *s = NULL;
    assert_int_equal(store_open("mysql://u:hunter2@h/db", 1, &s, errbuf, sizeof errbuf),
                     CORE_EINVAL);
    assert_null(s);
    assert_null(strstr(errbuf, "hunter2"));
    assert_int_equal(store_open("sqlite:", 1, &s, errbuf, sizeof errbuf), CORE_EINVAL);
    assert_int_equal(store_open("sqlite:/nonexistent-dir/x/y.db", 1, &s, errbuf, sizeof errbuf),
                     CORE_EDB);
    assert_true(strlen(errbuf) > 0);

    /* Nothing listens on port 1: the failure text names the host, not the password. */
    assert_int_equal(store_open("postgres://app:hunter2@127.0.0.1:1/main?connect_timeout=2", 1, &s,
                                errbuf, sizeof errbuf),
                     CORE_EDB);
    assert_null(s);
    assert_non_null(strstr(errbuf, "127.0.0.1"));
    assert_null(strstr(errbuf, "hunter2"));
}

/* ------------------------------------------------------------------------ */

#define BACKEND_TESTS                                                                              \
    cmocka_unit_test(test_migrations_idempotent),                                                  \
        cmocka_unit_test(test_migration_failure_rolls_back),                                       \
        cmocka_unit_test(test_concurrent_migrations_apply_once),                                   \
        cmocka_unit_test(test_params_and_types), cmocka_unit_test(test_bigint_exact),              \
        cmocka_unit_test(test_returning_and_changes), cmocka_unit_test(test_unique_violation),     \
        cmocka_unit_test(test_transactions),                                                       \
        cmocka_unit_test(test_submit_completes_on_loop_thread),                                    \
        cmocka_unit_test(test_detach_waits_for_jobs_in_flight),                                    \
        cmocka_unit_test(test_queue_ceiling), cmocka_unit_test(test_concurrent_increments)

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_urls_and_secrets),
        cmocka_unit_test(test_sqlite_memory_is_shared),
    };
    const struct CMUnitTest sqlite_tests[] = {BACKEND_TESTS};
    const struct CMUnitTest pg_tests[] = {BACKEND_TESTS, cmocka_unit_test(test_pg_reconnects)};

    int failed = cmocka_run_group_tests_name("store_common", common, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("store_sqlite", sqlite_tests, setup_sqlite, teardown_sqlite);
    const char *pg_url = getenv("TEST_PG_URL");
    if (pg_url && *pg_url)
        failed += cmocka_run_group_tests_name("store_postgres", pg_tests, setup_pg, teardown_pg);
    else
        print_message("TEST_PG_URL not set: PostgreSQL backend tests not run "
                      "(scripts/test.sh starts a throwaway cluster and sets it)\n");
    return failed ? 1 : 0;
}
