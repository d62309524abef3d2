/*
 * hub_alerts.h - budget alerts: listing the recorded ones (rows are written
 * by hub_budget.c when a settle or a budget change crosses a threshold) and
 * POSTing new ones to the budget's webhook URL with retries.
 *
 * Delivery: hub_alerts_deliver copies the alerts and, on the calling loop,
 * POSTs each as JSON
 *   {"type":"budget.threshold","alert_id":..,"org_id":..,"scope":..,
 *    "subject_id":..,"period":"YYYY-MM","threshold_percent":80,
 *    "spent_usd":"..","limit_usd":".."}
 * with header "X-Teamhub-Event: budget.threshold". A 2xx answer delivers it;
 * anything else (status, timeout, refused connection) is retried after
 * HUB_ALERT_RETRY_MS[i], HUB_ALERT_ATTEMPTS attempts in all. The outcome is
 * written to the alert row (webhook_state delivered|failed,
 * webhook_attempts) by a store job.
 *
 * Threads: hub_alerts_deliver on a loop thread; hub_alerts_list in a store
 * job.
 */
#ifndef HUB_ALERTS_H
#define HUB_ALERTS_H

#include "hub_app.h"
#include "hub_budget.h"

#define HUB_ALERT_ATTEMPTS   4
#define HUB_ALERT_TIMEOUT_MS 5000

/* Starts delivery of every alert in list that has a webhook URL. */
void hub_alerts_deliver(hub_loop *hl, const hub_budget_alerts *list);

/* Newest first, at most limit (1..200): new array of {id, scope, subject_id,
 * period, threshold_percent, spent_usd, limit_usd, webhook:{state,
 * attempts}|null, created_at}. */
core_err hub_alerts_list(store_conn *conn, const char *org_id, int limit, json_t **out);

/* The JSON body POSTed for alert a. New reference. */
json_t *hub_alerts_payload(const hub_budget_alert *a);

#endif
