/* amsiwatch serve: the daemon. Main thread only. */
#ifndef AMSI_SERVER_SERVE_H
#define AMSI_SERVER_SERVE_H

/* The subcommand's entry point; ARGV[0] is "serve". Returns the exit status: 0 after a clean stop,
 * 2 for a usage or configuration error, 3 for a runtime failure. */
int serve_main(int argc, char **argv);

#endif
