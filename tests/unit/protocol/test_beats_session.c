#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/beats_session.h"
#include "protocol/lumberjack.h"

#define KEEPALIVE     3000u
#define KEEPALIVE_MAX 300000u
#define MAX_STEPS     64
#define MAX_READS     16

static struct beats_session_config cfg;
static struct beats_session *s;
static struct buf in, out;
static uint8_t *reads[MAX_READS]; /* what feed() gave the session: units point into them */
static size_t nreads;

/* What one call of feed() took out of the bytes. */
static struct beats_step steps[MAX_STEPS];
static size_t nsteps;

static void setup(void)
{
    lj_limits_default(&cfg.limits);
    cfg.keepalive_ms = KEEPALIVE;
    cfg.keepalive_max_ms = KEEPALIVE_MAX;
    s = beats_session_new(&cfg, 0);
    cr_assert_not_null(s);
    buf_init(&in, 1 << 20);
    buf_init(&out, 1 << 20);
}

static void teardown(void)
{
    beats_session_free(s);
    buf_free(&in);
    buf_free(&out);
    for (size_t i = 0; i < nreads; i++)
        free(reads[i]);
    nreads = 0;
}

TestSuite(beats_session, .init = setup, .fini = teardown);

/* Feeds the N bytes at P as a loop does, until the session needs more: fills STEPS (not the
 * NEED_MORE one) and returns the bytes consumed, or the session's error. NEED receives the last
 * step's NEED. */
static long feed_at(const uint8_t *p, size_t n, uint64_t now, size_t *need)
{
    size_t off = 0;
    nsteps = 0;
    for (;;) {
        struct beats_step st;
        long rc = beats_session_input(s, p + off, n - off, now, &st);
        if (rc < 0)
            return rc;
        off += (size_t)rc;
        if (st.event == BEATS_NEED_MORE) {
            if (need)
                *need = st.need;
            return (long)off;
        }
        cr_assert_lt(nsteps, MAX_STEPS);
        steps[nsteps++] = st;
    }
}

/* Feeds all of IN as one read (a copy kept until the test ends), then empties IN. */
static long feed(uint64_t now)
{
    cr_assert_lt(nreads, MAX_READS);
    uint8_t *copy = malloc(in.len + 1);
    cr_assert_not_null(copy);
    memcpy(copy, in.data, in.len);
    reads[nreads++] = copy;
    long rc = feed_at(copy, in.len, now, NULL);
    if (rc >= 0)
        cr_assert_eq((size_t)rc, in.len, "every whole frame is consumed");
    buf_reset(&in);
    return rc;
}

static void window(uint8_t version, uint32_t n)
{
    cr_assert_eq(lj_encode_window(&in, version, n), 0);
}

static void json(uint32_t seq)
{
    cr_assert_eq(lj_encode_json(&in, seq, "{\"a\":1}", 7), 0);
}

static void data(uint32_t seq)
{
    const char *k[] = {"message"}, *v[] = {"hello"};
    cr_assert_eq(lj_encode_data(&in, seq, k, v, 1), 0);
}

/* A C frame holding J frames FIRST..LAST. */
static void compressed(uint32_t first, uint32_t last)
{
    struct buf inner;
    buf_init(&inner, 1 << 20);
    for (uint32_t seq = first; seq <= last; seq++)
        cr_assert_eq(lj_encode_json(&inner, seq, "{\"a\":1}", 7), 0);
    cr_assert_eq(lj_encode_compressed(&in, LJ_V2, inner.data, inner.len, 3), 0);
    buf_free(&inner);
}

/* The data frames in a unit of bare frames, and the highest sequence number among them. */
static uint32_t count_frames(const struct beats_step *u, uint32_t *last_seq)
{
    uint32_t frames = 0;
    *last_seq = 0;
    size_t off = 0;
    while (off < u->len) {
        struct lj_frame f;
        long n = lj_decode(u->data + off, u->len - off, &cfg.limits, false, &f);
        cr_assert_gt(n, 0, "a unit holds whole frames only");
        cr_assert(f.type == LJ_JSON || f.type == LJ_DATA);
        frames++;
        if (f.seq > *last_seq)
            *last_seq = f.seq;
        off += (size_t)n;
    }
    return frames;
}

