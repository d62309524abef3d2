/*
 * hub_call.c - the request framework of teamhub (see hub_app.h): capture the
 * request on the loop, authenticate and do the database work on a store
 * worker, answer on the loop. Also the error table and small shared helpers.
 */
#include "hub_app.h"
#include "hub_auth.h"
#include "hub_metrics.h"

#include "../core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const struct {
    const char *code;
    int status;
} err_table[HUB_ERR__COUNT] = {
    [HUB_OK] = {"ok", 200},
    [HUB_ERR_INVALID_REQUEST] = {"invalid_request", 400},
    [HUB_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [HUB_ERR_CSRF] = {"csrf_failed", 403},
    [HUB_ERR_FORBIDDEN] = {"forbidden", 403},
    [HUB_ERR_NOT_FOUND] = {"not_found", 404},
    [HUB_ERR_CONFLICT] = {"conflict", 409},
    [HUB_ERR_MODEL_NOT_ALLOWED] = {"model_not_allowed", 403},
    [HUB_ERR_MODEL_NOT_FOUND] = {"model_not_found", 404},
    [HUB_ERR_MODEL_UNAVAILABLE] = {"model_unavailable", 503},
    [HUB_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [HUB_ERR_BUDGET_EXCEEDED] = {"budget_exceeded", 402},
    [HUB_ERR_FEATURE_DISABLED] = {"feature_disabled", 403},
    [HUB_ERR_GATEWAY] = {"gateway_error", 502},
    [HUB_ERR_BUSY] = {"server_busy", 503},
    [HUB_ERR_INTERNAL] = {"internal_error", 500},
};

const char *hub_err_code(hub_err e)
{
    return (unsigned)e < HUB_ERR__COUNT ? err_table[e].code : "internal_error";
}

int hub_err_status(hub_err e)
{
    return (unsigned)e < HUB_ERR__COUNT ? err_table[e].status : 500;
}

int64_t hub_now_ms(void)
{
    return time_wall_ms();
}

const char *hub_row_str(const store_rows *r, size_t row, size_t col)
{
    const char *v = store_rows_get(r, row, col);
    return v ? v : "";
}

json_t *hub_row_json_str(const store_rows *r, size_t row, size_t col)
{
    const char *v = store_rows_get(r, row, col);
    return v ? json_string(v) : json_null();
}

int hub_role_rank(const char *role)
{
    if (!role) return -1;
    if (strcmp(role, "owner") == 0) return 2;
    if (strcmp(role, "admin") == 0) return 1;
    if (strcmp(role, "member") == 0) return 0;
    return -1;
}

const char *hub_body_str(const hub_call *c, const char *key)
{
    return c->body ? json_string_value(json_object_get(c->body, key)) : NULL;
}

/* ---- responses ---- */

core_err hub_ok(hub_call *c, int status, json_t *resp)
{
    c->err = HUB_OK;
    c->status = status;
    json_decref(c->resp);
    c->resp = resp;
    return resp ? CORE_OK : CORE_ENOMEM;
}

static void vfail(hub_call *c, hub_err err, json_t *extra, const char *fmt, va_list ap)
{
    c->err = err;
    c->status = hub_err_status(err);
    vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
    json_decref(c->err_extra);
    c->err_extra = extra;
}

core_err hub_fail(hub_call *c, hub_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, err, NULL, fmt, ap);
    va_end(ap);
    return CORE_OK;
}

core_err hub_fail_extra(hub_call *c, hub_err err, json_t *extra, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, err, extra, fmt, ap);
    va_end(ap);
    return CORE_OK;
}

void hub_call_free(hub_call *c)
{
    json_decref(c->body);
    json_decref(c->registry);
    json_decref(c->resp);
    json_decref(c->err_extra);
    buf_free(&c->raw);
    if (c->ud_free) c->ud_free(c->ud);
    free(c);
}

void hub_call_header(hub_call *c, const char *name, const char *value)
{
    if (c->header_count >= HUB_CALL_MAX_HEADERS || strlen(name) >= sizeof c->headers[0].name ||
        strlen(value) >= sizeof c->headers[0].value)
        return;
    snprintf(c->headers[c->header_count].name, sizeof c->headers[0].name, "%s", name);
    snprintf(c->headers[c->header_count].value, sizeof c->headers[0].value, "%s", value);
    c->header_count++;
}

