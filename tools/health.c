#include "tools/health.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "notify/probe.h"

#define DEFAULT_API "127.0.0.1:9184"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: amsiwatch health [--api ADDR:PORT] [--live] [--timeout SECONDS] [--tls ...]\n"
            "Asks a running `amsiwatch serve` through its HTTP endpoint (api.address) whether "
            "it is ready\n"
            "(GET /ready: listeners bound, journal writable, not stopping) and prints one "
            "line.\n"
            "Exit status: 0 ready, 1 not ready or unreachable, 2 usage error.\n\n"
            "  --api ADDR:PORT    the endpoint (default " DEFAULT_API
            "; 0.0.0.0 and [::] mean this host)\n"
            "  --live             ask /health instead: alive, even while not ready\n"
            "  --timeout SECONDS  give up after this long (default 5)\n"
            "  --tls              HTTPS (api.ssl-enabled): the server verified against the "
            "system's CAs\n"
            "  --tls-ca FILE      ... or against these CAs (PEM); implies --tls\n"
            "  --tls-cert FILE    client certificate (PEM) for api.ssl-client-authentication\n"
            "  --tls-key FILE     its private key (PEM)\n"
            "  --tls-insecure     HTTPS without verifying the server (a certificate that does "
            "not name\n"
            "                     the address asked, as 127.0.0.1 in a container)\n");
}

/* The URL of PATH on API: an address as serve takes it (net_parse_addr; a wildcard, what serve
 * listens on, becomes the loopback), or HOST:PORT with a host name. */
static int make_url(const char *api, bool https, const char *path, char *out, size_t outlen)
{
    const char *scheme = https ? "https" : "http";
    char where[300];
    struct sockaddr_storage ss;
    if (net_parse_addr(api, &ss) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            if (in->sin_addr.s_addr == htonl(INADDR_ANY))
                in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
                in6->sin6_addr = in6addr_loopback;
        }
        net_format_addr(&ss, where, sizeof(where));
    } else {
        const char *colon = strrchr(api, ':');
        char *end;
        if (!colon || colon == api || strchr(api, ']') || strchr(api, '/') || !colon[1])
            return -1;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535 || (size_t)(colon - api) >= 256)
            return -1;
        int n = snprintf(where, sizeof(where), "%s", api);
        if (n < 0 || (size_t)n >= sizeof(where))
            return -1;
        if (memchr(api, ':', (size_t)(colon - api)))
            return -1; /* an IPv6 address net_parse_addr refused: not a host name either */
    }
    int n = snprintf(out, outlen, "%s://%s%s", scheme, where, path);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int health_main(int argc, char **argv)
{
    const char *api = DEFAULT_API;
    bool live = false, https = false;
    double timeout_s = 5;
    struct probe_tls tls = {0};
    static const struct option longopts[] = {
        {"api", required_argument, NULL, 'a'},
        {"live", no_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"tls", no_argument, NULL, 's'},
        {"tls-ca", required_argument, NULL, 'C'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"tls-insecure", no_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            api = optarg;
            break;
        case 'l':
            live = true;
            break;
        case 's':
            https = true;
            break;
        case 'C':
            https = true;
            tls.ca = optarg;
            break;
        case 'c':
            tls.cert = optarg;
            break;
        case 'k':
            tls.key = optarg;
            break;
        case 'i':
            https = true;
            tls.insecure = true;
            break;
        case 't': {
            char *end;
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0 && timeout_s <= 3600)) {
                fprintf(stderr,
                        "amsiwatch health: --timeout '%s' is not a number of seconds "
                        "(0 to 3600)\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amsiwatch health: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char url[400];
    if ((tls.cert || tls.key) && !https) {
        fprintf(stderr, "amsiwatch health: --tls-cert and --tls-key need --tls\n");
        return 2;
    }
    if (make_url(api, https, live ? "/health" : "/ready", url, sizeof(url)) < 0) {
        fprintf(stderr, "amsiwatch health: --api '%s' is not ADDR:PORT\n", api);
        return 2;
    }
    char body[4096], err[512];
    long status = probe_get(url, https ? &tls : NULL, (long)(timeout_s * 1000), body, sizeof(body),
                            err, sizeof(err));
    if (status < 0) {
        printf("unreachable: %s: %s\n", url, err);
        return 1;
    }
    json_t *doc = json_loads(body, 0, NULL);
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    const char *what = json_string_value(json_object_get(doc, "status"));
    int rc;
    if (status == 200) {
        printf("%s\n", what ? what : "ok");
        rc = 0;
    } else {
        printf("%s: HTTP %ld%s%s\n", live ? "not alive" : "not ready", status, reason ? ": " : "",
               reason ? reason : "");
        rc = 1;
    }
    json_decref(doc);
    return rc;
}
