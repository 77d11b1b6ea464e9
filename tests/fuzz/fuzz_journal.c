/* Fuzz target for the journal over corrupt files: one input becomes a data directory holding one
 * segment file, whose bytes come from the input, plain or sealed in an LZ4 frame. The reader reads
 * it from a chosen position, `journal verify` checks it, and (when the mode says so) the journal
 * recovers it on open, takes one more alert and is read again.
 *
 * Input: byte 0 is the mode, byte 1 a seed, the rest the segment's bytes.
 *   mode 0x01  seal it: the bytes in one LZ4 frame, "<first seq>.seg.lz4"
 *   mode 0x02  mend the CRCs (segment header, and each record header and payload found by its
 *              magic), so that the fuzzer reaches what lies behind them: sequences, lengths,
 *              chains, damage between whole records
 *   mode 0x04  name the file after the header's first sequence (else 1)
 *   mode 0x08  recover it: journal_open, one append, journal_close, then read and verify again
 *   mode 0x30  where the reader starts: 0, the first sequence, the first + 2, UINT64_MAX
 *   mode 0x40  sealed without LZ4 checksums, so damage decodes to garbage instead of an error
 *   mode 0x80  damage the LZ4 frame: flip a byte and cut the end (places from the seed)
 *   mode 0x02 with seed bit 0x80: also mend the hash chain, so that verify finds no break
 *
 * The target aborts when:
 *  - the reader returns a record that is not a whole record of the file with good CRCs (header,
 *    payload, sequence, time and hash all as written), a sequence below its start or numbered
 *    2^64 - 1, or sequences that do not increase; or does not stop (more records than the file
 *    holds);
 *  - a reader at the end, asked again, finds more (nothing was written);
 *  - verify counts more records than the file holds; or, in a plain segment, other records (their
 *    number, first or last sequence) than the reader returns from the start, faults or not;
 *  - after recovery and one append: the append fails, other than with EOVERFLOW when the sequence
 *    numbers are used up, or is numbered 0 or 2^64 - 1; verify finds unreadable bytes at the end;
 *    or the reader, from the start, does not return the records it returned before recovery
 *    followed by the appended alert (so a consumer that had read them goes on with it). A gap
 *    before the appended alert is allowed: a header and records that disagree may be numbered
 *    after the header. */
#include <dirent.h>
#include <errno.h>
#include <lz4frame.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "store/journal.h"
#include "store/journal_format.h"
#include "store/reader.h"
#include "store/segdir.h"
#include "store/verify.h"
#include "tests/fuzz/fuzz_target.h"

static const char APPENDED[] = "{\"fuzz\":\"appended after recovery\"}";

static void violation(const char *what, uint64_t a, uint64_t b)
{
    fprintf(stderr, "fuzz_journal: invariant broken: %s (%llu, %llu)\n", what,
            (unsigned long long)a, (unsigned long long)b);
    abort();
}

/* The whole, valid records of an image: every offset where jf_parse_at says 1. */
struct valid {
    size_t *off;
    size_t n;
};

static void find_valid(const unsigned char *img, size_t len, struct valid *v)
{
    v->n = 0;
    v->off = malloc((len / JF_REC_HDR_LEN + 1) * sizeof(*v->off));
    if (!v->off)
        abort();
    /* From 0: past a damaged segment header, a reader may find a record anywhere. */
    for (size_t o = 0; o + JF_REC_HDR_LEN <= len; o++) {
        struct jf_rec_header h;
        if (img[o] == (JF_REC_MAGIC & 0xff) && jf_parse_at(img, len, o, &h) == 1)
            v->off[v->n++] = o;
    }
}

static bool is_valid_record(const unsigned char *img, size_t len, const struct valid *v,
                            const struct journal_record *rec)
{
    for (size_t i = 0; i < v->n; i++) {
        struct jf_rec_header h;
        if (jf_parse_at(img, len, v->off[i], &h) != 1)
            continue; /* cannot happen: V lists whole records */
        if (h.seq == rec->seq && h.len == rec->len && h.time_ms == rec->time_ms &&
            memcmp(h.hash, rec->hash, JF_HASH_LEN) == 0 &&
            (rec->len == 0 ||
             memcmp(img + v->off[i] + JF_REC_HDR_LEN, rec->payload, rec->len) == 0))
            return true;
    }
    return false;
}

