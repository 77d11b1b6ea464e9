/* amsiwatch serve: wiring of the loop, the listeners, the workers, the journal and the sink. */
#include "server/serve.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "base/clock.h"
#include "base/log.h"
#include "net/net.h"
#include "relay/relay.h"
#include "server/api.h"
#include "server/server.h"

/* ---- Alerts: to the journal; once durable, printed (when nobody else takes them) or delivered
 * ---- */

static void on_durable(void *arg, int status, uint64_t seq)
{
    (void)seq;
    batch_alert_durable(arg, status);
}

static int sink_emit(void *ctx, const char *doc, size_t len, struct batch *b)
{
    struct server *s = ctx;
    return journal_append(s->journal, doc, len, on_durable, b);
}

/* The journal's on-commit hook, on its writer thread: only it prints, so lines never
 * interleave. */
static void print_alert(void *ctx, uint64_t seq, const void *doc, size_t len)
{
    (void)ctx;
    (void)seq;
    fwrite(doc, 1, len, stdout);
    fputc('\n', stdout);
}

static void alerts_committed(void *ctx, uint64_t records)
{
    struct server *s = ctx;
    (void)records;
    if (s->print_alerts)
        fflush(stdout);
    delivery_notify(s->delivery); /* set before any alert is appended */
}

/* ---- Completions: worker/journal threads -> loop ---- */

/* The batches' handoff: pushes B for the loop. Any thread. */
static void post_done(void *ctx, struct batch *b)
{
    struct server *s = ctx;
    struct batch *old = atomic_load_explicit(&s->done_head, memory_order_relaxed);
    do {
        b->link = old;
    } while (!atomic_compare_exchange_weak_explicit(&s->done_head, &old, b, memory_order_release,
                                                    memory_order_relaxed));
    if (!old) {
        /* The empty-to-non-empty edge. After the loop closed its handle, completions only
         * collect on the stack; the owner frees them after the workers and the journal stop. */
        pthread_mutex_lock(&s->done_mu);
        if (!s->loop_closed)
            uv_async_send(&s->done_async);
        pthread_mutex_unlock(&s->done_mu);
    }
}

/* Frees whatever completed after the loop stopped listening for completions. */
static void drain_completions(struct server *s)
{
    struct batch *list = atomic_exchange_explicit(&s->done_head, NULL, memory_order_acquire);
    while (list) {
        struct batch *next = list->link;
        batch_free(list);
        list = next;
    }
}

static void maybe_finish_stop(struct server *s);

/* Connections paused on a budget or on the full queue read again once there is room. */
static void resume_all(struct server *s)
{
    if (!s->need_resume)
        return;
    s->need_resume = false;
    beats_resume_paused(s);
    syslogd_resume_paused(s);
}

static void on_done_async(uv_async_t *h)
{
    struct server *s = h->data;
    struct batch *list = atomic_exchange_explicit(&s->done_head, NULL, memory_order_acquire);
    /* The stack is newest first: reverse to completion order. */
    struct batch *rev = NULL;
    while (list) {
        struct batch *next = list->link;
        list->link = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        struct batch *next = rev->link;
        s->inflight_batches--;
        batch_complete(rev); /* the submitter's callback, on the loop thread */
        rev = next;
    }
    resume_all(s);
    if (s->stopping)
        maybe_finish_stop(s);
}

/* ---- The service manager: systemd's notification protocol (NOTIFY_SOCKET) ---- */

/* How often STATUS= tells the rates while running. */
#define STATUS_INTERVAL_MS 5000

/* STATUS=: events per second since the last one, alerts and open connections
 * (`systemctl status` shows it). */
static void notify_status(struct server *s)
{
    uint64_t now = server_now(s);
    struct detect_stats d;
    workers_stats(s->workers, &d);
    uint64_t events = d.events + s->syslog_screened;
    double rate = 0;
    if (now > s->status_ms && events >= s->status_events)
        rate = (double)(events - s->status_events) * 1000.0 / (double)(now - s->status_ms);
    s->status_ms = now;
    s->status_events = events;
    sd_notifyf(0, "STATUS=%.1f events/s, %" PRIu64 " alerts, %" PRIu64 " connections", rate,
               d.alerts, s->beats_conns.count + s->syslog_conns.count);
}

