/* The journal's on-disk layout, private to store/. All integers little-endian.
 *
 * Segment file "<first seq, 20 digits>.seg" (".seg.lz4" once sealed and compressed: the same
 * bytes in one LZ4 frame):
 *   header, 72 bytes: magic "AMSIJRNL", u32 version (1), u32 header length (72),
 *     u64 first sequence number, i64 creation time (ms), u8[32] chain hash before the first record,
 *     u32 flags (JF_SEG_UNCHAINED, else 0), u32 CRC32C of the preceding 68 bytes
 *   records, back to back:
 *     u32 magic 0x52534D41 ("AMSR"), u32 payload length, u64 sequence number, i64 append time (ms),
 *     u8[32] chain hash = BLAKE2b-256(previous hash || payload), u32 CRC32C of the payload,
 *     u32 CRC32C of the preceding 60 header bytes, then the payload (the alert JSON).
 *
 * An unchained journal (the relay's outboxes: their CRCs guard them, nothing is to be proven about
 * them) sets JF_SEG_UNCHAINED in its segments and writes 32 zero bytes for each record's chain
 * hash and the header's; verify checks no chain in such a segment. A segment is one or the other:
 * a journal opened the other way than its newest segment starts a new one.
 */
#ifndef AMSI_STORE_JOURNAL_FORMAT_H
#define AMSI_STORE_JOURNAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/crc32c.h"

#define JF_SEG_MAGIC     "AMSIJRNL"
#define JF_VERSION       1u
#define JF_SEG_HDR_LEN   72u
#define JF_REC_MAGIC     0x52534D41u
#define JF_REC_HDR_LEN   64u
#define JF_HASH_LEN      32u
#define JF_MAX_PAYLOAD   (16u * 1024u * 1024u)
#define JF_SEG_UNCHAINED 1u /* segment header flag: its records carry no chain hash */
#define JF_SEG_SUFFIX    ".seg"
#define JF_LZ4_SUFFIX    ".seg.lz4"
#define JF_NAME_DIGITS   20
/* The highest sequence number a record may carry. 2^64 - 1 is never one, so that the number after
 * any record (the writer's next, a reader's next) is never 0: the writer refuses an alert past
 * it, and readers, recovery and verify take a record numbered 2^64 - 1 for damage. */
#define JF_MAX_SEQ (UINT64_MAX - 1)

struct jf_seg_header {
    uint64_t first_seq;
    int64_t created_ms;
    unsigned char prev_hash[JF_HASH_LEN];
    uint32_t flags; /* JF_SEG_UNCHAINED */
};

/* Whether a record's chain hash says it is unchained (all zeros). */
static inline bool jf_hash_unchained(const unsigned char hash[JF_HASH_LEN])
{
    unsigned char any = 0;
    for (unsigned i = 0; i < JF_HASH_LEN; i++)
        any |= hash[i];
    return any == 0;
}

struct jf_rec_header {
    uint32_t len;
    uint64_t seq;
    int64_t time_ms;
    unsigned char hash[JF_HASH_LEN];
    uint32_t payload_crc;
};

static inline void jf_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void jf_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t jf_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t jf_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void jf_encode_seg_header(unsigned char out[JF_SEG_HDR_LEN],
                                        const struct jf_seg_header *h)
{
    memcpy(out, JF_SEG_MAGIC, 8);
    jf_put32(out + 8, JF_VERSION);
    jf_put32(out + 12, JF_SEG_HDR_LEN);
    jf_put64(out + 16, h->first_seq);
    jf_put64(out + 24, (uint64_t)h->created_ms);
    memcpy(out + 32, h->prev_hash, JF_HASH_LEN);
    jf_put32(out + 64, h->flags);
    jf_put32(out + 68, crc32c(0, out, 68));
}

/* Decodes and checks a segment header. False when the magic, version, length or CRC is wrong. */
static inline bool jf_decode_seg_header(const unsigned char in[JF_SEG_HDR_LEN],
                                        struct jf_seg_header *h)
{
    if (memcmp(in, JF_SEG_MAGIC, 8) != 0 || jf_get32(in + 8) != JF_VERSION ||
        jf_get32(in + 12) != JF_SEG_HDR_LEN || jf_get32(in + 68) != crc32c(0, in, 68))
        return false;
    h->first_seq = jf_get64(in + 16);
    h->created_ms = (int64_t)jf_get64(in + 24);
    memcpy(h->prev_hash, in + 32, JF_HASH_LEN);
    h->flags = jf_get32(in + 64);
    return true;
}

static inline void jf_encode_rec_header(unsigned char out[JF_REC_HDR_LEN],
                                        const struct jf_rec_header *h)
{
    jf_put32(out, JF_REC_MAGIC);
    jf_put32(out + 4, h->len);
    jf_put64(out + 8, h->seq);
    jf_put64(out + 16, (uint64_t)h->time_ms);
    memcpy(out + 24, h->hash, JF_HASH_LEN);
    jf_put32(out + 56, h->payload_crc);
    jf_put32(out + 60, crc32c(0, out, 60));
}

