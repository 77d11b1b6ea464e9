/* Named fault points for crash-safety and fault tests, the way rsyslog tests its disk queue.
 *
 * From the environment, AMSIWATCH_FAULT selects one point:
 *   "name"          the process kills itself with SIGKILL at the point's first passage;
 *   "name:N"        ... at its Nth passage;
 *   "name=ERR"      fault_error("name") returns -ERR (ENOSPC, EIO, EDQUOT, ENOMEM) at every
 * passage; "name:N=ERR*K"  ... from the Nth passage on, K times (K omitted: for ever). In-process
 * tests install a hook instead (fault_set_hook): it runs at every passage of every point, may block
 * there (to hold a thread inside a race window) and may return an error for fault_error to inject.
 * Costs one relaxed load per passage when neither is set. Any thread may call the fault_* passages.
 */
#ifndef AMSI_BASE_FAULT_H
#define AMSI_BASE_FAULT_H

#include <stdbool.h>

/* Kills the process with SIGKILL if AMSIWATCH_FAULT selects NAME at this passage. Runs the hook. */
void fault_point(const char *name);

/* True if AMSIWATCH_FAULT selects NAME (as a kill point) at this passage, for faults that must do
 * something first (a torn write); the caller then calls fault_kill. Runs the hook. */
bool fault_hit(const char *name);

/* Kills the process with SIGKILL. */
_Noreturn void fault_kill(void);

/* 0, or the negative errno to inject at this passage of NAME (from the environment's "=ERR" form
 * or from the hook). The caller behaves as if the system call it guards had failed with it. */
int fault_error(const char *name);

/* Called at every passage of every point, on the passing thread. Returns 0 or a negative errno
 * (used only by fault_error). */
typedef int (*fault_hook_fn)(const char *name, void *ctx);

/* Installs (or with NULL removes) the process-wide hook. For tests; call while no other thread
 * passes a fault point. */
void fault_set_hook(fault_hook_fn fn, void *ctx);

#endif
