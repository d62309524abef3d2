/*
 * teamhub_main.c - the teamhub binary: operator subcommands (see hub_cli.h)
 * or the HTTP server. The server's loop threads start with SIGINT/SIGTERM
 * blocked; the main thread waits for them with sigwait and then stops the
 * server gracefully (in-flight chats get a few seconds to finish).
 */
#include "hub_auth.h"
#include "hub_cli.h"
#include "hub_governance.h"
#include "hub_server.h"
#include "hub_web.h"

#include "../core/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *level = getenv("LOG_LEVEL");
    if (level) log_set_level(log_level_from_name(level));
    if (hub_auth_init() != CORE_OK) {
        fprintf(stderr, "teamhub: libsodium failed to initialize\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            hub_config_usage(stdout);
            return 0;
        }
    }
    if (argc > 1 && argv[1][0] != '-') return hub_cli_main(argc, argv);

    hub_app app;
    memset(&app, 0, sizeof app);
    hub_config_defaults(&app.cfg);
    char err[300];
    if (hub_config_flags(&app.cfg, argc, argv, 1, err, sizeof err) != CORE_OK) {
        fprintf(stderr, "teamhub: %s (see --help)\n", err);
        return 2;
    }
    if (hub_governance_init(app.cfg.redis_url, err, sizeof err) != CORE_OK) {
        fprintf(stderr, "teamhub: bad REDIS_URL / --redis-url: %s\n", err);
        return 2;
    }
    if (app.cfg.web_dir[0]) hub_web_set_dir(app.cfg.web_dir);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (hub_cli_open_store(&app.cfg, &app.db) != CORE_OK) {
        hub_governance_shutdown();
        return 1;
    }
    if (app.cfg.seed_demo && hub_cli_seed_demo(app.db) != CORE_OK) {
        store_close(app.db);
        hub_governance_shutdown();
        return 1;
    }

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* inherited by the loop threads */

    core_err serr = hub_server_start(&app);
    if (serr) {
        fprintf(stderr, "teamhub: cannot listen on %s:%d: %s\n", app.cfg.listen_host,
                app.cfg.listen_port, core_strerror(serr));
        if (app.router) http_router_free(app.router);
        store_close(app.db);
        hub_governance_shutdown();
        return 1;
    }
    char fields[1200];
    snprintf(fields, sizeof fields,
             "\"listen\":\"http://%s:%d\",\"gateway\":\"%s\",\"rate_limits\":\"%s\"",
             app.cfg.listen_host, http_server_port(app.server), app.cfg.gateway_url,
             hub_limits_distributed(hub_governance_limits()) ? "redis" : "in_process");
    log_event(LOG_INFO, NULL, "teamhub listening", fields);
    printf("teamhub listening on http://%s:%d\n", app.cfg.listen_host,
           http_server_port(app.server));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    log_info("teamhub stopping (signal %d)", sig);
    atomic_store(&app.stopping, true);
    http_server_stop(app.server, 5000);
    http_server_wait(app.server);
    http_router_free(app.router);
    store_close(app.db);
    hub_governance_shutdown();
    curl_global_cleanup();
    return 0;
}
