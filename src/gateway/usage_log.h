/*
 * usage_log.h - the per-request usage ledger (table usage_log), written in
 * batches by a dedicated thread so the request path never waits on the DB.
 *
 * gw_usage_log_append copies the row into an in-memory queue and returns at
 * once; the writer thread wakes every 50 ms (or as soon as 500 rows wait) and
 * inserts what is queued in transactions of up to 500 rows through one
 * connection of its own (store_run_sync). The queue grows up to a ceiling
 * (max_queued); past it rows are dropped, counted in the stats and logged
 * (at most once a second) - blocking a loop thread would be worse. A failed
 * batch is retried with backoff; after GW_USAGE_MAX_ATTEMPTS failures in a
 * row it is dropped and counted, so a dead database cannot grow memory.
 *
 * gw_usage_log_close flushes every row appended before it was called, then
 * stops the thread: the SIGTERM path loses nothing that was acknowledged.
 *
 * Threads: append and stats from any thread; open/close from one owner.
 */
#ifndef GW_USAGE_LOG_H
#define GW_USAGE_LOG_H

#include "../store/store.h"

#define GW_USAGE_BATCH_ROWS    500
#define GW_USAGE_FLUSH_MS      50
#define GW_USAGE_DEFAULT_MAX_Q 200000
#define GW_USAGE_MAX_ATTEMPTS  5
/* Ceilings on the variable-length fields of one row: ids and names are cut
 * at GW_USAGE_TEXT_MAX bytes; metadata larger than GW_USAGE_METADATA_MAX is
 * replaced by {"truncated":true} rather than stored half-way. */
#define GW_USAGE_TEXT_MAX     256
#define GW_USAGE_METADATA_MAX 8192

/* One request's record. Strings are borrowed for the duration of the append
 * call only (they are copied); NULL strings become SQL NULL. */
typedef struct {
    const char *request_id;      /* required */
    int64_t ts_ms;               /* epoch ms; 0 = now */
    const char *key_id;          /* gateway key id, NULL when none */
    const char *provider;        /* required: who served it */
    const char *model;           /* required: the model that served it */
    const char *requested_model; /* "provider/model" the client asked for */
    int64_t input_tokens;        /* includes cached */
    int64_t cached_input_tokens;
    int64_t output_tokens; /* includes reasoning */
    int64_t reasoning_tokens;
    int64_t cost_pico;
    bool cost_estimated;
    int64_t provider_cost_pico; /* -1 = the provider reported none (NULL) */
    int64_t latency_ms;         /* -1 = unknown (NULL) */
    int64_t ttft_ms;            /* -1 = no first token (NULL) */
    int http_status;            /* 0 = none (NULL) */
    const char *error_code;     /* gw_err_code text, NULL on success */
    int attempts;               /* upstream attempts; 0 = refused before any */
    const char *fallback_from;  /* "provider/model" of the original target, or NULL */
    bool stream;
    const char *metadata_json; /* caller's metadata as JSON text, or NULL */
} gw_usage_row;

typedef struct {
    uint64_t appended; /* accepted into the queue */
    uint64_t written;  /* committed to the database */
    uint64_t dropped;  /* lost: queue over its ceiling, or a batch that kept failing */
    uint64_t failed_flushes;
    uint64_t queued; /* waiting now */
} gw_usage_stats;

typedef struct gw_usage_log gw_usage_log;

/* Starts the writer thread. max_queued 0 = GW_USAGE_DEFAULT_MAX_Q. s is
 * borrowed and must outlive the log. CORE_ENOMEM, CORE_EIO (thread). */
core_err gw_usage_log_open(store *s, size_t max_queued, gw_usage_log **out);

/* Copies row into the queue. Never blocks on I/O. CORE_EINVAL when a
 * required field is missing, CORE_EBUSY when the row was dropped (ceiling),
 * CORE_ECLOSED after close began, CORE_ENOMEM. */
core_err gw_usage_log_append(gw_usage_log *log, const gw_usage_row *row);

/* Wakes the writer now and waits until every row appended before this call
 * is written (or dropped). Blocking; for tests and orderly shutdown. */
void gw_usage_log_flush(gw_usage_log *log);

void gw_usage_log_stats(gw_usage_log *log, gw_usage_stats *out);

/* Flushes everything, stops the writer, frees. NULL is a no-op. */
void gw_usage_log_close(gw_usage_log *log);

#endif
