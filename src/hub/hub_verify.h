/*
 * hub_verify.h - `teamhub usage verify`: reconciles, to the last pico-USD,
 *   1. each assistant message's cost with its model_usage_analytics row, and
 *      each live conversation's message total with its ledger total;
 *   2. the ledger with the budget settlements: every usage row that reached
 *      the gateway (message_id set) has a closed reservation with the same
 *      settled amount, and no settled reservation lacks its usage row;
 *   3. every budget row with the reservations: spent == settled in its
 *      period, reserved == open holds flagged for it;
 *   4. with a gateway database (aigw's DATABASE_URL), the ledger with aigw's
 *      usage_log: the row whose metadata carries the same message_id has the
 *      same cost (a missing gateway row counts as cost 0).
 * Any difference is listed and makes the run fail.
 *
 * Threads: blocking (CLI and tests); uses store_run_sync.
 */
#ifndef HUB_VERIFY_H
#define HUB_VERIFY_H

#include "../store/store.h"

#include <jansson.h>

#define HUB_VERIFY_MAX_LISTED 50 /* differences listed in detail per check */

typedef struct {
    int64_t messages_checked;
    int64_t message_mismatches;      /* message cost != its ledger row */
    int64_t conversation_mismatches; /* live conversation totals differ */
    int64_t ledger_rows;             /* usage rows with a message */
    int64_t ledger_total_pico;
    int64_t settlement_mismatches; /* ledger vs reservations */
    int64_t settled_total_pico;
    int64_t open_holds; /* reservations still held (calls in flight or leaked) */
    int64_t budget_mismatches;
    bool gateway_checked;
    int64_t gateway_rows;       /* usage_log rows carrying a teamhub message_id */
    int64_t gateway_total_pico; /* their cost */
    int64_t gateway_mismatches;
    json_t *differences; /* array of {check, id, expected_pico, actual_pico, detail} */
} hub_verify_report;

/* Runs every check. gateway may be NULL (check 4 skipped). org_id NULL = all
 * organizations. CORE_EDB when a query fails (message in errbuf). */
core_err hub_verify_run(store *hub, store *gateway, const char *org_id, hub_verify_report *out,
                        char *errbuf, size_t errlen);
void hub_verify_report_free(hub_verify_report *r);
/* Total number of differences. */
int64_t hub_verify_problems(const hub_verify_report *r);
/* The report as JSON (new reference). */
json_t *hub_verify_report_json(const hub_verify_report *r);

/* `teamhub usage verify [--database URL] [--gateway-database URL] [--org ID]
 * [--json]`: prints the report; exit code 0 when everything agrees, 1 on any
 * difference, 2 on bad usage or an unreachable database. */
int hub_verify_main(int argc, char **argv, int start, const char *default_database);

#endif
