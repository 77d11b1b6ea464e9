/* amsiwatch gen: the command line over the event generator. */
#include "tools/gen.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <lz4frame.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "tools/gen_events.h"

#define CHUNK (1u << 20) /* bytes handed to the writer at a time */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: amsiwatch gen [OPTION]...\n"
            "Writes realistic Windows events (Winlogbeat 8 Sysmon 1, 3, 11, 12, 13 and Security "
            "4624,\n"
            "4688, 4657 records, with near misses of the rule) and AmsiEnable set to 0 at an "
            "exact\n"
            "rate, then prints how many alerts each profile must raise over them.\n"
            "\n"
            "  --count N           events to write (default 1000)\n"
            "  --hit-rate R        share of AmsiEnable events: 1/10000, 0.0001, 0 or 1 (default\n"
            "                      1/10000); exactly round(N * R) of them, halves up, one at a\n"
            "                      seeded place in each of as many equal blocks of the stream\n"
            "  --shapes LIST       shapes of the AmsiEnable events, taken in turn: winlogbeat8,\n"
            "                      ecs, defend, m365, s1, 4657, or all (default winlogbeat8).\n"
            "                      winlogbeat8, ecs, defend (modification), m365 (with "
            "OSPlatform)\n"
            "                      and s1 (modification) alert under both profiles; every "
            "fourth\n"
            "                      winlogbeat8 (no host.os, NDJSON only), defend (creation), "
            "m365\n"
            "                      (no OSPlatform) and s1 (creation) event, and every 4657 "
            "event,\n"
            "                      only under the extended profile\n"
            "  --seed S            generator seed (default 1): the same options give the same "
            "bytes\n"
            "  --format F          ndjson (default), or one syslog line per event (LF-ended):\n");
    for (int i = 1; i < GEN_FORMAT_COUNT; i++)
        fprintf(f, "                        %s\n", gen_format_name((enum gen_format)i));
    fprintf(f,
            "                      syslog formats carry the winlogbeat8 and 4657 shapes\n"
            "  --near-misses N     events per thousand that look like the rule's and must not "
            "alert\n"
            "                      (AmsiEnable set to 1, deleted, renamed; other values; "
            "default 5)\n"
            "  -o, --output FILE   write to FILE (default standard output); a name ending in "
            ".lz4\n"
            "                      writes an LZ4 frame\n"
            "  --lz4               write an LZ4 frame whatever the name\n"
            "  --summary-json      print the summary on standard error as one JSON object\n"
            "  -h, --help          show this help\n"
            "\n"
            "The summary (events, bytes, AmsiEnable events per shape, the alerts the elastic and\n"
            "extended profiles must raise) goes to standard error.\n"
            "Exit status: 0, 1 when the output cannot be written, 2 on a usage error.\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

/* Where the bytes go: a stdio stream, through an LZ4 frame compressor or not. */
struct sink {
    FILE *f;
    const char *name;
    LZ4F_cctx *cctx;
    char *zbuf;
    size_t zcap;
    uint64_t written; /* bytes written to F */
    char err[256];
};

static int sink_put(struct sink *s, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, s->f) != n) {
        snprintf(s->err, sizeof(s->err), "cannot write %s: %s", s->name, strerror(errno));
        return -EIO;
    }
    s->written += n;
    return 0;
}

static int sink_open(struct sink *s, bool lz4)
{
    if (!lz4)
        return 0;
    if (LZ4F_isError(LZ4F_createCompressionContext(&s->cctx, LZ4F_VERSION))) {
        snprintf(s->err, sizeof(s->err), "cannot set up LZ4 compression");
        return -ENOMEM;
    }
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max4MB;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    s->zcap = LZ4F_compressBound(CHUNK + 65536, &prefs);
    if (s->zcap < LZ4F_HEADER_SIZE_MAX)
        s->zcap = LZ4F_HEADER_SIZE_MAX;
    s->zbuf = malloc(s->zcap);
    if (!s->zbuf) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return -ENOMEM;
    }
    size_t n = LZ4F_compressBegin(s->cctx, s->zbuf, s->zcap, &prefs);
    if (LZ4F_isError(n)) {
        snprintf(s->err, sizeof(s->err), "LZ4: %s", LZ4F_getErrorName(n));
        return -EIO;
    }
    return sink_put(s, s->zbuf, n);
}

