#include "pipeline/batch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "pipeline/prefilter.h"
#include "pipeline/syslog_event.h"
#include "protocol/syslog.h"

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
    b->inflate_room = SIZE_MAX;
    atomic_init(&b->pending, 0);
    atomic_init(&b->journal_status, 0);
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
    if (atomic_fetch_sub(&b->pending, 1) != 1)
        return;
    /* The last release: every other thread is done with B, so its fields can be written. */
    int js = atomic_load(&b->journal_status);
    if (js < 0)
        fail(b, js, "an alert could not be written to the journal: %s", strerror(-js));
    if (b->handoff)
        b->handoff->post(b->handoff->ctx, b);
    else
        batch_complete(b);
}

void batch_alert_durable(struct batch *b, int status)
{
    /* Runs on the sink's thread while a worker may still walk B: record, do not touch STATUS. */
    if (status < 0) {
        int none = 0;
        atomic_compare_exchange_strong(&b->journal_status, &none, status);
    }
    release(b);
}

/* What the detection made of one event: a malformed one is skipped, an alert goes to the sink. */
static void take_result(struct batch *b, struct worker_ctx *ctx, int rc, json_t *alert)
{
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

/* One event as JSON text (a J frame, a line). */
static void handle_event(struct batch *b, struct worker_ctx *ctx, const char *ev, size_t len)
{
    json_t *alert = NULL;
    int rc = detector_run(&ctx->det, ev, len, b->source, -1, &alert);
    take_result(b, ctx, rc, alert);
}

/* One event already parsed (v1 pairs, a syslog message's Windows event) whose bytes passed the
 * prefilter. */
static void handle_doc(struct batch *b, struct worker_ctx *ctx, const json_t *doc,
                       const json_t *source)
{
    json_t *alert = NULL;
    int rc = detector_run_doc(&ctx->det, doc, source, -1, &alert);
    take_result(b, ctx, rc, alert);
}

int batch_syslog_append(struct buf *out, const char *peer, const char *msg, size_t len,
                        unsigned flags)
{
    size_t plen = peer ? strlen(peer) : 0;
    if (plen > 255)
        plen = 255;
    uint8_t h[6] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                    (uint8_t)len,         (uint8_t)flags,       (uint8_t)plen};
    int rc = buf_reserve(out, sizeof(h) + plen + len);
    if (rc < 0)
        return rc;
    buf_append(out, h, sizeof(h));
    buf_append(out, peer, plen);
    return buf_append(out, msg, len);
}

/* One syslog message, a candidate already (the submitter ran syslog_event_candidate on it):
 * parsing, the Windows payload mapping and the rule; the alert's source names the peer and the
 * syslog header. */
static void handle_syslog(struct batch *b, struct worker_ctx *ctx, const char *peer,
                          const char *raw, size_t len, unsigned flags)
{
    struct syslog_msg m;
    syslog_parse(raw, len, clock_now_ms(), &m);
    json_t *doc = NULL;
    enum syslog_payload kind = SYSLOG_PAYLOAD_NONE;
    if (syslog_event_from_msg(&m, &doc, &kind) < 0 || !doc) {
        detector_skip(&ctx->det);
        ctx->det.stats.malformed++;
        return;
    }
    struct syslog_origin origin = {.peer = peer ? peer : (b->peer[0] ? b->peer : NULL),
                                   .transport = b->transport[0] ? b->transport : NULL,
                                   .frame_flags = flags};
    json_t *source = syslog_event_source(&origin, &m, raw, len, kind);
    /* What the owner knows about the connection (the TLS peer) joins each message's source. */
    if (source && b->source)
        json_object_update_missing(source, b->source);
    handle_doc(b, ctx, doc, source);
    json_decref(doc);
    json_decref(source);
}

struct pairs_ctx {
    json_t *obj;
    bool bad;
    bool forwarded; /* every key is one a forwarder sends beside `line` */
    const uint8_t *line;
    uint32_t line_len;
};

static bool key_is(const uint8_t *k, uint32_t kl, const char *name)
{
    return kl == strlen(name) && memcmp(k, name, kl) == 0;
}

static int add_pair(void *vctx, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    struct pairs_ctx *c = vctx;
    if (key_is(k, kl, "line")) {
        c->line = v;
        c->line_len = vl;
    } else if (!key_is(k, kl, "host") && !key_is(k, kl, "file") && !key_is(k, kl, "offset")) {
        c->forwarded = false;
    }
    json_t *val = json_stringn((const char *)v, vl);
    if (!val || json_object_setn_new(c->obj, (const char *)k, kl, val) != 0)
        c->bad = true;
    return 0;
}