/* Every listener is bound: READY=1, with what listens as the first STATUS=. */
static void notify_ready(struct server *s, const char *listening)
{
    if (!s->notify)
        return;
    struct detect_stats d;
    workers_stats(s->workers, &d);
    s->status_ms = server_now(s);
    s->status_events = d.events + s->syslog_screened;
    int rc = sd_notifyf(0, "READY=1\nSTATUS=listening:%s", listening);
    if (rc < 0)
        log_warn("serve", "cannot tell the service manager (NOTIFY_SOCKET) that it is ready: %s",
                 strerror(-rc));
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

/* WatchdogSec=: WATCHDOG=1 from the loop at half the interval, so a loop that hangs is
 * restarted. */
static void watchdog_start(struct server *s)
{
    uint64_t usec = 0;
    if (!s->notify || sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    uint64_t every_ms = usec / 2000 ? usec / 2000 : 1;
    uv_timer_init(s->loop, &s->watchdog);
    uv_timer_start(&s->watchdog, on_watchdog, every_ms, every_ms);
    s->watchdog_on = true;
    log_info("serve", "service manager watchdog: WATCHDOG=1 every %" PRIu64 " ms", every_ms);
}

/* ---- Stopping ---- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void finish(struct server *s)
{
    api_stop(s->api);
    s->api = NULL;
    beats_close_all(s);
    beats_relay_log_counters(s); /* its last counters: the relay is gone when the rest are logged */
    beats_relay_stop(s);
    syslogd_close_all(s);
    syslogd_relay_stop(s);
    uv_timer_stop(&s->tick);
    close_handle((uv_handle_t *)&s->tick);
    if (s->watchdog_on)
        close_handle((uv_handle_t *)&s->watchdog);
    close_handle((uv_handle_t *)&s->sigint);
    close_handle((uv_handle_t *)&s->sigterm);
    close_handle((uv_handle_t *)&s->sighup);
    pthread_mutex_lock(&s->done_mu);
    s->loop_closed = true;
    pthread_mutex_unlock(&s->done_mu);
    close_handle((uv_handle_t *)&s->done_async);
}

static void maybe_finish_stop(struct server *s)
{
    if (s->inflight_batches == 0 && beats_idle(s) && syslogd_idle(s)) {
        log_info("serve", "every window in flight is acknowledged; stopping");
        finish(s);
    } else if (s->cfg.shutdown_timeout_ms && server_now(s) >= s->stop_deadline_ms) {
        log_warn("serve",
                 "windows still in flight after %" PRIu64 " ms; stopping without their "
                 "ACKs (the senders will resend them)",
                 s->cfg.shutdown_timeout_ms);
        finish(s);
    }
}

/* SIGHUP: the whole configuration read again (server/reload.c). */
static void on_sighup(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    (void)signum;
    if (s->stopping) {
        log_info("serve", "SIGHUP while stopping: nothing to reload");
        return;
    }
    log_info("serve", "SIGHUP: reading the configuration again");
    serve_reload(s);
}

/* The TLS and access rules of every listener; a configuration error is printed. */
static int security_init(struct server *s)
{
    struct config *c = &s->cfg;
    char why[2400];
    s->syslog_tls_enabled =
        strcmp(c->syslog_tls, "off") != 0 && c->syslog_tls_opts.certificate[0] != '\0';
    if (server_security_build(c, s->syslog_tls_enabled, &s->beats_sec, &s->syslog_sec,
                              &s->syslog_tls_sec, why, sizeof(why)) < 0) {
        serve_error("%s", why);
        return -1;
    }
    if (beats_relay_check(s) < 0 || syslogd_relay_check(s) < 0)
        return -1;
    if (!c->beats_tls.ssl_enabled && c->beats_tls.certificate[0])
        log_warn("beats", "beats.ssl-certificate is set but beats.ssl-enabled is false: the Beats "
                          "listener is plaintext");
    return 0;
}

static void security_free(struct server *s)
{
    sec_listener_free(&s->beats_sec);
    sec_listener_free(&s->syslog_sec);
    sec_listener_free(&s->syslog_tls_sec);
    if (s->relay_tls)
        SSL_CTX_free(s->relay_tls);
    s->relay_tls = NULL;
}

/* The next hops of a relay (LINES, KEY its option) are hosts relay_new takes. */
static int relay_hosts_check(const char *key, const char *lines, const char *port)
{
    if (!lines[0])
        return 0;
    struct relay_options o = {.nhosts = 0};
    if (relay_set_hosts(&o, lines, port) < 0) {
        serve_error("%s: at most %d hosts of %zu characters", key, RELAY_MAX_HOSTS,
                    sizeof(o.hosts[0]) - 7);
        return -1;
    }
    if (relay_check_hosts(&o) < 0) {
        serve_error("%s: '%s' is not HOST, HOST:PORT or [IPv6]:PORT", key, lines);
        return -1;
    }
    return 0;
}

/* Every check of the configuration that binds nothing, writes nothing and starts no thread: the
 * TLS files and access lists, the relays, the listeners' addresses. Prints what is wrong. */
static int validate(struct server *s)
{
    if (security_init(s) < 0)
        return -1;
    const struct config *c = &s->cfg;
    const struct {
        const char *flag, *spec;
        bool on;
    } listeners[] = {
        {"beats", c->beats, strcmp(c->beats, "off") != 0},
        {"syslog-tcp", c->syslog_tcp, strcmp(c->syslog_tcp, "off") != 0},
        {"syslog-udp", c->syslog_udp, strcmp(c->syslog_udp, "off") != 0},
        {"syslog-tls", c->syslog_tls, s->syslog_tls_enabled},
        {"api", c->api, strcmp(c->api, "off") != 0},
    };
    for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
        struct sockaddr_storage addr;
        if (listeners[i].on && net_parse_addr(listeners[i].spec, &addr) < 0) {
            serve_error("--%s: '%s' is not an IP address and port", listeners[i].flag,
                        listeners[i].spec);
            return -1;
        }
    }
    if (relay_hosts_check("relay.beats.hosts", c->relay_beats_hosts, "5044") < 0 ||
        relay_hosts_check("relay.syslog.hosts", c->relay_syslog_hosts, "514") < 0)
        return -1;
    if (strcmp(c->api, "off") != 0 && api_check(c) < 0)
        return -1;
    return 0;
}

