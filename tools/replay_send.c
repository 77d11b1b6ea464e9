/* amsiwatch replay: the sender loop. One libuv loop drives every connection; windows are encoded
 * on the thread pool (or once, up front, with --precompress) and written with one uv_write each;
 * ACKs are checked window by window; dropped connections are made again and their windows resent.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/log.h"
#include "protocol/lumberjack.h"
#include "tools/replay_int.h"

#define MAX_CONNECTING 256u /* connects in progress at once, so a large ramp does not flood */
#define MAX_FAILURES   10u  /* failed reconnects in a row before the run gives up */
#define PUMP_BUDGET    256u /* windows assigned per turn of the loop before yielding */
#define TICK_MS        100u

static char read_buf[RP_READ_BUF];

static void pump(struct rp_run *r);
static void maybe_finish(struct rp_run *r);
static void conn_connect(struct rp_conn *c);
static void flush_writes(struct rp_conn *c);
static void on_udp_timer(uv_timer_t *t);

/* ---- Errors and the end of the run ----------------------------------------------------------- */

static void close_handle(uv_handle_t *h, uv_close_cb cb)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, cb);
}

static void on_conn_closed(uv_handle_t *h);

/* The end of a lingering connection: closed at last. */
static void linger_end(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    if (!c->lingering)
        return;
    c->lingering = false;
    uv_close(&c->h.handle, on_conn_closed);
    if (--r->lingering == 0)
        close_handle((uv_handle_t *)&r->linger_timer, NULL);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    if (status < 0)
        linger_end(req->data);
}

static void on_linger_timer(uv_timer_t *t)
{
    struct rp_run *r = t->data;
    for (uint32_t i = 0; i < r->o.connections && r->lingering; i++)
        linger_end(&r->conns[i]);
}

/* --tls, at the end of a run: close_notify, then the FIN, then read until the receiver closes.
 * Closing at once would reset the connection whenever records the client has not read are
 * waiting (TLS 1.3 session tickets), and a reset makes the receiver drop what it has not read
 * yet: the last syslog messages. Returns 0, or a libuv error (close at once). */
static int tls_linger(struct rp_conn *c)
{
    int rc = rp_tls_close_notify(c);
    if (rc == 0) {
        c->sreq.data = c;
        rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->h.tcp, on_shutdown);
    }
    if (rc == 0) {
        c->lingering = true;
        c->run->lingering++;
    }
    return rc;
}

static void close_all(struct rp_run *r)
{
    if (r->closed)
        return;
    r->closed = true;
    r->end_ns = uv_hrtime();
    for (uint32_t i = 0; i < r->o.connections; i++) {
        struct rp_conn *c = &r->conns[i];
        if (c->state == RP_CONN_CONNECTING || c->state == RP_CONN_HANDSHAKE ||
            c->state == RP_CONN_OPEN) {
            bool linger = c->tls && c->state == RP_CONN_OPEN && !r->aborting && tls_linger(c) == 0;
            c->state = RP_CONN_CLOSING;
            c->reconnect = false;
            if (!linger)
                uv_close(&c->h.handle, on_conn_closed);
        } else if (c->state != RP_CONN_CLOSING) {
            c->state = RP_CONN_DONE;
        }
    }
    close_handle((uv_handle_t *)&r->tick, NULL);
    close_handle((uv_handle_t *)&r->rate_timer, NULL);
    close_handle((uv_handle_t *)&r->duration_timer, NULL);
    close_handle((uv_handle_t *)&r->udp_timer, NULL);
    close_handle((uv_handle_t *)&r->pump_idle, NULL);
    close_handle((uv_handle_t *)&r->sigint, NULL);
    close_handle((uv_handle_t *)&r->sigterm, NULL);
    if (r->lingering)
        uv_timer_start(&r->linger_timer, on_linger_timer, r->o.ack_timeout_ms, 0);
    else
        close_handle((uv_handle_t *)&r->linger_timer, NULL);
}

/* A failure that ends the run: counted, logged, every connection closed. */
void rp_run_fail(struct rp_run *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->st.errors++;
    if (!r->error[0])
        snprintf(r->error, sizeof(r->error), "%s", msg);
    if (r->progress_shown) {
        fputc('\n', stderr);
        r->progress_shown = false;
    }
    log_error("replay", "%s", msg);
    r->aborting = r->stopping = true;
    close_all(r);
}

/* ---- Windows --------------------------------------------------------------------------------- */

static void win_free(struct rp_win *w)
{
    buf_free(&w->own);
    free(w);
}

