/*
 * hub_chat.h - state of one POST /api/chat exchange, shared by the worker
 * side (hub_chat_store.c: request checks, model resolution, history, the
 * gateway request, persistence) and the loop side (hub_api_chat.c: the call
 * to aigw and the UI message stream).
 *
 * Life of a chat (explicit states, see hub_chat_state):
 *   PREPARING   store job: auth, conversation, agent, settings, model choice,
 *               user message stored, gateway body built
 *   CONNECTING  POST /api/generate sent, waiting for aigw's status line
 *   STREAMING   aigw said 200: our UI message stream is open, events flow
 *   REJECTED    aigw refused before the first byte: collecting its JSON error
 *   PERSISTING  store job: assistant message, usage row, memory row
 *   ENDED       exchange over (stream ended, error sent, or client gone)
 * The client can disconnect in any state (client_gone); from then on nothing
 * is written to it, but the upstream call runs to its end (it is drained, not
 * cancelled) so that the stored cost is the one aigw reports and logs - the
 * call was paid for either way, it never costs more than its reservation, and
 * `teamhub usage verify` stays exact. The answer is stored with status
 * "partial" and error_code "client_closed". The drain is bounded by
 * TEAMHUB_ABORT_DRAIN_MS and by shutdown; past that the call is cancelled and
 * billed teamhub's local estimate (which verify then reports).
 *
 * Governance (hub_governance.h): rate limits are taken in PREPARING before
 * its transaction, the budget reservation is the last write of that
 * transaction; PERSISTING settles it in the transaction that stores the
 * answer, then charges the real token count and sends new budget alerts.
 * A chat that ends before the gateway is called releases its hold.
 */
#ifndef HUB_CHAT_H
#define HUB_CHAT_H

#include "hub_app.h"
#include "hub_cost.h"
#include "hub_governance.h"
#include "hub_gwstream.h"
#include "hub_policy.h"
#include "hub_uistream.h"

#define HUB_CHAT_MAX_CONTENT (4u * 1024 * 1024) /* kept assistant output */
#define HUB_CHAT_MAX_ERRBODY (64u * 1024)       /* aigw's pre-stream error body */
#define HUB_CHAT_ID_MAX      64

typedef enum {
    HUB_CHAT_PREPARING = 0,
    HUB_CHAT_CONNECTING,
    HUB_CHAT_STREAMING,
    HUB_CHAT_REJECTED,
    HUB_CHAT_PERSISTING,
    HUB_CHAT_ENDED,
} hub_chat_state;

typedef struct {
    hub_chat_state state;
    bool client_gone;
    bool backpressured;

    /* request (captured on the loop) */
    char conversation_id[HUB_CHAT_ID_MAX + 1];
    char trigger[32];
    char req_provider[100], req_model[100]; /* explicit choice, "" when none */
    char agent_id[40];
    json_t *user_parts; /* UI parts of the new user message */
    char *user_text;    /* its plain text (heap) */

    /* prepared by the worker */
    char org_id[40], user_id[40];
    char provider[100], model[100];
    char model_source[24];
    char model_reason[512];
    char user_message_id[40];
    char assistant_message_id[40];
    char *gateway_body; /* JSON text for POST /api/generate (heap) */
    price_t price;
    bool have_price;
    int64_t input_estimate; /* tokens, for cut streams */
    int64_t max_output;     /* maxTokens sent to the gateway */

    /* draining after the client left (see above) */
    uv_timer_t *drain_timer; /* heap: closed by hub_chat_free, freed in its close callback */
    uint64_t gone_ms;
    bool drain_cut; /* the drain hit its deadline (or shutdown) and cancelled upstream */
    char gen_id[48];  /* the gateway's generation id (its start event), for cancel */

    /* governance */
    bool rate_admitted;       /* rate limits taken (once, even when the transaction retries) */
    hub_gov_ticket gov;       /* reservation and verdict, from admission to settlement */
    hub_budget_alerts alerts; /* alerts the settlement created, sent from the loop */

    /* the upstream exchange */
    http_client_call *upstream;
    int upstream_status;
    buf_t error_body;
    hub_gw_stream reader;
    bool reader_ready;
    hub_ui_stream ui;
    buf_t out; /* encoder output waiting to be written */
    uint64_t started_us;
    uint64_t first_token_us;

    /* outcome */
    bool saw_usage, saw_done;
    token_usage_t usage;
    int64_t cost_pico;
    bool cost_estimated;
    int64_t latency_ms, ttft_ms;
    char finish_reason[32];
    char status[16];     /* complete | partial | error */
    char error_code[48]; /* "" when none */
    char error_message[300];
} hub_chat;

/* Worker side (hub_chat_store.c). */
/* Loads everything, resolves the model, stores the user message, builds the
 * gateway body. Fails the call (403/404/503 ...) when the chat cannot start. */
core_err hub_chat_prepare(hub_call *c, store_conn *conn);
/* Stores the assistant message, the usage row and the memory row, and
 * settles the budget reservation with the call's cost (new alerts go into
 * chat->alerts). */
core_err hub_chat_persist(hub_call *c, store_conn *conn);
/* Releases the reservation of a chat that ends before the gateway is called
 * (client gone). No-op when nothing is held. */
core_err hub_chat_release(hub_call *c, store_conn *conn);
/* Worker, outside transactions: charges the tpm buckets with the real token
 * total (minus what admission took). */
void hub_chat_charge_tokens(hub_chat *chat);
/* Per-turn cost estimate: POST /api/chat/estimate. */
core_err hub_chat_estimate(hub_call *c, store_conn *conn);

/* Parses the useChat body into chat (on the loop). Fails the call with 400
 * and returns false when malformed. */
bool hub_chat_parse_request(hub_call *c, hub_chat *chat);
void hub_chat_free(void *chat);

/* UI metadata for start and finish. New references. */
json_t *hub_chat_start_metadata(const hub_chat *chat);
json_t *hub_chat_finish_metadata(const hub_chat *chat);

#endif
