#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../support/testutil.h"
#include "base/fault.h"
#include "store/cursor.h"
#include "store/journal.h"
#include "store/journal_format.h"
#include "store/reader.h"
#include "store/segdir.h"
#include "store/verify.h"

TU_TEMPDIR_SUITE(journal, root);

static void payload_for(uint64_t i, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "{\"alert_id\":\"%032llu\",\"n\":%llu,\"pad\":\"",
                     (unsigned long long)i, (unsigned long long)i);
    size_t pad = 40 + (i * 37) % 300;
    for (size_t k = 0; k < pad && (size_t)n + 3 < outlen; k++)
        out[n++] = (char)('a' + (i + k) % 26);
    out[n++] = '"';
    out[n++] = '}';
    out[n] = '\0';
}

static struct journal *open_journal(const char *dir, struct journal_opts *o,
                                    struct journal_recovery *rep)
{
    struct journal *j = NULL;
    int rc = journal_open(&j, dir, o, rep);
    cr_assert_eq(rc, 0, "journal_open: %s", strerror(-rc));
    return j;
}

static void append_range(struct journal *j, uint64_t from, uint64_t to)
{
    char p[512];
    for (uint64_t i = from; i <= to; i++) {
        payload_for(i, p, sizeof(p));
        uint64_t seq = 0;
        cr_assert_eq(journal_append_wait(j, p, strlen(p), &seq), 0);
        cr_assert_eq(seq, i, "record %llu got sequence %llu", (unsigned long long)i,
                     (unsigned long long)seq);
    }
}

/* Reads everything from FROM and checks each record is the payload of its sequence number.
 * Returns how many were read; LAST gets the last sequence. */
static uint64_t read_back(const char *dir, uint64_t from, uint64_t *last, struct reader_stats *st)
{
    struct journal_reader *r;
    cr_assert_eq(journal_reader_open(&r, dir, from), 0);
    struct journal_record rec;
    uint64_t n = 0;
    int rc;
    char want[512];
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        payload_for(rec.seq, want, sizeof(want));
        cr_assert_eq(rec.len, strlen(want), "length of %llu", (unsigned long long)rec.seq);
        cr_assert(memcmp(rec.payload, want, rec.len) == 0, "payload of %llu",
                  (unsigned long long)rec.seq);
        if (last)
            *last = rec.seq;
        n++;
    }
    cr_assert_eq(rc, 0);
    if (st)
        journal_reader_stats(r, st);
    journal_reader_close(r);
    return n;
}

static uint64_t faults(const char *dir)
{
    struct verify_report rep;
    cr_assert_eq(journal_verify(dir, &rep, NULL, NULL), 0);
    return rep.faults;
}

static void segment_path(const char *dir, int index, char *out, size_t outlen)
{
    char jdir[512];
    journal_dir_of(dir, jdir, sizeof(jdir));
    struct seg_entry *segs;
    size_t n;
    cr_assert_eq(segdir_list(jdir, &segs, &n), 0);
    cr_assert_gt(n, (size_t)(index < 0 ? -index - 1 : index));
    snprintf(out, outlen, "%s", segs[index < 0 ? (int)n + index : index].path);
    free(segs);
}

static off_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return st.st_size;
}

static void patch_byte(const char *path, off_t at, unsigned char x)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= x;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

Test(journal, round_trips_records_in_order_and_verifies)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 200);
    journal_close(j);
    uint64_t last = 0;
    cr_assert_eq(read_back(root, 1, &last, NULL), 200);
    cr_assert_eq(last, 200);
    cr_assert_eq(read_back(root, 150, NULL, NULL), 51, "reading from a position");
    cr_assert_eq(faults(root), 0);
}

Test(journal, continues_sequence_and_chain_after_reopening)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 10);
    journal_close(j);
    struct journal_recovery rep;
    j = open_journal(root, NULL, &rep);
    cr_assert_eq(rep.records, 10);
    cr_assert_eq(rep.truncated_bytes, 0);
    append_range(j, 11, 20);
    journal_close(j);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 20);
    cr_assert_eq(faults(root), 0);
}

Test(journal, refuses_a_payload_over_the_record_limit)
{
    struct journal *j = open_journal(root, NULL, NULL);
    cr_assert_eq(journal_append(j, "x", (size_t)JF_MAX_PAYLOAD + 1, NULL, NULL), -EMSGSIZE);
    journal_close(j);
}

/* Cuts the newest segment to LEN bytes, reopens, and checks recovery kept exactly KEEP records and
 * that appending goes on at KEEP + 1 with a clean chain. */
static void check_recovery_after(const char *seg, off_t len, uint64_t keep, const char *what)
{
    char dir[300], cmd[1400], copy[1200];
    snprintf(dir, sizeof(dir), "%s/case", root);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && cp -r '%s/journal' '%s/'", dir, dir,
             root, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(copy, sizeof(copy), "%s/journal/%s", dir, strrchr(seg, '/') + 1);
    cr_assert_eq(truncate(copy, len), 0);
    struct journal_recovery rep;
    struct journal *j = open_journal(dir, NULL, &rep);
    cr_assert_eq(rep.records, keep, "%s: kept %llu records", what, (unsigned long long)rep.records);
    append_range(j, keep + 1, keep + 1);
    journal_close(j);
    cr_assert_eq(read_back(dir, 1, NULL, NULL), keep + 1, "%s", what);
    cr_assert_eq(faults(dir), 0, "%s: verify after recovery", what);
}

Test(journal, recovers_from_a_torn_last_record_at_every_length)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 2);
    journal_close(j);
    char seg[600];
    segment_path(root, -1, seg, sizeof(seg));
    off_t two = file_size(seg);
    j = open_journal(root, NULL, NULL);
    append_range(j, 3, 3);
    journal_close(j);
    off_t three = file_size(seg);
    for (off_t len = two; len < three; len++) {
        char what[64];
        snprintf(what, sizeof(what), "cut at %lld", (long long)len);
        check_recovery_after(seg, len, 2, what);
    }
}

