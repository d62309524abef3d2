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
 *                  (or the one tool_choice names; text when tool_choice is
 *                  "none" or no tools are given)
 * The answer is derived from an FNV-1a hash of the model and the messages
 * (directive tags stripped): readable English from fixed word lists that says
 * it is a simulated reply, one token per word, sim-chat sometimes with a short
 * code block. Other model names run with the config defaults below.
 *
 * Directives (speed and fault injection) come from, in increasing priority:
 * the simulator config (env), the request's "simulate" object, and inline
 * tags "[[sim:key=value,key=value]]" in the last user message (so tests that
 * can only send chat text can still inject faults). Keys:
 *   ttft_ms=N          delay before START (the first byte; default per model:
 *                      sim-fast 0, sim-chat 300, sim-reasoning 600, sim-tools 200)
 *   tokens_per_s=N     output speed (0 = as fast as possible, still yielding
 *                      to the loop between batches; sim-chat 40)
 *   output_tokens=N    length of the answer (default per model, 24..60)
 *   reasoning_tokens=N length of the reasoning (sim-reasoning 20..32)
 *   error=STATUS       fail before the first byte with that HTTP status
 *                      (429 adds retry_after_ms, default 1000)
 *   retry_after_ms=N
 *   stall_ms=N         silence between START and the first token (then continue)
 *   cut_after=N        cut the stream after N tokens: USAGE (exact=false,
 *                      estimated from the text sent), ERROR upstream_truncated,
 *                      DONE; no FINISH
 *   no_usage=1         finish normally but report no usage: USAGE exact=false
 *                      with tokens estimated from the text (gw_tokens_estimate)
 *   garbage=1          ERROR provider_error (retryable, http_status 200) before
 *                      any output, as if the upstream sent garbage
 *   fail_times=N       error, garbage, cut_after and stall_ms apply only while
 *                      attempt < N (to test retries)
 *   reply=TEXT         answer exactly TEXT (URL-escaped, %2C for commas)
 *
 *
 * Event sequences (ERROR carries the gw_err an HTTP adapter would map the
 * status to: 400/422 invalid_request, 401/403 provider_auth, 402
 * provider_quota, 404 model_not_found, 408/504 timeout (retryable), 413
 * payload_too_large, 429 rate_limited (retryable, retry_after_ms), 503/529
 * model_unavailable (retryable), other 5xx provider_error (retryable)):
 *   normal:     START, [REASONING...], TEXT..., FINISH(stop|length), USAGE, DONE
 *   tools:      START, TOOL_CALL_START, TOOL_ARGS x2-3, TOOL_CALL_END, FINISH
 *               (tool_calls), USAGE, DONE
 *   error/garbage: ERROR, DONE (no START: nothing was sent)
 *   cut_after:  START, N tokens, USAGE(exact=false), ERROR, DONE
 * Usage: input = gw_tokens_estimate_request(req), output = tokens emitted
 * (reasoning included) plus the estimate of a tool call's name+arguments.
 * max_tokens caps reasoning + text and gives FINISH length.
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
/* Drops cfg->defaults (the reference gw_sim_config_from_env took). */
void gw_sim_config_release(gw_sim_config *cfg);

/* Known simulator model? */
bool gw_sim_model_exists(const char *model);

/* Starts a simulated call. Events go to emit (always from loop callbacks,
 * never from inside gw_sim_start). Ends with DONE, after which the call frees
 * itself. attempt is 0 for the first try, 1.. for retries (fail_times).
 * Everything needed is copied: req and cfg may be released on return.
 * Errors: CORE_EINVAL (NULL argument), CORE_ENOMEM, CORE_ETOOBIG (plan past
 * its ceiling); then no event is ever emitted. emit may call gw_sim_pause,
 * gw_sim_resume and gw_sim_cancel. */
core_err gw_sim_start(uv_loop_t *loop, const gw_sim_config *cfg, const gw_request *req, int attempt,
                      gw_emit_fn emit, void *ud, gw_sim_call **out);
/* Stops producing; DONE is NOT emitted afterwards and the call is freed
 * asynchronously. Never call after DONE. */
void gw_sim_cancel(gw_sim_call *call);
/* Back-pressure: pause/resume token production (no catch-up burst on
 * resume; a pending ttft/stall delay keeps its remaining time). */
void gw_sim_pause(gw_sim_call *call);
void gw_sim_resume(gw_sim_call *call);

#endif
