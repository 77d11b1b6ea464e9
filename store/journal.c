#include "store/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lz4frame.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/histogram.h"
#include "base/log.h"
#include "store/cursor.h"
#include "store/journal_format.h"
#include "store/segdir.h"

#define CHUNK_RECORDS       256 /* records per writev; IOV_MAX allows 512 (header + payload each) */
#define RETENTION_PERIOD_MS 60000
#define RETRY_FIRST_MS      100 /* a write that failed on a full or failing disk is retried after */
#define RETRY_MAX_MS        5000 /* ...this, doubling up to this */

struct pending {
    struct pending *next;
    journal_done_fn done;
    void *arg;
    bool flush; /* a flush marker, not a record */
    size_t len;
    unsigned char hdr[JF_REC_HDR_LEN];
    unsigned char payload[];
};

struct journal {
    char data_dir[4096];
    char dir[4096];
    struct journal_opts opts;

    /* Writer state: touched only by the writer thread after open. */
    int fd;
    uint64_t seg_first;
    uint64_t seg_bytes;
    uint64_t next_seq;
    unsigned char last_hash[JF_HASH_LEN];
    bool dirty;             /* written since the last fdatasync */
    uint64_t dropped_upto;  /* drop_cache_behind: the active segment's pages below are dropped */
    uint64_t last_sync_ns;  /* monotonic */
    uint64_t durable_bytes; /* the active segment's length at its last successful fdatasync */
    struct pending *unsynced, *unsynced_tail; /* interval mode: reported after write(2) and not
                                               * synced yet; rewritten if a sync fails */
    bool need_repair;    /* a write or sync failed: the file past durable_bytes is not trusted */
    bool said_exhausted; /* the refusal of alerts past JF_MAX_SEQ was logged */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv_work, cv_space, cv_done, cv_seal;
    struct pending *head, *tail;
    size_t pending_bytes;
    bool stopping, failed;
    uint64_t *seal_queue;
    size_t seal_len, seal_cap;
    struct journal_stats stats;
    struct histogram sync_seconds; /* fdatasync of the active segment (lock-free) */

    pthread_t writer, sealer;
};

void journal_opts_default(struct journal_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->segment_bytes = 64u << 20;
    o->sync_interval_ms = 0;
    o->compress_sealed = true;
    o->max_pending_bytes = 64u << 20;
}

void journal_dir_of(const char *data_dir, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/journal", data_dir);
}

static int write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Creates the segment file starting at FIRST_SEQ and makes its header and entry durable; it then
 * becomes the active segment (the previous one, already synced, is closed). On failure (a full
 * disk) the half-made file is removed and the previous segment stays active. */
