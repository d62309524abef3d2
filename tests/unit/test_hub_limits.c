/*
 * test_hub_limits.c - per-org and per-member rpm/tpm limits (src/hub/
 * hub_limits.c): refusals name the bucket and take nothing from any bucket,
 * tpm debt, the JSON settings, the org_limits rows, and the same rules on the
 * Redis backend against a throwaway redis-server (scripts/redis_tmp.sh), where
 * two limiter instances (two "nodes") share buckets and 8 racing threads get
 * exactly the configured number of calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_test_db.h"
#include "hub/hub_gov_schema.h"
#include "hub/hub_limits.h"
#include "hub/hub_schema.h"

#include "core/log.h"

#include <pthread.h>

static char redis_url[128]; /* "" = in-process group */
static int run_counter;

/* Unique org per test so Redis buckets from earlier tests never interfere. */
static void fresh_org(char out[40])
{
    snprintf(out, 40, "org_%d_%lld", ++run_counter, (long long)time_wall_ms());
}

static hub_limits *limiter(void)
{
    hub_limits *l = NULL;
    char err[200] = "";
    assert_int_equal(hub_limits_new(redis_url, &l, err, sizeof err), CORE_OK);
    assert_int_equal(hub_limits_distributed(l), redis_url[0] != '\0');
    return l;
}

static hub_limit_config config(int64_t org_rpm, int64_t org_tpm, int64_t user_rpm, int64_t user_tpm)
{
    hub_limit_config c = {{org_rpm, org_tpm, user_rpm, user_tpm}};
    return c;
}

static void test_rpm_refusal_takes_nothing(void **state)
{
    (void)state;
    hub_limits *l = limiter();
    char org[40];
    fresh_org(org);
    hub_limit_config cfg = config(10, 0, 2, 0);
    int64_t now = time_wall_ms();
    hub_limit_verdict v;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_a", 10, now, &v), CORE_OK);
        assert_true(v.allowed);
    }
    assert_int_equal(v.limit, 2); /* the user bucket has the least room */
    assert_int_equal(v.remaining, 0);
    assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_a", 10, now, &v), CORE_OK);
    assert_false(v.allowed);
    assert_int_equal(v.refused_by, HUB_LIMIT_USER_RPM);
    assert_string_equal(hub_limit_kind_name(v.refused_by), "user_rpm");
    assert_int_equal(v.limit, 2);
    assert_true(v.retry_after_ms > 0 && v.retry_after_ms <= 30000);
    /* the refusal took nothing from the org bucket: 10 - 2 */
    assert_int_equal(hub_limits_peek(l, &cfg, org, "usr_a", now, &v), CORE_OK);
    assert_int_equal(v.bucket_remaining[HUB_LIMIT_ORG_RPM], 8);
    /* another member still gets in */
    assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_b", 10, now, &v), CORE_OK);
    assert_true(v.allowed);
    /* in-process: a minute later the bucket is full again */
    if (!redis_url[0]) {
        assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_a", 10, now + 60000, &v), CORE_OK);
        assert_true(v.allowed);
    }
    hub_limits_free(l);
}

static void test_tpm_and_debt(void **state)
{
    (void)state;
    hub_limits *l = limiter();
    char org[40];
    fresh_org(org);
    hub_limit_config cfg = config(0, 1000, 0, 0);
    int64_t now = time_wall_ms();
    hub_limit_verdict v;
    assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_a", 600, now, &v), CORE_OK);
    assert_true(v.allowed);
    assert_int_equal(v.bucket_remaining[HUB_LIMIT_ORG_TPM], 400);
    assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_a", 600, now, &v), CORE_OK);
    assert_false(v.allowed);
    assert_int_equal(v.refused_by, HUB_LIMIT_ORG_TPM);
    /* the answer used far more than estimated: the bucket goes into debt */
    assert_int_equal(hub_limits_charge(l, &cfg, org, "usr_a", 5000, now), CORE_OK);
    assert_int_equal(hub_limits_admit(l, &cfg, org, "usr_a", 1, now, &v), CORE_OK);
    assert_false(v.allowed);
    assert_int_equal(v.bucket_remaining[HUB_LIMIT_ORG_TPM], 0);
    hub_limits_free(l);
}

