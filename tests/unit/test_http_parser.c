/*
 * test_http_parser.c - the strict HTTP/1.1 request parser. Every input is fed
 * whole, one byte at a time and at every 2-way split point; the transcript of
 * what was parsed (requests, errors) must be identical for all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/http_parser.h"

static const http_parser_limits test_limits = {.max_header_bytes = 512, .max_body_bytes = 64};

/* Renders everything the parser reported about one request into t. */
static void describe_message(buf_t *t, const char *data, const http_message *m)
{
    buf_printf(t, "[%.*s %.*s 1.%d", (int)m->method.len, data + m->method.off, (int)m->target.len,
               data + m->target.off, m->version_minor);
    for (uint32_t i = 0; i < m->nheaders; i++)
        buf_printf(t, " <%.*s=%.*s>", (int)m->header_names[i].len, data + m->header_names[i].off,
                   (int)m->header_values[i].len, data + m->header_values[i].off);
    buf_printf(t, " body=%.*s ka=%d cont=%d]", (int)m->body.len, data + m->body.off, m->keep_alive,
               m->expect_continue);
}

/* Feeds input cut at the given points and returns the transcript (caller frees). */
static char *parse_pieces(const char *input, size_t len, const size_t *cuts, size_t ncuts)
{
    buf_t t, in;
    buf_init(&t, 0);
    buf_init(&in, 0);
    http_parser p;
    http_parser_init(&p, &test_limits);
    size_t fed = 0;
    bool stopped = false;
    for (size_t piece = 0; piece <= ncuts && !stopped; piece++) {
        size_t upto = piece < ncuts ? cuts[piece] : len;
        assert_int_equal(buf_append(&in, input + fed, upto - fed), CORE_OK);
        fed = upto;
        for (;;) {
            http_parse_result r = http_parser_execute(&p, in.data, &in.len);
            if (r == HTTP_PARSE_AGAIN) break;
            if (r == HTTP_PARSE_ERROR) {
                buf_printf(&t, "[error %d]", p.error_status);
                stopped = true;
                break;
            }
            describe_message(&t, in.data, &p.msg);
            buf_consume(&in, p.msg.end);
            http_parser_reset(&p, 0);
        }
    }
    if (!stopped && in.len) buf_printf(&t, "[partial %zu]", in.len);
    buf_free(&in);
    return buf_steal(&t, NULL);
}

/* Parses input whole, byte by byte and at every 2-way split; all must agree.
 * Returns the transcript of the whole-input run. */
static char *parse_every_split(const char *input)
{
    size_t len = strlen(input);
    char *whole = parse_pieces(input, len, NULL, 0);
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    char *bytewise = parse_pieces(input, len, cuts, len ? len - 1 : 0);
    assert_string_equal(bytewise, whole);
    free(bytewise);
    for (size_t cut = 0; cut <= len; cut++) {
        char *split = parse_pieces(input, len, &cut, 1);
        if (strcmp(split, whole) != 0) fail_msg("split at %zu: %s != %s", cut, split, whole);
        free(split);
    }
    free(cuts);
    return whole;
}

static void expect_transcript(const char *input, const char *expected)
{
    char *got = parse_every_split(input);
    assert_string_equal(got, expected);
    free(got);
}

static void test_simple_get(void **state)
{
    (void)state;
    expect_transcript("GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Sp:  v  w \t\r\n\r\n",
                      "[GET /a/b?x=1 1.1 <Host=h> <X-Empty=> <X-Sp=v  w> body= ka=1 cont=0]");
}

