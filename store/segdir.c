#include "store/segdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/journal_format.h"

void segdir_name(char *out, size_t outlen, const char *dir, uint64_t first_seq, bool compressed)
{
    snprintf(out, outlen, "%s/%020" PRIu64 "%s", dir, first_seq,
             compressed ? JF_LZ4_SUFFIX : JF_SEG_SUFFIX);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct seg_entry *x = a, *y = b;
    if (x->first_seq != y->first_seq)
        return x->first_seq < y->first_seq ? -1 : 1;
    return (int)x->compressed - (int)y->compressed; /* plain first */
}

int segdir_list(const char *dir, struct seg_entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 16, n = 0;
    struct seg_entry *v = malloc(cap * sizeof(*v));
    if (!v) {
        closedir(d);
        return -ENOMEM;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        bool compressed;
        if (len == JF_NAME_DIGITS + strlen(JF_SEG_SUFFIX) &&
            strcmp(name + JF_NAME_DIGITS, JF_SEG_SUFFIX) == 0)
            compressed = false;
        else if (len == JF_NAME_DIGITS + strlen(JF_LZ4_SUFFIX) &&
                 strcmp(name + JF_NAME_DIGITS, JF_LZ4_SUFFIX) == 0)
            compressed = true;
        else
            continue;
        uint64_t seq = 0;
        bool digits = true;
        for (int i = 0; i < JF_NAME_DIGITS; i++) {
            uint64_t digit = (uint64_t)(name[i] - '0');
            if (name[i] < '0' || name[i] > '9' || seq > (UINT64_MAX - digit) / 10) {
                digits = false;
                break;
            }
            seq = seq * 10 + digit;
        }
        /* Sequence numbers start at 1 and fit in 64 bits: any other name is not a segment (a
         * journal recovered from a file named 0 would number alerts from 0, which no reader
         * returns). */
        if (!digits || seq == 0)
            continue;
        if (n == cap) {
            struct seg_entry *nv = realloc(v, cap * 2 * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        struct seg_entry *e = &v[n];
        e->first_seq = seq;
        e->compressed = compressed;
        snprintf(e->path, sizeof(e->path), "%s/%s", dir, name);
        struct stat st;
        if (stat(e->path, &st) != 0)
            continue; /* removed meanwhile */
        e->bytes = (uint64_t)st.st_size;
        e->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        n++;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), cmp_entry);
    /* Drop the compressed twin of a plain segment: sealing did not finish. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && v[w - 1].first_seq == v[i].first_seq)
            continue;
        v[w++] = v[i];
    }
    *out = v;
    *count = w;
    return 0;
}

static int read_all(const char *path, size_t max, unsigned char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -EMSGSIZE;
    }
    size_t size = (size_t)st.st_size;
    unsigned char *p = malloc(size ? size : 1);
    if (!p) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *data = p;
    *len = got;
    return 0;
}

int segdir_load(const struct seg_entry *e, size_t max, unsigned char **data, size_t *len,
                bool *damaged)
{
    *damaged = false;
    if (!e->compressed)
        return read_all(e->path, max, data, len);
    unsigned char *in;
    size_t inlen;
    int rc = read_all(e->path, max, &in, &inlen);
    if (rc < 0)
        return rc;
    LZ4F_dctx *dctx = NULL;
    unsigned char *out = NULL;
    size_t cap = 0, used = 0, off = 0;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        free(in);
        return -ENOMEM;
    }
    rc = 0;
    size_t hint = 1;
    while (off < inlen && hint != 0) {
        if (used == cap) {
            size_t ncap = cap ? cap * 2 : 1u << 20;
            if (ncap > max)
                ncap = max;
            if (ncap <= used) {
                rc = -EMSGSIZE;
                break;
            }
            unsigned char *n = realloc(out, ncap);
            if (!n) {
                rc = -ENOMEM;
                break;
            }
            out = n;
            cap = ncap;
        }
        size_t src = inlen - off, dst = cap - used;
        hint = LZ4F_decompress(dctx, out + used, &dst, in + off, &src, NULL);
        if (LZ4F_isError(hint)) {
            rc = -EBADMSG;
            break;
        }
        off += src;
        used += dst;
    }
    if (rc == 0 && hint != 0)
        rc = -EBADMSG; /* truncated frame */
    LZ4F_freeDecompressionContext(dctx);
    free(in);
    if (rc == -EBADMSG) {
        /* Keep what decoded: the records' own CRCs tell which of them are whole. */
        *damaged = true;
        rc = 0;
    }
    if (rc < 0) {
        free(out);
        return rc;
    }
    *data = out ? out : malloc(1);
    *len = used;
    return *data ? 0 : -ENOMEM;
}

int segdir_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}
