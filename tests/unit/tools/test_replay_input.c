/* amsiwatch replay's input and window encoder, read back with the receiver's own decoder and
 * inflater, and its latency histogram against exact quantiles. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/inflate.h"
#include "protocol/lumberjack.h"
#include "tools/replay_int.h"

static char path[64];

static const char *const events[] = {
    "{\"a\":1,\"b\":{\"c\":\"x\"}}",
    "{\"winlog\":{\"event_data\":{\"TargetObject\":\"HKU\\\\S-1\\\\AmsiEnable\"}}}",
    "not json at all",
    "{\"n\":null,\"t\":true}",
};
#define NEVENTS (sizeof(events) / sizeof(events[0]))

static void write_input(void)
{
    snprintf(path, sizeof(path), "/tmp/amsiwatch-replay-input-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < NEVENTS; i++)
        fprintf(f, "%s\n\n", events[i]); /* blank lines are skipped */
    fclose(f);
}

static void load(struct rp_input *in, enum rp_shape shape)
{
    struct rp_load_opts o = {.shape = shape, .max_input = 1 << 20, .max_event = 1 << 16};
    char err[200] = "";
    char *paths[] = {path};
    cr_assert_eq(rp_input_load(in, &o, paths, 1, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(in->n, NEVENTS);
}

static void teardown(void)
{
    unlink(path);
}

TestSuite(replay_input, .init = write_input, .fini = teardown);

/* Decodes a run of J frames, checking sequence numbers FIRST.. and the events' JSON. */
static void expect_json_frames(const uint8_t *p, size_t n, uint32_t first, size_t from,
                               uint32_t count)
{
    struct lj_limits lim;
    lj_limits_default(&lim);
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct lj_frame f;
        long len = lj_decode(p + off, n - off, &lim, false, &f);
        cr_assert_gt(len, 0, "frame %u", i);
        cr_assert_eq(f.type, LJ_JSON);
        cr_assert_eq(f.seq, first + i);
        const char *want = events[from + i];
        if (strcmp(want, "not json at all") == 0)
            want = "{\"message\":\"not json at all\"}";
        cr_assert_eq(f.payload_len, strlen(want), "event %zu", from + i);
        cr_assert(memcmp(f.payload, want, f.payload_len) == 0, "event %zu", from + i);
        off += (size_t)len;
    }
    cr_assert_eq(off, n, "nothing after the last frame");
}

Test(replay_input, a_v2_window_without_compression_is_w_then_numbered_json_frames)
{
    struct rp_input in;
    load(&in, RP_BEATS_V2);
    struct buf out;
    buf_init(&out, 1 << 20);
    cr_assert_eq(rp_encode_window(&in, 1, 3, 0, 0, &out), 0);
    struct lj_limits lim;
    lj_limits_default(&lim);
    struct lj_frame w;
    cr_assert_eq(lj_decode((const uint8_t *)out.data, out.len, &lim, false, &w), 6);
    cr_assert_eq(w.type, LJ_WINDOW);
    cr_assert_eq(w.window, 3);
    expect_json_frames((const uint8_t *)out.data + 6, out.len - 6, 1, 1, 3);
    buf_free(&out);
    rp_input_free(&in);
}

Test(replay_input, a_compressed_window_inflates_to_the_same_frames)
{
    struct rp_input in;
    load(&in, RP_BEATS_V2);
    struct buf out;
    buf_init(&out, 1 << 20);
    cr_assert_eq(rp_encode_window(&in, 0, NEVENTS, 3, 0, &out), 0);
    struct lj_limits lim;
    lj_limits_default(&lim);
    struct lj_frame w, c;
    cr_assert_eq(lj_decode((const uint8_t *)out.data, out.len, &lim, false, &w), 6);
    cr_assert_eq(w.window, NEVENTS);
    long clen = lj_decode((const uint8_t *)out.data + 6, out.len - 6, &lim, false, &c);
    cr_assert_eq((size_t)clen, out.len - 6);
    cr_assert_eq(c.type, LJ_COMPRESSED);
    struct inflater *inf = inflater_new(1 << 20, 1000);
    cr_assert_not_null(inf);
    const uint8_t *plain;
    size_t plen;
    cr_assert_eq(inflater_run(inf, c.payload, c.payload_len, &plain, &plen), 0);
    expect_json_frames(plain, plen, 1, 0, NEVENTS);
    inflater_free(inf);
    buf_free(&out);
    rp_input_free(&in);
}

struct pairs {
    char text[512];
};

static int collect(void *ctx, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    struct pairs *p = ctx;
    size_t n = strlen(p->text);
    snprintf(p->text + n, sizeof(p->text) - n, "%.*s=%.*s;", (int)kl, (const char *)k, (int)vl,
             (const char *)v);
    return 0;
}

Test(replay_input, v1_flattens_events_and_numbers_across_the_connection)
{
    struct rp_input in;
    load(&in, RP_BEATS_V1);
    struct buf out;
    buf_init(&out, 1 << 20);
    /* The second window of a connection: its events are numbered after the first's. */
    cr_assert_eq(rp_encode_window(&in, 0, 1, 0, 7, &out), 0);
    struct lj_limits lim;
    lj_limits_default(&lim);
    struct lj_frame w, d;
    cr_assert_eq(lj_decode((const uint8_t *)out.data, out.len, &lim, false, &w), 6);
    cr_assert_eq(w.version, LJ_V1);
    cr_assert_gt(lj_decode((const uint8_t *)out.data + 6, out.len - 6, &lim, false, &d), 0);
    cr_assert_eq(d.type, LJ_DATA);
    cr_assert_eq(d.seq, 8);
    struct pairs p = {""};
    cr_assert_eq(lj_each_pair(&d, collect, &p), 0);
    cr_assert_str_eq(p.text, "a=1;b.c=x;");
    buf_free(&out);
    rp_input_free(&in);
}

Test(replay_input, counts_the_prefilter_candidates_of_any_slice)
{
    struct rp_input in;
    load(&in, RP_BEATS_V2);
    cr_assert_eq(rp_candidates(&in, 0, NEVENTS), 1);
    cr_assert_eq(rp_candidates(&in, 1, 1), 1);
    cr_assert_eq(rp_candidates(&in, 2, 2), 0);
    rp_input_free(&in);
}

Test(replay_input, syslog_lines_are_framed_once_and_back_to_back)
{
    struct rp_input in;
    load(&in, RP_SYSLOG_OCT);
    const char *first = in.data.data + in.ev[0].off;
    /* NDJSON lines sent as syslog get a minimal RFC 5424 header: "LEN <14>1 ..." */
    cr_assert(strncmp(strchr(first, ' ') + 1, "<14>1 ", 6) == 0, "%.40s", first);
    cr_assert_eq(atoi(first), (int)(in.ev[0].len - (size_t)(strchr(first, ' ') - first) - 1));
    cr_assert_eq(in.ev[1].off, in.ev[0].off + in.ev[0].len, "one contiguous range");
    rp_input_free(&in);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(replay_input, histogram_quantiles_are_within_their_stated_error)
{
    static struct rp_hist h;
    memset(&h, 0, sizeof(h));
    enum { N = 20000 };
    static uint64_t v[N];
    srand(5);
    for (int i = 0; i < N; i++) {
        /* Latencies from 1 us to about 4 s, most of them small, as ACK latencies are. */
        uint64_t x = (uint64_t)rand() % 1000 + 1;
        if (i % 10 == 0)
            x *= (uint64_t)rand() % 4000 + 1;
        v[i] = x;
        rp_hist_add(&h, x);
    }
    qsort(v, N, sizeof(v[0]), cmp_u64);
    cr_assert_eq(h.count, N);
    cr_assert_eq(h.max, v[N - 1]);
    const double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        size_t rank = (size_t)(qs[i] * N + 0.999999);
        uint64_t exact = v[rank - 1], got = rp_hist_quantile(&h, qs[i]);
        double err = (double)(got > exact ? got - exact : exact - got) / (double)exact;
        cr_assert_leq(err, 1.0 / 64, "q %.3f: %lu against %lu", qs[i], (unsigned long)got,
                      (unsigned long)exact);
    }
    static struct rp_hist empty;
    cr_assert_eq(rp_hist_quantile(&empty, 0.5), 0);
}
