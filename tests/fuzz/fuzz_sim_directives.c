/*
 * fuzz_sim_directives.c - feeds arbitrary user text (inline "[[sim:...]]"
 * directives included) and, when the input holds a NUL, an arbitrary
 * "simulate" JSON object to the simulator, and runs the call to its end on a
 * uv loop. The directive parser, the answer planner and the event machine
 * must never crash, leak, or break the event invariants (DONE exactly once,
 * last).
 */
#include "gateway/provider_simulator.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int done;
    int after_done;
} fuzz_state;

static void on_event(void *ud, const gw_event *ev)
{
    fuzz_state *st = ud;
    if (st->done) st->after_done++;
    if (ev->type == GW_EV_DONE) st->done++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    const char *nul = memchr(data, '\0', size);
    size_t text_len = nul ? (size_t)(nul - (const char *)data) : size;
    char *text = strndup((const char *)data, text_len);
    if (!text) return 0;
    gw_request req = {0};
    req.model = (char *)(size % 2 ? "sim-reasoning" : "sim-tools");
    req.messages = json_pack("[{s:s,s:s%}]", "role", "user", "content", text, text_len);
    if (nul) req.simulate = json_loadb(nul + 1, size - text_len - 1, 0, NULL);
    req.tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                           "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}]",
                           0, NULL);
    /* Keep runs short whatever the directives ask for. */
    gw_sim_config cfg = {.speed_factor = 0.000001};
    uv_loop_t loop;
    uv_loop_init(&loop);
    fuzz_state st = {0};
    gw_sim_call *call = NULL;
    if (req.messages && gw_sim_start(&loop, &cfg, &req, 0, on_event, &st, &call) == CORE_OK) {
        uv_run(&loop, UV_RUN_DEFAULT);
        if (st.done != 1 || st.after_done != 0) abort();
    }
    uv_loop_close(&loop);
    gw_request_release(&req);
    free(text);
    return 0;
}
