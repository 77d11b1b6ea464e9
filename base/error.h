/* Error codes, and the project's one error convention per layer.
 *
 * base/, protocol/, store/, pipeline/ (and net/, notify/ below the daemon): 0 on success, a
 * negative errno on failure, never -1 and never errno itself:
 *   -EINVAL bad argument, -ENOMEM out of memory, -EBADMSG malformed input, -EMSGSIZE over a
 *   configured limit, -EAGAIN need more bytes, -ENOSPC/-EIO/-EDQUOT the disk, -EOVERFLOW a
 *   counter used up; a function that can say more about bad input takes a WHY buffer as well.
 * A function that checks what a user wrote (configuration, command line, allow lists,
 *   certificates, webhook target options in notify/) returns 0 or -1 and writes one line naming
 *   the key, value or file and why into a caller's WHY buffer (WHYLEN bytes) or FILE: a person
 *   reads it. server/ and tools/ follow that rule for all they check, and pass a lower layer's
 *   negative errno on. A parser that only answers "is this one?" (an HTTP-date, a number)
 *   returns -1 for "no", documented in its header. Subcommands (`*_main`) return
 *   the process's exit status: 0 done, 1 failed (the reason on standard error), 2 usage error.
 * Any thread may call these. */
#ifndef AMSI_BASE_ERROR_H
#define AMSI_BASE_ERROR_H

#include <errno.h>

/* Short stable name of an error code ("EBADMSG"); "OK" for 0. Never NULL. */
const char *error_name(int err);

/* Human-readable description of an error code ("malformed input"). Never NULL. */
const char *error_text(int err);

#endif
