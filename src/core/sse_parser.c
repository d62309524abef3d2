/*
 * sse_parser.c - incremental text/event-stream parser (see sse_parser.h).
 *
 * The state machine only decides where lines end; everything a line means is
 * decided in process_line once the whole line is known. Lines that arrive
 * whole inside one chunk are processed straight from the caller's bytes; only
 * a line cut by a chunk boundary is copied into p->line, so the common case
 * (a provider flushing whole events) copies each byte once, into p->data.
 */
#include "sse_parser.h"

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

void sse_parser_init(sse_parser *p, size_t max_line, size_t max_event, sse_on_event on_event,
                     sse_on_comment on_comment, void *ud)
{
    memset(p, 0, sizeof *p);
    p->state = SSE_STATE_BOM;
    p->max_line = max_line ? max_line : SSE_DEFAULT_MAX_LINE;
    p->max_event = max_event ? max_event : SSE_DEFAULT_MAX_EVENT;
    buf_init(&p->line, p->max_line);
    buf_init(&p->data, p->max_event);
    /* Event names and ids come from one line, so the line ceiling bounds them. */
    buf_init(&p->event, p->max_line);
    buf_init(&p->id, p->max_line);
    p->on_event = on_event;
    p->on_comment = on_comment;
    p->ud = ud;
}

void sse_parser_free(sse_parser *p)
{
    buf_free(&p->line);
    buf_free(&p->data);
    buf_free(&p->event);
    buf_free(&p->id);
}

static core_err poison(sse_parser *p, core_err err)
{
    p->state = SSE_STATE_FAILED;
    p->failure = err;
    return err;
}

static void reset_event(sse_parser *p)
{
    buf_reset(&p->data);
    buf_reset(&p->event);
    buf_reset(&p->id);
    p->has_data = false;
}

static core_err dispatch_event(sse_parser *p)
{
    if (!p->has_data && p->event.len == 0) {
        /* Nothing to deliver (a blank line between events, or an event that
         * only carried an id): WHATWG drops it. */
        reset_event(p);
        return CORE_OK;
    }
    sse_event ev = {
        .event = buf_slice(&p->event),
        .data = buf_slice(&p->data),
        .id = buf_slice(&p->id),
    };
    int stop = p->on_event(p->ud, &ev);
    reset_event(p);
    return stop ? CORE_ECANCELED : CORE_OK;
}

static slice_t strip_one_space(slice_t s)
{
    if (s.len && s.ptr[0] == ' ') {
        s.ptr++;
        s.len--;
    }
    return s;
}

static core_err set_buf(buf_t *b, slice_t value)
{
    buf_reset(b);
    return buf_append_slice(b, value);
}

/* Interprets one complete line (terminator already removed). */
static core_err process_line(sse_parser *p, slice_t line)
{
    if (line.len == 0) return dispatch_event(p);
    if (line.ptr[0] == ':') {
        if (p->on_comment)
            p->on_comment(p->ud, strip_one_space((slice_t){line.ptr + 1, line.len - 1}));
        return CORE_OK;
    }

    const char *colon = memchr(line.ptr, ':', line.len);
    slice_t field = line, value = SLICE_NULL;
    if (colon) {
        field.len = (size_t)(colon - line.ptr);
        value = strip_one_space((slice_t){colon + 1, line.len - field.len - 1});
    }

    if (slice_eq_cstr(field, "data")) {
        core_err err = CORE_OK;
        if (p->has_data) err = buf_append_char(&p->data, '\n');
        if (!err) err = buf_append_slice(&p->data, value);
        p->has_data = true;
        return err;
    }
    if (slice_eq_cstr(field, "event")) return set_buf(&p->event, value);
    if (slice_eq_cstr(field, "id")) {
        if (value.len && memchr(value.ptr, '\0', value.len)) return CORE_OK;
        return set_buf(&p->id, value);
    }
    /* "retry" and unknown fields: ignored, as the spec says. */
    return CORE_OK;
}

/* Index of the first CR or LF in data[from, len), or len. */
static size_t find_line_end(const char *data, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++)
        if (data[i] == '\n' || data[i] == '\r') return i;
    return len;
}

core_err sse_parser_feed(sse_parser *p, const char *data, size_t len)
{
    if (p->state == SSE_STATE_FAILED) return p->failure;
    core_err err = CORE_OK;
    size_t i = 0;
    while (i < len) {
        switch (p->state) {
        case SSE_STATE_BOM:
            if ((unsigned char)data[i] == utf8_bom[p->bom_seen]) {
                i++;
                if (++p->bom_seen == sizeof utf8_bom) p->state = SSE_STATE_LINE;
                break;
            }
            /* Not a BOM after all: the bytes matched so far start the first
             * line. The current byte is examined again in LINE state. */
            p->state = SSE_STATE_LINE;
            err = buf_append(&p->line, utf8_bom, p->bom_seen);
            if (err) return poison(p, err);
            break;
        case SSE_STATE_AFTER_CR:
            if (data[i] == '\n') i++;
            p->state = SSE_STATE_LINE;
            break;
        case SSE_STATE_LINE: {
            size_t end = find_line_end(data, i, len);
            slice_t piece = {data + i, end - i};
            if (end == len) {
                err = buf_append_slice(&p->line, piece);
                if (err) return poison(p, err);
                i = len;
                break;
            }
            p->state = data[end] == '\r' ? SSE_STATE_AFTER_CR : SSE_STATE_LINE;
            i = end + 1;
            if (p->line.len == 0) {
                if (piece.len > p->max_line) return poison(p, CORE_ETOOBIG);
                err = process_line(p, piece);
            } else {
                err = buf_append_slice(&p->line, piece);
                if (!err) err = process_line(p, buf_slice(&p->line));
                buf_reset(&p->line);
            }
            if (err) return poison(p, err);
            break;
        }
        case SSE_STATE_FAILED:
            return p->failure;
        }
    }
    return CORE_OK;
}

core_err sse_parser_finish(sse_parser *p, bool *truncated)
{
    if (p->state == SSE_STATE_FAILED) return p->failure;
    bool partial_bom = p->state == SSE_STATE_BOM && p->bom_seen > 0;
    *truncated = partial_bom || p->line.len > 0 || p->has_data || p->event.len > 0 || p->id.len > 0;
    buf_reset(&p->line);
    reset_event(p);
    p->state = SSE_STATE_BOM;
    p->bom_seen = 0;
    return CORE_OK;
}
