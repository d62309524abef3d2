/*
 * test_base.c - slices, bounded buffers, arenas, constant-time compare, ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/base.h"
#include "core/buf.h"

static void test_buf_ceiling(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(buf_append_cstr(&b, "12345678"), CORE_OK);
    assert_int_equal(buf_append_char(&b, '9'), CORE_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    buf_consume(&b, 3);
    assert_string_equal(b.data, "45678");
    buf_free(&b);
}

static void test_buf_json_escape(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(buf_append_json_escaped(&b, SLICE_LIT("a\"b\\c\n\x01")), CORE_OK);
    assert_string_equal(b.data, "a\\\"b\\\\c\\n\\u0001");
    buf_free(&b);
}

static void test_arena(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a, 1 << 16);
    for (int i = 0; i < 1000; i++) {
        char *p = arena_printf(&a, "item-%d", i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
    }
    assert_null(arena_alloc(&a, 1 << 17)); /* past the ceiling */
    arena_free(&a);
}

static void test_slices(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(slice_to_i64(SLICE_LIT("12345"), &v), CORE_OK);
    assert_int_equal(v, 12345);
    assert_int_equal(slice_to_i64(SLICE_LIT("9223372036854775808"), &v), CORE_EPARSE);
    assert_int_equal(slice_to_i64(SLICE_LIT("-1"), &v), CORE_EPARSE);
    assert_true(slice_case_eq(SLICE_LIT("Content-Length"), SLICE_LIT("content-length")));
    slice_t t = slice_trim(SLICE_LIT(" \t x y \t"));
    assert_true(slice_eq_cstr(t, "x y"));
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(ct_equal("abc", 3, "abc", 3));
    assert_false(ct_equal("abc", 3, "abd", 3));
    assert_false(ct_equal("abc", 3, "abcd", 4));
    assert_true(ct_equal("", 0, "", 0));
}

static void test_random_id(void **state)
{
    (void)state;
    char a[64], b[64];
    random_id("gen_", a, sizeof a);
    random_id("gen_", b, sizeof b);
    assert_int_equal(strlen(a), 30);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_ceiling), cmocka_unit_test(test_buf_json_escape),
        cmocka_unit_test(test_arena),       cmocka_unit_test(test_slices),
        cmocka_unit_test(test_ct_equal),    cmocka_unit_test(test_random_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