/* Completes a unit of bare frames with what it holds. */
static void complete_frames(const struct beats_step *u)
{
    cr_assert_eq(u->event, BEATS_UNIT);
    cr_assert_eq(u->kind, BEATS_UNIT_FRAMES);
    uint32_t last;
    uint32_t frames = count_frames(u, &last);
    cr_assert_eq(beats_session_complete(s, u->window, frames, last, 0, NULL), 0);
}

/* The ACKs due now, as (version, seq) pairs in ACKS; returns how many. */
static int acks_at(uint64_t now, uint8_t *versions, uint32_t *seqs, int max)
{
    buf_reset(&out);
    int n = beats_session_acks(s, &out, now);
    if (n <= 0)
        return n;
    cr_assert_eq(out.len, (size_t)n * 6);
    for (int i = 0; i < n && i < max; i++) {
        struct lj_frame f;
        cr_assert_eq(lj_decode((const uint8_t *)out.data + 6 * i, 6, &cfg.limits, true, &f), 6);
        cr_assert_eq(f.type, LJ_ACK);
        versions[i] = f.version;
        seqs[i] = f.seq;
    }
    return n;
}

static void expect_ack(uint8_t version, uint32_t seq)
{
    uint8_t v[1];
    uint32_t q[1];
    cr_assert_eq(acks_at(0, v, q, 1), 1);
    cr_assert_eq(v[0], version);
    cr_assert_eq(q[0], seq);
}

static void expect_no_ack(void)
{
    uint8_t v[1];
    uint32_t q[1];
    cr_assert_eq(acks_at(0, v, q, 1), 0);
}

Test(beats_session, acknowledges_a_compressed_window_with_its_highest_sequence_number)
{
    window(LJ_V2, 3);
    compressed(1, 3);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 2);
    cr_assert_eq(steps[0].event, BEATS_WINDOW_OPENED);
    cr_assert_eq(steps[0].version, LJ_V2);
    cr_assert_eq(steps[1].event, BEATS_UNIT);
    cr_assert_eq(steps[1].kind, BEATS_UNIT_COMPRESSED);
    cr_assert_eq(steps[1].window, steps[0].window);
    cr_assert_eq(beats_session_windows(s), 1);
    cr_assert_eq(beats_session_in_flight(s), 1);
    expect_no_ack();

    cr_assert_eq(beats_session_complete(s, steps[1].window, 3, 3, 0, NULL), 0);
    cr_assert_eq(beats_session_in_flight(s), 0);
    /* The bytes are lj_encode_ack's. */
    struct buf want;
    buf_init(&want, 64);
    lj_encode_ack(&want, LJ_V2, 3);
    buf_reset(&out);
    cr_assert_eq(beats_session_acks(s, &out, 10), 1);
    cr_assert_eq(out.len, want.len);
    cr_assert(memcmp(out.data, want.data, want.len) == 0);
    buf_free(&want);
    cr_assert_eq(beats_session_windows(s), 0);
    expect_no_ack();
}

Test(beats_session, the_unit_of_a_compressed_frame_is_its_payload_in_the_bytes_given)
{
    window(LJ_V2, 2);
    size_t at = in.len;
    compressed(1, 2);
    const uint8_t *p = (const uint8_t *)in.data;
    size_t n = in.len;
    cr_assert_eq(feed_at(p, n, 0, NULL), (long)n);
    cr_assert_eq(steps[1].data, p + at + 6);
    cr_assert_eq(steps[1].len, n - at - 6);
}

Test(beats_session, hands_the_bare_frames_of_one_read_on_as_one_unit)
{
    window(LJ_V2, 3);
    size_t at = in.len;
    json(1);
    json(2);
    json(3);
    const uint8_t *p = (const uint8_t *)in.data;
    size_t n = in.len;
    cr_assert_eq(feed_at(p, n, 0, NULL), (long)n);
    cr_assert_eq(nsteps, 2);
    cr_assert_eq(steps[1].kind, BEATS_UNIT_FRAMES);
    cr_assert_eq(steps[1].data, p + at, "a view into the bytes given, not a copy");
    cr_assert_eq(steps[1].len, n - at);
    complete_frames(&steps[1]);
    expect_ack(LJ_V2, 3);
}

