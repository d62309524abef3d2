/*
 * hub_app.h - teamhub's process-wide state (configuration, store, router,
 * server), its per-loop state (HTTP client to aigw, model registry cache) and
 * the request framework every API handler is written with.
 *
 * The framework (hub_call.c): a handler runs on the loop thread, captures what
 * it needs from the request into a hub_call (parsed JSON body, route params and
 * credentials copied; the worker never touches the http_request), and submits
 * a work function to the store. On the worker, the call is authenticated first
 * (session cookie or personal API token; CSRF origin check for cookie-
 * authenticated unsafe methods), then the work function runs with the
 * principal filled in and sets the response (JSON, raw bytes or an error). Back
 * on the loop, the response is sent - or, when the work function set
 * c->next, that continuation runs instead (multi-step handlers such as chat).
 *
 * Error responses always have the shape
 *   {"error":{"code":"..","message":"..","retryable":false, ...extra}}
 * with the stable codes of hub_err (hub_err_code()).
 *
 * Threads: hub_call_* on the loop thread, except hub_fail*, hub_ok* and
 * hub_require_* which run on the worker inside a work function.
 */
#ifndef HUB_APP_H
#define HUB_APP_H

#include "../core/arena.h"
#include "../core/base.h"
#include "../core/buf.h"
#include "../core/http_client.h"
#include "../core/http_server.h"
#include "../store/store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <uv.h>

/* ---- errors: one enum, 1:1 with the documented codes ---- */
typedef enum {
    HUB_OK = 0,
    HUB_ERR_INVALID_REQUEST,   /* 400 */
    HUB_ERR_UNAUTHORIZED,      /* 401 */
    HUB_ERR_CSRF,              /* 403 csrf_failed */
    HUB_ERR_FORBIDDEN,         /* 403 */
    HUB_ERR_NOT_FOUND,         /* 404 */
    HUB_ERR_CONFLICT,          /* 409 */
    HUB_ERR_MODEL_NOT_ALLOWED, /* 403 */
    HUB_ERR_MODEL_NOT_FOUND,   /* 404 */
    HUB_ERR_MODEL_UNAVAILABLE, /* 503 */
    HUB_ERR_RATE_LIMITED,      /* 429 (+ Retry-After, RateLimit-*) */
    HUB_ERR_BUDGET_EXCEEDED,   /* 402: a monthly budget cannot hold the call's maximum cost */
    HUB_ERR_FEATURE_DISABLED,  /* 403 */
    HUB_ERR_GATEWAY,           /* 502 gateway_error: aigw failed or is unreachable */
    HUB_ERR_BUSY,              /* 503 server_busy: store queue full */
    HUB_ERR_INTERNAL,          /* 500 */
    HUB_ERR__COUNT
} hub_err;

const char *hub_err_code(hub_err e);
int hub_err_status(hub_err e);

/* ---- configuration ---- */
typedef struct {
    char listen_host[64];
    int listen_port;
    int threads;
    char database_url[1024];
    char gateway_url[512];
    char gateway_key[256];
    char system_provider[64]; /* TEAMHUB_DEFAULT_MODEL, "provider/model" */
    char system_model[128];
    bool llm_selection_default; /* TEAMHUB_FEATURE_LLM_SELECTION */
    int64_t session_ttl_s;
    bool secure_cookies;
    int64_t registry_ttl_ms;
    int64_t max_output_tokens; /* sent to the gateway when the model has none */
    bool seed_demo;
    char redis_url[512];    /* REDIS_URL: cluster-wide rate limits; "" = in-process */
    char web_dir[512];      /* TEAMHUB_WEB_DIR: serve the UI from disk; "" = embedded */
    int64_t abort_drain_ms; /* TEAMHUB_ABORT_DRAIN_MS: how long a chat whose client left is
                               still read for aigw's exact usage; 0 = cancel at once */
} hub_config;

/* Defaults, then environment. */
void hub_config_defaults(hub_config *cfg);
/* Applies --flag value pairs from argv[start..]. Returns CORE_EINVAL on an
 * unknown flag or bad value (message in err). */
core_err hub_config_flags(hub_config *cfg, int argc, char **argv, int start, char *err,
                          size_t errlen);
/* Writes --help text. */
void hub_config_usage(FILE *out);

typedef struct hub_app {
    hub_config cfg;
    store *db;
    http_router *router;
    http_server *server;
    uint64_t started_ms;
    _Atomic bool stopping; /* set by main before the server stops: drained chats end now */
} hub_app;

/* ---- per-loop state ---- */
typedef void (*hub_registry_fn)(void *ud, json_t *registry, const char *error);

typedef struct hub_registry_waiter {
    struct hub_registry_waiter *next;
    hub_registry_fn fn;
    void *ud;
} hub_registry_waiter;

typedef struct hub_loop {
    hub_app *app;
    uv_loop_t *loop;
    http_client *client;
    /* model registry cache (aigw GET /api/models) */
    json_t *registry; /* array, NULL until first success */
    uint64_t registry_fetched_ms;
    bool registry_fetching;
    buf_t registry_body;
    int registry_http_status;
    hub_registry_waiter *waiters;
} hub_loop;

/* Calls fn with the registry (borrowed; incref to keep it past the callback)
 * or with NULL and an error text. Fresh cache: synchronously; otherwise after
 * one fetch shared by every waiter. A failed refresh serves the stale copy. */
void hub_registry_get(hub_loop *hl, hub_registry_fn fn, void *ud);

/* ---- the request framework ---- */
typedef enum {
    HUB_AUTH_NONE = 0, /* no credentials looked at */
    HUB_AUTH_OPTIONAL, /* principal filled when credentials are valid */
    HUB_AUTH_USER,     /* 401 without valid credentials */
} hub_auth_need;

