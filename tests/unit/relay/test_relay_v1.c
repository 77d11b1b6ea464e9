/* v1 windows go on as v2: each D frame's pairs as one JSON object in a J frame, numbered from 1. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "base/buf.h"
#include "protocol/lumberjack.h"
#include "relay/relay.h"

static struct lj_limits limits;

static void setup(void)
{
    lj_limits_default(&limits);
}

TestSuite(relay_v1, .init = setup);

Test(relay_v1, data_frames_become_a_v2_window_of_json_frames)
{
    struct buf in, out;
    buf_init(&in, 1 << 20);
    buf_init(&out, 1 << 20);
    const char *k1[] = {"host.name", "registry.value"}, *v1[] = {"ws-01", "AmsiEnable"};
    const char *k2[] = {"message"}, *v2[] = {"quote \" and \\ and \xc3\xa9"};
    /* v1 sequence numbers run on across windows: 41 and 42 here */
    cr_assert_eq(lj_encode_data(&in, 41, k1, v1, 2), 0);
    cr_assert_eq(lj_encode_data(&in, 42, k2, v2, 1), 0);
    uint32_t events = 0;
    cr_assert_eq(relay_v1_to_v2((const uint8_t *)in.data, in.len, &limits, &out, &events), 0);
    cr_assert_eq(events, 2);
    const uint8_t *p = (const uint8_t *)out.data;
    size_t off = 0;
    struct lj_frame f;
    long n = lj_decode(p, out.len, &limits, false, &f);
    cr_assert_gt(n, 0);
    cr_assert_eq(f.version, LJ_V2);
    cr_assert_eq(f.type, LJ_WINDOW);
    cr_assert_eq(f.window, 2);
    off += (size_t)n;
    const char *want[] = {"{\"host.name\":\"ws-01\",\"registry.value\":\"AmsiEnable\"}",
                          "{\"message\":\"quote \\\" and \\\\ and \xc3\xa9\"}"};
    for (uint32_t i = 0; i < 2; i++) {
        n = lj_decode(p + off, out.len - off, &limits, false, &f);
        cr_assert_gt(n, 0);
        cr_assert_eq(f.type, LJ_JSON);
        cr_assert_eq(f.version, LJ_V2);
        cr_assert_eq(f.seq, i + 1, "numbered from 1 in the new window");
        cr_assert_eq(f.payload_len, strlen(want[i]));
        cr_assert_eq(memcmp(f.payload, want[i], f.payload_len), 0, "%.*s", (int)f.payload_len,
                     (const char *)f.payload);
        off += (size_t)n;
    }
    cr_assert_eq(off, out.len, "nothing more");
    buf_free(&in);
    buf_free(&out);
}

Test(relay_v1, text_that_is_not_utf8_is_mended)
{
    struct buf in, out;
    buf_init(&in, 1 << 20);
    buf_init(&out, 1 << 20);
    const char *k[] = {"m\xffsg"}, *v[] = {"a\xfe"};
    cr_assert_eq(lj_encode_data(&in, 1, k, v, 1), 0);
    uint32_t events = 0;
    cr_assert_eq(relay_v1_to_v2((const uint8_t *)in.data, in.len, &limits, &out, &events), 0);
    cr_assert_eq(events, 1);
    const char *want = "{\"m\xef\xbf\xbdsg\":\"a\xef\xbf\xbd\"}";
    cr_assert(memmem(out.data, out.len, want, strlen(want)) != NULL, "%s", out.data + 16);
    buf_free(&in);
    buf_free(&out);
}

Test(relay_v1, a_frame_that_is_not_data_is_refused)
{
    struct buf in, out;
    buf_init(&in, 1 << 20);
    buf_init(&out, 1 << 20);
    const char *k[] = {"message"};
    uint32_t events = 0;
    buf_reset(&out);
    cr_assert_eq(lj_encode_json(&in, 1, "{}", 2), 0);
    cr_assert_eq(relay_v1_to_v2((const uint8_t *)in.data, in.len, &limits, &out, &events),
                 -EBADMSG);
    buf_reset(&in);
    cr_assert_eq(lj_encode_data(&in, 1, k, k, 1), 0);
    cr_assert_eq(relay_v1_to_v2((const uint8_t *)in.data, in.len - 1, &limits, &out, &events),
                 -EBADMSG, "a truncated frame");
    buf_free(&in);
    buf_free(&out);
}
