/* Named fault points for crash-safety tests, the way rsyslog tests its disk queue: when the
 * environment variable AMSIWATCH_FAULT names a point (optionally "name:N" for its Nth passage),
 * the process kills itself with SIGKILL there. Costs one relaxed load when unset.
 * Any thread may call fault_point. */
#ifndef AMSI_BASE_FAULT_H
#define AMSI_BASE_FAULT_H

#include <stdbool.h>

/* Kills the process with SIGKILL if AMSIWATCH_FAULT selects NAME at this passage. */
void fault_point(const char *name);

/* True if AMSIWATCH_FAULT selects NAME at this passage, for faults that must do something first
 * (a torn write); the caller then calls fault_kill. */
bool fault_hit(const char *name);

/* Kills the process with SIGKILL. */
_Noreturn void fault_kill(void);

#endif
