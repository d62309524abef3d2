/*
 * keys.c - gateway keys: creation (random token shown once, SHA-256 kept),
 * listing, revocation, seeding from AI_GATEWAY_API_KEY, and the in-memory
 * verification cache used on every request.
 *
 * The cache is an open-addressing hash table of refcounted gw_key entries,
 * keyed by the token's SHA-256 (already uniformly distributed, so its first
 * bytes are the slot index). Readers take a read lock just long enough to
 * find an entry and take a reference; a reload builds a whole new table and
 * swaps it under the write lock.
 */
#include "keys.h"

#include "../core/buf.h"
#include "../core/log.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_BASE62_CHARS 43 /* 62^43 > 2^256 */
#define PATTERN_MAX        256
#define MODEL_ID_MAX       (2 * PATTERN_MAX + 2)

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void sodium_setup(void)
{
    if (sodium_init() < 0) log_error("keys: sodium_init failed");
}

static void hash_token(slice_t token, unsigned char out[32])
{
    pthread_once(&sodium_once, sodium_setup);
    crypto_hash_sha256(out, (const unsigned char *)token.ptr, token.len);
}

static void hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n) return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return true;
}

/* Base62 of a 256-bit big-endian number, fixed width, most significant first. */
static void base62_encode(const unsigned char in[TOKEN_RANDOM_BYTES],
                          char out[TOKEN_BASE62_CHARS + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char num[TOKEN_RANDOM_BYTES];
    memcpy(num, in, sizeof num);
    for (int pos = TOKEN_BASE62_CHARS - 1; pos >= 0; pos--) {
        unsigned remainder = 0;
        for (size_t i = 0; i < sizeof num; i++) {
            unsigned acc = (remainder << 8) | num[i];
            num[i] = (unsigned char)(acc / 62);
            remainder = acc % 62;
        }
        out[pos] = alphabet[remainder];
    }
    out[TOKEN_BASE62_CHARS] = '\0';
    sodium_memzero(num, sizeof num);
}

static bool pattern_valid(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > PATTERN_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || p[i] == ',' || p[i] == 0x7f) return false;
    return true;
}

/* ---------- create / list / revoke ---------- */

static const char *const insert_key_sql =
    "INSERT INTO gateway_keys (id, name, prefix, token_hash, rpm, tpm, allowed_models,"
    " created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)";

typedef struct {
    const char *id;
    const char *name;
    const char *prefix;
    const char *hash_hex;
    int64_t rpm, tpm;
    const char *models_json; /* NULL = all models */
} insert_key_args;

static core_err insert_key(store_conn *c, const insert_key_args *a)
{
    store_param params[] = {
        STORE_TEXT(a->id),
        STORE_TEXT(a->name),
        STORE_TEXT(a->prefix),
        STORE_TEXT(a->hash_hex),
        a->rpm > 0 ? STORE_INT(a->rpm) : STORE_NULL,
        a->tpm > 0 ? STORE_INT(a->tpm) : STORE_NULL,
        STORE_TEXT_OR_NULL(a->models_json),
        STORE_INT(time_wall_ms()),
    };
    core_err err = store_exec(c, insert_key_sql, params, (int)ARRAY_LEN(params));
    if (err) log_error("keys: inserting key %s: %s", a->id, store_conn_errmsg(c));
    return err;
}

static core_err insert_key_job(store_conn *c, void *ud)
{
    return insert_key(c, ud);
}

core_err gw_keys_create(store *s, const gw_key_spec *spec, char token_out[GW_KEY_TOKEN_SIZE],
                        char id_out[GW_KEY_ID_SIZE])
{
    unsigned char secret[TOKEN_RANDOM_BYTES], digest[32];
    char encoded[TOKEN_BASE62_CHARS + 1], hash_hex[65], prefix[16], token[GW_KEY_TOKEN_SIZE];
    char id[GW_KEY_ID_SIZE];
    char *models_json = NULL;
    core_err err = CORE_OK;
    size_t name_len = spec->name ? strlen(spec->name) : 0;
    if (name_len == 0 || name_len > GW_KEY_NAME_MAX || spec->rpm < 0 || spec->tpm < 0 ||
        spec->nmodels > GW_KEY_PATTERNS_MAX || (spec->nmodels && !spec->models))
        return CORE_EINVAL;
    if (spec->nmodels) {
        json_t *arr = json_array();
        if (!arr) return CORE_ENOMEM;
        for (size_t i = 0; i < spec->nmodels; i++) {
            /* A pattern jansson refuses (invalid UTF-8) must fail the call,
             * not vanish from the key's allow-list. */
            if (!pattern_valid(spec->models[i]) ||
                json_array_append_new(arr, json_string(spec->models[i])) != 0) {
                json_decref(arr);
                return CORE_EINVAL;
            }
        }
        models_json = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!models_json) return CORE_ENOMEM;
    }
    if ((err = random_bytes(secret, sizeof secret))) goto out;
    base62_encode(secret, encoded);
    snprintf(token, sizeof token, "%s%s", GW_KEY_TOKEN_PREFIX, encoded);
    snprintf(prefix, sizeof prefix, "%s%.6s", GW_KEY_TOKEN_PREFIX, encoded);
    hash_token(slice_from_cstr(token), digest);
    hex_encode(digest, sizeof digest, hash_hex);
    random_id("key_", id, sizeof id);
    insert_key_args args = {id, spec->name, prefix, hash_hex, spec->rpm, spec->tpm, models_json};
    if ((err = store_run_sync(s, insert_key_job, &args))) goto out;
    memcpy(token_out, token, GW_KEY_TOKEN_SIZE);
    memcpy(id_out, id, GW_KEY_ID_SIZE);
