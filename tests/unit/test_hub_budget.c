/*
 * test_hub_budget.c - budgets with reservations (src/hub/hub_budget.c) on a
 * real database: reserve/settle/release arithmetic, refusal numbers, the
 * org -> user -> agent scopes, period roll-over, stale-hold reclaim, alerts
 * at thresholds, and no overshoot when 16 threads with their own connections
 * race for a budget that covers 50 calls. Runs on SQLite, and on PostgreSQL
 * too when TEST_PG_URL is set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_test_db.h"
#include "hub/hub_budget.h"
#include "hub/hub_gov_schema.h"
#include "hub/hub_schema.h"

#include "core/log.h"

#include <pthread.h>

static bool use_postgres;

typedef struct {
    gw_test_db db;
    store *store;
} fixture;

#define ORG   "org_test"
#define USER1 "usr_one"
#define USER2 "usr_two"
#define AGENT "agt_one"
#define T0    1767225600000LL /* 2026-01-01T00:00:00Z */
#define USD   PICO_PER_USD

static core_err seed_job(store_conn *c, void *ud)
{
    (void)ud;
    core_err err = store_exec(c,
                              "INSERT INTO organizations (id, name, created_at) VALUES "
                              "('org_test', 'Test', 0), ('org_other', 'Other', 0)",
                              NULL, 0);
    return err;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char errbuf[256];
    if (gw_test_db_create(&f->db, use_postgres)) return -1;
    if (store_open(f->db.url, 1, &f->store, errbuf, sizeof errbuf)) return -1;
    if (hub_schema_migrate(f->store, errbuf, sizeof errbuf)) return -1;
    if (hub_gov_schema_migrate(f->store, errbuf, sizeof errbuf)) {
        fprintf(stderr, "%s\n", errbuf);
        return -1;
    }
    if (store_run_sync(f->store, seed_job, NULL)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->store);
    gw_test_db_destroy(&f->db);
    free(f);
    return 0;
}

/* ---- job wrappers: each runs one transaction, retried on lock conflicts ---- */

typedef struct {
    const char *org, *user, *agent;
    hub_budget_scope scope;
    const char *subject;
    bool has_limit;
    int64_t limit, amount, cost, now;
    bool released;
    const json_t *thresholds;
    const char *webhook;
    char reservation[40];
    hub_budget_hold hold;
    hub_budget_info info;
    hub_budget_alerts alerts;
    int reclaimed;
} job_args;

static core_err in_tx(store_conn *c, job_args *a, core_err (*fn)(store_conn *, job_args *))
{
    core_err err = CORE_EBUSY;
    for (int attempt = 0; attempt < 50 && err == CORE_EBUSY; attempt++) {
        err = store_begin(c);
        if (!err) err = fn(c, a);
        if (!err)
            err = store_commit(c);
        else
            store_rollback(c);
    }
    return err;
}

static core_err do_set(store_conn *c, job_args *a)
{
    return hub_budget_set_tx(c, a->org, a->scope, a->subject, a->has_limit, a->limit, a->thresholds,
                             a->webhook, a->now, NULL);
}

static core_err do_reserve(store_conn *c, job_args *a)
{
    hub_budget_subject who = {a->org, a->user, a->agent, "conv_1", "simulator", "sim-fast"};
    core_err err = hub_budget_reserve_tx(c, &who, a->amount, a->now, 60000, &a->hold);
    if (!err && a->hold.refused) return CORE_ECANCELED; /* roll back the earlier holds */
    return err;
}

static core_err do_settle(store_conn *c, job_args *a)
{
    memset(&a->alerts, 0, sizeof a->alerts);
    return hub_budget_settle_tx(c, a->reservation, a->cost, a->released, "msg_1", a->now,
                                &a->alerts);
}

static core_err do_get(store_conn *c, job_args *a)
{
    hub_budget_info_free(&a->info);
    return hub_budget_get_tx(c, a->org, a->scope, a->subject, a->now, &a->info);
}

static core_err do_reclaim(store_conn *c, job_args *a)
{
    return hub_budget_reclaim_stale(c, a->org, a->now, 100, &a->reclaimed);
}

#define RUN(fn)                                                                                    \
    static core_err fn##_job(store_conn *c, void *ud)                                              \
    {                                                                                              \
        return in_tx(c, ud, fn);                                                                   \
    }
RUN(do_set)
RUN(do_get)
RUN(do_settle)
RUN(do_reclaim)

static core_err do_reserve_job(store_conn *c, void *ud)
{
    core_err err = in_tx(c, ud, do_reserve);
    return err == CORE_ECANCELED ? CORE_OK : err;
}

