/* The daemon's shared state, private to server/. Everything here belongs to the libuv loop thread
 * unless a field says otherwise. */
#ifndef AMSI_SERVER_SERVER_H
#define AMSI_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/histogram.h"
#include "base/log.h"
#include "notify/delivery.h"
#include "pipeline/alert_sink.h"
#include "pipeline/batch.h"
#include "pipeline/workers.h"
#include "protocol/lumberjack.h"
#include "server/conn.h"
#include "server/config.h"
#include "server/secure.h"
#include "store/journal.h"

struct beats_conn;
struct relay;
struct outbox;
struct feed;

/* Counters of one syslog listener. Loop thread. */
struct syslogd_counters {
    uint64_t messages, bytes, drops, truncated, framing_errors, invalid_utf8, tls_on_plaintext;
    uint64_t connections, refused;
    uint64_t budget_waits; /* TCP reads paused on syslog.connection-budget */
};

struct server {
    uv_loop_t *loop;
    struct config cfg;
    int argc; /* serve's command line, read again on SIGHUP (main()'s, for the process's life) */
    char **argv;
    struct lj_limits limits;
    struct journal *journal;
    struct workers *workers;
    struct alert_sink sink;
    struct batch_handoff handoff; /* every batch's way back to the loop (server/serve.c) */
    bool print_alerts;
    struct delivery *delivery;    /* NULL without webhook targets */
    struct relay *relay;          /* NULL without relay.beats.hosts */
    struct outbox *outbox;        /* relay.when-down: spill */
    bool relay_was_up;            /* spill: at the last tick, some next hop was up */
    size_t spill_holds;           /* spill: connections whose next window waits for the outbox */
    uint64_t spill_held_ms;       /* ...and the last time some did */
    struct feed *alert_feed;      /* relay.beats.alerts */
    struct relay *syslog_relay;   /* relay.syslog over TCP or TLS */
    struct outbox *syslog_outbox; /* relay.when-down: spill, for relay.syslog over TCP or TLS */
    bool syslog_relay_was_up;     /* spill: at the last tick, the syslog next hop was up */
    SSL_CTX *syslog_relay_tls;
    bool syslog_relay_verify_host;
    uv_udp_t syslog_relay_udp; /* relay.syslog over UDP */
    bool syslog_relay_udp_open;
    struct sockaddr_storage syslog_relay_addr;
    struct buf udp_relayed; /* UDP messages framed for the TCP/TLS relay this loop turn */
    uint32_t udp_relayed_count;
    uint32_t udp_relay_runs; /* runs of UDP messages in the relay */
    struct {
        uint64_t messages, bytes, dropped;
    } syslog_relayed;
    uint64_t syslog_relay_pending; /* messages in runs the relay or the outbox has not yet
                                    * written or made durable */
    uint64_t syslog_relay_lost;    /* messages of runs that went neither way (a stop) */
    SSL_CTX *relay_tls;            /* relay.beats.ssl.enabled: the client context */
    bool relay_verify_host;

    /* Completed batches, pushed by worker and journal threads (lock-free MPSC stack), taken by the
     * loop after one uv_async_send on the empty-to-non-empty edge. */
    _Atomic(struct batch *) done_head;
    uv_async_t done_async;
    pthread_mutex_t done_mu;   /* orders the last wake-up against closing DONE_ASYNC */
    bool loop_closed;          /* under DONE_MU: completions no longer wake the loop */
    uint64_t inflight_batches; /* submitted to the workers and not yet back (loop thread) */

    uv_tcp_t beats_listener;
    bool beats_listening;

    uv_tcp_t syslog_tcp;
    bool syslog_tcp_listening;
    uv_tcp_t syslog_tls;
    bool syslog_tls_listening;
    struct syslogd_counters tls_counters;
    uv_udp_t syslog_udp;
    bool syslog_udp_listening;
    uv_check_t syslog_flush; /* hands the UDP messages of each loop turn to the workers */
    struct buf udp_pending;
    uint32_t udp_pending_count;
    struct conn_list syslog_conns;
    struct syslogd_counters tcp_counters, udp_counters;
    uint64_t syslog_screened; /* messages the loop's prefilter ruled out (never sent to workers) */
    uint64_t udp_drops_logged;
    bool udp_draining;                     /* stopping: reading what the socket buffer holds */
    struct sockaddr_storage udp_last_addr; /* the last datagram's sender and its name: most */
    char udp_last_peer[96];                /* datagrams come from the one before them */
    uint64_t udp_drain_deadline_ms;
    uint64_t last_udp_drop_log_ms;
    uv_signal_t sigint, sigterm, sighup;
    /* TLS and access control of each listener (syslog: plaintext TCP and UDP). */
    struct sec_listener beats_sec, syslog_sec, syslog_tls_sec;
    bool syslog_tls_enabled; /* syslog-tls has an address and a certificate */
    uv_timer_t tick;
    /* The service manager (systemd's NOTIFY_SOCKET): its watchdog's keep-alives, and the rates
     * STATUS= last reported. */
    bool notify;
    uv_timer_t watchdog;
    bool watchdog_on;
    uint64_t status_ms, status_events;

