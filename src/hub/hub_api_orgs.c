/*
 * hub_api_orgs.c - organizations, memberships and invitation links:
 *   GET  /api/organizations                       my organizations
 *   POST /api/organizations                       create one (I become owner)
 *   GET  /api/organizations/:id                   details (members only)
 *   POST /api/organizations/:id/activate          make it my active organization
 *   GET  /api/organizations/:id/members           list (members)
 *   PUT  /api/organizations/:id/members/:user     change role (admins; owner role: owners)
 *   DELETE /api/organizations/:id/members/:user   remove (admins; or myself = leave)
 *   POST /api/organizations/:id/invitations       invitation link (admins)
 *   GET  /api/organizations/:id/invitations       pending invitations (admins)
 *   DELETE /api/organizations/:id/invitations/:inv revoke a pending one (admins)
 *   GET  /api/invitations/:token                  public: org name and expiry only
 *   POST /api/invitations/accept                  {token} join with a link
 * Non-members get 404 for every /api/organizations/:id route, so an
 * organization's existence is never revealed. Role changes, removals and
 * invitations (created, revoked) are audited in the transaction that makes
 * them. The public look-up needs the whole token (id and secret), so it tells
 * nothing to someone who does not already hold the link.
 */
#include "hub_accounts.h"
#include "hub_audit.h"

#include <stdio.h>
#include <stdlib.h>

#define INVITE_DEFAULT_HOURS 168
#define INVITE_MAX_HOURS     (24 * 90)

static core_err list_work(hub_call *c, store_conn *conn)
{
    json_t *user = hub_user_json(conn, &c->who);
    if (!user) return CORE_EDB;
    json_t *orgs = json_incref(json_object_get(user, "organizations"));
    json_decref(user);
    return hub_ok(c, 200,
                  json_pack("{s:o,s:s}", "organizations", orgs, "active_org_id", c->who.org_id));
}

static core_err create_work(hub_call *c, store_conn *conn)
{
    const char *name = hub_body_str(c, "name");
    if (!name || !*name || strlen(name) > 120)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "name needs 1 to 120 bytes");
    char org_id[40];
    core_err err = store_begin(conn);
    if (err) return err;
    if (hub_org_create(conn, name, org_id) ||
        hub_membership_set(conn, org_id, c->who.user_id, "owner")) {
        store_rollback(conn);
        return CORE_EDB;
    }
    store_param p[] = {STORE_TEXT(org_id), STORE_TEXT(c->who.user_id)};
    if ((err = store_exec(conn, "UPDATE users SET active_org_id = $1 WHERE id = $2", p, 2)) ||
        (err = store_commit(conn))) {
        store_rollback(conn);
        return err;
    }
    return hub_ok(c, 201, json_pack("{s:s,s:s,s:s}", "id", org_id, "name", name, "role", "owner"));
}

static core_err get_work(hub_call *c, store_conn *conn)
{
    char role[16];
    if (!hub_require_org(c, conn, c->param[0], "member", role)) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0])};
    core_err err = store_query(conn,
                               "SELECT o.name, o.created_at, (SELECT COUNT(*) FROM memberships m "
                               "WHERE m.org_id = o.id) FROM organizations o WHERE o.id = $1",
                               p, 1, &rows);
    if (err) return err;
    if (store_rows_count(rows) != 1) {
        store_rows_free(rows);
        return hub_fail(c, HUB_ERR_NOT_FOUND, "organization not found");
    }
    json_t *org =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:b}", "id", c->param[0], "name", hub_row_str(rows, 0, 0),
                  "role", role, "created_at", (json_int_t)store_rows_i64(rows, 0, 1, 0), "members",
                  (json_int_t)store_rows_i64(rows, 0, 2, 0), "active",
                  strcmp(c->param[0], c->who.org_id) == 0);
    store_rows_free(rows);
    return hub_ok(c, 200, org);
}

