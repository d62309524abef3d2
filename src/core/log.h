/*
 * log.h - JSON-lines logging to stderr. One line per event:
 *   {"ts":"2026-11-24T15:51:49.123Z","level":"info","msg":"...","req":"req_..",...}
 *
 * Callers pass extra fields as a pre-rendered JSON fragment (without braces)
 * built with buf_append_json_escaped, or NULL. Secrets must never be passed in:
 * redact at the source. Thread-safe: each line is written with one write(2).
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include "base.h"

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Messages below level are dropped. Default LOG_INFO; set once at start-up. */
void log_set_level(log_level level);
log_level log_level_from_name(const char *name); /* "debug"... ; LOG_INFO if unknown */

/* req_id may be NULL. fields is a JSON fragment like "\"status\":200" or NULL. */
void log_event(log_level level, const char *req_id, const char *msg, const char *fields);
/* printf-style message, no extra fields. */
void log_msgf(log_level level, const char *req_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(...)  log_msgf(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_msgf(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msgf(LOG_ERROR, NULL, __VA_ARGS__)
#define log_debug(...) log_msgf(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
