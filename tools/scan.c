#include "tools/scan.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/lines.h"
#include "base/log.h"
#include "pipeline/detect.h"
#include "store/journal.h"
#include "tools/input.h"

#define MAX_REPORTED_MALFORMED 100

struct scan_ctx {
    struct detector det;
    struct lines lines;
    const char *path;
    uint64_t files, malformed_reported;
    int quiet;
    int failed; /* an error that makes the exit status 2 */
    struct journal *journal;
    atomic_uint_fast64_t journal_errors;
};

static void journaled(void *arg, int status, uint64_t seq)
{
    struct scan_ctx *c = arg;
    (void)seq;
    if (status < 0)
        atomic_fetch_add(&c->journal_errors, 1);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: amsiwatch scan [OPTION]... [FILE]...\n"
        "Runs the AmsiEnable rule over NDJSON events (one JSON document per line), plain or\n"
        "LZ4 frame compressed, from each FILE or from standard input (no FILE, or \"-\").\n"
        "Prints one alert document per line on standard output and a summary on standard\n"
        "error. Exit status: 0 alerts found, 1 none, 2 error, 3 journal failure.\n"
        "\n"
        "  -p, --profile NAME     elastic (default: exactly Elastic's verdicts) or extended\n"
        "                         (also the documented true positives Elastic misses)\n"
        "      --no-validate      parse only the lines the prefilter passes (faster; malformed\n"
        "                         lines it rules out go unreported)\n"
        "      --max-event BYTES  longest event line accepted (default %u)\n"
        "  -j, --journal DIR      also append every alert to the journal of data directory\n"
        "                         DIR (the layout `serve --data-dir` uses)\n"
        "  -q, --quiet            print no alerts, only the summary and the exit status\n"
        "  -h, --help             show this help\n",
        DETECT_DEFAULT_MAX_EVENT);
}

static void report_malformed(struct scan_ctx *c, uint64_t lineno, const char *why)
{
    if (c->malformed_reported++ < MAX_REPORTED_MALFORMED)
        log_warn("scan", "%s:%" PRIu64 ": malformed event skipped: %s", c->path, lineno, why);
}

static int on_line(void *ctx, uint64_t lineno, const char *line, size_t len,
                   enum lines_status status)
{
    struct scan_ctx *c = ctx;
    if (status == LINES_TOO_LONG) {
        c->det.stats.events++;
        c->det.stats.malformed++;
        char why[96];
        snprintf(why, sizeof(why), "line longer than %zu bytes", c->det.max_event);
        report_malformed(c, lineno, why);
        return 0;
    }
    size_t start = 0;
    while (start < len && (line[start] == ' ' || line[start] == '\t'))
        start++;
    if (start == len)
        return 0; /* blank lines are not events */
    json_t *source =
        json_pack("{s:s, s:s, s:I}", "type", "file", "path", c->path, "line", (json_int_t)lineno);
    json_t *alert = NULL;
    int rc = detector_run(&c->det, line, len, source, clock_now_ms(), &alert);
    json_decref(source);
    if (rc == -EBADMSG || rc == -EMSGSIZE) {
        report_malformed(c, lineno, c->det.error);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (rc == 1) {
        char *text = json_dumps(alert, JSON_COMPACT);
        json_decref(alert);
        if (!text)
            return -ENOMEM;
        if (!c->quiet) {
            fputs(text, stdout);
            fputc('\n', stdout);
        }
        if (c->journal) {
            int jrc = journal_append(c->journal, text, strlen(text), journaled, c);
            if (jrc < 0)
                atomic_fetch_add(&c->journal_errors, 1);
        }
        free(text);
    }
    return 0;
}

static int on_chunk(void *ctx, const char *p, size_t n)
{
    struct scan_ctx *c = ctx;
    return lines_feed(&c->lines, p, n);
}

static void scan_one(struct scan_ctx *c, const char *path)
{
    char err[256] = "";
    c->path = path;
    c->files++;
    lines_init(&c->lines, c->det.max_event, on_line, c);
    int rc = input_read(path, on_chunk, c, err, sizeof(err));
    if (rc == 0)
        rc = lines_finish(&c->lines);
    lines_free(&c->lines);
    if (rc != 0) {
        log_error("scan", "%s: %s", path, err[0] ? err : error_text(rc));
        c->failed = 1;
    }
}

int scan_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"profile", required_argument, NULL, 'p'},
        {"no-validate", no_argument, NULL, 'V'},
        {"max-event", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"journal", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum profile profile = PROFILE_ELASTIC;
    int validate = 1;
    size_t max_event = DETECT_DEFAULT_MAX_EVENT;
    const char *journal_dir = NULL;
    struct scan_ctx c;
    memset(&c, 0, sizeof(c));
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "p:j:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            if (profile_parse(optarg, &profile) < 0) {
                fprintf(stderr, "amsiwatch scan: unknown profile '%s' (elastic or extended)\n",
                        optarg);
                return 2;
            }
            break;
        case 'V':
            validate = 0;
            break;
        case 'm': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || v == 0 || v > (1ull << 30)) {
                fprintf(stderr, "amsiwatch scan: --max-event takes 1 to %llu bytes, not '%s'\n",
                        1ull << 30, optarg);
                return 2;
            }
            max_event = (size_t)v;
            break;
        }
        case 'q':
            c.quiet = 1;
            break;
        case 'j':
            journal_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    detector_init(&c.det, profile, !validate, max_event);
    if (journal_dir) {
        struct journal_opts jo;
        journal_opts_default(&jo);
        jo.fail_fast = true; /* a full disk ends the scan with exit status 3, as documented */
        int jrc = journal_open(&c.journal, journal_dir, &jo, NULL);
        if (jrc < 0) {
            fprintf(stderr, "amsiwatch scan: cannot open the journal of %s: %s\n", journal_dir,
                    strerror(-jrc));
            return 3;
        }
    }
    if (optind == argc) {
        scan_one(&c, "-");
    } else {
        for (int i = optind; i < argc; i++)
            scan_one(&c, argv[i]);
    }
    fflush(stdout);
    if (c.journal) {
        if (journal_flush(c.journal) < 0)
            atomic_fetch_add(&c.journal_errors, 1);
        journal_close(c.journal);
        if (atomic_load(&c.journal_errors)) {
            log_error("scan", "%" PRIu64 " alerts could not be written to the journal of %s",
                      (uint64_t)atomic_load(&c.journal_errors), journal_dir);
            return 3;
        }
    }
    const struct detect_stats *s = &c.det.stats;
    if (c.malformed_reported > MAX_REPORTED_MALFORMED)
        log_warn("scan", "%" PRIu64 " more malformed lines not listed",
                 c.malformed_reported - MAX_REPORTED_MALFORMED);
    log_info("scan",
             "profile %s: %" PRIu64 " files, %" PRIu64 " events, %" PRIu64 " candidates, %" PRIu64
             " parsed, %" PRIu64 " alerts, %" PRIu64 " malformed",
             profile_name(profile), c.files, s->events, s->candidates, s->parsed, s->alerts,
             s->malformed);
    if (c.failed)
        return 2;
    return s->alerts ? 0 : 1;
}