Test(journal, cuts_a_last_record_with_scrambled_header_payload_or_crc)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 3);
    journal_close(j);
    char seg[600];
    segment_path(root, -1, seg, sizeof(seg));
    off_t size = file_size(seg);
    char p[512];
    payload_for(3, p, sizeof(p));
    off_t rec3 = size - (off_t)(JF_REC_HDR_LEN + strlen(p));
    /* magic, length, sequence, time, hash, payload CRC, header CRC, payload start/middle/end */
    off_t offsets[] = {
        0, 4, 9, 17, 30, 57, 61, 64, 64 + (off_t)strlen(p) / 2, 64 + (off_t)strlen(p) - 1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        char dir[300], cmd[1400], copy[1200];
        snprintf(dir, sizeof(dir), "%s/scramble", root);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && cp -r '%s/journal' '%s/'", dir,
                 dir, root, dir);
        cr_assert_eq(system(cmd), 0);
        snprintf(copy, sizeof(copy), "%s/journal/%s", dir, strrchr(seg, '/') + 1);
        patch_byte(copy, rec3 + offsets[i], 0x5a);
        struct journal_recovery rep;
        j = open_journal(dir, NULL, &rep);
        cr_assert_eq(rep.records, 2, "byte %lld of the last record scrambled: kept %llu",
                     (long long)offsets[i], (unsigned long long)rep.records);
        cr_assert_gt(rep.truncated_bytes, 0);
        cr_assert_neq(rep.reason[0], '\0');
        journal_close(j);
        cr_assert_eq(faults(dir), 0);
    }
}

Test(journal, cuts_garbage_written_after_the_tail)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 5);
    journal_close(j);
    char seg[600];
    segment_path(root, -1, seg, sizeof(seg));
    off_t size = file_size(seg);
    FILE *f = fopen(seg, "ab");
    /* Garbage that starts like a record: magic and a plausible length. */
    unsigned char junk[300];
    memset(junk, 0xAB, sizeof(junk));
    jf_put32(junk, JF_REC_MAGIC);
    jf_put32(junk + 4, 100);
    fwrite(junk, 1, sizeof(junk), f);
    fclose(f);
    struct journal_recovery rep;
    j = open_journal(root, NULL, &rep);
    cr_assert_eq(rep.records, 5);
    cr_assert_eq(rep.truncated_bytes, sizeof(junk));
    cr_assert_eq(rep.truncated_at, (uint64_t)size);
    append_range(j, 6, 8);
    journal_close(j);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 8);
    cr_assert_eq(faults(root), 0);
}

/* Appends to PATH a whole record SEQ holding PAYLOAD (its chain hash left zero). */
static void append_raw_record(const char *path, uint64_t seq, const char *payload)
{
    struct jf_rec_header h = {.len = (uint32_t)strlen(payload), .seq = seq, .time_ms = 1};
    h.payload_crc = crc32c(0, payload, h.len);
    unsigned char hdr[JF_REC_HDR_LEN];
    jf_encode_rec_header(hdr, &h);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    cr_assert_eq(fwrite(payload, 1, h.len, f), h.len);
    cr_assert_eq(fclose(f), 0);
}

Test(journal, cuts_a_record_cut_short_even_with_whole_records_inside_its_length)
{
    /* Records 1-2, then the header of a torn record 3 that says 70,000 bytes, and inside that
     * length, bytes that read as a whole record 3: they are the torn record's payload. */
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 2);
    journal_close(j);
    char seg[600];
    segment_path(root, -1, seg, sizeof(seg));
    off_t size = file_size(seg);
    struct jf_rec_header torn = {.len = 70000, .seq = 3, .time_ms = 1, .payload_crc = 7};
    unsigned char hdr[JF_REC_HDR_LEN];
    jf_encode_rec_header(hdr, &torn);
    FILE *f = fopen(seg, "ab");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    cr_assert_eq(fclose(f), 0);
    char p[512];
    payload_for(3, p, sizeof(p));
    append_raw_record(seg, 3, p);
    off_t torn_len = file_size(seg) - size;

    struct journal_recovery rep;
    j = open_journal(root, NULL, &rep);
    cr_assert_eq(rep.records, 2, "kept %llu records", (unsigned long long)rep.records);
    cr_assert_eq(rep.damaged, 0);
    cr_assert_eq(rep.truncated_at, (uint64_t)size);
    cr_assert_eq(rep.truncated_bytes, (uint64_t)torn_len);
    append_range(j, 3, 3);
    journal_close(j);
    uint64_t last = 0;
    cr_assert_eq(read_back(root, 1, &last, NULL), 3, "the reader reads 1-3");
    cr_assert_eq(last, 3);
    struct verify_report vr;
    cr_assert_eq(journal_verify(root, &vr, NULL, NULL), 0);
    cr_assert_eq(vr.tail_bytes, 0, "no unreadable bytes left at the end");
    cr_assert_eq(vr.faults, 0);
    cr_assert_eq(vr.records, 3);
}

static void wait_for_file(const char *path, int want_exists)
{
    for (int i = 0; i < 500; i++) {
        struct stat st;
        if ((stat(path, &st) == 0) == (want_exists != 0))
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("timed out waiting for %s to %s", path, want_exists ? "appear" : "go");
}

Test(journal, rotates_segments_and_compresses_sealed_ones_readably)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 8192;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 120);
    char first_lz4[600];
    segdir_name(first_lz4, sizeof(first_lz4), root, 1, true);
    char jdir[400];
    journal_dir_of(root, jdir, sizeof(jdir));
    segdir_name(first_lz4, sizeof(first_lz4), jdir, 1, true);
    wait_for_file(first_lz4, 1);
    struct journal_stats st;
    journal_get_stats(j, &st);
    cr_assert_gt(st.segments_sealed, 2);
    journal_close(j);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 120);
    cr_assert_eq(read_back(root, 77, NULL, NULL), 44);
    cr_assert_eq(faults(root), 0);
    /* The next start continues after the sealed segments. */
    j = open_journal(root, &o, NULL);
    append_range(j, 121, 130);
    journal_close(j);
    cr_assert_eq(faults(root), 0);
}

