/*
 * bench_upstream.c - a fast fake OpenAI-compatible upstream for benchmarks,
 * built on the project's own HTTP server. It answers at once with canned
 * bodies so the benchmark measures the proxy hop, not the model:
 *   POST /v1/chat/completions  non-stream: a fixed chat.completion body
 *                              stream: 8 content chunks + usage + [DONE]
 *                              --hold: stream one chunk, then keep the
 *                              stream open until the client leaves
 *   GET  /v1/models            one model, "bench-model"
 *
 *   bench_upstream --port P [--threads N] [--hold]
 * Prints {"port":P} on stdout once listening.
 */
#include "core/http_server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool hold_streams;

static const char completion_body[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1763990000,"
    "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello from the benchmark upstream.\",\"refusal\":null},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,"
    "\"total_tokens\":19,\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";

#define CHUNK(text)                                                                                \
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1763990000," \
    "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" text            \
    "\"},\"finish_reason\":null}],\"usage\":null}\n\n"

static const char stream_body[] =
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1763990000,"
    "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n" CHUNK("Hello") CHUNK(" from")
        CHUNK(" the") CHUNK(" benchmark") CHUNK(" upstream") CHUNK(",") CHUNK(" streaming")
            CHUNK(".")
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1763990000,"
    "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1763990000,"
    "\"model\":\"bench-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":8,\"total_tokens\":20}}\n\ndata: [DONE]\n\n";

static void on_gone(http_request *req, void *ud)
{
    (void)ud;
    http_request_finish(req);
}

static void h_chat(http_request *req, void *ud)
{
    (void)ud;
    bool stream = memmem(req->body.ptr, req->body.len, "\"stream\":true", 13) != NULL;
    if (!stream) {
        http_respond(req, 200, "application/json", SLICE_LIT(completion_body));
        return;
    }
    http_stream_begin(req, 200, "text/event-stream");
    if (hold_streams) {
        http_request_on_close(req, on_gone, NULL);
        http_stream_write(req, SLICE_LIT(CHUNK("held")));
        return; /* stays open until the client leaves */
    }
    http_stream_write(req, SLICE_LIT(stream_body));
    http_stream_end(req);
}

static void h_models(http_request *req, void *ud)
{
    (void)ud;
    http_respond(req, 200, "application/json",
                 SLICE_LIT("{\"object\":\"list\",\"data\":[{\"id\":\"bench-model\",\"object\":"
                           "\"model\",\"created\":1763990000,\"owned_by\":\"bench\"}]}"));
}

int main(int argc, char **argv)
{
    int port = 0, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hold")) hold_streams = true;
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    http_router *r = http_router_new();
    http_router_add(r, "POST", "/v1/chat/completions", h_chat, NULL);
    http_router_add(r, "GET", "/v1/models", h_models, NULL);
    http_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.threads = threads;
    cfg.router = r;
    cfg.max_connections = 100000;
    cfg.idle_timeout_ms = 600000;
    http_server_config_defaults(&cfg);
    http_server *s;
    if (http_server_start(&cfg, &s) != CORE_OK) {
        fprintf(stderr, "bench_upstream: cannot listen\n");
        return 1;
    }
    printf("{\"port\":%d}\n", http_server_port(s));
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    http_server_stop(s, 1000);
    http_server_wait(s);
    http_router_free(r);
    return 0;
}