Test(beats_session, a_window_read_in_pieces_is_handed_on_as_it_comes_and_acknowledged_once_whole)
{
    window(LJ_V2, 3);
    json(1);
    json(2);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 2);
    complete_frames(&steps[1]);
    expect_no_ack(); /* two of three */
    json(3);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 1);
    complete_frames(&steps[0]);
    expect_ack(LJ_V2, 3);
}

Test(beats_session, says_how_long_the_frame_it_waits_for_is_once_its_header_is_read)
{
    window(LJ_V2, 1);
    compressed(1, 1);
    const uint8_t *p = (const uint8_t *)in.data;
    size_t need = 99;
    cr_assert_eq(feed_at(p, 3, 0, &need), 0); /* W cut short */
    cr_assert_eq(need, 0);
    cr_assert_eq(nsteps, 0);
    cr_assert_eq(feed_at(p, 6 + 4, 0, &need), 6); /* W, then C cut inside its header */
    cr_assert_eq(need, 0);
    cr_assert_eq(feed_at(p + 6, in.len - 6 - 1, 0, &need), 0); /* C without its last byte */
    cr_assert_eq(need, in.len - 6);
    cr_assert_eq(feed_at(p + 6, in.len - 6, 0, &need), (long)(in.len - 6));
    cr_assert_eq(nsteps, 1);
    cr_assert_eq(steps[0].kind, BEATS_UNIT_COMPRESSED);
}

Test(beats_session, bytes_fed_one_more_at_a_time_give_the_same_acks)
{
    window(LJ_V2, 2);
    json(1);
    json(2);
    window(LJ_V2, 1);
    compressed(3, 3);
    window(LJ_V2, 0);
    const uint8_t *p = (const uint8_t *)in.data;
    size_t n = in.len, done = 0;
    struct beats_step units[8];
    size_t nunits = 0;
    for (size_t have = 1; have <= n; have++) {
        long rc = feed_at(p + done, have - done, 0, NULL);
        cr_assert_geq(rc, 0);
        done += (size_t)rc;
        for (size_t i = 0; i < nsteps; i++)
            if (steps[i].event == BEATS_UNIT)
                units[nunits++] = steps[i];
    }
    cr_assert_eq(done, n);
    for (size_t i = 0; i < nunits; i++) {
        if (units[i].kind == BEATS_UNIT_FRAMES)
            complete_frames(&units[i]);
        else
            cr_assert_eq(beats_session_complete(s, units[i].window, 1, 3, 0, NULL), 0);
    }
    uint8_t v[3];
    uint32_t q[3];
    cr_assert_eq(acks_at(0, v, q, 3), 3);
    cr_assert_eq(q[0], 2);
    cr_assert_eq(q[1], 3);
    cr_assert_eq(q[2], 0);
}

Test(beats_session, a_new_window_closes_the_partial_one)
{
    window(LJ_V2, 5);
    json(1);
    json(2);
    window(LJ_V2, 2);
    json(1);
    json(2);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 4);
    cr_assert_eq(steps[2].event, BEATS_WINDOW_OPENED);
    complete_frames(&steps[1]);
    complete_frames(&steps[3]);
    uint8_t v[2];
    uint32_t q[2];
    cr_assert_eq(acks_at(0, v, q, 2), 2);
    cr_assert_eq(q[0], 2, "the partial window: its highest sequence number");
    cr_assert_eq(q[1], 2);
}

Test(beats_session, answers_w_0_with_ack_0)
{
    window(LJ_V2, 0);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 1);
    expect_ack(LJ_V2, 0);
    window(LJ_V1, 0);
    cr_assert_geq(feed(0), 0);
    expect_ack(LJ_V1, 0);
}

Test(beats_session, acknowledges_windows_in_their_order_whatever_order_they_complete_in)
{
    window(LJ_V2, 2);
    compressed(1, 2);
    window(LJ_V2, 2);
    compressed(1, 2);
    window(LJ_V2, 0);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 5);
    cr_assert_eq(beats_session_complete(s, steps[3].window, 2, 2, 0, NULL), 0);
    expect_no_ack();
    cr_assert_eq(beats_session_complete(s, steps[1].window, 2, 2, 0, NULL), 0);
    uint8_t v[3];
    uint32_t q[3];
    cr_assert_eq(acks_at(0, v, q, 3), 3);
    cr_assert_eq(q[0], 2);
    cr_assert_eq(q[1], 2);
    cr_assert_eq(q[2], 0);
}