static size_t slice_len(const struct rp_run *r, size_t k)
{
    size_t start = k * r->o.window;
    size_t left = r->in.n - start;
    return left < r->o.window ? left : r->o.window;
}

/* Where a window's bytes come from when nothing needs encoding: the prepared window when the
 * window is exactly one, the input's bytes for syslog. False: it must be encoded. */
static bool set_ready_bytes(struct rp_run *r, struct rp_win *w)
{
    if (!rp_beats(r)) {
        const struct rp_event *a = &r->in.ev[w->start], *b = &r->in.ev[w->start + w->n - 1];
        w->bytes = r->in.data.data + a->off;
        w->len = (size_t)(b->off + b->len - a->off);
        w->ready = true;
        return true;
    }
    if (r->prep && w->start % r->o.window == 0 &&
        w->n == slice_len(r, (size_t)(w->start / r->o.window))) {
        struct buf *p = &r->prep[w->start / r->o.window];
        w->bytes = p->data;
        w->len = p->len;
        w->ready = true;
        return true;
    }
    return false;
}

/* Jobs cross to libuv's thread pool and back through its locks, which ThreadSanitizer does not
 * see (tests/tsan.supp ignores what happens inside libuv): each crossing also passes this gate, a
 * release on one side and an acquire on the other, before the job is touched. */
static atomic_uint gate;

static void gate_release(void)
{
    atomic_fetch_add_explicit(&gate, 1, memory_order_release);
}

static void gate_acquire(void)
{
    (void)atomic_load_explicit(&gate, memory_order_acquire);
}

static void encode_work(uv_work_t *req)
{
    gate_acquire();
    struct rp_win *w = req->data;
    struct rp_run *r = w->conn->run;
    buf_reset(&w->own);
    w->work_rc = rp_encode_window(&r->in, (size_t)w->start, w->n, r->o.level, w->seq_base, &w->own);
    gate_release();
}

static void queue_encode(struct rp_win *w);

static void encode_done(uv_work_t *req, int status)
{
    gate_acquire();
    struct rp_win *w = req->data;
    struct rp_conn *c = w->conn;
    struct rp_run *r = c->run;
    w->working = false;
    r->jobs--;
    if (r->aborting || status == UV_ECANCELED) {
        maybe_finish(r);
        return;
    }
    if (w->stale) { /* the connection was re-made while this ran: the numbering changed */
        w->stale = false;
        w->seq_base = w->next_base;
        queue_encode(w);
        return;
    }
    if (w->work_rc < 0) {
        rp_run_fail(r, "cannot encode a window of %" PRIu32 " events: %s", w->n,
                    strerror(-w->work_rc));
        return;
    }
    w->bytes = w->own.data;
    w->len = w->own.len;
    w->ready = true;
    if (c->state == RP_CONN_OPEN)
        flush_writes(c);
}

static void queue_encode(struct rp_win *w)
{
    struct rp_run *r = w->conn->run;
    w->ready = false;
    w->bytes = NULL;
    w->working = true;
    w->work.data = w;
    r->jobs++;
    gate_release();
    int rc = uv_queue_work(r->loop, &w->work, encode_work, encode_done);
    if (rc < 0) {
        w->working = false;
        r->jobs--;
        rp_run_fail(r, "cannot queue work: %s", uv_strerror(rc));
    }
}

/* ---- Writing (the path replay_tls.c wraps: conn_send out, rp_conn_on_bytes in) ---------------
 */

static void complete_window(struct rp_conn *c, struct rp_win *w);

/* A window's write ended: WIRE bytes went out (the ciphertext with --tls). */
void rp_window_written(struct rp_win *w, int status, size_t wire)
{
    struct rp_conn *c = w->conn;
    struct rp_run *r = c->run;
    w->writing = false;
    if (status == 0 || w->done) {
        r->st.bytes_sent += wire;
        if (!w->counted) {
            w->counted = true;
            r->st.events_sent += w->n;
            r->st.windows_sent++;
            r->st.payload_bytes +=
                (uint64_t)(r->in.ev[w->start + w->n - 1].off + r->in.ev[w->start + w->n - 1].len -
                           r->in.ev[w->start].off);
            if (w->candidate)
                r->st.cand_windows++;
        }
    }
    if (w->done) { /* acknowledged before this callback ran */
        win_free(w);
        maybe_finish(r);
        return;
    }
    if (status < 0) {
        if (status != UV_ECANCELED && c->state == RP_CONN_OPEN) {
            char why[128];
            snprintf(why, sizeof(why), "write failed: %s", uv_strerror(status));
            rp_conn_drop(c, why);
        }
        return;
    }
    if (!rp_beats(r)) /* syslog: nothing comes back; a window is done once the kernel has it */
        complete_window(c, w);
}

