/*
 * gw_config.h - aigw configuration from flags and environment (flags win).
 * Every option is listed by gw_config_usage(), which is what `aigw --help`
 * prints. Provider secrets are kept here and nowhere else; they are never
 * logged (gw_config_log prints "set"/"unset" for them).
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdio.h>

#include "provider.h"
#include "provider_simulator.h"

#define GW_MAX_PROVIDERS      8
#define GW_MAX_FALLBACK_RULES 32

typedef struct {
    char from[160];  /* "provider/model" */
    char to[4][160]; /* fallbacks in order */
    int nto;
} gw_fallback_rule;

typedef struct {
    char listen_host[64];
    int listen_port;
    char database_url[1024];
    int threads;
    char seed_key[256]; /* AI_GATEWAY_API_KEY, may be empty */
    gw_provider_cfg providers[GW_MAX_PROVIDERS];
    size_t nproviders;
    gw_sim_config sim;
    int retry_max;               /* retries per target on retryable errors */
    uint32_t retry_base_ms;      /* first backoff, doubled each time, jittered */
    uint32_t retry_after_cap_ms; /* provider Retry-After beyond this -> do not wait, fall back */
    uint32_t request_timeout_ms; /* whole-request deadline */
    uint32_t connect_timeout_ms;
    uint32_t first_byte_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t probe_interval_ms; /* 0 disables health probes */
    uint32_t keepalive_ms;      /* SSE comment while the model is silent */
    uint32_t shutdown_grace_ms; /* SIGTERM: let open streams finish */
    size_t max_body_bytes;
    size_t max_header_bytes;        /* request line + headers -> 431 */
    uint32_t client_header_timeout_ms; /* whole header section -> 408 */
    uint32_t client_body_timeout_ms;   /* whole body -> 408 */
    uint32_t client_idle_timeout_ms;   /* keep-alive idle close */
    gw_fallback_rule fallbacks[GW_MAX_FALLBACK_RULES];
    int nfallbacks;
    char log_level[16];
    /* Backing storage for the provider strings above. */
    char strings[8192];
    size_t strings_used;
} gw_config;

typedef enum { GW_CFG_OK = 0, GW_CFG_HELP, GW_CFG_ERROR } gw_config_result;

/* Fills cfg from defaults, then environment, then argv flags (argv[first..]).
 * On GW_CFG_ERROR writes a reason into err. Remaining non-flag arguments are
 * not allowed here (subcommands are dispatched before). */
gw_config_result gw_config_load(gw_config *cfg, int argc, char **argv, char *err, size_t errlen);
void gw_config_usage(FILE *out);
/* Looks up a provider's config; NULL when the provider is not known. */
const gw_provider_cfg *gw_config_provider(const gw_config *cfg, const char *name);
/* Fallback targets configured for provider/model; returns count. */
int gw_config_fallbacks(const gw_config *cfg, const char *provider, const char *model,
                        const char *out[4]);

#endif
