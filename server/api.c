/* The HTTP endpoint: libmicrohttpd in epoll mode, driven by the serve loop (a uv_poll_t on its
 * epoll descriptor, a uv_timer_t for its timeouts). */
#include "server/api.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/prom.h"
#include "net/net.h"
#include "relay/outbox.h"
#include "relay/relay.h"
#include "server/server.h"

#define API_MAX_CONNECTIONS 64
#define API_TIMEOUT_S       10
#define API_MAX_BODY        (16u << 20)

struct api {
    struct server *srv;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    int handles; /* open libuv handles; the last one to close frees the api */
    struct sec_listener sec;
    /* With TLS the endpoint accepts on its own socket and terminates TLS with the listeners'
     * engine (OpenSSL over memory BIOs): Debian's libmicrohttpd does TLS with GnuTLS only. Each
     * connection's plaintext goes to libmicrohttpd over a socketpair. */
    bool tls;
    bool running; /* started: libmicrohttpd's messages are about clients from now on */
    uv_tcp_t listener;
    uv_timer_t tls_tick; /* handshake timeouts */
    struct conn_list conns;
};

/* A TLS connection of the endpoint. */
struct api_conn {
    struct conn base; /* first: the handle's block */
    struct api *api;
    uv_pipe_t pipe; /* our end of the socketpair; libmicrohttpd holds the other */
    bool pipe_open, shutting;
    struct buf plain; /* what one read decrypted */
    uv_shutdown_t shutdown;
};

/* ---- Metrics: one walk over the counters, written as Prometheus text or as JSON ---- */

/* Where a family's samples go: P (the text format) or J (the JSON document: each family a key;
 * a sample without labels its value, labelled samples an array of objects, their labels and
 * "value"; a histogram "count", "sum" and "buckets" by upper bound). */
struct out {
    struct prom *p;
    json_t *j;
    const char *fam;
};

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    o->fam = name;
    if (o->p)
        prom_family(o->p, name, type, help);
}

static json_t *json_sample(struct out *o, const char *const *labels, json_t *value)
{
    if (!labels || !labels[0]) {
        json_object_set_new(o->j, o->fam, value);
        return value;
    }
    json_t *arr = json_object_get(o->j, o->fam);
    if (!arr) {
        arr = json_array();
        json_object_set_new(o->j, o->fam, arr);
    }
    json_t *obj = json_object();
    for (size_t i = 0; labels[i] && labels[i + 1]; i += 2)
        json_object_set_new(obj, labels[i], json_string(labels[i + 1]));
    json_object_set_new(obj, "value", value);
    json_array_append_new(arr, obj);
    return value;
}

static void u64(struct out *o, const char *const *labels, uint64_t v)
{
    if (o->p)
        prom_sample_u64(o->p, o->fam, labels, v);
    else
        json_sample(o, labels, json_integer((json_int_t)v));
}

static void real(struct out *o, const char *const *labels, double v)
{
    if (o->p)
        prom_sample(o->p, o->fam, labels, v);
    else
        json_sample(o, labels, json_real(v));
}

