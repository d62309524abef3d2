/*
 * test_hub_auth.c - teamhub auth building blocks (src/hub/hub_auth.c): CSRF
 * origin check, cookies, secret tokens, throttling, e-mail validation and
 * argon2id password hashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "hub/hub_auth.h"

static bool csrf(const char *method, const char *origin, const char *referer, const char *host)
{
    return hub_csrf_origin_ok(slice_from_cstr(method), slice_from_cstr(origin),
                              slice_from_cstr(referer), slice_from_cstr(host));
}

static void test_csrf(void **state)
{
    (void)state;
    /* safe methods never need an origin */
    assert_true(csrf("GET", NULL, NULL, "localhost:8080"));
    assert_true(csrf("HEAD", "http://evil.example", NULL, "localhost:8080"));
    /* unsafe methods: matching origin */
    assert_true(csrf("POST", "http://localhost:8080", NULL, "localhost:8080"));
    assert_true(csrf("DELETE", "https://LocalHost:8080", NULL, "localhost:8080"));
    assert_true(csrf("PUT", NULL, "http://localhost:8080/app/chat?x=1", "localhost:8080"));
    /* origin wins over referer */
    assert_false(csrf("POST", "http://evil.example", "http://localhost:8080/", "localhost:8080"));
    /* mismatches */
    assert_false(csrf("POST", "http://localhost:8081", NULL, "localhost:8080"));
    assert_false(csrf("POST", "http://localhost", NULL, "localhost:8080"));
    assert_false(csrf("POST", "http://localhost:8080.evil.example", NULL, "localhost:8080"));
    assert_false(csrf("POST", "http://user@localhost:8080", NULL, "localhost:8080"));
    assert_false(csrf("POST", "null", NULL, "localhost:8080"));
    assert_false(csrf("POST", "null", "http://localhost:8080/", "localhost:8080"));
    assert_false(csrf("POST", NULL, NULL, "localhost:8080"));
    assert_false(csrf("POST", "ftp://localhost:8080", NULL, "localhost:8080"));
    assert_false(csrf("POST", "http://localhost:8080", NULL, NULL));
    assert_false(csrf("PATCH", "localhost:8080", NULL, "localhost:8080"));
}

static void test_cookie_get(void **state)
{
    (void)state;
    slice_t header = SLICE_LIT("a=1; teamhub_session=ses_x.yz ; other=\"q\"");
    assert_true(slice_eq_cstr(hub_cookie_get(header, "teamhub_session"), "ses_x.yz"));
    assert_true(slice_eq_cstr(hub_cookie_get(header, "a"), "1"));
    assert_true(slice_eq_cstr(hub_cookie_get(header, "other"), "q"));
    assert_null(hub_cookie_get(header, "teamhub").ptr);
    assert_null(hub_cookie_get(SLICE_LIT("xteamhub_session=1"), "teamhub_session").ptr);
    assert_null(hub_cookie_get(SLICE_NULL, "a").ptr);

    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(hub_cookie_session(&b, "v", 3600, false), CORE_OK);
    assert_string_equal(b.data, "teamhub_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600");
    buf_reset(&b);
    assert_int_equal(hub_cookie_session(&b, "", 0, true), CORE_OK);
    assert_non_null(strstr(b.data, "Max-Age=0; Secure"));
    buf_free(&b);
}

