/*
 * store_internal.h - what store.c shares with its two backends (store_sqlite.c,
 * store_pg.c): the backend operations table, the common head of every
 * connection, and the result-set builder. Not for use outside src/store.
 */
#ifndef STORE_STORE_INTERNAL_H
#define STORE_STORE_INTERNAL_H

#include "store.h"

#include "../core/buf.h"

/* Longest error text kept per connection. */
#define STORE_ERRMSG_MAX 512
/* Ceiling on the bytes of one result set: a runaway query fails with
 * CORE_ETOOBIG instead of exhausting memory. */
#define STORE_ROWS_MAX_BYTES (256u << 20)

typedef struct store_backend store_backend;

/* First member of every backend connection, so a store_conn * is both. */
struct store_conn {
    const store_backend *backend;
    store_kind kind;
    int64_t changes;
    char errmsg[STORE_ERRMSG_MAX];
};

struct store_backend {
    /* Opens one connection for target (the backend's own form of the URL).
     * On failure fills errbuf (no password) and returns CORE_EDB/CORE_EINVAL. */
    core_err (*connect)(const char *target, store_conn **out, char *errbuf, size_t errlen);
    void (*disconnect)(store_conn *c);
    /* One statement with parameters; rows collected when out != NULL. */
    core_err (*run)(store_conn *c, const char *sql, const store_param *params, int nparams,
                    store_rows **out);
    /* Several ';'-separated statements, no parameters (migrations). */
    core_err (*exec_script)(store_conn *c, const char *sql);
    core_err (*begin)(store_conn *c);
    core_err (*commit)(store_conn *c);
    core_err (*rollback)(store_conn *c);
    /* True while a transaction is open on c. */
    bool (*in_transaction)(store_conn *c);
};

extern const store_backend store_sqlite_backend;
extern const store_backend store_pg_backend;

/* Records an error message on c (printf-style, truncated to fit). */
void store_conn_set_error(store_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Result-set builder: cells are appended row-major, ncols per row. */
store_rows *store_rows_new(size_t ncols);
core_err store_rows_set_name(store_rows *r, size_t col, const char *name);
/* value NULL means SQL NULL. */
core_err store_rows_append(store_rows *r, const char *value, size_t len);
/* Call once after the last append; makes the rows readable. */
void store_rows_finish(store_rows *r);

#endif
