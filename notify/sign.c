#include "notify/sign.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int b64_decode(const char *in, unsigned char *out, size_t max, size_t *len)
{
    return sodium_base642bin(out, max, in, strlen(in), NULL, len, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0
               ? 0
               : -EINVAL;
}

static void signed_content(crypto_auth_hmacsha256_state *st, const char *id, const char *ts,
                           const char *body, size_t len)
{
    crypto_auth_hmacsha256_update(st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(st, (const unsigned char *)body, len);
}

int sign_standard_v1(const char *secret, const char *id, const char *timestamp, const char *body,
                     size_t body_len, char *out, size_t outlen)
{
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    unsigned char key[256];
    size_t klen;
    if (b64_decode(secret, key, sizeof(key), &klen) < 0)
        return -EINVAL;
    /* The multi-part API takes any key length; the one-shot call wants exactly 32 bytes. */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    signed_content(&st, id, timestamp, body, body_len);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(key, sizeof(key));
    char b64[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof(b64), mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
    return (size_t)snprintf(out, outlen, "v1,%s", b64) < outlen ? 0 : -EINVAL;
}

int sign_standard_v1a(const char *key, const char *id, const char *timestamp, const char *body,
                      size_t body_len, char *out, size_t outlen)
{
    if (strncmp(key, "whsk_", 5) == 0)
        key += 5;
    unsigned char raw[128];
    size_t len;
    if (b64_decode(key, raw, sizeof(raw), &len) < 0)
        return -EINVAL;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    if (len == crypto_sign_SEEDBYTES)
        crypto_sign_seed_keypair(pk, sk, raw);
    else if (len == crypto_sign_SECRETKEYBYTES)
        memcpy(sk, raw, sizeof(sk));
    else
        return -EINVAL;
    sodium_memzero(raw, sizeof(raw));
    /* Ed25519 signs the whole message: "id.timestamp.body". */
    size_t idl = strlen(id), tsl = strlen(timestamp);
    size_t mlen = idl + 1 + tsl + 1 + body_len;
    unsigned char *msg = sodium_malloc(mlen ? mlen : 1);
    if (!msg)
        return -ENOMEM;
    memcpy(msg, id, idl);
    msg[idl] = '.';
    memcpy(msg + idl + 1, timestamp, tsl);
    msg[idl + 1 + tsl] = '.';
    memcpy(msg + idl + tsl + 2, body, body_len);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, msg, mlen, sk);
    sodium_free(msg);
    sodium_memzero(sk, sizeof(sk));
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    return (size_t)snprintf(out, outlen, "v1a,%s", b64) < outlen ? 0 : -EINVAL;
}

int sign_github(const char *secret, const char *body, size_t body_len, char *out, size_t outlen)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    return (size_t)snprintf(out, outlen, "sha256=%s", hex) < outlen ? 0 : -EINVAL;
}