Test(beats_session, a_partial_completion_is_not_acknowledged_until_the_window_is_whole)
{
    window(LJ_V2, 4);
    compressed(1, 2);
    compressed(3, 4);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(beats_session_complete(s, steps[1].window, 2, 2, 0, NULL), 0);
    expect_no_ack();
    cr_assert_eq(beats_session_complete(s, steps[2].window, 2, 4, 0, NULL), 0);
    expect_ack(LJ_V2, 4);
}

Test(beats_session, v1_sequence_numbers_run_on_across_implicit_windows)
{
    window(LJ_V1, 2);
    data(1);
    data(2);
    data(3);
    data(4);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 4);
    cr_assert_eq(steps[0].event, BEATS_WINDOW_OPENED);
    cr_assert_eq(steps[2].event, BEATS_WINDOW_OPENED, "the window announced once opens again");
    cr_assert_eq(steps[2].version, LJ_V1);
    complete_frames(&steps[1]);
    complete_frames(&steps[3]);
    uint8_t v[2];
    uint32_t q[2];
    cr_assert_eq(acks_at(0, v, q, 2), 2);
    cr_assert_eq(v[0], LJ_V1);
    cr_assert_eq(q[0], 2);
    cr_assert_eq(v[1], LJ_V1);
    cr_assert_eq(q[1], 4);

    /* After the ACKs, the next data frames open a window of the same size again. */
    data(5);
    data(6);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 2);
    complete_frames(&steps[1]);
    expect_ack(LJ_V1, 6);
}

Test(beats_session, data_frames_after_a_full_window_join_it_until_it_is_acknowledged)
{
    window(LJ_V2, 1);
    json(1);
    json(2);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 3);
    complete_frames(&steps[1]);
    complete_frames(&steps[2]);
    expect_ack(LJ_V2, 2);
    json(3);
    cr_assert_eq(feed(0), -EBADMSG);
    cr_assert_str_eq(beats_session_error(s), "a data frame before any window frame");
}

Test(beats_session, a_data_frame_before_any_window_frame_ends_the_session)
{
    json(1);
    cr_assert_eq(feed(0), -EBADMSG);
    cr_assert_str_eq(beats_session_error(s), "a data frame before any window frame");
    window(LJ_V2, 1);
    cr_assert_eq(feed(0), -EBADMSG, "every later call returns the same");
}

Test(beats_session, a_compressed_frame_before_any_window_frame_ends_the_session)
{
    compressed(1, 1);
    cr_assert_eq(feed(0), -EBADMSG);
    cr_assert_str_eq(beats_session_error(s), "a compressed frame before any window frame");
}

Test(beats_session, a_window_over_the_limit_is_refused_on_its_header)
{
    window(LJ_V2, 0xffffffffu);
    cr_assert_eq(feed(0), -EMSGSIZE);
    cr_assert_str_eq(beats_session_error(s),
                     "a 'W' frame is over its limit (window 10000, JSON 16777216 bytes, "
                     "compressed 67108864 bytes, 1024 pairs, 1048576-byte items)");
}

