/*
 * store.c - the backend-independent half of the storage layer: URL parsing,
 * the bounded job queue and its worker threads (one connection each), the
 * per-loop completion delivery with uv_async, the dedicated connection of
 * store_run_sync, versioned migrations, and result sets.
 *
 * Job life: store_submit (loop thread) -> queue -> a worker runs fn with its
 * connection -> the job moves to its loop attachment's finished list and the
 * worker wakes the loop with uv_async_send -> the loop runs done and frees the
 * job. An attachment counts its jobs in flight, so a detaching loop keeps its
 * handle until the last done callback ran, then closes it and frees it in the
 * close callback.
 */
#include "store_internal.h"

#include "../core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct store_attachment store_attachment;

typedef struct store_job {
    struct store_job *next;
    store_job_fn fn;
    store_done_fn done;
    void *ud;
    store_attachment *attachment; /* NULL for fire-and-forget jobs */
    core_err result;
} store_job;

struct store_attachment {
    uv_async_t async;
    uv_loop_t *loop;
    uv_mutex_t lock; /* guards finished_* (workers push, the loop pops) */
    store_job *finished_head;
    store_job *finished_tail;
    size_t in_flight;       /* loop thread only: submitted, done not yet called */
    bool detaching;         /* loop thread only */
    store_attachment *next; /* in store.attachments, guarded by store.lock */
};

typedef struct {
    store *owner;
    store_conn *conn;
    uv_thread_t thread;
    bool started;
} store_worker;

struct store {
    store_kind kind;
    const store_backend *backend;
    char *target; /* what the backend connects to */

    uv_mutex_t lock; /* guards everything below up to sync_lock */
    uv_cond_t queue_nonempty;
    store_job *queue_head;
    store_job *queue_tail;
    size_t queued;
    size_t queue_limit;
    bool stopping;
    store_attachment *attachments;

    int nworkers;
    store_worker *workers;

    uv_mutex_t sync_lock; /* one store_run_sync at a time on sync_conn */
    store_conn *sync_conn;
};

/* ------------------------------------------------------------------------ */
/* URLs */

void store_url_redact(const char *url, char *out, size_t outlen)
{
    if (!out || outlen == 0) return;
    out[0] = '\0';
    if (!url) return;
    buf_t b;
    buf_init(&b, 0);
    const char *scheme_end = strstr(url, "://");
    const char *p = url;
    if (scheme_end) {
        const char *authority = scheme_end + 3;
        size_t authority_len = strcspn(authority, "/?#");
        const char *at = memrchr(authority, '@', authority_len);
        const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
        if (colon) {
            buf_append(&b, url, (size_t)(colon - url) + 1);
            buf_append_cstr(&b, "***");
            p = at;
        }
    }
    /* Query parameters named password=... */
    for (;;) {
        const char *hit = strstr(p, "password=");
        if (!hit || (hit != url && hit[-1] != '?' && hit[-1] != '&')) {
            if (!hit) break;
            buf_append(&b, p, (size_t)(hit - p) + 9);
            p = hit + 9;
            continue;
        }
        buf_append(&b, p, (size_t)(hit - p) + 9);
        buf_append_cstr(&b, "***");
        p = hit + 9 + strcspn(hit + 9, "&#");
    }
    buf_append_cstr(&b, p);
    snprintf(out, outlen, "%s", b.data ? b.data : "");
    buf_free(&b);
}

