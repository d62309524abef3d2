/*
 * store_sqlite.c - the SQLite backend. One sqlite3 handle per store
 * connection, opened in WAL mode (readers never block the writer),
 * synchronous=NORMAL (durable across process crashes, fast commits),
 * foreign keys on, and a busy handler that waits up to STORE_SQLITE_BUSY_MS
 * for the write lock so concurrent writers queue instead of failing.
 *
 * Each connection keeps the statements it prepared, keyed by SQL text, so
 * the hot queries of a server are parsed once. Placeholders "$1".."$N" are
 * SQLite named parameters; each cached statement keeps the map from "$N" to
 * SQLite's parameter index, built once at prepare time, because looking the
 * names up per bind (sqlite3_bind_parameter_index on a formatted "$N") cost
 * more than the INSERT itself on the usage-log writer. "FOR UPDATE" is stripped:
 * SQLite has no row locks, and store_begin's BEGIN IMMEDIATE already holds
 * the database write lock.
 *
 * "sqlite::memory:" arrives here as a shared-cache URI; there locking is per
 * table and reports SQLITE_LOCKED without calling the busy handler, so those
 * statements are retried here until the same timeout.
 */
#include "store_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STORE_SQLITE_BUSY_MS    5000
#define STORE_SQLITE_STMT_CACHE 64

typedef struct {
    uint64_t hash;
    char *sql; /* the caller's text, the cache key */
    sqlite3_stmt *stmt;
    uint64_t last_used;
    /* index_of[n] = SQLite's index of placeholder "$n" (0 = not in the
     * statement), for n in 1..nplaceholders. */
    int *index_of;
    int nplaceholders;
} cached_stmt;

typedef struct {
    store_conn base;
    sqlite3 *db;
    bool shared_cache;
    uint64_t busy_started_ms;
    uint64_t use_clock;
    cached_stmt cache[STORE_SQLITE_STMT_CACHE];
} sqlite_conn;

static uint64_t hash_sql(const char *sql)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static core_err map_error(sqlite_conn *c, int rc)
{
    int primary = rc & 0xff;
    store_conn_set_error(&c->base, "sqlite: %s", sqlite3_errmsg(c->db));
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return CORE_EEXIST;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return CORE_EBUSY;
    if (primary == SQLITE_NOMEM) return CORE_ENOMEM;
    return CORE_EDB;
}

/* Waits for a lock another connection holds: short naps first (the holder is
 * usually one quick transaction), longer ones later, up to the timeout. */
static int busy_wait(void *arg, int count)
{
    sqlite_conn *c = arg;
    uint64_t now = time_mono_ms();
    if (count == 0) c->busy_started_ms = now;
    if (now - c->busy_started_ms >= STORE_SQLITE_BUSY_MS) return 0;
    usleep(count < 20 ? 200 : count < 200 ? 1000 : 5000);
    return 1;
}

static bool is_word_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Length of "FOR <spaces> UPDATE" at p as whole words, or 0. */
static size_t for_update_len(const char *sql, const char *p)
{
    if (p > sql && is_word_char(p[-1])) return 0;
    if (strncasecmp(p, "for", 3) != 0 || !is_space(p[3])) return 0;
    const char *q = p + 3;
    while (is_space(*q))
        q++;
    if (strncasecmp(q, "update", 6) != 0 || is_word_char(q[6])) return 0;
    return (size_t)(q + 6 - p);
}

/* Returns a copy of sql with every "FOR UPDATE" outside quotes and comments
 * blanked out, or NULL when there is none (or on OOM, which prepare then
 * reports as a syntax error rather than silently dropping the clause). */
static char *strip_for_update(const char *sql)
{
    char *copy = NULL;
    for (const char *p = sql; *p;) {
        if (*p == '\'' || *p == '"') {
            char quote = *p++;
            while (*p && !(*p == quote && p[1] != quote)) /* doubled quote escapes */
                p += (*p == quote) ? 2 : 1;
            if (*p) p++;
        } else if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else {
            size_t n = for_update_len(sql, p);
            if (n == 0) {
                p++;
                continue;
            }
            if (!copy && !(copy = strdup(sql))) return NULL;
            memset(copy + (p - sql), ' ', n);
            p += n;
        }
    }
    return copy;
}

static bool only_trailing_noise(const char *tail)
{
    for (; tail && *tail; tail++)
        if (!is_space(*tail) && *tail != ';') return false;
    return true;
}

/* Placeholder number of a SQLite parameter name spelled exactly "$N" (N >= 1,
 * no leading zero, as bind used to format it), else 0. */
static int placeholder_number(const char *name)
{
    if (!name || name[0] != '$' || name[1] < '1' || name[1] > '9') return 0;
    long n = 0;
    for (const char *p = name + 1; *p; p++) {
        if (*p < '0' || *p > '9' || n > 100000) return 0;
        n = n * 10 + (*p - '0');
    }
    return (int)n;
}

