/*
 * test_hub_web.c - the web UI routes of teamhub (src/hub/hub_web.c) on a real
 * loopback server: content types, ETag and 304, gzip negotiation, the
 * single-page-app fallback (and that /api paths are never answered with
 * HTML), path safety, and serving from a directory (--web-dir). The header
 * parsers are tested directly.
 */
#include "../../src/hub/hub_web.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

static http_server *server;
static http_router *router;
static int port;

static void handle_ping(http_request *req, void *ud)
{
    http_respond(req, 200, "application/json", SLICE_LIT("{\"ok\":true}"));
}

typedef struct {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
} response;

/* One request on its own connection ("Connection: close"), read to EOF. */
static void request(const char *method, const char *path, const char *extra_headers, response *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n", method,
                     path, extra_headers ? extra_headers : "");
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    buf_t all;
    buf_init(&all, 0);
    char chunk[65536];
    ssize_t got;
    while ((got = recv(fd, chunk, sizeof chunk, 0)) > 0)
        buf_append(&all, chunk, (size_t)got);
    close(fd);
    const char *end = strstr(all.data, "\r\n\r\n");
    assert_non_null(end);
    size_t head_len = (size_t)(end - all.data);
    assert_true(head_len < sizeof r->head);
    memcpy(r->head, all.data, head_len);
    r->head[head_len] = '\0';
    r->status = atoi(all.data + 9);
    r->body_len = all.len - head_len - 4;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, end + 4, r->body_len);
    r->body[r->body_len] = '\0';
    buf_free(&all);
}

/* Value of a response header (case-insensitive name) copied into out, or false. */
static bool header(const response *r, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *p = line + 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (*p == ' ')
                p++;
            const char *e = strstr(p, "\r\n");
            size_t len = e ? (size_t)(e - p) : strlen(p);
            snprintf(out, outlen, "%.*s", (int)len, p);
            return true;
        }
    }
    return false;
}

static int setup(void **state)
{
    router = http_router_new();
    if (hub_web_routes(router) != CORE_OK) return -1;
    if (http_router_add(router, "GET", "/api/ping", handle_ping, NULL) != CORE_OK) return -1;
    http_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.router = router;
    http_server_config_defaults(&cfg);
    if (http_server_start(&cfg, &server) != CORE_OK) return -1;
    port = http_server_port(server);
    return 0;
}

static int teardown(void **state)
{
    http_server_stop(server, 1000);
    http_server_wait(server);
    http_router_free(router);
    return 0;
}

static void test_header_parsers(void **state)
{
    assert_true(etag_matches(SLICE_LIT("\"abc\""), "\"abc\""));
    assert_true(etag_matches(SLICE_LIT("\"x\", W/\"abc\""), "\"abc\""));
    assert_true(etag_matches(SLICE_LIT("*"), "\"abc\""));
    assert_false(etag_matches(SLICE_LIT("\"abcd\""), "\"abc\""));
    assert_false(etag_matches(SLICE_NULL, "\"abc\""));
    assert_true(accepts_gzip(SLICE_LIT("gzip, deflate, br")));
    assert_true(accepts_gzip(SLICE_LIT("br;q=1.0, GZIP;q=0.5")));
    assert_false(accepts_gzip(SLICE_LIT("gzip;q=0")));
    assert_false(accepts_gzip(SLICE_LIT("gzip; q=0.000")));
    assert_false(accepts_gzip(SLICE_LIT("deflate, br")));
    assert_false(accepts_gzip(SLICE_NULL));
    assert_true(safe_name(SLICE_LIT("app.js")));
    assert_false(safe_name(SLICE_LIT("..")));
    assert_false(safe_name(SLICE_LIT(".env")));
    assert_false(safe_name(SLICE_LIT("a/b")));
    assert_false(safe_name(SLICE_LIT("a%2Fb")));
    assert_false(safe_name(SLICE_NULL));
}

static void test_embedded_assets_complete(void **state)
{
    assert_non_null(hub_web_find(SLICE_LIT("/index.html")));
    assert_non_null(hub_web_find(SLICE_LIT("/assets/app.js")));
    assert_non_null(hub_web_find(SLICE_LIT("/assets/app.css")));
    assert_null(hub_web_find(SLICE_LIT("/nope")));
    for (size_t i = 0; i < hub_web_asset_count; i++) {
        const hub_web_asset *a = &hub_web_assets[i];
        assert_true(a->len > 0);
        assert_true(a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"');
        if (a->gzip_data) assert_true(a->gzip_len < a->len && a->gzip_data[0] == 0x1f);
    }
}

static void test_index_and_spa_fallback(void **state)
{
    const char *paths[] = {"/", "/login", "/settings", "/usage", "/c/conv_123", "/invite/abc.def"};
    const hub_web_asset *index = hub_web_find(SLICE_LIT("/index.html"));
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        response r;
        request("GET", paths[i], NULL, &r);
        assert_int_equal(r.status, 200);
        char v[1024];
        assert_true(header(&r, "Content-Type", v, sizeof v));
        assert_string_equal(v, "text/html; charset=utf-8");
        assert_true(header(&r, "Content-Security-Policy", v, sizeof v));
        assert_non_null(strstr(v, "script-src 'self'"));
        assert_true(header(&r, "ETag", v, sizeof v));
        assert_string_equal(v, index->etag);
        assert_true(header(&r, "Cache-Control", v, sizeof v));
        assert_string_equal(v, "no-cache");
        assert_int_equal(r.body_len, index->len);
        assert_memory_equal(r.body, index->data, index->len);
        free(r.body);
    }
}

