/*
 * loadgen.c - open-loop HTTP/1.1 load generator for the benchmarks.
 *
 * Sends requests at a fixed rate over a pool of keep-alive connections and
 * measures each latency from the moment the request was SCHEDULED (not sent),
 * so a stalled server cannot hide its queueing (no coordinated omission).
 * A response is complete at the end of its Content-Length body or its final
 * chunk, which covers whole and streamed (chunked SSE) answers alike.
 *
 *   loadgen --port P [--host 127.0.0.1] --path /v1/chat/completions
 *           [--body-file F] [--header "Authorization: Bearer k"]...
 *           [--rate R] [--duration S] [--connections C] [--warmup S]
 *   loadgen ... --hold N     open N concurrent requests and keep them open
 *                            until SIGTERM (for RSS per open stream)
 *
 * Prints one JSON line: {"sent":..,"ok":..,"errors":..,"rps":..,
 * "p50_us":..,"p90_us":..,"p99_us":..,"max_us":..}
 */
#include <uv.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HEADERS 8
#define RESP_MAX    (1u << 20)

typedef enum { RS_HEAD, RS_BODY_LEN, RS_CHUNK_SIZE, RS_CHUNK_DATA, RS_CHUNK_CRLF, RS_DONE } rstate;

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    bool connected, busy, dead;
    char *rbuf;
    size_t rlen;
    rstate st;
    size_t remaining;
    int status;
    uint64_t scheduled_ns;
    int index;
} conn;

static struct {
    const char *host;
    int port;
    const char *path;
    const char *method;
    char *body;
    size_t body_len;
    const char *headers[MAX_HEADERS];
    int nheaders;
    double rate;
    double duration;
    double warmup;
    int connections;
    int hold;
} opt = {"127.0.0.1", 0, "/", "GET", NULL, 0, {0}, 0, 1000, 5, 1, 16, 0};

static uv_loop_t *loop;
static conn *conns;
static char *request_bytes;
static size_t request_len;
static uint64_t start_ns, measure_from_ns, stop_ns;
static uint64_t *samples;
static size_t nsamples, cap_samples;
static uint64_t sent, ok_count, errors, backlog_count;
static uint64_t *backlog; /* scheduled times waiting for a free connection */
static size_t backlog_head, backlog_cap;
static int held_open;

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void record(uint64_t scheduled, bool ok)
{
    if (!ok) {
        errors++;
        return;
    }
    ok_count++;
    if (scheduled < measure_from_ns) return;
    if (nsamples == cap_samples) {
        cap_samples = cap_samples ? cap_samples * 2 : 65536;
        samples = realloc(samples, cap_samples * sizeof *samples);
        if (!samples) abort();
    }
    samples[nsamples++] = (now_ns() - scheduled) / 1000;
}

static void on_write(uv_write_t *w, int status)
{
    conn *c = w->data;
    free(w);
    if (status < 0 && !c->dead) {
        c->dead = true;
        errors++;
    }
}

static void send_request(conn *c, uint64_t scheduled)
{
    c->busy = true;
    c->scheduled_ns = scheduled;
    c->st = RS_HEAD;
    c->rlen = 0;
    uv_write_t *w = malloc(sizeof *w);
    w->data = c;
    uv_buf_t b = uv_buf_init(request_bytes, (unsigned)request_len);
    sent++;
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w);
        c->dead = true;
        record(scheduled, false);
    }
}

static void dispatch(uint64_t scheduled)
{
    for (int i = 0; i < opt.connections; i++) {
        conn *c = &conns[i];
        if (c->connected && !c->busy && !c->dead) {
            send_request(c, scheduled);
            return;
        }
    }
    if (backlog_count == backlog_cap) return; /* drop: counted via sent deficit */
    backlog[(backlog_head + backlog_count++) % backlog_cap] = scheduled;
}

static void conn_free_slot(conn *c)
{
    c->busy = false;
    if (opt.hold) return;
    if (backlog_count) {
        uint64_t s = backlog[backlog_head];
        backlog_head = (backlog_head + 1) % backlog_cap;
        backlog_count--;
        send_request(c, s);
    }
}

