/* The syslog listeners: UDP (one datagram, one message; drops counted, never silent) and TCP
 * (RFC 6587 framing per connection; back-pressure pauses reading, nothing is dropped). Messages
 * travel to the workers in batches, like Beats windows, without an ACK. Loop thread only. */
#include <errno.h>
#include <inttypes.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/utf8.h"
#include "net/net.h"
#include "net/tls_context.h"
#include "pipeline/syslog_event.h"
#include "protocol/syslog.h"
#include "protocol/syslog_framer.h"
#include "relay/outbox.h"
#include "relay/relay.h"
#include "server/conn.h"
#include "server/server.h"

#define READ_CHUNK      (64u * 1024u)
#define UDP_DROP_LOG_MS 10000

struct syslogd_conn {
    struct conn base; /* first */
    bool first_read_done;
    struct syslog_framer *framer;
    struct buf pending; /* messages cut but not yet handed over */
    uint32_t pending_count;
    struct batch *blocked; /* a batch the full queue refused (at most one: reading stops) */
    uint64_t inflight_bytes;
    uint64_t last_read_ms;
    bool draining;      /* stopping: reading what the kernel had already received */
    int64_t drain_left; /* bytes still to read before this connection stops */

    /* The listener: plaintext TCP or TLS (RFC 5425) and its counters. */
    struct sec_listener *lsec;
    struct syslogd_counters *k;
    struct buf plain;       /* TLS: the plaintext of the last read */
    struct buf relayed;     /* relay.syslog: the messages of this read, framed for the next hop */
    uint32_t relayed_count; /* ...and how many */
};

/* A run of one connection's messages in the relay: its bytes count in the connection's budget
 * until they are written to the next hop. */
struct relayed_run {
    struct syslogd_conn *c;
    size_t len;
    uint32_t messages;
};

/* A run of UDP senders' messages in the relay. */
struct udp_run {
    struct server *s;
    uint32_t messages;
};

static struct syslogd_conn *syslogd_conn_of(struct conn *k)
{
    return (struct syslogd_conn *)k;
}

/* ---- Batches ---- */

static struct batch *make_batch(struct server *s, struct buf *pending, const char *peer,
                                const char *transport)
{
    uint8_t *data = (uint8_t *)pending->data;
    size_t len = pending->len;
    /* The batch takes the buffer; the pending buffer starts afresh. */
    pending->data = NULL;
    pending->len = pending->cap = 0;
    struct batch *b = batch_new(BATCH_SYSLOG, data, len, NULL, &s->limits, &s->sink);
    if (!b)
        return NULL;
    snprintf(b->peer, sizeof(b->peer), "%s", peer);
    snprintf(b->transport, sizeof(b->transport), "%s", transport);
    b->handoff = &s->handoff;
    return b;
}

static void release(struct conn *k)
{
    buf_free(&syslogd_conn_of(k)->relayed);
    struct syslogd_conn *c = syslogd_conn_of(k);
    syslog_framer_free(c->framer);
    buf_free(&c->pending);
    buf_free(&c->plain);
    batch_free(c->blocked);
    free(c);
}

static void relay_flush_conn(struct syslogd_conn *c, bool final);

static void on_closing(struct conn *k, bool error)
{
    struct syslogd_conn *c = syslogd_conn_of(k);
    (void)error;
    /* A run held back by a full outbox goes to the relay's queue, as at the end of the stream;
     * only one that cannot (out of memory) is lost. */
    relay_flush_conn(c, true);
    k->srv->syslog_relay_lost += c->relayed_count;
    c->relayed_count = 0;
    if (c->blocked) {
        c->inflight_bytes -= c->blocked->len;
        batch_free(c->blocked);
        c->blocked = NULL;
    }
}

static const struct conn_ops syslog_ops = {.closing = on_closing, .release = release};

static void close_conn(struct syslogd_conn *c, const char *why, bool error)
{
    conn_close(&c->base, why, error);
}

/* While the journal waits out a full disk, a batch still in flight is one holding alerts (the
 * others complete as soon as they are matched): its connection stops being read until then. */
static bool journal_holds(const struct syslogd_conn *c)
{
    return c->inflight_bytes && c->base.srv->journal_waiting;
}

static void pause_conn(struct syslogd_conn *c)
{
    conn_pause(&c->base);
}

static void conn_batch_done(struct batch *b, void *ctx);

static void flush_conn(struct syslogd_conn *c)
{
    if (!c->pending.len || c->blocked)
        return;
    struct server *s = c->base.srv;
    struct batch *b = make_batch(s, &c->pending, c->base.peer, c->base.sec.io ? "tls" : "tcp");
    c->pending_count = 0;
    if (b && c->base.sec.peer) {
        /* A copy per batch: the worker reads it on its thread. */
        b->source = json_pack("{s:o}", "tls", json_deep_copy(c->base.sec.peer));
        if (!b->source) {
            batch_free(b);
            b = NULL;
        }
    }
    if (!b) {
        close_conn(c, "out of memory", true);
        return;
    }
    b->complete = conn_batch_done;
    b->complete_ctx = c;
    c->inflight_bytes += b->len;
    if (!workers_submit(s->workers, &b->work)) {
        c->blocked = b; /* keeps its place: nothing is dropped on TCP */
        pause_conn(c);
        return;
    }
    conn_ref(&c->base);
    s->inflight_batches++;
}

/* The screen every message passes on the loop: the UTF-8 check (counted) and the prefilter. Only
 * the rare candidates travel to the workers; the rest cost a few nanoseconds per kilobyte here
 * and no copy, no hand-over, no wake-up. */
