/*
 * test_provider_common.c - what every adapter shares: error codes and HTTP
 * statuses (gw_types.c), the status -> class table, retry hints, exact USD
 * text -> pico-USD, the raw JSON finder, message redaction, the token
 * estimate and the adapter lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adapter_harness.h"
#include "gateway/adapter_util.h"

static void test_error_codes(void **state)
{
    (void)state;
    for (int i = 0; i < GW_ERR__COUNT; i++) {
        gw_err back;
        assert_true(gw_err_from_code(gw_err_code((gw_err)i), &back));
        assert_int_equal(back, i);
    }
    gw_err e;
    assert_false(gw_err_from_code("nope", &e));
    assert_false(gw_err_from_code(NULL, &e));
    assert_string_equal(gw_err_code(GW_ERR_MODEL_UNAVAILABLE), "model_unavailable");
    assert_string_equal(gw_err_code(GW_ERR__COUNT), "internal");
    assert_int_equal(gw_err_status(GW_ERR_INVALID_REQUEST), 400);
    assert_int_equal(gw_err_status(GW_ERR_MODEL_NOT_FOUND), 404);
    assert_int_equal(gw_err_status(GW_ERR_MODEL_UNAVAILABLE), 503);
    assert_int_equal(gw_err_status(GW_ERR_RATE_LIMITED), 429);
    assert_int_equal(gw_err_status(GW_ERR_PROVIDER_QUOTA), 402);
    assert_int_equal(gw_err_status(GW_ERR_PROVIDER_AUTH), 502);
    assert_int_equal(gw_err_status(GW_ERR_TIMEOUT), 504);
    assert_int_equal(gw_err_status(GW_ERR_PAYLOAD_TOO_LARGE), 413);
    assert_string_equal(gw_finish_name(GW_FIN_TOOL_CALLS), "tool_calls");
    assert_string_equal(gw_finish_name(GW_FIN_CONTENT_FILTER), "content_filter");
    assert_string_equal(gw_finish_name(GW_FIN_LENGTH), "length");
}

static void test_status_classes(void **state)
{
    (void)state;
    static const struct {
        int status;
        gw_err code;
        bool retry;
    } table[] = {
        {400, GW_ERR_INVALID_REQUEST, false},
        {422, GW_ERR_INVALID_REQUEST, false},
        {401, GW_ERR_PROVIDER_AUTH, false},
        {402, GW_ERR_PROVIDER_QUOTA, false},
        {403, GW_ERR_FORBIDDEN, false},
        {404, GW_ERR_MODEL_NOT_FOUND, false},
        {408, GW_ERR_TIMEOUT, true},
        {409, GW_ERR_PROVIDER_ERROR, true},
        {413, GW_ERR_PAYLOAD_TOO_LARGE, false},
        {429, GW_ERR_RATE_LIMITED, true},
        {499, GW_ERR_CLIENT_CLOSED, false},
        {500, GW_ERR_PROVIDER_ERROR, true},
        {502, GW_ERR_PROVIDER_ERROR, true},
        {503, GW_ERR_MODEL_UNAVAILABLE, true},
        {504, GW_ERR_TIMEOUT, true},
        {529, GW_ERR_MODEL_UNAVAILABLE, true},
        {418, GW_ERR_INVALID_REQUEST, false},
        {302, GW_ERR_PROVIDER_ERROR, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        bool retry = !table[i].retry;
        assert_int_equal(gw_adapter_class_from_status(table[i].status, &retry), table[i].code);
        assert_int_equal(retry, table[i].retry);
    }
}

static void test_durations_and_retry_hints(void **state)
{
    (void)state;
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("1s")), 1000);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("6m0s")), 360000);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("250ms")), 250);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("1.5s")), 1500);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("2h")), 7200000);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("1m30.25s")), 90250);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("20us")), 1); /* rounded up */
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("3")), 3000);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("")), -1);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("5x")), -1);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("s")), -1);
    assert_int_equal(gw_adapter_duration_ms(SLICE_LIT("99999999999999999h")), -1);

    const char *const ms[] = {"retry-after-ms", "250", "retry-after", "9", NULL};
    assert_int_equal(gw_adapter_retry_after_ms(harness_header, (void *)ms), 250);
    const char *const secs[] = {"Retry-After", " 2 ", NULL};
    assert_int_equal(gw_adapter_retry_after_ms(harness_header, (void *)secs), 2000);
    const char *const date[] = {"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT", NULL};
    assert_int_equal(gw_adapter_retry_after_ms(harness_header, (void *)date), -1);
    const char *const tokens_out[] = {"x-ratelimit-remaining-tokens",
                                      "0",
                                      "x-ratelimit-reset-tokens",
                                      "20ms",
                                      "x-ratelimit-reset-requests",
                                      "5s",
                                      NULL};
    assert_int_equal(gw_adapter_retry_after_ms(harness_header, (void *)tokens_out), 20);
    const char *const unknown[] = {"x-ratelimit-reset-tokens", "7s", "x-ratelimit-reset-requests",
                                   "5s", NULL};
    assert_int_equal(gw_adapter_retry_after_ms(harness_header, (void *)unknown), 5000);
    assert_int_equal(gw_adapter_retry_after_ms(NULL, NULL), -1);
}

