#include "server/secure.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Calls FN for each line of LIST. Returns 0 or FN's first failure. */
static int each_line(const char *list, int (*fn)(struct acl *, const char *, char *, size_t),
                     struct acl *a, char *why, size_t whylen)
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, "\n");
        char item[1024];
        snprintf(item, sizeof(item), "%.*s", (int)len, p);
        p += len + (p[len] ? 1 : 0);
        if (item[0] && fn(a, item, why, whylen) < 0)
            return -1;
    }
    return 0;
}

int sec_listener_init(struct sec_listener *l, const char *name, const struct tls_options *tls,
                      const char *networks, const char *peers, char *why, size_t whylen)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    char sub[2200];
    if (networks && each_line(networks, acl_add_network, &l->acl, sub, sizeof(sub)) < 0) {
        snprintf(why, whylen, "%s.allow-networks: %s", name, sub);
        goto fail;
    }
    if (peers && *peers && !tls) {
        snprintf(why, whylen, "%s.ssl-allow-peers needs TLS on the listener", name);
        goto fail;
    }
    if (peers && each_line(peers, acl_add_peer, &l->acl, sub, sizeof(sub)) < 0) {
        snprintf(why, whylen, "%s.ssl-allow-peers: %s", name, sub);
        goto fail;
    }
    if (tls) {
        if (acl_has_peer_rules(&l->acl) && strcmp(tls->client_authentication, "none") == 0) {
            snprintf(why, whylen,
                     "%s.ssl-allow-peers needs client certificates: set "
                     "%s.ssl-client-authentication to required (or optional)",
                     name, name);
            goto fail;
        }
        if (tls_server_new(&l->tls, name, tls, why, whylen) < 0)
            goto fail;
        l->opt = tls;
    }
    return 0;
fail:
    acl_free(&l->acl);
    return -1;
}

void sec_listener_free(struct sec_listener *l)
{
    tls_server_free(l->tls);
    l->tls = NULL;
    acl_free(&l->acl);
}

void sec_listener_replace(struct sec_listener *l, struct sec_listener *from,
                          const struct tls_options *opt)
{
    /* Whether a listener has TLS is fixed at start (a reload keeps it). */
    if (l->tls && from->tls)
        tls_server_replace(l->tls, from->tls, opt);
    else
        tls_server_free(from->tls);
    from->tls = NULL;
    if (l->tls)
        l->opt = opt;
    /* The rules are new; the refusal counters and the log's memory stay. */
    struct acl *a = &l->acl, *b = &from->acl;
    acl_free(a);
    a->nets = b->nets;
    a->nnets = b->nnets;
    a->subjects = b->subjects;
    a->nsubjects = b->nsubjects;
    a->fingerprints = b->fingerprints;
    a->nfingerprints = b->nfingerprints;
    b->nets = NULL;
    b->subjects = NULL;
    b->fingerprints = NULL;
    b->nnets = b->nsubjects = b->nfingerprints = 0;
}

bool sec_listener_same_rules(const struct sec_listener *l, const struct sec_listener *from)
{
    const struct acl *a = &l->acl, *b = &from->acl;
    if (a->nnets != b->nnets || a->nsubjects != b->nsubjects ||
        a->nfingerprints != b->nfingerprints)
        return false;
    if (a->nnets && memcmp(a->nets, b->nets, a->nnets * sizeof(*a->nets)) != 0)
        return false;
    if (a->nfingerprints &&
        memcmp(a->fingerprints, b->fingerprints, a->nfingerprints * sizeof(*a->fingerprints)) != 0)
        return false;
    for (size_t i = 0; i < a->nsubjects; i++) {
        if (strcmp(a->subjects[i], b->subjects[i]) != 0)
            return false;
    }
    return true;
}

void sec_listener_log_counters(const struct sec_listener *l)
{
    if (!l->tls && !l->acl.refused_network)
        return;
    if (l->tls)
        log_info(l->name,
                 "TLS: %" PRIu64 " handshakes, %" PRIu64 " failed (%" PRIu64
                 " plaintext clients); refused: %" PRIu64 " by network, %" PRIu64 " by peer",
                 l->handshakes, l->handshake_failures, l->plaintext_on_tls, l->acl.refused_network,
                 l->acl.refused_peer);
    else
        log_info(l->name, "refused: %" PRIu64 " by network", l->acl.refused_network);
}

/* "ADDR:PORT" or "[ADDR]:PORT" without its port: refusals are logged per host. */
static void host_of(const char *peer, char *out, size_t outlen)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    snprintf(out, outlen, "%.*s", (int)n, peer);
}

bool sec_admit(struct sec_listener *l, const struct sockaddr *addr, const char *peer,
               const char *logname, uint64_t now_ms)
{
    if (acl_allows_address(&l->acl, addr))
        return true;
    l->acl.refused_network++;
    char host[96];
    host_of(peer, host, sizeof(host));
    if (acl_should_log(&l->acl, host, now_ms))
        log_warn(logname,
                 "%s: refused: %s is not in %s.allow-networks (%" PRIu64
                 " refused so far; logged once per client and minute)",
                 peer, host, l->name, l->acl.refused_network);
    return false;
}

bool sec_admit_tcp(struct sec_listener *l, uv_tcp_t *tcp, const char *peer, const char *logname,
                   uint64_t now_ms)
{
    if (!l->acl.nnets)
        return true;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
        return false;
    return sec_admit(l, (const struct sockaddr *)&ss, peer, logname, now_ms);
}

