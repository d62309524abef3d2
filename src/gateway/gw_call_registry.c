/*
 * gw_call_registry.c - finding a running call from any loop: a process-wide
 * index of open calls by generation id (one short mutex per insert, remove and
 * lookup) and a per-loop queue through which one loop asks another to cancel
 * a call it owns (POST /api/generate/:id/cancel may arrive on any loop). The
 * cancel itself always runs on the call's own loop (gw_call_cancel_by_id).
 */
#include "gw_call.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define ID_BUCKETS 4096
static gw_call *id_index[ID_BUCKETS];
static pthread_mutex_t id_index_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned id_bucket(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % ID_BUCKETS;
}

void gw_call_index_add(gw_call *c)
{
    unsigned b = id_bucket(c->id);
    pthread_mutex_lock(&id_index_mu);
    c->next_by_id = id_index[b];
    id_index[b] = c;
    pthread_mutex_unlock(&id_index_mu);
}

void gw_call_index_remove(gw_call *c)
{
    unsigned b = id_bucket(c->id);
    pthread_mutex_lock(&id_index_mu);
    for (gw_call **pp = &id_index[b]; *pp; pp = &(*pp)->next_by_id)
        if (*pp == c) {
            *pp = c->next_by_id;
            break;
        }
    pthread_mutex_unlock(&id_index_mu);
}

gw_loop *gw_call_find_loop(const char *id, const char *key_id)
{
    gw_loop *lp = NULL;
    pthread_mutex_lock(&id_index_mu);
    for (gw_call *c = id_index[id_bucket(id)]; c; c = c->next_by_id)
        if (strcmp(c->id, id) == 0 && strcmp(c->caller.key_id, key_id ? key_id : "") == 0) {
            lp = c->lp; /* loops outlive every call */
            break;
        }
    pthread_mutex_unlock(&id_index_mu);
    return lp;
}

typedef struct gw_cancel_req {
    struct gw_cancel_req *next;
    char id[48];
    char key_id[48];
} gw_cancel_req;

static void on_cancel_async(uv_async_t *a)
{
    gw_loop *lp = a->data;
    pthread_mutex_lock(&lp->cancel_mu);
    gw_cancel_req *q = lp->cancel_queue;
    lp->cancel_queue = NULL;
    pthread_mutex_unlock(&lp->cancel_mu);
    while (q) {
        gw_cancel_req *next = q->next;
        gw_call_cancel_by_id(lp, q->id, q->key_id);
        free(q);
        q = next;
    }
}

core_err gw_loop_post_cancel(gw_loop *lp, const char *id, const char *key_id)
{
    gw_cancel_req *r = calloc(1, sizeof *r);
    if (!r) return CORE_ENOMEM;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->key_id, sizeof r->key_id, "%s", key_id ? key_id : "");
    pthread_mutex_lock(&lp->cancel_mu);
    r->next = lp->cancel_queue;
    lp->cancel_queue = r;
    pthread_mutex_unlock(&lp->cancel_mu);
    uv_async_send(&lp->cancel_async);
    return CORE_OK;
}

core_err gw_loop_cancel_init(gw_loop *lp)
{
    pthread_mutex_init(&lp->cancel_mu, NULL);
    lp->cancel_queue = NULL;
    lp->cancel_async.data = lp;
    return uv_async_init(lp->loop, &lp->cancel_async, on_cancel_async) ? CORE_EIO : CORE_OK;
}

static void (*cancel_closed_cb)(gw_loop *lp);

static void on_cancel_async_closed(uv_handle_t *h)
{
    gw_loop *lp = h->data;
    gw_cancel_req *q = lp->cancel_queue;
    while (q) {
        gw_cancel_req *next = q->next;
        free(q);
        q = next;
    }
    pthread_mutex_destroy(&lp->cancel_mu);
    if (cancel_closed_cb) cancel_closed_cb(lp);
}

void gw_loop_cancel_close(gw_loop *lp, void (*on_closed)(gw_loop *lp))
{
    cancel_closed_cb = on_closed;
    uv_close((uv_handle_t *)&lp->cancel_async, on_cancel_async_closed);
}
