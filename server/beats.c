/* The Beats listener: Lumberjack v1/v2 connections on the libuv loop. The loop reads, hands the
 * bytes to the connection's Beats session (protocol/beats_session.h: frames, windows, ACKs) and
 * writes the ACKs it gives back; whole windows (still compressed) go to the workers as batches,
 * under the per-connection and global memory budgets kept here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "net/net.h"
#include "net/tls_context.h"
#include "protocol/beats_session.h"
#include "protocol/inflate.h"
#include "relay/feed.h"
#include "relay/outbox.h"
#include "relay/relay.h"
#include "server/conn.h"
#include "server/server.h"

#define READ_CHUNK           (64u * 1024u)
#define HEADER_READ          10u /* the longest frame header (J, D): what a read waiting for room takes */
#define MAX_UNREAD_ACK_BYTES (64u * 1024u)  /* a client that does not read its ACKs */
#define ALERT_CURSOR         "relay-alerts" /* relay.beats.alerts: its cursor in the journal */
#define RELAY_BUF_MAX                                                                              \
    ((size_t)1 << 40) /* a window gathered for the next hop: bounded by the budgets */

struct beats_conn {
    struct conn base; /* first */
    uint64_t id;
    struct beats_session *sess; /* windows, ACKs, keep-alives */

    struct buf rbuf;                           /* bytes of an unfinished frame */
    struct batch *blocked_head, *blocked_tail; /* batches the full queue refused */

    uint64_t inflight_bytes;
    uint64_t last_read_ms, frame_started_ms;
    size_t reserved; /* the frame being read, counted in the global budget once admitted */
    size_t held;     /* bytes read ahead of admission (the server's HELD_BYTES) */
    bool admitted;
    bool waiting;                     /* in the server's queue of connections waiting for room */
    bool resumed_from_queue;          /* its turn came: a new refusal puts it back at the head */
    struct beats_conn *wprev, *wnext; /* that queue */
    struct relay_pend *rp_head, *rp_tail; /* windows being gathered for the next hop, in order */
    bool spill_held; /* spill: the whole window at RP_HEAD waits for room in the outbox */
};

/* A window on its way to the next hop: its frames gathered as they are cut, handed to the relay
 * once whole, acknowledged to the Beat only after the next hop acknowledged it (and after its
 * events were matched and its alerts journaled, as without a relay). Its bytes count in the
 * connection's and the global budgets until then: a next hop that is down or slow pauses the
 * Beats' reads. */
struct relay_pend {
    struct relay_pend *next;
    struct beats_conn *c;
    struct beats_window *w;
    struct buf bytes; /* v2: the window's frames as they arrived; v1: its D frames */
    uint8_t version;
    size_t counted;  /* bytes counted in the budgets */
    bool sealed;     /* whole, sealed and (v1) converted: waiting only for a place to go */
    uint32_t events; /* then: what the next hop's ACK must reach */
};

/* ACK bytes on their way to a connection (loop thread). A call of beats_session_acks that fills
 * it leaves the other ACKs for the next call. */
static struct buf ack_out = {.max = MAX_UNREAD_ACK_BYTES};

static struct beats_conn *beats_conn_of(struct conn *k)
{
    return (struct beats_conn *)k;
}

static void close_conn(struct beats_conn *c, const char *why, bool error)
{
    conn_close(&c->base, why, error);
}

static void release(struct conn *k)
{
    struct beats_conn *c = beats_conn_of(k);
    buf_free(&c->rbuf);
    beats_session_free(c->sess);
    struct batch *b = c->blocked_head;
    while (b) {
        struct batch *n = b->link;
        batch_free(b);
        b = n;
    }
    free(c);
}

/* The queue of connections waiting for room in the global budget: served oldest first, so that
 * under pressure every connection gets its turn and none waits past beats.keepalive-max. */
static void room_dequeue(struct beats_conn *c)
{
    struct server *s = c->base.srv;
    if (!c->waiting)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        s->room_head = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    else
        s->room_tail = c->wprev;
    c->wprev = c->wnext = NULL;
    c->waiting = false;
}

static void room_enqueue(struct beats_conn *c, bool front)
{
    struct server *s = c->base.srv;
    if (c->waiting)
        return;
    c->waiting = true;
    if (front) {
        c->wnext = s->room_head;
        if (s->room_head)
            s->room_head->wprev = c;
        else
            s->room_tail = c;
        s->room_head = c;
    } else {
        c->wprev = s->room_tail;
        if (s->room_tail)
            s->room_tail->wnext = c;
        else
            s->room_head = c;
        s->room_tail = c;
    }
}

static void on_closing(struct conn *k, bool error)
{
    struct beats_conn *c = beats_conn_of(k);
    struct server *s = k->srv;
    if (error)
        s->counters.closed_errors++;
    /* Batches refused by the full queue never ran: release their budget now. */
    struct batch *b = c->blocked_head;
    while (b) {
        struct batch *n = b->link;
        s->inflight_bytes -= b->len;
        c->inflight_bytes -= b->len;
        batch_free(b);
        b = n;
    }
    c->blocked_head = c->blocked_tail = NULL;
    /* Windows still being gathered never reach the next hop: the Beat sends them again. */
    struct relay_pend *rp = c->rp_head;
    while (rp) {
        struct relay_pend *n = rp->next;
        s->inflight_bytes -= rp->counted;
        c->inflight_bytes -= rp->counted;
        buf_free(&rp->bytes);
        free(rp);
        rp = n;
    }
    c->rp_head = c->rp_tail = NULL;
    if (c->spill_held) {
        c->spill_held = false;
        s->spill_holds--;
    }
    s->reserved_bytes -= c->reserved;
    c->reserved = 0;
    s->held_bytes -= c->held;
    c->held = 0;
    room_dequeue(c);
}

