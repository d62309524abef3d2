/*
 * cli.c - aigw's admin commands (migrate, models, keys). Each command opens
 * the store, brings the schema up to date, does one thing through the
 * registry/keys modules, prints a human table or JSON, and maps the outcome
 * to an exit code (0 ok, 1 failure, 2 usage).
 *
 * Flag parsing is a small table: each command lists the flags it accepts;
 * "--flag value" and "--flag=value" both work; anything else is a usage
 * error with a message saying what was wrong.
 */
#include "cli.h"

#include "../core/buf.h"
#include "../core/log.h"
#include "gw_schema.h"
#include "keys.h"
#include "registry.h"

#include <stdlib.h>
#include <time.h>

/* Longest provider name accepted in a PROVIDER/MODEL argument. */
#define CLI_PROVIDER_MAX 256

typedef struct {
    FILE *out;
    FILE *err;
    const char *database_url;
    store *store;
} cli_ctx;

typedef struct {
    const char *name; /* without the leading "--" */
    bool takes_value;
    const char *value; /* set when seen; "" for a flag without value */
} cli_flag;

static const char usage_text[] =
    "usage:\n"
    "  aigw migrate\n"
    "  aigw models list [--json]\n"
    "  aigw models add --provider P --model M --input USD --output USD --source TEXT\n"
    "                  [--cached-input USD] [--unit per_1m_tokens|per_request|per_second]\n"
    "                  [--price USD] [--context N] [--max-output N] [--caps LIST]\n"
    "                  [--display-name TEXT] [--date YYYY-MM-DD]\n"
    "  aigw models update PROVIDER/MODEL [the flags of add; a price change needs --source]\n"
    "  aigw models deprecate|enable|disable PROVIDER/MODEL\n"
    "  aigw keys create --name NAME [--rpm N] [--tpm N] [--models PATTERNS]\n"
    "  aigw keys list [--json]\n"
    "  aigw keys revoke KEY_ID\n"
    "  aigw audit [--json] [--limit N]    admin changes: who (AIGW_ACTOR or the login),\n"
    "                                     what, when, before/after\n"
    "\n"
    "Prices are decimal USD per 1M tokens (per request / per second for those units),\n"
    "at most 6 decimals, e.g. 0.15. --caps: chat,streaming,tools,json,vision,reasoning.\n"
    "PATTERNS: comma-separated provider/model ids where '*' is a wildcard.\n"
    "The database comes from --database or DATABASE_URL (default sqlite:./data/aigw.db).\n"
    "Exit codes: 0 ok, 1 failure, 2 usage error.\n";

static int usage_error(cli_ctx *ctx, const char *fmt, const char *arg)
{
    fputs("aigw: ", ctx->err);
    fprintf(ctx->err, fmt, arg ? arg : "");
    fputs("\n(run 'aigw help' for usage)\n", ctx->err);
    return GW_CLI_USAGE;
}

static int failure(cli_ctx *ctx, const char *what, core_err err)
{
    fprintf(ctx->err, "aigw: %s: %s\n", what, core_strerror(err));
    return GW_CLI_FAILURE;
}

/* Parses argv[start..] into flags and at most max_pos positional arguments. */
static int parse_args(cli_ctx *ctx, int argc, char **argv, int start, cli_flag *flags,
                      size_t nflags, const char **positional, int max_pos, int *npos)
{
    *npos = 0;
    for (int i = start; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            if (*npos >= max_pos) return usage_error(ctx, "unexpected argument '%s'", arg);
            positional[(*npos)++] = arg;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        cli_flag *flag = NULL;
        for (size_t f = 0; f < nflags; f++)
            if (strlen(flags[f].name) == name_len && !strncmp(flags[f].name, name, name_len))
                flag = &flags[f];
        if (!flag) return usage_error(ctx, "unknown flag '%s'", arg);
        if (flag->value) return usage_error(ctx, "flag '%s' given twice", arg);
        if (!flag->takes_value) {
            if (eq) return usage_error(ctx, "flag '%s' takes no value", arg);
            flag->value = "";
        } else if (eq) {
            flag->value = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error(ctx, "flag '%s' needs a value", arg);
            flag->value = argv[++i];
        }
    }
    return GW_CLI_OK;
}

