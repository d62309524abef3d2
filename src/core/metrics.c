/*
 * metrics.c - the Prometheus registry behind metrics.h. Metrics sit in a list
 * guarded by a read-write lock (written only when a metric is defined); each
 * metric keeps its series in a small chained hash table keyed by the label
 * values, under the metric's own mutex, so updates to different metrics never
 * contend and an update costs one hash, one short chain walk and one add.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define SERIES_HASH_SIZE 256

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

typedef struct series series;
struct series {
    series *hash_next;
    series *order_next;
    uint64_t hash;
    char *label_values[METRICS_MAX_LABELS];
    int64_t value;           /* counter, gauge */
    uint64_t *bucket_counts; /* histogram: per bucket (not cumulative), then +Inf */
    double sum;
    uint64_t count;
};

struct metric {
    metric *next;
    char *name;
    char *help;
    metric_type type;
    size_t nlabels;
    char *label_names[METRICS_MAX_LABELS];
    double buckets[METRICS_MAX_BUCKETS];
    size_t nbuckets;
    pthread_mutex_t lock;
    series *table[SERIES_HASH_SIZE];
    series *first, *last; /* creation order, for stable output */
    size_t nseries;
};

static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static metric *registry_first, *registry_last;

const double metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1,      2.5,   5,    10,    30,   60};
const size_t metrics_latency_buckets_count = ARRAY_LEN(metrics_latency_buckets);

static bool valid_name(const char *s, bool allow_colon)
{
    if (!s || !s[0] || (s[0] >= '0' && s[0] <= '9')) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (allow_colon && c == ':');
        if (!ok) return false;
    }
    return true;
}

static metric *find_locked(const char *name)
{
    for (metric *m = registry_first; m; m = m->next)
        if (strcmp(m->name, name) == 0) return m;
    return NULL;
}

static void metric_free(metric *m)
{
    series *s = m->first;
    while (s) {
        series *next = s->order_next;
        for (size_t i = 0; i < m->nlabels; i++)
            free(s->label_values[i]);
        free(s->bucket_counts);
        free(s);
        s = next;
    }
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->label_names[i]);
    pthread_mutex_destroy(&m->lock);
    free(m->name);
    free(m->help);
    free(m);
}

static bool same_shape(const metric *m, metric_type type, const char *const label_names[],
                       size_t nlabels)
{
    if (m->type != type || m->nlabels != nlabels) return false;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(m->label_names[i], label_names[i]) != 0) return false;
    return true;
}

static metric *define(const char *name, const char *help, const char *const label_names[],
                      metric_type type, const double *buckets, size_t nbuckets)
{
    size_t nlabels = 0;
    metric *m = NULL;
    if (!valid_name(name, true)) return NULL;
    while (label_names && label_names[nlabels]) {
        if (nlabels == METRICS_MAX_LABELS || !valid_name(label_names[nlabels], false) ||
            (type == METRIC_HISTOGRAM && strcmp(label_names[nlabels], "le") == 0))
            return NULL;
        nlabels++;
    }
    if (type == METRIC_HISTOGRAM) {
        if (!buckets || nbuckets == 0 || nbuckets > METRICS_MAX_BUCKETS) return NULL;
        for (size_t i = 1; i < nbuckets; i++)
            if (!(buckets[i] > buckets[i - 1])) return NULL;
    }

    pthread_rwlock_wrlock(&registry_lock);
    metric *existing = find_locked(name);
    if (existing) {
        m = same_shape(existing, type, label_names, nlabels) ? existing : NULL;
        goto out;
    }
    m = calloc(1, sizeof *m);
    if (!m) goto out;
    m->type = type;
    m->nlabels = nlabels;
    m->name = slice_dup(slice_from_cstr(name));
    m->help = slice_dup(slice_from_cstr(help ? help : ""));
    bool ok = m->name && m->help;
    for (size_t i = 0; i < nlabels; i++) {
        m->label_names[i] = slice_dup(slice_from_cstr(label_names[i]));
        ok = ok && m->label_names[i];
    }
    pthread_mutex_init(&m->lock, NULL);
    if (!ok) {
        metric_free(m);
        m = NULL;
        goto out;
    }
    if (type == METRIC_HISTOGRAM) {
        memcpy(m->buckets, buckets, nbuckets * sizeof *buckets);
        m->nbuckets = nbuckets;
    }
    if (registry_last)
        registry_last->next = m;
    else
        registry_first = m;
    registry_last = m;
out:
    pthread_rwlock_unlock(&registry_lock);
    return m;
}

