#include "server/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/tls_context.h"

/* Mozilla's intermediate order: AES-128-GCM first (as strong as needed, and the cheapest with
 * AES-NI: it is what Go's TLS, and so every Beat, prefers), then AES-256-GCM and ChaCha20. */
const char *const tls_default_cipher_suites = "TLS_AES_128_GCM_SHA256\n"
                                              "TLS_AES_256_GCM_SHA384\n"
                                              "TLS_CHACHA20_POLY1305_SHA256\n"
                                              "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
                                              "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
                                              "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n"
                                              "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
                                              "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"
                                              "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n"
                                              "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384\n"
                                              "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384\n"
                                              "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256\n"
                                              "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256\n"
                                              "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA\n"
                                              "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n"
                                              "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\n"
                                              "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA";

struct tls_server {
    char name[16];
    const struct tls_options *opt;
    SSL_CTX *ctx;
};

/* ---- Building a context ---- */

static bool is_tls13_suite(const char *name)
{
    return strcmp(name, "TLS_AES_128_GCM_SHA256") == 0 ||
           strcmp(name, "TLS_AES_256_GCM_SHA384") == 0 ||
           strcmp(name, "TLS_CHACHA20_POLY1305_SHA256") == 0 ||
           strcmp(name, "TLS_AES_128_CCM_SHA256") == 0 ||
           strcmp(name, "TLS_AES_128_CCM_8_SHA256") == 0;
}

/* The OpenSSL name of a TLS 1.2 suite given by its IANA or OpenSSL name, or NULL. */
static const char *openssl_cipher_name(STACK_OF(SSL_CIPHER) * all, const char *name)
{
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        if ((std && strcmp(std, name) == 0) || strcmp(SSL_CIPHER_get_name(c), name) == 0)
            return SSL_CIPHER_get_name(c);
    }
    return NULL;
}

static void append(char *dst, size_t cap, const char *sep, const char *s)
{
    size_t n = strlen(dst);
    snprintf(dst + n, cap - n, "%s%s", n ? sep : "", s);
}

