/*
 * provider_simulator.h - the built-in offline provider. Deterministic: the
 * same request gives the same text, tokens and timing every time. It runs on
 * the loop with timers (no threads, no sockets) and emits the same gw_events
 * as the HTTP adapters, so every path of the router can be shown and tested.
 *
 * Models (registered in the catalog under provider "simulator"):
 *   sim-fast       instant-ish text
 *   sim-chat       text at a human-visible speed
 *   sim-reasoning  reasoning deltas, then text
 *   sim-tools      calls the first tool of the request when tools are given
 *
 * Directives (speed and fault injection) come from, in increasing priority:
 * the simulator config (env), the request's "simulate" object, and inline
 * tags "[[sim:key=value,key=value]]" in the last user message (so tests that
 * can only send chat text can still inject faults). Keys:
 *   ttft_ms=N          delay before the first token (default per model)
 *   tokens_per_s=N     output speed (0 = as fast as possible)
 *   output_tokens=N    length of the answer
 *   error=STATUS       fail before the first byte with that HTTP status
 *                      (429 adds retry_after_ms, default 1000)
 *   retry_after_ms=N
 *   stall_ms=N         stall before the first token (then continue)
 *   cut_after=N        cut the stream after N tokens (no finish, no usage)
 *   no_usage=1         finish normally but report no usage (estimated)
 *   garbage=1          emit a provider_error as if the upstream sent garbage
 *   fail_times=N       the error above happens only on the first N attempts
 *                      of this same request (to test retries)
 *   reply=TEXT         answer exactly TEXT (URL-escaped, %2C for commas)
 *
 * Threads: loop thread only.
 */
#ifndef GW_PROVIDER_SIMULATOR_H
#define GW_PROVIDER_SIMULATOR_H

#include "gw_types.h"

#include <uv.h>

typedef struct gw_sim_call gw_sim_call;

typedef struct {
    uint32_t default_ttft_ms;      /* applied when a model has no own default */
    uint32_t default_tokens_per_s; /* 0 = unlimited */
    double speed_factor;           /* multiplies every delay; 0 treated as 1 (tests use 0.01) */
    json_t *defaults;              /* default directives object, or NULL */
} gw_sim_config;

/* Parses AIGW_SIM_* environment into cfg (AIGW_SIM_SPEED, AIGW_SIM_TTFT_MS,
 * AIGW_SIM_TOKENS_PER_S, AIGW_SIM_DEFAULTS as a JSON object). */
void gw_sim_config_from_env(gw_sim_config *cfg);

/* Known simulator model? */
bool gw_sim_model_exists(const char *model);

/* Starts a simulated call. Events go to emit (always from loop callbacks,
 * never from inside gw_sim_start). Ends with DONE, after which the call frees
 * itself. attempt is 0 for the first try, 1.. for retries (fail_times). */
core_err gw_sim_start(uv_loop_t *loop, const gw_sim_config *cfg, const gw_request *req,
                      int attempt, gw_emit_fn emit, void *ud, gw_sim_call **out);
/* Stops producing; DONE is NOT emitted afterwards and the call is freed
 * asynchronously. Never call after DONE. */
void gw_sim_cancel(gw_sim_call *call);
/* Back-pressure: pause/resume token production. */
void gw_sim_pause(gw_sim_call *call);
void gw_sim_resume(gw_sim_call *call);

#endif
