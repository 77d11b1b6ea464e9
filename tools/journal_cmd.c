#include "tools/journal_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "notify/delivery.h"
#include "notify/targets.h"
#include "store/cursor.h"
#include "store/reader.h"
#include "store/segdir.h"
#include "store/verify.h"

#define DEFAULT_DATA_DIR "./amsiwatch-data"

struct filters {
    const char *since, *until, *host, *profile, *clause;
    uint64_t seq_first, seq_last; /* --seq A-B (0, 0: any) */
};

struct jopts {
    const char *data_dir;
    struct filters f;
    long limit;  /* list: at most this many (0: all); tail: how many */
    bool follow; /* tail -f */
    const char *output;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: amsiwatch journal COMMAND [OPTION]...\n"
        "Reads the alert journal of a data directory (the one `serve --data-dir` and\n"
        "`scan --journal` write).\n\n"
        "Commands:\n"
        "  list           one line per alert: sequence, time, id, profile/clause, host, user,\n"
        "                 registry path\n"
        "  show ID|SEQ    one alert document in full, by alert id or sequence number\n"
        "  tail [-n N] [-f]  the last N alerts (default 10) as JSON lines; -f follows new ones\n"
        "  verify         check every CRC, the sequence and the hash chain; exit 1 on any fault\n"
        "  export         every alert as NDJSON\n"
        "  stats          segments, alerts, bytes, oldest and newest, per-consumer lag\n\n"
        "Options:\n"
        "  -d, --data-dir DIR   data directory (default %s)\n"
        "      --since TIME     alerts detected at or after TIME (RFC 3339 or a prefix of it,\n"
        "                       e.g. 2026-11-28 or 2026-11-28T10:00)  [list, export]\n"
        "      --until TIME     alerts detected before TIME  [list, export]\n"
        "      --host NAME      alerts whose host.name is NAME  [list, export]\n"
        "      --profile NAME   alerts of profile elastic or extended  [list, export]\n"
        "      --clause NAME    alerts whose clause is NAME  [list, export]\n"
        "      --seq A-B        alerts with sequence numbers A to B, or just A  [list, export]\n"
        "  -n, --limit N        at most N alerts (list), the last N (tail)\n"
        "  -f, --follow         keep printing new alerts (tail)\n"
        "  -o, --output FILE    write to FILE instead of standard output (export)\n"
        "  -h, --help           show this help\n",
        DEFAULT_DATA_DIR);
}

static const char *str_at(json_t *doc, const char *obj, const char *key)
{
    json_t *o = obj ? json_object_get(doc, obj) : doc;
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static bool passes(const struct filters *f, uint64_t seq, json_t *doc)
{
    if (f->seq_last && (seq < f->seq_first || seq > f->seq_last))
        return false;
    const char *when = str_at(doc, NULL, "@timestamp");
    if (f->since && strncmp(when, f->since, strlen(f->since)) < 0)
        return false;
    if (f->until && strncmp(when, f->until, strlen(f->until)) >= 0)
        return false;
    if (f->host && strcmp(str_at(doc, "fields", "host.name"), f->host) != 0)
        return false;
    if (f->profile && strcmp(str_at(doc, NULL, "profile"), f->profile) != 0)
        return false;
    if (f->clause && strcmp(str_at(doc, NULL, "clause"), f->clause) != 0)
        return false;
    return true;
}

/* Calls FN for each record from the start; stops when FN returns non-zero. */
typedef int (*record_fn)(void *ctx, const struct journal_record *rec, json_t *doc);

static int each_record(const char *data_dir, record_fn fn, void *ctx)
{
    struct journal_reader *r;
    int rc = journal_reader_open(&r, data_dir, 1);
    if (rc < 0) {
        fprintf(stderr, "amsiwatch journal: cannot read the journal of %s: %s\n", data_dir,
                strerror(-rc));
        return 2;
    }
    struct journal_record rec;
    int status = 0;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        json_t *doc = json_loadb(rec.payload, rec.len, 0, NULL);
        int stop = fn(ctx, &rec, doc);
        json_decref(doc);
        if (stop) {
            status = stop < 0 ? 3 : 0;
            break;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "amsiwatch journal: read error: %s\n", strerror(-rc));
        status = 3;
    }
    struct reader_stats st;
    journal_reader_stats(r, &st);
    if (st.corrupt_regions)
        fprintf(stderr,
                "amsiwatch journal: %" PRIu64 " damaged stretches (%" PRIu64
                " bytes) skipped; run `amsiwatch journal verify`\n",
                st.corrupt_regions, st.corrupt_bytes);
    journal_reader_close(r);
    return status;
}

