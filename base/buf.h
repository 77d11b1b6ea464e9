/* A growable byte buffer with a hard maximum given at init: it never grows past MAX, and the
 * check happens before any allocation. Not thread-safe: one owner at a time. */
#ifndef AMSI_BASE_BUF_H
#define AMSI_BASE_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* owned; NUL-terminated after every successful append */
    size_t len;
    size_t cap;
    size_t max; /* the largest LEN this buffer accepts */
};

/* Initialises an empty buffer that accepts at most MAX bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Frees the storage; the buffer is empty and reusable afterwards. buf_free(NULL) is a no-op. */
void buf_free(struct buf *b);

/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);

/* Makes room for N more bytes. 0, -EMSGSIZE if LEN + N > MAX (nothing allocated), -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Appends N bytes. Same errors as buf_reserve; on error the buffer is unchanged. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. */
int buf_puts(struct buf *b, const char *s);

/* Removes the first N bytes (N <= LEN), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

#endif