static void set_budget(fixture *f, hub_budget_scope scope, const char *subject, int64_t limit,
                       int64_t now)
{
    job_args a = {.org = ORG,
                  .scope = scope,
                  .subject = subject,
                  .has_limit = true,
                  .limit = limit,
                  .now = now};
    assert_int_equal(store_run_sync(f->store, do_set_job, &a), CORE_OK);
}

static hub_budget_hold reserve(fixture *f, const char *user, const char *agent, int64_t amount,
                               int64_t now, char id_out[40])
{
    job_args a = {.org = ORG, .user = user, .agent = agent, .amount = amount, .now = now};
    assert_int_equal(store_run_sync(f->store, do_reserve_job, &a), CORE_OK);
    if (id_out) snprintf(id_out, 40, "%s", a.hold.reservation_id);
    return a.hold;
}

static hub_budget_alerts settle(fixture *f, const char *id, int64_t cost, bool released,
                                int64_t now)
{
    job_args a = {.cost = cost, .released = released, .now = now};
    snprintf(a.reservation, sizeof a.reservation, "%s", id);
    assert_int_equal(store_run_sync(f->store, do_settle_job, &a), CORE_OK);
    return a.alerts;
}

static hub_budget_info get(fixture *f, hub_budget_scope scope, const char *subject, int64_t now)
{
    job_args a = {.org = ORG, .scope = scope, .subject = subject, .now = now};
    assert_int_equal(store_run_sync(f->store, do_get_job, &a), CORE_OK);
    return a.info;
}

typedef struct {
    const char *sql;
    int64_t value;
} scalar_args;

static core_err scalar_job(store_conn *c, void *ud)
{
    scalar_args *a = ud;
    store_rows *rows = NULL;
    core_err err = store_query(c, a->sql, NULL, 0, &rows);
    if (!err) a->value = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return err;
}

static int64_t scalar(fixture *f, const char *sql)
{
    scalar_args a = {sql, -1};
    assert_int_equal(store_run_sync(f->store, scalar_job, &a), CORE_OK);
    return a.value;
}

/* ---- tests ---- */

static void test_reserve_settle_release(void **state)
{
    fixture *f = *state;
    set_budget(f, HUB_BUDGET_ORG, ORG, 10 * USD, T0);
    char r1[40], r2[40];
    hub_budget_hold h = reserve(f, USER1, "", 3 * USD, T0, r1);
    assert_false(h.refused);
    assert_true(strncmp(r1, "bres_", 5) == 0);
    h = reserve(f, USER1, "", 6 * USD, T0, r2);
    assert_false(h.refused);

    hub_budget_info b = get(f, HUB_BUDGET_ORG, ORG, T0);
    assert_true(b.exists && b.has_limit);
    assert_int_equal(b.reserved_pico, 9 * USD);
    assert_int_equal(b.spent_pico, 0);
    assert_int_equal(b.remaining_pico, 1 * USD);
    hub_budget_info_free(&b);

    /* over the remaining 1 USD: refused with the numbers of the org budget */
    h = reserve(f, USER1, "", 2 * USD, T0, NULL);
    assert_true(h.refused);
    assert_int_equal(h.scope, HUB_BUDGET_ORG);
    assert_int_equal(h.limit_pico, 10 * USD);
    assert_int_equal(h.reserved_pico, 9 * USD);
    assert_int_equal(h.remaining_pico, 1 * USD);

    /* settle below the hold: the difference comes back */
    settle(f, r1, 1234567, false, T0 + 1);
    settle(f, r2, 0, true, T0 + 2);
    settle(f, r2, 999, false, T0 + 3); /* a second settle is a no-op */
    b = get(f, HUB_BUDGET_ORG, ORG, T0);
    assert_int_equal(b.reserved_pico, 0);
    assert_int_equal(b.spent_pico, 1234567);
    assert_int_equal(b.remaining_pico, 10 * USD - 1234567);
    json_t *j = hub_budget_info_json(&b, HUB_BUDGET_ORG, ORG);
    assert_string_equal(json_string_value(json_object_get(j, "monthly_limit_usd")), "10.000000");
    assert_string_equal(json_string_value(json_object_get(j, "spent_usd")), "0.000001234567");
    assert_string_equal(json_string_value(json_object_get(j, "period_start")), "2026-01");
    json_decref(j);
    hub_budget_info_free(&b);
    assert_int_equal(scalar(f, "SELECT COUNT(*) FROM budget_reservations WHERE state = "
                               "'released' AND settled_pico = 0"),
                     1);
    assert_int_equal(scalar(f, "SELECT COUNT(*) FROM budget_reservations WHERE message_id = "
                               "'msg_1'"),
                     2);

    /* unknown reservations are reported */
    job_args a = {.cost = 1, .now = T0};
    snprintf(a.reservation, sizeof a.reservation, "bres_nope");
    assert_int_equal(store_run_sync(f->store, do_settle_job, &a), CORE_ENOTFOUND);
}