static core_err parse_url(const char *url, store_kind *kind, char **target, char *errbuf,
                          size_t errlen)
{
    if (!url || !*url) {
        snprintf(errbuf, errlen, "empty database URL");
        return CORE_EINVAL;
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0) path += 2;
        if (!*path) {
            snprintf(errbuf, errlen, "sqlite URL without a path");
            return CORE_EINVAL;
        }
        *kind = STORE_SQLITE;
        if (strcmp(path, ":memory:") == 0) {
            /* Each plain ":memory:" connection would get its own database; a
             * named shared-cache memory database is one per store instead. */
            char name[96];
            char id[40];
            random_id("", id, sizeof id);
            snprintf(name, sizeof name, "file:memdb-%d-%s?mode=memory&cache=shared", (int)getpid(),
                     id);
            *target = strdup(name);
        } else {
            *target = strdup(path);
        }
        return *target ? CORE_OK : CORE_ENOMEM;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        *kind = STORE_POSTGRES;
        *target = strdup(url);
        return *target ? CORE_OK : CORE_ENOMEM;
    }
    char redacted[256];
    store_url_redact(url, redacted, sizeof redacted);
    snprintf(errbuf, errlen, "unsupported database URL '%s' (want sqlite:<path> or postgres://...)",
             redacted);
    return CORE_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Connections and jobs */

void store_conn_set_error(store_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    /* Drivers end messages with newlines; one line reads better in logs. */
    for (char *p = c->errmsg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    size_t n = strlen(c->errmsg);
    while (n > 0 && c->errmsg[n - 1] == ' ')
        c->errmsg[--n] = '\0';
}

/* Runs one job function and makes sure no transaction outlives it. */
static core_err run_job(store_conn *c, store_job_fn fn, void *ud)
{
    c->errmsg[0] = '\0';
    core_err err = fn(c, ud);
    if (c->backend->in_transaction(c)) {
        log_warn("store: a job returned inside a transaction; rolling it back");
        char saved[STORE_ERRMSG_MAX];
        memcpy(saved, c->errmsg, sizeof saved);
        c->backend->rollback(c);
        memcpy(c->errmsg, saved, sizeof saved);
    }
    return err;
}

static void deliver(store_job *job)
{
    store_attachment *a = job->attachment;
    if (!a) {
        free(job);
        return;
    }
    job->next = NULL;
    uv_mutex_lock(&a->lock);
    if (a->finished_tail)
        a->finished_tail->next = job;
    else
        a->finished_head = job;
    a->finished_tail = job;
    /* Sent under the lock: the handle cannot be closed before the loop has
     * popped this job, and popping needs the lock. */
    uv_async_send(&a->async);
    uv_mutex_unlock(&a->lock);
}

static void worker_main(void *arg)
{
    store_worker *w = arg;
    store *s = w->owner;
    for (;;) {
        uv_mutex_lock(&s->lock);
        while (!s->queue_head && !s->stopping)
            uv_cond_wait(&s->queue_nonempty, &s->lock);
        store_job *job = s->queue_head;
        if (!job) { /* stopping and drained */
            uv_mutex_unlock(&s->lock);
            break;
        }
        s->queue_head = job->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->queued--;
        uv_mutex_unlock(&s->lock);

        job->result = run_job(w->conn, job->fn, job->ud);
        deliver(job);
    }
}

static void attachment_closed(uv_handle_t *handle)
{
    store_attachment *a = handle->data;
    uv_mutex_destroy(&a->lock);
    free(a);
}

static void maybe_close_attachment(store_attachment *a)
{
    if (a->detaching && a->in_flight == 0 && !uv_is_closing((uv_handle_t *)&a->async))
        uv_close((uv_handle_t *)&a->async, attachment_closed);
}

static void attachment_wakeup(uv_async_t *handle)
{
    store_attachment *a = handle->data;
    uv_mutex_lock(&a->lock);
    store_job *list = a->finished_head;
    a->finished_head = a->finished_tail = NULL;
    uv_mutex_unlock(&a->lock);
    while (list) {
        store_job *job = list;
        list = job->next;
        /* Decrement first: done may detach this loop, and every job still in
         * the local list keeps in_flight above zero until it runs. */
        a->in_flight--;
        if (job->done) job->done(job->result, job->ud);
        free(job);
    }
    maybe_close_attachment(a);
}

/* ------------------------------------------------------------------------ */
/* Public API: open, close, loops, submit */

core_err store_open(const char *url, int workers, store **out, char *errbuf, size_t errlen)
{
    char scratch[8];
    if (!errbuf || errlen == 0) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    errbuf[0] = '\0';
    *out = NULL;
    if (workers < 0 || workers > 256) {
        snprintf(errbuf, errlen, "worker count %d out of range 0..256", workers);
        return CORE_EINVAL;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) return CORE_ENOMEM;
    core_err err = parse_url(url, &s->kind, &s->target, errbuf, errlen);
    if (err) {
        free(s);
        return err;
    }
    s->backend = s->kind == STORE_SQLITE ? &store_sqlite_backend : &store_pg_backend;
    s->queue_limit = STORE_QUEUE_LIMIT_DEFAULT;
    s->nworkers = workers ? workers : 2;
    uv_mutex_init(&s->lock);
    uv_cond_init(&s->queue_nonempty);
    uv_mutex_init(&s->sync_lock);

    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    if (!s->workers) {
        err = CORE_ENOMEM;
        goto out;
    }
    /* Connect all first so a bad URL fails here, not in the first job. The
     * sync connection comes first: for ":memory:" it keeps the shared database
     * alive for the store's whole life. */
    err = s->backend->connect(s->target, &s->sync_conn, errbuf, errlen);
    if (err) goto out;
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].owner = s;
        err = s->backend->connect(s->target, &s->workers[i].conn, errbuf, errlen);
        if (err) goto out;
    }
    for (int i = 0; i < s->nworkers; i++) {
        if (uv_thread_create(&s->workers[i].thread, worker_main, &s->workers[i]) != 0) {
            snprintf(errbuf, errlen, "cannot start store worker thread");
            err = CORE_ENOMEM;
            goto out;
        }
        s->workers[i].started = true;
    }
    *out = s;
    return CORE_OK;