metric *metrics_counter_define(const char *name, const char *help, const char *const label_names[])
{
    return define(name, help, label_names, METRIC_COUNTER, NULL, 0);
}

metric *metrics_gauge_define(const char *name, const char *help, const char *const label_names[])
{
    return define(name, help, label_names, METRIC_GAUGE, NULL, 0);
}

metric *metrics_histogram_define(const char *name, const char *help,
                                 const char *const label_names[], const double *buckets,
                                 size_t nbuckets)
{
    return define(name, help, label_names, METRIC_HISTOGRAM, buckets, nbuckets);
}

metric *metrics_find(const char *name)
{
    pthread_rwlock_rdlock(&registry_lock);
    metric *m = find_locked(name);
    pthread_rwlock_unlock(&registry_lock);
    return m;
}

static const char *label_at(const char *const labels[], size_t i)
{
    return labels && labels[i] ? labels[i] : "";
}

static uint64_t hash_labels(const metric *m, const char *const labels[])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, with a separator between values */
    for (size_t i = 0; i < m->nlabels; i++) {
        for (const unsigned char *p = (const unsigned char *)label_at(labels, i); *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Finds or creates the series for labels. Caller holds m->lock. */
static core_err get_series(metric *m, const char *const labels[], bool create, series **out)
{
    uint64_t h = hash_labels(m, labels);
    series **slot = &m->table[h % SERIES_HASH_SIZE];
    for (series *s = *slot; s; s = s->hash_next) {
        if (s->hash != h) continue;
        size_t i = 0;
        while (i < m->nlabels && strcmp(s->label_values[i], label_at(labels, i)) == 0)
            i++;
        if (i == m->nlabels) {
            *out = s;
            return CORE_OK;
        }
    }
    *out = NULL;
    if (!create) return CORE_ENOTFOUND;
    if (m->nseries >= METRICS_MAX_SERIES) return CORE_ETOOBIG;
    series *s = calloc(1, sizeof *s);
    if (!s) return CORE_ENOMEM;
    s->hash = h;
    for (size_t i = 0; i < m->nlabels; i++) {
        s->label_values[i] = slice_dup(slice_from_cstr(label_at(labels, i)));
        if (!s->label_values[i]) goto oom;
    }
    if (m->type == METRIC_HISTOGRAM) {
        s->bucket_counts = calloc(m->nbuckets + 1, sizeof *s->bucket_counts);
        if (!s->bucket_counts) goto oom;
    }
    s->hash_next = *slot;
    *slot = s;
    if (m->last)
        m->last->order_next = s;
    else
        m->first = s;
    m->last = s;
    m->nseries++;
    *out = s;
    return CORE_OK;
oom:
    for (size_t i = 0; i < m->nlabels; i++)
        free(s->label_values[i]);
    free(s);
    return CORE_ENOMEM;
}

static core_err update(metric *m, const char *const labels[], int64_t v, bool set)
{
    if (!m || m->type == METRIC_HISTOGRAM) return CORE_EINVAL;
    if (m->type == METRIC_COUNTER && (set || v < 0)) return CORE_EINVAL;
    pthread_mutex_lock(&m->lock);
    series *s;
    core_err err = get_series(m, labels, true, &s);
    if (!err) {
        if (set)
            s->value = v;
        else
            s->value += v;
    }
    pthread_mutex_unlock(&m->lock);
    return err;
}

core_err metrics_add(metric *m, const char *const labels[], int64_t delta)
{
    return update(m, labels, delta, false);
}

core_err metrics_set(metric *m, const char *const labels[], int64_t value)
{
    if (m && m->type != METRIC_GAUGE) return CORE_EINVAL;
    return update(m, labels, value, true);
}

core_err metrics_observe(metric *m, const char *const labels[], double value)
{
    if (!m || m->type != METRIC_HISTOGRAM) return CORE_EINVAL;
    size_t b = 0;
    while (b < m->nbuckets && value > m->buckets[b])
        b++;
    pthread_mutex_lock(&m->lock);
    series *s;
    core_err err = get_series(m, labels, true, &s);
    if (!err) {
        s->bucket_counts[b]++;
        s->sum += value;
        s->count++;
    }
    pthread_mutex_unlock(&m->lock);
    return err;
}

int64_t metrics_value(metric *m, const char *const labels[])
{
    if (!m || m->type == METRIC_HISTOGRAM) return 0;
    pthread_mutex_lock(&m->lock);
    series *s;
    int64_t v = get_series(m, labels, false, &s) == CORE_OK ? s->value : 0;
    pthread_mutex_unlock(&m->lock);
    return v;
}

static core_err by_name(const char *name, metric **out)
{
    *out = metrics_find(name);
    return *out ? CORE_OK : CORE_ENOTFOUND;
}

core_err metrics_counter_add(const char *name, const char *const labels[], int64_t delta)
{
    metric *m;
    core_err err = by_name(name, &m);
    if (!err && m->type != METRIC_COUNTER) err = CORE_EINVAL;
    return err ? err : metrics_add(m, labels, delta);
}

core_err metrics_gauge_set(const char *name, const char *const labels[], int64_t value)
{
    metric *m;
    core_err err = by_name(name, &m);
    return err ? err : metrics_set(m, labels, value);
}

core_err metrics_gauge_add(const char *name, const char *const labels[], int64_t delta)
{
    metric *m;
    core_err err = by_name(name, &m);
    if (!err && m->type != METRIC_GAUGE) err = CORE_EINVAL;
    return err ? err : metrics_add(m, labels, delta);
}

core_err metrics_histogram_observe(const char *name, const char *const labels[], double value)
{
    metric *m;
    core_err err = by_name(name, &m);
    return err ? err : metrics_observe(m, labels, value);
}

/* ---- rendering ---------------------------------------------------------- */

/* Output with a sticky error, so rendering code stays linear and a failure
 * anywhere (ceiling, OOM) is reported once at the end. */
typedef struct {
    buf_t *b;
    core_err err;
} writer;

static void put(writer *w, const char *s)
{
    if (!w->err) w->err = buf_append_cstr(w->b, s);
}

static void put_char(writer *w, char c)
{
    if (!w->err) w->err = buf_append_char(w->b, c);
}

static void __attribute__((format(printf, 2, 3))) putf(writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!w->err) w->err = buf_vprintf(w->b, fmt, ap);
    va_end(ap);
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void put_escaped(writer *w, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(w, "\\\\");
        else if (*s == '\n')
            put(w, "\\n");
        else if (quote && *s == '"')
            put(w, "\\\"");
        else
            put_char(w, *s);
    }
}

/* {a="x",b="y",le="0.1"}; nothing when there are no labels and no le. */
static void put_labels(writer *w, const metric *m, const series *s, const char *le)
{
    if (m->nlabels == 0 && !le) return;
    put_char(w, '{');
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i) put_char(w, ',');
        putf(w, "%s=\"", m->label_names[i]);
        put_escaped(w, s->label_values[i], true);
        put_char(w, '"');
    }
    if (le) putf(w, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    put_char(w, '}');
}

