/*
 * test_http_client_parser.c - the response parser of the HTTP client's
 * plain-HTTP fast path, through http_client_parse_response: every response is
 * parsed whole, then cut at every byte position into two pieces, then fed one
 * byte at a time; all runs must give the same digest and the same result.
 * Covers Content-Length, chunked (extensions, trailers), close-delimited, HEAD,
 * 204, interim 1xx, bare-LF line ends, and the refusals with their ceilings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/http_client.h"

typedef struct {
    const char *name;
    const char *bytes;
    size_t len; /* 0: strlen(bytes) */
    bool head;
    bool eof;
    core_err want;
    const char *digest; /* expected digest when want is CORE_OK; NULL to skip */
} parse_case;

static core_err parse_pieces(const parse_case *pc, const slice_t *pieces, size_t n, buf_t *out)
{
    buf_reset(out);
    return http_client_parse_response(pieces, n, pc->head, pc->eof, out);
}

/* Whole, every two-piece split, and byte by byte: one result, one digest. */
static void check_every_split(const parse_case *pc)
{
    size_t len = pc->len ? pc->len : strlen(pc->bytes);
    buf_t whole, split;
    buf_init(&whole, 0);
    buf_init(&split, 0);
    slice_t one = {pc->bytes, len};
    core_err err = parse_pieces(pc, &one, 1, &whole);
    if (err != pc->want) fail_msg("%s: whole gave %d, want %d", pc->name, err, pc->want);
    if (pc->want == CORE_OK && pc->digest && strcmp(whole.data, pc->digest) != 0)
        fail_msg("%s: digest\n%s\nwant\n%s", pc->name, whole.data, pc->digest);
    for (size_t at = 0; at <= len; at++) {
        slice_t two[2] = {{pc->bytes, at}, {pc->bytes + at, len - at}};
        err = parse_pieces(pc, two, 2, &split);
        if (err != pc->want) fail_msg("%s: split at %zu gave %d", pc->name, at, err);
        if (err == CORE_OK || err == CORE_EAGAIN)
            if (split.len != whole.len || memcmp(split.data, whole.data, whole.len) != 0)
                fail_msg("%s: split at %zu gave another digest:\n%s", pc->name, at, split.data);
    }
    slice_t *bytes = calloc(len ? len : 1, sizeof *bytes);
    for (size_t i = 0; i < len; i++)
        bytes[i] = (slice_t){pc->bytes + i, 1};
    err = parse_pieces(pc, bytes, len, &split);
    assert_int_equal(err, pc->want);
    if (err == CORE_OK) assert_string_equal(split.data, whole.data);
    free(bytes);
    buf_free(&whole);
    buf_free(&split);
}