static void on_write(uv_write_t *req, int status)
{
    struct rp_win *w = req->data;
    rp_window_written(w, status, w->len);
}

/* Writes one window with one uv_write (with --tls: encrypted, then one uv_write of its records).
 * Returns 0, a libuv error, or 1 when the run failed. */
static int conn_send(struct rp_conn *c, struct rp_win *w)
{
    int rc;
    if (c->tls) {
        rc = rp_tls_send(c, w);
        if (rc > 0)
            return 1;
    } else {
        uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)w->len);
        w->wreq.data = w;
        rc = uv_write(&w->wreq, (uv_stream_t *)&c->h.tcp, &b, 1, on_write);
    }
    if (rc < 0)
        return rc;
    w->writing = w->written = true;
    w->write_ns = uv_hrtime();
    return 0;
}

/* Writes the windows whose bytes are ready, in order; stops at the first that is not. */
static void flush_writes(struct rp_conn *c)
{
    bool waiting = false; /* a window already written is waiting for its ACK */
    for (struct rp_win *w = c->head; w && c->state == RP_CONN_OPEN; w = w->next) {
        if (w->written) {
            waiting = true;
            continue;
        }
        if (!w->ready)
            return;
        int rc = conn_send(c, w);
        if (rc > 0)
            return;
        if (rc < 0) {
            char why[128];
            snprintf(why, sizeof(why), "write failed: %s", uv_strerror(rc));
            rp_conn_drop(c, why);
            return;
        }
        if (!waiting)
            c->activity_ns = w->write_ns;
        waiting = true;
    }
}

/* ---- Scheduling --------------------------------------------------------------------------------
 */

static bool can_take(const struct rp_conn *c)
{
    if (c->state != RP_CONN_OPEN)
        return false;
    if (c->run->o.proto == RP_PROTO_SYSLOG_UDP)
        return !c->udp_blocked;
    return c->nwin < c->run->o.pipelining;
}

static void push_ready(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    if (c->in_ready || !can_take(c))
        return;
    c->in_ready = true;
    c->ready_next = NULL;
    if (r->ready_tail)
        r->ready_tail->ready_next = c;
    else
        r->ready_head = c;
    r->ready_tail = c;
}

static struct rp_conn *pop_ready(struct rp_run *r)
{
    struct rp_conn *c = r->ready_head;
    if (c) {
        r->ready_head = c->ready_next;
        if (!r->ready_head)
            r->ready_tail = NULL;
        c->in_ready = false;
    }
    return c;
}

/* The size of the next window, or 0 when there is none left to send. */
static uint32_t next_size(struct rp_run *r)
{
    if (r->stopping || r->exhausted)
        return 0;
    if (r->o.count && r->assigned >= r->o.count)
        return 0;
    uint64_t n = slice_len(r, r->slice);
    if (r->o.count && n > r->o.count - r->assigned)
        n = r->o.count - r->assigned;
    return (uint32_t)n;
}

static uint64_t take_next(struct rp_run *r, uint32_t n)
{
    uint64_t start = (uint64_t)r->slice * r->o.window;
    r->assigned += n;
    if (++r->slice == r->nslices) {
        r->slice = 0;
        if (!r->o.loop)
            r->exhausted = true;
    }
    return start;
}

static void udp_continue(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    while (c->udp_pos < c->udp_end) {
        const struct rp_event *e = &r->in.ev[c->udp_pos];
        uv_buf_t b = uv_buf_init(r->in.data.data + e->off, e->len);
        int rc = uv_udp_try_send(&c->h.udp, &b, 1, NULL);
        if (rc == UV_EAGAIN || rc == UV_ENOBUFS) {
            c->udp_blocked = true;
            if (!uv_is_active((uv_handle_t *)&r->udp_timer))
                uv_timer_start(&r->udp_timer, on_udp_timer, 1, 0);
            return;
        }
        if (rc < 0) {
            rp_run_fail(r, "sending a datagram to %s failed: %s", r->o.target, uv_strerror(rc));
            return;
        }
        r->st.events_sent++;
        r->st.bytes_sent += e->len;
        r->st.payload_bytes += e->len;
        c->udp_pos++;
    }
    c->udp_blocked = false;
    r->st.windows_sent++;
}