static void hist(struct out *o, const char *const *labels, const struct histogram_snapshot *h)
{
    if (o->p) {
        prom_histogram(o->p, o->fam, labels, h);
        return;
    }
    json_t *v = json_object();
    json_t *buckets = json_object();
    char le[32];
    for (size_t i = 0; i < h->nbounds; i++) {
        snprintf(le, sizeof(le), "%g", h->bounds[i]);
        json_object_set_new(buckets, le, json_integer((json_int_t)h->cumulative[i]));
    }
    json_object_set_new(buckets, "+Inf", json_integer((json_int_t)h->count));
    json_object_set_new(v, "count", json_integer((json_int_t)h->count));
    json_object_set_new(v, "sum", json_real(h->sum));
    json_object_set_new(v, "buckets", buckets);
    json_sample(o, labels, v);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static bool on(const char *addr)
{
    return strcmp(addr, "off") != 0;
}

/* The open connections of LIST logged as LOGNAME. */
static uint64_t open_conns(const struct conn_list *list, const char *logname)
{
    uint64_t n = 0;
    for (const struct conn *c = list->head; c; c = c->next)
        n += strcmp(c->logname, logname) == 0;
    return n;
}

static void listener_metrics(struct out *o, struct server *s)
{
    bool beats = on(s->cfg.beats), tcp = s->syslog_tcp_listening || on(s->cfg.syslog_tcp);
    bool udp = on(s->cfg.syslog_udp), tls = s->syslog_tls_enabled;
    struct {
        const char *name;
        bool on;
        const struct syslogd_counters *k;
    } sl[] = {{"syslog-tcp", tcp, &s->tcp_counters},
              {"syslog-udp", udp, &s->udp_counters},
              {"syslog-tls", tls, &s->tls_counters}};

    family(o, "amsiwatch_connections_accepted_total", "counter",
           "TCP connections accepted, by listener.");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.connections);
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on && i != 1)
            u64(o, L("listener", sl[i].name), sl[i].k->connections);
    }
    family(o, "amsiwatch_connections_refused_total", "counter",
           "Connections refused: over the listener's max-connections, or not allowed by its "
           "allow-networks.");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.refused);
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on && i != 1)
            u64(o, L("listener", sl[i].name), sl[i].k->refused);
    }
    family(o, "amsiwatch_connections_open", "gauge", "TCP connections open now, by listener.");
    if (beats)
        u64(o, L("listener", "beats"), s->beats_conns.count);
    if (tcp)
        u64(o, L("listener", "syslog-tcp"), open_conns(&s->syslog_conns, "syslog"));
    if (tls)
        u64(o, L("listener", "syslog-tls"), open_conns(&s->syslog_conns, "syslog-tls"));
    family(o, "amsiwatch_connections_closed_on_error_total", "counter",
           "Beats connections closed because of an error (bad input, a limit, a timeout).");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.closed_errors);

    family(o, "amsiwatch_received_bytes_total", "counter",
           "Bytes received, by listener (on TLS listeners, as they arrived: encrypted).");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.bytes);
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on)
            u64(o, L("listener", sl[i].name), sl[i].k->bytes);
    }
    family(o, "amsiwatch_events_received_total", "counter",
           "Events received and matched, by listener: Beats events of completed windows, syslog "
           "messages.");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.events);
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on)
            u64(o, L("listener", sl[i].name), sl[i].k->messages);
    }
    family(o, "amsiwatch_windows_total", "counter", "Beats windows opened.");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.windows);
    family(o, "amsiwatch_acks_total", "counter", "Beats ACKs written (one per window).");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.acks);
    family(o, "amsiwatch_keepalives_total", "counter",
           "Beats keep-alive ACKs written while windows were in flight.");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.keepalives);
    family(o, "amsiwatch_budget_waits_total", "counter",
           "Times a connection stopped being read because its memory budget was full (Beats: "
           "the connection or global budget; syslog TCP: syslog.connection-budget).");
    if (beats)
        u64(o, L("listener", "beats"), s->counters.budget_waits);
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on && i != 1)
            u64(o, L("listener", sl[i].name), sl[i].k->budget_waits);
    }
    family(o, "amsiwatch_window_ack_latency_seconds", "histogram",
           "Beats windows, from the arrival of their W frame to their ACK (millisecond "
           "resolution).");
    if (beats) {
        struct histogram_snapshot h;
        histogram_read(&s->ack_seconds, &h);
        hist(o, L("listener", "beats"), &h);
    }

    family(o, "amsiwatch_syslog_dropped_total", "counter",
           "Syslog messages dropped: over syslog.max-message with syslog.oversize drop, or UDP "
           "datagrams the loop could not take.");
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on)
            u64(o, L("listener", sl[i].name), sl[i].k->drops);
    }
    family(o, "amsiwatch_syslog_truncated_total", "counter",
           "Syslog messages cut to syslog.max-message.");
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on)
            u64(o, L("listener", sl[i].name), sl[i].k->truncated);
    }
    family(o, "amsiwatch_syslog_framing_errors_total", "counter",
           "Syslog TCP framing errors (a bad octet count).");
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on && i != 1)
            u64(o, L("listener", sl[i].name), sl[i].k->framing_errors);
    }
    family(o, "amsiwatch_syslog_invalid_utf8_total", "counter",
           "Syslog messages whose invalid UTF-8 was mended.");
    for (size_t i = 0; i < 3; i++) {
        if (sl[i].on)
            u64(o, L("listener", sl[i].name), sl[i].k->invalid_utf8);
    }

    const struct sec_listener *secs[] = {&s->beats_sec, &s->syslog_tls_sec,
                                         s->api ? &s->api->sec : &s->syslog_tls_sec};
    const char *names[] = {"beats", "syslog-tls", "api"};
    size_t nsecs = s->api && s->api->tls ? 3 : 2;
    family(o, "amsiwatch_tls_handshakes_total", "counter", "TLS handshakes completed.");
    for (size_t i = 0; i < nsecs; i++) {
        if (secs[i]->tls)
            u64(o, L("listener", names[i]), secs[i]->handshakes);
    }
    family(o, "amsiwatch_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed, by reason: plaintext (a client that does not speak TLS), "
           "timeout (not done within ssl-handshake-timeout), error (any other: certificates, "
           "protocols, ciphers).");
    for (size_t i = 0; i < nsecs; i++) {
        const struct sec_listener *l = secs[i];
        if (!l->tls)
            continue;
        uint64_t other = l->handshake_failures - l->plaintext_on_tls - l->handshake_timeouts;
        u64(o, L("listener", names[i], "reason", "plaintext"), l->plaintext_on_tls);
        u64(o, L("listener", names[i], "reason", "timeout"), l->handshake_timeouts);
        u64(o, L("listener", names[i], "reason", "error"), other);
    }
    family(o, "amsiwatch_access_refusals_total", "counter",
           "Peers refused by access control, by listener and reason: network (allow-networks, "
           "at accept or per datagram), peer (ssl-allow-peers, after the handshake).");
    const struct sec_listener *all[] = {&s->beats_sec, &s->syslog_sec, &s->syslog_tls_sec,
                                        s->api ? &s->api->sec : NULL};
    const char *allnames[] = {"beats", "syslog", "syslog-tls", "api"};
    bool allon[] = {beats, tcp || udp, tls, s->api != NULL};
    for (size_t i = 0; i < 4; i++) {
        if (!allon[i])
            continue;
        u64(o, L("listener", allnames[i], "reason", "network"), all[i]->acl.refused_network);
        if (all[i]->tls)
            u64(o, L("listener", allnames[i], "reason", "peer"), all[i]->acl.refused_peer);
    }
}

