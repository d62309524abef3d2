/*
 * hub_alerts.c - budget alert listing and webhook delivery with retries (see
 * hub_alerts.h). A delivery is a small state machine on the loop: POSTING
 * (an http_client call in flight) -> WAITING (a uv timer until the next
 * attempt) -> ... -> RECORDING (a store job writes the outcome) -> freed.
 * The timer handle is freed in its close callback, never in its own one.
 */
#include "hub_alerts.h"

#include "../core/log.h"

#include <stdio.h>
#include <stdlib.h>

static const uint64_t retry_delay_ms[HUB_ALERT_ATTEMPTS - 1] = {500, 2000, 8000};

typedef enum { DELIVERY_POSTING, DELIVERY_WAITING, DELIVERY_RECORDING } delivery_state;

typedef struct {
    hub_loop *hl;
    delivery_state state;
    hub_budget_alert alert;
    char *body;
    int attempts;
    bool delivered;
    char last_error[200];
    uv_timer_t timer;
    bool timer_open;
} delivery;

static void post(delivery *d);

static void delivery_free(delivery *d)
{
    free(d->body);
    free(d);
}

static void timer_closed(uv_handle_t *h)
{
    delivery_free(h->data);
}

/* Ends the delivery: closes the timer (the close callback frees) or frees. */
static void delivery_end(delivery *d)
{
    if (d->timer_open) {
        d->timer_open = false;
        uv_close((uv_handle_t *)&d->timer, timer_closed);
    } else {
        delivery_free(d);
    }
}

typedef struct {
    char alert_id[40];
    bool delivered;
    int attempts;
} outcome;

static core_err record_job(store_conn *conn, void *ud)
{
    outcome *o = ud;
    store_param p[] = {STORE_TEXT(o->delivered ? "delivered" : "failed"), STORE_INT(o->attempts),
                       STORE_TEXT(o->alert_id)};
    return store_exec(conn,
                      "UPDATE budget_alerts SET webhook_state = $1, webhook_attempts = $2 "
                      "WHERE id = $3",
                      p, 3);
}

static void record_done(core_err err, void *ud)
{
    outcome *o = ud;
    if (err) log_msgf(LOG_WARN, NULL, "alerts: recording delivery of %s failed", o->alert_id);
    free(o);
}

static void finish(delivery *d)
{
    d->state = DELIVERY_RECORDING;
    char fields[400];
    snprintf(fields, sizeof fields, "\"alert_id\":\"%s\",\"attempts\":%d,\"delivered\":%s",
             d->alert.alert_id, d->attempts, d->delivered ? "true" : "false");
    log_event(d->delivered ? LOG_INFO : LOG_WARN, NULL, "budget alert webhook", fields);
    outcome *o = calloc(1, sizeof *o);
    if (o) {
        snprintf(o->alert_id, sizeof o->alert_id, "%s", d->alert.alert_id);
        o->delivered = d->delivered;
        o->attempts = d->attempts;
        if (store_submit(d->hl->app->db, d->hl->loop, record_job, record_done, o) != CORE_OK)
            free(o);
    }
    delivery_end(d);
}

static void on_retry_timer(uv_timer_t *t)
{
    post(t->data);
}

static void on_post_done(void *ud, core_err err, const char *message)
{
    delivery *d = ud;
    (void)message;
    if (err != CORE_OK) snprintf(d->last_error, sizeof d->last_error, "%s", core_strerror(err));
    if (d->delivered || d->attempts >= HUB_ALERT_ATTEMPTS) {
        finish(d);
        return;
    }
    d->state = DELIVERY_WAITING;
    if (!d->timer_open) {
        if (uv_timer_init(d->hl->loop, &d->timer) != 0) {
            finish(d);
            return;
        }
        d->timer.data = d;
        d->timer_open = true;
    }
    uv_timer_start(&d->timer, on_retry_timer, retry_delay_ms[d->attempts - 1], 0);
}

static void on_post_headers(void *ud, const http_client_response *resp)
{
    delivery *d = ud;
    d->delivered = resp->status >= 200 && resp->status < 300;
    if (!d->delivered) snprintf(d->last_error, sizeof d->last_error, "HTTP %d", resp->status);
}

