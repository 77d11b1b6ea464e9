/* Batches run on the calling thread: Beats windows with compressed frames nested in compressed
 * frames, which obey the worker's limits (beats.max-inflated, beats.max-ratio) and the room the
 * owner left in its memory budgets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "pipeline/batch.h"
#include "protocol/lumberjack.h"

#define HIT                                                                                        \
    "{\"host\":{\"os\":{\"type\":\"windows\"}},\"event\":{\"category\":[\"registry\"],"            \
    "\"type\":[\"change\"]},\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":[\"0\"]}" \
    "}}"

#define BUF_MAX ((size_t)1 << 30)

struct run {
    struct lj_limits limits;
    struct worker_ctx ctx;
};

static void run_init(struct run *r, size_t max_inflated, unsigned max_ratio)
{
    memset(r, 0, sizeof(*r));
    lj_limits_default(&r->limits);
    detector_init(&r->ctx.det, PROFILE_ELASTIC, true, DETECT_DEFAULT_MAX_EVENT);
    r->ctx.max_inflated = max_inflated;
    r->ctx.max_ratio = max_ratio;
    r->ctx.inflater = inflater_new(max_inflated, max_ratio);
    cr_assert_not_null(r->ctx.inflater);
}

/* J frames: the hit event, then one more event of about PAD bytes: a string of blocks of 1000
 * spaces and 8 pseudo-random hex digits, which zlib compresses about 118 to 1 (between the
 * ratios the tests set and the default 1000). */
static void inner_frames(struct buf *out, size_t pad)
{
    cr_assert_eq(lj_encode_json(out, 1, HIT, (uint32_t)strlen(HIT)), 0);
    char *big = malloc(pad + 16);
    cr_assert_not_null(big);
    size_t n = 0;
    n += (size_t)sprintf(big, "{\"pad\":\"");
    uint32_t x = 12345;
    while (n < pad) {
        size_t k = pad - n < 1000 ? pad - n : 1000;
        memset(big + n, ' ', k);
        n += k;
        x = x * 1664525u + 1013904223u;
        n += (size_t)sprintf(big + n, "%08x", (unsigned)x);
    }
    n += (size_t)sprintf(big + n, "\"}");
    cr_assert_eq(lj_encode_json(out, 2, big, (uint32_t)n), 0);
    free(big);
}

/* The payload of an outer C frame (what the loop hands over as BATCH_BEATS_COMPRESSED) whose
 * inflated bytes are one C frame holding INNER compressed. */
static struct batch *nested_batch(const struct run *r, const struct buf *inner)
{
    struct buf mid, outer;
    buf_init(&mid, BUF_MAX);
    buf_init(&outer, BUF_MAX);
    cr_assert_eq(lj_encode_compressed(&mid, LJ_V2, inner->data, inner->len, 9), 0);
    cr_assert_eq(lj_encode_compressed(&outer, LJ_V2, mid.data, mid.len, 9), 0);
    size_t len = outer.len - 6; /* the outer frame's header: version, 'C', u32 length */
    uint8_t *payload = malloc(len);
    cr_assert_not_null(payload);
    memcpy(payload, (const uint8_t *)outer.data + 6, len);
    buf_free(&mid);
    buf_free(&outer);
    struct batch *b = batch_new(BATCH_BEATS_COMPRESSED, payload, len, NULL, &r->limits, NULL);
    cr_assert_not_null(b);
    return b;
}

static struct batch *run_nested(struct run *r, size_t pad, size_t room)
{
    struct buf inner;
    buf_init(&inner, BUF_MAX);
    inner_frames(&inner, pad);
    struct batch *b = nested_batch(r, &inner);
    buf_free(&inner);
    if (room)
        b->inflate_room = room;
    batch_run(b, &r->ctx);
    return b;
}

static void run_fini(struct run *r)
{
    inflater_free(r->ctx.inflater);
}

Test(batch, a_nested_frame_within_the_limits_is_matched)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    struct batch *b = run_nested(&r, 100000, 0);
    cr_expect_eq(b->status, 0, "%s", b->error);
    cr_expect_eq(b->frames, 2);
    cr_expect_eq(b->last_seq, 2);
    cr_expect_eq(b->alerts, 1);
    cr_expect_geq(b->nested_inflated, 100000);
    batch_free(b);
    run_fini(&r);
}

