/* amsiwatch replay: the command line. rp_options_parse turns ARGV into a struct rp_opts or one
 * line saying what is wrong; it prints nothing itself (the caller prints the help and the
 * errors) and touches no file, socket or terminal. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/replay_int.h"

void rp_usage(FILE *f)
{
    fprintf(
        f,
        "usage: amsiwatch replay [OPTION]... HOST:PORT [FILE]...\n"
        "Replays NDJSON events (one per line; plain or LZ4; each FILE, or standard input) to a\n"
        "Beats receiver (Lumberjack v2 or v1: amsiwatch, Logstash, Vector...) or a syslog\n"
        "receiver, checks every ACK, and reports throughput and ACK latency.\n"
        "\n"
        "  -t, --target HOST:PORT   the receiver (or the first argument); [IPv6]:PORT\n"
        "  -p, --protocol NAME      beats (default), syslog-tcp or syslog-udp (also --proto)\n"
        "      --lumberjack 1|2     Beats protocol version (default 2)\n"
        "  -c, --connections N      connections (default 1)\n"
        "  -w, --window N           events per window (syslog: per write), 1-%u (default 2048)\n"
        "  -z, --compression L      zlib level 0-9 (default 3; 0 sends bare data frames)\n"
        "      --pipelining N       windows in flight per connection (default 2)\n"
        "      --precompress        encode every window once before sending (v2): the sender's\n"
        "                           CPU is not what is measured\n"
        "  -r, --rate N|unlimited   events per second over all connections (default unlimited)\n"
        "  -n, --count N            send N events (with --loop, going round the input)\n"
        "  -d, --duration D         stop assigning windows after D (30s, 500ms, 2m)\n"
        "  -l, --loop               start over at the end of the input\n"
        "      --framing octet|lf   syslog TCP framing (default octet: RFC 6587 octet counting)\n"
        "      --tls                TLS (beats, syslog-tcp as RFC 5425): verifies the server\n"
        "                           against --tls-ca, or the system store without it\n"
        "      --tls-ca FILE        CA certificates (PEM) the server's certificate must chain to\n"
        "      --tls-cert FILE      client certificate (PEM, with its chain) for mutual TLS\n"
        "      --tls-key FILE       the client certificate's private key (PEM)\n"
        "      --tls-server-name N  the name sent as SNI and checked in the server's\n"
        "                           certificate (default the target's host)\n"
        "      --tls-insecure       no verification of the server at all: for benchmarks only,\n"
        "                           never against a receiver you do not control\n"
        "      --ack-timeout D      longest wait for an ACK, a connect or a TLS handshake\n"
        "                           (default 30s)\n"
        "      --no-reconnect       a dropped connection ends the run with an error\n"
        "      --json               print the report as one JSON object\n"
        "      --no-progress        no progress line (shown only on a terminal)\n"
        "      --max-input BYTES    largest input held in memory (default 1 GiB)\n"
        "      --max-event BYTES    longest event line (default 4 MiB)\n"
        "  -h, --help               show this help\n"
        "\n"
        "Exit status: 0 every event sent and (Beats) acknowledged, 2 usage or input error,\n"
        "3 a failure during the run (ACK error or timeout, connection refused or lost, TLS\n"
        "handshake failure).\n",
        RP_MAX_WINDOW);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return -EINVAL;
    double mult = 1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    if (*end == 'k' || *end == 'K')
        mult = 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1e6, end++;
    else if (*end == 'g' || *end == 'G')
        mult = 1e9, end++;
    if (*end)
        return -EINVAL;
    *out = (uint64_t)((double)v * mult);
    return 0;
}

/* "30s", "1.5s", "500ms", "2m", "1h"; a bare number is seconds. */
static int parse_duration(const char *s, uint64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    double scale = 1000;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        scale = 60000;
    else if (strcmp(end, "h") == 0)
        scale = 3600000;
    else if (*end && strcmp(end, "s") != 0)
        return -EINVAL;
    *ms = (uint64_t)(v * scale + 0.5);
    return 0;
}

/* One line for WHY; returns RP_PARSE_ERROR. */
static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return RP_PARSE_ERROR;
}

/* Names in WHY the argument getopt_long rejected (getopt_long says why on standard error itself,
 * unless opterr is 0): a long option is the element before optind, a short one is optopt. */
static void rejected(char **argv, char *why, size_t whylen)
{
    const char *arg = optind > 0 ? argv[optind - 1] : NULL;
    if (arg && strncmp(arg, "--", 2) == 0)
        snprintf(why, whylen, "%.*s: not an option, or its value is missing or not allowed",
                 (int)strcspn(arg, "="), arg);
    else if (optopt > 0 && optopt < 128)
        snprintf(why, whylen, "-%c: not an option, or its value is missing", optopt);
    else
        snprintf(why, whylen, "an option is not known, or its value is missing");
}