static bool screen(struct server *s, struct syslogd_counters *k, const char *msg, size_t len)
{
    if (!utf8_valid(msg, len))
        k->invalid_utf8++;
    if (syslog_event_candidate(msg, len))
        return true;
    s->syslog_screened++;
    return false;
}

/* ---- The relay ---- */

/* Appends MSG to OUT framed for the next hop: octet counting or a line. */
static int relay_frame(struct server *s, struct buf *out, const char *msg, size_t len)
{
    if (strcmp(s->cfg.relay_syslog_framing, "lf") == 0) {
        int rc = buf_append(out, msg, len);
        return rc < 0 ? rc : buf_append(out, "\n", 1);
    }
    char head[24];
    int n = snprintf(head, sizeof(head), "%zu ", len);
    int rc = buf_append(out, head, (size_t)n);
    return rc < 0 ? rc : buf_append(out, msg, len);
}

static bool resume_conn(struct syslogd_conn *c);

static void relayed_done(void *ctx, int status)
{
    struct relayed_run *run = ctx;
    struct syslogd_conn *c = run->c;
    struct server *s = c->base.srv;
    s->syslog_relay_pending -= run->messages;
    if (status != 0)
        s->syslog_relay_lost += run->messages; /* the relay stopped before writing it */
    c->inflight_bytes -= run->len;
    /* At once rather than at the next tick: behind a next hop, the budget empties at its pace. */
    if (c->base.paused && !c->base.closing && !resume_conn(c))
        c->base.srv->need_resume = true;
    free(run);
    conn_unref(&c->base);
}

static void reclaim_queued(struct server *s);

enum spilled { TO_RELAY, SPILLED, HOLD };

/* relay.when-down: spill. While the next hop is down, or while the outbox still holds runs (so
 * that none overtakes them), a run goes to the outbox (copied) and DONE follows once it is
 * durable: SPILLED. TO_RELAY: block mode, or the hop is up with the outbox empty. HOLD: the outbox
 * refuses it (at its cap, the disk behind) and the relay may not take it either, since it would
 * overtake what the outbox holds: the caller keeps it (TCP, TLS) or drops it (UDP). */
static enum spilled spill(struct server *s, const uint8_t *bytes, size_t len, uint32_t messages,
                          relay_done_fn done, void *ctx)
{
    if (!s->syslog_outbox)
        return TO_RELAY;
    bool up = relay_up(s->syslog_relay);
    if (!up)
        reclaim_queued(s); /* runs queued before the hop went go first */
    if (up && !outbox_holding(s->syslog_outbox))
        return TO_RELAY;
    return outbox_append(s->syslog_outbox, bytes, len, messages, done, ctx) == 0 ? SPILLED : HOLD;
}

/* Hands the messages a read framed for the next hop to the relay (or the outbox). A run neither
 * takes yet (a full outbox) stays in the connection, which pauses until it goes; at the end of
 * the stream (FINAL) it goes to the relay's queue instead, as it would with block. */
static void relay_flush_conn(struct syslogd_conn *c, bool final)
{
    struct server *s = c->base.srv;
    if (!s->syslog_relay || !c->relayed.len)
        return;
    struct relayed_run *run = calloc(1, sizeof(*run));
    if (!run) {
        close_conn(c, "out of memory", true);
        return;
    }
    run->c = c;
    run->len = c->relayed.len;
    run->messages = c->relayed_count;
    enum spilled to = spill(s, (const uint8_t *)c->relayed.data, c->relayed.len, run->messages,
                            relayed_done, run);
    if (to == SPILLED) {
        s->syslog_relayed.bytes += run->len;
        s->syslog_relay_pending += run->messages;
        c->relayed_count = 0;
        c->inflight_bytes += run->len;
        conn_ref(&c->base);
        buf_reset(&c->relayed); /* the outbox took a copy */
        return;
    }
    if (to == HOLD && !final) {
        free(run);
        pause_conn(c);
        return;
    }
    if (relay_send(s->syslog_relay, (uint8_t *)c->relayed.data, c->relayed.len, run->messages,
                   relayed_done, run) < 0) {
        free(run);
        close_conn(c, "out of memory", true);
        return;
    }
    s->syslog_relayed.bytes += run->len;
    s->syslog_relay_pending += run->messages;
    c->relayed_count = 0;
    c->inflight_bytes += run->len;
    conn_ref(&c->base);
    buf_init(&c->relayed, c->relayed.max); /* the relay owns those bytes now */
}

static void udp_run_done(void *ctx, int status)
{
    struct udp_run *run = ctx;
    struct server *s = run->s;
    s->udp_relay_runs--;
    s->syslog_relay_pending -= run->messages;
    if (status != 0)
        s->syslog_relay_lost += run->messages;
    free(run);
}

/* The messages of UDP senders for a next hop over TCP or TLS, once per loop turn. UDP has no
 * back-pressure: past syslog.connection-budget of them waiting for the next hop (or for the
 * outbox's disk), they are dropped (and counted). */