Test(batch, a_nested_frame_obeys_max_inflated)
{
    /* 2 MiB inflated, ratio far under 1000, max-inflated 1 MiB: refused. */
    struct run r;
    run_init(&r, 1u << 20, 1000);
    struct batch *b = run_nested(&r, 2u << 20, 0);
    cr_expect_eq(b->status, -EMSGSIZE, "status %d: %s", b->status, b->error);
    cr_expect(strstr(b->error, "nested compressed frame") && strstr(b->error, "beats.max-inflated"),
              "%s", b->error);
    cr_expect_eq(b->alerts, 0);
    batch_free(b);
    /* Under the limit the same window passes. */
    b = run_nested(&r, 512u << 10, 0);
    cr_expect_eq(b->status, 0, "%s", b->error);
    batch_free(b);
    run_fini(&r);
}

Test(batch, a_nested_frame_obeys_max_ratio)
{
    /* The padding compresses about 118 to 1: max-ratio 50 refuses it in the nested frame as it
     * would outside. The outer frame is stored (level 0), so that only the nested one is over. */
    struct run r;
    run_init(&r, 64u << 20, 50);
    struct buf inner, mid, outer;
    buf_init(&inner, BUF_MAX);
    buf_init(&mid, BUF_MAX);
    buf_init(&outer, BUF_MAX);
    inner_frames(&inner, 1u << 20);
    cr_assert_eq(lj_encode_compressed(&mid, LJ_V2, inner.data, inner.len, 9), 0);
    cr_assert_eq(lj_encode_compressed(&outer, LJ_V2, mid.data, mid.len, 0), 0);
    size_t len = outer.len - 6;
    uint8_t *payload = malloc(len);
    cr_assert_not_null(payload);
    memcpy(payload, (const uint8_t *)outer.data + 6, len);
    struct batch *b = batch_new(BATCH_BEATS_COMPRESSED, payload, len, NULL, &r.limits, NULL);
    cr_assert_not_null(b);
    batch_run(b, &r.ctx);
    cr_expect_eq(b->status, -EMSGSIZE, "status %d: %s", b->status, b->error);
    cr_expect(strstr(b->error, "nested compressed frame") && strstr(b->error, "beats.max-ratio 50"),
              "%s", b->error);
    batch_free(b);
    buf_free(&inner);
    buf_free(&mid);
    buf_free(&outer);
    run_fini(&r);
}

Test(batch, a_nested_frame_fits_the_room_left_in_the_budgets)
{
    /* max-inflated allows 64 MiB, but the owner has only 256 KiB left in its budgets. */
    struct run r;
    run_init(&r, 64u << 20, 1000);
    struct batch *b = run_nested(&r, 1u << 20, 256u << 10);
    cr_expect_eq(b->status, -EMSGSIZE, "status %d: %s", b->status, b->error);
    cr_expect(strstr(b->error, "the room left in the memory budgets"), "%s", b->error);
    batch_free(b);
    b = run_nested(&r, 100000, 256u << 10);
    cr_expect_eq(b->status, 0, "%s", b->error);
    cr_expect_eq(b->alerts, 1);
    batch_free(b);
    run_fini(&r);
}

Test(batch, a_large_max_compressed_does_not_lift_the_nested_limit)
{
    /* 256 MiB of max-compressed: the old nested cap (16 times it) wrapped to 0 in 32 bits, and
     * below that it was 16 times larger than max-inflated. The nested frame obeys max-inflated. */
    struct run r;
    run_init(&r, 1u << 20, 1000);
    r.limits.max_compressed = 256u << 20;
    struct batch *b = run_nested(&r, 2u << 20, 0);
    cr_expect_eq(b->status, -EMSGSIZE, "status %d: %s", b->status, b->error);
    batch_free(b);
    b = run_nested(&r, 100000, 0);
    cr_expect_eq(b->status, 0, "%s", b->error);
    batch_free(b);
    run_fini(&r);
}

Test(batch, compressed_frames_nested_twice_are_refused)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    struct buf inner, twice;
    buf_init(&inner, BUF_MAX);
    buf_init(&twice, BUF_MAX);
    inner_frames(&inner, 10);
    cr_assert_eq(lj_encode_compressed(&twice, LJ_V2, inner.data, inner.len, 6), 0);
    struct batch *b = nested_batch(&r, &twice);
    batch_run(b, &r.ctx);
    cr_expect_eq(b->status, -EBADMSG, "status %d: %s", b->status, b->error);
    batch_free(b);
    buf_free(&inner);
    buf_free(&twice);
    run_fini(&r);
}