static void assign(struct rp_conn *c, uint64_t start, uint32_t n)
{
    struct rp_run *r = c->run;
    if (r->o.proto == RP_PROTO_SYSLOG_UDP) {
        c->udp_pos = start;
        c->udp_end = start + n;
        udp_continue(c);
        return;
    }
    struct rp_win *w = calloc(1, sizeof(*w));
    if (!w) {
        rp_run_fail(r, "out of memory");
        return;
    }
    w->conn = c;
    w->start = start;
    w->n = n;
    w->candidate = rp_candidates(&r->in, (size_t)start, n) > 0;
    buf_init(&w->own, (size_t)1 << 31);
    if (r->o.version == 1) {
        w->seq_base = c->v1_seq;
        c->v1_seq += n;
    }
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    c->nwin++;
    if (!set_ready_bytes(r, w))
        queue_encode(w);
    flush_writes(c);
}

static void refill(struct rp_run *r)
{
    uint64_t now = uv_hrtime();
    r->tokens += r->o.rate * (double)(now - r->tokens_ns) / 1e9;
    r->tokens_ns = now;
    double cap = r->o.rate / 10 > r->o.window ? r->o.rate / 10 : r->o.window;
    if (r->tokens > cap)
        r->tokens = cap;
}

static void on_rate_timer(uv_timer_t *t)
{
    pump(t->data);
}

static void on_pump_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
    pump(h->data);
}

/* Hands windows to connections that can take one, round robin, within the rate. */
static void pump(struct rp_run *r)
{
    if (r->stopping || !r->started)
        return;
    if (r->o.rate > 0)
        refill(r);
    unsigned budget = PUMP_BUDGET;
    while (r->ready_head) {
        uint32_t n = next_size(r);
        if (n == 0) {
            r->stopping = true;
            maybe_finish(r);
            return;
        }
        if (r->o.rate > 0 && r->tokens < n) {
            double wait_ms = ceil((n - r->tokens) * 1000.0 / r->o.rate);
            uv_timer_start(&r->rate_timer, on_rate_timer, wait_ms < 1 ? 1 : (uint64_t)wait_ms, 0);
            return;
        }
        if (budget-- == 0) {
            uv_idle_start(&r->pump_idle, on_pump_idle);
            return;
        }
        struct rp_conn *c = pop_ready(r);
        if (!can_take(c))
            continue;
        uint64_t start = take_next(r, n);
        if (r->o.rate > 0)
            r->tokens -= n;
        assign(c, start, n);
        if (r->aborting)
            return;
        push_ready(c);
    }
    if (next_size(r) == 0) {
        r->stopping = true;
        maybe_finish(r);
    }
}

static void on_udp_timer(uv_timer_t *t)
{
    struct rp_run *r = t->data;
    for (uint32_t i = 0; i < r->o.connections && !r->aborting; i++) {
        struct rp_conn *c = &r->conns[i];
        if (c->state == RP_CONN_OPEN && c->udp_blocked) {
            udp_continue(c);
            push_ready(c);
        }
    }
    if (!r->aborting) {
        pump(r);
        maybe_finish(r);
    }
}

static bool all_delivered(const struct rp_run *r)
{
    if (r->jobs)
        return false;
    for (uint32_t i = 0; i < r->o.connections; i++) {
        const struct rp_conn *c = &r->conns[i];
        if (c->nwin || c->udp_blocked)
            return false;
    }
    return true;
}

/* Ends the run once nothing is left to assign and every window is delivered. */
static void maybe_finish(struct rp_run *r)
{
    if (r->closed || !r->stopping || !all_delivered(r))
        return;
    close_all(r);
}

/* ---- ACKs --------------------------------------------------------------------------------------
 */

static void complete_window(struct rp_conn *c, struct rp_win *w)
{
    struct rp_run *r = c->run;
    c->head = w->next;
    if (!c->head)
        c->tail = NULL;
    c->nwin--;
    if (rp_beats(r)) {
        uint64_t us = (uv_hrtime() - w->write_ns) / 1000;
        rp_hist_add(&r->st.lat, us);
        if (w->candidate)
            rp_hist_add(&r->st.lat_cand, us);
        r->st.windows_acked++;
    }
    if (w->writing)
        w->done = true;
    else
        win_free(w);
    push_ready(c);
    pump(r);
    maybe_finish(r);
}

