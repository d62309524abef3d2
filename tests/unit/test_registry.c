/*
 * test_registry.c - the seed catalog (every row parses, has a source and a
 * date; docs/PRICING.md matches it) and the model registry against a real
 * SQLite database: seeding, admin edits surviving re-seeds and catalog
 * upgrades, snapshots outliving reloads, discovery, lookups and JSON.
 *
 * UPDATE_PRICING_MD=1 ./test_registry rewrites the table in docs/PRICING.md
 * from the catalog instead of comparing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/catalog.h"
#include "gateway/gw_schema.h"
#include "core/log.h"
#include "gateway/registry.h"
#include "gw_test_db.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------- a throwaway SQLite database per test ---------- */

static bool use_postgres; /* which backend the running group uses */

typedef struct {
    gw_test_db db;
    store *store;
    gw_registry *reg;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char errbuf[256];
    if (gw_test_db_create(&f->db, use_postgres)) return -1;
    if (store_open(f->db.url, 1, &f->store, errbuf, sizeof errbuf)) return -1;
    if (gw_schema_migrate(f->store, errbuf, sizeof errbuf)) return -1;
    if (gw_registry_new(f->store, &f->reg)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_registry_free(f->reg);
    store_close(f->store);
    gw_test_db_destroy(&f->db);
    free(f);
    return 0;
}

typedef struct {
    const char *sql;
    store_param params[4];
    int nparams;
} exec_args;

static core_err exec_job(store_conn *c, void *ud)
{
    exec_args *a = ud;
    return store_exec(c, a->sql, a->params, a->nparams);
}

static void sql_exec(fixture *f, const char *sql)
{
    exec_args a = {sql, {{0}}, 0};
    assert_int_equal(store_run_sync(f->store, exec_job, &a), CORE_OK);
}

typedef struct {
    const char *sql;
    int64_t value;
} scalar_args;

static core_err scalar_job(store_conn *c, void *ud)
{
    scalar_args *a = ud;
    store_rows *rows = NULL;
    core_err err = store_query(c, a->sql, NULL, 0, &rows);
    if (err) return err;
    a->value = store_rows_i64(rows, 0, 0, -1);
    store_rows_free(rows);
    return CORE_OK;
}

static int64_t sql_scalar(fixture *f, const char *sql)
{
    scalar_args a = {sql, -1};
    assert_int_equal(store_run_sync(f->store, scalar_job, &a), CORE_OK);
    return a.value;
}

static const gw_model *find(const gw_registry_snap *snap, const char *provider, const char *model)
{
    return gw_registry_find(snap, slice_from_cstr(provider), slice_from_cstr(model));
}

/* ---------- catalog ---------- */

static void test_catalog_rows_are_complete(void **state)
{
    (void)state;
    assert_true(gw_catalog_len >= 25);
    for (size_t i = 0; i < gw_catalog_len; i++) {
        const gw_catalog_entry *e = &gw_catalog[i];
        price_t p;
        unsigned caps;
        assert_non_null(e->provider);
        assert_non_null(e->model);
        assert_true(strlen(e->provider) > 0 && strchr(e->provider, '/') == NULL);
        assert_true(strlen(e->model) > 0);
        assert_true(strlen(e->display_name) > 0);
        if (gw_catalog_price(e, &p) != CORE_OK) fail_msg("price of %s/%s", e->provider, e->model);
        assert_true(p.input_micro + p.output_micro + p.request_micro > 0); /* nothing free */
        assert_true(p.cached_input_micro <= p.input_micro);
        assert_non_null(e->price_source);
        assert_true(strlen(e->price_source) >= 10);
        if (!gw_price_date_valid(slice_from_cstr(e->price_date)))
            fail_msg("date of %s/%s: %s", e->provider, e->model, e->price_date);
        assert_int_equal(gw_caps_parse(slice_from_cstr(e->capabilities), &caps), CORE_OK);
        assert_true(caps & GW_CAP_CHAT);
        assert_true(e->context_length > 0);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(gw_catalog[j].provider, e->provider) &&
                !strcmp(gw_catalog[j].model, e->model))
                fail_msg("duplicate %s/%s", e->provider, e->model);
        if (!strcmp(e->provider, "simulator"))
            assert_string_equal(e->price_source, "simulator (not a real price)");
    }
}

