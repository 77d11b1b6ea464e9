/* amsiwatch: the entry point. Wiring only: picks the subcommand and hands over. The one file that
 * sees both the daemon (server/) and the other subcommands (tools/). */
#include <stdio.h>
#include <string.h>

#include "server/config.h"
#include "server/serve.h"
#include "tools/gen.h"
#include "tools/health.h"
#include "tools/journal_cmd.h"
#include "tools/replay.h"
#include "tools/scan.h"

/* `journal replay --config` reads serve's configuration file: tools/ gets server/'s reader. */
static int config_load(void *cfg, const char *path, FILE *err)
{
    return config_load_file(cfg, path, err);
}

static struct target_list *config_targets(void *cfg)
{
    return &((struct config *)cfg)->targets;
}

static const char *config_data_dir(void *cfg)
{
    return ((struct config *)cfg)->data_dir;
}

static int journal_run(int argc, char **argv)
{
    struct config cfg;
    config_defaults(&cfg);
    struct journal_config conf = {&cfg, config_load, config_targets, config_data_dir};
    int status = journal_cmd_main(argc, argv, &conf);
    config_free(&cfg);
    return status;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", serve_main, "receive Beats traffic, detect, journal and forward every alert"},
    {"check-config", check_config_main, "check serve's configuration without starting it"},
    {"scan", scan_main, "run the AmsiEnable rule over NDJSON event files (offline)"},
    {"journal", journal_run, "list, show, tail, verify, export the alert journal; its stats"},
    {"gen", gen_main, "generate Windows events with AmsiEnable hits at an exact rate"},
    {"replay", replay_main, "load generator: replay events to a Beats or syslog receiver"},
    {"health", health_main, "ask a running serve whether it is ready (for HEALTHCHECK)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: amsiwatch COMMAND [OPTION]...\n"
               "Detects AMSI being switched off (AmsiEnable set to 0) in Windows events.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n\"amsiwatch COMMAND --help\" lists the options of COMMAND.\n"
               "  --version  print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("amsiwatch %s\n", AMSIWATCH_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "amsiwatch: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