static void detect_metrics(struct out *o, struct server *s)
{
    struct detect_stats d;
    workers_stats(s->workers, &d);
    d.events += s->syslog_screened; /* syslog messages the loop ruled out were seen too */
    const char *profile = s->cfg.profile;
    family(o, "amsiwatch_detect_events_total", "counter",
           "Events the detection saw (every event received that was matched).");
    u64(o, L("profile", profile), d.events);
    family(o, "amsiwatch_candidates_total", "counter",
           "Events the prefilter passed to the rule (parsed and normalized).");
    u64(o, L("profile", profile), d.candidates);
    family(o, "amsiwatch_malformed_events_total", "counter",
           "Candidate events that were not a JSON object, or over the size limit.");
    u64(o, L("profile", profile), d.malformed);
    family(o, "amsiwatch_alerts_total", "counter",
           "Alerts raised, by profile and by the clause of the rule that fired.");
    bool extended = strcmp(profile, "extended") == 0;
    for (int c = CLAUSE_SEED; c < CLAUSE_COUNT; c++) {
        if (c == CLAUSE_SEED || extended)
            u64(o, L("profile", profile, "clause", clause_name((enum clause)c)),
                d.alerts_by_clause[c]);
    }
}

static void journal_metrics(struct out *o, struct server *s, uint64_t *next_seq)
{
    struct journal_stats js;
    journal_get_stats(s->journal, &js);
    *next_seq = js.next_seq;
    family(o, "amsiwatch_journal_appends_total", "counter", "Alerts appended to the journal.");
    u64(o, NULL, js.appended);
    family(o, "amsiwatch_journal_written_bytes_total", "counter",
           "Bytes written to the journal's segments.");
    u64(o, NULL, js.bytes);
    family(o, "amsiwatch_journal_fdatasyncs_total", "counter",
           "fdatasync calls on the journal's active segment that succeeded.");
    u64(o, NULL, js.syncs);
    family(o, "amsiwatch_journal_segments_sealed_total", "counter", "Journal segments sealed.");
    u64(o, NULL, js.segments_sealed);
    family(o, "amsiwatch_journal_segments_compressed_total", "counter",
           "Sealed journal segments compressed with LZ4.");
    u64(o, NULL, js.segments_compressed);
    family(o, "amsiwatch_journal_segments_removed_total", "counter",
           "Sealed journal segments removed by retention.");
    u64(o, NULL, js.segments_removed);
    family(o, "amsiwatch_journal_write_errors_total", "counter",
           "Failed tries to write or sync the journal (a full or failing disk).");
    u64(o, NULL, js.write_errors);
    family(o, "amsiwatch_journal_blocked", "gauge",
           "1 while the journal waits out a full or failing disk (alerts wait, nothing is lost).");
    u64(o, NULL, js.stalled ? 1 : 0);
    family(o, "amsiwatch_journal_next_sequence", "gauge",
           "The sequence number the next alert will get.");
    u64(o, NULL, js.next_seq);
    family(o, "amsiwatch_journal_fdatasync_duration_seconds", "histogram",
           "Duration of each fdatasync of the journal's active segment.");
    struct histogram_snapshot h;
    journal_sync_seconds(s->journal, &h);
    hist(o, NULL, &h);
}

static void webhook_metrics(struct out *o, struct server *s, uint64_t next_seq)
{
    size_t n = delivery_targets(s->delivery);
    struct delivery_target_stats *t = calloc(n ? n : 1, sizeof(*t));
    if (!t)
        return;
    for (size_t i = 0; i < n; i++)
        delivery_target_stats(s->delivery, i, &t[i]);
    int64_t now_ms = clock_now_ms();
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"amsiwatch_webhook_sent_total", "Alerts delivered to the webhook target (2xx).",
         offsetof(struct delivery_target_stats, sent)},
        {"amsiwatch_webhook_retries_total", "Requests to the target that failed and are retried.",
         offsetof(struct delivery_target_stats, retried)},
        {"amsiwatch_webhook_dead_total",
         "Alerts the target refused for good (kept in the journal, listed as dead).",
         offsetof(struct delivery_target_stats, dead)},
        {"amsiwatch_webhook_held_back_total", "Alerts held back by the target's max_signals.",
         offsetof(struct delivery_target_stats, held)},
        {"amsiwatch_webhook_suppressed_total", "Alerts left out by the target's suppression.",
         offsetof(struct delivery_target_stats, suppressed)},
        {"amsiwatch_webhook_summaries_total",
         "Summaries of held back or suppressed alerts delivered.",
         offsetof(struct delivery_target_stats, summaries)},
    };
    for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
        family(o, counters[k].name, "counter", counters[k].help);
        for (size_t i = 0; i < n; i++)
            u64(o, L("target", t[i].name),
                *(const uint64_t *)((const char *)&t[i] + counters[k].offset));
    }
    family(o, "amsiwatch_webhook_lag_alerts", "gauge",
           "Alerts in the journal the target has not taken yet (delivered, dead, held back or "
           "suppressed).");
    for (size_t i = 0; i < n; i++)
        u64(o, L("target", t[i].name), next_seq > t[i].next_seq ? next_seq - t[i].next_seq : 0);
    family(o, "amsiwatch_webhook_oldest_undelivered_age_seconds", "gauge",
           "Age of the oldest alert the target has not taken yet (0 when none waits).");
    for (size_t i = 0; i < n; i++) {
        bool waiting = next_seq > t[i].next_seq && t[i].oldest_ms > 0;
        double age =
            waiting && now_ms > t[i].oldest_ms ? (double)(now_ms - t[i].oldest_ms) / 1e3 : 0.0;
        real(o, L("target", t[i].name), age);
    }
    family(o, "amsiwatch_webhook_disabled", "gauge",
           "1 when the target answered 410 Gone and is disabled until the next start.");
    for (size_t i = 0; i < n; i++)
        u64(o, L("target", t[i].name), t[i].disabled ? 1 : 0);
    family(o, "amsiwatch_webhook_request_duration_seconds", "histogram",
           "Webhook requests, from sent to answered or failed.");
    for (size_t i = 0; i < n; i++)
        hist(o, L("target", t[i].name), &t[i].request_seconds);
    free(t);
}