static void test_api_and_files_are_not_the_app(void **state)
{
    const char *not_found[] = {
        "/api",       "/api/nothing", "/favicon.ico", "/assets/nope.js", "/assets/.hidden",
        "/assets/..", "/a/b/c"};
    for (size_t i = 0; i < ARRAY_LEN(not_found); i++) {
        response r;
        request("GET", not_found[i], NULL, &r);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "\"not_found\""));
        free(r.body);
    }
    response r;
    request("GET", "/api/ping", NULL, &r); /* the API's own routes win */
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ok\":true}");
    free(r.body);
}

static void test_asset_types_etag_gzip_head(void **state)
{
    const hub_web_asset *js = hub_web_find(SLICE_LIT("/assets/app.js"));
    response r;
    char v[256], hdr[300];
    request("GET", "/assets/app.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/javascript; charset=utf-8");
    assert_false(header(&r, "Content-Encoding", v, sizeof v));
    assert_int_equal(r.body_len, js->len);
    assert_false(header(&r, "Content-Security-Policy", v, sizeof v));
    free(r.body);

    request("GET", "/assets/app.css", NULL, &r);
    assert_true(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/css; charset=utf-8");
    free(r.body);

    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", js->etag);
    request("GET", "/assets/app.js", hdr, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body_len, 0);
    free(r.body);

    request("GET", "/assets/app.js", "If-None-Match: \"other\"\r\n", &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    assert_non_null(js->gzip_data);
    request("GET", "/assets/app.js", "Accept-Encoding: gzip, br\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Content-Encoding", v, sizeof v));
    assert_string_equal(v, "gzip");
    assert_true(header(&r, "Vary", v, sizeof v));
    assert_int_equal(r.body_len, js->gzip_len);
    assert_memory_equal(r.body, js->gzip_data, js->gzip_len);
    free(r.body);

    request("GET", "/assets/app.js", "Accept-Encoding: gzip;q=0\r\n", &r);
    assert_false(header(&r, "Content-Encoding", v, sizeof v));
    free(r.body);

    request("HEAD", "/assets/app.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    assert_true(header(&r, "Content-Length", v, sizeof v));
    assert_int_equal(atol(v), (long)js->len);
    free(r.body);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_web_dir(void **state)
{
    char dir[] = "/tmp/hub-web-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[200];
    snprintf(p, sizeof p, "%s/assets", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/index.html", dir);
    write_file(p, "<!doctype html><p>from disk</p>");
    snprintf(p, sizeof p, "%s/assets/app.js", dir);
    write_file(p, "console.log('disk')");
    hub_web_set_dir(dir);

    response r;
    char v[256], hdr[300];
    request("GET", "/c/xyz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<!doctype html><p>from disk</p>");
    assert_true(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/html; charset=utf-8");
    free(r.body);

    request("GET", "/assets/app.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "console.log('disk')");
    assert_true(header(&r, "ETag", v, sizeof v));
    free(r.body);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", v);
    request("GET", "/assets/app.js", hdr, &r);
    assert_int_equal(r.status, 304);
    free(r.body);

    request("GET", "/assets/missing.js", NULL, &r);
    assert_int_equal(r.status, 404);
    free(r.body);

    hub_web_set_dir(NULL); /* back to the embedded copy */
    request("GET", "/assets/app.js", NULL, &r);
    assert_int_equal(r.body_len, hub_web_find(SLICE_LIT("/assets/app.js"))->len);
    free(r.body);

    snprintf(p, sizeof p, "%s/assets/app.js", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/index.html", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/assets", dir);
    rmdir(p);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_parsers),
        cmocka_unit_test(test_embedded_assets_complete),
        cmocka_unit_test(test_index_and_spa_fallback),
        cmocka_unit_test(test_api_and_files_are_not_the_app),
        cmocka_unit_test(test_asset_types_etag_gzip_head),
        cmocka_unit_test(test_web_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