struct list_ctx {
    const struct jopts *o;
    long shown;
    FILE *out;
};

static int list_one(void *vctx, const struct journal_record *rec, json_t *doc)
{
    struct list_ctx *c = vctx;
    if (!doc || !passes(&c->o->f, rec->seq, doc))
        return 0;
    fprintf(c->out, "%-8" PRIu64 " %s %s %s/%s %s %s %s\n", rec->seq,
            str_at(doc, NULL, "@timestamp"), str_at(doc, NULL, "alert_id"),
            str_at(doc, NULL, "profile"), str_at(doc, NULL, "clause"),
            *str_at(doc, "fields", "host.name") ? str_at(doc, "fields", "host.name") : "-",
            *str_at(doc, "fields", "user.name") ? str_at(doc, "fields", "user.name") : "-",
            *str_at(doc, "fields", "registry.path") ? str_at(doc, "fields", "registry.path") : "-");
    return (c->o->limit > 0 && ++c->shown >= c->o->limit) ? 1 : 0;
}

static int export_one(void *vctx, const struct journal_record *rec, json_t *doc)
{
    struct list_ctx *c = vctx;
    if (!doc || !passes(&c->o->f, rec->seq, doc))
        return 0;
    fwrite(rec->payload, 1, rec->len, c->out);
    fputc('\n', c->out);
    return ferror(c->out) ? -1 : 0;
}

struct show_ctx {
    const char *id;
    uint64_t seq;
    bool found;
};

static int show_one(void *vctx, const struct journal_record *rec, json_t *doc)
{
    struct show_ctx *c = vctx;
    if ((c->seq && rec->seq == c->seq) ||
        (!c->seq && doc && strcmp(str_at(doc, NULL, "alert_id"), c->id) == 0)) {
        if (doc) {
            json_object_set_new(doc, "journal_seq", json_integer((json_int_t)rec->seq));
            json_dumpf(doc, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
        } else {
            fwrite(rec->payload, 1, rec->len, stdout);
            fputc('\n', stdout);
        }
        c->found = true;
        return 1;
    }
    return 0;
}

static int cmd_show(const struct jopts *o, const char *what)
{
    struct show_ctx c = {.id = what};
    char *end;
    unsigned long long v = strtoull(what, &end, 10);
    if (*end == '\0' && strlen(what) < 20)
        c.seq = v;
    int status = each_record(o->data_dir, show_one, &c);
    if (status)
        return status;
    if (!c.found) {
        fprintf(stderr, "amsiwatch journal: no alert %s in %s\n", what, o->data_dir);
        return 1;
    }
    return 0;
}

static int cmd_tail(const struct jopts *o)
{
    long n = o->limit > 0 ? o->limit : 10;
    char **ring = calloc((size_t)n, sizeof(char *));
    if (!ring)
        return 3;
    struct journal_reader *r;
    int rc = journal_reader_open(&r, o->data_dir, 1);
    if (rc < 0) {
        fprintf(stderr, "amsiwatch journal: cannot read the journal of %s: %s\n", o->data_dir,
                strerror(-rc));
        free(ring);
        return 2;
    }
    struct journal_record rec;
    long count = 0;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        free(ring[count % n]);
        ring[count % n] = strndup(rec.payload, rec.len);
        count++;
    }
    long start = count > n ? count - n : 0;
    for (long i = start; i < count; i++) {
        puts(ring[i % n]);
        free(ring[i % n]);
        ring[i % n] = NULL;
    }
    free(ring);
    fflush(stdout);
    if (o->follow && rc == 0) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!interrupted) {
            while ((rc = journal_reader_next(r, &rec)) == 1) {
                fwrite(rec.payload, 1, rec.len, stdout);
                fputc('\n', stdout);
            }
            fflush(stdout);
            if (rc < 0)
                break;
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    journal_reader_close(r);
    if (rc < 0)
        fprintf(stderr, "amsiwatch journal tail: read error: %s\n", strerror(-rc));
    return rc < 0 ? 3 : 0;
}