static void relay_flush_udp(struct server *s)
{
    if (!s->syslog_relay || !s->udp_relayed.len)
        return;
    struct udp_run *run = calloc(1, sizeof(*run));
    enum spilled to = HOLD;
    if (run) {
        run->s = s;
        run->messages = s->udp_relayed_count;
        to = spill(s, (const uint8_t *)s->udp_relayed.data, s->udp_relayed.len, run->messages,
                   udp_run_done, run);
    }
    if (to == SPILLED) {
        s->syslog_relayed.bytes += s->udp_relayed.len;
        s->syslog_relay_pending += run->messages;
        s->udp_relay_runs++;
        buf_reset(&s->udp_relayed); /* the outbox took a copy */
    } else if (to == HOLD || relay_send(s->syslog_relay, (uint8_t *)s->udp_relayed.data,
                                        s->udp_relayed.len, run->messages, udp_run_done, run) < 0) {
        free(run);
        s->syslog_relayed.dropped += s->udp_relayed_count; /* UDP cannot wait */
        s->syslog_relayed.messages -= s->udp_relayed_count;
        buf_reset(&s->udp_relayed);
    } else {
        s->syslog_relayed.bytes += s->udp_relayed.len;
        s->syslog_relay_pending += run->messages;
        s->udp_relay_runs++;
        buf_init(&s->udp_relayed, s->udp_relayed.max); /* the relay owns those bytes now */
    }
    s->udp_relayed_count = 0;
}

/* A UDP message for the next hop: one datagram over UDP, dropped (and counted) when it cannot
 * go; framed into this loop turn's run over TCP or TLS. */
static void relay_datagram(struct server *s, const char *msg, size_t len)
{
    if (s->syslog_relay) {
        bool room = (uint64_t)s->udp_relay_runs * s->cfg.syslog_batch_bytes + s->udp_relayed.len <
                    s->cfg.syslog_connection_budget;
        if (!room || relay_frame(s, &s->udp_relayed, msg, len) < 0) {
            s->syslog_relayed.dropped++;
            return;
        }
        s->udp_relayed_count++;
        s->syslog_relayed.messages++;
        if (s->udp_relayed.len >= s->cfg.syslog_batch_bytes)
            relay_flush_udp(s);
        return;
    }
    if (!s->syslog_relay_udp_open)
        return;
    uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
    int rc = uv_udp_try_send(&s->syslog_relay_udp, &b, 1,
                             (const struct sockaddr *)&s->syslog_relay_addr);
    if (rc < 0) {
        s->syslog_relayed.dropped++;
        return;
    }
    s->syslog_relayed.messages++;
    s->syslog_relayed.bytes += len;
}

static int on_message(void *ctx, const char *msg, size_t len, unsigned flags)
{
    struct syslogd_conn *c = ctx;
    struct server *s = c->base.srv;
    c->k->messages++;
    c->k->bytes += len;
    if (flags & SYSLOG_MSG_TRUNCATED)
        c->k->truncated++;
    if (s->syslog_relay) {
        if (relay_frame(s, &c->relayed, msg, len) < 0)
            return -ENOMEM;
        c->relayed_count++;
        s->syslog_relayed.messages++;
    } else if (s->syslog_relay_udp_open) {
        relay_datagram(s, msg, len);
    }
    if (!screen(s, c->k, msg, len))
        return 0;
    if (batch_syslog_append(&c->pending, NULL, msg, len, flags) < 0)
        return -ENOMEM;
    c->pending_count++;
    if (c->pending.len >= s->cfg.syslog_batch_bytes)
        flush_conn(c);
    return 0;
}

/* A TCP or TLS connection's batch came back from the workers (loop thread). */
static void conn_batch_done(struct batch *b, void *ctx)
{
    struct syslogd_conn *c = ctx;
    struct server *s = c->base.srv;
    c->inflight_bytes -= b->len;
    if (b->status)
        log_warn(c->base.logname, "%s: a batch failed: %s", c->base.peer, b->error);
    batch_free(b);
    if (!c->base.closing && c->blocked && workers_submit(s->workers, &c->blocked->work)) {
        c->blocked = NULL;
        conn_ref(&c->base);
        s->inflight_batches++;
    }
    if (c->base.paused)
        s->need_resume = true;
    conn_unref(&c->base);
}

/* ---- TCP ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    (void)suggested;
    /* One loop-thread buffer serves every connection: a read is framed (or fed to the TLS
     * engine) before the next one, so an idle connection holds no read buffer. */
    *out = uv_buf_init(sec_read_scratch(), SEC_READ_SCRATCH);
}

static void end_of_stream(struct syslogd_conn *c)
{
    uint64_t errors_before = syslog_framer_stats(c->framer)->framing_errors;
    syslog_framer_finish(c->framer);
    c->k->framing_errors += syslog_framer_stats(c->framer)->framing_errors - errors_before;
    flush_conn(c);
    relay_flush_conn(c, true);
    close_conn(c, "closed by the client", false);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct syslogd_conn *c = st->data;
    struct server *s = c->base.srv;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF)
            end_of_stream(c);
        else
            close_conn(c, uv_strerror((int)nread), false);
        return;
    }
    const char *data = b->base;
    size_t len = (size_t)nread;
    int tls_rc = 0;
    if (c->base.sec.io) {
        char why[600];
        buf_reset(&c->plain);
        tls_rc = sec_conn_input(c->lsec, &c->base.sec, c->base.peer, (const uint8_t *)b->base, len,
                                &c->plain, server_now(s), why, sizeof(why));
        conn_flush_tls(&c->base);
        if (tls_rc < 0)
            close_conn(c, why, true);
        if (c->base.closing)
            return;
        data = c->plain.data;
        len = c->plain.len;
        c->first_read_done = true;
    }
    if (!c->first_read_done) {
        c->first_read_done = true;
        if (syslog_looks_like_tls(b->base, (size_t)nread)) {
            s->tcp_counters.tls_on_plaintext++;
            close_conn(c, "TLS client on a plaintext port (a TLS handshake sent to plain syslog)",
                       true);
            return;
        }
    }
    c->last_read_ms = server_now(s);
    uint64_t errors_before = syslog_framer_stats(c->framer)->framing_errors;
    uint64_t drops_before = syslog_framer_stats(c->framer)->dropped;
    if (len && syslog_framer_feed(c->framer, data, len) < 0) {
        close_conn(c, "out of memory", true);
        return;
    }
    c->k->framing_errors += syslog_framer_stats(c->framer)->framing_errors - errors_before;
    c->k->drops += syslog_framer_stats(c->framer)->dropped - drops_before;
    /* The read's plaintext is framed: an idle TLS connection keeps no copy of it. */
    buf_free(&c->plain);
    flush_conn(c);
    relay_flush_conn(c, false);
    if (tls_rc == 1) {
        end_of_stream(c); /* the client's close_notify */
        return;
    }
    if (c->draining) {
        c->drain_left -= nread;
        if (c->drain_left <= 0) {
            conn_stop_reading(&c->base);
            c->draining = false;
        }
        return;
    }
    if (c->inflight_bytes >= s->cfg.syslog_connection_budget || journal_holds(c)) {
        if (!c->base.paused && c->inflight_bytes >= s->cfg.syslog_connection_budget)
            c->k->budget_waits++;
        pause_conn(c);
    }
}

