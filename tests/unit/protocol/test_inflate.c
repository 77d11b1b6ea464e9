/* Bounded inflate of whole zlib streams: round trips, the byte and ratio caps (exactly at and one
 * past them), broken, truncated and empty input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "protocol/inflate.h"

/* A zlib stream of the LEN bytes at P at LEVEL, malloc'd; its size in *CLEN. */
static uint8_t *deflated(const void *p, size_t len, int level, size_t *clen)
{
    uLongf n = compressBound(len);
    uint8_t *c = malloc(n);
    cr_assert_not_null(c);
    cr_assert_eq(compress2(c, &n, p, len, level), Z_OK);
    *clen = n;
    return c;
}

/* LEN bytes of text that compresses, but not to nothing. */
static uint8_t *text(size_t len)
{
    uint8_t *t = malloc(len ? len : 1);
    cr_assert_not_null(t);
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        t[i] = (uint8_t)("{\"event\":\"amsi\", scan 0123456789}\n"[(x >> 16) % 34]);
    }
    return t;
}

/* LEN bytes of text and their zlib stream. */
struct sample {
    uint8_t *t, *c;
    size_t len, clen;
};

static struct sample sample_new(size_t len)
{
    struct sample s = {.t = text(len), .len = len};
    s.c = deflated(s.t, len, 6, &s.clen);
    return s;
}

static void sample_free(struct sample *s)
{
    free(s->t);
    free(s->c);
}

/* Inflates the stream at C with Z and checks it gives back the LEN bytes at WANT. */
static void round_trip(struct inflater *z, const uint8_t *c, size_t clen, const uint8_t *want,
                       size_t len)
{
    const uint8_t *out = NULL;
    size_t outlen = 12345;
    int rc = inflater_run(z, c, clen, &out, &outlen);
    cr_assert_eq(rc, 0, "inflating %zu bytes into %zu: %d", clen, len, rc);
    cr_assert_eq(outlen, len);
    cr_assert(len == 0 || memcmp(out, want, len) == 0, "%zu bytes differ", len);
}

static int run(struct inflater *z, const uint8_t *c, size_t clen, size_t *outlen)
{
    const uint8_t *out = NULL;
    return inflater_run(z, c, clen, &out, outlen);
}

Test(inflate, round_trips_text_zeros_and_random_bytes_at_every_level)
{
    static const size_t sizes[] = {1, 100, 4096, 70000, 1 << 20};
    struct inflater *z = inflater_new((size_t)64 << 20, 100000);
    cr_assert_not_null(z);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t len = sizes[s];
        uint8_t *t = text(len);
        uint8_t *zeros = calloc(1, len);
        uint8_t *random = malloc(len);
        for (size_t i = 0; i < len; i++)
            random[i] = (uint8_t)(rand() >> 7);
        const uint8_t *inputs[] = {t, zeros, random};
        for (int k = 0; k < 3; k++) {
            for (int level = 0; level <= 9; level += 3) {
                size_t clen;
                uint8_t *c = deflated(inputs[k], len, level, &clen);
                round_trip(z, c, clen, inputs[k], len);
                free(c);
            }
        }
        free(t);
        free(zeros);
        free(random);
    }
    inflater_free(z);
}

Test(inflate, the_same_inflater_serves_many_streams_and_recovers_after_an_error)
{
    struct inflater *z = inflater_new((size_t)32 << 20, 100000);
    struct sample s = sample_new(5000);
    const uint8_t *c = s.c, *t = s.t;
    size_t clen = s.clen;
    /* A large output (past the size the inflater gives back between calls), then small ones. */
    size_t big = (size_t)20 << 20, bclen, outlen;
    uint8_t *zeros = calloc(1, big);
    uint8_t *bomb = deflated(zeros, big, 9, &bclen);
    round_trip(z, bomb, bclen, zeros, big);
    round_trip(z, c, clen, t, 5000);
    cr_assert_eq(run(z, c, clen / 2, &outlen), -EBADMSG);
    round_trip(z, c, clen, t, 5000);
    round_trip(z, bomb, bclen, zeros, big);
    round_trip(z, c, clen, t, 5000);
    free(bomb);
    free(zeros);
    sample_free(&s);
    inflater_free(z);
    inflater_free(NULL);
}