static void print_fault(void *ctx, const char *what)
{
    (void)ctx;
    printf("FAULT %s\n", what);
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    if (ms)
        clock_format_ms(ms, out, n);
    else
        snprintf(out, n, "-");
}

static int cmd_verify(const struct jopts *o)
{
    struct verify_report rep;
    int rc = journal_verify(o->data_dir, &rep, print_fault, NULL);
    if (rc < 0) {
        fprintf(stderr, "amsiwatch journal: cannot verify %s: %s\n", o->data_dir, strerror(-rc));
        return 2;
    }
    if (rep.tail_bytes)
        printf("note: %" PRIu64 " unreadable bytes at the end of the newest segment (a write in "
               "progress, or a torn tail the next start will cut)\n",
               rep.tail_bytes);
    printf("%s: %" PRIu64 " segments, %" PRIu64 " records (sequence %" PRIu64 "-%" PRIu64
           "), %" PRIu64 " bytes, %" PRIu64 " faults\n",
           rep.faults ? "FAILED" : "OK", rep.segments, rep.records, rep.first_seq, rep.last_seq,
           rep.bytes, rep.faults);
    return rep.faults ? 1 : 0;
}

static int cmd_stats(const struct jopts *o)
{
    struct verify_report rep;
    int rc = journal_verify(o->data_dir, &rep, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "amsiwatch journal: cannot read %s: %s\n", o->data_dir, strerror(-rc));
        return 2;
    }
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/journal", o->data_dir);
    struct seg_entry *segs;
    size_t n;
    size_t compressed = 0;
    if (segdir_list(dir, &segs, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            compressed += segs[i].compressed;
        free(segs);
    }
    char oldest[40], newest[40];
    fmt_time(rep.oldest_ms, oldest, sizeof(oldest));
    fmt_time(rep.newest_ms, newest, sizeof(newest));
    printf("segments:  %" PRIu64 " (%zu compressed)\n", rep.segments, compressed);
    printf("alerts:    %" PRIu64 " (sequence %" PRIu64 " to %" PRIu64 ")\n", rep.records,
           rep.first_seq, rep.last_seq);
    printf("bytes:     %" PRIu64 "\n", rep.bytes);
    printf("oldest:    %s\nnewest:    %s\n", oldest, newest);
    printf("faults:    %" PRIu64 "\n", rep.faults);
    struct cursor_info *cur;
    size_t ncur;
    if (cursor_list(o->data_dir, &cur, &ncur) == 0) {
        printf("consumers: %zu\n", ncur);
        for (size_t i = 0; i < ncur; i++) {
            uint64_t lag = rep.records && rep.last_seq + 1 > cur[i].next_seq
                               ? rep.last_seq + 1 - cur[i].next_seq
                               : 0;
            printf("  %-24s next %-10" PRIu64 " lag %" PRIu64 "\n", cur[i].name, cur[i].next_seq,
                   lag);
        }
        free(cur);
    }
    return 0;
}

static void replay_usage(FILE *f)
{
    fprintf(
        f, "usage: amsiwatch journal replay --target NAME [--dead] [--from SEQ] [--to SEQ]\n"
           "                                [--data-dir DIR] [--config FILE] [--webhook SPEC]...\n"
           "Sends journaled alerts to the webhook target NAME again, as `serve` would (format,\n"
           "signing, retries): with --dead the alerts that target refused (they are removed\n"
           "from its dead list once accepted), otherwise every alert from --from to --to.\n"
           "The target comes from the configuration file's webhooks: list or from --webhook\n"
           "[NAME=][FORMAT:]URL. Exit status: 0 all accepted, 1 some refused, 2 usage, 3 error.\n");
}

/* The sequence numbers of the dead list at PATH: one alert a line, "SEQ" or "SEQ<TAB>REASON". */
static int load_dead(const char *path, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0, linecap = 0;
    char *line = NULL;
    while (getline(&line, &linecap, f) > 0) {
        char *end;
        unsigned long long v = strtoull(line, &end, 10);
        if (end == line)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *p = realloc(*out, cap * sizeof(*p));
            if (!p) {
                free(line);
                fclose(f);
                return -ENOMEM;
            }
            *out = p;
        }
        (*out)[(*n)++] = v;
    }
    free(line);
    fclose(f);
    return 0;
}

