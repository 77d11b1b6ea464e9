/* amsiwatch replay: the entry point. It reads the command line (replay_options.c), resolves the
 * target, makes the TLS context (replay_tls.c), loads the input (replay_input.c), runs the sender
 * loop (replay_send.c), prints the report (replay_report.c) and says in its exit status how the
 * run went. */
#include "tools/replay.h"

#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/log.h"
#include "tools/replay_int.h"

/* The address of O's target. Returns 0, or -1 with the reason in WHY. */
static int resolve(const struct rp_opts *o, struct sockaddr_storage *out, char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype =
                                 o->proto == RP_PROTO_SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "cannot resolve '%s': %s", o->host, gai_strerror(rc));
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static void raise_fd_limit(uint32_t connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= (rlim_t)connections + 64)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)connections + 64)
        log_warn("replay",
                 "%" PRIu32 " connections but only %llu file descriptors allowed "
                 "(ulimit -n): some connections will fail",
                 connections, (unsigned long long)rl.rlim_cur);
}

int replay_main(int argc, char **argv)
{
    struct rp_run *r = calloc(1, sizeof(*r));
    if (!r) {
        fprintf(stderr, "amsiwatch replay: out of memory\n");
        return 3;
    }
    /* Room for any one argument quoted in a message. */
    size_t whylen = 512;
    for (int i = 0; i < argc; i++)
        whylen = strlen(argv[i]) + 512 > whylen ? strlen(argv[i]) + 512 : whylen;
    char *why = malloc(whylen);
    if (!why) {
        free(r);
        fprintf(stderr, "amsiwatch replay: out of memory\n");
        return 3;
    }
    int parsed = rp_options_parse(argc, argv, &r->o, why, whylen);
    if (parsed == RP_PARSE_RUN && resolve(&r->o, &r->addr, why, whylen) < 0)
        parsed = RP_PARSE_ERROR;
    if (parsed != RP_PARSE_RUN) {
        int status = parsed == RP_PARSE_HELP ? 0 : 2;
        if (parsed == RP_PARSE_HELP)
            rp_usage(stdout);
        else if (parsed == RP_PARSE_USAGE)
            rp_usage(stderr);
        else
            fprintf(stderr, "amsiwatch replay: %s (see --help)\n", why);
        free(why);
        free(r);
        return status;
    }
    free(why);
    struct rp_opts *o = &r->o;
    if (!isatty(STDERR_FILENO))
        o->progress = false;
    char err[512];
    if (o->tls) {
        r->ssl_ctx = rp_tls_context(r, err, sizeof(err));
        if (!r->ssl_ctx) {
            free(r);
            fprintf(stderr, "amsiwatch replay: %s\n", err);
            return 2;
        }
    }
    struct rp_load_opts lo = {.max_input = o->max_input, .max_event = o->max_event};
    lo.shape = o->proto == RP_PROTO_SYSLOG_UDP   ? RP_SYSLOG_UDP
               : o->proto == RP_PROTO_SYSLOG_TCP ? (o->lf ? RP_SYSLOG_LF : RP_SYSLOG_OCT)
               : o->version == 1                 ? RP_BEATS_V1
                                                 : RP_BEATS_V2;
    if (rp_input_load(&r->in, &lo, o->paths, o->npaths, err, sizeof(err)) < 0) {
        fprintf(stderr, "amsiwatch replay: %s\n", err);
        rp_input_free(&r->in);
        rp_tls_context_free(r->ssl_ctx);
        free(r);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(o->connections);
    if (rp_run_init(r) < 0) {
        fprintf(stderr, "amsiwatch replay: out of memory\n");
        return 3;
    }
    rp_run_loop(r);

    bool ok = r->st.errors == 0 && (!rp_beats(r) || r->st.events_acked == r->st.events_sent) &&
              r->started;
    if (r->st.errors == 0 && rp_beats(r) && r->st.events_acked != r->st.events_sent) {
        snprintf(r->error, sizeof(r->error), "%" PRIu64 " events sent were not acknowledged",
                 r->st.events_sent - r->st.events_acked);
        r->st.errors++;
    }
    rp_report(r, ok);

    rp_run_close(r);
    rp_tls_context_free(r->ssl_ctx);
    rp_input_free(&r->in);
    free(r);
    return ok ? 0 : 3;
}
