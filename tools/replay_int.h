/* amsiwatch replay, internal interfaces shared by tools/replay*.c: the options, the input held in
 * memory, the window encoder and the latency histogram. Not part of the tools' public surface.
 *
 * Threads: everything runs on the main (loop) thread but rp_encode_window, which is pure over a
 * loaded input and runs on the libuv thread pool. */
#ifndef AMSI_TOOLS_REPLAY_INT_H
#define AMSI_TOOLS_REPLAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"

/* ---- Options (replay_options.c) ---- */

#define MAX_WINDOW        10000u /* what go-lumber and amsiwatch accept */
#define MAX_CONNECTIONS   100000u
#define DEFAULT_MAX_INPUT ((size_t)1 << 30)
#define DEFAULT_MAX_EVENT ((size_t)4 << 20)

enum rp_proto { RP_PROTO_BEATS, RP_PROTO_SYSLOG_TCP, RP_PROTO_SYSLOG_UDP };

struct rp_opts {
    char target[300]; /* HOST:PORT or [IPv6]:PORT, as given */
    char host[256];   /* the target's host, without brackets */
    char port[300];   /* the target's port, as given */
    enum rp_proto proto;
    int version; /* Lumberjack 1 or 2 */
    bool lf;     /* syslog TCP framing */
    uint32_t connections, window, pipelining;
    int level;
    double rate; /* events/s; 0 = unlimited */
    uint64_t count, duration_ms, ack_timeout_ms;
    bool loop, precompress, no_reconnect, json;
    bool progress; /* false with --no-progress or --json; the caller also turns it off when
                      standard error is not a terminal */
    size_t max_input, max_event;
    char **paths; /* the input files: the rest of ARGV */
    int npaths;
    /* TLS (--tls): the CA file (NULL: the system store), the client certificate and key, the
     * name sent as SNI and checked against the server's certificate (by default the target's
     * host). */
    bool tls, tls_insecure;
    const char *tls_ca, *tls_cert, *tls_key;
    char tls_server_name[256];
};

/* What rp_options_parse found. */
enum rp_parsed {
    RP_PARSE_ERROR = -1, /* an option's value, or options together, are wrong: WHY says which */
    RP_PARSE_RUN = 0,    /* O holds the options of a run */
    RP_PARSE_HELP = 1,   /* --help */
    RP_PARSE_USAGE = 2,  /* getopt_long rejected an argument (unknown option, value missing or not
                            allowed) and said so on standard error, unless opterr is 0; WHY names
                            the argument */
};

/* Parses ARGV (ARGV[0] is "replay"; getopt_long is started over) into O, defaults first, and
 * checks the options together and the target's form (HOST:PORT, not resolved). WHY (WHYLEN bytes)
 * receives one line, without the program's name, on RP_PARSE_ERROR and RP_PARSE_USAGE. Pure but
 * for getopt_long's globals and the message it prints when opterr is set. */
int rp_options_parse(int argc, char **argv, struct rp_opts *o, char *why, size_t whylen);

/* The help text. */
void rp_usage(FILE *f);

/* "beats", "syslog-tcp" or "syslog-udp". */
const char *rp_proto_name(enum rp_proto p);

/* ---- The input (replay_input.c) ---- */

/* What the events are turned into when loaded. */
enum rp_shape {
    RP_BEATS_V2,   /* the JSON line as-is (a line that is not a JSON object: {"message":LINE}) */
    RP_BEATS_V1,   /* NUL-terminated key, value, key, value...: the flattened object */
    RP_SYSLOG_OCT, /* "LEN SP MSG" (RFC 6587 octet counting) */
    RP_SYSLOG_LF,  /* "MSG\n" */
    RP_SYSLOG_UDP, /* "MSG", one datagram each */
};

struct rp_event {
    uint64_t off;   /* into rp_input.data */
    uint32_t len;   /* bytes of the event's encoded form */
    uint32_t pairs; /* RP_BEATS_V1: key/value pairs */
};

/* Every event of the input, encoded once for the chosen shape, back to back in DATA (so a slice
 * of syslog events is one contiguous byte range). Owned by the caller of rp_input_load. */
struct rp_input {
    enum rp_shape shape;
    struct buf data;
    struct rp_event *ev;
    size_t n, cap;
    uint32_t *cand;     /* n + 1 entries: prefilter candidates among events [0, i) */
    uint64_t raw_bytes; /* bytes of the input lines, before any framing */
    char hostname[256]; /* for the RFC 5424 header put around NDJSON lines sent as syslog */
};

/* Limits for loading. */
struct rp_load_opts {
    enum rp_shape shape;
    size_t max_input; /* bytes of DATA */
    size_t max_event; /* bytes of one input line */
};

/* Reads PATHS (NPATHS of them; none means standard input), plain or LZ4, one event per line
 * (blank lines skipped). Returns 0, or a negative errno with a one-line reason in ERR. */
int rp_input_load(struct rp_input *in, const struct rp_load_opts *o, char *const *paths, int npaths,
                  char *err, size_t errlen);

void rp_input_free(struct rp_input *in);

/* Candidates among events [START, START + N). */
static inline uint32_t rp_candidates(const struct rp_input *in, size_t start, uint32_t n)
{
    return in->cand[start + n] - in->cand[start];
}

/* Appends to OUT one Lumberjack window of events [START, START + N): 'W' N, then either one 'C'
 * frame (zlib LEVEL 1-9) holding the data frames or, at LEVEL 0, the bare data frames. v2: 'J'
 * frames numbered 1..N. v1 ('D' frames): numbered SEQ_BASE + 1 .. SEQ_BASE + N. Returns 0 or a
 * negative errno. Pure: any thread. */
int rp_encode_window(const struct rp_input *in, size_t start, uint32_t n, int level,
                     uint32_t seq_base, struct buf *out);

/* A log-linear histogram of microsecond values (relative error under 1/64), fixed size. */
#define RP_HIST_BUCKETS 2560
struct rp_hist {
    uint64_t count, max;
    uint64_t b[RP_HIST_BUCKETS];
};

void rp_hist_add(struct rp_hist *h, uint64_t us);

/* The value at quantile Q (0..1), or 0 when empty. */
uint64_t rp_hist_quantile(const struct rp_hist *h, double q);

#endif