static const gw_catalog_entry *catalog_find(const char *provider, const char *model)
{
    for (size_t i = 0; i < gw_catalog_len; i++)
        if (!strcmp(gw_catalog[i].provider, provider) && !strcmp(gw_catalog[i].model, model))
            return &gw_catalog[i];
    return NULL;
}

static void test_catalog_has_every_documented_model(void **state)
{
    (void)state;
    static const char *const ids[][2] = {
        {"openai", "gpt-4o-mini"},
        {"openai", "gpt-4o"},
        {"openai", "gpt-4.1"},
        {"openai", "gpt-4.1-mini"},
        {"openai", "gpt-4.1-nano"},
        {"openai", "o3"},
        {"openai", "o4-mini"},
        {"openai", "gpt-5"},
        {"openai", "gpt-5-mini"},
        {"deepseek", "deepseek-v4-flash"},
        {"deepseek", "deepseek-v4-pro"},
        {"deepseek", "deepseek-chat"},
        {"deepseek", "deepseek-reasoner"},
        {"fal", "google/gemini-2.5-flash"},
        {"fal", "anthropic/claude-sonnet-4.5"},
        {"fal", "meta-llama/llama-4-maverick"},
        {"fal", "openai/gpt-oss-120b"},
        {"fal", "openai/gpt-4.1"},
        {"eden", "openai/gpt-4o"},
        {"simulator", "sim-fast"},
        {"simulator", "sim-chat"},
        {"simulator", "sim-reasoning"},
        {"simulator", "sim-tools"},
    };
    for (size_t i = 0; i < ARRAY_LEN(ids); i++)
        if (!catalog_find(ids[i][0], ids[i][1])) fail_msg("missing %s/%s", ids[i][0], ids[i][1]);

    /* Spot-check prices against providers.md section 6. */
    price_t p;
    assert_int_equal(gw_catalog_price(catalog_find("openai", "gpt-4o-mini"), &p), CORE_OK);
    assert_int_equal(p.input_micro, 150000);
    assert_int_equal(p.cached_input_micro, 75000);
    assert_int_equal(p.output_micro, 600000);
    assert_int_equal(gw_catalog_price(catalog_find("deepseek", "deepseek-v4-flash"), &p), CORE_OK);
    assert_int_equal(p.input_micro, 140000);
    assert_int_equal(p.cached_input_micro, 28000);
    assert_int_equal(p.output_micro, 280000);
    assert_int_equal(gw_catalog_price(catalog_find("eden", "openai/gpt-4o"), &p), CORE_OK);
    assert_int_equal(p.input_micro, 2500000);
    assert_int_equal(p.output_micro, 10000000);
    assert_true(catalog_find("deepseek", "deepseek-chat")->deprecated);
    assert_false(catalog_find("deepseek", "deepseek-v4-pro")->deprecated);
    /* [U] prices say which value was chosen. */
    assert_non_null(strstr(catalog_find("deepseek", "deepseek-v4-flash")->price_source, "[U]"));
}

