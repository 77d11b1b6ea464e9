#include "store/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "store/journal.h"
#include "store/journal_format.h"
#include "store/segdir.h"

#define MAX_SEGMENT_IMAGE ((size_t)1 << 34)

struct journal_reader {
    char dir[4096];
    uint64_t want; /* the next sequence number to return */
    bool have_seg;
    uint64_t seg_first; /* the segment being read */
    bool seg_compressed;
    unsigned char *img; /* its bytes so far */
    size_t img_len;
    size_t off; /* the next record's offset in IMG */
    struct reader_stats stats;
};

int journal_reader_open(struct journal_reader **out, const char *data_dir, uint64_t from_seq)
{
    struct journal_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    journal_dir_of(data_dir, r->dir, sizeof(r->dir));
    struct stat st;
    if (stat(r->dir, &st) != 0) {
        int e = -errno;
        free(r);
        return e;
    }
    r->want = from_seq ? from_seq : 1;
    *out = r;
    return 0;
}

void journal_reader_close(struct journal_reader *r)
{
    if (!r)
        return;
    free(r->img);
    free(r);
}

void journal_reader_stats(const struct journal_reader *r, struct reader_stats *out)
{
    *out = r->stats;
}

/* Loads segment E from scratch. */
static int load_segment(struct journal_reader *r, const struct seg_entry *e)
{
    unsigned char *data;
    size_t len;
    bool damaged;
    int rc = segdir_load(e, MAX_SEGMENT_IMAGE, &data, &len, &damaged);
    if (rc < 0)
        return rc;
    free(r->img);
    r->img = data;
    r->img_len = len;
    r->have_seg = true;
    r->seg_first = e->first_seq;
    r->seg_compressed = e->compressed;
    r->off = JF_SEG_HDR_LEN;
    struct jf_seg_header h;
    if (len < JF_SEG_HDR_LEN || !jf_decode_seg_header(data, &h)) {
        /* A damaged header: records are still found by their own magic and CRCs. */
        r->off = len < JF_SEG_HDR_LEN ? len : jf_resync(data, len, 0);
    }
    return 0;
}

/* Reads what was appended to the plain segment being read since it was loaded. If it was
 * compressed meanwhile, loads the compressed form (same content). */
static int refresh_segment(struct journal_reader *r)
{
    if (r->seg_compressed)
        return 0;
    char path[4400];
    segdir_name(path, sizeof(path), r->dir, r->seg_first, false);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return -errno;
        struct seg_entry e = {.first_seq = r->seg_first, .compressed = true};
        segdir_name(e.path, sizeof(e.path), r->dir, r->seg_first, true);
        size_t off = r->off;
        int rc = load_segment(r, &e);
        if (rc == 0)
            r->off = off;
        return rc == -ENOENT ? 0 : rc;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size > r->img_len) {
        size_t grow = (size_t)st.st_size - r->img_len;
        unsigned char *n = realloc(r->img, r->img_len + grow);
        if (!n) {
            rc = -ENOMEM;
        } else {
            r->img = n;
            ssize_t got = pread(fd, r->img + r->img_len, grow, (off_t)r->img_len);
            if (got > 0)
                r->img_len += (size_t)got;
        }
    }
    close(fd);
    return rc;
}

/* Moves to the segment holding R->want, or the first one after the current. Returns 1 when a
 * segment was loaded, 0 when there is none newer, or a negative errno. */
static int next_segment(struct journal_reader *r, bool *is_newest)
{
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(r->dir, &segs, &n);
    if (rc < 0)
        return rc;
    size_t pick = n;
    if (r->have_seg) {
        for (size_t i = 0; i < n && pick == n; i++) {
            if (segs[i].first_seq > r->seg_first)
                pick = i;
        }
    } else if (n > 0) {
        /* The last segment starting at or before WANT holds it; after retention removed older
         * segments, the first one left. */
        pick = 0;
        for (size_t i = 0; i < n; i++) {
            if (segs[i].first_seq <= r->want)
                pick = i;
        }
    }
    if (pick == n) {
        free(segs);
        *is_newest = true;
        return 0;
    }
    *is_newest = pick + 1 == n;
    rc = load_segment(r, &segs[pick]);
    free(segs);
    return rc < 0 ? rc : 1;
}

static bool newest_segment(struct journal_reader *r)
{
    struct seg_entry *segs;
    size_t n;
    if (segdir_list(r->dir, &segs, &n) < 0)
        return true;
    bool newest = n == 0 || segs[n - 1].first_seq <= r->seg_first;
    free(segs);
    return newest;
}

int journal_reader_next(struct journal_reader *r, struct journal_record *rec)
{
    bool refreshed = false;
    for (;;) {
        if (!r->have_seg) {
            bool newest;
            int rc = next_segment(r, &newest);
            if (rc <= 0)
                return rc;
        }
        struct jf_rec_header h;
        int p = r->off < r->img_len ? jf_parse_at(r->img, r->img_len, r->off, &h) : 0;
        if (p == 1) {
            size_t at = r->off;
            r->off += JF_REC_HDR_LEN + h.len;
            if (h.seq < r->want)
                continue;
            if (h.seq > r->want && r->want > r->seg_first)
                r->stats.missing_records += h.seq - r->want;
            r->want = h.seq + 1;
            rec->seq = h.seq;
            rec->time_ms = h.time_ms;
            rec->hash = r->img + at + 24;
            rec->payload = (const char *)r->img + at + JF_REC_HDR_LEN;
            rec->len = h.len;
            return 1;
        }
        bool newest = newest_segment(r);
        if (p < 0 && !newest) {
            /* Damage inside a sealed segment: skip to the next whole record. */
            size_t next = jf_resync(r->img, r->img_len, r->off);
            r->stats.corrupt_regions++;
            r->stats.corrupt_bytes += next - r->off;
            log_warn("journal", "segment %020" PRIu64 ": %zu damaged bytes at offset %zu skipped",
                     r->seg_first, next - r->off, r->off);
            r->off = next;
            continue;
        }
        /* End of what this segment holds now. */
        if (!refreshed) {
            int rc = refresh_segment(r);
            if (rc < 0)
                return rc;
            refreshed = true;
            continue;
        }
        if (newest)
            return 0;
        if (r->off < r->img_len && p == 0) {
            /* A sealed segment ending inside a record: count the cut tail. */
            r->stats.corrupt_regions++;
            r->stats.corrupt_bytes += r->img_len - r->off;
        }
        bool is_newest;
        int rc = next_segment(r, &is_newest);
        if (rc <= 0)
            return rc;
        refreshed = false;
    }
}