/* Logstash's lumberjack output and logstash-forwarder send each event as a `line` pair (with the
 * forwarder's `host`, `file` and `offset`); with `codec => json` the line is the whole event. A
 * line holding a JSON object is matched as that object; any other line stays a line. NULL when
 * the pairs are not such an event. */
static json_t *forwarded_event(const struct pairs_ctx *c)
{
    if (!c->forwarded || !c->line)
        return NULL;
    size_t i = 0;
    while (i < c->line_len && (c->line[i] == ' ' || c->line[i] == '\t'))
        i++;
    if (i == c->line_len || c->line[i] != '{')
        return NULL;
    json_t *doc = json_loadb((const char *)c->line, c->line_len, JSON_ALLOW_NUL, NULL);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* A v1 data frame: its pairs become one JSON object (every value a string). */
static void handle_pairs(struct batch *b, struct worker_ctx *ctx, const struct lj_frame *f)
{
    if (!prefilter_candidate((const char *)f->payload, f->payload_len)) {
        detector_skip(&ctx->det);
        return;
    }
    struct pairs_ctx pc = {.obj = json_object(), .forwarded = true};
    if (!pc.obj) {
        fail(b, -ENOMEM, "out of memory");
        return;
    }
    lj_each_pair(f, add_pair, &pc);
    if (pc.bad) {
        json_decref(pc.obj);
        detector_skip(&ctx->det);
        ctx->det.stats.malformed++;
        return;
    }
    json_t *event = forwarded_event(&pc);
    handle_doc(b, ctx, event ? event : pc.obj, b->source);
    json_decref(event);
    json_decref(pc.obj);
}

static void walk(struct batch *b, struct worker_ctx *ctx, const uint8_t *p, size_t n, int depth);

/* A compressed frame inside a compressed frame: it obeys the same limits as any other
 * (beats.max-inflated, beats.max-ratio), and its output must also fit the room the owner left it
 * in the memory budgets (INFLATE_ROOM), since the worker's inflater still holds the outer data. */
static void nested(struct batch *b, struct worker_ctx *ctx, const struct lj_frame *f, int depth)
{
    size_t max_out = ctx->max_inflated ? ctx->max_inflated : WORKERS_DEFAULT_MAX_INFLATED;
    unsigned ratio = ctx->max_ratio ? ctx->max_ratio : WORKERS_DEFAULT_MAX_RATIO;
    char why[48] = "beats.max-inflated";
    if (b->inflate_room < max_out) {
        max_out = b->inflate_room;
        snprintf(why, sizeof(why), "the room left in the memory budgets");
    }
    if (f->payload_len <= max_out / ratio) {
        max_out = (size_t)f->payload_len * ratio;
        snprintf(why, sizeof(why), "beats.max-ratio %u", ratio);
    }
    struct inflater *z = max_out ? inflater_new(max_out, ratio) : NULL;
    const uint8_t *out;
    size_t outlen;
    int rc = !max_out ? -EMSGSIZE
             : z      ? inflater_run(z, f->payload, f->payload_len, &out, &outlen)
                      : -ENOMEM;
    if (rc == 0) {
        b->nested_inflated += outlen;
        walk(b, ctx, out, outlen, depth + 1);
    } else if (rc == -EMSGSIZE) {
        fail(b, rc,
             "a nested compressed frame (%u bytes) inflates past its limit of %zu bytes (%s)",
             (unsigned)f->payload_len, max_out, why);
    } else if (rc == -EBADMSG) {
        fail(b, rc, "broken zlib stream in a nested compressed frame");
    } else {
        fail(b, rc, "nested compressed frame: %s", strerror(-rc));
    }
    inflater_free(z);
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
            nested(b, ctx, &f, depth);
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
    case BATCH_SYSLOG: {
        size_t off = 0;
        while (off + 6 <= b->len) {
            const uint8_t *h = b->data + off;
            size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
            size_t plen = h[5];
            if (plen + len > b->len - off - 6)
                break; /* cannot happen: the loop wrote it */
            char peer[256];
            memcpy(peer, h + 6, plen);
            peer[plen] = '\0';
            b->frames++;
            handle_syslog(b, ctx, plen ? peer : NULL, (const char *)h + 6 + plen, len, h[4]);
            off += 6 + plen + len;
        }
        break;
    }
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
