/*
 * hub_gov_chat.c - governance on the path of every model call (see
 * hub_governance.h): rate limits first (outside the transaction, since Redis
 * may be asked), then the budget reservation as the last statement of the
 * transaction that starts the call, then the settlement in the transaction
 * that stores its outcome. Refusals name their reason and the numbers behind
 * it.
 */
#include "hub_governance.h"

#include <stdio.h>

core_err hub_governance_admit_rate(store_conn *conn, const hub_gov_call *call,
                                   hub_gov_ticket *ticket, hub_gov_outcome *outcome, json_t **extra,
                                   char *msg, size_t msglen)
{
    *outcome = HUB_GOV_OK;
    *extra = NULL;
    core_err err = hub_limits_load(conn, call->org_id, &ticket->limits);
    if (err) return err;
    ticket->tokens_taken = call->input_estimate > 0 ? call->input_estimate : 1;
    err = hub_limits_admit(hub_governance_limits(), &ticket->limits, call->org_id, call->user_id,
                           ticket->tokens_taken, hub_now_ms(), &ticket->verdict);
    if (err) {
        *outcome = HUB_GOV_LIMITER_DOWN;
        ticket->tokens_taken = 0;
        snprintf(msg, msglen, "the rate limiter is unavailable; retry shortly");
        return CORE_OK;
    }
    if (ticket->verdict.allowed) return CORE_OK;
    ticket->tokens_taken = 0;
    *outcome = HUB_GOV_RATE_LIMITED;
    const hub_limit_verdict *v = &ticket->verdict;
    int64_t secs = (v->retry_after_ms + 999) / 1000;
    const char *kind = hub_limit_kind_name(v->refused_by);
    bool tokens = v->refused_by == HUB_LIMIT_ORG_TPM || v->refused_by == HUB_LIMIT_USER_TPM;
    bool user = v->refused_by == HUB_LIMIT_USER_RPM || v->refused_by == HUB_LIMIT_USER_TPM;
    snprintf(msg, msglen, "%s limit of %lld %s per minute reached; retry in %lld s",
             user ? "your" : "the organization's", (long long)v->limit,
             tokens ? "tokens" : "requests", (long long)(secs > 0 ? secs : 1));
    *extra = json_pack("{s:s,s:I,s:I,s:I}", "limit_name", kind, "limit", (json_int_t)v->limit,
                       "remaining", (json_int_t)v->remaining, "retry_after_ms",
                       (json_int_t)v->retry_after_ms);
    return CORE_OK;
}

core_err hub_governance_reserve_tx(store_conn *conn, const hub_gov_call *call,
                                   hub_gov_ticket *ticket, hub_gov_outcome *outcome, json_t **extra,
                                   char *msg, size_t msglen)
{
    *outcome = HUB_GOV_OK;
    *extra = NULL;
    ticket->reservation_id[0] = '\0';
    int64_t amount = 0;
    if (!call->have_price ||
        hub_budget_max_cost(&call->price, call->input_estimate, call->max_output, &amount))
        amount = INT64_MAX / 4; /* unpriceable: only fits where there is no limit */
    hub_budget_subject who = {call->org_id,          call->user_id,  call->agent_id,
                              call->conversation_id, call->provider, call->model};
    hub_budget_hold hold;
    core_err err = hub_budget_reserve_tx(conn, &who, amount, hub_now_ms(), 0, &hold);
    if (err) return err;
    if (!hold.refused) {
        ticket->reserved_pico = amount;
        snprintf(ticket->reservation_id, sizeof ticket->reservation_id, "%s", hold.reservation_id);
        return CORE_OK;
    }
    *outcome = HUB_GOV_BUDGET_EXCEEDED;
    char remaining[48], limit[48], required[48];
    money_format_pico(hold.remaining_pico, remaining);
    money_format_pico(hold.limit_pico, limit);
    money_format_pico(amount, required);
    json_t *cheaper = hub_budget_cheaper_models(call->registry, call->org_allowed,
                                                call->agent_allowed, call->input_estimate,
                                                call->max_output_default, hold.remaining_pico);
    const char *scope = hold.scope == HUB_BUDGET_ORG    ? "organization's"
                        : hold.scope == HUB_BUDGET_USER ? "personal"
                                                        : "agent's";
    const char *first = json_string_value(json_object_get(json_array_get(cheaper, 0), "id"));
    if (first)
        snprintf(msg, msglen,
                 "the %s monthly budget has %s USD left and %s/%s may cost up to %s USD; "
                 "a cheaper model that fits: %s",
                 scope, remaining, call->provider, call->model, required, first);
    else
        snprintf(msg, msglen,
                 "the %s monthly budget has %s USD left and %s/%s may cost up to %s USD; no "
                 "allowed model fits",
                 scope, remaining, call->provider, call->model, required);
    *extra = json_pack("{s:s,s:s,s:s,s:s,s:o}", "budget_scope", hub_budget_scope_name(hold.scope),
                       "remaining_usd", remaining, "limit_usd", limit, "required_usd", required,
                       "cheaper_models", cheaper);
    return CORE_OK;
}

