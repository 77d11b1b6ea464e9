/* amsiwatch replay: a load generator for Beats (Lumberjack v1/v2) and syslog (TCP, UDP)
 * receivers. It replays NDJSON events (plain or LZ4, files or standard input) over many
 * connections from one libuv loop, checks every ACK, and reports throughput and ACK latency.
 * Main thread only (it runs its own loop; window compression uses the libuv thread pool). */
#ifndef AMSI_TOOLS_REPLAY_H
#define AMSI_TOOLS_REPLAY_H

/* The subcommand's entry point; ARGV[0] is "replay". Returns the exit status: 0 every event
 * sent (and, for Beats, acknowledged), 2 usage or input error, 3 a failure during the run (an
 * ACK error, an ACK timeout, a connection that could not be made or kept). */
int replay_main(int argc, char **argv);

#endif