static const struct conn_ops beats_ops = {.closing = on_closing, .release = release};

/* ---- Writing ACKs ---- */

/* The last time something beyond the senders held windows back: a full disk, the next hop. */
static uint64_t held_since(const struct server *s)
{
    uint64_t relay = s->relay ? relay_held_ms(s->relay) : 0;
    if (s->spill_held_ms > relay)
        relay = s->spill_held_ms; /* a full outbox holds windows back: renewed every tick */
    return relay > s->journal_waited_ms ? relay : s->journal_waited_ms;
}

/* Writes the ACKs the session has due, in window order (KEEPALIVE: a keep-alive from its tick
 * instead, which does not count as an exchange for the idle timeout). */
static void write_acks(struct beats_conn *c, bool keepalive)
{
    struct server *s = c->base.srv;
    while (!c->base.closing) {
        buf_reset(&ack_out);
        int n = keepalive ? beats_session_tick(c->sess, server_now(s), held_since(s), &ack_out)
                          : beats_session_acks(c->sess, &ack_out, server_now(s));
        if (n < 0) {
            /* A window that cannot be matched, or one stalled: never acknowledged. */
            const char *why = beats_session_error(c->sess);
            close_conn(c, why[0] ? why : "out of memory", true);
            return;
        }
        if (n == 0)
            return;
        if (conn_write_queue(&c->base) > MAX_UNREAD_ACK_BYTES) {
            close_conn(c, "the client does not read its ACKs", true);
            return;
        }
        if (keepalive) {
            s->counters.keepalives++;
        } else {
            s->counters.acks += (uint64_t)n;
            c->last_read_ms = server_now(s); /* idle time counts from the last real exchange */
        }
        if (conn_write(&c->base, ack_out.data, ack_out.len) < 0 || keepalive)
            return;
    }
}

/* ---- Batches ---- */

static void pause_reading(struct beats_conn *c)
{
    conn_pause(&c->base);
}

/* The global budget covers the batches the workers hold and the frames being read: with
 * thousands of busy connections, frames half read are most of the memory. */
static uint64_t committed(const struct server *s)
{
    return s->inflight_bytes + s->reserved_bytes;
}

static bool over_budget(const struct beats_conn *c)
{
    const struct server *s = c->base.srv;
    return c->inflight_bytes >= s->cfg.beats_connection_budget ||
           committed(s) >= s->cfg.beats_global_budget;
}

/* Admission of the frame at the head of RBUF (NEED: its whole length when the header says it, else
 * 0; NEW_FRAME: frames were cut since the last call, so the head is another frame than the one
 * admitted before). A frame is admitted into the global budget once its header is read and its
 * length fits (or nothing else is committed, so any frame can pass alone); it then reads on to its
 * end. Returns false when the frame must wait for room: the connection then holds a header's worth
 * of bytes. */
static bool admit(struct beats_conn *c, size_t need, bool new_frame)
{
    struct server *s = c->base.srv;
    size_t want = c->rbuf.len == 0 ? 0 : (need > c->rbuf.len ? need : c->rbuf.len);
    s->held_bytes -= c->held;
    c->held = 0;
    if (new_frame || !want)
        c->admitted = false;
    if (!c->admitted) {
        s->reserved_bytes -= c->reserved; /* a finished frame's reservation */
        c->reserved = 0;
        bool known = need || c->rbuf.len >= HEADER_READ;
        if (want && known && (!committed(s) || committed(s) + want <= s->cfg.beats_global_budget)) {
            c->admitted = true;
            if (need)
                s->frame_estimate = need;
        } else {
            /* Bytes read ahead of admission: counted apart, so that reads near the budget
             * shrink to headers, but never blocking an admission (that could deadlock). */
            c->held = c->rbuf.len;
            s->held_bytes += c->held;
            return !want || !known;
        }
    }
    s->reserved_bytes = s->reserved_bytes - c->reserved + want;
    c->reserved = want;
    return true;
}

static bool submit(struct beats_conn *c, struct batch *b)
{
    /* Completions come back through the loop, so REFS cannot drop under us here. */
    if (c->blocked_head || !workers_submit(c->base.srv->workers, &b->work)) {
        b->link = NULL;
        if (c->blocked_tail)
            c->blocked_tail->link = b;
        else
            c->blocked_head = b;
        c->blocked_tail = b;
        pause_reading(c);
        return false;
    }
    conn_ref(&c->base);
    c->base.srv->inflight_batches++;
    return true;
}

static void retry_blocked(struct beats_conn *c)
{
    while (c->blocked_head) {
        struct batch *b = c->blocked_head;
        struct batch *next = b->link; /* a worker may finish B and reuse its link at once */
        conn_ref(&c->base);
        if (!workers_submit(c->base.srv->workers, &b->work)) {
            conn_unref(&c->base);
            return;
        }
        c->base.srv->inflight_batches++;
        c->blocked_head = next;
        if (!c->blocked_head)
            c->blocked_tail = NULL;
    }
}