static void test_tokens(void **state)
{
    (void)state;
    char id[40], token[HUB_TOKEN_MAX], hash[HUB_SECRET_HASH_HEX];
    assert_int_equal(hub_token_new("tok_", id, token, hash), CORE_OK);
    assert_int_equal(strncmp(id, "tok_", 4), 0);
    assert_int_equal(strlen(hash), 64);

    slice_t pid, secret;
    assert_int_equal(hub_token_split(slice_from_cstr(token), &pid, &secret), CORE_OK);
    assert_true(slice_eq_cstr(pid, id));
    assert_true(hub_secret_matches(secret, hash));
    /* one changed character fails */
    char *copy = slice_dup(secret);
    copy[0] = copy[0] == 'A' ? 'B' : 'A';
    assert_false(hub_secret_matches(slice_from_cstr(copy), hash));
    free(copy);
    assert_false(hub_secret_matches(secret, NULL));

    /* two tokens never collide */
    char id2[40], token2[HUB_TOKEN_MAX], hash2[HUB_SECRET_HASH_HEX];
    assert_int_equal(hub_token_new("tok_", id2, token2, hash2), CORE_OK);
    assert_string_not_equal(token, token2);
    assert_string_not_equal(hash, hash2);

    assert_int_equal(hub_token_split(SLICE_LIT("nodot"), &pid, &secret), CORE_EPARSE);
    assert_int_equal(hub_token_split(SLICE_LIT(".abc"), &pid, &secret), CORE_EPARSE);
    assert_int_equal(hub_token_split(SLICE_LIT("abc."), &pid, &secret), CORE_EPARSE);
    assert_int_equal(hub_token_split(SLICE_LIT("a.b.c"), &pid, &secret), CORE_EPARSE);
    assert_int_equal(hub_token_split(SLICE_LIT("a b.c"), &pid, &secret), CORE_EPARSE);
    assert_int_equal(hub_token_split(SLICE_LIT("ab.c"), &pid, &secret), CORE_OK);
}

static void test_throttle(void **state)
{
    (void)state;
    hub_throttle t = {0, 0, 0};
    int64_t now = 1000000;
    for (int i = 0; i < HUB_LOGIN_MAX_FAILURES - 1; i++) {
        hub_throttle_fail(&t, now + i);
        assert_int_equal(hub_throttle_wait_ms(&t, now + i), 0);
    }
    hub_throttle_fail(&t, now + 10);
    assert_true(hub_throttle_wait_ms(&t, now + 10) > 0);
    assert_int_equal(hub_throttle_wait_ms(&t, now + 10 + HUB_LOGIN_LOCK_MS), 0);

    /* failures spread over longer than the window never lock */
    hub_throttle u = {0, 0, 0};
    for (int i = 0; i < 3 * HUB_LOGIN_MAX_FAILURES; i++) {
        hub_throttle_fail(&u, now + (int64_t)i * (HUB_LOGIN_WINDOW_MS / 2 + 1));
        assert_int_equal(hub_throttle_wait_ms(&u, now + (int64_t)i * (HUB_LOGIN_WINDOW_MS / 2 + 1)),
                         0);
    }
}

static void test_email(void **state)
{
    (void)state;
    assert_true(hub_email_valid(SLICE_LIT("a@b.co")));
    assert_true(hub_email_valid(SLICE_LIT("admin@demo.teamhub.local")));
    assert_false(hub_email_valid(SLICE_LIT("ab.co")));
    assert_false(hub_email_valid(SLICE_LIT("a@@b.co")));
    assert_false(hub_email_valid(SLICE_LIT("@b.co")));
    assert_false(hub_email_valid(SLICE_LIT("a@b")));
    assert_false(hub_email_valid(SLICE_LIT("a@b.")));
    assert_false(hub_email_valid(SLICE_LIT("a b@c.de")));
    assert_false(hub_email_valid(SLICE_LIT("a@.de")));
}

static void test_password(void **state)
{
    (void)state;
    char hash[HUB_PASSWORD_HASH_MAX];
    assert_int_equal(hub_password_hash(SLICE_LIT("correct horse"), hash), CORE_OK);
    assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
    assert_true(hub_password_verify(SLICE_LIT("correct horse"), hash));
    assert_false(hub_password_verify(SLICE_LIT("correct horsE"), hash));
    assert_false(hub_password_verify(SLICE_LIT("correct horse"), NULL));
    assert_int_equal(hub_password_hash(SLICE_LIT("short"), hash), CORE_EINVAL);
    const char *dummy = hub_password_dummy_hash();
    assert_int_equal(strncmp(dummy, "$argon2id$", 10), 0);
    assert_false(hub_password_verify(SLICE_LIT("correct horse"), dummy));
}

int main(void)
{
    if (hub_auth_init() != CORE_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csrf),   cmocka_unit_test(test_cookie_get),
        cmocka_unit_test(test_tokens), cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_email),  cmocka_unit_test(test_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
