#include "tools/input.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static ssize_t read_some(int fd, char *p, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

static int read_lz4(int fd, char *in, size_t have, input_chunk_fn fn, void *ctx, char *err,
                    size_t errlen)
{
    LZ4F_dctx *dctx = NULL;
    char *out = malloc(CHUNK);
    int rc = 0;
    if (!out || LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto done;
    }
    size_t hint = 1;
    for (;;) {
        size_t off = 0;
        while (off < have) {
            size_t src = have - off, dst = CHUNK;
            hint = LZ4F_decompress(dctx, out, &dst, in + off, &src, NULL);
            if (LZ4F_isError(hint)) {
                snprintf(err, errlen, "corrupt LZ4 frame: %s", LZ4F_getErrorName(hint));
                rc = -EBADMSG;
                goto done;
            }
            off += src;
            if (dst && (rc = fn(ctx, out, dst)) != 0)
                goto done;
            if (src == 0 && dst == 0)
                break;
        }
        ssize_t r = read_some(fd, in, CHUNK);
        if (r < 0) {
            snprintf(err, errlen, "read failed: %s", strerror(errno));
            rc = -errno;
            goto done;
        }
        if (r == 0)
            break;
        have = (size_t)r;
    }
    if (hint != 0) {
        snprintf(err, errlen, "truncated LZ4 frame");
        rc = -EBADMSG;
    }
done:
    LZ4F_freeDecompressionContext(dctx);
    free(out);
    return rc;
}

int input_read(const char *path, input_chunk_fn fn, void *ctx, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open: %s", strerror(e));
        return -e;
    }
    char *in = malloc(CHUNK);
    int rc = 0;
    if (!in) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto done;
    }
    /* Fill at least 4 bytes (or reach the end) to look for the LZ4 magic 0x184D2204. */
    size_t have = 0;
    while (have < 4) {
        ssize_t r = read_some(fd, in + have, CHUNK - have);
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "read failed: %s", strerror(e));
            rc = -e;
            goto done;
        }
        if (r == 0)
            break;
        have += (size_t)r;
    }
    static const unsigned char magic[4] = {0x04, 0x22, 0x4d, 0x18};
    if (have >= 4 && memcmp(in, magic, 4) == 0) {
        rc = read_lz4(fd, in, have, fn, ctx, err, errlen);
        goto done;
    }
    while (have) {
        if ((rc = fn(ctx, in, have)) != 0)
            goto done;
        ssize_t r = read_some(fd, in, CHUNK);
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "read failed: %s", strerror(e));
            rc = -e;
            goto done;
        }
        have = (size_t)r;
    }
done:
    free(in);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}