/* Decodes and checks a record header (not its payload). */
static inline bool jf_decode_rec_header(const unsigned char in[JF_REC_HDR_LEN],
                                        struct jf_rec_header *h)
{
    if (jf_get32(in) != JF_REC_MAGIC || jf_get32(in + 60) != crc32c(0, in, 60))
        return false;
    h->len = jf_get32(in + 4);
    if (h->len > JF_MAX_PAYLOAD)
        return false;
    h->seq = jf_get64(in + 8);
    h->time_ms = (int64_t)jf_get64(in + 16);
    memcpy(h->hash, in + 24, JF_HASH_LEN);
    h->payload_crc = jf_get32(in + 56);
    return true;
}

/* Reads the record at OFF of a segment image. Returns 1 when a whole, valid record is there
 * (header and payload CRCs checked), 0 when the image ends inside it, -1 when it is damaged. */
static inline int jf_parse_at(const unsigned char *data, size_t len, size_t off,
                              struct jf_rec_header *h)
{
    if (len - off < JF_REC_HDR_LEN)
        return 0;
    if (!jf_decode_rec_header(data + off, h))
        return -1;
    if (len - off - JF_REC_HDR_LEN < h->len)
        return 0;
    if (crc32c(0, data + off + JF_REC_HDR_LEN, h->len) != h->payload_crc)
        return -1;
    return 1;
}

/* Which whole records of a segment are its records: one rule that recovery, readers and verify
 * follow alike, so that a reader never returns a record recovery does not count (and then skips
 * the alerts recovery numbers below it), nor skips one that recovery counts.
 *
 * The walk starts after the segment header expecting the first sequence it and the file's name
 * give. When the header is damaged, or names another first sequence than the file (whose name
 * orders the segments), the header is damage: the walk goes on from the first whole record,
 * expecting the name's sequence or later. A whole record counts when it carries the sequence
 * expected; one numbered otherwise (ahead or behind, or past JF_MAX_SEQ) is damage, as a bad CRC
 * is. After damage the walk goes on from the next whole record when its sequence is the one
 * expected or later (records may have been lost in the damage). The records end at a record cut
 * short (a torn tail, or a write in progress), and at damage not followed by a whole record that
 * continues the numbering: recovery cuts there. */
struct jf_walk {
    uint64_t expect;   /* the sequence the next record must carry */
    bool after_damage; /* damage was just stepped over: a later sequence is taken too */
};

/* Whether a whole record numbered SEQ is the segment's next record. */
static inline bool jf_walk_fits(const struct jf_walk *w, uint64_t seq)
{
    if (seq > JF_MAX_SEQ)
        return false;
    return w->after_damage ? seq >= w->expect : seq == w->expect;
}

/* Takes the record numbered SEQ (it fits). */
static inline void jf_walk_take(struct jf_walk *w, uint64_t seq)
{
    w->expect = seq + 1;
    w->after_damage = false;
}

/* After damage, whether the walk goes on at the next whole record, numbered SEQ; if so the record
 * is then taken by jf_walk_fits. */
static inline bool jf_walk_resumes(struct jf_walk *w, uint64_t seq)
{
    if (seq < w->expect || seq > JF_MAX_SEQ)
        return false;
    w->after_damage = true;
    return true;
}

/* The offset of the next valid record after damage at OFF, or LEN when there is none. */
static inline size_t jf_resync(const unsigned char *data, size_t len, size_t off)
{
    for (size_t o = off + 1; o + JF_REC_HDR_LEN <= len; o++) {
        struct jf_rec_header h;
        if (data[o] == (JF_REC_MAGIC & 0xff) && jf_parse_at(data, len, o, &h) == 1)
            return o;
    }
    return len;
}

/* Starts the walk (struct jf_walk) of the segment image DATA named after FIRST_SEQ. True when its
 * header is whole and names FIRST_SEQ: *H is filled and *OFF is past it. Else the walk goes on,
 * as after damage, from the first whole record after offset 0 (*OFF; LEN when there is none). */
static inline bool jf_walk_start(struct jf_walk *w, const unsigned char *data, size_t len,
                                 uint64_t first_seq, struct jf_seg_header *h, size_t *off)
{
    if (len >= JF_SEG_HDR_LEN && jf_decode_seg_header(data, h) && h->first_seq == first_seq) {
        *w = (struct jf_walk){.expect = first_seq};
        *off = JF_SEG_HDR_LEN;
        return true;
    }
    *w = (struct jf_walk){.expect = first_seq, .after_damage = true};
    *off = len < JF_SEG_HDR_LEN ? len : jf_resync(data, len, 0);
    return false;
}

#endif