/* Whether every record from 1 on carries a zero chain hash (UNCHAINED) or none does. */
static void assert_hashes(const char *dir, uint64_t from, uint64_t to, bool unchained)
{
    struct journal_reader *r;
    cr_assert_eq(journal_reader_open(&r, dir, from), 0);
    struct journal_record rec;
    while (journal_reader_next(r, &rec) == 1 && rec.seq <= to)
        cr_assert_eq(jf_hash_unchained(rec.hash), unchained, "the chain hash of %llu",
                     (unsigned long long)rec.seq);
    journal_reader_close(r);
}

static uint32_t segment_flags(const char *path)
{
    unsigned char h[JF_SEG_HDR_LEN];
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(h, 1, sizeof(h), f), sizeof(h));
    fclose(f);
    struct jf_seg_header sh;
    cr_assert(jf_decode_seg_header(h, &sh));
    return sh.flags;
}

Test(journal, an_unchained_journal_says_so_in_its_segments_and_verifies_without_a_chain)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 8192;
    o.compress_sealed = false;
    o.unchained = true;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 60);
    journal_close(j);
    char seg[600];
    segment_path(root, 0, seg, sizeof(seg));
    cr_assert_eq(segment_flags(seg), JF_SEG_UNCHAINED);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 60);
    assert_hashes(root, 1, 60, true);
    cr_assert_eq(faults(root), 0, "no chain is checked over unchained records");
    /* Reopened chained (the alert journal's default), the chain starts again after them. */
    o.unchained = false;
    j = open_journal(root, &o, NULL);
    append_range(j, 61, 80);
    journal_close(j);
    assert_hashes(root, 61, 80, false);
    char newest[600];
    segment_path(root, -1, newest, sizeof(newest));
    cr_assert_eq(segment_flags(newest), 0, "chained records start a segment of their own");
    cr_assert_eq(faults(root), 0);
    /* The CRCs still guard unchained records. */
    patch_byte(seg, JF_SEG_HDR_LEN + JF_REC_HDR_LEN + 5, 0x01);
    cr_assert_gt(faults(root), 0);
}

Test(journal, a_chained_journal_writes_the_chain_and_no_flag)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 5);
    journal_close(j);
    char seg[600];
    segment_path(root, 0, seg, sizeof(seg));
    cr_assert_eq(segment_flags(seg), 0);
    assert_hashes(root, 1, 5, false);
    cr_assert_eq(faults(root), 0);
    /* A record of a chained segment rewritten with a zero hash (its header CRC made good) is
     * caught: only the segment's header says a journal is unchained. */
    char p1[512];
    payload_for(1, p1, sizeof(p1));
    off_t at = JF_SEG_HDR_LEN + JF_REC_HDR_LEN + (off_t)strlen(p1);
    int fd = open(seg, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char h[JF_REC_HDR_LEN];
    cr_assert_eq(pread(fd, h, sizeof(h), at), (ssize_t)sizeof(h));
    memset(h + 24, 0, JF_HASH_LEN);
    jf_put32(h + 60, crc32c(0, h, 60));
    cr_assert_eq(pwrite(fd, h, sizeof(h), at), (ssize_t)sizeof(h));
    close(fd);
    cr_assert_gt(faults(root), 0);
}

static void appended_once(void *arg, int status, uint64_t seq)
{
    cr_assert_eq(status, 0);
    cr_assert_eq(seq, 1);
    atomic_fetch_add((atomic_int *)arg, 1);
}

Test(journal, appendv_writes_its_pieces_as_one_record)
{
    struct journal *j = open_journal(root, NULL, NULL);
    char p[512];
    payload_for(1, p, sizeof(p));
    size_t n = strlen(p);
    struct iovec iov[3] = {{.iov_base = p, .iov_len = 7},
                           {.iov_base = p + 7, .iov_len = 0},
                           {.iov_base = p + 7, .iov_len = n - 7}};
    atomic_int done = 0;
    cr_assert_eq(journal_appendv(j, iov, 3, appended_once, &done), 0);
    cr_assert_eq(journal_flush(j), 0);
    cr_assert_eq(atomic_load(&done), 1);
    journal_close(j);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 1, "the pieces, in order, as one payload");
}

/* Corrupts the payload of the middle record of the first (sealed) segment. */
static void corrupt_sealed_record(const char *seg)
{
    unsigned char *data;
    size_t len;
    struct seg_entry e = {.compressed = false};
    snprintf(e.path, sizeof(e.path), "%s", seg);
    bool damaged;
    cr_assert_eq(segdir_load(&e, 1 << 24, &data, &len, &damaged), 0);
    size_t off = JF_SEG_HDR_LEN;
    int count = 0;
    struct jf_rec_header h;
    while (jf_parse_at(data, len, off, &h) == 1) {
        if (++count == 3)
            break;
        off += JF_REC_HDR_LEN + h.len;
    }
    free(data);
    cr_assert_eq(count, 3, "the sealed segment needs at least 3 records");
    patch_byte(seg, (off_t)(off + JF_REC_HDR_LEN + 5), 0x21);
}

