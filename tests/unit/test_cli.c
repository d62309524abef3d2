/*
 * test_cli.c - aigw's admin commands run in-process (gw_cli_run) against a
 * temporary SQLite database: what they print, the exit codes, and the rows
 * they leave behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "gateway/catalog.h"
#include "gateway/cli.h"
#include "gateway/keys.h"
#include "gw_test_db.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static bool use_postgres; /* which backend the running group uses */

typedef struct {
    gw_test_db db;
    const char *url;
    char *out;
    char *err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (gw_test_db_create(&f->db, use_postgres)) return -1;
    f->url = f->db.url;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_test_db_destroy(&f->db);
    free(f->out);
    free(f->err);
    free(f);
    return 0;
}

static char *slurp(FILE *fp)
{
    long n = ftell(fp);
    char *text = calloc(1, (size_t)n + 1);
    rewind(fp);
    if (n > 0 && fread(text, 1, (size_t)n, fp) != (size_t)n) text[0] = '\0';
    fclose(fp);
    return text;
}

/* Runs "aigw <args...>" (NULL-terminated); keeps stdout/stderr in f. */
static int run(fixture *f, ...)
{
    char *argv[32] = {"aigw"};
    int argc = 1;
    va_list ap;
    va_start(ap, f);
    for (const char *arg; (arg = va_arg(ap, const char *)) && argc < 31;)
        argv[argc++] = (char *)arg;
    va_end(ap);
    FILE *out = tmpfile(), *err = tmpfile();
    int rc = gw_cli_run(argc, argv, f->url, out, err);
    free(f->out);
    free(f->err);
    f->out = slurp(out);
    f->err = slurp(err);
    return rc;
}

/* Opens the database the CLI wrote, runs one query, hands back the rows. */
static store_rows *sql_rows(fixture *f, const char *sql)
{
    store *s = NULL;
    char errbuf[256];
    assert_int_equal(store_open(f->url, 1, &s, errbuf, sizeof errbuf), CORE_OK);
    store_rows *rows = gw_test_db_query(s, sql);
    store_close(s);
    assert_non_null(rows);
    return rows;
}

static int64_t sql_scalar(fixture *f, const char *sql)
{
    store_rows *rows = sql_rows(f, sql);
    int64_t v = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return v;
}

static void test_usage_and_help(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, NULL), GW_CLI_USAGE);
    assert_non_null(strstr(f->err, "usage:"));
    assert_int_equal(run(f, "help", NULL), GW_CLI_OK);
    assert_non_null(strstr(f->out, "aigw models add"));
    assert_int_equal(run(f, "models", "--help", NULL), GW_CLI_OK);
    assert_int_equal(run(f, "frobnicate", NULL), GW_CLI_USAGE);
    assert_non_null(strstr(f->err, "unknown command 'frobnicate'"));
    assert_int_equal(run(f, "models", NULL), GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "explode", NULL), GW_CLI_USAGE);
    assert_int_equal(run(f, "keys", "list", "--bogus", NULL), GW_CLI_USAGE);
    assert_non_null(strstr(f->err, "unknown flag '--bogus'"));
    assert_int_equal(run(f, "models", "list", "extra", NULL), GW_CLI_USAGE);
    assert_true(gw_cli_is_command("models"));
    assert_true(gw_cli_is_command("keys"));
    assert_true(gw_cli_is_command("migrate"));
    assert_false(gw_cli_is_command("--listen"));
    assert_false(gw_cli_is_command(NULL));
    /* Usage errors happen before the database is touched. */
    if (!f->db.postgres) assert_int_equal(access(f->db.path, F_OK), -1);

    char *argv[] = {"aigw", "migrate"};
    FILE *out = tmpfile(), *err = tmpfile();
    assert_int_equal(gw_cli_run(2, argv, "mysql://nope", out, err), GW_CLI_FAILURE);
    free(slurp(out));
    char *err_text = slurp(err);
    assert_non_null(strstr(err_text, "cannot open database"));
    free(err_text);
}

