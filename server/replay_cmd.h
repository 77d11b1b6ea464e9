/* amsiwatch journal replay: sends journaled alerts to a webhook target again, all of a range or the
 * ones marked dead. Main thread only. */
#ifndef AMSI_SERVER_REPLAY_CMD_H
#define AMSI_SERVER_REPLAY_CMD_H

/* ARGV[0] is "replay". Returns the exit status: 0 all sent, 1 some refused, 2 usage or
 * configuration error, 3 runtime failure. */
int replay_main(int argc, char **argv);

#endif
