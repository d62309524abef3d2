/*
 * test_hub_cost.c - teamhub's exact pricing from registry entries, token
 * estimates and next-turn cost ranges (src/hub/hub_cost.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hub/hub_cost.h"

static json_t *entry(const char *json)
{
    json_error_t e;
    json_t *v = json_loads(json, 0, &e);
    assert_non_null(v);
    return v;
}

static void test_price_from_entry(void **state)
{
    (void)state;
    json_t *e = entry("{\"pricing\":{\"unit\":\"per_1m_tokens\",\"input\":\"0.15\","
                      "\"cached_input\":\"0.075\",\"output\":\"0.60\",\"currency\":\"USD\"},"
                      "\"max_output_tokens\":16384}");
    price_t p;
    assert_int_equal(hub_price_from_entry(e, &p), CORE_OK);
    assert_int_equal(p.unit, PRICE_PER_1M_TOKENS);
    assert_int_equal(p.input_micro, 150000);
    assert_int_equal(p.cached_input_micro, 75000);
    assert_int_equal(p.output_micro, 600000);
    assert_int_equal(hub_entry_max_output(e, 99), 16384);
    json_decref(e);

    /* no cached price: cached input costs as much as input */
    e = entry("{\"pricing\":{\"input\":\"1\",\"output\":\"2\"},\"max_output_tokens\":null}");
    assert_int_equal(hub_price_from_entry(e, &p), CORE_OK);
    assert_int_equal(p.cached_input_micro, 1000000);
    assert_int_equal(hub_entry_max_output(e, 99), 99);
    json_decref(e);

    e = entry("{\"pricing\":{\"unit\":\"per_request\",\"request\":\"0.003\"}}");
    assert_int_equal(hub_price_from_entry(e, &p), CORE_OK);
    assert_int_equal(p.unit, PRICE_PER_REQUEST);
    assert_int_equal(p.request_micro, 3000);
    json_decref(e);

    static const char *const bad[] = {
        "{}",
        "{\"pricing\":{\"unit\":\"per_token\",\"input\":\"1\"}}",
        "{\"pricing\":{\"input\":\"1e-3\"}}",
        "{\"pricing\":{\"input\":\"-1\"}}",
        "{\"pricing\":{\"output\":\"1\"}}", /* per-token price needs input */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        e = entry(bad[i]);
        assert_int_not_equal(hub_price_from_entry(e, &p), CORE_OK);
        json_decref(e);
    }
    assert_int_not_equal(hub_price_from_entry(NULL, &p), CORE_OK);
}

static void test_tokens_estimate(void **state)
{
    (void)state;
    assert_int_equal(hub_tokens_estimate(SLICE_NULL), 0);
    assert_int_equal(hub_tokens_estimate(SLICE_LIT("a")), 1);
    assert_int_equal(hub_tokens_estimate(SLICE_LIT("abcdefgh")), 2);
    assert_int_equal(hub_tokens_estimate(SLICE_LIT("a b c d e")), 5); /* words win */
    assert_int_equal(hub_tokens_estimate(SLICE_LIT("   ")), 1);
}

static void test_cost_range(void **state)
{
    (void)state;
    price_t p = {PRICE_PER_1M_TOKENS, 150000, 75000, 600000, 0};
    int64_t lo, hi;
    assert_int_equal(hub_cost_range(&p, 1000, 500, &lo, &hi), CORE_OK);
    assert_int_equal(lo, 1000 * 150000LL); /* pico-USD: tokens x micro/1M */
    assert_int_equal(hi, 1000 * 150000LL + 500 * 600000LL);
    assert_int_equal(hub_cost_range(&p, 0, 0, &lo, &hi), CORE_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
    assert_int_not_equal(hub_cost_range(&p, -1, 0, &lo, &hi), CORE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_price_from_entry),
        cmocka_unit_test(test_tokens_estimate),
        cmocka_unit_test(test_cost_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