static void relay_metrics(struct out *o, struct server *s)
{
    struct {
        const char *name;
        struct relay *r;
    } relays[] = {{"beats", s->relay}, {"syslog", s->syslog_relay}};
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"amsiwatch_relay_hop_up", "gauge", "1 while the next hop is connected."},
        {"amsiwatch_relay_windows_total", "counter",
         "Windows the next hop acknowledged (syslog: runs of messages written)."},
        {"amsiwatch_relay_events_total", "counter",
         "Events the next hop acknowledged (syslog: messages of the runs written)."},
        {"amsiwatch_relay_sent_bytes_total", "counter",
         "Bytes of the windows it acknowledged (syslog: of the runs written)."},
        {"amsiwatch_relay_errors_total", "counter",
         "Connections to the next hop that failed or were dropped."},
        {"amsiwatch_relay_reconnects_total", "counter", "Connections made again to the next hop."},
        {"amsiwatch_relay_ack_wait_seconds_total", "counter",
         "Time windows waited from sent to acknowledged (syslog: to written), summed."},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(o, fams[f].name, fams[f].type, fams[f].help);
        for (size_t k = 0; k < 2; k++) {
            if (!relays[k].r)
                continue;
            const char *host;
            for (size_t i = 0; (host = relay_host_name(relays[k].r, i)); i++) {
                const struct relay_hop_stats *h = relay_hop(relays[k].r, i);
                const char *const *lab = L("relay", relays[k].name, "hop", host);
                switch (f) {
                case 0:
                    u64(o, lab, h->up ? 1 : 0);
                    break;
                case 1:
                    u64(o, lab, h->windows);
                    break;
                case 2:
                    u64(o, lab, h->events);
                    break;
                case 3:
                    u64(o, lab, h->bytes);
                    break;
                case 4:
                    u64(o, lab, h->errors);
                    break;
                case 5:
                    u64(o, lab, h->reconnects);
                    break;
                default:
                    real(o, lab, (double)h->ack_ms_total / 1e3);
                    break;
                }
            }
        }
    }
    family(o, "amsiwatch_relay_pending_windows", "gauge",
           "Windows queued for the next hops or in flight to them.");
    for (size_t k = 0; k < 2; k++) {
        if (relays[k].r)
            u64(o, L("relay", relays[k].name), relay_pending(relays[k].r));
    }
    /* The syslog relay takes messages whether it runs over UDP or through the relay (TCP, TLS). */
    bool syslog_on = s->syslog_relay || s->syslog_relay_udp_open;
    family(o, "amsiwatch_relay_syslog_messages_total", "counter",
           "Syslog messages passed on to the next hop: written to it, queued for it or spilled to "
           "the outbox.");
    if (syslog_on)
        u64(o, NULL, s->syslog_relayed.messages);
    family(o, "amsiwatch_relay_syslog_bytes_total", "counter",
           "Bytes of the syslog messages passed on, as framed for the next hop (over UDP: the "
           "messages).");
    if (syslog_on)
        u64(o, NULL, s->syslog_relayed.bytes);
    family(o, "amsiwatch_relay_syslog_dropped_total", "counter",
           "Syslog messages the relay dropped: over UDP, those the socket could not send; over "
           "TCP or TLS, messages of UDP senders past syslog.connection-budget or refused by a "
           "full outbox (TCP and TLS senders wait instead).");
    if (syslog_on)
        u64(o, NULL, s->syslog_relayed.dropped);

    /* The outboxes (relay.when-down: spill), one per relay: a syslog outbox's windows are runs of
     * messages as they were read. */
    struct {
        const char *name;
        struct outbox *box;
        struct outbox_stats st;
    } boxes[] = {{"beats", s->outbox, {0}}, {"syslog", s->syslog_outbox, {0}}};
    size_t nboxes = sizeof(boxes) / sizeof(boxes[0]);
    for (size_t k = 0; k < nboxes; k++) {
        if (boxes[k].box)
            outbox_get_stats(boxes[k].box, &boxes[k].st);
    }
    int64_t now = clock_now_ms();
    family(o, "amsiwatch_outbox_windows", "gauge",
           "Windows the outbox holds (spilled, not yet acknowledged by a next hop; syslog: runs "
           "of messages).");
    for (size_t k = 0; k < nboxes; k++) {
        if (boxes[k].box)
            u64(o, L("relay", boxes[k].name), boxes[k].st.windows);
    }
    family(o, "amsiwatch_outbox_bytes", "gauge",
           "Bytes the outbox holds: its windows, and 4 more each (the record's event count).");
    for (size_t k = 0; k < nboxes; k++) {
        if (boxes[k].box)
            u64(o, L("relay", boxes[k].name), boxes[k].st.bytes);
    }
    family(o, "amsiwatch_outbox_oldest_age_seconds", "gauge",
           "Age of the oldest window the outbox holds (0 when empty).");
    for (size_t k = 0; k < nboxes; k++) {
        int64_t oldest = boxes[k].st.oldest_ms;
        if (boxes[k].box)
            real(o, L("relay", boxes[k].name),
                 oldest > 0 && now > oldest ? (double)(now - oldest) / 1e3 : 0.0);
    }
    family(o, "amsiwatch_outbox_spilled_total", "counter", "Windows spilled into the outbox.");
    for (size_t k = 0; k < nboxes; k++) {
        if (boxes[k].box)
            u64(o, L("relay", boxes[k].name), boxes[k].st.spilled);
    }
    family(o, "amsiwatch_outbox_forwarded_total", "counter",
           "Windows of the outbox a next hop acknowledged (syslog: wrote).");
    for (size_t k = 0; k < nboxes; k++) {
        if (boxes[k].box)
            u64(o, L("relay", boxes[k].name), boxes[k].st.forwarded);
    }
}

