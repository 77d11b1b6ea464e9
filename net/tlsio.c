#include "net/tlsio.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tlsio {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer (owned by SSL) */
    BIO *wbio; /* ciphertext for the peer (owned by SSL) */
    bool server;
    bool first_checked;
    bool plaintext_peer;
    bool failed;
    int peer_alert;
    char err[384];
};

static void on_info(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT)
        return;
    struct tlsio *t = SSL_get_app_data(ssl);
    /* RET carries the alert level in its high byte and the description in its low byte; a
     * close_notify is an orderly end, not a complaint. */
    if (t && (ret & 0xff) != SSL_AD_CLOSE_NOTIFY && t->peer_alert < 0)
        t->peer_alert = ret & 0xff;
}

int tlsio_new(struct tlsio **out, SSL_CTX *ctx, bool server, const char *server_name)
{
    *out = NULL;
    struct tlsio *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->server = server;
    t->peer_alert = -1;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        int rc = t->ssl ? -ENOMEM : -EINVAL;
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        ERR_clear_error();
        return rc;
    }
    /* An empty read BIO means "more to come", not end of stream. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_app_data(t->ssl, t);
    SSL_set_info_callback(t->ssl, on_info);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name && *server_name) {
            SSL_set_tlsext_host_name(t->ssl, server_name);
            SSL_set1_host(t->ssl, server_name);
        }
    }
    *out = t;
    return 0;
}

void tlsio_free(struct tlsio *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

bool tlsio_looks_like_tls(const uint8_t *buf, size_t len)
{
    /* A TLS record: content type 22 (handshake), then version major 3. SSLv2-style hellos are
     * not accepted by any protocol version this engine allows. */
    if (len < 1 || buf[0] != 0x16)
        return false;
    return len < 2 || buf[1] == 0x03;
}

static void describe_bytes(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    char text[24];
    size_t k = 0;
    for (size_t i = 0; i < n && i < 16 && k + 1 < sizeof(text); i++)
        text[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '.';
    text[k] = '\0';
    snprintf(out, outlen, "first byte 0x%02x, \"%s\"", n ? p[0] : 0, text);
}

int tlsio_feed(struct tlsio *t, const void *data, size_t len)
{
    if (t->failed)
        return TLSIO_ERROR;
    if (!len)
        return 0;
    if (t->server && !t->first_checked) {
        t->first_checked = true;
        if (!tlsio_looks_like_tls(data, len)) {
            char what[80];
            describe_bytes(data, len, what, sizeof(what));
            t->plaintext_peer = true;
            t->failed = true;
            snprintf(t->err, sizeof(t->err),
                     "the client sent plaintext to a TLS port (%s, not a TLS handshake record): "
                     "enable TLS on the client or send to the plaintext port",
                     what);
            return TLSIO_ERROR;
        }
    }
    if (len > (size_t)INT32_MAX || BIO_write(t->rbio, data, (int)len) != (int)len) {
        t->failed = true;
        snprintf(t->err, sizeof(t->err), "out of memory buffering TLS records");
        return TLSIO_ERROR;
    }
    return 0;
}

static const char *alert_words(int alert)
{
    return SSL_alert_desc_string_long(alert);
}

/* Fills T->err from OpenSSL's error queue, the verification result and the peer's alert. */
static void record_failure(struct tlsio *t, int sslerr)
{
    t->failed = true;
    char reasons[256] = "";
    size_t k = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        char code[32];
        if (!r) {
            snprintf(code, sizeof(code), "error %d", ERR_GET_REASON(e));
            r = code;
        }
        if (k && k + 2 < sizeof(reasons))
            k += (size_t)snprintf(reasons + k, sizeof(reasons) - k, "; ");
        if (k < sizeof(reasons))
            k += (size_t)snprintf(reasons + k, sizeof(reasons) - k, "%s", r);
        if (k >= sizeof(reasons))
            k = sizeof(reasons) - 1;
    }
    if (!reasons[0])
        snprintf(reasons, sizeof(reasons), "%s",
                 sslerr == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : "TLS failure");
    long verify = SSL_get_verify_result(t->ssl);
    size_t n = (size_t)snprintf(t->err, sizeof(t->err), "%s", reasons);
    if (verify != X509_V_OK && n < sizeof(t->err))
        n += (size_t)snprintf(t->err + n, sizeof(t->err) - n, " (certificate verification: %s)",
                              X509_verify_cert_error_string(verify));
    if (t->peer_alert >= 0 && n < sizeof(t->err))
        snprintf(t->err + n, sizeof(t->err) - n, " (the peer sent the alert '%s')",
                 alert_words(t->peer_alert));
}

static int step_result(struct tlsio *t, int rc)
{
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return TLSIO_WANT;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return TLSIO_CLOSED;
    }
    record_failure(t, e);
    return TLSIO_ERROR;
}

int tlsio_handshake(struct tlsio *t)
{
    if (t->failed)
        return TLSIO_ERROR;
    if (SSL_is_init_finished(t->ssl))
        return 1;
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1)
        return 1;
    int r = step_result(t, rc);
    return r == TLSIO_CLOSED ? TLSIO_ERROR : r;
}

long tlsio_read(struct tlsio *t, void *out, size_t cap)
{
    if (t->failed)
        return TLSIO_ERROR;
    if (cap > (size_t)INT32_MAX)
        cap = (size_t)INT32_MAX;
    ERR_clear_error();
    int rc = SSL_read(t->ssl, out, (int)cap);
    if (rc > 0)
        return rc;
    return step_result(t, rc);
}

int tlsio_write(struct tlsio *t, const void *data, size_t len)
{
    if (t->failed)
        return TLSIO_ERROR;
    const uint8_t *p = data;
    while (len) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        ERR_clear_error();
        int rc = SSL_write(t->ssl, p, chunk);
        if (rc <= 0) {
            /* A memory write BIO never blocks: anything but success is a failure. */
            int r = step_result(t, rc);
            if (r != TLSIO_ERROR) {
                t->failed = true;
                snprintf(t->err, sizeof(t->err), "write before the handshake completed");
            }
            return TLSIO_ERROR;
        }
        p += rc;
        len -= (size_t)rc;
    }
    return 0;
}

void tlsio_shutdown(struct tlsio *t)
{
    if (t->failed || !SSL_is_init_finished(t->ssl))
        return;
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t tlsio_pending(const struct tlsio *t)
{
    return BIO_ctrl_pending(t->wbio);
}

size_t tlsio_take(struct tlsio *t, void *out, size_t cap)
{
    size_t have = BIO_ctrl_pending(t->wbio);
    if (cap > have)
        cap = have;
    if (cap > (size_t)INT32_MAX)
        cap = (size_t)INT32_MAX;
    if (!cap)
        return 0;
    int n = BIO_read(t->wbio, out, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

bool tlsio_established(const struct tlsio *t)
{
    return !t->failed && SSL_is_init_finished(t->ssl);
}

const char *tlsio_error(const struct tlsio *t)
{
    return t->err;
}

int tlsio_peer_alert(const struct tlsio *t)
{
    return t->peer_alert;
}

bool tlsio_plaintext_peer(const struct tlsio *t)
{
    return t->plaintext_peer;
}

SSL *tlsio_ssl(struct tlsio *t)
{
    return t->ssl;
}
