/*
 * test_money.c - exact cost math and decimal conversion (src/core/money.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/money.h"

static int64_t parse(const char *s, int scale)
{
    int64_t v = -999;
    assert_int_equal(money_parse(slice_from_cstr(s), scale, false, &v), CORE_OK);
    return v;
}

static void test_parse_prices(void **state)
{
    (void)state;
    assert_int_equal(parse("0.15", 6), 150000);
    assert_int_equal(parse("0.075", 6), 75000);
    assert_int_equal(parse("0.0028", 6), 2800);
    assert_int_equal(parse("0.003625", 6), 3625);
    assert_int_equal(parse("10", 6), 10000000);
    assert_int_equal(parse("25.00", 6), 25000000);
    assert_int_equal(parse("0.000001", 6), 1);
    assert_int_equal(parse("1.500000000", 6), 1500000); /* trailing zeros past scale are exact */
    int64_t v;
    assert_int_equal(money_parse(SLICE_LIT("0.0000001"), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT("-1"), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT("1e3"), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT(""), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT("."), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT("1."), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT(" 1"), 6, false, &v), CORE_EPARSE);
    assert_int_equal(money_parse(SLICE_LIT("99999999999999999999"), 6, false, &v), CORE_ETOOBIG);
    assert_int_equal(money_parse(SLICE_LIT("-2.5"), 6, true, &v), CORE_OK);
    assert_int_equal(v, -2500000);
}

static void test_format(void **state)
{
    (void)state;
    char out[48];
    assert_string_equal(money_format_pico(21000000, out), "0.000021");
    assert_string_equal(money_format_pico(0, out), "0.000000");
    assert_string_equal(money_format_pico(1, out), "0.000000000001");
    assert_string_equal(money_format_pico(PICO_PER_USD * 25, out), "25.000000");
    assert_string_equal(money_format_pico(-1500000, out), "-0.0000015");
    assert_string_equal(money_format_micro(150000, out), "0.15");
    assert_string_equal(money_format_micro(2800, out), "0.0028");
    assert_string_equal(money_format_micro(10000000, out), "10.00");
    assert_string_equal(money_format(INT64_MAX, 12, 6, out), "9223372.036854775807");
}

static void test_cost_openai_style(void **state)
{
    (void)state;
    /* gpt-4o: 2.50 / 1.25 cached / 10.00 per 1M. 2006 prompt (1920 cached), 300 out. */
    price_t p = {PRICE_PER_1M_TOKENS, 2500000, 1250000, 10000000, 0};
    token_usage_t u = {.input = 2006, .cached_input = 1920, .output = 300, .reasoning = 0};
    int64_t pico;
    assert_int_equal(money_cost(&p, &u, 0, &pico), CORE_OK);
    /* 86*2.5e6 + 1920*1.25e6 + 300*1e7 = 215e6 + 2400e6 + 3000e6 */
    assert_int_equal(pico, 5615000000LL);
    char out[48];
    assert_string_equal(money_format_pico(pico, out), "0.005615");
}

static void test_cost_rejects_bad_usage(void **state)
{
    (void)state;
    price_t p = {PRICE_PER_1M_TOKENS, 1, 1, 1, 0};
    token_usage_t u = {.input = 10, .cached_input = 11, .output = 0};
    int64_t pico;
    assert_int_equal(money_cost(&p, &u, 0, &pico), CORE_EINVAL);
    u = (token_usage_t){.input = INT64_MAX, .cached_input = 0, .output = 0};
    p.input_micro = 2;
    assert_int_equal(money_cost(&p, &u, 0, &pico), CORE_ETOOBIG);
}

static void test_cost_per_request_and_second(void **state)
{
    (void)state;
    price_t p = {PRICE_PER_REQUEST, 0, 0, 0, 25000}; /* $0.025 per request */
    token_usage_t u = {0};
    int64_t pico;
    assert_int_equal(money_cost(&p, &u, 1234, &pico), CORE_OK);
    assert_int_equal(pico, 25000LL * PICO_PER_MICRO);
    p.unit = PRICE_PER_SECOND;
    p.request_micro = 1000; /* $0.001 per second */
    assert_int_equal(money_cost(&p, &u, 1500, &pico), CORE_OK);
    assert_int_equal(pico, 1500000000LL); /* $0.0015 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_prices),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_cost_openai_style),
        cmocka_unit_test(test_cost_rejects_bad_usage),
        cmocka_unit_test(test_cost_per_request_and_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