static int parse_price(cli_ctx *ctx, const char *flag, const char *text, int64_t *micro)
{
    core_err err = money_parse(slice_from_cstr(text), 6, false, micro);
    if (err) {
        fprintf(ctx->err,
                "aigw: --%s '%s' is not a decimal USD amount (digits, one '.', at most 6 "
                "decimals, no sign)\n",
                flag, text);
        return GW_CLI_USAGE;
    }
    return GW_CLI_OK;
}

static int parse_count(cli_ctx *ctx, const char *flag, const char *text, int64_t *out)
{
    if (slice_to_i64(slice_from_cstr(text), out) != CORE_OK) {
        fprintf(ctx->err, "aigw: --%s '%s' is not a non-negative integer\n", flag, text);
        return GW_CLI_USAGE;
    }
    return GW_CLI_OK;
}

/* Splits "provider/model" at the first slash into the caller's buffers. */
static int split_model_id(cli_ctx *ctx, const char *id, char *provider, size_t psz,
                          const char **model)
{
    const char *slash = strchr(id, '/');
    if (!slash || slash == id || !slash[1] || (size_t)(slash - id) >= psz)
        return usage_error(ctx, "'%s' is not PROVIDER/MODEL", id);
    memcpy(provider, id, (size_t)(slash - id));
    provider[slash - id] = '\0';
    *model = slash + 1;
    return GW_CLI_OK;
}

static int open_store(cli_ctx *ctx)
{
    char errbuf[512];
    core_err err = store_open(ctx->database_url, 1, &ctx->store, errbuf, sizeof errbuf);
    if (err) {
        fprintf(ctx->err, "aigw: cannot open database: %s\n", errbuf);
        return GW_CLI_FAILURE;
    }
    err = gw_schema_migrate(ctx->store, errbuf, sizeof errbuf);
    if (err) {
        fprintf(ctx->err, "aigw: migration failed: %s\n", errbuf);
        return GW_CLI_FAILURE;
    }
    if ((err = gw_registry_seed(ctx->store))) return failure(ctx, "seeding the catalog", err);
    return GW_CLI_OK;
}

/* ---------- audit ---------- */

/* Who made a change: AIGW_ACTOR, else the invoking login (sudo's too). */
static const char *audit_actor(void)
{
    const char *names[] = {"AIGW_ACTOR", "SUDO_USER", "USER", "LOGNAME"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return v;
    }
    return "cli";
}

typedef struct {
    const char *sql;
    const char *a, *b;
    char *json; /* out: first row as a JSON object text, or NULL */
} row_json_job;

static core_err row_json_run(store_conn *c, void *ud)
{
    row_json_job *j = ud;
    store_param params[2] = {STORE_TEXT(j->a), j->b ? STORE_TEXT(j->b) : STORE_NULL};
    store_rows *rows = NULL;
    core_err err = store_query(c, j->sql, params, j->b ? 2 : 1, &rows);
    if (err || store_rows_count(rows) == 0) goto out;
    json_t *o = json_object();
    for (size_t col = 0; o && col < store_rows_columns(rows); col++) {
        const char *v = store_rows_get(rows, 0, col);
        json_object_set_new(o, store_rows_name(rows, col), v ? json_string(v) : json_null());
    }
    j->json = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
out:
    store_rows_free(rows);
    return err;
}

/* The current row of a model or key as JSON text (caller frees), or NULL. */
static char *row_json(cli_ctx *ctx, const char *sql, const char *a, const char *b)
{
    row_json_job j = {sql, a, b, NULL};
    if (store_run_sync(ctx->store, row_json_run, &j) != CORE_OK) {
        free(j.json);
        return NULL;
    }
    return j.json;
}

#define MODEL_ROW_SQL "SELECT * FROM models WHERE provider = $1 AND model = $2"
#define KEY_ROW_SQL                                                                                \
    "SELECT id, name, prefix, rpm, tpm, allowed_models, created_at, revoked_at FROM gateway_keys"         \
    " WHERE id = $1"

typedef struct {
    const char *action, *target, *before, *after;
} audit_job;