static void start_reading(struct syslogd_conn *c)
{
    if (c->base.srv->stopping && !c->draining)
        return;
    conn_start_reading(&c->base, on_alloc, on_read);
}

/* Reads a paused connection again once its batch is taken and its budget has room. False while
 * it must stay paused. */
static bool resume_conn(struct syslogd_conn *c)
{
    struct server *s = c->base.srv;
    if (c->blocked && workers_submit(s->workers, &c->blocked->work)) {
        c->blocked = NULL;
        conn_ref(&c->base);
        s->inflight_batches++;
    }
    relay_flush_conn(c, false); /* a run a full outbox held back */
    if (c->base.closing || c->relayed.len || c->blocked ||
        c->inflight_bytes >= s->cfg.syslog_connection_budget || journal_holds(c))
        return false;
    start_reading(c);
    return true;
}

void syslogd_resume_paused(struct server *s)
{
    for (struct conn *k = s->syslog_conns.head; k; k = k->next) {
        if (k->paused && !k->closing && !resume_conn(syslogd_conn_of(k)))
            s->need_resume = true;
    }
}

static void on_tcp_connection(uv_stream_t *server, int status)
{
    struct server *s = server->data;
    if (status < 0)
        return;
    int err = fault_error("syslog-conn-alloc");
    struct syslogd_conn *c = err ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        bool on_tls = server == (uv_stream_t *)&s->syslog_tls;
        (on_tls ? &s->tls_counters : &s->tcp_counters)->refused++;
        log_warn(on_tls ? "syslog-tls" : "syslog", "refusing a connection: out of memory for it");
        net_refuse(server);
        return;
    }
    bool tls = server == (uv_stream_t *)&s->syslog_tls;
    c->lsec = tls ? &s->syslog_tls_sec : &s->syslog_sec;
    c->k = tls ? &s->tls_counters : &s->tcp_counters;
    if (conn_accept(&c->base, server, s, &s->syslog_conns, tls ? "syslog-tls" : "syslog",
                    &syslog_ops) < 0)
        return;
    struct syslog_framer_config fc;
    syslog_framer_config_default(&fc);
    syslog_framing_parse(s->cfg.syslog_framing, &fc.framing);
    syslog_oversize_parse(s->cfg.syslog_oversize, &fc.oversize);
    fc.max_msg = (size_t)s->cfg.syslog_max_message;
    buf_init(&c->pending, (size_t)s->cfg.syslog_batch_bytes + fc.max_msg + 64);
    buf_init(&c->relayed, (size_t)1 << 40); /* a read's messages: bounded by the read */
    c->k->connections++;
    c->last_read_ms = server_now(s);
    if (syslog_framer_new(&fc, on_message, c, &c->framer) < 0) {
        close_conn(c, "out of memory", true);
        return;
    }
    if (s->syslog_conns.count > s->cfg.syslog_max_connections || s->stopping) {
        c->k->refused++;
        close_conn(c, "too many connections (syslog.max-connections)", true);
        return;
    }
    if (!sec_admit_tcp(c->lsec, &c->base.tcp, c->base.peer, c->base.logname, server_now(s))) {
        c->k->refused++;
        close_conn(c, "refused by allow-networks", false); /* logged once a minute */
        return;
    }
    if (tls) {
        /* One read's plaintext: at most what the ciphertext of one read decrypts to. */
        buf_init(&c->plain, READ_CHUNK + 32768);
        if (sec_conn_start(c->lsec, &c->base.sec, server_now(s)) < 0) {
            close_conn(c, "out of memory starting TLS", true);
            return;
        }
    }
    start_reading(c);
}

/* ---- UDP ---- */

static void udp_batch_done(struct batch *b, void *ctx)
{
    (void)ctx;
    batch_free(b);
}

static void flush_udp(struct server *s)
{
    if (!s->udp_pending.len)
        return;
    uint32_t count = s->udp_pending_count;
    struct batch *b = make_batch(s, &s->udp_pending, "", "udp");
    if (b)
        b->complete = udp_batch_done; /* nothing waits for a UDP batch */
    s->udp_pending_count = 0;
    buf_init(&s->udp_pending,
             (size_t)s->cfg.syslog_batch_bytes + (size_t)s->cfg.syslog_max_message + 64);
    if (!b || !workers_submit(s->workers, &b->work)) {
        /* UDP cannot push back: the messages are lost, and that is counted and logged. */
        batch_free(b);
        s->udp_counters.drops += count;
        return;
    }
    s->inflight_batches++;
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    /* libuv splits this buffer between the datagrams of one recvmmsg. */
    static char slab[64 * 1024 * 8];
    (void)suggested;
    *out = uv_buf_init(slab, sizeof(slab));
}