static void test_caps_units_dates(void **state)
{
    (void)state;
    unsigned caps = 0;
    buf_t b;
    assert_int_equal(gw_caps_parse(SLICE_LIT(" tools , chat,reasoning "), &caps), CORE_OK);
    assert_int_equal(caps, GW_CAP_TOOLS | GW_CAP_CHAT | GW_CAP_REASONING);
    buf_init(&b, 256);
    assert_int_equal(gw_caps_format(caps, &b), CORE_OK);
    assert_string_equal(b.data, "chat,tools,reasoning");
    buf_reset(&b);
    assert_int_equal(gw_caps_format(0, &b), CORE_OK);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_int_equal(gw_caps_parse(SLICE_LIT(""), &caps), CORE_OK);
    assert_int_equal(caps, 0);
    assert_int_equal(gw_caps_parse(SLICE_LIT("chat,telepathy"), &caps), CORE_EPARSE);
    assert_string_equal(gw_cap_name(GW_CAP_VISION), "vision");
    assert_null(gw_cap_name(GW_CAP_VISION | GW_CAP_CHAT));

    price_unit u;
    assert_true(gw_price_unit_parse(SLICE_LIT("per_request"), &u));
    assert_int_equal(u, PRICE_PER_REQUEST);
    assert_true(gw_price_unit_parse(SLICE_LIT("per_second"), &u));
    assert_int_equal(u, PRICE_PER_SECOND);
    assert_false(gw_price_unit_parse(SLICE_LIT("per_token"), &u));

    assert_true(gw_price_date_valid(SLICE_LIT("2026-04-26")));
    assert_true(gw_price_date_valid(SLICE_LIT("2024-10")));
    assert_false(gw_price_date_valid(SLICE_LIT("2024-13")));
    assert_false(gw_price_date_valid(SLICE_LIT("2024-10-32")));
    assert_false(gw_price_date_valid(SLICE_LIT("24-10-01")));
    assert_false(gw_price_date_valid(SLICE_LIT("2024/10/01")));
    assert_false(gw_price_date_valid(SLICE_LIT("")));
}

#define PRICING_BEGIN "<!-- BEGIN CATALOG TABLE (generated from src/gateway/catalog.c) -->\n"
#define PRICING_END   "<!-- END CATALOG TABLE -->\n"

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    buf_t b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_append(&b, chunk, n);
    fclose(fp);
    if (!b.data) buf_append(&b, "", 0);
    return buf_steal(&b, NULL);
}

static void test_pricing_md_matches_catalog(void **state)
{
    (void)state;
    const char *src = getenv("SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/PRICING.md", src ? src : "../..");
    char *doc = read_file(path);
    if (!doc) fail_msg("cannot read %s", path);
    char *begin = strstr(doc, PRICING_BEGIN);
    char *end = begin ? strstr(begin, PRICING_END) : NULL;
    if (!begin || !end) fail_msg("%s lacks the catalog table markers", path);
    begin += strlen(PRICING_BEGIN);
    buf_t table;
    buf_init(&table, 0);
    assert_int_equal(gw_catalog_render_markdown(&table), CORE_OK);
    if (getenv("UPDATE_PRICING_MD")) {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        fwrite(doc, 1, (size_t)(begin - doc), fp);
        fwrite(table.data, 1, table.len, fp);
        fputs(end, fp);
        fclose(fp);
    } else if ((size_t)(end - begin) != table.len || memcmp(begin, table.data, table.len)) {
        fail_msg("docs/PRICING.md is out of date with catalog.c; regenerate it with "
                 "UPDATE_PRICING_MD=1 %s",
                 "test_registry");
    }
    buf_free(&table);
    free(doc);
}

/* ---------- registry ---------- */

