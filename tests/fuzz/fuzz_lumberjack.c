/* Fuzz target for the Beats path without the network: one input is the byte stream of one
 * connection. It goes through the connection's Beats session (protocol/beats_session.h) as the
 * loop drives it, in reads whose size comes from the input's length, with small limits so that
 * the caps are reached. Every unit the session hands on runs through a batch as a worker runs it
 * (bounded inflate, inner frames, v1 pairs, detection) and completes after the next read (every
 * other read in reverse order); ACKs and keep-alives, on a clock that moves with the bytes read,
 * are checked against a model of the windows.
 *
 * The target aborts when:
 *  - the session consumes more bytes than it was given, or hands on a unit that is not a view
 *    into them, or one of bare frames that holds anything but whole J and D frames;
 *  - a unit goes to another window than the last one opened, or to one already acknowledged;
 *  - an ACK is not the oldest unacknowledged window's, comes while a unit of that window is still
 *    out, or carries another version or sequence number than the window's (its highest completed
 *    one, 0 for none);
 *  - a keep-alive is not '2' 'A' 0, or comes for a v1 window;
 *  - once the input is read and every unit complete, a window before the last one is still not
 *    acknowledged (without an error), or the session's counts disagree with the model;
 *  - an error comes without a reason, or a later call does not return it again;
 *  - a batch reports more data frames than its bytes could hold, or a status without a reason. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/batch.h"
#include "pipeline/workers.h"
#include "protocol/beats_session.h"
#include "protocol/inflate.h"
#include "protocol/lumberjack.h"
#include "tests/fuzz/fuzz_target.h"

/* The clock moves one millisecond per byte read. */
#define KEEPALIVE_MS     512u
#define KEEPALIVE_MAX_MS 3072u

static void violation(const char *what)
{
    fprintf(stderr, "fuzz_lumberjack: invariant broken: %s\n", what);
    abort();
}

struct model_window {
    struct beats_window *handle;
    uint8_t version;
    uint32_t out;      /* units not yet complete */
    uint32_t last_seq; /* the highest sequence number of its completed units */
};

/* A unit that ran and waits to be completed. */
struct done_unit {
    size_t window; /* index into the model */
    uint32_t frames, last_seq;
    int status;
    char error[160];
};

struct run {
    struct beats_session *s;
    struct lj_limits lim;
    struct worker_ctx *ctx;
    struct model_window *win;
    size_t nwin, capwin, next_ack; /* windows [NEXT_ACK, NWIN) are not acknowledged */
    struct done_unit *done;
    size_t ndone, capdone;
    struct buf acks;
    int error; /* the session's error once it ended */
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (!q)
        abort();
    *cap = n;
    return q;
}

static void ended(struct run *r, long rc)
{
    if (!beats_session_error(r->s)[0])
        violation("the session ended without a reason");
    if (r->error && r->error != rc)
        violation("the session ended twice with different codes");
    r->error = (int)rc;
}

/* Checks a unit of bare frames: whole J and D frames only. */
static void check_frames(const struct run *r, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        struct lj_frame f;
        long used = lj_decode(p + off, n - off, &r->lim, false, &f);
        if (used <= 0 || (f.type != LJ_JSON && f.type != LJ_DATA))
            violation("a unit of bare frames holds something else than whole data frames");
        off += (size_t)used;
    }
}

