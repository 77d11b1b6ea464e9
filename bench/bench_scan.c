/* Scan benchmark: the single-threaded detection path over an in-memory corpus of Winlogbeat 8
 * events, with the prefilter and without it (every event parsed in full).
 *
 * The corpus comes from the event generator (tools/gen_events.h, as `amsiwatch gen` writes it)
 * from a seed: Sysmon 1, 3, 11, 12 and 13 and Security 4624, 4688 and 4657 records shaped as
 * Winlogbeat 8 ships them (before Elastic's ingest pipeline), with varied hosts, users,
 * processes, record ids and times. One event in every block of --hit-rate events (at a seeded
 * position inside the block) is a Sysmon 13 event setting AmsiEnable to 0; three in four carry
 * host.os as add_host_metadata adds it, so the number of alerts the elastic profile must raise is
 * known exactly; the benchmark fails (exit status 1) when the detector raises another number. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/detect.h"
#include "pipeline/normalize.h"
#include "pipeline/prefilter.h"
#include "tools/gen_events.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------
 * Small utilities */

static void die(const char *what)
{
    fprintf(stderr, "bench_scan: %s\n", what);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------------------------
 * The corpus: tools/gen_events.h, Winlogbeat 8 shape only, no near misses (the candidates the
 * prefilter passes are then the AmsiEnable events alone). */

struct corpus {
    char *data;
    size_t *off; /* COUNT + 1 offsets into DATA */
    size_t count, bytes, min_len, max_len;
    uint64_t hits;     /* AmsiEnable events */
    uint64_t expected; /* alerts the elastic profile must raise */
    uint64_t kinds[GEN_KIND_COUNT];
    bool *is_hit; /* the elastic profile alerts on the event */
};

static void corpus_build(struct corpus *c, size_t count, uint64_t hit_rate, uint64_t seed)
{
    struct gen_options o = {
        .seed = seed,
        .count = count,
        .rate_num = 1,
        .rate_den = hit_rate,
        .shapes = 1u << GEN_SHAPE_WINLOGBEAT8,
        .format = GEN_FORMAT_NDJSON,
        .near_miss_permil = 0,
    };
    char err[256];
    struct gen *g = gen_new(&o, err, sizeof(err));
    if (!g)
        die(err);
    struct buf out;
    buf_init(&out, SIZE_MAX / 2);
    if (buf_reserve(&out, count * 1700) < 0)
        die("out of memory");
    memset(c, 0, sizeof(*c));
    c->off = malloc((count + 1) * sizeof(*c->off));
    c->is_hit = calloc(count ? count : 1, sizeof(*c->is_hit));
    if (!c->off || !c->is_hit)
        die("out of memory");
    c->min_len = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        c->off[i] = out.len;
        struct gen_event ev;
        if (gen_next(g, &out, &ev) != 0)
            die("generating the corpus failed");
        c->is_hit[i] = (ev.alerts & GEN_ALERT_ELASTIC) != 0;
        c->expected += c->is_hit[i];
        c->kinds[ev.kind]++;
        size_t len = out.len - c->off[i];
        if (len < c->min_len)
            c->min_len = len;
        if (len > c->max_len)
            c->max_len = len;
    }
    c->off[count] = out.len;
    c->data = out.data;
    c->count = count;
    c->bytes = out.len;
    c->hits = gen_totals(g)->hits;
    if (!count)
        c->min_len = 0;
    gen_free(g);
}

static void corpus_free(struct corpus *c)
{
    free(c->data);
    free(c->off);
    free(c->is_hit);
}

/* ---------------------------------------------------------------------------------------------
 * Measurements */

