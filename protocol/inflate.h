/* Bounded inflate of a whole zlib stream (RFC 1950), as Lumberjack C frames carry it. The output
 * is capped both in bytes and in ratio to the input (zip bombs), and the cap is checked before the
 * output buffer grows past it. Uses libdeflate (whole-buffer, 2-3x faster than zlib).
 * An inflater belongs to one thread (each worker has its own). */
#ifndef AMSI_PROTOCOL_INFLATE_H
#define AMSI_PROTOCOL_INFLATE_H

#include <stddef.h>
#include <stdint.h>

struct inflater;

/* Creates an inflater producing at most MAX_OUT bytes and at most MAX_RATIO times the input.
 * Returns NULL when out of memory. */
struct inflater *inflater_new(size_t max_out, unsigned max_ratio);

/* Frees it. inflater_free(NULL) is a no-op. */
void inflater_free(struct inflater *z);

/* Inflates the N bytes at P. Returns 0 with *OUT and *OUTLEN (a buffer owned by the inflater, valid
 * until the next call), -EBADMSG for a broken or truncated stream, -EMSGSIZE when the output would
 * pass a cap, -ENOMEM. */
int inflater_run(struct inflater *z, const void *p, size_t n, const uint8_t **out, size_t *outlen);

#endif
