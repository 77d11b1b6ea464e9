/* The journal reader's memory: a window of its segment, not the segment. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../support/testutil.h"
#include "store/journal.h"
#include "store/journal_format.h"
#include "store/reader.h"
#include "store/segdir.h"

TU_TEMPDIR_SUITE(reader, root);

#define BIG_LEN ((size_t)300 << 10) /* a record several windows long */

/* The payload of sequence SEQ: mostly a few hundred bytes, every 1000th BIG_LEN. */
static size_t payload_len(uint64_t seq)
{
    return seq % 1000 == 500 ? BIG_LEN : 100 + (size_t)(seq * 37) % 900;
}

static void payload_fill(uint64_t seq, unsigned char *out, size_t len)
{
    for (size_t k = 0; k < len; k++)
        out[k] = (unsigned char)('a' + (seq * 7 + k * 13 + k / 251) % 26);
}

static struct journal *open_journal(const char *dir, uint64_t segment_bytes, bool compress)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = segment_bytes;
    o.compress_sealed = compress;
    struct journal *j = NULL;
    cr_assert_eq(journal_open(&j, dir, &o, NULL), 0);
    return j;
}

static void append_records(struct journal *j, uint64_t count)
{
    unsigned char *p = malloc(BIG_LEN);
    cr_assert_not_null(p);
    for (uint64_t seq = 1; seq <= count; seq++) {
        size_t len = payload_len(seq);
        payload_fill(seq, p, len);
        cr_assert_eq(journal_append(j, p, len, NULL, NULL), 0);
    }
    free(p);
    cr_assert_eq(journal_flush(j), 0);
}

static void wait_sealed_compressed(struct journal *j)
{
    struct journal_stats st;
    time_t start = time(NULL);
    do {
        journal_get_stats(j, &st);
        if (st.segments_compressed == st.segments_sealed)
            return;
        usleep(2000);
    } while (time(NULL) - start < 120);
    cr_assert_fail("%llu of %llu sealed segments compressed",
                   (unsigned long long)st.segments_compressed,
                   (unsigned long long)st.segments_sealed);
}

/* Reads from FROM to the end: every record in order, whole, with its payload; the window stays
 * at JOURNAL_READER_WINDOW while records fit in it. Returns the number read. */
static uint64_t read_checked(const char *dir, uint64_t from, uint64_t last, size_t *max_window)
{
    struct journal_reader *r;
    cr_assert_eq(journal_reader_open(&r, dir, from), 0);
    unsigned char *want = malloc(BIG_LEN);
    cr_assert_not_null(want);
    struct journal_record rec;
    uint64_t expect = from, n = 0;
    int rc;
    *max_window = 0;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        cr_assert_eq(rec.seq, expect, "read %llu where %llu was next", (unsigned long long)rec.seq,
                     (unsigned long long)expect);
        size_t len = payload_len(rec.seq);
        cr_assert_eq(rec.len, len, "length of %llu", (unsigned long long)rec.seq);
        payload_fill(rec.seq, want, len);
        cr_assert(memcmp(rec.payload, want, len) == 0, "payload of %llu",
                  (unsigned long long)rec.seq);
        size_t w = journal_reader_window(r);
        if (len < JOURNAL_READER_WINDOW / 2) {
            cr_assert_leq(w, JOURNAL_READER_WINDOW, "a %zu-byte window at %llu", w,
                          (unsigned long long)rec.seq);
            if (w > *max_window)
                *max_window = w;
        }
        expect++;
        n++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(expect, last + 1, "the reader stopped at %llu of %llu",
                 (unsigned long long)expect - 1, (unsigned long long)last);
    struct reader_stats st;
    journal_reader_stats(r, &st);
    cr_assert_eq(st.corrupt_regions, 0);
    journal_reader_close(r);
    free(want);
    return n;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return (uint64_t)st.st_size;
}

Test(reader, holds_a_bounded_window_of_plain_and_compressed_segments_and_reads_large_records_whole)
{
    /* 4 MiB segments, each about 64 windows of content and a few records of 300 KiB. */
    struct journal *j = open_journal(root, 4u << 20, true);
    const uint64_t count = 13000;
    append_records(j, count);
    wait_sealed_compressed(j);
    struct journal_stats js;
    journal_get_stats(j, &js);
    journal_close(j);
    cr_assert_geq(js.segments_compressed, 2, "%llu sealed segments",
                  (unsigned long long)js.segments_compressed);

    char jdir[400];
    journal_dir_of(root, jdir, sizeof(jdir));
    struct seg_entry *segs;
    size_t n;
    cr_assert_eq(segdir_list(jdir, &segs, &n), 0);
    cr_assert_geq(n, 3);
    cr_assert(segs[0].compressed && !segs[n - 1].compressed);
    cr_assert_gt(file_size(segs[n - 1].path), 16 * JOURNAL_READER_WINDOW,
                 "the newest segment is many windows long");
    cr_assert_gt(segs[1].first_seq - segs[0].first_seq, 2000, "so is a sealed one");
    uint64_t mid = (segs[0].first_seq + segs[1].first_seq) / 2;
    free(segs);

    size_t maxw;
    cr_assert_eq(read_checked(root, 1, count, &maxw), count);
    cr_assert_eq(maxw, JOURNAL_READER_WINDOW,
                 "the window went back to its bound after large "
                 "records");
    /* From the middle of a compressed segment: decompressed as a stream up to there. */
    cr_assert_eq(read_checked(root, mid, count, &maxw), count - mid + 1);
    cr_assert_eq(maxw, JOURNAL_READER_WINDOW);
}

