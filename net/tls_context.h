/* The pieces of an OpenSSL context that the listeners (server/tls.c) and the relay's client
 * (relay/) build alike from their options: protocols, CAs, a certificate and its key. Each names
 * the option at fault as PREFIX followed by the option's own name ("beats.ssl-" gives
 * "beats.ssl-key", "relay.beats.ssl." gives "relay.beats.ssl.key") and the file, with the
 * system's or OpenSSL's reason. Main thread (or whichever thread builds the context). */
#ifndef AMSI_NET_TLS_CONTEXT_H
#define AMSI_NET_TLS_CONTEXT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* The last OpenSSL reason on the thread's error queue, which is emptied, into BUF; returns BUF. */
const char *tls_ssl_reason(char *buf, size_t len);

/* Limits CTX to the protocols of LIST (one of TLSv1.1, TLSv1.2, TLSv1.3 per line): from the
 * lowest to the highest named. Returns 0, or -1 with the reason in WHY. */
int tls_ctx_protocols(SSL_CTX *ctx, const char *prefix, const char *list, char *why, size_t whylen);

/* Trusts the CA certificates of the PEM files of LIST (one per line); with CLIENT_CA_NAMES their
 * subjects also go into the CertificateRequest (a server asking for client certificates).
 * Returns 0, or -1 with the reason in WHY. */
int tls_ctx_cas(SSL_CTX *ctx, const char *prefix, const char *list, bool client_ca_names, char *why,
                size_t whylen);

/* Loads the PEM certificate chain CERT and its private KEY (PKCS#8 plain or encrypted, PKCS#1,
 * SEC1), decrypted with the first line of PASSFILE when not empty; checks they belong together.
 * Returns 0, or -1 with the reason (and a hint: a wrong or missing passphrase) in WHY. */
int tls_ctx_identity(SSL_CTX *ctx, const char *prefix, const char *cert, const char *key,
                     const char *passfile, char *why, size_t whylen);

/* A client context from O, its options named from PREFIX ("relay.beats.ssl."): the protocols, the
 * CAs (the system's when none are given), a client certificate if set, and the verification mode:
 * full and strict check the chain and the server's name (*VERIFY_HOST is then true: give the name
 * to tlsio_new), certificate the chain only, none nothing. Returns the context, or NULL with the
 * reason in WHY. */
struct tls_client_options;
SSL_CTX *tls_client_context(const struct tls_client_options *o, const char *prefix,
                            bool *verify_host, char *why, size_t whylen);

#endif