Test(journal, skips_and_counts_a_corrupt_record_inside_a_sealed_segment)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 8192;
    o.compress_sealed = false;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 60);
    journal_close(j);
    char seg[600];
    segment_path(root, 0, seg, sizeof(seg));
    corrupt_sealed_record(seg);
    struct reader_stats st;
    cr_assert_eq(read_back(root, 1, NULL, &st), 59, "every other record is still read");
    cr_assert_eq(st.corrupt_regions, 1);
    cr_assert_gt(faults(root), 0, "verify reports the damage");
    /* Recovery only cuts the newest segment: the damaged sealed one is left as it is. */
    struct journal_recovery rep;
    j = open_journal(root, &o, &rep);
    cr_assert_eq(rep.truncated_bytes, 0);
    append_range(j, 61, 61);
    journal_close(j);
}

Test(journal, skips_a_corrupt_record_inside_an_lz4_compressed_segment)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 8192;
    o.compress_sealed = false;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 60);
    journal_close(j);
    char seg[600];
    segment_path(root, 0, seg, sizeof(seg));
    corrupt_sealed_record(seg);
    /* Reopening with compression seals the leftover plain segments. */
    o.compress_sealed = true;
    j = open_journal(root, &o, NULL);
    char jdir[400], lz4[600];
    journal_dir_of(root, jdir, sizeof(jdir));
    segdir_name(lz4, sizeof(lz4), jdir, 1, true);
    wait_for_file(lz4, 1);
    wait_for_file(seg, 0);
    journal_close(j);
    struct reader_stats st;
    cr_assert_eq(read_back(root, 1, NULL, &st), 59);
    cr_assert_eq(st.corrupt_regions, 1);
}

/* Reads from FROM with R (opened on DIR when NULL) until there is nothing more: the sequence
 * numbers into SEQS (at most MAX). Returns how many were read. */
static size_t read_seqs(struct journal_reader *r, const char *dir, uint64_t from, uint64_t *seqs,
                        size_t max)
{
    struct journal_reader *own = NULL;
    if (!r) {
        cr_assert_eq(journal_reader_open(&own, dir, from), 0);
        r = own;
    }
    struct journal_record rec;
    size_t n = 0;
    int rc;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        cr_assert_lt(n, max, "more records than expected");
        seqs[n++] = rec.seq;
    }
    cr_assert_eq(rc, 0);
    journal_reader_close(own);
    return n;
}

static void assert_seqs(const uint64_t *got, size_t n, const uint64_t *want, size_t wn,
                        const char *what)
{
    cr_assert_eq(n, wn, "%s: %zu records read, %zu expected", what, n, wn);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s: record %zu is %llu, %llu expected", what, i,
                     (unsigned long long)got[i], (unsigned long long)want[i]);
}

static void note_out_of_order(void *ctx, const char *what)
{
    if (strstr(what, "damaged bytes") && strstr(what, "(sequence 44 where 3 was expected)"))
        *(bool *)ctx = true;
}

Test(journal, a_record_numbered_out_of_order_is_damage_to_readers_recovery_and_verify)
{
    /* Records 1-2, then whole records with good CRCs numbered 44, 3 and 4. 44 does not follow 2:
     * it is damage, for the reader as for recovery, which keeps 3 and 4 and numbers on from 5.
     * A reader that returned 44 would skip 3, 4 and every alert numbered after them. */
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 2);
    journal_close(j);
    char seg[600];
    segment_path(root, -1, seg, sizeof(seg));
    const uint64_t raw[] = {44, 3, 4};
    char p[512];
    for (size_t i = 0; i < 3; i++) {
        payload_for(raw[i], p, sizeof(p));
        append_raw_record(seg, raw[i], p);
    }

    /* A follower reads what is there before the journal restarts. */
    struct journal_reader *follower;
    cr_assert_eq(journal_reader_open(&follower, root, 1), 0);
    uint64_t seqs[16];
    const uint64_t before[] = {1, 2, 3, 4};
    assert_seqs(seqs, read_seqs(follower, NULL, 0, seqs, 16), before, 4, "before recovery");
    struct reader_stats st;
    journal_reader_stats(follower, &st);
    cr_assert_eq(st.corrupt_regions, 1, "record 44 is skipped as damage");

    struct journal_recovery rep;
    j = open_journal(root, NULL, &rep);
    cr_assert_eq(rep.records, 4, "recovery counts %llu records", (unsigned long long)rep.records);
    cr_assert_eq(rep.damaged, 1);
    cr_assert_eq(rep.truncated_bytes, 0);
    append_range(j, 5, 5);
    journal_close(j);

    const uint64_t five[] = {5};
    assert_seqs(seqs, read_seqs(follower, NULL, 0, seqs, 16), five, 1, "the follower after it");
    journal_reader_close(follower);
    const uint64_t all[] = {1, 2, 3, 4, 5};
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), all, 5, "a new reader");
    struct verify_report vr;
    bool reported = false;
    cr_assert_eq(journal_verify(root, &vr, note_out_of_order, &reported), 0);
    cr_assert_eq(vr.records, 5, "verify counts %llu records", (unsigned long long)vr.records);
    cr_assert_eq(vr.first_seq, 1);
    cr_assert_eq(vr.last_seq, 5);
    cr_assert(reported, "verify reports record 44 as damage");
}

/* Replaces the plain segment PATH by its LZ4-sealed form, as the sealer makes it. */
static void seal_by_hand(const char *path)
{
    unsigned char *data;
    size_t len;
    bool damaged;
    struct seg_entry e = {.compressed = false};
    snprintf(e.path, sizeof(e.path), "%s", path);
    cr_assert_eq(segdir_load(&e, 1 << 24, &data, &len, &damaged), 0);
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    unsigned char *z = malloc(bound);
    cr_assert_not_null(z);
    size_t zlen = LZ4F_compressFrame(z, bound, data, len, &prefs);
    cr_assert(!LZ4F_isError(zlen));
    char lz4[700];
    snprintf(lz4, sizeof(lz4), "%s.lz4", path);
    FILE *f = fopen(lz4, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(z, 1, zlen, f), zlen);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(unlink(path), 0);
    free(z);
    free(data);
}

