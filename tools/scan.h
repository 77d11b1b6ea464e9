/* amsiwatch scan: runs the rule over NDJSON event files offline. Main thread only. */
#ifndef AMSI_TOOLS_SCAN_H
#define AMSI_TOOLS_SCAN_H

/* The subcommand's entry point; ARGV[0] is "scan". Returns the exit status: 0 alerts found,
 * 1 none, 2 usage or read error. */
int scan_main(int argc, char **argv);

#endif
