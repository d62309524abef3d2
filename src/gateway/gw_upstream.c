/*
 * gw_upstream.c - the two kinds of upstream attempt of the call engine
 * (gw_call.c): an HTTP provider through its adapter and the loop's HTTP client
 * (headers, body or stream bytes into the adapter's parser, errors mapped by
 * the adapter, back-pressure by pausing the transfer), and the in-process
 * simulator. Both feed normalized events to gw_call_on_event and hand the
 * outcome back with gw_call_schedule_outcome, outside the client library's or
 * simulator's callback.
 */
#include "gw_call.h"

#include "provider_simulator.h"

#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ HTTP upstream */

static slice_t upstream_header(void *hud, const char *name)
{
    gw_call *c = hud;
    return c->upstream ? http_client_header(c->upstream, name) : SLICE_NULL;
}

static void on_up_headers(void *ud, const http_client_response *resp)
{
    gw_call *c = ud;
    c->upstream_status = resp->status;
    buf_reset(&c->body);
    if (resp->status >= 200 && resp->status < 300) {
        if (c->parser) {
            c->upstream_streaming = true;
        } else {
            c->body.max = GW_MAX_RESPONSE_BODY;
        }
    } else {
        c->body.max = GW_MAX_ERROR_BODY;
    }
}

static int on_up_data(void *ud, const char *data, size_t len)
{
    gw_call *c = ud;
    if (c->client_gone) return HTTP_CLIENT_CONTINUE;
    if (c->upstream_streaming) {
        core_err err = c->ops->stream_feed(c->parser, data, len);
        if (err != CORE_OK && c->upstream) {
            /* The parser already emitted ERROR; stop reading garbage. */
            http_client_cancel(c->upstream);
            c->transport_err = CORE_ECANCELED;
        }
    } else {
        if (buf_append(&c->body, data, len) == CORE_ETOOBIG && c->upstream) {
            if (c->upstream_status >= 200 && c->upstream_status < 300) {
                http_client_cancel(c->upstream);
                c->transport_err = CORE_ETOOBIG;
            }
            /* An oversized error body is simply truncated. */
        }
    }
    gw_call_flush(c);
    if (c->want_pause && !c->paused) {
        c->paused = true;
        return HTTP_CLIENT_PAUSE;
    }
    return HTTP_CLIENT_CONTINUE;
}

static void on_up_done(void *ud, core_err err, const char *message)
{
    gw_call *c = ud;
    if (err == CORE_ECANCELED && c->transport_err == CORE_OK) c->transport_err = CORE_ECANCELED;
    if (!c->client_gone) {
        if (c->upstream_streaming) {
            if (err == CORE_ETIMEDOUT)
                gw_call_emit_error(c, GW_ERR_TIMEOUT, 0, !c->committed,
                                   "the provider stopped sending data (idle timeout)");
            else if (err != CORE_OK && err != CORE_ECANCELED && !c->have_finish)
                /* The body did not end cleanly (e.g. a chunked body without its
                 * terminator): even a format without an end marker (Eden v2
                 * NDJSON) must not pass this off as a finished answer. */
                gw_call_emit_error(c, GW_ERR_UPSTREAM_TRUNCATED, 0, !c->committed,
                                   "the provider's stream was cut off");
            c->ops->stream_finish(c->parser);
        } else if (err == CORE_OK && c->upstream_status >= 200 && c->upstream_status < 300) {
            c->ops->parse_response(&c->pr.req, buf_slice(&c->body), gw_call_on_event, c);
        } else if (err == CORE_OK) {
            gw_error_info info;
            memset(&info, 0, sizeof info);
            info.retry_after_ms = -1;
            c->ops->map_error(c->upstream_status, buf_slice(&c->body), upstream_header, c, &info);
            gw_event ev = {.type = GW_EV_ERROR, .error = info};
            gw_call_on_event(c, &ev);
        } else if (err == CORE_ETIMEDOUT) {
            gw_call_emit_error(c, GW_ERR_TIMEOUT, 0, true, "the provider did not answer in time");
        } else if (err == CORE_ETOOBIG || c->transport_err == CORE_ETOOBIG) {
            /* Our ceiling, not a transient fault: a retry would fail the same way. */
            snprintf(c->transport_msg, sizeof c->transport_msg,
                     "the provider's response was larger than the %u MiB limit",
                     (unsigned)(GW_MAX_RESPONSE_BODY >> 20));
            gw_call_emit_error(c, GW_ERR_PROVIDER_ERROR, 0, false, c->transport_msg);
        } else if (err != CORE_ECANCELED || c->transport_err != CORE_ECANCELED) {
            snprintf(c->transport_msg, sizeof c->transport_msg, "could not reach the provider: %s",
                     message ? message : core_strerror(err));
            gw_call_emit_error(c, GW_ERR_PROVIDER_ERROR, 0, true, c->transport_msg);
        }
    }
    if (c->parser) {
        c->ops->stream_free(c->parser);
        c->parser = NULL;
    }
    c->upstream = NULL;
    /* Decide in a fresh loop turn, outside the client library's callback. */
    gw_call_schedule_outcome(c);
}