Test(beats_session, a_json_frame_over_the_limit_is_refused_before_its_body_arrives)
{
    window(LJ_V2, 1);
    const uint8_t j[] = {'2', 'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    buf_append(&in, j, sizeof(j));
    cr_assert_eq(feed_at((const uint8_t *)in.data, in.len, 0, NULL), -EMSGSIZE);
    cr_assert(strstr(beats_session_error(s), "a 'J' frame is over its limit") != NULL);
}

Test(beats_session, names_bytes_that_are_not_lumberjack)
{
    buf_puts(&in, "GET / HTTP/1.1\r\n");
    cr_assert_eq(feed(0), -EBADMSG);
    cr_assert_str_eq(beats_session_error(s),
                     "HTTP sent to the Beats port (starts with 'GET / HT')");
}

Test(beats_session, garbage_after_bare_frames_hands_none_of_them_on)
{
    window(LJ_V2, 3);
    json(1);
    json(2);
    buf_puts(&in, "2Q");
    const uint8_t *p = (const uint8_t *)in.data;
    cr_assert_eq(feed_at(p, in.len, 0, NULL), -EBADMSG);
    cr_assert_eq(nsteps, 1, "the window opened, the frames before the garbage were not handed on");
    cr_assert_eq(beats_session_in_flight(s), 0);
    cr_assert_str_eq(beats_session_error(s), "unknown frame type 0x51 after version '2'");
}

Test(beats_session, a_failed_unit_ends_the_session_and_its_window_is_never_acknowledged)
{
    window(LJ_V2, 2);
    compressed(1, 2);
    cr_assert_geq(feed(0), 0);
    const char *why = "compressed frame inflates past the limit (35 bytes compressed)";
    cr_assert_eq(beats_session_complete(s, steps[1].window, 0, 0, -EMSGSIZE, why), -EMSGSIZE);
    cr_assert_str_eq(beats_session_error(s), why);
    buf_reset(&out);
    cr_assert_eq(beats_session_acks(s, &out, 0), -EMSGSIZE);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(beats_session_tick(s, KEEPALIVE * 2, 0, &out), -EMSGSIZE);
    cr_assert_eq(out.len, 0);
}

Test(beats_session, sends_keep_alives_while_a_v2_window_waits)
{
    window(LJ_V2, 2);
    compressed(1, 2);
    cr_assert_geq(feed(1000), 0);
    buf_reset(&out);
    cr_assert_eq(beats_session_tick(s, KEEPALIVE - 1, 0, &out), 0, "the session started at 0");
    cr_assert_eq(beats_session_tick(s, KEEPALIVE, 0, &out), 1);
    cr_assert_eq(out.len, 6);
    cr_assert(memcmp(out.data, "2A\0\0\0\0", 6) == 0);
    buf_reset(&out);
    cr_assert_eq(beats_session_tick(s, 2 * KEEPALIVE - 1, 0, &out), 0);
    cr_assert_eq(beats_session_tick(s, 2 * KEEPALIVE, 0, &out), 1);
    buf_reset(&out);
    /* Nothing waits: nothing to keep alive. */
    cr_assert_eq(beats_session_complete(s, steps[1].window, 2, 2, 0, NULL), 0);
    cr_assert_eq(beats_session_acks(s, &out, 2 * KEEPALIVE), 1);
    buf_reset(&out);
    cr_assert_eq(beats_session_tick(s, 10 * KEEPALIVE, 0, &out), 0);
    cr_assert_eq(out.len, 0);
}

Test(beats_session, an_ack_puts_off_the_next_keep_alive)
{
    window(LJ_V2, 0);
    window(LJ_V2, 2);
    compressed(1, 2);
    cr_assert_geq(feed(0), 0);
    buf_reset(&out);
    cr_assert_eq(beats_session_acks(s, &out, 2000), 1); /* the W 0 */
    buf_reset(&out);
    cr_assert_eq(beats_session_tick(s, 2000 + KEEPALIVE - 1, 0, &out), 0);
    cr_assert_eq(beats_session_tick(s, 2000 + KEEPALIVE, 0, &out), 1);
}

Test(beats_session, sends_no_keep_alive_on_v1)
{
    window(LJ_V1, 2);
    compressed(1, 2);
    cr_assert_geq(feed(0), 0);
    buf_reset(&out);
    cr_assert_eq(beats_session_tick(s, 10 * KEEPALIVE, 0, &out), 0);
    cr_assert_eq(out.len, 0);
}

Test(beats_session, a_window_in_flight_past_keepalive_max_ends_the_session)
{
    window(LJ_V2, 2);
    compressed(1, 2);
    cr_assert_geq(feed(1000), 0);
    buf_reset(&out);
    cr_assert_eq(beats_session_tick(s, 1000 + KEEPALIVE_MAX - 1, 0, &out), 1);
    /* Held back by a full disk until 5000: it counts from there. */
    cr_assert_eq(beats_session_tick(s, 1000 + KEEPALIVE_MAX, 5000, &out), 0);
    cr_assert_eq(beats_session_tick(s, 5000 + KEEPALIVE_MAX, 5000, &out), -ETIMEDOUT);
    cr_assert_str_eq(beats_session_error(s), "a window stayed in flight past beats.keepalive-max; "
                                             "the client will resend it");
}

Test(beats_session, acks_that_do_not_fit_wait_for_the_next_call)
{
    for (int i = 0; i < 5; i++)
        window(LJ_V2, 0);
    cr_assert_geq(feed(0), 0);
    struct buf small;
    buf_init(&small, 12);
    cr_assert_eq(beats_session_acks(s, &small, 0), 2);
    buf_reset(&small);
    cr_assert_eq(beats_session_acks(s, &small, 0), 2);
    buf_reset(&small);
    cr_assert_eq(beats_session_acks(s, &small, 0), 1);
    buf_reset(&small);
    cr_assert_eq(beats_session_acks(s, &small, 0), 0);
    buf_free(&small);
    cr_assert_eq(beats_session_windows(s), 0);
}

/* ---- Relaying: a hold for the next hop's ACK, whole windows, sealed windows ---- */

Test(beats_session, a_held_window_waits_for_its_hold_as_for_a_unit)
{
    window(LJ_V2, 3);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 1);
    struct beats_window *w = steps[0].window;
    beats_session_hold(s, w);
    cr_assert_eq(beats_session_in_flight(s), 1);
    compressed(1, 3);
    cr_assert_geq(feed(0), 0);
    cr_assert_not(beats_window_whole(w), "the count of a compressed frame is not known yet");
    cr_assert_eq(beats_session_complete(s, w, 3, 3, 0, NULL), 0);
    cr_assert(beats_window_whole(w), "its units held as many frames as announced");
    expect_no_ack();
    cr_assert_eq(beats_session_complete(s, w, 0, 0, 0, NULL), 0); /* the next hop's ACK */
    expect_ack(LJ_V2, 3);
    cr_assert_eq(beats_session_in_flight(s), 0);
}