static void test_migrate_and_list(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "migrate", NULL), GW_CLI_OK);
    assert_non_null(strstr(f->out, "seeded"));
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models"), (int64_t)gw_catalog_len);
    assert_int_equal(run(f, "migrate", NULL), GW_CLI_OK); /* idempotent */
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models"), (int64_t)gw_catalog_len);

    assert_int_equal(run(f, "models", "list", NULL), GW_CLI_OK);
    const char *line = strstr(f->out, "openai/gpt-4o-mini ");
    assert_non_null(line);
    char first_line[256];
    snprintf(first_line, sizeof first_line, "%.*s", (int)strcspn(line, "\n"), line);
    assert_non_null(strstr(first_line, " 0.15 "));
    assert_non_null(strstr(first_line, " 0.075 "));
    assert_non_null(strstr(first_line, " 0.60 "));
    assert_non_null(strstr(first_line, "catalog"));
    assert_non_null(strstr(f->out, "fal/google/gemini-2.5-flash"));
    line = strstr(f->out, "deepseek/deepseek-chat ");
    assert_non_null(line);
    snprintf(first_line, sizeof first_line, "%.*s", (int)strcspn(line, "\n"), line);
    assert_non_null(strstr(first_line, "deprecated"));

    assert_int_equal(run(f, "models", "list", "--json", NULL), GW_CLI_OK);
    json_error_t jerr;
    json_t *list = json_loads(f->out, 0, &jerr);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), gw_catalog_len);
    size_t i;
    json_t *item;
    bool found = false;
    json_array_foreach(list, i, item)
    {
        assert_true(json_is_true(json_object_get(item, "enabled")));
        assert_string_equal(json_string_value(json_object_get(item, "updated_by")), "catalog");
        if (!strcmp(json_string_value(json_object_get(item, "provider")), "simulator") &&
            !strcmp(json_string_value(json_object_get(item, "model")), "sim-chat")) {
            json_t *pricing = json_object_get(item, "pricing");
            assert_string_equal(json_string_value(json_object_get(pricing, "input")), "0.10");
            assert_string_equal(json_string_value(json_object_get(pricing, "output")), "0.40");
            found = true;
        }
    }
    assert_true(found);
    json_decref(list);
}

static void test_models_add(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "gpt-5-nano",
                         "--input", "0.05", "--cached-input=0.005", "--output", "0.40", "--context",
                         "400000", "--max-output", "128000", "--caps",
                         "chat,streaming,tools,reasoning", "--display-name", "GPT-5 nano",
                         "--source", "providers.md 6 note (gpt-5-nano)", "--date", "2025-08", NULL),
                     GW_CLI_OK);
    assert_non_null(strstr(f->out, "added openai/gpt-5-nano"));
    store_rows *r = sql_rows(f, "SELECT input_micro, cached_input_micro, output_micro,"
                                " context_length, max_output_tokens, capabilities, display_name,"
                                " price_source, price_date, updated_by, price_unit"
                                " FROM models WHERE provider = 'openai' AND model = 'gpt-5-nano'");
    assert_int_equal(store_rows_count(r), 1);
    assert_int_equal(store_rows_i64(r, 0, 0, 0), 50000);
    assert_int_equal(store_rows_i64(r, 0, 1, 0), 5000);
    assert_int_equal(store_rows_i64(r, 0, 2, 0), 400000);
    assert_int_equal(store_rows_i64(r, 0, 3, 0), 400000);
    assert_int_equal(store_rows_i64(r, 0, 4, 0), 128000);
    assert_string_equal(store_rows_get(r, 0, 5), "chat,streaming,tools,reasoning");
    assert_string_equal(store_rows_get(r, 0, 6), "GPT-5 nano");
    assert_string_equal(store_rows_get(r, 0, 7), "providers.md 6 note (gpt-5-nano)");
    assert_string_equal(store_rows_get(r, 0, 8), "2025-08");
    assert_string_equal(store_rows_get(r, 0, 9), "admin");
    assert_string_equal(store_rows_get(r, 0, 10), "per_1m_tokens");
    store_rows_free(r);

    /* Defaults: cached = input, caps chat+streaming, date today, name = model. */
    assert_int_equal(run(f, "models", "add", "--provider", "local", "--model", "llama3:8b",
                         "--input", "0.01", "--output", "0.02", "--source", "GPU cost", NULL),
                     GW_CLI_OK);
    r = sql_rows(f, "SELECT cached_input_micro, capabilities, length(price_date), display_name"
                    " FROM models WHERE provider = 'local'");
    assert_int_equal(store_rows_i64(r, 0, 0, 0), 10000);
    assert_string_equal(store_rows_get(r, 0, 1), "chat,streaming");
    assert_int_equal(store_rows_i64(r, 0, 2, 0), 10);
    assert_string_equal(store_rows_get(r, 0, 3), "llama3:8b");
    store_rows_free(r);

    /* Per-request pricing. */
    assert_int_equal(run(f, "models", "add", "--provider", "fal", "--model", "fal-ai/flux/dev",
                         "--unit", "per_request", "--price", "0.025", "--source", "fal pricing",
                         NULL),
                     GW_CLI_OK);
    assert_int_equal(sql_scalar(f, "SELECT request_micro FROM models WHERE model ="
                                   " 'fal-ai/flux/dev' AND price_unit = 'per_request'"),
                     25000);

    /* Errors. */
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "gpt-5-nano",
                         "--input", "1", "--output", "1", "--source", "x", NULL),
                     GW_CLI_FAILURE);
    assert_non_null(strstr(f->err, "already exists"));
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input", "1",
                         "--output", "1", NULL),
                     GW_CLI_USAGE);
    assert_non_null(strstr(f->err, "--source"));
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input",
                         "0.1234567", "--output", "1", "--source", "x", NULL),
                     GW_CLI_USAGE);
    assert_non_null(strstr(f->err, "at most 6"));
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input",
                         "1e-3", "--output", "1", "--source", "x", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input",
                         "-1", "--output", "1", "--source", "x", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input", "1",
                         "--source", "x", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input", "1",
                         "--output", "1", "--source", "x", "--caps", "chat,magic", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input", "1",
                         "--output", "1", "--source", "x", "--date", "yesterday", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input", "1",
                         "--output", "1", "--source", "x", "--context", "-5", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "open/ai", "--model", "m", "--input",
                         "1", "--output", "1", "--source", "x", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "add", "--provider", "openai", "--model", "m", "--input", "1",
                         "--input", "2", "--output", "1", "--source", "x", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models WHERE model = 'm'"), 0);
}