static core_err activate_work(hub_call *c, store_conn *conn)
{
    char role[16];
    if (!hub_require_org(c, conn, c->param[0], "member", role)) return CORE_OK;
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_TEXT(c->who.user_id)};
    core_err err = store_exec(conn, "UPDATE users SET active_org_id = $1 WHERE id = $2", p, 2);
    if (err) return err;
    snprintf(c->who.org_id, sizeof c->who.org_id, "%s", c->param[0]);
    snprintf(c->who.role, sizeof c->who.role, "%s", role);
    json_t *user = hub_user_json(conn, &c->who);
    return user ? hub_ok(c, 200, json_pack("{s:o}", "user", user)) : CORE_EDB;
}

static core_err members_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "member", NULL)) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0])};
    core_err err = store_query(conn,
                               "SELECT u.id, u.email, u.name, m.role, m.created_at FROM "
                               "memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = "
                               "$1 ORDER BY m.created_at, u.id",
                               p, 1, &rows);
    if (err) return err;
    json_t *list = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++)
        json_array_append_new(list,
                              json_pack("{s:s,s:s,s:s,s:s,s:I}", "user_id", hub_row_str(rows, i, 0),
                                        "email", hub_row_str(rows, i, 1), "name",
                                        hub_row_str(rows, i, 2), "role", hub_row_str(rows, i, 3),
                                        "joined_at", (json_int_t)store_rows_i64(rows, i, 4, 0)));
    store_rows_free(rows);
    return hub_ok(c, 200, json_pack("{s:o}", "members", list));
}

/* Runs one membership statement and its audit row in one transaction. */
static core_err audited_exec(hub_call *c, store_conn *conn, const char *sql, store_param *p,
                             size_t n, const char *action, json_t *before, json_t *after)
{
    char target[60];
    snprintf(target, sizeof target, "user:%s", c->param[1]);
    core_err err = store_begin(conn);
    if (!err) {
        err = store_exec(conn, sql, p, n);
        if (!err) err = hub_audit_record(conn, c, c->param[0], action, target, before, after);
        if (!err)
            err = store_commit(conn);
        else
            store_rollback(conn);
    }
    json_decref(before);
    json_decref(after);
    return err;
}

/* Role of user in org, "" when not a member. */
static core_err member_role(store_conn *conn, const char *org, const char *user, char role[16])
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org), STORE_TEXT(user)};
    core_err err = store_query(
        conn, "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2", p, 2, &rows);
    if (err) return err;
    role[0] = '\0';
    if (store_rows_count(rows) == 1) snprintf(role, 16, "%s", hub_row_str(rows, 0, 0));
    store_rows_free(rows);
    return CORE_OK;
}

static int64_t owner_count(store_conn *conn, const char *org)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org)};
    if (store_query(conn, "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
                    p, 1, &rows) != CORE_OK)
        return -1;
    int64_t n = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return n;
}

static core_err member_update_work(hub_call *c, store_conn *conn)
{
    char my_role[16], their_role[16];
    if (!hub_require_org(c, conn, c->param[0], "admin", my_role)) return CORE_OK;
    const char *role = hub_body_str(c, "role");
    if (hub_role_rank(role) < 0)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "role must be owner, admin or member");
    core_err err = member_role(conn, c->param[0], c->param[1], their_role);
    if (err) return err;
    if (!their_role[0]) return hub_fail(c, HUB_ERR_NOT_FOUND, "member not found");
    /* only owners hand out or take away the owner role */
    if ((strcmp(role, "owner") == 0 || strcmp(their_role, "owner") == 0) &&
        strcmp(my_role, "owner") != 0)
        return hub_fail(c, HUB_ERR_FORBIDDEN, "only an owner can change owner roles");
    if (strcmp(their_role, "owner") == 0 && strcmp(role, "owner") != 0 &&
        owner_count(conn, c->param[0]) <= 1)
        return hub_fail(c, HUB_ERR_CONFLICT, "an organization keeps at least one owner");
    store_param p[] = {STORE_TEXT(role), STORE_TEXT(c->param[0]), STORE_TEXT(c->param[1])};
    if ((err = audited_exec(c, conn,
                            "UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3",
                            p, 3, "membership.update",
                            json_pack("{s:s,s:s}", "user_id", c->param[1], "role", their_role),
                            json_pack("{s:s,s:s}", "user_id", c->param[1], "role", role))))
        return err;
    return hub_ok(c, 200, json_pack("{s:s,s:s}", "user_id", c->param[1], "role", role));
}