static int create_segment(struct journal *j, uint64_t first_seq)
{
    char path[4400];
    segdir_name(path, sizeof(path), j->dir, first_seq, false);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    struct jf_seg_header h = {.first_seq = first_seq,
                              .created_ms = clock_now_ms(),
                              .flags = j->opts.unchained ? JF_SEG_UNCHAINED : 0};
    if (!j->opts.unchained)
        memcpy(h.prev_hash, j->last_hash, JF_HASH_LEN);
    unsigned char buf[JF_SEG_HDR_LEN];
    jf_encode_seg_header(buf, &h);
    int rc = fault_error("journal-create");
    if (rc == 0)
        rc = write_full(fd, buf, sizeof(buf));
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    fault_point("segment-created-before-dir-sync");
    if (rc == 0)
        rc = segdir_sync_dir(j->dir);
    if (rc < 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = fd;
    j->seg_first = first_seq;
    j->seg_bytes = JF_SEG_HDR_LEN;
    j->durable_bytes = JF_SEG_HDR_LEN;
    j->dropped_upto = 0;
    j->dirty = false;
    return 0;
}

/* Walks the records of the segment image at PATH (WHERE: which segment, for the log) from OFF by
 * the rule readers follow (struct jf_walk, journal_format.h), from W as set for the segment's
 * start. Sets *END to the offset after its last record, W->expect to the sequence after it,
 * LAST_HASH from it, and REASON when it stopped before the end of the data. Damage followed by
 * whole records that continue the numbering (a flipped bit, not a torn write) is stepped over and
 * counted in *DAMAGED: those later records were acknowledged and must not be cut. A record numbered
 * out of order is damage too. A record whose header is whole but whose payload runs past the end is
 * the torn tail, never damage: what looks like whole records inside its length is its own payload,
 * and readers and verify stop there too. */
static uint64_t scan_records(const char *where, const char *path, const unsigned char *data,
                             size_t len, size_t off, struct jf_walk *w, size_t *end,
                             unsigned char *last_hash, char *reason, size_t reasonlen,
                             uint64_t *damaged)
{
    uint64_t count = 0;
    reason[0] = '\0';
    *damaged = 0;
    while (off < len) {
        struct jf_rec_header h;
        const char *why = NULL;
        char whybuf[96];
        int p = jf_parse_at(data, len, off, &h);
        if (p == 0) {
            snprintf(whybuf, sizeof(whybuf), "short record (%zu bytes left)", len - off);
            why = whybuf;
        } else if (p < 0) {
            why = "bad record header or payload CRC";
        } else if (!jf_walk_fits(w, h.seq)) {
            snprintf(whybuf, sizeof(whybuf), "sequence %" PRIu64 " where %" PRIu64 " was expected",
                     h.seq, w->expect);
            why = whybuf;
        }
        if (why) {
            /* A whole record further on that continues the numbering means damage, not a torn
             * tail. */
            size_t next = p == 0 ? len : jf_resync(data, len, off);
            struct jf_rec_header nh;
            if (next < len && jf_parse_at(data, len, next, &nh) == 1 &&
                jf_walk_resumes(w, nh.seq)) {
                log_warn("journal",
                         "%zu damaged bytes at offset %zu inside %s %s (%s): kept and skipped by "
                         "readers; `amsiwatch journal verify` reports them",
                         next - off, off, where, path, why);
                (*damaged)++;
                off = next;
                continue;
            }
            snprintf(reason, reasonlen, "%s", why);
            break;
        }
        memcpy(last_hash, h.hash, JF_HASH_LEN);
        jf_walk_take(w, h.seq);
        count++;
        off += JF_REC_HDR_LEN + h.len;
    }
    *end = off;
    return count;
}

/* Finds where the chain and the sequence stand at the end of a sealed (compressed) segment: after
 * the last record a reader returns from it, damage stepped over as readers do. */
static int tail_of_sealed(const struct seg_entry *e, uint64_t *next_seq, unsigned char *hash)
{
    unsigned char *data;
    size_t len;
    bool damaged;
    int rc = segdir_load(e, 4 * (size_t)JF_MAX_PAYLOAD * 16, &data, &len, &damaged);
    if (rc < 0)
        return rc;
    struct jf_seg_header h;
    struct jf_walk w;
    size_t start, end;
    bool header_ok = jf_walk_start(&w, data, len, e->first_seq, &h, &start);
    if (header_ok)
        memcpy(hash, h.prev_hash, JF_HASH_LEN);
    char reason[128];
    uint64_t stretches;
    uint64_t records = scan_records("the sealed segment", e->path, data, len, start, &w, &end, hash,
                                    reason, sizeof(reason), &stretches);
    free(data);
    if (!header_ok && records == 0)
        return -EBADMSG;
    *next_seq = w.expect;
    return 0;
}

static int rotate(struct journal *j);

/* Recovers the newest plain segment: truncates its torn tail and opens it for appending. */
static int recover_active(struct journal *j, const struct seg_entry *e,
                          const struct seg_entry *prev, struct journal_recovery *rep)
{
    unsigned char *data;
    size_t len;
    bool damaged;
    int rc = segdir_load(e, SIZE_MAX / 2, &data, &len, &damaged);
    if (rc < 0)
        return rc;
    struct jf_seg_header h;
    struct jf_walk w;
    size_t start, end;
    bool header_ok = jf_walk_start(&w, data, len, e->first_seq, &h, &start);
    memset(j->last_hash, 0, JF_HASH_LEN);
    if (header_ok)
        memcpy(j->last_hash, h.prev_hash, JF_HASH_LEN);
    rep->records = scan_records("the newest segment", e->path, data, len, start, &w, &end,
                                j->last_hash, rep->reason, sizeof(rep->reason), &rep->damaged);
    free(data);
    if (!header_ok && rep->records == 0) {
        /* The header itself is torn (a crash while creating the segment) and no record follows
         * it: start the segment again. */
        rep->damaged = 0;
        j->next_seq = e->first_seq;
        if (prev && (rc = tail_of_sealed(prev, &j->next_seq, j->last_hash)) < 0)
            return rc;
        if (j->next_seq != e->first_seq) {
            log_error("journal", "%s: header torn and sequence %" PRIu64 " does not follow %s",
                      e->path, e->first_seq, prev ? prev->path : "nothing");
            return -EBADMSG;
        }
        rep->truncated_bytes = len;
        rep->truncated_at = 0;
        snprintf(rep->reason, sizeof(rep->reason), "torn segment header");
        log_warn("journal", "%s: segment header torn, %zu bytes cut, segment started again",
                 e->path, len);
        return create_segment(j, e->first_seq);
    }
    if (!header_ok) {
        /* Records follow a damaged header (or one naming another first sequence than the file):
         * they were acknowledged, readers step over the header to them, so they are kept. */
        rep->damaged++;
        log_warn("journal",
                 "%s: segment header damaged or not naming sequence %" PRIu64 ": the %" PRIu64
                 " records after it kept and read past it; `amsiwatch journal verify` reports it",
                 e->path, e->first_seq, rep->records);
    }
    j->next_seq = w.expect;
    int fd = open(e->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (end < len) {
        rep->truncated_bytes = len - end;
        rep->truncated_at = end;
        log_warn("journal",
                 "%s: cut %zu bytes at offset %zu: %s; %" PRIu64 " records before it kept "
                 "(last sequence %" PRIu64 ")",
                 e->path, len - end, end, rep->reason, rep->records, j->next_seq - 1);
        if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    j->fd = fd;
    j->seg_first = e->first_seq;
    j->seg_bytes = end;
    j->durable_bytes = end;
    /* Opened chained where the newest segment is unchained, or the other way round: new records
     * go to a segment of their own, so that each segment is one or the other, as its header says
     * and verify checks. */
    if (header_ok && ((h.flags & JF_SEG_UNCHAINED) != 0) != j->opts.unchained) {
        if (!j->opts.unchained)
            memset(j->last_hash, 0, JF_HASH_LEN); /* the chain starts at the new segment */
        return rep->records ? rotate(j) : create_segment(j, e->first_seq);
    }
    return 0;
}

static void remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static void queue_seal_locked(struct journal *j, uint64_t first_seq)
{
    if (!j->opts.compress_sealed)
        return;
    if (j->seal_len == j->seal_cap) {
        size_t cap = j->seal_cap ? j->seal_cap * 2 : 8;
        uint64_t *q = realloc(j->seal_queue, cap * sizeof(*q));
        if (!q)
            return; /* stays uncompressed; readers take either form */
        j->seal_queue = q;
        j->seal_cap = cap;
    }
    j->seal_queue[j->seal_len++] = first_seq;
    pthread_cond_signal(&j->cv_seal);
}

static int recover(struct journal *j, struct journal_recovery *rep)
{
    remove_temporaries(j->dir);
    struct seg_entry *segs;
    size_t n;
    int rc = segdir_list(j->dir, &segs, &n);
    if (rc < 0)
        return rc;
    rep->segments = n;
    memset(j->last_hash, 0, JF_HASH_LEN);
    if (n == 0) {
        j->next_seq = 1;
        rc = create_segment(j, 1);
    } else if (segs[n - 1].compressed) {
        rc = tail_of_sealed(&segs[n - 1], &j->next_seq, j->last_hash);
        if (rc == 0)
            rc = create_segment(j, j->next_seq);
    } else {
        rc = recover_active(j, &segs[n - 1], n > 1 ? &segs[n - 2] : NULL, rep);
    }
    /* Sealed segments a crash left uncompressed. */
    for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
        if (!segs[i].compressed)
            queue_seal_locked(j, segs[i].first_seq);
    }
    free(segs);
    return rc;
}

static void free_list(struct pending *p)
{
    while (p) {
        struct pending *next = p->next;
        free(p);
        p = next;
    }
}

/* fdatasync of the active segment. Success makes everything written to it durable. Failure means
 * the kernel may have dropped the dirty pages and will not say so again (PostgreSQL's
 * "fsyncgate"): the tail past durable_bytes is never synced again as it is but cut and written
 * again from memory first (repair). */
static void drop_behind(struct journal *j);

static int sync_active(struct journal *j)
{
    uint64_t started_ns = clock_mono_ns();
    int rc = fault_error("journal-fdatasync");
    if (rc == 0 && fdatasync(j->fd) != 0)
        rc = -errno;
    histogram_observe_ns(&j->sync_seconds, clock_mono_ns() - started_ns);
    if (rc < 0) {
        j->need_repair = true;
        return rc;
    }
    j->dirty = false;
    j->durable_bytes = j->seg_bytes;
    drop_behind(j);
    free_list(j->unsynced);
    j->unsynced = j->unsynced_tail = NULL;
    j->last_sync_ns = clock_mono_ns();
    pthread_mutex_lock(&j->mu);
    j->stats.syncs++;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* drop_cache_behind: the synced pages of the active segment further than that behind its end
 * leave the page cache (whole MiBs at a time). A journal written much faster than it is read
 * back then neither fills the page cache nor pays for fresh pages: the kernel's copy into newly
 * allocated page-cache pages was the largest cost of an outbox taking every window. Advice only:
 * a failure changes nothing but the cache. */
static void drop_behind(struct journal *j)
{
    uint64_t keep = j->opts.drop_cache_behind;
    if (!keep || j->durable_bytes <= keep)
        return;
    uint64_t upto = (j->durable_bytes - keep) & ~(uint64_t)((1u << 20) - 1);
    if (upto <= j->dropped_upto)
        return;
    (void)posix_fadvise(j->fd, (off_t)j->dropped_upto, (off_t)(upto - j->dropped_upto),
                        POSIX_FADV_DONTNEED);
    j->dropped_upto = upto;
}

/* Seals the active segment (the caller synced it) and starts the next one at next_seq. On
 * failure the active segment stays as it was. */
static int rotate(struct journal *j)
{
    uint64_t sealed = j->seg_first;
    fault_point("rotate-before-create");
    int rc = create_segment(j, j->next_seq);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&j->mu);
    j->stats.segments_sealed++;
    queue_seal_locked(j, sealed);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* Writes records [FIRST, STOP) of a batch (at most CHUNK_RECORDS) in one writev. On failure part
 * of them may have reached the file: the tail is then repaired before the next write. */
static int write_chunk(struct journal *j, struct pending *first, struct pending *stop)
{
    struct iovec iov[2 * CHUNK_RECORDS];
    int n = 0;
    size_t bytes = 0;
    for (struct pending *p = first; p != stop; p = p->next) {
        if (p->flush)
            continue;
        iov[n].iov_base = p->hdr;
        iov[n++].iov_len = JF_REC_HDR_LEN;
        iov[n].iov_base = p->payload;
        iov[n++].iov_len = p->len;
        bytes += JF_REC_HDR_LEN + p->len;
    }
    if (n == 0)
        return 0;
    if (fault_hit("mid-record-write")) {
        /* A torn write: the first record's header and half its payload reach the file. */
        write_full(j->fd, iov[0].iov_base, iov[0].iov_len);
        write_full(j->fd, iov[1].iov_base, iov[1].iov_len / 2);
        fault_kill();
    }
    int rc = fault_error("journal-write");
    if (rc < 0) {
        /* As a file system that fills up mid-write does: the first header gets through. */
        (void)write_full(j->fd, iov[0].iov_base, iov[0].iov_len);
        j->need_repair = true;
        return rc;
    }
    int idx = 0;
    while (idx < n) {
        ssize_t w = writev(j->fd, iov + idx, n - idx > IOV_MAX ? IOV_MAX : n - idx);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            j->need_repair = true;
            return -errno;
        }
        size_t left = (size_t)w;
        while (idx < n && left >= iov[idx].iov_len) {
            left -= iov[idx].iov_len;
            idx++;
        }
        if (idx < n && left) {
            iov[idx].iov_base = (char *)iov[idx].iov_base + left;
            iov[idx].iov_len -= left;
        }
    }
    j->seg_bytes += bytes;
    j->dirty = true;
    pthread_mutex_lock(&j->mu);
    j->stats.bytes += bytes;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* After a failed write or fdatasync: cuts the active segment back to its last synced end and
 * writes again, from memory, the records reported since then (interval mode), so that nothing
 * the kernel may have dropped is ever taken for written. */
static int repair(struct journal *j)
{
    if (ftruncate(j->fd, (off_t)j->durable_bytes) != 0)
        return -errno;
    j->seg_bytes = j->durable_bytes;
    j->dirty = false;
    struct pending *p = j->unsynced;
    while (p) {
        struct pending *stop = p;
        for (int k = 0; k < CHUNK_RECORDS && stop; k++)
            stop = stop->next;
        int rc = write_chunk(j, p, stop);
        if (rc < 0)
            return rc;
        p = stop;
    }
    j->need_repair = false;
    return 0;
}

/* Reports records [FIRST, STOP) with STATUS. Those reported after write(2) but not synced yet
 * (interval mode) stay in memory until a sync succeeds, to be written again if it fails. */
static void complete(struct journal *j, struct pending *first, struct pending *stop, int status)
{
    const struct journal_commit_hook *hook = &j->opts.on_commit;
    if (status == 0 && (hook->record || hook->committed)) {
        uint64_t n = 0;
        for (struct pending *q = first; q != stop; q = q->next) {
            if (q->flush)
                continue;
            n++;
            if (hook->record)
                hook->record(hook->ctx, jf_get64(q->hdr + 8), q->payload, q->len);
        }
        if (n && hook->committed)
            hook->committed(hook->ctx, n);
    }
    struct pending *p = first;
    uint64_t records = 0;
    while (p != stop) {
        struct pending *next = p->next;
        uint64_t seq = 0;
        if (status == 0 && !p->flush) {
            seq = jf_get64(p->hdr + 8);
            records++;
        }
        if (p->done)
            p->done(p->arg, status, seq);
        if (seq && j->dirty) {
            p->next = NULL;
            p->done = NULL;
            if (j->unsynced_tail)
                j->unsynced_tail->next = p;
            else
                j->unsynced = p;
            j->unsynced_tail = p;
        } else {
            free(p);
        }
        p = next;
    }
    if (records) {
        pthread_mutex_lock(&j->mu);
        j->stats.appended += records;
        pthread_mutex_unlock(&j->mu);
    }
}

/* One try at a batch: chunks of records, rotation where a segment would overflow, then one
 * fdatasync for everything (group commit) unless the journal syncs on an interval (FORCE_SYNC:
 * sync anyway). Records are completed as they become durable and *BATCH moves past them. On
 * failure the records left in *BATCH are not completed and their sequence numbers and chain
 * hashes are taken back: the next try gives them the same ones, so no gap and no duplicate. */
static int write_batch(struct journal *j, struct pending **batchp, bool force_sync)
{
    struct pending *batch = *batchp;
    struct pending *chunk = batch;
    int count = 0;
    bool need_sync = j->opts.sync_interval_ms == 0 || force_sync;
    int rc = 0;
    uint64_t chunk_bytes = 0;
    uint64_t seq0 = j->next_seq;
    unsigned char hash0[JF_HASH_LEN];
    memcpy(hash0, j->last_hash, JF_HASH_LEN);
    for (struct pending *p = batch; p; p = p->next) {
        if (p->flush) {
            need_sync = true;
            continue;
        }
        uint64_t rec = JF_REC_HDR_LEN + p->len;
        if (j->seg_bytes + chunk_bytes + rec > j->opts.segment_bytes &&
            j->seg_bytes + chunk_bytes > JF_SEG_HDR_LEN) {
            /* Make what is gathered durable in the old segment, then start a new one. */
            if ((rc = write_chunk(j, chunk, p)) < 0 || (j->dirty && (rc = sync_active(j)) < 0))
                break;
            complete(j, batch, p, 0);
            *batchp = batch = chunk = p;
            seq0 = j->next_seq;
            memcpy(hash0, j->last_hash, JF_HASH_LEN);
            count = 0;
            chunk_bytes = 0;
            if ((rc = rotate(j)) < 0)
                break;
            fault_point("after-rotate");
        }
        struct jf_rec_header h = {.len = (uint32_t)p->len, .seq = j->next_seq++};
        h.time_ms = clock_now_ms();
        if (!j->opts.unchained) {
            crypto_generichash_state st;
            crypto_generichash_init(&st, NULL, 0, JF_HASH_LEN);
            crypto_generichash_update(&st, j->last_hash, JF_HASH_LEN);
            crypto_generichash_update(&st, p->payload, p->len);
            crypto_generichash_final(&st, h.hash, JF_HASH_LEN);
            memcpy(j->last_hash, h.hash, JF_HASH_LEN);
        }
        h.payload_crc = crc32c(0, p->payload, p->len);
        jf_encode_rec_header(p->hdr, &h);
        chunk_bytes += rec;
        if (++count == CHUNK_RECORDS) {
            if ((rc = write_chunk(j, chunk, p->next)) < 0)
                break;
            chunk = p->next;
            count = 0;
            chunk_bytes = 0;
        }
    }
    if (rc == 0)
        rc = write_chunk(j, chunk, NULL);
    fault_point("after-write-before-sync");
    if (rc == 0 && need_sync && j->dirty)
        rc = sync_active(j);
    fault_point("after-sync-before-ack");
    if (rc < 0) {
        j->next_seq = seq0;
        memcpy(j->last_hash, hash0, JF_HASH_LEN);
        j->need_repair = true;
        return rc;
    }
    pthread_mutex_lock(&j->mu);
    j->stats.next_seq = j->next_seq;
    pthread_mutex_unlock(&j->mu);
    complete(j, batch, NULL, 0);
    *batchp = NULL;
    return 0;
}

static void deadline_after_ms(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Errors a full or failing disk gives: they pass (space is freed, the disk is grown or replaced),
 * so the writer waits them out instead of refusing alerts. */
static bool passes(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT || rc == -EIO;
}

static const char *what_to_do(int rc)
{
    if (rc == -EIO)
        return "the disk reports I/O errors: check it (dmesg) and free or replace it";
    if (rc == -EDQUOT)
        return "raise the disk quota of this user or free space in it";
    return "free space on that file system (delivered sealed segments go with "
           "journal.retention-size or journal.retention-age)";
}

/* Writes a batch (or, BATCH NULL, syncs what is written), waiting out a full or failing disk:
 * the batch is kept, the tail is repaired and the write tried again with backoff until it
 * succeeds, so its appenders (and the windows that raised the alerts) wait instead of failing.
 * Gives up only on other errors, or when the journal closes while the disk still fails. */
static void process_batch(struct journal *j, struct pending *batch, bool force_sync)
{
    unsigned delay = RETRY_FIRST_MS;
    int first_err = 0;
    uint64_t since_ns = 0, tries = 0;
    for (;;) {
        int rc = j->need_repair ? repair(j) : 0;
        if (rc == 0)
            rc = write_batch(j, &batch, force_sync);
        if (rc == 0)
            break;
        tries++;
        pthread_mutex_lock(&j->mu);
        j->stats.write_errors++;
        bool stopping = j->stopping;
        pthread_mutex_unlock(&j->mu);
        if (!passes(rc) || j->opts.fail_fast || (stopping && first_err)) {
            if (passes(rc) && !j->opts.fail_fast)
                log_error("journal",
                          "closing while writes to %s still fail (%s): the alerts waiting were "
                          "not written and were not acknowledged",
                          j->dir, strerror(-rc));
            else
                log_error("journal", "write to %s failed: %s; the journal stops accepting alerts",
                          j->dir, strerror(-rc));
            if (j->need_repair)
                (void)repair(j); /* best effort; recovery cuts a torn tail on the next start */
            pthread_mutex_lock(&j->mu);
            j->failed = true;
            j->stats.stalled = false;
            pthread_mutex_unlock(&j->mu);
            complete(j, batch, NULL, rc);
            return;
        }
        if (!first_err) {
            first_err = rc;
            since_ns = clock_mono_ns();
            log_error("journal",
                      "write to %s failed: %s. Alerts wait in memory, unacknowledged (senders "
                      "whose windows raised them are paused, other windows go on), and the write "
                      "is retried every %u s at most; nothing is lost or skipped. To resume: %s",
                      j->dir, strerror(-rc), RETRY_MAX_MS / 1000, what_to_do(rc));
            pthread_mutex_lock(&j->mu);
            j->stats.stalled = true;
            pthread_mutex_unlock(&j->mu);
        }
        pthread_mutex_lock(&j->mu);
        struct timespec ts;
        deadline_after_ms(&ts, delay);
        while (!j->stopping && pthread_cond_timedwait(&j->cv_work, &j->mu, &ts) != ETIMEDOUT) {
        }
        pthread_mutex_unlock(&j->mu);
        delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
    }
    if (first_err) {
        log_info("journal",
                 "writes to %s succeed again after %.1f s and %" PRIu64 " failed tries (%s): "
                 "the alerts that waited are journaled and acknowledged",
                 j->dir, (double)(clock_mono_ns() - since_ns) / 1e9, tries, strerror(-first_err));
        pthread_mutex_lock(&j->mu);
        j->stats.stalled = false;
        pthread_mutex_unlock(&j->mu);
    }
}

/* Takes out of *BATCH, in order, the records that would be numbered past JF_MAX_SEQ and returns
 * them: a sequence number never wraps to 0, which readers would take for one before the first. */
static struct pending *past_max_seq(struct journal *j, struct pending **batch)
{
    uint64_t room = j->next_seq <= JF_MAX_SEQ ? JF_MAX_SEQ - j->next_seq + 1 : 0;
    struct pending *out = NULL, **tail = &out, **pp = batch;
    while (*pp) {
        struct pending *p = *pp;
        if (p->flush || room) {
            if (!p->flush)
                room--;
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->next = NULL;
        *tail = p;
        tail = &p->next;
    }
    if (out && !j->said_exhausted) {
        j->said_exhausted = true;
        log_error("journal",
                  "%s: sequence numbers used up (%" PRIu64 " is the highest): alerts are refused "
                  "(EOVERFLOW); move this journal away to start a new one",
                  j->dir, (uint64_t)JF_MAX_SEQ);
    }
    return out;
}

static void *writer_main(void *arg)
{
    struct journal *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (!j->head && !j->stopping) {
            if (j->dirty) {
                uint64_t due = j->last_sync_ns + (uint64_t)j->opts.sync_interval_ms * 1000000u;
                uint64_t now = clock_mono_ns();
                if (now >= due)
                    break;
                struct timespec ts;
                deadline_after_ms(&ts, (unsigned)((due - now) / 1000000u) + 1);
                pthread_cond_timedwait(&j->cv_work, &j->mu, &ts);
            } else {
                pthread_cond_wait(&j->cv_work, &j->mu);
            }
        }
        struct pending *batch = j->head;
        j->head = j->tail = NULL;
        j->pending_bytes = 0;
        bool stop = j->stopping && !batch;
        bool failed = j->failed;
        pthread_cond_broadcast(&j->cv_space);
        pthread_mutex_unlock(&j->mu);
        if (batch && j->opts.test_commit_delay_ms) {
            struct timespec d = {j->opts.test_commit_delay_ms / 1000,
                                 (long)(j->opts.test_commit_delay_ms % 1000) * 1000000L};
            nanosleep(&d, NULL);
        }
        if (batch && failed) {
            complete(j, batch, NULL, -EPIPE);
        } else if (batch) {
            struct pending *refused = past_max_seq(j, &batch);
            if (batch)
                process_batch(j, batch, false);
            if (refused)
                complete(j, refused, NULL, -EOVERFLOW);
        }
        /* In interval mode the sync comes due between batches too, not only when idle. */
        if (j->dirty && !failed && j->opts.sync_interval_ms &&
            clock_mono_ns() - j->last_sync_ns >= (uint64_t)j->opts.sync_interval_ms * 1000000u &&
            sync_active(j) < 0)
            process_batch(j, NULL, true); /* rewrite what the failed sync may have lost */
        if (stop)
            break;
    }
    if ((j->dirty || j->need_repair) && !j->failed)
        process_batch(j, NULL, true);
    return NULL;
}

/* Compresses one sealed segment: X.seg -> X.seg.lz4.tmp -> fsync -> rename -> X.seg removed. */
static int compress_segment(struct journal *j, uint64_t first_seq)
{
    char src[4400], dst[4400], tmp[4500];
    segdir_name(src, sizeof(src), j->dir, first_seq, false);
    segdir_name(dst, sizeof(dst), j->dir, first_seq, true);
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    struct seg_entry e = {.first_seq = first_seq, .compressed = false};
    snprintf(e.path, sizeof(e.path), "%s", src);
    unsigned char *data;
    size_t len;
    bool damaged;
    int rc = segdir_load(&e, SIZE_MAX / 4, &data, &len, &damaged);
    if (rc < 0)
        return rc;
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    prefs.frameInfo.contentSize = len;
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    unsigned char *out = malloc(bound);
    if (!out) {
        free(data);
        return -ENOMEM;
    }
    size_t clen = LZ4F_compressFrame(out, bound, data, len, &prefs);
    free(data);
    if (LZ4F_isError(clen)) {
        free(out);
        return -EIO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        free(out);
        return -errno;
    }
    rc = write_full(fd, out, clen);
    free(out);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    close(fd);
    fault_point("compress-before-rename");
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc == 0)
        rc = segdir_sync_dir(j->dir);
    fault_point("compress-before-unlink");
    if (rc == 0 && unlink(src) != 0)
        rc = -errno;
    if (rc == 0)
        rc = segdir_sync_dir(j->dir);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* Removes the oldest sealed segments past the age or size limit, never one holding a record a
 * consumer has not taken. */
static void apply_retention(struct journal *j)
{
    if (!j->opts.retention_bytes && !j->opts.retention_ms)
        return;
    struct seg_entry *segs;
    size_t n;
    if (segdir_list(j->dir, &segs, &n) < 0)
        return;
    struct cursor_info *cur;
    size_t ncur;
    if (cursor_list(j->data_dir, &cur, &ncur) < 0) {
        free(segs);
        return;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += segs[i].bytes;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i + 1 < n; i++) {
        bool over_size = j->opts.retention_bytes && total > j->opts.retention_bytes;
        bool over_age =
            j->opts.retention_ms && now - segs[i].mtime_ms > (int64_t)j->opts.retention_ms;
        if (!over_size && !over_age)
            break;
        uint64_t last_seq = segs[i + 1].first_seq - 1;
        const struct cursor_info *holder = NULL;
        for (size_t c = 0; c < ncur; c++) {
            if (cur[c].next_seq <= last_seq && (!holder || cur[c].next_seq < holder->next_seq))
                holder = &cur[c];
        }
        if (holder) {
            log_warn("journal",
                     "keeping %s beyond the retention %s limit: consumer '%s' has not taken "
                     "alerts from sequence %" PRIu64,
                     segs[i].path, over_size ? "size" : "age", holder->name, holder->next_seq);
            break;
        }
        if (unlink(segs[i].path) == 0) {
            segdir_sync_dir(j->dir);
            total -= segs[i].bytes;
            log_info("journal", "removed %s (retention %s limit)", segs[i].path,
                     over_size ? "size" : "age");
            pthread_mutex_lock(&j->mu);
            j->stats.segments_removed++;
            pthread_mutex_unlock(&j->mu);
        }
    }
    free(cur);
    free(segs);
}

static void *sealer_main(void *arg)
{
    struct journal *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (j->seal_len == 0 && !j->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += RETENTION_PERIOD_MS / 1000;
            if (pthread_cond_timedwait(&j->cv_seal, &j->mu, &ts) != 0)
                break;
        }
        if (j->stopping)
            break;
        uint64_t first = 0;
        bool have = j->seal_len > 0;
        if (have) {
            first = j->seal_queue[0];
            memmove(j->seal_queue, j->seal_queue + 1, (j->seal_len - 1) * sizeof(uint64_t));
            j->seal_len--;
        }
        pthread_mutex_unlock(&j->mu);
        if (have) {
            int rc = compress_segment(j, first);
            if (rc < 0)
                log_warn("journal", "compressing segment %" PRIu64 " failed: %s (kept as is)",
                         first, strerror(-rc));
            pthread_mutex_lock(&j->mu);
            if (rc == 0)
                j->stats.segments_compressed++;
            pthread_mutex_unlock(&j->mu);
        }
        apply_retention(j);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int journal_open(struct journal **out, const char *data_dir, const struct journal_opts *opts,
                 struct journal_recovery *report)
{
    struct journal_recovery scratch;
    struct journal_recovery *rep = report ? report : &scratch;
    memset(rep, 0, sizeof(*rep));
    if (sodium_init() < 0)
        return -EIO;
    struct journal *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    histogram_init(&j->sync_seconds, histogram_latency_bounds, histogram_latency_nbounds);
    if (opts)
        j->opts = *opts;
    else
        journal_opts_default(&j->opts);
    if (j->opts.segment_bytes < 4096)
        j->opts.segment_bytes = 4096;
    if (!j->opts.max_pending_bytes)
        j->opts.max_pending_bytes = 64u << 20;
    j->fd = -1;
    snprintf(j->data_dir, sizeof(j->data_dir), "%s", data_dir);
    journal_dir_of(data_dir, j->dir, sizeof(j->dir));
    int rc = 0;
    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
        rc = -errno;
        log_error("journal", "cannot create %s: %s", data_dir, strerror(errno));
        free(j);
        return rc;
    }
    if (mkdir(j->dir, 0750) == 0) {
        /* The new folder's entry must be durable before anything in it is acknowledged. */
        segdir_sync_dir(data_dir);
    } else if (errno != EEXIST) {
        rc = -errno;
        log_error("journal", "cannot create %s: %s", j->dir, strerror(errno));
        free(j);
        return rc;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv_work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&j->cv_space, NULL);
    pthread_cond_init(&j->cv_done, NULL);
    pthread_cond_init(&j->cv_seal, NULL);
    rc = recover(j, rep);
    if (rc < 0) {
        log_error("journal", "cannot open %s: %s", j->dir, strerror(-rc));
        goto fail;
    }
    j->last_sync_ns = clock_mono_ns();
    j->stats.next_seq = j->next_seq;
    if (j->next_seq > JF_MAX_SEQ) {
        j->said_exhausted = true;
        log_error("journal",
                  "%s: sequence numbers used up (%" PRIu64 " is the highest): alerts will be "
                  "refused (EOVERFLOW); move this journal away to start a new one",
                  j->dir, (uint64_t)JF_MAX_SEQ);
    }
    if (pthread_create(&j->writer, NULL, writer_main, j) != 0) {
        rc = -EAGAIN;
        goto fail;
    }
    if (pthread_create(&j->sealer, NULL, sealer_main, j) != 0) {
        pthread_mutex_lock(&j->mu);
        j->stopping = true;
        pthread_cond_signal(&j->cv_work);
        pthread_mutex_unlock(&j->mu);
        pthread_join(j->writer, NULL);
        rc = -EAGAIN;
        goto fail;
    }
    *out = j;
    return 0;
fail:
    if (j->fd >= 0)
        close(j->fd);
    free(j->seal_queue);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv_work);
    pthread_cond_destroy(&j->cv_space);
    pthread_cond_destroy(&j->cv_done);
    pthread_cond_destroy(&j->cv_seal);
    free(j);
    return rc;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stopping = true;
    pthread_cond_broadcast(&j->cv_work);
    pthread_cond_broadcast(&j->cv_seal);
    pthread_cond_broadcast(&j->cv_space);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->writer, NULL);
    pthread_join(j->sealer, NULL);
    if (j->fd >= 0)
        close(j->fd);
    free_list(j->unsynced);
    free(j->seal_queue);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv_work);
    pthread_cond_destroy(&j->cv_space);
    pthread_cond_destroy(&j->cv_done);
    pthread_cond_destroy(&j->cv_seal);
    free(j);
}

static int enqueue(struct journal *j, struct pending *p)
{
    pthread_mutex_lock(&j->mu);
    while (!j->stopping && !j->failed && j->pending_bytes > 0 &&
           j->pending_bytes + p->len > j->opts.max_pending_bytes)
        pthread_cond_wait(&j->cv_space, &j->mu);
    if (j->stopping || j->failed) {
        pthread_mutex_unlock(&j->mu);
        free(p);
        return -EPIPE;
    }
    if (!p->flush && j->stats.next_seq > JF_MAX_SEQ) {
        pthread_mutex_unlock(&j->mu);
        free(p);
        return -EOVERFLOW;
    }
    if (j->tail)
        j->tail->next = p;
    else
        j->head = p;
    j->tail = p;
    j->pending_bytes += p->len;
    pthread_cond_signal(&j->cv_work);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

int journal_appendv(struct journal *j, const struct iovec *iov, int iovcnt, journal_done_fn done,
                    void *arg)
{
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > JF_MAX_PAYLOAD)
            return -EMSGSIZE;
        len += iov[i].iov_len;
    }
    if (len > JF_MAX_PAYLOAD)
        return -EMSGSIZE;
    struct pending *p = malloc(sizeof(*p) + len);
    if (!p)
        return -ENOMEM;
    p->next = NULL;
    p->done = done;
    p->arg = arg;
    p->flush = false;
    p->len = len;
    size_t off = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(p->payload + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return enqueue(j, p);
}

int journal_append(struct journal *j, const void *payload, size_t len, journal_done_fn done,
                   void *arg)
{
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
    return journal_appendv(j, &iov, 1, done, arg);
}

struct waiter {
    struct journal *j;
    bool done;
    int status;
    uint64_t seq;
};

static void wake(void *arg, int status, uint64_t seq)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->j->mu);
    w->done = true;
    w->status = status;
    w->seq = seq;
    pthread_cond_broadcast(&w->j->cv_done);
    pthread_mutex_unlock(&w->j->mu);
}

static int wait_for(struct journal *j, struct waiter *w)
{
    pthread_mutex_lock(&j->mu);
    while (!w->done)
        pthread_cond_wait(&j->cv_done, &j->mu);
    pthread_mutex_unlock(&j->mu);
    return w->status;
}

int journal_append_wait(struct journal *j, const void *payload, size_t len, uint64_t *seq)
{
    struct waiter w = {.j = j};
    int rc = journal_append(j, payload, len, wake, &w);
    if (rc < 0)
        return rc;
    rc = wait_for(j, &w);
    if (rc == 0 && seq)
        *seq = w.seq;
    return rc;
}

int journal_flush(struct journal *j)
{
    struct waiter w = {.j = j};
    struct pending *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->flush = true;
    p->done = wake;
    p->arg = &w;
    int rc = enqueue(j, p);
    if (rc < 0)
        return rc;
    return wait_for(j, &w);
}

void journal_sync_seconds(struct journal *j, struct histogram_snapshot *out)
{
    histogram_read(&j->sync_seconds, out);
}

void journal_get_stats(struct journal *j, struct journal_stats *out)
{
    pthread_mutex_lock(&j->mu);
    *out = j->stats;
    pthread_mutex_unlock(&j->mu);
}
