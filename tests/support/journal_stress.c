/* journal_stress DATA_DIR THREADS RECORDS_PER_THREAD [--segment-bytes N] [--sync-interval-ms N]
 *                [--prefix P] [--payload-bytes N] [--pace-us N]
 *
 * Opens the journal of DATA_DIR, starts THREADS threads that each append RECORDS_PER_THREAD
 * alert-like JSON documents {"id":"<P>t<thread>-<i>","alert_id":(the same),...} of about 3 KB
 * (--payload-bytes), and prints "durable <id> <seq>" on standard output for each record whose
 * completion reported success: the set of records the journal promised are on disk. Prints
 * "done" after journal_close. --pace-us makes each thread sleep that long after each append
 * (smaller group commits, a longer run: fault points are reached at a predictable point). With
 * RECORDS_PER_THREAD 0 it only opens the journal (running recovery) and closes it.
 *
 * The crash tests SIGKILL this process (fault points, kill -9) and check that every record it
 * printed as durable is still in the journal. Exit status: 0 done, 1 an append or a completion
 * failed, 2 usage or open error. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "store/journal.h"

struct rec {
    char id[96];
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t failures;
static const char *prefix = "";
static size_t payload_bytes = 3000;
static unsigned long records_per_thread;
static unsigned long pace_us;
static struct journal *journal;

/* One write(2) per line, so that a SIGKILL never leaves half a line behind a whole one. */
static void emit(const char *line, size_t len)
{
    pthread_mutex_lock(&out_mu);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(STDOUT_FILENO, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&out_mu);
}

static void on_done(void *arg, int status, uint64_t seq)
{
    struct rec *r = arg;
    if (status == 0) {
        char line[160];
        int n = snprintf(line, sizeof(line), "durable %s %" PRIu64 "\n", r->id, seq);
        emit(line, (size_t)n);
    } else {
        atomic_fetch_add(&failures, 1);
        fprintf(stderr, "journal_stress: %s not written: %s\n", r->id, strerror(-status));
    }
    free(r);
}

static void *appender(void *arg)
{
    unsigned long t = (unsigned long)(uintptr_t)arg;
    char *doc = malloc(payload_bytes + 512);
    if (!doc) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    for (unsigned long i = 0; i < records_per_thread; i++) {
        struct rec *r = malloc(sizeof(*r));
        if (!r) {
            atomic_fetch_add(&failures, 1);
            break;
        }
        snprintf(r->id, sizeof(r->id), "%st%lu-%lu", prefix, t, i);
        char when[40];
        clock_format_ms(clock_now_ms(), when, sizeof(when));
        int n = snprintf(doc, 512,
                         "{\"@timestamp\":\"%s\",\"id\":\"%s\",\"alert_id\":\"%s\","
                         "\"profile\":\"elastic\",\"clause\":\"seed\",\"rule\":{\"name\":"
                         "\"AMSI Enable Registry Key Modified\",\"severity\":\"high\"},"
                         "\"fields\":{\"host.name\":\"stress-%lu\"},\"padding\":\"",
                         when, r->id, r->id, t);
        size_t len = (size_t)n;
        for (; len < payload_bytes; len++)
            doc[len] = (char)('a' + (len + i) % 26);
        memcpy(doc + len, "\"}", 2);
        len += 2;
        int rc = journal_append(journal, doc, len, on_done, r);
        if (rc < 0) {
            fprintf(stderr, "journal_stress: journal_append %s: %s\n", r->id, strerror(-rc));
            free(r);
            atomic_fetch_add(&failures, 1);
            break;
        }
        if (pace_us) {
            struct timespec ts = {(time_t)(pace_us / 1000000), (long)(pace_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    free(doc);
    return NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: journal_stress DATA_DIR THREADS RECORDS_PER_THREAD "
                    "[--segment-bytes N] [--sync-interval-ms N] [--prefix P] "
                    "[--payload-bytes N] [--pace-us N]\n");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        usage();
        return 2;
    }
    const char *data_dir = argv[1];
    uint64_t threads, per_thread;
    if (parse_u64(argv[2], &threads) || parse_u64(argv[3], &per_thread) || threads > 256) {
        usage();
        return 2;
    }
    records_per_thread = (unsigned long)per_thread;
    struct journal_opts opts;
    journal_opts_default(&opts);
    for (int i = 4; i < argc; i++) {
        uint64_t v = 0;
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--prefix") == 0) {
            prefix = argv[++i];
            continue;
        }
        if (parse_u64(argv[i + 1], &v)) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--segment-bytes") == 0)
            opts.segment_bytes = v;
        else if (strcmp(argv[i], "--sync-interval-ms") == 0)
            opts.sync_interval_ms = (unsigned)v;
        else if (strcmp(argv[i], "--pace-us") == 0)
            pace_us = (unsigned long)v;
        else if (strcmp(argv[i], "--payload-bytes") == 0 && v >= 1 && v <= (1u << 20))
            payload_bytes = (size_t)v;
        else {
            usage();
            return 2;
        }
        i++;
    }

    struct journal_recovery rep;
    int rc = journal_open(&journal, data_dir, &opts, &rep);
    if (rc < 0) {
        fprintf(stderr, "journal_stress: cannot open the journal of %s: %s\n", data_dir,
                strerror(-rc));
        return 2;
    }
    fprintf(stderr,
            "journal_stress: recovery: %" PRIu64 " segments, %" PRIu64 " records in the newest, "
            "%" PRIu64 " bytes cut at %" PRIu64 "%s%s\n",
            rep.segments, rep.records, rep.truncated_bytes, rep.truncated_at,
            rep.reason[0] ? ": " : "", rep.reason);

    pthread_t *tids = calloc(threads ? threads : 1, sizeof(*tids));
    if (!tids) {
        journal_close(journal);
        return 2;
    }
    uint64_t started = 0;
    for (uint64_t t = 0; per_thread > 0 && t < threads; t++) {
        if (pthread_create(&tids[t], NULL, appender, (void *)(uintptr_t)t) != 0) {
            fprintf(stderr, "journal_stress: cannot start thread %" PRIu64 "\n", t);
            atomic_fetch_add(&failures, 1);
            break;
        }
        started++;
    }
    for (uint64_t t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    free(tids);
    int frc = journal_flush(journal);
    if (frc < 0) {
        fprintf(stderr, "journal_stress: journal_flush: %s\n", strerror(-frc));
        atomic_fetch_add(&failures, 1);
    }
    struct journal_stats st;
    journal_get_stats(journal, &st);
    journal_close(journal);
    fprintf(stderr,
            "journal_stress: %" PRIu64 " appended, %" PRIu64 " syncs, %" PRIu64 " bytes, %" PRIu64
            " segments sealed, %" PRIu64 " compressed, next sequence %" PRIu64 "\n",
            st.appended, st.syncs, st.bytes, st.segments_sealed, st.segments_compressed,
            st.next_seq);
    emit("done\n", 5);
    return atomic_load(&failures) ? 1 : 0;
}