static void test_scopes_and_no_budget(void **state)
{
    fixture *f = *state;
    /* no budget at all: reservations still form the ledger */
    char r[40];
    hub_budget_hold h = reserve(f, USER1, AGENT, 5 * USD, T0, r);
    assert_false(h.refused);
    settle(f, r, 700, false, T0);
    hub_budget_info b = get(f, HUB_BUDGET_USER, USER1, T0);
    assert_false(b.exists);
    assert_int_equal(b.spent_pico, 700); /* from the ledger */
    hub_budget_info_free(&b);

    /* a user budget created now starts with the month's ledger spend */
    set_budget(f, HUB_BUDGET_USER, USER1, 1000, T0);
    b = get(f, HUB_BUDGET_USER, USER1, T0);
    assert_true(b.exists);
    assert_int_equal(b.spent_pico, 700);
    assert_int_equal(b.remaining_pico, 300);
    hub_budget_info_free(&b);

    set_budget(f, HUB_BUDGET_ORG, ORG, 1 * USD, T0);
    set_budget(f, HUB_BUDGET_AGENT, AGENT, 250, T0);
    /* the user's budget refuses although the org's has room */
    h = reserve(f, USER1, "", 301, T0, NULL);
    assert_true(h.refused);
    assert_int_equal(h.scope, HUB_BUDGET_USER);
    assert_int_equal(h.remaining_pico, 300);
    /* the org's hold from that attempt was rolled back */
    b = get(f, HUB_BUDGET_ORG, ORG, T0);
    assert_int_equal(b.reserved_pico, 0);
    hub_budget_info_free(&b);
    /* the agent's budget is the tightest for this call */
    h = reserve(f, USER1, AGENT, 260, T0, NULL);
    assert_true(h.refused);
    assert_int_equal(h.scope, HUB_BUDGET_AGENT);
    /* another user is not bound by USER1's budget */
    h = reserve(f, USER2, "", 5000, T0, r);
    assert_false(h.refused);
    b = get(f, HUB_BUDGET_USER, USER1, T0);
    assert_int_equal(b.reserved_pico, 0);
    hub_budget_info_free(&b);

    /* a budget created while a call runs is not decremented for its hold */
    char r2[40];
    h = reserve(f, USER2, "", 100, T0, r2);
    assert_false(h.refused);
    set_budget(f, HUB_BUDGET_USER, USER2, 10 * USD, T0);
    settle(f, r2, 40, false, T0);
    b = get(f, HUB_BUDGET_USER, USER2, T0);
    assert_int_equal(b.reserved_pico, 0);
    assert_int_equal(b.spent_pico, 40);
    hub_budget_info_free(&b);
}

static void test_period_roll_and_reclaim(void **state)
{
    fixture *f = *state;
    set_budget(f, HUB_BUDGET_ORG, ORG, 1000, T0);
    char r1[40], r2[40];
    reserve(f, USER1, "", 400, T0, r1);
    settle(f, r1, 400, false, T0);
    hub_budget_hold h = reserve(f, USER1, "", 500, T0, r2); /* held, never settled */
    assert_false(h.refused);
    h = reserve(f, USER1, "", 200, T0, NULL);
    assert_true(h.refused); /* 400 spent + 500 held + 200 > 1000 */

    /* the hold expires (TTL 60 s in these tests): reclaimed, room again */
    job_args a = {.org = ORG, .now = T0 + 61000};
    assert_int_equal(store_run_sync(f->store, do_reclaim_job, &a), CORE_OK);
    assert_int_equal(a.reclaimed, 1);
    hub_budget_info b = get(f, HUB_BUDGET_ORG, ORG, T0 + 61000);
    assert_int_equal(b.reserved_pico, 0);
    assert_int_equal(b.spent_pico, 400);
    hub_budget_info_free(&b);
    /* a late settle of a reclaimed hold still counts its cost, once */
    settle(f, r2, 50, false, T0 + 62000);
    b = get(f, HUB_BUDGET_ORG, ORG, T0 + 62000);
    assert_int_equal(b.reserved_pico, 0);
    assert_int_equal(b.spent_pico, 450);
    hub_budget_info_free(&b);

    /* next month: spend restarts, a hold from January settles into January */
    char r3[40];
    int64_t jan31 = T0 + 30LL * 86400000 + 3600000;
    int64_t feb1 = T0 + 31LL * 86400000 + 1000;
    reserve(f, USER1, "", 100, jan31, r3);
    b = get(f, HUB_BUDGET_ORG, ORG, feb1);
    assert_string_equal(b.period, "2026-02");
    assert_int_equal(b.spent_pico, 0);
    assert_int_equal(b.reserved_pico, 100);
    hub_budget_info_free(&b);
    settle(f, r3, 90, false, feb1);
    b = get(f, HUB_BUDGET_ORG, ORG, feb1);
    assert_int_equal(b.spent_pico, 0);
    assert_int_equal(b.reserved_pico, 0);
    hub_budget_info_free(&b);
}

