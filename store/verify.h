/* Checking a journal: every segment header, every record's CRCs, sequence continuity and the
 * BLAKE2b hash chain from the first record to the last. Reads the directory as it is; any thread.
 */
#ifndef AMSI_STORE_VERIFY_H
#define AMSI_STORE_VERIFY_H

#include <stdint.h>

struct verify_report {
    uint64_t segments, records, bytes;
    uint64_t first_seq, last_seq;
    int64_t oldest_ms, newest_ms; /* append times of the first and last records */
    uint64_t faults;              /* damaged records, headers, sequence gaps, chain breaks */
    uint64_t tail_bytes;          /* unreadable bytes at the end of the newest segment */
};

/* Called for each fault with a one-line description. */
typedef void (*verify_fault_fn)(void *ctx, const char *what);

/* Verifies the journal of DATA_DIR. Returns 0 (see REP->faults), or a negative errno when it
 * cannot be read at all. */
int journal_verify(const char *data_dir, struct verify_report *rep, verify_fault_fn fault,
                   void *ctx);

#endif
