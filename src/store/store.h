/*
 * store.h - one storage API over two backends: SQLite (embedded default, WAL)
 * and PostgreSQL (libpq). The event loop never touches a database: work is
 * written as a job function that runs on a store worker thread with a
 * connection of its own, and its completion is delivered back on the loop
 * that submitted it.
 *
 * SQL: one dialect for both backends. Placeholders are $1..$N. Use types and
 * syntax both accept (TEXT, BIGINT, INTEGER, "ON CONFLICT ... DO UPDATE",
 * "RETURNING", CURRENT_TIMESTAMP); where the two must differ (auto ids, DECIMAL
 * affinity), a migration carries a PostgreSQL variant.
 *
 * Values cross the API as text (or NULL): callers convert with store_rows_i64.
 * Money columns are BIGINT pico-USD and never go through floating point.
 *
 * Threads: store_open/close/migrate/run_sync on any thread (they block);
 * store_submit from a loop thread that called store_attach_loop; job functions
 * run on a worker thread; store_conn_* only inside a job function.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include "../core/base.h"

#include <uv.h>

typedef struct store store;
typedef struct store_conn store_conn;
typedef struct store_rows store_rows;

typedef enum { STORE_SQLITE = 0, STORE_POSTGRES = 1 } store_kind;

typedef enum { STORE_P_NULL = 0, STORE_P_TEXT, STORE_P_INT } store_param_kind;
typedef struct {
    store_param_kind kind;
    const char *text; /* STORE_P_TEXT: bytes, need not be NUL-terminated */
    size_t len;
    int64_t i;        /* STORE_P_INT */
} store_param;

#define STORE_NULL        ((store_param){STORE_P_NULL, NULL, 0, 0})
#define STORE_INT(v)      ((store_param){STORE_P_INT, NULL, 0, (int64_t)(v)})
#define STORE_TEXT(s)     ((store_param){STORE_P_TEXT, (s), strlen(s), 0})
#define STORE_TEXTN(s, n) ((store_param){STORE_P_TEXT, (s), (n), 0})
/* A C string that may be NULL: NULL becomes SQL NULL. */
#define STORE_TEXT_OR_NULL(s) ((s) ? STORE_TEXT(s) : STORE_NULL)

/* Opens a store from a URL: "sqlite:<path>" (":memory:" allowed for tests),
 * "postgres://..." or "postgresql://...". workers = worker threads (and
 * connections); 0 = 2. On failure returns CORE_EDB/CORE_EINVAL with a reason in
 * errbuf (never containing the password). */
core_err store_open(const char *url, int workers, store **out, char *errbuf, size_t errlen);
/* Runs every queued job, stops the workers, closes connections, frees. Loops
 * must have detached first. */
void store_close(store *s);
store_kind store_get_kind(const store *s);

/* A migration: version numbers are per component, applied in order, each in
 * its own transaction, recorded in table schema_migrations(component, version,
 * name, applied_at). postgres == NULL means "same SQL as sqlite". Each SQL
 * text may hold several statements separated by ';'. */
typedef struct {
    int version;
    const char *name;
    const char *sqlite;
    const char *postgres;
} store_migration;
/* Applies the migrations not yet applied. Blocking. CORE_EDB with errbuf. */
core_err store_migrate(store *s, const char *component, const store_migration *list, size_t n,
                       char *errbuf, size_t errlen);

/* Job API. fn runs on a worker thread with a connection; done runs on the
 * submitting loop's thread with fn's return value. ud is the caller's, untouched. */
typedef core_err (*store_job_fn)(store_conn *c, void *ud);
typedef void (*store_done_fn)(core_err err, void *ud);

/* Must be called on a loop thread before store_submit from that loop; pairs
 * with store_detach_loop (which closes the handle it created, asynchronously). */
core_err store_attach_loop(store *s, uv_loop_t *loop);
void store_detach_loop(store *s, uv_loop_t *loop);
/* Queues a job. CORE_EBUSY when the queue is over its ceiling (caller should
 * answer 503), CORE_EINVAL if the loop is not attached. */
core_err store_submit(store *s, uv_loop_t *loop, store_job_fn fn, store_done_fn done, void *ud);
/* Runs fn on the caller's thread with a dedicated connection (CLI, start-up,
 * tests). Blocking. */
core_err store_run_sync(store *s, store_job_fn fn, void *ud);

/* Inside a job. */
store_kind store_conn_kind(const store_conn *c);
/* Statement without result rows. CORE_EDB on failure (store_conn_errmsg),
 * CORE_EEXIST on a unique-constraint violation. */
core_err store_exec(store_conn *c, const char *sql, const store_param *params, int nparams);
/* Statement with rows (also for "... RETURNING"). *out owned by caller. */
core_err store_query(store_conn *c, const char *sql, const store_param *params, int nparams,
                     store_rows **out);
/* Rows changed by the last store_exec. */
int64_t store_changes(const store_conn *c);
/* Transactions. store_begin takes the write lock up front (SQLite "BEGIN
 * IMMEDIATE"; PostgreSQL "BEGIN" - use SELECT ... FOR UPDATE for row locks,
 * which the SQLite backend accepts and ignores). */
core_err store_begin(store_conn *c);
core_err store_commit(store_conn *c);
core_err store_rollback(store_conn *c);
const char *store_conn_errmsg(const store_conn *c);

/* Result access. */
size_t store_rows_count(const store_rows *r);
size_t store_rows_columns(const store_rows *r);
const char *store_rows_name(const store_rows *r, size_t col);
/* NULL for SQL NULL; valid until store_rows_free. */
const char *store_rows_get(const store_rows *r, size_t row, size_t col);
/* Integer value, or dflt for NULL/non-integer text. */
int64_t store_rows_i64(const store_rows *r, size_t row, size_t col, int64_t dflt);
void store_rows_free(store_rows *r);

#endif
