/* Error codes: 0 on success, a negative errno on failure, everywhere in the project.
 * -EINVAL bad argument, -ENOMEM out of memory, -EBADMSG malformed input,
 * -EMSGSIZE over a configured limit, -EAGAIN need more bytes.
 * Any thread may call these. */
#ifndef AMSI_BASE_ERROR_H
#define AMSI_BASE_ERROR_H

#include <errno.h>

/* Short stable name of an error code ("EBADMSG"); "OK" for 0. Never NULL. */
const char *error_name(int err);

/* Human-readable description of an error code ("malformed input"). Never NULL. */
const char *error_text(int err);

#endif
