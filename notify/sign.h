/* Webhook signatures (libsodium): Standard Webhooks v1 (HMAC-SHA256) and v1a (Ed25519), and the
 * GitHub-style X-Hub-Signature-256. Any thread. */
#ifndef AMSI_NOTIFY_SIGN_H
#define AMSI_NOTIFY_SIGN_H

#include <stddef.h>

/* "v1,<base64>": HMAC-SHA256 over "ID.TIMESTAMP.BODY", keyed with the base64 after "whsec_" in
 * SECRET (the prefix is optional). Returns 0, or -EINVAL for a key that is not base64. */
int sign_standard_v1(const char *secret, const char *id, const char *timestamp, const char *body,
                     size_t body_len, char *out, size_t outlen);

/* "v1a,<base64>": Ed25519 over the same content. KEY is base64 of a 32-byte seed or a 64-byte
 * secret key (an optional "whsk_" prefix is skipped). */
int sign_standard_v1a(const char *key, const char *id, const char *timestamp, const char *body,
                      size_t body_len, char *out, size_t outlen);

/* "sha256=<hex>": HMAC-SHA256 of the raw body keyed with SECRET's bytes (X-Hub-Signature-256). */
int sign_github(const char *secret, const char *body, size_t body_len, char *out, size_t outlen);

#endif
