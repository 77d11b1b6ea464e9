#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "protocol/inflate.h"
#include "protocol/lumberjack.h"

static struct lj_limits lim;

static void setup(void)
{
    lj_limits_default(&lim);
}

TestSuite(lumberjack, .init = setup);

Test(lumberjack, decodes_a_window_frame)
{
    const uint8_t w[] = {'2', 'W', 0, 0, 0x08, 0x00};
    struct lj_frame f;
    cr_assert_eq(lj_decode(w, sizeof(w), &lim, false, &f), 6);
    cr_assert_eq(f.type, LJ_WINDOW);
    cr_assert_eq(f.version, '2');
    cr_assert_eq(f.window, 2048);
}

Test(lumberjack, asks_for_more_bytes_at_every_cut_of_a_frame)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(lj_encode_json(&b, 7, "{\"a\":1}", 7), 0);
    for (size_t cut = 0; cut < b.len; cut++) {
        struct lj_frame f;
        cr_assert_eq(lj_decode((const uint8_t *)b.data, cut, &lim, false, &f), -EAGAIN,
                     "cut at %zu", cut);
    }
    struct lj_frame f;
    cr_assert_eq(lj_decode((const uint8_t *)b.data, b.len, &lim, false, &f), (long)b.len);
    cr_assert_eq(f.seq, 7);
    cr_assert_eq(f.payload_len, 7);
    cr_assert(memcmp(f.payload, "{\"a\":1}", 7) == 0);
    buf_free(&b);
}

Test(lumberjack, names_the_whole_length_of_a_frame_once_its_header_is_read)
{
    /* What the receiver admits into its memory budget before the frame's body arrives. */
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(lj_encode_json(&b, 1, "{\"a\":1}", 7), 0);
    size_t json_len = b.len;
    cr_assert_eq(lj_encode_compressed(&b, '2', "2J....", 6, 1), 0);
    for (size_t cut = 0; cut < json_len; cut++) {
        struct lj_frame f;
        cr_assert_eq(lj_decode((const uint8_t *)b.data, cut, &lim, false, &f), -EAGAIN);
        cr_assert_eq(f.frame_len, cut < 10 ? 0 : json_len, "J cut at %zu", cut);
    }
    const uint8_t *c = (const uint8_t *)b.data + json_len;
    size_t clen = b.len - json_len;
    for (size_t cut = 0; cut < clen; cut++) {
        struct lj_frame f;
        cr_assert_eq(lj_decode(c, cut, &lim, false, &f), -EAGAIN);
        cr_assert_eq(f.frame_len, cut < 6 ? 0 : clen, "C cut at %zu", cut);
    }
    buf_free(&b);
}

Test(lumberjack, refuses_a_window_over_the_limit_before_anything_else)
{
    const uint8_t w[] = {'2', 'W', 0xff, 0xff, 0xff, 0xff};
    struct lj_frame f;
    cr_assert_eq(lj_decode(w, sizeof(w), &lim, false, &f), -EMSGSIZE);
    const uint8_t ok[] = {'2', 'W', 0, 0, 0x27, 0x10}; /* exactly 10,000 */
    cr_assert_eq(lj_decode(ok, sizeof(ok), &lim, false, &f), 6);
}

Test(lumberjack, refuses_lengths_over_the_limits_from_the_header_alone)
{
    struct lj_frame f;
    const uint8_t j[] = {'2', 'J', 0, 0, 0, 1, 0x01, 0x00, 0x00, 0x01}; /* 16 MiB + 1 */
    cr_assert_eq(lj_decode(j, sizeof(j), &lim, false, &f), -EMSGSIZE);
    const uint8_t c[] = {'2', 'C', 0x04, 0x00, 0x00, 0x01}; /* 64 MiB + 1 */
    cr_assert_eq(lj_decode(c, sizeof(c), &lim, false, &f), -EMSGSIZE);
    const uint8_t d[] = {'1', 'D', 0, 0, 0, 1, 0, 0, 0x04, 0x01}; /* 1025 pairs */
    cr_assert_eq(lj_decode(d, sizeof(d), &lim, false, &f), -EMSGSIZE);
    const uint8_t item[] = {'1', 'D', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x10, 0, 1}; /* key 1 MiB+1 */
    cr_assert_eq(lj_decode(item, sizeof(item), &lim, false, &f), -EMSGSIZE);
}

Test(lumberjack, refuses_unknown_versions_and_types)
{
    struct lj_frame f;
    const uint8_t v3[] = {'3', 'W', 0, 0, 0, 1};
    cr_assert_eq(lj_decode(v3, sizeof(v3), &lim, false, &f), -EBADMSG);
    const uint8_t x[] = {'2', 'X', 0, 0, 0, 1};
    cr_assert_eq(lj_decode(x, sizeof(x), &lim, false, &f), -EBADMSG);
    const uint8_t a[] = {'2', 'A', 0, 0, 0, 1};
    cr_assert_eq(lj_decode(a, sizeof(a), &lim, false, &f), -EBADMSG, "servers get no ACKs");
    cr_assert_eq(lj_decode(a, sizeof(a), &lim, true, &f), 6);
    cr_assert_eq(f.seq, 1);
}

