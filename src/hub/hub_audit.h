/*
 * hub_audit.h - the audit log of administrative changes (model restrictions,
 * defaults, feature flags, budgets, limits, memberships, tokens, agents): who
 * did what, when, from where, with the value before and after. Rows are only
 * ever inserted; the API reads them newest first.
 *
 * Threads: inside a store job. hub_audit_record joins the caller's
 * transaction when one is open, so a change and its audit row commit or roll
 * back together.
 */
#ifndef HUB_AUDIT_H
#define HUB_AUDIT_H

#include "hub_app.h"

#define HUB_AUDIT_PAGE_MAX 200
/* A before/after document larger than this is stored as {"truncated":true}. */
#define HUB_AUDIT_DOC_MAX (64u * 1024)

/* Records one change made by c's principal (c may be NULL for the CLI:
 * actor is then "cli"). action is a stable dotted name ("budget.update",
 * "limits.update", "org.models.update", ...); target what was changed
 * ("org:<id>", "user:<id>", ...). before/after are borrowed, may be NULL. */
core_err hub_audit_record(store_conn *conn, const hub_call *c, const char *org_id,
                          const char *action, const char *target, const json_t *before,
                          const json_t *after);

/* Newest first: entries of org_id created before before_ms (0 = now), at most
 * limit (1..HUB_AUDIT_PAGE_MAX), optionally only those whose action starts
 * with action_prefix. *out: new array of {id, actor:{user_id,email}, action,
 * target, before, after, ip, created_at}. */
core_err hub_audit_list(store_conn *conn, const char *org_id, int64_t before_ms, int limit,
                        const char *action_prefix, json_t **out);

#endif