static json_t *source_of(struct beats_conn *c, uint8_t version)
{
    json_t *src = json_pack("{s:s, s:s, s:s, s:i, s:I}", "type", "beats", "peer", c->base.peer,
                            "transport", c->base.sec.io ? "tls" : "tcp", "protocol_version",
                            version == LJ_V1 ? 1 : 2, "connection", (json_int_t)c->id);
    /* A copy per batch: workers read it on their threads while the loop keeps the original. */
    if (src && c->base.sec.peer)
        json_object_set_new(src, "tls", json_deep_copy(c->base.sec.peer));
    return src;
}

static void window_done(struct batch *b, void *ctx);
static void relay_flush(struct beats_conn *c);

/* Hands a unit of the session to the workers as a batch. */
static void dispatch(struct beats_conn *c, const struct beats_step *u)
{
    uint8_t *copy = malloc(u->len ? u->len : 1);
    if (!copy) {
        close_conn(c, "out of memory", true);
        return;
    }
    memcpy(copy, u->data, u->len);
    struct server *s = c->base.srv;
    enum batch_kind kind =
        u->kind == BEATS_UNIT_COMPRESSED ? BATCH_BEATS_COMPRESSED : BATCH_BEATS_FRAMES;
    struct batch *b = batch_new(kind, copy, u->len, source_of(c, u->version), &s->limits, &s->sink);
    if (!b) {
        close_conn(c, "out of memory", true);
        return;
    }
    b->complete = window_done;
    b->complete_ctx = c;
    b->handoff = &s->handoff;
    b->tag = (uint64_t)(uintptr_t)u->window;
    c->inflight_bytes += u->len;
    s->inflight_bytes += u->len;
    /* A compressed frame nested in this one inflates beside it: it may use what is left of the
     * connection's and the global budgets, no more. */
    uint64_t conn_room = s->cfg.beats_connection_budget > c->inflight_bytes
                             ? s->cfg.beats_connection_budget - c->inflight_bytes
                             : 0;
    uint64_t global_room =
        s->cfg.beats_global_budget > committed(s) ? s->cfg.beats_global_budget - committed(s) : 0;
    uint64_t room = conn_room < global_room ? conn_room : global_room;
    b->inflate_room = room < SIZE_MAX ? (size_t)room : SIZE_MAX;
    submit(c, b);
}

/* A window came back from the workers (loop thread): acknowledge it in order, or close. */
static void window_done(struct batch *b, void *ctx)
{
    struct beats_conn *c = ctx;
    struct server *s = c->base.srv;
    c->inflight_bytes -= b->len;
    s->inflight_bytes -= b->len;
    s->counters.events += b->frames;
    if (!c->base.closing) {
        struct beats_window *w = (struct beats_window *)(uintptr_t)b->tag;
        if (beats_session_complete(c->sess, w, b->frames, b->last_seq, b->status, b->error) < 0) {
            /* A window that cannot be matched is never acknowledged: close now, naming why. */
            close_conn(c, beats_session_error(c->sess), true);
        } else {
            retry_blocked(c);
            if (s->relay)
                relay_flush(c); /* a compressed frame's count may have made its window whole */
            write_acks(c, false);
        }
    }
    batch_free(b);
    conn_unref(&c->base);
}

/* ---- The relay ---- */

static int relay_gather(struct relay_pend *rp, const uint8_t *p, size_t n)
{
    struct beats_conn *c = rp->c;
    int rc = buf_append(&rp->bytes, p, n);
    if (rc < 0)
        return rc;
    rp->counted += n;
    c->inflight_bytes += n;
    c->base.srv->inflight_bytes += n;
    return 0;
}

/* A window opened: the relay holds its ACK from now on; a v2 window's W frame (the N bytes at P)
 * is the first of its bytes. */
static void relay_open(struct beats_conn *c, const struct beats_step *st, const uint8_t *p,
                       size_t n)
{
    struct relay_pend *rp = calloc(1, sizeof(*rp));
    if (!rp) {
        close_conn(c, "out of memory", true);
        return;
    }
    rp->c = c;
    rp->w = st->window;
    rp->version = st->version;
    buf_init(&rp->bytes, RELAY_BUF_MAX);
    beats_session_hold(c->sess, rp->w);
    if (c->rp_tail)
        c->rp_tail->next = rp;
    else
        c->rp_head = rp;
    c->rp_tail = rp;
    if (rp->version == LJ_V2 && relay_gather(rp, p, n) < 0)
        close_conn(c, "out of memory", true);
}

/* A unit cut for the window being gathered: its frames (the N bytes at P) as they arrived. A v1
 * compressed frame is inflated here, so that its D frames can go on as v2 JSON events. */
