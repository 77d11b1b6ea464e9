/* The relay's outbox: a journal of windows, drained through the relay (relay/outbox.h). */
#include "relay/outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "store/cursor.h"
#include "store/journal.h"
#include "store/reader.h"

#define CURSOR_NAME    "relay"
#define FORWARD_WINDOW 8u    /* windows of the outbox in the relay at once */
#define CURSOR_EVERY   64u   /* store the cursor after this many windows acknowledged... */
#define CURSOR_MS      1000u /* ...or this long after the last store */
#define TICK_MS        250u
#define HEADER         4u

/* An append on its way to disk: completed on the writer thread, handed to the loop. */
struct appended {
    struct appended *next;
    relay_done_fn done;
    void *ctx;
    int status;
};

/* A window of the outbox in the relay. */
struct fwd {
    struct fwd *next;
    struct outbox *o;
    uint64_t seq;
    size_t len; /* the record's length */
    int64_t time_ms;
    bool acked;
};

struct outbox {
    uv_loop_t *loop;
    struct relay *relay;
    char dir[1024];
    struct journal *j;
    struct cursor *cur;
    struct journal_reader *rd;
    uint64_t max_bytes;
    struct outbox_stats st;
    uint64_t reader_next; /* the sequence number the reader hands out next */
    uint64_t stored;      /* the cursor's position on disk */
    uint64_t stored_ms;
    struct fwd *fhead, *ftail; /* in the relay, in sequence order */
    size_t nfwd;
    /* Completed appends, pushed by the writer thread. */
    pthread_mutex_t mu;
    struct appended *done;
    uv_async_t async;
    uv_timer_t tick;
    unsigned open_handles; /* closing: handles whose close callback has not run */
    bool closing;
};

static void pump(struct outbox *o);

/* ---- The position ---- */

static void store_cursor(struct outbox *o, bool now)
{
    uint64_t pos = o->fhead ? o->fhead->seq : o->reader_next;
    if (pos <= o->stored)
        return;
    uint64_t ms = uv_now(o->loop);
    if (!now && pos - o->stored < CURSOR_EVERY && ms - o->stored_ms < CURSOR_MS)
        return;
    int rc = cursor_set(o->cur, pos);
    if (rc < 0) {
        log_warn("relay",
                 "outbox: cannot store its position: %s (windows from %" PRIu64
                 " may be sent again after a restart)",
                 strerror(-rc), o->stored);
        return;
    }
    o->stored = pos;
    o->stored_ms = ms;
}

/* ---- Forwarding ---- */

static void forwarded(void *ctx, int status)
{
    struct fwd *f = ctx;
    struct outbox *o = f->o;
    f->acked = status == 0;
    if (status != 0)
        return; /* the relay stopped: the record stays for the next start */
    /* The cursor moves over the windows acknowledged in order. */
    while (o->fhead && o->fhead->acked) {
        struct fwd *h = o->fhead;
        o->fhead = h->next;
        if (!o->fhead)
            o->ftail = NULL;
        o->nfwd--;
        o->st.windows--;
        o->st.bytes -= h->len;
        o->st.forwarded++;
        free(h);
    }
    o->st.oldest_ms = o->fhead ? o->fhead->time_ms : 0;
    store_cursor(o, false);
    if (!o->closing)
        pump(o);
}

