#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "server/api.h"

/* T_LIST: the webhook flags. T_LINES: a list kept one value per line in a string field; the
 * first value given (file or flag) replaces the default, later ones add to it; with choices ","
 * a value may also hold several, separated by commas or spaces. Its bit in lists_set is MIN. */
enum opt_type { T_STR, T_BOOL, T_UINT, T_SIZE, T_DURATION, T_ENUM, T_ADDR, T_LIST, T_LINES };

struct option_def {
    const char *name; /* YAML key (dotted for nested); the flag is "--" + name with '.' -> '-' */
    enum opt_type type;
    const char *def; /* default, as text */
    size_t offset;
    size_t size; /* strings: the buffer size */
    uint64_t min, max;
    const char *choices; /* T_ENUM: "a|b" */
    const char *help;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

/* The TLS and access-control options of listener P (its key prefix), in field FIELD; BIT0 is the
 * first of the five lists_set bits its lists use. */
/* clang-format off */
#define TLS_OPTIONS(P, FIELD, BIT0)                                                               \
    {P ".ssl-certificate", T_STR, "", F(FIELD.certificate), 0, 0, NULL,                           \
     "server certificate, PEM, followed by its intermediate CAs; reloaded on SIGHUP"},            \
    {P ".ssl-key", T_STR, "", F(FIELD.key), 0, 0, NULL,                                           \
     "private key of the certificate, PEM: PKCS#8 (encrypted or not) or PKCS#1; reloaded on "     \
     "SIGHUP"},                                                                                   \
    {P ".ssl-key-passphrase-file", T_STR, "", F(FIELD.key_passphrase_file), 0, 0, NULL,           \
     "file holding the passphrase of an encrypted key (its first line)"},                         \
    {P ".ssl-certificate-authorities", T_LINES, "", F(FIELD.certificate_authorities), BIT0, 0,   \
     ",", "PEM files of the CAs that sign client certificates (repeatable or comma-separated)"},  \
    {P ".ssl-client-authentication", T_ENUM, "none", F(FIELD.client_authentication), 0, 0,        \
     "none|optional|required",                                                                    \
     "client certificates: none (not asked), optional (verified when sent), required"},           \
    {P ".ssl-supported-protocols", T_LINES, "TLSv1.2,TLSv1.3", F(FIELD.supported_protocols),      \
     BIT0 + 1, 0, ",", "TLS versions accepted: TLSv1.1, TLSv1.2, TLSv1.3"},                      \
    {P ".ssl-cipher-suites", T_LINES, "", F(FIELD.cipher_suites), BIT0 + 2, 0, ",",              \
     "cipher suites, IANA (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) or OpenSSL names; empty: the "  \
     "TLS 1.3 suites, ECDHE with AES-GCM or ChaCha20, then the ECDHE CBC suites older Beats "     \
     "offer"},                                                                                    \
    {P ".ssl-handshake-timeout", T_DURATION, "10s", F(FIELD.handshake_timeout_ms), 100, 600000,   \
     NULL, "close a connection whose TLS handshake takes longer than this"},                      \
    {P ".allow-networks", T_LINES, "", F(FIELD.allow_networks), BIT0 + 3, 0, ",",                \
     "client networks allowed to connect (CIDR: 10.0.0.0/8, 2001:db8::/32); empty: any"},         \
    {P ".ssl-allow-peers", T_LINES, "", F(FIELD.allow_peers), BIT0 + 4, 0, NULL,                  \
     "client certificates allowed to talk, by subject (RFC 2253: CN=host,O=Org) or "              \
     "sha256:FINGERPRINT, repeatable; empty: any the CAs sign"}
/* clang-format on */

static const struct option_def table[] = {
    {"data-dir", T_STR, "./amsiwatch-data", F(data_dir), 0, 0, NULL,
     "data directory: the alert journal and the delivery cursors"},
    {"beats", T_ADDR, "0.0.0.0:5044", F(beats), 0, 0, NULL,
     "Beats (Lumberjack v1/v2) listener, ADDR:PORT ([::1]:5044 for IPv6, port 0 picks one) or off"},
    {"syslog-tcp", T_ADDR, "0.0.0.0:5514", F(syslog_tcp), 0, 0, NULL,
     "syslog over TCP listener (RFC 6587 framing, see syslog.framing), ADDR:PORT or off"},
    {"syslog-udp", T_ADDR, "0.0.0.0:5514", F(syslog_udp), 0, 0, NULL,
     "syslog over UDP listener (one datagram, one message), ADDR:PORT or off"},
    {"syslog-tls", T_ADDR, "0.0.0.0:6514", F(syslog_tls), 0, 0, NULL,
     "syslog over TLS listener (RFC 5425, framing as syslog.framing), ADDR:PORT or off; listens "
     "only when syslog-tls.ssl-certificate is set"},
    {"api", T_ADDR, API_DEFAULT_ADDRESS, F(api), 0, 0, NULL,
     "HTTP endpoint for machines (/metrics, /health, /ready, /stats), ADDR:PORT (port 0 picks one) "
     "or off; in a file also api.address; on the default address a port already taken leaves "
     "serve running without it, any other must be had"},
    {"profile", T_ENUM, "elastic", F(profile), 0, 0, "elastic|extended",
     "detection profile: elastic (Elastic's verdicts exactly) or extended"},
    {"workers", T_UINT, "0", F(workers), 0, 256, NULL,
     "detection worker threads; 0 means one per core"},
    {"queue", T_UINT, "256", F(queue), 2, 1u << 20, NULL,
     "batches queued between the network loop and the workers"},
    {"webhook", T_LIST, "", F(webhooks), 0, 0, NULL,
     "webhook target [NAME=][FORMAT:]URL, repeatable (slack:https://...); the file's webhooks: "
     "list gives every option; with none, alerts go to standard output"},
    {"quiet", T_BOOL, "false", F(quiet), 0, 0, NULL, "do not print alerts on standard output"},
    {"log-level", T_ENUM, "info", F(log_level), 0, 0, "error|warn|info|debug", "log verbosity"},
    {"log.format", T_ENUM, "text", F(log_format), 0, 0, "text|json",
     "log records on standard error: text (LEVEL module: message) or json (one object a line, "
     "ECS names: @timestamp, log.level, log.logger, message, and fields of their own)"},
    {"journal.sync-interval", T_DURATION, "0", F(journal_sync_interval_ms), 0, 60000, NULL,
     "0: fdatasync before acknowledging (durable); N: at most every N (faster, a power cut can "
     "lose the last N of alerts)"},
    {"journal.segment-size", T_SIZE, "64MiB", F(journal_segment_bytes), 4096, 1ull << 34, NULL,
     "seal a journal segment when it would grow past this"},
    {"journal.retention-size", T_SIZE, "0", F(journal_retention_bytes), 0, UINT64_MAX, NULL,
     "remove the oldest sealed segments past this total (0: keep all); never undelivered ones"},
    {"journal.retention-age", T_DURATION, "0", F(journal_retention_ms), 0, UINT64_MAX, NULL,
     "remove sealed segments older than this (0: keep all); never undelivered ones"},
    {"beats.max-window", T_UINT, "10000", F(beats_max_window), 1, 1000000, NULL,
     "largest window (events per ACK) accepted"},
    {"beats.max-json", T_SIZE, "16MiB", F(beats_max_json), 64, 1u << 30, NULL,
     "largest JSON event frame accepted"},
    {"beats.max-compressed", T_SIZE, "64MiB", F(beats_max_compressed), 64, 1u << 30, NULL,
     "largest compressed frame accepted"},
    {"beats.max-inflated", T_SIZE, "64MiB", F(beats_max_inflated), 1024, 1u << 31, NULL,
     "largest size a compressed frame may inflate to"},
    {"beats.max-ratio", T_UINT, "1000", F(beats_max_ratio), 2, 1000000, NULL,
     "largest inflated/compressed ratio accepted (zip bombs)"},
    {"beats.max-pairs", T_UINT, "1024", F(beats_max_pairs), 1, 1000000, NULL,
     "most key/value pairs in one v1 data frame"},
    {"beats.max-item", T_SIZE, "1MiB", F(beats_max_item), 16, 1u << 30, NULL,
     "largest key or value in a v1 data frame"},
    {"beats.connection-budget", T_SIZE, "64MiB", F(beats_connection_budget), 65536, 1ull << 36,
     NULL, "memory one connection may hold in flight before its reads pause"},
    {"beats.global-budget", T_SIZE, "128MiB", F(beats_global_budget), 65536, 1ull << 40, NULL,
     "memory all connections together may hold in flight (batches and frames being read) before "
     "reads pause"},
    {"beats.max-connections", T_UINT, "20000", F(beats_max_connections), 1, 1000000, NULL,
     "concurrent Beats connections; more are refused"},
    {"beats.keepalive", T_DURATION, "3s", F(beats_keepalive_ms), 100, 60000, NULL,
     "send a keep-alive ACK (v2) when a window is in flight and nothing was written for this long"},
    {"beats.keepalive-max", T_DURATION, "5m", F(beats_keepalive_max_ms), 1000, 86400000, NULL,
     "close a connection whose window has been in flight this long (the client resends)"},
    {"beats.idle-timeout", T_DURATION, "60s", F(beats_idle_timeout_ms), 100, 86400000, NULL,
     "close a connection with nothing pending after this long without data"},
    {"beats.frame-timeout", T_DURATION, "30s", F(beats_frame_timeout_ms), 100, 86400000, NULL,
     "close a connection that takes longer than this to send one frame"},
    {"syslog.framing", T_ENUM, "auto", F(syslog_framing), 0, 0, "auto|octet|lf",
     "TCP framing: auto decides per frame between octet counting and LF/CRLF/NUL termination"},
    {"syslog.max-message", T_SIZE, "64KiB", F(syslog_max_message), 480, 16u << 20, NULL,
     "largest syslog message; larger ones are truncated or dropped (syslog.oversize)"},
    {"syslog.oversize", T_ENUM, "truncate", F(syslog_oversize), 0, 0, "truncate|drop",
     "what to do with a message over syslog.max-message; the connection stays open either way"},
    {"syslog.udp-buffer", T_SIZE, "8MiB", F(syslog_udp_buffer), 65536, 1u << 30, NULL,
     "UDP socket receive buffer (the kernel may cap it: net.core.rmem_max)"},
    {"syslog.batch-bytes", T_SIZE, "1MiB", F(syslog_batch_bytes), 4096, 64u << 20, NULL,
     "messages are handed to the workers in batches of up to this many bytes"},
    {"syslog.connection-budget", T_SIZE, "16MiB", F(syslog_connection_budget), 65536, 1ull << 34,
     NULL, "memory one TCP connection may hold in flight before its reads pause"},
    {"syslog.max-connections", T_UINT, "10000", F(syslog_max_connections), 1, 1000000, NULL,
     "concurrent syslog TCP connections; more are refused"},
    {"syslog.idle-timeout", T_DURATION, "0", F(syslog_idle_timeout_ms), 0, 86400000, NULL,
     "close a syslog TCP connection silent this long (0: never)"},
    {"syslog.allow-networks", T_LINES, "", F(syslog_allow_networks), 0, 0, ",",
     "networks allowed to send over syslog TCP and UDP (CIDR); empty: any"},
    {"beats.ssl-enabled", T_BOOL, "false", F(beats_tls.ssl_enabled), 0, 0, NULL,
     "TLS on the Beats listener (needs beats.ssl-certificate and beats.ssl-key)"},
    TLS_OPTIONS("beats", beats_tls, 1),
    TLS_OPTIONS("syslog-tls", syslog_tls_opts, 6),
    {"api.ssl-enabled", T_BOOL, "false", F(api_tls.ssl_enabled), 0, 0, NULL,
     "TLS on the HTTP endpoint (needs api.ssl-certificate and api.ssl-key)"},
    TLS_OPTIONS("api", api_tls, 17),
    {"relay.beats.hosts", T_LINES, "", F(relay_beats_hosts), 11, 0, ",",
     "pass every Beats window on to these next hops (Logstash's beats input, another amsiwatch), "
     "HOST:PORT (port 5044 when left out), repeatable or comma-separated; the Beat's ACK then "
     "also waits for the next hop's; empty: no relay"},
    {"relay.beats.loadbalance", T_BOOL, "false", F(relay_beats_loadbalance), 0, 0, NULL,
     "false: the first host, the next when it fails; true: windows spread over every host"},
    {"relay.beats.worker", T_UINT, "1", F(relay_beats_worker), 1, 64, NULL,
     "connections per next hop"},
    {"relay.beats.pipelining", T_UINT, "2", F(relay_beats_pipelining), 1, 64, NULL,
     "windows in flight per connection to a next hop"},
    {"relay.beats.timeout", T_DURATION, "30s", F(relay_beats_timeout_ms), 100, 3600000, NULL,
     "drop a connection whose next hop leaves a window this long without an ACK (keep-alives "
     "count); its windows are sent again"},
    {"relay.beats.backoff.init", T_DURATION, "1s", F(relay_beats_backoff_init_ms), 10, 3600000,
     NULL, "first wait before connecting again to a next hop that failed (doubles each time)"},
    {"relay.beats.backoff.max", T_DURATION, "60s", F(relay_beats_backoff_max_ms), 10, 86400000,
     NULL, "longest wait before connecting again to a next hop"},
    {"relay.beats.ssl.enabled", T_BOOL, "false", F(relay_beats_ssl.enabled), 0, 0, NULL,
     "TLS to the next hops"},
    {"relay.beats.ssl.certificate-authorities", T_LINES, "",
     F(relay_beats_ssl.certificate_authorities), 12, 0, ",",
     "PEM files of the CAs that sign the next hops' certificates; empty: the system's"},
    {"relay.beats.ssl.certificate", T_STR, "", F(relay_beats_ssl.certificate), 0, 0, NULL,
     "client certificate, PEM, for next hops that ask for one"},
    {"relay.beats.ssl.key", T_STR, "", F(relay_beats_ssl.key), 0, 0, NULL,
     "private key of the client certificate, PEM"},
    {"relay.beats.ssl.key-passphrase-file", T_STR, "", F(relay_beats_ssl.key_passphrase_file), 0, 0,
     NULL, "file holding the passphrase of an encrypted key (its first line)"},
    {"relay.beats.ssl.verification-mode", T_ENUM, "full", F(relay_beats_ssl.verification_mode), 0,
     0, "full|strict|certificate|none",
     "full and strict: the chain and the host's name; certificate: the chain only; none"},
    {"relay.beats.ssl.supported-protocols", T_LINES, "TLSv1.2,TLSv1.3",
     F(relay_beats_ssl.supported_protocols), 13, 0, ",", "TLS versions offered to the next hops"},
    {"relay.beats.alerts", T_BOOL, "false", F(relay_beats_alerts), 0, 0, NULL,
     "also send each alert, once durable, to the next hop as one more event (ECS, event.kind "
     "alert, tags amsiwatch); its position is the cursor relay-alerts of the journal"},
    {"relay.syslog.hosts", T_LINES, "", F(relay_syslog_hosts), 14, 0, ",",
     "pass every syslog message on, as it arrived, to these next hops (syslog-ng, rsyslog, "
     "Logstash's syslog input), HOST:PORT (514 when left out), the first and the next when it "
     "fails; empty: no syslog relay"},
    {"relay.syslog.transport", T_ENUM, "tcp", F(relay_syslog_transport), 0, 0, "tcp|tls|udp",
     "tcp and tls: no message is lost while a next hop is down (the senders wait); udp: one "
     "datagram a message, dropped (and counted) when they cannot go"},
    {"relay.syslog.framing", T_ENUM, "octet", F(relay_syslog_framing), 0, 0, "octet|lf",
     "TCP and TLS framing to the next hop: octet counting (RFC 6587) or one message a line"},
    {"relay.syslog.ssl.certificate-authorities", T_LINES, "",
     F(relay_syslog_ssl.certificate_authorities), 15, 0, ",",
     "transport tls: PEM files of the CAs that sign the next hops' certificates; empty: the "
     "system's"},
    {"relay.syslog.ssl.certificate", T_STR, "", F(relay_syslog_ssl.certificate), 0, 0, NULL,
     "transport tls: client certificate, PEM, for next hops that ask for one"},
    {"relay.syslog.ssl.key", T_STR, "", F(relay_syslog_ssl.key), 0, 0, NULL,
     "transport tls: private key of the client certificate, PEM"},
    {"relay.syslog.ssl.key-passphrase-file", T_STR, "", F(relay_syslog_ssl.key_passphrase_file), 0,
     0, NULL, "file holding the passphrase of an encrypted key (its first line)"},
    {"relay.syslog.ssl.verification-mode", T_ENUM, "full", F(relay_syslog_ssl.verification_mode), 0,
     0, "full|strict|certificate|none",
     "full and strict: the chain and the host's name; certificate: the chain only; none"},
    {"relay.syslog.ssl.supported-protocols", T_LINES, "TLSv1.2,TLSv1.3",
     F(relay_syslog_ssl.supported_protocols), 16, 0, ",", "TLS versions offered to the next hops"},
    {"relay.when-down", T_ENUM, "block", F(relay_when_down), 0, 0, "block|spill",
     "while no next hop takes windows: block (they wait unacknowledged, the senders with them) "
     "or spill (to the outbox in DATA_DIR/outbox, acknowledged once durable, sent on in order "
     "when a next hop is back; syslog messages to DATA_DIR/syslog-outbox)"},
    {"relay.spill.max-size", T_SIZE, "10GiB", F(relay_spill_max_bytes), 1u << 20, UINT64_MAX, NULL,
     "the most each outbox holds; past it, windows block (syslog: TCP and TLS senders wait, UDP "
     "messages are dropped and counted)"},
    {"stats-interval", T_DURATION, "60s", F(stats_interval_ms), 0, 86400000, NULL,
     "log the listeners' and the detection's counters this often (0: only when stopping)"},
    {"shutdown-timeout", T_DURATION, "30s", F(shutdown_timeout_ms), 0, 3600000, NULL,
     "on SIGTERM, how long to wait for windows in flight before exiting anyway"},
};

#define NOPTS (sizeof(table) / sizeof(table[0]))

/* The options read only at start: a new value in the file needs a restart (listeners, the data
 * directory, the threads and queues, the journal, the limits of the listeners, the relay); a
 * name ending in '.' covers every key under it (the relay's but its hosts). The rest applies on
 * SIGHUP. */
/* clang-format off */
static const char *const restart_only[] = {
    "data-dir", "beats", "syslog-tcp", "syslog-udp", "syslog-tls", "profile", "workers", "queue",
    "quiet", "journal.", "beats.max-window", "beats.max-json", "beats.max-compressed",
    "beats.max-inflated", "beats.max-ratio", "beats.max-pairs", "beats.max-item",
    "beats.connection-budget", "beats.global-budget", "beats.max-connections", "beats.keepalive",
    "beats.keepalive-max", "beats.idle-timeout", "beats.frame-timeout", "beats.ssl-enabled",
    "syslog.framing", "syslog.max-message", "syslog.oversize", "syslog.udp-buffer",
    "syslog.batch-bytes", "syslog.connection-budget", "syslog.max-connections",
    "syslog.idle-timeout", "relay.", "api", "api.ssl-enabled"};
/* clang-format on */

static const struct option_def *find(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    }
    return NULL;
}

