/*
 * test_json_scan.c - the tree-free JSON checker must agree with jansson on
 * every input it is sure about (it feeds the provider parsers' fast path,
 * with jansson as the fallback), the iterators must find what jansson finds,
 * and decoded strings must equal jansson's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/json_scan.h"

static bool jansson_accepts(slice_t text)
{
    while (text.len && (text.ptr[0] == ' ' || text.ptr[0] == '\t' || text.ptr[0] == '\r' ||
                        text.ptr[0] == '\n')) {
        text.ptr++;
        text.len--;
    }
    if (!text.len) return false;
    json_error_t jerr;
    json_t *v = json_loadb(text.ptr, text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    json_decref(v);
    return v != NULL;
}

/* The verdict for text, asserted consistent with jansson. */
static gw_json_verdict check_agrees(slice_t text)
{
    gw_json_verdict v = gw_json_check(text, NULL);
    if (v == GW_JSON_UNSURE) return v;
    if ((v == GW_JSON_VALID) != jansson_accepts(text)) {
        print_error("disagreement on [%.*s]: checker %d\n", (int)text.len, text.ptr, v);
        fail();
    }
    return v;
}

static void test_verdicts_match_jansson(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "{}",
        "[]",
        " {\"a\":1} \n",
        "0",
        "-0",
        "1.5e+10",
        "\"x\"",
        "true",
        "null",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\ud83d\\ude00\\n\"}",
        "\"caf\xc3\xa9\"",
        "\"\\u0000 nul\"",
        "[1e5,2E-3,-0.25]",
        "{\"a\":1,\"a\":2}",
    };
    static const char *const invalid[] = {
        "",
        "   ",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "+1",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"ctl \x01\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xff\"",
        "tru",
        "nul",
        "{} {}",
        "[1] x",
        "{1:2}",
        "\"\\u12g4\"",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        assert_int_equal(check_agrees(slice_from_cstr(valid[i])), GW_JSON_VALID);
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        assert_int_equal(check_agrees(slice_from_cstr(invalid[i])), GW_JSON_INVALID);
    /* Only jansson knows about ranges and escaped keys. */
    assert_int_equal(gw_json_check(SLICE_LIT("12345678901234567890"), NULL), GW_JSON_UNSURE);
    assert_int_equal(gw_json_check(SLICE_LIT("1e400"), NULL), GW_JSON_UNSURE);
    assert_int_equal(gw_json_check(SLICE_LIT("{\"\\u0000\":1}"), NULL), GW_JSON_UNSURE);
    char deep[300];
    memset(deep, '[', 150);
    memset(deep + 150, ']', 150);
    assert_int_equal(gw_json_check((slice_t){deep, 300}, NULL), GW_JSON_UNSURE);
    /* A NUL byte inside the text is not JSON. */
    assert_int_equal(check_agrees((slice_t){"\"a\0b\"", 5}), GW_JSON_INVALID);
}

/* Every prefix of a valid document is refused, never read past its end. */
static void test_prefixes(void **state)
{
    (void)state;
    const char *doc =
        "{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\\u00e9\"},"
        "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":12}}";
    size_t n = strlen(doc);
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(copy, doc, len);
        check_agrees((slice_t){copy, len});
        free(copy);
    }
    assert_int_equal(check_agrees((slice_t){doc, n}), GW_JSON_VALID);
}

static void test_iterators_and_strings(void **state)
{
    (void)state;
    slice_t doc = SLICE_LIT(" {\"a\" : \"x\\\"y\\\\\" , \"b\":[1, {\"c\":2}, \"]\"],\"a\":\"last\","
                            "\"s\":\"tab\\there \\ud83d\\ude00 \\u00e9\\/\"} ");
    slice_t obj, key, value, elem;
    assert_int_equal(gw_json_check(doc, &obj), GW_JSON_VALID);
    assert_int_equal(obj.ptr[0], '{');
    assert_int_equal(obj.ptr[obj.len - 1], '}');
    gw_json_iter it;
    assert_true(gw_json_object_begin(obj, &it));
    const char *keys[] = {"a", "b", "a", "s"};
    size_t n = 0;
    while (gw_json_object_next(&it, &key, &value)) {
        assert_true(n < 4);
        assert_true(slice_eq_cstr(key, keys[n]));
        n++;
    }
    assert_int_equal(n, 4);
    assert_true(slice_eq_cstr(gw_json_member(obj, "a"), "\"last\""));
    assert_null(gw_json_member(obj, "zz").ptr);
    assert_null(gw_json_member(SLICE_LIT("[1]"), "a").ptr);

    slice_t arr = gw_json_member(obj, "b");
    assert_true(gw_json_array_begin(arr, &it));
    const char *elems[] = {"1", "{\"c\":2}", "\"]\""};
    n = 0;
    while (gw_json_array_next(&it, &elem)) {
        assert_true(slice_eq_cstr(elem, elems[n]));
        n++;
    }
    assert_int_equal(n, 3);
    assert_false(gw_json_array_begin(gw_json_member(obj, "a"), &it));

    json_error_t jerr;
    json_t *j = json_loadb(doc.ptr, doc.len, 0, &jerr);
    assert_non_null(j);
    buf_t scratch;
    buf_init(&scratch, 1024);
    slice_t s;
    assert_int_equal(gw_json_string(gw_json_member(obj, "s"), &scratch, &s), CORE_OK);
    json_t *js = json_object_get(j, "s");
    assert_int_equal(s.len, json_string_length(js));
    assert_memory_equal(s.ptr, json_string_value(js), s.len);
    /* no escapes: a view into the text, no copy */
    assert_int_equal(gw_json_string(gw_json_member(obj, "a"), &scratch, &s), CORE_OK);
    assert_true(s.ptr > doc.ptr && s.ptr < doc.ptr + doc.len);
    assert_true(slice_eq_cstr(s, "last"));
    json_decref(j);

    /* the scratch ceiling applies */
    buf_t tiny;
    buf_init(&tiny, 2);
    assert_int_equal(gw_json_string(SLICE_LIT("\"\\n\\n\\n\\n\""), &tiny, &s), CORE_ETOOBIG);
    buf_free(&tiny);
    buf_free(&scratch);

    int64_t v;
    assert_true(gw_json_integer(SLICE_LIT("123"), &v));
    assert_int_equal(v, 123);
    assert_true(gw_json_integer(SLICE_LIT("-7"), &v));
    assert_int_equal(v, -7);
    assert_false(gw_json_integer(SLICE_LIT("1.0"), &v));
    assert_false(gw_json_integer(SLICE_LIT("1e3"), &v));
    assert_false(gw_json_integer(SLICE_LIT("\"1\""), &v));
}

/* Pseudo-random mutations of a realistic chunk: the checker never disagrees
 * with jansson when it claims to know. */
static void test_mutations_agree(void **state)
{
    (void)state;
    const char *seed =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1763990000,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \\u00e9\\n\"},"
        "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":12,\"cost\":1.5e-05}}";
    static const char alphabet[] = "{}[]\",:\\u0aeE+-.tfn \x01\x80\xc3\xa9\xed\xf4";
    size_t n = strlen(seed);
    char *buf = malloc(n + 1);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, seed, n);
        int edits = 1 + round % 3;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[x % n] = alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        check_agrees((slice_t){buf, n});
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts_match_jansson),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_iterators_and_strings),
        cmocka_unit_test(test_mutations_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