/* Mends the CRCs (and with CHAIN the hash chain) of what looks like a segment. */
static void mend(unsigned char *img, size_t len, bool chain)
{
    if (len < JF_SEG_HDR_LEN)
        return;
    jf_put32(img + 68, crc32c(0, img, 68));
    unsigned char prev[JF_HASH_LEN];
    memcpy(prev, img + 32, JF_HASH_LEN);
    size_t o = JF_SEG_HDR_LEN;
    while (o + JF_REC_HDR_LEN <= len) {
        uint32_t plen = jf_get32(img + o + 4);
        if (jf_get32(img + o) != JF_REC_MAGIC || plen > JF_MAX_PAYLOAD ||
            plen > len - o - JF_REC_HDR_LEN) {
            o++;
            continue;
        }
        const unsigned char *payload = img + o + JF_REC_HDR_LEN;
        if (chain) {
            crypto_generichash_state st;
            crypto_generichash_init(&st, NULL, 0, JF_HASH_LEN);
            crypto_generichash_update(&st, prev, JF_HASH_LEN);
            crypto_generichash_update(&st, payload, plen);
            crypto_generichash_final(&st, img + o + 24, JF_HASH_LEN);
            memcpy(prev, img + o + 24, JF_HASH_LEN);
        }
        jf_put32(img + o + 56, crc32c(0, payload, plen));
        jf_put32(img + o + 60, crc32c(0, img + o, 60));
        o += JF_REC_HDR_LEN + plen;
    }
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

struct read_result {
    uint64_t count, first, last;
    bool last_is_appended;
};

/* Reads everything from FROM; checks each record against the image's valid records (IMG NULL:
 * after recovery, when the file has changed; only order is checked then). SEQS (may be NULL)
 * receives the sequences, at most BOUND. */
static void read_all(const char *data_dir, uint64_t from, const unsigned char *img, size_t len,
                     const struct valid *v, size_t bound, uint64_t *seqs, struct read_result *out)
{
    memset(out, 0, sizeof(*out));
    struct journal_reader *r;
    if (journal_reader_open(&r, data_dir, from) != 0)
        return;
    struct journal_record rec;
    int rc;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        if (rec.seq < from)
            violation("the reader returned a record below its start", rec.seq, from);
        if (out->count && rec.seq <= out->last)
            violation("the reader's sequence numbers do not increase", out->last, rec.seq);
        if (rec.seq > JF_MAX_SEQ)
            violation("the reader returned a record numbered past the highest sequence", rec.seq,
                      JF_MAX_SEQ);
        if (img && !is_valid_record(img, len, v, &rec))
            violation("the reader returned a record that is not a whole, valid record of the file",
                      rec.seq, rec.len);
        if (rec.len > JF_MAX_PAYLOAD)
            violation("the reader returned a record over the payload limit", rec.seq, rec.len);
        if (!out->count)
            out->first = rec.seq;
        out->last = rec.seq;
        out->last_is_appended =
            rec.len == sizeof(APPENDED) - 1 && memcmp(rec.payload, APPENDED, rec.len) == 0;
        if (out->count >= bound)
            violation("the reader returned more records than the file holds", out->count + 1,
                      bound);
        if (seqs)
            seqs[out->count] = rec.seq;
        out->count++;
    }
    if (rc == 0 && journal_reader_next(r, &rec) != 0)
        violation("a reader at the end found more with nothing written", rec.seq, 0);
    journal_reader_close(r);
}

static char root[256], jdir[300];

static void remove_root(void)
{
    empty_dir(jdir);
    rmdir(jdir);
    empty_dir(root);
    rmdir(root);
}