Test(journal, continues_a_damaged_sealed_newest_segment_after_the_last_record_readers_return)
{
    /* The newest segment is sealed and its record 3 damaged: readers return 1, 2, 4 and 5, so the
     * next alert is 6 (in a new segment 6), not 3 (in a segment 3 readers pass by). */
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 5);
    journal_close(j);
    char seg[600];
    segment_path(root, 0, seg, sizeof(seg));
    corrupt_sealed_record(seg);
    seal_by_hand(seg);
    uint64_t seqs[16];
    const uint64_t before[] = {1, 2, 4, 5};
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), before, 4, "before recovery");

    j = open_journal(root, NULL, NULL);
    uint64_t seq = 0;
    payload_for(6, seg, sizeof(seg));
    cr_assert_eq(journal_append_wait(j, seg, strlen(seg), &seq), 0);
    journal_close(j);
    cr_assert_eq(seq, 6, "the alert after recovery is numbered %llu", (unsigned long long)seq);
    const uint64_t after[] = {1, 2, 4, 5, 6};
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), after, 5, "after recovery");
}

Test(journal, retention_never_removes_an_alert_a_consumer_has_not_taken)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 4096;
    o.retention_bytes = 1; /* everything sealed is over the limit */
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, "webhook-a"), 0);
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 80);
    journal_close(j); /* joins the sealer: retention has run after each seal */
    uint64_t n = read_back(root, 1, NULL, NULL);
    cr_assert_eq(n, 80, "the consumer at 1 holds everything");

    cr_assert_eq(cursor_set(c, 50), 0);
    j = open_journal(root, &o, NULL);
    append_range(j, 81, 120);
    journal_close(j);
    struct journal_reader *r;
    cr_assert_eq(journal_reader_open(&r, root, 1), 0);
    struct journal_record rec;
    cr_assert_eq(journal_reader_next(r, &rec), 1);
    cr_assert_gt(rec.seq, 1, "segments before the consumer's position were removed");
    cr_assert_leq(rec.seq, 50, "nothing at or after the consumer's position was removed");
    journal_reader_close(r);
    cursor_close(c);
}

Test(journal, interval_sync_mode_round_trips_with_fewer_syncs)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.sync_interval_ms = 10;
    struct journal *j = open_journal(root, &o, NULL);
    char p[512];
    for (uint64_t i = 1; i <= 300; i++) {
        payload_for(i, p, sizeof(p));
        cr_assert_eq(journal_append(j, p, strlen(p), NULL, NULL), 0);
    }
    cr_assert_eq(journal_flush(j), 0);
    struct journal_stats st;
    journal_get_stats(j, &st);
    cr_assert_eq(st.appended, 300);
    cr_assert_lt(st.syncs, 300);
    cr_assert_geq(st.syncs, 1);
    journal_close(j);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 300);
}

/* The on-commit hook: every durable record once, in sequence order, with its payload, before the
 * record's own callback; then the group's count. */
struct commit_seen {
    uint64_t records, next_seq, groups, committed, done_before_hook;
    bool payload_ok;
};

static void hook_record(void *ctx, uint64_t seq, const void *payload, size_t len)
{
    struct commit_seen *c = ctx;
    char p[512];
    payload_for(seq, p, sizeof(p));
    if (seq != c->next_seq || len != strlen(p) || memcmp(payload, p, len) != 0)
        c->payload_ok = false;
    c->next_seq = seq + 1;
    c->records++;
}

static void hook_committed(void *ctx, uint64_t records)
{
    struct commit_seen *c = ctx;
    c->groups++;
    c->committed += records;
}

static void hook_done(void *arg, int status, uint64_t seq)
{
    struct commit_seen *c = arg;
    if (status != 0 || seq >= c->next_seq || c->committed < seq)
        c->done_before_hook++;
}

Test(journal, the_commit_hook_sees_each_durable_record_once_before_its_callback)
{
    struct commit_seen seen = {.next_seq = 1, .payload_ok = true};
    struct journal_opts o;
    journal_opts_default(&o);
    o.on_commit.record = hook_record;
    o.on_commit.committed = hook_committed;
    o.on_commit.ctx = &seen;
    struct journal *j = open_journal(root, &o, NULL);
    char p[512];
    for (uint64_t i = 1; i <= 500; i++) {
        payload_for(i, p, sizeof(p));
        cr_assert_eq(journal_append(j, p, strlen(p), hook_done, &seen), 0);
    }
    cr_assert_eq(journal_flush(j), 0);
    journal_close(j);
    cr_expect_eq(seen.records, 500);
    cr_expect_eq(seen.committed, 500, "flush markers are not records");
    cr_expect(seen.payload_ok, "each record once, in order, with its payload");
    cr_expect_geq(seen.groups, 1);
    cr_expect_leq(seen.groups, 500);
    cr_expect_eq(seen.done_before_hook, 0, "the hook runs before the records' callbacks");
}

/* ---- A full or failing disk: the writer keeps its records and retries ---- */

/* Injects ERR at the fault point POINT while ON is set. With LOSE_PATH set it also zeroes that
 * file from LOSE_FROM to its end before failing, as a kernel that dropped the dirty pages of a
 * failed writeback would leave it. */
struct disk_fault {
    const char *point;
    int err;
    atomic_bool on;
    atomic_int hits;
    char lose_path[600];
    off_t lose_from;
};