static void pump(struct outbox *o)
{
    /* While no next hop is up, the windows stay on disk (the relay's queue is memory). */
    while (!o->closing && relay_up(o->relay) && o->nfwd < FORWARD_WINDOW) {
        struct journal_record rec;
        int rc = journal_reader_next(o->rd, &rec);
        if (rc <= 0) {
            if (rc < 0)
                log_warn("relay", "outbox: cannot read %s: %s", o->dir, strerror(-rc));
            return;
        }
        o->reader_next = rec.seq + 1;
        if (rec.len <= HEADER) {
            log_warn("relay", "outbox: record %" PRIu64 " is not a window; skipped", rec.seq);
            continue;
        }
        const uint8_t *p = (const uint8_t *)rec.payload;
        uint32_t events = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        struct fwd *f = calloc(1, sizeof(*f));
        uint8_t *bytes = malloc(rec.len - HEADER);
        if (!f || !bytes) {
            free(f);
            free(bytes);
            o->reader_next = rec.seq; /* read it again: reopen at the next tick */
            journal_reader_close(o->rd);
            o->rd = NULL;
            return;
        }
        memcpy(bytes, p + HEADER, rec.len - HEADER);
        f->o = o;
        f->seq = rec.seq;
        f->len = rec.len;
        f->time_ms = rec.time_ms;
        if (o->ftail)
            o->ftail->next = f;
        else
            o->fhead = f;
        o->ftail = f;
        o->nfwd++;
        if (!o->st.oldest_ms)
            o->st.oldest_ms = rec.time_ms;
        if (relay_send(o->relay, bytes, rec.len - HEADER, events, forwarded, f) < 0) {
            free(bytes);
            f->acked = false; /* never acknowledged: it goes again after a restart */
            return;
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    struct outbox *o = t->data;
    if (!o->rd && journal_reader_open(&o->rd, o->dir, o->reader_next) < 0)
        return;
    store_cursor(o, false);
    pump(o);
}

/* ---- Appending ---- */

struct append_arg {
    struct appended a;
    struct outbox *o;
};

static void on_written(void *arg, int status, uint64_t seq)
{
    struct append_arg *x = arg;
    struct outbox *o = x->o;
    (void)seq;
    x->a.status = status;
    pthread_mutex_lock(&o->mu);
    x->a.next = o->done;
    o->done = &x->a;
    bool closing = o->closing;
    pthread_mutex_unlock(&o->mu);
    if (!closing)
        uv_async_send(&o->async);
}

/* Runs the completions of appends, oldest first, on the loop thread. */
static void drain(struct outbox *o)
{
    pthread_mutex_lock(&o->mu);
    struct appended *list = o->done;
    o->done = NULL;
    pthread_mutex_unlock(&o->mu);
    struct appended *rev = NULL;
    while (list) {
        struct appended *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct appended *n = rev->next;
        relay_done_fn done = rev->done;
        void *ctx = rev->ctx;
        int status = rev->status;
        free(rev); /* the first member of its append_arg */
        done(ctx, status);
        rev = n;
    }
}

static void on_async(uv_async_t *h)
{
    struct outbox *o = h->data;
    drain(o);
    pump(o);
}

int outbox_append(struct outbox *o, const uint8_t *bytes, size_t len, uint32_t events,
                  relay_done_fn done, void *ctx)
{
    if (o->closing)
        return -EPIPE;
    if (o->st.bytes + len + HEADER > o->max_bytes)
        return -ENOSPC;
    uint8_t *rec = malloc(len + HEADER);
    struct append_arg *x = calloc(1, sizeof(*x));
    if (!rec || !x) {
        free(rec);
        free(x);
        return -ENOMEM;
    }
    rec[0] = (uint8_t)(events >> 24);
    rec[1] = (uint8_t)(events >> 16);
    rec[2] = (uint8_t)(events >> 8);
    rec[3] = (uint8_t)events;
    memcpy(rec + HEADER, bytes, len);
    x->a.done = done;
    x->a.ctx = ctx;
    x->o = o;
    int rc = journal_append(o->j, rec, len + HEADER, on_written, x);
    free(rec);
    if (rc < 0) {
        free(x);
        return rc;
    }
    o->st.windows++;
    o->st.bytes += len + HEADER;
    o->st.spilled++;
    if (!o->st.oldest_ms)
        o->st.oldest_ms = clock_now_ms();
    return 0;
}

bool outbox_holding(const struct outbox *o)
{
    return o->st.windows > 0;
}

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out)
{
    *out = o->st;
}

/* ---- Opening and closing ---- */

/* What the outbox holds from POS on: windows and bytes, and when the oldest was appended. */
static int count_held(struct outbox *o, uint64_t pos)
{
    struct journal_reader *rd;
    int rc = journal_reader_open(&rd, o->dir, pos);
    if (rc < 0)
        return rc;
    struct journal_record rec;
    while ((rc = journal_reader_next(rd, &rec)) > 0) {
        if (!o->st.oldest_ms)
            o->st.oldest_ms = rec.time_ms;
        o->st.windows++;
        o->st.bytes += rec.len;
    }
    journal_reader_close(rd);
    return rc;
}

int outbox_open(struct outbox **out, uv_loop_t *loop, const char *dir, uint64_t max_bytes,
                unsigned sync_ms, struct relay *r)
{
    *out = NULL;
    struct outbox *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->loop = loop;
    o->relay = r;
    o->max_bytes = max_bytes;
    snprintf(o->dir, sizeof(o->dir), "%s", dir);
    struct journal_opts jo;
    journal_opts_default(&jo);
    jo.sync_interval_ms = sync_ms;
    jo.compress_sealed = false; /* windows are compressed already */
    jo.retention_bytes = 1;     /* every sealed segment the forwarder has passed goes */
    int rc = journal_open(&o->j, dir, &jo, NULL);
    if (rc < 0)
        goto fail;
    rc = cursor_open(&o->cur, dir, CURSOR_NAME);
    if (rc < 0)
        goto fail;
    o->stored = o->reader_next = cursor_get(o->cur);
    rc = count_held(o, o->reader_next);
    if (rc < 0)
        goto fail;
    rc = journal_reader_open(&o->rd, dir, o->reader_next);
    if (rc < 0)
        goto fail;
    pthread_mutex_init(&o->mu, NULL);
    uv_async_init(loop, &o->async, on_async);
    o->async.data = o;
    uv_timer_init(loop, &o->tick);
    o->tick.data = o;
    uv_timer_start(&o->tick, on_tick, TICK_MS, TICK_MS);
    if (o->st.windows)
        log_info("relay",
                 "outbox %s holds %" PRIu64 " windows (%" PRIu64 " bytes): sending them on first",
                 dir, o->st.windows, o->st.bytes);
    pump(o);
    *out = o;
    return 0;
fail:
    journal_reader_close(o->rd);
    cursor_close(o->cur);
    journal_close(o->j);
    free(o);
    return rc;
}

static void on_closed(uv_handle_t *h)
{
    struct outbox *o = h->data;
    if (--o->open_handles)
        return;
    pthread_mutex_destroy(&o->mu);
    free(o);
}

void outbox_close(struct outbox *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->closing = true;
    pthread_mutex_unlock(&o->mu);
    store_cursor(o, true);
    journal_close(o->j); /* every append completes (on_written, without a wake-up) */
    o->j = NULL;
    drain(o);
    journal_reader_close(o->rd);
    cursor_close(o->cur);
    struct fwd *f = o->fhead;
    while (f) {
        struct fwd *n = f->next;
        free(f);
        f = n;
    }
    o->fhead = o->ftail = NULL;
    o->open_handles = 2;
    uv_close((uv_handle_t *)&o->tick, on_closed);
    uv_close((uv_handle_t *)&o->async, on_closed);
}