static core_err member_remove_work(hub_call *c, store_conn *conn)
{
    char my_role[16], their_role[16];
    bool self = c->param[1] && strcmp(c->param[1], c->who.user_id) == 0;
    if (!hub_require_org(c, conn, c->param[0], self ? "member" : "admin", my_role)) return CORE_OK;
    core_err err = member_role(conn, c->param[0], c->param[1], their_role);
    if (err) return err;
    if (!their_role[0]) return hub_fail(c, HUB_ERR_NOT_FOUND, "member not found");
    if (strcmp(their_role, "owner") == 0 && !self && strcmp(my_role, "owner") != 0)
        return hub_fail(c, HUB_ERR_FORBIDDEN, "only an owner can remove an owner");
    if (strcmp(their_role, "owner") == 0 && owner_count(conn, c->param[0]) <= 1)
        return hub_fail(c, HUB_ERR_CONFLICT, "an organization keeps at least one owner");
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_TEXT(c->param[1])};
    if ((err = audited_exec(c, conn, "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
                            p, 2, "membership.remove",
                            json_pack("{s:s,s:s}", "user_id", c->param[1], "role", their_role),
                            NULL)))
        return err;
    return hub_ok(c, 200, json_pack("{s:b}", "ok", 1));
}

static core_err invite_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    const char *role = hub_body_str(c, "role");
    if (!role) role = "member";
    if (strcmp(role, "member") != 0 && strcmp(role, "admin") != 0)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "role must be member or admin");
    const char *email = hub_body_str(c, "email");
    char norm[256];
    if (email && !hub_email_normalize(email, norm))
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "email is not a valid address");
    json_t *hours_v = c->body ? json_object_get(c->body, "expires_in_hours") : NULL;
    int64_t hours =
        json_is_integer(hours_v) ? (int64_t)json_integer_value(hours_v) : INVITE_DEFAULT_HOURS;
    if (hours < 1 || hours > INVITE_MAX_HOURS)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "expires_in_hours must be 1..%d",
                        INVITE_MAX_HOURS);
    char id[40], token[HUB_TOKEN_MAX], hash[HUB_SECRET_HASH_HEX];
    if (hub_token_new("inv_", id, token, hash) != CORE_OK) return CORE_EIO;
    int64_t now = hub_now_ms(), expires = now + hours * 3600 * 1000;
    store_param p[] = {STORE_TEXT(id),
                       STORE_TEXT(c->param[0]),
                       STORE_TEXT(hash),
                       STORE_TEXT(role),
                       STORE_TEXT_OR_NULL(email ? norm : NULL),
                       STORE_TEXT(c->who.user_id),
                       STORE_INT(now),
                       STORE_INT(expires)};
    char target[60];
    snprintf(target, sizeof target, "invitation:%s", id);
    json_t *after =
        json_pack("{s:s,s:s,s:o,s:I}", "id", id, "role", role, "email",
                  email ? json_string(norm) : json_null(), "expires_at", (json_int_t)expires);
    core_err err = store_begin(conn);
    if (!err) {
        err = store_exec(conn,
                         "INSERT INTO invitations (id, org_id, secret_hash, role, email, "
                         "created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, "
                         "$6, $7, $8)",
                         p, 8);
        if (!err)
            err = hub_audit_record(conn, c, c->param[0], "invitation.create", target, NULL, after);
        if (!err)
            err = store_commit(conn);
        else
            store_rollback(conn);
    }
    json_decref(after);
    if (err) return err;
    char url[HUB_TOKEN_MAX + 32];
    snprintf(url, sizeof url, "/invite/%s", token);
    return hub_ok(c, 201,
                  json_pack("{s:s,s:s,s:s,s:s,s:o,s:I}", "id", id, "token", token, "url", url,
                            "role", role, "email", email ? json_string(norm) : json_null(),
                            "expires_at", (json_int_t)expires));
}