/* ---- Completion: the submitter's callback, directly or through a handoff ---- */

struct completion {
    int calls;
    struct batch *seen;
    uint32_t frames, alerts;
    int status;
};

static void on_complete(struct batch *b, void *ctx)
{
    struct completion *c = ctx;
    c->calls++;
    c->seen = b;
    c->frames = b->frames;
    c->alerts = b->alerts;
    c->status = b->status;
}

struct posted {
    int calls;
    struct batch *b;
};

static void post(void *ctx, struct batch *b)
{
    struct posted *p = ctx;
    p->calls++;
    p->b = b;
}

/* A sink that keeps the alerts' batches pending until the test makes them durable. */
struct held {
    int emitted;
    struct batch *b;
};

static int hold_emit(void *ctx, const char *doc, size_t len, struct batch *b)
{
    struct held *h = ctx;
    (void)doc;
    (void)len;
    h->emitted++;
    h->b = b;
    return 0;
}

static struct batch *lines_batch(const struct run *r, const struct alert_sink *sink)
{
    static const char lines[] = HIT "\n{\"event\":{\"code\":\"1\"}}\n";
    uint8_t *data = malloc(sizeof(lines) - 1);
    cr_assert_not_null(data);
    memcpy(data, lines, sizeof(lines) - 1);
    struct batch *b = batch_new(BATCH_LINES, data, sizeof(lines) - 1, NULL, &r->limits, sink);
    cr_assert_not_null(b);
    return b;
}

Test(batch, completes_through_its_callback_on_the_running_thread)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    struct completion c = {0};
    struct batch *b = lines_batch(&r, NULL);
    b->complete = on_complete;
    b->complete_ctx = &c;
    batch_run(b, &r.ctx);
    cr_expect_eq(c.calls, 1);
    cr_expect_eq(c.seen, b);
    cr_expect_eq(c.frames, 2);
    cr_expect_eq(c.alerts, 1);
    cr_expect_eq(c.status, 0);
    batch_free(b);
    run_fini(&r);
}

Test(batch, a_handoff_carries_it_and_the_receiver_completes_it)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    struct completion c = {0};
    struct posted p = {0};
    struct batch_handoff h = {.post = post, .ctx = &p};
    struct batch *b = lines_batch(&r, NULL);
    b->complete = on_complete;
    b->complete_ctx = &c;
    b->handoff = &h;
    batch_run(b, &r.ctx);
    cr_expect_eq(p.calls, 1);
    cr_expect_eq(p.b, b);
    cr_expect_eq(c.calls, 0, "the callback waits for the receiving end");
    batch_complete(p.b);
    cr_expect_eq(c.calls, 1);
    cr_expect_eq(c.alerts, 1);
    batch_free(b);
    run_fini(&r);
}

Test(batch, completes_only_once_its_alerts_are_durable)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    struct completion c = {0};
    struct held h = {0};
    struct alert_sink sink = {.emit = hold_emit, .ctx = &h};
    struct batch *b = lines_batch(&r, &sink);
    b->complete = on_complete;
    b->complete_ctx = &c;
    batch_run(b, &r.ctx);
    cr_expect_eq(h.emitted, 1);
    cr_expect_eq(c.calls, 0, "an alert is not durable yet");
    batch_alert_durable(h.b, -EIO);
    cr_expect_eq(c.calls, 1);
    cr_expect_eq(c.status, -EIO, "a failed alert write fails the batch");
    batch_free(b);
    run_fini(&r);
}

/* ---- v1 data frames: the pairs' document goes to the detection without a JSON round trip ---- */

struct captured {
    char *doc;
};

static int capture_emit(void *ctx, const char *doc, size_t len, struct batch *b)
{
    struct captured *c = ctx;
    free(c->doc);
    c->doc = strndup(doc, len);
    batch_alert_durable(b, 0);
    return 0;
}

/* Runs a batch of the bare frames in FRAMES, the last alert it raised captured in CAP. */
static struct batch *run_frames(struct run *r, const struct buf *frames, struct captured *cap)
{
    uint8_t *data = malloc(frames->len);
    cr_assert_not_null(data);
    memcpy(data, frames->data, frames->len);
    static struct alert_sink sink;
    sink = (struct alert_sink){.emit = capture_emit, .ctx = cap};
    struct batch *b = batch_new(BATCH_BEATS_FRAMES, data, frames->len, NULL, &r->limits, &sink);
    cr_assert_not_null(b);
    batch_run(b, &r->ctx);
    return b;
}