/* The log as the configuration says: its level and format. */
static void log_setup(const struct config *c)
{
    enum log_level level;
    log_parse_level(c->log_level, &level);
    log_set_level(level);
    enum log_format format;
    log_parse_format(c->log_format, &format);
    log_set_format(format);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    if (++s->signals > 1) {
        /* A second signal: exit now. Nothing acknowledged depends on what is still running. */
        log_warn("serve", "second signal: exiting at once");
        fflush(stdout);
        _exit(0);
    }
    log_info("serve", "%s: no new connections; finishing the windows in flight",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    if (s->notify)
        sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing the windows in flight");
    s->stopping = true;
    s->stop_deadline_ms = server_now(s) + s->cfg.shutdown_timeout_ms;
    if (s->beats_listening) {
        close_handle((uv_handle_t *)&s->beats_listener);
        s->beats_listening = false;
    }
    beats_stop_reading_all(s);
    syslogd_stop_reading_all(s);
    maybe_finish_stop(s);
}

/* One line per listener with its counters, and the detection totals. */
static void log_counters(struct server *s)
{
    if (strcmp(s->cfg.beats, "off") != 0) {
        const struct log_field f[] = {
            LOG_U64("beats.connections", s->counters.connections),
            LOG_U64("beats.refused", s->counters.refused),
            LOG_U64("beats.closed_errors", s->counters.closed_errors),
            LOG_U64("beats.windows", s->counters.windows),
            LOG_U64("beats.events", s->counters.events),
            LOG_U64("beats.acks", s->counters.acks),
            LOG_U64("beats.keepalives", s->counters.keepalives),
        };
        log_fields(LOG_INFO, "beats", f, LOG_NFIELDS(f),
                   "%" PRIu64 " connections (%" PRIu64 " refused, %" PRIu64
                   " closed on an error), %" PRIu64 " windows, %" PRIu64 " events, %" PRIu64
                   " ACKs, %" PRIu64 " keep-alives",
                   s->counters.connections, s->counters.refused, s->counters.closed_errors,
                   s->counters.windows, s->counters.events, s->counters.acks,
                   s->counters.keepalives);
    }
    beats_relay_log_counters(s);
    syslogd_log_counters(s);
    syslogd_relay_log_counters(s);
    sec_listener_log_counters(&s->beats_sec);
    sec_listener_log_counters(&s->syslog_sec);
    sec_listener_log_counters(&s->syslog_tls_sec);
    struct detect_stats d;
    workers_stats(s->workers, &d);
    d.events += s->syslog_screened; /* syslog messages the loop ruled out count as events seen */
    const struct log_field f[] = {
        LOG_U64("detect.events", d.events),       LOG_U64("detect.candidates", d.candidates),
        LOG_U64("detect.parsed", d.parsed),       LOG_U64("detect.alerts", d.alerts),
        LOG_U64("detect.malformed", d.malformed),
    };
    log_fields(LOG_INFO, "detect", f, LOG_NFIELDS(f),
               "%" PRIu64 " events, %" PRIu64 " candidates, %" PRIu64 " parsed, %" PRIu64
               " alerts, %" PRIu64 " malformed",
               d.events, d.candidates, d.parsed, d.alerts, d.malformed);
}

static void on_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    uint64_t now = server_now(s);
    if (s->cfg.stats_interval_ms && now - s->last_stats_ms >= s->cfg.stats_interval_ms) {
        s->last_stats_ms = now;
        log_counters(s);
    }
    if (s->notify && !s->stopping && now - s->status_ms >= STATUS_INTERVAL_MS)
        notify_status(s);
    struct journal_stats js;
    journal_get_stats(s->journal, &js);
    s->journal_waiting = js.stalled;
    if (js.stalled)
        s->journal_waited_ms = now;
    beats_tick(s);
    beats_relay_tick(s);
    syslogd_tick(s);
    resume_all(s);
    if (s->stopping)
        maybe_finish_stop(s);
}

