/*
 * http_router.c - maps (method, path) to a handler. Patterns are "/"-separated
 * literal segments and ":name" parameters. Among the routes whose pattern
 * matches, the most specific wins (a literal segment beats a parameter, the
 * leftmost segment deciding first), then an exact method beats "*", which
 * beats HEAD served by a GET route. A path that some route matches but not its
 * method gets 405 with Allow; anything else gets 404. Routes are registered at
 * start-up and only read afterwards, so loop threads share a router freely.
 */
#include "http_internal.h"
#include "http_server.h"

#include <stdio.h>
#include <stdlib.h>

#define ROUTE_MAX_SEGMENTS 32

typedef struct {
    char *method; /* "*" = any */
    char *pattern;
    slice_t segments[ROUTE_MAX_SEGMENTS]; /* point into pattern */
    size_t nsegments;
    size_t nparams;
    http_handler_fn fn;
    void *ud;
} route;

struct http_router {
    route *routes;
    size_t n, cap;
};

http_router *http_router_new(void)
{
    return calloc(1, sizeof(http_router));
}

void http_router_free(http_router *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].method);
        free(r->routes[i].pattern);
    }
    free(r->routes);
    free(r);
}

/* Splits "/a/b" into "a","b" ("/" is one empty segment). false if too many. */
static bool split_path(slice_t path, slice_t *segs, size_t max, size_t *n)
{
    *n = 0;
    if (path.len && path.ptr[0] == '/') {
        path.ptr++;
        path.len--;
    }
    for (;;) {
        const char *slash = memchr(path.ptr, '/', path.len);
        size_t len = slash ? (size_t)(slash - path.ptr) : path.len;
        if (*n == max) return false;
        segs[(*n)++] = (slice_t){path.ptr, len};
        if (!slash) return true;
        path.ptr += len + 1;
        path.len -= len + 1;
    }
}

core_err http_router_add(http_router *r, const char *method, const char *pattern,
                         http_handler_fn fn, void *ud)
{
    if (!r || !method || !method[0] || !pattern || pattern[0] != '/' || !fn) return CORE_EINVAL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        route *grown = realloc(r->routes, cap * sizeof *grown);
        if (!grown) return CORE_ENOMEM;
        r->routes = grown;
        r->cap = cap;
    }
    route *rt = &r->routes[r->n];
    memset(rt, 0, sizeof *rt);
    rt->method = slice_dup(slice_from_cstr(method));
    rt->pattern = slice_dup(slice_from_cstr(pattern));
    if (!rt->method || !rt->pattern) goto fail;
    if (!split_path(slice_from_cstr(rt->pattern), rt->segments, ROUTE_MAX_SEGMENTS, &rt->nsegments))
        goto fail;
    for (size_t i = 0; i < rt->nsegments; i++) {
        if (rt->segments[i].len && rt->segments[i].ptr[0] == ':') {
            if (rt->segments[i].len == 1) goto fail; /* ":" without a name */
            rt->nparams++;
        }
    }
    if (rt->nparams > ARRAY_LEN(((http_request *)0)->params)) goto fail;
    rt->fn = fn;
    rt->ud = ud;
    r->n++;
    return CORE_OK;
fail:
    free(rt->method);
    free(rt->pattern);
    return CORE_EINVAL;
}

/* Specificity of rt for the path segments, or -1 if it does not match. */
static int64_t match_score(const route *rt, const slice_t *segs, size_t nsegs)
{
    if (rt->nsegments != nsegs) return -1;
    int64_t score = 0;
    for (size_t i = 0; i < nsegs; i++) {
        slice_t want = rt->segments[i];
        bool param = want.len > 1 && want.ptr[0] == ':';
        score <<= 1;
        if (param) {
            if (segs[i].len == 0) return -1;
        } else {
            if (!slice_eq(want, segs[i])) return -1;
            score |= 1;
        }
    }
    return score;
}

/* 3 = exact method, 2 = "*", 1 = HEAD answered by GET, 0 = no. */
static int method_rank(const route *rt, slice_t method)
{
    if (slice_eq_cstr(method, rt->method)) return 3;
    if (strcmp(rt->method, "*") == 0) return 2;
    if (slice_eq_cstr(method, "HEAD") && strcmp(rt->method, "GET") == 0) return 1;
    return 0;
}

static void add_allowed(char *allow, size_t size, const char *method)
{
    size_t mlen = strlen(method), at = strlen(allow);
    /* Already listed? Compare whole list items. */
    for (const char *p = allow; *p;) {
        const char *end = strstr(p, ", ");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == mlen && memcmp(p, method, mlen) == 0) return;
        if (!end) break;
        p = end + 2;
    }
    if (at + mlen + 3 > size) return;
    snprintf(allow + at, size - at, "%s%s", at ? ", " : "", method);
}

void http_router_dispatch(const http_router *r, http_request *req)
{
    slice_t segs[ROUTE_MAX_SEGMENTS];
    size_t nsegs;
    const route *best = NULL;
    int64_t best_score = -1;
    int best_rank = 0;
    bool path_matched = false;
    char allow[256] = "";

    if (!split_path(req->path, segs, ROUTE_MAX_SEGMENTS, &nsegs)) nsegs = SIZE_MAX;
    for (size_t i = 0; nsegs != SIZE_MAX && i < r->n; i++) {
        const route *rt = &r->routes[i];
        int64_t score = match_score(rt, segs, nsegs);
        if (score < 0) continue;
        path_matched = true;
        if (strcmp(rt->method, "*") != 0) {
            add_allowed(allow, sizeof allow, rt->method);
            if (strcmp(rt->method, "GET") == 0) add_allowed(allow, sizeof allow, "HEAD");
        }
        int rank = method_rank(rt, req->method);
        if (!rank) continue;
        if (score > best_score || (score == best_score && rank > best_rank)) {
            best = rt;
            best_score = score;
            best_rank = rank;
        }
    }
    if (!best) {
        if (path_matched) {
            http_add_header(req, "Allow", allow);
            http_respond_error(req, 405, "method_not_allowed", "method not allowed for this path",
                               false);
        } else {
            http_respond_error(req, 404, "not_found", "no such endpoint", false);
        }
        return;
    }
    req->nparams = 0;
    for (size_t i = 0; i < best->nsegments; i++) {
        slice_t name = best->segments[i];
        if (!(name.len > 1 && name.ptr[0] == ':')) continue;
        slice_t value = segs[i];
        if (memchr(value.ptr, '%', value.len)) {
            size_t len;
            char *decoded = http_decode_into_arena(req, value, false, &len);
            if (decoded) value = (slice_t){decoded, len};
        }
        req->params[req->nparams].name = (slice_t){name.ptr + 1, name.len - 1};
        req->params[req->nparams].value = value;
        req->nparams++;
    }
    best->fn(req, best->ud);
}

slice_t http_request_param(const http_request *req, const char *name)
{
    slice_t want = slice_from_cstr(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (slice_eq(req->params[i].name, want)) return req->params[i].value;
    return SLICE_NULL;
}
