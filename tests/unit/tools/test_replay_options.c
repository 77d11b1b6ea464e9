/* amsiwatch replay's command line: argv in, a struct rp_opts or one line naming the wrong option
 * out. */
#include <criterion/criterion.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tools/replay_int.h"

#define MAX_ARGS 48

static char *args[MAX_ARGS + 1];
static struct rp_opts o;
static char why[512];

/* Parses "replay" followed by the arguments given (NULL-terminated). getopt_long permutes ARGV,
 * so it gets copies. */
static int parse(const char *first, ...)
{
    static char store[MAX_ARGS][300];
    int argc = 0;
    snprintf(store[argc], sizeof(store[argc]), "replay");
    args[argc] = store[argc];
    argc++;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        cr_assert_lt(argc, MAX_ARGS);
        snprintf(store[argc], sizeof(store[argc]), "%s", a);
        args[argc] = store[argc];
        argc++;
    }
    va_end(ap);
    args[argc] = NULL;
    why[0] = '\0';
    opterr = 0; /* getopt_long's own message would go to standard error */
    return rp_options_parse(argc, args, &o, why, sizeof(why));
}

/* Parses, and expects an error whose line contains WANT. */
#define expect_error(want, ...)                                                                    \
    do {                                                                                           \
        cr_expect_eq(parse(__VA_ARGS__, NULL), RP_PARSE_ERROR, "no error for %s", want);           \
        cr_expect(strstr(why, want) != NULL, "'%s' is not in '%s'", want, why);                    \
    } while (0)