static int parse_number(const char *s, uint64_t *out, const char *const *units,
                        const uint64_t *mult, size_t nunits)
{
    errno = 0;
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    while (*end == ' ')
        end++;
    uint64_t m = 1;
    if (*end) {
        size_t i;
        for (i = 0; i < nunits; i++) {
            if (strcasecmp(end, units[i]) == 0)
                break;
        }
        if (i == nunits)
            return -1;
        m = mult[i];
    }
    if (m && v > UINT64_MAX / m)
        return -1;
    *out = v * m;
    return 0;
}

static int parse_value(const struct option_def *o, struct config *c, const char *v, char *why,
                       size_t whylen)
{
    char *field = (char *)c + o->offset;
    uint64_t n = 0;
    switch (o->type) {
    case T_STR:
    case T_ADDR:
    case T_ENUM:
        if (strlen(v) >= o->size) {
            snprintf(why, whylen, "value longer than %zu characters", o->size - 1);
            return -1;
        }
        if (o->type == T_ENUM) {
            const char *p = o->choices;
            bool ok = false;
            while (*p) {
                const char *bar = strchr(p, '|');
                size_t len = bar ? (size_t)(bar - p) : strlen(p);
                if (strlen(v) == len && strncmp(v, p, len) == 0)
                    ok = true;
                p += len + (bar ? 1 : 0);
            }
            if (!ok) {
                snprintf(why, whylen, "'%s' is not one of %s", v, o->choices);
                return -1;
            }
        }
        if (o->type == T_ADDR && strcmp(v, "off") != 0) {
            const char *colon = strrchr(v, ':');
            char *end;
            long port = colon ? strtol(colon + 1, &end, 10) : -1;
            if (!colon || colon == v || *end || port < 0 || port > 65535 || !colon[1]) {
                snprintf(why, whylen, "'%s' is not ADDR:PORT (or off)", v);
                return -1;
            }
        }
        snprintf(field, o->size, "%s", v);
        return 0;
    case T_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
            *(bool *)field = true;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
            *(bool *)field = false;
        else {
            snprintf(why, whylen, "'%s' is not true or false", v);
            return -1;
        }
        return 0;
    case T_UINT:
        if (parse_number(v, &n, NULL, NULL, 0) < 0) {
            snprintf(why, whylen, "'%s' is not a whole number", v);
            return -1;
        }
        break;
    case T_SIZE: {
        static const char *const u[] = {"b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib"};
        static const uint64_t m[] = {1,       1024,    1024,    1024,    1 << 20,
                                     1 << 20, 1 << 20, 1 << 30, 1 << 30, 1 << 30};
        if (parse_number(v, &n, u, m, 10) < 0) {
            snprintf(why, whylen, "'%s' is not a size (e.g. 512KiB, 64MiB, 1GiB)", v);
            return -1;
        }
        break;
    }
    case T_DURATION: {
        static const char *const u[] = {"ms", "s", "m", "h", "d"};
        static const uint64_t m[] = {1, 1000, 60000, 3600000, 86400000};
        if (parse_number(v, &n, u, m, 5) < 0) {
            snprintf(why, whylen, "'%s' is not a duration (e.g. 500ms, 10s, 5m, 7d)", v);
            return -1;
        }
        break;
    }
    case T_LINES: {
        uint64_t bit = 1ull << o->min;
        if (!(c->lists_set & bit)) {
            field[0] = '\0';
            c->lists_set |= bit;
        }
        const char *p = v;
        while (*p) {
            size_t len;
            if (o->choices) {
                while (*p == ',' || *p == ' ' || *p == '\t')
                    p++;
                len = strcspn(p, ", \t");
            } else {
                len = strlen(p);
            }
            if (!len)
                break;
            size_t have = strlen(field);
            if (have + len + 2 > o->size) {
                snprintf(why, whylen, "the list is longer than %zu characters", o->size - 2);
                return -1;
            }
            if (have)
                field[have++] = '\n';
            memcpy(field + have, p, len);
            field[have + len] = '\0';
            p += len;
        }
        return 0;
    }
    case T_LIST: {
        size_t *count = &c->nwebhooks;
        if (!*v)
            return 0;
        if (*count >= CONFIG_MAX_LIST) {
            snprintf(why, whylen, "at most %d values", CONFIG_MAX_LIST);
            return -1;
        }
        if (strlen(v) >= sizeof(c->webhooks[0])) {
            snprintf(why, whylen, "value too long");
            return -1;
        }
        snprintf(c->webhooks[(*count)++], sizeof(c->webhooks[0]), "%s", v);
        return 0;
    }
    }
    if (n < o->min || n > o->max) {
        snprintf(why, whylen, "%" PRIu64 " is outside %" PRIu64 " to %" PRIu64, n, o->min, o->max);
        return -1;
    }
    *(uint64_t *)field = n;
    return 0;
}

