/*
 * gw_config.c - defaults, environment and command-line flags for aigw.
 * One table describes every option, so --help, env parsing and flag parsing
 * can never disagree.
 */
#include "gw_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef enum { OPT_LISTEN, OPT_STR, OPT_INT, OPT_MS, OPT_SIZE, OPT_FALLBACKS } opt_kind;

typedef struct {
    const char *flag; /* without leading dashes; NULL = env only */
    const char *env;
    opt_kind kind;
    size_t offset; /* into gw_config, for OPT_STR/INT/MS/SIZE */
    size_t size;   /* for OPT_STR */
    const char *dflt;
    const char *help;
} opt_def;

#define F(field) offsetof(gw_config, field), sizeof(((gw_config *)0)->field)

static const opt_def options[] = {
    {"listen", "AIGW_LISTEN", OPT_LISTEN, 0, 0, "127.0.0.1:8090",
     "address to listen on (host:port)"},
    {"database", "DATABASE_URL", OPT_STR, F(database_url), "sqlite:./data/aigw.db",
     "sqlite:<path> or postgres://user@host:port/db"},
    {"threads", "AIGW_THREADS", OPT_INT, F(threads), "0", "event loops (0 = number of CPUs)"},
    {"retry-max", "AIGW_RETRY_MAX", OPT_INT, F(retry_max), "2",
     "retries per model on retryable errors before the first byte"},
    {"retry-base-ms", "AIGW_RETRY_BASE_MS", OPT_MS, F(retry_base_ms), "200",
     "first retry backoff, doubled each retry, +-50% jitter"},
    {"retry-after-cap-ms", "AIGW_RETRY_AFTER_CAP_MS", OPT_MS, F(retry_after_cap_ms), "10000",
     "longest provider Retry-After to wait for before falling back instead"},
    {"request-timeout-ms", "AIGW_REQUEST_TIMEOUT_MS", OPT_MS, F(request_timeout_ms), "600000",
     "deadline for a whole request"},
    {"connect-timeout-ms", "AIGW_CONNECT_TIMEOUT_MS", OPT_MS, F(connect_timeout_ms), "5000",
     "upstream connect timeout"},
    {"first-byte-timeout-ms", "AIGW_FIRST_BYTE_TIMEOUT_MS", OPT_MS, F(first_byte_timeout_ms),
     "120000", "upstream time to response headers"},
    {"idle-timeout-ms", "AIGW_IDLE_TIMEOUT_MS", OPT_MS, F(idle_timeout_ms), "120000",
     "upstream silence allowed inside a body"},
    {"probe-interval-ms", "AIGW_PROBE_INTERVAL_MS", OPT_MS, F(probe_interval_ms), "60000",
     "health probes of providers with a free endpoint (0 = off)"},
    {"keepalive-ms", "AIGW_KEEPALIVE_MS", OPT_MS, F(keepalive_ms), "15000",
     "SSE keep-alive comment interval while the model is silent"},
    {"shutdown-grace-ms", "AIGW_SHUTDOWN_GRACE_MS", OPT_MS, F(shutdown_grace_ms), "30000",
     "on SIGTERM, time open streams get to finish"},
    {"max-body-bytes", "AIGW_MAX_BODY_BYTES", OPT_SIZE, F(max_body_bytes), "4194304",
     "largest accepted request body"},
    {"max-header-bytes", "AIGW_MAX_HEADER_BYTES", OPT_SIZE, F(max_header_bytes), "16384",
     "largest request line + header section (431 beyond)"},
    {"client-header-timeout-ms", "AIGW_CLIENT_HEADER_TIMEOUT_MS", OPT_MS,
     F(client_header_timeout_ms), "10000", "a client's whole header section must arrive in time (408)"},
    {"client-body-timeout-ms", "AIGW_CLIENT_BODY_TIMEOUT_MS", OPT_MS, F(client_body_timeout_ms),
     "30000", "a client's whole request body must arrive in time (408)"},
    {"client-idle-timeout-ms", "AIGW_CLIENT_IDLE_TIMEOUT_MS", OPT_MS, F(client_idle_timeout_ms),
     "60000", "idle keep-alive connections are closed after this"},
    {"fallbacks", "AIGW_FALLBACKS", OPT_FALLBACKS, 0, 0, "",
     "fallback models: 'p/m=p2/m2,p3/m3;p4/m4=p5/m5'"},
    {"log-level", "AIGW_LOG_LEVEL", OPT_STR, F(log_level), "info", "debug|info|warn|error"},
    {NULL, "AI_GATEWAY_API_KEY", OPT_STR, F(seed_key), "", "seeds one gateway key (secret)"},
};