static void test_alerts(void **state)
{
    fixture *f = *state;
    json_t *thr = json_pack("[i,i,i]", 50, 80, 100);
    job_args s = {.org = ORG,
                  .scope = HUB_BUDGET_ORG,
                  .subject = ORG,
                  .has_limit = true,
                  .limit = 1000,
                  .thresholds = thr,
                  .webhook = "http://127.0.0.1:9/hook",
                  .now = T0};
    assert_int_equal(store_run_sync(f->store, do_set_job, &s), CORE_OK);
    char r[40];
    reserve(f, USER1, "", 450, T0, r);
    hub_budget_alerts al = settle(f, r, 450, false, T0);
    assert_int_equal(al.count, 0);
    reserve(f, USER1, "", 400, T0, r);
    al = settle(f, r, 400, false, T0); /* 850: crosses 50 and 80 */
    assert_int_equal(al.count, 2);
    assert_int_equal(al.alerts[0].threshold, 50);
    assert_int_equal(al.alerts[1].threshold, 80);
    assert_int_equal(al.alerts[1].spent_pico, 850);
    assert_string_equal(al.alerts[1].webhook_url, "http://127.0.0.1:9/hook");
    reserve(f, USER1, "", 100, T0, r);
    al = settle(f, r, 100, false, T0); /* 950: nothing new */
    assert_int_equal(al.count, 0);
    /* lowering the limit records the 100% alert at once */
    s.limit = 900;
    assert_int_equal(store_run_sync(f->store, do_set_job, &s), CORE_OK);
    assert_int_equal(scalar(f, "SELECT COUNT(*) FROM budget_alerts"), 3);
    assert_int_equal(scalar(f, "SELECT COUNT(*) FROM budget_alerts WHERE threshold = 100 AND "
                               "webhook_state = 'pending'"),
                     1);
    json_decref(thr);

    json_t *good = json_pack("[i]", 90);
    assert_true(hub_budget_thresholds_valid(good));
    json_decref(good);
    json_t *bad = json_pack("[i,i]", 50, 50);
    assert_false(hub_budget_thresholds_valid(bad));
    json_decref(bad);
    bad = json_pack("[i]", 0);
    assert_false(hub_budget_thresholds_valid(bad));
    json_decref(bad);
}

/* ---- concurrency: 16 threads, each with its own store and connection ---- */

#define RACERS       16
#define PER_RACER    12
#define CALL_MAX     (20 * 1000000LL) /* each reservation: 20 micro-USD */
#define CALL_ACTUAL  (13 * 1000000LL)
#define BUDGET_CALLS 50

typedef struct {
    const char *url;
    int granted, refused;
    core_err err;
} racer;

static void *race(void *ud)
{
    racer *r = ud;
    store *s = NULL;
    char errbuf[256];
    r->err = store_open(r->url, 1, &s, errbuf, sizeof errbuf);
    if (r->err) return NULL;
    for (int i = 0; i < PER_RACER && !r->err; i++) {
        job_args a = {.org = ORG, .user = USER1, .amount = CALL_MAX, .now = T0};
        r->err = store_run_sync(s, do_reserve_job, &a);
        if (r->err) break;
        if (a.hold.refused) {
            r->refused++;
            continue;
        }
        r->granted++;
        job_args st = {.cost = CALL_ACTUAL, .now = T0};
        snprintf(st.reservation, sizeof st.reservation, "%s", a.hold.reservation_id);
        r->err = store_run_sync(s, do_settle_job, &st);
    }
    store_close(s);
    return NULL;
}

