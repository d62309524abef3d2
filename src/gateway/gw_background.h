/*
 * gw_background.h - aigw's periodic work, run on loop 0: reloading gateway
 * keys and the model registry from the database (so `aigw keys revoke` and
 * `aigw models ...` take effect within seconds, on every node), health probes
 * of providers that have a free endpoint (GET {base}/models), and model
 * discovery for the local provider.
 */
#ifndef GW_BACKGROUND_H
#define GW_BACKGROUND_H

#include "gw_app.h"

#define GW_RELOAD_INTERVAL_MS 5000

/* Starts the timers on lp's loop (loop thread). */
void gw_background_start(gw_loop *lp);
/* Stops them and closes their handles (loop thread, before the loop ends). */
void gw_background_stop(gw_loop *lp);

#endif
