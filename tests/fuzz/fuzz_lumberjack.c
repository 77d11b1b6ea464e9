/* Fuzz target for the Beats path without the network: one input is the byte stream of one
 * connection. It is cut into frames as the loop does (lj_decode, limits checked on the header), and
 * every window's compressed or bare frames run through a batch as a worker runs them (bounded
 * inflate, inner frames, v1 pairs, detection), with small limits so that the caps are reached.
 *
 * The target aborts when:
 *  - lj_decode reports a frame longer than the bytes it was given, or a window over the limit;
 *  - a batch reports more data frames than its bytes could hold, or a status without a reason. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/batch.h"
#include "pipeline/workers.h"
#include "protocol/inflate.h"
#include "protocol/lumberjack.h"
#include "tests/fuzz/fuzz_target.h"

static void violation(const char *what)
{
    fprintf(stderr, "fuzz_lumberjack: invariant broken: %s\n", what);
    abort();
}

static void run_batch(struct worker_ctx *ctx, const struct lj_limits *lim, enum batch_kind kind,
                      const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return;
    memcpy(copy, p, n);
    struct batch *b = batch_new(kind, copy, n, NULL, lim, NULL);
    if (!b)
        return;
    batch_run(b, ctx);
    /* The smallest data frame is 10 bytes (J header); inflation can multiply by the ratio cap. */
    size_t most = kind == BATCH_BEATS_COMPRESSED ? (n * 64u + 64u) / 10u + 1u : n / 10u + 1u;
    if (b->frames > most)
        violation("a batch reports more data frames than its bytes can hold");
    if (b->status && !b->error[0])
        violation("a failed batch without a reason");
    batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct worker_ctx ctx;
    static bool ready;
    struct lj_limits lim;
    lj_limits_default(&lim);
    lim.max_window = 64;
    lim.max_json = 4096;
    lim.max_compressed = 8192;
    lim.max_pairs = 16;
    lim.max_item = 512;
    if (!ready) {
        detector_init(&ctx.det, PROFILE_EXTENDED, true, lim.max_json);
        ctx.inflater = inflater_new(lim.max_compressed * 64u, 64);
        ready = true;
    }
    size_t off = 0;
    size_t bare_start = 0, bare_len = 0;
    while (off < size) {
        struct lj_frame f;
        long n = lj_decode(data + off, size - off, &lim, false, &f);
        if (n == -EAGAIN || n < 0)
            break; /* the loop closes the connection here */
        if ((size_t)n > size - off || (size_t)n != f.frame_len)
            violation("a frame longer than the bytes it was cut from");
        if (f.type == LJ_WINDOW && f.window > lim.max_window)
            violation("a window over the limit was accepted");
        if (f.type == LJ_JSON || f.type == LJ_DATA) {
            if (!bare_len)
                bare_start = off;
            bare_len += (size_t)n;
        } else {
            if (bare_len)
                run_batch(&ctx, &lim, BATCH_BEATS_FRAMES, data + bare_start, bare_len);
            bare_len = 0;
            if (f.type == LJ_COMPRESSED)
                run_batch(&ctx, &lim, BATCH_BEATS_COMPRESSED, f.payload, f.payload_len);
        }
        off += (size_t)n;
    }
    if (bare_len)
        run_batch(&ctx, &lim, BATCH_BEATS_FRAMES, data + bare_start, bare_len);
    return 0;
}
