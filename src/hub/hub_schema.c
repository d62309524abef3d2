/*
 * hub_schema.c - the SQL of teamhub's tables, as versioned migrations shared
 * by SQLite and PostgreSQL. The dialect is kept to what both accept (TEXT ids,
 * BIGINT times and money, no auto-increment) so almost every migration needs
 * no PostgreSQL variant; the seed tables keep their historical names.
 */
#include "hub_schema.h"

/* Version 1: accounts, organizations, chat, usage. */
static const char schema_v1[] =
    "CREATE TABLE organizations ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"

    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE," /* stored lower-cased */
    "  name TEXT NOT NULL DEFAULT '',"
    "  password_hash TEXT NOT NULL," /* argon2id, libsodium crypto_pwhash_str */
    "  active_org_id TEXT REFERENCES organizations(id) ON DELETE SET NULL,"
    "  created_at BIGINT NOT NULL);"

    "CREATE TABLE memberships ("
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('owner','admin','member')),"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (org_id, user_id));"
    "CREATE INDEX memberships_user ON memberships(user_id);"

    /* Sessions and tokens: the secret half is never stored, only its SHA-256. */
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  secret_hash TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  ip TEXT NOT NULL DEFAULT '',"
    "  user_agent TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX sessions_user ON sessions(user_id);"

    "CREATE TABLE api_tokens ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  secret_hash TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  last_used_at BIGINT,"
    "  revoked_at BIGINT);"
    "CREATE INDEX api_tokens_user ON api_tokens(user_id);"

    /* Failed logins per (email, ip) within a sliding window. */
    "CREATE TABLE login_throttle ("
    "  key TEXT PRIMARY KEY,"
    "  failures INTEGER NOT NULL,"
    "  window_start BIGINT NOT NULL,"
    "  locked_until BIGINT NOT NULL DEFAULT 0);"

    "CREATE TABLE invitations ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  secret_hash TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','member')),"
    "  email TEXT," /* optional: restricts who may accept */
    "  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  accepted_by TEXT REFERENCES users(id) ON DELETE SET NULL,"
    "  accepted_at BIGINT);"
    "CREATE INDEX invitations_org ON invitations(org_id);"

    /* allowed_models: JSON array of "provider/model", NULL = every model.
     * feature_flags: JSON object of overrides over the environment defaults. */
    "CREATE TABLE org_settings ("
    "  org_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,"
    "  allowed_models TEXT,"
    "  default_provider TEXT,"
    "  default_model TEXT,"
    "  feature_flags TEXT NOT NULL DEFAULT '{}',"
    "  updated_at BIGINT NOT NULL);"

    "CREATE TABLE agents ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  system_prompt TEXT NOT NULL DEFAULT '',"
    "  default_provider TEXT,"
    "  default_model TEXT,"
    "  allowed_models TEXT," /* JSON array subset, NULL = the org's list */
    "  tools TEXT,"          /* JSON array of OpenAI-style tool definitions */
    "  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE INDEX agents_org ON agents(org_id);"

    "CREATE TABLE conversations ("
    "  id TEXT PRIMARY KEY," /* the client's chat id (useChat "id") */
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  agent_id TEXT REFERENCES agents(id) ON DELETE SET NULL,"
    "  title TEXT NOT NULL DEFAULT '',"
    "  current_provider TEXT,"
    "  current_model TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE INDEX conversations_owner ON conversations(org_id, user_id, updated_at);"

    "CREATE TABLE messages ("
    "  id TEXT PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    "  seq BIGINT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('system','user','assistant')),"
    "  content TEXT NOT NULL DEFAULT ''," /* plain text, for search and history */
    "  parts TEXT NOT NULL DEFAULT '[]'," /* UI message parts as JSON */
    "  provider TEXT,"
    "  model TEXT,"
    "  model_reason TEXT,"
    "  input_tokens BIGINT NOT NULL DEFAULT 0,"
    "  cached_input_tokens BIGINT NOT NULL DEFAULT 0,"
    "  output_tokens BIGINT NOT NULL DEFAULT 0,"
    "  reasoning_tokens BIGINT NOT NULL DEFAULT 0,"
    "  cost_pico BIGINT NOT NULL DEFAULT 0,"
    "  cost_estimated INTEGER NOT NULL DEFAULT 0,"
    "  latency_ms BIGINT,"
    "  ttft_ms BIGINT,"
    "  status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete','partial','error')),"
    "  error_code TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  UNIQUE (conversation_id, seq));"

    "CREATE TABLE model_switch_events ("
    "  id TEXT PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    "  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,"
    "  from_provider TEXT,"
    "  from_model TEXT,"
    "  to_provider TEXT NOT NULL,"
    "  to_model TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX model_switch_conv ON model_switch_events(conversation_id);"

    /* Seed tables, names kept. */
    "CREATE TABLE user_llm_preferences ("
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
    "  default_provider TEXT,"
    "  default_model TEXT,"
    "  pinned_models TEXT NOT NULL DEFAULT '[]'," /* JSON array of "provider/model" */
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (user_id, org_id));"

    /* One row per finished assistant turn: what the conversation "remembers"
     * about that turn and what it cost. estimated_cost is the seed's decimal
     * column (display only); cost_pico is the exact value beside it. */
    "CREATE TABLE conversation_memories ("
    "  id TEXT PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    "  message_id TEXT,"
    "  org_id TEXT NOT NULL,"
    "  user_id TEXT,"
    "  content TEXT NOT NULL DEFAULT '',"
    "  model_provider TEXT,"
    "  model_name TEXT,"
    "  estimated_cost DECIMAL(10,6) NOT NULL DEFAULT 0,"
    "  cost_pico BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX conversation_memories_conv ON conversation_memories(conversation_id);"

    /* The usage ledger: one row per /api/chat request, failed ones included.
     * No foreign keys on purpose: the ledger survives deleted conversations. */
    "CREATE TABLE model_usage_analytics ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL,"
    "  user_id TEXT,"
    "  agent_id TEXT,"
    "  conversation_id TEXT,"
    "  message_id TEXT,"
    "  provider TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  input_tokens BIGINT NOT NULL DEFAULT 0,"
    "  cached_input_tokens BIGINT NOT NULL DEFAULT 0,"
    "  output_tokens BIGINT NOT NULL DEFAULT 0,"
    "  reasoning_tokens BIGINT NOT NULL DEFAULT 0,"
    "  cost_pico BIGINT NOT NULL DEFAULT 0,"
    "  cost_estimated INTEGER NOT NULL DEFAULT 0,"
    "  latency_ms BIGINT,"
    "  ttft_ms BIGINT,"
    "  status TEXT NOT NULL CHECK (status IN ('complete','partial','error')),"
    "  error_code TEXT,"
    "  day TEXT NOT NULL," /* UTC YYYY-MM-DD, for group_by=day on both backends */
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX usage_org_time ON model_usage_analytics(org_id, created_at);"
    "CREATE INDEX usage_conv ON model_usage_analytics(conversation_id);";

static const store_migration migrations[] = {
    {1, "accounts, organizations, chat and usage", schema_v1, NULL},
};

const store_migration *hub_schema_migrations(size_t *count)
{
    *count = ARRAY_LEN(migrations);
    return migrations;
}

core_err hub_schema_migrate(store *s, char *errbuf, size_t errlen)
{
    return store_migrate(s, HUB_SCHEMA_COMPONENT, migrations, ARRAY_LEN(migrations), errbuf,
                         errlen);
}