static void test_seed_and_lookup(void **state)
{
    fixture *f = *state;
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models"), (int64_t)gw_catalog_len);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    const gw_registry_snap *snap = gw_registry_acquire(f->reg);
    assert_int_equal(snap->count, gw_catalog_len);
    for (size_t i = 1; i < snap->count; i++) {
        int c = strcmp(snap->models[i - 1].provider, snap->models[i].provider);
        assert_true(c < 0 ||
                    (c == 0 && strcmp(snap->models[i - 1].model, snap->models[i].model) < 0));
    }
    /* Every catalog row is found, with its exact price. */
    for (size_t i = 0; i < gw_catalog_len; i++) {
        const gw_catalog_entry *e = &gw_catalog[i];
        const gw_model *m = find(snap, e->provider, e->model);
        price_t p;
        if (!m) fail_msg("%s/%s not found", e->provider, e->model);
        assert_int_equal(gw_catalog_price(e, &p), CORE_OK);
        assert_int_equal(m->price.input_micro, p.input_micro);
        assert_int_equal(m->price.cached_input_micro, p.cached_input_micro);
        assert_int_equal(m->price.output_micro, p.output_micro);
        assert_int_equal(m->context_length, e->context_length);
        assert_string_equal(m->price_source, e->price_source);
        assert_string_equal(m->updated_by, "catalog");
        assert_int_equal(m->deprecated, e->deprecated);
        assert_true(m->enabled);
    }
    const gw_model *m = gw_registry_find_id(snap, SLICE_LIT("fal/google/gemini-2.5-flash"));
    assert_non_null(m);
    assert_string_equal(m->provider, "fal");
    assert_string_equal(m->model, "google/gemini-2.5-flash");
    m = gw_registry_find_id(snap, SLICE_LIT("openai/gpt-4o-mini"));
    assert_non_null(m);
    assert_true(m->capabilities & GW_CAP_TOOLS);
    assert_null(gw_registry_find_id(snap, SLICE_LIT("openai/gpt-4o-min")));
    assert_null(gw_registry_find_id(snap, SLICE_LIT("openai/gpt-4o-mini2")));
    assert_null(gw_registry_find_id(snap, SLICE_LIT("gpt-4o-mini")));
    assert_null(gw_registry_find_id(snap, SLICE_LIT("")));
    assert_null(find(snap, "nobody", "gpt-4o"));
    /* A slice that is not NUL-terminated where it ends. */
    m = gw_registry_find(snap, (slice_t){"simulator/sim-chatXYZ", 9}, (slice_t){"sim-chatXYZ", 8});
    assert_non_null(m);
    assert_string_equal(m->model, "sim-chat");
    gw_registry_release(snap);
}

static void test_seed_keeps_admin_edits(void **state)
{
    fixture *f = *state;
    gw_model_patch p;
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    gw_model_patch_init(&p);
    p.set_input = true;
    p.price.input_micro = 123456;
    p.price_source = "negotiated contract 2026-11";
    assert_int_equal(gw_registry_admin_update(f->store, "openai", "gpt-4o", &p), CORE_OK);
    /* Re-seeding (every restart) leaves it alone. */
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    const gw_registry_snap *snap = gw_registry_acquire(f->reg);
    const gw_model *m = find(snap, "openai", "gpt-4o");
    assert_int_equal(m->price.input_micro, 123456);
    assert_int_equal(m->price.output_micro, 10000000); /* untouched field */
    assert_string_equal(m->updated_by, "admin");
    assert_string_equal(m->price_source, "negotiated contract 2026-11");
    assert_int_equal(strlen(m->price_date), 10); /* defaulted to today */
    gw_registry_release(snap);

    /* A catalog upgrade refreshes rows the catalog still owns, never admin rows. */
    sql_exec(f, "UPDATE models SET catalog_version = 0, input_micro = 1"
                " WHERE model IN ('gpt-4o', 'gpt-4o-mini')");
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    snap = gw_registry_acquire(f->reg);
    assert_int_equal(find(snap, "openai", "gpt-4o-mini")->price.input_micro, 150000);
    assert_int_equal(find(snap, "eden", "openai/gpt-4o-mini")->price.input_micro, 150000);
    assert_int_equal(find(snap, "openai", "gpt-4o")->price.input_micro, 1);
    assert_int_equal(find(snap, "eden", "openai/gpt-4o")->price.input_micro, 2500000);
    gw_registry_release(snap);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models WHERE catalog_version = 0"), 1);
}

