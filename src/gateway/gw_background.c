/*
 * gw_background.c - periodic reloads, health probes and local model
 * discovery (see gw_background.h). Everything that blocks runs as a store
 * job; HTTP probes use the loop's client. At most one reload and one probe
 * per provider are in flight at a time.
 */
#include "gw_background.h"

#include "../core/log.h"
#include "health.h"
#include "keys.h"
#include "provider.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>

/* Ceiling on a probe's response (a model list), shared by the HTTP call and
 * the buffer that collects it. */
#define PROBE_MAX_BODY (4u << 20)

typedef struct {
    gw_loop *lp;
    uv_timer_t reload_timer;
    uv_timer_t probe_timer;
    bool reload_busy;
    int probes_busy;
    bool stopping;
    int open_handles;
} gw_background;

static gw_background *bg_state;

/* ------------------------------------------------------------------ reloads */

static core_err reload_job(store_conn *c, void *ud)
{
    gw_background *bg = ud;
    gw_app *app = bg->lp->app;
    core_err e1 = gw_keys_reload_conn(app->keys, c);
    core_err e2 = gw_registry_reload_conn(app->registry, c);
    return e1 ? e1 : e2;
}

static void reload_done(core_err err, void *ud)
{
    gw_background *bg = ud;
    bg->reload_busy = false;
    if (err) log_msgf(LOG_WARN, NULL, "periodic reload failed: %s", core_strerror(err));
    if (bg->stopping && bg->open_handles == 0 && bg->probes_busy == 0) free(bg);
}

static void on_reload_timer(uv_timer_t *t)
{
    gw_background *bg = t->data;
    if (bg->reload_busy) return;
    gw_app *app = bg->lp->app;
    if (store_submit(app->db, bg->lp->loop, reload_job, reload_done, bg) == CORE_OK)
        bg->reload_busy = true;
}

/* ------------------------------------------------------------------ probes */

typedef struct {
    gw_background *bg;
    const gw_provider_cfg *pcfg;
    arena_t arena;
    buf_t body;
    int status;
    json_t *models; /* local discovery result */
} probe;

static void probe_free(probe *p)
{
    gw_background *bg = p->bg;
    buf_free(&p->body);
    arena_free(&p->arena);
    if (p->models) json_decref(p->models);
    free(p);
    bg->probes_busy--;
    if (bg->stopping && bg->open_handles == 0 && bg->probes_busy == 0 && !bg->reload_busy) free(bg);
}

static core_err discover_job(store_conn *c, void *ud)
{
    probe *p = ud;
    return gw_registry_upsert_discovered_conn(p->bg->lp->app->registry, c, p->pcfg->name,
                                              p->models);
}

static void discover_done(core_err err, void *ud)
{
    probe *p = ud;
    if (err) log_msgf(LOG_WARN, NULL, "recording discovered %s models failed", p->pcfg->name);
    probe_free(p);
}

static void probe_headers(void *ud, const http_client_response *resp)
{
    probe *p = ud;
    p->status = resp->status;
}

static int probe_data(void *ud, const char *data, size_t len)
{
    probe *p = ud;
    /* The client's max_response_bytes equals the buffer's ceiling, so a body
     * that would not fit fails the call (CORE_ETOOBIG in probe_done) before a
     * chunk could be dropped here. */
    buf_append(&p->body, data, len);
    return HTTP_CLIENT_CONTINUE;
}

