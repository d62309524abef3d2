/*
 * hub_auth.c - password hashing, secret tokens, cookies, the CSRF origin
 * check and the login throttle rule (see hub_auth.h). Pure functions over
 * libsodium; the HTTP and database sides live elsewhere.
 */
#include "hub_auth.h"

#include <pthread.h>
#include <stdio.h>

#define SECRET_BYTES 32

static char dummy_hash[HUB_PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

core_err hub_auth_init(void)
{
    return sodium_init() < 0 ? CORE_EIO : CORE_OK;
}

core_err hub_password_hash(slice_t password, char out[HUB_PASSWORD_HASH_MAX])
{
    if (password.len < HUB_PASSWORD_MIN || password.len > HUB_PASSWORD_MAX) return CORE_EINVAL;
    if (crypto_pwhash_str_alg(out, password.ptr, password.len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return CORE_ENOMEM;
    return CORE_OK;
}

bool hub_password_verify(slice_t password, const char *hash)
{
    if (!hash || password.len > HUB_PASSWORD_MAX) return false;
    return crypto_pwhash_str_verify(hash, password.ptr, password.len) == 0;
}

static void make_dummy_hash(void)
{
    unsigned char rnd[24];
    char pw[64];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    if (hub_password_hash(slice_from_cstr(pw), dummy_hash) != CORE_OK) dummy_hash[0] = '\0';
}

const char *hub_password_dummy_hash(void)
{
    pthread_once(&dummy_once, make_dummy_hash);
    return dummy_hash;
}

void hub_secret_hash(slice_t secret, char out[HUB_SECRET_HASH_HEX])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)secret.ptr, secret.len);
    sodium_bin2hex(out, HUB_SECRET_HASH_HEX, digest, sizeof digest);
}

bool hub_secret_matches(slice_t secret, const char *stored_hash_hex)
{
    if (!stored_hash_hex) return false;
    char computed[HUB_SECRET_HASH_HEX];
    hub_secret_hash(secret, computed);
    return ct_equal(computed, strlen(computed), stored_hash_hex, strlen(stored_hash_hex));
}

