/* Cursors: the position of a named consumer (a webhook target, an export) in the journal, kept in
 * DATA_DIR/cursors/NAME.cur as two CRC-protected slots written alternately, so that a torn write
 * falls back to the older valid slot. A position is the next sequence number to take: every
 * record below it has been taken.
 * A cursor handle belongs to one thread; different cursors may be used from different threads. */
#ifndef AMSI_STORE_CURSOR_H
#define AMSI_STORE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cursor;

/* Opens (creating at position 1 when missing) the cursor NAME of DATA_DIR. NAME is letters,
 * digits, '-', '_' and '.', at most 64 characters (-EINVAL otherwise). */
int cursor_open(struct cursor **out, const char *data_dir, const char *name);

/* The current position. */
uint64_t cursor_get(const struct cursor *c);

/* Stores a new position durably (write, fdatasync). Returns 0 or a negative errno; on error the
 * previous position is still the one on disk. */
int cursor_set(struct cursor *c, uint64_t next_seq);

/* Closes the handle. cursor_close(NULL) is a no-op. */
void cursor_close(struct cursor *c);

struct cursor_info {
    char name[72];
    uint64_t next_seq;
};

/* Every cursor of DATA_DIR with its position, in a new array (*OUT, *COUNT; free() it). Cursor
 * files whose both slots are unreadable are skipped. Returns 0 or a negative errno (a missing
 * cursors folder is 0 cursors). */
int cursor_list(const char *data_dir, struct cursor_info **out, size_t *count);

#endif