static void test_models_update_and_flags(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "models", "update", "openai/gpt-4o", "--input", "2.00", "--output",
                         "8.00", "--source", "OpenAI pricing page 2026-11", "--date", "2026-11-20",
                         NULL),
                     GW_CLI_OK);
    store_rows *r = sql_rows(f, "SELECT input_micro, cached_input_micro, output_micro,"
                                " price_source, price_date, updated_by FROM models"
                                " WHERE provider = 'openai' AND model = 'gpt-4o'");
    assert_int_equal(store_rows_i64(r, 0, 0, 0), 2000000);
    assert_int_equal(store_rows_i64(r, 0, 1, 0), 1250000); /* not given: unchanged */
    assert_int_equal(store_rows_i64(r, 0, 2, 0), 8000000);
    assert_string_equal(store_rows_get(r, 0, 3), "OpenAI pricing page 2026-11");
    assert_string_equal(store_rows_get(r, 0, 4), "2026-11-20");
    assert_string_equal(store_rows_get(r, 0, 5), "admin");
    store_rows_free(r);
    /* A later migrate/seed keeps the admin's price. */
    assert_int_equal(run(f, "migrate", NULL), GW_CLI_OK);
    assert_int_equal(sql_scalar(f, "SELECT input_micro FROM models WHERE provider = 'openai'"
                                   " AND model = 'gpt-4o'"),
                     2000000);

    /* Non-price fields need no source; the fal id splits at the first slash. */
    assert_int_equal(run(f, "models", "update", "fal/google/gemini-2.5-flash", "--context",
                         "1000000", "--display-name", "Gemini Flash", NULL),
                     GW_CLI_OK);
    r = sql_rows(f, "SELECT context_length, display_name FROM models"
                    " WHERE provider = 'fal' AND model = 'google/gemini-2.5-flash'");
    assert_int_equal(store_rows_i64(r, 0, 0, 0), 1000000);
    assert_string_equal(store_rows_get(r, 0, 1), "Gemini Flash");
    store_rows_free(r);

    assert_int_equal(run(f, "models", "update", "openai/gpt-4o", "--output", "9", NULL),
                     GW_CLI_USAGE);
    assert_non_null(strstr(f->err, "--source"));
    assert_int_equal(run(f, "models", "update", "openai/nope", "--context", "5", NULL),
                     GW_CLI_FAILURE);
    assert_non_null(strstr(f->err, "no model openai/nope"));
    assert_int_equal(run(f, "models", "update", "gpt-4o", "--context", "5", NULL), GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "update", "openai/gpt-4o", "--provider", "x", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "models", "update", NULL), GW_CLI_USAGE);

    assert_int_equal(run(f, "models", "deprecate", "simulator/sim-fast", NULL), GW_CLI_OK);
    assert_int_equal(run(f, "models", "disable", "simulator/sim-tools", NULL), GW_CLI_OK);
    assert_non_null(strstr(f->out, "disabled simulator/sim-tools"));
    assert_int_equal(sql_scalar(f, "SELECT deprecated FROM models WHERE model = 'sim-fast'"), 1);
    assert_int_equal(sql_scalar(f, "SELECT enabled FROM models WHERE model = 'sim-tools'"), 0);
    assert_int_equal(run(f, "models", "list", NULL), GW_CLI_OK);
    assert_non_null(strstr(f->out, "disabled"));
    assert_int_equal(run(f, "models", "enable", "simulator/sim-tools", NULL), GW_CLI_OK);
    assert_int_equal(sql_scalar(f, "SELECT enabled FROM models WHERE model = 'sim-tools'"), 1);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models WHERE updated_by = 'admin'"), 4);
    assert_int_equal(run(f, "models", "disable", "simulator/nope", NULL), GW_CLI_FAILURE);
    assert_int_equal(run(f, "models", "enable", NULL), GW_CLI_USAGE);
}