static int start(struct server *s)
{
    char beats[128] = "", tcp[128] = "", udp[128] = "";
    int rc = beats_relay_start(s);
    if (rc < 0 || (rc = syslogd_relay_start(s)) < 0)
        return rc;
    if (strcmp(s->cfg.beats, "off") != 0 && (rc = beats_listen(s, beats, sizeof(beats))) < 0)
        return rc;
    rc = syslogd_listen(s, tcp, sizeof(tcp), udp, sizeof(udp));
    if (rc < 0)
        return rc;
    char stls[128] = "";
    if (s->syslog_tls_enabled && (rc = syslogd_tls_listen(s, stls, sizeof(stls))) < 0)
        return rc;
    char api[128] = "";
    if (strcmp(s->cfg.api, "off") != 0 && (rc = api_start(s, api, sizeof(api))) < 0) {
        /* On its default address a second amsiwatch on the host (a test, a benchmark) runs on
         * without the endpoint; an address asked for must be had. */
        if (rc != -EADDRINUSE || strcmp(s->cfg.api, API_DEFAULT_ADDRESS) != 0)
            return rc;
        log_warn("api", "%s is taken: running without the HTTP endpoint (set api.address)",
                 API_DEFAULT_ADDRESS);
    }
    s->listeners_bound = true;
    /* The listeners bound, as fields: those that are off are left out. */
    struct log_field f[5];
    size_t nf = 0;
    if (beats[0])
        f[nf++] = LOG_STR("listeners.beats", beats);
    if (tcp[0])
        f[nf++] = LOG_STR("listeners.syslog-tcp", tcp);
    if (udp[0])
        f[nf++] = LOG_STR("listeners.syslog-udp", udp);
    if (stls[0])
        f[nf++] = LOG_STR("listeners.syslog-tls", stls);
    if (api[0])
        f[nf++] = LOG_STR("listeners.api", api);
    char listening[700];
    snprintf(listening, sizeof(listening), "%s%s%s%s%s%s%s%s%s%s", beats[0] ? " beats=" : "", beats,
             tcp[0] ? " syslog-tcp=" : "", tcp, udp[0] ? " syslog-udp=" : "", udp,
             stls[0] ? " syslog-tls=" : "", stls, api[0] ? " api=" : "", api);
    log_bare("serve", f, nf, "ready%s", listening);
    notify_ready(s, listening);
    return 0;
}

