/* What the listeners share about security: per listener, its TLS context and access rules; per
 * connection, its TLS engine. The listeners (beats.c, syslogd.c) call these at accept, on each read
 * and before each write, so that the parsers see plaintext exactly as on a plaintext port.
 * Loop thread only; sec_listener_init on the main thread before the loop runs, and on the loop
 * thread for a reload. */
#ifndef AMSI_SERVER_SECURE_H
#define AMSI_SERVER_SECURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "net/tls_options.h"
#include "server/acl.h"
#include "server/tls.h"

struct sec_listener {
    char name[16];                 /* "beats", "syslog", "syslog-tls": the option prefix */
    struct tls_server *tls;        /* NULL: a plaintext listener */
    const struct tls_options *opt; /* NULL: a plaintext listener */
    struct acl acl;
    uint64_t handshakes, handshake_failures, plaintext_on_tls;
    uint64_t handshake_timeouts; /* among the failures: handshakes that did not complete in time */
};

/* Sets up listener NAME: TLS from TLS (NULL for a plaintext listener), its allowed networks
 * (NETWORKS, one per line) and peers (PEERS, one per line; TLS only). Returns 0, or -1 with the
 * reason, naming the option, in WHY. */
int sec_listener_init(struct sec_listener *l, const char *name, const struct tls_options *tls,
                      const char *networks, const char *peers, char *why, size_t whylen);

/* Releases the listener's context and rules (connections keep their engines). */
void sec_listener_free(struct sec_listener *l);

/* A reload: L takes the access rules and the TLS context of FROM (a listener set up with
 * sec_listener_init from the new configuration, left empty), whose TLS options now live at OPT;
 * L keeps its counters. Established connections keep what they started with. */
void sec_listener_replace(struct sec_listener *l, struct sec_listener *from,
                          const struct tls_options *opt);

/* True when L and FROM hold the same allowed networks and peers. */
bool sec_listener_same_rules(const struct sec_listener *l, const struct sec_listener *from);

/* One line of counters for a listener that refused or failed anything (or has TLS). */
void sec_listener_log_counters(const struct sec_listener *l);

/* At accept: true when ADDR may connect; otherwise the refusal is counted and logged (once per
 * host and minute) under LOGNAME. */
bool sec_admit(struct sec_listener *l, const struct sockaddr *addr, const char *peer,
               const char *logname, uint64_t now_ms);

/* Like sec_admit for an accepted TCP handle. */
bool sec_admit_tcp(struct sec_listener *l, uv_tcp_t *tcp, const char *peer, const char *logname,
                   uint64_t now_ms);

/* The TLS state of one connection (embedded in the connection; zeroed means plaintext). */
struct sec_conn {
    struct tlsio *io;
    uint64_t started_ms;
    json_t *peer; /* the session and the client certificate, once established */
};

/* Starts TLS on an accepted connection of a TLS listener. Returns 0 or -ENOMEM. */
int sec_conn_start(struct sec_listener *l, struct sec_conn *sc, uint64_t now_ms);

/* Frees the engine and the peer description. */
void sec_conn_free(struct sec_conn *sc);

/* Takes N bytes of ciphertext and appends the plaintext they carry to PLAIN. Once the handshake
 * completes, the peer is checked against the listener's allowed peers. Returns 0; 1 when the
 * client closed the TLS session; -1 when the connection must close, with the reason in WHY. */
int sec_conn_input(struct sec_listener *l, struct sec_conn *sc, const char *peer, const uint8_t *in,
                   size_t n, struct buf *plain, uint64_t now_ms, char *why, size_t whylen);

/* Encrypts LEN bytes to send. Returns 0 or -1. */
int sec_conn_write(struct sec_conn *sc, const void *data, size_t len);

/* Writes the ciphertext the engine has ready (handshake messages, alerts, encrypted data) on
 * STREAM, the request and the bytes in one allocation; CB runs with the request's data set to CTX
 * and must release the request with sec_write_free. Returns 0 (CB will run), 1 when nothing was
 * waiting, or a negative errno (nothing was written; the caller closes the connection). */
int sec_conn_send(struct sec_conn *sc, uv_stream_t *stream, void *ctx, uv_write_cb cb);

/* Releases a request of sec_conn_send (in its callback). */
void sec_write_free(uv_write_t *req);

/* True when the handshake has not completed within the listener's handshake timeout. */
bool sec_conn_handshake_expired(const struct sec_listener *l, const struct sec_conn *sc,
                                uint64_t now_ms);

/* True once the TLS session is established (and the peer allowed). */
bool sec_conn_established(const struct sec_conn *sc);

/* A loop-thread scratch buffer for ciphertext reads (READ_SCRATCH bytes). */
#define SEC_READ_SCRATCH (64u * 1024u)
char *sec_read_scratch(void);

#endif