Test(inflate, the_output_cap_admits_exactly_max_out_bytes_and_refuses_one_more)
{
    struct sample s = sample_new(100000);
    const size_t len = s.len;
    size_t outlen;
    /* The ratio is far from binding here: only the byte cap decides. */
    struct inflater *exact = inflater_new(len, 1000000);
    round_trip(exact, s.c, s.clen, s.t, len);
    struct inflater *short1 = inflater_new(len - 1, 1000000);
    cr_assert_eq(run(short1, s.c, s.clen, &outlen), -EMSGSIZE);
    struct inflater *tiny = inflater_new(16, 1000000);
    cr_assert_eq(run(tiny, s.c, s.clen, &outlen), -EMSGSIZE);
    /* A refusal leaves the inflater usable. */
    size_t small_len;
    uint8_t *small = deflated("hello", 5, 6, &small_len);
    round_trip(tiny, small, small_len, (const uint8_t *)"hello", 5);
    free(small);
    inflater_free(exact);
    inflater_free(short1);
    inflater_free(tiny);
    sample_free(&s);
}

Test(inflate, the_output_cap_holds_while_the_buffer_doubles_towards_it)
{
    /* Zeros inflate far past the first guess (8 times the input), so the buffer doubles: the
     * doubling stops at the cap instead of passing it. */
    for (size_t len = 100000; len <= ((size_t)3 << 20); len = len * 3 + 7) {
        size_t clen, outlen;
        uint8_t *zeros = calloc(1, len);
        uint8_t *c = deflated(zeros, len, 9, &clen);
        struct inflater *exact = inflater_new(len, 1000000);
        round_trip(exact, c, clen, zeros, len);
        struct inflater *short1 = inflater_new(len - 1, 1000000);
        cr_assert_eq(run(short1, c, clen, &outlen), -EMSGSIZE, "%zu zeros", len);
        inflater_free(exact);
        inflater_free(short1);
        free(c);
        free(zeros);
    }
}

Test(inflate, a_zip_bomb_is_refused_by_the_byte_cap)
{
    size_t len = (size_t)256 << 20, clen, outlen = 0;
    uint8_t *zeros = calloc(1, len);
    uint8_t *bomb = deflated(zeros, len, 9, &clen);
    free(zeros);
    cr_assert_lt(clen, len / 500, "the bomb is %zu bytes", clen);
    struct inflater *z = inflater_new((size_t)1 << 20, 1000000);
    cr_assert_eq(run(z, bomb, clen, &outlen), -EMSGSIZE);
    inflater_free(z);
    free(bomb);
}

/* Zeros whose stream inflates to a whole multiple of its own size: that multiple in *RATIO. The
 * NTH such length from 1000 bytes up, so that callers get different ratios. */
static uint8_t *zeros_at_whole_ratio(int nth, unsigned *ratio, size_t *len, uint8_t **c,
                                     size_t *clen)
{
    for (size_t l = 1000; l < 200000; l++) {
        uint8_t *zeros = calloc(1, l);
        *c = deflated(zeros, l, 9, clen);
        if (l % *clen == 0 && nth-- == 0) {
            *len = l;
            *ratio = (unsigned)(l / *clen);
            return zeros;
        }
        free(zeros);
        free(*c);
    }
    cr_assert_fail("no length inflates at a whole ratio");
    return NULL;
}

Test(inflate, the_ratio_cap_admits_exactly_max_ratio_and_refuses_past_it)
{
    size_t len, clen, outlen;
    uint8_t *c;
    unsigned ratio;
    for (int nth = 0; nth < 3; nth++) {
        uint8_t *zeros = zeros_at_whole_ratio(nth * 5, &ratio, &len, &c, &clen);
        cr_assert_gt(ratio, 2);
        /* The byte cap is far from binding: only the ratio decides. */
        struct inflater *at = inflater_new((size_t)1 << 30, ratio);
        round_trip(at, c, clen, zeros, len);
        struct inflater *below = inflater_new((size_t)1 << 30, ratio - 1);
        cr_assert_eq(run(below, c, clen, &outlen), -EMSGSIZE, "%zu bytes at ratio %u - 1", len,
                     ratio);
        inflater_free(at);
        inflater_free(below);
        free(zeros);
        free(c);
    }
}