Test(replay_options, defaults)
{
    cr_assert_eq(parse("127.0.0.1:5044", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.target, "127.0.0.1:5044");
    cr_expect_str_eq(o.host, "127.0.0.1");
    cr_expect_str_eq(o.port, "5044");
    cr_expect_eq(o.proto, RP_PROTO_BEATS);
    cr_expect_eq(o.version, 2);
    cr_expect_eq(o.connections, 1);
    cr_expect_eq(o.window, 2048);
    cr_expect_eq(o.pipelining, 2);
    cr_expect_eq(o.level, 3);
    cr_expect(o.rate == 0);
    cr_expect_eq(o.count, 0);
    cr_expect_eq(o.duration_ms, 0);
    cr_expect_eq(o.ack_timeout_ms, 30000);
    cr_expect(!o.loop && !o.precompress && !o.no_reconnect && !o.json && !o.lf);
    cr_expect(o.progress);
    cr_expect_eq(o.max_input, (size_t)1 << 30);
    cr_expect_eq(o.max_event, (size_t)4 << 20);
    cr_expect_eq(o.npaths, 0);
    cr_expect(!o.tls && !o.tls_insecure && !o.tls_ca && !o.tls_cert && !o.tls_key);
    cr_expect_str_eq(o.tls_server_name, "");
}

Test(replay_options, every_option)
{
    cr_assert_eq(parse("--target", "[::1]:6000", "--protocol", "beats", "--lumberjack", "1", "-c",
                       "8", "-w", "500", "-z", "0", "--pipelining", "4", "-r", "2500", "-n", "3M",
                       "-d", "1.5s", "-l", "--ack-timeout", "500ms", "--no-reconnect",
                       "--no-progress", "--max-input", "2g", "--max-event", "65536", "--tls",
                       "--tls-ca", "ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem",
                       "--tls-server-name", "receiver.example", "a.ndjson", "b.ndjson.lz4", NULL),
                 RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.target, "[::1]:6000");
    cr_expect_str_eq(o.host, "::1");
    cr_expect_str_eq(o.port, "6000");
    cr_expect_eq(o.version, 1);
    cr_expect_eq(o.connections, 8);
    cr_expect_eq(o.window, 500);
    cr_expect_eq(o.level, 0);
    cr_expect_eq(o.pipelining, 4);
    cr_expect(o.rate == 2500, "rate %f", o.rate);
    cr_expect_eq(o.count, 3000000);
    cr_expect_eq(o.duration_ms, 1500);
    cr_expect(o.loop && o.no_reconnect && !o.progress);
    cr_expect_eq(o.ack_timeout_ms, 500);
    cr_expect_eq(o.max_input, 2000000000);
    cr_expect_eq(o.max_event, 65536);
    cr_expect(o.tls && !o.tls_insecure);
    cr_expect_str_eq(o.tls_ca, "ca.pem");
    cr_expect_str_eq(o.tls_cert, "c.pem");
    cr_expect_str_eq(o.tls_key, "k.pem");
    cr_expect_str_eq(o.tls_server_name, "receiver.example");
    cr_assert_eq(o.npaths, 2);
    cr_expect_str_eq(o.paths[0], "a.ndjson");
    cr_expect_str_eq(o.paths[1], "b.ndjson.lz4");
}

Test(replay_options, target_first_then_files_and_options_in_any_order)
{
    cr_assert_eq(parse("host.example:5514", "--proto", "syslog-tcp", "events.ndjson", "--framing",
                       "lf", "--json", NULL),
                 RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.host, "host.example");
    cr_expect_str_eq(o.port, "5514");
    cr_expect_eq(o.proto, RP_PROTO_SYSLOG_TCP);
    cr_expect(o.lf);
    cr_expect(o.json);
    cr_expect(!o.progress, "--json prints no progress line");
    cr_assert_eq(o.npaths, 1);
    cr_expect_str_eq(o.paths[0], "events.ndjson");
}

Test(replay_options, syslog_protocols)
{
    cr_assert_eq(parse("-p", "syslog-udp", "h:514", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_eq(o.proto, RP_PROTO_SYSLOG_UDP);
    cr_assert_eq(parse("-p", "syslog-tcp", "--framing", "octet", "h:514", NULL), RP_PARSE_RUN, "%s",
                 why);
    cr_expect_eq(o.proto, RP_PROTO_SYSLOG_TCP);
    cr_expect(!o.lf);
    cr_expect_str_eq(rp_proto_name(RP_PROTO_BEATS), "beats");
    cr_expect_str_eq(rp_proto_name(RP_PROTO_SYSLOG_TCP), "syslog-tcp");
    cr_expect_str_eq(rp_proto_name(RP_PROTO_SYSLOG_UDP), "syslog-udp");
}

Test(replay_options, durations)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } cases[] = {
        {"30s", 30000},   {"1.5s", 1500},  {"500ms", 500}, {"2m", 120000},
        {"2min", 120000}, {"1h", 3600000}, {"7", 7000},    {"0.0004", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(parse("--ack-timeout", "1s", "-d", cases[i].text, "h:1", NULL),
                     cases[i].ms ? RP_PARSE_RUN : RP_PARSE_ERROR, "%s: %s", cases[i].text, why);
        if (cases[i].ms)
            cr_expect_eq(o.duration_ms, cases[i].ms, "%s", cases[i].text);
    }
}

Test(replay_options, counts_and_rates)
{
    cr_assert_eq(parse("-n", "2k", "-r", "unlimited", "h:1", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_eq(o.count, 2000);
    cr_expect(o.rate == 0);
    cr_assert_eq(parse("-n", "1G", "-r", "0", "h:1", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_eq(o.count, 1000000000);
    cr_expect(o.rate == 0);
    cr_assert_eq(parse("-r", "1e6", "h:1", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect(o.rate == 1e6);
}

Test(replay_options, tls_server_name_defaults_to_the_host)
{
    cr_assert_eq(parse("--tls", "receiver.example:5044", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.tls_server_name, "receiver.example");
    cr_assert_eq(parse("--tls", "--tls-insecure", "[fe80::1]:5044", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.tls_server_name, "fe80::1");
    cr_expect(o.tls_insecure);
    cr_assert_eq(parse("h:1", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.tls_server_name, "", "without --tls there is no server name");
}

Test(replay_options, bad_values)
{
    expect_error("--protocol: 'http' is not beats, syslog-tcp or syslog-udp", "-p", "http", "h:1");
    expect_error("--lumberjack: '3' is not 1 or 2", "--lumberjack", "3", "h:1");
    expect_error("--connections: '0' is not 1-100000", "-c", "0", "h:1");
    expect_error("--connections: '100001' is not 1-100000", "-c", "100001", "h:1");
    expect_error("--connections: '-1' is not", "-c", "-1", "h:1");
    expect_error("--window: '10001' is not 1-10000", "-w", "10001", "h:1");
    expect_error("--window: '2x' is not", "-w", "2x", "h:1");
    expect_error("--compression: '10' is not 0-9", "-z", "10", "h:1");
    expect_error("--pipelining: '1001' is not 1-1000", "--pipelining", "1001", "h:1");
    expect_error("--rate: '-5' is not events per second", "-r", "-5", "h:1");
    expect_error("--rate: 'fast' is not events per second", "-r", "fast", "h:1");
    expect_error("--count: '0' is not a positive number of events", "-n", "0", "h:1");
    expect_error("--duration: '0' is not a duration", "-d", "0", "h:1");
    expect_error("--duration: '5 s' is not a duration", "-d", "5 s", "h:1");
    expect_error("--duration: '3d' is not a duration", "-d", "3d", "h:1");
    expect_error("--framing: 'nul' is not octet or lf", "--framing", "nul", "h:1");
    expect_error("--ack-timeout: '50ms' is not a duration of at least 100ms", "--ack-timeout",
                 "50ms", "h:1");
    expect_error("--max-input: '1000' is not a size in bytes (at least 1024)", "--max-input",
                 "1000", "h:1");
    expect_error("--max-event: '2T' is not a size in bytes", "--max-event", "2T", "h:1");
    expect_error("--tls-server-name: '' is not a host name", "--tls", "--tls-server-name", "",
                 "h:1");
}

Test(replay_options, options_that_do_not_go_together)
{
    expect_error("--framing applies to --protocol syslog-tcp only", "--framing", "lf", "h:1");
    expect_error("--framing applies to --protocol syslog-tcp only", "-p", "syslog-udp", "--framing",
                 "octet", "h:1");
    expect_error("--precompress needs --lumberjack 2", "--precompress", "--lumberjack", "1", "h:1");
    expect_error("need --tls", "--tls-ca", "ca.pem", "h:1");
    expect_error("need --tls", "--tls-insecure", "h:1");
    expect_error("need --tls", "--tls-server-name", "x", "h:1");
    expect_error("--tls applies to --protocol beats and syslog-tcp, not syslog-udp", "--tls", "-p",
                 "syslog-udp", "h:1");
    expect_error("--tls-cert and --tls-key go together", "--tls", "--tls-cert", "c.pem", "h:1");
    expect_error("--tls-cert and --tls-key go together", "--tls", "--tls-key", "k.pem", "h:1");
    expect_error("--tls-insecure verifies nothing: it cannot go with --tls-ca", "--tls",
                 "--tls-insecure", "--tls-ca", "ca.pem", "h:1");
    /* --precompress with syslog is allowed (and does nothing). */
    cr_expect_eq(parse("--precompress", "--lumberjack", "1", "-p", "syslog-tcp", "h:1", NULL),
                 RP_PARSE_RUN, "%s", why);
}

Test(replay_options, targets)
{
    expect_error("no target: give HOST:PORT", "--json");
    expect_error("target 'h' is not HOST:PORT", "h");
    expect_error("target ':80' is not HOST:PORT", ":80");
    expect_error("target 'h:0' is not HOST:PORT", "h:0");
    expect_error("target 'h:65536' is not HOST:PORT", "h:65536");
    expect_error("target 'h:' is not HOST:PORT", "h:");
    expect_error("target 'h:80x' is not HOST:PORT", "h:80x");
    expect_error("target '::1:80' is not HOST:PORT ([IPv6]:PORT for IPv6", "::1:80");
    expect_error("target '[::1]80' is not HOST:PORT", "[::1]80");
    expect_error("target '[::1:80' is not HOST:PORT", "[::1:80");
    cr_assert_eq(parse("-t", "h:65535", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.port, "65535");
    cr_expect_eq(o.npaths, 0);
    /* With --target, the first argument is a file. */
    cr_assert_eq(parse("-t", "h:1", "h:2", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_str_eq(o.host, "h");
    cr_expect_str_eq(o.port, "1");
    cr_assert_eq(o.npaths, 1);
    cr_expect_str_eq(o.paths[0], "h:2");
}

Test(replay_options, help)
{
    cr_expect_eq(parse("--help", NULL), RP_PARSE_HELP);
    cr_expect_eq(parse("-c", "0", "-h", NULL), RP_PARSE_ERROR, "options are read in order");
    cr_expect_eq(parse("h:1", "-h", NULL), RP_PARSE_HELP);
}

Test(replay_options, what_getopt_rejects)
{
    cr_expect_eq(parse("--frobnicate", "h:1", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "--frobnicate: not an option, or its value is missing or not allowed");
    cr_expect_eq(parse("--json=yes", "h:1", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "--json: not an option, or its value is missing or not allowed");
    cr_expect_eq(parse("h:1", "--window", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "--window: not an option, or its value is missing or not allowed");
    cr_expect_eq(parse("-q", "h:1", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "-q: not an option, or its value is missing");
    cr_expect_eq(parse("h:1", "-c", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "-c: not an option, or its value is missing");
    cr_expect_eq(parse("-lq", "h:1", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "-q: not an option, or its value is missing");
    /* --tls-c could be --tls-ca or --tls-cert. */
    cr_expect_eq(parse("--tls", "--tls-c", "x", "h:1", NULL), RP_PARSE_USAGE);
    cr_expect_str_eq(why, "--tls-c: not an option, or its value is missing or not allowed");
}

Test(replay_options, parses_again_from_the_start)
{
    cr_assert_eq(parse("-c", "4", "--json", "a:1", "f1", NULL), RP_PARSE_RUN, "%s", why);
    cr_assert_eq(parse("b:2", NULL), RP_PARSE_RUN, "%s", why);
    cr_expect_eq(o.connections, 1, "a second parse starts from the defaults");
    cr_expect(!o.json);
    cr_expect_str_eq(o.host, "b");
    cr_expect_eq(o.npaths, 0);
}

Test(replay_options, usage_names_every_option)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert(f);
    rp_usage(f);
    fclose(f);
    static const char *const names[] = {
        "--target",       "--protocol",   "--lumberjack",      "--connections",  "--window",
        "--compression",  "--pipelining", "--precompress",     "--rate",         "--count",
        "--duration",     "--loop",       "--framing",         "--tls",          "--tls-ca",
        "--tls-cert",     "--tls-key",    "--tls-server-name", "--tls-insecure", "--ack-timeout",
        "--no-reconnect", "--json",       "--no-progress",     "--max-input",    "--max-event",
        "--help",         "1-10000",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_expect(strstr(text, names[i]) != NULL, "the help does not name %s", names[i]);
    free(text);
}
