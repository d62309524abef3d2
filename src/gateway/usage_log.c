/*
 * usage_log.c - batched, non-blocking writer of the usage_log table.
 *
 * Producers (loop threads) copy each row into one heap block and push it on
 * a FIFO under a mutex: no I/O, no waiting beyond that short lock. One
 * writer thread takes the whole queue at once (every GW_USAGE_FLUSH_MS, or
 * as soon as GW_USAGE_BATCH_ROWS rows wait, or on flush/close) and inserts it
 * in transactions of up to GW_USAGE_BATCH_ROWS rows via store_run_sync.
 *
 * Flush bookkeeping uses two counters: accepted (rows pushed) and settled
 * (rows the writer has written or given up on). Everything pushed before a
 * flush/close call is settled before that call returns.
 */
#include "usage_log.h"

#include "../core/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BACKOFF_START_MS 50
#define BACKOFF_MAX_MS   2000

typedef struct usage_entry {
    struct usage_entry *next;
    gw_usage_row row; /* strings point into text[] */
    char text[];
} usage_entry;

struct gw_usage_log {
    store *store;
    size_t max_queued;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* the writer waits here for rows */
    pthread_cond_t progress; /* flush/close wait here for the writer */
    usage_entry *head, *tail;
    size_t queued;
    uint64_t accepted; /* rows ever pushed */
    uint64_t settled;  /* rows written or dropped by the writer */
    bool flush_requested;
    bool closing;
    int64_t last_drop_log_ms;
    gw_usage_stats stats; /* under lock (queued is filled in on read) */
};

/* ---------- copying rows ---------- */

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t cut_utf8(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

typedef struct {
    const char *src;
    size_t len;
} text_part;

static text_part text_of(const char *s, size_t max)
{
    return (text_part){s, s ? cut_utf8(s, max) : 0};
}

/* Copies part into *cursor and returns the copy (NULL stays NULL). */
static const char *place(char **cursor, text_part part)
{
    if (!part.src) return NULL;
    char *dst = *cursor;
    memcpy(dst, part.src, part.len);
    dst[part.len] = '\0';
    *cursor += part.len + 1;
    return dst;
}

static usage_entry *entry_new(const gw_usage_row *row)
{
    static const char truncated_metadata[] = "{\"truncated\":true}";
    text_part parts[] = {
        text_of(row->request_id, GW_USAGE_TEXT_MAX),
        text_of(row->key_id, GW_USAGE_TEXT_MAX),
        text_of(row->provider, GW_USAGE_TEXT_MAX),
        text_of(row->model, GW_USAGE_TEXT_MAX),
        text_of(row->requested_model, GW_USAGE_TEXT_MAX),
        text_of(row->error_code, GW_USAGE_TEXT_MAX),
        text_of(row->fallback_from, GW_USAGE_TEXT_MAX),
        {row->metadata_json, row->metadata_json ? strlen(row->metadata_json) : 0},
    };
    text_part *metadata = &parts[ARRAY_LEN(parts) - 1];
    if (metadata->len > GW_USAGE_METADATA_MAX)
        *metadata = (text_part){truncated_metadata, sizeof truncated_metadata - 1};
    size_t text_size = 0;
    for (size_t i = 0; i < ARRAY_LEN(parts); i++)
        text_size += parts[i].len + 1;
    usage_entry *e = malloc(sizeof *e + text_size);
    if (!e) return NULL;
    char *cursor = e->text;
    e->next = NULL;
    e->row = *row;
    e->row.request_id = place(&cursor, parts[0]);
    e->row.key_id = place(&cursor, parts[1]);
    e->row.provider = place(&cursor, parts[2]);
    e->row.model = place(&cursor, parts[3]);
    e->row.requested_model = place(&cursor, parts[4]);
    e->row.error_code = place(&cursor, parts[5]);
    e->row.fallback_from = place(&cursor, parts[6]);
    e->row.metadata_json = place(&cursor, parts[7]);
    if (e->row.ts_ms <= 0) e->row.ts_ms = time_wall_ms();
    if (e->row.attempts < 0) e->row.attempts = 0;
    return e;
}

static void entries_free(usage_entry *e)
{
    while (e) {
        usage_entry *next = e->next;
        free(e);
        e = next;
    }
}

/* ---------- producers ---------- */

core_err gw_usage_log_append(gw_usage_log *log, const gw_usage_row *row)
{
    bool report_drop = false;
    uint64_t dropped = 0;
    core_err err = CORE_OK;
    if (!row || !row->request_id || !*row->request_id || !row->provider || !*row->provider ||
        !row->model || !*row->model)
        return CORE_EINVAL;
    usage_entry *e = entry_new(row);
    if (!e) return CORE_ENOMEM;
    pthread_mutex_lock(&log->lock);
    if (log->closing) {
        err = CORE_ECLOSED;
    } else if (log->queued >= log->max_queued) {
        err = CORE_EBUSY;
        dropped = ++log->stats.dropped;
        int64_t now = time_wall_ms();
        if (now - log->last_drop_log_ms >= 1000) {
            log->last_drop_log_ms = now;
            report_drop = true;
        }
    } else {
        if (log->tail)
            log->tail->next = e;
        else
            log->head = e;
        log->tail = e;
        e = NULL;
        log->queued++;
        log->accepted++;
        log->stats.appended++;
        /* The first row starts the writer's 50 ms batching window; a full
         * batch ends it early. */
        if (log->queued == 1 || log->queued == GW_USAGE_BATCH_ROWS) pthread_cond_signal(&log->wake);
    }
    pthread_mutex_unlock(&log->lock);
    free(e);
    if (report_drop)
        log_error("usage_log: queue at its ceiling (%zu rows), dropping usage rows "
                  "(%llu dropped so far)",
                  log->max_queued, (unsigned long long)dropped);
    return err;
}

/* ---------- the writer ---------- */

static const char *const insert_sql =
    "INSERT INTO usage_log (id, request_id, ts_ms, key_id, provider, model, requested_model,"
    " input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_pico,"
    " cost_estimated, provider_cost_pico, latency_ms, ttft_ms, http_status, error_code,"
    " attempts, fallback_from, stream, metadata)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
    " $19, $20, $21, $22)";

typedef struct {
    usage_entry *first;
    size_t count;
} batch;

static store_param int_or_null(int64_t v, int64_t null_below)
{
    return v < null_below ? STORE_NULL : STORE_INT(v);
}

/* Row ids have random_id's shape ("usg_" + 10 chars of ms time + 16 random
 * chars) but come from the writer's own xorshift generator, seeded once from
 * getrandom: unique, not secret, and without a syscall per row. Writer
 * thread only. */
static void make_row_id(char *out, size_t outsz)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    static _Thread_local uint64_t state;
    if (outsz < 4 + 27) {
        if (outsz) out[0] = '\0';
        return;
    }
    if (!state && (random_bytes(&state, sizeof state) != CORE_OK || !state))
        state = time_mono_us() | 1;
    memcpy(out, "usg_", 4);
    char *p = out + 4;
    uint64_t ms = (uint64_t)time_wall_ms();
    for (int i = 9; i >= 0; i--) {
        p[i] = alphabet[ms & 31];
        ms >>= 5;
    }
    for (int half = 0; half < 2; half++) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        uint64_t r = state * 0x2545F4914F6CDD1DULL;
        for (int i = 0; i < 8; i++)
            p[10 + half * 8 + i] = alphabet[(r >> (i * 5)) & 31];
    }
    p[26] = '\0';
}