struct result {
    const char *name;
    size_t events;
    uint64_t bytes;
    double seconds;     /* median over the repetitions */
    double best, worst; /* fastest and slowest repetition */
    int64_t parsed;     /* -1: not applicable */
    int64_t candidates; /* -1: not applicable */
    int64_t alerts;     /* -1: not applicable */
    int64_t expected;   /* alerts the corpus must raise, -1: not applicable */
    int errors;         /* detector_run failures */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set_times(struct result *res, double *t, int n)
{
    qsort(t, (size_t)n, sizeof(*t), cmp_double);
    res->best = t[0];
    res->worst = t[n - 1];
    res->seconds = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static uint64_t span_bytes(const struct corpus *c, size_t n)
{
    return c->off[n] - c->off[0];
}

static uint64_t hits_in(const struct corpus *c, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h += c->is_hit[i];
    return h;
}

/* The prefilter predicate alone. */
static void bench_prefilter(const struct corpus *c, size_t n, int repeat, bool scalar,
                            struct result *res)
{
    double t[64];
    uint64_t cand = 0;
    for (int r = 0; r < repeat; r++) {
        cand = 0;
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            const char *ev = c->data + c->off[i];
            size_t len = c->off[i + 1] - c->off[i];
            cand += scalar ? prefilter_candidate_scalar(ev, len) : prefilter_candidate(ev, len);
        }
        t[r] = now_s() - t0;
    }
    *res = (struct result){.name = scalar ? "prefilter_candidate_scalar" : "prefilter_candidate",
                           .events = n,
                           .bytes = span_bytes(c, n),
                           .parsed = -1,
                           .candidates = (int64_t)cand,
                           .alerts = -1,
                           .expected = -1};
    set_times(res, t, repeat);
}

/* A pass that only reads every byte (glibc memchr for a byte no event holds): the memory and
 * loop floor any byte scanner pays. */
static void bench_floor(const struct corpus *c, int repeat, struct result *res)
{
    double t[64];
    volatile size_t sink = 0;
    for (int r = 0; r < repeat; r++) {
        size_t found = 0;
        double t0 = now_s();
        for (size_t i = 0; i < c->count; i++)
            found += memchr(c->data + c->off[i], 0x01, c->off[i + 1] - c->off[i]) != NULL;
        t[r] = now_s() - t0;
        sink += found;
    }
    (void)sink;
    *res = (struct result){.name = "memchr (read floor)",
                           .events = c->count,
                           .bytes = span_bytes(c, c->count),
                           .parsed = -1,
                           .candidates = -1,
                           .alerts = -1,
                           .expected = -1};
    set_times(res, t, repeat);
}

/* detector_run over the first N events, as a worker runs it. */
static void bench_detector(const struct corpus *c, size_t n, bool prefilter, int repeat,
                           struct result *res)
{
    double t[64];
    struct detector d;
    /* A fixed detection time, as a worker stamps one per window. */
    int64_t now_ms = 1741000000000;
    int errors = 0;
    for (int r = 0; r < repeat; r++) {
        detector_init(&d, PROFILE_ELASTIC, prefilter, 0);
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            json_t *alert = NULL;
            int rc = detector_run(&d, c->data + c->off[i], c->off[i + 1] - c->off[i], NULL, now_ms,
                                  &alert);
            if (rc < 0) {
                if (errors++ < 5)
                    fprintf(stderr, "bench_scan: event %zu: error %d: %s\n", i, rc, d.error);
            }
            json_decref(alert);
        }
        t[r] = now_s() - t0;
    }
    *res = (struct result){.name = prefilter ? "detector, prefilter on" : "detector, prefilter off",
                           .events = n,
                           .bytes = span_bytes(c, n),
                           .parsed = (int64_t)d.stats.parsed,
                           .candidates = (int64_t)d.stats.candidates,
                           .alerts = (int64_t)d.stats.alerts,
                           .expected = (int64_t)hits_in(c, n),
                           .errors = errors};
    set_times(res, t, repeat);
}

static double eps(const struct result *r)
{
    return r->seconds > 0 ? (double)r->events / r->seconds : 0;
}

static double mbps(const struct result *r)
{
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0;
}

static void print_count(int64_t v)
{
    if (v < 0)
        printf(" %10s", "-");
    else
        printf(" %10" PRId64, v);
}

static void print_row(const struct result *r)
{
    printf("%-28s %9zu %8.3f %12.0f %9.1f", r->name, r->events, r->seconds, eps(r), mbps(r));
    print_count(r->candidates);
    print_count(r->parsed);
    print_count(r->alerts);
    printf("\n");
}

