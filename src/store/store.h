/*
 * store.h - one storage API over two backends: SQLite (embedded default, WAL)
 * and PostgreSQL (libpq). The event loop never touches a database: work is
 * written as a job function that runs on a store worker thread with a
 * connection of its own, and its completion is delivered back on the loop
 * that submitted it.
 *
 * Values cross the API as text (or NULL): callers convert with store_rows_i64.
 * Money columns are BIGINT pico-USD and never go through floating point.
 *
 * Threads: store_open/close/migrate/run_sync on any thread (they block);
 * store_attach_loop/detach_loop/submit on the loop's own thread; job functions
 * run on a worker thread; store_conn_* only inside a job function (or a
 * store_run_sync callback). A store_conn is never shared between threads.
 *
 * ---------------------------------------------------------------------------
 * SQL rules: one dialect that both backends run unchanged.
 *
 *  - Placeholders are $1..$N. Every parameter passed must appear in the SQL
 *    (PostgreSQL refuses extras; the SQLite backend checks the same). A
 *    placeholder may appear several times.
 *  - Types: TEXT, BIGINT, INTEGER only. Booleans are INTEGER 0/1 (never
 *    BOOLEAN: PostgreSQL would answer "t"/"f"). Timestamps are TEXT ISO-8601
 *    UTC ("2026-11-24T15:51:49.123Z", sorts lexically) or BIGINT epoch ms.
 *    Money is BIGINT pico-USD (prices BIGINT micro-USD per 1M tokens).
 *    DECIMAL(10,6) only where a seed table demands it (estimated_cost); never
 *    read it for arithmetic.
 *  - Ids are TEXT generated in C with random_id() (core/base.h). No
 *    AUTOINCREMENT / SERIAL / IDENTITY: their syntax and semantics differ.
 *  - Upsert: "INSERT ... ON CONFLICT (cols) DO UPDATE SET x = excluded.x" or
 *    "ON CONFLICT DO NOTHING" (both accept it; name the conflict columns).
 *  - "RETURNING" works on INSERT/UPDATE/DELETE: use store_query for it.
 *  - Paging: "LIMIT $1 OFFSET $2". No "TOP", no "FETCH FIRST".
 *  - Row locks: "SELECT ... FOR UPDATE" inside store_begin/commit. SQLite has
 *    no row locks; its backend strips "FOR UPDATE" (store_begin already holds
 *    the database write lock there). Not portable: SKIP LOCKED, NOWAIT.
 *  - Results are text. COUNT(*) and SUM(bigint) read fine with
 *    store_rows_i64; AVG and division are not portable (integer vs numeric):
 *    do such math in C on integers.
 *  - CURRENT_TIMESTAMP formats differ between backends: pass times from C.
 *  - Case-insensitive match: compare lower(x) = lower($1); no ILIKE.
 *  - No "IF NOT EXISTS" on ALTER TABLE ADD COLUMN (SQLite lacks it): a
 *    migration runs once, so it needs none.
 *  - Where the two must differ, a migration carries a PostgreSQL variant.
 * ---------------------------------------------------------------------------
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
    const char *text; /* STORE_P_TEXT: bytes, need not be NUL-terminated, no NUL inside */
    size_t len;
    int64_t i; /* STORE_P_INT */
} store_param;

#define STORE_NULL        ((store_param){STORE_P_NULL, NULL, 0, 0})
#define STORE_INT(v)      ((store_param){STORE_P_INT, NULL, 0, (int64_t)(v)})
#define STORE_TEXT(s)     ((store_param){STORE_P_TEXT, (s), strlen(s), 0})
#define STORE_TEXTN(s, n) ((store_param){STORE_P_TEXT, (s), (n), 0})
/* A C string that may be NULL: NULL becomes SQL NULL. Evaluates s once. */
static inline store_param store_text_or_null(const char *s)
{
    return s ? (store_param){STORE_P_TEXT, s, strlen(s), 0} : STORE_NULL;
}
#define STORE_TEXT_OR_NULL(s) store_text_or_null(s)

/* Default ceiling on jobs waiting for a worker (store_set_queue_limit). */
#define STORE_QUEUE_LIMIT_DEFAULT 4096

/* Opens a store from a URL: "sqlite:<path>" (also "sqlite://<path>"; "sqlite::memory:"
 * gives an in-memory database shared by all connections of this store and gone
 * with it), "postgres://..." or "postgresql://..." (any libpq URL, e.g. with
 * "?options=-csearch_path%3Dmyschema"). workers = worker threads, each with its
 * own connection, opened now; 0 = 2. On failure returns CORE_EDB/CORE_EINVAL
 * with a reason in errbuf (never containing the password). */
core_err store_open(const char *url, int workers, store **out, char *errbuf, size_t errlen);
/* Runs every queued job, stops the workers, closes connections, frees. Loops
 * must have detached first (and their detach completed); an attached loop is
 * reported in the log and its handle leaked rather than freed off its thread. */
void store_close(store *s);
store_kind store_get_kind(const store *s);
/* Changes the ceiling on jobs waiting for a worker (default
 * STORE_QUEUE_LIMIT_DEFAULT, minimum 1). Any thread. */