static void on_udp_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                        unsigned flags)
{
    struct server *s = h->data;
    if (nread == 0 && !addr && s->udp_draining) {
        /* The socket buffer is empty: what arrived before the stop has been read. */
        uv_udp_recv_stop(&s->syslog_udp);
        s->udp_draining = false;
        flush_udp(s);
        return;
    }
    if (nread <= 0 || !addr)
        return;
    (void)flags;
    size_t len = (size_t)nread;
    const char *p = b->base;
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\0'))
        len--;
    if (!len)
        return;
    s->udp_counters.messages++;
    s->udp_counters.bytes += len;
    unsigned mflags = 0;
    if (len > s->cfg.syslog_max_message) {
        if (strcmp(s->cfg.syslog_oversize, "drop") == 0) {
            s->udp_counters.drops++;
            return;
        }
        s->udp_counters.truncated++;
        len = (size_t)s->cfg.syslog_max_message;
        mflags |= SYSLOG_MSG_TRUNCATED;
    }
    /* The peer goes in front of the message so each alert can name it; formatting it once per
     * sender, not once per datagram. */
    size_t alen =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!s->udp_last_peer[0] || memcmp(&s->udp_last_addr, addr, alen) != 0) {
        memset(&s->udp_last_addr, 0, sizeof(s->udp_last_addr));
        memcpy(&s->udp_last_addr, addr, alen);
        net_format_addr(&s->udp_last_addr, s->udp_last_peer, sizeof(s->udp_last_peer));
    }
    const char *peer = s->udp_last_peer;
    bool candidate = screen(s, &s->udp_counters, p, len);
    bool relayed = s->syslog_relay || s->syslog_relay_udp_open;
    if ((candidate || relayed) && s->syslog_sec.acl.nnets &&
        !sec_admit(&s->syslog_sec, addr, peer, "syslog", server_now(s))) {
        s->udp_counters.refused++;
        return;
    }
    relay_datagram(s, p, len);
    if (!candidate)
        return;
    if (batch_syslog_append(&s->udp_pending, peer, p, len, mflags) < 0) {
        flush_udp(s);
        if (batch_syslog_append(&s->udp_pending, peer, p, len, mflags) < 0) {
            s->udp_counters.drops++;
            return;
        }
    }
    s->udp_pending_count++;
    if (s->udp_pending.len >= s->cfg.syslog_batch_bytes)
        flush_udp(s);
}

static void on_check(uv_check_t *h)
{
    flush_udp(h->data);
    relay_flush_udp(h->data);
}

/* ---- Listening ---- */

int syslogd_listen(struct server *s, char *tcp_bound, size_t tcplen, char *udp_bound, size_t udplen)
{
    struct sockaddr_storage addr, got;
    int len, rc;
    if (strcmp(s->cfg.syslog_tcp, "off") != 0) {
        if (net_parse_addr(s->cfg.syslog_tcp, &addr) < 0) {
            serve_error("--syslog-tcp: '%s' is not an IP address and port", s->cfg.syslog_tcp);
            return -EINVAL;
        }
        uv_tcp_init(s->loop, &s->syslog_tcp);
        s->syslog_tcp.data = s;
        rc = uv_tcp_bind(&s->syslog_tcp, (struct sockaddr *)&addr, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&s->syslog_tcp, 1024, on_tcp_connection);
        if (rc < 0) {
            serve_error("cannot listen on %s (syslog TCP): %s", s->cfg.syslog_tcp, uv_strerror(rc));
            uv_close((uv_handle_t *)&s->syslog_tcp, NULL);
            return -EIO;
        }
        s->syslog_tcp_listening = true;
        len = sizeof(got);
        uv_tcp_getsockname(&s->syslog_tcp, (struct sockaddr *)&got, &len);
        net_format_addr(&got, tcp_bound, tcplen);
    }
    if (strcmp(s->cfg.syslog_udp, "off") != 0) {
        if (net_parse_addr(s->cfg.syslog_udp, &addr) < 0) {
            serve_error("--syslog-udp: '%s' is not an IP address and port", s->cfg.syslog_udp);
            return -EINVAL;
        }
        uv_udp_init_ex(s->loop, &s->syslog_udp, AF_UNSPEC | UV_UDP_RECVMMSG);
        s->syslog_udp.data = s;
        rc = uv_udp_bind(&s->syslog_udp, (struct sockaddr *)&addr, 0);
        if (rc == 0) {
            int size = (int)s->cfg.syslog_udp_buffer;
            uv_recv_buffer_size((uv_handle_t *)&s->syslog_udp, &size);
            rc = uv_udp_recv_start(&s->syslog_udp, on_udp_alloc, on_udp_read);
        }
        if (rc < 0) {
            serve_error("cannot listen on %s (syslog UDP): %s", s->cfg.syslog_udp, uv_strerror(rc));
            uv_close((uv_handle_t *)&s->syslog_udp, NULL);
            return -EIO;
        }
        s->syslog_udp_listening = true;
        len = sizeof(got);
        uv_udp_getsockname(&s->syslog_udp, (struct sockaddr *)&got, &len);
        net_format_addr(&got, udp_bound, udplen);
        buf_init(&s->udp_pending,
                 (size_t)s->cfg.syslog_batch_bytes + (size_t)s->cfg.syslog_max_message + 64);
        uv_check_init(s->loop, &s->syslog_flush);
        s->syslog_flush.data = s;
        uv_check_start(&s->syslog_flush, on_check);
    }
    return 0;
}

