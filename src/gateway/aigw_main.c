/*
 * aigw_main.c - the aigw binary: admin subcommands (models, keys, migrate)
 * or the server. Server start-up order: configuration, database and
 * migrations, registry seed, key seed, in-memory caches, usage log writer,
 * then the loops. Shutdown (SIGTERM/SIGINT) runs it backwards: stop accepting,
 * let open streams finish within the grace period, flush the usage log, close
 * the database - nothing that was acknowledged is lost.
 */
#include "../core/http_client.h"
#include "../core/log.h"
#include "../core/ratelimit.h"
#include "cli.h"
#include "gw_api.h"
#include "gw_app.h"
#include "gw_background.h"
#include "gw_call.h"
#include "gw_schema.h"
#include "health.h"
#include "keys.h"
#include "registry.h"
#include "usage_log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static gw_app app;

/* Creates the parent directory of a sqlite:<path> database if needed. */
static void ensure_sqlite_dir(const char *url)
{
    if (strncmp(url, "sqlite:", 7) != 0) return;
    const char *path = url + 7;
    if (strncmp(path, "//", 2) == 0) path += 2; /* "sqlite://<path>", as store_open reads it */
    if (strcmp(path, ":memory:") == 0) return;
    char dir[1024];
    if (strlen(path) >= sizeof dir) return;
    memcpy(dir, path, strlen(path) + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0750);
        *p = '/';
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        log_msgf(LOG_WARN, NULL, "could not create directory %s: %s", dir, strerror(errno));
}

static void *on_loop_start(uv_loop_t *loop, int index, void *ud)
{
    gw_app *a = ud;
    gw_loop *lp = calloc(1, sizeof *lp);
    if (!lp) return NULL;
    lp->loop = loop;
    lp->app = a;
    lp->index = index;
    lp->client = http_client_new(loop);
    if (!lp->client) log_msgf(LOG_ERROR, NULL, "loop %d: no HTTP client (out of memory)", index);
    core_err err = store_attach_loop(a->db, loop);
    if (err != CORE_OK)
        log_msgf(LOG_ERROR, NULL, "loop %d: cannot attach to the database: %s", index,
                 core_strerror(err));
    if (gw_loop_cancel_init(lp) != CORE_OK)
        log_msgf(LOG_ERROR, NULL, "loop %d: no cross-loop cancel queue", index);
    lp->closing_handles = 1;
    if (index == 0) gw_background_start(lp);
    return lp;
}

static void on_stop_deadline(uv_loop_t *loop, void *loop_data, void *ud)
{
    (void)loop;
    (void)ud;
    if (loop_data) gw_calls_shutdown(loop_data);
}

/* The loop state is freed when its last handle owner (HTTP client, cancel
 * queue) has closed. */
static void loop_part_closed(gw_loop *lp)
{
    if (--lp->closing_handles == 0) free(lp);
}

static void on_client_closed(void *ud)
{
    loop_part_closed(ud);
}

static void on_loop_stop(uv_loop_t *loop, void *loop_data, void *ud)
{
    gw_app *a = ud;
    gw_loop *lp = loop_data;
    if (!lp) return;
    if (lp->index == 0) gw_background_stop(lp);
    store_detach_loop(a->db, loop);
    lp->closing_handles = 1 + (lp->client != NULL);
    gw_loop_cancel_close(lp, loop_part_closed);
    if (lp->client) http_client_close(lp->client, on_client_closed, lp);
}

/* If argv[i] is the global --database flag ("--database URL" or
 * "--database=URL", as the server accepts it), returns the URL and sets
 * *consumed to how many arguments it took; else NULL. */
static const char *database_flag(int argc, char **argv, int i, int *consumed)
{
    if (strncmp(argv[i], "--database=", 11) == 0) {
        *consumed = 1;
        return argv[i] + 11;
    }
    if (strcmp(argv[i], "--database") == 0 && i + 1 < argc) {
        *consumed = 2;
        return argv[i + 1];
    }
    return NULL;
}

