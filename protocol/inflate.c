#include "protocol/inflate.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>

struct inflater {
    struct libdeflate_decompressor *d;
    uint8_t *buf;
    size_t cap;
    size_t max_out;
    unsigned max_ratio;
};

struct inflater *inflater_new(size_t max_out, unsigned max_ratio)
{
    struct inflater *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    z->d = libdeflate_alloc_decompressor();
    if (!z->d) {
        free(z);
        return NULL;
    }
    z->max_out = max_out;
    z->max_ratio = max_ratio ? max_ratio : 1;
    return z;
}

void inflater_free(struct inflater *z)
{
    if (!z)
        return;
    libdeflate_free_decompressor(z->d);
    free(z->buf);
    free(z);
}

static int grow(struct inflater *z, size_t want)
{
    if (want <= z->cap)
        return 0;
    uint8_t *b = realloc(z->buf, want);
    if (!b)
        return -ENOMEM;
    z->buf = b;
    z->cap = want;
    return 0;
}

int inflater_run(struct inflater *z, const void *p, size_t n, const uint8_t **out, size_t *outlen)
{
    /* Give back what a rare huge frame (or a zip bomb) made the buffer grow to. */
    if (z->cap > ((size_t)16 << 20)) {
        free(z->buf);
        z->buf = NULL;
        z->cap = 0;
    }
    size_t limit = z->max_out;
    if (n <= limit / z->max_ratio)
        limit = n * z->max_ratio;
    /* Start from a typical ratio for JSON and double up to the limit. */
    size_t size = n * 8 + 4096;
    if (size > limit)
        size = limit;
    for (;;) {
        int rc = grow(z, size ? size : 1);
        if (rc < 0)
            return rc;
        size_t got = 0;
        enum libdeflate_result r = libdeflate_zlib_decompress(z->d, p, n, z->buf, size, &got);
        if (r == LIBDEFLATE_SUCCESS) {
            *out = z->buf;
            *outlen = got;
            return 0;
        }
        if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
            return -EBADMSG;
        if (size >= limit)
            return -EMSGSIZE;
        size = size > limit / 2 ? limit : size * 2;
    }
}
