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
#include "relay/feed.h"
#include "store/cursor.h"
#include "store/journal.h"
#include "store/reader.h"
#include "store/segdir.h"

#define CURSOR_NAME "relay"
#define HEADER      4u
/* Appends queued beyond this wait for the disk: well under the journal's max_pending_bytes, at
 * which journal_append would block its caller, the loop thread. Past it windows block instead. */
#define MAX_WRITING ((uint64_t)16 << 20)

/* An append on its way to disk: completed on the writer thread, handed to the loop. */
struct appended {
    struct appended *next;
    relay_done_fn done;
    void *ctx;
    int status;
    size_t len;
    uint64_t seq;
};

struct outbox {
    uv_loop_t *loop;
    char dir[1024];
    struct journal *j;
    struct feed *feed;
    uint64_t max_bytes;
    uint64_t writing; /* bytes appended whose completion has not come back to the loop */
    uint64_t end_seq; /* the sequence number after the last window known durable */
    struct outbox_stats st;
    /* Completed appends, pushed by the writer thread. */
    pthread_mutex_t mu;
    struct appended *done;
    uv_async_t async;
    bool closing;
};

/* ---- Sending on ---- */

/* A record is a window: its events (4 bytes, big-endian), then its bytes. */
static int record_window(void *arg, const struct journal_record *rec, struct buf *out,
                         uint32_t *events)
{
    (void)arg;
    if (rec->len <= HEADER)
        return -EBADMSG;
    const uint8_t *p = (const uint8_t *)rec->payload;
    *events = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return buf_append(out, p + HEADER, rec->len - HEADER);
}

static void record_acked(void *arg, uint64_t seq, size_t len, int64_t time_ms)
{
    struct outbox *o = arg;
    if (o->st.windows) {
        o->st.windows--;
        o->st.bytes -= len < o->st.bytes ? len : o->st.bytes;
    }
    o->st.forwarded++;
    /* The counts found at the start are estimates (damage may have taken records): once the
     * forwarder has passed every record, nothing is held. */
    if (seq + 1 >= o->end_seq && !o->writing)
        o->st.windows = o->st.bytes = 0;
    /* What is left was appended after this one: its time bounds their age. */
    o->st.oldest_ms = o->st.windows ? time_ms : 0;
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
    x->a.status = status;
    x->a.seq = seq;
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
        o->writing -= rev->len;
        if (status == 0 && rev->seq >= o->end_seq)
            o->end_seq = rev->seq + 1;
        free(rev); /* the first member of its append_arg */
        done(ctx, status);
        rev = n;
    }
}

static void on_async(uv_async_t *h)
{
    struct outbox *o = h->data;
    drain(o);
    feed_kick(o->feed);
}

int outbox_append(struct outbox *o, const uint8_t *bytes, size_t len, uint32_t events,
                  relay_done_fn done, void *ctx)
{
    if (o->closing)
        return -EPIPE;
    if (o->st.bytes + len + HEADER > o->max_bytes)
        return -ENOSPC;
    if (o->writing + len + HEADER > MAX_WRITING)
        return -EAGAIN; /* the disk is behind: block rather than stall the loop */
    struct append_arg *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    uint8_t head[HEADER] = {(uint8_t)(events >> 24), (uint8_t)(events >> 16),
                            (uint8_t)(events >> 8), (uint8_t)events};
    x->a.done = done;
    x->a.ctx = ctx;
    x->a.len = len + HEADER;
    x->o = o;
    /* The window goes straight into the journal's queue: one copy. */
    struct iovec iov[2] = {{.iov_base = head, .iov_len = HEADER},
                           {.iov_base = (void *)bytes, .iov_len = len}};
    int rc = journal_appendv(o->j, iov, 2, on_written, x);
    if (rc < 0) {
        free(x);
        return rc;
    }
    o->writing += len + HEADER;
    o->st.windows++;
    o->st.bytes += len + HEADER;
    o->st.spilled++;
    if (!o->st.oldest_ms)
        o->st.oldest_ms = clock_now_ms();
    return 0;
}