static void test_snapshot_outlives_reload(void **state)
{
    fixture *f = *state;
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    const gw_registry_snap *old = gw_registry_acquire(f->reg);
    const gw_model *old_model = find(old, "simulator", "sim-chat");
    assert_non_null(old_model);
    gw_model_patch p;
    gw_model_patch_init(&p);
    p.enabled = 0;
    assert_int_equal(gw_registry_admin_update(f->store, "simulator", "sim-chat", &p), CORE_OK);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    const gw_registry_snap *now = gw_registry_acquire(f->reg);
    assert_true(now->generation > old->generation);
    assert_false(find(now, "simulator", "sim-chat")->enabled);
    /* The old snapshot is untouched and still readable. */
    assert_true(old_model->enabled);
    assert_string_equal(old_model->display_name, "Simulator chat");
    gw_registry_release(old);
    gw_registry_release(now);
}

typedef struct {
    gw_registry *reg;
    int stop; /* atomic */
    long lookups;
} reader_args;

static void *reader_main(void *arg)
{
    reader_args *a = arg;
    while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
        const gw_registry_snap *snap = gw_registry_acquire(a->reg);
        const gw_model *m = gw_registry_find_id(snap, SLICE_LIT("openai/gpt-4o-mini"));
        if (snap->count && (!m || m->price.output_micro != 600000)) abort();
        gw_registry_release(snap);
        __atomic_add_fetch(&a->lookups, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_concurrent_readers_during_reloads(void **state)
{
    fixture *f = *state;
    pthread_t threads[3];
    reader_args args[3];
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    for (int i = 0; i < 3; i++) {
        args[i] = (reader_args){f->reg, 0, 0};
        pthread_create(&threads[i], NULL, reader_main, &args[i]);
    }
    /* Every reader is running before the reloads start. */
    for (int i = 0; i < 3; i++)
        while (__atomic_load_n(&args[i].lookups, __ATOMIC_RELAXED) == 0)
            sched_yield();
    for (int i = 0; i < 30; i++)
        assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    for (int i = 0; i < 3; i++) {
        __atomic_store_n(&args[i].stop, 1, __ATOMIC_RELAXED);
        pthread_join(threads[i], NULL);
        assert_true(args[i].lookups > 0);
    }
}

static void test_discovered_models(void **state)
{
    fixture *f = *state;
    json_t *list = json_loads("[{\"model\":\"llama3.1:8b\",\"context_length\":8192},"
                              "{\"model\":\"qwen3\",\"context_length\":null},{\"model\":\"x\"}]",
                              0, NULL);
    assert_non_null(list);
    assert_int_equal(gw_registry_upsert_discovered(f->reg, "local", list), CORE_OK);
    const gw_registry_snap *snap = gw_registry_acquire(f->reg);
    const gw_model *m = find(snap, "local", "llama3.1:8b");
    assert_non_null(m);
    assert_int_equal(m->context_length, 8192);
    assert_int_equal(m->price.input_micro, 0);
    assert_int_equal(m->price.output_micro, 0);
    assert_string_equal(m->updated_by, "discovery");
    assert_true(m->capabilities & GW_CAP_STREAMING);
    assert_int_equal(find(snap, "local", "qwen3")->context_length, 0);
    gw_registry_release(snap);

    /* An admin prices one; re-discovery with another context keeps the admin row
     * and refreshes the other. */
    gw_model_patch p;
    gw_model_patch_init(&p);
    p.set_input = p.set_output = true;
    p.price.input_micro = 10000;
    p.price.output_micro = 20000;
    p.price_source = "our GPU cost estimate";
    assert_int_equal(gw_registry_admin_update(f->store, "local", "llama3.1:8b", &p), CORE_OK);
    json_decref(list);
    list = json_loads("[{\"model\":\"llama3.1:8b\",\"context_length\":131072},"
                      "{\"model\":\"qwen3\",\"context_length\":32768}]",
                      0, NULL);
    assert_int_equal(gw_registry_upsert_discovered(f->reg, "local", list), CORE_OK);
    snap = gw_registry_acquire(f->reg);
    m = find(snap, "local", "llama3.1:8b");
    assert_int_equal(m->context_length, 8192);
    assert_int_equal(m->price.output_micro, 20000);
    assert_string_equal(m->updated_by, "admin");
    assert_int_equal(find(snap, "local", "qwen3")->context_length, 32768);
    gw_registry_release(snap);
    json_decref(list);

    /* Discovery never overwrites catalog rows either. */
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    list = json_loads("[{\"model\":\"sim-chat\",\"context_length\":5}]", 0, NULL);
    assert_int_equal(gw_registry_upsert_discovered(f->reg, "simulator", list), CORE_OK);
    snap = gw_registry_acquire(f->reg);
    assert_int_equal(find(snap, "simulator", "sim-chat")->context_length, 131072);
    assert_int_equal(find(snap, "simulator", "sim-chat")->price.output_micro, 400000);
    gw_registry_release(snap);
    json_decref(list);

    /* Malformed input is refused before anything is written. */
    list = json_loads("[{\"model\":\"ok\"},{\"model\":\"\"}]", 0, NULL);
    assert_int_equal(gw_registry_upsert_discovered(f->reg, "local", list), CORE_EINVAL);
    json_decref(list);
    list = json_loads("[{\"model\":\"ok\",\"context_length\":\"big\"}]", 0, NULL);
    assert_int_equal(gw_registry_upsert_discovered(f->reg, "local", list), CORE_EINVAL);
    json_decref(list);
    list = json_loads("{\"model\":\"ok\"}", 0, NULL);
    assert_int_equal(gw_registry_upsert_discovered(f->reg, "local", list), CORE_EINVAL);
    json_decref(list);
    assert_int_equal(sql_scalar(f, "SELECT COUNT(*) FROM models WHERE model = 'ok'"), 0);
}

static void test_model_json(void **state)
{
    fixture *f = *state;
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    const gw_registry_snap *snap = gw_registry_acquire(f->reg);
    json_t *j = gw_model_to_json(find(snap, "openai", "gpt-4o-mini"));
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "provider")), "openai");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt-4o-mini");
    assert_string_equal(json_string_value(json_object_get(j, "display_name")), "GPT-4o mini");
    assert_int_equal(json_integer_value(json_object_get(j, "context_length")), 128000);
    assert_int_equal(json_integer_value(json_object_get(j, "max_output_tokens")), 16384);
    json_t *pricing = json_object_get(j, "pricing");
    assert_string_equal(json_string_value(json_object_get(pricing, "unit")), "per_1m_tokens");
    assert_string_equal(json_string_value(json_object_get(pricing, "input")), "0.15");
    assert_string_equal(json_string_value(json_object_get(pricing, "cached_input")), "0.075");
    assert_string_equal(json_string_value(json_object_get(pricing, "output")), "0.60");
    assert_string_equal(json_string_value(json_object_get(pricing, "currency")), "USD");
    assert_null(json_object_get(pricing, "request"));
    json_t *caps = json_object_get(j, "capabilities");
    assert_int_equal(json_array_size(caps), 5);
    assert_string_equal(json_string_value(json_array_get(caps, 0)), "chat");
    assert_true(json_is_false(json_object_get(j, "deprecated")));
    assert_string_equal(json_string_value(json_object_get(j, "price_date")), "2024-10");
    assert_non_null(json_string_value(json_object_get(j, "price_source")));
    assert_null(json_object_get(j, "status")); /* the router's part */
    json_decref(j);

    j = gw_model_to_json(find(snap, "deepseek", "deepseek-chat"));
    assert_true(json_is_true(json_object_get(j, "deprecated")));
    json_decref(j);
    j = gw_model_to_json(find(snap, "fal", "meta-llama/llama-4-maverick"));
    assert_true(json_is_null(json_object_get(j, "max_output_tokens")));
    json_decref(j);
    gw_registry_release(snap);

    /* A per-request model shows its request price. */
    gw_model m = {.provider = "fal",
                  .model = "fal-ai/flux/dev",
                  .display_name = "FLUX dev",
                  .capabilities = GW_CAP_CHAT,
                  .price = {PRICE_PER_REQUEST, 0, 0, 0, 25000},
                  .price_source = "fal pricing page",
                  .price_date = "2026-11-01",
                  .enabled = true};
    j = gw_model_to_json(&m);
    pricing = json_object_get(j, "pricing");
    assert_string_equal(json_string_value(json_object_get(pricing, "unit")), "per_request");
    assert_string_equal(json_string_value(json_object_get(pricing, "request")), "0.025");
    assert_true(json_is_null(json_object_get(j, "context_length")));
    json_decref(j);
}

