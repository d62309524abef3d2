/*
 * hub_server.c - assembles the teamhub HTTP server: per-loop state (store
 * attachment, HTTP client to aigw, registry cache), the route table of every
 * API module, and /healthz.
 */
#include "hub_governance.h"
#include "hub_server.h"
#include "hub_web.h"
#include "hub_metrics.h"

#include "../core/log.h"

#include <stdio.h>
#include <stdlib.h>

static void *loop_start(uv_loop_t *loop, int index, void *ud)
{
    hub_app *app = ud;
    hub_loop *hl = calloc(1, sizeof *hl);
    if (!hl) return NULL;
    hl->app = app;
    hl->loop = loop;
    hl->client = http_client_new(loop);
    buf_init(&hl->registry_body, 0);
    if (!hl->client || store_attach_loop(app->db, loop) != CORE_OK) {
        log_error("loop %d: could not set up the HTTP client or store attachment", index);
    }
    return hl;
}

static void loop_client_closed(void *ud)
{
    hub_loop *hl = ud;
    json_decref(hl->registry);
    buf_free(&hl->registry_body);
    free(hl);
}

static void loop_stop(uv_loop_t *loop, void *loop_data, void *ud)
{
    hub_app *app = ud;
    hub_loop *hl = loop_data;
    if (!hl) return;
    store_detach_loop(app->db, loop);
    if (hl->client)
        http_client_close(hl->client, loop_client_closed, hl);
    else
        loop_client_closed(hl);
}

/* ---- /healthz ---- */

static core_err health_work(hub_call *c, store_conn *conn)
{
    store_rows *rows = NULL;
    core_err err = store_query(conn, "SELECT 1", NULL, 0, &rows);
    store_rows_free(rows);
    if (err) return hub_fail(c, HUB_ERR_BUSY, "database unavailable");
    return hub_ok(c, 200,
                  json_pack("{s:s,s:s,s:s,s:I}", "status", "ok", "database",
                            store_conn_kind(conn) == STORE_POSTGRES ? "postgres" : "sqlite",
                            "gateway", c->app->cfg.gateway_url, "uptime_ms",
                            (json_int_t)(time_mono_ms() - c->app->started_ms)));
}

static void handle_healthz(http_request *req, void *ud)
{
    hub_call_run(req, HUB_AUTH_NONE, health_work, NULL, NULL);
}

core_err hub_server_routes(http_router *r)
{
    core_err err = http_router_add(r, "GET", "/healthz", handle_healthz, NULL);
    if (!err) err = hub_routes_auth(r);
    if (!err) err = hub_routes_orgs(r);
    if (!err) err = hub_routes_models(r);
    if (!err) err = hub_routes_chat(r);
    if (!err) err = hub_routes_conversations(r);
    if (!err) err = hub_routes_metrics(r);
    if (!err) err = hub_routes_usage(r);
    if (!err) err = hub_routes_agents(r);
    if (!err) err = hub_routes_governance(r);
    if (!err) err = hub_web_routes(r); /* the browser UI: last, after every /api route */
    return err;
}

core_err hub_server_start(hub_app *app)
{
    app->started_ms = time_mono_ms();
    if (hub_metrics_init() != CORE_OK) return CORE_ENOMEM;
    app->router = http_router_new();
    if (!app->router) return CORE_ENOMEM;
    core_err err = hub_server_routes(app->router);
    if (err) return err;
    http_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = app->cfg.listen_host;
    cfg.port = app->cfg.listen_port;
    cfg.threads = app->cfg.threads;
    cfg.router = app->router;
    cfg.on_loop_start = loop_start;
    cfg.on_loop_stop = loop_stop;
    cfg.hook_ud = app;
    http_server_config_defaults(&cfg);
    return http_server_start(&cfg, &app->server);
}