static core_err audit_run(store_conn *c, void *ud)
{
    audit_job *a = ud;
    char id[40];
    random_id("aud_", id, sizeof id);
    store_param p[] = {STORE_TEXT(id),           STORE_INT(time_wall_ms()),
                       STORE_TEXT(audit_actor()), STORE_TEXT(a->action),
                       STORE_TEXT(a->target),     STORE_TEXT_OR_NULL(a->before),
                       STORE_TEXT_OR_NULL(a->after)};
    return store_exec(c,
                      "INSERT INTO admin_audit (id, ts_ms, actor, action, target, before_json,"
                      " after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      p, (int)ARRAY_LEN(p));
}

/* Records a change that already happened; a failure to record is reported
 * (the change itself stands). */
static void audit(cli_ctx *ctx, const char *action, const char *target, const char *before,
                  const char *after)
{
    audit_job a = {action, target, before, after};
    core_err err = store_run_sync(ctx->store, audit_run, &a);
    if (err) fprintf(ctx->err, "aigw: warning: the audit record failed: %s\n", core_strerror(err));
}

/* ---------- models ---------- */

static void format_time_ms(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int models_list(cli_ctx *ctx, int argc, char **argv)
{
    cli_flag flags[] = {{"json", false, NULL}};
    const char *pos[1];
    int npos, rc;
    gw_registry *reg = NULL;
    const gw_registry_snap *snap = NULL;
    core_err err;
    if ((rc = parse_args(ctx, argc, argv, 3, flags, ARRAY_LEN(flags), pos, 0, &npos))) return rc;
    if ((rc = open_store(ctx))) return rc;
    if ((err = gw_registry_new(ctx->store, &reg)) || (err = gw_registry_reload(reg))) {
        rc = failure(ctx, "reading models", err);
        goto out;
    }
    snap = gw_registry_acquire(reg);
    if (flags[0].value) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < snap->count; i++) {
            const gw_model *m = &snap->models[i];
            json_t *item = gw_model_to_json(m);
            if (!item) continue;
            json_object_set_new(item, "enabled", json_boolean(m->enabled));
            json_object_set_new(item, "updated_by", json_string(m->updated_by));
            json_object_set_new(item, "updated_at", json_integer(m->updated_at));
            json_array_append_new(list, item);
        }
        char *text = list ? json_dumps(list, JSON_INDENT(2)) : NULL;
        json_decref(list);
        if (!text) {
            rc = failure(ctx, "rendering JSON", CORE_ENOMEM);
            goto out;
        }
        fprintf(ctx->out, "%s\n", text);
        free(text);
        goto out;
    }
    fprintf(ctx->out, "%-44s %-13s %10s %10s %10s %8s %-20s %s\n", "MODEL", "UNIT", "INPUT",
            "CACHED", "OUTPUT", "CONTEXT", "FLAGS", "BY");
    for (size_t i = 0; i < snap->count; i++) {
        const gw_model *m = &snap->models[i];
        char in[48], cached[48], output[48], id[600], flagtext[32] = "";
        snprintf(id, sizeof id, "%s/%s", m->provider, m->model);
        if (m->deprecated) strcat(flagtext, "deprecated ");
        if (!m->enabled) strcat(flagtext, "disabled");
        if (!flagtext[0]) strcpy(flagtext, "-");
        if (m->price.unit == PRICE_PER_1M_TOKENS) {
            money_format_micro(m->price.input_micro, in);
            money_format_micro(m->price.cached_input_micro, cached);
            money_format_micro(m->price.output_micro, output);
        } else {
            money_format_micro(m->price.request_micro, in);
            strcpy(cached, "-");
            strcpy(output, "-");
        }
        fprintf(ctx->out, "%-44s %-13s %10s %10s %10s %8lld %-20s %s\n", id,
                gw_price_unit_name(m->price.unit), in, cached, output, (long long)m->context_length,
                flagtext, m->updated_by);
    }
out:
    if (snap) gw_registry_release(snap);
    gw_registry_free(reg);
    return rc;
}

/* The flags shared by "models add" and "models update". */
enum {
    MF_PROVIDER,
    MF_MODEL,
    MF_INPUT,
    MF_CACHED,
    MF_OUTPUT,
    MF_PRICE,
    MF_UNIT,
    MF_CONTEXT,
    MF_MAX_OUTPUT,
    MF_CAPS,
    MF_DISPLAY,
    MF_SOURCE,
    MF_DATE,
    MF__COUNT
};

static void model_flags_init(cli_flag flags[MF__COUNT])
{
    static const char *const names[MF__COUNT] = {
        "provider", "model",      "input", "cached-input", "output", "price", "unit",
        "context",  "max-output", "caps",  "display-name", "source", "date",
    };
    for (int i = 0; i < MF__COUNT; i++)
        flags[i] = (cli_flag){names[i], true, NULL};
}