static void test_admin_add_and_errors(void **state)
{
    fixture *f = *state;
    gw_model m = {.provider = "openai",
                  .model = "gpt-5-nano",
                  .display_name = "GPT-5 nano",
                  .context_length = 400000,
                  .capabilities = GW_CAP_CHAT | GW_CAP_STREAMING,
                  .price = {PRICE_PER_1M_TOKENS, 50000, 5000, 400000, 0},
                  .price_source = "providers.md section 6 note",
                  .price_date = "2025-08",
                  .enabled = true};
    assert_int_equal(gw_registry_admin_add(f->store, &m), CORE_OK);
    assert_int_equal(gw_registry_admin_add(f->store, &m), CORE_EEXIST);
    m.model = "other";
    m.price_date = "August";
    assert_int_equal(gw_registry_admin_add(f->store, &m), CORE_EINVAL);
    m.price_date = "2025-08-01";
    m.price_source = "";
    assert_int_equal(gw_registry_admin_add(f->store, &m), CORE_EINVAL);
    m.price_source = "x";
    m.price.input_micro = -1;
    assert_int_equal(gw_registry_admin_add(f->store, &m), CORE_EINVAL);

    /* The admin row is not replaced by seeding, and the catalog fills the rest. */
    assert_int_equal(gw_registry_seed(f->store), CORE_OK);
    assert_int_equal(gw_registry_reload(f->reg), CORE_OK);
    const gw_registry_snap *snap = gw_registry_acquire(f->reg);
    assert_int_equal(snap->count, gw_catalog_len + 1);
    const gw_model *got = find(snap, "openai", "gpt-5-nano");
    assert_string_equal(got->updated_by, "admin");
    assert_int_equal(got->price.cached_input_micro, 5000);
    gw_registry_release(snap);

    gw_model_patch p;
    gw_model_patch_init(&p);
    p.deprecated = 1;
    assert_int_equal(gw_registry_admin_update(f->store, "openai", "nope", &p), CORE_ENOTFOUND);
    gw_model_patch_init(&p);
    p.set_output = true;
    p.price.output_micro = 1;
    /* A price change without a source is refused. */
    assert_int_equal(gw_registry_admin_update(f->store, "openai", "gpt-4o", &p), CORE_EINVAL);
    p.price_source = "s";
    p.price_date = "2026-02-30x";
    assert_int_equal(gw_registry_admin_update(f->store, "openai", "gpt-4o", &p), CORE_EINVAL);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest catalog_tests[] = {
        cmocka_unit_test(test_catalog_rows_are_complete),
        cmocka_unit_test(test_catalog_has_every_documented_model),
        cmocka_unit_test(test_caps_units_dates),
        cmocka_unit_test(test_pricing_md_matches_catalog),
    };
    const struct CMUnitTest db_tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_keeps_admin_edits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_outlives_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers_during_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discovered_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_add_and_errors, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("catalog", catalog_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("registry_sqlite", db_tests, NULL, NULL);
    if (gw_test_db_pg_url()) {
        use_postgres = true;
        failed += cmocka_run_group_tests_name("registry_postgres", db_tests, NULL, NULL);
    }
    return failed;
}