out:
    store_close(s);
    return err;
}

void store_close(store *s)
{
    if (!s) return;
    uv_mutex_lock(&s->lock);
    s->stopping = true;
    uv_cond_broadcast(&s->queue_nonempty);
    store_attachment *left = s->attachments;
    uv_mutex_unlock(&s->lock);
    if (left)
        log_error("store: store_close with a loop still attached; its handle is leaked "
                  "(call store_detach_loop and run the loop first)");
    if (s->workers) {
        for (int i = 0; i < s->nworkers; i++)
            if (s->workers[i].started) uv_thread_join(&s->workers[i].thread);
        for (int i = 0; i < s->nworkers; i++)
            if (s->workers[i].conn) s->backend->disconnect(s->workers[i].conn);
        free(s->workers);
    }
    /* Jobs queued while no worker ever started (failed open) are dropped. */
    while (s->queue_head) {
        store_job *job = s->queue_head;
        s->queue_head = job->next;
        free(job);
    }
    if (s->sync_conn) s->backend->disconnect(s->sync_conn);
    uv_mutex_destroy(&s->sync_lock);
    uv_cond_destroy(&s->queue_nonempty);
    uv_mutex_destroy(&s->lock);
    free(s->target);
    free(s);
}

store_kind store_get_kind(const store *s)
{
    return s->kind;
}

void store_set_queue_limit(store *s, size_t limit)
{
    uv_mutex_lock(&s->lock);
    s->queue_limit = limit ? limit : 1;
    uv_mutex_unlock(&s->lock);
}

static store_attachment *find_attachment(store *s, uv_loop_t *loop)
{
    for (store_attachment *a = s->attachments; a; a = a->next)
        if (a->loop == loop) return a;
    return NULL;
}

core_err store_attach_loop(store *s, uv_loop_t *loop)
{
    uv_mutex_lock(&s->lock);
    store_attachment *existing = find_attachment(s, loop);
    uv_mutex_unlock(&s->lock);
    if (existing) return CORE_EEXIST;

    store_attachment *a = calloc(1, sizeof *a);
    if (!a) return CORE_ENOMEM;
    a->loop = loop;
    if (uv_async_init(loop, &a->async, attachment_wakeup) != 0) {
        free(a);
        return CORE_ENOMEM;
    }
    a->async.data = a;
    uv_mutex_init(&a->lock);

    uv_mutex_lock(&s->lock);
    a->next = s->attachments;
    s->attachments = a;
    uv_mutex_unlock(&s->lock);
    return CORE_OK;
}

