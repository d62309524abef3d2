/*
 * hub_gov_schema.c - SQL of the governance tables (see hub_gov_schema.h).
 *
 * budgets: one row per (org, scope, subject). spent_pico counts settled cost
 * in period_start (UTC "YYYY-MM"); reserved_pico counts the maximum cost of
 * calls in flight. Both are maintained by hub_budget.c in the same
 * transactions that write the reservation rows, so
 *   spent    == SUM(settled_pico) of the period's settled reservations
 *   reserved == SUM(amount_pico) of held reservations flagged for this budget
 * is an invariant that `teamhub usage verify` checks.
 *
 * budget_reservations: one row per model call (also when no budget exists),
 * the settlement ledger. hold_org/hold_user/hold_agent record which budget
 * rows the hold was added to, so a budget created while the call runs is not
 * decremented for a hold it never received.
 */
#include "hub_gov_schema.h"

static const char gov_v1[] =
    "CREATE TABLE budgets ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  scope TEXT NOT NULL CHECK (scope IN ('org','user','agent')),"
    "  subject_id TEXT NOT NULL,"   /* org id, user id or agent id */
    "  monthly_limit_pico BIGINT,"  /* NULL = no limit (tracking only) */
    "  period_start TEXT NOT NULL," /* UTC month, "YYYY-MM" */
    "  spent_pico BIGINT NOT NULL DEFAULT 0,"
    "  reserved_pico BIGINT NOT NULL DEFAULT 0,"
    "  alert_thresholds TEXT NOT NULL DEFAULT '[50,80,100]'," /* JSON array of percents */
    "  alert_webhook TEXT,"
    "  updated_at BIGINT NOT NULL,"
    "  UNIQUE (org_id, scope, subject_id));"

    "CREATE TABLE budget_reservations ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL,"
    "  user_id TEXT,"
    "  agent_id TEXT,"
    "  conversation_id TEXT,"
    "  message_id TEXT,"
    "  provider TEXT,"
    "  model TEXT,"
    "  period TEXT NOT NULL,"
    "  amount_pico BIGINT NOT NULL,"
    "  hold_org INTEGER NOT NULL DEFAULT 0,"
    "  hold_user INTEGER NOT NULL DEFAULT 0,"
    "  hold_agent INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('held','settled','released','reclaimed')),"
    "  settled_pico BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  closed_at BIGINT);"
    "CREATE INDEX budget_res_state ON budget_reservations(state, expires_at);"
    "CREATE INDEX budget_res_org ON budget_reservations(org_id, period);"
    "CREATE INDEX budget_res_message ON budget_reservations(message_id);"

    "CREATE TABLE budget_alerts ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  budget_id TEXT NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,"
    "  scope TEXT NOT NULL,"
    "  subject_id TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  threshold INTEGER NOT NULL,"
    "  spent_pico BIGINT NOT NULL,"
    "  limit_pico BIGINT NOT NULL,"
    "  webhook_url TEXT,"
    "  webhook_state TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (webhook_state IN ('none','pending','delivered','failed')),"
    "  webhook_attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  UNIQUE (budget_id, period, threshold));"
    "CREATE INDEX budget_alerts_org ON budget_alerts(org_id, created_at);"

    /* NULL = unlimited. user_* apply to each member separately. */
    "CREATE TABLE org_limits ("
    "  org_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,"
    "  rpm BIGINT,"
    "  tpm BIGINT,"
    "  user_rpm BIGINT,"
    "  user_tpm BIGINT,"
    "  updated_at BIGINT NOT NULL);"

    /* Admin changes. No foreign keys: the trail outlives users and orgs. */
    "CREATE TABLE audit_log ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT,"
    "  actor_user_id TEXT,"
    "  actor_email TEXT,"
    "  action TEXT NOT NULL,"
    "  target TEXT,"
    "  before_json TEXT,"
    "  after_json TEXT,"
    "  ip TEXT,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX audit_log_org ON audit_log(org_id, created_at);";

static const store_migration migrations[] = {
    {1, "budgets, reservations, alerts, limits, audit log", gov_v1, NULL},
};

const store_migration *hub_gov_schema_migrations(size_t *count)
{
    *count = ARRAY_LEN(migrations);
    return migrations;
}

core_err hub_gov_schema_migrate(store *s, char *errbuf, size_t errlen)
{
    return store_migrate(s, HUB_GOV_SCHEMA_COMPONENT, migrations, ARRAY_LEN(migrations), errbuf,
                         errlen);
}