static int set_ciphers(SSL_CTX *ctx, const char *list, char *why, size_t whylen)
{
    SSL_CTX *probe = SSL_CTX_new(TLS_method());
    if (!probe || !SSL_CTX_set_cipher_list(probe, "ALL:COMPLEMENTOFALL")) {
        SSL_CTX_free(probe);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(probe);
    char tls12[4096] = "", tls13[512] = "";
    const char *p = list;
    int rc = 0;
    while (*p && rc == 0) {
        size_t len = strcspn(p, "\n");
        char name[128];
        if (len >= sizeof(name)) {
            snprintf(why, whylen, "ssl-cipher-suites: a name is too long");
            rc = -1;
            break;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        p += len + (p[len] ? 1 : 0);
        if (!len)
            continue;
        if (is_tls13_suite(name)) {
            append(tls13, sizeof(tls13), ":", name);
            continue;
        }
        const char *os = openssl_cipher_name(all, name);
        if (!os) {
            snprintf(why, whylen, "ssl-cipher-suites: '%s' is not a cipher suite OpenSSL knows",
                     name);
            rc = -1;
            break;
        }
        append(tls12, sizeof(tls12), ":", os);
    }
    SSL_CTX_free(probe);
    if (rc < 0)
        return -1;
    /* An empty list for one version disables that version's suites: say so rather than fail at
     * the first handshake. */
    if ((tls12[0] && !SSL_CTX_set_cipher_list(ctx, tls12)) ||
        !SSL_CTX_set_ciphersuites(ctx, tls13)) {
        char r[160];
        snprintf(why, whylen, "ssl-cipher-suites: %s", tls_ssl_reason(r, sizeof(r)));
        return -1;
    }
    if (!tls12[0])
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (!tls13[0])
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    return 0;
}

static void describe_cert(X509 *x, char *out, size_t outlen);

static SSL_CTX *build_ctx(const char *name, const struct tls_options *o, char *why, size_t whylen)
{
    ERR_clear_error();
    if (!o->certificate[0] || !o->key[0]) {
        snprintf(why, whylen, "%s: TLS needs %s.ssl-certificate and %s.ssl-key", name, name, name);
        return NULL;
    }
    bool verify = strcmp(o->client_authentication, "none") != 0;
    if (verify && !o->certificate_authorities[0]) {
        snprintf(why, whylen,
                 "%s.ssl-client-authentication %s needs %s.ssl-certificate-authorities (the CAs "
                 "that sign the client certificates)",
                 name, o->client_authentication, name);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    char prefix[32], sub[2200];
    snprintf(prefix, sizeof(prefix), "%s.ssl-", name);
    if (tls_ctx_protocols(ctx, prefix, o->supported_protocols, why, whylen) < 0)
        goto fail;
    if (set_ciphers(ctx, o->cipher_suites[0] ? o->cipher_suites : tls_default_cipher_suites, sub,
                    sizeof(sub)) < 0) {
        snprintf(why, whylen, "%s.%s", name, sub);
        goto fail;
    }
    if (tls_ctx_identity(ctx, prefix, o->certificate, o->key, o->key_passphrase_file, why, whylen) <
        0)
        goto fail;
    if (o->certificate_authorities[0] &&
        tls_ctx_cas(ctx, prefix, o->certificate_authorities, true, why, whylen) < 0)
        goto fail;
    if (strcmp(o->client_authentication, "required") == 0)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (strcmp(o->client_authentication, "optional") == 0)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Sessions resumed by a client certificate's holder must stay within this listener. */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)name, (unsigned)strlen(name));

    X509 *cert = SSL_CTX_get0_certificate(ctx);
    if (cert && X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        char d[400];
        describe_cert(cert, d, sizeof(d));
        log_warn("tls", "%s: the certificate %s has EXPIRED (%s): every Beat will refuse it", name,
                 o->certificate, d);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- The listener's context ---- */

int tls_server_new(struct tls_server **out, const char *name, const struct tls_options *o,
                   char *why, size_t whylen)
{
    *out = NULL;
    struct tls_server *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->opt = o;
    t->ctx = build_ctx(name, o, why, whylen);
    if (!t->ctx) {
        free(t);
        return -1;
    }
    X509 *cert = SSL_CTX_get0_certificate(t->ctx);
    char d[400];
    describe_cert(cert, d, sizeof(d));
    log_info("tls", "%s: certificate %s (%s), client authentication %s", name, o->certificate, d,
             o->client_authentication);
    *out = t;
    return 0;
}

void tls_server_free(struct tls_server *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

void tls_server_replace(struct tls_server *t, struct tls_server *from, const struct tls_options *o)
{
    SSL_CTX_free(t->ctx); /* established connections hold their own reference */
    t->ctx = from->ctx;
    t->opt = o;
    free(from);
    char d[400];
    describe_cert(SSL_CTX_get0_certificate(t->ctx), d, sizeof(d));
    log_info("tls", "%s: reloaded %s (%s); new connections use it", t->name, t->opt->certificate,
             d);
}

int tls_server_accept(struct tls_server *t, struct tlsio **out)
{
    return tlsio_new(out, t->ctx, true, NULL);
}

uint64_t tls_server_handshake_timeout_ms(const struct tls_server *t)
{
    return t->opt->handshake_timeout_ms;
}

/* ---- The peer ---- */

static void name_text(const X509_NAME *n, char *out, size_t outlen)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
    int len = BIO_read(b, out, (int)outlen - 1);
    out[len > 0 ? len : 0] = '\0';
    BIO_free(b);
}

static void hex_colons(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 <= outlen; i++)
        k += (size_t)snprintf(out + k, outlen - k, i ? ":%02X" : "%02X", p[i]);
    out[k < outlen ? k : outlen - 1] = '\0';
}

static void describe_cert(X509 *x, char *out, size_t outlen)
{
    if (!x) {
        snprintf(out, outlen, "none");
        return;
    }
    char subject[256], after[64] = "?";
    name_text(X509_get_subject_name(x), subject, sizeof(subject));
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        ASN1_TIME_print(b, X509_get0_notAfter(x));
        int n = BIO_read(b, after, sizeof(after) - 1);
        after[n > 0 ? n : 0] = '\0';
        BIO_free(b);
    }
    uint8_t md[32];
    unsigned mdlen = 0;
    char fp[100] = "";
    if (X509_digest(x, EVP_sha256(), md, &mdlen))
        hex_colons(md, mdlen, fp, sizeof(fp));
    snprintf(out, outlen, "subject %s, expires %s, sha256 %s", subject, after, fp);
}

bool tls_peer_identity(SSL *ssl, char *subject, size_t subjectlen, uint8_t fingerprint[32])
{
    subject[0] = '\0';
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (!x)
        return false;
    name_text(X509_get_subject_name(x), subject, subjectlen);
    unsigned len = 0;
    uint8_t md[EVP_MAX_MD_SIZE];
    X509_digest(x, EVP_sha256(), md, &len);
    memcpy(fingerprint, md, 32);
    return true;
}

static json_t *sans_json(X509 *x)
{
    json_t *arr = json_array();
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; arr && names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        char text[300] = "";
        if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI) {
            const ASN1_IA5STRING *s = g->d.ia5;
            snprintf(text, sizeof(text), "%s:%.*s",
                     g->type == GEN_DNS     ? "DNS"
                     : g->type == GEN_EMAIL ? "email"
                                            : "URI",
                     s->length, (const char *)s->data);
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *ip = g->d.ip;
            char a[64] = "?";
            if (ip->length == 4)
                snprintf(a, sizeof(a), "%u.%u.%u.%u", ip->data[0], ip->data[1], ip->data[2],
                         ip->data[3]);
            else if (ip->length == 16)
                hex_colons(ip->data, 16, a, sizeof(a));
            snprintf(text, sizeof(text), "IP:%s", a);
        } else {
            continue;
        }
        json_array_append_new(arr, json_string(text));
    }
    GENERAL_NAMES_free(names);
    return arr;
}

json_t *tls_peer_json(SSL *ssl)
{
    const char *cipher = SSL_get_cipher_name(ssl);
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    const char *std = c ? SSL_CIPHER_standard_name(c) : NULL;
    json_t *j = json_pack("{s:s, s:s}", "protocol", SSL_get_version(ssl), "cipher",
                          std ? std : (cipher ? cipher : "?"));
    if (!j)
        return NULL;
    X509 *x = SSL_get0_peer_certificate(ssl);
    if (x) {
        char subject[512], issuer[512], fp[100];
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        name_text(X509_get_subject_name(x), subject, sizeof(subject));
        name_text(X509_get_issuer_name(x), issuer, sizeof(issuer));
        X509_digest(x, EVP_sha256(), md, &len);
        hex_colons(md, len, fp, sizeof(fp));
        json_object_set_new(j, "client",
                            json_pack("{s:s, s:s, s:o, s:s}", "subject", subject, "issuer", issuer,
                                      "san", sans_json(x), "fingerprint_sha256", fp));
    }
    return j;
}

/* ---- Why a handshake failed, from the listener's side ---- */

void tls_explain(struct tlsio *io, char *out, size_t outlen)
{
    const char *detail = tlsio_error(io);
    if (tlsio_plaintext_peer(io)) {
        snprintf(out, outlen, "%s", detail);
        return;
    }
    int alert = tlsio_peer_alert(io);
    const char *what = NULL;
    char buf[300];
    switch (alert) {
    case SSL_AD_UNKNOWN_CA:
        what = "the client does not trust the CA that signed our certificate (it sent 'unknown "
               "CA'): give the client our CA in its certificate_authorities";
        break;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
        snprintf(buf, sizeof(buf),
                 "the client rejected our certificate (it sent '%s'): check that the "
                 "certificate's SANs name the host the Beat dials and that the client trusts "
                 "its CA",
                 SSL_alert_desc_string_long(alert));
        what = buf;
        break;
    case SSL_AD_CERTIFICATE_EXPIRED:
        what = "the client rejected our certificate as expired (it sent 'certificate expired'): "
               "renew the server certificate and send SIGHUP";
        break;
    case SSL_AD_PROTOCOL_VERSION:
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_INSUFFICIENT_SECURITY:
        snprintf(buf, sizeof(buf),
                 "the client found no protocol version or cipher suite in common (it sent "
                 "'%s'): compare ssl-supported-protocols and ssl-cipher-suites with the client's",
                 SSL_alert_desc_string_long(alert));
        what = buf;
        break;
    default:
        break;
    }
    if (!what) {
        SSL *ssl = tlsio_ssl(io);
        long v = SSL_get_verify_result(ssl);
        if (strstr(detail, "peer did not return a certificate")) {
            what = "the client sent no certificate, and ssl-client-authentication is required: "
                   "configure the client's certificate and key";
        } else if (strstr(detail, "certificate verify failed")) {
            switch (v) {
            case X509_V_ERR_CERT_HAS_EXPIRED:
                what = "the client's certificate has expired: renew it";
                break;
            case X509_V_ERR_CERT_NOT_YET_VALID:
                what = "the client's certificate is not valid yet (check the clocks)";
                break;
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
                what = "the client's certificate is signed by an unknown CA (not one of "
                       "ssl-certificate-authorities)";
                break;
            default:
                snprintf(buf, sizeof(buf), "the client's certificate failed verification: %s",
                         X509_verify_cert_error_string(v));
                what = buf;
            }
        } else if (strstr(detail, "no shared cipher")) {
            what = "no cipher suite in common with the client: compare ssl-cipher-suites with "
                   "the client's";
        } else if (strstr(detail, "unsupported protocol") ||
                   strstr(detail, "wrong version number") || strstr(detail, "version too low")) {
            what = "the client offers no protocol version of ssl-supported-protocols";
        }
    }
    if (what)
        snprintf(out, outlen, "TLS handshake failed: %s [%s]", what, detail);
    else
        snprintf(out, outlen, "TLS handshake failed: %s", detail);
}
