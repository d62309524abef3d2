/*
 * store_pg.c - the PostgreSQL backend over libpq. Each store connection is one
 * blocking PGconn used by one worker thread at a time; the event loop never
 * waits on it, so blocking libpq is the simple and correct choice here.
 *
 * Parameters go as text with PQexecParams (integers typed int8, text left for
 * the server to infer from context). Errors map by SQLSTATE: 23505 (unique) to
 * CORE_EEXIST, 40001/40P01/55P03 (serialization failure, deadlock, lock not
 * available) to CORE_EBUSY so the caller retries the transaction.
 *
 * A dropped connection is reset once before a statement fails. A statement
 * whose connection died under it is re-sent only when that cannot apply a write
 * twice: outside a transaction and for SELECT or BEGIN. Error texts from libpq
 * are scrubbed of the password before anyone sees them.
 */
#include "store_internal.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define PG_INT8_OID      20 /* pg_type.oid of bigint; libpq does not export the constants */
#define PG_INLINE_PARAMS 16

typedef struct {
    store_conn base;
    PGconn *pg;
    char *password; /* from the URL, only to scrub it from messages; may be NULL */
    bool in_tx;     /* we sent BEGIN and no COMMIT/ROLLBACK yet */
} pg_conn;

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and friends */
}

/* Copies src into dst replacing every occurrence of password with "***". */
static void scrub(char *dst, size_t dstlen, const char *src, const char *password)
{
    size_t pwlen = password ? strlen(password) : 0;
    size_t n = 0;
    if (dstlen == 0) return;
    while (*src && n + 1 < dstlen) {
        if (pwlen > 0 && strncmp(src, password, pwlen) == 0) {
            for (const char *r = "***"; *r && n + 1 < dstlen; r++)
                dst[n++] = *r;
            src += pwlen;
            continue;
        }
        dst[n++] = *src++;
    }
    dst[n] = '\0';
}

static void set_pg_error(pg_conn *c, const char *prefix, const char *message)
{
    char clean[STORE_ERRMSG_MAX];
    scrub(clean, sizeof clean, message ? message : "unknown error", c->password);
    store_conn_set_error(&c->base, "postgres: %s%s", prefix, clean);
}

static core_err map_result_error(pg_conn *c, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *message = res ? PQresultErrorMessage(res) : NULL;
    if (!message || !*message) message = PQerrorMessage(c->pg);
    set_pg_error(c, "", message);
    if (!res) return PQstatus(c->pg) == CONNECTION_OK ? CORE_ENOMEM : CORE_EDB;
    if (!state) return CORE_EDB;
    if (strcmp(state, "23505") == 0) return CORE_EEXIST;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return CORE_EBUSY;
    return CORE_EDB;
}

/* Makes sure the connection is usable; resets a dropped one once. */
static core_err ensure_connected(pg_conn *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK) return CORE_OK;
    if (c->in_tx) {
        set_pg_error(c, "", "connection lost inside a transaction");
        return CORE_EDB;
    }
    PQreset(c->pg);
    if (PQstatus(c->pg) == CONNECTION_OK) return CORE_OK;
    set_pg_error(c, "reconnect failed: ", PQerrorMessage(c->pg));
    return CORE_EDB;
}

/* A statement that may be sent again after the connection died under it. */
static bool safe_to_resend(const pg_conn *c, const char *sql)
{
    if (c->in_tx) return false;
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
        sql++;
    return strncasecmp(sql, "select", 6) == 0 || strncasecmp(sql, "begin", 5) == 0;
}

static core_err copy_rows(const PGresult *res, store_rows **out)
{
    int ncols = PQnfields(res);
    int nrows = PQntuples(res);
    store_rows *rows = store_rows_new((size_t)ncols);
    if (!rows) return CORE_ENOMEM;
    core_err err = CORE_OK;
    for (int col = 0; col < ncols && !err; col++)
        err = store_rows_set_name(rows, (size_t)col, PQfname(res, col));
    for (int row = 0; row < nrows && !err; row++) {
        for (int col = 0; col < ncols && !err; col++) {
            if (PQgetisnull(res, row, col))
                err = store_rows_append(rows, NULL, 0);
            else
                err = store_rows_append(rows, PQgetvalue(res, row, col),
                                        (size_t)PQgetlength(res, row, col));
        }
    }
    if (err) {
        store_rows_free(rows);
        return err;
    }
    store_rows_finish(rows);
    *out = rows;
    return CORE_OK;
}

/* Runs one statement. Rows go to *out when out != NULL; the command tag
 * ("COMMIT", "ROLLBACK", "INSERT 0 1"...) to tag when tag != NULL. */
