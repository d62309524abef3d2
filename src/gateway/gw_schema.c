/*
 * gw_schema.c - aigw's migrations. The model registry (models) is seeded from
 * the catalog and edited by admins; gateway_keys keeps only hashes of the
 * tokens; usage_log gets one row per request from the batched writer.
 *
 * One SQL text serves SQLite and PostgreSQL (store.h SQL rules): ids are TEXT
 * made in C with random_id, booleans INTEGER 0/1, times BIGINT epoch ms.
 */
#include "gw_schema.h"

#define MODELS_SQL                                                                                 \
    "CREATE TABLE models ("                                                                        \
    " provider TEXT NOT NULL,"                                                                     \
    " model TEXT NOT NULL,"                                                                        \
    " display_name TEXT NOT NULL,"                                                                 \
    " context_length BIGINT NOT NULL DEFAULT 0,"                                                   \
    " max_output_tokens BIGINT NOT NULL DEFAULT 0,"                                                \
    " capabilities TEXT NOT NULL DEFAULT '',"                                                      \
    " price_unit TEXT NOT NULL DEFAULT 'per_1m_tokens',"                                           \
    " input_micro BIGINT NOT NULL DEFAULT 0,"                                                      \
    " cached_input_micro BIGINT NOT NULL DEFAULT 0,"                                               \
    " output_micro BIGINT NOT NULL DEFAULT 0,"                                                     \
    " request_micro BIGINT NOT NULL DEFAULT 0,"                                                    \
    " price_source TEXT NOT NULL,"                                                                 \
    " price_date TEXT NOT NULL,"                                                                   \
    " deprecated INTEGER NOT NULL DEFAULT 0,"                                                      \
    " enabled INTEGER NOT NULL DEFAULT 1,"                                                         \
    " updated_by TEXT NOT NULL DEFAULT 'catalog',"                                                 \
    " catalog_version INTEGER NOT NULL DEFAULT 0,"                                                 \
    " created_at BIGINT NOT NULL,"                                                                 \
    " updated_at BIGINT NOT NULL,"                                                                 \
    " PRIMARY KEY (provider, model),"                                                              \
    " CHECK (updated_by IN ('catalog', 'admin', 'discovery')),"                                    \
    " CHECK (price_unit IN ('per_1m_tokens', 'per_request', 'per_second')),"                       \
    " CHECK (input_micro >= 0 AND cached_input_micro >= 0 AND output_micro >= 0"                   \
    "        AND request_micro >= 0)"                                                              \
    ")"

#define KEYS_SQL                                                                                   \
    "CREATE TABLE gateway_keys ("                                                                  \
    " id TEXT PRIMARY KEY,"                                                                        \
    " name TEXT NOT NULL,"                                                                         \
    " prefix TEXT NOT NULL,"                                                                       \
    " token_hash TEXT NOT NULL UNIQUE,"                                                            \
    " rpm BIGINT,"                                                                                 \
    " tpm BIGINT,"                                                                                 \
    " allowed_models TEXT,"                                                                        \
    " created_at BIGINT NOT NULL,"                                                                 \
    " revoked_at BIGINT"                                                                           \
    ")"

#define USAGE_COLUMNS                                                                              \
    " request_id TEXT NOT NULL,"                                                                   \
    " ts_ms BIGINT NOT NULL,"                                                                      \
    " key_id TEXT,"                                                                                \
    " provider TEXT NOT NULL,"                                                                     \
    " model TEXT NOT NULL,"                                                                        \
    " requested_model TEXT,"                                                                       \
    " input_tokens BIGINT NOT NULL DEFAULT 0,"                                                     \
    " cached_input_tokens BIGINT NOT NULL DEFAULT 0,"                                              \
    " output_tokens BIGINT NOT NULL DEFAULT 0,"                                                    \
    " reasoning_tokens BIGINT NOT NULL DEFAULT 0,"                                                 \
    " cost_pico BIGINT NOT NULL DEFAULT 0,"                                                        \
    " cost_estimated INTEGER NOT NULL DEFAULT 0,"                                                  \
    " provider_cost_pico BIGINT,"                                                                  \
    " latency_ms BIGINT,"                                                                          \
    " ttft_ms BIGINT,"                                                                             \
    " http_status INTEGER,"                                                                        \
    " error_code TEXT,"                                                                            \
    " attempts INTEGER NOT NULL DEFAULT 1,"                                                        \
    " fallback_from TEXT,"                                                                         \
    " stream INTEGER NOT NULL DEFAULT 0,"                                                          \
    " metadata TEXT"

#define USAGE_INDEXES                                                                              \
    "CREATE INDEX usage_log_ts ON usage_log (ts_ms);"                                              \
    "CREATE INDEX usage_log_key_ts ON usage_log (key_id, ts_ms);"                                  \
    "CREATE INDEX usage_log_request ON usage_log (request_id)"

const store_migration gw_schema_migrations[] = {
    {1, "models", MODELS_SQL, NULL},
    {2, "gateway_keys", KEYS_SQL, NULL},
    {3, "usage_log",
     "CREATE TABLE usage_log (id TEXT PRIMARY KEY," USAGE_COLUMNS ");" USAGE_INDEXES, NULL},
    /* Admin changes made with the CLI (keys, models): who, what, when, before/after. */
    {4, "admin_audit",
     "CREATE TABLE admin_audit (id TEXT PRIMARY KEY, ts_ms BIGINT NOT NULL, actor TEXT NOT NULL,"
     " action TEXT NOT NULL, target TEXT NOT NULL, before_json TEXT, after_json TEXT);"
     "CREATE INDEX admin_audit_ts ON admin_audit (ts_ms)",
     NULL},
};
const size_t gw_schema_migrations_len = ARRAY_LEN(gw_schema_migrations);

core_err gw_schema_migrate(store *s, char *errbuf, size_t errlen)
{
    return store_migrate(s, GW_SCHEMA_COMPONENT, gw_schema_migrations, gw_schema_migrations_len,
                         errbuf, errlen);
}