static void test_unlimited_and_no_user(void **state)
{
    (void)state;
    hub_limits *l = limiter();
    char org[40];
    fresh_org(org);
    hub_limit_config none = config(0, 0, 0, 0);
    hub_limit_verdict v;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(hub_limits_admit(l, &none, org, "usr_a", 1000000, time_wall_ms(), &v),
                         CORE_OK);
        assert_true(v.allowed);
    }
    assert_int_equal(v.limit, 0);
    /* user limits do not apply without a user */
    hub_limit_config user_only = config(0, 0, 1, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hub_limits_admit(l, &user_only, org, "", 1, time_wall_ms(), &v), CORE_OK);
        assert_true(v.allowed);
    }
    hub_limits_free(l);
}

/* ---- racing threads (and, on Redis, two nodes) ---- */

typedef struct {
    hub_limits *l;
    const char *org;
    int admitted;
} racer;

static void *race(void *ud)
{
    racer *r = ud;
    hub_limit_config cfg = config(50, 0, 0, 0);
    for (int i = 0; i < 20; i++) {
        hub_limit_verdict v;
        if (hub_limits_admit(r->l, &cfg, r->org, "usr_x", 1, time_wall_ms(), &v) == CORE_OK &&
            v.allowed)
            r->admitted++;
    }
    return NULL;
}

static void test_racing_threads_share_the_bucket(void **state)
{
    (void)state;
    hub_limits *node_a = limiter(), *node_b = limiter();
    char org[40];
    fresh_org(org);
    pthread_t t[8];
    racer r[8];
    uint64_t start = time_mono_ms();
    for (int i = 0; i < 8; i++) {
        /* in-process the two instances are two separate nodes: use one */
        r[i] = (racer){redis_url[0] && (i % 2) ? node_b : node_a, org, 0};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        total += r[i].admitted;
    }
    uint64_t elapsed = time_mono_ms() - start;
    /* 160 tries at 50 per minute: 50, plus what refilled while racing */
    int64_t refill = (int64_t)(elapsed * 50 / 60000) + 1;
    assert_true(total >= 50);
    assert_true(total <= 50 + refill);
    hub_limits_free(node_a);
    hub_limits_free(node_b);
}

/* ---- configuration ---- */

static void test_json_settings(void **state)
{
    (void)state;
    hub_limit_config cfg = config(0, 0, 0, 0);
    char err[200];
    json_error_t e;
    json_t *body = json_loads("{\"rpm\":600,\"tpm\":200000,\"user\":{\"rpm\":60}}", 0, &e);
    assert_true(hub_limits_from_json(body, &cfg, err, sizeof err));
    json_decref(body);
    assert_int_equal(cfg.value[HUB_LIMIT_ORG_RPM], 600);
    assert_int_equal(cfg.value[HUB_LIMIT_ORG_TPM], 200000);
    assert_int_equal(cfg.value[HUB_LIMIT_USER_RPM], 60);
    body = json_loads("{\"tpm\":null,\"user_tpm\":5000}", 0, &e);
    assert_true(hub_limits_from_json(body, &cfg, err, sizeof err));
    json_decref(body);
    assert_int_equal(cfg.value[HUB_LIMIT_ORG_TPM], 0);
    assert_int_equal(cfg.value[HUB_LIMIT_USER_TPM], 5000);
    assert_int_equal(cfg.value[HUB_LIMIT_ORG_RPM], 600); /* untouched */
    const char *bad[] = {"{\"rpm\":0}",       "{\"rpm\":-5}",
                         "{\"rpm\":\"600\"}", "{\"tpm\":1000000000001}",
                         "{\"user\":5}",      "[1]"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        body = json_loads(bad[i], 0, &e);
        assert_false(hub_limits_from_json(body, &cfg, err, sizeof err));
        assert_true(strlen(err) > 0);
        json_decref(body);
    }
    json_t *j = hub_limits_json(&cfg);
    assert_int_equal(json_integer_value(json_object_get(j, "rpm")), 600);
    assert_true(json_is_null(json_object_get(j, "tpm")));
    json_decref(j);

    char e2[200];
    hub_limits *l = NULL;
    assert_int_equal(hub_limits_new("http://x", &l, e2, sizeof e2), CORE_EINVAL);
    assert_int_equal(hub_limits_new("redis://:pw@", &l, e2, sizeof e2), CORE_EINVAL);
    assert_int_equal(hub_limits_new("redis://h:99999", &l, e2, sizeof e2), CORE_EINVAL);
}

