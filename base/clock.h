/* Wall-clock and monotonic time. Any thread may call these. */
#ifndef AMSI_BASE_CLOCK_H
#define AMSI_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/* Nanoseconds from an arbitrary start (CLOCK_MONOTONIC), for durations. */
uint64_t clock_mono_ns(void);

/* Formats MS (epoch milliseconds) as RFC 3339 UTC "2025-12-25T10:58:31.888Z" into OUT, which must
 * hold at least 25 bytes. Returns OUT. */
char *clock_format_ms(int64_t ms, char *out, size_t outlen);

#endif
