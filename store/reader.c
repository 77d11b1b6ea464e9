#include "store/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4frame.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/log.h"
#include "store/journal.h"
#include "store/journal_format.h"
#include "store/segdir.h"

#define READER_IN_CAP ((size_t)64 << 10) /* compressed bytes read at a time */

/* What record_at finds at an offset. */
enum { REC_PARTIAL = 0, REC_WHOLE = 1, REC_DAMAGED = 2 };

struct journal_reader {
    char dir[4096];
    uint64_t want; /* the next sequence number to return */
    bool have_seg;
    uint64_t seg_first; /* the segment being read */
    bool seg_compressed;
    bool seg_started; /* its header was read (or stepped over) */
    int fd;           /* the segment file, kept open: it stays readable when sealing removes it */
    uint64_t off;     /* the next record's offset in the segment's content */
    /* Which of its records count, as far as it was read (journal_format.h). */
    struct jf_walk walk;
    /* The window: the segment's content [base, base + len) in buf, of capacity cap. */
    unsigned char *buf;
    size_t cap, len;
    uint64_t base;
    /* A compressed segment is decompressed as a stream; its position is base + len. */
    LZ4F_dctx *dctx;
    unsigned char *in;
    size_t in_off, in_len;
    bool z_end; /* the frame ended, or is damaged there: no more content */
    struct reader_stats stats;
};

int journal_reader_open(struct journal_reader **out, const char *data_dir, uint64_t from_seq)
{
    struct journal_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->fd = -1;
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
    if (r->fd >= 0)
        close(r->fd);
    if (r->dctx)
        LZ4F_freeDecompressionContext(r->dctx);
    free(r->in);
    free(r->buf);
    free(r);
}

void journal_reader_stats(const struct journal_reader *r, struct reader_stats *out)
{
    *out = r->stats;
}

size_t journal_reader_window(const struct journal_reader *r)
{
    return r->cap;
}

/* Restarts the decompression of a compressed segment from its first byte. */
static int rewind_stream(struct journal_reader *r)
{
    if (lseek(r->fd, 0, SEEK_SET) < 0)
        return -errno;
    LZ4F_resetDecompressionContext(r->dctx);
    r->in_off = r->in_len = 0;
    r->z_end = false;
    r->base = 0;
    r->len = 0;
    return 0;
}

/* Appends to the window what the segment holds past it, up to the window's capacity. Returns
 * the number of bytes added (0: nothing more for now) or a negative errno. */
static ssize_t fill(struct journal_reader *r)
{
    size_t room = r->cap - r->len;
    if (!r->seg_compressed) {
        ssize_t got;
        do
            got = pread(r->fd, r->buf + r->len, room, (off_t)(r->base + r->len));
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return -errno;
        r->len += (size_t)got;
        return got;
    }
    size_t produced = 0;
    while (produced < room && !r->z_end) {
        if (r->in_off == r->in_len) {
            ssize_t got;
            do
                got = read(r->fd, r->in, READER_IN_CAP);
            while (got < 0 && errno == EINTR);
            if (got < 0)
                return -errno;
            if (got == 0) {
                r->z_end = true; /* a truncated frame: what decoded is kept */
                break;
            }
            r->in_off = 0;
            r->in_len = (size_t)got;
        }
        size_t src = r->in_len - r->in_off, dst = room - produced;
        size_t hint = LZ4F_decompress(r->dctx, r->buf + r->len + produced, &dst, r->in + r->in_off,
                                      &src, NULL);
        if (LZ4F_isError(hint)) {
            /* Damage: what decoded before it is kept, the records' CRCs tell which are whole. */
            r->z_end = true;
            break;
        }
        r->in_off += src;
        produced += dst;
        if (hint == 0 || (src == 0 && dst == 0))
            r->z_end = true; /* the frame's end (or no progress: treated as its end) */
    }
    r->len += produced;
    return (ssize_t)produced;
}

/* Sets the window's capacity to NEED (at least JOURNAL_READER_WINDOW), shrinking it back to
 * JOURNAL_READER_WINDOW once what it holds fits there. */
static int size_window(struct journal_reader *r, size_t need)
{
    size_t want = need > JOURNAL_READER_WINDOW ? need : JOURNAL_READER_WINDOW;
    if (want < r->len)
        want = r->len;
    if (r->cap >= want && (r->cap == JOURNAL_READER_WINDOW || want > JOURNAL_READER_WINDOW))
        return 0;
    unsigned char *n = realloc(r->buf, want);
    if (!n)
        return -ENOMEM;
    r->buf = n;
    r->cap = want;
    return 0;
}