static void test_complete_responses_at_every_split(void **state)
{
    (void)state;
    static const parse_case cases[] = {
        {"content-length",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padded:   spaced  \r\n"
         "Content-Length: 11\r\n\r\n{\"ok\":true}",
         0, false, false, CORE_OK,
         "Content-Type: application/json\nX-Padded: spaced\nContent-Length: 11\nfinal 200\n"
         "{\"ok\":true}\n[end keep-alive=1 extra=0]"},
        {"chunked with extension and trailer",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n",
         0, false, false, CORE_OK,
         "Transfer-Encoding: chunked\nfinal 200\nhelloabcdefghijklmnopqrstuvwxyz\n"
         "[end keep-alive=1 extra=0]"},
        {"interim 100 then final",
         "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
         "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone",
         0, false, false, CORE_OK,
         "X-Interim: yes\ninterim 100\nContent-Length: 4\nfinal 201\ndone\n"
         "[end keep-alive=1 extra=0]"},
        {"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 0, false,
         true, CORE_OK,
         "Connection: close\nfinal 200\nuntil the end\n"
         "[end keep-alive=0 extra=0]"},
        {"HTTP/1.0 with length", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, false, false,
         CORE_OK, "Content-Length: 2\nfinal 200\nok\n[end keep-alive=0 extra=0]"},
        {"HEAD ignores content-length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 0, true,
         false, CORE_OK, "Content-Length: 99\nfinal 200\n\n[end keep-alive=1 extra=0]"},
        {"204 has no body", "HTTP/1.1 204 No Content\r\n\r\nXY", 0, false, false, CORE_OK,
         "final 204\n\n[end keep-alive=1 extra=2]"},
        {"bare LF line ends and empty reason",
         "HTTP/1.1 404\nContent-Length: 0\nConnection: keep-alive, close\n\n", 0, false, false,
         CORE_OK,
         "Content-Length: 0\nConnection: keep-alive, close\nfinal 404\n\n"
         "[end keep-alive=0 extra=0]"},
        {"bytes past the message", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1", 0,
         false, false, CORE_OK, "Content-Length: 1\nfinal 200\nx\n[end keep-alive=1 extra=8]"},
        {"same content-length twice",
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nz", 0, false, false,
         CORE_OK, NULL},
        {"needs more: headers", "HTTP/1.1 200 OK\r\nContent-Len", 0, false, false, CORE_EAGAIN,
         NULL},
        {"needs more: body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false, false,
         CORE_EAGAIN, NULL},
        {"needs more: chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0,
         false, false, CORE_EAGAIN, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        check_every_split(&cases[i]);
}

static void test_refusals_at_every_split(void **state)
{
    (void)state;
    static const parse_case cases[] = {
        {"not HTTP", "HTTX/1.1 200 OK\r\n\r\n", 0, false, false, CORE_EPARSE, NULL},
        {"HTTP/2 status line", "HTTP/2 200\r\n\r\n", 0, false, false, CORE_EPARSE, NULL},
        {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 0, false, false, CORE_EPARSE, NULL},
        {"status 600", "HTTP/1.1 600 Odd\r\n\r\n", 0, false, false, CORE_EPARSE, NULL},
        {"101 switch", "HTTP/1.1 101 Switching\r\n\r\n", 0, false, false, CORE_EPARSE, NULL},
        {"header without colon", "HTTP/1.1 200 OK\r\nBroken\r\n\r\n", 0, false, false, CORE_EPARSE,
         NULL},
        {"space before colon", "HTTP/1.1 200 OK\r\nName : v\r\n\r\n", 0, false, false, CORE_EPARSE,
         NULL},
        {"obsolete folding", "HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n", 0, false, false, CORE_EPARSE,
         NULL},
        {"control byte in value", "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n", 0, false, false,
         CORE_EPARSE, NULL},
        {"stray CR", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", 0, false, false, CORE_EPARSE, NULL},
        {"NUL in value", "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", 29, false, false, CORE_EPARSE, NULL},
        {"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, false,
         CORE_EPARSE, NULL},
        {"length list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n", 0, false, false,
         CORE_EPARSE, NULL},
        {"differing lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         0, false, false, CORE_EPARSE, NULL},
        {"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, false,
         false, CORE_EPARSE, NULL},
        {"gzip encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, false,
         false, CORE_EPARSE, NULL},
        {"chunked and length",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 0, false,
         false, CORE_EPARSE, NULL},
        {"chunked on HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, false,
         false, CORE_EPARSE, NULL},
        {"chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
         false, false, CORE_EPARSE, NULL},
        {"chunk size overflow",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 0, false,
         false, CORE_EPARSE, NULL},
        {"chunk without CRLF",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", 0, false,
         false, CORE_EPARSE, NULL},
        {"bad trailer",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a trailer\r\n\r\n", 0,
         false, false, CORE_EPARSE, NULL},
        {"cut mid-body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false, true,
         CORE_EIO, NULL},
        {"cut in headers", "HTTP/1.1 200 OK\r\nA: b", 0, false, true, CORE_EIO, NULL},
        {"closed before anything", "", 0, false, true, CORE_EIO, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        check_every_split(&cases[i]);
}

/* Ceilings: the header section (64 KiB), the status line, a chunk-size line. */
static void test_ceilings(void **state)
{
    (void)state;
    buf_t in, out;
    buf_init(&in, 0);
    buf_init(&out, 0);

    /* Just under the header ceiling passes, just over is CORE_ETOOBIG. */
    const char *status = "HTTP/1.1 200 OK\r\n";
    for (int over = 0; over <= 1; over++) {
        buf_reset(&in);
        buf_append_cstr(&in, status);
        size_t target = HTTP_CLIENT_MAX_HEADER_BYTES + (size_t)over;
        /* One long header line that brings the section (with the blank line)
         * to exactly target bytes. */
        size_t fixed = strlen(status) + strlen("X-Big: \r\n") + 2;
        buf_append_cstr(&in, "X-Big: ");
        for (size_t i = 0; i < target - fixed; i++)
            buf_append_char(&in, 'v');
        buf_append_cstr(&in, "\r\n\r\n");
        assert_int_equal(in.len, target);
        slice_t one = buf_slice(&in);
        buf_reset(&out);
        assert_int_equal(http_client_parse_response(&one, 1, false, true, &out),
                         over ? CORE_ETOOBIG : CORE_OK);
    }

    /* Many small headers over the ceiling, fed in 1000-byte pieces. */
    buf_reset(&in);
    buf_append_cstr(&in, status);
    for (int i = 0; i < 800; i++)
        buf_printf(&in, "X-Filler-%03d: %090d\r\n", i, i);
    buf_append_cstr(&in, "\r\n");
    slice_t pieces[128];
    size_t n = 0;
    for (size_t at = 0; at < in.len && n < ARRAY_LEN(pieces); at += 1000)
        pieces[n++] = (slice_t){in.data + at, MIN((size_t)1000, in.len - at)};
    buf_reset(&out);
    assert_int_equal(http_client_parse_response(pieces, n, false, false, &out), CORE_ETOOBIG);

    /* A status line of 9000 bytes. */
    buf_reset(&in);
    buf_append_cstr(&in, "HTTP/1.1 200 ");
    for (int i = 0; i < 9000; i++)
        buf_append_char(&in, 'r');
    slice_t one = buf_slice(&in);
    buf_reset(&out);
    assert_int_equal(http_client_parse_response(&one, 1, false, false, &out), CORE_EPARSE);

    /* A chunk-size line with 2000 bytes of extensions. */
    buf_reset(&in);
    buf_append_cstr(&in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    for (int i = 0; i < 2000; i++)
        buf_append_char(&in, 'e');
    one = buf_slice(&in);
    buf_reset(&out);
    assert_int_equal(http_client_parse_response(&one, 1, false, false, &out), CORE_EPARSE);

    buf_free(&in);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_responses_at_every_split),
        cmocka_unit_test(test_refusals_at_every_split),
        cmocka_unit_test(test_ceilings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