/* Parses the price/size/caps/date flags into a patch (used by add too). */
static int model_flags_to_patch(cli_ctx *ctx, const cli_flag *f, gw_model_patch *p)
{
    int rc;
    if (f[MF_UNIT].value) {
        if (!gw_price_unit_parse(slice_from_cstr(f[MF_UNIT].value), &p->price.unit))
            return usage_error(ctx, "--unit '%s' is not per_1m_tokens, per_request or per_second",
                               f[MF_UNIT].value);
        p->set_unit = true;
    }
    if (f[MF_INPUT].value) {
        if ((rc = parse_price(ctx, "input", f[MF_INPUT].value, &p->price.input_micro))) return rc;
        p->set_input = true;
    }
    if (f[MF_CACHED].value) {
        if ((rc = parse_price(ctx, "cached-input", f[MF_CACHED].value,
                              &p->price.cached_input_micro)))
            return rc;
        p->set_cached_input = true;
    }
    if (f[MF_OUTPUT].value) {
        if ((rc = parse_price(ctx, "output", f[MF_OUTPUT].value, &p->price.output_micro)))
            return rc;
        p->set_output = true;
    }
    if (f[MF_PRICE].value) {
        if ((rc = parse_price(ctx, "price", f[MF_PRICE].value, &p->price.request_micro))) return rc;
        p->set_request = true;
    }
    if (f[MF_CONTEXT].value &&
        (rc = parse_count(ctx, "context", f[MF_CONTEXT].value, &p->context_length)))
        return rc;
    if (f[MF_MAX_OUTPUT].value &&
        (rc = parse_count(ctx, "max-output", f[MF_MAX_OUTPUT].value, &p->max_output_tokens)))
        return rc;
    if (f[MF_CAPS].value) {
        if (gw_caps_parse(slice_from_cstr(f[MF_CAPS].value), &p->capabilities))
            return usage_error(ctx, "--caps '%s': use chat,streaming,tools,json,vision,reasoning",
                               f[MF_CAPS].value);
        p->set_capabilities = true;
    }
    if (f[MF_DATE].value) {
        if (!gw_price_date_valid(slice_from_cstr(f[MF_DATE].value)))
            return usage_error(ctx, "--date '%s' is not YYYY-MM-DD", f[MF_DATE].value);
        p->price_date = f[MF_DATE].value;
    }
    if (f[MF_SOURCE].value) {
        if (!*f[MF_SOURCE].value) return usage_error(ctx, "--source must not be empty", NULL);
        p->price_source = f[MF_SOURCE].value;
    }
    p->display_name = f[MF_DISPLAY].value;
    return GW_CLI_OK;
}

static int models_add(cli_ctx *ctx, int argc, char **argv)
{
    cli_flag f[MF__COUNT];
    const char *pos[1];
    int npos, rc;
    gw_model_patch p;
    char today[11];
    model_flags_init(f);
    gw_model_patch_init(&p);
    if ((rc = parse_args(ctx, argc, argv, 3, f, MF__COUNT, pos, 0, &npos))) return rc;
    if ((rc = model_flags_to_patch(ctx, f, &p))) return rc;
    if (!f[MF_PROVIDER].value || !*f[MF_PROVIDER].value || !f[MF_MODEL].value ||
        !*f[MF_MODEL].value)
        return usage_error(ctx, "models add needs --provider and --model", NULL);
    if (!p.price_source)
        return usage_error(ctx, "models add needs --source (where the price comes from)", NULL);
    if (strchr(f[MF_PROVIDER].value, '/'))
        return usage_error(ctx, "--provider '%s' must not contain '/'", f[MF_PROVIDER].value);
    price_unit unit = p.set_unit ? p.price.unit : PRICE_PER_1M_TOKENS;
    if (unit == PRICE_PER_1M_TOKENS && (!p.set_input || !p.set_output))
        return usage_error(ctx, "per_1m_tokens prices need --input and --output", NULL);
    if (unit != PRICE_PER_1M_TOKENS && !p.set_request)
        return usage_error(ctx, "per_request and per_second prices need --price", NULL);
    if (!p.price_date) gw_price_date_today(today);
    gw_model m = {
        .provider = f[MF_PROVIDER].value,
        .model = f[MF_MODEL].value,
        .display_name = p.display_name ? p.display_name : f[MF_MODEL].value,
        .context_length = p.context_length > 0 ? p.context_length : 0,
        .max_output_tokens = p.max_output_tokens > 0 ? p.max_output_tokens : 0,
        .capabilities = p.set_capabilities ? p.capabilities : (GW_CAP_CHAT | GW_CAP_STREAMING),
        .price = {unit, p.price.input_micro,
                  /* Without a cache price, cached tokens cost what input costs. */
                  p.set_cached_input ? p.price.cached_input_micro : p.price.input_micro,
                  p.price.output_micro, p.price.request_micro},
        .price_source = p.price_source,
        .price_date = p.price_date ? p.price_date : today,
        .enabled = true,
    };
    if ((rc = open_store(ctx))) return rc;
    core_err err = gw_registry_admin_add(ctx->store, &m);
    if (err == CORE_EEXIST) {
        fprintf(ctx->err, "aigw: %s/%s already exists; use 'aigw models update'\n", m.provider,
                m.model);
        return GW_CLI_FAILURE;
    }
    if (err == CORE_EINVAL) return usage_error(ctx, "invalid model id or value", NULL);
    if (err) return failure(ctx, "adding the model", err);
    fprintf(ctx->out, "added %s/%s\n", m.provider, m.model);
    char target[300], *after = row_json(ctx, MODEL_ROW_SQL, m.provider, m.model);
    snprintf(target, sizeof target, "%s/%s", m.provider, m.model);
    audit(ctx, "model.add", target, NULL, after);
    free(after);
    return GW_CLI_OK;
}