static uint64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the one opendir holds */
}

static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- Health and readiness ---- */

/* Why serve is not ready, or NULL when it is. */
static const char *not_ready(struct server *s)
{
    if (s->stopping)
        return "stopping";
    if (!s->listeners_bound)
        return "the listeners are not bound yet";
    struct journal_stats js;
    journal_get_stats(s->journal, &js);
    if (js.stalled)
        return "the journal is blocked: a full or failing disk (alerts wait)";
    return NULL;
}

/* The process's start in seconds since the epoch: the boot time plus its start in clock ticks
 * after boot (/proc), else when serve started. */
static double start_time(const struct server *s)
{
    double fallback = (double)s->started_wall_ms / 1e3;
    char stat[1024];
    unsigned long long ticks = 0, btime = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return fallback;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    /* After the command name (in parentheses, which may hold anything), field 22 is 20 on. */
    char *p = strrchr(stat, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
        return fallback;
    f = fopen("/proc/stat", "r");
    if (!f)
        return fallback;
    char line[256];
    while (fgets(line, sizeof(line), f) && sscanf(line, "btime %llu", &btime) != 1)
        ;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return btime && hz > 0 ? (double)btime + (double)ticks / (double)hz : fallback;
}

static void process_metrics(struct out *o, struct server *s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    family(o, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    real(o, NULL, cpu);
    family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    u64(o, NULL, resident_bytes());
    family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
    u64(o, NULL, count_fds());
    struct rlimit rl;
    family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        u64(o, NULL, rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur);
    family(o, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    real(o, NULL, start_time(s));
    family(o, "amsiwatch_build_info", "gauge", "The version of amsiwatch running (always 1).");
    u64(o, L("version", AMSIWATCH_VERSION), 1);
    family(o, "amsiwatch_ready", "gauge",
           "1 when /ready answers 200: listeners bound, journal writable, not stopping.");
    u64(o, NULL, not_ready(s) ? 0 : 1);
}

static void render(struct out *o, struct server *s)
{
    uint64_t next_seq = 0;
    listener_metrics(o, s);
    detect_metrics(o, s);
    journal_metrics(o, s, &next_seq);
    webhook_metrics(o, s, next_seq);
    relay_metrics(o, s);
    process_metrics(o, s);
}

char *api_render(struct server *s, int json, size_t *len)
{
    struct out o = {0};
    if (json) {
        o.j = json_object();
        if (!o.j)
            return NULL;
        render(&o, s);
        char *text = json_dumps(o.j, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(o.j);
        *len = text ? strlen(text) : 0;
        return text;
    }
    struct buf b;
    struct prom p;
    buf_init(&b, API_MAX_BODY);
    prom_init(&p, &b);
    o.p = &p;
    render(&o, s);
    if (p.error) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data; /* NUL-terminated, malloc'd: the caller frees it */
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    char *body = realloc(text, len + 2); /* a newline for people reading it with curl */
    if (!body) {
        free(text);
        return MHD_NO;
    }
    body[len] = '\n';
    return reply(conn, status, "application/json", body, len + 1, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct api *a = cls;
    struct server *s = a->srv;
    (void)version;
    (void)upload;
    (void)req_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        *upload_size = 0; /* whatever it sent is not read */
        return reply_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          json_pack("{s:s}", "error", "only GET and HEAD are allowed"));
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len;
        char *text = api_render(s, 0, &len);
        if (!text)
            return reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              json_pack("{s:s}", "error", "out of memory"));
        return reply(conn, MHD_HTTP_OK, PROM_CONTENT_TYPE, text, len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/stats") == 0) {
        size_t len;
        char *text = api_render(s, 1, &len);
        if (!text)
            return reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              json_pack("{s:s}", "error", "out of memory"));
        return reply(conn, MHD_HTTP_OK, "application/json", text, len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/health") == 0)
        return reply_json(conn, MHD_HTTP_OK,
                          json_pack("{s:s,s:s}", "status", "alive", "version", AMSIWATCH_VERSION));
    if (strcmp(url, "/ready") == 0) {
        const char *why = not_ready(s);
        if (why)
            return reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                              json_pack("{s:s,s:s}", "status", "not ready", "reason", why));
        return reply_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"));
    }
    return reply_json(
        conn, MHD_HTTP_NOT_FOUND,
        json_pack("{s:s,s:s}", "error", "not found", "paths", "/metrics /health /ready /stats"));
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct api *a = cls;
    if (a->tls)
        return MHD_YES; /* checked when the TCP connection was accepted */
    struct sockaddr_storage ss;
    char peer[96];
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, addr, addrlen < sizeof(ss) ? addrlen : sizeof(ss));
    net_format_addr(&ss, peer, sizeof(peer));
    return sec_admit(&a->sec, addr, peer, "api", server_now(a->srv)) ? MHD_YES : MHD_NO;
}

/* ---- Driving libmicrohttpd from the loop ---- */

static void run(struct api *a);

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

/* Lets libmicrohttpd do what is ready, then arms the timer for what it waits for next (0 when it
 * has connections with work left: its epoll is edge-triggered). */
static void run(struct api *a)
{
    MHD_run(a->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(a->mhd, &ms) == MHD_YES)
        uv_timer_start(&a->timer, on_timer, ms > 60000 ? 60000 : (uint64_t)ms, 0);
    else
        uv_timer_stop(&a->timer);
}

/* ---- TLS: connections terminated here, their plaintext passed to libmicrohttpd ---- */

#define API_MAX_PIPE_QUEUE (1u << 20)

static char pipe_scratch[16384];

static void on_pipe_closed(uv_handle_t *h);

struct pipe_write {
    uv_write_t req;
    uint8_t bytes[];
};

static void tls_closing(struct conn *k, bool error)
{
    struct api_conn *c = (struct api_conn *)k;
    (void)error;
    if (c->pipe_open) {
        c->pipe_open = false;
        uv_close((uv_handle_t *)&c->pipe, on_pipe_closed);
    }
}

static void tls_release(struct conn *k)
{
    struct api_conn *c = (struct api_conn *)k;
    buf_free(&c->plain);
    free(c);
}

static const struct conn_ops tls_ops = {tls_closing, tls_release};

static void on_pipe_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void on_pipe_written(uv_write_t *req, int status)
{
    struct api_conn *c = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        conn_close(&c->base, uv_strerror(status), false);
    conn_unref(&c->base);
}

/* Plaintext from the client, to libmicrohttpd. */
static void to_pipe(struct api_conn *c, const char *p, size_t n)
{
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > API_MAX_PIPE_QUEUE) {
        conn_close(&c->base, "sends faster than requests are answered", true);
        return;
    }
    struct pipe_write *w = malloc(sizeof(*w) + n);
    if (!w) {
        conn_close(&c->base, "out of memory", true);
        return;
    }
    memcpy(w->bytes, p, n);
    uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)n);
    w->req.data = c;
    conn_ref(&c->base);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_pipe_written);
    if (rc < 0) {
        free(w);
        conn_unref(&c->base);
        conn_close(&c->base, uv_strerror(rc), false);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct api_conn *c = req->data;
    (void)status;
    conn_close(&c->base, "answered", false);
    conn_unref(&c->base);
}