/* Makes the window hold the segment's content [OFF, OFF + NEED) as far as the segment has it.
 * Returns how many of those bytes are there (less than NEED at the end of what the segment holds
 * now) or a negative errno. Moves and refills the window: pointers into it are then stale. */
static ssize_t window_at(struct journal_reader *r, uint64_t off, size_t need)
{
    if (off >= r->base && off - r->base <= r->len && need <= r->len - (off - r->base))
        return (ssize_t)need;
    int rc;
    if (off < r->base) {
        if (r->seg_compressed) {
            if ((rc = rewind_stream(r)) < 0)
                return rc;
        } else {
            r->base = off;
            r->len = 0;
        }
    }
    if (off - r->base > r->len) {
        if (!r->seg_compressed) {
            r->base = off;
            r->len = 0;
        } else {
            /* Decompress up to OFF, keeping no more than a window of it. */
            if ((rc = size_window(r, 0)) < 0)
                return rc;
            while (off - r->base > r->len) {
                r->base += r->len;
                r->len = 0;
                ssize_t got = fill(r);
                if (got < 0)
                    return got;
                if (got == 0)
                    return 0;
            }
        }
    }
    size_t drop = (size_t)(off - r->base);
    if (drop) {
        memmove(r->buf, r->buf + drop, r->len - drop);
        r->len -= drop;
        r->base = off;
    }
    if ((rc = size_window(r, need)) < 0)
        return rc;
    while (r->len < need) {
        ssize_t got = fill(r);
        if (got < 0)
            return got;
        if (got == 0)
            break;
    }
    return (ssize_t)(r->len < need ? r->len : need);
}

/* Reads the record at AT: REC_WHOLE (header in H, record in the window at AT), REC_PARTIAL (the
 * content ends inside it), REC_DAMAGED, or a negative errno. */
static int look_at(struct journal_reader *r, uint64_t at, struct jf_rec_header *h)
{
    ssize_t got = window_at(r, at, JF_REC_HDR_LEN);
    if (got < 0)
        return (int)got;
    if ((size_t)got < JF_REC_HDR_LEN)
        return REC_PARTIAL;
    if (!jf_decode_rec_header(r->buf + (at - r->base), h))
        return REC_DAMAGED;
    size_t whole = JF_REC_HDR_LEN + (size_t)h->len;
    got = window_at(r, at, whole);
    if (got < 0)
        return (int)got;
    if ((size_t)got < whole)
        return REC_PARTIAL;
    const unsigned char *p = r->buf + (at - r->base) + JF_REC_HDR_LEN;
    return crc32c(0, p, h->len) == h->payload_crc ? REC_WHOLE : REC_DAMAGED;
}

/* As look_at, but in a plain segment a record that is not whole is judged again on bytes read
 * from the file anew: what the window read ahead past the last whole record may have been a torn
 * write that recovery has cut and written over since. */
static int record_at(struct journal_reader *r, uint64_t at, struct jf_rec_header *h)
{
    int v = look_at(r, at, h);
    if (v < 0 || v == REC_WHOLE || r->seg_compressed)
        return v;
    r->base = at;
    r->len = 0;
    return look_at(r, at, h);
}

/* Finds the next whole record after damage at AT: 1 with *NEXT and its header in *H, 0 when the
 * content ends before one, or a negative errno. */
static int resync_from(struct journal_reader *r, uint64_t at, uint64_t *next,
                       struct jf_rec_header *h)
{
    for (uint64_t o = at + 1;; o++) {
        ssize_t got = window_at(r, o, JF_REC_HDR_LEN);
        if (got < 0)
            return (int)got;
        if ((size_t)got < JF_REC_HDR_LEN)
            return 0;
        if (r->buf[o - r->base] != (JF_REC_MAGIC & 0xff))
            continue;
        int p = look_at(r, o, h);
        if (p < 0)
            return p;
        if (p == REC_WHOLE) {
            *next = o;
            return 1;
        }
    }
}

/* Reads the segment's header once it is all there. A header still being written is waited
 * for; a damaged one, or one naming another first sequence than the file, is stepped over: the
 * records are found by their own magic and CRCs, the walk going on from the segment's name as
 * after damage (jf_walk_start). */