int serve_main(int argc, char **argv)
{
    struct server *s = calloc(1, sizeof(*s));
    if (!s)
        return 3;
    s->argc = argc;
    s->argv = argv;
    s->started_wall_ms = clock_now_ms();
    /* Window times are the loop's milliseconds: no bucket below 1 ms; up to a minute (a journal
     * waiting out a full disk, a slow next hop). */
    static const double ack_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,      2.5,   5,    10,    30,   60};
    histogram_init(&s->ack_seconds, ack_bounds, sizeof(ack_bounds) / sizeof(ack_bounds[0]));
    config_defaults(&s->cfg);
    int prc = config_parse_args(&s->cfg, argc, argv, stdout, stderr);
    if (prc != 0) {
        config_free(&s->cfg);
        free(s);
        return prc > 0 ? 0 : 2;
    }
    log_setup(&s->cfg);
    enum profile profile;
    profile_parse(s->cfg.profile, &profile);
    s->print_alerts = !s->cfg.quiet && s->cfg.targets.n == 0;
    signal(SIGPIPE, SIG_IGN);
    if (validate(s) < 0) {
        security_free(s);
        config_free(&s->cfg);
        free(s);
        return 2;
    }

    lj_limits_default(&s->limits);
    s->limits.max_window = (uint32_t)s->cfg.beats_max_window;
    s->limits.max_json = (uint32_t)s->cfg.beats_max_json;
    s->limits.max_compressed = (uint32_t)s->cfg.beats_max_compressed;
    s->limits.max_pairs = (uint32_t)s->cfg.beats_max_pairs;
    s->limits.max_item = (uint32_t)s->cfg.beats_max_item;

    struct journal_opts jo;
    journal_opts_default(&jo);
    jo.sync_interval_ms = (unsigned)s->cfg.journal_sync_interval_ms;
    jo.segment_bytes = s->cfg.journal_segment_bytes;
    jo.retention_bytes = s->cfg.journal_retention_bytes;
    jo.retention_ms = s->cfg.journal_retention_ms;
    const char *delay = getenv("AMSIWATCH_TEST_COMMIT_DELAY_MS");
    if (delay)
        jo.test_commit_delay_ms = (unsigned)strtoul(delay, NULL, 10);
    jo.on_commit.record = s->print_alerts ? print_alert : NULL;
    jo.on_commit.committed = alerts_committed;
    jo.on_commit.ctx = s;
    struct journal_recovery rep;
    int rc = journal_open(&s->journal, s->cfg.data_dir, &jo, &rep);
    if (rc < 0) {
        serve_error("cannot open the journal in %s: %s", s->cfg.data_dir, strerror(-rc));
        security_free(s);
        config_free(&s->cfg);
        free(s);
        return 3;
    }
    if (rep.truncated_bytes)
        log_warn("serve", "journal recovery cut %" PRIu64 " bytes at offset %" PRIu64 ": %s",
                 rep.truncated_bytes, rep.truncated_at, rep.reason);
    log_info("serve", "journal %s/journal: %" PRIu64 " segments", s->cfg.data_dir, rep.segments);

    /* Delivery runs even without targets: a reload may add some. */
    rc = delivery_start(&s->delivery, s->cfg.data_dir, &s->cfg.targets);
    if (rc < 0) {
        serve_error("cannot start webhook delivery: %s", strerror(-rc));
        journal_close(s->journal);
        security_free(s);
        config_free(&s->cfg);
        free(s);
        return 3;
    }

    struct workers_opts wo = {
        .threads = (unsigned)s->cfg.workers,
        .queue = (size_t)s->cfg.queue,
        .profile = profile,
        .max_event = (size_t)s->cfg.beats_max_json,
        .max_inflated = (size_t)s->cfg.beats_max_inflated,
        .max_ratio = (unsigned)s->cfg.beats_max_ratio,
    };
    rc = workers_start(&s->workers, &wo);
    if (rc < 0) {
        serve_error("cannot start the workers: %s", strerror(-rc));
        delivery_stop(s->delivery);
        journal_close(s->journal);
        security_free(s);
        config_free(&s->cfg);
        free(s);
        return 3;
    }
    s->sink.emit = sink_emit;
    s->sink.ctx = s;
    s->handoff.post = post_done;
    s->handoff.ctx = s;

    s->loop = uv_default_loop();
    pthread_mutex_init(&s->done_mu, NULL);
    uv_async_init(s->loop, &s->done_async, on_done_async);
    s->done_async.data = s;
    uv_signal_init(s->loop, &s->sigint);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(s->loop, &s->sighup);
    s->sighup.data = s;
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    s->last_stats_ms = uv_now(s->loop);
    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, 250, 250);
    s->notify = getenv("NOTIFY_SOCKET") != NULL;
    watchdog_start(s);

    s->exit_status = 0;
    rc = start(s);
    if (rc < 0) {
        s->exit_status = rc == -EINVAL ? 2 : 3;
        finish(s);
    }
    uv_run(s->loop, UV_RUN_DEFAULT);
    uv_loop_close(s->loop);
    log_counters(s);
    workers_stop(s->workers);
    journal_flush(s->journal);
    /* Delivery stops last: what it has not sent stays in the journal for the next start. */
    delivery_stop(s->delivery);
    journal_close(s->journal);
    drain_completions(s);
    pthread_mutex_destroy(&s->done_mu);
    security_free(s);
    config_free(&s->cfg);
    fflush(stdout);
    int status = s->exit_status;
    log_info("serve", "stopped");
    free(s);
    return status;
}

