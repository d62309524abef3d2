/*
 * gw_schema.h - aigw's database schema: the versioned migrations of component
 * "aigw" (tables models, gateway_keys, usage_log) applied through
 * store_migrate.
 *
 * Conventions of every aigw table: timestamps are BIGINT epoch milliseconds
 * (no dialect-specific date types), prices are BIGINT micro-USD per unit and
 * costs BIGINT pico-USD (see core/money.h), booleans are INTEGER 0/1.
 *
 * Threads: gw_schema_migrate blocks; call it at start-up or from the CLI.
 */
#ifndef GW_SCHEMA_H
#define GW_SCHEMA_H

#include "../store/store.h"

#define GW_SCHEMA_COMPONENT "aigw"

/* The migration list, oldest first. Never edit an applied entry; append. */
extern const store_migration gw_schema_migrations[];
extern const size_t gw_schema_migrations_len;

/* Applies the aigw migrations not yet applied. CORE_EDB with a reason in
 * errbuf. Idempotent. */
core_err gw_schema_migrate(store *s, char *errbuf, size_t errlen);

#endif
