/*
 * registry.h - the model registry. The truth lives in the models table:
 * seeded from the catalog (catalog.h), edited by admins (CLI), extended by
 * model discovery for local servers. The request path reads an immutable,
 * refcounted in-memory snapshot of that table: acquire one, look models up
 * (sorted array + binary search, no allocation, no lock after acquire), and
 * release it. A reload builds a new snapshot and swaps it in under a mutex;
 * requests holding the old one keep using it until they release it.
 *
 * updated_by tracks who last wrote a row: 'catalog' rows are refreshed when
 * GW_CATALOG_VERSION grows, 'admin' and 'discovery' rows are never touched by
 * seeding, and discovery never overwrites an 'admin' or 'catalog' row.
 *
 * Threads: acquire/release/find and the JSON helper from any thread. Every
 * function that touches the database blocks: call it at start-up, from the
 * CLI, or on a store worker (the *_conn variants run inside a store job).
 */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include "../store/store.h"
#include "catalog.h"

#include <jansson.h>

/* One model as the request path sees it. Strings live as long as the
 * snapshot that holds the model. */
typedef struct {
    const char *provider; /* "openai", "fal", "simulator", ... */
    const char *model;    /* provider's id: "gpt-4o-mini", "google/gemini-2.5-flash" */
    const char *display_name;
    int64_t context_length;    /* tokens; 0 = unknown */
    int64_t max_output_tokens; /* tokens; 0 = unknown */
    unsigned capabilities;     /* GW_CAP_* bits */
    price_t price;
    const char *price_source;
    const char *price_date; /* "YYYY-MM-DD" or "YYYY-MM" */
    const char *updated_by; /* "catalog" | "admin" | "discovery" */
    bool deprecated;        /* still callable; listed as deprecated */
    bool enabled;           /* false: the request path must answer model_not_found */
    int64_t updated_at;     /* epoch ms */
} gw_model;

/* An immutable set of models, sorted by (provider, model) in byte order.
 * Obtained from gw_registry_acquire; valid until gw_registry_release. */
typedef struct gw_registry_snap gw_registry_snap;
struct gw_registry_snap {
    const gw_model *models;
    size_t count;
    uint64_t generation; /* grows by one per reload */
    /* private */
    int refs;
    void *strings; /* arena_t holding every string of the models */
};

typedef struct gw_registry gw_registry;

/* Creates a registry bound to s (borrowed; must outlive the registry) with an
 * empty snapshot. Call gw_registry_reload to fill it. CORE_ENOMEM. */
core_err gw_registry_new(store *s, gw_registry **out);
/* Frees the registry. Snapshots still acquired stay valid until released. */
void gw_registry_free(gw_registry *r);

/* Writes the catalog into the models table in one transaction: inserts rows
 * that are missing, refreshes rows still owned by the catalog whose
 * catalog_version is older than GW_CATALOG_VERSION, and leaves every other row
 * alone. Blocking. CORE_EDB. */
core_err gw_registry_seed(store *s);
core_err gw_registry_seed_conn(store_conn *c);

/* Re-reads the models table and swaps in a new snapshot. Blocking; on failure
 * the old snapshot stays. CORE_EDB, CORE_ENOMEM. */
core_err gw_registry_reload(gw_registry *r);
core_err gw_registry_reload_conn(gw_registry *r, store_conn *c);

/* Current snapshot with one reference taken; never NULL. Pair with release. */
const gw_registry_snap *gw_registry_acquire(gw_registry *r);
void gw_registry_release(const gw_registry_snap *snap);

/* Exact lookup; NULL when absent. Disabled models are found too (check
 * ->enabled). O(log n), no allocation. */
const gw_model *gw_registry_find(const gw_registry_snap *snap, slice_t provider, slice_t model);
/* Lookup by the /v1 id "provider/model", split at the FIRST slash
 * ("fal/google/gemini-2.5-flash" -> fal + google/gemini-2.5-flash). */
const gw_model *gw_registry_find_id(const gw_registry_snap *snap, slice_t id);

/* Records models discovered at run time (e.g. from a local server's
 * /v1/models) under provider, priced 0 unless a row already exists: rows an
 * admin or the catalog wrote are kept as they are (so configured prices win),
 * earlier discoveries get their context_length refreshed. models is the array
 * gw_provider_ops.parse_models returns: [{"model":"..","context_length":n|null}].
 * Then reloads the snapshot. Blocking. CORE_EINVAL on a malformed array. */
core_err gw_registry_upsert_discovered(gw_registry *r, const char *provider, const json_t *models);
core_err gw_registry_upsert_discovered_conn(gw_registry *r, store_conn *c, const char *provider,
                                            const json_t *models);

/* The /api/models fields of one model except status and latency (the router
 * adds those): {provider, model, display_name, context_length,
 * max_output_tokens, capabilities:[..], pricing:{unit, input, cached_input,
 * output, currency:"USD"}, deprecated, price_source, price_date}. Prices are
 * exact decimal strings; unknown sizes are null; non-token units add
 * pricing.request (USD per request or per second). New reference; NULL on OOM. */
json_t *gw_model_to_json(const gw_model *m);

/* ---- admin edits (CLI; a future admin API). Every edit sets
 * updated_by='admin' so seeding never overwrites it. Blocking. ---- */

/* Inserts a new model. CORE_EEXIST if provider/model exists, CORE_EINVAL on
 * an empty provider/model/source or an invalid date. */
core_err gw_registry_admin_add(store *s, const gw_model *m);

/* A partial update: only fields marked set change. */
typedef struct {
    const char *display_name; /* NULL = unchanged */
    int64_t context_length;   /* < 0 = unchanged */
    int64_t max_output_tokens;
    bool set_capabilities;
    unsigned capabilities;
    bool set_unit, set_input, set_cached_input, set_output, set_request;
    price_t price;            /* the fields marked set above */
    const char *price_source; /* NULL = unchanged */
    const char *price_date;
    int deprecated; /* -1 unchanged, 0 or 1 */
    int enabled;    /* -1 unchanged, 0 or 1 */
} gw_model_patch;

/* Starts a patch that changes nothing. */
void gw_model_patch_init(gw_model_patch *p);
/* CORE_ENOTFOUND if no such model, CORE_EINVAL on a bad date or a price
 * change without a new price_source. */
core_err gw_registry_admin_update(store *s, const char *provider, const char *model,
                                  const gw_model_patch *p);

#endif
