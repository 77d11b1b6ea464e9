/* Reading event files for the tools: a path or "-" for standard input, plain or LZ4 frame format
 * (recognised by its magic number, so "events.ndjson.lz4" and a pipe from "lz4 -c" both work).
 * Not thread-safe: call from one thread. */
#ifndef AMSI_TOOLS_INPUT_H
#define AMSI_TOOLS_INPUT_H

#include <stddef.h>

/* Receives decompressed bytes in order. A non-zero return stops the read and is returned. */
typedef int (*input_chunk_fn)(void *ctx, const char *p, size_t n);

/* Reads PATH to the end, passing its (decompressed) bytes to FN. Returns 0, FN's non-zero value,
 * or a negative errno with a one-line reason in ERR. */
int input_read(const char *path, input_chunk_fn fn, void *ctx, char *err, size_t errlen);

#endif