static int sink_write(struct sink *s, const char *p, size_t n)
{
    if (!s->cctx)
        return sink_put(s, p, n);
    while (n) {
        size_t take = n > CHUNK ? CHUNK : n;
        size_t z = LZ4F_compressUpdate(s->cctx, s->zbuf, s->zcap, p, take, NULL);
        if (LZ4F_isError(z)) {
            snprintf(s->err, sizeof(s->err), "LZ4: %s", LZ4F_getErrorName(z));
            return -EIO;
        }
        int rc = sink_put(s, s->zbuf, z);
        if (rc < 0)
            return rc;
        p += take;
        n -= take;
    }
    return 0;
}

static int sink_close(struct sink *s)
{
    int rc = 0;
    if (s->cctx) {
        size_t z = LZ4F_compressEnd(s->cctx, s->zbuf, s->zcap, NULL);
        if (LZ4F_isError(z)) {
            snprintf(s->err, sizeof(s->err), "LZ4: %s", LZ4F_getErrorName(z));
            rc = -EIO;
        } else {
            rc = sink_put(s, s->zbuf, z);
        }
    }
    if (s->f && fflush(s->f) != 0 && rc == 0) {
        snprintf(s->err, sizeof(s->err), "cannot write %s: %s", s->name, strerror(errno));
        rc = -EIO;
    }
    if (s->f && s->f != stdout && fclose(s->f) != 0 && rc == 0) {
        snprintf(s->err, sizeof(s->err), "cannot write %s: %s", s->name, strerror(errno));
        rc = -EIO;
    }
    s->f = NULL;
    LZ4F_freeCompressionContext(s->cctx);
    s->cctx = NULL;
    free(s->zbuf);
    s->zbuf = NULL;
    return rc;
}