int sec_conn_start(struct sec_listener *l, struct sec_conn *sc, uint64_t now_ms)
{
    memset(sc, 0, sizeof(*sc));
    sc->started_ms = now_ms;
    int rc = tls_server_accept(l->tls, &sc->io);
    /* The record buffers (about 34 KiB) are freed whenever they are empty, so that an idle
     * connection does not hold them. */
    if (rc == 0)
        SSL_set_mode(tlsio_ssl(sc->io), SSL_MODE_RELEASE_BUFFERS);
    return rc;
}

void sec_conn_free(struct sec_conn *sc)
{
    tlsio_free(sc->io);
    json_decref(sc->peer);
    sc->io = NULL;
    sc->peer = NULL;
}

/* The handshake just completed: the peer must be one of the allowed ones. */
static int check_peer(struct sec_listener *l, struct sec_conn *sc, const char *peer,
                      uint64_t now_ms, char *why, size_t whylen)
{
    SSL *ssl = tlsio_ssl(sc->io);
    l->handshakes++;
    char subject[512];
    uint8_t fp[32];
    bool has_cert = tls_peer_identity(ssl, subject, sizeof(subject), fp);
    if (!acl_allows_peer(&l->acl, has_cert ? subject : NULL, has_cert ? fp : NULL)) {
        l->acl.refused_peer++;
        char hex[100] = "";
        for (size_t i = 0; has_cert && i < 32; i++)
            snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), i ? ":%02X" : "%02X", fp[i]);
        char host[96];
        host_of(peer, host, sizeof(host));
        if (!has_cert)
            snprintf(why, whylen, "refused: no client certificate, and %s.ssl-allow-peers is set",
                     l->name);
        else
            snprintf(why, whylen,
                     "refused: the client certificate '%s' (sha256:%s) is not in "
                     "%s.ssl-allow-peers",
                     subject, hex, l->name);
        if (acl_should_log(&l->acl, host, now_ms))
            log_warn(l->name, "%s: %s", peer, why);
        return -1;
    }
    sc->peer = tls_peer_json(ssl);
    log_debug(l->name, "%s: TLS %s %s%s%s", peer, SSL_get_version(ssl), SSL_get_cipher_name(ssl),
              has_cert ? ", client " : "", has_cert ? subject : "");
    return 0;
}

int sec_conn_input(struct sec_listener *l, struct sec_conn *sc, const char *peer, const uint8_t *in,
                   size_t n, struct buf *plain, uint64_t now_ms, char *why, size_t whylen)
{
    bool was = tlsio_established(sc->io);
    if (tlsio_feed(sc->io, in, n) != 0) {
        if (tlsio_plaintext_peer(sc->io))
            l->plaintext_on_tls++;
        l->handshake_failures++;
        tls_explain(sc->io, why, whylen);
        return -1;
    }
    for (;;) {
        if (buf_reserve(plain, 16384) < 0) {
            snprintf(why, whylen, "a frame larger than the read buffer limit");
            return -1;
        }
        long r = tlsio_read(sc->io, plain->data + plain->len, 16384);
        if (!was && tlsio_established(sc->io)) {
            was = true;
            if (check_peer(l, sc, peer, now_ms, why, whylen) < 0)
                return -1;
        }
        if (r > 0) {
            plain->len += (size_t)r;
            continue;
        }
        if (r == TLSIO_WANT)
            return 0;
        if (r == TLSIO_CLOSED)
            return 1;
        /* A failure marks the session failed, so whether the handshake had completed is
         * what WAS says (a record broken after the handshake is not a handshake failure). */
        if (!was) {
            l->handshake_failures++;
            tls_explain(sc->io, why, whylen);
        } else {
            snprintf(why, whylen, "TLS error: %s", tlsio_error(sc->io));
        }
        return -1;
    }
}

int sec_conn_write(struct sec_conn *sc, const void *data, size_t len)
{
    return tlsio_write(sc->io, data, len) == 0 ? 0 : -1;
}

/* A write of ciphertext: the request first, so that the request is the allocation. */
struct sec_write {
    uv_write_t req;
    uint8_t data[];
};

int sec_conn_send(struct sec_conn *sc, uv_stream_t *stream, void *ctx, uv_write_cb cb)
{
    size_t len = tlsio_pending(sc->io);
    if (!len)
        return 1;
    struct sec_write *w = malloc(sizeof(*w) + len);
    if (!w)
        return -ENOMEM;
    len = tlsio_take(sc->io, w->data, len);
    w->req.data = ctx;
    uv_buf_t ub = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, stream, &ub, 1, cb);
    if (rc < 0) {
        free(w);
        return rc;
    }
    return 0;
}

void sec_write_free(uv_write_t *req)
{
    free(req);
}

bool sec_conn_handshake_expired(const struct sec_listener *l, const struct sec_conn *sc,
                                uint64_t now_ms)
{
    return sc->io && !tlsio_established(sc->io) &&
           now_ms - sc->started_ms >= tls_server_handshake_timeout_ms(l->tls);
}

bool sec_conn_established(const struct sec_conn *sc)
{
    return sc->io && tlsio_established(sc->io);
}

char *sec_read_scratch(void)
{
    static char scratch[SEC_READ_SCRATCH];
    return scratch;
}
