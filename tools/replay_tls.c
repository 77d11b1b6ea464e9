/* amsiwatch replay: the TLS client side (--tls). The client context every connection's engine
 * is made from; per connection, the engine (net/tlsio over memory BIOs) between the socket and
 * the sender: windows encrypted on the way out, the handshake and then the ACKs decrypted on the
 * way in; and why a handshake or a connection failed, in the user's terms. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tlsio.h"
#include "tools/replay_int.h"

/* --tls: the ciphertext of one window (or of handshake and alert records), copied out of the
 * engine, in flight on the socket. */
struct tls_write {
    uv_write_t req;
    struct rp_conn *c;
    struct rp_win *w; /* the window these records carry, or NULL */
    size_t len;
    char data[];
};

static void on_tls_write(uv_write_t *req, int status)
{
    struct tls_write *tw = (struct tls_write *)req;
    struct rp_conn *c = tw->c;
    struct rp_win *w = tw->w;
    size_t len = tw->len;
    free(tw);
    if (w) {
        rp_window_written(w, status, len);
        return;
    }
    if (status < 0 && status != UV_ECANCELED &&
        (c->state == RP_CONN_OPEN || c->state == RP_CONN_HANDSHAKE)) {
        char why[128];
        snprintf(why, sizeof(why), "write failed: %s", uv_strerror(status));
        rp_conn_drop(c, why);
    }
}

/* --tls: sends the ciphertext waiting in the engine, on behalf of window W (or NULL). Returns 0
 * or a libuv error. */
static int tls_flush(struct rp_conn *c, struct rp_win *w)
{
    size_t n = tlsio_pending(c->tls);
    if (!n)
        return 0;
    struct tls_write *tw = malloc(sizeof(*tw) + n);
    if (!tw)
        return UV_ENOMEM;
    tw->c = c;
    tw->w = w;
    tw->len = tlsio_take(c->tls, tw->data, n);
    uv_buf_t b = uv_buf_init(tw->data, (unsigned)tw->len);
    int rc = uv_write(&tw->req, (uv_stream_t *)&c->h.tcp, &b, 1, on_tls_write);
    if (rc < 0)
        free(tw);
    return rc;
}

static char plain_buf[RP_READ_BUF];

static bool verify_unknown_ca(long v)
{
    return v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE || v == X509_V_ERR_CERT_UNTRUSTED;
}

/* Why the TLS connection failed, in the user's terms first, OpenSSL's words after. */
static void replay_tls_explain(struct rp_conn *c, char *out, size_t outlen)
{
    struct rp_run *r = c->run;
    const struct rp_opts *o = &r->o;
    SSL *ssl = tlsio_ssl(c->tls);
    long v = SSL_get_verify_result(ssl);
    int alert = tlsio_peer_alert(c->tls);
    const char *detail = tlsio_error(c->tls);
    char hint[400] = "";
    if (!o->tls_insecure && v != X509_V_OK) {
        if (verify_unknown_ca(v))
            snprintf(hint, sizeof(hint),
                     "unknown CA: the server's certificate is not signed by a CA in %s%s",
                     o->tls_ca ? "--tls-ca " : "the system store",
                     o->tls_ca ? o->tls_ca : " (give the receiver's CA with --tls-ca)");
        else if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
            snprintf(
                hint, sizeof(hint),
                "name mismatch: the server's certificate does not name '%s' (--tls-server-name "
                "sets the name to check)",
                o->tls_server_name);
        else if (v == X509_V_ERR_CERT_HAS_EXPIRED)
            snprintf(hint, sizeof(hint), "the server's certificate has expired");
        else if (v == X509_V_ERR_CERT_NOT_YET_VALID)
            snprintf(hint, sizeof(hint), "the server's certificate is not valid yet");
        else
            snprintf(hint, sizeof(hint), "the server's certificate was rejected: %s",
                     X509_verify_cert_error_string(v));
    } else if (alert == SSL_AD_CERTIFICATE_REQUIRED ||
               (r->tls_cert_requested && !o->tls_cert && alert == SSL_AD_HANDSHAKE_FAILURE)) {
        snprintf(hint, sizeof(hint),
                 "the server asked for a client certificate and none was given (mutual TLS: use "
                 "--tls-cert and --tls-key)");
    } else if (o->tls_cert &&
               (alert == SSL_AD_UNKNOWN_CA || alert == SSL_AD_BAD_CERTIFICATE ||
                alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_CERTIFICATE_EXPIRED ||
                alert == SSL_AD_UNSUPPORTED_CERTIFICATE || alert == SSL_AD_ACCESS_DENIED)) {
        snprintf(hint, sizeof(hint), "the server rejected the client certificate %s", o->tls_cert);
    } else if (alert == SSL_AD_PROTOCOL_VERSION) {
        snprintf(hint, sizeof(hint),
                 "no TLS version in common with the server (this client "
                 "speaks TLS 1.2 and 1.3)");
    } else if (!tlsio_established(c->tls) &&
               (strstr(detail, "wrong version number") || strstr(detail, "packet length") ||
                strstr(detail, "record layer failure"))) {
        snprintf(hint, sizeof(hint),
                 "the receiver did not answer in TLS: is TLS enabled on that port?");
    }
    if (hint[0])
        snprintf(out, outlen, "%s (%s)", hint, detail);
    else
        snprintf(out, outlen, "%s", detail);
}