/* Fills e->index_of from the statement's parameter names. */
static core_err build_param_map(cached_stmt *e)
{
    int count = sqlite3_bind_parameter_count(e->stmt);
    int highest = 0;
    for (int idx = 1; idx <= count; idx++)
        highest = MAX(highest, placeholder_number(sqlite3_bind_parameter_name(e->stmt, idx)));
    e->nplaceholders = highest;
    e->index_of = NULL;
    if (highest == 0) return CORE_OK;
    e->index_of = calloc((size_t)highest + 1, sizeof *e->index_of);
    if (!e->index_of) return CORE_ENOMEM;
    for (int idx = 1; idx <= count; idx++) {
        int n = placeholder_number(sqlite3_bind_parameter_name(e->stmt, idx));
        if (n) e->index_of[n] = idx;
    }
    return CORE_OK;
}

static void drop_cached(cached_stmt *e)
{
    sqlite3_finalize(e->stmt);
    free(e->sql);
    free(e->index_of);
    memset(e, 0, sizeof *e);
}

/* A prepared statement for sql from this connection's cache. */
static core_err get_stmt(sqlite_conn *c, const char *sql, cached_stmt **out)
{
    uint64_t hash = hash_sql(sql);
    cached_stmt *victim = &c->cache[0];
    for (size_t i = 0; i < STORE_SQLITE_STMT_CACHE; i++) {
        cached_stmt *e = &c->cache[i];
        if (e->stmt && e->hash == hash && strcmp(e->sql, sql) == 0) {
            e->last_used = ++c->use_clock;
            *out = e;
            return CORE_OK;
        }
        if (!e->stmt)
            victim = e;
        else if (victim->stmt && e->last_used < victim->last_used)
            victim = e;
    }
    char *rewritten = strip_for_update(sql);
    const char *text = rewritten ? rewritten : sql;
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, text, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    core_err err = CORE_OK;
    if (rc != SQLITE_OK) {
        err = map_error(c, rc);
        goto out;
    }
    if (!stmt) {
        store_conn_set_error(&c->base, "sqlite: empty statement");
        err = CORE_EINVAL;
        goto out;
    }
    if (!only_trailing_noise(tail)) {
        store_conn_set_error(&c->base, "sqlite: one statement per call (migrations take several)");
        err = CORE_EINVAL;
        goto out;
    }
    char *key = strdup(sql);
    if (!key) {
        err = CORE_ENOMEM;
        goto out;
    }
    if (victim->stmt) drop_cached(victim);
    victim->hash = hash;
    victim->sql = key;
    victim->stmt = stmt;
    victim->last_used = ++c->use_clock;
    stmt = NULL;
    if ((err = build_param_map(victim)) != CORE_OK) {
        drop_cached(victim);
        goto out;
    }
    *out = victim;
out:
    sqlite3_finalize(stmt);
    free(rewritten);
    return err;
}

static core_err bind_params(sqlite_conn *c, const cached_stmt *e, const store_param *params,
                            int nparams)
{
    sqlite3_stmt *stmt = e->stmt;
    for (int i = 0; i < nparams; i++) {
        int idx = i + 1 <= e->nplaceholders ? e->index_of[i + 1] : 0;
        if (idx == 0) {
            store_conn_set_error(&c->base, "sqlite: parameter $%d is not used by the statement",
                                 i + 1);
            return CORE_EINVAL;
        }
        int rc;
        switch (params[i].kind) {
        case STORE_P_TEXT:
            rc = sqlite3_bind_text(stmt, idx, params[i].text ? params[i].text : "",
                                   (int)params[i].len, SQLITE_STATIC);
            break;
        case STORE_P_INT:
            rc = sqlite3_bind_int64(stmt, idx, params[i].i);
            break;
        default:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        }
        if (rc != SQLITE_OK) return map_error(c, rc);
    }
    if (sqlite3_bind_parameter_count(stmt) != nparams) {
        store_conn_set_error(&c->base, "sqlite: statement takes %d parameters, %d given",
                             sqlite3_bind_parameter_count(stmt), nparams);
        return CORE_EINVAL;
    }
    return CORE_OK;
}

static store_rows *new_rows(sqlite3_stmt *stmt)
{
    int ncols = sqlite3_column_count(stmt);
    store_rows *rows = store_rows_new((size_t)ncols);
    if (!rows) return NULL;
    for (int i = 0; i < ncols; i++) {
        if (store_rows_set_name(rows, (size_t)i, sqlite3_column_name(stmt, i)) != CORE_OK) {
            store_rows_free(rows);
            return NULL;
        }
    }
    return rows;
}