static int64_t pico(const char *text)
{
    int64_t v = -7;
    assert_int_equal(gw_adapter_usd_to_pico(slice_from_cstr(text), &v), CORE_OK);
    return v;
}

static void test_usd_to_pico(void **state)
{
    (void)state;
    assert_int_equal(pico("0.0000138"), 13800000);
    assert_int_equal(pico("1.38e-05"), 13800000);
    assert_int_equal(pico("1.38E-5"), 13800000);
    assert_int_equal(pico("0.00021"), 210000000);
    assert_int_equal(pico("2"), 2000000000000LL);
    assert_int_equal(pico("0"), 0);
    assert_int_equal(pico("0.0"), 0);
    assert_int_equal(pico("1e-12"), 1);
    assert_int_equal(pico("4e-13"), 0); /* below half a pico */
    assert_int_equal(pico("5e-13"), 1); /* half rounds up */
    assert_int_equal(pico("0.0000000000015"), 2);
    assert_int_equal(pico("1.5e+2"), 150000000000000LL);
    assert_int_equal(pico("0.1234567890123456789"), 123456789012LL); /* 18 digits kept */
    assert_int_equal(pico("1e-400"), 0);
    int64_t v;
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT("-0.1"), &v), CORE_EINVAL);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT(""), &v), CORE_EPARSE);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT("1."), &v), CORE_EPARSE);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT(".5"), &v), CORE_EPARSE);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT("1e"), &v), CORE_EPARSE);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT("abc"), &v), CORE_EPARSE);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT("1e30"), &v), CORE_ETOOBIG);
    assert_int_equal(gw_adapter_usd_to_pico(SLICE_LIT("99999999"), &v), CORE_ETOOBIG);
}

static void test_json_find(void **state)
{
    (void)state;
    slice_t json = SLICE_LIT(" { \"a\" : {\"s\":\"x}\\\"y\",\"n\":[1,{\"cost\":2}],"
                             "\"cost\" : 0.5e-3 } , \"b\":null, \"a2\":true}");
    static const char *const a_cost[] = {"a", "cost"};
    static const char *const b[] = {"b"};
    static const char *const a_s[] = {"a", "s"};
    static const char *const missing[] = {"a", "zzz"};
    slice_t out, body;
    assert_true(gw_adapter_json_find(json, a_cost, 2, &out));
    assert_true(slice_eq_cstr(out, "0.5e-3"));
    assert_int_equal(gw_adapter_cost_at(json, a_cost, 2), 500000000);
    assert_true(gw_adapter_json_find(json, b, 1, &out));
    assert_true(slice_eq_cstr(out, "null"));
    assert_true(gw_adapter_json_find(json, a_s, 2, &out));
    assert_true(gw_adapter_json_string_body(out, &body));
    assert_true(slice_eq_cstr(body, "x}\\\"y"));
    assert_false(gw_adapter_json_find(json, missing, 2, &out));
    assert_int_equal(gw_adapter_cost_at(json, b, 1), -1);
    /* duplicate keys: the last wins, as in jansson */
    static const char *const k[] = {"k"};
    assert_true(gw_adapter_json_find(SLICE_LIT("{\"k\":1,\"k\":2}"), k, 1, &out));
    assert_true(slice_eq_cstr(out, "2"));
    /* malformed input is refused, never read past */
    assert_false(gw_adapter_json_find(SLICE_LIT("{\"k\":"), k, 1, &out));
    assert_false(gw_adapter_json_find(SLICE_LIT("{\"k\" 1}"), k, 1, &out));
    assert_false(gw_adapter_json_find(SLICE_LIT("[1]"), k, 1, &out));
    assert_false(gw_adapter_json_find(SLICE_LIT("{\"k\":\"abc"), k, 1, &out));
    assert_true(gw_adapter_json_first_elem(SLICE_LIT(" [ {\"m\":1} , 2]"), &out));
    assert_true(slice_eq_cstr(out, "{\"m\":1}"));
    assert_false(gw_adapter_json_first_elem(SLICE_LIT("[]"), &out));
}