/* The TCP listener at SPEC (for NAME's messages), accepting into on_tcp_connection. */
static int listen_tcp(struct server *s, uv_tcp_t *h, const char *spec, const char *flag,
                      const char *what, char *bound, size_t boundlen)
{
    struct sockaddr_storage addr, got;
    if (net_parse_addr(spec, &addr) < 0) {
        serve_error("--%s: '%s' is not an IP address and port", flag, spec);
        return -EINVAL;
    }
    uv_tcp_init(s->loop, h);
    h->data = s;
    int rc = uv_tcp_bind(h, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)h, 1024, on_tcp_connection);
    if (rc < 0) {
        serve_error("cannot listen on %s (%s): %s", spec, what, uv_strerror(rc));
        uv_close((uv_handle_t *)h, NULL);
        return -EIO;
    }
    int len = sizeof(got);
    uv_tcp_getsockname(h, (struct sockaddr *)&got, &len);
    net_format_addr(&got, bound, boundlen);
    return 0;
}

int syslogd_tls_listen(struct server *s, char *bound, size_t boundlen)
{
    int rc = listen_tcp(s, &s->syslog_tls, s->cfg.syslog_tls, "syslog-tls", "syslog TLS", bound,
                        boundlen);
    if (rc == 0)
        s->syslog_tls_listening = true;
    return rc;
}

static void relay_tick(struct server *s);

void syslogd_tick(struct server *s)
{
    uint64_t now = server_now(s);
    relay_tick(s);
    struct conn *k = s->syslog_conns.head;
    while (k) {
        struct conn *next = k->next;
        struct syslogd_conn *t = syslogd_conn_of(k);
        if (sec_conn_handshake_expired(t->lsec, &k->sec, now)) {
            t->lsec->handshake_failures++;
            t->lsec->handshake_timeouts++;
            conn_close(k,
                       "the TLS handshake did not complete within "
                       "syslog-tls.ssl-handshake-timeout",
                       true);
        }
        k = next;
    }
    if (s->udp_draining && now >= s->udp_drain_deadline_ms) {
        uv_udp_recv_stop(&s->syslog_udp);
        s->udp_draining = false;
        flush_udp(s);
    }
    if (s->cfg.syslog_idle_timeout_ms) {
        k = s->syslog_conns.head;
        while (k) {
            struct conn *next = k->next;
            struct syslogd_conn *c = syslogd_conn_of(k);
            if (!c->inflight_bytes && !c->relayed.len &&
                now - c->last_read_ms >= s->cfg.syslog_idle_timeout_ms)
                conn_close(k, "idle for syslog.idle-timeout", false);
            k = next;
        }
    }
    if (s->udp_counters.drops > s->udp_drops_logged &&
        now - s->last_udp_drop_log_ms >= UDP_DROP_LOG_MS) {
        log_warn("syslog",
                 "UDP: %" PRIu64 " messages dropped so far (%" PRIu64 " since the last "
                 "report): the workers could not keep up or messages were over the size limit; "
                 "raise syslog.udp-buffer or use TCP",
                 s->udp_counters.drops, s->udp_counters.drops - s->udp_drops_logged);
        s->udp_drops_logged = s->udp_counters.drops;
        s->last_udp_drop_log_ms = now;
    }
}

static void close_tcp_listeners(struct server *s)
{
    if (s->syslog_tls_listening) {
        uv_close((uv_handle_t *)&s->syslog_tls, NULL);
        s->syslog_tls_listening = false;
    }
    if (s->syslog_tcp_listening) {
        uv_close((uv_handle_t *)&s->syslog_tcp, NULL);
        s->syslog_tcp_listening = false;
    }
}

void syslogd_stop_reading_all(struct server *s)
{
    close_tcp_listeners(s);
    if (s->syslog_udp_listening) {
        /* Read on until the socket buffer is empty (bounded in time), then stop. */
        s->udp_draining = true;
        s->udp_drain_deadline_ms = server_now(s) + 2000;
    }
    for (struct conn *k = s->syslog_conns.head; k; k = k->next) {
        struct syslogd_conn *c = syslogd_conn_of(k);
        /* TCP has no ACK: what the kernel already received was acknowledged to the sender, so it
         * is read and matched before the connection closes; nothing sent later is taken. */
        int fd = -1, pending = 0;
        if (uv_fileno((uv_handle_t *)&k->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &pending) == 0 &&
            pending > 0) {
            c->draining = true;
            c->drain_left = pending;
            if (!k->reading)
                start_reading(c);
        } else {
            conn_stop_reading(k);
        }
        flush_conn(c);
    }
}

bool syslogd_idle(struct server *s)
{
    /* Runs for the next hop count too, of connections closed since and of UDP senders: a stop
     * waits for them to be written (or spilled) within shutdown-timeout. */
    if (s->udp_draining || s->syslog_relay_pending || s->udp_relayed.len)
        return false;
    for (struct conn *k = s->syslog_conns.head; k; k = k->next) {
        const struct syslogd_conn *c = syslogd_conn_of(k);
        if (c->inflight_bytes || c->draining || c->blocked || c->relayed.len)
            return false;
    }
    return true;
}

