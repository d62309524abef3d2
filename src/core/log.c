/*
 * log.c - JSON-lines logger. Lines are assembled in a stack buffer and written
 * with a single write(2) so concurrent threads never interleave inside a line.
 */
#include "log.h"
#include "buf.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level level)
{
    atomic_store(&min_level, (int)level);
}

log_level log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0) return (log_level)i;
    return LOG_INFO;
}

void log_event(log_level level, const char *req_id, const char *msg, const char *fields)
{
    if ((int)level < atomic_load(&min_level)) return;
    buf_t b;
    buf_init(&b, 64 * 1024);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when,
               ts.tv_nsec / 1000000, level_names[level]);
    buf_append_json_escaped(&b, slice_from_cstr(msg ? msg : ""));
    buf_append_char(&b, '"');
    if (req_id) {
        buf_append_cstr(&b, ",\"req\":\"");
        buf_append_json_escaped(&b, slice_from_cstr(req_id));
        buf_append_char(&b, '"');
    }
    if (fields && fields[0]) {
        buf_append_char(&b, ',');
        buf_append_cstr(&b, fields);
    }
    buf_append_cstr(&b, "}\n");
    if (b.data) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    buf_free(&b);
}

void log_msgf(log_level level, const char *req_id, const char *fmt, ...)
{
    if ((int)level < atomic_load(&min_level)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_event(level, req_id, msg, NULL);
}
