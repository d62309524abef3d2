/*
 * hub_server.h - starting the teamhub HTTP server over an opened, migrated
 * store (app->db and app->cfg set by the caller).
 */
#ifndef HUB_SERVER_H
#define HUB_SERVER_H

#include "hub_app.h"

/* Registers every route on r. */
core_err hub_server_routes(http_router *r);
/* Builds the router and starts the loops; app->server is set on success
 * (stop with http_server_stop + http_server_wait, then free app->router). */
core_err hub_server_start(hub_app *app);

#endif