static void handle_ack(struct rp_conn *c, const uint8_t *p)
{
    struct rp_run *r = c->run;
    if (p[1] != LJ_ACK || (p[0] != LJ_V1 && p[0] != LJ_V2)) {
        char what[160];
        lj_describe_garbage(p, 6, what, sizeof(what));
        rp_run_fail(r, "connection %" PRIu32 ": the receiver sent something other than an ACK: %s",
                    c->id, what);
        return;
    }
    if (p[0] != r->version_byte) {
        rp_run_fail(r, "connection %" PRIu32 ": ACK with version byte '%c' on a v%d connection",
                    c->id, p[0], r->o.version);
        return;
    }
    uint32_t seq = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
    c->activity_ns = uv_hrtime();
    struct rp_win *w = c->head;
    if (seq == 0) { /* keep-alive: the receiver is still working on the window */
        r->st.keepalives++;
        return;
    }
    if (!w || !w->written) {
        rp_run_fail(r, "connection %" PRIu32 ": ACK %" PRIu32 " with no window in flight", c->id,
                    seq);
        return;
    }
    uint32_t lo = w->seq_base;
    if (seq <= lo + w->acked) { /* nothing new: a repeated (partial) ACK */
        r->st.keepalives++;
        return;
    }
    if (seq - lo > w->n) {
        rp_run_fail(r,
                    "connection %" PRIu32 ": ACK past the window: sequence %" PRIu32
                    " acknowledges more than the window in flight, which holds sequences %" PRIu32
                    "..%" PRIu32,
                    c->id, seq, lo + 1, lo + w->n);
        return;
    }
    r->st.events_acked += seq - lo - w->acked;
    w->acked = seq - lo;
    c->progressed = true;
    c->failures = 0;
    if (w->acked == w->n)
        complete_window(c, w);
}