Test(lumberjack, names_the_usual_mistakes)
{
    char why[128];
    const uint8_t tls[] = {0x16, 0x03, 0x01};
    lj_describe_garbage(tls, sizeof(tls), why, sizeof(why));
    cr_assert(strstr(why, "TLS client on a plaintext port"));
    lj_describe_garbage((const uint8_t *)"GET / HTTP/1.1", 14, why, sizeof(why));
    cr_assert(strstr(why, "HTTP sent to the Beats port"));
    lj_describe_garbage((const uint8_t *)"POST /", 6, why, sizeof(why));
    cr_assert(strstr(why, "HTTP"));
    lj_describe_garbage((const uint8_t *)"{\"a\":1}", 7, why, sizeof(why));
    cr_assert(strstr(why, "JSON"));
}

static int collect_pairs(void *ctx, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    char *out = ctx;
    strncat(out, (const char *)k, kl);
    strcat(out, "=");
    strncat(out, (const char *)v, vl);
    strcat(out, ";");
    return 0;
}

Test(lumberjack, round_trips_v1_data_frames)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    const char *keys[] = {"line", "host"};
    const char *vals[] = {"hello world", "web-1"};
    cr_assert_eq(lj_encode_data(&b, 42, keys, vals, 2), 0);
    struct lj_frame f;
    cr_assert_eq(lj_decode((const uint8_t *)b.data, b.len, &lim, false, &f), (long)b.len);
    cr_assert_eq(f.type, LJ_DATA);
    cr_assert_eq(f.seq, 42);
    cr_assert_eq(f.pairs, 2);
    char got[128] = "";
    cr_assert_eq(lj_each_pair(&f, collect_pairs, got), 0);
    cr_assert_str_eq(got, "line=hello world;host=web-1;");
    buf_free(&b);
}

Test(lumberjack, a_compressed_frame_inflates_to_the_frames_it_holds)
{
    struct buf inner, outer;
    buf_init(&inner, 1 << 20);
    buf_init(&outer, 1 << 20);
    for (uint32_t i = 1; i <= 3; i++)
        cr_assert_eq(lj_encode_json(&inner, i, "{\"n\":1}", 7), 0);
    for (int level = 0; level <= 9; level += 3) {
        buf_reset(&outer);
        cr_assert_eq(lj_encode_compressed(&outer, '2', inner.data, inner.len, level), 0);
        struct lj_frame f;
        cr_assert_eq(lj_decode((const uint8_t *)outer.data, outer.len, &lim, false, &f),
                     (long)outer.len);
        cr_assert_eq(f.type, LJ_COMPRESSED);
        struct inflater *z = inflater_new(1 << 20, 1000);
        const uint8_t *out;
        size_t outlen;
        cr_assert_eq(inflater_run(z, f.payload, f.payload_len, &out, &outlen), 0);
        cr_assert_eq(outlen, inner.len, "level %d", level);
        cr_assert(memcmp(out, inner.data, outlen) == 0);
        inflater_free(z);
    }
    buf_free(&inner);
    buf_free(&outer);
}

Test(lumberjack, ack_frames_are_six_bytes_with_the_window_version)
{
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(lj_encode_ack(&b, '1', 0x01020304), 0);
    const uint8_t want[] = {'1', 'A', 1, 2, 3, 4};
    cr_assert_eq(b.len, 6);
    cr_assert(memcmp(b.data, want, 6) == 0);
    buf_free(&b);
}

Test(inflate, refuses_a_broken_stream)
{
    struct inflater *z = inflater_new(1 << 20, 1000);
    const uint8_t *out;
    size_t outlen;
    const uint8_t junk[] = {0x78, 0x9c, 0xff, 0xff, 0x00, 0x11};
    cr_assert_eq(inflater_run(z, junk, sizeof(junk), &out, &outlen), -EBADMSG);
    /* Raw deflate or gzip is not what the protocol carries. */
    const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3};
    cr_assert_eq(inflater_run(z, gz, sizeof(gz), &out, &outlen), -EBADMSG);
    inflater_free(z);
}

Test(inflate, refuses_a_truncated_stream)
{
    char text[4000];
    memset(text, 'x', sizeof(text));
    uint8_t packed[200];
    uLongf plen = sizeof(packed);
    cr_assert_eq(compress2(packed, &plen, (const Bytef *)text, sizeof(text), 6), Z_OK);
    struct inflater *z = inflater_new(1 << 20, 1000);
    const uint8_t *out;
    size_t outlen;
    cr_assert_eq(inflater_run(z, packed, plen - 3, &out, &outlen), -EBADMSG);
    cr_assert_eq(inflater_run(z, packed, plen, &out, &outlen), 0);
    cr_assert_eq(outlen, sizeof(text));
    inflater_free(z);
}

Test(inflate, stops_a_zip_bomb_at_the_ratio_and_size_caps)
{
    size_t n = 8u << 20; /* 8 MiB of zeros packs into about 8 KiB */
    uint8_t *zeros = calloc(1, n);
    uLongf plen = compressBound((uLong)n);
    uint8_t *packed = malloc(plen);
    cr_assert_eq(compress2(packed, &plen, zeros, (uLong)n, 9), Z_OK);
    const uint8_t *out;
    size_t outlen;
    struct inflater *by_ratio = inflater_new(64u << 20, 100);
    cr_assert_eq(inflater_run(by_ratio, packed, plen, &out, &outlen), -EMSGSIZE);
    inflater_free(by_ratio);
    struct inflater *by_size = inflater_new(1u << 20, 100000);
    cr_assert_eq(inflater_run(by_size, packed, plen, &out, &outlen), -EMSGSIZE);
    inflater_free(by_size);
    struct inflater *enough = inflater_new(16u << 20, 100000);
    cr_assert_eq(inflater_run(enough, packed, plen, &out, &outlen), 0);
    cr_assert_eq(outlen, n);
    inflater_free(enough);
    free(zeros);
    free(packed);
}