void store_detach_loop(store *s, uv_loop_t *loop)
{
    uv_mutex_lock(&s->lock);
    store_attachment **pp = &s->attachments;
    while (*pp && (*pp)->loop != loop)
        pp = &(*pp)->next;
    store_attachment *a = *pp;
    if (a) *pp = a->next;
    uv_mutex_unlock(&s->lock);
    if (!a) return;
    a->detaching = true;
    maybe_close_attachment(a);
}

core_err store_submit(store *s, uv_loop_t *loop, store_job_fn fn, store_done_fn done, void *ud)
{
    if (!fn) return CORE_EINVAL;
    store_job *job = calloc(1, sizeof *job);
    if (!job) return CORE_ENOMEM;
    job->fn = fn;
    job->done = done;
    job->ud = ud;

    core_err err = CORE_OK;
    uv_mutex_lock(&s->lock);
    if (done) {
        job->attachment = find_attachment(s, loop);
        if (!job->attachment) {
            err = CORE_EINVAL;
            goto unlock;
        }
    }
    if (s->stopping) {
        err = CORE_ECLOSED;
        goto unlock;
    }
    if (s->queued >= s->queue_limit) {
        err = CORE_EBUSY;
        goto unlock;
    }
    if (s->queue_tail)
        s->queue_tail->next = job;
    else
        s->queue_head = job;
    s->queue_tail = job;
    s->queued++;
    /* Loop thread only, like every other reader of in_flight. */
    if (job->attachment) job->attachment->in_flight++;
    uv_cond_signal(&s->queue_nonempty);
unlock:
    uv_mutex_unlock(&s->lock);
    if (err) free(job);
    return err;
}