static core_err append_row(store_rows *rows, sqlite3_stmt *stmt)
{
    int ncols = sqlite3_column_count(stmt);
    for (int i = 0; i < ncols; i++) {
        core_err err;
        if (sqlite3_column_type(stmt, i) == SQLITE_NULL) {
            err = store_rows_append(rows, NULL, 0);
        } else {
            const char *text = (const char *)sqlite3_column_text(stmt, i);
            if (!text) return CORE_ENOMEM;
            err = store_rows_append(rows, text, (size_t)sqlite3_column_bytes(stmt, i));
        }
        if (err) return err;
    }
    return CORE_OK;
}

/* Steps stmt to the end, collecting rows when out != NULL. */
static core_err step_all(sqlite_conn *c, sqlite3_stmt *stmt, store_rows **out)
{
    uint64_t started = time_mono_ms();
    for (;;) {
        store_rows *rows = NULL;
        if (out && !(rows = new_rows(stmt))) return CORE_ENOMEM;
        int rc;
        core_err err = CORE_OK;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (rows && (err = append_row(rows, stmt)) != CORE_OK) break;
        }
        if (err) {
            store_conn_set_error(&c->base, "sqlite: result: %s", core_strerror(err));
            store_rows_free(rows);
            return err;
        }
        if (rc == SQLITE_DONE) {
            c->base.changes = sqlite3_changes64(c->db);
            if (rows) {
                store_rows_finish(rows);
                *out = rows;
            }
            return CORE_OK;
        }
        store_rows_free(rows);
        bool table_locked = (rc & 0xff) == SQLITE_LOCKED;
        if (!(c->shared_cache && table_locked) || time_mono_ms() - started >= STORE_SQLITE_BUSY_MS)
            return map_error(c, rc);
        sqlite3_reset(stmt);
        usleep(500);
    }
}

static core_err sqlite_run(store_conn *base, const char *sql, const store_param *params,
                           int nparams, store_rows **out)
{
    sqlite_conn *c = (sqlite_conn *)base;
    cached_stmt *cached = NULL;
    core_err err = get_stmt(c, sql, &cached);
    if (err) return err;
    sqlite3_stmt *stmt = cached->stmt;
    err = bind_params(c, cached, params, nparams);
    if (!err) err = step_all(c, stmt, out);
    /* Cached statements go back clean: no lingering locks or bound pointers. */
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return err;
}

static core_err sqlite_exec_script(store_conn *base, const char *sql)
{
    sqlite_conn *c = (sqlite_conn *)base;
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) return CORE_OK;
    core_err err = map_error(c, sqlite3_extended_errcode(c->db));
    if (msg) store_conn_set_error(base, "sqlite: %s", msg);
    sqlite3_free(msg);
    return err;
}

static core_err sqlite_begin(store_conn *base)
{
    return sqlite_run(base, "BEGIN IMMEDIATE", NULL, 0, NULL);
}

static core_err sqlite_commit(store_conn *base)
{
    return sqlite_run(base, "COMMIT", NULL, 0, NULL);
}

static core_err sqlite_rollback(store_conn *base)
{
    sqlite_conn *c = (sqlite_conn *)base;
    if (sqlite3_get_autocommit(c->db)) return CORE_OK; /* nothing open (or already undone) */
    return sqlite_run(base, "ROLLBACK", NULL, 0, NULL);
}

static bool sqlite_in_transaction(store_conn *base)
{
    return !sqlite3_get_autocommit(((sqlite_conn *)base)->db);
}

static void sqlite_disconnect(store_conn *base)
{
    sqlite_conn *c = (sqlite_conn *)base;
    for (size_t i = 0; i < STORE_SQLITE_STMT_CACHE; i++)
        drop_cached(&c->cache[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

static core_err sqlite_connect(const char *target, store_conn **out, char *errbuf, size_t errlen)
{
    static const char *const setup[] = {
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
    };
    *out = NULL;
    sqlite_conn *c = calloc(1, sizeof *c);
    if (!c) return CORE_ENOMEM;
    c->base.backend = &store_sqlite_backend;
    c->base.kind = STORE_SQLITE;
    bool is_uri = strncmp(target, "file:", 5) == 0;
    c->shared_cache = is_uri && strstr(target, "cache=shared") != NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (is_uri) flags |= SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(target, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "sqlite: cannot open %s: %s", target,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_handler(c->db, busy_wait, c);
    for (size_t i = 0; i < ARRAY_LEN(setup); i++) {
        char *msg = NULL;
        if (sqlite3_exec(c->db, setup[i], NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(errbuf, errlen, "sqlite: %s on %s: %s", setup[i], target,
                     msg ? msg : "failed");
            sqlite3_free(msg);
            goto fail;
        }
    }
    *out = &c->base;
    return CORE_OK;
fail:
    sqlite3_close_v2(c->db);
    free(c);
    return CORE_EDB;
}

const store_backend store_sqlite_backend = {
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .run = sqlite_run,
    .exec_script = sqlite_exec_script,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .in_transaction = sqlite_in_transaction,
};
