/*
 * hub_limits.h - requests-per-minute and tokens-per-minute limits per
 * organization and per member, as token buckets (the integer scheme of
 * core/ratelimit.h: a bucket of L units a minute holds L*60000 micro-slots and
 * refills L of them each millisecond).
 *
 * Two backends behind one API:
 *   in-process (default): core/ratelimit.h tables; limits hold per node.
 *   Redis (REDIS_URL set): one Lua script per decision, run atomically by
 *     Redis over all the buckets of the call, with Redis' own clock, so the
 *     limits hold across every teamhub node sharing that Redis.
 *
 * A call is admitted only when every bucket that applies (org rpm, org tpm,
 * user rpm, user tpm) has room; then all are charged at once - a refusal
 * takes nothing from any bucket. rpm costs 1 per call; tpm is charged the
 * estimated input tokens up front and the difference to the real total when
 * usage arrives (hub_limits_charge may drive a bucket into debt, which later
 * calls wait out).
 *
 * Threads: every function may be called from any thread, but the Redis
 * backend does blocking network I/O: call admit/charge/peek only from store
 * worker threads (inside a job), never on a loop thread. Each thread keeps
 * its own Redis connection. Limits are configured per org in table
 * org_limits (hub_gov_schema.c).
 */
#ifndef HUB_LIMITS_H
#define HUB_LIMITS_H

#include "../core/base.h"
#include "../store/store.h"

#include <jansson.h>

/* The largest accepted limit (keeps bucket arithmetic exact in Redis' Lua
 * doubles: 1e9 * 60000 < 2^53). */
#define HUB_LIMIT_MAX 1000000000LL

typedef enum {
    HUB_LIMIT_ORG_RPM = 0,
    HUB_LIMIT_ORG_TPM,
    HUB_LIMIT_USER_RPM,
    HUB_LIMIT_USER_TPM,
    HUB_LIMIT__COUNT
} hub_limit_kind;

/* "org_rpm", "org_tpm", "user_rpm", "user_tpm". */
const char *hub_limit_kind_name(hub_limit_kind k);

/* Per-minute limits; 0 = unlimited. */
typedef struct {
    int64_t value[HUB_LIMIT__COUNT];
} hub_limit_config;

typedef struct {
    bool allowed;
    hub_limit_kind refused_by; /* valid when !allowed */
    /* For the RateLimit-* headers: the refusing bucket, or else the request
     * bucket (org or user rpm) with the least room. limit 0 = no limit. */
    int64_t limit;
    int64_t remaining;
    int64_t reset_ms;
    int64_t retry_after_ms; /* when refused */
    /* every bucket's state, for the status endpoint (limit 0 = none) */
    int64_t bucket_limit[HUB_LIMIT__COUNT];
    int64_t bucket_remaining[HUB_LIMIT__COUNT];
} hub_limit_verdict;

typedef struct hub_limits hub_limits;

/* redis_url NULL or "" = in-process. "redis://[:password@]host[:port][/db]".
 * The Redis server is not contacted here (workers connect on first use).
 * CORE_EINVAL with a reason in err for a malformed URL, CORE_EINVAL when
 * hiredis was not available at build time, CORE_ENOMEM. */
core_err hub_limits_new(const char *redis_url, hub_limits **out, char *err, size_t errlen);
void hub_limits_free(hub_limits *l);
/* true when backed by Redis. */
bool hub_limits_distributed(const hub_limits *l);

/* Admits one call needing input_tokens (estimate, >= 0). On CORE_OK the
 * verdict says whether it was admitted. CORE_EIO when Redis cannot be
 * reached or answers an error (callers refuse the call: a limiter that
 * cannot decide must not let everything through). */
core_err hub_limits_admit(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                          const char *user_id, int64_t input_tokens, int64_t now_ms,
                          hub_limit_verdict *out);
/* Charges tokens (may be negative: a refund of an over-estimate is
 * ignored) to the org and user tpm buckets, without refusing. */
core_err hub_limits_charge(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                           const char *user_id, int64_t tokens, int64_t now_ms);
/* The buckets' state without taking anything. */
core_err hub_limits_peek(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                         const char *user_id, int64_t now_ms, hub_limit_verdict *out);

/* ---- configuration rows (inside a store job) ---- */

/* Loads the org's limits; no row = all unlimited. */
core_err hub_limits_load(store_conn *conn, const char *org_id, hub_limit_config *out);
core_err hub_limits_save(store_conn *conn, const char *org_id, const hub_limit_config *cfg,
                         int64_t now_ms);
/* {"rpm":..,"tpm":..,"user_rpm":..,"user_tpm":..} with null for unlimited. */
json_t *hub_limits_json(const hub_limit_config *cfg);
/* Applies the fields present in body (integers 1..HUB_LIMIT_MAX or null) over
 * cfg. Returns false with a message in err when a field is malformed;
 * unknown fields are ignored. Also accepts {"user":{"rpm":..,"tpm":..}}. */
bool hub_limits_from_json(const json_t *body, hub_limit_config *cfg, char *err, size_t errlen);

#endif