/* The option a file key or a flag names, aliases included. */
static const struct option_def *lookup(const char *name)
{
    /* In a file, the listener can sit beside the Beats limits: beats: {listen: ..., max-window:}.
     */
    if (strcmp(name, "beats.listen") == 0)
        name = "beats";
    if (strcmp(name, "syslog-tls.listen") == 0)
        name = "syslog-tls";
    if (strcmp(name, "log.level") == 0)
        name = "log-level"; /* beside log.format: log: {level: debug, format: json} */
    if (strcmp(name, "api.address") == 0)
        name = "api";
    const struct option_def *o = find(name);
    if (!o && strchr(name, '_')) {
        /* Logstash spells its options with underscores (ssl_certificate): take them too. */
        char dashed[256];
        snprintf(dashed, sizeof(dashed), "%s", name);
        for (char *p = dashed; *p; p++) {
            if (*p == '_')
                *p = '-';
        }
        o = find(dashed);
    }
    return o;
}

int config_set(struct config *c, const char *name, const char *value, char *why, size_t whylen)
{
    const struct option_def *o = lookup(name);
    if (!o) {
        snprintf(why, whylen, "unknown key");
        return -1;
    }
    return parse_value(o, c, value, why, whylen);
}

bool config_needs_restart(const char *name)
{
    /* A running relay takes a new host list (turning it on or off needs a restart). */
    if (strcmp(name, "relay.beats.hosts") == 0 || strcmp(name, "relay.syslog.hosts") == 0)
        return false;
    for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
        const char *r = restart_only[i];
        size_t len = strlen(r);
        if (r[len - 1] == '.' ? strncmp(name, r, len) == 0 : strcmp(name, r) == 0)
            return true;
    }
    return false;
}

