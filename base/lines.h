/* Splits a byte stream into LF-terminated lines (a trailing CR is removed), with a maximum line
 * length checked before buffering. A line longer than the maximum is reported once with
 * LINES_TOO_LONG and its bytes are skipped up to the next LF. Not thread-safe: one owner. */
#ifndef AMSI_BASE_LINES_H
#define AMSI_BASE_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum lines_status { LINES_OK = 0, LINES_TOO_LONG = 1 };

/* Called for every line, numbered from 1. LINE is not NUL-terminated and is valid only during
 * the call. A non-zero return stops lines_feed, which returns that value. */
typedef int (*lines_cb)(void *ctx, uint64_t lineno, const char *line, size_t len,
                        enum lines_status status);

struct lines {
    struct buf partial; /* bytes of the current, unfinished line */
    uint64_t lineno;
    int skipping; /* the current line went over the maximum */
    lines_cb cb;
    void *ctx;
};

/* Initialises a splitter for lines of at most MAX_LINE bytes. Allocates nothing. */
void lines_init(struct lines *l, size_t max_line, lines_cb cb, void *ctx);

/* Frees the buffer. lines_free(NULL) is a no-op. */
void lines_free(struct lines *l);

/* Feeds N bytes. Lines wholly inside P are passed without copying. Returns 0, a callback's
 * non-zero value, or -ENOMEM. */
int lines_feed(struct lines *l, const char *p, size_t n);

/* Ends the stream: a last line without LF is delivered. Returns as lines_feed. */
int lines_finish(struct lines *l);

#endif