static void test_no_overshoot_under_concurrency(void **state)
{
    fixture *f = *state;
    set_budget(f, HUB_BUDGET_ORG, ORG, BUDGET_CALLS * CALL_MAX, T0);
    pthread_t threads[RACERS];
    racer racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){.url = f->db.url};
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    int granted = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(racers[i].err, CORE_OK);
        granted += racers[i].granted;
        refused += racers[i].refused;
    }
    assert_int_equal(granted + refused, RACERS * PER_RACER);
    /* settled calls cost less than their holds, so more than 50 fit - but
     * the settled total never passes the limit */
    hub_budget_info b = get(f, HUB_BUDGET_ORG, ORG, T0);
    assert_true(granted >= BUDGET_CALLS);
    assert_true(refused > 0);
    assert_int_equal(b.reserved_pico, 0);
    assert_int_equal(b.spent_pico, (int64_t)granted * CALL_ACTUAL);
    assert_true(b.spent_pico <= BUDGET_CALLS * CALL_MAX);
    hub_budget_info_free(&b);
    assert_int_equal(scalar(f, "SELECT COALESCE(SUM(settled_pico), 0) FROM budget_reservations"),
                     (int64_t)granted * CALL_ACTUAL);
}

/* ---- pure helpers ---- */

static void test_max_cost_and_cheaper_models(void **state)
{
    (void)state;
    price_t p = {.unit = PRICE_PER_1M_TOKENS, .input_micro = 1000000, .output_micro = 2000000};
    int64_t cost = 0;
    /* (100*1.5 + 64) input at 1 USD/M + 50 output at 2 USD/M */
    assert_int_equal(hub_budget_max_cost(&p, 100, 50, &cost), CORE_OK);
    assert_int_equal(cost, 214 * 1000000LL + 50 * 2000000LL);
    assert_int_equal(hub_budget_max_cost(&p, -1, 50, &cost), CORE_EINVAL);

    json_error_t e;
    json_t *reg = json_loads(
        "[{\"provider\":\"a\",\"model\":\"big\",\"status\":\"available\",\"max_output_tokens\":"
        "1000,\"pricing\":{\"unit\":\"per_1m_tokens\",\"input\":\"10\",\"output\":\"30\"}},"
        "{\"provider\":\"a\",\"model\":\"small\",\"status\":\"available\",\"pricing\":{\"unit\":"
        "\"per_1m_tokens\",\"input\":\"0.1\",\"output\":\"0.2\"}},"
        "{\"provider\":\"b\",\"model\":\"mid\",\"status\":\"available\",\"pricing\":{\"unit\":"
        "\"per_1m_tokens\",\"input\":\"1\",\"output\":\"2\"}},"
        "{\"provider\":\"b\",\"model\":\"off\",\"status\":\"unavailable\",\"pricing\":{\"unit\":"
        "\"per_1m_tokens\",\"input\":\"0\",\"output\":\"0\"}}]",
        0, &e);
    assert_non_null(reg);
    /* 100 input (-> 214), 1000 output: small 0.0000214+0.0002=..., mid ..., big too dear */
    json_t *fit = hub_budget_cheaper_models(reg, NULL, NULL, 100, 1000, 3000 * 1000000LL);
    assert_int_equal(json_array_size(fit), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fit, 0), "id")),
                        "a/small");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fit, 1), "id")), "b/mid");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fit, 1), "max_cost_usd")),
                        "0.002214");
    json_decref(fit);
    /* the allow-list applies */
    json_t *allowed = json_pack("[s]", "b/mid");
    fit = hub_budget_cheaper_models(reg, allowed, NULL, 100, 1000, 3000 * 1000000LL);
    assert_int_equal(json_array_size(fit), 1);
    json_decref(fit);
    json_decref(allowed);
    fit = hub_budget_cheaper_models(reg, NULL, NULL, 100, 1000, 1);
    assert_int_equal(json_array_size(fit), 0);
    json_decref(fit);
    json_decref(reg);

    char period[8];
    hub_budget_period(T0 - 1, period);
    assert_string_equal(period, "2025-12");
    hub_budget_scope s;
    assert_int_equal(hub_budget_scope_parse("agent", &s), CORE_OK);
    assert_int_equal(s, HUB_BUDGET_AGENT);
    assert_int_equal(hub_budget_scope_parse("team", &s), CORE_EINVAL);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reserve_settle_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scopes_and_no_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_period_roll_and_reclaim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_overshoot_under_concurrency, setup, teardown),
    };
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_max_cost_and_cheaper_models),
    };
    int failed = cmocka_run_group_tests_name("hub_budget_pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("hub_budget_sqlite", tests, NULL, NULL);
    if (gw_test_db_pg_url()) {
        use_postgres = true;
        failed += cmocka_run_group_tests_name("hub_budget_postgres", tests, NULL, NULL);
    }
    return failed;
}
