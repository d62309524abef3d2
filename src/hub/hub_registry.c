/*
 * hub_registry.c - per-loop cache of aigw's model registry (GET /api/models,
 * with the gateway key). One fetch at a time per loop; concurrent requests
 * wait on it. A failed refresh keeps serving the last good copy, so a gateway
 * hiccup does not take the model picker down.
 */
#include "hub_app.h"

#include "../core/log.h"

#include <stdio.h>
#include <stdlib.h>

#define REGISTRY_MAX_BYTES (8u * 1024 * 1024)

static void notify(hub_loop *hl, json_t *registry, const char *error)
{
    hub_registry_waiter *w = hl->waiters;
    hl->waiters = NULL;
    if (registry) json_incref(registry); /* a waiter may trigger a refresh */
    while (w) {
        hub_registry_waiter *next = w->next;
        w->fn(w->ud, registry, error);
        free(w);
        w = next;
    }
    json_decref(registry);
}

/* Accepts a bare array or {"data": [...]} / {"models": [...]}. */
static json_t *extract_models(json_t *doc)
{
    if (json_is_array(doc)) return json_incref(doc);
    json_t *list = json_object_get(doc, "data");
    if (!json_is_array(list)) list = json_object_get(doc, "models");
    return json_is_array(list) ? json_incref(list) : NULL;
}

static void on_headers(void *ud, const http_client_response *resp)
{
    hub_loop *hl = ud;
    hl->registry_http_status = resp->status;
}

static int on_data(void *ud, const char *data, size_t len)
{
    hub_loop *hl = ud;
    buf_append(&hl->registry_body, data, len); /* overflow is caught in on_done */
    return HTTP_CLIENT_CONTINUE;
}

static void on_done(void *ud, core_err err, const char *message)
{
    hub_loop *hl = ud;
    hl->registry_fetching = false;
    char error[300] = "";
    json_t *models = NULL;
    if (err) {
        snprintf(error, sizeof error, "the AI gateway is unreachable: %s",
                 message ? message : core_strerror(err));
    } else if (hl->registry_http_status != 200) {
        snprintf(error, sizeof error, "the AI gateway answered HTTP %d to GET /api/models",
                 hl->registry_http_status);
    } else {
        json_error_t jerr;
        json_t *doc = json_loadb(hl->registry_body.data ? hl->registry_body.data : "",
                                 hl->registry_body.len, 0, &jerr);
        models = extract_models(doc);
        json_decref(doc);
        if (!models) snprintf(error, sizeof error, "the AI gateway sent a malformed model list");
    }
    buf_free(&hl->registry_body);
    if (models) {
        json_decref(hl->registry);
        hl->registry = models;
        hl->registry_fetched_ms = time_mono_ms();
        notify(hl, hl->registry, NULL);
        return;
    }
    log_warn("model registry refresh failed: %s", error);
    notify(hl, hl->registry, hl->registry ? NULL : error); /* stale beats nothing */
}

void hub_registry_get(hub_loop *hl, hub_registry_fn fn, void *ud)
{
    hub_app *app = hl->app;
    if (hl->registry &&
        time_mono_ms() - hl->registry_fetched_ms < (uint64_t)app->cfg.registry_ttl_ms) {
        fn(ud, hl->registry, NULL);
        return;
    }
    hub_registry_waiter *w = malloc(sizeof *w);
    if (!w) {
        fn(ud, NULL, "out of memory");
        return;
    }
    w->fn = fn;
    w->ud = ud;
    w->next = hl->waiters;
    hl->waiters = w;
    if (hl->registry_fetching) return;

    char url[600], auth[300];
    snprintf(url, sizeof url, "%s/api/models", app->cfg.gateway_url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", app->cfg.gateway_key);
    const char *headers[] = {auth, "Accept: application/json", NULL};
    http_client_request creq = {
        .method = "GET",
        .url = url,
        .headers = app->cfg.gateway_key[0] ? headers : headers + 1,
        .connect_timeout_ms = 2000,
        .first_byte_timeout_ms = 5000,
        .idle_timeout_ms = 5000,
        .total_timeout_ms = 10000,
        .max_response_bytes = REGISTRY_MAX_BYTES,
        .on_headers = on_headers,
        .on_data = on_data,
        .on_done = on_done,
        .ud = hl,
    };
    buf_init(&hl->registry_body, REGISTRY_MAX_BYTES);
    hl->registry_http_status = 0;
    http_client_call *call;
    core_err err = http_client_start(hl->client, &creq, &call);
    if (err) {
        buf_free(&hl->registry_body);
        notify(hl, hl->registry, hl->registry ? NULL : "the AI gateway request could not start");
        return;
    }
    hl->registry_fetching = true;
}