    struct conn_list beats_conns;
    uint64_t next_conn_id;
    uint64_t inflight_bytes; /* all connections: bytes held in batches (global budget) */
    uint64_t reserved_bytes; /* all connections: frames being read, admitted (global budget) */
    uint64_t held_bytes;     /* all connections: bytes read ahead of admission */
    struct beats_conn *room_head, *room_tail; /* waiting for room in the budget, oldest first */
    uint64_t frame_estimate;                  /* the size of the last frame admitted */
    bool need_resume;           /* some connection paused on the global budget or a full queue */
    bool journal_waiting;       /* at the last tick the journal was waiting out a full disk */
    uint64_t journal_waited_ms; /* ...and the last tick at which it was */

    bool stopping;
    int signals;
    uint64_t last_stats_ms;
    uint64_t stop_deadline_ms;
    int exit_status;

    struct {
        uint64_t connections, windows, events, acks, keepalives;
        uint64_t closed_errors, refused;
        uint64_t bytes;        /* received (ciphertext on TLS) */
        uint64_t budget_waits; /* reads paused on the connection or global budget */
    } counters;
    struct histogram ack_seconds; /* Beats windows, W frame to ACK */
    /* The HTTP endpoint (server/api.c); NULL when api is off. */
    struct api *api;
    bool listeners_bound;    /* every listener is bound (the ready line was printed) */
    int64_t started_wall_ms; /* wall-clock time serve started */
};

/* An error that keeps serve from starting (an address, a relay host, a port taken, a journal it
 * cannot open): "amsiwatch serve: ..." in the text format, an error record of "serve" in the json
 * format. */
#define serve_error(...) log_startup_error("amsiwatch serve", "serve", __VA_ARGS__)

/* Monotonic milliseconds (libuv's cached loop time). */
static inline uint64_t server_now(struct server *s)
{
    return uv_now(s->loop);
}

/* The Beats listener and connections (server/beats.c). */
int beats_listen(struct server *s, char *bound, size_t boundlen);
void beats_tick(struct server *s);
void beats_resume_paused(struct server *s);
void beats_stop_reading_all(struct server *s);
bool beats_idle(struct server *s);
void beats_close_all(struct server *s);

/* The Beats relay (server/beats.c): checks relay.beats (main thread, before the journal opens;
 * prints what is wrong and returns -1), starts it on the loop, stops it (windows it holds are
 * not acknowledged). */
int beats_relay_check(struct server *s);
int beats_relay_start(struct server *s);
void beats_relay_stop(struct server *s);
void beats_relay_log_counters(struct server *s);
void beats_relay_tick(struct server *s);

/* The syslog relay (server/syslogd.c): as the Beats relay's. */
int syslogd_relay_check(struct server *s);
int syslogd_relay_start(struct server *s);
void syslogd_relay_stop(struct server *s);
void syslogd_relay_log_counters(struct server *s);
/* The address of SPEC ("HOST[:PORT]", "[V6]:PORT"; port 514 when left out) for the UDP relay,
 * resolved synchronously. Returns 0 or a negative errno (-EINVAL: not HOST[:PORT]). */
int syslogd_relay_resolve_udp(struct server *s, const char *spec, struct sockaddr_storage *out);

/* The access rules and TLS contexts of the three listeners from C, the syslog TLS listener with
 * TLS when SYSLOG_TLS, in BEATS, SYSLOG and TLS (server/reload.c). Returns 0, or -1 with the reason
 * (naming the option) in WHY and nothing to free. */
int server_security_build(const struct config *c, bool syslog_tls, struct sec_listener *beats,
                          struct sec_listener *syslog, struct sec_listener *tls, char *why,
                          size_t whylen);

/* SIGHUP (server/reload.c): reads the configuration again as at start and applies it whole, or,
 * when any of it does not validate, keeps the running one and logs why. */
void serve_reload(struct server *s);

/* The syslog listeners and connections (server/syslogd.c). */
int syslogd_listen(struct server *s, char *tcp_bound, size_t tcplen, char *udp_bound,
                   size_t udplen);
int syslogd_tls_listen(struct server *s, char *bound, size_t boundlen);
void syslogd_tick(struct server *s);
void syslogd_resume_paused(struct server *s);
void syslogd_stop_reading_all(struct server *s);
bool syslogd_idle(struct server *s);
void syslogd_close_all(struct server *s);
void syslogd_log_counters(struct server *s);

#endif