/* Splits O->target (HOST:PORT, [IPv6]:PORT) into O->host and O->port. */
static int split_target(struct rp_opts *o, char *why, size_t whylen)
{
    const char *target = o->target, *port;
    if (target[0] == '[') {
        const char *close = strchr(target, ']');
        if (!close || close[1] != ':' || (size_t)(close - target - 1) >= sizeof(o->host))
            goto bad;
        memcpy(o->host, target + 1, (size_t)(close - target - 1));
        o->host[close - target - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(target, ':');
        if (!colon || colon == target || (size_t)(colon - target) >= sizeof(o->host) ||
            memchr(target, ':', (size_t)(colon - target)))
            goto bad;
        memcpy(o->host, target, (size_t)(colon - target));
        o->host[colon - target] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535)
        goto bad;
    snprintf(o->port, sizeof(o->port), "%s", port);
    return 0;
bad:
    o->host[0] = '\0';
    return fail(why, whylen, "target '%s' is not HOST:PORT ([IPv6]:PORT for IPv6; port 1-65535)",
                target);
}

enum {
    OPT_PIPELINING = 256,
    OPT_PRECOMPRESS,
    OPT_FRAMING,
    OPT_ACK_TIMEOUT,
    OPT_NO_RECONNECT,
    OPT_JSON,
    OPT_NO_PROGRESS,
    OPT_MAX_INPUT,
    OPT_MAX_EVENT,
    OPT_LUMBERJACK,
    OPT_TLS,
    OPT_TLS_CA,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_SERVER_NAME,
    OPT_TLS_INSECURE,
};

int rp_options_parse(int argc, char **argv, struct rp_opts *o, char *why, size_t whylen)
{
    static const struct option longs[] = {
        {"target", required_argument, NULL, 't'},
        {"protocol", required_argument, NULL, 'p'},
        {"proto", required_argument, NULL, 'p'},
        {"lumberjack", required_argument, NULL, OPT_LUMBERJACK},
        {"connections", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},
        {"compression", required_argument, NULL, 'z'},
        {"pipelining", required_argument, NULL, OPT_PIPELINING},
        {"precompress", no_argument, NULL, OPT_PRECOMPRESS},
        {"rate", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"loop", no_argument, NULL, 'l'},
        {"framing", required_argument, NULL, OPT_FRAMING},
        {"ack-timeout", required_argument, NULL, OPT_ACK_TIMEOUT},
        {"no-reconnect", no_argument, NULL, OPT_NO_RECONNECT},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"max-input", required_argument, NULL, OPT_MAX_INPUT},
        {"max-event", required_argument, NULL, OPT_MAX_EVENT},
        {"tls", no_argument, NULL, OPT_TLS},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-server-name", required_argument, NULL, OPT_TLS_SERVER_NAME},
        {"tls-insecure", no_argument, NULL, OPT_TLS_INSECURE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct rp_opts){.proto = RP_PROTO_BEATS,
                          .version = 2,
                          .connections = 1,
                          .window = 2048,
                          .pipelining = 2,
                          .level = 3,
                          .ack_timeout_ms = 30000,
                          .progress = true,
                          .max_input = RP_DEFAULT_MAX_INPUT,
                          .max_event = RP_DEFAULT_MAX_EVENT};
    bool framing_set = false;
    int ch;
    uint64_t v;
    optind = 0; /* glibc: start over, permutation state included */
    while ((ch = getopt_long(argc, argv, "t:p:c:w:z:r:n:d:lh", longs, NULL)) != -1) {
        switch (ch) {
        case 't':
            snprintf(o->target, sizeof(o->target), "%s", optarg);
            break;
        case 'p':
            if (strcmp(optarg, "beats") == 0)
                o->proto = RP_PROTO_BEATS;
            else if (strcmp(optarg, "syslog-tcp") == 0)
                o->proto = RP_PROTO_SYSLOG_TCP;
            else if (strcmp(optarg, "syslog-udp") == 0)
                o->proto = RP_PROTO_SYSLOG_UDP;
            else
                return fail(why, whylen, "--protocol: '%s' is not beats, syslog-tcp or syslog-udp",
                            optarg);
            break;
        case OPT_LUMBERJACK:
            if (strcmp(optarg, "1") != 0 && strcmp(optarg, "2") != 0)
                return fail(why, whylen, "--lumberjack: '%s' is not 1 or 2", optarg);
            o->version = optarg[0] - '0';
            break;
        case 'c':
            if (parse_u64(optarg, &v) || v < 1 || v > RP_MAX_CONNECTIONS)
                return fail(why, whylen, "--connections: '%s' is not 1-%u", optarg,
                            RP_MAX_CONNECTIONS);
            o->connections = (uint32_t)v;
            break;
        case 'w':
            if (parse_u64(optarg, &v) || v < 1 || v > RP_MAX_WINDOW)
                return fail(why, whylen, "--window: '%s' is not 1-%u", optarg, RP_MAX_WINDOW);
            o->window = (uint32_t)v;
            break;
        case 'z':
            if (parse_u64(optarg, &v) || v > 9)
                return fail(why, whylen, "--compression: '%s' is not 0-9", optarg);
            o->level = (int)v;
            break;
        case OPT_PIPELINING:
            if (parse_u64(optarg, &v) || v < 1 || v > 1000)
                return fail(why, whylen, "--pipelining: '%s' is not 1-1000", optarg);
            o->pipelining = (uint32_t)v;
            break;
        case OPT_PRECOMPRESS:
            o->precompress = true;
            break;
        case 'r':
            if (strcmp(optarg, "unlimited") == 0 || strcmp(optarg, "0") == 0) {
                o->rate = 0;
            } else {
                char *end;
                errno = 0;
                double rate = strtod(optarg, &end);
                if (errno || end == optarg || *end || !(rate > 0) || rate > 1e10)
                    return fail(why, whylen, "--rate: '%s' is not events per second or 'unlimited'",
                                optarg);
                o->rate = rate;
            }
            break;
        case 'n':
            if (parse_u64(optarg, &v) || v < 1)
                return fail(why, whylen, "--count: '%s' is not a positive number of events",
                            optarg);
            o->count = v;
            break;
        case 'd':
            if (parse_duration(optarg, &o->duration_ms) || !o->duration_ms)
                return fail(why, whylen, "--duration: '%s' is not a duration (30s, 500ms, 2m)",
                            optarg);
            break;
        case 'l':
            o->loop = true;
            break;
        case OPT_FRAMING:
            if (strcmp(optarg, "octet") != 0 && strcmp(optarg, "lf") != 0)
                return fail(why, whylen, "--framing: '%s' is not octet or lf", optarg);
            o->lf = strcmp(optarg, "lf") == 0;
            framing_set = true;
            break;
        case OPT_ACK_TIMEOUT:
            if (parse_duration(optarg, &o->ack_timeout_ms) || o->ack_timeout_ms < 100)
                return fail(why, whylen, "--ack-timeout: '%s' is not a duration of at least 100ms",
                            optarg);
            break;
        case OPT_NO_RECONNECT:
            o->no_reconnect = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_NO_PROGRESS:
            o->progress = false;
            break;
        case OPT_MAX_INPUT:
        case OPT_MAX_EVENT:
            if (parse_u64(optarg, &v) || v < 1024 || v > ((uint64_t)1 << 40))
                return fail(why, whylen, "--%s: '%s' is not a size in bytes (at least 1024)",
                            ch == OPT_MAX_INPUT ? "max-input" : "max-event", optarg);
            if (ch == OPT_MAX_INPUT)
                o->max_input = (size_t)v;
            else
                o->max_event = (size_t)v;
            break;
        case OPT_TLS:
            o->tls = true;
            break;
        case OPT_TLS_CA:
            o->tls_ca = optarg;
            break;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o->tls_key = optarg;
            break;
        case OPT_TLS_SERVER_NAME:
            if (!*optarg || strlen(optarg) >= sizeof(o->tls_server_name))
                return fail(why, whylen,
                            "--tls-server-name: '%s' is not a host name of 1-%zu bytes", optarg,
                            sizeof(o->tls_server_name) - 1);
            snprintf(o->tls_server_name, sizeof(o->tls_server_name), "%s", optarg);
            break;
        case OPT_TLS_INSECURE:
            o->tls_insecure = true;
            break;
        case 'h':
            return RP_PARSE_HELP;
        default:
            rejected(argv, why, whylen);
            return RP_PARSE_USAGE;
        }
    }
    if (!o->target[0]) {
        if (optind >= argc)
            return fail(why, whylen, "no target: give HOST:PORT");
        snprintf(o->target, sizeof(o->target), "%s", argv[optind++]);
    }
    o->paths = argv + optind;
    o->npaths = argc - optind;
    if (framing_set && o->proto != RP_PROTO_SYSLOG_TCP)
        return fail(why, whylen, "--framing applies to --protocol syslog-tcp only");
    if (o->precompress && o->proto == RP_PROTO_BEATS && o->version == 1)
        return fail(why, whylen,
                    "--precompress needs --lumberjack 2: v1 numbers events across the "
                    "connection, so its windows cannot be shared");
    if (!o->tls &&
        (o->tls_ca || o->tls_cert || o->tls_key || o->tls_server_name[0] || o->tls_insecure))
        return fail(why, whylen,
                    "--tls-ca, --tls-cert, --tls-key, --tls-server-name and "
                    "--tls-insecure need --tls");
    if (o->tls && o->proto == RP_PROTO_SYSLOG_UDP)
        return fail(why, whylen,
                    "--tls applies to --protocol beats and syslog-tcp, not syslog-udp");
    if (!o->tls_cert != !o->tls_key)
        return fail(why, whylen, "--tls-cert and --tls-key go together");
    if (o->tls_insecure && o->tls_ca)
        return fail(why, whylen, "--tls-insecure verifies nothing: it cannot go with --tls-ca");
    if (o->json)
        o->progress = false;
    if (split_target(o, why, whylen) < 0)
        return RP_PARSE_ERROR;
    if (o->tls && !o->tls_server_name[0])
        snprintf(o->tls_server_name, sizeof(o->tls_server_name), "%s", o->host);
    return RP_PARSE_RUN;
}

const char *rp_proto_name(enum rp_proto p)
{
    return p == RP_PROTO_BEATS ? "beats" : p == RP_PROTO_SYSLOG_TCP ? "syslog-tcp" : "syslog-udp";
}