/* True when option O holds the same value in A and B (strings up to their end only). */
static bool same_value(const struct option_def *o, const struct config *a, const struct config *b)
{
    const char *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;
    switch (o->type) {
    case T_STR:
    case T_ADDR:
    case T_ENUM:
    case T_LINES:
        return strcmp(x, y) == 0;
    case T_LIST:
        if (a->nwebhooks != b->nwebhooks)
            return false;
        for (size_t i = 0; i < a->nwebhooks; i++) {
            if (strcmp(a->webhooks[i], b->webhooks[i]) != 0)
                return false;
        }
        return true;
    case T_BOOL:
        return *(const bool *)x == *(const bool *)y;
    default:
        return *(const uint64_t *)x == *(const uint64_t *)y;
    }
}

size_t config_diff(const struct config *a, const struct config *b, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        if (same_value(&table[i], a, b))
            continue;
        if (n < max)
            names[n] = table[i].name;
        n++;
    }
    return n;
}

void config_copy_option(struct config *dst, const struct config *src, const char *name)
{
    const struct option_def *o = find(name);
    if (!o)
        return;
    if (o->type == T_LIST) {
        memcpy(dst->webhooks, src->webhooks, sizeof(dst->webhooks));
        dst->nwebhooks = src->nwebhooks;
        return;
    }
    memcpy((char *)dst + o->offset, (const char *)src + o->offset, o->size);
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    char why[200];
    for (size_t i = 0; i < NOPTS; i++) {
        if (parse_value(&table[i], c, table[i].def, why, sizeof(why)) < 0)
            abort(); /* a broken default is a programming error */
    }
    c->lists_set = 0; /* the first value given replaces a list's default */
}