static int disk_fault_hook(const char *name, void *ctx)
{
    struct disk_fault *f = ctx;
    if (!atomic_load(&f->on) || strcmp(name, f->point) != 0)
        return 0;
    if (f->lose_path[0]) {
        int fd = open(f->lose_path, O_WRONLY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > f->lose_from) {
            static const char zeros[4096];
            for (off_t at = f->lose_from; at < st.st_size;) {
                size_t n = (size_t)(st.st_size - at) < sizeof(zeros) ? (size_t)(st.st_size - at)
                                                                     : sizeof(zeros);
                ssize_t w = pwrite(fd, zeros, n, at);
                if (w <= 0)
                    break;
                at += w;
            }
        }
        if (fd >= 0)
            close(fd);
    }
    atomic_fetch_add(&f->hits, 1);
    return f->err;
}

/* What the journal reported for each appended record. */
struct outcomes {
    atomic_int done;
    atomic_int failed;
    atomic_ullong seq[512];
};

struct outcome_slot {
    struct outcomes *o;
    unsigned idx;
};

static void record_outcome(void *arg, int status, uint64_t seq)
{
    struct outcome_slot *s = arg;
    if (status == 0)
        atomic_store(&s->o->seq[s->idx], seq);
    else
        atomic_fetch_add(&s->o->failed, 1);
    atomic_fetch_add(&s->o->done, 1);
}

static void wait_at_least(atomic_int *v, int n, const char *what)
{
    for (int i = 0; i < 12000; i++) { /* 60 s: generous for a loaded machine */
        if (atomic_load(v) >= n)
            return;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("timed out waiting for %s (%d of %d)", what, atomic_load(v), n);
}

/* Appends FROM..TO without waiting; slot I of OUT is record FROM+I. */
static void append_async(struct journal *j, uint64_t from, uint64_t to, struct outcomes *out,
                         struct outcome_slot *slots)
{
    char p[512];
    for (uint64_t i = from; i <= to; i++) {
        payload_for(i, p, sizeof(p));
        slots[i - from] = (struct outcome_slot){.o = out, .idx = (unsigned)(i - from)};
        cr_assert_eq(journal_append(j, p, strlen(p), record_outcome, &slots[i - from]), 0);
    }
}

/* Everything in the journal is record 1..N in order, exactly once, and the chain verifies. */
static void assert_journal_is(const char *dir, uint64_t n)
{
    uint64_t last = 0;
    cr_assert_eq(read_back(dir, 1, &last, NULL), n, "records in the journal");
    cr_assert_eq(last, n);
    struct verify_report rep;
    cr_assert_eq(journal_verify(dir, &rep, NULL, NULL), 0);
    cr_assert_eq(rep.faults, 0, "verify: sequence numbers and hash chain continuous");
    cr_assert_eq(rep.tail_bytes, 0, "no half-written record left at the end");
    cr_assert_eq(rep.records, n);
}

/* Appends 1..10, then 11..60 while POINT fails with ERR: none of these may be reported (in
 * sync-before-ack mode), the writer retries; after the fault clears every one is reported with
 * its own sequence number and the journal holds 1..60 exactly once. */
static void waits_out(const char *point, int err, bool lose_pages, uint64_t segment_bytes)
{
    static struct disk_fault f;
    memset(&f, 0, sizeof(f));
    f.point = point;
    f.err = err;
    fault_set_hook(disk_fault_hook, &f);
    struct journal_opts o;
    journal_opts_default(&o);
    if (segment_bytes)
        o.segment_bytes = segment_bytes;
    o.compress_sealed = false;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 10);
    if (lose_pages) {
        segment_path(root, -1, f.lose_path, sizeof(f.lose_path));
        f.lose_from = file_size(f.lose_path);
    }
    static struct outcomes out;
    static struct outcome_slot slots[50];
    memset(&out, 0, sizeof(out));
    atomic_store(&f.on, true);
    append_async(j, 11, 60, &out, slots);
    wait_at_least(&f.hits, 3, "the writer to try three times");
    struct journal_stats st;
    journal_get_stats(j, &st);
    cr_assert(st.stalled, "the journal says it is waiting out the failure");
    cr_assert_geq(st.write_errors, 3);
    if (segment_bytes) /* records that fit before the new segment are durable: reported */
        cr_assert_lt(atomic_load(&out.done), 50, "records wait while %s fails", point);
    else
        cr_assert_eq(atomic_load(&out.done), 0, "nothing reported while %s fails", point);
    atomic_store(&f.on, false);
    wait_at_least(&out.done, 50, "every waiting record to be reported");
    cr_assert_eq(journal_flush(j), 0);
    cr_assert_eq(atomic_load(&out.failed), 0, "no record reported as failed");
    for (unsigned i = 0; i < 50; i++)
        cr_assert_eq(atomic_load(&out.seq[i]), 11 + i, "record %u got sequence %llu", 11 + i,
                     (unsigned long long)atomic_load(&out.seq[i]));
    journal_get_stats(j, &st);
    cr_assert(!st.stalled);
    append_range(j, 61, 70);
    journal_close(j);
    fault_set_hook(NULL, NULL);
    assert_journal_is(root, 70);
}

Test(journal, waits_out_enospc_on_write_and_resumes_without_gap_or_duplicate)
{
    waits_out("journal-write", -ENOSPC, false, 0);
}

Test(journal, waits_out_eio_on_write_and_resumes_without_gap_or_duplicate)
{
    waits_out("journal-write", -EIO, false, 0);
}

Test(journal, waits_out_edquot_on_write)
{
    waits_out("journal-write", -EDQUOT, false, 0);
}

/* fsyncgate: after a failed fdatasync the written pages may be gone (the hook zeroes them, as a
 * kernel that dropped them after a failed writeback would leave the file). Syncing again would
 * succeed on nothing; the writer must cut the tail and write the records again from memory. */
Test(journal, rewrites_records_from_memory_after_a_failed_fdatasync)
{
    waits_out("journal-fdatasync", -EIO, true, 0);
}

Test(journal, waits_out_enospc_on_fdatasync)
{
    waits_out("journal-fdatasync", -ENOSPC, true, 0);
}