static int report_update(cli_ctx *ctx, core_err err, const char *id, const char *what)
{
    if (err == CORE_ENOTFOUND) {
        fprintf(ctx->err, "aigw: no model %s\n", id);
        return GW_CLI_FAILURE;
    }
    if (err == CORE_EINVAL) return usage_error(ctx, "invalid value for %s", id);
    if (err) return failure(ctx, "updating the model", err);
    fprintf(ctx->out, "%s %s\n", what, id);
    return GW_CLI_OK;
}

static int models_update(cli_ctx *ctx, int argc, char **argv)
{
    cli_flag f[MF__COUNT];
    const char *pos[1];
    int npos, rc;
    gw_model_patch p;
    char provider[CLI_PROVIDER_MAX];
    const char *model;
    model_flags_init(f);
    gw_model_patch_init(&p);
    if ((rc = parse_args(ctx, argc, argv, 3, f, MF__COUNT, pos, 1, &npos))) return rc;
    if (npos != 1) return usage_error(ctx, "models update needs PROVIDER/MODEL", NULL);
    if (f[MF_PROVIDER].value || f[MF_MODEL].value)
        return usage_error(ctx, "models update takes PROVIDER/MODEL, not --provider/--model", NULL);
    if ((rc = split_model_id(ctx, pos[0], provider, sizeof provider, &model))) return rc;
    if ((rc = model_flags_to_patch(ctx, f, &p))) return rc;
    bool price_changes =
        p.set_unit || p.set_input || p.set_cached_input || p.set_output || p.set_request;
    if (price_changes && !p.price_source)
        return usage_error(ctx, "a price change needs --source (where the new price comes from)",
                           NULL);
    if ((rc = open_store(ctx))) return rc;
    char *before = row_json(ctx, MODEL_ROW_SQL, provider, model);
    rc = report_update(ctx, gw_registry_admin_update(ctx->store, provider, model, &p), pos[0],
                       "updated");
    if (rc == GW_CLI_OK) {
        char *after = row_json(ctx, MODEL_ROW_SQL, provider, model);
        audit(ctx, "model.update", pos[0], before, after);
        free(after);
    }
    free(before);
    return rc;
}

/* deprecate / enable / disable */
static int models_flag(cli_ctx *ctx, int argc, char **argv, const char *verb)
{
    const char *pos[1];
    int npos, rc;
    gw_model_patch p;
    char provider[CLI_PROVIDER_MAX];
    const char *model;
    gw_model_patch_init(&p);
    if ((rc = parse_args(ctx, argc, argv, 3, NULL, 0, pos, 1, &npos))) return rc;
    if (npos != 1) return usage_error(ctx, "models %s needs PROVIDER/MODEL", verb);
    if ((rc = split_model_id(ctx, pos[0], provider, sizeof provider, &model))) return rc;
    if (!strcmp(verb, "deprecate"))
        p.deprecated = 1;
    else
        p.enabled = !strcmp(verb, "enable");
    if ((rc = open_store(ctx))) return rc;
    const char *done = !strcmp(verb, "deprecate") ? "deprecated"
                       : p.enabled                ? "enabled"
                                                  : "disabled";
    char *before = row_json(ctx, MODEL_ROW_SQL, provider, model);
    rc = report_update(ctx, gw_registry_admin_update(ctx->store, provider, model, &p), pos[0],
                       done);
    if (rc == GW_CLI_OK) {
        char action[32], *after = row_json(ctx, MODEL_ROW_SQL, provider, model);
        snprintf(action, sizeof action, "model.%s", verb);
        audit(ctx, action, pos[0], before, after);
        free(after);
    }
    free(before);
    return rc;
}

