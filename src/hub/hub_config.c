/*
 * hub_config.c - teamhub configuration: defaults, environment variables and
 * command-line flags (flags win), and the --help text that lists them all.
 */
#include "hub_app.h"

#include <stdio.h>
#include <stdlib.h>

static core_err parse_listen(hub_config *cfg, const char *value)
{
    const char *colon = strrchr(value, ':');
    if (!colon || colon == value) return CORE_EINVAL;
    int64_t port;
    if (slice_to_i64(slice_from_cstr(colon + 1), &port) != CORE_OK || port > 65535)
        return CORE_EINVAL;
    size_t hlen = (size_t)(colon - value);
    if (value[0] == '[' && hlen >= 2 && value[hlen - 1] == ']') { /* [::1]:8080 */
        value++;
        hlen -= 2;
    }
    if (hlen >= sizeof cfg->listen_host) return CORE_EINVAL;
    memcpy(cfg->listen_host, value, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (int)port;
    return CORE_OK;
}

static core_err parse_model(hub_config *cfg, const char *value)
{
    const char *slash = strchr(value, '/');
    if (!slash || slash == value || !slash[1]) return CORE_EINVAL;
    size_t plen = (size_t)(slash - value);
    if (plen >= sizeof cfg->system_provider || strlen(slash + 1) >= sizeof cfg->system_model)
        return CORE_EINVAL;
    memcpy(cfg->system_provider, value, plen);
    cfg->system_provider[plen] = '\0';
    snprintf(cfg->system_model, sizeof cfg->system_model, "%s", slash + 1);
    return CORE_OK;
}

static bool parse_bool(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0 ||
                 strcmp(v, "yes") == 0);
}

static core_err parse_i64(const char *v, int64_t min, int64_t *out)
{
    int64_t n;
    if (!v || slice_to_i64(slice_from_cstr(v), &n) != CORE_OK || n < min) return CORE_EINVAL;
    *out = n;
    return CORE_OK;
}

void hub_config_defaults(hub_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    snprintf(cfg->database_url, sizeof cfg->database_url, "sqlite:./data/teamhub.db");
    snprintf(cfg->gateway_url, sizeof cfg->gateway_url, "http://127.0.0.1:8090");
    snprintf(cfg->system_provider, sizeof cfg->system_provider, "simulator");
    snprintf(cfg->system_model, sizeof cfg->system_model, "sim-chat");
    cfg->llm_selection_default = true;
    cfg->session_ttl_s = 14 * 24 * 3600;
    cfg->registry_ttl_ms = 5000;
    cfg->max_output_tokens = 4096;
    cfg->abort_drain_ms = 60000;

    const char *v;
    if ((v = getenv("TEAMHUB_LISTEN")) && *v) parse_listen(cfg, v);
    if ((v = getenv("DATABASE_URL")) && *v)
        snprintf(cfg->database_url, sizeof cfg->database_url, "%s", v);
    if ((v = getenv("AI_GATEWAY_URL")) && *v)
        snprintf(cfg->gateway_url, sizeof cfg->gateway_url, "%s", v);
    if ((v = getenv("AI_GATEWAY_API_KEY")) && *v)
        snprintf(cfg->gateway_key, sizeof cfg->gateway_key, "%s", v);
    if ((v = getenv("TEAMHUB_DEFAULT_MODEL")) && *v) parse_model(cfg, v);
    if ((v = getenv("TEAMHUB_FEATURE_LLM_SELECTION")) && *v)
        cfg->llm_selection_default = parse_bool(v);
    if ((v = getenv("TEAMHUB_SECURE_COOKIES")) && *v) cfg->secure_cookies = parse_bool(v);
    if ((v = getenv("REDIS_URL")) && *v) snprintf(cfg->redis_url, sizeof cfg->redis_url, "%s", v);
    if ((v = getenv("TEAMHUB_WEB_DIR")) && *v) snprintf(cfg->web_dir, sizeof cfg->web_dir, "%s", v);
    int64_t n;
    if (parse_i64(getenv("TEAMHUB_THREADS"), 0, &n) == CORE_OK && n < 256) cfg->threads = (int)n;
    if (parse_i64(getenv("TEAMHUB_SESSION_TTL_S"), 60, &n) == CORE_OK) cfg->session_ttl_s = n;
    if (parse_i64(getenv("TEAMHUB_REGISTRY_TTL_MS"), 0, &n) == CORE_OK) cfg->registry_ttl_ms = n;
    if (parse_i64(getenv("TEAMHUB_MAX_OUTPUT_TOKENS"), 1, &n) == CORE_OK)
        cfg->max_output_tokens = n;
    if (parse_i64(getenv("TEAMHUB_ABORT_DRAIN_MS"), 0, &n) == CORE_OK) cfg->abort_drain_ms = n;
    size_t glen = strlen(cfg->gateway_url);
    while (glen && cfg->gateway_url[glen - 1] == '/')
        cfg->gateway_url[--glen] = '\0';
}