out:
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(encoded, sizeof encoded);
    sodium_memzero(token, sizeof token);
    free(models_json);
    return err;
}

typedef struct {
    json_t *list;
} list_args;

static core_err list_job(store_conn *c, void *ud)
{
    list_args *a = ud;
    store_rows *rows = NULL;
    core_err err = store_query(c,
                               "SELECT id, name, prefix, rpm, tpm, allowed_models, created_at,"
                               " revoked_at FROM gateway_keys ORDER BY created_at DESC, id DESC",
                               NULL, 0, &rows);
    if (err) {
        log_error("keys: listing: %s", store_conn_errmsg(c));
        return err;
    }
    a->list = json_array();
    for (size_t i = 0; a->list && i < store_rows_count(rows); i++) {
        const char *models_text = store_rows_get(rows, i, 5);
        json_t *models = models_text ? json_loads(models_text, 0, NULL) : NULL;
        json_t *item = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:o, s:I}", "id", store_rows_get(rows, i, 0), "name",
            store_rows_get(rows, i, 1), "prefix", store_rows_get(rows, i, 2), "rpm",
            (json_int_t)store_rows_i64(rows, i, 3, 0), "tpm",
            (json_int_t)store_rows_i64(rows, i, 4, 0), "models", models ? models : json_null(),
            "created_at", (json_int_t)store_rows_i64(rows, i, 6, 0));
        if (!item) {
            err = CORE_ENOMEM;
            break;
        }
        int64_t revoked = store_rows_i64(rows, i, 7, -1);
        json_object_set_new(item, "revoked_at", revoked >= 0 ? json_integer(revoked) : json_null());
        json_array_append_new(a->list, item);
    }
    if (!a->list) err = CORE_ENOMEM;
    store_rows_free(rows);
    return err;
}

core_err gw_keys_list(store *s, json_t **out)
{
    list_args args = {NULL};
    core_err err = store_run_sync(s, list_job, &args);
    if (err) {
        json_decref(args.list);
        return err;
    }
    *out = args.list;
    return CORE_OK;
}

typedef struct {
    const char *id;
    int64_t changes;
} revoke_args;

static core_err revoke_job(store_conn *c, void *ud)
{
    revoke_args *a = ud;
    store_param params[] = {STORE_INT(time_wall_ms()), STORE_TEXT(a->id)};
    core_err err = store_exec(c,
                              "UPDATE gateway_keys SET revoked_at = $1"
                              " WHERE id = $2 AND revoked_at IS NULL",
                              params, 2);
    if (err)
        log_error("keys: revoking: %s", store_conn_errmsg(c));
    else
        a->changes = store_changes(c);
    return err;
}

core_err gw_keys_revoke(store *s, const char *id)
{
    revoke_args args = {id, 0};
    if (!id || !*id) return CORE_EINVAL;
    core_err err = store_run_sync(s, revoke_job, &args);
    if (!err && args.changes == 0) err = CORE_ENOTFOUND;
    return err;
}

/* ---------- AI_GATEWAY_API_KEY ---------- */

typedef struct {
    const char *hash_hex;
    const char *prefix;
} seed_env_args;