static void probe_done(void *ud, core_err err, const char *message)
{
    probe *p = ud;
    gw_app *app = p->bg->lp->app;
    int64_t now = (int64_t)time_mono_ms(); /* the health tracker's clock */
    char detail[200];
    if (err != CORE_OK) {
        snprintf(detail, sizeof detail, "%s", message ? message : core_strerror(err));
        gw_health_mark_probe(app->health, p->pcfg->name, false, detail, now);
    } else if (p->status == 401 || p->status == 403) {
        gw_health_mark_key_bad(app->health, p->pcfg->name, now);
    } else if (p->status >= 200 && p->status < 300) {
        gw_health_mark_probe(app->health, p->pcfg->name, true, NULL, now);
        const gw_provider_ops *ops = gw_provider_find(p->pcfg->name);
        if (ops && ops->parse_models && strcmp(p->pcfg->name, "local") == 0) {
            p->models = ops->parse_models(buf_slice(&p->body));
            if (p->models && json_array_size(p->models) > 0 && !p->bg->stopping &&
                store_submit(app->db, p->bg->lp->loop, discover_job, discover_done, p) == CORE_OK)
                return;
        }
    } else {
        snprintf(detail, sizeof detail, "GET /models answered HTTP %d", p->status);
        gw_health_mark_probe(app->health, p->pcfg->name, p->status < 500, detail, now);
    }
    probe_free(p);
}

static void start_probe(gw_background *bg, const gw_provider_cfg *pcfg)
{
    gw_app *app = bg->lp->app;
    const gw_provider_ops *ops = gw_provider_find(pcfg->name);
    if (!ops || !ops->build_models || !gw_app_provider_configured(app, pcfg->name)) return;
    probe *p = calloc(1, sizeof *p);
    if (!p) return;
    p->bg = bg;
    p->pcfg = pcfg;
    arena_init(&p->arena, 1u << 20);
    buf_init(&p->body, PROBE_MAX_BODY);
    bg->probes_busy++;
    gw_upstream_req up;
    memset(&up, 0, sizeof up);
    if (ops->build_models(pcfg, &p->arena, &up) != GW_OK) {
        probe_free(p);
        return;
    }
    http_client_request hr = {
        .method = up.method ? up.method : "GET",
        .url = up.url,
        .headers = up.headers,
        .connect_timeout_ms = 3000,
        .first_byte_timeout_ms = 10000,
        .idle_timeout_ms = 10000,
        .total_timeout_ms = 15000,
        .max_response_bytes = PROBE_MAX_BODY,
        .on_headers = probe_headers,
        .on_data = probe_data,
        .on_done = probe_done,
        .ud = p,
    };
    http_client_call *call;
    if (http_client_start(bg->lp->client, &hr, &call) != CORE_OK) probe_free(p);
}

static void on_probe_timer(uv_timer_t *t)
{
    gw_background *bg = t->data;
    if (bg->probes_busy) return;
    gw_app *app = bg->lp->app;
    /* With probes off, the local provider is still asked for its models:
     * discovery is how its models exist at all. */
    for (size_t i = 0; i < app->cfg.nproviders; i++)
        if (app->cfg.probe_interval_ms || strcmp(app->cfg.providers[i].name, "local") == 0)
            start_probe(bg, &app->cfg.providers[i]);
}

/* ------------------------------------------------------------------ lifecycle */

void gw_background_start(gw_loop *lp)
{
    gw_background *bg = calloc(1, sizeof *bg);
    if (!bg) return;
    bg->lp = lp;
    uv_timer_init(lp->loop, &bg->reload_timer);
    uv_timer_init(lp->loop, &bg->probe_timer);
    bg->reload_timer.data = bg->probe_timer.data = bg;
    bg->open_handles = 2;
    uv_timer_start(&bg->reload_timer, on_reload_timer, GW_RELOAD_INTERVAL_MS,
                   GW_RELOAD_INTERVAL_MS);
    uint32_t every = lp->app->cfg.probe_interval_ms ? lp->app->cfg.probe_interval_ms : 60000;
    uv_timer_start(&bg->probe_timer, on_probe_timer, 50, every);
    bg_state = bg;
}

static void on_bg_handle_closed(uv_handle_t *h)
{
    gw_background *bg = h->data;
    if (--bg->open_handles == 0 && bg->probes_busy == 0 && !bg->reload_busy) free(bg);
}

void gw_background_stop(gw_loop *lp)
{
    gw_background *bg = bg_state;
    if (!bg || bg->lp != lp) return;
    bg_state = NULL;
    bg->stopping = true;
    uv_close((uv_handle_t *)&bg->reload_timer, on_bg_handle_closed);
    uv_close((uv_handle_t *)&bg->probe_timer, on_bg_handle_closed);
}