static json_t *result_json(const struct result *r)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f}", "name", r->name, "events",
                          (json_int_t)r->events, "bytes", (json_int_t)r->bytes, "seconds",
                          r->seconds, "seconds_best", r->best, "seconds_worst", r->worst,
                          "events_per_s", eps(r), "mb_per_s", mbps(r));
    if (!o)
        die("out of memory");
    if (r->candidates >= 0)
        json_object_set_new(o, "candidates", json_integer(r->candidates));
    if (r->parsed >= 0)
        json_object_set_new(o, "parsed", json_integer(r->parsed));
    if (r->alerts >= 0)
        json_object_set_new(o, "alerts", json_integer(r->alerts));
    if (r->expected >= 0)
        json_object_set_new(o, "expected_alerts", json_integer(r->expected));
    return o;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: bench_scan [OPTION]...\n"
           "Generates a corpus of Winlogbeat 8 events in memory and runs the AmsiEnable detection\n"
           "path over it on one thread, with the prefilter and without it.\n"
           "\n"
           "  --count N           events in the corpus (default 1000000)\n"
           "  --hit-rate N        one AmsiEnable event in every N (default 10000)\n"
           "  --seed S            generator seed (default 1)\n"
           "  --baseline-count N  events the baseline (every event parsed) runs over, from the\n"
           "                      start of the corpus (default 50000; 0 skips it)\n"
           "  --repeat N          repetitions of each fast measurement, median reported\n"
           "                      (default 3, at most 64)\n"
           "  --write FILE        also write the corpus to FILE as NDJSON\n"
           "  --json              print the results as one JSON object\n"
           "  -h, --help          show this help\n"
           "Exit status: 0 when every run raised exactly the expected alerts, 1 when not,\n"
           "2 on a usage error.\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

enum run { R_FLOOR, R_PREFILTER, R_SCALAR, R_DETECT, R_BASELINE, R_COUNT };

static const char *const run_keys[R_COUNT] = {"floor", "prefilter", "scalar", "detector",
                                              "baseline"};

/* "detector,baseline" to a mask of runs; 0 when a name is unknown. */
static unsigned parse_only(const char *s)
{
    unsigned mask = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int r = 0;
        while (r < R_COUNT && !(strlen(run_keys[r]) == n && strncmp(s, run_keys[r], n) == 0))
            r++;
        if (r == R_COUNT)
            return 0;
        mask |= 1u << r;
        s += n;
        if (*s == ',')
            s++;
    }
    return mask;
}

