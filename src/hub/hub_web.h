/*
 * hub_web.h - serving the browser UI. The files of web/dist are compiled into
 * the binary (web/embed.mjs generates hub_web_assets at build time), so
 * teamhub needs nothing on disk; hub_web_set_dir() switches to reading them
 * from a directory instead, for UI development (`teamhub --web-dir web/dist`).
 *
 * Routes (GET and HEAD): /assets/:file, and index.html for / and every path
 * of the single-page app (/login, /register, /settings, /admin, /usage,
 * /c/:id, /invite/:token, and any other one-segment path without a dot). /api
 * paths are never touched: they stay with the API's own routes and 404s.
 *
 * Caching: every response carries a strong ETag (content hash for embedded
 * files, size+mtime for files on disk) and "Cache-Control: no-cache", so a
 * browser revalidates each time and gets 304 while nothing changed; embedded
 * files are sent gzip-compressed to clients that accept it. HTML responses
 * carry a Content-Security-Policy that allows only same-origin scripts,
 * styles and connections.
 *
 * Threads: hub_web_set_dir before the server starts; handlers run on loop
 * threads; files from disk are read on libuv's worker pool, never on a loop.
 */
#ifndef HUB_WEB_H
#define HUB_WEB_H

#include "../core/base.h"
#include "../core/http_server.h"

typedef struct {
    const char *path;         /* "/index.html", "/assets/app.js" */
    const char *content_type; /* full header value */
    const unsigned char *data;
    size_t len;
    const unsigned char *gzip_data; /* NULL when compression does not pay */
    size_t gzip_len;
    const char *etag; /* quoted strong validator */
} hub_web_asset;

/* Defined by the generated web_assets.c (build/web_assets.c). */
extern const hub_web_asset hub_web_assets[];
extern const size_t hub_web_asset_count;

/* Serve from dir instead of the embedded copy; NULL or "" restores embedded.
 * The string is copied. Call before hub_web_routes' server starts. */
void hub_web_set_dir(const char *dir);

/* Registers the UI routes on r. CORE_ENOMEM/CORE_EINVAL from the router. */
core_err hub_web_routes(http_router *r);

/* The embedded asset for an absolute path ("/assets/app.js"), or NULL. */
const hub_web_asset *hub_web_find(slice_t path);

#endif