/* ---------- keys ---------- */

static int keys_create(cli_ctx *ctx, int argc, char **argv)
{
    cli_flag f[] = {
        {"name", true, NULL}, {"rpm", true, NULL}, {"tpm", true, NULL}, {"models", true, NULL}};
    const char *pos[1];
    const char *patterns[GW_KEY_PATTERNS_MAX];
    char token[GW_KEY_TOKEN_SIZE], id[GW_KEY_ID_SIZE];
    char *models_copy = NULL;
    int npos, rc;
    gw_key_spec spec = {0};
    if ((rc = parse_args(ctx, argc, argv, 3, f, ARRAY_LEN(f), pos, 0, &npos))) return rc;
    spec.name = f[0].value;
    if (!spec.name || !*spec.name) return usage_error(ctx, "keys create needs --name", NULL);
    if (strlen(spec.name) > GW_KEY_NAME_MAX) return usage_error(ctx, "--name is too long", NULL);
    if (f[1].value && (rc = parse_count(ctx, "rpm", f[1].value, &spec.rpm))) return rc;
    if (f[2].value && (rc = parse_count(ctx, "tpm", f[2].value, &spec.tpm))) return rc;
    if (f[3].value) {
        if (!(models_copy = strdup(f[3].value))) return failure(ctx, "keys create", CORE_ENOMEM);
        char *save = NULL;
        for (char *item = strtok_r(models_copy, ",", &save); item;
             item = strtok_r(NULL, ",", &save)) {
            slice_t trimmed = slice_trim(slice_from_cstr(item));
            if (trimmed.len == 0) continue;
            if (spec.nmodels >= GW_KEY_PATTERNS_MAX) {
                rc = usage_error(ctx, "too many --models patterns", NULL);
                goto out;
            }
            ((char *)trimmed.ptr)[trimmed.len] = '\0';
            patterns[spec.nmodels++] = trimmed.ptr;
        }
        if (spec.nmodels == 0) {
            rc = usage_error(ctx, "--models '%s' holds no pattern", f[3].value);
            goto out;
        }
        spec.models = patterns;
    }
    if ((rc = open_store(ctx))) goto out;
    core_err err = gw_keys_create(ctx->store, &spec, token, id);
    if (err == CORE_EINVAL) {
        rc = usage_error(ctx, "invalid key settings (a --models pattern with spaces?)", NULL);
        goto out;
    }
    if (err) {
        rc = failure(ctx, "creating the key", err);
        goto out;
    }
    fprintf(ctx->out, "%s\n", token);
    fprintf(ctx->err, "created key %s (%s). The token above is shown only once; store it now.\n",
            id, spec.name);
    {
        char *after = row_json(ctx, KEY_ROW_SQL, id, NULL); /* never the token or its hash */
        audit(ctx, "key.create", id, NULL, after);
        free(after);
    }
    explicit_bzero(token, sizeof token); /* a plain memset of a dead buffer may be elided */
out:
    free(models_copy);
    return rc;
}

