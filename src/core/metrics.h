/*
 * metrics.h - a small process-wide Prometheus registry: counters, gauges and
 * fixed-bucket histograms, each with up to METRICS_MAX_LABELS label names, and
 * a renderer for the text exposition format (version 0.0.4, served as
 * "text/plain; version=0.0.4").
 *
 * Use: define every metric once at start-up (any thread, before or while
 * loops run), keep the returned handle, and update it from any thread. Name
 * based updates (metrics_counter_add(...)) look the metric up first, for
 * callers that do not want to carry handles around.
 *
 * Labels: `labels` is an array of exactly as many values as the metric has
 * label names, in the same order (NULL when the metric has none; a NULL value
 * is rendered as ""). Values are copied. Each metric holds at most
 * METRICS_MAX_SERIES label combinations; past that, updates with a new
 * combination return CORE_ETOOBIG (a hostile label value cannot grow memory
 * without bound).
 *
 * Threads: everything is thread-safe. Each metric has its own mutex (held for a
 * hash lookup and an add), the registry a read-write lock taken for reading on
 * name lookups. Handles stay valid until metrics_reset, which must only run
 * when no other thread touches metrics (tests, shutdown).
 */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include "base.h"
#include "buf.h"

#define METRICS_MAX_LABELS  4
#define METRICS_MAX_SERIES  10000
#define METRICS_MAX_BUCKETS 32

typedef struct metric metric;

/* Latency buckets in seconds, 1 ms .. 60 s, for *_seconds histograms. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_count;

/* Define a metric. label_names is a NULL-terminated list (or NULL). Defining a
 * name again with the same type and label names returns the existing metric;
 * with a different shape, or an invalid name, returns NULL (as on OOM). help
 * is copied. Histogram buckets must be strictly increasing upper bounds
 * (the +Inf bucket is implicit), at most METRICS_MAX_BUCKETS. */
metric *metrics_counter_define(const char *name, const char *help, const char *const label_names[]);
metric *metrics_gauge_define(const char *name, const char *help, const char *const label_names[]);
metric *metrics_histogram_define(const char *name, const char *help,
                                 const char *const label_names[], const double *buckets,
                                 size_t nbuckets);

/* Updates by handle. CORE_EINVAL on the wrong metric type or a negative
 * counter increment, CORE_ETOOBIG past METRICS_MAX_SERIES, CORE_ENOMEM. */
core_err metrics_add(metric *m, const char *const labels[], int64_t delta);    /* counter, gauge */
core_err metrics_set(metric *m, const char *const labels[], int64_t value);    /* gauge */
core_err metrics_observe(metric *m, const char *const labels[], double value); /* histogram */

/* Updates by name; CORE_ENOTFOUND when no such metric is defined. */
core_err metrics_counter_add(const char *name, const char *const labels[], int64_t delta);
core_err metrics_gauge_set(const char *name, const char *const labels[], int64_t value);
core_err metrics_gauge_add(const char *name, const char *const labels[], int64_t delta);
core_err metrics_histogram_observe(const char *name, const char *const labels[], double value);

/* Finds a defined metric; NULL if none. */
metric *metrics_find(const char *name);

/* Current value of one counter/gauge series (0 when the series does not exist
 * yet); for tests and health checks. */
int64_t metrics_value(metric *m, const char *const labels[]);

/* Appends the whole registry in the text exposition format: for every metric,
 * in definition order, "# HELP" and "# TYPE" lines then one line per series
 * (in creation order). out should have no ceiling or a generous one. */
core_err metrics_render(buf_t *out);

/* Frees every metric. Only when no other thread uses the registry. */
void metrics_reset(void);

#endif
