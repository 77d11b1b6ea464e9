/* One HTTP GET with libcurl, for `amsiwatch health`: no proxy, no redirects, a deadline.
 * Any thread. */
#ifndef AMSI_NOTIFY_PROBE_H
#define AMSI_NOTIFY_PROBE_H

#include <stddef.h>

#include <stdbool.h>

/* HTTPS: the server's CAs (NULL: the system's), a client certificate and its key (NULL: none),
 * or no verification of the server at all. */
struct probe_tls {
    const char *ca, *cert, *key;
    bool insecure;
};

/* GETs URL within TIMEOUT_MS (TLS may be NULL). Returns the HTTP status with the start of the
 * body in BODY (at most BODYLEN - 1 bytes, NUL-terminated), or -1 with the transfer's error in
 * ERR. */
long probe_get(const char *url, const struct probe_tls *tls, long timeout_ms, char *body,
               size_t bodylen, char *err, size_t errlen);

#endif