static int start_segment(struct journal_reader *r)
{
    ssize_t got = window_at(r, 0, JF_SEG_HDR_LEN);
    if (got < 0)
        return (int)got;
    if ((size_t)got < JF_SEG_HDR_LEN)
        return 0;
    struct jf_seg_header h;
    if (jf_decode_seg_header(r->buf, &h) && h.first_seq == r->seg_first) {
        r->walk = (struct jf_walk){.expect = h.first_seq};
        r->off = JF_SEG_HDR_LEN;
        r->seg_started = true;
        return 0;
    }
    uint64_t next;
    struct jf_rec_header nh;
    int rc = resync_from(r, 0, &next, &nh);
    if (rc == 1) {
        r->walk = (struct jf_walk){.expect = r->seg_first, .after_damage = true};
        r->off = next;
        r->seg_started = true;
    }
    return rc < 0 ? rc : 0;
}

/* Switches to the segment starting at FIRST, plain or (once sealed) compressed. The sealer
 * renames the compressed file into place before it removes the plain one, so one of the two is
 * always there; trying both closes the window a directory listing would leave open.
 * Returns 1 when opened, 0 when there is no such segment, or a negative errno. */
static int open_segment(struct journal_reader *r, uint64_t first)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        for (int z = 0; z < 2; z++) {
            char path[4400];
            segdir_name(path, sizeof(path), r->dir, first, z == 1);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno != ENOENT)
                    return -errno;
                continue;
            }
            if (z == 1) {
                if (!r->dctx &&
                    LZ4F_isError(LZ4F_createDecompressionContext(&r->dctx, LZ4F_VERSION))) {
                    r->dctx = NULL;
                    close(fd);
                    return -ENOMEM;
                }
                if (!r->in && !(r->in = malloc(READER_IN_CAP))) {
                    close(fd);
                    return -ENOMEM;
                }
                LZ4F_resetDecompressionContext(r->dctx);
            }
            if (r->fd >= 0)
                close(r->fd);
            r->fd = fd;
            r->have_seg = true;
            r->seg_first = first;
            r->seg_compressed = z == 1;
            r->seg_started = false;
            r->off = JF_SEG_HDR_LEN;
            r->base = 0;
            r->len = 0;
            r->in_off = r->in_len = 0;
            r->z_end = false;
            return 1;
        }
    }
    return 0;
}

/* The first segment after the current one, from a directory listing (for gaps that retention or
 * damage left): 1 with *FIRST, 0 when there is none, or a negative errno. */
static int listed_after(struct journal_reader *r, uint64_t *first)
{
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(r->dir, &segs, &n);
    if (rc < 0)
        return rc;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (segs[i].first_seq > r->seg_first) {
            *first = segs[i].first_seq;
            found = 1;
        }
    }
    free(segs);
    return found;
}

/* Opens the segment holding R->want: the last one starting at or before it; after retention
 * removed older segments, the first one left. 1, 0 (no segment yet) or a negative errno. */
static int open_first(struct journal_reader *r)
{
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(r->dir, &segs, &n);
    if (rc < 0)
        return rc;
    if (n == 0) {
        free(segs);
        return 0;
    }
    uint64_t pick = segs[0].first_seq;
    for (size_t i = 0; i < n; i++) {
        if (segs[i].first_seq <= r->want)
            pick = segs[i].first_seq;
    }
    free(segs);
    return open_segment(r, pick);
}

/* Whether a segment after the current one exists: 1 with *FIRST, 0, or a negative errno.
 * Segments are contiguous: the next one, if any, starts at WANT. */
static int next_segment(struct journal_reader *r, uint64_t *first)
{
    if (r->want > r->seg_first) {
        for (int z = 0; z < 2; z++) {
            char path[4400];
            segdir_name(path, sizeof(path), r->dir, r->want, z == 1);
            if (access(path, F_OK) == 0) {
                *first = r->want;
                return 1;
            }
            if (errno != ENOENT)
                return -errno;
        }
    }
    return listed_after(r, first);
}

/* Forgets what the window holds past the next unread record: bytes there may have been a torn
 * write that recovery cut and rewrote. The next look reads them again from the file. When the
 * segment's name no longer leads to the file open (the writer removes a segment whose creation
 * failed, a full disk, and makes it again), the segment is read again from its start in the new
 * file; the records already returned are skipped by their sequence numbers. When the name leads
 * nowhere (sealed: the compressed twin holds the same), the open file is read on. */
static int refresh(struct journal_reader *r)
{
    if (r->seg_compressed)
        return 0; /* sealed: complete */
    char path[4400];
    struct stat named, held;
    segdir_name(path, sizeof(path), r->dir, r->seg_first, false);
    if (stat(path, &named) == 0 && fstat(r->fd, &held) == 0 &&
        (named.st_ino != held.st_ino || named.st_dev != held.st_dev)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? 0 : -errno;
        close(r->fd);
        r->fd = fd;
        r->seg_started = false;
        r->off = JF_SEG_HDR_LEN;
        r->base = 0;
        r->len = 0;
        return 0;
    }
    if (!r->seg_started)
        r->len = 0;
    else if (r->off >= r->base && r->off - r->base < r->len)
        r->len = (size_t)(r->off - r->base);
    return 0;
}

