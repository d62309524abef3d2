/*
 * hub_auth.h - the pure building blocks of teamhub authentication: password
 * hashing (argon2id), secret tokens for sessions, API tokens and invitation
 * links, cookie handling, the CSRF origin check and the login throttle rule.
 * No I/O and no database here; the HTTP layer (hub_api_auth.c) wires them up.
 *
 * Secret tokens have the form "<id>.<secret>": the id (e.g. "ses_01j...") is the
 * row's primary key, the secret is 32 random bytes in base64url. Only the
 * SHA-256 of the secret is stored; verification looks the row up by id and
 * compares hashes in constant time, so neither timing nor a leaked table
 * reveals a usable token.
 *
 * Threads: everything is thread-safe. hub_password_hash/verify are SLOW on
 * purpose (tens of milliseconds, 64 MiB): call them only from a store job or a
 * uv_queue_work worker, never on an event-loop thread.
 */
#ifndef HUB_AUTH_H
#define HUB_AUTH_H

#include "../core/base.h"
#include "../core/buf.h"

#include <sodium.h>

/* Must run once before any other function (wraps sodium_init). */
core_err hub_auth_init(void);

/* ---- passwords ---- */
#define HUB_PASSWORD_MIN      8
#define HUB_PASSWORD_MAX      256
#define HUB_PASSWORD_HASH_MAX crypto_pwhash_STRBYTES

/* argon2id hash in libsodium's self-describing string form. CORE_EINVAL when
 * the password length is outside [HUB_PASSWORD_MIN, HUB_PASSWORD_MAX],
 * CORE_ENOMEM when the memory-hard step could not allocate. */
core_err hub_password_hash(slice_t password, char out[HUB_PASSWORD_HASH_MAX]);
/* true when password matches hash (constant time in libsodium). */
bool hub_password_verify(slice_t password, const char *hash);
/* A valid hash of a random password: verified against when the account does
 * not exist, so a login for an unknown email costs the same time. */
const char *hub_password_dummy_hash(void);

/* ---- secret tokens ---- */
#define HUB_SECRET_HASH_HEX 65  /* SHA-256 hex + NUL */
#define HUB_TOKEN_MAX       128 /* "<prefix 4><id 26>.<secret 43>" + NUL, with slack */

/* Makes a new token: id_out gets "<prefix><26 chars>" (needs 40 bytes),
 * token_out the full "<id>.<secret>" to hand to the client once, hash_out the
 * hex SHA-256 of the secret to store. */
core_err hub_token_new(const char *prefix, char id_out[40], char token_out[HUB_TOKEN_MAX],
                       char hash_out[HUB_SECRET_HASH_HEX]);
/* Splits "<id>.<secret>" (no copy). CORE_EPARSE when malformed or oversized. */
core_err hub_token_split(slice_t token, slice_t *id, slice_t *secret);
/* Hex SHA-256 of a secret. */
void hub_secret_hash(slice_t secret, char out[HUB_SECRET_HASH_HEX]);
/* Constant-time check of a presented secret against a stored hex hash. */
bool hub_secret_matches(slice_t secret, const char *stored_hash_hex);

/* ---- cookies ---- */
#define HUB_SESSION_COOKIE "teamhub_session"
/* Value of cookie `name` in a Cookie request header, or SLICE_NULL. */
slice_t hub_cookie_get(slice_t cookie_header, const char *name);
/* Appends a Set-Cookie value for the session (HttpOnly, SameSite=Lax, Path=/,
 * Max-Age; Secure when secure). max_age_s == 0 expires the cookie. */
core_err hub_cookie_session(buf_t *out, const char *value, int64_t max_age_s, bool secure);

/* ---- CSRF ---- */
/* Cookie-authenticated requests with an unsafe method (anything but GET, HEAD,
 * OPTIONS) must carry an Origin - or, when the browser sent none, a Referer -
 * whose host[:port] equals the Host header. Safe methods always pass. An
 * absent or "null" Origin with no usable Referer fails. */
bool hub_csrf_origin_ok(slice_t method, slice_t origin, slice_t referer, slice_t host);

/* ---- login throttling ---- */
#define HUB_LOGIN_MAX_FAILURES 5 /* failures allowed per window */
#define HUB_LOGIN_WINDOW_MS    (15 * 60 * 1000)
#define HUB_LOGIN_LOCK_MS      (15 * 60 * 1000)

typedef struct {
    int64_t failures;
    int64_t window_start_ms;
    int64_t locked_until_ms;
} hub_throttle;

/* Milliseconds the caller must still wait before another attempt, 0 if allowed. */
int64_t hub_throttle_wait_ms(const hub_throttle *t, int64_t now_ms);
/* Records a failed attempt; locks the key once the window holds too many. */
void hub_throttle_fail(hub_throttle *t, int64_t now_ms);

/* ---- small validators ---- */
/* Plausible e-mail address (one '@', non-empty parts, a dot in the domain,
 * no spaces or control bytes, at most 254 bytes). */
bool hub_email_valid(slice_t email);

#endif
