/*
 * hub_web.c - serves the browser UI: embedded assets (hub_web_assets, from the
 * generated web_assets.c) or, in development, files from a directory read on
 * the libuv worker pool. Client-side routes of the single-page app all answer
 * with index.html. See hub_web.h for the routes and caching contract.
 */
#include "hub_web.h"

#include "../core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_MAX_FILE (16u << 20) /* a file from --web-dir larger than this is refused */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "               \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static char web_dir[1024]; /* "" = embedded */

void hub_web_set_dir(const char *dir)
{
    snprintf(web_dir, sizeof web_dir, "%s", dir ? dir : "");
    size_t len = strlen(web_dir);
    while (len > 1 && web_dir[len - 1] == '/')
        web_dir[--len] = '\0';
}

const hub_web_asset *hub_web_find(slice_t path)
{
    for (size_t i = 0; i < hub_web_asset_count; i++)
        if (slice_eq_cstr(path, hub_web_assets[i].path)) return &hub_web_assets[i];
    return NULL;
}

static const char *content_type_for(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

/* Does the If-None-Match header list etag (or "*")? */
static bool etag_matches(slice_t header, const char *etag)
{
    slice_t want = slice_from_cstr(etag);
    while (header.len) {
        const char *comma = memchr(header.ptr, ',', header.len);
        size_t len = comma ? (size_t)(comma - header.ptr) : header.len;
        slice_t item = slice_trim((slice_t){header.ptr, len});
        if (slice_starts_with(item, SLICE_LIT("W/"))) { /* weak compare is fine for GET */
            item.ptr += 2;
            item.len -= 2;
        }
        if (slice_eq(item, want) || slice_eq_cstr(item, "*")) return true;
        if (!comma) break;
        header.ptr += len + 1;
        header.len -= len + 1;
    }
    return false;
}

/* Does Accept-Encoding allow gzip (and not with q=0)? */
static bool accepts_gzip(slice_t header)
{
    while (header.len) {
        const char *comma = memchr(header.ptr, ',', header.len);
        size_t len = comma ? (size_t)(comma - header.ptr) : header.len;
        slice_t item = slice_trim((slice_t){header.ptr, len});
        const char *semi = memchr(item.ptr, ';', item.len);
        slice_t coding =
            slice_trim((slice_t){item.ptr, semi ? (size_t)(semi - item.ptr) : item.len});
        if (slice_case_eq(coding, SLICE_LIT("gzip"))) {
            slice_t params =
                semi ? (slice_t){semi, item.len - (size_t)(semi - item.ptr)} : SLICE_NULL;
            bool zero = false;
            for (size_t i = 0; i + 2 < params.len; i++) /* ";q=0", ";q=0.0", "; q=0.000" */
                if (params.ptr[i] == 'q' && params.ptr[i + 1] == '=') {
                    zero = true;
                    for (size_t k = i + 2; k < params.len; k++)
                        if (params.ptr[k] >= '1' && params.ptr[k] <= '9') zero = false;
                    break;
                }
            return !zero;
        }
        if (!comma) break;
        header.ptr += len + 1;
        header.len -= len + 1;
    }
    return false;
}

static void add_common_headers(http_request *req, const char *type, const char *etag)
{
    http_add_header(req, "Cache-Control", "no-cache");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Referrer-Policy", "same-origin");
    if (etag) http_add_header(req, "ETag", etag);
    if (strncmp(type, "text/html", 9) == 0) {
        http_add_header(req, "Content-Security-Policy", WEB_CSP);
        http_add_header(req, "X-Frame-Options", "DENY");
    }
}

static void serve_embedded(http_request *req, const hub_web_asset *a)
{
    add_common_headers(req, a->content_type, a->etag);
    if (a->gzip_data) http_add_header(req, "Vary", "Accept-Encoding");
    if (etag_matches(http_request_header(req, "if-none-match"), a->etag)) {
        http_respond(req, 304, NULL, SLICE_NULL);
        return;
    }
    if (a->gzip_data && accepts_gzip(http_request_header(req, "accept-encoding"))) {
        http_add_header(req, "Content-Encoding", "gzip");
        http_respond(req, 200, a->content_type, (slice_t){(const char *)a->gzip_data, a->gzip_len});
        return;
    }
    http_respond(req, 200, a->content_type, (slice_t){(const char *)a->data, a->len});
}

/* ---- files from --web-dir, read off the loop ---- */

typedef struct {
    uv_work_t work;
    http_request *req;
    char path[1200];
    char etag[64];
    buf_t body;
    int status; /* 200, 304, 404 or 500 after the work */
    char if_none_match[200];
} disk_read;

static void disk_read_work(uv_work_t *w)
{
    disk_read *d = w->data;
    d->status = 404;
    int fd = open(d->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) goto out;
    if ((uint64_t)st.st_size > WEB_MAX_FILE) {
        d->status = 500;
        goto out;
    }
    snprintf(d->etag, sizeof d->etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec);
    if (etag_matches(slice_from_cstr(d->if_none_match), d->etag)) {
        d->status = 304;
        goto out;
    }
    d->status = 500;
    if (buf_reserve(&d->body, (size_t)st.st_size + 1) != CORE_OK) goto out;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, d->body.data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) goto out;
        got += (size_t)n;
    }
    d->body.len = got;
    d->body.data[got] = '\0';
    d->status = 200;