static bool listed(const uint64_t *v, size_t n, uint64_t seq)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == seq)
            return true;
    }
    return false;
}

/* journal replay: ARGV[0] is "replay". Returns the exit status: 0 all sent, 1 some refused, 2 usage
 * or configuration error, 3 runtime failure. */
static int cmd_replay(int argc, char **argv, const struct journal_config *conf)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {"dead", no_argument, NULL, 'D'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'},
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"webhook", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct target_list *targets = conf->targets(conf->cfg);
    const char *name = NULL;
    bool dead = false;
    uint64_t from = 1, to = UINT64_MAX;
    const char *data_dir = NULL;
    int status = 2, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        char why[300];
        switch (opt) {
        case 't':
            name = optarg;
            break;
        case 'D':
            dead = true;
            break;
        case 'f':
            from = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            to = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'c':
            if (conf->load(conf->cfg, optarg, stderr) < 0)
                goto out;
            break;
        case 'w': {
            struct target t;
            if (target_from_flag(&t, optarg, targets->n, why, sizeof(why)) < 0 ||
                target_validate(&t, why, sizeof(why)) < 0 || target_list_add(targets, &t) < 0) {
                fprintf(stderr, "amsiwatch journal replay: --webhook: %s\n", why);
                goto out;
            }
            break;
        }
        case 'h':
            replay_usage(stdout);
            status = 0;
            goto out;
        default:
            replay_usage(stderr);
            goto out;
        }
    }
    if (!name) {
        replay_usage(stderr);
        goto out;
    }
    if (!data_dir)
        data_dir = conf->data_dir(conf->cfg);
    const struct target *t = NULL;
    for (size_t i = 0; i < targets->n; i++) {
        if (strcmp(targets->v[i].name, name) == 0)
            t = &targets->v[i];
    }
    if (!t) {
        fprintf(stderr,
                "amsiwatch journal replay: no webhook target named '%s' (give --config or "
                "--webhook %s=FORMAT:URL)\n",
                name, name);
        goto out;
    }
    char dead_path[1200];
    delivery_dead_path(data_dir, name, dead_path, sizeof(dead_path));
    uint64_t *dead_seqs = NULL;
    size_t ndead = 0;
    if (dead && load_dead(dead_path, &dead_seqs, &ndead) < 0) {
        fprintf(stderr, "amsiwatch journal replay: cannot read %s\n", dead_path);
        status = 3;
        goto out;
    }
    struct journal_reader *r;
    int rc = journal_reader_open(&r, data_dir, dead ? 1 : from);
    if (rc < 0) {
        fprintf(stderr, "amsiwatch journal replay: cannot read the journal of %s: %s\n", data_dir,
                strerror(-rc));
        free(dead_seqs);
        status = 3;
        goto out;
    }
    uint64_t sent = 0, refused = 0;
    uint64_t *still_dead = calloc(ndead ? ndead : 1, sizeof(uint64_t));
    size_t nstill = 0;
    struct journal_record rec;
    while ((rc = journal_reader_next(r, &rec)) == 1) {
        if (dead ? !listed(dead_seqs, ndead, rec.seq) : rec.seq > to)
            continue;
        long code = delivery_send_once(t, rec.payload, rec.len, 5);
        if (code >= 200 && code < 300) {
            sent++;
        } else {
            refused++;
            if (code < 0)
                fprintf(stderr, "amsiwatch journal replay: sequence %" PRIu64 ": %s\n", rec.seq,
                        code == -EBADMSG ? "cannot be formatted" : strerror((int)-code));
            else
                fprintf(stderr, "amsiwatch journal replay: sequence %" PRIu64 ": HTTP %ld\n",
                        rec.seq, code);
            if (dead && still_dead)
                still_dead[nstill++] = rec.seq;
        }
    }
    journal_reader_close(r);
    if (dead) {
        /* Rewrite the dead list under its lock, from what it holds now (serve may have added to
         * it meanwhile), less what was accepted. */
        int lock = delivery_dead_lock(data_dir, name);
        FILE *in = fopen(dead_path, "r");
        if (in) {
            char tmp[1300];
            snprintf(tmp, sizeof(tmp), "%s.tmp", dead_path);
            FILE *f = fopen(tmp, "w");
            if (f) {
                /* Each line as it is (with its reason), unless its alert was accepted now. */
                char *line = NULL;
                size_t linecap = 0;
                ssize_t len;
                while ((len = getline(&line, &linecap, in)) > 0) {
                    char *end;
                    uint64_t seq = strtoull(line, &end, 10);
                    bool sent_now = end != line && listed(dead_seqs, ndead, seq) &&
                                    !listed(still_dead, nstill, seq);
                    if (!sent_now)
                        fprintf(f, "%.*s%s", (int)len, line, line[len - 1] == '\n' ? "" : "\n");
                }
                free(line);
                fflush(f);
                fdatasync(fileno(f));
                fclose(f);
                rename(tmp, dead_path);
            }
            fclose(in);
        }
        delivery_dead_unlock(lock);
    }
    free(still_dead);
    free(dead_seqs);
    printf("%" PRIu64 " sent, %" PRIu64 " refused\n", sent, refused);
    status = rc < 0 ? 3 : refused ? 1 : 0;