core_err hub_config_flags(hub_config *cfg, int argc, char **argv, int start, char *err,
                          size_t errlen)
{
    for (int i = start; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        core_err bad = CORE_OK;
        int64_t n;
        if (strcmp(flag, "--seed-demo") == 0) {
            cfg->seed_demo = true;
            continue;
        }
        if (strcmp(flag, "--secure-cookies") == 0) {
            cfg->secure_cookies = true;
            continue;
        }
        if (!value) {
            snprintf(err, errlen, "unknown flag or missing value: %s", flag);
            return CORE_EINVAL;
        }
        if (strcmp(flag, "--listen") == 0)
            bad = parse_listen(cfg, value);
        else if (strcmp(flag, "--database") == 0)
            snprintf(cfg->database_url, sizeof cfg->database_url, "%s", value);
        else if (strcmp(flag, "--gateway-url") == 0)
            snprintf(cfg->gateway_url, sizeof cfg->gateway_url, "%s", value);
        else if (strcmp(flag, "--redis-url") == 0)
            snprintf(cfg->redis_url, sizeof cfg->redis_url, "%s", value);
        else if (strcmp(flag, "--web-dir") == 0)
            snprintf(cfg->web_dir, sizeof cfg->web_dir, "%s", value);
        else if (strcmp(flag, "--default-model") == 0)
            bad = parse_model(cfg, value);
        else if (strcmp(flag, "--threads") == 0) {
            bad = parse_i64(value, 0, &n);
            if (!bad) cfg->threads = (int)MIN(n, 255);
        } else if (strcmp(flag, "--session-ttl") == 0) {
            bad = parse_i64(value, 60, &n);
            if (!bad) cfg->session_ttl_s = n;
        } else {
            snprintf(err, errlen, "unknown flag: %s", flag);
            return CORE_EINVAL;
        }
        if (bad) {
            snprintf(err, errlen, "bad value for %s: %s", flag, value);
            return CORE_EINVAL;
        }
        i++;
    }
    return CORE_OK;
}

void hub_config_usage(FILE *out)
{
    fputs("usage: teamhub [flags]                 serve the API\n"
          "       teamhub migrate [--database URL]  apply database migrations and exit\n"
          "       teamhub users create --email E --password P --org NAME [--role "
          "owner|admin|member]\n"
          "                            [--name N]\n"
          "       teamhub tokens create --email E [--name N]   prints a personal API token once\n"
          "       teamhub usage verify [--database URL] [--gateway-database URL] [--org ID] "
          "[--json]\n"
          "                            reconciles per-message costs, model_usage_analytics,\n"
          "                            budget settlements and budgets (and aigw's usage_log\n"
          "                            with --gateway-database or AIGW_DATABASE_URL) to the\n"
          "                            pico-USD; exit 0 exact, 1 on any difference\n"
          "\n"
          "flags (environment variable in brackets, default after '='):\n"
          "  --listen HOST:PORT     [TEAMHUB_LISTEN]       = 127.0.0.1:8080\n"
          "  --database URL         [DATABASE_URL]         = sqlite:./data/teamhub.db\n"
          "                         (sqlite:<path> or postgres://user:pass@host:port/db)\n"
          "  --gateway-url URL      [AI_GATEWAY_URL]       = http://127.0.0.1:8090\n"
          "                         [AI_GATEWAY_API_KEY]   gateway key (environment only)\n"
          "  --default-model P/M    [TEAMHUB_DEFAULT_MODEL] = simulator/sim-chat (system default)\n"
          "  --redis-url URL        [REDIS_URL]            = none: rate limits per process;\n"
          "                         redis://[:password@]host[:port][/db] makes them hold\n"
          "                         across every teamhub node sharing that Redis\n"
          "  --web-dir DIR          [TEAMHUB_WEB_DIR]      = none: the embedded UI; serve the\n"
          "                         UI files from DIR instead (UI development)\n"
          "  --threads N            [TEAMHUB_THREADS]      = number of CPUs (event loops)\n"
          "  --session-ttl SECONDS  [TEAMHUB_SESSION_TTL_S] = 1209600 (14 days)\n"
          "  --secure-cookies       [TEAMHUB_SECURE_COOKIES] = off (set behind HTTPS)\n"
          "  --seed-demo            create the demo organization, admin and member (idempotent)\n"
          "                         and print their credentials\n"
          "                         [TEAMHUB_FEATURE_LLM_SELECTION] = 1: default of the\n"
          "                         per-organization llm_selection feature flag\n"
          "                         [TEAMHUB_REGISTRY_TTL_MS] = 5000: model registry cache\n"
          "                         [TEAMHUB_MAX_OUTPUT_TOKENS] = 4096: when the model has none\n"
          "                         [TEAMHUB_ABORT_DRAIN_MS] = 60000: a chat whose client left\n"
          "                         is read on for this long so it is billed aigw's exact cost\n"
          "                         (then cancelled and billed a local estimate; 0 = at once)\n"
          "                         [LOG_LEVEL] = info\n"
          "  --help                 this text\n",
          out);
}