static core_err execute(pg_conn *c, const char *sql, const store_param *params, int nparams,
                        store_rows **out, char *tag, size_t taglen)
{
    const char *inline_values[PG_INLINE_PARAMS];
    Oid inline_types[PG_INLINE_PARAMS];
    const char **values = inline_values;
    Oid *types = inline_types;
    char *text = NULL;
    PGresult *res = NULL;
    core_err err = CORE_OK;

    if (nparams > PG_INLINE_PARAMS) {
        values = calloc((size_t)nparams, sizeof *values);
        types = calloc((size_t)nparams, sizeof *types);
        if (!values || !types) {
            err = CORE_ENOMEM;
            goto out;
        }
    }
    /* libpq wants NUL-terminated text values: copy them into one block. */
    size_t text_size = 0;
    for (int i = 0; i < nparams; i++)
        text_size += params[i].kind == STORE_P_TEXT  ? params[i].len + 1
                     : params[i].kind == STORE_P_INT ? 24
                                                     : 0;
    if (text_size > 0 && !(text = malloc(text_size))) {
        err = CORE_ENOMEM;
        goto out;
    }
    char *cursor = text;
    for (int i = 0; i < nparams; i++) {
        types[i] = 0;
        values[i] = NULL;
        if (params[i].kind == STORE_P_TEXT) {
            if (params[i].len) memcpy(cursor, params[i].text, params[i].len);
            cursor[params[i].len] = '\0';
            values[i] = cursor;
            cursor += params[i].len + 1;
        } else if (params[i].kind == STORE_P_INT) {
            snprintf(cursor, 24, "%lld", (long long)params[i].i);
            values[i] = cursor;
            types[i] = PG_INT8_OID;
            cursor += 24;
        }
    }

    for (int attempt = 0;; attempt++) {
        err = ensure_connected(c);
        if (err) goto out;
        res = PQexecParams(c->pg, sql, nparams, types, values, NULL, NULL, 0);
        ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) break;
        if (attempt == 0 && PQstatus(c->pg) != CONNECTION_OK && safe_to_resend(c, sql)) {
            PQclear(res);
            res = NULL;
            continue;
        }
        err = map_result_error(c, res);
        goto out;
    }
    const char *tuples = PQcmdTuples(res);
    c->base.changes = (tuples && *tuples) ? strtoll(tuples, NULL, 10) : 0;
    if (tag) snprintf(tag, taglen, "%s", PQcmdStatus(res) ? PQcmdStatus(res) : "");
    if (out) {
        err = copy_rows(res, out);
        if (err) store_conn_set_error(&c->base, "postgres: result: %s", core_strerror(err));
    }
out:
    PQclear(res);
    free(text);
    if (values != inline_values) free(values);
    if (types != inline_types) free(types);
    return err;
}

static core_err pg_run(store_conn *base, const char *sql, const store_param *params, int nparams,
                       store_rows **out)
{
    return execute((pg_conn *)base, sql, params, nparams, out, NULL, 0);
}

static core_err pg_exec_script(store_conn *base, const char *sql)
{
    pg_conn *c = (pg_conn *)base;
    core_err err = ensure_connected(c);
    if (err) return err;
    /* PQexec (not PQexecParams) accepts several statements in one string. */
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) err = map_result_error(c, res);
    PQclear(res);
    return err;
}

static core_err pg_begin(store_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    core_err err = execute(c, "BEGIN", NULL, 0, NULL, NULL, 0);
    if (!err) c->in_tx = true;
    return err;
}

static core_err pg_commit(store_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    char tag[32];
    core_err err = execute(c, "COMMIT", NULL, 0, NULL, tag, sizeof tag);
    c->in_tx = false;
    /* COMMIT of a transaction that already failed succeeds with tag ROLLBACK. */
    if (!err && strcmp(tag, "ROLLBACK") == 0) {
        set_pg_error(c, "", "transaction had failed and was rolled back");
        err = CORE_EDB;
    }
    return err;
}

static core_err pg_rollback(store_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    c->in_tx = false;
    if (PQstatus(c->pg) != CONNECTION_OK) return CORE_OK; /* the server rolled it back */
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE) return CORE_OK;
    return execute(c, "ROLLBACK", NULL, 0, NULL, NULL, 0);
}

static bool pg_in_transaction(store_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    PGTransactionStatusType st = PQtransactionStatus(c->pg);
    return c->in_tx || st == PQTRANS_INTRANS || st == PQTRANS_INERROR;
}

static void pg_disconnect(store_conn *base)
{
    pg_conn *c = (pg_conn *)base;
    PQfinish(c->pg);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    free(c);
}

static core_err pg_connect(const char *target, store_conn **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    char redacted[256];
    store_url_redact(target, redacted, sizeof redacted);
    char *parse_error = NULL;
    PQconninfoOption *options = PQconninfoParse(target, &parse_error);
    if (!options) {
        /* libpq's parse message may quote the offending part, password included. */
        snprintf(errbuf, errlen, "postgres: invalid URL %s", redacted);
        PQfreemem(parse_error);
        return CORE_EINVAL;
    }
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) {
        PQconninfoFree(options);
        return CORE_ENOMEM;
    }
    c->base.backend = &store_pg_backend;
    c->base.kind = STORE_POSTGRES;
    bool password_lost = false;
    for (PQconninfoOption *o = options; o->keyword; o++) {
        if (strcmp(o->keyword, "password") != 0 || !o->val || !*o->val) continue;
        c->password = strdup(o->val);
        password_lost = !c->password;
    }
    PQconninfoFree(options);
    if (password_lost) {
        /* Without the copy no message could be scrubbed: refuse to go on. */
        snprintf(errbuf, errlen, "postgres: out of memory connecting to %s", redacted);
        pg_disconnect(&c->base);
        return CORE_ENOMEM;
    }

    c->pg = PQconnectdb(target);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        char clean[STORE_ERRMSG_MAX];
        scrub(clean, sizeof clean, c->pg ? PQerrorMessage(c->pg) : "out of memory", c->password);
        for (char *p = clean; *p; p++)
            if (*p == '\n') *p = ' ';
        snprintf(errbuf, errlen, "postgres: cannot connect to %s: %s", redacted, clean);
        pg_disconnect(&c->base);
        return CORE_EDB;
    }
    PQsetNoticeProcessor(c->pg, quiet_notices, NULL);
    *out = &c->base;
    return CORE_OK;
}

const store_backend store_pg_backend = {
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .run = pg_run,
    .exec_script = pg_exec_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
};
