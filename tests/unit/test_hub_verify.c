/*
 * test_hub_verify.c - `teamhub usage verify` (src/hub/hub_verify.c) and the
 * audit log (src/hub/hub_audit.c) on real databases: a consistent set of
 * messages, ledger rows, settled reservations, a budget and aigw usage_log
 * rows verifies clean; then each kind of tampering is found by its check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_test_db.h"
#include "gateway/gw_schema.h"
#include "hub/hub_audit.h"
#include "hub/hub_budget.h"
#include "hub/hub_gov_schema.h"
#include "hub/hub_schema.h"
#include "hub/hub_verify.h"

#include "core/log.h"

static bool use_postgres;

typedef struct {
    gw_test_db hub_db, gw_db;
    store *hub, *gw;
} fixture;

static core_err exec_job(store_conn *c, void *ud)
{
    return store_exec(c, ud, NULL, 0);
}

static void sql(store *s, const char *text)
{
    assert_int_equal(store_run_sync(s, exec_job, (void *)text), CORE_OK);
}

/* One call: message + ledger row + settled reservation + gateway row. */
typedef struct {
    const char *msg;
    int64_t cost;
} call_args;

static core_err call_job(store_conn *c, void *ud)
{
    call_args *a = ud;
    hub_budget_subject who = {"org_v", "usr_v", "", "conv_v", "simulator", "sim-fast"};
    hub_budget_hold hold;
    int64_t now = hub_now_ms();
    core_err err = store_begin(c);
    if (!err) err = hub_budget_reserve_tx(c, &who, 1000000000, now, 0, &hold);
    if (!err && hold.refused) err = CORE_EINVAL;
    store_param m[] = {STORE_TEXT(a->msg), STORE_INT(a->cost), STORE_INT(now)};
    if (!err)
        err = store_exec(c,
                         "INSERT INTO messages (id, conversation_id, seq, role, cost_pico, "
                         "created_at) SELECT $1, 'conv_v', COALESCE(MAX(seq), 0) + 1, "
                         "'assistant', $2, $3 FROM messages WHERE conversation_id = 'conv_v'",
                         m, 3);
    if (!err)
        err = store_exec(c,
                         "INSERT INTO model_usage_analytics (id, org_id, user_id, conversation_id, "
                         "message_id, provider, model, cost_pico, status, day, created_at) VALUES "
                         "('use_' || $1, 'org_v', 'usr_v', 'conv_v', $1, 'simulator', 'sim-fast', "
                         "$2, 'complete', '2026-01-01', $3)",
                         m, 3);
    if (!err) err = hub_budget_settle_tx(c, hold.reservation_id, a->cost, false, a->msg, now, NULL);
    if (!err)
        err = store_commit(c);
    else
        store_rollback(c);
    return err;
}

