/* Reading the journal in sequence order from any position, across segments, compressed or not,
 * and following new records as they are written. Corrupt records in sealed segments are skipped
 * and counted; in the newest segment an unreadable tail is treated as "nothing more yet" (a write
 * in progress; recovery cuts real damage there on the next start).
 * A reader holds a window of its segment, not the segment: JOURNAL_READER_WINDOW bytes (grown to
 * hold a larger record while it is read), plus a bounded LZ4 stream state in a sealed segment, so
 * its memory does not depend on the segment's size.
 * A reader belongs to one thread; any number of readers may run beside the writer. */
#ifndef AMSI_STORE_READER_H
#define AMSI_STORE_READER_H

#include <stddef.h>
#include <stdint.h>

struct journal_reader;

/* The bytes of a segment a reader keeps in memory, unless a record is larger. */
#define JOURNAL_READER_WINDOW ((size_t)64 << 10)

struct journal_record {
    uint64_t seq;
    int64_t time_ms;           /* when it was appended */
    const unsigned char *hash; /* 32 bytes, the chain hash */
    const char *payload;       /* the alert document, not NUL-terminated */
    size_t len;
};

struct reader_stats {
    uint64_t corrupt_regions; /* damaged stretches skipped in sealed segments */
    uint64_t corrupt_bytes;
    uint64_t missing_records; /* sequence numbers lost inside skipped stretches */
};

/* Opens a reader of DATA_DIR's journal positioned at the first record with sequence >= FROM_SEQ.
 * Returns 0 or a negative errno (-ENOENT: no journal there). */
int journal_reader_open(struct journal_reader **out, const char *data_dir, uint64_t from_seq);

/* The next record: 1 with *REC (valid until the next call), 0 when there is nothing more for now
 * (call again later to follow), or a negative errno. */
int journal_reader_next(struct journal_reader *r, struct journal_record *rec);

/* Counters of what was skipped so far. */
void journal_reader_stats(const struct journal_reader *r, struct reader_stats *out);

/* The capacity of the reader's window now (for tests of its bound). */
size_t journal_reader_window(const struct journal_reader *r);

/* Closes the reader. journal_reader_close(NULL) is a no-op. */
void journal_reader_close(struct journal_reader *r);

#endif
