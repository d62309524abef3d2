/*
 * sse_parser.h - incremental parser for text/event-stream bodies (WHATWG rules
 * applied to HTTP bodies), fed with bytes exactly as they arrive from the
 * network: any split point (inside "data:", inside a CRLF, inside a UTF-8
 * sequence) gives the same events as feeding the whole body at once.
 *
 * Rules implemented: lines end at "\n", "\r\n" or a lone "\r" (a "\r" at the end
 * of one chunk followed by "\n" at the start of the next is ONE terminator);
 * "field:value" with exactly one optional space stripped after the colon; a
 * line without a colon is a field with an empty value; several "data:" lines
 * are joined with "\n"; an empty line dispatches the event (only if it has
 * data or an event name); lines starting with ":" are comments (reported to
 * on_comment for liveness); unknown fields (and "retry:") are ignored; an
 * "id:" value containing NUL is ignored; a leading UTF-8 BOM is skipped.
 *
 * Two deliberate differences from a browser's EventSource: an event with an
 * "event:" name but no data line is still dispatched (with empty data), and
 * "id" is per event (empty when the event had no "id:" line) instead of the
 * sticky last-event-id, since no caller here reconnects with Last-Event-ID.
 *
 * Ceilings: max_line bounds one line (without its terminator), max_event bounds
 * the joined data of one event. Past either, sse_parser_feed returns
 * CORE_ETOOBIG and the parser is poisoned (every later feed and finish returns
 * the same error). Events dispatched before the offending line were delivered.
 *
 * Thread: single owner. Memory: the parser owns its buffers; slices passed to
 * callbacks are valid only during the callback. Callbacks must not call
 * sse_parser_feed/finish/free on the same parser.
 */
#ifndef CORE_SSE_PARSER_H
#define CORE_SSE_PARSER_H

#include "base.h"
#include "buf.h"

/* Used when sse_parser_init gets 0 for a ceiling. */
#define SSE_DEFAULT_MAX_LINE  (1u << 20) /* 1 MiB */
#define SSE_DEFAULT_MAX_EVENT (4u << 20) /* 4 MiB */

typedef struct {
    slice_t event; /* "event:" value, empty when absent */
    slice_t data;  /* joined data lines */
    slice_t id;    /* "id:" value, empty when absent */
} sse_event;

/* Return 0 to continue; non-zero stops parsing: sse_parser_feed then returns
 * CORE_ECANCELED and the parser is poisoned. */
typedef int (*sse_on_event)(void *ud, const sse_event *ev);
/* comment is the text after ":" with one leading space stripped
 * (": keep-alive" gives "keep-alive"). */
typedef void (*sse_on_comment)(void *ud, slice_t comment);

typedef enum {
    SSE_STATE_BOM = 0,  /* at the very start: maybe skip a UTF-8 BOM */
    SSE_STATE_LINE,     /* collecting bytes of a line */
    SSE_STATE_AFTER_CR, /* saw "\r": a following "\n" belongs to it */
    SSE_STATE_FAILED,   /* poisoned after an error */
} sse_state;

typedef struct {
    sse_state state;
    core_err failure; /* error returned once FAILED */
    buf_t line;       /* current partial line, bounded by max_line */
    buf_t data;       /* joined data of the current event, bounded by max_event */
    buf_t event;      /* event name of the current event */
    buf_t id;         /* last id seen in the current event */
    bool has_data;    /* at least one data line in the current event */
    size_t bom_seen;  /* bytes of the BOM matched so far */
    size_t max_line;
    size_t max_event;
    sse_on_event on_event;
    sse_on_comment on_comment; /* may be NULL */
    void *ud;
} sse_parser;

/* max_line/max_event of 0 select the SSE_DEFAULT_* ceilings. on_event is
 * required. Allocates nothing until bytes arrive. */
void sse_parser_init(sse_parser *p, size_t max_line, size_t max_event, sse_on_event on_event,
                     sse_on_comment on_comment, void *ud);
/* Feeds bytes; calls back for each complete event. Errors: CORE_ETOOBIG,
 * CORE_ECANCELED (a callback asked to stop), CORE_ENOMEM; all poison. */
core_err sse_parser_feed(sse_parser *p, const char *data, size_t len);
/* Call at end of body. Per WHATWG, an event without its terminating blank line
 * is NOT dispatched; *truncated tells whether such a partial event (or partial
 * line) was pending, so callers can tell a cut stream from a clean end.
 * Afterwards the parser is back in its initial state (ready for a new body)
 * unless it was poisoned, in which case the poisoning error is returned. */
core_err sse_parser_finish(sse_parser *p, bool *truncated);
/* Releases the buffers. The parser may be initialized again afterwards. */
void sse_parser_free(sse_parser *p);

#endif