void syslogd_close_all(struct server *s)
{
    close_tcp_listeners(s);
    if (s->syslog_udp_listening) {
        uv_close((uv_handle_t *)&s->syslog_udp, NULL);
        uv_check_stop(&s->syslog_flush);
        uv_close((uv_handle_t *)&s->syslog_flush, NULL);
        s->syslog_udp_listening = false;
    }
    while (s->syslog_conns.head)
        conn_close(s->syslog_conns.head, "stopping", false);
    buf_free(&s->udp_pending);
}

static void log_one(const char *name, const struct syslogd_counters *k)
{
    log_info("syslog",
             "%s: %" PRIu64 " messages, %" PRIu64 " bytes, %" PRIu64 " dropped, %" PRIu64
             " truncated, %" PRIu64 " framing errors, %" PRIu64 " invalid UTF-8, %" PRIu64
             " TLS on the plaintext port, %" PRIu64 " connections (%" PRIu64 " refused)",
             name, k->messages, k->bytes, k->drops, k->truncated, k->framing_errors,
             k->invalid_utf8, k->tls_on_plaintext, k->connections, k->refused);
}

void syslogd_log_counters(struct server *s)
{
    if (strcmp(s->cfg.syslog_tcp, "off") != 0)
        log_one("tcp", &s->tcp_counters);
    if (s->syslog_tls_enabled)
        log_one("tls", &s->tls_counters);
    if (strcmp(s->cfg.syslog_udp, "off") != 0)
        log_one("udp", &s->udp_counters);
}

/* ---- Starting and stopping the relay ---- */

int syslogd_relay_check(struct server *s)
{
    const struct config *cfg = &s->cfg;
    if (!cfg->relay_syslog_hosts[0] || strcmp(cfg->relay_syslog_transport, "tls") != 0)
        return 0;
    char why[2400];
    s->syslog_relay_tls = tls_client_context(&cfg->relay_syslog_ssl, "relay.syslog.ssl.",
                                             &s->syslog_relay_verify_host, why, sizeof(why));
    if (!s->syslog_relay_tls) {
        serve_error("%s", why);
        return -1;
    }
    return 0;
}