static core_err seed_env_job(store_conn *c, void *ud)
{
    seed_env_args *a = ud;
    store_rows *rows = NULL;
    char id[GW_KEY_ID_SIZE];
    store_param by_hash[] = {STORE_TEXT(a->hash_hex)};
    store_param retire[] = {STORE_INT(time_wall_ms()), STORE_TEXT(GW_KEY_ENV_NAME),
                            STORE_TEXT(a->hash_hex)};
    core_err err = store_begin(c);
    if (err) return err;
    /* A changed AI_GATEWAY_API_KEY must retire the old value. */
    if ((err = store_exec(c,
                          "UPDATE gateway_keys SET revoked_at = $1 WHERE name = $2"
                          " AND revoked_at IS NULL AND token_hash <> $3",
                          retire, 3)))
        goto fail;
    if ((err = store_query(c, "SELECT id, revoked_at FROM gateway_keys WHERE token_hash = $1",
                           by_hash, 1, &rows)))
        goto fail;
    if (store_rows_count(rows) > 0) {
        if (store_rows_get(rows, 0, 1)) {
            log_error("keys: AI_GATEWAY_API_KEY was revoked by an admin and stays revoked; "
                      "set a new value");
            err = CORE_ECANCELED;
        }
    } else {
        random_id("key_", id, sizeof id);
        insert_key_args ins = {id, GW_KEY_ENV_NAME, a->prefix, a->hash_hex, 0, 0, NULL};
        if ((err = insert_key(c, &ins))) goto fail;
    }
    store_rows_free(rows);
    rows = NULL;
    if ((err == CORE_OK || err == CORE_ECANCELED)) {
        core_err commit_err = store_commit(c);
        return commit_err ? commit_err : err;
    }
fail:
    if (err == CORE_EDB) log_error("keys: seeding AI_GATEWAY_API_KEY: %s", store_conn_errmsg(c));
    store_rows_free(rows);
    store_rollback(c);
    return err;
}

core_err gw_keys_seed_env(store *s, slice_t token)
{
    unsigned char digest[32];
    char hash_hex[65], prefix[16];
    if (token.len == 0 || token.len > GW_KEY_TOKEN_MAX) return CORE_EINVAL;
    hash_token(token, digest);
    hex_encode(digest, sizeof digest, hash_hex);
    /* Show as little of an operator-chosen secret as still helps recognize it. */
    if (slice_starts_with(token, SLICE_LIT(GW_KEY_TOKEN_PREFIX)) && token.len >= 32)
        snprintf(prefix, sizeof prefix, "%.11s", token.ptr);
    else if (token.len >= 16)
        snprintf(prefix, sizeof prefix, "%.4s...", token.ptr);
    else
        snprintf(prefix, sizeof prefix, "...");
    seed_env_args args = {hash_hex, prefix};
    return store_run_sync(s, seed_env_job, &args);
}

/* ---------- verification cache ---------- */

typedef struct {
    gw_key **slots;  /* capacity entries, NULL = empty */
    size_t capacity; /* power of two */
    size_t count;
} key_table;

struct gw_keys_cache {
    store *store;
    pthread_rwlock_t lock;
    key_table *table;
};

static void key_free(gw_key *k)
{
    for (size_t i = 0; i < k->nmodels; i++)
        free(k->models[i]);
    free(k->models);
    free(k->name);
    free(k);
}

void gw_key_release(gw_key *key)
{
    if (key && __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) == 0) key_free(key);
}

static void table_free(key_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->capacity; i++)
        gw_key_release(t->slots[i]);
    free(t->slots);
    free(t);
}

static size_t slot_of(const unsigned char hash[32], size_t capacity)
{
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    return (size_t)h & (capacity - 1);
}