static void test_safe_message(void **state)
{
    (void)state;
    const char *fb = "fallback";
    assert_true(slice_eq_cstr(gw_adapter_safe_message(SLICE_LIT("plain"), fb), "plain"));
    assert_true(slice_eq_cstr(gw_adapter_safe_message(SLICE_NULL, fb), fb));
    assert_true(slice_eq_cstr(gw_adapter_safe_message(SLICE_LIT("bad key sk-abc"), fb), fb));
    assert_true(slice_eq_cstr(gw_adapter_safe_message(SLICE_LIT("got Bearer xyz"), fb), fb));
    assert_true(slice_eq_cstr(gw_adapter_safe_message(SLICE_LIT("Your API key: ***1"), fb), fb));
    /* long text is clipped at a UTF-8 boundary */
    buf_t b;
    buf_init(&b, 0);
    for (int i = 0; i < 400; i++)
        buf_append_cstr(&b, "\xc3\xa9");
    slice_t m = gw_adapter_safe_message(buf_slice(&b), fb);
    assert_true(m.len <= 512 && m.len >= 510);
    assert_int_equal(m.len % 2, 0);
    buf_free(&b);
}

static void test_token_estimate(void **state)
{
    (void)state;
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("")), 0);
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("Hi")), 1);
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("Hello, world")), 3);    /* 12 bytes / 4 */
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("a b c d e f g h")), 8); /* words win */
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("\xe4\xbd\xa0\xe5\xa5\xbd")), 2); /* 2 CJK */
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("\xc3\xa9t\xc3\xa9")), 2); /* 2+1+2 units */
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("\xf0\x9f\x98\x80")), 1);
    assert_int_equal(gw_tokens_estimate(SLICE_LIT("\xe4\xbd")), 1); /* cut sequence: bytes */

    gw_request req;
    memset(&req, 0, sizeof(req));
    assert_int_equal(gw_tokens_estimate_request(NULL), 0);
    req.system_prompt = "Be brief.";
    req.messages = json_loads("[{\"role\":\"user\",\"content\":\"Hello, world\"},{\"role\":"
                              "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},"
                              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}]}]",
                              0, NULL);
    /* 3 priming + (4 + 3 system) + (4 + 3) + (4 + 1 + 85) */
    assert_int_equal(gw_tokens_estimate_request(&req), 107);
    req.tools = json_loads("[{\"type\":\"function\"}]", 0, NULL); /* 21 bytes -> 6 */
    assert_int_equal(gw_tokens_estimate_request(&req), 113);
    gw_request_release(&req);
    assert_null(req.messages);
    assert_null(req.tools);
    gw_request_release(&req); /* twice is harmless */
}

static void test_provider_find(void **state)
{
    (void)state;
    const char *names[] = {"openai", "deepseek", "fal", "eden", "local"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        const gw_provider_ops *ops = gw_provider_find(names[i]);
        assert_non_null(ops);
        assert_string_equal(ops->name, names[i]);
        assert_non_null(ops->build);
        assert_non_null(ops->stream_new);
        assert_non_null(ops->stream_feed);
        assert_non_null(ops->stream_finish);
        assert_non_null(ops->stream_free);
        assert_non_null(ops->parse_response);
        assert_non_null(ops->map_error);
    }
    assert_null(gw_provider_find("simulator"));
    assert_null(gw_provider_find("OpenAI"));
    assert_null(gw_provider_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_durations_and_retry_hints),
        cmocka_unit_test(test_usd_to_pico),
        cmocka_unit_test(test_json_find),
        cmocka_unit_test(test_safe_message),
        cmocka_unit_test(test_token_estimate),
        cmocka_unit_test(test_provider_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
