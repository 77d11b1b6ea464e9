/* amsiwatch journal: list, show, tail, verify, export and stats over a data directory's journal,
 * and replay, which sends journaled alerts to a webhook target again (all of a range or the ones
 * marked dead). Main thread only. */
#ifndef AMSI_TOOLS_JOURNAL_CMD_H
#define AMSI_TOOLS_JOURNAL_CMD_H

#include <stdio.h>

struct target_list;

/* `journal replay --config FILE` takes its webhook targets and data directory from serve's
 * configuration file. That file is the daemon's (server/config.h), which tools/ does not see, so
 * the caller lends it: CFG is a configuration with its defaults applied; LOAD applies the file
 * PATH to it (0, or -1 after printing why to ERR); TARGETS and DATA_DIR read it. */
struct journal_config {
    void *cfg;
    int (*load)(void *cfg, const char *path, FILE *err);
    struct target_list *(*targets)(void *cfg);
    const char *(*data_dir)(void *cfg);
};

/* The subcommand's entry point; ARGV[0] is "journal". CONF serves `journal replay`. Returns the
 * exit status; replay's: 0 all sent, 1 some refused, 2 usage or configuration error, 3 runtime
 * failure. */
int journal_cmd_main(int argc, char **argv, const struct journal_config *conf);

#endif
