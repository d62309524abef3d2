/*
 * hub_schema.h - teamhub's versioned database schema (component "teamhub"),
 * one list for both backends. Applied at start-up and by `teamhub migrate`.
 *
 * Conventions every query in src/hub relies on:
 *   - ids are TEXT made by random_id() with a type prefix ("usr_", "org_"...);
 *   - times are BIGINT milliseconds since the epoch (portable across backends);
 *   - money is BIGINT pico-USD (exact); DECIMAL columns exist only where the
 *     seed schema names them (estimated_cost) and are never summed for totals;
 *   - booleans are INTEGER 0/1; JSON documents are TEXT.
 */
#ifndef HUB_SCHEMA_H
#define HUB_SCHEMA_H

#include "../store/store.h"

#define HUB_SCHEMA_COMPONENT "teamhub"

/* The migration list (static storage) and its length. */
const store_migration *hub_schema_migrations(size_t *count);

/* Applies every pending migration. Blocking (start-up / CLI only). */
core_err hub_schema_migrate(store *s, char *errbuf, size_t errlen);

#endif