static void tls_failed(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    char why[900];
    replay_tls_explain(c, why, sizeof(why));
    rp_run_fail(r, "connection %" PRIu32 ": TLS %s with %s failed: %s", c->id,
                tlsio_established(c->tls) ? "connection" : "handshake", r->o.target, why);
}

/* Encrypts window W into the engine and writes its records with one uv_write. */
int rp_tls_send(struct rp_conn *c, struct rp_win *w)
{
    if (tlsio_write(c->tls, w->bytes, w->len) != 0) {
        tls_failed(c);
        return 1;
    }
    return tls_flush(c, w);
}

/* Ciphertext read from the receiver: the handshake, then plaintext for rp_conn_on_bytes. */
void rp_tls_on_cipher(struct rp_conn *c, const uint8_t *p, size_t n)
{
    if (tlsio_feed(c->tls, p, n) != 0) {
        tls_failed(c);
        return;
    }
    if (c->state == RP_CONN_HANDSHAKE) {
        int hs = tlsio_handshake(c->tls);
        int rc = tls_flush(c, NULL);
        if (hs == TLSIO_ERROR) {
            tls_failed(c);
            return;
        }
        if (rc < 0) {
            char why[128];
            snprintf(why, sizeof(why), "write failed: %s", uv_strerror(rc));
            rp_conn_drop(c, why);
            return;
        }
        if (hs != 1)
            return;
        struct rp_run *r = c->run;
        if (!r->tls_protocol[0]) {
            SSL *ssl = tlsio_ssl(c->tls);
            snprintf(r->tls_protocol, sizeof(r->tls_protocol), "%s", SSL_get_version(ssl));
            snprintf(r->tls_cipher, sizeof(r->tls_cipher), "%s", SSL_get_cipher_name(ssl));
        }
        rp_conn_established(c);
    }
    while (c->state == RP_CONN_OPEN) {
        long k = tlsio_read(c->tls, plain_buf, sizeof(plain_buf));
        if (k > 0) {
            c->tls_heard = true;
            rp_conn_on_bytes(c, (const uint8_t *)plain_buf, (size_t)k);
            continue;
        }
        if (k == TLSIO_WANT)
            break;
        if (k == TLSIO_CLOSED) {
            rp_conn_drop(c, "closed by the receiver (TLS close_notify)");
            return;
        }
        tls_failed(c);
        return;
    }
    /* Records the reads produced (a reply to a key update): out, in order. */
    if (c->state == RP_CONN_OPEN && tls_flush(c, NULL) < 0)
        rp_conn_drop(c, "write failed");
}

