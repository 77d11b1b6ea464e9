/* Calendar arithmetic (proleptic Gregorian, UTC) and RFC 3339 timestamps. Pure functions, any
 * thread. Wall-clock readings are base/clock.h's. */
#ifndef AMSI_BASE_TIME_H
#define AMSI_BASE_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Days from 1970-01-01 to Y-M-D (negative before it). M is 1 to 12. */
int64_t time_days_from_civil(int64_t y, int m, int d);

/* The date *Y-*M-*D of day Z counted from 1970-01-01. */
void time_civil_from_days(int64_t z, int *y, int *m, int *d);

/* True when Y-M-D is a day of the calendar (no 31 November, 29 February only in leap years). */
bool time_valid_date(int y, int m, int d);

/* Milliseconds since the epoch of Y-MO-D H:MI:S.MS UTC (S may be 60: the next second). */
int64_t time_ms_from_civil(int y, int mo, int d, int h, int mi, int s, int ms);

/* Exactly N decimal digits at P (AVAIL bytes there): true and their value in *OUT. */
bool time_digits(const char *p, size_t avail, size_t n, int *out);

/* "hh:mm:ss" at the start of the N bytes at P (00 to 23, 59, 60): true and the fields. */
bool time_parse_hms(const char *p, size_t n, int *h, int *mi, int *s);

/* A fraction ".ddd..." at the start of the N bytes at P: the bytes it takes (0 when none starts
 * there) and its milliseconds in *MS (digits past the third are read and dropped; 0 without). */
size_t time_parse_fraction(const char *p, size_t n, int *ms);

/* The RFC 3339 timestamp at the start of the N bytes at P ("2003-10-11T22:14:15.003Z",
 * "...-07:00", any number of fraction digits, 'T' or 't', 'Z' or 'z'; no zone: UTC): sets *MS
 * (milliseconds since the epoch) and returns the bytes it takes, or 0 when none starts there.
 * SPACE_SEP also accepts a space instead of 'T' (not inside syslog headers, where a space ends
 * the field). */
size_t time_rfc3339_prefix(const char *p, size_t n, bool space_sep, int64_t *ms);

/* An RFC 3339 timestamp that fills all N bytes, a space instead of 'T' accepted: 0 and *MS, or
 * -EBADMSG. */
int time_rfc3339_parse(const char *p, size_t n, int64_t *ms);

#endif