void hub_call_apply_headers(hub_call *c)
{
    for (size_t i = 0; i < c->header_count; i++)
        http_add_header(c->req, c->headers[i].name, c->headers[i].value);
    c->header_count = 0;
}

void hub_call_respond(hub_call *c)
{
    http_request *req = c->req;
    if (http_request_closed(req)) {
        http_request_finish(req);
        hub_call_free(c);
        return;
    }
    hub_metrics_request(c->err != HUB_OK || c->status == 0 ? hub_err_status(c->err) : c->status,
                        c->err != HUB_OK ? hub_err_code(c->err) : NULL,
                        (double)(time_mono_us() - req->start_us) / 1e6);
    if (c->set_cookie[0]) http_add_header(req, "Set-Cookie", c->set_cookie);
    http_add_header(req, "Cache-Control", "no-store");
    hub_call_apply_headers(c);
    if (c->err != HUB_OK || c->status == 0) {
        if (c->status == 0) {
            c->err = HUB_ERR_INTERNAL;
            snprintf(c->err_msg, sizeof c->err_msg, "the request could not be completed");
        }
        json_t *error = c->err_extra ? json_incref(c->err_extra) : json_object();
        json_object_set_new(error, "code", json_string(hub_err_code(c->err)));
        json_object_set_new(error, "message", json_string(c->err_msg));
        json_object_set_new(error, "retryable",
                            json_boolean(c->err == HUB_ERR_BUSY || c->err == HUB_ERR_RATE_LIMITED ||
                                         c->err == HUB_ERR_MODEL_UNAVAILABLE ||
                                         c->err == HUB_ERR_GATEWAY));
        json_t *wrap = json_pack("{s:o}", "error", error);
        char *text = json_dumps(wrap, JSON_COMPACT);
        json_decref(wrap);
        http_respond(req, hub_err_status(c->err), "application/json",
                     slice_from_cstr(text ? text : "{}"));
        free(text);
    } else if (c->raw_type) {
        if (c->content_disposition[0])
            http_add_header(req, "Content-Disposition", c->content_disposition);
        http_respond(req, c->status, c->raw_type, buf_slice(&c->raw));
    } else if (c->status == 204 || !c->resp) {
        http_respond(req, c->status, NULL, SLICE_NULL);
    } else {
        char *text = json_dumps(c->resp, JSON_COMPACT);
        http_respond(req, c->status, "application/json", slice_from_cstr(text ? text : "{}"));
        free(text);
    }
    hub_call_free(c);
}

/* ---- capture ---- */

