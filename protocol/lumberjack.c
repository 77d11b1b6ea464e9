#include "protocol/lumberjack.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

void lj_limits_default(struct lj_limits *l)
{
    l->max_window = 10000;
    l->max_json = 16u << 20;
    l->max_compressed = 64u << 20;
    l->max_pairs = 1024;
    l->max_item = 1u << 20;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

long lj_decode(const uint8_t *p, size_t n, const struct lj_limits *lim, bool accept_ack,
               struct lj_frame *f)
{
    memset(f, 0, sizeof(*f));
    if (n < 1)
        return -EAGAIN;
    if (p[0] != LJ_V1 && p[0] != LJ_V2)
        return -EBADMSG;
    if (n < 2)
        return -EAGAIN;
    f->version = p[0];
    f->type = p[1];
    switch (p[1]) {
    case LJ_WINDOW:
        if (n < 6)
            return -EAGAIN;
        f->window = be32(p + 2);
        if (f->window > lim->max_window)
            return -EMSGSIZE;
        f->frame_len = 6;
        return 6;
    case LJ_ACK:
        if (!accept_ack)
            return -EBADMSG;
        if (n < 6)
            return -EAGAIN;
        f->seq = be32(p + 2);
        f->frame_len = 6;
        return 6;
    case LJ_COMPRESSED:
        if (n < 6)
            return -EAGAIN;
        f->payload_len = be32(p + 2);
        if (f->payload_len > lim->max_compressed)
            return -EMSGSIZE;
        f->frame_len = 6 + (size_t)f->payload_len;
        if (n - 6 < f->payload_len)
            return -EAGAIN;
        f->payload = p + 6;
        return (long)f->frame_len;
    case LJ_JSON:
        if (n < 10)
            return -EAGAIN;
        f->seq = be32(p + 2);
        f->payload_len = be32(p + 6);
        if (f->payload_len > lim->max_json)
            return -EMSGSIZE;
        f->frame_len = 10 + (size_t)f->payload_len;
        if (n - 10 < f->payload_len)
            return -EAGAIN;
        f->payload = p + 10;
        return (long)f->frame_len;
    case LJ_DATA: {
        if (n < 10)
            return -EAGAIN;
        f->seq = be32(p + 2);
        f->pairs = be32(p + 6);
        if (f->pairs > lim->max_pairs)
            return -EMSGSIZE;
        size_t off = 10;
        for (uint32_t i = 0; i < 2 * f->pairs; i++) {
            if (n - off < 4)
                return -EAGAIN;
            uint32_t len = be32(p + off);
            if (len > lim->max_item)
                return -EMSGSIZE;
            off += 4;
            if (n - off < len)
                return -EAGAIN;
            off += len;
        }
        f->payload = p + 10;
        f->payload_len = (uint32_t)(off - 10);
        f->frame_len = off;
        return (long)off;
    }
    default:
        return -EBADMSG;
    }
}

void lj_describe_garbage(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    if (n == 0) {
        snprintf(out, outlen, "no bytes");
        return;
    }
    if (p[0] == 0x16) {
        snprintf(out, outlen, "TLS client on a plaintext port (first byte 0x16, a TLS handshake)");
    } else if (p[0] == 'G' || p[0] == 'P' || p[0] == 'H') {
        snprintf(out, outlen, "HTTP sent to the Beats port (starts with '%.*s')",
                 (int)(n < 8 ? n : 8), (const char *)p);
    } else if (p[0] == '{') {
        snprintf(out, outlen, "JSON sent without Lumberjack framing");
    } else if ((p[0] == LJ_V1 || p[0] == LJ_V2) && n >= 2) {
        snprintf(out, outlen, "unknown frame type 0x%02x after version '%c'", p[1], p[0]);
    } else {
        snprintf(out, outlen, "unknown protocol version byte 0x%02x", p[0]);
    }
}

int lj_each_pair(const struct lj_frame *f, lj_pair_fn fn, void *ctx)
{
    const uint8_t *p = f->payload;
    size_t n = f->payload_len, off = 0;
    for (uint32_t i = 0; i < f->pairs; i++) {
        if (n - off < 4)
            return -EBADMSG;
        uint32_t kl = be32(p + off);
        off += 4;
        if (n - off < kl)
            return -EBADMSG;
        const uint8_t *k = p + off;
        off += kl;
        if (n - off < 4)
            return -EBADMSG;
        uint32_t vl = be32(p + off);
        off += 4;
        if (n - off < vl)
            return -EBADMSG;
        int rc = fn(ctx, k, kl, p + off, vl);
        if (rc)
            return rc;
        off += vl;
    }
    return 0;
}

static int put_head(struct buf *out, uint8_t version, uint8_t type, uint32_t a)
{
    uint8_t h[6] = {version, type};
    put_be32(h + 2, a);
    return buf_append(out, h, sizeof(h));
}

int lj_encode_window(struct buf *out, uint8_t version, uint32_t n)
{
    return put_head(out, version, LJ_WINDOW, n);
}

int lj_encode_ack(struct buf *out, uint8_t version, uint32_t seq)
{
    return put_head(out, version, LJ_ACK, seq);
}

int lj_encode_json(struct buf *out, uint32_t seq, const void *json, uint32_t len)
{
    uint8_t h[10] = {LJ_V2, LJ_JSON};
    put_be32(h + 2, seq);
    put_be32(h + 6, len);
    int rc = buf_reserve(out, sizeof(h) + (size_t)len);
    if (rc < 0)
        return rc;
    buf_append(out, h, sizeof(h));
    return buf_append(out, json, len);
}

int lj_encode_data(struct buf *out, uint32_t seq, const char *const *keys,
                   const char *const *values, uint32_t pairs)
{
    uint8_t h[10] = {LJ_V1, LJ_DATA};
    put_be32(h + 2, seq);
    put_be32(h + 6, pairs);
    int rc = buf_append(out, h, sizeof(h));
    for (uint32_t i = 0; rc == 0 && i < pairs; i++) {
        uint8_t l[4];
        put_be32(l, (uint32_t)strlen(keys[i]));
        rc = buf_append(out, l, 4);
        if (rc == 0)
            rc = buf_puts(out, keys[i]);
        put_be32(l, (uint32_t)strlen(values[i]));
        if (rc == 0)
            rc = buf_append(out, l, 4);
        if (rc == 0)
            rc = buf_puts(out, values[i]);
    }
    return rc;
}

int lj_encode_compressed(struct buf *out, uint8_t version, const void *p, size_t n, int level)
{
    uLong bound = compressBound((uLong)n);
    int rc = buf_reserve(out, 6 + (size_t)bound);
    if (rc < 0)
        return rc;
    uLongf clen = bound;
    if (compress2((Bytef *)out->data + out->len + 6, &clen, p, (uLong)n, level) != Z_OK)
        return -ENOMEM;
    uint8_t h[6] = {version, LJ_COMPRESSED};
    put_be32(h + 2, (uint32_t)clen);
    memcpy(out->data + out->len, h, 6);
    out->len += 6 + (size_t)clen;
    out->data[out->len] = '\0';
    return 0;
}
