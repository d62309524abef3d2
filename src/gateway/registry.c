/*
 * registry.c - the model registry: seeding the models table from the catalog,
 * loading it into immutable refcounted snapshots swapped under a mutex, fast
 * lookups for the request path, discovery of local models, admin edits, and
 * the /api/models JSON rendering of a model.
 *
 * A snapshot is one allocation for the gw_model array plus one arena for all
 * its strings, so building it is a handful of allocations and releasing it is
 * two frees. The mutex is held only to swap or to take a reference.
 */
#include "registry.h"

#include "../core/arena.h"
#include "../core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Longest provider or model id accepted from discovery or admins. */
#define GW_MODEL_ID_MAX 256
/* Ceiling of one snapshot's string arena (thousands of models fit easily). */
#define GW_REGISTRY_STRINGS_MAX (64u << 20)

struct gw_registry {
    store *store;
    pthread_mutex_t lock;
    gw_registry_snap *current; /* holds one reference for the registry */
    uint64_t generation;
};

/* ---------- snapshots ---------- */

static void snap_free(gw_registry_snap *snap)
{
    if (!snap) return;
    if (snap->strings) {
        arena_free(snap->strings);
        free(snap->strings);
    }
    free((void *)snap->models);
    free(snap);
}

static gw_registry_snap *snap_new(size_t count)
{
    gw_registry_snap *snap = calloc(1, sizeof *snap);
    if (!snap) return NULL;
    snap->refs = 1;
    snap->strings = malloc(sizeof(arena_t));
    snap->models = count ? calloc(count, sizeof(gw_model)) : NULL;
    if (!snap->strings || (count && !snap->models)) {
        free(snap->strings);
        snap->strings = NULL;
        snap_free(snap);
        return NULL;
    }
    arena_init(snap->strings, GW_REGISTRY_STRINGS_MAX);
    return snap;
}

const gw_registry_snap *gw_registry_acquire(gw_registry *r)
{
    pthread_mutex_lock(&r->lock);
    gw_registry_snap *snap = r->current;
    __atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&r->lock);
    return snap;
}

void gw_registry_release(const gw_registry_snap *csnap)
{
    gw_registry_snap *snap = (gw_registry_snap *)csnap;
    if (snap && __atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) == 0) snap_free(snap);
}

/* Swaps next in as the current snapshot; the registry's reference to the old
 * one is dropped (requests holding it keep it alive). */
static void registry_swap(gw_registry *r, gw_registry_snap *next)
{
    pthread_mutex_lock(&r->lock);
    gw_registry_snap *old = r->current;
    next->generation = ++r->generation;
    r->current = next;
    pthread_mutex_unlock(&r->lock);
    gw_registry_release(old);
}