static key_table *table_new(size_t expected)
{
    key_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->capacity = 16;
    while (t->capacity < expected * 2)
        t->capacity *= 2;
    t->slots = calloc(t->capacity, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

/* Takes ownership of k's reference. Duplicate hashes cannot happen (UNIQUE). */
static void table_insert(key_table *t, gw_key *k)
{
    size_t i = slot_of(k->hash, t->capacity);
    while (t->slots[i])
        i = (i + 1) & (t->capacity - 1);
    t->slots[i] = k;
    t->count++;
}

static gw_key *table_find(const key_table *t, const unsigned char hash[32])
{
    if (!t || t->count == 0) return NULL;
    for (size_t i = slot_of(hash, t->capacity);; i = (i + 1) & (t->capacity - 1)) {
        gw_key *k = t->slots[i];
        if (!k) return NULL;
        if (ct_equal(k->hash, sizeof k->hash, hash, 32)) return k;
    }
}

core_err gw_keys_cache_new(store *s, gw_keys_cache **out)
{
    gw_keys_cache *cache = calloc(1, sizeof *cache);
    if (!cache) return CORE_ENOMEM;
    cache->store = s;
    pthread_rwlock_init(&cache->lock, NULL);
    pthread_once(&sodium_once, sodium_setup);
    *out = cache;
    return CORE_OK;
}

void gw_keys_cache_free(gw_keys_cache *cache)
{
    if (!cache) return;
    table_free(cache->table);
    pthread_rwlock_destroy(&cache->lock);
    free(cache);
}

/* A column as text; "" for NULL (the schema says NOT NULL, but a row written
 * by hand must not crash the loader). */
static const char *row_text(const store_rows *rows, size_t i, size_t col)
{
    const char *v = store_rows_get(rows, i, col);
    return v ? v : "";
}

static gw_key *key_from_row(const store_rows *rows, size_t i)
{
    gw_key *k = calloc(1, sizeof *k);
    const char *models_text = store_rows_get(rows, i, 5);
    json_t *models = NULL;
    if (!k) return NULL;
    k->refs = 1;
    snprintf(k->id, sizeof k->id, "%s", row_text(rows, i, 0));
    snprintf(k->prefix, sizeof k->prefix, "%s", row_text(rows, i, 2));
    k->name = strdup(row_text(rows, i, 1));
    k->rpm = store_rows_i64(rows, i, 3, 0);
    k->tpm = store_rows_i64(rows, i, 4, 0);
    k->created_at = store_rows_i64(rows, i, 6, 0);
    if (!k->name || !hex_decode(store_rows_get(rows, i, 7), k->hash, sizeof k->hash)) goto fail;
    if (models_text) {
        size_t j;
        json_t *pattern;
        models = json_loads(models_text, 0, NULL);
        if (!json_is_array(models) || json_array_size(models) > GW_KEY_PATTERNS_MAX) goto fail;
        k->models = calloc(json_array_size(models) + 1, sizeof *k->models);
        if (!k->models) goto fail;
        json_array_foreach(models, j, pattern)
        {
            if (!json_is_string(pattern)) goto fail;
            if (!(k->models[k->nmodels] = strdup(json_string_value(pattern)))) goto fail;
            k->nmodels++;
        }
        /* "[]" would mean "nothing allowed"; keep it so, with an impossible pattern. */
        if (k->nmodels == 0 && !(k->models[k->nmodels++] = strdup(""))) goto fail;
        json_decref(models);
    }
    return k;
fail:
    log_error("keys: key %s has a malformed row; it is not loaded", k->id);
    json_decref(models);
    key_free(k);
    return NULL;
}

core_err gw_keys_reload_conn(gw_keys_cache *cache, store_conn *c)
{
    store_rows *rows = NULL;
    key_table *next = NULL, *old;
    core_err err = store_query(c,
                               "SELECT id, name, prefix, rpm, tpm, allowed_models, created_at,"
                               " token_hash FROM gateway_keys WHERE revoked_at IS NULL",
                               NULL, 0, &rows);
    if (err) {
        log_error("keys: reading keys failed: %s", store_conn_errmsg(c));
        goto out;
    }
    size_t count = store_rows_count(rows);
    if (!(next = table_new(count))) {
        err = CORE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        gw_key *k = key_from_row(rows, i);
        if (k) table_insert(next, k);
    }
    pthread_rwlock_wrlock(&cache->lock);
    old = cache->table;
    cache->table = next;
    pthread_rwlock_unlock(&cache->lock);
    next = old; /* freed below, outside the lock */
out:
    table_free(next);
    store_rows_free(rows);
    return err;
}

static core_err reload_job(store_conn *c, void *ud)
{
    return gw_keys_reload_conn(ud, c);
}

core_err gw_keys_reload(gw_keys_cache *cache)
{
    return store_run_sync(cache->store, reload_job, cache);
}

size_t gw_keys_count(gw_keys_cache *cache)
{
    pthread_rwlock_rdlock(&cache->lock);
    size_t n = cache->table ? cache->table->count : 0;
    pthread_rwlock_unlock(&cache->lock);
    return n;
}

core_err gw_keys_verify(gw_keys_cache *cache, slice_t token, gw_key **out)
{
    unsigned char digest[32];
    if (token.len == 0 || token.len > GW_KEY_TOKEN_MAX) return CORE_EINVAL;
    hash_token(token, digest);
    pthread_rwlock_rdlock(&cache->lock);
    gw_key *k = table_find(cache->table, digest);
    if (k) __atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&cache->lock);
    if (!k) return CORE_ENOTFOUND;
    *out = k;
    return CORE_OK;
}

/* ---------- model patterns ---------- */

/* Glob with '*' only (any run of characters, '/' included). Iterative with a
 * single backtrack point: linear in practice, no recursion. */
static bool glob_match(const char *pattern, const char *text)
{
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == *text) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

bool gw_keys_model_allowed(const gw_key *key, slice_t provider, slice_t model)
{
    char id[MODEL_ID_MAX];
    if (!key || key->nmodels == 0) return true;
    if (provider.len + model.len + 2 > sizeof id) return false;
    memcpy(id, provider.ptr, provider.len);
    id[provider.len] = '/';
    memcpy(id + provider.len + 1, model.ptr, model.len);
    id[provider.len + 1 + model.len] = '\0';
    /* An embedded NUL would let a crafted id match a shorter pattern. */
    if (strlen(id) != provider.len + 1 + model.len) return false;
    for (size_t i = 0; i < key->nmodels; i++)
        if (glob_match(key->models[i], id)) return true;
    return false;
}
