/*
 * hub_limits.c - per-org and per-member rpm/tpm limits (see hub_limits.h):
 * the in-process backend on core/ratelimit.h, the Redis backend as one Lua
 * script evaluated atomically by Redis, and the org_limits configuration rows.
 */
#include "hub_limits.h"

#include "../core/log.h"
#include "../core/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#define MS_PER_MIN       60000
#define LOCAL_BUCKETS    65536
#define REDIS_TIMEOUT_MS 2000
#define REDIS_KEY_PREFIX "teamhub:rl:"
#define BUCKET_KEY_MAX   160

static const char *const kind_names[HUB_LIMIT__COUNT] = {"org_rpm", "org_tpm", "user_rpm",
                                                         "user_tpm"};

const char *hub_limit_kind_name(hub_limit_kind k)
{
    return (unsigned)k < HUB_LIMIT__COUNT ? kind_names[k] : "limit";
}

struct hub_limits {
    /* in-process */
    rl_table *table;
    pthread_mutex_t mu; /* makes check-all-then-take-all atomic */
    /* redis */
    bool redis;
    char host[256];
    int port;
    char password[256];
    int db;
    pthread_key_t conn_key;
};

/* The buckets of one call: key and per-minute limit (0 = not applicable). */
typedef struct {
    char key[HUB_LIMIT__COUNT][BUCKET_KEY_MAX];
    int64_t limit[HUB_LIMIT__COUNT];
} bucket_set;

static void bucket_set_init(bucket_set *b, const hub_limit_config *cfg, const char *org_id,
                            const char *user_id)
{
    memset(b, 0, sizeof *b);
    for (int k = 0; k < HUB_LIMIT__COUNT; k++) {
        bool user = k == HUB_LIMIT_USER_RPM || k == HUB_LIMIT_USER_TPM;
        bool rpm = k == HUB_LIMIT_ORG_RPM || k == HUB_LIMIT_USER_RPM;
        b->limit[k] = cfg ? cfg->value[k] : 0;
        if (b->limit[k] < 0) b->limit[k] = 0;
        if (b->limit[k] > HUB_LIMIT_MAX) b->limit[k] = HUB_LIMIT_MAX;
        if (user && (!user_id || !*user_id)) b->limit[k] = 0;
        if (user)
            snprintf(b->key[k], BUCKET_KEY_MAX, "%su:%s:%s:%s", REDIS_KEY_PREFIX, org_id, user_id,
                     rpm ? "rpm" : "tpm");
        else
            snprintf(b->key[k], BUCKET_KEY_MAX, "%so:%s:%s", REDIS_KEY_PREFIX, org_id,
                     rpm ? "rpm" : "tpm");
    }
}

static int64_t cost_of(hub_limit_kind k, int64_t tokens)
{
    if (k == HUB_LIMIT_ORG_RPM || k == HUB_LIMIT_USER_RPM) return 1;
    return tokens > 0 ? tokens : 1; /* a call always needs some token room */
}

/* Fills the header fields: the refusing bucket, or the request bucket with
 * the least room. */
static void summarize(hub_limit_verdict *v, const int64_t reset_ms[HUB_LIMIT__COUNT])
{
    int pick = -1;
    if (!v->allowed) {
        pick = (int)v->refused_by;
    } else {
        const hub_limit_kind req[] = {HUB_LIMIT_ORG_RPM, HUB_LIMIT_USER_RPM};
        for (size_t i = 0; i < ARRAY_LEN(req); i++) {
            hub_limit_kind k = req[i];
            if (v->bucket_limit[k] <= 0) continue;
            if (pick < 0 || v->bucket_remaining[k] < v->bucket_remaining[pick]) pick = (int)k;
        }
    }
    if (pick < 0) return;
    v->limit = v->bucket_limit[pick];
    v->remaining = v->bucket_remaining[pick];
    v->reset_ms = reset_ms[pick];
}

/* ---- in-process ---- */

