#include "protocol/beats_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct beats_window {
    struct beats_window *next;
    uint8_t version;
    uint32_t size;        /* from the W frame */
    uint32_t cut;         /* bare data frames cut for it */
    uint32_t received;    /* data frames its completed units held */
    uint32_t last_seq;    /* the highest sequence number among them */
    uint32_t outstanding; /* units not yet complete */
    bool closed;          /* no more frames will come for it */
    uint64_t started_ms;
};

struct beats_session {
    struct beats_session_config cfg;
    struct beats_window *head, *tail, *cur; /* CUR: the window frames go to (NULL once ACKed) */
    size_t windows;
    size_t in_flight;
    uint32_t v1_window; /* v1: the window size announced, kept for the frames after an ACK */
    uint64_t last_write_ms;
    int status;
    char error[200];
};

struct beats_session *beats_session_new(const struct beats_session_config *cfg, uint64_t now_ms)
{
    struct beats_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->last_write_ms = now_ms;
    return s;
}

void beats_session_free(struct beats_session *s)
{
    if (!s)
        return;
    struct beats_window *w = s->head;
    while (w) {
        struct beats_window *n = w->next;
        free(w);
        w = n;
    }
    free(s);
}

static int fail(struct beats_session *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct beats_session *s, int status, const char *fmt, ...)
{
    if (s->status)
        return s->status;
    s->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
    return status;
}

/* Bytes lj_decode refused: a length over a limit (naming the limits), or what they look like. */
static int fail_decode(struct beats_session *s, long rc, const uint8_t *p, size_t n)
{
    if (rc == -EMSGSIZE) {
        const struct lj_limits *l = &s->cfg.limits;
        uint8_t type = n > 1 ? p[1] : '?';
        return fail(s, -EMSGSIZE,
                    "a '%c' frame is over its limit (window %u, JSON %u bytes, "
                    "compressed %u bytes, %u pairs, %u-byte items)",
                    type, l->max_window, l->max_json, l->max_compressed, l->max_pairs, l->max_item);
    }
    char what[140];
    lj_describe_garbage(p, n, what, sizeof(what));
    return fail(s, -EBADMSG, "%s", what);
}

static struct beats_window *open_window(struct beats_session *s, uint8_t version, uint32_t size,
                                        uint64_t now_ms)
{
    struct beats_window *w = calloc(1, sizeof(*w));
    if (!w) {
        fail(s, -ENOMEM, "out of memory");
        return NULL;
    }
    if (s->cur)
        s->cur->closed = true; /* a new window closes the partial one */
    w->version = version;
    w->size = size;
    w->closed = size == 0;
    w->started_ms = now_ms;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    s->cur = w;
    s->windows++;
    return w;
}

static long hand_on(struct beats_session *s, struct beats_step *step, enum beats_unit_kind kind,
                    const uint8_t *data, size_t len, long consumed)
{
    step->event = BEATS_UNIT;
    step->kind = kind;
    step->data = data;
    step->len = len;
    step->version = s->cur->version;
    step->window = s->cur;
    s->cur->outstanding++;
    s->in_flight++;
    return consumed;
}

long beats_session_input(struct beats_session *s, const uint8_t *p, size_t n, uint64_t now_ms,
                         struct beats_step *step)
{
    memset(step, 0, sizeof(*step));
    if (s->status)
        return s->status;
    /* A run of bare data frames of the current window: handed on as one unit where it ends. */
    size_t off = 0;
    bool run = false;
    while (off < n) {
        struct lj_frame f;
        long len = lj_decode(p + off, n - off, &s->cfg.limits, false, &f);
        if (len == -EAGAIN) {
            if (run)
                break;
            step->need = f.frame_len;
            return 0;
        }
        if (len < 0)
            return fail_decode(s, len, p + off, n - off);
        switch (f.type) {
        case LJ_WINDOW:
            if (run)
                goto end_run;
            if (!open_window(s, f.version, f.window, now_ms))
                return s->status;
            if (f.version == LJ_V1)
                s->v1_window = f.window;
            step->event = BEATS_WINDOW_OPENED;
            step->version = f.version;
            step->window = s->cur;
            return len;
        case LJ_COMPRESSED:
            if (run)
                goto end_run;
            if (!s->cur)
                return fail(s, -EBADMSG, "a compressed frame before any window frame");
            return hand_on(s, step, BEATS_UNIT_COMPRESSED, f.payload, f.payload_len, len);
        case LJ_JSON:
        case LJ_DATA:
            /* A v1 sender may announce its window once per connection and go on sending (the
             * original Lumberjack server ACKs every window-size frames): a full window is
             * followed by another of the same size. */
            if (f.version == LJ_V1 && s->v1_window && (!s->cur || s->cur->closed)) {
                if (run)
                    goto end_run;
                if (!open_window(s, LJ_V1, s->v1_window, now_ms))
                    return s->status;
                step->event = BEATS_WINDOW_OPENED;
                step->version = LJ_V1;
                step->window = s->cur;
                return 0;
            }
            if (!s->cur)
                return fail(s, -EBADMSG, "a data frame before any window frame");
            run = true;
            off += (size_t)len;
            if (++s->cur->cut >= s->cur->size) {
                s->cur->closed = true;
                goto end_run;
            }
            continue;
        default:
            return fail(s, -EBADMSG, "unexpected frame");
        }
    }
    if (!run)
        return 0; /* no bytes at all */
end_run:
    return hand_on(s, step, BEATS_UNIT_FRAMES, p, off, (long)off);
}

