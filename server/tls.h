/* TLS of one listener: the server context built from the listener's options (certificate, key,
 * CAs, client authentication, protocols, cipher suites), reloaded on SIGHUP, and what the alerts
 * and the log say about a TLS peer. The engine of one connection is net/tlsio.
 * Threads: tls_server_new on the main thread before the loop runs (and on the loop thread for a
 * reload); the rest on the loop thread. */
#ifndef AMSI_SERVER_TLS_H
#define AMSI_SERVER_TLS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tls_options.h"
#include "net/tlsio.h"

struct tls_server;

/* The cipher suites used when ssl-cipher-suites is not set: the TLS 1.3 suites, the ECDHE AEAD
 * suites of TLS 1.2, then the ECDHE CBC suites older Beats still offer. */
extern const char *const tls_default_cipher_suites;

/* Builds the context of listener NAME ("beats", "syslog-tls") from O (borrowed: it must outlive
 * the server, for reloads). Returns 0, or -1 with the reason (naming the option and the file) in
 * WHY. */
int tls_server_new(struct tls_server **out, const char *name, const struct tls_options *o,
                   char *why, size_t whylen);

/* Frees the listener's reference to its context; connections keep theirs. NULL is a no-op. */
void tls_server_free(struct tls_server *t);

/* A reload: T takes the context of FROM (built from the new options; FROM is freed) and reads its
 * options from O (borrowed, must outlive T) from now on. New connections get the new context;
 * established connections keep theirs. */
void tls_server_replace(struct tls_server *t, struct tls_server *from, const struct tls_options *o);

/* A new server engine for one accepted connection. Returns 0 or a negative errno. */
int tls_server_accept(struct tls_server *t, struct tlsio **out);

/* The handshake timeout of the listener, in milliseconds. */
uint64_t tls_server_handshake_timeout_ms(const struct tls_server *t);

/* The peer of an established connection: its certificate's subject in RFC 2253 form (empty
 * without a certificate) and SHA-256 fingerprint. Returns true when the peer sent a certificate. */
bool tls_peer_identity(SSL *ssl, char *subject, size_t subjectlen, uint8_t fingerprint[32]);

/* What the alert's source records about the TLS session: {"protocol", "cipher", and with a client
 * certificate "client": {"subject", "issuer", "san": [...], "fingerprint_sha256"}}. New
 * reference, or NULL when out of memory. */
json_t *tls_peer_json(SSL *ssl);

/* Why the handshake of IO failed, in the words of the listener's side: what the client's alert
 * means, what was wrong with the client's certificate, or the plaintext client, followed by
 * OpenSSL's own reasons. */
void tls_explain(struct tlsio *io, char *out, size_t outlen);

#endif
