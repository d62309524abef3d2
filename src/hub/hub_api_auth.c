/*
 * hub_api_auth.c - POST /api/auth/register, /login, /logout, GET /api/auth/me
 * and personal API tokens (/api/auth/tokens). Passwords are hashed and
 * verified on store workers (argon2id is slow by design); failed logins are
 * throttled per (e-mail, client IP).
 */
#include "hub_accounts.h"

#include <stdio.h>
#include <stdlib.h>

/* Creates the session, sets the cookie and fills c->who from it. */
static core_err start_session(hub_call *c, store_conn *conn, const char *user_id,
                              char cookie[HUB_TOKEN_MAX])
{
    if (hub_session_create(conn, user_id, c->app->cfg.session_ttl_s, c->ip, c->user_agent,
                           cookie) != HUB_OK)
        return CORE_EDB;
    buf_t header;
    buf_init(&header, sizeof c->set_cookie - 1);
    hub_cookie_session(&header, cookie, c->app->cfg.session_ttl_s, c->app->cfg.secure_cookies);
    snprintf(c->set_cookie, sizeof c->set_cookie, "%s", header.data ? header.data : "");
    buf_free(&header);
    c->credential = cookie;
    c->credential_cookie = true;
    return hub_authenticate(c, conn);
}

/* ---- register ---- */

typedef struct {
    char cookie[HUB_TOKEN_MAX];
} session_ud;

static core_err register_work(hub_call *c, store_conn *conn)
{
    const char *email = hub_body_str(c, "email");
    const char *password = hub_body_str(c, "password");
    const char *name = hub_body_str(c, "name");
    const char *org_name = hub_body_str(c, "organization");
    const char *invitation = hub_body_str(c, "invitation");
    session_ud *ud = c->ud;
    char msg[200] = "";
    char user_id[40], org_id[40];
    if (org_name && (strlen(org_name) == 0 || strlen(org_name) > 120))
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "organization needs 1 to 120 bytes");

    core_err err = store_begin(conn);
    if (err) return err;
    hub_err herr = hub_user_create(conn, email, password, name, user_id, msg, sizeof msg);
    if (herr) goto fail;
    if (invitation) {
        char norm[256];
        hub_email_normalize(email, norm);
        herr = hub_invitation_accept(conn, invitation, user_id, norm, org_id, msg, sizeof msg);
        if (herr) goto fail;
    } else {
        char generated[200];
        if (!org_name) {
            snprintf(generated, sizeof generated, "%s's organization",
                     name && *name ? name : email);
            org_name = generated;
        }
        if ((herr = hub_org_create(conn, org_name, org_id)) ||
            (herr = hub_membership_set(conn, org_id, user_id, "owner")))
            goto fail;
    }
    if ((err = store_commit(conn))) return err;
    if ((err = start_session(c, conn, user_id, ud->cookie))) return err;
    json_t *user = hub_user_json(conn, &c->who);
    return user ? hub_ok(c, 201, json_pack("{s:o}", "user", user)) : CORE_EDB;
fail:
    store_rollback(conn);
    return hub_fail(c, herr, "%s", msg[0] ? msg : "registration failed");
}

static void handle_register(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_NONE);
    if (!c) return;
    c->ud = calloc(1, sizeof(session_ud));
    c->ud_free = free;
    hub_call_submit(c, register_work);
}

/* ---- login ---- */

static core_err login_work(hub_call *c, store_conn *conn)
{
    const char *email = hub_body_str(c, "email");
    const char *password = hub_body_str(c, "password");
    session_ud *ud = c->ud;
    char norm[256];
    if (!email || !password || !hub_email_normalize(email, norm))
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "email and password are required");

    char key[400];
    snprintf(key, sizeof key, "%s|%s", norm, c->ip);
    int64_t now = hub_now_ms();
    hub_throttle throttle = {0, now, 0};
    store_rows *rows = NULL;
    store_param kp[] = {STORE_TEXT(key)};
    core_err err = store_query(conn,
                               "SELECT failures, window_start, locked_until FROM login_throttle "
                               "WHERE key = $1",
                               kp, 1, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1) {
        throttle.failures = store_rows_i64(rows, 0, 0, 0);
        throttle.window_start_ms = store_rows_i64(rows, 0, 1, now);
        throttle.locked_until_ms = store_rows_i64(rows, 0, 2, 0);
    }
    store_rows_free(rows);
    int64_t wait = hub_throttle_wait_ms(&throttle, now);
    if (wait > 0)
        return hub_fail_extra(
            c, HUB_ERR_RATE_LIMITED, json_pack("{s:I}", "retry_after_ms", (json_int_t)wait),
            "too many failed sign-ins; retry in %lld seconds", (long long)((wait + 999) / 1000));

    store_param up[] = {STORE_TEXT(norm)};
    if ((err = store_query(conn, "SELECT id, password_hash FROM users WHERE email = $1", up, 1,
                           &rows)))
        return err;
    bool found = store_rows_count(rows) == 1;
    char user_id[40] = "";
    /* an unknown e-mail costs the same argon2id work as a wrong password */
    bool ok = hub_password_verify(slice_from_cstr(password),
                                  found ? store_rows_get(rows, 0, 1) : hub_password_dummy_hash());
    if (found) snprintf(user_id, sizeof user_id, "%s", hub_row_str(rows, 0, 0));
    store_rows_free(rows);

    if (!ok || !found) {
        hub_throttle_fail(&throttle, now);
        store_param tp[] = {STORE_TEXT(key), STORE_INT(throttle.failures),
                            STORE_INT(throttle.window_start_ms),
                            STORE_INT(throttle.locked_until_ms)};
        if ((err = store_exec(conn,
                              "INSERT INTO login_throttle (key, failures, window_start, "
                              "locked_until) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE "
                              "SET failures = excluded.failures, window_start = "
                              "excluded.window_start, locked_until = excluded.locked_until",
                              tp, 4)))
            return err;
        return hub_fail(c, HUB_ERR_UNAUTHORIZED, "wrong e-mail or password");
    }
    store_exec(conn, "DELETE FROM login_throttle WHERE key = $1", kp, 1);
    if ((err = start_session(c, conn, user_id, ud->cookie))) return err;
    json_t *user = hub_user_json(conn, &c->who);
    return user ? hub_ok(c, 200, json_pack("{s:o}", "user", user)) : CORE_EDB;
}

