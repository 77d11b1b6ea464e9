/* v1 windows passed on as v2: each D frame's pairs become one JSON object in a J frame, encoded
 * once (relay/relay.h). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "protocol/lumberjack.h"
#include "relay/relay.h"

/* P (N bytes) as UTF-8 a JSON string can hold: itself when well formed, else a mended copy in
 * *TMP (U+FFFD for each byte that starts no character), as Beats would have sent it. */
static const char *as_utf8(const uint8_t *p, uint32_t n, size_t *len, char **tmp)
{
    *tmp = NULL;
    *len = n;
    if (utf8_valid((const char *)p, n))
        return (const char *)p;
    size_t m = utf8_mended_len((const char *)p, n);
    *tmp = malloc(m + 1);
    if (!*tmp)
        return NULL;
    *len = utf8_copy(*tmp, m + 1, (const char *)p, n, NULL);
    return *tmp;
}

static int add_pair(void *ctx, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    json_t *obj = ctx;
    char *ktmp, *vtmp;
    size_t klen, vlen;
    const char *key = as_utf8(k, kl, &klen, &ktmp);
    const char *val = as_utf8(v, vl, &vlen, &vtmp);
    json_t *jv = key && val ? json_stringn(val, vlen) : NULL;
    int rc = jv && json_object_setn_new(obj, key, klen, jv) == 0 ? 0 : -ENOMEM;
    free(ktmp);
    free(vtmp);
    return rc;
}

/* Calls FN for each D frame of the LEN bytes at P; returns how many, or -EBADMSG. */
static long each_data_frame(const uint8_t *p, size_t len, const struct lj_limits *limits,
                            int (*fn)(void *, const struct lj_frame *, uint32_t), void *ctx)
{
    size_t off = 0;
    uint32_t n = 0;
    while (off < len) {
        struct lj_frame f;
        long fl = lj_decode(p + off, len - off, limits, false, &f);
        if (fl < 0 || f.type != LJ_DATA)
            return -EBADMSG;
        n++;
        if (fn) {
            int rc = fn(ctx, &f, n);
            if (rc < 0)
                return rc;
        }
        off += (size_t)fl;
    }
    return n;
}

static int encode_one(void *ctx, const struct lj_frame *f, uint32_t seq)
{
    struct buf *out = ctx;
    json_t *obj = json_object();
    if (!obj)
        return -ENOMEM;
    int rc = lj_each_pair(f, add_pair, obj);
    char *text = rc == 0 ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (rc != 0)
        return rc < 0 ? rc : -EBADMSG;
    if (!text)
        return -ENOMEM;
    rc = lj_encode_json(out, seq, text, (uint32_t)strlen(text));
    free(text);
    return rc;
}

int relay_v1_to_v2(const uint8_t *frames, size_t len, const struct lj_limits *limits,
                   struct buf *out, uint32_t *events)
{
    long n = each_data_frame(frames, len, limits, NULL, NULL);
    if (n < 0)
        return (int)n;
    int rc = lj_encode_window(out, LJ_V2, (uint32_t)n);
    if (rc < 0)
        return rc;
    long done = each_data_frame(frames, len, limits, encode_one, out);
    if (done < 0)
        return (int)done;
    *events = (uint32_t)n;
    return 0;
}