static core_err invitations_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_INT(hub_now_ms())};
    core_err err = store_query(conn,
                               "SELECT id, role, email, created_at, expires_at FROM invitations "
                               "WHERE org_id = $1 AND accepted_at IS NULL AND expires_at > $2 "
                               "ORDER BY created_at",
                               p, 2, &rows);
    if (err) return err;
    json_t *list = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++)
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:o,s:I,s:I}", "id", hub_row_str(rows, i, 0), "role",
                            hub_row_str(rows, i, 1), "email", hub_row_json_str(rows, i, 2),
                            "created_at", (json_int_t)store_rows_i64(rows, i, 3, 0), "expires_at",
                            (json_int_t)store_rows_i64(rows, i, 4, 0)));
    store_rows_free(rows);
    return hub_ok(c, 200, json_pack("{s:o}", "invitations", list));
}

static core_err invitation_revoke_work(hub_call *c, store_conn *conn)
{
    if (!hub_require_org(c, conn, c->param[0], "admin", NULL)) return CORE_OK;
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->param[0]), STORE_TEXT(c->param[1])};
    core_err err = store_query(conn,
                               "SELECT role, email, expires_at FROM invitations WHERE org_id = $1 "
                               "AND id = $2 AND accepted_at IS NULL",
                               p, 2, &rows);
    if (err) return err;
    if (store_rows_count(rows) != 1) {
        store_rows_free(rows);
        return hub_fail(c, HUB_ERR_NOT_FOUND, "no pending invitation with this id");
    }
    json_t *before = json_pack("{s:s,s:s,s:o,s:I}", "id", c->param[1], "role",
                               hub_row_str(rows, 0, 0), "email", hub_row_json_str(rows, 0, 1),
                               "expires_at", (json_int_t)store_rows_i64(rows, 0, 2, 0));
    store_rows_free(rows);
    char target[60];
    snprintf(target, sizeof target, "invitation:%s", c->param[1]);
    err = store_begin(conn);
    if (!err) {
        /* accepted_at IS NULL again: an accept that raced us keeps its membership */
        err = store_exec(conn,
                         "DELETE FROM invitations WHERE org_id = $1 AND id = $2 AND "
                         "accepted_at IS NULL",
                         p, 2);
        if (!err && store_changes(conn) != 1) err = CORE_ENOTFOUND;
        if (!err)
            err = hub_audit_record(conn, c, c->param[0], "invitation.revoke", target, before, NULL);
        if (!err)
            err = store_commit(conn);
        else
            store_rollback(conn);
    }
    json_decref(before);
    if (err == CORE_ENOTFOUND) return hub_fail(c, HUB_ERR_NOT_FOUND, "invitation already used");
    if (err) return err;
    return hub_ok(c, 200, json_pack("{s:b}", "ok", 1));
}

/* Public: what an invitation link leads to, for the invite page. Only the
 * organization's name and the expiry; an unknown, used, expired or wrong
 * secret all answer the same 404. */
