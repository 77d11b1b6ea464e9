/* UTF-8 text that is always well formed: checking, mending (each byte that starts no well-formed
 * sequence becomes U+FFFD) and cutting between two characters, never inside one. Pure functions,
 * any thread. */
#ifndef AMSI_BASE_UTF8_H
#define AMSI_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* U+FFFD REPLACEMENT CHARACTER, 3 bytes. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* The length (1 to 4) of the well-formed sequence at P (N > 0 bytes), or 0 when P does not start
 * one (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF, nothing cut short). */
size_t utf8_seq_len(const char *p, size_t n);

/* True when the N bytes at P are well-formed UTF-8 (ASCII is checked 32 bytes at a time). */
bool utf8_valid(const char *p, size_t n);

/* The length of the N bytes at S once mended. */
size_t utf8_mended_len(const char *s, size_t n);

/* The largest length <= MAX at which the N bytes at S, mended, can be cut between two
 * characters (MAX >= the mended length: the whole of it). */
size_t utf8_cut_len(const char *s, size_t n, size_t max);

/* Writes the N bytes at S, mended, into OUT (OUTSIZE > 0 bytes): as many whole characters as fit
 * in OUTSIZE - 1 bytes, then a NUL. Returns the bytes written (without the NUL); sets *CUT (may
 * be NULL) to whether some of S was left out. */
size_t utf8_copy(char *out, size_t outsize, const char *s, size_t n, bool *cut);

/* Appends the N bytes at S, mended, to the NUL-terminated string in BUF (SIZE bytes), as
 * utf8_copy does into the room left. Returns the new length of BUF. */
size_t utf8_append(char *buf, size_t size, const char *s, size_t n, bool *cut);

/* Shortens the NUL-terminated string S, when its end is a character cut short (what snprintf
 * leaves when it truncates), to the last whole character. Returns the new length. */
size_t utf8_trim_partial(char *s);

#endif