Test(reader, steps_over_damage_longer_than_its_window)
{
    /* One sealed plain segment with 200 KiB of garbage in its middle. */
    struct journal *j = open_journal(root, 2u << 20, false);
    append_records(j, 4000);
    journal_close(j);
    char jdir[400];
    journal_dir_of(root, jdir, sizeof(jdir));
    struct seg_entry *segs;
    size_t n;
    cr_assert_eq(segdir_list(jdir, &segs, &n), 0);
    cr_assert_geq(n, 2);
    char path[4400];
    snprintf(path, sizeof(path), "%s", segs[0].path);
    free(segs);
    uint64_t size = file_size(path);
    size_t bad = 200u << 10;
    cr_assert_gt(size, 4 * bad);
    unsigned char *junk = malloc(bad);
    cr_assert_not_null(junk);
    for (size_t k = 0; k < bad; k++)
        junk[k] = (unsigned char)(k * 2654435761u >> 13);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, junk, bad, (off_t)(size / 2)), (ssize_t)bad);
    close(fd);
    free(junk);

    struct journal_reader *r;
    cr_assert_eq(journal_reader_open(&r, root, 1), 0);
    struct journal_record rec;
    uint64_t prev = 0, read = 0;
    int rc;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        cr_assert_gt(rec.seq, prev);
        cr_assert_eq(rec.len, payload_len(rec.seq));
        prev = rec.seq;
        read++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(prev, 4000, "the records after the damage are read");
    struct reader_stats st;
    journal_reader_stats(r, &st);
    cr_assert_eq(st.corrupt_regions, 1);
    cr_assert_geq(st.corrupt_bytes, bad);
    cr_assert_eq(read + st.missing_records, 4000, "%llu read, %llu missing",
                 (unsigned long long)read, (unsigned long long)st.missing_records);
    cr_assert_leq(journal_reader_window(r), JOURNAL_READER_WINDOW);
    journal_reader_close(r);
}

Test(reader, reads_the_records_written_over_a_torn_tail_it_had_read_part_of)
{
    /* Records 1-3, then a torn record 4: its header and half of its 600-byte payload. */
    struct journal *j = open_journal(root, 1u << 20, false);
    append_records(j, 3);
    journal_close(j);
    char jdir[400], seg[4400];
    journal_dir_of(root, jdir, sizeof(jdir));
    segdir_name(seg, sizeof(seg), jdir, 1, false);
    unsigned char torn[JF_REC_HDR_LEN + 300], payload[600];
    memset(payload, 'z', sizeof(payload));
    struct jf_rec_header h = {.len = sizeof(payload), .seq = 4, .time_ms = 1};
    h.payload_crc = crc32c(0, payload, sizeof(payload));
    jf_encode_rec_header(torn, &h);
    memcpy(torn + JF_REC_HDR_LEN, payload, sizeof(torn) - JF_REC_HDR_LEN);
    int fd = open(seg, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, torn, sizeof(torn)), (ssize_t)sizeof(torn));
    close(fd);

    /* A follower reads 1-3 and the start of the torn record, which is not whole yet. */
    struct journal_reader *r;
    cr_assert_eq(journal_reader_open(&r, root, 1), 0);
    struct journal_record rec;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        cr_assert_eq(journal_reader_next(r, &rec), 1);
        cr_assert_eq(rec.seq, seq);
    }
    cr_assert_eq(journal_reader_next(r, &rec), 0);

    /* The next start cuts the torn tail and writes records 4-8 (of other lengths) there. */
    j = open_journal(root, 1u << 20, false);
    unsigned char p[1200];
    for (uint64_t seq = 4; seq <= 8; seq++) {
        payload_fill(seq, p, payload_len(seq));
        uint64_t got = 0;
        cr_assert_eq(journal_append_wait(j, p, payload_len(seq), &got), 0);
        cr_assert_eq(got, seq);
    }
    journal_close(j);
    for (uint64_t seq = 4; seq <= 8; seq++) {
        cr_assert_eq(journal_reader_next(r, &rec), 1, "record %llu", (unsigned long long)seq);
        cr_assert_eq(rec.seq, seq);
        payload_fill(seq, p, payload_len(seq));
        cr_assert_eq(rec.len, payload_len(seq));
        cr_assert(memcmp(rec.payload, p, rec.len) == 0);
    }
    cr_assert_eq(journal_reader_next(r, &rec), 0);
    struct reader_stats st;
    journal_reader_stats(r, &st);
    cr_assert_eq(st.corrupt_regions, 0);
    journal_reader_close(r);
}
