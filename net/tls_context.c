#include "net/tls_context.h"

#include "net/tls_options.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *tls_ssl_reason(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (!last)
        snprintf(buf, len, "unreadable");
    else
        snprintf(buf, len, "%s",
                 ERR_reason_error_string(last) ? ERR_reason_error_string(last) : "unknown");
    return buf;
}

/* ---- Protocols ---- */

static int parse_protocol(const char *v, int *out)
{
    static const struct {
        const char *name;
        int version;
    } names[] = {
        {"TLSv1.1", TLS1_1_VERSION}, {"TLSv1.2", TLS1_2_VERSION}, {"TLSv1.3", TLS1_3_VERSION}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(v, names[i].name) == 0) {
            *out = names[i].version;
            return 0;
        }
    }
    return -1;
}

int tls_ctx_protocols(SSL_CTX *ctx, const char *prefix, const char *list, char *why, size_t whylen)
{
    int lo = 0, hi = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, "\n");
        char name[32];
        int v;
        if (len >= sizeof(name) || (memcpy(name, p, len), name[len] = '\0', 0) ||
            parse_protocol(name, &v) < 0) {
            snprintf(why, whylen,
                     "%ssupported-protocols: '%.*s' is not TLSv1.1, TLSv1.2 or TLSv1.3", prefix,
                     (int)(len < 40 ? len : 40), p);
            return -1;
        }
        if (!lo || v < lo)
            lo = v;
        if (v > hi)
            hi = v;
        p += len + (p[len] ? 1 : 0);
    }
    if (!lo) {
        snprintf(why, whylen, "%ssupported-protocols: no protocol given", prefix);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    if (lo < TLS1_2_VERSION)
        SSL_CTX_set_security_level(ctx, 0); /* TLS 1.1 needs SHA-1 signatures */
    return 0;
}

/* ---- Certificate authorities ---- */

int tls_ctx_cas(SSL_CTX *ctx, const char *prefix, const char *list, bool client_ca_names, char *why,
                size_t whylen)
{
    STACK_OF(X509_NAME) *names = client_ca_names ? sk_X509_NAME_new_null() : NULL;
    if (client_ca_names && !names) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, "\n");
        char path[1024];
        snprintf(path, sizeof(path), "%.*s", (int)len, p);
        p += len + (p[len] ? 1 : 0);
        char r[160];
        FILE *f = fopen(path, "rb");
        if (!f) {
            snprintf(why, whylen, "%scertificate-authorities: cannot read %s: %s", prefix, path,
                     strerror(errno));
            goto fail;
        }
        fclose(f);
        if (!SSL_CTX_load_verify_locations(ctx, path, NULL)) {
            snprintf(why, whylen, "%scertificate-authorities: cannot load %s: %s", prefix, path,
                     tls_ssl_reason(r, sizeof(r)));
            goto fail;
        }
        /* The CA names go into the CertificateRequest, so a client with several certificates
         * picks the right one. */
        if (names)
            SSL_add_file_cert_subjects_to_stack(names, path);
        ERR_clear_error();
    }
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    return 0;
fail:
    if (names)
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    return -1;
}

/* ---- A certificate and its key ---- */

struct passphrase {
    char text[1024];
    bool have;
};

static int passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    struct passphrase *p = u;
    (void)rwflag;
    if (!p || !p->have)
        return -1;
    int n = (int)strlen(p->text);
    if (n >= size)
        return -1;
    memcpy(buf, p->text, (size_t)n);
    return n;
}

static int read_passphrase(const char *prefix, const char *path, struct passphrase *p, char *why,
                           size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "%skey-passphrase-file: cannot read %s: %s", prefix, path,
                 strerror(errno));
        return -1;
    }
    if (!fgets(p->text, sizeof(p->text), f))
        p->text[0] = '\0';
    fclose(f);
    p->text[strcspn(p->text, "\r\n")] = '\0';
    p->have = true;
    return 0;
}