static void copy_slice(char *dst, size_t len, slice_t s)
{
    size_t n = MIN(s.len, len - 1);
    if (n) memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

hub_call *hub_call_new(http_request *req, hub_auth_need auth)
{
    hub_call *c = calloc(1, sizeof *c);
    if (!c) {
        http_respond_error(req, 500, "internal_error", "out of memory", true);
        return NULL;
    }
    c->req = req;
    c->hl = req->loop_data;
    c->app = c->hl->app;
    c->auth = auth;
    buf_init(&c->raw, 0);
    if (req->body.len > 0) {
        json_error_t jerr;
        c->body = json_loadb(req->body.ptr, req->body.len, 0, &jerr);
        if (!json_is_object(c->body)) {
            hub_fail(c, HUB_ERR_INVALID_REQUEST, "the body must be a JSON object");
            hub_call_respond(c);
            return NULL;
        }
    }
    if (auth != HUB_AUTH_NONE) {
        slice_t authz = http_request_header(req, "authorization");
        if (authz.len > 7 && slice_case_eq((slice_t){authz.ptr, 7}, SLICE_LIT("Bearer "))) {
            c->credential =
                arena_strdup(&req->arena, slice_trim((slice_t){authz.ptr + 7, authz.len - 7}));
        } else {
            slice_t cookie = hub_cookie_get(http_request_header(req, "cookie"), HUB_SESSION_COOKIE);
            if (cookie.len) {
                c->credential = arena_strdup(&req->arena, cookie);
                c->credential_cookie = true;
            }
        }
    }
    c->csrf_ok =
        hub_csrf_origin_ok(req->method, http_request_header(req, "origin"),
                           http_request_header(req, "referer"), http_request_header(req, "host"));
    /* Without credentials (login, register) a missing Origin is fine (curl), but a
     * browser that names a different origin is refused: no login CSRF. */
    slice_t origin = http_request_header(req, "origin");
    c->cross_site = origin.len > 0 && !c->csrf_ok;
    copy_slice(c->ip, sizeof c->ip, slice_from_cstr(req->peer));
    char *colon = strrchr(c->ip, ':');
    if (colon && strchr(c->ip, '.')) *colon = '\0'; /* "1.2.3.4:5678" -> "1.2.3.4" */
    copy_slice(c->user_agent, sizeof c->user_agent, http_request_header(req, "user-agent"));
    return c;
}

void hub_call_param(hub_call *c, int slot, const char *name)
{
    slice_t v = http_request_param(c->req, name);
    c->param[slot] = v.ptr ? arena_strdup(&c->req->arena, v) : NULL;
}

/* ---- authentication (worker) ---- */

core_err hub_authenticate(hub_call *c, store_conn *conn)
{
    memset(&c->who, 0, sizeof c->who);
    if (!c->credential) return CORE_OK;
    slice_t id, secret;
    if (hub_token_split(slice_from_cstr(c->credential), &id, &secret) != CORE_OK) return CORE_OK;
    char idbuf[40];
    copy_slice(idbuf, sizeof idbuf, id);
    store_rows *rows = NULL;
    core_err err;
    store_param p[] = {STORE_TEXT(idbuf)};
    if (c->credential_cookie) {
        err = store_query(conn,
                          "SELECT s.secret_hash, s.expires_at, u.id, u.email, u.name, "
                          "u.active_org_id FROM sessions s JOIN users u ON u.id = s.user_id "
                          "WHERE s.id = $1",
                          p, 1, &rows);
    } else {
        err = store_query(conn,
                          "SELECT t.secret_hash, CASE WHEN t.revoked_at IS NULL THEN "
                          "9223372036854775807 ELSE 0 END, u.id, u.email, u.name, "
                          "u.active_org_id FROM api_tokens t JOIN users u ON u.id = t.user_id "
                          "WHERE t.id = $1",
                          p, 1, &rows);
    }
    if (err) return err;
    bool valid = store_rows_count(rows) == 1 &&
                 hub_secret_matches(secret, store_rows_get(rows, 0, 0)) &&
                 store_rows_i64(rows, 0, 1, 0) > hub_now_ms();
    if (valid) {
        c->who.authenticated = true;
        c->who.via_cookie = c->credential_cookie;
        snprintf(c->who.user_id, sizeof c->who.user_id, "%s", hub_row_str(rows, 0, 2));
        snprintf(c->who.email, sizeof c->who.email, "%s", hub_row_str(rows, 0, 3));
        snprintf(c->who.name, sizeof c->who.name, "%s", hub_row_str(rows, 0, 4));
        snprintf(c->who.org_id, sizeof c->who.org_id, "%s", hub_row_str(rows, 0, 5));
        if (c->credential_cookie)
            snprintf(c->who.session_id, sizeof c->who.session_id, "%s", idbuf);
    }
    store_rows_free(rows);
    if (!valid) return CORE_OK;

    /* The active organization, falling back to the oldest membership when the
     * stored one is gone (left or removed). */
    store_param q[] = {STORE_TEXT(c->who.user_id), STORE_TEXT(c->who.org_id)};
    err = store_query(conn,
                      "SELECT org_id, role FROM memberships WHERE user_id = $1 "
                      "ORDER BY CASE WHEN org_id = $2 THEN 0 ELSE 1 END, created_at, org_id "
                      "LIMIT 1",
                      q, 2, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1) {
        const char *org = hub_row_str(rows, 0, 0);
        if (strcmp(org, c->who.org_id) != 0) {
            store_param u[] = {STORE_TEXT(org), STORE_TEXT(c->who.user_id)};
            store_exec(conn, "UPDATE users SET active_org_id = $1 WHERE id = $2", u, 2);
        }
        snprintf(c->who.org_id, sizeof c->who.org_id, "%s", org);
        snprintf(c->who.role, sizeof c->who.role, "%s", hub_row_str(rows, 0, 1));
    } else {
        c->who.org_id[0] = '\0';
        c->who.role[0] = '\0';
    }
    store_rows_free(rows);
    if (!c->credential_cookie) {
        store_param t[] = {STORE_INT(hub_now_ms()), STORE_TEXT(idbuf)};
        store_exec(conn, "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", t, 2);
    }
    return CORE_OK;
}

bool hub_require_org(hub_call *c, store_conn *conn, const char *org_id, const char *min_role,
                     char role_out[16])
{
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id ? org_id : ""), STORE_TEXT(c->who.user_id)};
    if (store_query(conn, "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2", p, 2,
                    &rows) != CORE_OK) {
        hub_fail(c, HUB_ERR_INTERNAL, "database error");
        return false;
    }
    bool member = store_rows_count(rows) == 1;
    char role[16] = "";
    if (member) snprintf(role, sizeof role, "%s", hub_row_str(rows, 0, 0));
    store_rows_free(rows);
    if (!member) {
        hub_fail(c, HUB_ERR_NOT_FOUND, "organization not found");
        return false;
    }
    if (hub_role_rank(role) < hub_role_rank(min_role)) {
        hub_fail(c, HUB_ERR_FORBIDDEN, "this needs the %s role in the organization", min_role);
        return false;
    }
    if (role_out) snprintf(role_out, 16, "%s", role);
    return true;
}

