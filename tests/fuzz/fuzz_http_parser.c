/*
 * fuzz_http_parser.c - libFuzzer target for the HTTP/1.1 request parser. Each
 * input is parsed twice: whole, and cut into pieces whose size comes from the
 * first byte. Both runs must report the same requests and the same error, every
 * span must lie inside the buffer, and limits must hold. Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/http_parser.h"

static const http_parser_limits limits = {.max_header_bytes = 2048, .max_body_bytes = 4096};

static void check_span(http_span s, size_t len)
{
    if ((size_t)s.off + s.len > len) abort();
}

/* Appends a digest of everything parsed to t; returns false on allocation failure. */
static void run(const uint8_t *data, size_t size, size_t piece, buf_t *t)
{
    buf_t in;
    buf_init(&in, 0);
    http_parser p;
    http_parser_init(&p, &limits);
    size_t fed = 0;
    bool stopped = false;
    while (!stopped && fed < size) {
        size_t n = piece ? piece : size;
        if (n > size - fed) n = size - fed;
        if (buf_append(&in, data + fed, n) != CORE_OK) abort();
        fed += n;
        for (;;) {
            http_parse_result r = http_parser_execute(&p, in.data, &in.len);
            if (r == HTTP_PARSE_AGAIN) break;
            if (r == HTTP_PARSE_ERROR) {
                buf_printf(t, "E%d;", p.error_status);
                stopped = true;
                break;
            }
            const http_message *m = &p.msg;
            check_span(m->method, in.len);
            check_span(m->target, in.len);
            check_span(m->body, in.len);
            if (m->nheaders > HTTP_MAX_HEADERS || m->body.len > limits.max_body_bytes ||
                m->end > in.len)
                abort();
            buf_printf(t, "R%.*s %.*s %d %u|", (int)m->method.len, in.data + m->method.off,
                       (int)m->target.len, in.data + m->target.off, m->keep_alive, m->nheaders);
            for (uint32_t i = 0; i < m->nheaders; i++) {
                check_span(m->header_names[i], in.len);
                check_span(m->header_values[i], in.len);
                buf_append(t, in.data + m->header_values[i].off, m->header_values[i].len);
                buf_append_char(t, '|');
            }
            buf_append(t, in.data + m->body.off, m->body.len);
            buf_append_char(t, ';');
            buf_consume(&in, m->end);
            http_parser_reset(&p, 0);
        }
    }
    buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t piece = (size_t)(data[0] % 17) + 1;
    data++;
    size--;
    buf_t whole, split;
    buf_init(&whole, 0);
    buf_init(&split, 0);
    run(data, size, 0, &whole);
    run(data, size, piece, &split);
    if (!slice_eq(buf_slice(&whole), buf_slice(&split))) {
        fprintf(stderr, "whole: %s\nsplit(%zu): %s\n", whole.data, piece, split.data);
        abort();
    }
    buf_free(&whole);
    buf_free(&split);
    return 0;
}