static void post(delivery *d)
{
    d->state = DELIVERY_POSTING;
    d->attempts++;
    const char *headers[] = {"Content-Type: application/json", "X-Teamhub-Event: budget.threshold",
                             NULL};
    http_client_request req = {
        .method = "POST",
        .url = d->alert.webhook_url,
        .headers = headers,
        .body = slice_from_cstr(d->body),
        .connect_timeout_ms = HUB_ALERT_TIMEOUT_MS,
        .first_byte_timeout_ms = HUB_ALERT_TIMEOUT_MS,
        .idle_timeout_ms = HUB_ALERT_TIMEOUT_MS,
        .total_timeout_ms = HUB_ALERT_TIMEOUT_MS * 2,
        .max_response_bytes = 64 * 1024,
        .on_headers = on_post_headers,
        .on_done = on_post_done,
        .ud = d,
    };
    if (http_client_start(d->hl->client, &req, NULL) != CORE_OK) {
        /* the client is closing (shutdown) or out of memory: give up now */
        snprintf(d->last_error, sizeof d->last_error, "could not start the request");
        finish(d);
    }
}

json_t *hub_alerts_payload(const hub_budget_alert *a)
{
    char spent[48], limit[48];
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "type", "budget.threshold",
                     "alert_id", a->alert_id, "org_id", a->org_id, "scope", a->scope, "subject_id",
                     a->subject_id, "period", a->period, "threshold_percent", a->threshold,
                     "spent_usd", money_format_pico(a->spent_pico, spent), "limit_usd",
                     money_format_pico(a->limit_pico, limit));
}

void hub_alerts_deliver(hub_loop *hl, const hub_budget_alerts *list)
{
    for (size_t i = 0; list && hl && hl->client && i < list->count; i++) {
        const hub_budget_alert *a = &list->alerts[i];
        if (!a->webhook_url[0]) continue;
        delivery *d = calloc(1, sizeof *d);
        if (!d) return;
        d->hl = hl;
        d->alert = *a;
        json_t *payload = hub_alerts_payload(a);
        d->body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        json_decref(payload);
        if (!d->body) {
            free(d);
            return;
        }
        post(d);
    }
}

core_err hub_alerts_list(store_conn *conn, const char *org_id, int limit, json_t **out)
{
    *out = NULL;
    if (limit < 1) limit = 1;
    if (limit > 200) limit = 200;
    store_param p[] = {STORE_TEXT(org_id), STORE_INT(limit)};
    store_rows *rows = NULL;
    core_err err = store_query(conn,
                               "SELECT id, scope, subject_id, period, threshold, spent_pico, "
                               "limit_pico, webhook_url, webhook_state, webhook_attempts, "
                               "created_at FROM budget_alerts WHERE org_id = $1 "
                               "ORDER BY created_at DESC, threshold DESC LIMIT $2",
                               p, 2, &rows);
    if (err) return err;
    json_t *list = json_array();
    for (size_t i = 0; i < store_rows_count(rows); i++) {
        char spent[48], lim[48];
        json_t *hook = store_rows_get(rows, i, 7)
                           ? json_pack("{s:s,s:I}", "state", hub_row_str(rows, i, 8), "attempts",
                                       (json_int_t)store_rows_i64(rows, i, 9, 0))
                           : json_null();
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:o,s:I}", "id", hub_row_str(rows, i, 0),
                            "scope", hub_row_str(rows, i, 1), "subject_id", hub_row_str(rows, i, 2),
                            "period", hub_row_str(rows, i, 3), "threshold_percent",
                            (json_int_t)store_rows_i64(rows, i, 4, 0), "spent_usd",
                            money_format_pico(store_rows_i64(rows, i, 5, 0), spent), "limit_usd",
                            money_format_pico(store_rows_i64(rows, i, 6, 0), lim), "webhook", hook,
                            "created_at", (json_int_t)store_rows_i64(rows, i, 10, 0)));
    }
    store_rows_free(rows);
    *out = list;
    return CORE_OK;
}