static void gw_row(fixture *f, const char *msg, int64_t cost)
{
    char text[600];
    snprintf(text, sizeof text,
             "INSERT INTO usage_log (id, request_id, ts_ms, provider, model, cost_pico, metadata) "
             "VALUES ('u_%s', 'gen_%s', 1, 'simulator', 'sim-fast', %lld, "
             "'{\"org_id\":\"org_v\",\"message_id\":\"%s\"}')",
             msg, msg, (long long)cost, msg);
    sql(f->gw, text);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char errbuf[256];
    if (gw_test_db_create(&f->hub_db, use_postgres) || gw_test_db_create(&f->gw_db, use_postgres))
        return -1;
    if (store_open(f->hub_db.url, 1, &f->hub, errbuf, sizeof errbuf) ||
        store_open(f->gw_db.url, 1, &f->gw, errbuf, sizeof errbuf))
        return -1;
    if (hub_schema_migrate(f->hub, errbuf, sizeof errbuf) ||
        hub_gov_schema_migrate(f->hub, errbuf, sizeof errbuf) ||
        gw_schema_migrate(f->gw, errbuf, sizeof errbuf))
        return -1;
    sql(f->hub, "INSERT INTO organizations (id, name, created_at) VALUES ('org_v', 'V', 0)");
    sql(f->hub, "INSERT INTO users (id, email, password_hash, created_at) VALUES "
                "('usr_v', 'v@example.com', 'x', 0)");
    sql(f->hub, "INSERT INTO conversations (id, org_id, user_id, created_at, updated_at) VALUES "
                "('conv_v', 'org_v', 'usr_v', 0, 0)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->hub);
    store_close(f->gw);
    gw_test_db_destroy(&f->hub_db);
    gw_test_db_destroy(&f->gw_db);
    free(f);
    return 0;
}

static hub_verify_report verify(fixture *f)
{
    hub_verify_report r;
    char errbuf[256];
    assert_int_equal(hub_verify_run(f->hub, f->gw, NULL, &r, errbuf, sizeof errbuf), CORE_OK);
    return r;
}

static void test_clean_then_tampered(void **state)
{
    fixture *f = *state;
    /* a budget that exists from the start */
    sql(f->hub, "INSERT INTO budgets (id, org_id, scope, subject_id, monthly_limit_pico, "
                "period_start, updated_at) VALUES ('bud_v', 'org_v', 'org', 'org_v', "
                "1000000000000000, '2000-01', 0)");
    call_args calls[] = {{"msg_a", 1234567}, {"msg_b", 89}, {"msg_c", 0}};
    for (size_t i = 0; i < ARRAY_LEN(calls); i++) {
        assert_int_equal(store_run_sync(f->hub, call_job, &calls[i]), CORE_OK);
        gw_row(f, calls[i].msg, calls[i].cost);
    }
    /* a gateway row of another client (no message_id) is not teamhub's */
    sql(f->gw, "INSERT INTO usage_log (id, request_id, ts_ms, provider, model, cost_pico) VALUES "
               "('u_x', 'gen_x', 1, 'simulator', 'sim-fast', 555)");

    hub_verify_report r = verify(f);
    assert_int_equal(hub_verify_problems(&r), 0);
    assert_int_equal(r.messages_checked, 3);
    assert_int_equal(r.ledger_rows, 3);
    assert_int_equal(r.ledger_total_pico, 1234656);
    assert_int_equal(r.settled_total_pico, 1234656);
    assert_true(r.gateway_checked);
    assert_int_equal(r.gateway_rows, 3);
    assert_int_equal(r.gateway_total_pico, 1234656);
    assert_int_equal(r.open_holds, 0);
    json_t *j = hub_verify_report_json(&r);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    hub_verify_report_free(&r);

    /* one pico-USD off in the gateway's log */
    sql(f->gw, "UPDATE usage_log SET cost_pico = cost_pico + 1 WHERE id = 'u_msg_b'");
    r = verify(f);
    assert_int_equal(r.gateway_mismatches, 1);
    assert_int_equal(hub_verify_problems(&r), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.differences, 0), "id")),
                        "msg_b");
    hub_verify_report_free(&r);
    sql(f->gw, "UPDATE usage_log SET cost_pico = cost_pico - 1 WHERE id = 'u_msg_b'");

    /* a message whose cost differs from its ledger row (and its conversation) */
    sql(f->hub, "UPDATE messages SET cost_pico = 1 WHERE id = 'msg_c'");
    r = verify(f);
    assert_int_equal(r.message_mismatches, 1);
    assert_int_equal(r.conversation_mismatches, 1);
    hub_verify_report_free(&r);
    sql(f->hub, "UPDATE messages SET cost_pico = 0 WHERE id = 'msg_c'");

    /* a settlement that disagrees, and a budget row whose spend drifted */
    sql(f->hub, "UPDATE budget_reservations SET settled_pico = 90 WHERE message_id = 'msg_b'");
    sql(f->hub, "UPDATE budgets SET reserved_pico = 5 WHERE id = 'bud_v'");
    r = verify(f);
    assert_int_equal(r.settlement_mismatches, 1);
    assert_int_equal(r.budget_mismatches, 2); /* spent (via the settlement) and reserved */
    hub_verify_report_free(&r);
    sql(f->hub, "UPDATE budget_reservations SET settled_pico = 89 WHERE message_id = 'msg_b'");
    sql(f->hub, "UPDATE budgets SET reserved_pico = 0 WHERE id = 'bud_v'");

    /* a gateway call teamhub never recorded */
    gw_row(f, "msg_ghost", 7);
    r = verify(f);
    assert_int_equal(r.gateway_mismatches, 1);
    hub_verify_report_free(&r);
    sql(f->gw, "DELETE FROM usage_log WHERE id = 'u_msg_ghost'");

    /* a ledger row without a reservation */
    sql(f->hub, "DELETE FROM budget_reservations WHERE message_id = 'msg_c'");
    r = verify(f);
    assert_int_equal(r.settlement_mismatches, 1);
    hub_verify_report_free(&r);
}

/* ---- audit ---- */

static core_err audit_job(store_conn *c, void *ud)
{
    json_t **out = ud;
    json_t *before = json_pack("{s:n}", "rpm"), *after = json_pack("{s:i}", "rpm", 600);
    core_err err = hub_audit_record(c, NULL, "org_v", "limits.update", "org:org_v", before, after);
    if (!err) err = hub_audit_record(c, NULL, "org_v", "budget.update", "org:org_v", NULL, after);
    if (!err) err = hub_audit_record(c, NULL, "org_w", "budget.update", "org:org_w", NULL, NULL);
    json_decref(before);
    json_decref(after);
    if (!err) err = hub_audit_list(c, "org_v", 0, 10, NULL, &out[0]);
    if (!err) err = hub_audit_list(c, "org_v", 0, 10, "limits.", &out[1]);
    if (!err) err = hub_audit_list(c, "org_v", 0, 10, "%", &out[2]);
    return err;
}

static void test_audit(void **state)
{
    fixture *f = *state;
    json_t *out[3] = {NULL, NULL, NULL};
    assert_int_equal(store_run_sync(f->hub, audit_job, out), CORE_OK);
    assert_int_equal(json_array_size(out[0]), 2);
    assert_int_equal(json_array_size(out[1]), 1);
    assert_int_equal(json_array_size(out[2]), 0); /* wildcards are literal */
    json_t *e = json_array_get(out[1], 0);
    assert_string_equal(json_string_value(json_object_get(e, "action")), "limits.update");
    assert_true(json_is_null(json_object_get(json_object_get(e, "before"), "rpm")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "after"), "rpm")), 600);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "actor"), "email")),
                        "cli");
    for (int i = 0; i < 3; i++)
        json_decref(out[i]);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_then_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("hub_verify_sqlite", tests, NULL, NULL);
    if (gw_test_db_pg_url()) {
        use_postgres = true;
        failed += cmocka_run_group_tests_name("hub_verify_postgres", tests, NULL, NULL);
    }
    return failed;
}
