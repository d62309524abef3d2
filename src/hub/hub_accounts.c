/*
 * hub_accounts.c - users, organizations, memberships, sessions and API tokens
 * in the database (see hub_accounts.h). Used from store jobs and the CLI.
 */
#include "hub_accounts.h"

#include <ctype.h>
#include <stdio.h>

bool hub_email_normalize(const char *email, char out[256])
{
    if (!email) return false;
    slice_t s = slice_trim(slice_from_cstr(email));
    if (!hub_email_valid(s) || s.len >= 256) return false;
    for (size_t i = 0; i < s.len; i++)
        out[i] = (char)tolower((unsigned char)s.ptr[i]);
    out[s.len] = '\0';
    return true;
}

hub_err hub_user_find(store_conn *conn, const char *email, char user_id[40])
{
    char norm[256];
    if (!hub_email_normalize(email, norm)) return HUB_ERR_NOT_FOUND;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(norm)};
    if (store_query(conn, "SELECT id FROM users WHERE email = $1", p, 1, &rows) != CORE_OK)
        return HUB_ERR_INTERNAL;
    hub_err err = HUB_ERR_NOT_FOUND;
    if (store_rows_count(rows) == 1) {
        snprintf(user_id, 40, "%s", hub_row_str(rows, 0, 0));
        err = HUB_OK;
    }
    store_rows_free(rows);
    return err;
}

static hub_err check_password(const char *password, char *msg, size_t msglen)
{
    size_t len = password ? strlen(password) : 0;
    if (len < HUB_PASSWORD_MIN || len > HUB_PASSWORD_MAX) {
        snprintf(msg, msglen, "the password needs %d to %d characters", HUB_PASSWORD_MIN,
                 HUB_PASSWORD_MAX);
        return HUB_ERR_INVALID_REQUEST;
    }
    return HUB_OK;
}

hub_err hub_user_create(store_conn *conn, const char *email, const char *password, const char *name,
                        char user_id[40], char *msg, size_t msglen)
{
    char norm[256];
    if (!hub_email_normalize(email, norm)) {
        snprintf(msg, msglen, "a valid e-mail address is required");
        return HUB_ERR_INVALID_REQUEST;
    }
    hub_err herr = check_password(password, msg, msglen);
    if (herr) return herr;
    if (name && strlen(name) > 120) {
        snprintf(msg, msglen, "the name is longer than 120 bytes");
        return HUB_ERR_INVALID_REQUEST;
    }
    char hash[HUB_PASSWORD_HASH_MAX];
    if (hub_password_hash(slice_from_cstr(password), hash) != CORE_OK) {
        snprintf(msg, msglen, "password hashing failed");
        return HUB_ERR_INTERNAL;
    }
    random_id("usr_", user_id, 40);
    store_param p[] = {STORE_TEXT(user_id), STORE_TEXT(norm), STORE_TEXT(name ? name : ""),
                       STORE_TEXT(hash), STORE_INT(hub_now_ms())};
    core_err err = store_exec(conn,
                              "INSERT INTO users (id, email, name, password_hash, created_at) "
                              "VALUES ($1, $2, $3, $4, $5)",
                              p, 5);
    if (err == CORE_EEXIST) {
        snprintf(msg, msglen, "an account with this e-mail already exists");
        return HUB_ERR_CONFLICT;
    }
    if (err) {
        snprintf(msg, msglen, "database error");
        return HUB_ERR_INTERNAL;
    }
    return HUB_OK;
}

hub_err hub_user_set_password(store_conn *conn, const char *user_id, const char *password,
                              char *msg, size_t msglen)
{
    hub_err herr = check_password(password, msg, msglen);
    if (herr) return herr;
    char hash[HUB_PASSWORD_HASH_MAX];
    if (hub_password_hash(slice_from_cstr(password), hash) != CORE_OK) return HUB_ERR_INTERNAL;
    store_param p[] = {STORE_TEXT(hash), STORE_TEXT(user_id)};
    if (store_exec(conn, "UPDATE users SET password_hash = $1 WHERE id = $2", p, 2) != CORE_OK)
        return HUB_ERR_INTERNAL;
    return HUB_OK;
}

