/* Journal benchmark: alert documents of about 3 KB appended from several threads with
 * journal_append and a completion callback, the way the server journals alerts.
 *
 * Each appender keeps at most --inflight records waiting for their completion (a closed loop: a
 * source that has that many alerts outstanding), and measures each record's commit latency from
 * journal_append to its callback with CLOCK_MONOTONIC. For each durability mode, sync on every
 * commit (sync_interval_ms 0, the default) and sync at most every 10 ms, and each --inflight
 * value, it reports alerts/s, MB/s, p50/p99/max commit latency and fdatasync calls per second
 * (journal_get_stats().syncs) on a fresh journal in a directory under --dir. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "store/journal.h"

#define MAX_THREADS   64
#define MAX_INFLIGHTS 8

static void die(const char *what)
{
    fprintf(stderr, "bench_journal: %s\n", what);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------
 * Appenders */

struct worker {
    int index;
    struct run *run;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight; /* appended, not yet completed */
    uint64_t failed;
    /* Written by the journal's writer thread in callbacks, read after journal_close. */
    uint64_t *lat_ns;
    size_t lat_len, lat_cap;
    uint64_t last_done_ns;
};

struct run {
    struct journal *j;
    unsigned inflight_max;
    size_t payload;
    uint64_t deadline_ns;
    uint64_t records_max; /* per thread, 0: until the deadline */
    uint64_t start_ns;
};

struct op {
    struct worker *w;
    uint64_t t0;
};

