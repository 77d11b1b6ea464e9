/* The Beats relay: windows passed on to the next hops (Logstash's beats input, another amsiwatch)
 * over Lumberjack v2, with the names and the behaviour of Beats' own `output.logstash`: a list of
 * hosts, failover or load balancing, WORKER connections per host, PIPELINING windows in flight
 * per connection, a TIMEOUT for each ACK and a reconnect backoff.
 *
 * A window is handed over as the bytes of a whole v2 window (its W frame, then its C or J frames)
 * and the number of events the next hop's ACK must reach. The relay owns the bytes from then on,
 * writes them unchanged, and calls the window's DONE once, on the loop thread: with 0 when a next
 * hop acknowledged every event, or -ECANCELED when the relay stops first. A next hop that closes,
 * answers with something else than ACKs, or leaves a window without an ACK (keep-alives count)
 * for TIMEOUT is dropped: the windows it had not acknowledged in full go back to the head of the
 * queue and are sent again (at least once: a next hop may see an event twice, never not at all),
 * and its connection is made again after a backoff that doubles from BACKOFF_INIT up to
 * BACKOFF_MAX and starts over after an ACK. While no next hop takes them, windows wait in the
 * queue: the caller's memory budgets turn that into back-pressure on its own senders.
 *
 * Threads: everything on the loop thread of LOOP. */
#ifndef AMSI_RELAY_RELAY_H
#define AMSI_RELAY_RELAY_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define RELAY_MAX_HOSTS 16

struct relay_options {
    char hosts[RELAY_MAX_HOSTS][256]; /* "HOST:PORT", "HOST" (port 5044), "[V6]:PORT" */
    size_t nhosts;
    bool loadbalance;    /* false: the first host, then the next when it fails; true: all */
    unsigned worker;     /* connections per host */
    unsigned pipelining; /* windows in flight per connection, at least 1 */
    uint64_t timeout_ms; /* the longest wait for an ACK (or a keep-alive) of a window sent */
    uint64_t backoff_init_ms, backoff_max_ms;
    SSL_CTX *tls;         /* a client context (a reference is taken), NULL: plaintext */
    bool tls_verify_host; /* the hop's certificate must name its host (verification-mode full) */
    char log_name[24];    /* the log's component name (default "relay") */
    bool no_acks;         /* syslog: the next hop acknowledges nothing; a window (a run of framed
                           * messages) is delivered once written to its connection */
};

/* What the relay did, for the log and the metrics: totals and per host. */
struct relay_hop_stats {
    uint64_t windows, events, bytes; /* acknowledged by this hop */
    uint64_t errors, reconnects;
    uint64_t ack_ms_total, ack_ms_max; /* sent to acknowledged, per window */
    bool up;
};

typedef void (*relay_done_fn)(void *ctx, int status);

struct relay;

/* Fills O's hosts from LINES (one "HOST[:PORT]" per line), PORT added to those without one.
 * Returns 0, or -E2BIG for more than RELAY_MAX_HOSTS or a name too long. */
int relay_set_hosts(struct relay_options *o, const char *lines, const char *port);

/* Checks that every host of O is HOST, HOST:PORT or [IPv6]:PORT, as relay_new does, without
 * creating anything. Returns 0, or -EINVAL (no host, a bad host). Any thread. */
int relay_check_hosts(const struct relay_options *o);

/* Creates the relay and starts connecting. Returns 0, -EINVAL (no host, a bad host), -ENOMEM. */
int relay_new(struct relay **out, uv_loop_t *loop, const struct relay_options *o);

/* A reload: R passes windows on to the hosts of O from now on (its other options stay). When the
 * list differs, every connection to a next hop closes, the windows they had in flight go back to
 * the head of the queue (sent again: at least once) and connections to the new hosts are made;
 * a host on both lists keeps its counters. Returns 0, -EINVAL (a bad host: nothing changes),
 * -ENOMEM. */
int relay_update_hosts(struct relay *r, const struct relay_options *o);

/* Queues a window: the LEN bytes at BYTES (malloc'd; the relay frees them) of a v2 window whose
 * last event the next hop acknowledges with sequence number EVENTS. DONE(CTX, status) follows
 * once. Returns 0, or -ENOMEM with nothing taken (BYTES stays the caller's). */
int relay_send(struct relay *r, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
               void *ctx);

/* Offers the windows queued and not yet sent to TAKE, oldest first; those it accepts leave the
 * relay: TAKE gets each window's bytes (the caller's once it accepts), length, events, and its
 * DONE and CTX, which the taker must then call once in the relay's place. The others stay, in
 * their order. Returns how many were taken. */
typedef bool (*relay_take_fn)(void *arg, uint8_t *bytes, size_t len, uint32_t events,
                              relay_done_fn done, void *ctx);
size_t relay_reclaim(struct relay *r, relay_take_fn take, void *arg);

/* Windows queued or in flight. */
size_t relay_pending(const struct relay *r);

/* True while some next hop is connected. */
bool relay_up(const struct relay *r);

/* Monotonic milliseconds of the last time the relay held windows (queued or in flight), 0 for
 * never: the caller's stall timers do not count that time against its senders. */
uint64_t relay_held_ms(const struct relay *r);

/* Statistics of host I (0 <= I < the number of hosts). */
const struct relay_hop_stats *relay_hop(const struct relay *r, size_t i);

/* Host I as configured, NULL past the last one. */
const char *relay_host_name(const struct relay *r, size_t i);

/* Stops: no more connections; every window not yet acknowledged gets DONE(-ECANCELED); the
 * handles close and the relay is freed once they have (CLOSED(ARG) then, if given). */
void relay_close(struct relay *r, void (*closed)(void *), void *arg);

/* Converts the v1 data frames (D) of one window, the LEN bytes at FRAMES, into a v2 window: a W
 * frame and one J frame per event (the pairs as one JSON object, numbered from 1; text that is
 * not UTF-8 mended with U+FFFD) appended to OUT. *EVENTS gets the number of events. Returns 0,
 * -EBADMSG (not whole v1 data frames), -ENOMEM, or OUT's -EMSGSIZE. */
struct buf;
struct lj_limits;
int relay_v1_to_v2(const uint8_t *frames, size_t len, const struct lj_limits *limits,
                   struct buf *out, uint32_t *events);

/* The alert document (the journal's JSON, ALERT_JSON of LEN bytes) as one more event for the next
 * hop, in a v2 window of one J frame appended to OUT (*EVENTS 1): an ECS document with
 * event.kind "alert", the rule under rule.* and threat.*, the original event's ECS fields (its
 * investigation fields), tags ["amsiwatch"], and amsiwatch.* (alert_id, profile, clause,
 * severity, source, original_time). Returns 0, -EBADMSG (not a JSON object), -ENOMEM. */
int relay_alert_window(const char *alert_json, size_t len, struct buf *out, uint32_t *events);

#endif