/* ---- YAML: nested mappings are flattened to dotted keys; a sequence gives a list. ---- */

struct yctx {
    struct config *c;
    const char *path;
    FILE *err;
};

/* Replaces control characters (a value or key may hold line breaks) so that an error stays on
 * its one line. */
static char *one_line(char *s)
{
    for (char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    return s;
}

/* A scalar that holds a NUL ("\0" in a quoted string) would be cut there without a word. */
static bool holds_nul(const yaml_event_t *e)
{
    return strlen((const char *)e->data.scalar.value) != e->data.scalar.length;
}

static int apply_scalar(struct yctx *y, const char *key, const char *value, size_t line)
{
    char why[256];
    if (config_set(y->c, key, value, why, sizeof(why)) < 0) {
        one_line(why);
        fprintf(y->err, "amsiwatch: %s:%zu: key '%s': %s\n", y->path, line, key, why);
        return -1;
    }
    return 0;
}

static int yaml_error(struct yctx *y, yaml_parser_t *p)
{
    fprintf(y->err, "amsiwatch: %s:%zu: YAML error: %s\n", y->path, p->problem_mark.line + 1,
            p->problem ? p->problem : "unreadable");
    return -1;
}

static int next_event(yaml_parser_t *p, yaml_event_t *e, struct yctx *y)
{
    if (!yaml_parser_parse(p, e))
        return yaml_error(y, p);
    return 0;
}

/* Receives each scalar found while walking a mapping: KEY is its dotted path, IN_LIST says it is
 * an item of a sequence. Returns 0, or -1 after printing why. */
typedef int (*scalar_fn)(struct yctx *y, void *ctx, const char *key, const char *value, size_t line,
                         bool in_list);

static int parse_targets(yaml_parser_t *p, struct yctx *y);

/* Walks a mapping's content to its end, nested mappings flattened to dotted keys, sequences of
 * scalars given item by item. At the top level (TOP), `webhooks:` is a sequence of mappings. */
static int walk_mapping(yaml_parser_t *p, struct yctx *y, const char *prefix, int depth,
                        scalar_fn fn, void *ctx, bool top)
{
    for (;;) {
        yaml_event_t k;
        if (next_event(p, &k, y) < 0)
            return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return 0;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            fprintf(y->err, "amsiwatch: %s:%zu: expected a key\n", y->path, k.start_mark.line + 1);
            yaml_event_delete(&k);
            return -1;
        }
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
                 (const char *)k.data.scalar.value);
        one_line(key); /* no option's name holds one: it stays unknown, and printable */
        size_t line = k.start_mark.line + 1;
        bool nul = holds_nul(&k);
        yaml_event_delete(&k);
        if (nul) {
            fprintf(y->err, "amsiwatch: %s:%zu: key '%s': a key holds a NUL character\n", y->path,
                    line, key);
            return -1;
        }
        yaml_event_t v;
        if (next_event(p, &v, y) < 0)
            return -1;
        int rc = 0;
        if (v.type == YAML_SCALAR_EVENT && holds_nul(&v)) {
            fprintf(y->err, "amsiwatch: %s:%zu: key '%s': the value holds a NUL character\n",
                    y->path, line, key);
            rc = -1;
        } else if (v.type == YAML_SCALAR_EVENT) {
            rc = fn(y, ctx, key, (const char *)v.data.scalar.value, line, false);
        } else if (v.type == YAML_MAPPING_START_EVENT) {
            if (depth >= 8) {
                fprintf(y->err, "amsiwatch: %s:%zu: key '%s': nested too deeply\n", y->path, line,
                        key);
                rc = -1;
            } else {
                rc = walk_mapping(p, y, key, depth + 1, fn, ctx, false);
            }
        } else if (v.type == YAML_SEQUENCE_START_EVENT && top && strcmp(key, "webhooks") == 0) {
            rc = parse_targets(p, y);
        } else if (v.type == YAML_SEQUENCE_START_EVENT) {
            for (;;) {
                yaml_event_t item;
                if (next_event(p, &item, y) < 0) {
                    rc = -1;
                    break;
                }
                if (item.type == YAML_SEQUENCE_END_EVENT) {
                    yaml_event_delete(&item);
                    break;
                }
                if (item.type != YAML_SCALAR_EVENT) {
                    fprintf(y->err, "amsiwatch: %s:%zu: key '%s': expected a list of values\n",
                            y->path, item.start_mark.line + 1, key);
                    rc = -1;
                } else if (holds_nul(&item)) {
                    fprintf(y->err,
                            "amsiwatch: %s:%zu: key '%s': the value holds a NUL character\n",
                            y->path, item.start_mark.line + 1, key);
                    rc = -1;
                } else {
                    rc = fn(y, ctx, key, (const char *)item.data.scalar.value,
                            item.start_mark.line + 1, true);
                }
                yaml_event_delete(&item);
                if (rc < 0)
                    break;
            }
        } else {
            fprintf(y->err, "amsiwatch: %s:%zu: key '%s': unexpected value\n", y->path, line, key);
            rc = -1;
        }
        yaml_event_delete(&v);
        if (rc < 0)
            return -1;
    }
}

