/* A feed: the records of a journal (DATA_DIR/journal) sent on through the relay in order, one
 * window each, from a cursor (DATA_DIR/cursors/NAME.cur) that moves over the records the next
 * hops have acknowledged, so that a restart (after kill -9 too) goes on where the last one was
 * acknowledged (a record may then be sent twice, never not at all). The relay's outbox feeds its
 * windows so; relay.beats.alerts feeds the alerts of the alert journal as events.
 *
 * Threads: the loop thread of LOOP. */
#ifndef AMSI_RELAY_FEED_H
#define AMSI_RELAY_FEED_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "relay/relay.h"
#include "store/reader.h"

struct feed;

struct feed_ops {
    /* Appends the v2 window that carries REC to OUT (empty), with *EVENTS the sequence number
     * the next hop's ACK must reach. Returns 0, or a negative errno: the record is skipped (and
     * logged), the cursor moves over it. */
    int (*window)(void *arg, const struct journal_record *rec, struct buf *out, uint32_t *events);
    /* A record the next hop acknowledged, in sequence order, with its length and the time it was
     * appended (may be NULL). */
    void (*acked)(void *arg, uint64_t seq, size_t len, int64_t time_ms);
    void *arg;
};

/* Opens the feed of DATA_DIR's journal from the cursor NAME (created at 1, the first record, as a
 * webhook target's) and sends through R whenever a next hop is up. WHAT names it in the log.
 * Returns 0 or a negative errno. */
int feed_open(struct feed **out, uv_loop_t *loop, const char *data_dir, const char *name,
              struct relay *r, const struct feed_ops *ops, const char *what);

/* New records may be there: send them now rather than at the next tick. */
void feed_kick(struct feed *f);

/* The cursor's position: every record below it was acknowledged. */
uint64_t feed_position(const struct feed *f);

/* Stores the cursor and frees the feed. Call it after relay_close (which cancels the feed's
 * windows in the relay). feed_close(NULL) is a no-op. */
void feed_close(struct feed *f);

#endif