static int keys_list(cli_ctx *ctx, int argc, char **argv)
{
    cli_flag f[] = {{"json", false, NULL}};
    const char *pos[1];
    int npos, rc;
    json_t *list = NULL, *key;
    size_t i;
    if ((rc = parse_args(ctx, argc, argv, 3, f, ARRAY_LEN(f), pos, 0, &npos))) return rc;
    if ((rc = open_store(ctx))) return rc;
    core_err err = gw_keys_list(ctx->store, &list);
    if (err) return failure(ctx, "listing keys", err);
    if (f[0].value) {
        char *text = json_dumps(list, JSON_INDENT(2));
        if (text) fprintf(ctx->out, "%s\n", text);
        free(text);
        json_decref(list);
        return text ? GW_CLI_OK : failure(ctx, "rendering JSON", CORE_ENOMEM);
    }
    fprintf(ctx->out, "%-31s %-24s %-14s %8s %10s %-20s %-20s %s\n", "ID", "NAME", "PREFIX", "RPM",
            "TPM", "CREATED", "REVOKED", "MODELS");
    json_array_foreach(list, i, key)
    {
        char created[32], revoked[32] = "-", limit_rpm[24] = "-", limit_tpm[24] = "-";
        buf_t models;
        buf_init(&models, 4096);
        format_time_ms(json_integer_value(json_object_get(key, "created_at")), created);
        json_t *rev = json_object_get(key, "revoked_at");
        if (json_is_integer(rev)) format_time_ms(json_integer_value(rev), revoked);
        json_int_t rpm = json_integer_value(json_object_get(key, "rpm"));
        json_int_t tpm = json_integer_value(json_object_get(key, "tpm"));
        if (rpm > 0) snprintf(limit_rpm, sizeof limit_rpm, "%lld", (long long)rpm);
        if (tpm > 0) snprintf(limit_tpm, sizeof limit_tpm, "%lld", (long long)tpm);
        json_t *patterns = json_object_get(key, "models"), *pattern;
        size_t j;
        json_array_foreach(patterns, j, pattern)
        {
            if (j) buf_append_char(&models, ',');
            buf_append_cstr(&models, json_string_value(pattern));
        }
        fprintf(ctx->out, "%-31s %-24s %-14s %8s %10s %-20s %-20s %s\n",
                json_string_value(json_object_get(key, "id")),
                json_string_value(json_object_get(key, "name")),
                json_string_value(json_object_get(key, "prefix")), limit_rpm, limit_tpm, created,
                revoked, models.len ? models.data : "*");
        buf_free(&models);
    }
    json_decref(list);
    return GW_CLI_OK;
}

static int keys_revoke(cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[1];
    int npos, rc;
    if ((rc = parse_args(ctx, argc, argv, 3, NULL, 0, pos, 1, &npos))) return rc;
    if (npos != 1) return usage_error(ctx, "keys revoke needs KEY_ID", NULL);
    if ((rc = open_store(ctx))) return rc;
    char *before = row_json(ctx, KEY_ROW_SQL, pos[0], NULL);
    core_err err = gw_keys_revoke(ctx->store, pos[0]);
    if (err == CORE_OK) {
        char *after = row_json(ctx, KEY_ROW_SQL, pos[0], NULL);
        audit(ctx, "key.revoke", pos[0], before, after);
        free(after);
    }
    free(before);
    if (err == CORE_ENOTFOUND) {
        fprintf(ctx->err, "aigw: no active key %s\n", pos[0]);
        return GW_CLI_FAILURE;
    }
    if (err) return failure(ctx, "revoking the key", err);
    fprintf(ctx->out, "revoked %s\n", pos[0]);
    return GW_CLI_OK;
}

/* ---------- audit list ---------- */

typedef struct {
    int64_t limit;
    store_rows *rows;
} audit_list_job;

static core_err audit_list_run(store_conn *c, void *ud)
{
    audit_list_job *j = ud;
    store_param p[] = {STORE_INT(j->limit)};
    return store_query(c,
                       "SELECT id, ts_ms, actor, action, target, before_json, after_json"
                       " FROM admin_audit ORDER BY ts_ms DESC, id DESC LIMIT $1",
                       p, 1, &j->rows);
}