/* A scalar of the option mapping. */
static int option_scalar(struct yctx *y, void *ctx, const char *key, const char *value, size_t line,
                         bool in_list)
{
    (void)ctx;
    const struct option_def *o = lookup(key);
    if (in_list && o && o->type != T_LIST && o->type != T_LINES) {
        fprintf(y->err, "amsiwatch: %s:%zu: key '%s': takes one value, not a list\n", y->path, line,
                key);
        return -1;
    }
    return apply_scalar(y, key, value, line);
}

/* A scalar of one webhook target's mapping. */
static int target_scalar(struct yctx *y, void *ctx, const char *key, const char *value, size_t line,
                         bool in_list)
{
    (void)in_list;
    char why[300];
    if (target_set(ctx, key, value, why, sizeof(why)) < 0) {
        one_line(why);
        fprintf(y->err, "amsiwatch: %s:%zu: webhooks: key '%s': %s\n", y->path, line, key, why);
        return -1;
    }
    return 0;
}

static int parse_targets(yaml_parser_t *p, struct yctx *y)
{
    for (;;) {
        yaml_event_t item;
        if (next_event(p, &item, y) < 0)
            return -1;
        if (item.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&item);
            return 0;
        }
        size_t line = item.start_mark.line + 1;
        bool mapping = item.type == YAML_MAPPING_START_EVENT;
        yaml_event_delete(&item);
        if (!mapping) {
            fprintf(y->err,
                    "amsiwatch: %s:%zu: webhooks: each target is a mapping (url:, "
                    "format:, ...)\n",
                    y->path, line);
            return -1;
        }
        struct target t;
        target_defaults(&t);
        snprintf(t.name, sizeof(t.name), "webhook-%zu", y->c->targets.n + 1);
        if (walk_mapping(p, y, "", 0, target_scalar, &t, false) < 0)
            return -1;
        char why[300];
        if (target_validate(&t, why, sizeof(why)) < 0) {
            one_line(why);
            fprintf(y->err, "amsiwatch: %s:%zu: webhooks: %s\n", y->path, line, why);
            return -1;
        }
        if (target_list_add(&y->c->targets, &t) < 0)
            return -1;
    }
}