static void render_metric(writer *w, metric *m)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    putf(w, "# HELP %s ", m->name);
    put_escaped(w, m->help, false);
    putf(w, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
    pthread_mutex_lock(&m->lock);
    for (series *s = m->first; s; s = s->order_next) {
        if (m->type != METRIC_HISTOGRAM) {
            put(w, m->name);
            put_labels(w, m, s, NULL);
            putf(w, " %lld\n", (long long)s->value);
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= m->nbuckets; b++) {
            char le[32];
            if (b < m->nbuckets)
                snprintf(le, sizeof le, "%g", m->buckets[b]);
            else
                snprintf(le, sizeof le, "+Inf");
            cumulative += s->bucket_counts[b];
            putf(w, "%s_bucket", m->name);
            put_labels(w, m, s, le);
            putf(w, " %llu\n", (unsigned long long)cumulative);
        }
        putf(w, "%s_sum", m->name);
        put_labels(w, m, s, NULL);
        putf(w, " %.15g\n%s_count", s->sum, m->name);
        put_labels(w, m, s, NULL);
        putf(w, " %llu\n", (unsigned long long)s->count);
    }
    pthread_mutex_unlock(&m->lock);
}

core_err metrics_render(buf_t *out)
{
    writer w = {out, CORE_OK};
    pthread_rwlock_rdlock(&registry_lock);
    for (metric *m = registry_first; m; m = m->next)
        render_metric(&w, m);
    pthread_rwlock_unlock(&registry_lock);
    return w.err;
}

void metrics_reset(void)
{
    pthread_rwlock_wrlock(&registry_lock);
    metric *m = registry_first;
    while (m) {
        metric *next = m->next;
        metric_free(m);
        m = next;
    }
    registry_first = registry_last = NULL;
    pthread_rwlock_unlock(&registry_lock);
}
