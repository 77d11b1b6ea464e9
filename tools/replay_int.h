/* amsiwatch replay, internal interfaces shared by tools/replay*.c: the options, the input held in
 * memory, the window encoder and the latency histogram, the state of a run, and what the sender
 * loop, the TLS client and the report call of each other. Not part of the tools' public surface.
 *
 * Threads: everything runs on the main (loop) thread but rp_encode_window, which is pure over a
 * loaded input and runs on the libuv thread pool. */
#ifndef AMSI_TOOLS_REPLAY_INT_H
#define AMSI_TOOLS_REPLAY_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/buf.h"

/* ---- Options (replay_options.c) ---- */

#define RP_MAX_WINDOW        10000u /* what go-lumber and amsiwatch accept */
#define RP_MAX_CONNECTIONS   100000u
#define RP_DEFAULT_MAX_INPUT ((size_t)1 << 30)
#define RP_DEFAULT_MAX_EVENT ((size_t)4 << 20)

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

/* ---- The run: its state, shared by replay_send.c, replay_tls.c, replay_report.c, replay.c ---- */

#define RP_READ_BUF 65536u /* bytes read from a receiver at once */

struct rp_run;
struct rp_conn;
struct tlsio;
struct ssl_ctx_st;

/* One window assigned to a connection: waiting for its bytes, written, or waiting for its ACK. */
struct rp_win {
    struct rp_win *next;
    struct rp_conn *conn;
    uint64_t start;     /* first event (index into the input) */
    uint32_t n;         /* events */
    uint32_t seq_base;  /* v1: the window's sequence numbers are seq_base + 1 .. seq_base + n */
    uint32_t next_base; /* v1: SEQ_BASE to use once the encoding under way (STALE) is done */
    uint32_t acked;     /* events of this window acknowledged so far */
    const char *bytes;  /* what is written: prepared (shared), a slice of the input, or OWN */
    size_t len;
    struct buf own;
    uint64_t write_ns;
    int work_rc;
    bool ready, written, writing, working, stale, done, counted, candidate;
    uv_write_t wreq;
    uv_work_t work;
};

/* RP_CONN_HANDSHAKE: connected, the TLS handshake under way (--tls only). */
enum rp_cstate {
    RP_CONN_NEW,
    RP_CONN_CONNECTING,
    RP_CONN_HANDSHAKE,
    RP_CONN_OPEN,
    RP_CONN_CLOSING,
    RP_CONN_WAIT,
    RP_CONN_DONE
};

/* One connection (TCP, or a connected UDP socket), re-made after a drop. */
struct rp_conn {
    struct rp_run *run;
    uint32_t id;
    union {
        uv_tcp_t tcp;
        uv_udp_t udp;
        uv_handle_t handle;
    } h;
    uv_connect_t creq;
    enum rp_cstate state;
    struct rp_win *head, *tail;
    uint32_t nwin;
    uint32_t v1_seq; /* v1: the last sequence number given out on this connection */
    uint8_t carry[6];
    size_t ncarry;
    uint64_t activity_ns; /* the last ACK read, or the write that started a wait for one */
    uint64_t since_ns;    /* when the connect started, or when the backoff ends */
    unsigned failures;
    bool ever_open, reconnect, in_ready, udp_blocked;
    bool progressed; /* an ACK advanced since this connection opened */
    bool tls_heard;  /* --tls: application data came back on this connection (an ACK) */
    bool lingering;  /* --tls, at the end: close_notify and FIN sent, reading until the EOF */
    uv_shutdown_t sreq;
    uint64_t udp_pos, udp_end;
    struct rp_conn *ready_next;
    struct tlsio *tls; /* --tls: this connection's engine, made anew for each connection */
};

/* What the report counts. */
struct rp_stats {
    uint64_t events_sent, events_acked, events_resent, windows_sent, windows_acked;
    uint64_t cand_windows, bytes_sent, payload_bytes, keepalives, reconnects, errors;
    struct rp_hist lat, lat_cand;
};