bool gw_upstream_start_http(gw_call *c)
{
    gw_upstream_req up;
    const char *errmsg = NULL;
    memset(&up, 0, sizeof up);
    gw_request *r = &c->pr.req;
    char *saved_provider = r->provider, *saved_model = r->model;
    r->provider = c->targets[c->cur].provider;
    r->model = c->targets[c->cur].model;
    gw_err e = c->ops->build(&c->pcfg, r, &c->arena, &up, &errmsg);
    r->provider = saved_provider;
    r->model = saved_model;
    if (e != GW_OK) {
        gw_call_emit_error(c, e, 0, false,
                           errmsg ? errmsg : "the provider cannot serve this request");
        return false;
    }
    if (up.stream) {
        c->parser = c->ops->stream_new(r, gw_call_on_event, c);
        if (!c->parser) {
            gw_call_emit_error(c, GW_ERR_INTERNAL, 0, false, "out of memory");
            return false;
        }
    }
    const gw_config *cfg = &c->app->cfg;
    http_client_request hr = {
        .method = up.method ? up.method : "POST",
        .url = up.url,
        .headers = up.headers,
        .body = up.body,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .first_byte_timeout_ms = cfg->first_byte_timeout_ms,
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .max_response_bytes = 0,
        .on_headers = on_up_headers,
        .on_data = on_up_data,
        .on_done = on_up_done,
        .ud = c,
    };
    core_err err = http_client_start(c->lp->client, &hr, &c->upstream);
    if (err != CORE_OK) {
        if (c->parser) {
            c->ops->stream_free(c->parser);
            c->parser = NULL;
        }
        gw_call_emit_error(c, GW_ERR_INTERNAL, 0, true, "could not start the upstream call");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ simulator upstream */

static void on_sim_event(void *ud, const gw_event *ev)
{
    gw_call *c = ud;
    gw_call_on_event(c, ev);
    gw_call_flush(c);
    if (ev->type == GW_EV_DONE) {
        c->sim = NULL; /* frees itself after DONE */
        gw_call_schedule_outcome(c);
    } else if (c->want_pause && !c->paused && c->sim) {
        c->paused = true;
        gw_sim_pause(c->sim);
    }
}

bool gw_upstream_start_sim(gw_call *c)
{
    gw_request *r = &c->pr.req;
    char *saved_model = r->model;
    r->model = c->targets[c->cur].model;
    core_err err = gw_sim_start(c->lp->loop, &c->app->cfg.sim, r, c->tries_on_cur - 1, on_sim_event,
                                c, &c->sim);
    r->model = saved_model;
    if (err != CORE_OK) {
        gw_call_emit_error(c, GW_ERR_INTERNAL, 0, false, "could not start the simulator");
        return false;
    }
    return true;
}