/* A new segment that cannot be created (no room for its header) leaves no half-made file and
 * the records wait; with 4 KiB segments the 50 waiting records need several. */
Test(journal, waits_out_enospc_creating_a_segment)
{
    waits_out("journal-create", -ENOSPC, false, 4096);
    char jdir[512];
    journal_dir_of(root, jdir, sizeof(jdir));
    struct seg_entry *segs;
    size_t n;
    cr_assert_eq(segdir_list(jdir, &segs, &n), 0);
    cr_assert_gt(n, 3, "the records went on into new segments");
    for (size_t i = 0; i < n; i++)
        cr_assert_gt(segs[i].bytes, JF_SEG_HDR_LEN, "%s holds records", segs[i].path);
    free(segs);
}

/* Interval mode reports records after write(2); a later failed sync may have lost them. They
 * are kept in memory until a sync succeeds and written again when one fails. */
Test(journal, interval_mode_rewrites_reported_records_after_a_failed_sync)
{
    static struct disk_fault f;
    memset(&f, 0, sizeof(f));
    f.point = "journal-fdatasync";
    f.err = -EIO;
    fault_set_hook(disk_fault_hook, &f);
    struct journal_opts o;
    journal_opts_default(&o);
    o.sync_interval_ms = 5;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 10);
    cr_assert_eq(journal_flush(j), 0);
    segment_path(root, -1, f.lose_path, sizeof(f.lose_path));
    f.lose_from = file_size(f.lose_path);
    static struct outcomes out;
    static struct outcome_slot slots[50];
    memset(&out, 0, sizeof(out));
    atomic_store(&f.on, true);
    append_async(j, 11, 60, &out, slots);
    wait_at_least(&out.done, 50, "records reported after write(2)");
    wait_at_least(&f.hits, 3, "the sync to fail three times");
    atomic_store(&f.on, false);
    cr_assert_eq(journal_flush(j), 0);
    cr_assert_eq(atomic_load(&out.failed), 0);
    for (unsigned i = 0; i < 50; i++)
        cr_assert_eq(atomic_load(&out.seq[i]), 11 + i);
    journal_close(j);
    fault_set_hook(NULL, NULL);
    assert_journal_is(root, 60);
}

/* Closing while the disk still fails does not hang: waiting records are reported failed (never
 * durable), and what was durable before is intact. */
Test(journal, close_while_the_disk_is_full_reports_the_waiting_records_failed)
{
    static struct disk_fault f;
    memset(&f, 0, sizeof(f));
    f.point = "journal-write";
    f.err = -ENOSPC;
    fault_set_hook(disk_fault_hook, &f);
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 10);
    static struct outcomes out;
    static struct outcome_slot slots[5];
    memset(&out, 0, sizeof(out));
    atomic_store(&f.on, true);
    append_async(j, 11, 15, &out, slots);
    wait_at_least(&f.hits, 2, "the writer to retry");
    journal_close(j);
    cr_assert_eq(atomic_load(&out.done), 5);
    cr_assert_eq(atomic_load(&out.failed), 5);
    fault_set_hook(NULL, NULL);
    j = open_journal(root, NULL, NULL);
    append_range(j, 11, 12);
    journal_close(j);
    assert_journal_is(root, 12);
}

/* A tool that must exit rather than wait (scan --journal) fails at the first error. */
Test(journal, fail_fast_fails_the_record_at_the_first_write_error)
{
    static struct disk_fault f;
    memset(&f, 0, sizeof(f));
    f.point = "journal-write";
    f.err = -ENOSPC;
    fault_set_hook(disk_fault_hook, &f);
    struct journal_opts o;
    journal_opts_default(&o);
    o.fail_fast = true;
    struct journal *j = open_journal(root, &o, NULL);
    append_range(j, 1, 3);
    atomic_store(&f.on, true);
    char p[512];
    payload_for(4, p, sizeof(p));
    cr_assert_eq(journal_append_wait(j, p, strlen(p), NULL), -ENOSPC);
    cr_assert_eq(atomic_load(&f.hits), 1, "no retry");
    cr_assert_eq(journal_append_wait(j, p, strlen(p), NULL), -EPIPE);
    journal_close(j);
    fault_set_hook(NULL, NULL);
    assert_journal_is(root, 3);
}

/* Records 1-3 in segment 1, whose header is then passed to DAMAGE; a follower reads, the journal
 * restarts and takes alert 4: the records after the header are kept and read, before and after. */
static void check_records_kept_past_header(void (*damage)(const char *seg), const char *what)
{
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 3);
    journal_close(j);
    char seg[600];
    segment_path(root, 0, seg, sizeof(seg));
    damage(seg);
    struct journal_reader *follower;
    cr_assert_eq(journal_reader_open(&follower, root, 1), 0);
    uint64_t seqs[16];
    const uint64_t all[] = {1, 2, 3, 4};
    assert_seqs(seqs, read_seqs(follower, NULL, 0, seqs, 16), all, 3, what);

    struct journal_recovery rep;
    j = open_journal(root, NULL, &rep);
    cr_assert_eq(rep.records, 3, "%s: recovery kept %llu records", what,
                 (unsigned long long)rep.records);
    cr_assert_eq(rep.truncated_bytes, 0, "%s", what);
    append_range(j, 4, 4);
    journal_close(j);
    assert_seqs(seqs, read_seqs(follower, NULL, 0, seqs, 16), all + 3, 1, what);
    journal_reader_close(follower);
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), all, 4, what);
    cr_assert_eq(read_back(root, 1, NULL, NULL), 4, "%s", what);
    struct verify_report vr;
    cr_assert_eq(journal_verify(root, &vr, NULL, NULL), 0);
    cr_assert_eq(vr.records, 4, "%s: verify counts %llu records", what,
                 (unsigned long long)vr.records);
    cr_assert_gt(vr.faults, 0, "%s: verify reports the header", what);
}

