/* A journal sent on through the relay from a cursor (relay/feed.h). */
#include "relay/feed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/cursor.h"

#define IN_RELAY     8u    /* records of the feed in the relay at once */
#define CURSOR_EVERY 64u   /* store the cursor after this many records acknowledged... */
#define CURSOR_MS    1000u /* ...or this long after the last store */
#define TICK_MS      250u
#define WINDOW_MAX   ((size_t)1 << 30)

/* A record in the relay. */
struct sent {
    struct sent *next;
    struct feed *f;
    uint64_t seq;
    size_t len;
    int64_t time_ms;
    bool acked;
};

struct feed {
    uv_loop_t *loop;
    struct relay *relay;
    struct feed_ops ops;
    char dir[1024];
    char what[64];
    struct cursor *cur;
    struct journal_reader *rd;
    uint64_t reader_next; /* the sequence number the reader hands out next */
    uint64_t stored;      /* the cursor's position on disk */
    uint64_t stored_ms;
    struct sent *head, *tail; /* in the relay, in sequence order */
    size_t nsent;
    uv_timer_t tick;
    bool closing;
};

static void pump(struct feed *f);

static void store_cursor(struct feed *f, bool now)
{
    uint64_t pos = feed_position(f);
    if (pos <= f->stored)
        return;
    uint64_t ms = uv_now(f->loop);
    if (!now && pos - f->stored < CURSOR_EVERY && ms - f->stored_ms < CURSOR_MS)
        return;
    int rc = cursor_set(f->cur, pos);
    if (rc < 0) {
        log_warn("relay",
                 "%s: cannot store its position: %s (records from %" PRIu64
                 " may be sent again after a restart)",
                 f->what, strerror(-rc), f->stored);
        return;
    }
    f->stored = pos;
    f->stored_ms = ms;
}

static void acknowledged(void *ctx, int status)
{
    struct sent *s = ctx;
    struct feed *f = s->f;
    if (status != 0)
        return; /* the relay stopped: the record goes again at the next start */
    s->acked = true;
    /* The cursor moves over the records acknowledged in order. */
    while (f->head && f->head->acked) {
        struct sent *h = f->head;
        f->head = h->next;
        if (!f->head)
            f->tail = NULL;
        f->nsent--;
        if (f->ops.acked)
            f->ops.acked(f->ops.arg, h->seq, h->len, h->time_ms);
        free(h);
    }
    store_cursor(f, false);
    pump(f);
}

/* Takes the last record sent back out of the flight. */
static void drop_tail(struct feed *f)
{
    struct sent *prev = NULL, *s = f->head;
    while (s && s->next) {
        prev = s;
        s = s->next;
    }
    if (!s)
        return;
    if (prev)
        prev->next = NULL;
    else
        f->head = NULL;
    f->tail = prev;
    f->nsent--;
    free(s);
}

static void pump(struct feed *f)
{
    /* While no next hop is up, the records stay on disk (the relay's queue is memory). */
    while (!f->closing && f->rd && relay_up(f->relay) && f->nsent < IN_RELAY) {
        struct journal_record rec;
        int rc = journal_reader_next(f->rd, &rec);
        if (rc <= 0) {
            if (rc < 0)
                log_warn("relay", "%s: cannot read %s: %s", f->what, f->dir, strerror(-rc));
            return;
        }
        struct sent *s = calloc(1, sizeof(*s));
        struct buf win;
        buf_init(&win, WINDOW_MAX);
        uint32_t events = 0;
        rc = s ? f->ops.window(f->ops.arg, &rec, &win, &events) : -ENOMEM;
        if (rc == -ENOMEM) {
            /* Read it again once there is memory: reopen at the next tick. */
            free(s);
            buf_free(&win);
            journal_reader_close(f->rd);
            f->rd = NULL;
            return;
        }
        f->reader_next = rec.seq + 1;
        s->f = f;
        s->seq = rec.seq;
        s->len = rec.len;
        s->time_ms = rec.time_ms;
        if (f->tail)
            f->tail->next = s;
        else
            f->head = s;
        f->tail = s;
        f->nsent++;
        if (rc < 0 || win.len == 0) {
            log_warn("relay", "%s: record %" PRIu64 " cannot go on (%s); skipped", f->what, rec.seq,
                     rc < 0 ? strerror(-rc) : "empty");
            buf_free(&win);
            acknowledged(s, 0);
            continue;
        }
        if (relay_send(f->relay, (uint8_t *)win.data, win.len, events, acknowledged, s) < 0) {
            /* Out of memory: the record leaves the flight (it would hold the cursor back for
             * good) and is read again, reopening at the next tick. */
            buf_free(&win);
            drop_tail(f);
            f->reader_next = rec.seq;
            journal_reader_close(f->rd);
            f->rd = NULL;
            return;
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    struct feed *f = t->data;
    if (!f->rd && journal_reader_open(&f->rd, f->dir, f->reader_next) < 0)
        return;
    store_cursor(f, false);
    pump(f);
}

int feed_open(struct feed **out, uv_loop_t *loop, const char *data_dir, const char *name,
              struct relay *r, const struct feed_ops *ops, const char *what)
{
    *out = NULL;
    struct feed *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->loop = loop;
    f->relay = r;
    f->ops = *ops;
    snprintf(f->dir, sizeof(f->dir), "%s", data_dir);
    snprintf(f->what, sizeof(f->what), "%s", what);
    int rc = cursor_open(&f->cur, data_dir, name);
    if (rc < 0) {
        free(f);
        return rc;
    }
    f->stored = f->reader_next = cursor_get(f->cur);
    rc = journal_reader_open(&f->rd, data_dir, f->reader_next);
    if (rc < 0) {
        cursor_close(f->cur);
        free(f);
        return rc;
    }
    uv_timer_init(loop, &f->tick);
    f->tick.data = f;
    uv_timer_start(&f->tick, on_tick, TICK_MS, TICK_MS);
    *out = f;
    pump(f);
    return 0;
}

void feed_kick(struct feed *f)
{
    pump(f);
}

uint64_t feed_position(const struct feed *f)
{
    return f->head ? f->head->seq : f->reader_next;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void feed_close(struct feed *f)
{
    if (!f)
        return;
    f->closing = true;
    store_cursor(f, true);
    journal_reader_close(f->rd);
    cursor_close(f->cur);
    struct sent *s = f->head;
    while (s) {
        struct sent *n = s->next;
        free(s);
        s = n;
    }
    uv_close((uv_handle_t *)&f->tick, on_closed);
}
