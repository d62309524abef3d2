/*
 * test_keys.c - gateway keys against a real SQLite database: tokens shown
 * once and stored only as SHA-256, verification through the in-memory cache,
 * revocation taking effect at the next reload, AI_GATEWAY_API_KEY seeding,
 * model patterns, and concurrent verification during reloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "gateway/gw_schema.h"
#include "gateway/keys.h"
#include "gw_test_db.h"

#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

static bool use_postgres; /* which backend the running group uses */

typedef struct {
    gw_test_db db;
    store *store;
    gw_keys_cache *cache;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char errbuf[256];
    if (gw_test_db_create(&f->db, use_postgres)) return -1;
    if (store_open(f->db.url, 1, &f->store, errbuf, sizeof errbuf)) return -1;
    if (gw_schema_migrate(f->store, errbuf, sizeof errbuf)) return -1;
    if (gw_keys_cache_new(f->store, &f->cache)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_keys_cache_free(f->cache);
    store_close(f->store);
    gw_test_db_destroy(&f->db);
    free(f);
    return 0;
}

static store_rows *sql_rows(fixture *f, const char *sql)
{
    store_rows *rows = gw_test_db_query(f->store, sql);
    assert_non_null(rows);
    return rows;
}

static void create_key(fixture *f, const gw_key_spec *spec, char token[GW_KEY_TOKEN_SIZE],
                       char id[GW_KEY_ID_SIZE])
{
    assert_int_equal(gw_keys_create(f->store, spec, token, id), CORE_OK);
}

static void test_create_stores_only_a_hash(void **state)
{
    fixture *f = *state;
    char token[GW_KEY_TOKEN_SIZE], token2[GW_KEY_TOKEN_SIZE], id[GW_KEY_ID_SIZE],
        id2[GW_KEY_ID_SIZE];
    gw_key_spec spec = {.name = "ci"};
    create_key(f, &spec, token, id);
    create_key(f, &spec, token2, id2);
    assert_int_equal(strlen(token), GW_KEY_TOKEN_SIZE - 1);
    assert_true(strncmp(token, "aigw_", 5) == 0);
    for (size_t i = 5; token[i]; i++)
        assert_true((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'z') ||
                    (token[i] >= 'A' && token[i] <= 'Z'));
    assert_string_not_equal(token, token2);
    assert_string_not_equal(id, id2);
    assert_true(strncmp(id, "key_", 4) == 0);

    unsigned char digest[32];
    char hex[65];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);

    store_rows *rows = sql_rows(f, "SELECT id, name, prefix, token_hash, rpm, tpm, allowed_models,"
                                   " created_at, revoked_at FROM gateway_keys ORDER BY id");
    assert_int_equal(store_rows_count(rows), 2);
    size_t row = strcmp(store_rows_get(rows, 0, 0), id) == 0 ? 0 : 1;
    assert_string_equal(store_rows_get(rows, row, 0), id);
    assert_string_equal(store_rows_get(rows, row, 1), "ci");
    assert_int_equal(strlen(store_rows_get(rows, row, 2)), 11);
    assert_true(strncmp(store_rows_get(rows, row, 2), token, 11) == 0);
    assert_string_equal(store_rows_get(rows, row, 3), hex);
    assert_null(store_rows_get(rows, row, 4));
    assert_null(store_rows_get(rows, row, 6));
    assert_null(store_rows_get(rows, row, 8));
    /* The token itself is nowhere in the table. */
    for (size_t r = 0; r < store_rows_count(rows); r++)
        for (size_t c = 0; c < store_rows_columns(rows); c++) {
            const char *v = store_rows_get(rows, r, c);
            assert_true(!v || (!strstr(v, token) && !strstr(v, token + 11)));
        }
    store_rows_free(rows);
}

