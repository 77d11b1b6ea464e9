/* amsiwatch gen: writes a generated stream of Windows events (see tools/gen_events.h) as NDJSON,
 * an LZ4 frame or syslog lines, and says how many alerts each profile must raise over it.
 * Main thread only. */
#ifndef AMSI_TOOLS_GEN_H
#define AMSI_TOOLS_GEN_H

/* The subcommand's entry point; ARGV[0] is "gen". Returns the exit status: 0, 1 when the output
 * could not be written, 2 on a usage error. */
int gen_main(int argc, char **argv);

#endif
