/*
 * hub_accounts.h - account operations shared by the HTTP API and the operator
 * CLI: users, organizations, memberships, sessions and personal API tokens.
 * Every function runs inside a store job (or store_run_sync) with the given
 * connection; those that hash passwords are slow (argon2id) and must never be
 * called on an event-loop thread.
 *
 * Errors: HUB_OK, or a hub_err with a human message in msg (msglen bytes).
 */
#ifndef HUB_ACCOUNTS_H
#define HUB_ACCOUNTS_H

#include "hub_app.h"
#include "hub_auth.h"

/* Lower-cases and trims an e-mail into out; false when invalid. */
bool hub_email_normalize(const char *email, char out[256]);

/* Creates a user (argon2id hash). HUB_ERR_CONFLICT when the e-mail exists,
 * HUB_ERR_INVALID_REQUEST for a bad e-mail or password length. */
hub_err hub_user_create(store_conn *conn, const char *email, const char *password, const char *name,
                        char user_id[40], char *msg, size_t msglen);
/* Replaces a user's password (argon2id). */
hub_err hub_user_set_password(store_conn *conn, const char *user_id, const char *password,
                              char *msg, size_t msglen);
/* Finds a user id by (normalized) e-mail; HUB_ERR_NOT_FOUND when absent. */
hub_err hub_user_find(store_conn *conn, const char *email, char user_id[40]);

/* Creates an organization with its settings row. */
hub_err hub_org_create(store_conn *conn, const char *name, char org_id[40]);
/* Finds an organization by exact name (oldest first); HUB_ERR_NOT_FOUND. */
hub_err hub_org_find_by_name(store_conn *conn, const char *name, char org_id[40]);
/* Adds or updates a membership and makes org the user's active one when the
 * user has none. role: owner|admin|member. */
hub_err hub_membership_set(store_conn *conn, const char *org_id, const char *user_id,
                           const char *role);

/* Creates a session; cookie gets "<id>.<secret>" for the Set-Cookie header. */
hub_err hub_session_create(store_conn *conn, const char *user_id, int64_t ttl_s, const char *ip,
                           const char *user_agent, char cookie[HUB_TOKEN_MAX]);
/* Creates a personal API token; token gets the full secret (shown once). */
hub_err hub_token_create(store_conn *conn, const char *user_id, const char *name, char token_id[40],
                         char token[HUB_TOKEN_MAX]);

/* {id,email,name,active_org_id,role,organizations:[{id,name,role}]} for the
 * principal, or NULL on a database error. */
json_t *hub_user_json(store_conn *conn, const hub_principal *who);

/* Accepts an invitation "<id>.<secret>" for user_id (whose e-mail must match
 * when the invitation names one): adds the membership (never lowering an
 * existing role), marks the invitation used and makes the org active.
 * HUB_ERR_NOT_FOUND for unknown/used/expired tokens. */
hub_err hub_invitation_accept(store_conn *conn, const char *token, const char *user_id,
                              const char *user_email, char org_id[40], char *msg, size_t msglen);
#endif
