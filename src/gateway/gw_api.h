/*
 * gw_api.h - registers aigw's HTTP routes. Handlers expect req->loop_data to
 * be the loop's gw_loop (set by the server's on_loop_start hook).
 */
#ifndef GW_API_H
#define GW_API_H

#include "../core/http_server.h"
#include "gw_app.h"

core_err gw_api_routes(http_router *r);

#endif
