#include "server/replay_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify/delivery.h"
#include "server/config.h"
#include "store/reader.h"

static void usage(FILE *f)
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

int replay_main(int argc, char **argv)
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
    struct config cfg;
    config_defaults(&cfg);
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
            if (config_load_file(&cfg, optarg, stderr) < 0)
                goto out;
            break;
        case 'w': {
            struct target t;
            if (target_from_flag(&t, optarg, cfg.targets.n, why, sizeof(why)) < 0 ||
                target_validate(&t, why, sizeof(why)) < 0 ||
                target_list_add(&cfg.targets, &t) < 0) {
                fprintf(stderr, "amsiwatch journal replay: --webhook: %s\n", why);
                goto out;
            }
            break;
        }
        case 'h':
            usage(stdout);
            status = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!name) {
        usage(stderr);
        goto out;
    }
    if (!data_dir)
        data_dir = cfg.data_dir;
    const struct target *t = NULL;
    for (size_t i = 0; i < cfg.targets.n; i++) {
        if (strcmp(cfg.targets.v[i].name, name) == 0)
            t = &cfg.targets.v[i];
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
    config_free(&cfg);
    return status;
}