int syslogd_relay_resolve_udp(struct server *s, const char *spec, struct sockaddr_storage *out)
{
    char host[256], port[8] = "514";
    const char *colon = strrchr(spec, ':');
    bool bracket = spec[0] == '[';
    const char *end = bracket ? strchr(spec, ']') : colon;
    size_t n = end ? (size_t)(end - spec - (bracket ? 1 : 0)) : strlen(spec);
    if (n == 0 || n >= sizeof(host) || (bracket && !end))
        return -EINVAL;
    memcpy(host, spec + (bracket ? 1 : 0), n);
    host[n] = '\0';
    if (colon && (!bracket || colon > end))
        snprintf(port, sizeof(port), "%s", colon + 1);
    uv_getaddrinfo_t req;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    int rc = uv_getaddrinfo(s->loop, &req, NULL, host, port, &hints); /* synchronous */
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

static int udp_target(struct server *s, const char *spec)
{
    int rc = syslogd_relay_resolve_udp(s, spec, &s->syslog_relay_addr);
    if (rc < 0)
        return rc;
    rc = uv_udp_init(s->loop, &s->syslog_relay_udp);
    if (rc < 0)
        return rc;
    s->syslog_relay_udp_open = true;
    return 0;
}

int syslogd_relay_start(struct server *s)
{
    const struct config *cfg = &s->cfg;
    if (!cfg->relay_syslog_hosts[0])
        return 0;
    struct relay_options o = {
        .loadbalance = false,
        .worker = 1,
        .pipelining = 4,
        .timeout_ms = cfg->relay_beats_timeout_ms,
        .backoff_init_ms = cfg->relay_beats_backoff_init_ms,
        .backoff_max_ms = cfg->relay_beats_backoff_max_ms,
        .tls = s->syslog_relay_tls,
        .tls_verify_host = s->syslog_relay_verify_host,
        .log_name = "relay-syslog",
        .no_acks = true,
    };
    if (relay_set_hosts(&o, cfg->relay_syslog_hosts, "514") < 0) {
        serve_error("relay.syslog.hosts: at most %d hosts of %zu characters", RELAY_MAX_HOSTS,
                    sizeof(o.hosts[0]) - 7);
        return -EINVAL;
    }
    buf_init(&s->udp_relayed, (size_t)s->cfg.syslog_batch_bytes + s->cfg.syslog_max_message + 32);
    int rc;
    if (strcmp(cfg->relay_syslog_transport, "udp") == 0) {
        rc = udp_target(s, o.hosts[0]);
        if (rc < 0) {
            serve_error("relay.syslog.hosts: cannot use %s: %s", o.hosts[0], uv_strerror(rc));
            return -EINVAL;
        }
        log_info("relay-syslog", "passing every syslog message on to %s over UDP", o.hosts[0]);
        return 0;
    }
    rc = relay_new(&s->syslog_relay, s->loop, &o);
    if (rc < 0) {
        serve_error("relay.syslog.hosts: '%s': %s", cfg->relay_syslog_hosts,
                    rc == -EINVAL ? "not HOST, HOST:PORT or [IPv6]:PORT" : strerror(-rc));
        return rc;
    }
    if (strcmp(cfg->relay_when_down, "spill") == 0) {
        char dir[1200];
        snprintf(dir, sizeof(dir), "%s/syslog-outbox", cfg->data_dir);
        rc = outbox_open(&s->syslog_outbox, s->loop, dir, cfg->relay_spill_max_bytes,
                         (unsigned)cfg->journal_sync_interval_ms, s->syslog_relay);
        if (rc < 0) {
            serve_error("cannot open the outbox %s: %s", dir, strerror(-rc));
            syslogd_relay_stop(s);
            return -EIO;
        }
    }
    log_info("relay-syslog", "passing every syslog message on to %s over %s (%s framing)",
             o.hosts[0], cfg->relay_syslog_transport, cfg->relay_syslog_framing);
    return 0;
}

void syslogd_relay_log_counters(struct server *s)
{
    if (!s->syslog_relay && !s->syslog_relay_udp_open)
        return;
    log_info("relay-syslog",
             "%" PRIu64 " messages (%" PRIu64 " bytes) passed on, %" PRIu64 " dropped (UDP)",
             s->syslog_relayed.messages, s->syslog_relayed.bytes, s->syslog_relayed.dropped);
    if (s->syslog_relay) {
        for (size_t i = 0; relay_host_name(s->syslog_relay, i); i++) {
            const struct relay_hop_stats *h = relay_hop(s->syslog_relay, i);
            log_info("relay-syslog",
                     "%s: %s, %" PRIu64 " runs (%" PRIu64 " bytes) written, %" PRIu64
                     " errors, %" PRIu64 " reconnects",
                     relay_host_name(s->syslog_relay, i), h->up ? "up" : "down", h->windows,
                     h->bytes, h->errors, h->reconnects);
        }
        log_info("relay-syslog", "%zu runs waiting for a next hop", relay_pending(s->syslog_relay));
    }
    if (s->syslog_outbox) {
        struct outbox_stats o;
        outbox_get_stats(s->syslog_outbox, &o);
        int64_t age = o.oldest_ms ? clock_now_ms() - o.oldest_ms : 0;
        log_info("relay-syslog",
                 "outbox: %" PRIu64 " runs (%" PRIu64 " bytes) held, the oldest %" PRId64
                 " s old; %" PRIu64 " spilled, %" PRIu64 " sent on",
                 o.windows, o.bytes, age > 0 ? age / 1000 : 0, o.spilled, o.forwarded);
    }
}

/* What the relay holds of the senders' runs (not the outbox's own, on their way out). */
struct queued_runs {
    size_t runs;
    uint64_t bytes;
    struct server *s;
    bool refused;
};

static bool senders_run(relay_done_fn done)
{
    return done == relayed_done || done == udp_run_done;
}

static bool count_queued(void *arg, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
                         void *ctx)
{
    struct queued_runs *q = arg;
    (void)bytes;
    (void)events;
    (void)ctx;
    if (senders_run(done)) {
        q->runs++;
        q->bytes += len;
    }
    return false;
}

/* A run the relay holds for a next hop that is down goes to the outbox instead; after one the
 * outbox refuses, none (they keep their order). */
static bool spill_queued(void *arg, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
                         void *ctx)
{
    struct queued_runs *q = arg;
    if (!senders_run(done) || q->refused)
        return false;
    if (outbox_append(q->s->syslog_outbox, bytes, len, events, done, ctx) < 0) {
        q->refused = true;
        return false;
    }
    free(bytes);
    return true;
}

/* While no next hop is up, the runs the relay queued before it went go to the outbox, all of them
 * (so that their order holds) and before any newer run. Once the outbox holds runs they came
 * later: the relay's go first when the hop is back. */
static void reclaim_queued(struct server *s)
{
    if (outbox_holding(s->syslog_outbox))
        return;
    struct queued_runs q = {.s = s};
    relay_reclaim(s->syslog_relay, count_queued, &q);
    if (!q.runs || !outbox_fits(s->syslog_outbox, q.runs, q.bytes))
        return;
    relay_reclaim(s->syslog_relay, spill_queued, &q);
}

/* relay.when-down: spill: the queued runs go to the outbox while the next hop is down, and the
 * log says when it goes and comes back, with what the outbox holds. */
static void relay_tick(struct server *s)
{
    if (!s->syslog_outbox)
        return;
    bool up = relay_up(s->syslog_relay);
    if (!up)
        reclaim_queued(s);
    if (up == s->syslog_relay_was_up)
        return;
    struct outbox_stats o;
    outbox_get_stats(s->syslog_outbox, &o);
    if (up)
        log_info("relay-syslog",
                 "a next hop is up: sending the outbox on (%" PRIu64 " runs, %" PRIu64 " bytes)",
                 o.windows, o.bytes);
    else
        log_warn("relay-syslog",
                 "no next hop is up: syslog messages go to the outbox (it holds %" PRIu64
                 " runs, %" PRIu64 " bytes)",
                 o.windows, o.bytes);
    s->syslog_relay_was_up = up;
}

void syslogd_relay_stop(struct server *s)
{
    syslogd_relay_log_counters(s);
    s->syslog_relay_lost += s->udp_relayed_count;
    s->udp_relayed_count = 0;
    if (s->syslog_relay)
        relay_close(s->syslog_relay, NULL, NULL); /* before the outbox: its runs in the relay go */
    s->syslog_relay = NULL;
    outbox_close(s->syslog_outbox);
    s->syslog_outbox = NULL;
    if (s->syslog_relay_lost)
        log_warn("relay-syslog",
                 "%" PRIu64 " messages could not be passed on: the next hop had not taken them "
                 "(nor the outbox) when the stop ended",
                 s->syslog_relay_lost);
    if (s->syslog_relay_udp_open && !uv_is_closing((uv_handle_t *)&s->syslog_relay_udp))
        uv_close((uv_handle_t *)&s->syslog_relay_udp, NULL);
    s->syslog_relay_udp_open = false;
    buf_free(&s->udp_relayed);
    if (s->syslog_relay_tls)
        SSL_CTX_free(s->syslog_relay_tls);
    s->syslog_relay_tls = NULL;
}