/* ---- submission ---- */

static core_err call_job(store_conn *conn, void *ud)
{
    hub_call *c = ud;
    if (c->auth == HUB_AUTH_NONE && c->cross_site)
        return hub_fail(c, HUB_ERR_CSRF, "cross-site request refused: Origin does not match Host");
    if (c->auth != HUB_AUTH_NONE) {
        core_err err = hub_authenticate(c, conn);
        if (err) return err;
        if (c->auth == HUB_AUTH_USER && !c->who.authenticated)
            return hub_fail(c, HUB_ERR_UNAUTHORIZED, "sign in or send a valid API token");
        if (c->who.authenticated && c->who.via_cookie && !c->csrf_ok) {
            memset(&c->who, 0, sizeof c->who);
            return hub_fail(c, HUB_ERR_CSRF,
                            "cross-site request refused: Origin does not match Host");
        }
    }
    return c->work(c, conn);
}

static void call_done(core_err err, void *ud)
{
    hub_call *c = ud;
    if (err != CORE_OK) {
        log_msgf(LOG_ERROR, c->req->id, "request failed in the store: %s", core_strerror(err));
        c->next = NULL;
        hub_fail(c, err == CORE_EBUSY ? HUB_ERR_BUSY : HUB_ERR_INTERNAL,
                 "the request could not be completed");
    }
    if (c->next && c->err == HUB_OK) {
        hub_next_fn next = c->next;
        c->next = NULL;
        next(c);
        return;
    }
    hub_call_respond(c);
}

void hub_call_submit(hub_call *c, hub_work_fn work)
{
    c->work = work;
    c->next = NULL;
    core_err err = store_submit(c->app->db, c->req->loop, call_job, call_done, c);
    if (err) {
        hub_fail(c, HUB_ERR_BUSY, "the server is busy, retry shortly");
        hub_call_respond(c);
    }
}

void hub_call_run(http_request *req, hub_auth_need auth, hub_work_fn work, const char *p0,
                  const char *p1)
{
    hub_call *c = hub_call_new(req, auth);
    if (!c) return;
    if (p0) hub_call_param(c, 0, p0);
    if (p1) hub_call_param(c, 1, p1);
    hub_call_submit(c, work);
}

static void registry_ready(void *ud, json_t *registry, const char *error)
{
    hub_call *c = ud;
    if (!registry) {
        hub_fail(c, HUB_ERR_GATEWAY, "%s", error ? error : "the model registry is unavailable");
        hub_call_respond(c);
        return;
    }
    c->registry = json_incref(registry);
    hub_call_submit(c, c->work);
}

void hub_call_submit_with_registry(hub_call *c, hub_work_fn work)
{
    c->work = work;
    hub_registry_get(c->hl, registry_ready, c);
}