hub_err hub_org_create(store_conn *conn, const char *name, char org_id[40])
{
    int64_t now = hub_now_ms();
    random_id("org_", org_id, 40);
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(name), STORE_INT(now)};
    if (store_exec(conn, "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)", p,
                   3) != CORE_OK)
        return HUB_ERR_INTERNAL;
    store_param s[] = {STORE_TEXT(org_id), STORE_INT(now)};
    if (store_exec(conn, "INSERT INTO org_settings (org_id, updated_at) VALUES ($1, $2)", s, 2) !=
        CORE_OK)
        return HUB_ERR_INTERNAL;
    return HUB_OK;
}

hub_err hub_org_find_by_name(store_conn *conn, const char *name, char org_id[40])
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(name)};
    if (store_query(conn,
                    "SELECT id FROM organizations WHERE name = $1 ORDER BY created_at, id LIMIT 1",
                    p, 1, &rows) != CORE_OK)
        return HUB_ERR_INTERNAL;
    hub_err err = HUB_ERR_NOT_FOUND;
    if (store_rows_count(rows) == 1) {
        snprintf(org_id, 40, "%s", hub_row_str(rows, 0, 0));
        err = HUB_OK;
    }
    store_rows_free(rows);
    return err;
}

hub_err hub_membership_set(store_conn *conn, const char *org_id, const char *user_id,
                           const char *role)
{
    if (hub_role_rank(role) < 0) return HUB_ERR_INVALID_REQUEST;
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(user_id), STORE_TEXT(role),
                       STORE_INT(hub_now_ms())};
    if (store_exec(conn,
                   "INSERT INTO memberships (org_id, user_id, role, created_at) "
                   "VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                   p, 4) != CORE_OK)
        return HUB_ERR_INTERNAL;
    store_param a[] = {STORE_TEXT(org_id), STORE_TEXT(user_id)};
    if (store_exec(conn,
                   "UPDATE users SET active_org_id = $1 WHERE id = $2 AND active_org_id IS NULL", a,
                   2) != CORE_OK)
        return HUB_ERR_INTERNAL;
    return HUB_OK;
}

hub_err hub_session_create(store_conn *conn, const char *user_id, int64_t ttl_s, const char *ip,
                           const char *user_agent, char cookie[HUB_TOKEN_MAX])
{
    char id[40], hash[HUB_SECRET_HASH_HEX];
    if (hub_token_new("ses_", id, cookie, hash) != CORE_OK) return HUB_ERR_INTERNAL;
    int64_t now = hub_now_ms();
    store_param p[] = {STORE_TEXT(id),
                       STORE_TEXT(user_id),
                       STORE_TEXT(hash),
                       STORE_INT(now),
                       STORE_INT(now + ttl_s * 1000),
                       STORE_TEXT(ip ? ip : ""),
                       STORE_TEXT(user_agent ? user_agent : "")};
    if (store_exec(conn,
                   "INSERT INTO sessions (id, user_id, secret_hash, created_at, expires_at, ip, "
                   "user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   p, 7) != CORE_OK)
        return HUB_ERR_INTERNAL;
    /* opportunistic clean-up of this user's expired sessions */
    store_param d[] = {STORE_TEXT(user_id), STORE_INT(now)};
    store_exec(conn, "DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2", d, 2);
    return HUB_OK;
}

hub_err hub_token_create(store_conn *conn, const char *user_id, const char *name, char token_id[40],
                         char token[HUB_TOKEN_MAX])
{
    char hash[HUB_SECRET_HASH_HEX];
    if (hub_token_new("thk_", token_id, token, hash) != CORE_OK) return HUB_ERR_INTERNAL;
    store_param p[] = {STORE_TEXT(token_id), STORE_TEXT(user_id), STORE_TEXT(name ? name : ""),
                       STORE_TEXT(hash), STORE_INT(hub_now_ms())};
    if (store_exec(conn,
                   "INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at) "
                   "VALUES ($1, $2, $3, $4, $5)",
                   p, 5) != CORE_OK)
        return HUB_ERR_INTERNAL;
    return HUB_OK;
}

json_t *hub_user_json(store_conn *conn, const hub_principal *who)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(who->user_id)};
    if (store_query(conn,
                    "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON "
                    "o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.created_at, o.id",
                    p, 1, &rows) != CORE_OK)
        return NULL;
    json_t *orgs = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++)
        json_array_append_new(orgs,
                              json_pack("{s:s,s:s,s:s}", "id", hub_row_str(rows, i, 0), "name",
                                        hub_row_str(rows, i, 1), "role", hub_row_str(rows, i, 2)));
    store_rows_free(rows);
    json_t *user = json_pack(
        "{s:s,s:s,s:s,s:o,s:o,s:o}", "id", who->user_id, "email", who->email, "name", who->name,
        "active_org_id", who->org_id[0] ? json_string(who->org_id) : json_null(), "role",
        who->role[0] ? json_string(who->role) : json_null(), "organizations", orgs);
    return user;
}