static void test_verify_and_revoke(void **state)
{
    fixture *f = *state;
    char token[GW_KEY_TOKEN_SIZE], id[GW_KEY_ID_SIZE];
    const char *patterns[] = {"openai/*", "simulator/sim-chat"};
    gw_key_spec spec = {
        .name = "team-a", .rpm = 60, .tpm = 100000, .models = patterns, .nmodels = 2};
    gw_key *key = NULL, *held = NULL;
    create_key(f, &spec, token, id);

    /* Not in the cache until a reload. */
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(token), &key), CORE_ENOTFOUND);
    assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    assert_int_equal(gw_keys_count(f->cache), 1);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(token), &held), CORE_OK);
    assert_string_equal(held->id, id);
    assert_string_equal(held->name, "team-a");
    assert_int_equal(held->rpm, 60);
    assert_int_equal(held->tpm, 100000);
    assert_int_equal(held->nmodels, 2);
    assert_string_equal(held->models[0], "openai/*");
    assert_true(gw_keys_model_allowed(held, SLICE_LIT("openai"), SLICE_LIT("gpt-4o")));
    assert_true(gw_keys_model_allowed(held, SLICE_LIT("simulator"), SLICE_LIT("sim-chat")));
    assert_false(gw_keys_model_allowed(held, SLICE_LIT("simulator"), SLICE_LIT("sim-fast")));
    assert_false(gw_keys_model_allowed(held, SLICE_LIT("deepseek"), SLICE_LIT("deepseek-chat")));

    /* Near misses. */
    char wrong[GW_KEY_TOKEN_SIZE];
    memcpy(wrong, token, sizeof wrong);
    wrong[20] = wrong[20] == 'a' ? 'b' : 'a';
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(wrong), &key), CORE_ENOTFOUND);
    assert_int_equal(gw_keys_verify(f->cache, (slice_t){token, strlen(token) - 1}, &key),
                     CORE_ENOTFOUND);
    assert_int_equal(gw_keys_verify(f->cache, SLICE_LIT(""), &key), CORE_EINVAL);
    char huge[GW_KEY_TOKEN_MAX + 2];
    memset(huge, 'a', sizeof huge);
    assert_int_equal(gw_keys_verify(f->cache, (slice_t){huge, sizeof huge}, &key), CORE_EINVAL);

    /* Revoke: effective at the next reload; a key already held stays valid. */
    assert_int_equal(gw_keys_revoke(f->store, id), CORE_OK);
    assert_int_equal(gw_keys_revoke(f->store, id), CORE_ENOTFOUND);
    assert_int_equal(gw_keys_revoke(f->store, "key_nope"), CORE_ENOTFOUND);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(token), &key), CORE_OK);
    gw_key_release(key);
    assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    assert_int_equal(gw_keys_count(f->cache), 0);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(token), &key), CORE_ENOTFOUND);
    assert_string_equal(held->name, "team-a");
    gw_key_release(held);
}

static void test_list_never_returns_hashes(void **state)
{
    fixture *f = *state;
    char token[GW_KEY_TOKEN_SIZE], id_a[GW_KEY_ID_SIZE], id_b[GW_KEY_ID_SIZE];
    const char *patterns[] = {"fal/google/*"};
    gw_key_spec a = {.name = "alpha", .tpm = 5000};
    gw_key_spec b = {.name = "beta", .models = patterns, .nmodels = 1};
    create_key(f, &a, token, id_a);
    create_key(f, &b, token, id_b);
    assert_int_equal(gw_keys_revoke(f->store, id_a), CORE_OK);
    json_t *list = NULL;
    assert_int_equal(gw_keys_list(f->store, &list), CORE_OK);
    assert_int_equal(json_array_size(list), 2);
    char *text = json_dumps(list, 0);
    assert_null(strstr(text, "hash"));
    assert_null(strstr(text, token + 11));
    free(text);
    size_t i;
    json_t *item;
    int seen = 0;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        if (!strcmp(id, id_a)) {
            seen |= 1;
            assert_string_equal(json_string_value(json_object_get(item, "name")), "alpha");
            assert_int_equal(json_integer_value(json_object_get(item, "tpm")), 5000);
            assert_true(json_is_integer(json_object_get(item, "revoked_at")));
            assert_true(json_is_null(json_object_get(item, "models")));
        } else {
            seen |= 2;
            assert_string_equal(id, id_b);
            assert_true(json_is_null(json_object_get(item, "revoked_at")));
            json_t *models = json_object_get(item, "models");
            assert_int_equal(json_array_size(models), 1);
            assert_string_equal(json_string_value(json_array_get(models, 0)), "fal/google/*");
            assert_true(strncmp(json_string_value(json_object_get(item, "prefix")), "aigw_", 5) ==
                        0);
        }
    }
    assert_int_equal(seen, 3);
    json_decref(list);
}