static void summary(const struct gen *g, const struct gen_options *o, const char *rate,
                    const char *out, bool lz4, uint64_t written, bool as_json)
{
    const struct gen_totals *t = gen_totals(g);
    /* Every event ends with LF. */
    uint64_t bytes = t->bytes + t->events;
    if (as_json) {
        json_t *shapes = json_object(), *kinds = json_object();
        for (int s = 0; s < GEN_SHAPE_COUNT; s++) {
            if (o->shapes & (1u << s))
                json_object_set_new(shapes, gen_shape_name((enum gen_shape)s),
                                    json_integer((json_int_t)t->shape_hits[s]));
        }
        for (int k = 0; k < GEN_KIND_COUNT; k++)
            json_object_set_new(kinds, gen_kind_name((enum gen_kind)k),
                                json_integer((json_int_t)t->kinds[k]));
        json_t *doc = json_pack(
            "{s:I, s:I, s:I, s:s, s:s, s:I, s:s, s:b, s:I, s:o, s:o, s:{s:I, s:I}}", "events",
            (json_int_t)t->events, "bytes", (json_int_t)bytes, "written_bytes", (json_int_t)written,
            "format", gen_format_name(o->format), "output", out, "seed", (json_int_t)o->seed,
            "hit_rate", rate, "lz4", lz4, "hits", (json_int_t)t->hits, "hits_by_shape", shapes,
            "kinds", kinds, "expected_alerts", "elastic", (json_int_t)t->alerts_elastic, "extended",
            (json_int_t)t->alerts_extended);
        if (doc) {
            json_dumpf(doc, stderr, JSON_COMPACT);
            fputc('\n', stderr);
        }
        json_decref(doc);
        return;
    }
    fprintf(stderr,
            "gen: %" PRIu64 " events, %" PRIu64
            " bytes (mean %.0f)%s to %s, format %s, seed %" PRIu64 "\n",
            t->events, bytes, t->events ? (double)bytes / (double)t->events : 0.0,
            lz4 ? ", LZ4 frame" : "", out, gen_format_name(o->format), o->seed);
    fprintf(stderr, "gen: AmsiEnable events %" PRIu64 " (rate %s):", t->hits, rate);
    for (int s = 0; s < GEN_SHAPE_COUNT; s++) {
        if (o->shapes & (1u << s))
            fprintf(stderr, " %s %" PRIu64, gen_shape_name((enum gen_shape)s), t->shape_hits[s]);
    }
    fprintf(stderr, "; near misses %" PRIu64 "\n", t->kinds[GEN_KIND_NEAR_MISS]);
    fprintf(stderr, "gen: expected alerts: elastic %" PRIu64 ", extended %" PRIu64 "\n",
            t->alerts_elastic, t->alerts_extended);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int gen_main(int argc, char **argv)
{
    struct gen_options o = {
        .seed = 1,
        .count = 1000,
        .rate_num = 1,
        .rate_den = 10000,
        .shapes = 1u << GEN_SHAPE_WINLOGBEAT8,
        .format = GEN_FORMAT_NDJSON,
        .near_miss_permil = 5,
    };
    const char *rate = "1/10000", *path = NULL;
    bool lz4 = false, as_json = false;
    enum { O_COUNT = 256, O_RATE, O_SHAPES, O_SEED, O_FORMAT, O_NEAR, O_LZ4, O_JSON };
    static const struct option opts[] = {
        {"count", required_argument, NULL, O_COUNT},
        {"hit-rate", required_argument, NULL, O_RATE},
        {"shapes", required_argument, NULL, O_SHAPES},
        {"seed", required_argument, NULL, O_SEED},
        {"format", required_argument, NULL, O_FORMAT},
        {"near-misses", required_argument, NULL, O_NEAR},
        {"output", required_argument, NULL, 'o'},
        {"lz4", no_argument, NULL, O_LZ4},
        {"summary-json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        uint64_t v;
        switch (c) {
        case O_COUNT:
            if (!parse_u64(optarg, &o.count) || o.count > GEN_MAX_COUNT) {
                fprintf(stderr,
                        "amsiwatch gen: --count: not a number of events from 0 to %llu: "
                        "'%s'\n",
                        (unsigned long long)GEN_MAX_COUNT, optarg);
                return 2;
            }
            break;
        case O_RATE:
            if (gen_parse_rate(optarg, &o.rate_num, &o.rate_den) < 0) {
                fprintf(stderr,
                        "amsiwatch gen: --hit-rate: expected a fraction from 0 to 1 such as "
                        "1/10000 or 0.0001 (denominator at most %llu): '%s'\n",
                        (unsigned long long)GEN_MAX_RATE_DEN, optarg);
                return 2;
            }
            rate = optarg;
            break;
        case O_SHAPES:
            if (gen_parse_shapes(optarg, &o.shapes) < 0) {
                fprintf(stderr,
                        "amsiwatch gen: --shapes: expected a comma-separated list of "
                        "winlogbeat8, ecs, defend, m365, s1, 4657 (or all): '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_SEED:
            if (!parse_u64(optarg, &o.seed)) {
                fprintf(stderr, "amsiwatch gen: --seed: not an unsigned 64-bit number: '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_FORMAT:
            if (gen_parse_format(optarg, &o.format) < 0) {
                fprintf(stderr, "amsiwatch gen: --format: unknown format '%s' (see --help)\n",
                        optarg);
                return 2;
            }
            break;
        case O_NEAR:
            if (!parse_u64(optarg, &v) || v > 1000) {
                fprintf(stderr, "amsiwatch gen: --near-misses: expected 0 to 1000: '%s'\n", optarg);
                return 2;
            }
            o.near_miss_permil = (unsigned)v;
            break;
        case 'o':
            path = optarg;
            break;
        case O_LZ4:
            lz4 = true;
            break;
        case O_JSON:
            as_json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "amsiwatch gen: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "amsiwatch gen: unknown option '%s' (see amsiwatch gen --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amsiwatch gen: unexpected argument '%s' (see amsiwatch gen --help)\n",
                argv[optind]);
        return 2;
    }
    if (path && ends_with(path, ".lz4"))
        lz4 = true;
    if (path && strcmp(path, "-") == 0)
        path = NULL;

    char err[256];
    struct gen *g = gen_new(&o, err, sizeof(err));
    if (!g) {
        fprintf(stderr, "amsiwatch gen: %s\n", err);
        return strcmp(err, "out of memory") == 0 ? 1 : 2;
    }
    struct sink s = {.f = stdout, .name = path ? path : "standard output"};
    if (path) {
        s.f = fopen(path, "wb");
        if (!s.f) {
            fprintf(stderr, "amsiwatch gen: cannot create %s: %s\n", path, strerror(errno));
            gen_free(g);
            return 1;
        }
    }
    int rc = sink_open(&s, lz4);
    struct buf b;
    buf_init(&b, 2 * CHUNK);
    while (rc == 0) {
        int r = gen_next(g, &b, NULL);
        if (r == 1)
            break;
        if (r == 0)
            r = buf_append(&b, "\n", 1);
        if (r < 0) {
            snprintf(s.err, sizeof(s.err), "generating events: %s", strerror(-r));
            rc = r;
            break;
        }
        if (b.len >= CHUNK) {
            rc = sink_write(&s, b.data, b.len);
            buf_reset(&b);
        }
    }
    if (rc == 0 && b.len)
        rc = sink_write(&s, b.data, b.len);
    buf_free(&b);
    int crc = sink_close(&s);
    if (rc == 0)
        rc = crc;
    if (rc < 0)
        fprintf(stderr, "amsiwatch gen: %s\n", s.err);
    else
        summary(g, &o, rate, path ? path : "-", lz4, s.written, as_json);
    gen_free(g);
    return rc < 0 ? 1 : 0;
}
