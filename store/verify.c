#include "store/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/journal.h"
#include "store/journal_format.h"
#include "store/segdir.h"

static void report(verify_fault_fn fn, void *ctx, struct verify_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(verify_fault_fn fn, void *ctx, struct verify_report *rep, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rep->faults++;
    if (fn)
        fn(ctx, line);
}

int journal_verify(const char *data_dir, struct verify_report *rep, verify_fault_fn fault,
                   void *ctx)
{
    memset(rep, 0, sizeof(*rep));
    if (sodium_init() < 0)
        return -EIO;
    char dir[4096];
    journal_dir_of(data_dir, dir, sizeof(dir));
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(dir, &segs, &n);
    if (rc < 0)
        return rc;
    bool have_prev = false;
    uint64_t expect_seq = 0;
    unsigned char chain[JF_HASH_LEN];
    bool chain_known = false;
    for (size_t i = 0; i < n; i++) {
        const struct seg_entry *e = &segs[i];
        bool newest = i + 1 == n;
        unsigned char *data;
        size_t len;
        bool damaged;
        rc = segdir_load(e, (size_t)1 << 34, &data, &len, &damaged);
        if (rc < 0) {
            report(fault, ctx, rep, "%s: unreadable: %s", e->path, strerror(-rc));
            continue;
        }
        rep->segments++;
        rep->bytes += e->bytes;
        if (damaged)
            report(fault, ctx, rep, "%s: damaged LZ4 frame", e->path);
        /* The records counted are those readers return and recovery keeps (struct jf_walk). */
        struct jf_seg_header sh;
        struct jf_walk w;
        size_t off;
        /* Unchained: its header says so (behind a damaged header: records with zero hashes). */
        bool unchained = false, header_ok = true;
        if (!jf_walk_start(&w, data, len, e->first_seq, &sh, &off)) {
            header_ok = false;
            if (len >= JF_SEG_HDR_LEN && jf_decode_seg_header(data, &sh))
                report(fault, ctx, rep, "%s: header says first sequence %" PRIu64, e->path,
                       sh.first_seq);
            else
                report(fault, ctx, rep, "%s: damaged segment header", e->path);
            chain_known = false;
        } else {
            if (have_prev && sh.first_seq != expect_seq)
                report(fault, ctx, rep,
                       "%s: starts at sequence %" PRIu64
                       " but the previous segment ends at %" PRIu64,
                       e->path, sh.first_seq, expect_seq - 1);
            unchained = sh.flags & JF_SEG_UNCHAINED;
            if (!unchained && have_prev && chain_known &&
                memcmp(sh.prev_hash, chain, JF_HASH_LEN) != 0)
                report(fault, ctx, rep,
                       "%s: chain hash in the header does not continue the "
                       "previous segment",
                       e->path);
            memcpy(chain, sh.prev_hash, JF_HASH_LEN);
            chain_known = !unchained;
        }
        while (off < len) {
            struct jf_rec_header h;
            int p = jf_parse_at(data, len, off, &h);
            /* A record cut short ends the segment: what follows inside its length is its payload
             * (recovery cuts it there, readers stop there). */
            if (p == 0 && newest) {
                rep->tail_bytes = len - off;
                break;
            }
            if (p == 0) {
                report(fault, ctx, rep,
                       "%s: %zu unreadable bytes at offset %zu at its end (a record cut short)",
                       e->path, len - off, off);
                break;
            }
            if (p < 0 || !jf_walk_fits(&w, h.seq)) {
                /* Damage, or a record numbered out of order (damage too): the records go on at
                 * the next whole record that continues the numbering, or end here. */
                char why[96] = "";
                if (p > 0)
                    snprintf(why, sizeof(why),
                             " (sequence %" PRIu64 " where %" PRIu64 " was expected)", h.seq,
                             w.expect);
                size_t next = jf_resync(data, len, off);
                struct jf_rec_header nh;
                bool resumes = next < len && jf_parse_at(data, len, next, &nh) == 1 &&
                               jf_walk_resumes(&w, nh.seq);
                if (resumes)
                    report(fault, ctx, rep, "%s: %zu damaged bytes at offset %zu%s", e->path,
                           next - off, off, why);
                else if (next == len)
                    report(fault, ctx, rep, "%s: %zu damaged bytes at offset %zu%s at its end",
                           e->path, len - off, off, why);
                else
                    report(fault, ctx, rep,
                           "%s: %zu damaged bytes at offset %zu%s to its end: the whole record "
                           "after them (sequence %" PRIu64 ") does not continue the sequence",
                           e->path, len - off, off, why, nh.seq);
                chain_known = false;
                if (!resumes)
                    break;
                off = next;
                continue;
            }
            const unsigned char *payload = data + off + JF_REC_HDR_LEN;
            if (rep->records == 0)
                rep->first_seq = h.seq;
            if (!header_ok && jf_hash_unchained(h.hash))
                unchained = true;
            if (chain_known && !unchained) {
                unsigned char want[JF_HASH_LEN];
                crypto_generichash_state st;
                crypto_generichash_init(&st, NULL, 0, JF_HASH_LEN);
                crypto_generichash_update(&st, chain, JF_HASH_LEN);
                crypto_generichash_update(&st, payload, h.len);
                crypto_generichash_final(&st, want, JF_HASH_LEN);
                if (sodium_memcmp(want, h.hash, JF_HASH_LEN) != 0)
                    report(fault, ctx, rep,
                           "%s: sequence %" PRIu64 ": chain hash mismatch (record altered, "
                           "removed or inserted)",
                           e->path, h.seq);
            }
            memcpy(chain, h.hash, JF_HASH_LEN);
            chain_known = !unchained;
            if (rep->records == 0 || h.time_ms < rep->oldest_ms)
                rep->oldest_ms = rep->records == 0 ? h.time_ms : rep->oldest_ms;
            rep->newest_ms = h.time_ms;
            rep->records++;
            rep->last_seq = h.seq;
            jf_walk_take(&w, h.seq);
            off += JF_REC_HDR_LEN + h.len;
        }
        expect_seq = w.expect;
        have_prev = true;
        free(data);
    }
    free(segs);
    return 0;
}