static void relay_unit(struct beats_conn *c, const struct beats_step *st, const uint8_t *p,
                       size_t n)
{
    struct relay_pend *rp = c->rp_tail;
    if (!rp || rp->w != st->window) {
        close_conn(c, "a frame outside the window being passed on", true);
        return;
    }
    int rc;
    if (rp->version == LJ_V1 && st->kind == BEATS_UNIT_COMPRESSED) {
        struct server *s = c->base.srv;
        struct inflater *z =
            inflater_new(s->cfg.beats_max_inflated, (unsigned)s->cfg.beats_max_ratio);
        const uint8_t *out;
        size_t outlen;
        rc = z ? inflater_run(z, st->data, st->len, &out, &outlen) : -ENOMEM;
        if (rc == 0)
            rc = relay_gather(rp, out, outlen);
        inflater_free(z);
    } else {
        rc = relay_gather(rp, p, n);
    }
    if (rc < 0)
        close_conn(c,
                   rc == -ENOMEM ? "out of memory" : "a v1 compressed frame that does not inflate",
                   true);
}

static void relay_done(void *ctx, int status)
{
    struct relay_pend *rp = ctx;
    struct beats_conn *c = rp->c;
    struct server *s = c->base.srv;
    c->inflight_bytes -= rp->counted;
    s->inflight_bytes -= rp->counted;
    s->need_resume = true;
    if (!c->base.closing) {
        if (beats_session_complete(c->sess, rp->w, 0, 0, status,
                                   "stopping before the next hop acknowledged the window") < 0)
            close_conn(c, beats_session_error(c->sess), true);
        else
            write_acks(c, false);
    }
    buf_free(&rp->bytes);
    free(rp);
    conn_unref(&c->base);
}

static bool count_queued(void *arg, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
                         void *ctx);
static bool spill_queued(void *arg, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
                         void *ctx);

/* What the relay holds of the connections' windows (not the outbox's or the alerts'). */
struct queued {
    size_t windows;
    uint64_t bytes;
    struct server *s;
    bool refused;
};

/* While no next hop is up, the windows the relay queued before it went go to the outbox, all of
 * them (so that their order holds) and before any newer window. Once the outbox holds windows
 * they came later: the relay's go first when a hop is back, and stay there. */
static void reclaim_queued(struct server *s)
{
    if (outbox_holding(s->outbox))
        return;
    struct queued q = {.s = s};
    relay_reclaim(s->relay, count_queued, &q);
    if (!q.windows || !outbox_fits(s->outbox, q.windows, q.bytes))
        return;
    relay_reclaim(s->relay, spill_queued, &q);
}

enum spilled { TO_RELAY, SPILLED, HOLD };

/* relay.when-down: spill. While no next hop is up, or while the outbox still holds windows (so
 * that none overtakes them), a window goes to the outbox (copied) and is acknowledged once durable:
 * SPILLED. TO_RELAY: block mode, or a hop is up with the outbox empty. HOLD: the outbox refuses it
 * (at its cap, the disk behind) and the relay may not take it either, since it would overtake what
 * the outbox holds: it waits in its connection, unacknowledged, as it would with block. */
static enum spilled spill(struct server *s, struct relay_pend *rp)
{
    if (!s->outbox)
        return TO_RELAY;
    bool up = relay_up(s->relay);
    if (!up)
        reclaim_queued(s); /* windows queued before the hop went go first */
    if (up && !outbox_holding(s->outbox))
        return TO_RELAY;
    return outbox_append(s->outbox, (const uint8_t *)rp->bytes.data, rp->bytes.len, rp->events,
                         relay_done, rp) == 0
               ? SPILLED
               : HOLD;
}

static void set_spill_held(struct beats_conn *c, bool held)
{
    struct server *s = c->base.srv;
    if (held == c->spill_held)
        return;
    c->spill_held = held;
    if (held)
        s->spill_holds++;
    else
        s->spill_holds--;
    s->spill_held_ms = server_now(s);
}

/* Seals the whole window RP (no frame joins it any more) and puts a v1 window into v2. Returns 0
 * or a negative errno (the connection is closed then). */
static int relay_seal(struct beats_conn *c, struct relay_pend *rp)
{
    struct server *s = c->base.srv;
    beats_session_seal(c->sess, rp->w);
    rp->events = beats_window_size(rp->w);
    rp->sealed = true;
    if (rp->version != LJ_V1)
        return 0;
    struct buf v2;
    buf_init(&v2, RELAY_BUF_MAX);
    int rc = relay_v1_to_v2((const uint8_t *)rp->bytes.data, rp->bytes.len, &s->limits, &v2,
                            &rp->events);
    if (rc < 0) {
        buf_free(&v2);
        close_conn(c, rc == -ENOMEM ? "out of memory" : "a v1 window that cannot go on as v2",
                   true);
        return rc;
    }
    buf_free(&rp->bytes);
    rp->bytes = v2;
    c->inflight_bytes += v2.len;
    s->inflight_bytes += v2.len;
    c->inflight_bytes -= rp->counted;
    s->inflight_bytes -= rp->counted;
    rp->counted = v2.len;
    return 0;
}

/* Hands the whole windows at the head of the gathering queue to the relay (or the outbox), in
 * order. A window neither takes yet (a full outbox) stays at the head, and the ones behind it
 * with it, until the outbox has room or a hop takes windows again. */