static void no_fault(void *ctx, const char *what)
{
    (void)ctx;
    (void)what;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        log_set_level(LOG_ERROR); /* recovery warns about every cut it makes */
        if (sodium_init() < 0)
            abort();
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(root, sizeof(root), "%s/fuzz-journal-%d", base, (int)getpid());
        mkdir(root, 0700);
        journal_dir_of(root, jdir, sizeof(jdir));
        mkdir(jdir, 0700);
        atexit(remove_root);
    }
    if (size < 2)
        return 0;
    unsigned mode = data[0], seed = data[1];
    size_t len = size - 2;
    unsigned char *img = malloc(len ? len : 1);
    if (!img)
        abort();
    memcpy(img, data + 2, len);
    if (mode & 0x02)
        mend(img, len, seed & 0x80);
    uint64_t first = len >= 24 ? jf_get64(img + 16) : 1;
    uint64_t name_seq = (mode & 0x04) ? first : 1;
    bool sealed = mode & 0x01;

    empty_dir(jdir);
    char path[4400];
    segdir_name(path, sizeof(path), jdir, name_seq, sealed);
    if (!sealed) {
        write_file(path, img, len);
    } else {
        LZ4F_preferences_t prefs;
        memset(&prefs, 0, sizeof(prefs));
        if (!(mode & 0x40)) {
            prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
            prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
            prefs.frameInfo.contentSize = len;
        }
        size_t bound = LZ4F_compressFrameBound(len, &prefs);
        unsigned char *z = malloc(bound);
        if (!z)
            abort();
        size_t zlen = LZ4F_compressFrame(z, bound, img, len, &prefs);
        if (LZ4F_isError(zlen))
            abort();
        if ((mode & 0x80) && zlen) {
            z[(seed * 31u) % zlen] ^= (unsigned char)(1u << (seed % 8));
            zlen -= (seed % 8) < zlen ? (seed % 8) : 0;
        }
        write_file(path, z, zlen);
        free(z);
    }

    struct valid v;
    find_valid(img, len, &v);
    static const uint64_t starts[4] = {0, 0, 2, UINT64_MAX};
    uint64_t from = starts[(mode >> 4) & 3];
    if (((mode >> 4) & 3) == 1)
        from = first;
    else if (((mode >> 4) & 3) == 2)
        from = first + 2 < first ? first : first + 2;

    struct read_result rr, all;
    read_all(root, from, img, len, &v, v.n, NULL, &rr);
    uint64_t *before = malloc((v.n + 1) * sizeof(*before));
    uint64_t *again = malloc((v.n + 3) * sizeof(*again));
    if (!before || !again)
        abort();
    read_all(root, 0, img, len, &v, v.n, before, &all);

    struct verify_report rep;
    memset(&rep, 0, sizeof(rep));
    int vrc = journal_verify(root, &rep, no_fault, NULL);
    if (vrc == 0) {
        if (rep.records > v.n)
            violation("verify counts more records than the file holds", rep.records, v.n);
        /* Verify counts the records readers return, faults or not (a sealed segment is decoded
         * in one piece by verify and as a stream by readers: where its frame is damaged, the
         * two may stop at other places). */
        if (!sealed && (all.count != rep.records ||
                        (all.count && (all.first != rep.first_seq || all.last != rep.last_seq))))
            violation("verify does not count the records the reader reads", all.count, rep.records);
    }

    if (mode & 0x08) {
        struct journal_opts opts;
        journal_opts_default(&opts);
        opts.sync_interval_ms = 0;
        struct journal *j;
        struct journal_recovery jr;
        if (journal_open(&j, root, &opts, &jr) == 0) {
            uint64_t seq = 0;
            int arc = journal_append_wait(j, APPENDED, sizeof(APPENDED) - 1, &seq);
            struct journal_stats js;
            journal_get_stats(j, &js);
            journal_close(j);
            /* Refused only when the sequence numbers are used up: they never wrap to 0. */
            if (arc == -EOVERFLOW && js.next_seq <= JF_MAX_SEQ)
                violation("the append was refused as past the highest sequence", js.next_seq,
                          JF_MAX_SEQ);
            if (arc != 0 && arc != -EOVERFLOW)
                violation("the append after recovery failed", (uint64_t)-arc, 0);
            if (arc == 0 && (seq == 0 || seq > JF_MAX_SEQ))
                violation("the appended alert is numbered outside 1 to 2^64 - 2", seq, 0);
            if (arc == 0) {
                struct verify_report after;
                memset(&after, 0, sizeof(after));
                if (journal_verify(root, &after, no_fault, NULL) == 0 && after.tail_bytes)
                    violation("unreadable bytes at the end after recovery", after.tail_bytes, 0);
                struct read_result ar;
                read_all(root, 0, NULL, 0, NULL, v.n + 2, again, &ar);
                if (getenv("FUZZ_JOURNAL_DEBUG"))
                    fprintf(stderr, "after recovery: %llu records, last %llu, appended %llu\n",
                            (unsigned long long)ar.count, (unsigned long long)ar.last,
                            (unsigned long long)seq);
                if (!ar.last_is_appended || ar.last != seq)
                    violation("the reader does not end with the alert appended after recovery",
                              ar.last, seq);
                /* Recovery keeps every record readers returned before it, and only those (a
                 * consumer that read them goes on with the appended alert). */
                if (ar.count != all.count + 1)
                    violation("recovery did not keep the records readers returned", all.count,
                              ar.count - 1);
                for (uint64_t i = 0; i < all.count; i++)
                    if (again[i] != before[i])
                        violation("recovery did not keep a record readers returned", before[i],
                                  again[i]);
            }
        }
    }
    free(before);
    free(again);
    free(v.off);
    free(img);
    return 0;
}