static core_err invitation_lookup_work(hub_call *c, store_conn *conn)
{
    slice_t id, secret;
    if (!c->param[0] || hub_token_split(slice_from_cstr(c->param[0]), &id, &secret) != CORE_OK ||
        id.len >= 40)
        return hub_fail(c, HUB_ERR_NOT_FOUND,
                        "this invitation is unknown, expired or already used");
    char idbuf[40];
    snprintf(idbuf, sizeof idbuf, "%.*s", (int)id.len, id.ptr);
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(idbuf), STORE_INT(hub_now_ms())};
    core_err err = store_query(conn,
                               "SELECT i.secret_hash, o.name, i.expires_at FROM invitations i "
                               "JOIN organizations o ON o.id = i.org_id WHERE i.id = $1 AND "
                               "i.accepted_at IS NULL AND i.expires_at > $2",
                               p, 2, &rows);
    if (err) return err;
    if (store_rows_count(rows) != 1 || !hub_secret_matches(secret, store_rows_get(rows, 0, 0))) {
        store_rows_free(rows);
        return hub_fail(c, HUB_ERR_NOT_FOUND,
                        "this invitation is unknown, expired or already used");
    }
    json_t *answer = json_pack("{s:{s:s},s:I}", "organization", "name", hub_row_str(rows, 0, 1),
                               "expires_at", (json_int_t)store_rows_i64(rows, 0, 2, 0));
    store_rows_free(rows);
    return hub_ok(c, 200, answer);
}

static void handle_invitation_lookup_work(http_request *req, void *ud)
{
    (void)ud;
    hub_call_run(req, HUB_AUTH_NONE, invitation_lookup_work, "token", NULL);
}

static core_err accept_work(hub_call *c, store_conn *conn)
{
    const char *token = hub_body_str(c, "token");
    if (!token) return hub_fail(c, HUB_ERR_INVALID_REQUEST, "token is required");
    char org_id[40], msg[200];
    core_err err = store_begin(conn);
    if (err) return err;
    hub_err herr =
        hub_invitation_accept(conn, token, c->who.user_id, c->who.email, org_id, msg, sizeof msg);
    if (herr) {
        store_rollback(conn);
        return hub_fail(c, herr, "%s", msg);
    }
    if ((err = store_commit(conn))) return err;
    /* re-read the principal so the answer shows the new active org and role */
    if ((err = hub_authenticate(c, conn))) return err;
    json_t *user = hub_user_json(conn, &c->who);
    return user ? hub_ok(c, 200, json_pack("{s:s,s:o}", "org_id", org_id, "user", user)) : CORE_EDB;
}

HUB_USER_HANDLER(list_work, NULL, NULL)
HUB_USER_HANDLER(create_work, NULL, NULL)
HUB_USER_HANDLER(get_work, "id", NULL)
HUB_USER_HANDLER(activate_work, "id", NULL)
HUB_USER_HANDLER(members_work, "id", NULL)
HUB_USER_HANDLER(member_update_work, "id", "user")
HUB_USER_HANDLER(member_remove_work, "id", "user")
HUB_USER_HANDLER(invite_work, "id", NULL)
HUB_USER_HANDLER(invitations_work, "id", NULL)
HUB_USER_HANDLER(invitation_revoke_work, "id", "inv")
HUB_USER_HANDLER(accept_work, NULL, NULL)

core_err hub_routes_orgs(http_router *r)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/api/organizations", handle_list_work},
        {"POST", "/api/organizations", handle_create_work},
        {"GET", "/api/organizations/:id", handle_get_work},
        {"POST", "/api/organizations/:id/activate", handle_activate_work},
        {"GET", "/api/organizations/:id/members", handle_members_work},
        {"PUT", "/api/organizations/:id/members/:user", handle_member_update_work},
        {"DELETE", "/api/organizations/:id/members/:user", handle_member_remove_work},
        {"POST", "/api/organizations/:id/invitations", handle_invite_work},
        {"GET", "/api/organizations/:id/invitations", handle_invitations_work},
        {"DELETE", "/api/organizations/:id/invitations/:inv", handle_invitation_revoke_work},
        {"GET", "/api/invitations/:token", handle_invitation_lookup_work},
        {"POST", "/api/invitations/accept", handle_accept_work},
    };
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        core_err err = http_router_add(r, routes[i].method, routes[i].pattern, routes[i].fn, NULL);
        if (err) return err;
    }
    return CORE_OK;
}