out:
    return status;
}

int journal_cmd_main(int argc, char **argv, const struct journal_config *conf)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},    {"host", required_argument, NULL, 'H'},
        {"profile", required_argument, NULL, 'P'},  {"clause", required_argument, NULL, 'C'},
        {"seq", required_argument, NULL, 'Q'},      {"limit", required_argument, NULL, 'n'},
        {"follow", no_argument, NULL, 'f'},         {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    /* `journal replay` has options of its own. */
    if (argc > 1 && strcmp(argv[1], "replay") == 0)
        return cmd_replay(argc - 1, argv + 1, conf);
    struct jopts o = {.data_dir = DEFAULT_DATA_DIR};
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "d:n:fo:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            o.data_dir = optarg;
            break;
        case 'S':
            o.f.since = optarg;
            break;
        case 'U':
            o.f.until = optarg;
            break;
        case 'H':
            o.f.host = optarg;
            break;
        case 'P':
            o.f.profile = optarg;
            break;
        case 'C':
            o.f.clause = optarg;
            break;
        case 'Q': {
            unsigned long long a = 0, b = 0;
            int used = 0;
            /* Digits, one dash between two numbers: sscanf alone would take "-3" or "3- 4". */
            const char *dash = strchr(optarg, '-');
            if (!isdigit((unsigned char)optarg[0]) ||
                strspn(optarg, "0123456789-") != strlen(optarg) ||
                (dash && (!isdigit((unsigned char)dash[1]) || strchr(dash + 1, '-'))))
                a = b = 0;
            else if (sscanf(optarg, "%llu%n", &a, &used) == 1 && optarg[used] == '\0')
                b = a;
            else if (sscanf(optarg, "%llu-%llu%n", &a, &b, &used) != 2 || optarg[used] != '\0')
                a = b = 0;
            if (!a || b < a) {
                fprintf(stderr,
                        "amsiwatch journal: --seq takes a sequence number or a range A-B "
                        "(1 or more, A <= B), not '%s'\n",
                        optarg);
                return 2;
            }
            o.f.seq_first = a;
            o.f.seq_last = b;
            break;
        }
        case 'n': {
            char *end;
            o.limit = strtol(optarg, &end, 10);
            if (*end || o.limit < 0) {
                fprintf(stderr, "amsiwatch journal: --limit takes a whole number, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'f':
            o.follow = true;
            break;
        case 'o':
            o.output = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "list") == 0) {
        struct list_ctx c = {.o = &o, .out = stdout};
        return each_record(o.data_dir, list_one, &c);
    }
    if (strcmp(cmd, "export") == 0) {
        struct list_ctx c = {.o = &o, .out = stdout};
        if (o.output && !(c.out = fopen(o.output, "w"))) {
            fprintf(stderr, "amsiwatch journal: cannot write %s: %s\n", o.output, strerror(errno));
            return 2;
        }
        int status = each_record(o.data_dir, export_one, &c);
        if (c.out != stdout && fclose(c.out) != 0)
            status = 3;
        return status;
    }
    if (strcmp(cmd, "show") == 0) {
        if (optind + 1 >= argc) {
            fprintf(stderr, "amsiwatch journal show: give an alert id or a sequence number\n");
            return 2;
        }
        return cmd_show(&o, argv[optind + 1]);
    }
    if (strcmp(cmd, "tail") == 0)
        return cmd_tail(&o);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(&o);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(&o);
    fprintf(stderr, "amsiwatch journal: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