/* Bytes read from the receiver: whole 6-byte ACK frames, the rest kept for the next read. */
void rp_conn_on_bytes(struct rp_conn *c, const uint8_t *p, size_t n)
{
    if (!rp_beats(c->run))
        return; /* syslog receivers send nothing we act on */
    while (n && c->state == RP_CONN_OPEN) {
        size_t take = 6 - c->ncarry;
        if (c->ncarry == 0 && n >= 6) {
            handle_ack(c, p);
            p += 6;
            n -= 6;
            continue;
        }
        if (take > n)
            take = n;
        memcpy(c->carry + c->ncarry, p, take);
        c->ncarry += take;
        p += take;
        n -= take;
        if (c->ncarry == 6) {
            c->ncarry = 0;
            handle_ack(c, c->carry);
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct rp_conn *c = s->data;
    if (c->lingering) { /* what comes now is of no use; the end of it is */
        if (nread < 0)
            linger_end(c);
        return;
    }
    if (nread > 0) {
        if (c->tls)
            rp_tls_on_cipher(c, (const uint8_t *)b->base, (size_t)nread);
        else
            rp_conn_on_bytes(c, (const uint8_t *)b->base, (size_t)nread);
        return;
    }
    if (nread == UV_EOF)
        rp_conn_drop(c, "closed by the receiver");
    else if (nread < 0) {
        char why[128];
        snprintf(why, sizeof(why), "read failed: %s", uv_strerror((int)nread));
        rp_conn_drop(c, why);
    }
}

/* ---- Connections -------------------------------------------------------------------------------
 */

/* Back in line after a drop: the windows not acknowledged go again, from the first event not
 * acknowledged, renumbered for the new connection. */
static void rewind_windows(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    uint32_t seq = 0;
    c->ncarry = 0;
    for (struct rp_win *w = c->head; w; w = w->next) {
        bool encode = false;
        w->written = false;
        if (w->counted)
            r->st.events_resent += w->n - w->acked;
        if (w->acked) {
            w->start += w->acked;
            w->n -= w->acked;
            w->acked = 0;
            w->candidate = rp_candidates(&r->in, (size_t)w->start, w->n) > 0;
            encode = true;
        }
        if (r->o.version == 1 && rp_beats(r)) {
            if (w->working) { /* never written, so never trimmed: only the numbering changes */
                w->stale = w->seq_base != seq;
                w->next_base = seq;
                seq += w->n;
                continue;
            }
            encode = encode || w->seq_base != seq;
            w->seq_base = seq;
            seq += w->n;
        }
        if (!encode || w->working)
            continue;
        if (!set_ready_bytes(r, w))
            queue_encode(w);
    }
    c->v1_seq = seq;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct rp_conn *c = h->data;
    struct rp_run *r = c->run;
    rp_tls_conn_free(c);
    if (!c->reconnect || r->aborting || r->closed) {
        c->state = RP_CONN_DONE;
        maybe_finish(r);
        return;
    }
    c->reconnect = false;
    rewind_windows(c);
    c->state = RP_CONN_WAIT;
    unsigned shift = c->failures < 5 ? c->failures : 5;
    c->since_ns = uv_hrtime() + (100000000ull << shift); /* 100 ms, doubling to 3.2 s */
}

/* The connection broke: reconnect (the windows in flight go again), or with --no-reconnect end
 * the run. */
void rp_conn_drop(struct rp_conn *c, const char *why)
{
    struct rp_run *r = c->run;
    if (c->state == RP_CONN_HANDSHAKE) {
        rp_run_fail(r,
                    "connection %" PRIu32 ": TLS handshake with %s failed: the connection was %s "
                    "during the handshake%s",
                    c->id, r->o.target, why,
                    r->tls_cert_requested && !r->o.tls_cert
                        ? " (the server asked for a client certificate and none was given: use "
                          "--tls-cert and --tls-key)"
                        : " (is TLS enabled on that port?)");
        return;
    }
    if (c->state != RP_CONN_OPEN)
        return;
    if (c->tls && r->tls_cert_requested && !r->o.tls_cert && !c->tls_heard) {
        /* TLS 1.3 ends the handshake on the client before the server checks for a certificate:
         * a server that requires one closes the connection right after. */
        rp_run_fail(r,
                    "connection %" PRIu32
                    ": TLS connection with %s failed: %s after the server asked "
                    "for a client certificate and none was given (mutual TLS: use --tls-cert and "
                    "--tls-key)",
                    c->id, r->o.target, why);
        return;
    }
    if (r->stopping && !c->nwin) { /* done with it anyway */
        c->state = RP_CONN_CLOSING;
        uv_close(&c->h.handle, on_conn_closed);
        return;
    }
    if (r->o.no_reconnect) {
        rp_run_fail(r,
                    "connection %" PRIu32 " to %s %s with %" PRIu32
                    " windows in flight (--no-reconnect)",
                    c->id, r->o.target, why, c->nwin);
        return;
    }
    if (!c->progressed && c->nwin && ++c->failures >= MAX_FAILURES) {
        /* Connections that open and drop before anything is acknowledged: not a receiver that
         * will ever take these windows (a TLS port spoken to in plaintext closes like that). */
        rp_run_fail(r,
                    "connection %" PRIu32 " to %s %s %u times in a row before any ACK: is it a "
                    "Lumberjack receiver, and does it want TLS (--tls)?",
                    c->id, r->o.target, why, c->failures);
        return;
    }
    r->st.reconnects++;
    log_warn("replay",
             "connection %" PRIu32 " to %s %s with %" PRIu32 " windows in flight; reconnecting",
             c->id, r->o.target, why, c->nwin);
    c->state = RP_CONN_CLOSING;
    c->reconnect = true;
    uv_close(&c->h.handle, on_conn_closed);
}

static void connect_failed(struct rp_conn *c, int status)
{
    struct rp_run *r = c->run;
    if (!c->ever_open) {
        rp_run_fail(r, "cannot connect to %s: %s", r->o.target, uv_strerror(status));
        return;
    }
    if (++c->failures >= MAX_FAILURES) {
        rp_run_fail(r, "cannot reconnect to %s after %u attempts: %s", r->o.target, c->failures,
                    uv_strerror(status));
        return;
    }
    c->state = RP_CONN_CLOSING;
    c->reconnect = true;
    uv_close(&c->h.handle, on_conn_closed);
}

static void open_more(struct rp_run *r);

/* Connected (with --tls: the handshake is done): the connection takes windows. */
void rp_conn_established(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    c->state = RP_CONN_OPEN;
    c->activity_ns = uv_hrtime();
    flush_writes(c);
    push_ready(c);
    pump(r);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct rp_conn *c = req->data;
    struct rp_run *r = c->run;
    r->connecting--;
    open_more(r);
    if (status == UV_ECANCELED || r->closed || c->state != RP_CONN_CONNECTING)
        return;
    if (status < 0) {
        connect_failed(c, status);
        return;
    }
    c->ever_open = true;
    c->progressed = false;
    c->activity_ns = uv_hrtime();
    uv_tcp_nodelay(&c->h.tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->h.tcp, on_alloc, on_read);
    if (rc < 0) {
        c->state = RP_CONN_OPEN;
        connect_failed(c, rc);
        return;
    }
    if (r->ssl_ctx) {
        c->state = RP_CONN_HANDSHAKE;
        c->since_ns = uv_hrtime();
        rp_tls_start(c);
        return;
    }
    rp_conn_established(c);
}

static void conn_connect(struct rp_conn *c)
{
    struct rp_run *r = c->run;
    int rc;
    c->since_ns = uv_hrtime();
    if (r->o.proto == RP_PROTO_SYSLOG_UDP) {
        rc = uv_udp_init(r->loop, &c->h.udp);
        c->h.udp.data = c;
        if (rc == 0)
            rc = uv_udp_connect(&c->h.udp, (const struct sockaddr *)&r->addr);
        if (rc < 0) {
            c->state = RP_CONN_OPEN; /* so that close_all closes it */
            rp_run_fail(r, "cannot open a UDP socket to %s: %s", r->o.target, uv_strerror(rc));
            return;
        }
        c->state = RP_CONN_OPEN;
        c->ever_open = true;
        push_ready(c);
        return;
    }
    rc = uv_tcp_init(r->loop, &c->h.tcp);
    if (rc < 0) {
        rp_run_fail(r, "cannot create a socket: %s", uv_strerror(rc));
        return;
    }
    c->h.tcp.data = c;
    c->creq.data = c;
    c->state = RP_CONN_CONNECTING;
    rc = uv_tcp_connect(&c->creq, &c->h.tcp, (const struct sockaddr *)&r->addr, on_connect);
    if (rc < 0) {
        connect_failed(c, rc);
        return;
    }
    r->connecting++;
}

static void open_more(struct rp_run *r)
{
    while (!r->stopping && r->next_to_open < r->o.connections && r->connecting < MAX_CONNECTING)
        conn_connect(&r->conns[r->next_to_open++]);
}

/* ---- Timers and signals -----------------------------------------------------------------------
 */

static void on_tick(uv_timer_t *t)
{
    struct rp_run *r = t->data;
    uint64_t now = uv_hrtime();
    uint64_t timeout_ns = r->o.ack_timeout_ms * 1000000ull;
    for (uint32_t i = 0; i < r->o.connections && !r->aborting; i++) {
        struct rp_conn *c = &r->conns[i];
        if (c->state == RP_CONN_WAIT && now >= c->since_ns) {
            if (r->stopping && !c->nwin)
                c->state = RP_CONN_DONE;
            else
                conn_connect(c);
        } else if (c->state == RP_CONN_CONNECTING && now - c->since_ns > timeout_ns) {
            connect_failed(c, UV_ETIMEDOUT);
        } else if (c->state == RP_CONN_HANDSHAKE && now - c->since_ns > timeout_ns) {
            rp_run_fail(r,
                        "connection %" PRIu32 ": TLS handshake with %s failed: no answer within "
                        "--ack-timeout (%.1f s) (is TLS enabled on that port?)",
                        c->id, r->o.target, r->o.ack_timeout_ms / 1000.0);
        } else if (c->state == RP_CONN_OPEN && rp_beats(r) && c->head && c->head->written &&
                   now - c->activity_ns > timeout_ns) {
            rp_run_fail(r,
                        "connection %" PRIu32
                        ": no ACK from %s within --ack-timeout (%.1f s) for a "
                        "window of %" PRIu32 " events (%" PRIu32 " windows in flight)",
                        c->id, r->o.target, r->o.ack_timeout_ms / 1000.0, c->head->n, c->nwin);
        }
    }
    if (r->aborting)
        return;
    if (r->o.progress && now - r->last_progress_ns >= 1000000000ull) {
        r->last_progress_ns = now;
        rp_show_progress(r, now);
    }
    maybe_finish(r);
}

static void on_duration(uv_timer_t *t)
{
    struct rp_run *r = t->data;
    r->stopping = true;
    maybe_finish(r);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct rp_run *r = s->data;
    if (++r->signals == 1 && !r->aborting) {
        if (r->progress_shown) {
            fputc('\n', stderr);
            r->progress_shown = false;
        }
        log_info("replay", "%s: finishing the windows in flight (again to stop at once)",
                 strsignal(signum));
        r->stopping = true;
        maybe_finish(r);
        return;
    }
    uint32_t inflight = 0;
    for (uint32_t i = 0; i < r->o.connections; i++)
        inflight += r->conns[i].nwin;
    if (inflight || !r->closed)
        rp_run_fail(r, "interrupted with %" PRIu32 " windows in flight", inflight);
}

static void start_sending(struct rp_run *r)
{
    r->started = true;
    r->start_ns = r->tokens_ns = r->last_progress_ns = uv_hrtime();
    uv_timer_start(&r->tick, on_tick, TICK_MS, TICK_MS);
    if (r->o.duration_ms)
        uv_timer_start(&r->duration_timer, on_duration, r->o.duration_ms, 0);
    open_more(r);
    pump(r);
}

/* ---- --precompress -----------------------------------------------------------------------------
 */

static void prep_work(uv_work_t *req)
{
    gate_acquire();
    struct rp_run *r = req->data;
    size_t k = (size_t)(req - r->prep_work);
    int rc = rp_encode_window(&r->in, k * r->o.window, (uint32_t)slice_len(r, k), r->o.level, 0,
                              &r->prep[k]);
    if (rc < 0)
        atomic_store(&r->prep_rc, rc); /* any failure; the value is only shown */
    gate_release();
}

static void prep_done(uv_work_t *req, int status)
{
    gate_acquire();
    struct rp_run *r = req->data;
    (void)status;
    if (--r->prep_pending)
        return;
    free(r->prep_work);
    r->prep_work = NULL;
    if (r->aborting || r->closed)
        return;
    int prep_rc = atomic_load(&r->prep_rc);
    if (prep_rc < 0) {
        rp_run_fail(r, "cannot prepare the windows: %s", strerror(-prep_rc));
        return;
    }
    uint64_t total = 0;
    for (size_t k = 0; k < r->nslices; k++)
        total += r->prep[k].len;
    r->prep_ns = uv_hrtime() - r->prep_ns;
    log_info("replay", "prepared %zu windows: %.1f MB of events, %.1f MB to send, in %.2f s",
             r->nslices, r->in.raw_bytes / 1e6, total / 1e6, r->prep_ns / 1e9);
    start_sending(r);
}

static int start_prep(struct rp_run *r)
{
    r->prep = calloc(r->nslices, sizeof(*r->prep));
    r->prep_work = calloc(r->nslices, sizeof(*r->prep_work));
    if (!r->prep || !r->prep_work)
        return -ENOMEM;
    r->prep_ns = uv_hrtime();
    r->prep_pending = r->nslices;
    for (size_t k = 0; k < r->nslices; k++) {
        buf_init(&r->prep[k], (size_t)1 << 31);
        r->prep_work[k].data = r;
        gate_release();
        int rc = uv_queue_work(r->loop, &r->prep_work[k], prep_work, prep_done);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- The run's loop ----------------------------------------------------------------------------
 */

int rp_run_init(struct rp_run *r)
{
    const struct rp_opts *o = &r->o;
    r->version_byte = o->version == 1 ? LJ_V1 : LJ_V2;
    r->nslices = (r->in.n + o->window - 1) / o->window;
    r->conns = calloc(o->connections, sizeof(*r->conns));
    r->loop = malloc(sizeof(*r->loop));
    if (!r->conns || !r->loop || uv_loop_init(r->loop) != 0)
        return -ENOMEM;
    for (uint32_t i = 0; i < o->connections; i++) {
        r->conns[i].run = r;
        r->conns[i].id = i + 1;
    }
    uv_timer_init(r->loop, &r->tick);
    uv_timer_init(r->loop, &r->rate_timer);
    uv_timer_init(r->loop, &r->duration_timer);
    uv_timer_init(r->loop, &r->udp_timer);
    uv_timer_init(r->loop, &r->linger_timer);
    r->linger_timer.data = r;
    uv_idle_init(r->loop, &r->pump_idle);
    r->tick.data = r->rate_timer.data = r->duration_timer.data = r->udp_timer.data = r;
    r->pump_idle.data = r;
    uv_signal_init(r->loop, &r->sigint);
    uv_signal_init(r->loop, &r->sigterm);
    r->sigint.data = r->sigterm.data = r;
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    return 0;
}

void rp_run_loop(struct rp_run *r)
{
    if (r->o.precompress && r->o.proto == RP_PROTO_BEATS) {
        int rc = start_prep(r);
        if (rc < 0)
            rp_run_fail(r, "cannot prepare the windows: %s", strerror(-rc));
    } else {
        start_sending(r);
    }
    uv_run(r->loop, UV_RUN_DEFAULT);
    if (!r->end_ns)
        r->end_ns = uv_hrtime();
}

void rp_run_close(struct rp_run *r)
{
    uv_loop_close(r->loop);
    for (uint32_t i = 0; i < r->o.connections; i++) {
        struct rp_win *w = r->conns[i].head;
        while (w) {
            struct rp_win *next = w->next;
            win_free(w);
            w = next;
        }
    }
    for (size_t k = 0; r->prep && k < r->nslices; k++)
        buf_free(&r->prep[k]);
    free(r->prep);
    free(r->prep_work);
    for (uint32_t i = 0; i < r->o.connections; i++)
        rp_tls_conn_free(&r->conns[i]);
    free(r->conns);
    free(r->loop);
}