out:
    close(fd);
}

static void disk_read_done(uv_work_t *w, int status)
{
    disk_read *d = w->data;
    http_request *req = d->req;
    const char *type = content_type_for(d->path);
    if (d->status == 200 || d->status == 304) add_common_headers(req, type, d->etag);
    if (status != 0) d->status = 500; /* cancelled */
    if (d->status == 200)
        http_respond(req, 200, type, buf_slice(&d->body));
    else if (d->status == 304)
        http_respond(req, 304, NULL, SLICE_NULL);
    else if (d->status == 404)
        http_respond_error(req, 404, "not_found", "no such file", false);
    else
        http_respond_error(req, 500, "internal_error", "could not read the file", false);
    buf_free(&d->body);
    free(d);
}

/* rel is "/index.html" or "/assets/<name>" with a name already checked. */
static void serve_from_disk(http_request *req, const char *rel)
{
    disk_read *d = calloc(1, sizeof *d);
    if (!d) {
        http_respond_error(req, 503, "server_busy", "out of memory", true);
        return;
    }
    d->req = req;
    d->work.data = d;
    buf_init(&d->body, WEB_MAX_FILE + 1);
    snprintf(d->path, sizeof d->path, "%s%s", web_dir, rel);
    slice_t inm = http_request_header(req, "if-none-match");
    snprintf(d->if_none_match, sizeof d->if_none_match, "%.*s", (int)MIN(inm.len, 199), inm.ptr);
    if (uv_queue_work(req->loop, &d->work, disk_read_work, disk_read_done) != 0) {
        free(d);
        http_respond_error(req, 503, "server_busy", "could not queue the file read", true);
    }
}

static void serve(http_request *req, const char *rel)
{
    if (web_dir[0]) {
        serve_from_disk(req, rel);
        return;
    }
    const hub_web_asset *a = hub_web_find(slice_from_cstr(rel));
    if (a)
        serve_embedded(req, a);
    else
        http_respond_error(req, 404, "not_found", "no such file", false);
}

/* Asset names are one path segment of [A-Za-z0-9._-], not starting with a
 * dot: no traversal, no hidden files, whatever the directory holds. */
static bool safe_name(slice_t name)
{
    if (name.len == 0 || name.len > 200 || name.ptr[0] == '.') return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void handle_asset(http_request *req, void *ud)
{
    slice_t name = http_request_param(req, "file");
    if (!safe_name(name)) {
        http_respond_error(req, 404, "not_found", "no such file", false);
        return;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "/assets/%.*s", (int)name.len, name.ptr);
    serve(req, rel);
}

static void handle_app(http_request *req, void *ud)
{
    serve(req, "/index.html");
}

/* One-segment paths: client-side routes get index.html; names with a dot
 * (favicon.ico, robots.txt) are files we do not have. */
static void handle_page(http_request *req, void *ud)
{
    slice_t page = http_request_param(req, "page");
    if (memchr(page.ptr, '.', page.len) || slice_eq_cstr(page, "api")) {
        http_respond_error(req, 404, "not_found", "no such endpoint", false);
        return;
    }
    serve(req, "/index.html");
}

core_err hub_web_routes(http_router *r)
{
    static const char *const app_paths[] = {"/", "/c/:id", "/invite/:token"};
    core_err err = http_router_add(r, "GET", "/assets/:file", handle_asset, NULL);
    if (!err) err = http_router_add(r, "GET", "/:page", handle_page, NULL);
    for (size_t i = 0; !err && i < ARRAY_LEN(app_paths); i++)
        err = http_router_add(r, "GET", app_paths[i], handle_app, NULL);
    if (!err && web_dir[0]) log_info("web UI served from %s", web_dir);
    return err;
}