int config_load_file(struct config *c, const char *path, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(err, "amsiwatch: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    struct yctx y = {.c = c, .path = path, .err = err};
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t e;
        if (next_event(&p, &e, &y) < 0) {
            rc = -1;
            break;
        }
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            rc = walk_mapping(&p, &y, "", 0, option_scalar, NULL, true);
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            fprintf(err, "amsiwatch: %s:%zu: the file must be a mapping of keys to values\n", path,
                    e.start_mark.line + 1);
            rc = -1;
            break;
        default:
            break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

/* ---- Command line ---- */

static void flag_name(const struct option_def *o, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", o->name);
    for (char *p = out; *p; p++) {
        if (*p == '.')
            *p = '-';
    }
}

static const char *type_hint(const struct option_def *o)
{
    switch (o->type) {
    case T_STR:
        return "TEXT";
    case T_BOOL:
        return "";
    case T_UINT:
        return "N";
    case T_SIZE:
        return "SIZE";
    case T_DURATION:
        return "DURATION";
    case T_ENUM:
        return o->choices;
    case T_ADDR:
        return "ADDR:PORT|off";
    case T_LIST:
        return "[NAME=][FORMAT:]URL";
    case T_LINES:
        return o->choices ? "A,B,..." : "VALUE";
    }
    return "";
}

void config_print_reference(FILE *f, bool markdown)
{
    if (markdown) {
        fprintf(f, "| YAML key | flag | default | meaning |\n|---|---|---|---|\n");
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const struct option_def *o = &table[i];
        char flag[96];
        flag_name(o, flag, sizeof(flag));
        const char *hint = type_hint(o);
        if (markdown) {
            /* A '|' inside a Markdown table cell must be escaped. */
            char esc[64];
            size_t k = 0;
            for (const char *h = hint; *h && k + 2 < sizeof(esc); h++) {
                if (*h == '|')
                    esc[k++] = '\\';
                esc[k++] = *h;
            }
            esc[k] = '\0';
            fprintf(f, "| `%s` | `--%s%s%s` | `%s` | %s |\n", o->name, flag, *hint ? " " : "", esc,
                    *o->def ? o->def : "(none)", o->help);
        } else {
            char left[160];
            snprintf(left, sizeof(left), "--%s%s%s", flag, *hint ? " " : "", hint);
            fprintf(f, "  %-36s %s", left, o->help);
            fprintf(f, *o->def ? " (default %s)\n" : "\n", o->def);
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: amsiwatch serve [--config FILE] [OPTION]...\n"
               "Receives Beats (Lumberjack v1/v2) traffic, runs the AmsiEnable rule on every\n"
               "event, journals every alert durably before acknowledging, and prints alerts as\n"
               "JSON lines unless --quiet or a webhook is configured. Prints one line\n"
               "\"ready beats=ADDR:PORT syslog-tcp=ADDR:PORT syslog-udp=ADDR:PORT\n"
               "syslog-tls=ADDR:PORT\" on standard error when every listener is bound\n"
               "(listeners that are off are left out). SIGHUP reads the configuration again\n"
               "and applies it (webhook targets, allow lists, TLS, relay hosts, log level); the\n"
               "log names each option that needs a restart instead.\n\n"
               "  --config FILE                        YAML file with the keys below (nested or\n"
               "                                       dotted); flags win over the file\n"
               "  --help                               show this help\n"
               "  --help-markdown                      the reference below as a Markdown table\n");
    config_print_reference(f, false);
    fprintf(f, "\nOptions of one webhook target (a mapping in the file's webhooks: list):\n");
    target_print_reference(f, false);
}

int config_parse_args(struct config *c, int argc, char **argv, FILE *out, FILE *err)
{
    struct option longopts[NOPTS + 5];
    char names[NOPTS][96];
    for (size_t i = 0; i < NOPTS; i++) {
        flag_name(&table[i], names[i], sizeof(names[i]));
        longopts[i] = (struct option){
            names[i], table[i].type == T_BOOL ? optional_argument : required_argument, NULL,
            (int)(1000 + i)};
    }
    longopts[NOPTS] = (struct option){"config", required_argument, NULL, 'c'};
    longopts[NOPTS + 1] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[NOPTS + 2] = (struct option){"help-markdown", no_argument, NULL, 'M'};
    longopts[NOPTS + 3] = (struct option){"help-webhooks-markdown", no_argument, NULL, 'W'};
    longopts[NOPTS + 4] = (struct option){NULL, 0, NULL, 0};

    /* Pass 1: the file, so that flags override it. */
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            usage(out);
            return 1;
        }
        if (opt == 'M') {
            config_print_reference(out, true);
            return 1;
        }
        if (opt == 'W') {
            target_print_reference(out, true);
            return 1;
        }
        if (opt == 'c' && config_load_file(c, optarg, err) < 0)
            return -1;
    }
    /* Pass 2: every flag, in order. */
    optind = 1;
    opterr = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'c' || opt == 'h' || opt == 'M' || opt == 'W')
            continue;
        if (opt < 1000 || opt >= 1000 + (int)NOPTS) {
            fprintf(err, "amsiwatch serve: see 'amsiwatch serve --help'\n");
            return -1;
        }
        const struct option_def *o = &table[opt - 1000];
        const char *v = optarg ? optarg : (o->type == T_BOOL ? "true" : "");
        char why[256];
        if (parse_value(o, c, v, why, sizeof(why)) < 0) {
            fprintf(err, "amsiwatch serve: --%s: %s\n", names[opt - 1000], why);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(err, "amsiwatch serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    for (size_t i = 0; i < c->nwebhooks; i++) {
        struct target t;
        char why[300];
        if (target_from_flag(&t, c->webhooks[i], c->targets.n, why, sizeof(why)) < 0 ||
            target_validate(&t, why, sizeof(why)) < 0) {
            fprintf(err, "amsiwatch serve: --webhook: %s\n", why);
            return -1;
        }
        if (target_list_add(&c->targets, &t) < 0)
            return -1;
    }
    for (size_t i = 0; i < c->targets.n; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(c->targets.v[i].name, c->targets.v[k].name) == 0) {
                fprintf(err, "amsiwatch serve: two webhook targets are named '%s'\n",
                        c->targets.v[i].name);
                return -1;
            }
        }
    }
    return 0;
}

void config_free(struct config *c)
{
    target_list_free(&c->targets);
}