static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    (void)suggested;
    *out = uv_buf_init(pipe_scratch, sizeof(pipe_scratch));
}

/* Answers from libmicrohttpd, encrypted to the client; its end closing ends the connection once
 * what was written has left. */
static void on_pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct api_conn *c = st->data;
    if (n == 0 || c->base.closing)
        return;
    if (n > 0) {
        /* One whole answer always fits; past it, a client that sends requests and does not read
         * the answers would make them pile up here (libmicrohttpd's own socket never fills). */
        if (conn_write(&c->base, b->base, (size_t)n) == 0 &&
            conn_write_queue(&c->base) > API_MAX_BODY + API_MAX_PIPE_QUEUE)
            conn_close(&c->base, "does not read its answers", true);
        return;
    }
    uv_read_stop(st);
    if (c->shutting)
        return;
    c->shutting = true;
    c->shutdown.data = c;
    conn_ref(&c->base);
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->base.tcp, on_shutdown) < 0) {
        conn_unref(&c->base);
        conn_close(&c->base, "answered", false);
    }
}

static void tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    (void)suggested;
    *out = uv_buf_init(sec_read_scratch(), SEC_READ_SCRATCH);
}

static void on_tls_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct api_conn *c = st->data;
    struct api *a = c->api;
    if (n == 0 || c->base.closing)
        return;
    if (n < 0) {
        conn_close(&c->base, n == UV_EOF ? "closed by the client" : uv_strerror((int)n), false);
        return;
    }
    char why[600];
    buf_reset(&c->plain);
    int rc = sec_conn_input(&a->sec, &c->base.sec, c->base.peer, (const uint8_t *)b->base,
                            (size_t)n, &c->plain, server_now(a->srv), why, sizeof(why));
    conn_flush_tls(&c->base); /* handshake messages, alerts */
    if (rc < 0) {
        conn_close(&c->base, why, true);
        return;
    }
    if (c->plain.len && !c->base.closing)
        to_pipe(c, c->plain.data, c->plain.len);
    if (rc == 1 && !c->base.closing)
        conn_close(&c->base, "closed by the client", false);
}

