/* amsiwatch health: asks a running `serve` whether it is ready (GET /ready) or alive (GET
 * /health, with --live) through its HTTP endpoint, for Docker's HEALTHCHECK and scripts.
 * Main thread only. */
#ifndef AMSI_TOOLS_HEALTH_H
#define AMSI_TOOLS_HEALTH_H

/* The subcommand's entry point; ARGV[0] is "health". Prints one line and returns 0 (ready or
 * alive), 1 (not, or unreachable), or 2 on a usage error. */
int health_main(int argc, char **argv);

#endif