core_err store_run_sync(store *s, store_job_fn fn, void *ud)
{
    core_err err;
    uv_mutex_lock(&s->sync_lock);
    if (!s->sync_conn) {
        char errbuf[STORE_ERRMSG_MAX];
        err = s->backend->connect(s->target, &s->sync_conn, errbuf, sizeof errbuf);
        if (err) {
            log_error("store: cannot open a connection: %s", errbuf);
            goto out;
        }
    }
    err = run_job(s->sync_conn, fn, ud);
out:
    uv_mutex_unlock(&s->sync_lock);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Statements */

store_kind store_conn_kind(const store_conn *c)
{
    return c->kind;
}

static core_err check_params(store_conn *c, const store_param *params, int nparams)
{
    if (nparams < 0 || (nparams > 0 && !params)) {
        store_conn_set_error(c, "bad parameter count %d", nparams);
        return CORE_EINVAL;
    }
    for (int i = 0; i < nparams; i++) {
        if (params[i].kind == STORE_P_TEXT &&
            ((!params[i].text && params[i].len) ||
             (params[i].len && memchr(params[i].text, '\0', params[i].len)))) {
            store_conn_set_error(c, "parameter $%d: text with a NUL byte", i + 1);
            return CORE_EINVAL;
        }
    }
    return CORE_OK;
}

/* Every parameter must be used and every placeholder must have one. PostgreSQL
 * accepts unused typed parameters and SQLite would leave a missing one NULL;
 * checking here gives both backends the same, strict behaviour. */
static core_err check_placeholders(store_conn *c, const char *sql, int nparams)
{
    bool inline_seen[64] = {false};
    bool *seen = inline_seen;
    core_err err = CORE_OK;
    if (!sql) {
        store_conn_set_error(c, "no SQL");
        return CORE_EINVAL;
    }
    if (nparams >= (int)ARRAY_LEN(inline_seen) && !(seen = calloc((size_t)nparams + 1, 1)))
        return CORE_ENOMEM;
    for (const char *p = sql; *p;) {
        if (*p == '\'' || *p == '"') {
            char quote = *p++;
            while (*p && *p != quote)
                p++;
            if (*p) p++; /* a doubled quote re-enters the loop as a new literal */
        } else if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else if (p[0] == '$' && p[1] >= '0' && p[1] <= '9') {
            long n = 0;
            for (p++; *p >= '0' && *p <= '9'; p++)
                n = n < 100000 ? n * 10 + (*p - '0') : n;
            if (n < 1 || n > nparams) {
                store_conn_set_error(c, "placeholder $%ld has no parameter (%d given)", n, nparams);
                err = CORE_EINVAL;
                goto out;
            }
            seen[n] = true;
        } else {
            /* Plain SQL text: jump to the next byte that can start a quote,
             * comment or placeholder (this runs on every statement). */
            p++;
            p += strcspn(p, "'\"-/$");
        }
    }
    for (int i = 1; i <= nparams; i++) {
        if (!seen[i]) {
            store_conn_set_error(c, "parameter $%d is not used by the statement", i);
            err = CORE_EINVAL;
            goto out;
        }
    }
out:
    if (seen != inline_seen) free(seen);
    return err;
}

core_err store_exec(store_conn *c, const char *sql, const store_param *params, int nparams)
{
    c->errmsg[0] = '\0';
    core_err err = check_params(c, params, nparams);
    if (!err) err = check_placeholders(c, sql, nparams);
    if (err) return err;
    return c->backend->run(c, sql, params, nparams, NULL);
}

core_err store_query(store_conn *c, const char *sql, const store_param *params, int nparams,
                     store_rows **out)
{
    *out = NULL;
    c->errmsg[0] = '\0';
    core_err err = check_params(c, params, nparams);
    if (!err) err = check_placeholders(c, sql, nparams);
    if (err) return err;
    return c->backend->run(c, sql, params, nparams, out);
}

int64_t store_changes(const store_conn *c)
{
    return c->changes;
}

core_err store_begin(store_conn *c)
{
    c->errmsg[0] = '\0';
    return c->backend->begin(c);
}

core_err store_commit(store_conn *c)
{
    c->errmsg[0] = '\0';
    return c->backend->commit(c);
}

core_err store_rollback(store_conn *c)
{
    c->errmsg[0] = '\0';
    return c->backend->rollback(c);
}

const char *store_conn_errmsg(const store_conn *c)
{
    return c->errmsg;
}

/* ------------------------------------------------------------------------ */
/* Migrations */

typedef struct {
    const char *component;
    const store_migration *list;
    size_t n;
    char *errbuf;
    size_t errlen;
} migrate_ctx;

/* Every migrating process takes this one lock, so two starts serialize. */
#define MIGRATION_LOCK_SQL "SELECT pg_advisory_xact_lock(hashtext('aigw.store.migrate'))"

static const char create_migrations_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                              " component TEXT NOT NULL,"
                                              " version INTEGER NOT NULL,"
                                              " name TEXT NOT NULL,"
                                              " applied_at TEXT NOT NULL,"
                                              " PRIMARY KEY (component, version))";

static void iso_utc_now(char out[32])
{
    int64_t ms = time_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static core_err ensure_migrations_table(store_conn *c)
{
    if (c->kind == STORE_SQLITE) return store_exec(c, create_migrations_table, NULL, 0);
    /* Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's
     * catalog; the advisory lock makes it one at a time. */
    core_err err = store_begin(c);
    if (!err) err = store_exec(c, MIGRATION_LOCK_SQL, NULL, 0);
    if (!err) err = store_exec(c, create_migrations_table, NULL, 0);
    if (!err) return store_commit(c);
    store_rollback(c);
    return err;
}

static bool version_applied(const store_rows *applied, int version)
{
    for (size_t i = 0; i < store_rows_count(applied); i++)
        if (store_rows_i64(applied, i, 0, -1) == version) return true;
    return false;
}

static core_err apply_migration(store_conn *c, const char *component, const store_migration *m,
                                bool *applied_now)
{
    *applied_now = false;
    store_rows *rows = NULL;
    core_err err = store_begin(c);
    if (err) return err;
    if (c->kind == STORE_POSTGRES) {
        err = store_exec(c, MIGRATION_LOCK_SQL, NULL, 0);
        if (err) goto fail;
    }
    /* Another process may have applied it while we waited for the lock. */
    store_param key[] = {STORE_TEXT(component), STORE_INT(m->version)};
    err = store_query(c, "SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                      key, 2, &rows);
    if (err) goto fail;
    if (store_rows_count(rows) > 0) {
        store_rows_free(rows);
        return store_rollback(c);
    }
    store_rows_free(rows);
    const char *sql = c->kind == STORE_POSTGRES && m->postgres ? m->postgres : m->sqlite;
    err = c->backend->exec_script(c, sql);
    if (err) goto fail;
    char now[32];
    iso_utc_now(now);
    store_param record[] = {STORE_TEXT(component), STORE_INT(m->version),
                            STORE_TEXT(m->name ? m->name : ""), STORE_TEXT(now)};
    err = store_exec(c,
                     "INSERT INTO schema_migrations (component, version, name, applied_at)"
                     " VALUES ($1, $2, $3, $4)",
                     record, 4);
    if (err) goto fail;
    err = store_commit(c);
    if (!err) *applied_now = true;
    return err;
fail : {
    char saved[STORE_ERRMSG_MAX];
    memcpy(saved, c->errmsg, sizeof saved);
    store_rollback(c);
    memcpy(c->errmsg, saved, sizeof saved);
    return err;
}
}

static core_err migrate_job(store_conn *c, void *ud)
{
    migrate_ctx *ctx = ud;
    store_rows *applied = NULL;
    core_err err = ensure_migrations_table(c);
    if (err) {
        snprintf(ctx->errbuf, ctx->errlen, "creating schema_migrations: %s", store_conn_errmsg(c));
        goto out;
    }
    store_param comp[] = {STORE_TEXT(ctx->component)};
    err = store_query(c, "SELECT version FROM schema_migrations WHERE component = $1", comp, 1,
                      &applied);
    if (err) {
        snprintf(ctx->errbuf, ctx->errlen, "reading schema_migrations: %s", store_conn_errmsg(c));
        goto out;
    }
    for (size_t i = 0; i < ctx->n; i++) {
        const store_migration *m = &ctx->list[i];
        if (version_applied(applied, m->version)) continue;
        bool applied_now = false;
        err = apply_migration(c, ctx->component, m, &applied_now);
        if (err) {
            snprintf(ctx->errbuf, ctx->errlen, "migration %s v%d (%s): %s", ctx->component,
                     m->version, m->name ? m->name : "", store_conn_errmsg(c));
            goto out;
        }
        if (applied_now)
            log_info("store: applied migration %s v%d (%s)", ctx->component, m->version,
                     m->name ? m->name : "");
    }
out:
    store_rows_free(applied);
    return err ? (err == CORE_EINVAL || err == CORE_ENOMEM ? err : CORE_EDB) : CORE_OK;
}

core_err store_migrate(store *s, const char *component, const store_migration *list, size_t n,
                       char *errbuf, size_t errlen)
{
    char scratch[8];
    if (!errbuf || errlen == 0) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    errbuf[0] = '\0';
    if (!component || !*component || (n > 0 && !list)) {
        snprintf(errbuf, errlen, "migrate: component and list are required");
        return CORE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].version <= 0 || (i > 0 && list[i].version <= list[i - 1].version) ||
            !list[i].sqlite) {
            snprintf(errbuf, errlen,
                     "migrate %s: entry %zu: versions must be > 0 and strictly increasing, "
                     "and sqlite SQL is required",
                     component, i);
            return CORE_EINVAL;
        }
    }
    migrate_ctx ctx = {component, list, n, errbuf, errlen};
    core_err err = store_run_sync(s, migrate_job, &ctx);
    if (err && !errbuf[0])
        snprintf(errbuf, errlen, "migrate %s: %s", component, core_strerror(err));
    return err;
}

/* ------------------------------------------------------------------------ */
/* Result sets */

typedef struct {
    size_t off; /* into data; SIZE_MAX for SQL NULL */
    size_t len;
} store_cell;

struct store_rows {
    size_t ncols;
    size_t nrows;
    size_t ncells;
    size_t cells_cap;
    store_cell *cells;
    size_t *name_off; /* ncols offsets into data */
    buf_t data;       /* every value and name, each NUL-terminated */
};

store_rows *store_rows_new(size_t ncols)
{
    store_rows *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->ncols = ncols;
    buf_init(&r->data, STORE_ROWS_MAX_BYTES);
    r->name_off = calloc(ncols ? ncols : 1, sizeof *r->name_off);
    if (!r->name_off || buf_append_char(&r->data, '\0') != CORE_OK) {
        store_rows_free(r);
        return NULL;
    }
    /* Offset 0 is the empty string: unnamed columns point there. */
    return r;
}

core_err store_rows_set_name(store_rows *r, size_t col, const char *name)
{
    if (col >= r->ncols) return CORE_EINVAL;
    size_t off = r->data.len;
    core_err err = buf_append_cstr(&r->data, name ? name : "");
    if (!err) err = buf_append_char(&r->data, '\0');
    if (!err) r->name_off[col] = off;
    return err;
}

core_err store_rows_append(store_rows *r, const char *value, size_t len)
{
    if (r->ncells == r->cells_cap) {
        size_t cap = r->cells_cap ? r->cells_cap * 2 : 64;
        if (cap * sizeof(store_cell) > STORE_ROWS_MAX_BYTES) return CORE_ETOOBIG;
        store_cell *cells = realloc(r->cells, cap * sizeof *cells);
        if (!cells) return CORE_ENOMEM;
        r->cells = cells;
        r->cells_cap = cap;
    }
    store_cell cell = {SIZE_MAX, 0};
    if (value) {
        cell.off = r->data.len;
        cell.len = len;
        core_err err = buf_append(&r->data, value, len);
        if (!err) err = buf_append_char(&r->data, '\0');
        if (err) return err;
    }
    r->cells[r->ncells++] = cell;
    return CORE_OK;
}

void store_rows_finish(store_rows *r)
{
    r->nrows = r->ncols ? r->ncells / r->ncols : 0;
}

size_t store_rows_count(const store_rows *r)
{
    return r ? r->nrows : 0;
}

size_t store_rows_columns(const store_rows *r)
{
    return r ? r->ncols : 0;
}

const char *store_rows_name(const store_rows *r, size_t col)
{
    if (!r || col >= r->ncols) return NULL;
    return r->data.data + r->name_off[col];
}

static const store_cell *cell_at(const store_rows *r, size_t row, size_t col)
{
    if (!r || row >= r->nrows || col >= r->ncols) return NULL;
    const store_cell *cell = &r->cells[row * r->ncols + col];
    return cell->off == SIZE_MAX ? NULL : cell;
}

const char *store_rows_get(const store_rows *r, size_t row, size_t col)
{
    const store_cell *cell = cell_at(r, row, col);
    return cell ? r->data.data + cell->off : NULL;
}

size_t store_rows_len(const store_rows *r, size_t row, size_t col)
{
    const store_cell *cell = cell_at(r, row, col);
    return cell ? cell->len : 0;
}

int64_t store_rows_i64(const store_rows *r, size_t row, size_t col, int64_t dflt)
{
    const store_cell *cell = cell_at(r, row, col);
    if (!cell || cell->len == 0) return dflt;
    const char *p = r->data.data + cell->off;
    size_t len = cell->len;
    bool negative = p[0] == '-';
    if (negative) {
        p++;
        len--;
        if (len == 0) return dflt;
    }
    /* Accumulate as a negative number so INT64_MIN fits. */
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return dflt;
        int digit = p[i] - '0';
        if (value < (INT64_MIN + digit) / 10) return dflt;
        value = value * 10 - digit;
    }
    if (!negative) {
        if (value == INT64_MIN) return dflt;
        value = -value;
    }
    return value;
}

void store_rows_free(store_rows *r)
{
    if (!r) return;
    free(r->cells);
    free(r->name_off);
    buf_free(&r->data);
    free(r);
}