Test(batch, a_v1_data_frame_alerts_on_its_pairs_as_one_document)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    static const char *const keys[] = {"host.os.type", "event.category", "event.type",
                                       "registry.value", "registry.data.strings"};
    static const char *const values[] = {"windows", "registry", "change", "AmsiEnable", "0"};
    struct buf frames;
    buf_init(&frames, BUF_MAX);
    cr_assert_eq(lj_encode_data(&frames, 7, keys, values, 5), 0);
    cr_assert_eq(lj_encode_data(&frames, 8, keys, keys, 5), 0); /* no alert */
    struct captured cap = {0};
    struct batch *b = run_frames(&r, &frames, &cap);
    cr_expect_eq(b->status, 0, "%s", b->error);
    cr_expect_eq(b->frames, 2);
    cr_expect_eq(b->last_seq, 8);
    cr_expect_eq(b->alerts, 1);
    cr_expect_eq(r.ctx.det.stats.parsed, 1,
                 "the prefilter rules the second frame out on its bytes");
    cr_assert_not_null(cap.doc);
    json_t *alert = json_loads(cap.doc, 0, NULL);
    cr_assert_not_null(alert);
    cr_expect_str_eq(json_string_value(json_object_get(alert, "original")),
                     "{\"host.os.type\":\"windows\",\"event.category\":\"registry\","
                     "\"event.type\":\"change\",\"registry.value\":\"AmsiEnable\","
                     "\"registry.data.strings\":\"0\"}",
                     "the event's text is the pairs' compact JSON, in frame order");
    json_decref(alert);
    free(cap.doc);
    batch_free(b);
    buf_free(&frames);
    run_fini(&r);
}

/* Logstash's lumberjack output sends each event as one `line` pair (v1), with `codec => json` the
 * whole event as JSON; logstash-forwarder adds host, file and offset. */
Test(batch, a_v1_line_holding_a_json_object_is_matched_as_that_object)
{
    struct run r;
    run_init(&r, 4u << 20, 1000);
    static const char *const line[] = {"line"};
    static const char *const hit[] = {HIT};
    static const char *const fwd_keys[] = {"host", "line", "file", "offset"};
    static const char *const fwd_values[] = {"ls-1", HIT, "-", "42"};
    static const char *const text[] = {"AmsiEnable 0 {\"registry\": not json"};
    static const char *const array[] = {"[" HIT "]"};
    static const char *const other_keys[] = {"line", "message"};
    static const char *const other_values[] = {HIT, "more than a forwarder sends"};
    struct buf frames;
    buf_init(&frames, BUF_MAX);
    cr_assert_eq(lj_encode_data(&frames, 1, line, hit, 1), 0);                /* alert */
    cr_assert_eq(lj_encode_data(&frames, 2, fwd_keys, fwd_values, 4), 0);     /* alert */
    cr_assert_eq(lj_encode_data(&frames, 3, line, text, 1), 0);               /* a line */
    cr_assert_eq(lj_encode_data(&frames, 4, line, array, 1), 0);              /* not an object */
    cr_assert_eq(lj_encode_data(&frames, 5, other_keys, other_values, 2), 0); /* pairs */
    struct captured cap = {0};
    struct batch *b = run_frames(&r, &frames, &cap);
    cr_expect_eq(b->status, 0, "%s", b->error);
    cr_expect_eq(b->frames, 5);
    cr_expect_eq(b->alerts, 2, "the two lines holding the event alert, nothing else does");
    cr_expect_eq(r.ctx.det.stats.malformed, 0, "a line that is not JSON stays a line");
    cr_assert_not_null(cap.doc);
    json_t *alert = json_loads(cap.doc, 0, NULL);
    cr_assert_not_null(alert);
    json_t *original = json_loads(json_string_value(json_object_get(alert, "original")), 0, NULL);
    cr_assert_not_null(original, "the alert's original is the event inside the line");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(original, "registry"), "value")),
        "AmsiEnable");
    cr_expect_null(json_object_get(original, "line"));
    json_decref(original);
    json_decref(alert);
    free(cap.doc);
    batch_free(b);
    buf_free(&frames);
    run_fini(&r);
}