static core_err local_decide(hub_limits *l, const bucket_set *b, int64_t tokens, int64_t now_ms,
                             bool take, hub_limit_verdict *out)
{
    int64_t reset_ms[HUB_LIMIT__COUNT] = {0};
    rl_result r[HUB_LIMIT__COUNT];
    memset(r, 0, sizeof r);
    pthread_mutex_lock(&l->mu);
    for (int k = 0; k < HUB_LIMIT__COUNT; k++) {
        if (b->limit[k] <= 0) continue;
        rl_peek(l->table, b->key[k], b->limit[k], now_ms, &r[k]);
        int64_t need = MIN(cost_of((hub_limit_kind)k, tokens), b->limit[k]);
        if (take && out->allowed && r[k].remaining < need) {
            out->allowed = false;
            out->refused_by = (hub_limit_kind)k;
            /* whole units: the time until `need` of them are back */
            out->retry_after_ms = (need - r[k].remaining) * MS_PER_MIN / b->limit[k];
            if (out->retry_after_ms <= 0) out->retry_after_ms = 1;
        }
    }
    if (take && out->allowed) {
        for (int k = 0; k < HUB_LIMIT__COUNT; k++) {
            if (b->limit[k] <= 0) continue;
            rl_take(l->table, b->key[k], b->limit[k], cost_of((hub_limit_kind)k, tokens), now_ms,
                    &r[k]);
        }
    }
    pthread_mutex_unlock(&l->mu);
    for (int k = 0; k < HUB_LIMIT__COUNT; k++) {
        out->bucket_limit[k] = b->limit[k];
        out->bucket_remaining[k] = r[k].remaining;
        reset_ms[k] = r[k].reset_ms;
    }
    summarize(out, reset_ms);
    return CORE_OK;
}

/* ---- Redis ---- */

/* KEYS: the buckets. ARGV[1]: mode (take|charge|peek); then per bucket
 * limit and cost. Returns {refused_index (0 = none), retry_after_ms, then per
 * bucket remaining and reset_ms}. Levels are micro-slots as in ratelimit.c;
 * debt is floored at one minute's worth. Redis' clock, so nodes agree. */
