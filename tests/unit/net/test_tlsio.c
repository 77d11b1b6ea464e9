/* The TLS engine over memory BIOs: a client and a server engine in one process, certificates made
 * at test time, bytes carried between them by hand as a socket would. */
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "net/tlsio.h"

struct id {
    EVP_PKEY *key;
    X509 *cert;
};

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    cr_assert_not_null(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A P-256 key and a certificate for CN signed by ISSUER (self-signed when NULL). */
static struct id make_id(const char *cn, const struct id *issuer, const char *san, bool ca)
{
    struct id id;
    id.key = EVP_EC_gen("P-256");
    cr_assert_not_null(id.key);
    id.cert = X509_new();
    X509_set_version(id.cert, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(id.cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(id.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(id.cert), 86400);
    X509_set_pubkey(id.cert, id.key);
    X509_NAME *name = X509_get_subject_name(id.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *icert = issuer ? issuer->cert : id.cert;
    X509_set_issuer_name(id.cert, X509_get_subject_name(icert));
    if (ca) {
        add_ext(id.cert, icert, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(id.cert, icert, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(id.cert, icert, NID_basic_constraints, "CA:FALSE");
    }
    if (san)
        add_ext(id.cert, icert, NID_subject_alt_name, san);
    cr_assert(X509_sign(id.cert, issuer ? issuer->key : id.key, EVP_sha256()) > 0);
    return id;
}

static void free_id(struct id *id)
{
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
}

static SSL_CTX *make_ctx(bool server, const struct id *self, const struct id *trust, bool verify)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    cr_assert_not_null(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (self) {
        cr_assert_eq(SSL_CTX_use_certificate(ctx, self->cert), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey(ctx, self->key), 1);
    }
    if (trust)
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trust->cert);
    if (verify)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    return ctx;
}

/* Moves every waiting byte from A to B. Returns false when B refused them. */
static bool carry(struct tlsio *a, struct tlsio *b)
{
    char buf[16384];
    size_t n;
    while ((n = tlsio_take(a, buf, sizeof(buf))) > 0) {
        if (tlsio_feed(b, buf, n) != 0)
            return false;
    }
    return true;
}

/* Runs the handshake to its end (at most 10 round trips). Returns true when both sides finished. */
static bool pump(struct tlsio *cli, struct tlsio *srv)
{
    char sink[256];
    for (int i = 0; i < 10; i++) {
        int c = tlsio_handshake(cli);
        if (!carry(cli, srv))
            return false;
        long s = tlsio_read(srv, sink, sizeof(sink));
        if (!carry(srv, cli))
            return false;
        if (c == TLSIO_ERROR || s == TLSIO_ERROR)
            return false;
        if (tlsio_established(cli) && tlsio_established(srv))
            return true;
    }
    return false;
}

struct pki {
    struct id ca, other_ca, server, client, stranger;
};

static struct pki pki;

static void setup(void)
{
    pki.ca = make_id("Test CA", NULL, NULL, true);
    pki.other_ca = make_id("Other CA", NULL, NULL, true);
    pki.server = make_id("amsiwatch.test", &pki.ca, "DNS:amsiwatch.test,IP:127.0.0.1", false);
    pki.client = make_id("winlogbeat-01", &pki.ca, NULL, false);
    pki.stranger = make_id("stranger", &pki.other_ca, NULL, false);
}

static void teardown(void)
{
    free_id(&pki.ca);
    free_id(&pki.other_ca);
    free_id(&pki.server);
    free_id(&pki.client);
    free_id(&pki.stranger);
}

TestSuite(tlsio, .init = setup, .fini = teardown);

Test(tlsio, mutual_handshake_then_data_both_ways)
{
    SSL_CTX *sctx = make_ctx(true, &pki.server, &pki.ca, true);
    SSL_CTX *cctx = make_ctx(false, &pki.client, &pki.ca, true);
    struct tlsio *srv, *cli;
    cr_assert_eq(tlsio_new(&srv, sctx, true, NULL), 0);
    cr_assert_eq(tlsio_new(&cli, cctx, false, "amsiwatch.test"), 0);
    /* Each engine holds its own reference: the creator may drop the contexts at once. */
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    cr_assert(pump(cli, srv), "handshake: client '%s', server '%s'", tlsio_error(cli),
              tlsio_error(srv));

    X509 *peer = SSL_get0_peer_certificate(tlsio_ssl(srv));
    cr_assert_not_null(peer);
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, "winlogbeat-01");

    /* Client to server: more than one record's worth. */
    static char big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    cr_assert_eq(tlsio_write(cli, big, sizeof(big)), 0);
    cr_assert(tlsio_pending(cli) > sizeof(big));
    cr_assert(carry(cli, srv));
    static char got[sizeof(big)];
    size_t have = 0;
    long n;
    while ((n = tlsio_read(srv, got + have, sizeof(got) - have)) > 0)
        have += (size_t)n;
    cr_assert_eq(n, TLSIO_WANT);
    cr_assert_eq(have, sizeof(big));
    cr_assert_eq(memcmp(got, big, have), 0);

    /* Server to client: an ACK-sized reply. */
    cr_assert_eq(tlsio_write(srv, "2A\0\0\0\x07", 6), 0);
    cr_assert(carry(srv, cli));
    char ack[16];
    n = tlsio_read(cli, ack, sizeof(ack));
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(ack, "2A\0\0\0\x07", 6), 0);

    /* An orderly close reads as TLSIO_CLOSED on the other side. */
    tlsio_shutdown(cli);
    cr_assert(carry(cli, srv));
    cr_assert_eq(tlsio_read(srv, got, sizeof(got)), TLSIO_CLOSED);
    tlsio_free(srv);
    tlsio_free(cli);
}

Test(tlsio, client_rejects_a_server_of_an_unknown_ca_and_the_server_hears_why)
{
    SSL_CTX *sctx = make_ctx(true, &pki.server, NULL, false);
    SSL_CTX *cctx = make_ctx(false, NULL, &pki.other_ca, true);
    struct tlsio *srv, *cli;
    cr_assert_eq(tlsio_new(&srv, sctx, true, NULL), 0);
    cr_assert_eq(tlsio_new(&cli, cctx, false, "amsiwatch.test"), 0);
    cr_assert_not(pump(cli, srv));
    cr_assert_not(tlsio_established(cli));
    cr_assert(strstr(tlsio_error(cli), "certificate verify failed"), "client: %s",
              tlsio_error(cli));
    cr_assert(strstr(tlsio_error(cli), "unable to get local issuer certificate"), "client: %s",
              tlsio_error(cli));
    /* The client's alert reaches the server, which can name it. */
    carry(cli, srv);
    char sink[64];
    cr_assert_eq(tlsio_read(srv, sink, sizeof(sink)), TLSIO_ERROR);
    cr_assert_eq(tlsio_peer_alert(srv), SSL_AD_UNKNOWN_CA);
    cr_assert(strstr(tlsio_error(srv), "unknown CA"), "server: %s", tlsio_error(srv));
    tlsio_free(srv);
    tlsio_free(cli);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

Test(tlsio, client_rejects_a_certificate_not_naming_the_host)
{
    SSL_CTX *sctx = make_ctx(true, &pki.server, NULL, false);
    SSL_CTX *cctx = make_ctx(false, NULL, &pki.ca, true);
    struct tlsio *srv, *cli;
    cr_assert_eq(tlsio_new(&srv, sctx, true, NULL), 0);
    cr_assert_eq(tlsio_new(&cli, cctx, false, "logstash.example"), 0);
    cr_assert_not(pump(cli, srv));
    cr_assert(strstr(tlsio_error(cli), "hostname mismatch") ||
                  strstr(tlsio_error(cli), "Hostname mismatch"),
              "client: %s", tlsio_error(cli));
    tlsio_free(srv);
    tlsio_free(cli);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

Test(tlsio, server_requiring_a_client_certificate_refuses_none_and_another_cas)
{
    SSL_CTX *sctx = make_ctx(true, &pki.server, &pki.ca, true);
    SSL_CTX *bare = make_ctx(false, NULL, &pki.ca, true);
    SSL_CTX *foreign = make_ctx(false, &pki.stranger, &pki.ca, true);
    struct tlsio *srv, *cli;

    cr_assert_eq(tlsio_new(&srv, sctx, true, NULL), 0);
    cr_assert_eq(tlsio_new(&cli, bare, false, "amsiwatch.test"), 0);
    cr_assert_not(pump(cli, srv));
    cr_assert(strstr(tlsio_error(srv), "peer did not return a certificate"), "server: %s",
              tlsio_error(srv));
    tlsio_free(srv);
    tlsio_free(cli);

    cr_assert_eq(tlsio_new(&srv, sctx, true, NULL), 0);
    cr_assert_eq(tlsio_new(&cli, foreign, false, "amsiwatch.test"), 0);
    cr_assert_not(pump(cli, srv));
    cr_assert(strstr(tlsio_error(srv), "certificate verify failed"), "server: %s",
              tlsio_error(srv));
    cr_assert(strstr(tlsio_error(srv), "unable to get local issuer certificate"), "server: %s",
              tlsio_error(srv));
    tlsio_free(srv);
    tlsio_free(cli);
    SSL_CTX_free(sctx);
    SSL_CTX_free(bare);
    SSL_CTX_free(foreign);
}

Test(tlsio, plaintext_on_a_server_engine_fails_at_the_first_bytes)
{
    SSL_CTX *sctx = make_ctx(true, &pki.server, NULL, false);
    struct tlsio *srv;
    cr_assert_eq(tlsio_new(&srv, sctx, true, NULL), 0);
    const char *beats = "2W\0\0\0\x01";
    cr_assert_eq(tlsio_feed(srv, beats, 6), TLSIO_ERROR);
    cr_assert(tlsio_plaintext_peer(srv));
    cr_assert(strstr(tlsio_error(srv), "plaintext to a TLS port"), "%s", tlsio_error(srv));
    cr_assert(strstr(tlsio_error(srv), "0x32"), "%s", tlsio_error(srv));
    char sink[8];
    cr_assert_eq(tlsio_read(srv, sink, sizeof(sink)), TLSIO_ERROR);
    tlsio_free(srv);
    SSL_CTX_free(sctx);
}

Test(tlsio, looks_like_tls_judges_the_record_header)
{
    cr_assert(tlsio_looks_like_tls((const uint8_t *)"\x16\x03\x01", 3));
    cr_assert(tlsio_looks_like_tls((const uint8_t *)"\x16", 1));
    cr_assert_not(tlsio_looks_like_tls((const uint8_t *)"\x16\x02", 2));
    cr_assert_not(tlsio_looks_like_tls((const uint8_t *)"<13>", 4));
    cr_assert_not(tlsio_looks_like_tls((const uint8_t *)"", 0));
}
