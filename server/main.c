/* amsiwatch: the entry point. Wiring only: picks the subcommand and hands over. */
#include <stdio.h>
#include <string.h>

#include "server/replay_cmd.h"
#include "server/serve.h"
#include "tools/gen.h"
#include "tools/journal_cmd.h"
#include "tools/replay.h"
#include "tools/scan.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", serve_main, "receive Beats traffic, detect, journal and forward every alert"},
    {"scan", scan_main, "run the AmsiEnable rule over NDJSON event files (offline)"},
    {"journal", journal_main, "list, show, tail, verify, export the alert journal; its stats"},
    {"gen", gen_main, "generate Windows events with AmsiEnable hits at an exact rate"},
    {"replay", replay_load_main, "load generator: replay events to a Beats or syslog receiver"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: amsiwatch COMMAND [OPTION]...\n"
               "Detects AMSI being switched off (AmsiEnable set to 0) in Windows events.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
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
    /* `journal replay` talks to webhooks, which only the server layer does. */
    if (strcmp(cmd, "journal") == 0 && argc > 2 && strcmp(argv[2], "replay") == 0)
        return replay_main(argc - 2, argv + 2);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "amsiwatch: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
