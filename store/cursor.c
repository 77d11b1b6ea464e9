#include "store/cursor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/fault.h"
#include "store/journal_format.h"
#include "store/segdir.h"

/* Slot layout, 32 bytes: u32 magic "AMSC", u32 version 1, u64 generation, u64 position,
 * u32 reserved, u32 CRC32C of the preceding 28 bytes. Slot = generation % 2. */
#define SLOT_LEN   32
#define SLOT_MAGIC 0x43534D41u

struct cursor {
    int fd;
    uint64_t generation;
    uint64_t position;
};

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool decode_slot(const unsigned char *s, uint64_t *gen, uint64_t *pos)
{
    if (jf_get32(s) != SLOT_MAGIC || jf_get32(s + 4) != 1 || jf_get32(s + 28) != crc32c(0, s, 28))
        return false;
    *gen = jf_get64(s + 8);
    *pos = jf_get64(s + 16);
    return true;
}

/* The newest valid slot of an open cursor file. False when neither slot is valid. */
static bool read_slots(int fd, uint64_t *gen, uint64_t *pos)
{
    unsigned char buf[2 * SLOT_LEN];
    memset(buf, 0, sizeof(buf));
    ssize_t r = pread(fd, buf, sizeof(buf), 0);
    if (r < 0)
        return false;
    uint64_t g[2], p[2];
    bool ok0 = r >= SLOT_LEN && decode_slot(buf, &g[0], &p[0]);
    bool ok1 = r >= 2 * SLOT_LEN && decode_slot(buf + SLOT_LEN, &g[1], &p[1]);
    if (!ok0 && !ok1)
        return false;
    int best = (ok0 && (!ok1 || g[0] > g[1])) ? 0 : 1;
    *gen = g[best];
    *pos = p[best];
    return true;
}

static int write_slot(int fd, uint64_t gen, uint64_t pos)
{
    unsigned char s[SLOT_LEN];
    jf_put32(s, SLOT_MAGIC);
    jf_put32(s + 4, 1);
    jf_put64(s + 8, gen);
    jf_put64(s + 16, pos);
    jf_put32(s + 24, 0);
    jf_put32(s + 28, crc32c(0, s, 28));
    off_t off = (off_t)((gen % 2) * SLOT_LEN);
    ssize_t w = pwrite(fd, s, SLOT_LEN, off);
    if (w < 0)
        return -errno;
    if (w != SLOT_LEN)
        return -EIO;
    fault_point("cursor-after-write-before-sync");
    if (fdatasync(fd) != 0)
        return -errno;
    return 0;
}

static void cursor_dir(const char *data_dir, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/cursors", data_dir);
}

int cursor_open(struct cursor **out, const char *data_dir, const char *name)
{
    if (!valid_name(name))
        return -EINVAL;
    char dir[4096], path[4400];
    cursor_dir(data_dir, dir, sizeof(dir));
    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST)
        return -errno;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return -errno;
    snprintf(path, sizeof(path), "%s/%s.cur", dir, name);
    struct cursor *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int fd = open(path, O_RDWR | O_CLOEXEC, 0640);
    bool created = false;
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        created = true;
    }
    if (fd < 0) {
        int e = -errno;
        free(c);
        return e;
    }
    c->fd = fd;
    if (!read_slots(fd, &c->generation, &c->position)) {
        /* New, or both slots destroyed: start from the beginning (at least once). */
        c->generation = 0;
        c->position = 1;
        int rc = write_slot(fd, 1, 1);
        if (rc == 0)
            c->generation = 1;
        if (rc == 0 && created)
            rc = segdir_sync_dir(dir);
        if (rc < 0) {
            close(fd);
            free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

uint64_t cursor_get(const struct cursor *c)
{
    return c->position;
}

int cursor_set(struct cursor *c, uint64_t next_seq)
{
    int rc = write_slot(c->fd, c->generation + 1, next_seq);
    if (rc < 0)
        return rc;
    c->generation++;
    c->position = next_seq;
    return 0;
}

void cursor_close(struct cursor *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

int cursor_list(const char *data_dir, struct cursor_info **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    char dir[4096];
    cursor_dir(data_dir, dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 8, n = 0;
    struct cursor_info *v = malloc(cap * sizeof(*v));
    if (!v) {
        closedir(d);
        return -ENOMEM;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || len - 4 > 64 || strcmp(de->d_name + len - 4, ".cur") != 0)
            continue;
        char path[4400];
        if ((size_t)snprintf(path, sizeof(path), "%s/%.255s", dir, de->d_name) >= sizeof(path))
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        uint64_t gen, pos;
        bool ok = read_slots(fd, &gen, &pos);
        close(fd);
        if (!ok)
            continue;
        if (n == cap) {
            struct cursor_info *nv = realloc(v, cap * 2 * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        memcpy(v[n].name, de->d_name, len - 4);
        v[n].name[len - 4] = '\0';
        v[n].next_seq = pos;
        n++;
    }
    closedir(d);
    *out = v;
    *count = n;
    return 0;
}