static void check_config_usage(FILE *f)
{
    fprintf(f, "usage: amsiwatch check-config [--config FILE] [OPTION]...\n"
               "Loads and checks the configuration as 'amsiwatch serve' with the same options\n"
               "would (the file, the flags, the TLS files, the relays, the listeners' addresses)\n"
               "without binding a port, opening the journal or starting anything. Exit 0 and\n"
               "\"configuration OK\" on standard output, or exit 2 and what is wrong on standard\n"
               "error. The options are those of 'amsiwatch serve --help'.\n");
}

int check_config_main(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_config_usage(stdout);
            return 0;
        }
    }
    struct server *s = calloc(1, sizeof(*s));
    if (!s)
        return 3;
    config_defaults(&s->cfg);
    int status;
    int prc = config_parse_args(&s->cfg, argc, argv, stdout, stderr);
    if (prc != 0) {
        status = prc > 0 ? 0 : 2;
    } else {
        log_setup(&s->cfg);
        /* Read by people and by the unit's ExecStartPre: text whatever log.format says. */
        log_set_format(LOG_FORMAT_TEXT);
        status = validate(s) < 0 ? 2 : 0;
        security_free(s);
        if (status == 0)
            printf("configuration OK\n");
    }
    config_free(&s->cfg);
    free(s);
    return status;
}