static int audit_list(cli_ctx *ctx, int argc, char **argv)
{
    cli_flag f[] = {{"json", false, NULL}, {"limit", true, NULL}};
    const char *pos[1];
    int npos, rc;
    audit_list_job j = {100, NULL};
    if ((rc = parse_args(ctx, argc, argv, 2, f, ARRAY_LEN(f), pos, 0, &npos))) return rc;
    if (f[1].value && (rc = parse_count(ctx, "limit", f[1].value, &j.limit))) return rc;
    if ((rc = open_store(ctx))) return rc;
    core_err err = store_run_sync(ctx->store, audit_list_run, &j);
    if (err) return failure(ctx, "reading the audit log", err);
    json_t *arr = f[0].value ? json_array() : NULL;
    for (size_t r = 0; r < store_rows_count(j.rows); r++) {
        const char *id = store_rows_get(j.rows, r, 0), *actor = store_rows_get(j.rows, r, 2);
        const char *action = store_rows_get(j.rows, r, 3), *target = store_rows_get(j.rows, r, 4);
        const char *before = store_rows_get(j.rows, r, 5), *after = store_rows_get(j.rows, r, 6);
        int64_t ts = store_rows_i64(j.rows, r, 1, 0);
        if (arr) {
            json_t *b = before ? json_loads(before, 0, NULL) : NULL;
            json_t *a = after ? json_loads(after, 0, NULL) : NULL;
            json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:s,s:s,s:o,s:o}", "id", id, "ts_ms",
                                                 (json_int_t)ts, "actor", actor, "action", action,
                                                 "target", target, "before",
                                                 b ? b : json_null(), "after",
                                                 a ? a : json_null()));
        } else {
            char when[32];
            format_time_ms(ts, when);
            fprintf(ctx->out, "%s  %-16s %-22s %s\n", when, action, target, actor);
        }
    }
    if (arr) {
        char *text = json_dumps(arr, JSON_INDENT(1));
        fprintf(ctx->out, "%s\n", text ? text : "[]");
        free(text);
        json_decref(arr);
    }
    store_rows_free(j.rows);
    return GW_CLI_OK;
}

/* ---------- dispatch ---------- */

static int run_migrate(cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[1];
    int npos, rc;
    if ((rc = parse_args(ctx, argc, argv, 2, NULL, 0, pos, 0, &npos))) return rc;
    if ((rc = open_store(ctx))) return rc;
    fprintf(ctx->out, "schema up to date (%zu aigw migrations); catalog v%d seeded (%zu models)\n",
            gw_schema_migrations_len, GW_CATALOG_VERSION, gw_catalog_len);
    return GW_CLI_OK;
}

bool gw_cli_is_command(const char *word)
{
    return word && (!strcmp(word, "migrate") || !strcmp(word, "models") || !strcmp(word, "keys") ||
                    !strcmp(word, "audit"));
}

static bool is_help(const char *word)
{
    return !strcmp(word, "help") || !strcmp(word, "--help") || !strcmp(word, "-h");
}

int gw_cli_run(int argc, char **argv, const char *database_url, FILE *out, FILE *err)
{
    cli_ctx ctx = {out, err, database_url, NULL};
    int rc;
    const char *cmd = argc > 1 ? argv[1] : NULL;
    const char *sub = argc > 2 ? argv[2] : NULL;
    if (!cmd || is_help(cmd) || (sub && is_help(sub))) {
        fputs(usage_text, cmd ? out : err);
        return cmd ? GW_CLI_OK : GW_CLI_USAGE;
    }
    if (!database_url || !*database_url)
        return usage_error(&ctx, "no database URL (set --database or DATABASE_URL)", NULL);
    if (!strcmp(cmd, "migrate")) {
        rc = run_migrate(&ctx, argc, argv);
    } else if (!strcmp(cmd, "audit")) {
        rc = audit_list(&ctx, argc, argv);
    } else if (!strcmp(cmd, "models") && sub) {
        if (!strcmp(sub, "list"))
            rc = models_list(&ctx, argc, argv);
        else if (!strcmp(sub, "add"))
            rc = models_add(&ctx, argc, argv);
        else if (!strcmp(sub, "update"))
            rc = models_update(&ctx, argc, argv);
        else if (!strcmp(sub, "deprecate") || !strcmp(sub, "enable") || !strcmp(sub, "disable"))
            rc = models_flag(&ctx, argc, argv, sub);
        else
            rc = usage_error(&ctx, "unknown models command '%s'", sub);
    } else if (!strcmp(cmd, "keys") && sub) {
        if (!strcmp(sub, "create"))
            rc = keys_create(&ctx, argc, argv);
        else if (!strcmp(sub, "list"))
            rc = keys_list(&ctx, argc, argv);
        else if (!strcmp(sub, "revoke"))
            rc = keys_revoke(&ctx, argc, argv);
        else
            rc = usage_error(&ctx, "unknown keys command '%s'", sub);
    } else if (gw_cli_is_command(cmd)) {
        rc = usage_error(&ctx, "'%s' needs a subcommand", cmd);
    } else {
        rc = usage_error(&ctx, "unknown command '%s'", cmd);
    }
    store_close(ctx.store);
    return rc;
}

int gw_cli_main(int argc, char **argv, const char *database_url)
{
    return gw_cli_run(argc, argv, database_url, stdout, stderr);
}