hub_err hub_invitation_accept(store_conn *conn, const char *token, const char *user_id,
                              const char *user_email, char org_id[40], char *msg, size_t msglen)
{
    slice_t id, secret;
    snprintf(msg, msglen, "this invitation is unknown, expired or already used");
    if (!token || hub_token_split(slice_from_cstr(token), &id, &secret) != CORE_OK)
        return HUB_ERR_NOT_FOUND;
    char idbuf[40];
    snprintf(idbuf, sizeof idbuf, "%.*s", (int)id.len, id.ptr);
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(idbuf)};
    if (store_query(conn,
                    "SELECT org_id, secret_hash, role, email, expires_at, accepted_at "
                    "FROM invitations WHERE id = $1",
                    p, 1, &rows) != CORE_OK)
        return HUB_ERR_INTERNAL;
    hub_err err = HUB_ERR_NOT_FOUND;
    char role[16] = "";
    if (store_rows_count(rows) == 1 && hub_secret_matches(secret, store_rows_get(rows, 0, 1)) &&
        store_rows_i64(rows, 0, 4, 0) > hub_now_ms() && !store_rows_get(rows, 0, 5)) {
        const char *email = store_rows_get(rows, 0, 3);
        if (email && *email && strcmp(email, user_email) != 0) {
            snprintf(msg, msglen, "this invitation was issued for another e-mail address");
            err = HUB_ERR_FORBIDDEN;
        } else {
            snprintf(org_id, 40, "%s", hub_row_str(rows, 0, 0));
            snprintf(role, sizeof role, "%s", hub_row_str(rows, 0, 2));
            err = HUB_OK;
        }
    }
    store_rows_free(rows);
    if (err) return err;

    /* keep a higher existing role (an admin accepting a member link stays admin) */
    store_param m[] = {STORE_TEXT(org_id), STORE_TEXT(user_id)};
    if (store_query(conn, "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2", m, 2,
                    &rows) != CORE_OK)
        return HUB_ERR_INTERNAL;
    bool keep = store_rows_count(rows) == 1 &&
                hub_role_rank(hub_row_str(rows, 0, 0)) >= hub_role_rank(role);
    store_rows_free(rows);
    if (!keep && hub_membership_set(conn, org_id, user_id, role) != HUB_OK) return HUB_ERR_INTERNAL;
    store_param u[] = {STORE_TEXT(user_id), STORE_INT(hub_now_ms()), STORE_TEXT(idbuf)};
    if (store_exec(conn,
                   "UPDATE invitations SET accepted_by = $1, accepted_at = $2 "
                   "WHERE id = $3 AND accepted_at IS NULL",
                   u, 3) != CORE_OK)
        return HUB_ERR_INTERNAL;
    if (store_changes(conn) != 1) return HUB_ERR_NOT_FOUND; /* raced with another accept */
    store_param a[] = {STORE_TEXT(org_id), STORE_TEXT(user_id)};
    if (store_exec(conn, "UPDATE users SET active_org_id = $1 WHERE id = $2", a, 2) != CORE_OK)
        return HUB_ERR_INTERNAL;
    msg[0] = '\0';
    return HUB_OK;
}