/* Runs a unit as a worker would, and keeps its results for its completion. */
static void run_unit(struct run *r, const struct beats_step *u)
{
    if (!r->nwin || u->window != r->win[r->nwin - 1].handle || r->nwin - 1 < r->next_ack)
        violation("a unit goes to another window than the last one opened and not acknowledged");
    if (u->version != r->win[r->nwin - 1].version)
        violation("a unit carries another version than its window");
    enum batch_kind kind = BATCH_BEATS_COMPRESSED;
    if (u->kind == BEATS_UNIT_FRAMES) {
        check_frames(r, u->data, u->len);
        kind = BATCH_BEATS_FRAMES;
    } else if (u->kind != BEATS_UNIT_COMPRESSED) {
        violation("a unit of no known kind");
    }
    r->win[r->nwin - 1].out++;
    r->done = grow(r->done, &r->capdone, r->ndone + 1, sizeof(*r->done));
    struct done_unit *d = &r->done[r->ndone++];
    memset(d, 0, sizeof(*d));
    d->window = r->nwin - 1;
    uint8_t *copy = malloc(u->len ? u->len : 1);
    if (!copy)
        abort();
    memcpy(copy, u->data, u->len);
    struct batch *b = batch_new(kind, copy, u->len, NULL, &r->lim, NULL);
    if (!b)
        abort();
    batch_run(b, r->ctx);
    /* The smallest data frame is 10 bytes (J header); inflation can multiply by the ratio cap. */
    size_t most =
        kind == BATCH_BEATS_COMPRESSED ? (u->len * 64u + 64u) / 10u + 1u : u->len / 10u + 1u;
    if (b->frames > most)
        violation("a batch reports more data frames than its bytes can hold");
    if (b->status && !b->error[0])
        violation("a failed batch without a reason");
    d->frames = b->frames;
    d->last_seq = b->last_seq;
    d->status = b->status;
    snprintf(d->error, sizeof(d->error), "%s", b->error);
    batch_free(b);
}

/* Checks the ACK frames in R->acks against the model (KEEPALIVE: one keep-alive instead). */
static void check_acks(struct run *r, int n, bool keepalive)
{
    if (r->acks.len != (size_t)n * 6)
        violation("ACK bytes that are not 6 per ACK");
    for (int i = 0; i < n; i++) {
        struct lj_frame f;
        const uint8_t *p = (const uint8_t *)r->acks.data + 6 * i;
        if (lj_decode(p, 6, &r->lim, true, &f) != 6 || f.type != LJ_ACK)
            violation("ACK bytes that do not decode as an ACK");
        if (r->next_ack >= r->nwin)
            violation("an ACK with no window waiting");
        struct model_window *w = &r->win[r->next_ack];
        if (keepalive) {
            if (f.version != LJ_V2 || f.seq != 0 || w->version != LJ_V2)
                violation("a keep-alive that is not '2' 'A' 0 for a v2 window");
            continue;
        }
        if (w->out)
            violation("an ACK for a window with a unit still out");
        if (f.version != w->version)
            violation("an ACK with another version than its window's");
        if (f.seq != w->last_seq)
            violation("an ACK with another sequence number than its window's highest");
        r->next_ack++;
    }
}

static void take_acks(struct run *r, uint64_t now)
{
    for (;;) {
        buf_reset(&r->acks);
        int n = beats_session_acks(r->s, &r->acks, now);
        if (n < 0) {
            if (!r->error || n != r->error)
                violation("an ACK call failed with another code than the session's error");
            return;
        }
        if (r->error && n)
            violation("ACKs after the session ended");
        check_acks(r, n, false);
        if (n == 0)
            return;
    }
}

/* Completes the units waiting, but the newest (HOLD), in order or in reverse. */
static void complete(struct run *r, bool hold, bool reverse, uint64_t now)
{
    size_t n = r->ndone - (hold && r->ndone ? 1 : 0);
    for (size_t k = 0; k < n; k++) {
        struct done_unit *d = &r->done[reverse ? n - 1 - k : k];
        struct model_window *w = &r->win[d->window];
        w->out--;
        if (d->last_seq > w->last_seq)
            w->last_seq = d->last_seq;
        if (r->error)
            continue; /* the loop no longer tells a closed connection's session */
        int rc =
            beats_session_complete(r->s, w->handle, d->frames, d->last_seq, d->status, d->error);
        if (d->status) {
            if (rc >= 0)
                violation("a failed unit did not end the session");
            ended(r, rc);
        } else if (rc != 0) {
            violation("a unit that succeeded failed the session");
        }
    }
    if (n && r->ndone > n)
        memmove(r->done, r->done + n, (r->ndone - n) * sizeof(*r->done));
    r->ndone -= n;
    if (!r->error)
        take_acks(r, now);
}

