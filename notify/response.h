/* What a webhook target's answer means, without the HTTP client: the status and Retry-After
 * (delta-seconds or an HTTP-date) read from the header lines, the outcome (success, transient,
 * permanent, gone), how long to wait before the next attempt, and the one-line reason a dead
 * letter records. Pure functions of their arguments (the clock is one of them), any thread. */
#ifndef AMSI_NOTIFY_RESPONSE_H
#define AMSI_NOTIFY_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest wait a Retry-After may ask for: one hour. */
#define RESPONSE_RETRY_AFTER_MAX_MS 3600000L

enum response_outcome {
    RESP_OK,    /* 2xx: delivered */
    RESP_RETRY, /* no answer (connection, TLS, timeout), 408, 429, 5xx, or no valid status */
    RESP_DEAD,  /* any other answer (3xx, 4xx): sending it again cannot mend it */
    RESP_GONE,  /* 410: the target no longer exists */
};

struct response {
    long status; /* of the last status line seen; 0 before any */
    long
        retry_after_ms; /* that response's Retry-After, 0 to RESPONSE_RETRY_AFTER_MAX_MS; -1 none */
};

void response_init(struct response *r);

/* Reads one header line (LEN bytes, with or without its CR LF) as the HTTP client hands them
 * over: a status line ("HTTP/1.1 503 ...") starts a new response (an interim 100 Continue or a
 * proxy's answer to CONNECT comes before the final one); "Retry-After: V" sets its wait. NOW_S:
 * the wall clock, seconds since the epoch (HTTP-dates are absolute). */
void response_header(struct response *r, const char *line, size_t len, int64_t now_s);

/* A Retry-After value (LEN bytes, surrounding blanks allowed) in milliseconds, capped at
 * RESPONSE_RETRY_AFTER_MAX_MS (a date in the past is 0); -1 when it is neither form (a date
 * response_http_date refuses, before 1970 for one, included). */
long response_retry_after_ms(const char *v, size_t len, int64_t now_s);

/* Parses an HTTP-date (RFC 9110 5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms)
 * into *OUT, seconds since the epoch (0 to 253402300800, 9999-12-31 23:59:60). 0, or -1 when S
 * (LEN bytes) is not one, is not a real date and time (a day the month does not have, hour 24,
 * minute 60, second 60 other than the leap second 23:59:60) or is before 1970 (*OUT untouched).
 * The day name is not checked against the date. */
int response_http_date(const char *s, size_t len, int64_t *out);

/* The outcome of an attempt: ANSWERED false when no HTTP answer came (the connection failed or
 * timed out), else STATUS is the final status. */
enum response_outcome response_classify(bool answered, long status);

/* The wait before the next attempt after RESP_RETRY: Retry-After when the target gave one (at
 * most RESPONSE_RETRY_AFTER_MAX_MS), else BACKOFF_MS. */
uint64_t response_wait_ms(long retry_after_ms, uint64_t backoff_ms);

/* The reason a refused alert is dead, on one line of at most OUTSIZE - 1 bytes of valid UTF-8
 * without control characters: "HTTP STATUS: " and the start of the answer's body (REPLY, LEN
 * bytes, any bytes). */
void response_reason(long status, const char *reply, size_t len, char *out, size_t outsize);

#endif