static void relay_flush(struct beats_conn *c)
{
    struct server *s = c->base.srv;
    while (!c->base.closing && c->rp_head && beats_window_whole(c->rp_head->w)) {
        struct relay_pend *rp = c->rp_head;
        int rc = rp->sealed ? 0 : relay_seal(c, rp);
        enum spilled to = TO_RELAY;
        if (rc == 0 && rp->events && rp->bytes.len) {
            to = spill(s, rp);
            if (to == HOLD) {
                set_spill_held(c, true);
                return;
            }
        }
        c->rp_head = rp->next;
        if (!c->rp_head)
            c->rp_tail = NULL;
        rp->next = NULL;
        conn_ref(&c->base);
        if (rc < 0) {
            relay_done(rp, rc);
            break;
        }
        if (rp->events == 0 || rp->bytes.len == 0) {
            relay_done(rp, 0); /* nothing to pass on (W 0) */
            continue;
        }
        if (to == SPILLED)
            continue; /* acknowledged once durable; its bytes go with RP */
        if (relay_send(s->relay, (uint8_t *)rp->bytes.data, rp->bytes.len, rp->events, relay_done,
                       rp) < 0) {
            close_conn(c, "out of memory", true);
            relay_done(rp, -ENOMEM);
            break;
        }
        buf_init(&rp->bytes, 0); /* the relay owns the bytes now */
    }
    set_spill_held(c, false);
}

/* relay.beats.alerts: an alert of the journal as an event for the next hop. */
static int alert_window(void *arg, const struct journal_record *rec, struct buf *out,
                        uint32_t *events)
{
    (void)arg;
    return relay_alert_window(rec->payload, rec->len, out, events);
}

int beats_relay_check(struct server *s)
{
    const struct config *cfg = &s->cfg;
    if (!cfg->relay_beats_hosts[0])
        return 0;
    if (cfg->relay_beats_backoff_init_ms > cfg->relay_beats_backoff_max_ms) {
        serve_error("relay.beats.backoff.init is longer than "
                    "relay.beats.backoff.max");
        return -1;
    }
    if (!cfg->relay_beats_ssl.enabled)
        return 0;
    char why[2400];
    s->relay_tls = tls_client_context(&cfg->relay_beats_ssl, "relay.beats.ssl.",
                                      &s->relay_verify_host, why, sizeof(why));
    if (!s->relay_tls) {
        serve_error("%s", why);
        return -1;
    }
    return 0;
}

int beats_relay_start(struct server *s)
{
    const struct config *cfg = &s->cfg;
    if (!cfg->relay_beats_hosts[0])
        return 0;
    struct relay_options o = {
        .loadbalance = cfg->relay_beats_loadbalance,
        .worker = (unsigned)cfg->relay_beats_worker,
        .pipelining = (unsigned)cfg->relay_beats_pipelining,
        .timeout_ms = cfg->relay_beats_timeout_ms,
        .backoff_init_ms = cfg->relay_beats_backoff_init_ms,
        .backoff_max_ms = cfg->relay_beats_backoff_max_ms,
        .tls = s->relay_tls,
        .tls_verify_host = s->relay_verify_host,
    };
    if (relay_set_hosts(&o, cfg->relay_beats_hosts, "5044") < 0) {
        serve_error("relay.beats.hosts: at most %d hosts of %zu characters", RELAY_MAX_HOSTS,
                    sizeof(o.hosts[0]) - 7);
        return -EINVAL;
    }
    int rc = relay_new(&s->relay, s->loop, &o);
    if (rc == 0 && cfg->relay_beats_alerts) {
        struct feed_ops ops = {.window = alert_window};
        rc = feed_open(&s->alert_feed, s->loop, cfg->data_dir, ALERT_CURSOR, s->relay, &ops,
                       "alerts");
        if (rc < 0) {
            serve_error("cannot send the alerts on: %s", strerror(-rc));
            beats_relay_stop(s);
            return -EIO;
        }
    }
    if (rc == 0 && strcmp(cfg->relay_when_down, "spill") == 0) {
        char dir[1200];
        snprintf(dir, sizeof(dir), "%s/outbox", cfg->data_dir);
        rc = outbox_open(&s->outbox, s->loop, dir, cfg->relay_spill_max_bytes,
                         (unsigned)cfg->journal_sync_interval_ms, s->relay);
        if (rc < 0) {
            serve_error("cannot open the outbox %s: %s", dir, strerror(-rc));
            beats_relay_stop(s);
            return -EIO;
        }
    }
    if (rc == -EINVAL) {
        serve_error("relay.beats.hosts: '%s' is not HOST, HOST:PORT or "
                    "[IPv6]:PORT",
                    cfg->relay_beats_hosts);
        return rc;
    }
    if (rc < 0) {
        serve_error("cannot start the relay: %s", strerror(-rc));
        return rc;
    }
    char list[1024] = "";
    for (size_t i = 0; i < o.nhosts; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                 o.hosts[i]);
    log_info("relay", "passing every Beats window on to %s (%s)", list,
             o.nhosts == 1   ? "one host"
             : o.loadbalance ? "load balanced"
                             : "failover");
    return 0;
}

