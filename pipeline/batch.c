#include "pipeline/batch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "pipeline/prefilter.h"

static void batch_work_run(struct work *w, struct worker_ctx *ctx)
{
    batch_run((struct batch *)w, ctx);
}

struct batch *batch_new(enum batch_kind kind, uint8_t *data, size_t len, json_t *source,
                        const struct lj_limits *limits, const struct alert_sink *sink)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b) {
        free(data);
        json_decref(source);
        return NULL;
    }
    b->work.run = batch_work_run;
    b->kind = kind;
    b->data = data;
    b->len = len;
    b->source = source;
    b->limits = limits;
    b->sink = sink;
    atomic_init(&b->pending, 0);
    return b;
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    free(b->data);
    json_decref(b->source);
    free(b);
}

static void fail(struct batch *b, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct batch *b, int status, const char *fmt, ...)
{
    if (b->status)
        return; /* the first error is the one reported */
    b->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->error, sizeof(b->error), fmt, ap);
    va_end(ap);
}

static void release(struct batch *b)
{
    if (atomic_fetch_sub(&b->pending, 1) == 1 && b->complete)
        b->complete(b);
}

void batch_alert_durable(struct batch *b, int status)
{
    if (status < 0)
        fail(b, status, "an alert could not be written to the journal: %s", strerror(-status));
    release(b);
}

static void handle_event(struct batch *b, struct worker_ctx *ctx, const char *ev, size_t len)
{
    json_t *alert = NULL;
    int rc = detector_run(&ctx->det, ev, len, b->source, clock_now_ms(), &alert);
    if (rc == -EBADMSG || rc == -EMSGSIZE) {
        /* A malformed event inside well-formed framing: counted, and the window goes on, as
         * Logstash does; it cannot carry an alert anyway. */
        log_debug("pipeline", "malformed event skipped: %s", ctx->det.error);
        return;
    }
    if (rc < 0) {
        fail(b, rc, "detection failed: %s", strerror(-rc));
        return;
    }
    if (rc == 0)
        return;
    char *text = json_dumps(alert, JSON_COMPACT);
    json_decref(alert);
    if (!text) {
        fail(b, -ENOMEM, "out of memory building an alert");
        return;
    }
    b->alerts++;
    if (!b->sink) {
        free(text);
        return;
    }
    atomic_fetch_add(&b->pending, 1);
    rc = b->sink->emit(b->sink->ctx, text, strlen(text), b);
    free(text);
    if (rc < 0) {
        fail(b, rc, "the alert sink refused an alert: %s", strerror(-rc));
        release(b);
    }
}

struct pairs_ctx {
    json_t *obj;
    bool bad;
};

static int add_pair(void *vctx, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    struct pairs_ctx *c = vctx;
    json_t *val = json_stringn((const char *)v, vl);
    if (!val || json_object_setn_new(c->obj, (const char *)k, kl, val) != 0)
        c->bad = true;
    return 0;
}

/* A v1 data frame: its pairs become one JSON object (every value a string). */
static void handle_pairs(struct batch *b, struct worker_ctx *ctx, const struct lj_frame *f)
{
    ctx->det.stats.events++;
    if (!prefilter_candidate((const char *)f->payload, f->payload_len))
        return;
    ctx->det.stats.events--; /* detector_run counts it again */
    struct pairs_ctx pc = {.obj = json_object()};
    if (!pc.obj) {
        fail(b, -ENOMEM, "out of memory");
        return;
    }
    lj_each_pair(f, add_pair, &pc);
    char *text = pc.bad ? NULL : json_dumps(pc.obj, JSON_COMPACT);
    json_decref(pc.obj);
    if (!text) {
        ctx->det.stats.events++;
        ctx->det.stats.malformed++;
        return;
    }
    handle_event(b, ctx, text, strlen(text));
    free(text);
}

static void walk(struct batch *b, struct worker_ctx *ctx, const uint8_t *p, size_t n, int depth)
{
    size_t off = 0;
    while (off < n && b->status == 0) {
        struct lj_frame f;
        long used = lj_decode(p + off, n - off, b->limits, false, &f);
        if (used == -EAGAIN) {
            fail(b, -EBADMSG, "%s ends inside a frame",
                 depth ? "a compressed frame" : "the window");
            return;
        }
        if (used == -EMSGSIZE) {
            fail(b, -EMSGSIZE, "a frame inside the window is over a limit");
            return;
        }
        if (used < 0) {
            char why[120];
            lj_describe_garbage(p + off, n - off, why, sizeof(why));
            fail(b, -EBADMSG, "inside the window: %s", why);
            return;
        }
        off += (size_t)used;
        switch (f.type) {
        case LJ_JSON:
            b->frames++;
            if (f.seq > b->last_seq)
                b->last_seq = f.seq;
            handle_event(b, ctx, (const char *)f.payload, f.payload_len);
            break;
        case LJ_DATA:
            b->frames++;
            if (f.seq > b->last_seq)
                b->last_seq = f.seq;
            handle_pairs(b, ctx, &f);
            break;
        case LJ_WINDOW:
            break; /* a window frame inside compressed data changes nothing here */
        case LJ_COMPRESSED: {
            if (depth >= 1) {
                fail(b, -EBADMSG, "compressed frames nested more than once");
                return;
            }
            /* The worker's inflater holds the outer data: the rare nested frame gets its own. */
            struct inflater *z = inflater_new(b->limits->max_compressed * 16u, 1000);
            const uint8_t *out;
            size_t outlen;
            int rc = z ? inflater_run(z, f.payload, f.payload_len, &out, &outlen) : -ENOMEM;
            if (rc == 0)
                walk(b, ctx, out, outlen, depth + 1);
            else
                fail(b, rc, "nested compressed frame: %s", strerror(-rc));
            inflater_free(z);
            break;
        }
        default:
            fail(b, -EBADMSG, "unexpected frame type 0x%02x in a window", f.type);
            return;
        }
    }
}

void batch_run(struct batch *b, struct worker_ctx *ctx)
{
    atomic_store(&b->pending, 1);
    switch (b->kind) {
    case BATCH_BEATS_COMPRESSED: {
        const uint8_t *out;
        size_t outlen;
        int rc = inflater_run(ctx->inflater, b->data, b->len, &out, &outlen);
        if (rc == -EMSGSIZE)
            fail(b, rc, "compressed frame inflates past the limit (%u bytes compressed)",
                 (unsigned)b->len);
        else if (rc < 0)
            fail(b, rc, "broken zlib stream in a compressed frame");
        else
            walk(b, ctx, out, outlen, 0);
        break;
    }
    case BATCH_BEATS_FRAMES:
        walk(b, ctx, b->data, b->len, 0);
        break;
    case BATCH_LINES: {
        const char *p = (const char *)b->data, *end = p + b->len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (len) {
                b->frames++;
                handle_event(b, ctx, p, len);
            }
            p += len + 1;
        }
        break;
    }
    }
    release(b);
}