core_err hub_governance_settle_tx(store_conn *conn, const hub_gov_ticket *ticket,
                                  const char *message_id, int64_t cost_pico, bool released,
                                  hub_budget_alerts *alerts)
{
    if (!ticket->reservation_id[0]) return CORE_OK;
    return hub_budget_settle_tx(conn, ticket->reservation_id, cost_pico < 0 ? 0 : cost_pico,
                                released, message_id, hub_now_ms(), alerts);
}

json_t *hub_governance_budget_outlook(store_conn *conn, const hub_gov_call *call)
{
    int64_t amount = -1;
    if (call->have_price &&
        hub_budget_max_cost(&call->price, call->input_estimate, call->max_output, &amount))
        amount = -1;
    const char *subjects[HUB_BUDGET__COUNT] = {call->org_id, call->user_id, call->agent_id};
    int64_t now = hub_now_ms();
    int64_t remaining = -1;
    int tightest = -1;
    bool fits = true;
    for (int s = 0; s < HUB_BUDGET__COUNT; s++) {
        if (!subjects[s] || !*subjects[s]) continue;
        hub_budget_info info;
        core_err err =
            hub_budget_get_tx(conn, call->org_id, (hub_budget_scope)s, subjects[s], now, &info);
        bool limited = info.exists && info.has_limit;
        int64_t left = info.remaining_pico;
        hub_budget_info_free(&info);
        if (err) return NULL;
        if (!limited) continue;
        if (remaining < 0 || left < remaining) {
            remaining = left;
            tightest = s;
        }
        if (amount < 0 || amount > left) fits = false;
    }
    char rem[48], req[48];
    json_t *out = json_pack(
        "{s:o,s:o,s:b,s:o}", "remaining_usd",
        remaining >= 0 ? json_string(money_format_pico(remaining, rem)) : json_null(),
        "required_usd", amount >= 0 ? json_string(money_format_pico(amount, req)) : json_null(),
        "fits", fits, "budget_scope",
        tightest >= 0 ? json_string(hub_budget_scope_name((hub_budget_scope)tightest))
                      : json_null());
    json_object_set_new(out, "cheaper_models",
                        fits ? json_array()
                             : hub_budget_cheaper_models(call->registry, call->org_allowed,
                                                         call->agent_allowed, call->input_estimate,
                                                         call->max_output_default, remaining));
    return out;
}

void hub_governance_charge_tokens(const hub_gov_call *call, const hub_gov_ticket *ticket,
                                  int64_t total_tokens)
{
    int64_t extra = total_tokens - ticket->tokens_taken;
    if (extra > 0)
        hub_limits_charge(hub_governance_limits(), &ticket->limits, call->org_id, call->user_id,
                          extra, hub_now_ms());
}

void hub_governance_rate_headers(hub_call *c, const hub_limit_verdict *v)
{
    if (v->limit <= 0) return;
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)v->limit);
    hub_call_header(c, "RateLimit-Limit", text);
    snprintf(text, sizeof text, "%lld", (long long)v->remaining);
    hub_call_header(c, "RateLimit-Remaining", text);
    snprintf(text, sizeof text, "%lld", (long long)((v->reset_ms + 999) / 1000));
    hub_call_header(c, "RateLimit-Reset", text);
    if (!v->allowed) {
        int64_t secs = (v->retry_after_ms + 999) / 1000;
        snprintf(text, sizeof text, "%lld", (long long)(secs > 0 ? secs : 1));
        hub_call_header(c, "Retry-After", text);
    }
}