Test(beats_session, a_failed_hold_ends_the_session_and_nothing_is_acknowledged)
{
    window(LJ_V2, 1);
    json(1);
    cr_assert_geq(feed(0), 0);
    struct beats_window *w = steps[0].window;
    beats_session_hold(s, w);
    complete_frames(&steps[1]);
    cr_assert_eq(beats_session_complete(s, w, 0, 0, -ECANCELED, "stopping"), -ECANCELED);
    cr_assert_str_eq(beats_session_error(s), "stopping");
    cr_assert_lt(beats_session_acks(s, &out, 0), 0);
}

Test(beats_session, a_window_is_whole_once_a_later_window_closes_it)
{
    window(LJ_V2, 5);
    json(1);
    cr_assert_geq(feed(0), 0);
    struct beats_window *w = steps[0].window;
    cr_assert_not(beats_window_whole(w));
    cr_assert_eq(beats_window_size(w), 5);
    cr_assert_eq(beats_window_version(w), LJ_V2);
    window(LJ_V2, 1);
    cr_assert_geq(feed(0), 0);
    cr_assert(beats_window_whole(w));
}

Test(beats_session, no_frame_joins_a_sealed_window)
{
    window(LJ_V2, 1);
    json(1);
    cr_assert_geq(feed(0), 0);
    struct beats_window *w = steps[0].window;
    cr_assert(beats_window_whole(w), "one bare frame of one announced");
    beats_session_seal(s, w);
    json(2); /* would join the unacknowledged window, were it not sealed */
    cr_assert_eq(feed(0), -EBADMSG);
    cr_assert_str_eq(beats_session_error(s), "a data frame before any window frame");
}

Test(beats_session, after_a_sealed_v1_window_data_frames_open_an_implicit_one)
{
    window(LJ_V1, 1);
    data(1);
    cr_assert_geq(feed(0), 0);
    beats_session_seal(s, steps[0].window);
    data(2);
    cr_assert_geq(feed(0), 0);
    cr_assert_eq(nsteps, 2);
    cr_assert_eq(steps[0].event, BEATS_WINDOW_OPENED);
    cr_assert_eq(steps[1].event, BEATS_UNIT);
}