static const char LIMIT_SCRIPT[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local mode = ARGV[1]\n"
    "local n = #KEYS\n"
    "local lv, lim, cost = {}, {}, {}\n"
    "local refused, retry = 0, 0\n"
    "for i = 1, n do\n"
    "  lim[i] = tonumber(ARGV[2 * i])\n"
    "  cost[i] = tonumber(ARGV[2 * i + 1])\n"
    "  local cap = lim[i] * 60000\n"
    "  local v = redis.call('HMGET', KEYS[i], 'l', 't')\n"
    "  local level = tonumber(v[1]) or cap\n"
    "  local last = tonumber(v[2]) or now\n"
    "  if now > last then level = level + (now - last) * lim[i] end\n"
    "  if level > cap then level = cap end\n"
    "  lv[i] = level\n"
    "  if mode == 'take' and refused == 0 then\n"
    "    local need = math.min(cost[i], lim[i]) * 60000\n"
    "    if level < need or level <= 0 then\n"
    "      refused = i\n"
    "      retry = math.ceil((need - level) / lim[i])\n"
    "      if retry < 1 then retry = 1 end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {refused, retry}\n"
    "for i = 1, n do\n"
    "  local cap = lim[i] * 60000\n"
    "  if refused == 0 and mode == 'take' then lv[i] = lv[i] - cost[i] * 60000 end\n"
    "  if mode == 'charge' then\n"
    "    lv[i] = lv[i] - cost[i] * 60000\n"
    "    if lv[i] < -cap then lv[i] = -cap end\n"
    "  end\n"
    "  if mode ~= 'peek' then\n"
    "    redis.call('HSET', KEYS[i], 'l', lv[i], 't', now)\n"
    "    redis.call('PEXPIRE', KEYS[i], 180000)\n"
    "  end\n"
    "  local rem = 0\n"
    "  if lv[i] > 0 then rem = math.floor(lv[i] / 60000) end\n"
    "  out[#out + 1] = rem\n"
    "  out[#out + 1] = math.ceil((cap - lv[i]) / lim[i])\n"
    "end\n"
    "return out\n";

#ifdef HAVE_HIREDIS
typedef struct {
    redisContext *ctx;
    char sha[64];
} redis_conn;

static void redis_conn_free(void *p)
{
    redis_conn *rc = p;
    if (!rc) return;
    if (rc->ctx) redisFree(rc->ctx);
    free(rc);
}

static void redis_conn_drop(redis_conn *rc)
{
    if (rc->ctx) redisFree(rc->ctx);
    rc->ctx = NULL;
    rc->sha[0] = '\0';
}

static bool reply_ok(const redisReply *r)
{
    return r && r->type != REDIS_REPLY_ERROR;
}

/* This thread's connection, connected (and authenticated, db selected,
 * script loaded) on first use or after a failure. NULL when Redis is down. */
static redis_conn *redis_get(hub_limits *l)
{
    redis_conn *rc = pthread_getspecific(l->conn_key);
    if (!rc) {
        rc = calloc(1, sizeof *rc);
        if (!rc) return NULL;
        pthread_setspecific(l->conn_key, rc);
    }
    if (rc->ctx && rc->sha[0]) return rc;
    redis_conn_drop(rc);
    struct timeval tv = {REDIS_TIMEOUT_MS / 1000, (REDIS_TIMEOUT_MS % 1000) * 1000};
    rc->ctx = redisConnectWithTimeout(l->host, l->port, tv);
    if (!rc->ctx || rc->ctx->err) {
        log_msgf(LOG_WARN, NULL, "rate limits: cannot connect to Redis at %s:%d: %s", l->host,
                 l->port, rc->ctx ? rc->ctx->errstr : "out of memory");
        redis_conn_drop(rc);
        return NULL;
    }
    redisSetTimeout(rc->ctx, tv);
    redisReply *r = NULL;
    bool ok = true;
    if (l->password[0]) {
        r = redisCommand(rc->ctx, "AUTH %s", l->password);
        ok = reply_ok(r);
        freeReplyObject(r);
    }
    if (ok && l->db) {
        r = redisCommand(rc->ctx, "SELECT %d", l->db);
        ok = reply_ok(r);
        freeReplyObject(r);
    }
    if (ok) {
        r = redisCommand(rc->ctx, "SCRIPT LOAD %s", LIMIT_SCRIPT);
        ok = reply_ok(r) && r->type == REDIS_REPLY_STRING && r->len < sizeof rc->sha;
        if (ok) snprintf(rc->sha, sizeof rc->sha, "%s", r->str);
        freeReplyObject(r);
    }
    if (!ok) {
        log_msgf(LOG_WARN, NULL, "rate limits: Redis at %s:%d refused the set-up", l->host,
                 l->port);
        redis_conn_drop(rc);
        return NULL;
    }
    return rc;
}

static core_err redis_decide(hub_limits *l, const bucket_set *b, int64_t tokens, const char *mode,
                             hub_limit_verdict *out)
{
    int idx[HUB_LIMIT__COUNT], n = 0;
    for (int k = 0; k < HUB_LIMIT__COUNT; k++)
        if (b->limit[k] > 0) idx[n++] = k;
    for (int k = 0; k < HUB_LIMIT__COUNT; k++)
        out->bucket_limit[k] = b->limit[k];
    if (n == 0) return CORE_OK;

    /* EVALSHA sha n key.. mode (limit cost)..: at most 4 + 4 + 1 + 8 args */
    const char *argv[20];
    size_t argl[20];
    char nbuf[8], nums[HUB_LIMIT__COUNT][2][24];
    int argc = 0;
    redis_conn *rc = NULL;
    redisReply *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = redis_get(l);
        if (!rc) return CORE_EIO;
        argc = 0;
        argv[argc++] = "EVALSHA";
        argv[argc++] = rc->sha;
        snprintf(nbuf, sizeof nbuf, "%d", n);
        argv[argc++] = nbuf;
        for (int i = 0; i < n; i++)
            argv[argc++] = b->key[idx[i]];
        argv[argc++] = mode;
        for (int i = 0; i < n; i++) {
            int64_t cost = cost_of((hub_limit_kind)idx[i], tokens);
            if (strcmp(mode, "charge") == 0) cost = tokens;
            snprintf(nums[i][0], sizeof nums[i][0], "%lld", (long long)b->limit[idx[i]]);
            snprintf(nums[i][1], sizeof nums[i][1], "%lld", (long long)cost);
            argv[argc++] = nums[i][0];
            argv[argc++] = nums[i][1];
        }
        for (int i = 0; i < argc; i++)
            argl[i] = strlen(argv[i]);
        r = redisCommandArgv(rc->ctx, argc, argv, argl);
        if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r); /* the server lost its scripts (restart, SCRIPT FLUSH) */
            r = NULL;
            rc->sha[0] = '\0';
            continue;
        }
        break;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 + 2 * (size_t)n) {
        log_msgf(LOG_WARN, NULL, "rate limits: Redis answered %s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "nothing usable");
        if (!r && rc) redis_conn_drop(rc); /* I/O error: the context is unusable */
        freeReplyObject(r);
        return CORE_EIO;
    }
    int64_t reset_ms[HUB_LIMIT__COUNT] = {0};
    long long refused = r->element[0]->integer;
    if (refused > 0 && refused <= n) {
        out->allowed = false;
        out->refused_by = (hub_limit_kind)idx[refused - 1];
        out->retry_after_ms = r->element[1]->integer;
    }
    for (int i = 0; i < n; i++) {
        out->bucket_remaining[idx[i]] = r->element[2 + 2 * i]->integer;
        reset_ms[idx[i]] = r->element[3 + 2 * i]->integer;
    }
    freeReplyObject(r);
    summarize(out, reset_ms);
    return CORE_OK;
}
#endif