void beats_relay_log_counters(struct server *s)
{
    if (!s->relay)
        return;
    for (size_t i = 0;; i++) {
        const char *host = relay_host_name(s->relay, i);
        if (!host)
            break;
        const struct relay_hop_stats *h = relay_hop(s->relay, i);
        log_info("relay",
                 "%s: %s, %" PRIu64 " windows, %" PRIu64 " events, %" PRIu64
                 " bytes acknowledged (ACK %.1f ms on average, %" PRIu64 " ms at most), %" PRIu64
                 " errors, %" PRIu64 " reconnects",
                 host, h->up ? "up" : "down", h->windows, h->events, h->bytes,
                 h->windows ? (double)h->ack_ms_total / (double)h->windows : 0.0, h->ack_ms_max,
                 h->errors, h->reconnects);
    }
    log_info("relay", "%zu windows waiting for a next hop", relay_pending(s->relay));
    if (s->alert_feed)
        log_info("relay", "alerts: sent on and acknowledged up to sequence %" PRIu64,
                 feed_position(s->alert_feed) - 1);
    if (s->outbox) {
        struct outbox_stats o;
        outbox_get_stats(s->outbox, &o);
        int64_t age = o.oldest_ms ? clock_now_ms() - o.oldest_ms : 0;
        log_info("relay",
                 "outbox: %" PRIu64 " windows (%" PRIu64 " bytes) held, the oldest %" PRId64
                 " s old; %" PRIu64 " spilled, %" PRIu64 " sent on",
                 o.windows, o.bytes, age > 0 ? age / 1000 : 0, o.spilled, o.forwarded);
    }
}

static bool count_queued(void *arg, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
                         void *ctx)
{
    struct queued *q = arg;
    (void)bytes;
    (void)events;
    (void)ctx;
    if (done == relay_done) { /* the outbox's own windows and the alerts wait in the relay */
        q->windows++;
        q->bytes += len;
    }
    return false;
}

/* A window the relay holds for a next hop that is down goes to the outbox instead; after one
 * the outbox refuses, none (they keep their order). */
static bool spill_queued(void *arg, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
                         void *ctx)
{
    struct queued *q = arg;
    if (done != relay_done || q->refused)
        return false;
    if (outbox_append(q->s->outbox, bytes, len, events, done, ctx) < 0) {
        q->refused = true;
        return false;
    }
    free(bytes);
    return true;
}

/* Windows a full outbox held back try again. */
static void retry_spill_held(struct server *s)
{
    if (!s->spill_holds)
        return;
    s->spill_held_ms = server_now(s);
    struct conn *k = s->beats_conns.head;
    while (k && s->spill_holds) {
        struct conn *next = k->next; /* closing unlinks K */
        struct beats_conn *c = beats_conn_of(k);
        if (c->spill_held)
            relay_flush(c);
        k = next;
    }
}

void beats_relay_tick(struct server *s)
{
    if (!s->outbox)
        return;
    bool up = relay_up(s->relay);
    if (!up)
        reclaim_queued(s);
    retry_spill_held(s);
    if (up != s->relay_was_up) {
        /* What the outbox holds when the last next hop goes and when one comes back. */
        struct outbox_stats o;
        outbox_get_stats(s->outbox, &o);
        const struct log_field f[] = {
            LOG_STR("relay.hop_state", up ? "up" : "down"),
            LOG_U64("relay.outbox.windows", o.windows),
            LOG_U64("relay.outbox.bytes", o.bytes),
        };
        if (up)
            log_fields(LOG_INFO, "relay", f, LOG_NFIELDS(f),
                       "a next hop is up: sending the outbox on (%" PRIu64 " windows, %" PRIu64
                       " bytes)",
                       o.windows, o.bytes);
        else
            log_fields(LOG_WARN, "relay", f, LOG_NFIELDS(f),
                       "no next hop is up: windows go to the outbox (it holds %" PRIu64
                       " windows, %" PRIu64 " bytes)",
                       o.windows, o.bytes);
        s->relay_was_up = up;
    }
}

void beats_relay_stop(struct server *s)
{
    if (s->relay)
        relay_close(s->relay, NULL, NULL); /* before the outbox: its windows in the relay go */
    s->relay = NULL;
    outbox_close(s->outbox);
    s->outbox = NULL;
    feed_close(s->alert_feed);
    s->alert_feed = NULL;
}

/* ---- Reading ---- */