Test(inflate, the_smaller_of_the_two_caps_applies)
{
    size_t len, clen, outlen;
    uint8_t *c;
    unsigned r;
    uint8_t *zeros = zeros_at_whole_ratio(0, &r, &len, &c, &clen);
    /* The ratio allows it, the byte cap does not; then the other way round. */
    struct inflater *bytes = inflater_new(len - 1, r);
    cr_assert_eq(run(bytes, c, clen, &outlen), -EMSGSIZE);
    struct inflater *ratio = inflater_new(len, r - 1);
    cr_assert_eq(run(ratio, c, clen, &outlen), -EMSGSIZE);
    struct inflater *both = inflater_new(len, r);
    round_trip(both, c, clen, zeros, len);
    /* A cap past what the size type can hold as ratio times input does not wrap around. */
    struct inflater *huge = inflater_new(SIZE_MAX, UINT32_MAX);
    round_trip(huge, c, clen, zeros, len);
    inflater_free(bytes);
    inflater_free(ratio);
    inflater_free(both);
    inflater_free(huge);
    free(zeros);
    free(c);
}

Test(inflate, empty_input_is_a_broken_stream_and_an_empty_stream_inflates_to_nothing)
{
    struct inflater *z = inflater_new(1 << 20, 1000);
    size_t outlen = 99;
    const uint8_t *out = NULL;
    cr_assert_eq(inflater_run(z, "", 0, &out, &outlen), -EBADMSG);
    size_t clen;
    uint8_t *c = deflated("", 0, 6, &clen);
    round_trip(z, c, clen, NULL, 0);
    free(c);
    inflater_free(z);
}

Test(inflate, every_truncation_of_a_stream_is_a_broken_stream)
{
    struct sample s = sample_new(20000);
    size_t outlen;
    struct inflater *z = inflater_new(1 << 20, 1000);
    for (size_t n = 0; n < s.clen; n++) {
        /* A copy of exactly N bytes, so that AddressSanitizer sees any read past its end. */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, s.c, n);
        int rc = run(z, cut, n, &outlen);
        cr_assert_eq(rc, -EBADMSG, "the first %zu of %zu bytes: %d", n, s.clen, rc);
        free(cut);
    }
    round_trip(z, s.c, s.clen, s.t, s.len);
    inflater_free(z);
    sample_free(&s);
}

Test(inflate, corrupt_streams_are_refused_not_inflated)
{
    struct sample s = sample_new(3000);
    uint8_t *c = s.c;
    size_t clen = s.clen, outlen;
    struct inflater *z = inflater_new(1 << 20, 1000);
    /* Each byte flipped in turn: the header, the data or the Adler-32 checksum. Only the padding
     * bits after the last block may change without harm: never is other data given back. */
    for (size_t i = 0; i < clen; i++) {
        c[i] ^= 0x55;
        const uint8_t *out;
        int rc = inflater_run(z, c, clen, &out, &outlen);
        if (rc == 0)
            cr_assert(outlen == s.len && memcmp(out, s.t, s.len) == 0, "byte %zu flipped", i);
        else
            cr_assert(rc == -EBADMSG || rc == -EMSGSIZE, "byte %zu of %zu flipped: %d", i, clen,
                      rc);
        c[i] ^= 0x55;
    }
    /* A gzip stream and raw DEFLATE are not zlib streams. */
    static const uint8_t gzip[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3,
                                   3,    0,    0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(run(z, gzip, sizeof(gzip), &outlen), -EBADMSG);
    cr_assert_eq(run(z, c + 2, clen - 2, &outlen), -EBADMSG);
    /* Noise. */
    uint8_t noise[512];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(noise); i++)
            noise[i] = (uint8_t)(rand() >> 5);
        int rc = run(z, noise, sizeof(noise), &outlen);
        cr_assert(rc == -EBADMSG || rc == -EMSGSIZE, "noise: %d", rc);
    }
    round_trip(z, s.c, s.clen, s.t, s.len);
    inflater_free(z);
    sample_free(&s);
}