/* ---- public ---- */

static core_err parse_redis_url(hub_limits *l, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(err, errlen, "REDIS_URL must start with redis://");
        return CORE_EINVAL;
    }
    p += 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(l->password, sizeof l->password, "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    const char *end = p + strcspn(p, ":/");
    if (end == p || (size_t)(end - p) >= sizeof l->host) {
        snprintf(err, errlen, "REDIS_URL has no host");
        return CORE_EINVAL;
    }
    snprintf(l->host, sizeof l->host, "%.*s", (int)(end - p), p);
    l->port = 6379;
    if (*end == ':') {
        char *stop = NULL;
        long port = strtol(end + 1, &stop, 10);
        if (port <= 0 || port > 65535 || (*stop && *stop != '/')) {
            snprintf(err, errlen, "REDIS_URL has a bad port");
            return CORE_EINVAL;
        }
        l->port = (int)port;
        end = stop;
    }
    if (*end == '/' && end[1]) {
        char *stop = NULL;
        long db = strtol(end + 1, &stop, 10);
        if (db < 0 || db > 1000 || *stop) {
            snprintf(err, errlen, "REDIS_URL has a bad database number");
            return CORE_EINVAL;
        }
        l->db = (int)db;
    }
    return CORE_OK;
}

core_err hub_limits_new(const char *redis_url, hub_limits **out, char *err, size_t errlen)
{
    *out = NULL;
    hub_limits *l = calloc(1, sizeof *l);
    if (!l) return CORE_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    if (redis_url && *redis_url) {
#ifdef HAVE_HIREDIS
        core_err e = parse_redis_url(l, redis_url, err, errlen);
        if (e) {
            pthread_mutex_destroy(&l->mu);
            free(l);
            return e;
        }
        l->redis = true;
        if (pthread_key_create(&l->conn_key, redis_conn_free) != 0) {
            pthread_mutex_destroy(&l->mu);
            free(l);
            return CORE_ENOMEM;
        }
#else
        (void)parse_redis_url;
        snprintf(err, errlen, "REDIS_URL is set but teamhub was built without hiredis");
        pthread_mutex_destroy(&l->mu);
        free(l);
        return CORE_EINVAL;
#endif
    } else {
        l->table = rl_new(LOCAL_BUCKETS);
        if (!l->table) {
            pthread_mutex_destroy(&l->mu);
            free(l);
            return CORE_ENOMEM;
        }
    }
    *out = l;
    return CORE_OK;
}