/* A new engine for a new connection (a reconnect never resumes a session): its ClientHello goes
 * out at once. Returns 0, or -1 when the run failed. */
int rp_tls_start(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    const char *name = r->o.tls_server_name;
    if (tlsio_new(&c->tls, r->ssl_ctx, false, NULL) < 0) {
        rp_run_fail(r, "cannot create a TLS connection: out of memory");
        return -1;
    }
    SSL *ssl = tlsio_ssl(c->tls);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    /* SNI carries host names only (RFC 6066); an address is checked against the IP SANs. */
    int ok = 1;
    if (!is_ip)
        ok = SSL_set_tlsext_host_name(ssl, name);
    if (ok && !r->o.tls_insecure)
        ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                   : SSL_set1_host(ssl, name);
    if (!ok) {
        ERR_clear_error();
        rp_run_fail(r, "--tls-server-name: '%s' cannot be used as a TLS server name", name);
        return -1;
    }
    c->tls_heard = false;
    if (tlsio_handshake(c->tls) == TLSIO_ERROR) {
        tls_failed(c);
        return -1;
    }
    int rc = tls_flush(c, NULL);
    if (rc < 0) {
        rp_run_fail(r, "cannot send the TLS ClientHello to %s: %s", r->o.target, uv_strerror(rc));
        return -1;
    }
    return 0;
}

int rp_tls_close_notify(struct rp_conn *c)
{
    tlsio_shutdown(c->tls);
    return tls_flush(c, NULL);
}

void rp_tls_conn_free(struct rp_conn *c)
{
    tlsio_free(c->tls);
    c->tls = NULL;
}

/* Called when a server asks for a client certificate and none is set: noted for the error
 * message, and the handshake goes on without one (the server may not require it). */
static int on_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)x509;
    (void)pkey;
    struct rp_run *r = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (r)
        r->tls_cert_requested = true;
    return 0;
}

static void ssl_reason(char *out, size_t outlen)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, outlen, "%s", why ? why : "unknown OpenSSL error");
    ERR_clear_error();
}

/* The client context every connection's engine is made from: TLS 1.2 or 1.3, the server
 * verified (unless --tls-insecure), the client certificate when given, no session resumption. */
struct ssl_ctx_st *rp_tls_context(struct rp_run *r, char *err, size_t errlen)
{
    const struct rp_opts *o = &r->o;
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_reason(why, sizeof(why));
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_app_data(ctx, r);
    if (o->tls_insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (o->tls_ca && SSL_CTX_load_verify_locations(ctx, o->tls_ca, NULL) != 1) {
            ssl_reason(why, sizeof(why));
            snprintf(err, errlen, "--tls-ca: cannot load CA certificates from '%s': %s", o->tls_ca,
                     why);
            goto fail;
        }
        if (!o->tls_ca && SSL_CTX_set_default_verify_paths(ctx) != 1) {
            ssl_reason(why, sizeof(why));
            snprintf(err, errlen, "cannot load the system's CA certificates: %s (give --tls-ca)",
                     why);
            goto fail;
        }
    }
    if (o->tls_cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1) {
            ssl_reason(why, sizeof(why));
            snprintf(err, errlen, "--tls-cert: cannot load a PEM certificate from '%s': %s",
                     o->tls_cert, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                snprintf(err, errlen, "--tls-key: '%s' is not the key of the certificate '%s'",
                         o->tls_key, o->tls_cert);
                goto fail;
            }
            ssl_reason(why, sizeof(why));
            snprintf(err, errlen, "--tls-key: cannot load a PEM private key from '%s': %s",
                     o->tls_key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            snprintf(err, errlen, "--tls-key: '%s' is not the key of the certificate '%s'",
                     o->tls_key, o->tls_cert);
            goto fail;
        }
    } else {
        SSL_CTX_set_client_cert_cb(ctx, on_cert_request);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void rp_tls_context_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}