typedef struct {
    hub_limit_config in, out;
} rows_args;

static core_err rows_job(store_conn *c, void *ud)
{
    rows_args *a = ud;
    core_err err = store_exec(
        c, "INSERT INTO organizations (id, name, created_at) VALUES ('org_l', 'L', 0)", NULL, 0);
    if (!err) err = hub_limits_load(c, "org_l", &a->out);
    if (!err && (a->out.value[0] || a->out.value[3])) return CORE_EINVAL;
    if (!err) err = hub_limits_save(c, "org_l", &a->in, 1);
    if (!err) err = hub_limits_save(c, "org_l", &a->in, 2); /* upsert */
    if (!err) err = hub_limits_load(c, "org_l", &a->out);
    return err;
}

static void test_rows(void **state)
{
    (void)state;
    gw_test_db db;
    store *s = NULL;
    char errbuf[256];
    assert_int_equal(gw_test_db_create(&db, false), 0);
    assert_int_equal(store_open(db.url, 1, &s, errbuf, sizeof errbuf), CORE_OK);
    assert_int_equal(hub_schema_migrate(s, errbuf, sizeof errbuf), CORE_OK);
    assert_int_equal(hub_gov_schema_migrate(s, errbuf, sizeof errbuf), CORE_OK);
    rows_args a = {.in = config(600, 0, 60, 5000)};
    assert_int_equal(store_run_sync(s, rows_job, &a), CORE_OK);
    assert_memory_equal(&a.in, &a.out, sizeof a.in);
    store_close(s);
    gw_test_db_destroy(&db);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest buckets[] = {
        cmocka_unit_test(test_rpm_refusal_takes_nothing),
        cmocka_unit_test(test_tpm_and_debt),
        cmocka_unit_test(test_unlimited_and_no_user),
        cmocka_unit_test(test_racing_threads_share_the_bucket),
    };
    const struct CMUnitTest other[] = {
        cmocka_unit_test(test_json_settings),
        cmocka_unit_test(test_rows),
    };
    int failed = cmocka_run_group_tests_name("hub_limits_config", other, NULL, NULL);
    failed += cmocka_run_group_tests_name("hub_limits_in_process", buckets, NULL, NULL);

    /* Redis: a throwaway server when redis-server is installed. */
    const char *src = getenv("SOURCE_DIR");
    char dir[64] = "/tmp/hub-limits-redis-XXXXXX", cmd[512];
    if (system("command -v redis-server >/dev/null 2>&1") != 0 || !src || !mkdtemp(dir)) {
        printf("hub_limits: redis-server or SOURCE_DIR missing, Redis backend not tested\n");
        return failed;
    }
    rmdir(dir);
    snprintf(cmd, sizeof cmd, "%s/scripts/redis_tmp.sh start %s", src, dir);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(redis_url, sizeof redis_url, p)) {
        if (p) pclose(p);
        printf("hub_limits: could not start redis-server\n");
        return failed + 1;
    }
    pclose(p);
    redis_url[strcspn(redis_url, "\n")] = '\0';
    failed += cmocka_run_group_tests_name("hub_limits_redis", buckets, NULL, NULL);
    snprintf(cmd, sizeof cmd, "%s/scripts/redis_tmp.sh stop %s", src, dir);
    if (system(cmd) != 0) printf("hub_limits: stopping redis-server failed\n");
    return failed;
}