static void tick(struct run *r, uint64_t now)
{
    if (r->error)
        return;
    buf_reset(&r->acks);
    int rc = beats_session_tick(r->s, now, 0, &r->acks);
    if (rc < 0) {
        if (rc != -ETIMEDOUT)
            violation("a tick failed with another code than -ETIMEDOUT");
        if (r->next_ack >= r->nwin)
            violation("a window timed out with none waiting");
        ended(r, rc);
        return;
    }
    check_acks(r, rc, true);
}

/* Feeds what RBUF holds, as the loop does; returns false once the session ended. */
static bool feed(struct run *r, struct buf *rbuf, uint64_t now)
{
    size_t off = 0;
    while (off < rbuf->len) {
        struct beats_step st;
        const uint8_t *p = (const uint8_t *)rbuf->data + off;
        size_t n = rbuf->len - off;
        long used = beats_session_input(r->s, p, n, now, &st);
        if (used < 0) {
            ended(r, used);
            struct beats_step again;
            if (beats_session_input(r->s, p, n, now, &again) != used)
                violation("a call after the session ended returned another code");
            return false;
        }
        if ((size_t)used > n)
            violation("the session consumed more bytes than it was given");
        if (st.event == BEATS_NEED_MORE)
            break;
        if (st.event == BEATS_WINDOW_OPENED) {
            r->win = grow(r->win, &r->capwin, r->nwin + 1, sizeof(*r->win));
            r->win[r->nwin++] = (struct model_window){.handle = st.window, .version = st.version};
        } else if (st.event == BEATS_UNIT) {
            if (st.data < p || st.len > n || st.data + st.len > p + n)
                violation("a unit that is not a view into the bytes given");
            run_unit(r, &st);
        } else {
            violation("a step of no known kind");
        }
        off += (size_t)used;
    }
    buf_consume(rbuf, off);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct worker_ctx ctx;
    static bool ready;
    struct run r;
    memset(&r, 0, sizeof(r));
    lj_limits_default(&r.lim);
    r.lim.max_window = 64;
    r.lim.max_json = 4096;
    r.lim.max_compressed = 8192;
    r.lim.max_pairs = 16;
    r.lim.max_item = 512;
    if (!ready) {
        detector_init(&ctx.det, PROFILE_EXTENDED, true, r.lim.max_json);
        ctx.inflater = inflater_new(r.lim.max_compressed * 64u, 64);
        ready = true;
    }
    r.ctx = &ctx;
    struct beats_session_config cfg = {
        .limits = r.lim, .keepalive_ms = KEEPALIVE_MS, .keepalive_max_ms = KEEPALIVE_MAX_MS};
    uint64_t now = 0;
    r.s = beats_session_new(&cfg, now);
    if (!r.s)
        return 0;
    buf_init(&r.acks, 1u << 20);
    struct buf rbuf;
    buf_init(&rbuf, size + 1);
    /* Reads of one size per input, from 1 byte to 1 KiB. */
    size_t chunk = 1 + (size * 40503u) % 1024u;
    size_t off = 0;
    unsigned reads = 0;
    while (off < size && !r.error) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (buf_append(&rbuf, data + off, n) < 0)
            abort();
        off += n;
        now += n;
        if (!feed(&r, &rbuf, now))
            break;
        take_acks(&r, now); /* a W 0 is answered at once */
        complete(&r, true, reads++ % 2 == 1, now);
        tick(&r, now);
    }
    /* The stream ends: every unit comes back. */
    complete(&r, false, false, now);
    if (r.ndone)
        violation("a unit was never completed");
    if (!r.error) {
        if (r.nwin - r.next_ack > 1)
            violation("a window before the last one is not acknowledged");
        if (beats_session_windows(r.s) != r.nwin - r.next_ack)
            violation("the session counts other windows than the model");
        if (beats_session_in_flight(r.s) != 0)
            violation("units in flight after every one completed");
    }
    beats_session_free(r.s);
    buf_free(&rbuf);
    buf_free(&r.acks);
    free(r.win);
    free(r.done);
    return 0;
}
