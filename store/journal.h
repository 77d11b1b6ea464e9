/* The alert journal: append-only segment files under DATA_DIR/journal, written by one writer
 * thread with group commit, sealed and LZ4-compressed in the background, expired by age and size
 * without ever dropping an alert a consumer has not taken. Layout: store/journal_format.h.
 *
 * Threads: journal_open and journal_close from one owning thread; journal_append and
 * journal_append_wait from any thread (workers, the libuv loop, tools); completion callbacks run
 * on the journal's writer thread and must not block. */
#ifndef AMSI_STORE_JOURNAL_H
#define AMSI_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct journal;

/* What a journal's owner learns of each group commit, on the writer thread (it must not block):
 * RECORD once per record the group made durable (in interval mode: written), in sequence order,
 * then COMMITTED once with their number, all before the records' own completion callbacks run.
 * Records that failed never reach it. Either may be NULL. */
struct journal_commit_hook {
    void (*record)(void *ctx, uint64_t seq, const void *payload, size_t len);
    void (*committed)(void *ctx, uint64_t records);
    void *ctx;
};

struct journal_opts {
    uint64_t segment_bytes;    /* rotate when a segment would grow past this (default 64 MiB) */
    unsigned sync_interval_ms; /* 0 (default): fdatasync before every completion; N: at most every
                                * N ms, completions after write(2) (fast, loses the last N ms of
                                * alerts on a power cut, nothing on a process crash) */
    bool compress_sealed;      /* LZ4-compress sealed segments in the background (default true) */
    uint64_t retention_bytes;  /* 0: unlimited. Oldest sealed segments go past this total... */
    uint64_t retention_ms;    /* ...or past this age (0: unlimited), unless a consumer needs them */
    size_t max_pending_bytes; /* appenders wait while this much is queued (default 64 MiB) */
    bool fail_fast; /* fail the records at the first write error instead of waiting out a full or
                     * failing disk (for a tool that should exit with an error, not wait) */
    bool unchained; /* no BLAKE2b chain hash over the records (default false: chained). Recorded
                     * in each segment (and as a zero hash in each record), so that verify checks
                     * no chain there; for journals nothing is to be proven about (the relay's
                     * outboxes). The alert journal stays chained. */
    uint64_t drop_cache_behind;    /* 0 (default): the kernel's page cache keeps what it likes. N:
                                    * after each fdatasync, the active segment's pages more than N
                                    * bytes behind its end are dropped from the page cache, for a
                                    * journal read back seldom or much later (the relay's outboxes) */
    unsigned test_commit_delay_ms; /* tests only: hold every commit this long */
    struct journal_commit_hook on_commit; /* default: none */
};

/* Defaults as documented above. */
void journal_opts_default(struct journal_opts *o);

/* What recovery found when the journal was opened. */
struct journal_recovery {
    uint64_t segments;        /* segment files found */
    uint64_t records;         /* valid records in the newest segment */
    uint64_t truncated_bytes; /* bytes cut from the torn tail of the newest segment */
    uint64_t truncated_at;    /* file offset of the cut */
    uint64_t damaged;         /* damaged stretches inside it, followed by whole records: kept */
    char reason[128];         /* why the tail was cut, empty when nothing was */
};

/* Opens (creating when needed) the journal of DATA_DIR: recovers the newest segment (truncating at
 * the first record with a bad length, CRC or sequence, and logging exactly what was cut), and
 * starts the writer and sealer threads. REPORT (may be NULL) receives what recovery did.
 * Returns 0 with *OUT, or a negative errno. */
int journal_open(struct journal **out, const char *data_dir, const struct journal_opts *opts,
                 struct journal_recovery *report);

/* Makes everything appended durable, stops the threads and frees J. journal_close(NULL) is a
 * no-op. Callbacks of records still queued run (with their status) before it returns. */
void journal_close(struct journal *j);

/* Called once per appended record when it is durable (STATUS 0; SEQ is its sequence number) or
 * could not be written (STATUS a negative errno, SEQ 0; -EOVERFLOW: it would have been numbered
 * past the highest sequence number, 2^64 - 2). Runs on the writer thread. */
typedef void (*journal_done_fn)(void *arg, int status, uint64_t seq);

/* Queues one record (the payload is copied). Waits while max_pending_bytes are queued.
 * Returns 0 (DONE will be called exactly once), -EMSGSIZE for a payload over 16 MiB, -EPIPE when
 * the journal is closing or failed. A full or failing disk (ENOSPC, EDQUOT, EIO on write, on a
 * new segment or on fdatasync) is waited out: the writer keeps the records, cuts the segment
 * back to its last synced end, writes them again with backoff (100 ms doubling to 5 s) and calls
 * DONE once they are durable, with the sequence numbers they would have had. Only other errors,
 * or closing while the disk still fails, complete records with an error. Sequence numbers never
 * wrap: past the highest (2^64 - 2) it returns -EOVERFLOW, or DONE gets it. */
int journal_append(struct journal *j, const void *payload, size_t len, journal_done_fn done,
                   void *arg);

/* journal_append of the record made of the IOVCNT pieces at IOV, one after the other (copied once,
 * into the journal's queue), so that a caller need not put them together first. */
int journal_appendv(struct journal *j, const struct iovec *iov, int iovcnt, journal_done_fn done,
                    void *arg);

/* Appends one record and waits until it is durable. Returns 0 with *SEQ (may be NULL), or a
 * negative errno. */
int journal_append_wait(struct journal *j, const void *payload, size_t len, uint64_t *seq);

/* Waits until every record queued before the call is durable (fdatasync even in interval mode).
 * Returns 0, or the first write error. */
int journal_flush(struct journal *j);

struct journal_stats {
    uint64_t next_seq; /* the sequence number the next record will get */
    uint64_t appended; /* records written since open */
    uint64_t syncs;    /* fdatasync calls on segments since open */
    uint64_t bytes;    /* bytes written since open */
    uint64_t segments_sealed;
    uint64_t segments_compressed;
    uint64_t segments_removed;
    uint64_t write_errors; /* failed tries to write or sync (a full or failing disk) */
    bool stalled;          /* the writer is waiting out such a failure, holding its records */
};

/* A snapshot of the counters. Any thread. */
void journal_get_stats(struct journal *j, struct journal_stats *out);

/* The durations of the fdatasync calls on the active segment, failed ones included. Any thread,
 * without a lock. */
struct histogram_snapshot;
void journal_sync_seconds(struct journal *j, struct histogram_snapshot *out);

/* The journal directory of a data directory ("DATA_DIR/journal") into OUT. */
void journal_dir_of(const char *data_dir, char *out, size_t outlen);

#endif
