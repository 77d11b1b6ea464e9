/* One HTTP GET with libcurl, for `amsiwatch health`: no proxy, no redirects, a deadline.
 * Any thread. */
#ifndef AMSI_NOTIFY_PROBE_H
#define AMSI_NOTIFY_PROBE_H

#include <stddef.h>

/* GETs URL within TIMEOUT_MS. Returns the HTTP status with the start of the body in BODY (at most
 * BODYLEN - 1 bytes, NUL-terminated), or -1 with the transfer's error in ERR. */
long probe_get(const char *url, long timeout_ms, char *body, size_t bodylen, char *err,
               size_t errlen);

#endif