static void on_tls_connection(uv_stream_t *server, int status)
{
    struct api *a = server->data;
    struct server *s = a->srv;
    if (status < 0) {
        log_warn("api", "accept failed: %s", uv_strerror(status));
        return;
    }
    struct api_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        log_warn("api", "refusing a connection: out of memory for it");
        net_refuse(server);
        return;
    }
    if (conn_accept(&c->base, server, s, &a->conns, "api", &tls_ops) < 0)
        return;
    c->api = a;
    buf_init(&c->plain, 1u << 20);
    if (a->conns.count > API_MAX_CONNECTIONS) {
        conn_close(&c->base, "too many connections to the HTTP endpoint", true);
        return;
    }
    if (!sec_admit_tcp(&a->sec, &c->base.tcp, c->base.peer, "api", server_now(s))) {
        conn_close(&c->base, "refused by api.allow-networks", false); /* logged once a minute */
        return;
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        conn_close(&c->base, "cannot make the connection's socketpair", true);
        return;
    }
    uv_pipe_init(s->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->pipe_open = true;
    conn_ref(&c->base); /* the pipe's, dropped when it closes */
    if (uv_pipe_open(&c->pipe, fds[0]) != 0) {
        close(fds[0]);
        close(fds[1]);
        conn_close(&c->base, "cannot watch the connection's socketpair", true);
        return;
    }
    /* libmicrohttpd owns FDS[1] from here, failure or not. Its address is the socketpair's, so
     * that it does not try TCP options on it (the handlers never look at the peer). */
    struct sockaddr_un local = {.sun_family = AF_UNIX};
    if (MHD_add_connection(a->mhd, fds[1], (struct sockaddr *)&local, sizeof(local)) != MHD_YES) {
        conn_close(&c->base, "the HTTP server took no more connections", true);
        return;
    }
    if (sec_conn_start(&a->sec, &c->base.sec, server_now(s)) < 0) {
        conn_close(&c->base, "out of memory starting TLS", true);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, pipe_alloc, on_pipe_read);
    conn_start_reading(&c->base, tls_alloc, on_tls_read);
    run(a);
}

static void on_tls_tick(uv_timer_t *t)
{
    struct api *a = t->data;
    uint64_t now = server_now(a->srv);
    for (struct conn *k = a->conns.head, *next; k; k = next) {
        next = k->next;
        if (sec_conn_handshake_expired(&a->sec, &k->sec, now)) {
            a->sec.handshake_failures++;
            a->sec.handshake_timeouts++;
            conn_close(k, "the TLS handshake did not complete within api.ssl-handshake-timeout",
                       true);
        }
    }
}

int api_rules(const struct config *c, struct sec_listener *l, char *why, size_t whylen)
{
    const struct tls_options *t = &c->api_tls;
    memset(l, 0, sizeof(*l));
    return sec_listener_init(l, "api", t->ssl_enabled ? t : NULL, t->allow_networks,
                             t->ssl_enabled ? t->allow_peers : NULL, why, whylen);
}

bool api_tls(const struct api *a)
{
    return a->tls;
}

bool api_same_rules(const struct api *a, const struct sec_listener *from)
{
    return sec_listener_same_rules(&a->sec, from);
}

void api_take_rules(struct api *a, struct sec_listener *from, const struct config *c)
{
    sec_listener_replace(&a->sec, from, a->tls ? &c->api_tls : NULL);
}

/* ---- Starting and stopping ---- */

static void handle_closed(uv_handle_t *h)
{
    struct api *a = h->data;
    if (--a->handles == 0) {
        sec_listener_free(&a->sec);
        free(a);
    }
}

void api_stop(struct api *a)
{
    if (!a)
        return;
    while (a->conns.head)
        conn_close(a->conns.head, "stopping", false);
    uv_poll_stop(&a->poll);
    uv_timer_stop(&a->timer);
    MHD_stop_daemon(a->mhd);
    a->mhd = NULL;
    uv_close((uv_handle_t *)&a->poll, handle_closed);
    uv_close((uv_handle_t *)&a->timer, handle_closed);
    if (a->tls) {
        uv_close((uv_handle_t *)&a->listener, handle_closed);
        uv_close((uv_handle_t *)&a->tls_tick, handle_closed);
    }
}