static void test_create_rejects_bad_specs(void **state)
{
    fixture *f = *state;
    char token[GW_KEY_TOKEN_SIZE], id[GW_KEY_ID_SIZE];
    const char *spaced[] = {"openai/ gpt"};
    const char *comma[] = {"a,b"};
    const char *empty[] = {""};
    /* Invalid UTF-8: jansson refuses it; it must not silently drop out of
     * the allow-list (leaving only the valid pattern). */
    const char *not_utf8[] = {"openai/*", "simulator/\xff*"};
    char long_name[GW_KEY_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    gw_key_spec specs[] = {
        {.name = ""},
        {.name = NULL},
        {.name = long_name},
        {.name = "x", .rpm = -1},
        {.name = "x", .tpm = -5},
        {.name = "x", .models = spaced, .nmodels = 1},
        {.name = "x", .models = comma, .nmodels = 1},
        {.name = "x", .models = empty, .nmodels = 1},
        {.name = "x", .models = NULL, .nmodels = 1},
        {.name = "x", .models = not_utf8, .nmodels = 2},
    };
    for (size_t i = 0; i < ARRAY_LEN(specs); i++)
        assert_int_equal(gw_keys_create(f->store, &specs[i], token, id), CORE_EINVAL);
    store_rows *rows = sql_rows(f, "SELECT COUNT(*) FROM gateway_keys");
    assert_int_equal(store_rows_i64(rows, 0, 0, -1), 0);
    store_rows_free(rows);
}

static void test_seed_env(void **state)
{
    fixture *f = *state;
    gw_key *key = NULL;
    const char *first = "local-dev-key-0123456789";
    const char *second = "rotated-dev-key-9876543210";
    assert_int_equal(gw_keys_seed_env(f->store, slice_from_cstr(first)), CORE_OK);
    assert_int_equal(gw_keys_seed_env(f->store, slice_from_cstr(first)), CORE_OK); /* idempotent */
    store_rows *rows = sql_rows(f, "SELECT name, prefix FROM gateway_keys");
    assert_int_equal(store_rows_count(rows), 1);
    assert_string_equal(store_rows_get(rows, 0, 0), GW_KEY_ENV_NAME);
    assert_string_equal(store_rows_get(rows, 0, 1), "loca...");
    store_rows_free(rows);
    assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(first), &key), CORE_OK);
    assert_string_equal(key->name, GW_KEY_ENV_NAME);
    assert_int_equal(key->nmodels, 0);
    assert_true(gw_keys_model_allowed(key, SLICE_LIT("anything"), SLICE_LIT("at/all")));
    gw_key_release(key);

    /* The variable changed: only the new value works. */
    assert_int_equal(gw_keys_seed_env(f->store, slice_from_cstr(second)), CORE_OK);
    assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(first), &key), CORE_ENOTFOUND);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(second), &key), CORE_OK);
    gw_key_release(key);
    assert_int_equal(gw_keys_count(f->cache), 1);

    /* An admin revoked it: restarting with the same value does not revive it. */
    rows = sql_rows(f, "SELECT id FROM gateway_keys WHERE revoked_at IS NULL");
    char id[GW_KEY_ID_SIZE];
    snprintf(id, sizeof id, "%s", store_rows_get(rows, 0, 0));
    store_rows_free(rows);
    assert_int_equal(gw_keys_revoke(f->store, id), CORE_OK);
    assert_int_equal(gw_keys_seed_env(f->store, slice_from_cstr(second)), CORE_ECANCELED);
    assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(second), &key), CORE_ENOTFOUND);

    assert_int_equal(gw_keys_seed_env(f->store, SLICE_LIT("")), CORE_EINVAL);
    /* A gateway-style token shows its usual prefix. */
    assert_int_equal(
        gw_keys_seed_env(f->store, SLICE_LIT("aigw_0123456789abcdefghijABCDEFGHIJ0123456789x")),
        CORE_OK);
    rows = sql_rows(f, "SELECT prefix FROM gateway_keys WHERE revoked_at IS NULL");
    assert_string_equal(store_rows_get(rows, 0, 0), "aigw_012345");
    store_rows_free(rows);
}

