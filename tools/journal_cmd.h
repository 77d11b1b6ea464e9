/* amsiwatch journal: list, show, tail, verify, export and stats over a data directory's journal.
 * Main thread only. */
#ifndef AMSI_TOOLS_JOURNAL_CMD_H
#define AMSI_TOOLS_JOURNAL_CMD_H

/* The subcommand's entry point; ARGV[0] is "journal". Returns the exit status. */
int journal_main(int argc, char **argv);

#endif