int main(int argc, char **argv)
{
    uint64_t count = 1000000, hit_rate = 10000, seed = 1, baseline = 50000, repeat = 3;
    const char *write_path = NULL;
    bool as_json = false;
    unsigned only = (1u << R_COUNT) - 1;
    enum { O_COUNT = 256, O_HIT, O_SEED, O_BASE, O_REPEAT, O_WRITE, O_JSON, O_ONLY };
    static const struct option opts[] = {
        {"count", required_argument, NULL, O_COUNT},
        {"hit-rate", required_argument, NULL, O_HIT},
        {"seed", required_argument, NULL, O_SEED},
        {"baseline-count", required_argument, NULL, O_BASE},
        {"repeat", required_argument, NULL, O_REPEAT},
        {"write", required_argument, NULL, O_WRITE},
        {"json", no_argument, NULL, O_JSON},
        {"only", required_argument, NULL, O_ONLY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (o) {
        case O_COUNT:
            ok = parse_u64(optarg, &count) && count > 0;
            break;
        case O_HIT:
            ok = parse_u64(optarg, &hit_rate) && hit_rate > 0;
            break;
        case O_SEED:
            ok = parse_u64(optarg, &seed);
            break;
        case O_BASE:
            ok = parse_u64(optarg, &baseline);
            break;
        case O_REPEAT:
            ok = parse_u64(optarg, &repeat) && repeat >= 1 && repeat <= 64;
            break;
        case O_WRITE:
            write_path = optarg;
            break;
        case O_JSON:
            as_json = true;
            break;
        case O_ONLY:
            ok = (only = parse_only(optarg)) != 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "bench_scan: bad value for --%s: %s\n", opts[o - O_COUNT].name, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (baseline > count)
        baseline = count;
    if (baseline == 0)
        only &= ~((1u << R_BASELINE) | (1u << R_SCALAR));

    double t0 = now_s();
    struct corpus c;
    corpus_build(&c, (size_t)count, hit_rate, seed);
    double gen_s = now_s() - t0;
    if (write_path) {
        FILE *f = fopen(write_path, "w");
        if (!f)
            die("cannot open the --write file");
        for (size_t i = 0; i < c.count; i++) {
            fwrite(c.data + c.off[i], 1, c.off[i + 1] - c.off[i], f);
            fputc('\n', f);
        }
        if (fclose(f) != 0)
            die("cannot write the --write file");
    }

    struct result res[R_COUNT];
    if (only & (1u << R_FLOOR))
        bench_floor(&c, (int)repeat, &res[R_FLOOR]);
    if (only & (1u << R_PREFILTER))
        bench_prefilter(&c, c.count, (int)repeat, false, &res[R_PREFILTER]);
    /* The portable version is ~20 times slower: it runs over the baseline's events, once. */
    if (only & (1u << R_SCALAR))
        bench_prefilter(&c, (size_t)baseline, 1, true, &res[R_SCALAR]);
    if (only & (1u << R_DETECT))
        bench_detector(&c, c.count, true, (int)repeat, &res[R_DETECT]);
    if (only & (1u << R_BASELINE))
        bench_detector(&c, (size_t)baseline, false, 1, &res[R_BASELINE]);
    bool have_ratio = (only & (1u << R_DETECT)) && (only & (1u << R_BASELINE));
    double ratio =
        have_ratio && eps(&res[R_BASELINE]) > 0 ? eps(&res[R_DETECT]) / eps(&res[R_BASELINE]) : 0;

    /* Every detector run must raise exactly one alert per AmsiEnable event it saw. */
    bool ok = true;
    for (int r = R_DETECT; r <= R_BASELINE; r++) {
        if (only & (1u << r))
            ok = ok && res[r].alerts == res[r].expected && res[r].errors == 0;
    }
    if (only & (1u << R_DETECT))
        ok = ok && (uint64_t)res[R_DETECT].expected == c.expected;

    if (as_json) {
        json_t *kinds = json_object();
        for (int k = 0; k < GEN_KIND_COUNT; k++)
            json_object_set_new(kinds, gen_kind_name((enum gen_kind)k),
                                json_integer((json_int_t)c.kinds[k]));
        json_t *runs = json_array();
        for (int r = 0; r < R_COUNT; r++) {
            if (only & (1u << r))
                json_array_append_new(runs, result_json(&res[r]));
        }
        json_t *doc = json_pack(
            "{s:{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f}, s:s, s:I, s:o, s:f, s:b}",
            "corpus", "events", (json_int_t)c.count, "bytes", (json_int_t)c.bytes,
            "mean_event_bytes", (double)c.bytes / (double)c.count, "min_event_bytes",
            (json_int_t)c.min_len, "max_event_bytes", (json_int_t)c.max_len, "hit_rate",
            (json_int_t)hit_rate, "amsienable_events", (json_int_t)c.hits, "expected_alerts",
            (json_int_t)c.expected, "seed", (json_int_t)seed, "kinds", kinds, "generate_seconds",
            gen_s, "profile", "elastic", "repeat", (json_int_t)repeat, "runs", runs,
            "ratio_prefilter_over_baseline", ratio, "ok", ok);
        if (!doc)
            die("out of memory");
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(doc);
    } else {
        printf("corpus: %zu events, %.1f MB, mean %.0f bytes (min %zu, max %zu), seed %" PRIu64
               ", generated in %.1f s\n",
               c.count, (double)c.bytes / 1e6, (double)c.bytes / (double)c.count, c.min_len,
               c.max_len, seed, gen_s);
        printf("kinds:");
        for (int k = 0; k < GEN_KIND_COUNT; k++)
            printf(" %s %" PRIu64, gen_kind_name((enum gen_kind)k), c.kinds[k]);
        printf("\nAmsiEnable events: %" PRIu64 " (1 in %" PRIu64 "), %" PRIu64
               " alerts expected; profile elastic; one thread; median of %" PRIu64
               " runs (baseline and scalar: 1 run); MB = 10^6 bytes\n\n",
               c.hits, hit_rate, c.expected, repeat);
        printf("%-28s %9s %8s %12s %9s %10s %10s %10s\n", "run", "events", "seconds", "events/s",
               "MB/s", "candidates", "parsed", "alerts");
        for (int r = 0; r < R_COUNT; r++) {
            if (only & (1u << r))
                print_row(&res[r]);
        }
        if (have_ratio)
            printf("\nratio prefilter/baseline events/s: %.1fx\n", ratio);
        for (int r = R_DETECT; r <= R_BASELINE; r++) {
            if (only & (1u << r))
                printf("%s: %" PRId64 " alerts, %" PRId64 " expected\n", res[r].name, res[r].alerts,
                       res[r].expected);
        }
        printf("result: %s\n", ok ? "OK" : "MISMATCH");
    }
    if (!ok)
        fprintf(stderr, "bench_scan: the alert count is not the number of alerts expected\n");
    corpus_free(&c);
    return ok ? 0 : 1;
}
