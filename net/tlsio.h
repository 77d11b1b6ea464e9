/* A TLS engine over memory BIOs, independent of any event loop: the caller owns the socket, feeds
 * the ciphertext it read, takes the plaintext out, puts plaintext in and sends the ciphertext the
 * engine produced. The same engine serves the daemon's listeners (server role) and the load
 * generator (client role): the role comes from the SSL_CTX and the flag given at creation.
 *
 * Threads: one engine belongs to one thread at a time (the loop thread of its connection). The
 * SSL_CTX may be shared by engines of several threads; each SSL holds a reference to it, so the
 * context outlives every engine made from it even when its creator drops its own reference. */
#ifndef AMSI_NET_TLSIO_H
#define AMSI_NET_TLSIO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tlsio;

/* tlsio_read results besides a byte count. */
#define TLSIO_WANT   0  /* nothing more until more ciphertext arrives */
#define TLSIO_CLOSED -1 /* the peer sent close_notify */
#define TLSIO_ERROR  -2 /* the connection failed: tlsio_error() says why */

/* Creates an engine for one connection from CTX (a reference is taken). SERVER selects the role;
 * a client may pass SERVER_NAME (SNI, and the name its certificate must carry when CTX verifies
 * the peer; NULL for neither). Returns 0, -ENOMEM, or -EINVAL when SSL_new fails. */
int tlsio_new(struct tlsio **out, SSL_CTX *ctx, bool server, const char *server_name);

/* Frees the engine (its SSL and BIOs). tlsio_free(NULL) is a no-op. */
void tlsio_free(struct tlsio *t);

/* Hands LEN bytes of ciphertext read from the socket to the engine. A server engine checks the
 * first bytes of the connection: data that cannot start a TLS handshake (a plaintext client on a
 * TLS port) fails the connection at once with a message saying so. Returns 0, or TLSIO_ERROR. */
int tlsio_feed(struct tlsio *t, const void *data, size_t len);

/* Advances the handshake (a client calls it first to produce its ClientHello). Returns 1 once the
 * handshake is complete, TLSIO_WANT while it needs the peer's bytes, or TLSIO_ERROR. */
int tlsio_handshake(struct tlsio *t);

/* Decrypts into OUT (CAP bytes), advancing the handshake first if needed. Returns the number of
 * plaintext bytes (> 0), TLSIO_WANT, TLSIO_CLOSED or TLSIO_ERROR. Call until it returns <= 0:
 * one feed may carry several records. */
long tlsio_read(struct tlsio *t, void *out, size_t cap);

/* Encrypts LEN bytes of plaintext; the records wait in the engine for tlsio_take. The handshake
 * must be complete. Returns 0 or TLSIO_ERROR. */
int tlsio_write(struct tlsio *t, const void *data, size_t len);

/* Queues a close_notify for the peer. */
void tlsio_shutdown(struct tlsio *t);

/* Bytes of ciphertext waiting to be sent. */
size_t tlsio_pending(const struct tlsio *t);

/* Moves up to CAP bytes of the waiting ciphertext into OUT; returns how many. */
size_t tlsio_take(struct tlsio *t, void *out, size_t cap);

/* True once the handshake completed. */
bool tlsio_established(const struct tlsio *t);

/* Why the connection failed, in words (OpenSSL's reasons, the certificate verification result
 * and any alert the peer sent); "" while nothing failed. */
const char *tlsio_error(const struct tlsio *t);

/* The TLS alert the peer sent (its description code, e.g. SSL_AD_UNKNOWN_CA), or -1. */
int tlsio_peer_alert(const struct tlsio *t);

/* True when the failure is a plaintext (non-TLS) client on a server engine. */
bool tlsio_plaintext_peer(const struct tlsio *t);

/* The SSL object, for inspecting the peer after the handshake (certificate, version, cipher). */
SSL *tlsio_ssl(struct tlsio *t);

/* True when the first bytes of BUF (LEN of them, at least 1) can start a TLS connection: a
 * handshake record (0x16) of version 3.x. With fewer than 3 bytes, judges what is there. */
bool tlsio_looks_like_tls(const uint8_t *buf, size_t len);

#endif