static void test_content_length_body(void **state)
{
    (void)state;
    expect_transcript("POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                      "[POST /p 1.1 <Content-Length=5> body=hello ka=1 cont=0]");
    expect_transcript("POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                      "[POST /p 1.1 <Content-Length=0> body= ka=1 cont=0]");
}

static void test_chunked_body(void **state)
{
    (void)state;
    expect_transcript("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1;q=\"a b\\\"c\"\r\nhello\r\n"
                      "1 ; x\r\n \r\n"
                      "A\r\n0123456789\r\n"
                      "0\r\nTrailer-One: t\r\nT2: u\r\n\r\n",
                      "[POST /c 1.1 <Transfer-Encoding=chunked> body=hello 0123456789 ka=1 "
                      "cont=0]");
    expect_transcript("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                      "[POST /c 1.1 <Transfer-Encoding=chunked> body= ka=1 cont=0]");
}

static void test_pipelined(void **state)
{
    (void)state;
    expect_transcript("GET /1 HTTP/1.1\r\n\r\n"
                      "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                      "POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
                      "\r\nGET /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                      "GET /5 HTTP/1.1\r\nConnection: close\r\n\r\n"
                      "GET /6 HT",
                      "[GET /1 1.1 body= ka=1 cont=0]"
                      "[POST /2 1.1 <Content-Length=3> body=abc ka=1 cont=0]"
                      "[POST /3 1.1 <Transfer-Encoding=chunked> body=xy ka=1 cont=0]"
                      "[GET /4 1.0 <Connection=keep-alive> body= ka=1 cont=0]"
                      "[GET /5 1.1 <Connection=close> body= ka=0 cont=0]"
                      "[partial 9]");
}

static void test_http10_and_expect(void **state)
{
    (void)state;
    expect_transcript("GET / HTTP/1.0\r\n\r\n", "[GET / 1.0 body= ka=0 cont=0]");
    expect_transcript("PUT /u HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
                      "[PUT /u 1.1 <Expect=100-Continue> <Content-Length=2> body=ok ka=1 cont=1]");
    expect_transcript("OPTIONS * HTTP/1.1\r\n\r\n", "[OPTIONS * 1.1 body= ka=1 cont=0]");
}

static void test_rejects_400(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "G(T / HTTP/1.1\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTX/1.1\r\n\r\n",
        "GET / HTTP/11\r\n\r\n",
        "GET http://x/ HTTP/1.1\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\n: x\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\na\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX : y\r\n\r\n",
        "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char *got = parse_every_split(bad[i]);
        if (strcmp(got, "[error 400]") != 0) fail_msg("case %zu: %s", i, got);
        free(got);
    }
}

static void test_rejects_with_status(void **state)
{
    (void)state;
    expect_transcript("BREW /pot HTTP/1.1\r\n\r\n", "[error 501]");
    expect_transcript("GET / HTTP/2.0\r\n\r\n", "[error 505]");
    /* RFC 9110 2.5: a higher 1.x minor version is served as 1.1. */
    expect_transcript("GET / HTTP/1.2\r\nHost: a\r\n\r\n", "[GET / 1.1 <Host=a> body= ka=1 cont=0]");
    /* RFC 9112 3.2: two Host fields are a 400. */
    expect_transcript("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "[error 400]");
    expect_transcript("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "[error 501]");
    expect_transcript("POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", "[error 417]");
    expect_transcript("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", "[error 413]");
    expect_transcript("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", "[error 413]");
    expect_transcript("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "20\r\n01234567890123456789012345678901\r\n"
                      "20\r\n01234567890123456789012345678901\r\n"
                      "1\r\nx\r\n0\r\n\r\n",
                      "[error 413]");
    /* A body of exactly the limit is fine. */
    char *big = malloc(200);
    snprintf(big, 200, "POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\n%064d", 7);
    char *got = parse_every_split(big);
    assert_non_null(strstr(got, "ka=1"));
    free(got);
    free(big);
}

static void test_header_limits(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    buf_append_cstr(&b, "GET / HTTP/1.1\r\nX-Long: ");
    for (int i = 0; i < 600; i++)
        buf_append_char(&b, 'a');
    buf_append_cstr(&b, "\r\n\r\n");
    expect_transcript(b.data, "[error 431]");

    buf_reset(&b);
    buf_append_cstr(&b, "GET /");
    for (int i = 0; i < 600; i++)
        buf_append_char(&b, 'p');
    buf_append_cstr(&b, " HTTP/1.1\r\n\r\n");
    expect_transcript(b.data, "[error 431]");

    /* Exactly HTTP_MAX_HEADERS headers pass (with a larger header budget), one more fails. */
    http_parser_limits roomy = {.max_header_bytes = 8192, .max_body_bytes = 0};
    for (int extra = 0; extra <= 1; extra++) {
        buf_reset(&b);
        buf_append_cstr(&b, "GET / HTTP/1.1\r\n");
        for (int i = 0; i < HTTP_MAX_HEADERS + extra; i++)
            buf_printf(&b, "H%d: v\r\n", i);
        buf_append_cstr(&b, "\r\n");
        http_parser p;
        http_parser_init(&p, &roomy);
        size_t len = b.len;
        http_parse_result r = http_parser_execute(&p, b.data, &len);
        if (extra) {
            assert_int_equal(r, HTTP_PARSE_ERROR);
            assert_int_equal(p.error_status, 431);
        } else {
            assert_int_equal(r, HTTP_PARSE_DONE);
            assert_int_equal(p.msg.nheaders, HTTP_MAX_HEADERS);
        }
    }
    buf_free(&b);
}

static void test_headers_complete_flag(void **state)
{
    (void)state;
    char req[] = "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nab";
    size_t len = strlen(req);
    http_parser p;
    http_parser_init(&p, &test_limits);
    assert_int_equal(http_parser_execute(&p, req, &len), HTTP_PARSE_AGAIN);
    assert_true(p.headers_complete);
    assert_true(p.msg.expect_continue);
    assert_true(p.msg.has_body);
    assert_int_equal(p.msg.content_length, 3);
}

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(http_status_text(404), "Not Found");
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_content_length_body),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_http10_and_expect),
        cmocka_unit_test(test_rejects_400),
        cmocka_unit_test(test_rejects_with_status),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_headers_complete_flag),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
