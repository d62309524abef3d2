/*
 * hub_gov_schema.h - the governance tables of teamhub (budgets, budget
 * reservations, budget alerts, rate-limit settings, audit log) as their own
 * migration component ("teamhub_governance"), applied right after the main
 * "teamhub" component by hub_cli_open_store. Keeping them in a component of
 * their own lets governance evolve without renumbering the core schema.
 *
 * Conventions are those of hub_schema.h: TEXT ids from random_id(), BIGINT
 * epoch-ms times, BIGINT pico-USD money, INTEGER 0/1 booleans, JSON as TEXT.
 */
#ifndef HUB_GOV_SCHEMA_H
#define HUB_GOV_SCHEMA_H

#include "../store/store.h"

#define HUB_GOV_SCHEMA_COMPONENT "teamhub_governance"

const store_migration *hub_gov_schema_migrations(size_t *count);

/* Applies every pending governance migration. Blocking (start-up / CLI /
 * tests). The main "teamhub" schema must be applied first. */
core_err hub_gov_schema_migrate(store *s, char *errbuf, size_t errlen);

#endif