static void test_model_patterns(void **state)
{
    (void)state;
    char *patterns[] = {"openai/*", "fal/google/*", "simulator/sim-chat", "*/gpt-4o-mini",
                        "eden/*/gpt-4*"};
    gw_key key = {.models = patterns, .nmodels = ARRAY_LEN(patterns)};
    struct {
        const char *provider, *model;
        bool allowed;
    } cases[] = {
        {"openai", "gpt-4o", true},
        {"openai", "o3", true},
        {"openaix", "gpt-4o", false},
        {"fal", "google/gemini-2.5-flash", true},
        {"fal", "anthropic/claude-sonnet-4.5", false},
        {"simulator", "sim-chat", true},
        {"simulator", "sim-chatty", false},
        {"simulator", "sim-cha", false},
        {"deepseek", "gpt-4o-mini", true},
        {"eden", "openai/gpt-4o", true},
        {"eden", "anthropic/claude-sonnet-4-5", false},
        {"", "", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (gw_keys_model_allowed(&key, slice_from_cstr(cases[i].provider),
                                  slice_from_cstr(cases[i].model)) != cases[i].allowed)
            fail_msg("%s/%s should be %s", cases[i].provider, cases[i].model,
                     cases[i].allowed ? "allowed" : "refused");
    /* An embedded NUL cannot cut the id short to match "simulator/sim-chat". */
    assert_false(
        gw_keys_model_allowed(&key, SLICE_LIT("simulator"), (slice_t){"sim-chat\0evil", 13}));
    char *star[] = {"*"};
    gw_key all = {.models = star, .nmodels = 1};
    assert_true(gw_keys_model_allowed(&all, SLICE_LIT("x"), SLICE_LIT("y/z")));
    gw_key none = {0};
    assert_true(gw_keys_model_allowed(&none, SLICE_LIT("x"), SLICE_LIT("y")));
    assert_true(gw_keys_model_allowed(NULL, SLICE_LIT("x"), SLICE_LIT("y")));
}

#define MANY_KEYS 150

typedef struct {
    gw_keys_cache *cache;
    char (*tokens)[GW_KEY_TOKEN_SIZE];
    int stop; /* atomic */
    long verified;
    int failures;
} verifier_args;

static void *verifier_main(void *arg)
{
    verifier_args *a = arg;
    for (size_t i = 0; !__atomic_load_n(&a->stop, __ATOMIC_RELAXED); i = (i + 1) % MANY_KEYS) {
        gw_key *key = NULL;
        if (gw_keys_verify(a->cache, slice_from_cstr(a->tokens[i]), &key) != CORE_OK) {
            a->failures++;
            continue;
        }
        gw_key_release(key);
        __atomic_add_fetch(&a->verified, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_many_keys_concurrent_reloads(void **state)
{
    fixture *f = *state;
    char(*tokens)[GW_KEY_TOKEN_SIZE] = calloc(MANY_KEYS, GW_KEY_TOKEN_SIZE);
    char id[GW_KEY_ID_SIZE];
    for (int i = 0; i < MANY_KEYS; i++) {
        char name[32];
        snprintf(name, sizeof name, "k%d", i);
        gw_key_spec spec = {.name = name, .rpm = i};
        create_key(f, &spec, tokens[i], id);
    }
    assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    assert_int_equal(gw_keys_count(f->cache), MANY_KEYS);
    for (int i = 0; i < MANY_KEYS; i++) {
        gw_key *key = NULL;
        char name[32];
        snprintf(name, sizeof name, "k%d", i);
        assert_int_equal(gw_keys_verify(f->cache, slice_from_cstr(tokens[i]), &key), CORE_OK);
        assert_string_equal(key->name, name);
        assert_int_equal(key->rpm, i);
        gw_key_release(key);
    }
    pthread_t threads[3];
    verifier_args args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (verifier_args){f->cache, tokens, 0, 0, 0};
        pthread_create(&threads[i], NULL, verifier_main, &args[i]);
    }
    /* Every reader is running before the reloads start. */
    for (int i = 0; i < 3; i++)
        while (__atomic_load_n(&args[i].verified, __ATOMIC_RELAXED) == 0)
            sched_yield();
    for (int i = 0; i < 20; i++)
        assert_int_equal(gw_keys_reload(f->cache), CORE_OK);
    for (int i = 0; i < 3; i++) {
        __atomic_store_n(&args[i].stop, 1, __ATOMIC_RELAXED);
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].failures, 0);
        assert_true(args[i].verified > 0);
    }
    free(tokens);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_patterns),
        cmocka_unit_test_setup_teardown(test_create_stores_only_a_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_never_returns_hashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_rejects_bad_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys_concurrent_reloads, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("keys_sqlite", tests, NULL, NULL);
    if (gw_test_db_pg_url()) {
        use_postgres = true;
        failed += cmocka_run_group_tests_name("keys_postgres", tests, NULL, NULL);
    }
    return failed;
}