core_err gw_registry_new(store *s, gw_registry **out)
{
    gw_registry *r = calloc(1, sizeof *r);
    if (!r) return CORE_ENOMEM;
    r->store = s;
    r->current = snap_new(0);
    if (!r->current) {
        free(r);
        return CORE_ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return CORE_OK;
}

void gw_registry_free(gw_registry *r)
{
    if (!r) return;
    gw_registry_release(r->current);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---------- lookup ---------- */

static int slice_cmp(slice_t a, slice_t b)
{
    size_t n = MIN(a.len, b.len);
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int model_cmp(const void *pa, const void *pb)
{
    const gw_model *a = pa, *b = pb;
    int c = strcmp(a->provider, b->provider);
    return c ? c : strcmp(a->model, b->model);
}

const gw_model *gw_registry_find(const gw_registry_snap *snap, slice_t provider, slice_t model)
{
    size_t lo = 0, hi = snap->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gw_model *m = &snap->models[mid];
        int c = slice_cmp(slice_from_cstr(m->provider), provider);
        if (c == 0) c = slice_cmp(slice_from_cstr(m->model), model);
        if (c == 0) return m;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const gw_model *gw_registry_find_id(const gw_registry_snap *snap, slice_t id)
{
    const char *slash = id.len ? memchr(id.ptr, '/', id.len) : NULL;
    if (!slash) return NULL;
    size_t plen = (size_t)(slash - id.ptr);
    return gw_registry_find(snap, (slice_t){id.ptr, plen}, (slice_t){slash + 1, id.len - plen - 1});
}

/* ---------- loading ---------- */

enum {
    COL_PROVIDER,
    COL_MODEL,
    COL_DISPLAY,
    COL_CONTEXT,
    COL_MAX_OUT,
    COL_CAPS,
    COL_UNIT,
    COL_INPUT,
    COL_CACHED,
    COL_OUTPUT,
    COL_REQUEST,
    COL_SOURCE,
    COL_DATE,
    COL_DEPRECATED,
    COL_ENABLED,
    COL_UPDATED_BY,
    COL_UPDATED_AT,
};

static const char *const select_models_sql =
    "SELECT provider, model, display_name, context_length, max_output_tokens, capabilities,"
    " price_unit, input_micro, cached_input_micro, output_micro, request_micro, price_source,"
    " price_date, deprecated, enabled, updated_by, updated_at FROM models";

static const char *row_text(const store_rows *rows, size_t i, size_t col)
{
    const char *v = store_rows_get(rows, i, col);
    return v ? v : "";
}

static core_err model_from_row(const store_rows *rows, size_t i, arena_t *strings, gw_model *m)
{
    slice_t caps = slice_from_cstr(row_text(rows, i, COL_CAPS));
    slice_t unit = slice_from_cstr(row_text(rows, i, COL_UNIT));
    m->provider = arena_strdup(strings, slice_from_cstr(row_text(rows, i, COL_PROVIDER)));
    m->model = arena_strdup(strings, slice_from_cstr(row_text(rows, i, COL_MODEL)));
    m->display_name = arena_strdup(strings, slice_from_cstr(row_text(rows, i, COL_DISPLAY)));
    m->price_source = arena_strdup(strings, slice_from_cstr(row_text(rows, i, COL_SOURCE)));
    m->price_date = arena_strdup(strings, slice_from_cstr(row_text(rows, i, COL_DATE)));
    m->updated_by = arena_strdup(strings, slice_from_cstr(row_text(rows, i, COL_UPDATED_BY)));
    if (!m->provider || !m->model || !m->display_name || !m->price_source || !m->price_date ||
        !m->updated_by)
        return CORE_ENOMEM;
    m->context_length = store_rows_i64(rows, i, COL_CONTEXT, 0);
    m->max_output_tokens = store_rows_i64(rows, i, COL_MAX_OUT, 0);
    if (gw_caps_parse(caps, &m->capabilities) != CORE_OK) {
        /* Someone wrote the table by hand; keep the model usable for chat. */
        log_warn("registry: %s/%s has unknown capabilities '%s'", m->provider, m->model,
                 row_text(rows, i, COL_CAPS));
        m->capabilities = GW_CAP_CHAT;
    }
    if (!gw_price_unit_parse(unit, &m->price.unit)) {
        log_warn("registry: %s/%s has unknown price unit, treated as per_1m_tokens", m->provider,
                 m->model);
        m->price.unit = PRICE_PER_1M_TOKENS;
    }
    m->price.input_micro = store_rows_i64(rows, i, COL_INPUT, 0);
    m->price.cached_input_micro = store_rows_i64(rows, i, COL_CACHED, 0);
    m->price.output_micro = store_rows_i64(rows, i, COL_OUTPUT, 0);
    m->price.request_micro = store_rows_i64(rows, i, COL_REQUEST, 0);
    m->deprecated = store_rows_i64(rows, i, COL_DEPRECATED, 0) != 0;
    m->enabled = store_rows_i64(rows, i, COL_ENABLED, 1) != 0;
    m->updated_at = store_rows_i64(rows, i, COL_UPDATED_AT, 0);
    return CORE_OK;
}

core_err gw_registry_reload_conn(gw_registry *r, store_conn *c)
{
    store_rows *rows = NULL;
    gw_registry_snap *snap = NULL;
    core_err err = store_query(c, select_models_sql, NULL, 0, &rows);
    if (err) {
        log_error("registry: reading models failed: %s", store_conn_errmsg(c));
        goto out;
    }
    size_t count = store_rows_count(rows);
    snap = snap_new(count);
    if (!snap) {
        err = CORE_ENOMEM;
        goto out;
    }
    gw_model *models = (gw_model *)snap->models;
    for (size_t i = 0; i < count; i++)
        if ((err = model_from_row(rows, i, snap->strings, &models[i]))) goto out;
    /* Sorted here, not by ORDER BY: PostgreSQL collations are not byte order. */
    if (count) qsort(models, count, sizeof *models, model_cmp);
    snap->count = count;
    registry_swap(r, snap);
    snap = NULL;
out:
    snap_free(snap);
    store_rows_free(rows);
    return err;
}

static core_err reload_job(store_conn *c, void *ud)
{
    return gw_registry_reload_conn(ud, c);
}

core_err gw_registry_reload(gw_registry *r)
{
    return store_run_sync(r->store, reload_job, r);
}

/* ---------- seeding ---------- */

static const char *const seed_sql =
    "INSERT INTO models (provider, model, display_name, context_length, max_output_tokens,"
    " capabilities, price_unit, input_micro, cached_input_micro, output_micro, request_micro,"
    " price_source, price_date, deprecated, enabled, updated_by, catalog_version, created_at,"
    " updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, 'catalog', $15,"
    " $16, $16)"
    " ON CONFLICT (provider, model) DO UPDATE SET display_name = excluded.display_name,"
    " context_length = excluded.context_length, max_output_tokens = excluded.max_output_tokens,"
    " capabilities = excluded.capabilities, price_unit = excluded.price_unit,"
    " input_micro = excluded.input_micro, cached_input_micro = excluded.cached_input_micro,"
    " output_micro = excluded.output_micro, request_micro = excluded.request_micro,"
    " price_source = excluded.price_source, price_date = excluded.price_date,"
    " deprecated = excluded.deprecated, catalog_version = excluded.catalog_version,"
    " updated_at = excluded.updated_at"
    " WHERE models.updated_by = 'catalog' AND models.catalog_version < excluded.catalog_version";

static core_err seed_one(store_conn *c, const gw_catalog_entry *e, int64_t now)
{
    price_t p;
    buf_t caps_text;
    unsigned caps;
    core_err err;
    buf_init(&caps_text, 256);
    if ((err = gw_catalog_price(e, &p)) ||
        (err = gw_caps_parse(slice_from_cstr(e->capabilities), &caps))) {
        log_error("registry: catalog row %s/%s is malformed", e->provider, e->model);
        goto out;
    }
    if ((err = gw_caps_format(caps, &caps_text))) goto out;
    store_param params[] = {
        STORE_TEXT(e->provider),
        STORE_TEXT(e->model),
        STORE_TEXT(e->display_name),
        STORE_INT(e->context_length),
        STORE_INT(e->max_output_tokens),
        STORE_TEXT(caps_text.data),
        STORE_TEXT(gw_price_unit_name(p.unit)),
        STORE_INT(p.input_micro),
        STORE_INT(p.cached_input_micro),
        STORE_INT(p.output_micro),
        STORE_INT(p.request_micro),
        STORE_TEXT(e->price_source),
        STORE_TEXT(e->price_date),
        STORE_INT(e->deprecated ? 1 : 0),
        STORE_INT(GW_CATALOG_VERSION),
        STORE_INT(now),
    };
    err = store_exec(c, seed_sql, params, (int)ARRAY_LEN(params));
    if (err) log_error("registry: seeding %s/%s: %s", e->provider, e->model, store_conn_errmsg(c));
out:
    buf_free(&caps_text);
    return err;
}

core_err gw_registry_seed_conn(store_conn *c)
{
    int64_t now = time_wall_ms();
    core_err err = store_begin(c);
    if (err) return err;
    for (size_t i = 0; i < gw_catalog_len; i++) {
        if ((err = seed_one(c, &gw_catalog[i], now))) {
            store_rollback(c);
            return err;
        }
    }
    return store_commit(c);
}

static core_err seed_job(store_conn *c, void *ud)
{
    UNUSED(ud);
    return gw_registry_seed_conn(c);
}

core_err gw_registry_seed(store *s)
{
    return store_run_sync(s, seed_job, NULL);
}

/* ---------- discovery ---------- */

static const char *const discovered_sql =
    "INSERT INTO models (provider, model, display_name, context_length, max_output_tokens,"
    " capabilities, price_unit, input_micro, cached_input_micro, output_micro, request_micro,"
    " price_source, price_date, deprecated, enabled, updated_by, catalog_version, created_at,"
    " updated_at)"
    " VALUES ($1, $2, $2, $3, 0, 'chat,streaming', 'per_1m_tokens', 0, 0, 0, 0, $4, $5, 0, 1,"
    " 'discovery', 0, $6, $6)"
    " ON CONFLICT (provider, model) DO UPDATE SET context_length = excluded.context_length,"
    " updated_at = excluded.updated_at"
    " WHERE models.updated_by = 'discovery'"
    " AND models.context_length <> excluded.context_length";

static bool valid_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > GW_MODEL_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

core_err gw_registry_upsert_discovered_conn(gw_registry *r, store_conn *c, const char *provider,
                                            const json_t *models)
{
    char today[11], source[GW_MODEL_ID_MAX + 64];
    core_err err = CORE_OK;
    size_t i;
    const json_t *item;
    if (!valid_id(provider) || !json_is_array(models)) return CORE_EINVAL;
    json_array_foreach(models, i, item)
    {
        const json_t *ctx = json_object_get(item, "context_length");
        if (!valid_id(json_string_value(json_object_get(item, "model"))) ||
            (ctx && !json_is_null(ctx) && (!json_is_integer(ctx) || json_integer_value(ctx) < 0)))
            return CORE_EINVAL;
    }
    gw_price_date_today(today);
    snprintf(source, sizeof source, "discovered from %s /models (priced 0 until configured)",
             provider);
    int64_t now = time_wall_ms();
    if ((err = store_begin(c))) return err;
    json_array_foreach(models, i, item)
    {
        const json_t *ctx = json_object_get(item, "context_length");
        store_param params[] = {
            STORE_TEXT(provider),
            STORE_TEXT(json_string_value(json_object_get(item, "model"))),
            STORE_INT(json_is_integer(ctx) ? json_integer_value(ctx) : 0),
            STORE_TEXT(source),
            STORE_TEXT(today),
            STORE_INT(now),
        };
        if ((err = store_exec(c, discovered_sql, params, (int)ARRAY_LEN(params)))) {
            log_error("registry: recording discovered model: %s", store_conn_errmsg(c));
            store_rollback(c);
            return err;
        }
    }
    if ((err = store_commit(c))) return err;
    return gw_registry_reload_conn(r, c);
}

typedef struct {
    gw_registry *registry;
    const char *provider;
    const json_t *models;
} discover_job_args;

static core_err discover_job(store_conn *c, void *ud)
{
    discover_job_args *a = ud;
    return gw_registry_upsert_discovered_conn(a->registry, c, a->provider, a->models);
}

core_err gw_registry_upsert_discovered(gw_registry *r, const char *provider, const json_t *models)
{
    discover_job_args args = {r, provider, models};
    return store_run_sync(r->store, discover_job, &args);
}

/* ---------- JSON ---------- */

static json_t *price_string(int64_t micro)
{
    char text[48];
    return json_string(money_format_micro(micro, text));
}

static json_t *size_or_null(int64_t tokens)
{
    return tokens > 0 ? json_integer(tokens) : json_null();
}

json_t *gw_model_to_json(const gw_model *m)
{
    json_t *caps = json_array();
    json_t *pricing = json_object();
    json_t *obj = json_object();
    if (!caps || !pricing || !obj) goto fail;
    for (unsigned i = 0; i < GW_CAP__COUNT; i++)
        if (m->capabilities & (1u << i))
            json_array_append_new(caps, json_string(gw_cap_name(1u << i)));
    json_object_set_new(pricing, "unit", json_string(gw_price_unit_name(m->price.unit)));
    json_object_set_new(pricing, "input", price_string(m->price.input_micro));
    json_object_set_new(pricing, "cached_input", price_string(m->price.cached_input_micro));
    json_object_set_new(pricing, "output", price_string(m->price.output_micro));
    if (m->price.unit != PRICE_PER_1M_TOKENS)
        json_object_set_new(pricing, "request", price_string(m->price.request_micro));
    json_object_set_new(pricing, "currency", json_string("USD"));

    json_object_set_new(obj, "provider", json_string(m->provider));
    json_object_set_new(obj, "model", json_string(m->model));
    json_object_set_new(obj, "display_name", json_string(m->display_name));
    json_object_set_new(obj, "context_length", size_or_null(m->context_length));
    json_object_set_new(obj, "max_output_tokens", size_or_null(m->max_output_tokens));
    json_object_set_new(obj, "capabilities", caps);
    json_object_set_new(obj, "pricing", pricing);
    json_object_set_new(obj, "deprecated", json_boolean(m->deprecated));
    json_object_set_new(obj, "price_source", json_string(m->price_source));
    json_object_set_new(obj, "price_date", json_string(m->price_date));
    /* json_string returns NULL for invalid UTF-8, which set_new drops; a model
     * whose id did not survive is unusable, so report failure. */
    if (!json_object_get(obj, "provider") || !json_object_get(obj, "model")) {
        json_decref(obj);
        return NULL;
    }
    return obj;
fail:
    json_decref(caps);
    json_decref(pricing);
    json_decref(obj);
    return NULL;
}

/* ---------- admin edits ---------- */

static const char *const admin_add_sql =
    "INSERT INTO models (provider, model, display_name, context_length, max_output_tokens,"
    " capabilities, price_unit, input_micro, cached_input_micro, output_micro, request_micro,"
    " price_source, price_date, deprecated, enabled, updated_by, catalog_version, created_at,"
    " updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'admin', 0,"
    " $16, $16)";

static bool price_valid(const price_t *p)
{
    return p->input_micro >= 0 && p->cached_input_micro >= 0 && p->output_micro >= 0 &&
           p->request_micro >= 0;
}

typedef struct {
    const gw_model *model;
    const char *caps;
} admin_add_args;

static core_err admin_add_job(store_conn *c, void *ud)
{
    admin_add_args *a = ud;
    const gw_model *m = a->model;
    store_param params[] = {
        STORE_TEXT(m->provider),
        STORE_TEXT(m->model),
        STORE_TEXT(m->display_name && *m->display_name ? m->display_name : m->model),
        STORE_INT(m->context_length),
        STORE_INT(m->max_output_tokens),
        STORE_TEXT(a->caps),
        STORE_TEXT(gw_price_unit_name(m->price.unit)),
        STORE_INT(m->price.input_micro),
        STORE_INT(m->price.cached_input_micro),
        STORE_INT(m->price.output_micro),
        STORE_INT(m->price.request_micro),
        STORE_TEXT(m->price_source),
        STORE_TEXT(m->price_date),
        STORE_INT(m->deprecated ? 1 : 0),
        STORE_INT(m->enabled ? 1 : 0),
        STORE_INT(time_wall_ms()),
    };
    core_err err = store_exec(c, admin_add_sql, params, (int)ARRAY_LEN(params));
    if (err && err != CORE_EEXIST)
        log_error("registry: adding %s/%s: %s", m->provider, m->model, store_conn_errmsg(c));
    return err;
}

core_err gw_registry_admin_add(store *s, const gw_model *m)
{
    buf_t caps;
    core_err err;
    if (!valid_id(m->provider) || !valid_id(m->model) || !m->price_source || !*m->price_source ||
        !m->price_date || !gw_price_date_valid(slice_from_cstr(m->price_date)) ||
        !price_valid(&m->price) || m->context_length < 0 || m->max_output_tokens < 0)
        return CORE_EINVAL;
    buf_init(&caps, 256);
    if ((err = gw_caps_format(m->capabilities, &caps))) goto out;
    admin_add_args args = {m, caps.data};
    err = store_run_sync(s, admin_add_job, &args);
out:
    buf_free(&caps);
    return err;
}

void gw_model_patch_init(gw_model_patch *p)
{
    memset(p, 0, sizeof *p);
    p->context_length = -1;
    p->max_output_tokens = -1;
    p->deprecated = -1;
    p->enabled = -1;
}

#define PATCH_MAX_PARAMS 20

typedef struct {
    buf_t sql;
    store_param params[PATCH_MAX_PARAMS];
    int nparams;
    int64_t changes;
} admin_update_args;

static core_err patch_set(admin_update_args *a, const char *column, store_param value)
{
    if (a->nparams >= PATCH_MAX_PARAMS) return CORE_ETOOBIG;
    a->params[a->nparams++] = value;
    return buf_printf(&a->sql, "%s = $%d, ", column, a->nparams);
}

static core_err admin_update_job(store_conn *c, void *ud)
{
    admin_update_args *a = ud;
    core_err err = store_exec(c, a->sql.data, a->params, a->nparams);
    if (err)
        log_error("registry: admin update failed: %s", store_conn_errmsg(c));
    else
        a->changes = store_changes(c);
    return err;
}

core_err gw_registry_admin_update(store *s, const char *provider, const char *model,
                                  const gw_model_patch *p)
{
    admin_update_args a = {.nparams = 0};
    char today[11];
    buf_t caps;
    core_err err = CORE_OK;
    bool price_changes =
        p->set_unit || p->set_input || p->set_cached_input || p->set_output || p->set_request;
    const char *date = p->price_date;
    buf_init(&a.sql, 4096);
    buf_init(&caps, 256);
    if (!valid_id(provider) || !valid_id(model) || !price_valid(&p->price) ||
        (price_changes && (!p->price_source || !*p->price_source)) ||
        (p->price_source && !*p->price_source) ||
        (date && !gw_price_date_valid(slice_from_cstr(date)))) {
        err = CORE_EINVAL;
        goto out;
    }
    if (price_changes && !date) {
        gw_price_date_today(today);
        date = today;
    }
    if ((err = buf_append_cstr(&a.sql, "UPDATE models SET "))) goto out;
    if (p->display_name && (err = patch_set(&a, "display_name", STORE_TEXT(p->display_name))))
        goto out;
    if (p->context_length >= 0 &&
        (err = patch_set(&a, "context_length", STORE_INT(p->context_length))))
        goto out;
    if (p->max_output_tokens >= 0 &&
        (err = patch_set(&a, "max_output_tokens", STORE_INT(p->max_output_tokens))))
        goto out;
    if (p->set_capabilities) {
        if ((err = gw_caps_format(p->capabilities, &caps))) goto out;
        if ((err = patch_set(&a, "capabilities", STORE_TEXT(caps.data)))) goto out;
    }
    if (p->set_unit &&
        (err = patch_set(&a, "price_unit", STORE_TEXT(gw_price_unit_name(p->price.unit)))))
        goto out;
    if (p->set_input && (err = patch_set(&a, "input_micro", STORE_INT(p->price.input_micro))))
        goto out;
    if (p->set_cached_input &&
        (err = patch_set(&a, "cached_input_micro", STORE_INT(p->price.cached_input_micro))))
        goto out;
    if (p->set_output && (err = patch_set(&a, "output_micro", STORE_INT(p->price.output_micro))))
        goto out;
    if (p->set_request && (err = patch_set(&a, "request_micro", STORE_INT(p->price.request_micro))))
        goto out;
    if (p->price_source && (err = patch_set(&a, "price_source", STORE_TEXT(p->price_source))))
        goto out;
    if (date && (err = patch_set(&a, "price_date", STORE_TEXT(date)))) goto out;
    if (p->deprecated >= 0 && (err = patch_set(&a, "deprecated", STORE_INT(p->deprecated != 0))))
        goto out;
    if (p->enabled >= 0 && (err = patch_set(&a, "enabled", STORE_INT(p->enabled != 0)))) goto out;
    if ((err = patch_set(&a, "updated_at", STORE_INT(time_wall_ms())))) goto out;
    if (a.nparams + 2 > PATCH_MAX_PARAMS) {
        err = CORE_ETOOBIG;
        goto out;
    }
    a.params[a.nparams++] = STORE_TEXT(provider);
    a.params[a.nparams++] = STORE_TEXT(model);
    if ((err = buf_printf(&a.sql, "updated_by = 'admin' WHERE provider = $%d AND model = $%d",
                          a.nparams - 1, a.nparams)))
        goto out;
    if ((err = store_run_sync(s, admin_update_job, &a))) goto out;
    if (a.changes == 0) err = CORE_ENOTFOUND;
out:
    buf_free(&caps);
    buf_free(&a.sql);
    return err;
}