/* Parses as much of the response as is buffered; true when it completed. */
static bool parse_response(conn *c)
{
    for (;;) {
        switch (c->st) {
        case RS_HEAD: {
            char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
            if (!end) return false;
            size_t hl = (size_t)(end - c->rbuf) + 4;
            c->status = atoi(c->rbuf + 9);
            bool chunked = memmem(c->rbuf, hl, "chunked", 7) != NULL;
            char *cl = memmem(c->rbuf, hl, "ontent-Length:", 14);
            if (!cl) cl = memmem(c->rbuf, hl, "ontent-length:", 14);
            memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
            c->rlen -= hl;
            if (chunked) {
                c->st = RS_CHUNK_SIZE;
            } else {
                c->remaining = cl ? strtoul(cl + 14, NULL, 10) : 0;
                c->st = RS_BODY_LEN;
            }
            if (opt.hold && c->status == 200 && ++held_open == opt.hold) {
                printf("{\"held_open\":%d}\n", held_open);
                fflush(stdout);
            }
            break;
        }
        case RS_BODY_LEN: {
            size_t n = c->rlen < c->remaining ? c->rlen : c->remaining;
            memmove(c->rbuf, c->rbuf + n, c->rlen - n);
            c->rlen -= n;
            c->remaining -= n;
            if (c->remaining) return false;
            c->st = RS_DONE;
            return true;
        }
        case RS_CHUNK_SIZE: {
            char *eol = memmem(c->rbuf, c->rlen, "\r\n", 2);
            if (!eol) return false;
            c->remaining = strtoul(c->rbuf, NULL, 16);
            size_t l = (size_t)(eol - c->rbuf) + 2;
            memmove(c->rbuf, c->rbuf + l, c->rlen - l);
            c->rlen -= l;
            if (c->remaining == 0) {
                /* Final chunk: expect the closing CRLF (no trailers sent to us). */
                if (c->rlen < 2) {
                    c->st = RS_CHUNK_CRLF;
                    c->remaining = (size_t)-1;
                    return false;
                }
                memmove(c->rbuf, c->rbuf + 2, c->rlen - 2);
                c->rlen -= 2;
                c->st = RS_DONE;
                return true;
            }
            c->st = RS_CHUNK_DATA;
            break;
        }
        case RS_CHUNK_DATA: {
            size_t n = c->rlen < c->remaining ? c->rlen : c->remaining;
            memmove(c->rbuf, c->rbuf + n, c->rlen - n);
            c->rlen -= n;
            c->remaining -= n;
            if (c->remaining) return false;
            c->st = RS_CHUNK_CRLF;
            c->remaining = 0;
            break;
        }
        case RS_CHUNK_CRLF:
            if (c->rlen < 2) return false;
            memmove(c->rbuf, c->rbuf + 2, c->rlen - 2);
            c->rlen -= 2;
            if (c->remaining == (size_t)-1) {
                c->st = RS_DONE;
                return true;
            }
            c->st = RS_CHUNK_SIZE;
            break;
        case RS_DONE:
            return true;
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (c->rlen >= RESP_MAX) c->rlen = 0; /* runaway response: drop bytes */
    buf->base = c->rbuf + c->rlen;
    buf->len = RESP_MAX - c->rlen;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (n < 0) {
        if (c->busy) record(c->scheduled_ns, false);
        c->dead = true;
        uv_read_stop(s);
        return;
    }
    c->rlen += (size_t)n;
    while (c->rlen || c->st == RS_DONE) {
        if (!parse_response(c)) break;
        bool was_busy = c->busy || opt.hold;
        if (was_busy) record(c->scheduled_ns, c->status >= 200 && c->status < 300);
        c->st = RS_HEAD;
        conn_free_slot(c);
        if (!c->rlen) break;
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) {
        c->dead = true;
        errors++;
        return;
    }
    c->connected = true;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (opt.hold) send_request(c, now_ns());
    else conn_free_slot(c);
}

static uint64_t ticks;
static void on_tick(uv_timer_t *t)
{
    uint64_t now = now_ns();
    if (now >= stop_ns) {
        uv_timer_stop(t);
        uv_stop(loop);
        return;
    }
    /* Catch up on every slot due by now: an exact open-loop schedule. */
    double interval_ns = 1e9 / opt.rate;
    for (;;) {
        uint64_t due = start_ns + (uint64_t)(ticks * interval_ns);
        if (due > now) break;
        ticks++;
        dispatch(due);
    }
}

static void on_sig(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_signal_stop(s);
    uv_stop(loop);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(double p)
{
    if (!nsamples) return 0;
    size_t i = (size_t)(p * (double)(nsamples - 1));
    return samples[i];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    p[n] = '\0';
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) break;
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port")) opt.port = atoi(v);
        else if (!strcmp(a, "--path")) opt.path = v;
        else if (!strcmp(a, "--rate")) opt.rate = atof(v);
        else if (!strcmp(a, "--duration")) opt.duration = atof(v);
        else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
        else if (!strcmp(a, "--connections")) opt.connections = atoi(v);
        else if (!strcmp(a, "--hold")) opt.hold = atoi(v);
        else if (!strcmp(a, "--header") && opt.nheaders < MAX_HEADERS) opt.headers[opt.nheaders++] = v;
        else if (!strcmp(a, "--body-file")) {
            opt.body = read_file(v, &opt.body_len);
            opt.method = "POST";
            if (!opt.body) {
                fprintf(stderr, "loadgen: cannot read %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (!opt.port) {
        fprintf(stderr, "usage: loadgen --port P --path /x [--body-file f] [--rate R] ...\n");
        return 2;
    }
    if (opt.hold) opt.connections = opt.hold;
    signal(SIGPIPE, SIG_IGN);
    char head[4096];
    int hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", opt.method, opt.path,
                      opt.host, opt.port);
    for (int i = 0; i < opt.nheaders; i++)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "%s\r\n", opt.headers[i]);
    if (opt.body)
        hl += snprintf(head + hl, sizeof head - (size_t)hl,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", opt.body_len);
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    request_len = (size_t)hl + opt.body_len;
    request_bytes = malloc(request_len);
    memcpy(request_bytes, head, (size_t)hl);
    if (opt.body_len) memcpy(request_bytes + hl, opt.body, opt.body_len);

    loop = uv_default_loop();
    struct sockaddr_in addr;
    uv_ip4_addr(opt.host, opt.port, &addr);
    conns = calloc((size_t)opt.connections, sizeof *conns);
    backlog_cap = 1u << 20;
    backlog = malloc(backlog_cap * sizeof *backlog);
    for (int i = 0; i < opt.connections; i++) {
        conn *c = &conns[i];
        c->index = i;
        c->rbuf = malloc(RESP_MAX);
        uv_tcp_init(loop, &c->tcp);
        uv_tcp_nodelay(&c->tcp, 1);
        c->tcp.data = c;
        c->connect_req.data = c;
        uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&addr, on_connect);
    }
    uv_signal_t sigterm;
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_sig, SIGTERM);
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    start_ns = now_ns() + 200 * 1000000ull; /* let connections open */
    measure_from_ns = start_ns + (uint64_t)(opt.warmup * 1e9);
    stop_ns = start_ns + (uint64_t)((opt.warmup + opt.duration) * 1e9);
    if (opt.hold) {
        stop_ns = UINT64_MAX;
        uv_run(loop, UV_RUN_DEFAULT);
        printf("{\"held_open\":%d,\"errors\":%llu}\n", held_open, (unsigned long long)errors);
        return 0;
    }
    uv_timer_start(&tick, on_tick, 200, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    qsort(samples, nsamples, sizeof *samples, cmp_u64);
    double measured_s = opt.duration;
    printf("{\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,\"unfinished\":%llu,\"rps\":%.0f,"
           "\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu}\n",
           (unsigned long long)sent, (unsigned long long)ok_count, (unsigned long long)errors,
           (unsigned long long)(sent - ok_count - errors), (double)nsamples / measured_s,
           (unsigned long long)pct(0.50), (unsigned long long)pct(0.90),
           (unsigned long long)pct(0.99), (unsigned long long)(nsamples ? samples[nsamples - 1] : 0));
    return 0;
}
