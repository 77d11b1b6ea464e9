#include "server/acl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int acl_add_network(struct acl *a, const char *cidr, char *why, size_t whylen)
{
    char text[80];
    size_t len = strlen(cidr);
    if (len == 0 || len >= sizeof(text)) {
        snprintf(why, whylen, "'%s' is not a network (e.g. 10.0.0.0/8 or 2001:db8::/32)", cidr);
        return -1;
    }
    memcpy(text, cidr, len + 1);
    char *slash = strchr(text, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        if (!isdigit((unsigned char)slash[1]) || (prefix = strtol(slash + 1, &end, 10), *end)) {
            snprintf(why, whylen, "'%s': the prefix length after '/' is not a number", cidr);
            return -1;
        }
    }
    struct acl_net n;
    memset(&n, 0, sizeof(n));
    if (inet_pton(AF_INET, text, n.addr) == 1) {
        n.family = AF_INET;
        if (prefix < 0)
            prefix = 32;
        if (prefix > 32) {
            snprintf(why, whylen, "'%s': an IPv4 prefix is at most /32", cidr);
            return -1;
        }
    } else if (inet_pton(AF_INET6, text, n.addr) == 1) {
        n.family = AF_INET6;
        if (prefix < 0)
            prefix = 128;
        if (prefix > 128) {
            snprintf(why, whylen, "'%s': an IPv6 prefix is at most /128", cidr);
            return -1;
        }
    } else {
        snprintf(why, whylen, "'%s' is not a network (e.g. 10.0.0.0/8 or 2001:db8::/32)", cidr);
        return -1;
    }
    n.prefix = (unsigned)prefix;
    struct acl_net *v = realloc(a->nets, (a->nnets + 1) * sizeof(*v));
    if (!v) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    a->nets = v;
    a->nets[a->nnets++] = n;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses 32 bytes of hex, colons allowed between bytes. Returns 0 or -1. */
static int parse_fingerprint(const char *s, uint8_t out[32])
{
    size_t n = 0;
    while (*s) {
        if (*s == ':') {
            s++;
            continue;
        }
        int hi = hexval((unsigned char)s[0]);
        int lo = hi < 0 ? -1 : hexval((unsigned char)s[1]);
        if (hi < 0 || lo < 0 || n >= 32)
            return -1;
        out[n++] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    return n == 32 ? 0 : -1;
}

int acl_add_peer(struct acl *a, const char *spec, char *why, size_t whylen)
{
    uint8_t fp[32];
    bool prefixed = strncasecmp(spec, "sha256:", 7) == 0;
    if (prefixed || parse_fingerprint(spec, fp) == 0) {
        if (parse_fingerprint(prefixed ? spec + 7 : spec, fp) < 0) {
            snprintf(why, whylen, "'%s' is not a SHA-256 fingerprint (64 hex digits)", spec);
            return -1;
        }
        uint8_t(*v)[32] = realloc(a->fingerprints, (a->nfingerprints + 1) * sizeof(*v));
        if (!v) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        a->fingerprints = v;
        memcpy(a->fingerprints[a->nfingerprints++], fp, 32);
        return 0;
    }
    if (!strchr(spec, '=')) {
        snprintf(why, whylen,
                 "'%s' is neither a certificate subject (CN=...,O=...) nor a SHA-256 "
                 "fingerprint",
                 spec);
        return -1;
    }
    char **v = realloc(a->subjects, (a->nsubjects + 1) * sizeof(*v));
    if (!v) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    a->subjects = v;
    if (!(a->subjects[a->nsubjects] = strdup(spec))) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    a->nsubjects++;
    return 0;
}

static bool prefix_match(const uint8_t *x, const uint8_t *y, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

bool acl_allows_address(const struct acl *a, const struct sockaddr *sa)
{
    if (!a->nnets)
        return true;
    uint8_t v4[4], v6[16];
    bool has4 = false, has6 = false;
    if (sa->sa_family == AF_INET) {
        memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        has4 = true;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        memcpy(v6, in6, 16);
        has6 = true;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            memcpy(v4, v6 + 12, 4);
            has4 = true;
        }
    }
    for (size_t i = 0; i < a->nnets; i++) {
        const struct acl_net *n = &a->nets[i];
        if (n->family == AF_INET && has4 && prefix_match(v4, n->addr, n->prefix))
            return true;
        if (n->family == AF_INET6 && has6 && prefix_match(v6, n->addr, n->prefix))
            return true;
    }
    return false;
}

bool acl_has_peer_rules(const struct acl *a)
{
    return a->nsubjects || a->nfingerprints;
}

bool acl_allows_peer(const struct acl *a, const char *subject, const uint8_t fingerprint[32])
{
    if (!acl_has_peer_rules(a))
        return true;
    for (size_t i = 0; subject && i < a->nsubjects; i++) {
        if (strcmp(a->subjects[i], subject) == 0)
            return true;
    }
    for (size_t i = 0; fingerprint && i < a->nfingerprints; i++) {
        if (memcmp(a->fingerprints[i], fingerprint, 32) == 0)
            return true;
    }
    return false;
}

bool acl_should_log(struct acl *a, const char *host, uint64_t now_ms)
{
    size_t oldest = 0;
    for (size_t i = 0; i < ACL_LOG_SLOTS; i++) {
        if (a->logged[i].host[0] && strcmp(a->logged[i].host, host) == 0) {
            if (now_ms - a->logged[i].at_ms < ACL_LOG_EVERY_MS) {
                a->refusals_not_logged++;
                return false;
            }
            a->logged[i].at_ms = now_ms;
            return true;
        }
        if (!a->logged[i].host[0] || a->logged[i].at_ms < a->logged[oldest].at_ms)
            oldest = i;
        if (!a->logged[i].host[0])
            break;
    }
    /* A new host takes a free slot or the one logged longest ago. */
    snprintf(a->logged[oldest].host, sizeof(a->logged[oldest].host), "%s", host);
    a->logged[oldest].at_ms = now_ms;
    return true;
}

void acl_free(struct acl *a)
{
    free(a->nets);
    for (size_t i = 0; i < a->nsubjects; i++)
        free(a->subjects[i]);
    free(a->subjects);
    free(a->fingerprints);
    a->nets = NULL;
    a->subjects = NULL;
    a->fingerprints = NULL;
    a->nnets = a->nsubjects = a->nfingerprints = 0;
}