typedef struct {
    const char *name;
    const char *key_env;
    const char *url_env;
    const char *default_url;
} provider_def;

static const provider_def provider_defs[] = {
    {"openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"},
    {"deepseek", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "https://api.deepseek.com"},
    {"fal", "FAL_KEY", "FAL_BASE_URL", "https://fal.run"},
    {"eden", "EDENAI_API_KEY", "EDENAI_BASE_URL", "https://api.edenai.run"},
    {"local", "LOCAL_API_KEY", "LOCAL_BASE_URL", NULL},
};

void gw_config_usage(FILE *out)
{
    fprintf(out, "usage: aigw [flags]                 serve the gateway\n"
                 "       aigw models|keys|migrate ... admin commands (aigw models --help)\n\n"
                 "flags (each also read from its environment variable; flags win):\n");
    for (size_t i = 0; i < ARRAY_LEN(options); i++) {
        const opt_def *o = &options[i];
        char flag[64];
        if (o->flag)
            snprintf(flag, sizeof flag, "--%s", o->flag);
        else
            snprintf(flag, sizeof flag, "(env only)");
        fprintf(out, "  %-24s %-28s %s", flag, o->env, o->help);
        if (o->dflt && o->dflt[0]) fprintf(out, " [default %s]", o->dflt);
        fputc('\n', out);
    }
    fprintf(out,
            "\nproviders (a provider is configured when its key is set; local when its URL is):\n");
    for (size_t i = 0; i < ARRAY_LEN(provider_defs); i++) {
        const provider_def *p = &provider_defs[i];
        fprintf(out, "  %-9s %-18s %-18s base URL default %s\n", p->name, p->key_env, p->url_env,
                p->default_url ? p->default_url : "(none: set it to enable)");
    }
    fprintf(out, "  eden      EDENAI_API_VERSION v3 (default) or v2\n"
                 "  simulator always on: AIGW_SIM_SPEED (delay factor, default 1),\n"
                 "            AIGW_SIM_TTFT_MS, AIGW_SIM_TOKENS_PER_S, AIGW_SIM_DEFAULTS (JSON)\n");
}

static const char *cfg_strdup(gw_config *cfg, const char *s)
{
    size_t n = strlen(s) + 1;
    if (cfg->strings_used + n > sizeof cfg->strings) return NULL;
    char *p = cfg->strings + cfg->strings_used;
    memcpy(p, s, n);
    cfg->strings_used += n;
    return p;
}

static bool parse_listen(gw_config *cfg, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon) return false;
    size_t hl = (size_t)(colon - v);
    if (hl == 0 || hl >= sizeof cfg->listen_host) return false;
    const char *h = v;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(cfg->listen_host, h, hl);
    cfg->listen_host[hl] = '\0';
    int64_t port;
    if (slice_to_i64(slice_from_cstr(colon + 1), &port) || port > 65535) return false;
    cfg->listen_port = (int)port;
    return true;
}

static bool parse_fallbacks(gw_config *cfg, const char *v)
{
    cfg->nfallbacks = 0;
    char tmp[2048];
    if (strlen(v) >= sizeof tmp) return false;
    strcpy(tmp, v);
    char *save1 = NULL;
    for (char *rule = strtok_r(tmp, ";", &save1); rule; rule = strtok_r(NULL, ";", &save1)) {
        char *eq = strchr(rule, '=');
        if (!eq || cfg->nfallbacks >= GW_MAX_FALLBACK_RULES) return false;
        *eq = '\0';
        gw_fallback_rule *r = &cfg->fallbacks[cfg->nfallbacks];
        memset(r, 0, sizeof *r);
        if (strlen(rule) >= sizeof r->from || !strchr(rule, '/')) return false;
        strcpy(r->from, rule);
        char *save2 = NULL;
        for (char *t = strtok_r(eq + 1, ",", &save2); t; t = strtok_r(NULL, ",", &save2)) {
            if (r->nto >= 4 || strlen(t) >= sizeof r->to[0] || !strchr(t, '/')) return false;
            strcpy(r->to[r->nto++], t);
        }
        if (r->nto == 0) return false;
        cfg->nfallbacks++;
    }
    return true;
}