/* libmicrohttpd's own messages go to the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct api *a = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    /* Once it runs, what it says is about one client's request (a malformed one, a timeout):
     * anyone allowed to connect could fill the log with those. Behind TLS its connections are
     * socketpairs, with no TCP options to set, which it would report too. */
    if (a->running)
        log_debug("api", "%s", line);
    else
        log_warn("api", "%s", line);
}

/* The endpoint's TLS and access rules into L; prints what is wrong. */
static int api_security(struct sec_listener *l, const struct config *c)
{
    const struct tls_options *t = &c->api_tls;
    char why[2400];
    if (api_rules(c, l, why, sizeof(why)) < 0) {
        serve_error("%s", why);
        return -1;
    }
    if (!t->ssl_enabled && t->certificate[0])
        log_warn("api", "api.ssl-certificate is set but api.ssl-enabled is false: the HTTP "
                        "endpoint is plaintext");
    return 0;
}

int api_check(const struct config *c)
{
    struct sec_listener l;
    memset(&l, 0, sizeof(l));
    int rc = api_security(&l, c);
    sec_listener_free(&l);
    return rc;
}

/* The port of ADDR, for libmicrohttpd's messages (it binds ADDR as given). */
static uint16_t port_of(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

/* The TLS listener, on the loop: 0 with BOUND, or a negative errno (printed). */
static int tls_listen(struct api *a, const struct sockaddr_storage *addr, char *bound,
                      size_t boundlen)
{
    struct server *s = a->srv;
    uv_tcp_init(s->loop, &a->listener);
    a->listener.data = a;
    int rc = uv_tcp_bind(&a->listener, (const struct sockaddr *)addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 128, on_tls_connection);
    if (rc < 0) {
        if (rc != UV_EADDRINUSE || strcmp(s->cfg.api, API_DEFAULT_ADDRESS) != 0)
            serve_error("cannot listen for the api on %s: %s", s->cfg.api, uv_strerror(rc));
        return rc == UV_EADDRINUSE ? -EADDRINUSE : -EIO;
    }
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(&a->listener, (struct sockaddr *)&got, &len);
    net_format_addr(&got, bound, boundlen);
    uv_timer_init(s->loop, &a->tls_tick);
    a->tls_tick.data = a;
    uv_timer_start(&a->tls_tick, on_tls_tick, 1000, 1000);
    return 0;
}

int api_start(struct server *s, char *bound, size_t boundlen)
{
    struct sockaddr_storage addr;
    if (net_parse_addr(s->cfg.api, &addr) < 0) {
        serve_error("api '%s' is not ADDR:PORT", s->cfg.api);
        return -EINVAL;
    }
    struct api *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->srv = s;
    a->tls = s->cfg.api_tls.ssl_enabled;
    if (api_security(&a->sec, &s->cfg) < 0) {
        free(a);
        return -EINVAL;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (a->tls)
        a->mhd =
            MHD_start_daemon(flags | MHD_USE_NO_LISTEN_SOCKET, 0, on_accept, a, on_request, a,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a, MHD_OPTION_CONNECTION_LIMIT,
                             (unsigned)API_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)API_TIMEOUT_S, MHD_OPTION_END);
    else
        a->mhd = MHD_start_daemon(
            flags | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), port_of(&addr), on_accept, a,
            on_request, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_TIMEOUT_S, MHD_OPTION_END);
    if (!a->mhd) {
        /* libmicrohttpd has logged why (through mhd_log); taken is by far the likeliest. */
        if (a->tls || strcmp(s->cfg.api, API_DEFAULT_ADDRESS) != 0)
            serve_error("cannot listen for the api on %s", s->cfg.api);
        bool tls = a->tls;
        sec_listener_free(&a->sec);
        free(a);
        return tls ? -EIO : -EADDRINUSE;
    }
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int rc = 0;
    if (!ei) {
        serve_error("the HTTP server has no epoll descriptor");
        rc = -EIO;
    } else if (a->tls) {
        rc = tls_listen(a, &addr, bound, boundlen);
        if (rc < 0) {
            /* The handle is closed on the loop; the api goes with it. */
            MHD_stop_daemon(a->mhd);
            a->handles = 1;
            uv_close((uv_handle_t *)&a->listener, handle_closed);
            return rc;
        }
    } else {
        const union MHD_DaemonInfo *li = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_storage got;
        socklen_t gotlen = sizeof(got);
        if (!li || getsockname(li->listen_fd, (struct sockaddr *)&got, &gotlen) != 0) {
            serve_error("the api listener has no address");
            rc = -EIO;
        } else {
            net_format_addr(&got, bound, boundlen);
        }
    }
    if (rc < 0) {
        MHD_stop_daemon(a->mhd);
        sec_listener_free(&a->sec);
        free(a);
        return rc;
    }
    uv_poll_init(s->loop, &a->poll, ei->epoll_fd);
    uv_timer_init(s->loop, &a->timer);
    a->poll.data = a->timer.data = a;
    a->handles = a->tls ? 4 : 2;
    uv_poll_start(&a->poll, UV_READABLE, on_poll);
    s->api = a;
    a->running = true;
    run(a);
    return 0;
}
