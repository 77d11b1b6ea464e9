/* SIGHUP: the configuration read again as at start (the file of --config, then the command-line
 * flags over it), validated whole, and applied on the loop thread, or kept whole when anything in
 * it does not validate. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "relay/relay.h"
#include "server/api.h"
#include "server/server.h"

#define MAX_DIFF 256

int server_security_build(const struct config *c, bool syslog_tls, struct sec_listener *beats,
                          struct sec_listener *syslog, struct sec_listener *tls, char *why,
                          size_t whylen)
{
    memset(beats, 0, sizeof(*beats));
    memset(syslog, 0, sizeof(*syslog));
    memset(tls, 0, sizeof(*tls));
    if (!c->syslog_tls_opts.certificate[0] &&
        (c->syslog_tls_opts.key[0] || c->syslog_tls_opts.certificate_authorities[0])) {
        snprintf(why, whylen,
                 "syslog-tls.ssl-certificate is not set: the syslog TLS listener "
                 "needs a certificate and its key");
        return -1;
    }
    if (sec_listener_init(beats, "beats", c->beats_tls.ssl_enabled ? &c->beats_tls : NULL,
                          c->beats_tls.allow_networks, c->beats_tls.allow_peers, why, whylen) < 0)
        return -1;
    if (sec_listener_init(syslog, "syslog", NULL, c->syslog_allow_networks, NULL, why, whylen) <
        0) {
        sec_listener_free(beats);
        return -1;
    }
    if (sec_listener_init(tls, "syslog-tls", syslog_tls ? &c->syslog_tls_opts : NULL,
                          c->syslog_tls_opts.allow_networks,
                          syslog_tls ? c->syslog_tls_opts.allow_peers : NULL, why, whylen) < 0) {
        sec_listener_free(beats);
        sec_listener_free(syslog);
        return -1;
    }
    return 0;
}

/* Appends ", " and the formatted text to OUT (of CAP bytes). */
static void add(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *out, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(out);
    if (n && n + 2 < cap) {
        memcpy(out + n, ", ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - n, fmt, ap);
    va_end(ap);
}

/* Logs each line the loader wrote (its "FILE:LINE: key 'K': why"), and that nothing changes. */
static void log_refused(const char *errs)
{
    const char *p = errs;
    bool any = false;
    while (*p) {
        size_t len = strcspn(p, "\n");
        const char *line = p;
        size_t skip = 0;
        if (strncmp(line, "amsiwatch serve: ", 17) == 0)
            skip = 17;
        else if (strncmp(line, "amsiwatch: ", 11) == 0)
            skip = 11;
        if (len > skip) {
            log_error("serve", "reload: %.*s; keeping the running configuration", (int)(len - skip),
                      line + skip);
            any = true;
        }
        p += len + (p[len] ? 1 : 0);
    }
    if (!any)
        log_error("serve", "reload: the configuration does not validate; keeping the running one");
}

/* True for the keys of a listener's allow lists (the summary names them apart). */
static bool allow_list_key(const char *name)
{
    size_t n = strlen(name);
    return (n >= 15 && strcmp(name + n - 15, ".allow-networks") == 0) ||
           (n >= 16 && strcmp(name + n - 16, ".ssl-allow-peers") == 0);
}

/* The configuration as at start: the defaults, the file, the flags. NULL after logging why. */
static struct config *read_again(struct server *s)
{
    struct config *next = malloc(sizeof(*next));
    char *errs = NULL;
    size_t errlen = 0;
    FILE *err = open_memstream(&errs, &errlen);
    if (!next || !err) {
        log_error("serve", "reload: out of memory; keeping the running configuration");
        if (err)
            fclose(err);
        free(errs);
        free(next);
        return NULL;
    }
    config_defaults(next);
    int rc = config_parse_args(next, s->argc, s->argv, err, err);
    fclose(err);
    if (rc != 0) {
        log_refused(errs ? errs : "");
        config_free(next);
        free(next);
        next = NULL;
    }
    free(errs);
    return next;
}

/* A new host list for a running relay: what to apply once the rest validates. */
struct relay_change {
    bool beats, syslog, syslog_udp;
    struct relay_options beats_hosts, syslog_hosts;
    struct sockaddr_storage udp_addr;
};

/* Fills O's hosts from LINES (KEY's value, PORT where none is given) and checks each. Returns 0,
 * or -1 with the reason, naming the host, in WHY. */
static int check_hosts(const char *key, const char *lines, const char *port,
                       struct relay_options *o, char *why, size_t whylen)
{
    if (relay_set_hosts(o, lines, port) < 0) {
        snprintf(why, whylen, "%s: at most %d hosts of %zu characters", key, RELAY_MAX_HOSTS,
                 sizeof(o->hosts[0]) - 7);
        return -1;
    }
    for (size_t i = 0; i < o->nhosts; i++) {
        struct relay_options one = {.nhosts = 1};
        memcpy(one.hosts[0], o->hosts[i], sizeof(one.hosts[0]));
        if (relay_check_hosts(&one) < 0) {
            snprintf(why, whylen, "%s: '%.256s' is not HOST, HOST:PORT or [IPv6]:PORT", key,
                     o->hosts[i]);
            return -1;
        }
    }
    return 0;
}

/* Checks the new relay host lists of NEXT. A relay that was off, or would be, keeps its running
 * hosts (a warning: that needs a restart). Returns 0, or -1 with the reason in WHY. */
static int check_relay_hosts(struct server *s, struct config *next, struct relay_change *rc,
                             char *kept, size_t keptlen, size_t *nkept, char *why, size_t whylen)
{
    memset(rc, 0, sizeof(*rc));
    if (strcmp(next->relay_beats_hosts, s->cfg.relay_beats_hosts) != 0) {
        if (!s->relay || !next->relay_beats_hosts[0]) {
            log_warn("serve", "reload: relay.beats.hosts changed, but starting or stopping the "
                              "relay needs a restart; the running value stays");
            config_copy_option(next, &s->cfg, "relay.beats.hosts");
            add(kept, keptlen, "relay.beats.hosts");
            (*nkept)++;
        } else if (check_hosts("relay.beats.hosts", next->relay_beats_hosts, "5044",
                               &rc->beats_hosts, why, whylen) < 0) {
            return -1;
        } else {
            rc->beats = true;
        }
    }
    if (strcmp(next->relay_syslog_hosts, s->cfg.relay_syslog_hosts) != 0) {
        bool running = s->syslog_relay || s->syslog_relay_udp_open;
        if (!running || !next->relay_syslog_hosts[0]) {
            log_warn("serve", "reload: relay.syslog.hosts changed, but starting or stopping the "
                              "relay needs a restart; the running value stays");
            config_copy_option(next, &s->cfg, "relay.syslog.hosts");
            add(kept, keptlen, "relay.syslog.hosts");
            (*nkept)++;
            return 0;
        }
        if (check_hosts("relay.syslog.hosts", next->relay_syslog_hosts, "514", &rc->syslog_hosts,
                        why, whylen) < 0)
            return -1;
        if (s->syslog_relay_udp_open) {
            int e = syslogd_relay_resolve_udp(s, rc->syslog_hosts.hosts[0], &rc->udp_addr);
            if (e < 0) {
                snprintf(why, whylen, "relay.syslog.hosts: cannot use %s: %s",
                         rc->syslog_hosts.hosts[0], uv_strerror(e));
                return -1;
            }
            rc->syslog_udp = true;
        } else {
            rc->syslog = true;
        }
    }
    return 0;
}

void serve_reload(struct server *s)
{
    struct config *next = read_again(s);
    if (!next)
        return;

    /* The syslog TLS listener listens or not from the start (its address needs a restart): its
     * options change only while it listens. */
    bool syslog_tls =
        strcmp(s->cfg.syslog_tls, "off") != 0 && next->syslog_tls_opts.certificate[0] != '\0';
    bool tls_kept = syslog_tls != s->syslog_tls_enabled;
    char kept[1024] = "", others[1024] = "";
    size_t nkept = 0;
    if (tls_kept) {
        log_warn("serve",
                 "reload: syslog-tls.ssl-certificate %s: starting or stopping the syslog TLS "
                 "listener needs a restart; its running options stay",
                 syslog_tls ? "set" : "removed");
        next->syslog_tls_opts = s->cfg.syslog_tls_opts;
        syslog_tls = s->syslog_tls_enabled;
        add(kept, sizeof(kept), "syslog-tls.ssl-certificate");
        nkept++;
    }

    /* Options read only at start keep their running value: one warning each. */
    const char *diff[MAX_DIFF];
    size_t ndiff = config_diff(&s->cfg, next, diff, MAX_DIFF);
    if (ndiff > MAX_DIFF)
        ndiff = MAX_DIFF;
    bool allow_lists = false, level = false, format = false;
    for (size_t i = 0; i < ndiff; i++) {
        if (config_needs_restart(diff[i])) {
            log_warn("serve", "reload: %s changed, but it needs a restart; the running value stays",
                     diff[i]);
            config_copy_option(next, &s->cfg, diff[i]);
            add(kept, sizeof(kept), "%s", diff[i]);
            nkept++;
        } else if (strcmp(diff[i], "log-level") == 0) {
            level = true;
        } else if (strcmp(diff[i], "log.format") == 0) {
            format = true;
        } else if (allow_list_key(diff[i])) {
            allow_lists = true;
        } else if (strncmp(diff[i], "relay.", 6) != 0) { /* the relay's hosts: below */
            add(others, sizeof(others), "%s", diff[i]);
        }
    }

    /* Validate the rest whole before changing anything. */
    struct sec_listener beats, syslog, tls, api = {.tls = NULL};
    struct relay_change relays;
    char why[2400];
    if (check_relay_hosts(s, next, &relays, kept, sizeof(kept), &nkept, why, sizeof(why)) < 0 ||
        server_security_build(next, syslog_tls, &beats, &syslog, &tls, why, sizeof(why)) < 0) {
        log_error("serve", "reload: %s; keeping the running configuration", why);
        config_free(next);
        free(next);
        return;
    }
    if (s->api && api_rules(next, &api, why, sizeof(why)) < 0) {
        log_error("serve", "reload: %s; keeping the running configuration", why);
        sec_listener_free(&beats);
        sec_listener_free(&syslog);
        sec_listener_free(&tls);
        config_free(next);
        free(next);
        return;
    }
    struct delivery_changes ch;
    int rc = delivery_update(s->delivery, &next->targets, &ch);
    if (rc < 0 && rc != -EAGAIN) { /* -EAGAIN: the targets are in place (the thread is not) */
        log_error("serve",
                  "reload: cannot apply the webhook targets (%s); keeping the running "
                  "configuration",
                  strerror(-rc));
        sec_listener_free(&beats);
        sec_listener_free(&syslog);
        sec_listener_free(&tls);
        sec_listener_free(&api);
        config_free(next);
        free(next);
        return;
    }

    /* Apply. The listeners' TLS options live in s->cfg: it takes the new values in place. */
    char summary[2048] = "";
    if (ch.added || ch.removed || ch.changed) {
        char parts[160] = "";
        if (ch.added)
            add(parts, sizeof(parts), "%zu added", ch.added);
        if (ch.removed)
            add(parts, sizeof(parts), "%zu removed", ch.removed);
        if (ch.changed)
            add(parts, sizeof(parts), "%zu changed", ch.changed);
        add(summary, sizeof(summary), "%zu webhook target%s (%s)", next->targets.n,
            next->targets.n == 1 ? "" : "s", parts);
    }
    if (allow_lists) {
        char names[64] = "";
        if (!sec_listener_same_rules(&s->beats_sec, &beats))
            add(names, sizeof(names), "beats");
        if (!sec_listener_same_rules(&s->syslog_sec, &syslog))
            add(names, sizeof(names), "syslog");
        if (!sec_listener_same_rules(&s->syslog_tls_sec, &tls))
            add(names, sizeof(names), "syslog-tls");
        if (s->api && !api_same_rules(s->api, &api))
            add(names, sizeof(names), "api");
        if (names[0])
            add(summary, sizeof(summary), "allow lists of %s", names);
    }
    struct target_list old_targets = s->cfg.targets;
    s->cfg = *next;
    free(next);
    target_list_free(&old_targets);
    sec_listener_replace(&s->beats_sec, &beats, &s->cfg.beats_tls);
    sec_listener_replace(&s->syslog_sec, &syslog, NULL);
    sec_listener_replace(&s->syslog_tls_sec, &tls, &s->cfg.syslog_tls_opts);
    sec_listener_free(&beats);
    sec_listener_free(&syslog);
    sec_listener_free(&tls);
    if (s->api) {
        api_take_rules(s->api, &api, &s->cfg);
        sec_listener_free(&api);
    }
    if (relays.beats) {
        rc = relay_update_hosts(s->relay, &relays.beats_hosts);
        if (rc < 0)
            log_error("serve", "reload: relay.beats.hosts: %s; the relay keeps its hosts",
                      strerror(-rc));
        else
            add(summary, sizeof(summary), "relay.beats.hosts");
    }
    if (relays.syslog) {
        rc = relay_update_hosts(s->syslog_relay, &relays.syslog_hosts);
        if (rc < 0)
            log_error("serve", "reload: relay.syslog.hosts: %s; the relay keeps its hosts",
                      strerror(-rc));
        else
            add(summary, sizeof(summary), "relay.syslog.hosts");
    }
    if (relays.syslog_udp) {
        s->syslog_relay_addr = relays.udp_addr;
        log_info("relay-syslog", "passing every syslog message on to %s over UDP",
                 relays.syslog_hosts.hosts[0]);
        add(summary, sizeof(summary), "relay.syslog.hosts");
    }
    if (level) {
        enum log_level l;
        log_parse_level(s->cfg.log_level, &l);
        log_set_level(l);
        add(summary, sizeof(summary), "log level %s", s->cfg.log_level);
    }
    if (format) {
        enum log_format f;
        log_parse_format(s->cfg.log_format, &f);
        log_set_format(f);
        add(summary, sizeof(summary), "log format %s", s->cfg.log_format);
    }
    if (others[0])
        add(summary, sizeof(summary), "%s", others);
    char certs[64] = "";
    if (s->beats_sec.tls)
        add(certs, sizeof(certs), "beats");
    if (s->syslog_tls_sec.tls)
        add(certs, sizeof(certs), "syslog-tls");
    if (s->api && api_tls(s->api))
        add(certs, sizeof(certs), "api");
    log_info("serve", "reload: %s%s%s%s%s%s", summary[0] ? summary : "nothing changed",
             certs[0] ? "; certificates and keys of " : "", certs, certs[0] ? " read again" : "",
             nkept ? "; kept until a restart: " : "", kept);
}