void store_set_queue_limit(store *s, size_t limit);
/* Writes url into out with any password replaced by "***" (for logs and
 * errors). out is always NUL-terminated; truncated if too small. */
void store_url_redact(const char *url, char *out, size_t outlen);

/* A migration: version numbers are per component, applied in order, each in
 * its own transaction, recorded in table schema_migrations(component, version,
 * name, applied_at). postgres == NULL means "same SQL as sqlite". Each SQL
 * text may hold several statements separated by ';' (no parameters). */
typedef struct {
    int version;
    const char *name;
    const char *sqlite;
    const char *postgres;
} store_migration;
/* Applies the migrations not yet applied, in list order (versions must be
 * strictly increasing and > 0, else CORE_EINVAL). Blocking; safe against a
 * second process migrating the same database at the same time (PostgreSQL
 * advisory lock / SQLite BEGIN IMMEDIATE): each migration is applied once.
 * CORE_EDB with the failing migration and the database's message in errbuf;
 * the failing migration leaves no trace, earlier ones stay applied. */
core_err store_migrate(store *s, const char *component, const store_migration *list, size_t n,
                       char *errbuf, size_t errlen);

/* Job API. fn runs on a worker thread with a connection; done runs on the
 * submitting loop's thread with fn's return value. ud is the caller's, untouched.
 * A job left inside a transaction is rolled back when fn returns. */
typedef core_err (*store_job_fn)(store_conn *c, void *ud);
typedef void (*store_done_fn)(core_err err, void *ud);

/* Must be called on a loop thread before store_submit from that loop. Creates
 * a uv_async handle on the loop (it keeps the loop alive until detached).
 * CORE_EEXIST if already attached, CORE_ENOMEM. */
core_err store_attach_loop(store *s, uv_loop_t *loop);
/* On the loop thread. New submits from this loop fail from now on; jobs still
 * in flight complete and their done callbacks still run on this loop; then the
 * handle is closed and freed in its close callback. So: keep running the loop
 * until uv_run returns; store_close after that. */
void store_detach_loop(store *s, uv_loop_t *loop);
/* Queues a job. CORE_EBUSY when the queue is at its ceiling (caller should
 * answer 503), CORE_EINVAL if the loop is not attached, CORE_ECLOSED when the
 * store is closing. done may be NULL (fire and forget; then loop may be NULL). */
core_err store_submit(store *s, uv_loop_t *loop, store_job_fn fn, store_done_fn done, void *ud);
/* Runs fn on the caller's thread with a dedicated connection (CLI, start-up,
 * tests), opened on first use. Calls from several threads take turns. Blocking:
 * never on a loop thread. Returns fn's value, or CORE_EDB if connecting failed. */
core_err store_run_sync(store *s, store_job_fn fn, void *ud);

/* Inside a job. */
store_kind store_conn_kind(const store_conn *c);
/* Statement without result rows. CORE_EDB on failure (store_conn_errmsg),
 * CORE_EEXIST on a unique-constraint violation, CORE_EBUSY when the database
 * stayed locked past the busy timeout (SQLite) or on a serialization failure or
 * deadlock (PostgreSQL): retry the transaction. CORE_EINVAL for bad params. */
core_err store_exec(store_conn *c, const char *sql, const store_param *params, int nparams);
/* Statement with rows (also for "... RETURNING"). On CORE_OK *out is owned by
 * the caller (store_rows_free); on error *out is NULL. Errors as store_exec. */
core_err store_query(store_conn *c, const char *sql, const store_param *params, int nparams,
                     store_rows **out);
/* Rows changed by the last store_exec / store_query. */
int64_t store_changes(const store_conn *c);
/* Transactions. store_begin takes the write lock up front (SQLite "BEGIN
 * IMMEDIATE"; PostgreSQL "BEGIN" - use SELECT ... FOR UPDATE for row locks,
 * which the SQLite backend accepts and ignores). store_commit returns CORE_EDB
 * if the transaction had failed and was rolled back instead. */
core_err store_begin(store_conn *c);
core_err store_commit(store_conn *c);
core_err store_rollback(store_conn *c);
/* The last error's text ("" if none); valid until the next call on c. Never
 * contains a password. */
const char *store_conn_errmsg(const store_conn *c);

/* Result access. */
size_t store_rows_count(const store_rows *r);
size_t store_rows_columns(const store_rows *r);
const char *store_rows_name(const store_rows *r, size_t col);
/* NULL for SQL NULL (or out of range); NUL-terminated; valid until store_rows_free. */
const char *store_rows_get(const store_rows *r, size_t row, size_t col);
/* Byte length of a value (0 for NULL). */
size_t store_rows_len(const store_rows *r, size_t row, size_t col);
/* Integer value (optional '-', decimal digits, within int64), or dflt for
 * NULL / non-integer text / out of range. */
int64_t store_rows_i64(const store_rows *r, size_t row, size_t col, int64_t dflt);
void store_rows_free(store_rows *r);

#endif