static void test_keys_commands(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "keys", "create", "--name", "ci-bot", "--rpm", "60", "--tpm", "100000",
                         "--models", "openai/*, simulator/sim-chat", NULL),
                     GW_CLI_OK);
    /* stdout is exactly the token and a newline. */
    size_t len = strlen(f->out);
    assert_int_equal(len, GW_KEY_TOKEN_SIZE);
    assert_true(strncmp(f->out, "aigw_", 5) == 0);
    assert_int_equal(f->out[len - 1], '\n');
    assert_non_null(strstr(f->err, "shown only once"));
    char token[GW_KEY_TOKEN_SIZE];
    snprintf(token, sizeof token, "%.*s", (int)len - 1, f->out);

    unsigned char digest[32];
    char hex[65];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    store_rows *r = sql_rows(f, "SELECT id, name, rpm, tpm, allowed_models, token_hash"
                                " FROM gateway_keys");
    assert_int_equal(store_rows_count(r), 1);
    char id[GW_KEY_ID_SIZE];
    snprintf(id, sizeof id, "%s", store_rows_get(r, 0, 0));
    assert_non_null(strstr(f->err, id));
    assert_string_equal(store_rows_get(r, 0, 1), "ci-bot");
    assert_int_equal(store_rows_i64(r, 0, 2, 0), 60);
    assert_int_equal(store_rows_i64(r, 0, 3, 0), 100000);
    assert_string_equal(store_rows_get(r, 0, 4), "[\"openai/*\",\"simulator/sim-chat\"]");
    assert_string_equal(store_rows_get(r, 0, 5), hex);
    store_rows_free(r);

    assert_int_equal(run(f, "keys", "list", NULL), GW_CLI_OK);
    assert_non_null(strstr(f->out, id));
    assert_non_null(strstr(f->out, "ci-bot"));
    assert_non_null(strstr(f->out, "openai/*,simulator/sim-chat"));
    assert_null(strstr(f->out, token));
    assert_null(strstr(f->out, hex));
    char prefix[12];
    snprintf(prefix, sizeof prefix, "%.11s", token);
    assert_non_null(strstr(f->out, prefix));

    assert_int_equal(run(f, "keys", "list", "--json", NULL), GW_CLI_OK);
    json_t *list = json_loads(f->out, 0, NULL);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), id);
    json_decref(list);

    assert_int_equal(run(f, "keys", "revoke", id, NULL), GW_CLI_OK);
    assert_non_null(strstr(f->out, "revoked"));
    assert_int_equal(run(f, "keys", "revoke", id, NULL), GW_CLI_FAILURE);
    assert_non_null(strstr(f->err, "no active key"));
    assert_int_equal(
        sql_scalar(f, "SELECT COUNT(*) FROM gateway_keys WHERE revoked_at IS NOT NULL"), 1);

    /* A key without limits or patterns. */
    assert_int_equal(run(f, "keys", "create", "--name=plain", NULL), GW_CLI_OK);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM gateway_keys WHERE name = 'plain'"
                                   " AND rpm IS NULL AND allowed_models IS NULL"),
                     1);

    assert_int_equal(run(f, "keys", "create", NULL), GW_CLI_USAGE);
    assert_int_equal(run(f, "keys", "create", "--name", "x", "--rpm", "lots", NULL), GW_CLI_USAGE);
    assert_int_equal(run(f, "keys", "create", "--name", "x", "--models", " , ", NULL),
                     GW_CLI_USAGE);
    assert_int_equal(run(f, "keys", "create", "--name", NULL), GW_CLI_USAGE);
    assert_int_equal(run(f, "keys", "revoke", NULL), GW_CLI_USAGE);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM gateway_keys"), 2);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_and_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_models_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_models_update_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_commands, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("cli_sqlite", tests, NULL, NULL);
    if (gw_test_db_pg_url()) {
        use_postgres = true;
        failed += cmocka_run_group_tests_name("cli_postgres", tests, NULL, NULL);
    }
    return failed;
}