static void conn_parse(struct beats_conn *c)
{
    struct server *s = c->base.srv;
    size_t off = 0, need = 0;
    const uint8_t *p = (const uint8_t *)c->rbuf.data;
    while (!c->base.closing && off < c->rbuf.len) {
        struct beats_step st;
        long n = beats_session_input(c->sess, p + off, c->rbuf.len - off, server_now(s), &st);
        if (n < 0) {
            close_conn(c, beats_session_error(c->sess), true);
            return;
        }
        off += (size_t)n;
        if (st.event == BEATS_NEED_MORE) {
            need = st.need;
            if (!c->frame_started_ms)
                c->frame_started_ms = server_now(s);
            break;
        }
        c->frame_started_ms = 0;
        if (st.event == BEATS_WINDOW_OPENED) {
            s->counters.windows++;
            if (s->relay)
                relay_open(c, &st, p + off - (size_t)n, (size_t)n);
        } else {
            if (s->relay)
                relay_unit(c, &st, p + off - (size_t)n, (size_t)n);
            if (c->base.closing)
                break;
            dispatch(c, &st); /* processing starts before the window is whole */
        }
    }
    if (s->relay && !c->base.closing)
        relay_flush(c);
    if (c->base.closing)
        return;
    buf_consume(&c->rbuf, off);
    if (c->rbuf.len == 0) {
        /* Between frames a connection holds no read buffer: ten thousand quiet Beats cost
         * their handles, not 64 KiB each. */
        buf_free(&c->rbuf);
        if (off)
            c->frame_started_ms = 0;
    }
    bool room = admit(c, need, off > 0);
    write_acks(c, false);
    if (c->base.closing)
        return;
    if (!room || (!c->admitted && over_budget(c))) {
        /* Back in the queue: at its head if its turn just came (it keeps its place). */
        if (!c->base.paused)
            s->counters.budget_waits++;
        pause_reading(c);
        room_enqueue(c, c->resumed_from_queue);
    } else if (c->inflight_bytes >= s->cfg.beats_connection_budget) {
        if (!c->base.paused)
            s->counters.budget_waits++;
        pause_reading(c);
    }
    c->resumed_from_queue = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct beats_conn *c = h->data;
    (void)suggested;
    if (c->base.sec.io) {
        /* Ciphertext is decrypted into RBUF at once: one scratch buffer serves every read. */
        *out = uv_buf_init(sec_read_scratch(), SEC_READ_SCRATCH);
        return;
    }
    /* Near the budget, reads stop at frame boundaries: a frame not yet admitted reads its header
     * only, an admitted one reads up to its end and not into the next frame. Ten thousand
     * connections waiting for room then hold a few bytes each, not 64 KiB. */
    size_t chunk = READ_CHUNK;
    const struct server *s = c->base.srv;
    if (committed(s) + s->held_bytes >= s->cfg.beats_global_budget / 2) {
        if (!c->admitted)
            chunk = c->rbuf.len < HEADER_READ ? HEADER_READ - c->rbuf.len : 1;
        else if (c->reserved > c->rbuf.len && c->reserved - c->rbuf.len < READ_CHUNK)
            chunk = c->reserved - c->rbuf.len;
    }
    if (buf_reserve(&c->rbuf, chunk) < 0) {
        /* Cannot happen for valid frames (limits are checked on the header); give a small
         * buffer so the read reports and the parser closes the connection. */
        *out = uv_buf_init(NULL, 0);
        return;
    }
    *out = uv_buf_init(c->rbuf.data + c->rbuf.len, chunk);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct beats_conn *c = st->data;
    struct server *s = c->base.srv;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS) {
            close_conn(c, "a frame larger than the read buffer limit", true);
            return;
        }
        if (nread == UV_EOF) {
            if (c->rbuf.len)
                close_conn(c, "connection closed inside a frame (truncated frame)", true);
            else
                close_conn(c, "closed by the client", false);
        } else {
            close_conn(c, uv_strerror((int)nread), false);
        }
        return;
    }
    s->counters.bytes += (uint64_t)nread;
    if (c->base.sec.io) {
        char why[600];
        int rc = sec_conn_input(&s->beats_sec, &c->base.sec, c->base.peer, (const uint8_t *)b->base,
                                (size_t)nread, &c->rbuf, server_now(s), why, sizeof(why));
        conn_flush_tls(&c->base); /* handshake messages, alerts */
        if (rc < 0) {
            close_conn(c, why, true);
            return;
        }
        c->last_read_ms = server_now(s);
        if (c->rbuf.len)
            conn_parse(c);
        if (rc == 1 && !c->base.closing)
            close_conn(c,
                       c->rbuf.len ? "TLS session closed inside a frame (truncated frame)"
                                   : "closed by the client",
                       c->rbuf.len != 0);
        return;
    }
    c->rbuf.len += (size_t)nread;
    c->last_read_ms = server_now(s);
    conn_parse(c);
}

static void start_reading(struct beats_conn *c)
{
    if (c->base.srv->stopping)
        return;
    bool was_paused = c->base.paused;
    if (conn_start_reading(&c->base, on_alloc, on_read) && was_paused)
        c->last_read_ms = server_now(c->base.srv); /* idle time counts from the end of our pause */
}

void beats_resume_paused(struct server *s)
{
    if (s->outbox)
        retry_spill_held(s);
    for (struct conn *k = s->beats_conns.head; k; k = k->next) {
        struct beats_conn *c = beats_conn_of(k);
        if (c->blocked_head)
            retry_blocked(c);
        if (!k->paused || c->waiting)
            continue;
        /* An admitted frame reads on to its end whatever else holds the budget. */
        if (c->blocked_head || c->inflight_bytes >= s->cfg.beats_connection_budget) {
            s->need_resume = true;
            continue;
        }
        if (!c->admitted && over_budget(c)) {
            room_enqueue(c, false);
            continue;
        }
        if (c->rbuf.len)
            c->frame_started_ms = server_now(s); /* the pause was ours, not the sender's */
        start_reading(c);
    }
    /* As many waiting connections as the room left can take, oldest first. */
    uint64_t budget = s->cfg.beats_global_budget, used = committed(s);
    uint64_t estimate = s->frame_estimate ? s->frame_estimate : READ_CHUNK;
    bool first = true;
    while (s->room_head && (first || used + estimate <= budget) && used < budget) {
        struct beats_conn *c = s->room_head;
        room_dequeue(c);
        if (c->blocked_head)
            continue; /* the queue comes first: the loop above takes it up */
        first = false;
        used += estimate;
        c->resumed_from_queue = true;
        if (c->rbuf.len)
            c->frame_started_ms = server_now(s);
        start_reading(c);
    }
    if (s->room_head)
        s->need_resume = true;
}

/* ---- Accepting ---- */

