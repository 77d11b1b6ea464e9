/* The configuration of `serve`: the table's defaults, YAML files over them (nested or dotted keys,
 * dashes or underscores), flags over the file, and the errors of a bad file (file, line, key). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../support/testutil.h"
#include "pipeline/workers.h"
#include "server/config.h"

TU_TEMPDIR_SUITE(config, dir);

/* Writes TEXT to NAME in the test's directory; returns its path (static). */
static const char *yaml(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* What config_load_file or config_parse_args wrote to ERR. */
static char errtext[4096];

/* The defaults, then the file holding TEXT. Returns config_load_file's result. */
static int load(struct config *c, const char *text)
{
    config_defaults(c);
    const char *path = yaml("amsiwatch.yml", text);
    FILE *err = fmemopen(errtext, sizeof(errtext), "w");
    cr_assert_not_null(err);
    int rc = config_load_file(c, path, err);
    fclose(err);
    return rc;
}

/* The defaults, then the file holding TEXT, which must be taken. */
static void loaded(struct config *c, const char *text)
{
    cr_assert_eq(load(c, text), 0, "%s", errtext);
}

/* Checks the file holding TEXT is refused, with an error naming LINE and KEY and saying WHY. */
static void refused(const char *text, int line, const char *key, const char *why)
{
    struct config c;
    cr_assert_eq(load(&c, text), -1, "accepted: %s", text);
    char want[512];
    snprintf(want, sizeof(want), "%s/amsiwatch.yml:%d: key '%s': ", dir, line, key);
    cr_assert_not_null(strstr(errtext, want), "\"%s\" is not in \"%s\"", want, errtext);
    cr_assert_not_null(strstr(errtext, why), "\"%s\" is not in \"%s\"", why, errtext);
    cr_assert_eq(strchr(errtext, '\n'), errtext + strlen(errtext) - 1, "one line: %s", errtext);
    config_free(&c);
}

/* A file that config_load_file refuses, and what its error says. */
struct bad {
    const char *text;
    int line;
    const char *key, *why;
};

static void refused_all(const struct bad *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        refused(b[i].text, b[i].line, b[i].key, b[i].why);
}

/* config_parse_args over the NULL-terminated flags after "serve". */
static char outtext[1 << 16];

static int parse(struct config *c, const char *first, ...)
{
    char *argv[32] = {"serve"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        cr_assert_lt(argc, 31);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    FILE *out = fmemopen(outtext, sizeof(outtext), "w");
    FILE *err = fmemopen(errtext, sizeof(errtext), "w");
    int rc = config_parse_args(c, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

Test(config, the_defaults_are_the_documented_ones)
{
    struct config c;
    config_defaults(&c);
    cr_assert_str_eq(c.data_dir, "./amsiwatch-data");
    cr_assert_str_eq(c.beats, "0.0.0.0:5044");
    cr_assert_str_eq(c.syslog_tcp, "0.0.0.0:5514");
    cr_assert_str_eq(c.syslog_udp, "0.0.0.0:5514");
    cr_assert_str_eq(c.syslog_tls, "0.0.0.0:6514");
    cr_assert_str_eq(c.profile, "elastic");
    cr_assert_str_eq(c.log_level, "info");
    cr_assert(!c.quiet);
    cr_assert_eq(c.workers, 0);
    cr_assert_eq(c.queue, 256);
    cr_assert_eq(c.journal_sync_interval_ms, 0);
    cr_assert_eq(c.journal_segment_bytes, 64u << 20);
    cr_assert_eq(c.journal_retention_bytes, 0);
    cr_assert_eq(c.journal_retention_ms, 0);
    cr_assert_eq(c.beats_max_window, 10000);
    cr_assert_eq(c.beats_max_json, 16u << 20);
    cr_assert_eq(c.beats_max_compressed, 64u << 20);
    cr_assert_eq(c.beats_max_pairs, 1024);
    cr_assert_eq(c.beats_max_item, 1u << 20);
    cr_assert_eq(c.beats_connection_budget, 64u << 20);
    cr_assert_eq(c.beats_global_budget, 128u << 20);
    cr_assert_eq(c.beats_max_connections, 20000);
    cr_assert_eq(c.beats_keepalive_ms, 3000);
    cr_assert_eq(c.beats_keepalive_max_ms, 300000);
    cr_assert_eq(c.beats_idle_timeout_ms, 60000);
    cr_assert_eq(c.beats_frame_timeout_ms, 30000);
    cr_assert_eq(c.shutdown_timeout_ms, 30000);
    cr_assert_eq(c.stats_interval_ms, 60000);
    cr_assert_str_eq(c.syslog_framing, "auto");
    cr_assert_str_eq(c.syslog_oversize, "truncate");
    cr_assert_eq(c.syslog_max_message, 64u << 10);
    cr_assert_eq(c.syslog_udp_buffer, 8u << 20);
    cr_assert_eq(c.syslog_batch_bytes, 1u << 20);
    cr_assert_eq(c.syslog_connection_budget, 16u << 20);
    cr_assert_eq(c.syslog_max_connections, 10000);
    cr_assert_eq(c.syslog_idle_timeout_ms, 0);
    cr_assert_str_eq(c.syslog_allow_networks, "");
    /* The worker pool's own defaults are these two keys' (pipeline/workers.h). */
    cr_assert_eq(c.beats_max_inflated, WORKERS_DEFAULT_MAX_INFLATED);
    cr_assert_eq(c.beats_max_ratio, WORKERS_DEFAULT_MAX_RATIO);
    const struct tls_options *tls[] = {&c.beats_tls, &c.syslog_tls_opts};
    for (int i = 0; i < 2; i++) {
        cr_assert(!tls[i]->ssl_enabled);
        cr_assert_str_eq(tls[i]->certificate, "");
        cr_assert_str_eq(tls[i]->key, "");
        cr_assert_str_eq(tls[i]->client_authentication, "none");
        cr_assert_str_eq(tls[i]->supported_protocols, "TLSv1.2\nTLSv1.3");
        cr_assert_str_eq(tls[i]->cipher_suites, "");
        cr_assert_eq(tls[i]->handshake_timeout_ms, 10000);
        cr_assert_str_eq(tls[i]->allow_networks, "");
        cr_assert_str_eq(tls[i]->allow_peers, "");
    }
    cr_assert_eq(c.lists_set, 0);
    cr_assert_eq(c.nwebhooks, 0);
    cr_assert_eq(c.targets.n, 0);
    /* No flags at all: the defaults stand. */
    cr_assert_eq(parse(&c, NULL), 0);
    cr_assert_eq(c.queue, 256);
    config_free(&c);
}

Test(config, a_file_overrides_the_keys_it_names_and_only_those)
{
    struct config c;
    loaded(&c, "# comment\n"
               "data-dir: /var/lib/amsiwatch\n"
               "beats: '[::1]:5045'\n"
               "syslog-udp: off\n"
               "profile: extended\n"
               "quiet: yes\n"
               "workers: 4\n"
               "journal:\n"
               "  sync-interval: 250ms\n"
               "  segment-size: 512KiB\n"
               "  retention-age: 7d\n"
               "beats.max-json: 1 MiB\n"
               "beats:\n"
               "  max-window: 500\n"
               "  keepalive: 30s\n"
               "  max-inflated: 1g\n"
               "syslog:\n"
               "  framing: octet\n"
               "  idle-timeout: 1h\n");
    cr_assert_str_eq(c.data_dir, "/var/lib/amsiwatch");
    cr_assert_str_eq(c.beats, "[::1]:5045");
    cr_assert_str_eq(c.syslog_udp, "off");
    cr_assert_str_eq(c.profile, "extended");
    cr_assert(c.quiet);
    cr_assert_eq(c.workers, 4);
    cr_assert_eq(c.journal_sync_interval_ms, 250);
    cr_assert_eq(c.journal_segment_bytes, 512u << 10);
    cr_assert_eq(c.journal_retention_ms, 7ull * 86400000);
    cr_assert_eq(c.beats_max_json, 1u << 20);
    cr_assert_eq(c.beats_max_window, 500);
    cr_assert_eq(c.beats_keepalive_ms, 30000);
    cr_assert_eq(c.beats_max_inflated, 1u << 30);
    cr_assert_str_eq(c.syslog_framing, "octet");
    cr_assert_eq(c.syslog_idle_timeout_ms, 3600000);
    /* Untouched keys keep their defaults. */
    cr_assert_str_eq(c.syslog_tcp, "0.0.0.0:5514");
    cr_assert_eq(c.queue, 256);
    cr_assert_eq(c.beats_max_ratio, 1000);
    cr_assert_eq(c.beats_idle_timeout_ms, 60000);
    cr_assert_str_eq(errtext, "");
    config_free(&c);
}

Test(config, keys_are_taken_with_underscores_as_with_dashes)
{
    struct config c;
    loaded(&c, "log_level: debug\n"
               "journal:\n"
               "  sync_interval: 5s\n"
               "  retention_size: 1GiB\n"
               "beats.max_window: 77\n"
               "beats:\n"
               "  ssl_enabled: true\n"
               "  ssl_certificate: /etc/amsi/cert.pem\n"
               "  ssl_client_authentication: required\n"
               "syslog_tls:\n"
               "  ssl_key: /etc/amsi/key.pem\n"
               "  ssl-handshake-timeout: 3s\n");
    cr_assert_str_eq(c.log_level, "debug");
    cr_assert_eq(c.journal_sync_interval_ms, 5000);
    cr_assert_eq(c.journal_retention_bytes, 1u << 30);
    cr_assert_eq(c.beats_max_window, 77);
    cr_assert(c.beats_tls.ssl_enabled);
    cr_assert_str_eq(c.beats_tls.certificate, "/etc/amsi/cert.pem");
    cr_assert_str_eq(c.beats_tls.client_authentication, "required");
    cr_assert_str_eq(c.syslog_tls_opts.key, "/etc/amsi/key.pem");
    cr_assert_eq(c.syslog_tls_opts.handshake_timeout_ms, 3000);
    /* config_set takes both spellings too. */
    char why[200];
    cr_assert_eq(config_set(&c, "beats.max_pairs", "9", why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(config_set(&c, "beats.max-item", "2KiB", why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(c.beats_max_pairs, 9);
    cr_assert_eq(c.beats_max_item, 2048);
    config_free(&c);
}

Test(config, a_listener_sits_beside_its_limits_as_listen)
{
    struct config c;
    loaded(&c, "beats:\n"
               "  listen: 127.0.0.1:6000\n"
               "  max-window: 10\n"
               "syslog-tls:\n"
               "  listen: off\n");
    cr_assert_str_eq(c.beats, "127.0.0.1:6000");
    cr_assert_eq(c.beats_max_window, 10);
    cr_assert_str_eq(c.syslog_tls, "off");
    config_free(&c);
}

Test(config, the_api_is_on_loopback_by_default_and_takes_its_address_as_api_address)
{
    struct config c;
    config_defaults(&c);
    cr_assert_str_eq(c.api, "127.0.0.1:9184");
    cr_assert_str_eq(c.api_tls.allow_networks, "");
    cr_assert(!c.api_tls.ssl_enabled);
    config_free(&c);
    loaded(&c, "api:\n"
               "  address: 0.0.0.0:9200\n"
               "  allow-networks: [10.0.0.0/8, 192.0.2.0/24]\n");
    cr_assert_str_eq(c.api, "0.0.0.0:9200");
    cr_assert_str_eq(c.api_tls.allow_networks, "10.0.0.0/8\n192.0.2.0/24");
    config_free(&c);
    cr_assert_eq(load(&c, "api: localhost\n"), -1);
    cr_assert(strstr(errtext, "'localhost' is not ADDR:PORT (or off)"), "%s", errtext);
    config_free(&c);
}

Test(config, flags_win_over_the_file_wherever_they_stand)
{
    const char *path = yaml("f.yml", "workers: 4\nqueue: 64\nquiet: true\nbeats:\n"
                                     "  max-window: 500\n");
    struct config c;
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--workers", "8", "--config", path, "--beats-max-window=9",
                       "--quiet=false", "--journal-sync-interval", "2s", NULL),
                 0, "%s", errtext);
    cr_assert_eq(c.workers, 8);
    cr_assert_eq(c.beats_max_window, 9);
    cr_assert(!c.quiet);
    cr_assert_eq(c.journal_sync_interval_ms, 2000);
    cr_assert_eq(c.queue, 64, "the file's value where no flag is given");
    config_free(&c);

    config_defaults(&c);
    cr_assert_eq(parse(&c, "-c", path, "--quiet", "--syslog-tls-ssl-certificate", "/c.pem", NULL),
                 0, "%s", errtext);
    cr_assert_eq(c.workers, 4);
    cr_assert(c.quiet);
    cr_assert_str_eq(c.syslog_tls_opts.certificate, "/c.pem");
    config_free(&c);
}

Test(config, bad_flags_are_refused_with_the_flag_named)
{
    struct config c;
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--workers", "257", NULL), -1);
    cr_assert_not_null(strstr(errtext, "--workers: 257 is outside 0 to 256"), "%s", errtext);
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--profile", "strict", NULL), -1);
    cr_assert_not_null(strstr(errtext, "--profile: 'strict' is not one of elastic|extended"), "%s",
                       errtext);
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--no-such-flag", NULL), -1);
    cr_assert_not_null(strstr(errtext, "amsiwatch serve --help"), "%s", errtext);
    config_defaults(&c);
    cr_assert_eq(parse(&c, "stray", NULL), -1);
    cr_assert_not_null(strstr(errtext, "unexpected argument 'stray'"), "%s", errtext);
    /* A broken file named by --config fails the command line. */
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--config", yaml("bad.yml", "workers: lots\n"), NULL), -1);
    cr_assert_not_null(strstr(errtext, "bad.yml:1: key 'workers': 'lots' is not a whole number"),
                       "%s", errtext);
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--config", "/nonexistent/amsiwatch.yml", NULL), -1);
    cr_assert_not_null(strstr(errtext, "cannot read /nonexistent/amsiwatch.yml"), "%s", errtext);
    config_free(&c);
}

Test(config, help_prints_every_option_and_asks_to_exit)
{
    struct config c;
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--help", NULL), 1);
    cr_assert_not_null(strstr(outtext, "usage: amsiwatch serve"));
    cr_assert_not_null(strstr(outtext, "--journal-sync-interval DURATION"));
    cr_assert_not_null(strstr(outtext, "--beats-max-ratio N"));
    cr_assert_not_null(strstr(outtext, "(default 64MiB)"));
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--help-markdown", NULL), 1);
    cr_assert_not_null(
        strstr(outtext, "| `profile` | `--profile elastic\\|extended` | `elastic` |"), "%s",
        outtext);
    config_free(&c);
}

static const struct bad unknown_keys[] = {
    {"workers: 2\n\nnosuch: 1\n", 3, "nosuch", "unknown key"},
    {"beats:\n  max-window: 3\n  max-windw: 4\n", 3, "beats.max-windw", "unknown key"},
    {"journal.sync-intervals: 1s\n", 1, "journal.sync-intervals", "unknown key"},
};

Test(config, an_unknown_key_is_refused_with_its_line)
{
    refused_all(unknown_keys, sizeof(unknown_keys) / sizeof(unknown_keys[0]));
    /* A mapping under a key that takes a value is a key of its own, and unknown. */
    refused("workers:\n  count: 2\n", 2, "workers.count", "unknown key");
}

static const struct bad bad_values[] = {
    /* Of the wrong type. */
    {"queue: 16\nworkers: many\n", 2, "workers", "'many' is not a whole number"},
    {"workers: -1\n", 1, "workers", "'-1' is not a whole number"},
    {"workers: 2.5\n", 1, "workers", "'2.5' is not a whole number"},
    {"quiet: maybe\n", 1, "quiet", "'maybe' is not true or false"},
    {"journal:\n  segment-size: 12 parsecs\n", 2, "journal.segment-size", "is not a size"},
    {"beats:\n  keepalive: soon\n", 2, "beats.keepalive", "is not a duration"},
    {"beats.keepalive: 5 weeks\n", 1, "beats.keepalive", "is not a duration"},
    {"profile: strict\n", 1, "profile", "'strict' is not one of elastic|extended"},
    {"syslog:\n  oversize: split\n", 2, "syslog.oversize", "is not one of truncate|drop"},
    {"beats: localhost\n", 1, "beats", "'localhost' is not ADDR:PORT (or off)"},
    {"syslog-tcp: 10.0.0.1:\n", 1, "syslog-tcp", "is not ADDR:PORT"},
    {"syslog-tcp: ':5514'\n", 1, "syslog-tcp", "is not ADDR:PORT"},
    {"syslog-udp: 10.0.0.1:70000\n", 1, "syslog-udp", "is not ADDR:PORT"},
    {"workers: [1, 2]\n", 1, "workers", "takes one value, not a list"},
    {"journal.sync-interval: 1m 1ms\n", 1, "journal.sync-interval", "is not a duration"},
    /* Out of range. */
    {"workers: 257\n", 1, "workers", "257 is outside 0 to 256"},
    {"queue: 1\n", 1, "queue", "1 is outside 2 to 1048576"},
    {"queue: 1048577\n", 1, "queue", "1048577 is outside 2 to 1048576"},
    {"beats:\n  max-ratio: 1\n", 2, "beats.max-ratio", "1 is outside 2 to 1000000"},
    {"beats.max-inflated: 1023\n", 1, "beats.max-inflated", "1023 is outside 1024 to"},
    {"beats.max-inflated: 2049MiB\n", 1, "beats.max-inflated", "is outside 1024 to"},
    {"beats.keepalive: 99ms\n", 1, "beats.keepalive", "99 is outside 100 to 60000"},
    {"beats.keepalive: 61s\n", 1, "beats.keepalive", "61000 is outside 100 to 60000"},
    /* Past 64 bits, in the number or once multiplied by its unit. */
    {"journal.retention-size: 18446744073709551616\n", 1, "journal.retention-size",
     "is not a size"},
    {"journal.retention-size: 17179869184GiB\n", 1, "journal.retention-size", "is not a size"},
    {"journal.retention-age: 213503982335d\n", 1, "journal.retention-age", "is not a duration"},
};

Test(config, a_bad_value_is_refused_with_its_key_and_line)
{
    refused_all(bad_values, sizeof(bad_values) / sizeof(bad_values[0]));
    refused("data-dir: \"a\\0b\"\n", 1, "data-dir", "the value holds a NUL character");
}

Test(config, numbers_are_taken_at_the_ends_of_their_range)
{
    struct config c;
    loaded(&c, "workers: 256\nqueue: 2\nbeats:\n  max-ratio: 1000000\n"
               "  max-inflated: 2GiB\n  keepalive: 100ms\n"
               "journal.retention-size: 18446744073709551615\n");
    cr_assert_eq(c.workers, 256);
    cr_assert_eq(c.queue, 2);
    cr_assert_eq(c.beats_max_ratio, 1000000);
    cr_assert_eq(c.beats_max_inflated, 1ull << 31);
    cr_assert_eq(c.beats_keepalive_ms, 100);
    cr_assert_eq(c.journal_retention_bytes, UINT64_MAX);
    config_free(&c);
    loaded(&c, "workers: 0\nqueue: 1048576\nbeats.max-inflated: 1KiB\n");
    cr_assert_eq(c.queue, 1048576);
    cr_assert_eq(c.beats_max_inflated, 1024);
    config_free(&c);
}

Test(config, text_values_are_refused_past_their_buffer)
{
    char text[1200], value[1100];
    memset(value, 'd', 1023);
    value[1023] = '\0';
    snprintf(text, sizeof(text), "data-dir: /%s\n", value + 1);
    struct config c;
    cr_assert_eq(load(&c, text), 0, "1023 characters fit: %s", errtext);
    cr_assert_eq(strlen(c.data_dir), 1023);
    config_free(&c);
    snprintf(text, sizeof(text), "data-dir: /%s\n", value);
    refused(text, 1, "data-dir", "value longer than 1023 characters");
}

Test(config, lists_replace_their_default_then_grow)
{
    struct config c;
    loaded(&c, "beats:\n"
               "  ssl-supported-protocols: TLSv1.3\n"
               "  allow-networks: [10.0.0.0/8, '192.168.0.0/16, 172.16.0.0/12']\n"
               "  ssl-allow-peers:\n"
               "    - CN=beat-1,O=Example\n"
               "    - sha256:00ff\n");
    cr_assert_str_eq(c.beats_tls.supported_protocols, "TLSv1.3");
    cr_assert_str_eq(c.beats_tls.allow_networks, "10.0.0.0/8\n192.168.0.0/16\n172.16.0.0/12");
    /* A subject keeps its commas. */
    cr_assert_str_eq(c.beats_tls.allow_peers, "CN=beat-1,O=Example\nsha256:00ff");
    cr_assert_str_eq(c.syslog_tls_opts.supported_protocols, "TLSv1.2\nTLSv1.3");
    /* A flag adds to what the file gave. */
    cr_assert_eq(parse(&c, "--beats-ssl-supported-protocols", "TLSv1.2", NULL), 0, "%s", errtext);
    cr_assert_str_eq(c.beats_tls.supported_protocols, "TLSv1.3\nTLSv1.2");
    config_free(&c);
    /* A flag alone replaces the default. */
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--syslog-allow-networks", "10.1.0.0/16", "--syslog-allow-networks",
                       "10.2.0.0/16", NULL),
                 0, "%s", errtext);
    cr_assert_str_eq(c.syslog_allow_networks, "10.1.0.0/16\n10.2.0.0/16");
    config_free(&c);
    /* A list item under a list of mappings is not a value. */
    refused("beats:\n  allow-networks:\n    - {a: 1}\n", 3, "beats.allow-networks",
            "expected a list of values");
}

Test(config, webhooks_come_from_the_file_then_the_flags)
{
    const char *path = yaml("hooks.yml", "webhooks:\n"
                                         "  - url: https://hooks.example.com/a\n"
                                         "  - name: ops\n"
                                         "    url: https://hooks.example.com/b\n");
    struct config c;
    config_defaults(&c);
    cr_assert_eq(parse(&c, "--config", path, "--webhook", "https://hooks.example.com/c", NULL), 0,
                 "%s", errtext);
    cr_assert_eq(c.targets.n, 3);
    cr_assert_str_eq(c.targets.v[0].name, "webhook-1");
    cr_assert_str_eq(c.targets.v[0].url, "https://hooks.example.com/a");
    cr_assert_str_eq(c.targets.v[1].name, "ops");
    cr_assert_str_eq(c.targets.v[2].url, "https://hooks.example.com/c");
    config_free(&c);

    config_defaults(&c);
    cr_assert_eq(
        parse(&c, "--config", path, "--webhook", "ops=generic:https://hooks.example.com/d", NULL),
        -1);
    cr_assert_not_null(strstr(errtext, "two webhook targets are named 'ops'"), "%s", errtext);
    config_free(&c);

    /* At most CONFIG_MAX_LIST flags. */
    config_defaults(&c);
    char why[200];
    for (int i = 0; i < CONFIG_MAX_LIST; i++)
        cr_assert_eq(config_set(&c, "webhook", "https://hooks.example.com/x", why, sizeof(why)), 0);
    cr_assert_eq(config_set(&c, "webhook", "https://hooks.example.com/x", why, sizeof(why)), -1);
    cr_assert_str_eq(why, "at most 16 values");
    config_free(&c);

    struct config d;
    cr_assert_eq(load(&d, "webhooks:\n  - https://hooks.example.com/a\n"), -1);
    cr_assert_not_null(strstr(errtext, "amsiwatch.yml:2: webhooks: each target is a mapping"), "%s",
                       errtext);
    config_free(&d);
}

Test(config, a_file_that_is_not_a_mapping_or_not_yaml_is_refused_with_its_line)
{
    struct config c;
    cr_assert_eq(load(&c, "workers: 2\nqueue: 16: 32\n"), -1);
    cr_assert_not_null(strstr(errtext, "amsiwatch.yml:"), "%s", errtext);
    cr_assert_not_null(strstr(errtext, "YAML error"), "%s", errtext);
    config_free(&c);
    cr_assert_eq(load(&c, "\n- workers\n"), -1);
    cr_assert_not_null(strstr(errtext, "amsiwatch.yml:2: the file must be a mapping"), "%s",
                       errtext);
    config_free(&c);
    cr_assert_eq(load(&c, "just text\n"), -1);
    cr_assert_not_null(strstr(errtext, "the file must be a mapping"), "%s", errtext);
    config_free(&c);
    /* An empty file changes nothing. */
    loaded(&c, "");
    cr_assert_eq(c.queue, 256);
    config_free(&c);
}

/* What a reload compares: the options whose values differ, by key, however the file spelled or
 * ordered them; which of them need a restart; and a running value put back. */
Test(config, the_diff_names_each_option_that_changed_and_only_those)
{
    struct config a, b;
    loaded(&a, "workers: 2\nlog-level: info\nsyslog.allow-networks: 10.0.0.0/8\n"
               "beats:\n  ssl-supported-protocols: [TLSv1.3]\n");
    loaded(&b, "beats.ssl_supported_protocols: TLSv1.3\nsyslog:\n  allow-networks: "
               "[10.0.0.0/8, 192.168.0.0/16]\nlog-level: debug\nworkers: 2\n"
               "relay.beats.hosts: a:5044\n");
    const char *names[8];
    size_t n = config_diff(&a, &b, names, 8);
    cr_assert_eq(n, 3, "%zu options differ", n);
    cr_assert_str_eq(names[0], "log-level");
    cr_assert_str_eq(names[1], "syslog.allow-networks");
    cr_assert_str_eq(names[2], "relay.beats.hosts");
    cr_assert_eq(config_diff(&a, &a, names, 8), 0);
    cr_assert_eq(config_diff(&a, &b, names, 1), 3, "the count goes past MAX");

    cr_assert(config_needs_restart("workers"));
    cr_assert(config_needs_restart("data-dir"));
    cr_assert(config_needs_restart("beats"));
    cr_assert(config_needs_restart("journal.segment-size"));
    cr_assert(config_needs_restart("relay.beats.loadbalance"));
    cr_assert(config_needs_restart("relay.syslog.transport"));
    cr_assert(!config_needs_restart("relay.beats.hosts"));
    cr_assert(!config_needs_restart("relay.syslog.hosts"));
    cr_assert(!config_needs_restart("log-level"));
    cr_assert(!config_needs_restart("syslog.allow-networks"));
    cr_assert(!config_needs_restart("beats.ssl-certificate"));
    cr_assert(!config_needs_restart("beats.allow-networks"));

    config_copy_option(&b, &a, "syslog.allow-networks");
    config_copy_option(&b, &a, "log-level");
    n = config_diff(&a, &b, names, 8);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(names[0], "relay.beats.hosts");
    config_free(&a);
    config_free(&b);
}