static int serve(int argc, char **argv)
{
    char err[512];
    int rc = 1;
    http_router *router = NULL;
    gw_config_result cr = gw_config_load(&app.cfg, argc, argv, err, sizeof err);
    if (cr == GW_CFG_HELP) {
        gw_config_usage(stdout);
        return 0;
    }
    if (cr == GW_CFG_ERROR) {
        fprintf(stderr, "aigw: %s\n", err);
        return 2;
    }
    log_set_level(log_level_from_name(app.cfg.log_level));
    signal(SIGPIPE, SIG_IGN);
    http_client_global_init();

    ensure_sqlite_dir(app.cfg.database_url);
    if (store_open(app.cfg.database_url, 2, &app.db, err, sizeof err) != CORE_OK) {
        log_msgf(LOG_ERROR, NULL, "cannot open database: %s", err);
        goto out;
    }
    if (gw_schema_migrate(app.db, err, sizeof err) != CORE_OK) {
        log_msgf(LOG_ERROR, NULL, "migrations failed: %s", err);
        goto out;
    }
    if (gw_registry_seed(app.db) != CORE_OK) {
        log_error("seeding the model registry failed");
        goto out;
    }
    if (app.cfg.seed_key[0] &&
        gw_keys_seed_env(app.db, slice_from_cstr(app.cfg.seed_key)) == CORE_EDB) {
        log_error("seeding AI_GATEWAY_API_KEY failed");
        goto out;
    }
    gw_registry *reg = NULL;
    gw_keys_cache *keys = NULL;
    gw_usage_log *usage = NULL;
    if (gw_registry_new(app.db, &reg) != CORE_OK || gw_registry_reload(reg) != CORE_OK ||
        gw_keys_cache_new(app.db, &keys) != CORE_OK || gw_keys_reload(keys) != CORE_OK ||
        gw_usage_log_open(app.db, 0, &usage) != CORE_OK) {
        log_error("loading registry, keys or usage log failed");
        app.registry = reg;
        app.keys = keys;
        goto out;
    }
    app.registry = reg;
    app.keys = keys;
    app.usage = usage;
    app.health = gw_health_new(NULL);
    app.limits = rl_new(65536);
    if (!app.health || !app.limits) {
        log_error("out of memory at start-up (health tracker or rate limiter)");
        goto out;
    }
    if (gw_keys_count(keys) == 0)
        log_warn("no gateway keys exist: create one with `aigw keys create --name NAME` or set "
                 "AI_GATEWAY_API_KEY");
    gw_metrics_init(&app);

    router = http_router_new();
    if (!router || gw_api_routes(router) != CORE_OK) goto out;

    /* Signals are taken by this thread only (sigwait below). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    http_server_config hc;
    memset(&hc, 0, sizeof hc);
    hc.host = app.cfg.listen_host;
    hc.port = app.cfg.listen_port;
    hc.threads = app.cfg.threads;
    hc.max_body_bytes = app.cfg.max_body_bytes;
    hc.max_header_bytes = app.cfg.max_header_bytes;
    hc.header_timeout_ms = app.cfg.client_header_timeout_ms;
    hc.body_timeout_ms = app.cfg.client_body_timeout_ms;
    hc.idle_timeout_ms = app.cfg.client_idle_timeout_ms;
    hc.router = router;
    hc.on_loop_start = on_loop_start;
    hc.on_loop_stop = on_loop_stop;
    hc.on_stop_deadline = on_stop_deadline;
    hc.hook_ud = &app;
    http_server_config_defaults(&hc);
    if (http_server_start(&hc, &app.server) != CORE_OK) {
        log_msgf(LOG_ERROR, NULL, "cannot listen on %s:%d", app.cfg.listen_host,
                 app.cfg.listen_port);
        goto out;
    }
    log_msgf(LOG_INFO, NULL, "aigw listening on http://%s:%d (%d loops, database %s)",
             app.cfg.listen_host, http_server_port(app.server), app.cfg.threads,
             store_get_kind(app.db) == STORE_SQLITE ? "sqlite" : "postgres");

    int sig = 0;
    sigwait(&sigs, &sig);
    log_msgf(LOG_INFO, NULL, "signal %d: draining (grace %u ms)", sig, app.cfg.shutdown_grace_ms);
    http_server_stop(app.server, app.cfg.shutdown_grace_ms);
    http_server_wait(app.server);
    app.server = NULL;
    rc = 0;
out:
    if (app.usage) gw_usage_log_close(app.usage); /* flushes every acknowledged row */
    if (app.keys) gw_keys_cache_free(app.keys);
    if (app.registry) gw_registry_free(app.registry);
    if (app.health) gw_health_free(app.health);
    rl_free(app.limits);
    gw_sim_config_release(&app.cfg.sim);
    if (router) http_router_free(router);
    if (app.db) store_close(app.db);
    gw_metrics_free(&app);
    log_msgf(LOG_INFO, NULL, "aigw stopped");
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && gw_cli_is_command(argv[1])) {
        /* Global flags (--database URL) are ours; the rest is the command's.
         * The flag wins over DATABASE_URL, as for the server. */
        const char *env = getenv("DATABASE_URL");
        const char *url = env && env[0] ? env : "sqlite:./data/aigw.db";
        int n = 0;
        for (int i = 0; i < argc; i++) {
            int consumed = 0;
            const char *flag_url = i > 0 ? database_flag(argc, argv, i, &consumed) : NULL;
            if (flag_url) {
                url = flag_url;
                i += consumed - 1;
                continue;
            }
            argv[n++] = argv[i];
        }
        argv[n] = NULL;
        return gw_cli_main(n, argv, url);
    }
    return serve(argc, argv);
}