bool outbox_fits(const struct outbox *o, size_t windows, uint64_t bytes)
{
    uint64_t more = bytes + (uint64_t)windows * HEADER;
    return !o->closing && o->st.bytes + more <= o->max_bytes && o->writing + more <= MAX_WRITING;
}

bool outbox_holding(const struct outbox *o)
{
    return o->writing > 0 || feed_position(o->feed) < o->end_seq;
}

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out)
{
    *out = o->st;
}

/* ---- Opening and closing ---- */

/* What the outbox holds from POS on, without reading it through: the windows numbered from POS
 * to the journal's next sequence number, their bytes as the segment files that hold them (with
 * the records' headers, and the first file's records below POS: at most a segment too many until
 * the forwarder has passed them all), and when the first of them was appended. */
static int count_held(struct outbox *o, uint64_t pos)
{
    struct journal_stats js;
    journal_get_stats(o->j, &js);
    o->end_seq = js.next_seq;
    if (js.next_seq <= pos)
        return 0;
    o->st.windows = js.next_seq - pos;
    char jdir[1200];
    journal_dir_of(o->dir, jdir, sizeof(jdir));
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(jdir, &segs, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && segs[i + 1].first_seq <= pos)
            continue; /* every record of it is below POS */
        o->st.bytes += segs[i].bytes;
    }
    free(segs);
    struct journal_reader *rd;
    rc = journal_reader_open(&rd, o->dir, pos);
    if (rc < 0)
        return rc;
    struct journal_record rec;
    rc = journal_reader_next(rd, &rec);
    if (rc > 0)
        o->st.oldest_ms = rec.time_ms;
    journal_reader_close(rd);
    return rc < 0 ? rc : 0;
}

int outbox_open(struct outbox **out, uv_loop_t *loop, const char *dir, uint64_t max_bytes,
                unsigned sync_ms, struct relay *r)
{
    *out = NULL;
    struct outbox *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->loop = loop;
    o->max_bytes = max_bytes;
    snprintf(o->dir, sizeof(o->dir), "%s", dir);
    struct journal_opts jo;
    journal_opts_default(&jo);
    jo.sync_interval_ms = sync_ms;
    jo.compress_sealed = false; /* windows are compressed already */
    jo.retention_bytes = 1;     /* every sealed segment the feed has passed goes */
    jo.unchained = true;        /* CRCs guard it; no chain hash over every window */
    /* While no next hop is up the outbox is written, not read: its pages need not stay cached
     * (the forwarder reads the last 16 MiB, which it follows closely, from the cache). */
    jo.drop_cache_behind = (uint64_t)16 << 20;
    int rc = journal_open(&o->j, dir, &jo, NULL);
    if (rc < 0)
        goto fail;
    struct cursor *c;
    rc = cursor_open(&c, dir, CURSOR_NAME);
    if (rc < 0)
        goto fail;
    uint64_t from = cursor_get(c);
    cursor_close(c);
    rc = count_held(o, from);
    if (rc < 0)
        goto fail;
    if (o->st.windows)
        log_info("relay",
                 "outbox %s holds %" PRIu64 " windows (%" PRIu64 " bytes): sending them on first",
                 dir, o->st.windows, o->st.bytes);
    struct feed_ops ops = {.window = record_window, .acked = record_acked, .arg = o};
    rc = feed_open(&o->feed, loop, dir, CURSOR_NAME, r, &ops, "outbox");
    if (rc < 0)
        goto fail;
    pthread_mutex_init(&o->mu, NULL);
    uv_async_init(loop, &o->async, on_async);
    o->async.data = o;
    *out = o;
    return 0;
fail:
    journal_close(o->j);
    free(o);
    return rc;
}

static void on_closed(uv_handle_t *h)
{
    struct outbox *o = h->data;
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
    feed_close(o->feed);
    journal_close(o->j); /* every append completes (on_written, without a wake-up) */
    o->j = NULL;
    drain(o);
    uv_close((uv_handle_t *)&o->async, on_closed);
}
