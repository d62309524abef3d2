/*
 * line_reader.h - incremental splitter for newline-delimited streams (NDJSON,
 * e.g. Eden AI v2's text/chat/stream), fed with bytes as they arrive: any
 * split point gives the same lines as feeding the whole body at once.
 *
 * Lines end at "\n"; a "\r" right before the "\n" is dropped, so CRLF bodies
 * read the same as LF ones (a lone "\r" is ordinary content: JSON cannot hold a
 * raw CR inside a string, so it can only be whitespace). The last line may lack
 * its "\n": line_reader_finish reports it. Empty lines (after dropping the CR)
 * are skipped when skip_empty is set, which is what NDJSON readers want.
 *
 * Ceiling: max_line bounds one line without its terminator; past it
 * line_reader_feed returns CORE_ETOOBIG and the reader is poisoned (every later
 * feed/finish returns the same error). Lines reported before that stay valid.
 *
 * Thread: single owner. Memory: the reader owns its buffer; the slice passed
 * to on_line is valid only during the callback, which must not call back into
 * the same reader.
 */
#ifndef CORE_LINE_READER_H
#define CORE_LINE_READER_H

#include "base.h"
#include "buf.h"

/* Used when line_reader_init gets max_line == 0. */
#define LINE_READER_DEFAULT_MAX_LINE (1u << 20) /* 1 MiB */

/* Return 0 to continue; non-zero stops: feed/finish return CORE_ECANCELED and
 * the reader is poisoned. line excludes "\n" and a "\r" before it. */
typedef int (*line_reader_on_line)(void *ud, slice_t line);

typedef enum {
    LINE_READER_STATE_LINE = 0, /* collecting bytes of a line */
    LINE_READER_STATE_FAILED,   /* poisoned after an error */
} line_reader_state;

typedef struct {
    line_reader_state state;
    core_err failure; /* error returned once FAILED */
    buf_t partial;    /* bytes of a line cut by a chunk boundary */
    size_t max_line;
    bool skip_empty;
    line_reader_on_line on_line;
    void *ud;
} line_reader;

void line_reader_init(line_reader *r, size_t max_line, bool skip_empty, line_reader_on_line on_line,
                      void *ud);
/* Calls on_line for each complete line. Errors: CORE_ETOOBIG, CORE_ECANCELED,
 * CORE_ENOMEM; all poison. */
core_err line_reader_feed(line_reader *r, const char *data, size_t len);
/* End of stream: reports a last line that had no "\n". Afterwards the reader is
 * empty and may take a new stream (unless poisoned: then the error). */
core_err line_reader_finish(line_reader *r);
/* Releases the buffer. */
void line_reader_free(line_reader *r);

#endif