static void on_connection(uv_stream_t *server, int status)
{
    struct server *s = server->data;
    if (status < 0) {
        log_warn("beats", "accept failed: %s", uv_strerror(status));
        return;
    }
    int err = fault_error("beats-conn-alloc");
    struct beats_conn *c = err ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        s->counters.refused++;
        log_warn("beats", "refusing a connection: out of memory for it");
        net_refuse(server);
        return;
    }
    if (conn_accept(&c->base, server, s, &s->beats_conns, "beats", &beats_ops) < 0)
        return;
    uv_tcp_nodelay(&c->base.tcp, 1);
    c->id = ++s->next_conn_id;
    size_t max_frame = s->limits.max_compressed > s->limits.max_json ? s->limits.max_compressed
                                                                     : s->limits.max_json;
    buf_init(&c->rbuf, max_frame + 64 + READ_CHUNK);
    c->last_read_ms = server_now(s);
    s->counters.connections++;
    if (s->beats_conns.count > s->cfg.beats_max_connections || s->stopping) {
        s->counters.refused++;
        close_conn(c, "too many connections (beats.max-connections)", true);
        return;
    }
    if (!sec_admit_tcp(&s->beats_sec, &c->base.tcp, c->base.peer, "beats", server_now(s))) {
        s->counters.refused++;
        close_conn(c, "refused by beats.allow-networks", false); /* logged once a minute */
        return;
    }
    struct beats_session_config sc = {
        .limits = s->limits,
        .keepalive_ms = s->cfg.beats_keepalive_ms,
        .keepalive_max_ms = s->cfg.beats_keepalive_max_ms,
        .ack_seconds = &s->ack_seconds,
    };
    c->sess = beats_session_new(&sc, server_now(s));
    if (!c->sess) {
        close_conn(c, "out of memory", true);
        return;
    }
    if (s->beats_sec.tls && sec_conn_start(&s->beats_sec, &c->base.sec, server_now(s)) < 0) {
        close_conn(c, "out of memory starting TLS", true);
        return;
    }
    start_reading(c);
}

int beats_listen(struct server *s, char *bound, size_t boundlen)
{
    struct sockaddr_storage addr;
    if (net_parse_addr(s->cfg.beats, &addr) < 0) {
        serve_error("--beats: '%s' is not an IP address and port", s->cfg.beats);
        return -EINVAL;
    }
    uv_tcp_init(s->loop, &s->beats_listener);
    s->beats_listener.data = s;
    int rc = uv_tcp_bind(&s->beats_listener, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->beats_listener, 1024, on_connection);
    if (rc < 0) {
        serve_error("cannot listen on %s: %s", s->cfg.beats, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->beats_listener, NULL);
        return -EIO;
    }
    s->beats_listening = true;
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(&s->beats_listener, (struct sockaddr *)&got, &len);
    net_format_addr(&got, bound, boundlen);
    return 0;
}

/* ---- Timers: keep-alive, stalled windows, slow senders, idle connections ---- */

void beats_tick(struct server *s)
{
    uint64_t now = server_now(s);
    struct conn *k = s->beats_conns.head;
    while (k) {
        struct conn *next = k->next; /* closing unlinks K */
        struct beats_conn *c = beats_conn_of(k);
        const struct config *cfg = &s->cfg;
        if (sec_conn_handshake_expired(&s->beats_sec, &k->sec, now)) {
            s->beats_sec.handshake_failures++;
            s->beats_sec.handshake_timeouts++;
            close_conn(c, "the TLS handshake did not complete within beats.ssl-handshake-timeout",
                       true);
        } else if (c->rbuf.len && c->frame_started_ms && !k->paused &&
                   now - c->frame_started_ms >= cfg->beats_frame_timeout_ms) {
            close_conn(c, "slow sender: one frame took longer than beats.frame-timeout", true);
        } else if (c->sess && beats_session_windows(c->sess)) {
            /* Stalled windows close the connection; v2 ones waiting get keep-alives. A window
             * waiting for a full disk is not stalled: the Beat waits, not resends. */
            write_acks(c, true);
        } else if (!c->rbuf.len && !k->paused &&
                   now - c->last_read_ms >= cfg->beats_idle_timeout_ms) {
            /* (A connection waiting for room is not idle: the pause is ours.) */
            close_conn(c, "idle for beats.idle-timeout with nothing pending", false);
        }
        k = next;
    }
}

void beats_stop_reading_all(struct server *s)
{
    /* Nothing cut is held back: every unit went to the workers as it was cut, and is matched
     * and acknowledged. */
    for (struct conn *k = s->beats_conns.head; k; k = k->next)
        conn_stop_reading(k);
}

bool beats_idle(struct server *s)
{
    for (struct conn *k = s->beats_conns.head; k; k = k->next) {
        struct beats_conn *c = beats_conn_of(k);
        if (c->sess && beats_session_in_flight(c->sess))
            return false;
        if (conn_write_queue(k) > 0)
            return false;
    }
    return true;
}

void beats_close_all(struct server *s)
{
    if (s->beats_listening) {
        uv_close((uv_handle_t *)&s->beats_listener, NULL);
        s->beats_listening = false;
    }
    while (s->beats_conns.head)
        conn_close(s->beats_conns.head, "stopping", false);
    buf_free(&ack_out);
}
