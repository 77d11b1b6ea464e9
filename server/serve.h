/* amsiwatch serve: the daemon. Main thread only. */
#ifndef AMSI_SERVER_SERVE_H
#define AMSI_SERVER_SERVE_H

/* The subcommand's entry point; ARGV[0] is "serve". Returns the exit status: 0 after a clean stop,
 * 2 for a usage or configuration error, 3 for a runtime failure. */
int serve_main(int argc, char **argv);

/* `amsiwatch check-config`; ARGV[0] is "check-config", the options are serve's. Loads and checks
 * the configuration as serve_main does (the file, the flags, the TLS files, the relays, the
 * listeners' addresses) without binding, opening the journal or starting a thread. Returns 0
 * after printing "configuration OK" on standard output, 2 after printing what is wrong on
 * standard error. */
int check_config_main(int argc, char **argv);

#endif
