/* The relay's outbox (relay.when-down: spill): windows no next hop takes are appended, as they
 * arrived, to a journal of their own under DIR (DIR/journal: the alert journal's segments, CRCs
 * and group commit) and acknowledged to their senders once durable; a forwarder drains it in
 * order through the relay whenever a next hop takes windows, and keeps its position in a cursor
 * (DIR/cursors/relay.cur), so a restart (after kill -9 too) sends on what the outbox still holds.
 * Sealed segments the forwarder has passed are removed. Each record is a window: its event count
 * (4 bytes, big-endian) then its v2 bytes.
 *
 * Threads: the loop thread of LOOP, but for the journal's own writer and sealer threads. */
#ifndef AMSI_RELAY_OUTBOX_H
#define AMSI_RELAY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "relay/relay.h"

struct outbox;

struct outbox_stats {
    uint64_t windows, bytes; /* held: appended (or found at the start, counted from the sequence
                              * numbers and the segment files) and not yet acknowledged */
    int64_t
        oldest_ms; /* wall-clock time the oldest of them was appended (at the latest), 0 for none */
    uint64_t spilled, forwarded; /* since the start */
};

/* Opens (creating) the outbox under DIR, counts what it holds from its cursor on (without reading
 * it through), and starts forwarding through R. MAX_BYTES caps what it holds (outbox_append
 * refuses past it). SYNC_MS: the journal's sync interval (0: fdatasync before acknowledging).
 * Returns 0 or a negative errno. */
int outbox_open(struct outbox **out, uv_loop_t *loop, const char *dir, uint64_t max_bytes,
                unsigned sync_ms, struct relay *r);

/* Appends a window (the LEN bytes at BYTES, copied; EVENTS for the next hop's ACK). DONE(CTX,
 * status) follows once on the loop thread: 0 once the window is durable. Returns 0, -ENOSPC when
 * the outbox would hold more than its cap, -EAGAIN while 16 MiB of appends still wait for the disk
 * (it never makes the loop wait for it), -EMSGSIZE for a window too large for one record, -EPIPE
 * when it is closing. On an error the caller blocks the window instead. */
int outbox_append(struct outbox *o, const uint8_t *bytes, size_t len, uint32_t events,
                  relay_done_fn done, void *ctx);

/* True when outbox_append would now take WINDOWS more windows of BYTES bytes in all, as far as the
 * cap and the appends waiting for the disk go (a caller moving several windows in at once, all or
 * none, asks first). */
bool outbox_fits(const struct outbox *o, size_t windows, uint64_t bytes);

/* True while the outbox holds windows not yet acknowledged by a next hop (new windows then go
 * into it too, so that they keep their order). */
bool outbox_holding(const struct outbox *o);

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out);

/* Stops forwarding, stores the cursor, closes the journal (every append completes first) and
 * frees the outbox. The relay must still exist (windows in flight are abandoned: the relay's
 * relay_close cancels them and they are sent again at the next start). */
void outbox_close(struct outbox *o);

#endif