static core_err write_batch_job(store_conn *c, void *ud)
{
    const batch *b = ud;
    const usage_entry *e = b->first;
    char id[32];
    core_err err = store_begin(c);
    if (err) return err;
    for (size_t i = 0; i < b->count; i++, e = e->next) {
        const gw_usage_row *r = &e->row;
        make_row_id(id, sizeof id);
        store_param params[] = {
            STORE_TEXT(id),
            STORE_TEXT(r->request_id),
            STORE_INT(r->ts_ms),
            STORE_TEXT_OR_NULL(r->key_id),
            STORE_TEXT(r->provider),
            STORE_TEXT(r->model),
            STORE_TEXT_OR_NULL(r->requested_model),
            STORE_INT(r->input_tokens),
            STORE_INT(r->cached_input_tokens),
            STORE_INT(r->output_tokens),
            STORE_INT(r->reasoning_tokens),
            STORE_INT(r->cost_pico),
            STORE_INT(r->cost_estimated ? 1 : 0),
            int_or_null(r->provider_cost_pico, 0),
            int_or_null(r->latency_ms, 0),
            int_or_null(r->ttft_ms, 0),
            int_or_null(r->http_status, 1),
            STORE_TEXT_OR_NULL(r->error_code),
            STORE_INT(r->attempts),
            STORE_TEXT_OR_NULL(r->fallback_from),
            STORE_INT(r->stream ? 1 : 0),
            STORE_TEXT_OR_NULL(r->metadata_json),
        };
        if ((err = store_exec(c, insert_sql, params, (int)ARRAY_LEN(params)))) {
            log_error("usage_log: insert failed: %s", store_conn_errmsg(c));
            store_rollback(c);
            return err;
        }
    }
    err = store_commit(c);
    if (err) log_error("usage_log: commit failed: %s", store_conn_errmsg(c));
    return err;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

/* Writes one batch, retrying with backoff. When the database looked down
 * for the previous batch, tries only once so that draining a long queue
 * into a dead database ends in bounded time. Returns true when written. */
static bool write_with_retry(gw_usage_log *log, const batch *b, bool *db_down)
{
    int max_attempts = *db_down ? 1 : GW_USAGE_MAX_ATTEMPTS;
    int64_t backoff = BACKOFF_START_MS;
    for (int attempt = 1;; attempt++) {
        core_err err = store_run_sync(log->store, write_batch_job, (void *)b);
        if (err == CORE_OK) {
            *db_down = false;
            return true;
        }
        pthread_mutex_lock(&log->lock);
        log->stats.failed_flushes++;
        pthread_mutex_unlock(&log->lock);
        if (attempt >= max_attempts) break;
        sleep_ms(backoff);
        backoff = MIN(backoff * 2, BACKOFF_MAX_MS);
    }
    *db_down = true;
    log_error("usage_log: dropping %zu usage rows after repeated database failures", b->count);
    return false;
}

static void write_all(gw_usage_log *log, usage_entry *list, size_t count)
{
    bool db_down = false;
    while (count > 0) {
        batch b = {list, MIN(count, (size_t)GW_USAGE_BATCH_ROWS)};
        usage_entry *last = list;
        for (size_t i = 1; i < b.count; i++)
            last = last->next;
        usage_entry *rest = last->next;
        bool ok = write_with_retry(log, &b, &db_down);
        pthread_mutex_lock(&log->lock);
        if (ok)
            log->stats.written += b.count;
        else
            log->stats.dropped += b.count;
        log->settled += b.count;
        pthread_cond_broadcast(&log->progress);
        pthread_mutex_unlock(&log->lock);
        last->next = NULL;
        entries_free(list);
        list = rest;
        count -= b.count;
    }
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *writer_main(void *arg)
{
    gw_usage_log *log = arg;
    pthread_mutex_lock(&log->lock);
    for (;;) {
        while (!log->head && !log->closing)
            pthread_cond_wait(&log->wake, &log->lock);
        if (!log->head && log->closing) break;
        /* Rows are waiting: give more a moment to join the batch. */
        struct timespec deadline;
        deadline_in(&deadline, GW_USAGE_FLUSH_MS);
        while (log->queued < GW_USAGE_BATCH_ROWS && !log->closing && !log->flush_requested)
            if (pthread_cond_timedwait(&log->wake, &log->lock, &deadline) == ETIMEDOUT) break;
        usage_entry *list = log->head;
        size_t count = log->queued;
        log->head = log->tail = NULL;
        log->queued = 0;
        log->flush_requested = false;
        pthread_mutex_unlock(&log->lock);
        write_all(log, list, count);
        pthread_mutex_lock(&log->lock);
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}

/* ---------- life cycle ---------- */

core_err gw_usage_log_open(store *s, size_t max_queued, gw_usage_log **out)
{
    pthread_condattr_t cattr;
    sigset_t all, previous;
    gw_usage_log *log = calloc(1, sizeof *log);
    if (!log) return CORE_ENOMEM;
    log->store = s;
    log->max_queued = max_queued ? max_queued : GW_USAGE_DEFAULT_MAX_Q;
    pthread_mutex_init(&log->lock, NULL);
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&log->wake, &cattr);
    pthread_condattr_destroy(&cattr);
    pthread_cond_init(&log->progress, NULL);
    /* Signals belong to the loops; the writer thread never takes them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int rc = pthread_create(&log->thread, NULL, writer_main, log);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&log->wake);
        pthread_cond_destroy(&log->progress);
        pthread_mutex_destroy(&log->lock);
        free(log);
        return CORE_EIO;
    }
    *out = log;
    return CORE_OK;
}

void gw_usage_log_flush(gw_usage_log *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t target = log->accepted;
    if (log->settled < target) {
        log->flush_requested = true;
        pthread_cond_signal(&log->wake);
        while (log->settled < target)
            pthread_cond_wait(&log->progress, &log->lock);
    }
    pthread_mutex_unlock(&log->lock);
}

void gw_usage_log_stats(gw_usage_log *log, gw_usage_stats *out)
{
    pthread_mutex_lock(&log->lock);
    *out = log->stats;
    out->queued = log->queued;
    pthread_mutex_unlock(&log->lock);
}

void gw_usage_log_close(gw_usage_log *log)
{
    if (!log) return;
    pthread_mutex_lock(&log->lock);
    log->closing = true;
    pthread_cond_signal(&log->wake);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->thread, NULL);
    entries_free(log->head); /* empty: the writer drains before it exits */
    pthread_cond_destroy(&log->wake);
    pthread_cond_destroy(&log->progress);
    pthread_mutex_destroy(&log->lock);
    free(log);
}