core_err hub_token_new(const char *prefix, char id_out[40], char token_out[HUB_TOKEN_MAX],
                       char hash_out[HUB_SECRET_HASH_HEX])
{
    if (strlen(prefix) > 8) return CORE_EINVAL;
    unsigned char raw[SECRET_BYTES];
    char secret[sodium_base64_ENCODED_LEN(SECRET_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    if (random_bytes(raw, sizeof raw) != CORE_OK) return CORE_EIO;
    sodium_bin2base64(secret, sizeof secret, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    random_id(prefix, id_out, 40);
    int n = snprintf(token_out, HUB_TOKEN_MAX, "%s.%s", id_out, secret);
    if (n < 0 || n >= HUB_TOKEN_MAX) return CORE_ETOOBIG;
    hub_secret_hash(slice_from_cstr(secret), hash_out);
    return CORE_OK;
}

static bool token_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

core_err hub_token_split(slice_t token, slice_t *id, slice_t *secret)
{
    if (token.len == 0 || token.len >= HUB_TOKEN_MAX) return CORE_EPARSE;
    size_t dot = token.len;
    for (size_t i = 0; i < token.len; i++) {
        if (token.ptr[i] == '.') {
            if (dot != token.len) return CORE_EPARSE; /* exactly one dot */
            dot = i;
        } else if (!token_char_ok(token.ptr[i])) {
            return CORE_EPARSE;
        }
    }
    if (dot == token.len || dot == 0 || dot + 1 == token.len || dot >= 40) return CORE_EPARSE;
    *id = (slice_t){token.ptr, dot};
    *secret = (slice_t){token.ptr + dot + 1, token.len - dot - 1};
    return CORE_OK;
}

slice_t hub_cookie_get(slice_t header, const char *name)
{
    slice_t want = slice_from_cstr(name);
    size_t i = 0;
    while (i < header.len) {
        size_t end = i;
        while (end < header.len && header.ptr[end] != ';')
            end++;
        slice_t pair = slice_trim((slice_t){header.ptr + i, end - i});
        const char *eq = memchr(pair.ptr, '=', pair.len);
        if (eq) {
            slice_t key = slice_trim((slice_t){pair.ptr, (size_t)(eq - pair.ptr)});
            slice_t value = slice_trim((slice_t){eq + 1, pair.len - (size_t)(eq - pair.ptr) - 1});
            if (value.len >= 2 && value.ptr[0] == '"' && value.ptr[value.len - 1] == '"')
                value = (slice_t){value.ptr + 1, value.len - 2};
            if (slice_eq(key, want)) return value;
        }
        i = end + 1;
    }
    return SLICE_NULL;
}

core_err hub_cookie_session(buf_t *out, const char *value, int64_t max_age_s, bool secure)
{
    return buf_printf(out, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s",
                      HUB_SESSION_COOKIE, value, (long long)max_age_s, secure ? "; Secure" : "");
}

/* The host[:port] part of an absolute http(s) URL, or SLICE_NULL. */
static slice_t url_authority(slice_t url)
{
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t i = 0; i < ARRAY_LEN(schemes); i++) {
        slice_t scheme = slice_from_cstr(schemes[i]);
        if (url.len > scheme.len && slice_case_eq((slice_t){url.ptr, scheme.len}, scheme)) {
            slice_t rest = {url.ptr + scheme.len, url.len - scheme.len};
            size_t n = 0;
            while (n < rest.len && rest.ptr[n] != '/' && rest.ptr[n] != '?' && rest.ptr[n] != '#')
                n++;
            slice_t auth = {rest.ptr, n};
            /* userinfo in an Origin/Referer is never legitimate */
            if (n == 0 || memchr(auth.ptr, '@', auth.len)) return SLICE_NULL;
            return auth;
        }
    }
    return SLICE_NULL;
}

bool hub_csrf_origin_ok(slice_t method, slice_t origin, slice_t referer, slice_t host)
{
    if (slice_eq_cstr(method, "GET") || slice_eq_cstr(method, "HEAD") ||
        slice_eq_cstr(method, "OPTIONS"))
        return true;
    host = slice_trim(host);
    if (host.len == 0) return false;
    slice_t source = slice_trim(origin);
    if (source.len == 0) source = slice_trim(referer);
    if (source.len == 0 || slice_eq_cstr(source, "null")) return false;
    slice_t authority = url_authority(source);
    return authority.len > 0 && slice_case_eq(authority, host);
}

int64_t hub_throttle_wait_ms(const hub_throttle *t, int64_t now_ms)
{
    return t->locked_until_ms > now_ms ? t->locked_until_ms - now_ms : 0;
}

void hub_throttle_fail(hub_throttle *t, int64_t now_ms)
{
    if (now_ms - t->window_start_ms > HUB_LOGIN_WINDOW_MS || t->window_start_ms > now_ms) {
        t->window_start_ms = now_ms;
        t->failures = 0;
    }
    t->failures++;
    if (t->failures >= HUB_LOGIN_MAX_FAILURES) t->locked_until_ms = now_ms + HUB_LOGIN_LOCK_MS;
}

bool hub_email_valid(slice_t email)
{
    if (email.len < 3 || email.len > 254) return false;
    size_t at = email.len;
    for (size_t i = 0; i < email.len; i++) {
        unsigned char c = (unsigned char)email.ptr[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' || c == ',') return false;
        if (c == '@') {
            if (at != email.len) return false;
            at = i;
        }
    }
    if (at == email.len || at == 0 || at + 1 >= email.len) return false;
    slice_t domain = {email.ptr + at + 1, email.len - at - 1};
    const char *dot = memchr(domain.ptr, '.', domain.len);
    return dot && dot != domain.ptr && domain.ptr[domain.len - 1] != '.';
}
