/*
 * keys.h - gateway keys: the bearer tokens clients present to aigw.
 *
 * A token is "aigw_" + 43 base62 characters encoding 32 random bytes. It is
 * shown once, at creation; the database keeps only its SHA-256 and a short
 * display prefix ("aigw_AbC123"). SHA-256 rather than argon2id because these
 * tokens carry 256 bits of entropy: nobody can brute-force a preimage of such
 * a hash, so a slow hash adds no protection and would cost milliseconds of CPU
 * on every request. (Human-chosen passwords are a different matter; teamhub
 * uses argon2id for those.) The one exception is AI_GATEWAY_API_KEY, whose
 * value the operator chooses: it is hashed the same way, so choose it long.
 *
 * The request path never touches the database: gw_keys_verify looks the
 * token's hash up in an in-memory cache (hash table keyed by the SHA-256,
 * then a constant-time comparison of the whole digest), which
 * gw_keys_reload refreshes from the table. Revoked keys are not loaded, so a
 * revoke takes effect at the next reload (the router reloads every few
 * seconds).
 *
 * Threads: gw_keys_verify, gw_key_release and gw_keys_model_allowed from any
 * thread; everything touching the database blocks (start-up, CLI, or a store
 * worker through the *_conn variants).
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include "../store/store.h"

#include <jansson.h>

#define GW_KEY_TOKEN_PREFIX "aigw_"
/* "aigw_" + 43 base62 chars + NUL. */
#define GW_KEY_TOKEN_SIZE 49
/* "key_" + 26 chars + NUL (random_id). */
#define GW_KEY_ID_SIZE 31
/* Longest token gw_keys_verify will even hash; longer ones are refused. */
#define GW_KEY_TOKEN_MAX 512
/* Ceilings on what a key can carry. */
#define GW_KEY_NAME_MAX     200
#define GW_KEY_PATTERNS_MAX 64
#define GW_KEY_ENV_NAME     "env:AI_GATEWAY_API_KEY"

/* A key as the request path sees it: immutable, refcounted. Obtained from
 * gw_keys_verify; release with gw_key_release. */
typedef struct gw_key {
    char id[GW_KEY_ID_SIZE];
    char *name;
    char prefix[16];
    int64_t rpm;        /* requests per minute; 0 = no per-key limit */
    int64_t tpm;        /* tokens per minute; 0 = no per-key limit */
    char **models;      /* allowed "provider/model" patterns ('*' wildcard) */
    size_t nmodels;     /* 0 = every model */
    int64_t created_at; /* epoch ms */
    unsigned char hash[32];
    int refs; /* private */
} gw_key;

/* What to create. models may be NULL/0 (all models allowed). */
typedef struct {
    const char *name;
    int64_t rpm, tpm; /* 0 = unlimited */
    const char *const *models;
    size_t nmodels;
} gw_key_spec;

/* Creates a key. token_out receives the token (shown once: the caller prints
 * it and forgets it), id_out its id. CORE_EINVAL on an empty or too long name,
 * negative limits or a malformed pattern; CORE_EDB. Blocking. */
core_err gw_keys_create(store *s, const gw_key_spec *spec, char token_out[GW_KEY_TOKEN_SIZE],
                        char id_out[GW_KEY_ID_SIZE]);

/* Every key, newest first, without hashes: a JSON array of {id, name, prefix,
 * rpm, tpm, models:[..]|null, created_at, revoked_at|null}. *out is a new
 * reference. Blocking. */
core_err gw_keys_list(store *s, json_t **out);

/* Marks a key revoked. CORE_ENOTFOUND when no such key is active. Blocking. */
core_err gw_keys_revoke(store *s, const char *id);

/* Stores the hash of token (AI_GATEWAY_API_KEY) under name
 * "env:AI_GATEWAY_API_KEY". Idempotent; when the variable changed, the key
 * seeded from the old value is revoked so only the current value works. A
 * value an admin revoked stays revoked (CORE_ECANCELED, logged).
 * CORE_EINVAL on an empty or too long token. Blocking. */
core_err gw_keys_seed_env(store *s, slice_t token);

/* ---- in-memory verification ---- */

typedef struct gw_keys_cache gw_keys_cache;

/* s is borrowed and must outlive the cache. Empty until gw_keys_reload. */
core_err gw_keys_cache_new(store *s, gw_keys_cache **out);
/* Keys handed out by verify stay valid until released. */
void gw_keys_cache_free(gw_keys_cache *cache);
/* Re-reads the active keys and swaps the table. On failure the old table
 * stays. Blocking (the _conn variant runs inside a store job). */
core_err gw_keys_reload(gw_keys_cache *cache);
core_err gw_keys_reload_conn(gw_keys_cache *cache, store_conn *c);
/* Number of active keys in the cache. */
size_t gw_keys_count(gw_keys_cache *cache);

/* Checks a presented token (the bytes after "Bearer "). On success *out is
 * the key with a reference the caller must release; CORE_ENOTFOUND for an
 * unknown or revoked token, CORE_EINVAL for an empty or overlong one. The
 * token itself is never stored or logged. */
core_err gw_keys_verify(gw_keys_cache *cache, slice_t token, gw_key **out);
void gw_key_release(gw_key *key);

/* May this key call provider/model? A pattern is a "provider/model" id in
 * which '*' matches any run of characters (slashes included): "*", "openai/" +
 * "*", "simulator/sim-chat", "fal/google/" + "*". A key without patterns may
 * call everything. */
bool gw_keys_model_allowed(const gw_key *key, slice_t provider, slice_t model);

#endif