int beats_session_complete(struct beats_session *s, struct beats_window *w, uint32_t frames,
                           uint32_t last_seq, int status, const char *error)
{
    s->in_flight--;
    w->outstanding--;
    w->received += frames;
    if (last_seq > w->last_seq)
        w->last_seq = last_seq;
    if (status)
        /* A window that cannot be matched is never acknowledged. */
        return fail(s, status < 0 ? status : -EIO, "%s", error && error[0] ? error : "failed");
    return s->status;
}

bool beats_window_whole(const struct beats_window *w)
{
    return w->closed || w->received >= w->size;
}

uint32_t beats_window_size(const struct beats_window *w)
{
    return w->size;
}

uint8_t beats_window_version(const struct beats_window *w)
{
    return w->version;
}

void beats_session_hold(struct beats_session *s, struct beats_window *w)
{
    w->outstanding++;
    s->in_flight++;
}

void beats_session_seal(struct beats_session *s, struct beats_window *w)
{
    w->closed = true;
    if (s->cur == w)
        s->cur = NULL;
}

static bool finished(const struct beats_window *w)
{
    return !w->outstanding && (w->closed || w->received >= w->size);
}

int beats_session_acks(struct beats_session *s, struct buf *out, uint64_t now_ms)
{
    int acks = 0;
    while (!s->status && s->head && finished(s->head)) {
        struct beats_window *w = s->head;
        int rc = lj_encode_ack(out, w->version, w->last_seq);
        if (rc < 0)
            return acks ? acks : rc; /* the rest wait for the next call */
        s->last_write_ms = now_ms;
        if (s->cfg.ack_seconds)
            histogram_observe_ns(s->cfg.ack_seconds,
                                 now_ms > w->started_ms ? (now_ms - w->started_ms) * 1000000u : 0);
        acks++;
        s->head = w->next;
        if (!s->head)
            s->tail = NULL;
        if (s->cur == w)
            s->cur = NULL;
        s->windows--;
        free(w);
    }
    return s->status ? s->status : acks;
}

int beats_session_tick(struct beats_session *s, uint64_t now_ms, uint64_t held_since_ms,
                       struct buf *out)
{
    if (s->status)
        return s->status;
    if (!s->head)
        return 0;
    /* A window held back by something else than the sender (a full disk) is not stalled: the
     * sender waits, it does not resend. */
    uint64_t since = s->head->started_ms > held_since_ms ? s->head->started_ms : held_since_ms;
    if (now_ms >= since && now_ms - since >= s->cfg.keepalive_max_ms)
        return fail(s, -ETIMEDOUT,
                    "a window stayed in flight past beats.keepalive-max; the client will "
                    "resend it");
    if (s->head->version != LJ_V2 || now_ms < s->last_write_ms ||
        now_ms - s->last_write_ms < s->cfg.keepalive_ms)
        return 0;
    int rc = lj_encode_ack(out, LJ_V2, 0);
    if (rc < 0)
        return rc;
    s->last_write_ms = now_ms;
    return 1;
}

size_t beats_session_windows(const struct beats_session *s)
{
    return s->windows;
}

size_t beats_session_in_flight(const struct beats_session *s)
{
    return s->in_flight;
}

const char *beats_session_error(const struct beats_session *s)
{
    return s->error;
}