static void on_done(void *arg, int status, uint64_t seq)
{
    (void)seq;
    struct op *op = arg;
    struct worker *w = op->w;
    uint64_t t1 = now_ns();
    if (status == 0) {
        if (w->lat_len == w->lat_cap) {
            size_t cap = w->lat_cap ? w->lat_cap * 2 : 65536;
            uint64_t *n = realloc(w->lat_ns, cap * sizeof(*n));
            if (!n)
                die("out of memory");
            w->lat_ns = n;
            w->lat_cap = cap;
        }
        w->lat_ns[w->lat_len++] = t1 - op->t0;
        w->last_done_ns = t1;
    }
    free(op);
    pthread_mutex_lock(&w->mu);
    if (status != 0)
        w->failed++;
    w->inflight--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* An alert document of about LEN bytes with a unique id. */
static size_t make_doc(char *out, size_t len, int thread, uint64_t i)
{
    int n = snprintf(out, 640,
                     "{\"alert_id\":\"%016" PRIx64 "%016" PRIx64 "\",\"@timestamp\":"
                     "\"2026-02-01T09:00:00.000Z\",\"rule\":{\"id\":"
                     "\"f874315d-5188-4b4a-8521-d1c73093a7e4\",\"name\":\"Modification of "
                     "AmsiEnable Registry Key\",\"severity\":\"high\",\"risk_score\":73},"
                     "\"profile\":\"elastic\",\"clause\":\"seed\",\"fields\":{\"host.name\":"
                     "\"fin-ws-%02d\",\"user.name\":\"mallory\",\"registry.path\":\"HKU\\\\S-1-5-"
                     "21-9-8-7-1001\\\\Software\\\\Microsoft\\\\Windows Script\\\\Settings\\\\"
                     "AmsiEnable\"},\"original\":\"",
                     (uint64_t)thread, i, thread);
    size_t p = (size_t)n;
    /* The original event: text that compresses about as well as a real one. */
    static const char words[] = "winlog event_data TargetObject Details DWORD (0x00000000) "
                                "powershell.exe ProcessGuid {7C1E3A55-2F4B-67D3} UtcTime ";
    for (uint64_t k = i; p + 2 < len; k++, p++)
        out[p] = words[(k * 7 + p) % (sizeof(words) - 1)];
    out[p++] = '"';
    out[p++] = '}';
    return p;
}

static void *appender(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    char *doc = malloc(r->payload + 640);
    if (!doc)
        die("out of memory");
    for (uint64_t i = 0;; i++) {
        if (r->records_max ? i >= r->records_max : now_ns() >= r->deadline_ns)
            break;
        pthread_mutex_lock(&w->mu);
        while (w->inflight >= r->inflight_max)
            pthread_cond_wait(&w->cv, &w->mu);
        w->inflight++;
        pthread_mutex_unlock(&w->mu);
        size_t len = make_doc(doc, r->payload, w->index, i);
        struct op *op = malloc(sizeof(*op));
        if (!op)
            die("out of memory");
        op->w = w;
        op->t0 = now_ns();
        int rc = journal_append(r->j, doc, len, on_done, op);
        if (rc < 0) {
            fprintf(stderr, "bench_journal: journal_append: %s\n", strerror(-rc));
            free(op);
            pthread_mutex_lock(&w->mu);
            w->inflight--;
            w->failed++;
            pthread_mutex_unlock(&w->mu);
            break;
        }
    }
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    free(doc);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * One measurement */

struct result {
    const char *mode;
    unsigned inflight;
    uint64_t records, bytes, syncs, failed;
    double seconds;
    double p50_ms, p99_ms, max_ms;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "bench_journal: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void remove_tree(const char *dir)
{
    if (access(dir, F_OK) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct result measure(const char *parent, const char *mode, unsigned sync_interval_ms,
                             unsigned threads, unsigned inflight, size_t payload, double seconds,
                             uint64_t records, bool keep)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/bench-journal-%ld-%s-%u", parent, (long)getpid(), mode,
             inflight);
    remove_tree(dir);
    struct journal_opts o;
    journal_opts_default(&o);
    o.sync_interval_ms = sync_interval_ms;
    struct run r = {.inflight_max = inflight, .payload = payload, .records_max = records};
    int rc = journal_open(&r.j, dir, &o, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_journal: cannot open a journal in %s: %s\n", dir, strerror(-rc));
        exit(2);
    }
    struct worker w[MAX_THREADS];
    memset(w, 0, sizeof(w));
    r.start_ns = now_ns();
    r.deadline_ns = r.start_ns + (uint64_t)(seconds * 1e9);
    for (unsigned t = 0; t < threads; t++) {
        w[t].index = (int)t;
        w[t].run = &r;
        pthread_mutex_init(&w[t].mu, NULL);
        pthread_cond_init(&w[t].cv, NULL);
        if (pthread_create(&w[t].tid, NULL, appender, &w[t]) != 0)
            die("cannot start a thread");
    }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(w[t].tid, NULL);
    uint64_t end_ns = r.start_ns;
    for (unsigned t = 0; t < threads; t++)
        end_ns = w[t].last_done_ns > end_ns ? w[t].last_done_ns : end_ns;
    struct journal_stats st;
    journal_get_stats(r.j, &st);
    journal_close(r.j);

    struct result res = {.mode = mode, .inflight = inflight, .syncs = st.syncs};
    size_t total = 0;
    for (unsigned t = 0; t < threads; t++)
        total += w[t].lat_len;
    uint64_t *all = malloc((total ? total : 1) * sizeof(*all));
    if (!all)
        die("out of memory");
    size_t k = 0;
    for (unsigned t = 0; t < threads; t++) {
        memcpy(all + k, w[t].lat_ns, w[t].lat_len * sizeof(*all));
        k += w[t].lat_len;
        res.failed += w[t].failed;
        free(w[t].lat_ns);
        pthread_mutex_destroy(&w[t].mu);
        pthread_cond_destroy(&w[t].cv);
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    res.records = total;
    res.bytes = st.bytes;
    res.seconds = (double)(end_ns - r.start_ns) / 1e9;
    if (total) {
        res.p50_ms = (double)all[(total - 1) / 2] / 1e6;
        res.p99_ms = (double)all[(size_t)((double)(total - 1) * 0.99)] / 1e6;
        res.max_ms = (double)all[total - 1] / 1e6;
    }
    free(all);
    if (!keep)
        remove_tree(dir);
    return res;
}

/* ---------------------------------------------------------------------------------------------
 * Reporting */

static const char *fs_name(const char *dir)
{
    struct statfs s;
    if (statfs(dir, &s) != 0)
        return "unknown";
    switch ((unsigned long)s.f_type) {
    case 0xEF53UL:
        return "ext4";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683EUL:
        return "btrfs";
    case 0x01021994UL:
        return "tmpfs";
    case 0x794C7630UL:
        return "overlayfs";
    case 0x2FC12FC1UL:
        return "zfs";
    case 0x65735546UL:
        return "fuse";
    default:
        return "other";
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_journal [OPTION]...\n"
            "  --dir DIR          where the journals are created (default /tmp); removed after\n"
            "  --seconds S        length of each measurement (default 5)\n"
            "  --records N        instead: N records per thread for each measurement\n"
            "  --threads N        appending threads (default 2)\n"
            "  --inflight LIST    records each thread keeps waiting for completion, a comma list\n"
            "                     (default 1,64)\n"
            "  --payload BYTES    alert document size (default 3072)\n"
            "  --mode MODE        sync (fdatasync per commit), interval (every 10 ms) or both\n"
            "                     (default)\n"
            "  --keep             keep the journals\n"
            "  --json             one JSON document instead of the table\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"seconds", required_argument, NULL, 's'},
        {"records", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"inflight", required_argument, NULL, 'i'},
        {"payload", required_argument, NULL, 'p'},
        {"mode", required_argument, NULL, 'm'},
        {"keep", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *parent = "/tmp";
    double seconds = 5;
    uint64_t records = 0;
    unsigned threads = 2;
    unsigned inflights[MAX_INFLIGHTS] = {1, 64};
    size_t n_inflights = 2;
    size_t payload = 3072;
    const char *mode = "both";
    bool keep = false, json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            parent = optarg;
            break;
        case 's':
            seconds = strtod(optarg, NULL);
            if (!(seconds > 0 && seconds < 3600))
                die("--seconds takes a number of seconds");
            break;
        case 'r':
            records = strtoull(optarg, NULL, 10);
            if (records == 0)
                die("--records takes a positive number");
            break;
        case 't':
            threads = (unsigned)strtoul(optarg, NULL, 10);
            if (threads < 1 || threads > MAX_THREADS)
                die("--threads takes 1 to 64");
            break;
        case 'i': {
            n_inflights = 0;
            char *s = optarg, *end;
            while (*s && n_inflights < MAX_INFLIGHTS) {
                unsigned long v = strtoul(s, &end, 10);
                if (end == s || v < 1 || v > 100000)
                    die("--inflight takes a comma list of 1 to 100000");
                inflights[n_inflights++] = (unsigned)v;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                    die("--inflight takes a comma list of 1 to 100000");
            }
            break;
        }
        case 'p':
            payload = (size_t)strtoul(optarg, NULL, 10);
            if (payload < 700 || payload > (1u << 20))
                die("--payload takes 700 to 1048576 bytes");
            break;
        case 'm':
            mode = optarg;
            if (strcmp(mode, "sync") && strcmp(mode, "interval") && strcmp(mode, "both"))
                die("--mode takes sync, interval or both");
            break;
        case 'k':
            keep = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (mkdir(parent, 0750) != 0 && errno != EEXIST)
        die("cannot create --dir");

    struct result res[2 * MAX_INFLIGHTS];
    size_t n = 0;
    for (int m = 0; m < 2; m++) {
        const char *name = m == 0 ? "sync" : "interval-10ms";
        if ((m == 0 && strcmp(mode, "interval") == 0) || (m == 1 && strcmp(mode, "sync") == 0))
            continue;
        for (size_t i = 0; i < n_inflights; i++) {
            res[n++] = measure(parent, name, m == 0 ? 0 : 10, threads, inflights[i], payload,
                               seconds, records, keep);
            if (!json)
                fprintf(stderr, "bench_journal: %s, inflight %u done\n", name, inflights[i]);
        }
    }

    uint64_t failed = 0;
    if (json) {
        printf("{\"dir\":\"%s\",\"filesystem\":\"%s\",\"threads\":%u,\"payload\":%zu,\"runs\":[",
               parent, fs_name(parent), threads, payload);
        for (size_t i = 0; i < n; i++) {
            const struct result *x = &res[i];
            printf("%s{\"mode\":\"%s\",\"inflight_per_thread\":%u,\"records\":%" PRIu64
                   ",\"seconds\":%.3f,\"alerts_per_s\":%.0f,\"mb_per_s\":%.1f,\"p50_ms\":%.3f,"
                   "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"syncs\":%" PRIu64
                   ",\"syncs_per_s\":%.0f,\"failed\":%" PRIu64 "}",
                   i ? "," : "", x->mode, x->inflight, x->records, x->seconds,
                   (double)x->records / x->seconds, (double)x->bytes / x->seconds / 1e6, x->p50_ms,
                   x->p99_ms, x->max_ms, x->syncs, (double)x->syncs / x->seconds, x->failed);
            failed += x->failed;
        }
        printf("]}\n");
    } else {
        printf("journal in %s (%s), %u appending threads, %zu-byte alerts\n\n", parent,
               fs_name(parent), threads, payload);
        printf("%-14s %8s %9s %10s %7s %9s %9s %9s %11s %11s\n", "mode", "inflight", "alerts",
               "alerts/s", "MB/s", "p50 ms", "p99 ms", "max ms", "fdatasync/s", "alerts/sync");
        for (size_t i = 0; i < n; i++) {
            const struct result *x = &res[i];
            printf("%-14s %8u %9" PRIu64 " %10.0f %7.1f %9.3f %9.3f %9.3f %11.0f %11.1f\n", x->mode,
                   x->inflight * threads, x->records, (double)x->records / x->seconds,
                   (double)x->bytes / x->seconds / 1e6, x->p50_ms, x->p99_ms, x->max_ms,
                   (double)x->syncs / x->seconds,
                   x->syncs ? (double)x->records / (double)x->syncs : 0.0);
            failed += x->failed;
        }
        printf("\ninflight: records waiting for their completion (all threads); latency: "
               "journal_append to completion callback\n");
    }
    if (failed) {
        fprintf(stderr, "bench_journal: %" PRIu64 " appends failed\n", failed);
        return 1;
    }
    return 0;
}
