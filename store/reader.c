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

/* Takes a freshly loaded image of the segment starting at FIRST. */
static void take_image(struct journal_reader *r, uint64_t first, bool compressed,
                       unsigned char *data, size_t len)
{
    free(r->img);
    r->img = data;
    r->img_len = len;
    r->have_seg = true;
    r->seg_first = first;
    r->seg_compressed = compressed;
    r->off = JF_SEG_HDR_LEN;
    struct jf_seg_header h;
    /* A header still being written is waited for; a damaged one is stepped over: the records are
     * found by their own magic and CRCs. */
    if (len >= JF_SEG_HDR_LEN && !jf_decode_seg_header(data, &h))
        r->off = jf_resync(data, len, 0);
}

/* Loads the segment starting at FIRST by its name, plain or (once sealed) compressed. The sealer
 * renames the compressed file into place before it removes the plain one, so one of the two is
 * always there; trying both closes the window a directory listing would leave open.
 * Returns 1 when loaded, 0 when there is no such segment, or a negative errno. */
static int load_by_seq(struct journal_reader *r, uint64_t first)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        for (int z = 0; z < 2; z++) {
            struct seg_entry e = {.first_seq = first, .compressed = z == 1};
            segdir_name(e.path, sizeof(e.path), r->dir, first, e.compressed);
            unsigned char *data;
            size_t len;
            bool damaged;
            int rc = segdir_load(&e, MAX_SEGMENT_IMAGE, &data, &len, &damaged);
            if (rc == 0) {
                take_image(r, first, e.compressed, data, len);
                return 1;
            }
            if (rc != -ENOENT)
                return rc;
        }
    }
    return 0;
}

/* The first segment after the current one (or, with none yet, the one holding R->want) from a
 * directory listing: for a start, and for gaps that retention or damage left. 1, 0 or -errno. */
static int load_from_listing(struct journal_reader *r)
{
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(r->dir, &segs, &n);
    if (rc < 0)
        return rc;
    bool found = false;
    uint64_t pick = 0;
    if (r->have_seg) {
        for (size_t i = 0; i < n && !found; i++) {
            if (segs[i].first_seq > r->seg_first) {
                pick = segs[i].first_seq;
                found = true;
            }
        }
    } else if (n > 0) {
        /* The last segment starting at or before WANT holds it; after retention removed older
         * segments, the first one left. */
        pick = segs[0].first_seq;
        found = true;
        for (size_t i = 0; i < n; i++) {
            if (segs[i].first_seq <= r->want)
                pick = segs[i].first_seq;
        }
    }
    free(segs);
    return found ? load_by_seq(r, pick) : 0;
}

/* Reads what the plain segment being read holds now, from the next unread record on (bytes past
 * it may have been a torn write that recovery cut and rewrote). If the segment was compressed
 * meanwhile, loads that form (the same content). */
static int refresh_segment(struct journal_reader *r)
{
    if (r->seg_compressed)
        return 0; /* sealed: complete */
    char path[4400];
    segdir_name(path, sizeof(path), r->dir, r->seg_first, false);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return -errno;
        size_t off = r->off;
        int rc = load_by_seq(r, r->seg_first);
        if (rc == 1)
            r->off = off;
        return rc < 0 ? rc : 0;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == 0) {
        size_t size = (size_t)st.st_size;
        size_t start = r->off < r->img_len ? r->off : r->img_len;
        if (size < start)
            start = size; /* cut below what was read: nothing valid was returned from there */
        r->img_len = start;
        if (size > start) {
            unsigned char *n = realloc(r->img, size);
            if (!n) {
                rc = -ENOMEM;
            } else {
                r->img = n;
                ssize_t got = pread(fd, r->img + start, size - start, (off_t)start);
                if (got > 0)
                    r->img_len = start + (size_t)got;
            }
        }
        if (r->img_len >= JF_SEG_HDR_LEN && r->off < JF_SEG_HDR_LEN)
            r->off = JF_SEG_HDR_LEN;
    }
    close(fd);
    return rc;
}

static void count_damage(struct journal_reader *r, size_t from, size_t to)
{
    r->stats.corrupt_regions++;
    r->stats.corrupt_bytes += to - from;
    log_warn("journal", "segment %020" PRIu64 ": %zu damaged bytes at offset %zu skipped",
             r->seg_first, to - from, from);
}

int journal_reader_next(struct journal_reader *r, struct journal_record *rec)
{
    bool refreshed = false;
    for (;;) {
        if (!r->have_seg) {
            int rc = load_from_listing(r);
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
        if (p < 0) {
            /* Damage followed by a whole record is not a write in progress: skip it. */
            size_t next = jf_resync(r->img, r->img_len, r->off);
            if (next < r->img_len) {
                count_damage(r, r->off, next);
                r->off = next;
                continue;
            }
        }
        /* The end of what this segment holds now: it may still be growing. */
        if (!refreshed) {
            int rc = refresh_segment(r);
            if (rc < 0)
                return rc;
            refreshed = true;
            continue;
        }
        /* Segments are contiguous: the next one, if any, starts at WANT. */
        size_t left = r->img_len > r->off ? r->img_len - r->off : 0;
        size_t at = r->off;
        uint64_t was = r->seg_first;
        int rc = load_by_seq(r, r->want);
        if (rc == 0 && r->want != r->seg_first) {
            rc = load_from_listing(r);
        }
        if (rc < 0)
            return rc;
        if (rc == 0 || r->seg_first == was)
            return 0; /* the newest segment: nothing more yet */
        if (left) {
            r->stats.corrupt_regions++; /* the old segment ended in a damaged or cut record */
            r->stats.corrupt_bytes += left;
            log_warn("journal",
                     "segment %020" PRIu64 ": %zu unreadable bytes at offset %zu at "
                     "its end skipped",
                     was, left, at);
        }
        refreshed = false;
    }
}
