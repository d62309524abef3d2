/*
 * line_reader.c - incremental newline splitter (see line_reader.h).
 *
 * Whole lines inside one chunk are reported straight from the caller's bytes;
 * only a line cut by a chunk boundary is copied into r->partial. The partial
 * buffer may hold max_line + 1 bytes because the last one can be the "\r" of a
 * CRLF whose "\n" is still in flight; the real ceiling is checked on the line
 * without its terminator, the same way on every path, so results never depend
 * on where the chunks were cut.
 */
#include "line_reader.h"

void line_reader_init(line_reader *r, size_t max_line, bool skip_empty, line_reader_on_line on_line,
                      void *ud)
{
    memset(r, 0, sizeof *r);
    r->state = LINE_READER_STATE_LINE;
    r->max_line = max_line ? max_line : LINE_READER_DEFAULT_MAX_LINE;
    buf_init(&r->partial, r->max_line + 1);
    r->skip_empty = skip_empty;
    r->on_line = on_line;
    r->ud = ud;
}

void line_reader_free(line_reader *r)
{
    buf_free(&r->partial);
}

static core_err poison(line_reader *r, core_err err)
{
    r->state = LINE_READER_STATE_FAILED;
    r->failure = err;
    return err;
}

/* line is everything before the "\n" (or before the end of the stream). */
static core_err emit_line(line_reader *r, slice_t line)
{
    if (line.len && line.ptr[line.len - 1] == '\r') line.len--;
    if (line.len > r->max_line) return CORE_ETOOBIG;
    if (line.len == 0 && r->skip_empty) return CORE_OK;
    return r->on_line(r->ud, line) ? CORE_ECANCELED : CORE_OK;
}

core_err line_reader_feed(line_reader *r, const char *data, size_t len)
{
    if (r->state == LINE_READER_STATE_FAILED) return r->failure;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        if (!nl) {
            core_err err = buf_append(&r->partial, data + i, len - i);
            if (err) return poison(r, err);
            break;
        }
        slice_t piece = {data + i, (size_t)(nl - (data + i))};
        i += piece.len + 1;
        core_err err;
        if (r->partial.len == 0) {
            err = emit_line(r, piece);
        } else {
            err = buf_append_slice(&r->partial, piece);
            /* Past the buffer's own max the line is too long anyway. */
            if (!err) err = emit_line(r, buf_slice(&r->partial));
            buf_reset(&r->partial);
        }
        if (err) return poison(r, err);
    }
    return CORE_OK;
}

core_err line_reader_finish(line_reader *r)
{
    if (r->state == LINE_READER_STATE_FAILED) return r->failure;
    core_err err = CORE_OK;
    if (r->partial.len) err = emit_line(r, buf_slice(&r->partial));
    buf_reset(&r->partial);
    if (err) return poison(r, err);
    return CORE_OK;
}