/* One run: the options, the input, every connection, the loop and what was counted. */
struct rp_run {
    struct rp_opts o;
    uv_loop_t *loop;
    struct rp_input in;
    struct sockaddr_storage addr;
    uint8_t version_byte;
    struct rp_conn *conns;
    uint32_t next_to_open, connecting;
    /* --precompress: window K holds events [K * window, ...), built once, shared by all. */
    struct buf *prep;
    size_t nslices, prep_pending;
    uv_work_t *prep_work;
    atomic_int prep_rc;
    /* The cursor over the input. */
    size_t slice;
    uint64_t assigned;
    bool exhausted, stopping, aborting, closed;
    struct rp_conn *ready_head, *ready_tail;
    double tokens;
    uint64_t tokens_ns;
    uv_timer_t tick, rate_timer, duration_timer, udp_timer;
    uv_idle_t pump_idle;
    uv_signal_t sigint, sigterm;
    int signals;
    size_t jobs;
    uint64_t start_ns, end_ns, last_progress_ns, prep_ns;
    bool started, progress_shown;
    struct rp_stats st;
    char error[512];
    /* --tls */
    struct ssl_ctx_st *ssl_ctx; /* OpenSSL's SSL_CTX */
    uv_timer_t linger_timer;
    uint32_t lingering;
    bool tls_cert_requested; /* a server asked for a client certificate and none was set */
    char tls_protocol[32], tls_cipher[96];
};

static inline bool rp_beats(const struct rp_run *r)
{
    return r->o.proto == RP_PROTO_BEATS;
}

/* ---- The sender loop (replay_send.c) ---- */

/* Makes R's loop, connections and timers once R->o, R->in and R->ssl_ctx are set. Returns 0 or
 * -ENOMEM. */
int rp_run_init(struct rp_run *r);

/* Runs the loop until every window is sent (and, for Beats, acknowledged), the run is stopped
 * (--duration, a signal) or it fails; then R->st, R->error and the times tell how it went. */
void rp_run_loop(struct rp_run *r);

/* Frees what rp_run_init and the run made (the loop, the connections, their windows and engines,
 * the prepared windows); not R->in, R->ssl_ctx or R. */
void rp_run_close(struct rp_run *r);

/* What the TLS client calls back: */

/* A failure that ends the run: counted, logged, every connection closed. */
void rp_run_fail(struct rp_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The write of window W ended with STATUS (0 or a libuv error); WIRE bytes went out. */
void rp_window_written(struct rp_win *w, int status, size_t wire);

/* Bytes read from the receiver (decrypted with --tls): ACK frames. */
void rp_conn_on_bytes(struct rp_conn *c, const uint8_t *p, size_t n);

/* The connection is open (with --tls: the handshake is done): it takes windows. */
void rp_conn_established(struct rp_conn *c);

/* The connection broke (WHY, e.g. "closed by the receiver"): it reconnects and its windows go
 * again, or the run ends. */
void rp_conn_drop(struct rp_conn *c, const char *why);

/* ---- The TLS client (replay_tls.c) ---- */

/* The client context every connection's engine is made from (TLS 1.2 or 1.3, the server verified
 * unless --tls-insecure, the client certificate when given, no session resumption), or NULL with
 * the reason in ERR. */
struct ssl_ctx_st *rp_tls_context(struct rp_run *r, char *err, size_t errlen);
void rp_tls_context_free(struct ssl_ctx_st *ctx);

/* A connection is made: a new engine, and the ClientHello goes out. Returns 0, or -1 when the
 * run failed. */
int rp_tls_start(struct rp_conn *c);

/* Ciphertext read from the receiver: the handshake, then ACKs for rp_conn_on_bytes. */
void rp_tls_on_cipher(struct rp_conn *c, const uint8_t *p, size_t n);

/* Window W, encrypted and written with one uv_write. Returns 0, a libuv error, or 1 when the run
 * failed. */
int rp_tls_send(struct rp_conn *c, struct rp_win *w);

/* The engine's close_notify, written. Returns 0 or a libuv error. */
int rp_tls_close_notify(struct rp_conn *c);

/* The connection's engine, freed (NULL is fine). */
void rp_tls_conn_free(struct rp_conn *c);

/* ---- The report (replay_report.c) ---- */

/* The progress line on standard error (when O.progress), NOW being uv_hrtime(). */
void rp_show_progress(struct rp_run *r, uint64_t now);

/* The final report on standard output, as text or (--json) one JSON object; OK: the run
 * succeeded. */
void rp_report(struct rp_run *r, bool ok);

#endif