static void handle_login(http_request *req, void *ud)
{
    hub_call *c = hub_call_new(req, HUB_AUTH_NONE);
    if (!c) return;
    c->ud = calloc(1, sizeof(session_ud));
    c->ud_free = free;
    hub_call_submit(c, login_work);
}

/* ---- logout / me ---- */

static core_err logout_work(hub_call *c, store_conn *conn)
{
    if (c->who.authenticated && c->who.via_cookie) {
        store_param p[] = {STORE_TEXT(c->who.session_id)};
        core_err err = store_exec(conn, "DELETE FROM sessions WHERE id = $1", p, 1);
        if (err) return err;
    }
    buf_t header;
    buf_init(&header, sizeof c->set_cookie - 1);
    hub_cookie_session(&header, "", 0, c->app->cfg.secure_cookies);
    snprintf(c->set_cookie, sizeof c->set_cookie, "%s", header.data ? header.data : "");
    buf_free(&header);
    return hub_ok(c, 200, json_pack("{s:b}", "ok", 1));
}

static void handle_logout(http_request *req, void *ud)
{
    hub_call_run(req, HUB_AUTH_OPTIONAL, logout_work, NULL, NULL);
}

static core_err me_work(hub_call *c, store_conn *conn)
{
    json_t *user = hub_user_json(conn, &c->who);
    if (!user) return CORE_EDB;
    json_object_set_new(user, "auth", json_string(c->who.via_cookie ? "session" : "token"));
    return hub_ok(c, 200, json_pack("{s:o}", "user", user));
}

static void handle_me(http_request *req, void *ud)
{
    hub_call_run(req, HUB_AUTH_USER, me_work, NULL, NULL);
}

/* ---- personal API tokens ---- */

static core_err token_create_work(hub_call *c, store_conn *conn)
{
    const char *name = hub_body_str(c, "name");
    if (name && strlen(name) > 120)
        return hub_fail(c, HUB_ERR_INVALID_REQUEST, "name is longer than 120 bytes");
    char id[40], token[HUB_TOKEN_MAX];
    if (hub_token_create(conn, c->who.user_id, name ? name : "", id, token) != HUB_OK)
        return CORE_EDB;
    return hub_ok(c, 201,
                  json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", name ? name : "", "token", token,
                            "note", "store this token now; it is not shown again"));
}

static core_err token_list_work(hub_call *c, store_conn *conn)
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(c->who.user_id)};
    core_err err = store_query(conn,
                               "SELECT id, name, created_at, last_used_at FROM api_tokens "
                               "WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at",
                               p, 1, &rows);
    if (err) return err;
    json_t *list = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        json_t *t = json_pack("{s:s,s:s,s:I}", "id", hub_row_str(rows, i, 0), "name",
                              hub_row_str(rows, i, 1), "created_at",
                              (json_int_t)store_rows_i64(rows, i, 2, 0));
        json_object_set_new(t, "last_used_at",
                            store_rows_get(rows, i, 3) ? json_integer(store_rows_i64(rows, i, 3, 0))
                                                       : json_null());
        json_array_append_new(list, t);
    }
    store_rows_free(rows);
    return hub_ok(c, 200, json_pack("{s:o}", "tokens", list));
}

static core_err token_revoke_work(hub_call *c, store_conn *conn)
{
    store_param p[] = {STORE_INT(hub_now_ms()), STORE_TEXT(c->param[0] ? c->param[0] : ""),
                       STORE_TEXT(c->who.user_id)};
    core_err err = store_exec(conn,
                              "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND "
                              "user_id = $3 AND revoked_at IS NULL",
                              p, 3);
    if (err) return err;
    if (store_changes(conn) != 1) return hub_fail(c, HUB_ERR_NOT_FOUND, "token not found");
    return hub_ok(c, 200, json_pack("{s:b}", "ok", 1));
}

static void handle_token_create(http_request *req, void *ud)
{
    hub_call_run(req, HUB_AUTH_USER, token_create_work, NULL, NULL);
}

static void handle_token_list(http_request *req, void *ud)
{
    hub_call_run(req, HUB_AUTH_USER, token_list_work, NULL, NULL);
}

static void handle_token_revoke(http_request *req, void *ud)
{
    hub_call_run(req, HUB_AUTH_USER, token_revoke_work, "id", NULL);
}

core_err hub_routes_auth(http_router *r)
{
    core_err err = CORE_OK;
    if (!err) err = http_router_add(r, "POST", "/api/auth/register", handle_register, NULL);
    if (!err) err = http_router_add(r, "POST", "/api/auth/login", handle_login, NULL);
    if (!err) err = http_router_add(r, "POST", "/api/auth/logout", handle_logout, NULL);
    if (!err) err = http_router_add(r, "GET", "/api/auth/me", handle_me, NULL);
    if (!err) err = http_router_add(r, "POST", "/api/auth/tokens", handle_token_create, NULL);
    if (!err) err = http_router_add(r, "GET", "/api/auth/tokens", handle_token_list, NULL);
    if (!err) err = http_router_add(r, "DELETE", "/api/auth/tokens/:id", handle_token_revoke, NULL);
    return err;
}