/* True when the first 8 KiB of PATH contain WORD (a PEM header). */
static bool file_has(const char *path, const char *word)
{
    char head[8193];
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    head[n] = '\0';
    return strstr(head, word) != NULL;
}

/* A file that cannot be opened is named with the system's reason (OpenSSL only says "system
 * lib"). */
static bool readable(const char *prefix, const char *option, const char *path, char *why,
                     size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return true;
    }
    snprintf(why, whylen, "%s%s: cannot read %s: %s", prefix, option, path, strerror(errno));
    return false;
}

int tls_ctx_identity(SSL_CTX *ctx, const char *prefix, const char *cert, const char *key,
                     const char *passfile, char *why, size_t whylen)
{
    char r[200];
    if (!readable(prefix, "certificate", cert, why, whylen) ||
        !readable(prefix, "key", key, why, whylen))
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(why, whylen, "%scertificate: cannot load %s: %s", prefix, cert,
                 tls_ssl_reason(r, sizeof(r)));
        return -1;
    }
    struct passphrase pass = {.have = false};
    if (passfile[0] && read_passphrase(prefix, passfile, &pass, why, whylen) < 0)
        return -1;
    SSL_CTX_set_default_passwd_cb(ctx, passphrase_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &pass);
    /* PEM_read_bio_PrivateKey reads PKCS#8 (plain or encrypted), PKCS#1 and SEC1 alike. */
    int ok = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb(ctx, NULL);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    explicit_bzero(pass.text, sizeof(pass.text));
    if (ok != 1) {
        tls_ssl_reason(r, sizeof(r));
        char hint[160] = "";
        if (strstr(r, "bad decrypt"))
            snprintf(hint, sizeof(hint), " (wrong passphrase in %skey-passphrase-file?)", prefix);
        else if (!passfile[0] && file_has(key, "ENCRYPTED"))
            snprintf(hint, sizeof(hint),
                     " (the key is encrypted: give its passphrase in %skey-passphrase-file)",
                     prefix);
        if (strstr(r, "values mismatch"))
            snprintf(why, whylen, "%skey: %s does not belong to the certificate %s", prefix, key,
                     cert);
        else
            snprintf(why, whylen, "%skey: cannot load %s: %s%s", prefix, key, r, hint);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(why, whylen, "%skey: %s does not belong to the certificate %s", prefix, key, cert);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* ---- A client's context ---- */

SSL_CTX *tls_client_context(const struct tls_client_options *o, const char *prefix,
                            bool *verify_host, char *why, size_t whylen)
{
    char r[200];
    ERR_clear_error();
    const char *mode = o->verification_mode[0] ? o->verification_mode : "full";
    bool full = !strcmp(mode, "full") || !strcmp(mode, "strict");
    if (!full && strcmp(mode, "certificate") != 0 && strcmp(mode, "none") != 0) {
        snprintf(why, whylen, "%sverification-mode: '%s' is not full, strict, certificate or none",
                 prefix, mode);
        return NULL;
    }
    if ((o->certificate[0] != 0) != (o->key[0] != 0)) {
        snprintf(why, whylen, "%scertificate and %skey go together: give both or neither", prefix,
                 prefix);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(why, whylen, "cannot create a TLS context: %s", tls_ssl_reason(r, sizeof(r)));
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (tls_ctx_protocols(ctx, prefix,
                          o->supported_protocols[0] ? o->supported_protocols : "TLSv1.2\nTLSv1.3",
                          why, whylen) < 0)
        goto fail;
    if (strcmp(mode, "none") == 0) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (o->certificate_authorities[0]) {
            if (tls_ctx_cas(ctx, prefix, o->certificate_authorities, false, why, whylen) < 0)
                goto fail;
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            snprintf(
                why, whylen,
                "cannot load the system's CA certificates: %s (give %scertificate-authorities)",
                tls_ssl_reason(r, sizeof(r)), prefix);
            goto fail;
        }
    }
    if (o->certificate[0] && tls_ctx_identity(ctx, prefix, o->certificate, o->key,
                                              o->key_passphrase_file, why, whylen) < 0)
        goto fail;
    *verify_host = full;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