static bool set_option(gw_config *cfg, const opt_def *o, const char *v, char *err, size_t errlen)
{
    char *base = (char *)cfg;
    int64_t n;
    switch (o->kind) {
    case OPT_LISTEN:
        if (!parse_listen(cfg, v)) goto bad;
        return true;
    case OPT_FALLBACKS:
        if (!parse_fallbacks(cfg, v)) goto bad;
        return true;
    case OPT_STR:
        if (strlen(v) >= o->size) goto bad;
        strcpy(base + o->offset, v);
        return true;
    case OPT_INT:
        if (slice_to_i64(slice_from_cstr(v), &n) || n > 1 << 20) goto bad;
        *(int *)(base + o->offset) = (int)n;
        return true;
    case OPT_MS:
        if (slice_to_i64(slice_from_cstr(v), &n) || n > UINT32_MAX) goto bad;
        *(uint32_t *)(base + o->offset) = (uint32_t)n;
        return true;
    case OPT_SIZE:
        if (slice_to_i64(slice_from_cstr(v), &n) || n < 1024) goto bad;
        *(size_t *)(base + o->offset) = (size_t)n;
        return true;
    }
bad:
    /* Never echo the value: it may be a secret. */
    if (o->flag)
        snprintf(err, errlen, "invalid value for --%s (or %s)", o->flag, o->env);
    else
        snprintf(err, errlen, "invalid value for %s", o->env);
    return false;
}

gw_config_result gw_config_load(gw_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < ARRAY_LEN(options); i++)
        if (!set_option(cfg, &options[i], options[i].dflt, err, errlen)) return GW_CFG_ERROR;
    for (size_t i = 0; i < ARRAY_LEN(options); i++) {
        const char *v = getenv(options[i].env);
        if (v && v[0] && !set_option(cfg, &options[i], v, err, errlen)) return GW_CFG_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return GW_CFG_HELP;
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return GW_CFG_ERROR;
        }
        const char *name = a + 2, *val = NULL;
        char namebuf[64];
        const char *eq = strchr(name, '=');
        if (eq) {
            size_t nl = (size_t)(eq - name);
            if (nl >= sizeof namebuf) nl = sizeof namebuf - 1;
            memcpy(namebuf, name, nl);
            namebuf[nl] = '\0';
            name = namebuf;
            val = eq + 1;
        }
        const opt_def *o = NULL;
        for (size_t k = 0; k < ARRAY_LEN(options); k++)
            if (options[k].flag && strcmp(options[k].flag, name) == 0) o = &options[k];
        if (!o) {
            snprintf(err, errlen, "unknown flag --%s (see --help)", name);
            return GW_CFG_ERROR;
        }
        if (!val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flag --%s needs a value", name);
                return GW_CFG_ERROR;
            }
            val = argv[++i];
        }
        if (!set_option(cfg, o, val, err, errlen)) return GW_CFG_ERROR;
    }
    if (cfg->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? (int)MIN(n, 64) : 1;
    }

    for (size_t i = 0; i < ARRAY_LEN(provider_defs); i++) {
        const provider_def *d = &provider_defs[i];
        gw_provider_cfg *p = &cfg->providers[cfg->nproviders];
        const char *url = getenv(d->url_env);
        const char *key = getenv(d->key_env);
        p->name = d->name;
        p->base_url = url && url[0] ? cfg_strdup(cfg, url) : d->default_url;
        p->api_key = key && key[0] ? cfg_strdup(cfg, key) : NULL;
        /* Out of string space must not quietly mean "no key" or, worse, the
         * real provider's default URL instead of the configured override. */
        if ((url && url[0] && !p->base_url) || (key && key[0] && !p->api_key)) {
            snprintf(err, errlen, "%s or %s is too long", d->url_env, d->key_env);
            return GW_CFG_ERROR;
        }
        p->api_variant = NULL;
        if (strcmp(d->name, "eden") == 0) {
            const char *ver = getenv("EDENAI_API_VERSION");
            p->api_variant = ver && strcmp(ver, "v2") == 0 ? "v2" : "v3";
        }
        if (strcmp(d->name, "local") == 0 && !p->base_url) continue; /* local off */
        cfg->nproviders++;
    }
    gw_sim_config_from_env(&cfg->sim);
    return GW_CFG_OK;
}

const gw_provider_cfg *gw_config_provider(const gw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nproviders; i++)
        if (strcmp(cfg->providers[i].name, name) == 0) return &cfg->providers[i];
    return NULL;
}

int gw_config_fallbacks(const gw_config *cfg, const char *provider, const char *model,
                        const char *out[4])
{
    char key[sizeof cfg->fallbacks[0].from];
    /* A truncated id could equal some rule's (shorter) "from": no rule then. */
    if ((size_t)snprintf(key, sizeof key, "%s/%s", provider, model) >= sizeof key) return 0;
    for (int i = 0; i < cfg->nfallbacks; i++) {
        if (strcmp(cfg->fallbacks[i].from, key) != 0) continue;
        for (int k = 0; k < cfg->fallbacks[i].nto; k++)
            out[k] = cfg->fallbacks[i].to[k];
        return cfg->fallbacks[i].nto;
    }
    return 0;
}