/* How many bytes of content the segment holds past AT (read to its end; the window is spent). */
static uint64_t bytes_after(struct journal_reader *r, uint64_t at)
{
    uint64_t end;
    if (!r->seg_compressed) {
        struct stat st;
        end = fstat(r->fd, &st) == 0 ? (uint64_t)st.st_size : at;
    } else {
        ssize_t got;
        do {
            r->base += r->len;
            r->len = 0;
            got = size_window(r, 0) < 0 ? -ENOMEM : fill(r);
        } while (got > 0);
        end = r->base + r->len;
    }
    return end > at ? end - at : 0;
}

static void count_damage(struct journal_reader *r, uint64_t from, uint64_t to)
{
    r->stats.corrupt_regions++;
    r->stats.corrupt_bytes += to - from;
    log_warn("journal",
             "segment %020" PRIu64 ": %" PRIu64 " damaged bytes at offset %" PRIu64 " skipped",
             r->seg_first, to - from, from);
}

int journal_reader_next(struct journal_reader *r, struct journal_record *rec)
{
    bool refreshed = false; /* the current segment was read again from the file in this call */
    bool final = false;     /* ... after a later segment was seen: it holds no more than that */
    for (;;) {
        if (!r->have_seg) {
            int rc = open_first(r);
            if (rc <= 0)
                return rc;
        }
        int p = REC_PARTIAL;
        struct jf_rec_header h;
        if (!r->seg_started) {
            int rc = start_segment(r);
            if (rc < 0)
                return rc;
        }
        if (r->seg_started && (p = record_at(r, r->off, &h)) < 0)
            return p;
        if (p == REC_WHOLE && !jf_walk_fits(&r->walk, h.seq))
            p = REC_DAMAGED; /* numbered out of the segment's order: damage, as for recovery */
        if (p == REC_WHOLE) {
            jf_walk_take(&r->walk, h.seq);
            uint64_t at = r->off;
            r->off += JF_REC_HDR_LEN + h.len;
            if (h.seq < r->want)
                continue;
            if (h.seq > r->want && r->want > r->seg_first)
                r->stats.missing_records += h.seq - r->want;
            r->want = h.seq + 1;
            const unsigned char *b = r->buf + (at - r->base);
            rec->seq = h.seq;
            rec->time_ms = h.time_ms;
            rec->hash = b + 24;
            rec->payload = (const char *)b + JF_REC_HDR_LEN;
            rec->len = h.len;
            return 1;
        }
        if (p == REC_DAMAGED) {
            /* Damage followed by a whole record that continues the numbering is not a write in
             * progress: skip it. Otherwise the segment's records end here (recovery cuts here). */
            uint64_t next;
            struct jf_rec_header nh;
            int rc = resync_from(r, r->off, &next, &nh);
            if (rc < 0)
                return rc;
            if (rc == 1 && jf_walk_resumes(&r->walk, nh.seq)) {
                count_damage(r, r->off, next);
                r->off = next;
                continue;
            }
        }
        /* The end of what this segment holds now: it may still be growing. */
        if (!refreshed) {
            int rc = refresh(r);
            if (rc < 0)
                return rc;
            refreshed = true;
            continue;
        }
        fault_point("reader-segment-end");
        uint64_t next_first;
        int rc = next_segment(r, &next_first);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 0; /* the newest segment: nothing more yet */
        if (!final) {
            /* The writer creates a segment only after it wrote everything before it into the
             * previous one. Records written between the look above and the appearance of the next
             * segment are there now: read this one again before leaving it. */
            final = true;
            if ((rc = refresh(r)) < 0)
                return rc;
            continue;
        }
        uint64_t at = r->off, was = r->seg_first;
        uint64_t left = bytes_after(r, at);
        if ((rc = open_segment(r, next_first)) <= 0)
            return rc; /* removed meanwhile (retention): looked for again on the next call */
        if (left) {
            r->stats.corrupt_regions++; /* the old segment ended in a damaged or cut record */
            r->stats.corrupt_bytes += left;
            log_warn("journal",
                     "segment %020" PRIu64 ": %" PRIu64 " unreadable bytes at offset %" PRIu64
                     " at its end skipped",
                     was, left, at);
        }
        refreshed = false;
        final = false;
    }
}