typedef struct {
    bool authenticated;
    bool via_cookie;
    char user_id[40];
    char email[256];
    char name[128];
    char session_id[40]; /* when via_cookie */
    char org_id[40];     /* active organization, "" when none */
    char role[16];       /* role in the active organization */
} hub_principal;

#define HUB_CALL_MAX_HEADERS 6

typedef struct hub_call hub_call;
/* Runs on a store worker. Returns CORE_OK after setting a response with
 * hub_ok or hub_fail; any other value becomes a 500. */
typedef core_err (*hub_work_fn)(hub_call *c, store_conn *conn);
/* Loop-side continuation. */
typedef void (*hub_next_fn)(hub_call *c);

struct hub_call {
    http_request *req;
    hub_loop *hl;
    hub_app *app;
    hub_auth_need auth;
    hub_work_fn work;
    /* inputs, readable from the worker */
    json_t *body;           /* parsed JSON body or NULL */
    json_t *registry;       /* aigw model list (hub_call_submit_with_registry), read-only */
    const char *param[6];   /* route and query params (arena copies), handler-defined */
    const char *credential; /* "<id>.<secret>" from cookie or bearer, or NULL */
    bool credential_cookie;
    bool csrf_ok;
    bool cross_site; /* a browser said the request comes from another origin */
    char ip[64];
    char user_agent[200];
    /* results */
    hub_principal who;
    int status;
    json_t *resp;
    hub_err err;
    char err_msg[512];
    json_t *err_extra; /* merged into the error object */
    buf_t raw;         /* raw response body when raw_type is set */
    const char *raw_type;
    char content_disposition[200];
    char set_cookie[400];
    /* extra response headers (RateLimit-*, Retry-After), see hub_call_header */
    struct {
        char name[32];
        char value[64];
    } headers[HUB_CALL_MAX_HEADERS];
    size_t header_count;
    hub_next_fn next; /* set by work: run on the loop instead of responding */
    void *ud;         /* handler-specific state */
    void (*ud_free)(void *ud);
};

/* Creates a call for req, parsing the body as JSON when present (an invalid
 * body answers 400 right away and returns NULL). */
hub_call *hub_call_new(http_request *req, hub_auth_need auth);
/* Copies route param `name` into slot. */
void hub_call_param(hub_call *c, int slot, const char *name);
/* Submits c->work (set by caller) to the store; responds on completion. */
void hub_call_submit(hub_call *c, hub_work_fn work);
/* Fetches the model registry (cached per loop), stores a reference in
 * c->registry, then submits work; answers 502 gateway_error when aigw cannot
 * be reached and no earlier copy exists. */
void hub_call_submit_with_registry(hub_call *c, hub_work_fn work);
/* Sends the response recorded in c (or an error) and frees c. */
void hub_call_respond(hub_call *c);
/* Records a header for the response c will send (error, JSON or a stream
 * begun by the handler), on the worker or the loop. Names and values longer
 * than the slots, or more than HUB_CALL_MAX_HEADERS, are dropped. */
void hub_call_header(hub_call *c, const char *name, const char *value);
/* Loop side: adds the recorded headers to c->req (hub_call_respond does it;
 * stream handlers call it before http_stream_begin). */
void hub_call_apply_headers(hub_call *c);
/* Frees a call whose exchange the caller ended itself (streams). */
void hub_call_free(hub_call *c);
/* Convenience: new call + params + submit, for simple handlers. */
void hub_call_run(http_request *req, hub_auth_need auth, hub_work_fn work, const char *p0,
                  const char *p1);

/* Defines static void handle_<work>(req, ud) that runs work for a signed-in
 * user, with up to two route params copied into c->param[0..1]. */
#define HUB_USER_HANDLER(work, p0, p1)                                                             \
    static void handle_##work(http_request *req, void *ud)                                         \
    {                                                                                              \
        (void)ud;                                                                                  \
        hub_call_run(req, HUB_AUTH_USER, work, p0, p1);                                            \
    }

/* Worker side: set the response. hub_ok steals resp. */
core_err hub_ok(hub_call *c, int status, json_t *resp);
core_err hub_fail(hub_call *c, hub_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* hub_fail with extra fields (stolen) merged into the error object. */
core_err hub_fail_extra(hub_call *c, hub_err err, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Worker side: the caller's role in org_id, or fails the call with 404 (not a
 * member: the org's existence is not revealed) or 403 (role too low).
 * min_role: "member", "admin" or "owner". Returns true when allowed. */
bool hub_require_org(hub_call *c, store_conn *conn, const char *org_id, const char *min_role,
                     char role_out[16]);
/* Worker side: authenticate the credential in c into c->who. */
core_err hub_authenticate(hub_call *c, store_conn *conn);

/* JSON body helpers (NULL when absent or not a string). */
const char *hub_body_str(const hub_call *c, const char *key);

/* Role order: member < admin < owner; unknown roles rank below member. */
int hub_role_rank(const char *role);

/* Worker side helpers shared by modules. */
int64_t hub_now_ms(void);
/* Column value or "" (never NULL). */
const char *hub_row_str(const store_rows *r, size_t row, size_t col);
/* JSON string or null from a nullable column. */
json_t *hub_row_json_str(const store_rows *r, size_t row, size_t col);

/* ---- modules: each registers its routes ---- */
core_err hub_routes_auth(http_router *r);
core_err hub_routes_orgs(http_router *r);
core_err hub_routes_models(http_router *r);
core_err hub_routes_chat(http_router *r);
core_err hub_routes_conversations(http_router *r);
core_err hub_routes_usage(http_router *r);
core_err hub_routes_agents(http_router *r);
core_err hub_routes_metrics(http_router *r);

#endif