void hub_limits_free(hub_limits *l)
{
    if (!l) return;
#ifdef HAVE_HIREDIS
    if (l->redis) {
        /* the calling thread's connection; worker threads freed theirs at exit */
        redis_conn_free(pthread_getspecific(l->conn_key));
        pthread_setspecific(l->conn_key, NULL);
        pthread_key_delete(l->conn_key);
    }
#endif
    rl_free(l->table);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

bool hub_limits_distributed(const hub_limits *l)
{
    return l && l->redis;
}

static core_err decide(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                       const char *user_id, int64_t tokens, int64_t now_ms, const char *mode,
                       hub_limit_verdict *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = true;
    if (!l || !org_id) return CORE_EINVAL;
    bucket_set b;
    bucket_set_init(&b, cfg, org_id, user_id);
#ifdef HAVE_HIREDIS
    if (l->redis) return redis_decide(l, &b, tokens, mode, out);
#endif
    if (strcmp(mode, "charge") == 0) {
        for (int k = 0; k < HUB_LIMIT__COUNT; k++)
            if (b.limit[k] > 0 && (k == HUB_LIMIT_ORG_TPM || k == HUB_LIMIT_USER_TPM))
                rl_charge(l->table, b.key[k], b.limit[k], tokens, now_ms);
        return CORE_OK;
    }
    return local_decide(l, &b, tokens, now_ms, strcmp(mode, "take") == 0, out);
}

core_err hub_limits_admit(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                          const char *user_id, int64_t input_tokens, int64_t now_ms,
                          hub_limit_verdict *out)
{
    return decide(l, cfg, org_id, user_id, input_tokens, now_ms, "take", out);
}

core_err hub_limits_charge(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                           const char *user_id, int64_t tokens, int64_t now_ms)
{
    if (tokens <= 0) return CORE_OK;
    hub_limit_config tpm_only;
    memset(&tpm_only, 0, sizeof tpm_only);
    if (cfg) {
        tpm_only.value[HUB_LIMIT_ORG_TPM] = cfg->value[HUB_LIMIT_ORG_TPM];
        tpm_only.value[HUB_LIMIT_USER_TPM] = cfg->value[HUB_LIMIT_USER_TPM];
    }
    hub_limit_verdict v;
    return decide(l, &tpm_only, org_id, user_id, tokens, now_ms, "charge", &v);
}

core_err hub_limits_peek(hub_limits *l, const hub_limit_config *cfg, const char *org_id,
                         const char *user_id, int64_t now_ms, hub_limit_verdict *out)
{
    return decide(l, cfg, org_id, user_id, 0, now_ms, "peek", out);
}

/* ---- configuration ---- */

static const char *const json_names[HUB_LIMIT__COUNT] = {"rpm", "tpm", "user_rpm", "user_tpm"};

core_err hub_limits_load(store_conn *conn, const char *org_id, hub_limit_config *out)
{
    memset(out, 0, sizeof *out);
    store_rows *rows = NULL;
    store_param p[] = {STORE_TEXT(org_id)};
    core_err err = store_query(
        conn, "SELECT rpm, tpm, user_rpm, user_tpm FROM org_limits WHERE org_id = $1", p, 1, &rows);
    if (err) return err;
    if (store_rows_count(rows) == 1)
        for (int k = 0; k < HUB_LIMIT__COUNT; k++)
            out->value[k] = store_rows_i64(rows, 0, (size_t)k, 0);
    store_rows_free(rows);
    return CORE_OK;
}

core_err hub_limits_save(store_conn *conn, const char *org_id, const hub_limit_config *cfg,
                         int64_t now_ms)
{
    store_param p[HUB_LIMIT__COUNT + 2];
    p[0] = STORE_TEXT(org_id);
    for (int k = 0; k < HUB_LIMIT__COUNT; k++)
        p[1 + k] = cfg->value[k] > 0 ? STORE_INT(cfg->value[k]) : STORE_NULL;
    p[HUB_LIMIT__COUNT + 1] = STORE_INT(now_ms);
    return store_exec(conn,
                      "INSERT INTO org_limits (org_id, rpm, tpm, user_rpm, user_tpm, updated_at) "
                      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id) DO UPDATE SET "
                      "rpm = excluded.rpm, tpm = excluded.tpm, user_rpm = excluded.user_rpm, "
                      "user_tpm = excluded.user_tpm, updated_at = excluded.updated_at",
                      p, HUB_LIMIT__COUNT + 2);
}

json_t *hub_limits_json(const hub_limit_config *cfg)
{
    json_t *o = json_object();
    for (int k = 0; k < HUB_LIMIT__COUNT; k++)
        json_object_set_new(o, json_names[k],
                            cfg->value[k] > 0 ? json_integer(cfg->value[k]) : json_null());
    return o;
}

static bool limit_field(const json_t *v, const char *name, int64_t *dst, char *err, size_t errlen)
{
    if (!v) return true;
    if (json_is_null(v)) {
        *dst = 0;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > HUB_LIMIT_MAX) {
        snprintf(err, errlen, "%s must be an integer from 1 to %lld per minute, or null", name,
                 (long long)HUB_LIMIT_MAX);
        return false;
    }
    *dst = (int64_t)json_integer_value(v);
    return true;
}

bool hub_limits_from_json(const json_t *body, hub_limit_config *cfg, char *err, size_t errlen)
{
    if (!json_is_object(body)) {
        snprintf(err, errlen, "send a JSON object like {\"rpm\":600,\"tpm\":200000}");
        return false;
    }
    for (int k = 0; k < HUB_LIMIT__COUNT; k++)
        if (!limit_field(json_object_get(body, json_names[k]), json_names[k], &cfg->value[k], err,
                         errlen))
            return false;
    const json_t *user = json_object_get(body, "user");
    if (user && !json_is_object(user)) {
        snprintf(err, errlen, "user must be an object like {\"rpm\":60,\"tpm\":50000}");
        return false;
    }
    if (user) {
        if (!limit_field(json_object_get(user, "rpm"), "user.rpm", &cfg->value[HUB_LIMIT_USER_RPM],
                         err, errlen) ||
            !limit_field(json_object_get(user, "tpm"), "user.tpm", &cfg->value[HUB_LIMIT_USER_TPM],
                         err, errlen))
            return false;
    }
    return true;
}