static void flip_header_byte(const char *seg)
{
    patch_byte(seg, 20, 0x40); /* inside the first sequence: the header's CRC fails */
}

static void header_names_100(const char *seg)
{
    struct jf_seg_header h = {.first_seq = 100, .created_ms = 1};
    unsigned char buf[JF_SEG_HDR_LEN];
    jf_encode_seg_header(buf, &h);
    int fd = open(seg, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    close(fd);
}

Test(journal, keeps_the_records_after_a_damaged_segment_header)
{
    check_records_kept_past_header(flip_header_byte, "damaged header");
}

Test(journal, a_header_naming_another_sequence_than_its_file_is_damage)
{
    check_records_kept_past_header(header_names_100, "header naming 100 in segment 1");
}

/* ---- The highest sequence number: 2^64 - 2; sequence numbers never wrap to 0 ---- */

/* Makes DIR's journal one empty segment starting at FIRST. */
static void make_segment_at(const char *dir, uint64_t first)
{
    char jdir[400], path[4400];
    journal_dir_of(dir, jdir, sizeof(jdir));
    cr_assert_eq(mkdir(jdir, 0750), 0);
    segdir_name(path, sizeof(path), jdir, first, false);
    struct jf_seg_header h = {.first_seq = first, .created_ms = 1};
    unsigned char buf[JF_SEG_HDR_LEN];
    jf_encode_seg_header(buf, &h);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
    cr_assert_eq(fclose(f), 0);
}

struct one_outcome {
    atomic_int done, status;
    atomic_ullong seq;
};

static void note_outcome(void *arg, int status, uint64_t seq)
{
    struct one_outcome *o = arg;
    atomic_store(&o->status, status);
    atomic_store(&o->seq, seq);
    atomic_store(&o->done, 1);
}

Test(journal, refuses_to_number_an_alert_past_the_highest_sequence)
{
    make_segment_at(root, UINT64_MAX - 2);
    struct journal *j = open_journal(root, NULL, NULL);
    char p[512];
    payload_for(1, p, sizeof(p));
    uint64_t seq = 0;
    cr_assert_eq(journal_append_wait(j, p, strlen(p), &seq), 0);
    cr_assert_eq(seq, UINT64_MAX - 2);
    /* Two alerts at once: the first gets the highest number, the second is refused (by the
     * writer, or at once when the first is already written). */
    static struct one_outcome a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    cr_assert_eq(journal_append(j, p, strlen(p), note_outcome, &a), 0);
    int brc = journal_append(j, p, strlen(p), note_outcome, &b);
    if (brc == 0) {
        wait_at_least(&b.done, 1, "the second alert's outcome");
        brc = atomic_load(&b.status);
    }
    cr_assert_eq(brc, -EOVERFLOW, "the alert past the highest sequence: %d (sequence %llu)", brc,
                 (unsigned long long)atomic_load(&b.seq));
    wait_at_least(&a.done, 1, "the first alert's outcome");
    cr_assert_eq(atomic_load(&a.status), 0);
    cr_assert_eq(atomic_load(&a.seq), UINT64_MAX - 1);
    cr_assert_eq(journal_append_wait(j, p, strlen(p), &seq), -EOVERFLOW);
    struct journal_stats st;
    journal_get_stats(j, &st);
    cr_assert_eq(st.appended, 2);
    journal_close(j);

    j = open_journal(root, NULL, NULL);
    cr_assert_eq(journal_append_wait(j, p, strlen(p), &seq), -EOVERFLOW, "after a restart too");
    journal_close(j);
    uint64_t seqs[16];
    const uint64_t all[] = {UINT64_MAX - 2, UINT64_MAX - 1};
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), all, 2, "from 1");
    assert_seqs(seqs, read_seqs(NULL, root, UINT64_MAX - 1, seqs, 16), all + 1, 1, "from the last");
    cr_assert_eq(read_seqs(NULL, root, UINT64_MAX, seqs, 16), 0, "from 2^64 - 1");
    cr_assert_eq(faults(root), 0);
}

Test(journal, never_takes_a_record_numbered_2_64_minus_1)
{
    /* Records 1-2, damage, then a whole record numbered 2^64 - 1. After damage the records go on
     * at a later sequence, but not at this one: the next after it would be 0. */
    struct journal *j = open_journal(root, NULL, NULL);
    append_range(j, 1, 2);
    journal_close(j);
    char seg[600];
    segment_path(root, -1, seg, sizeof(seg));
    off_t end2 = file_size(seg);
    FILE *f = fopen(seg, "ab");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite("damaged damaged damaged", 1, 23, f), 23);
    cr_assert_eq(fclose(f), 0);
    char p[512];
    payload_for(3, p, sizeof(p));
    append_raw_record(seg, UINT64_MAX, p);

    uint64_t seqs[16];
    const uint64_t before[] = {1, 2};
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), before, 2, "before recovery");
    cr_assert_eq(read_seqs(NULL, root, UINT64_MAX, seqs, 16), 0, "from 2^64 - 1");
    struct verify_report vr;
    cr_assert_eq(journal_verify(root, &vr, NULL, NULL), 0);
    cr_assert_eq(vr.records, 2, "verify counts %llu records", (unsigned long long)vr.records);
    cr_assert_gt(vr.faults, 0);

    struct journal_recovery rep;
    j = open_journal(root, NULL, &rep);
    cr_assert_eq(rep.records, 2);
    cr_assert_eq(rep.truncated_at, (uint64_t)end2, "the damage and what follows are cut");
    append_range(j, 3, 3);
    journal_close(j);
    const uint64_t after[] = {1, 2, 3};
    assert_seqs(seqs, read_seqs(NULL, root, 1, seqs, 16), after, 3, "after recovery");
    cr_assert_eq(faults(root), 0);
}
