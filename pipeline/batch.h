/* A batch: the unit of work the receivers hand to the workers (one Beats window, or one read's
 * worth of syslog messages). A worker runs the detection over every event of it, hands each alert
 * to the alert sink, and the batch completes once all its events were matched and all its alerts
 * are durable: that is what a Beats ACK promises.
 *
 * Threads: the submitter (the libuv loop) creates and submits a batch and sets COMPLETE and its
 * context. The batch finishes on a worker or journal thread; with a HANDOFF it is posted there and
 * the submitter's thread calls batch_complete (server/ queues it to the loop), without one
 * COMPLETE runs on the finishing thread. */
#ifndef AMSI_PIPELINE_BATCH_H
#define AMSI_PIPELINE_BATCH_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/alert_sink.h"
#include "pipeline/workers.h"
#include "base/buf.h"
#include "protocol/lumberjack.h"

struct batch;

/* How a finished batch travels back to the submitter's thread. POST runs on whichever thread
 * finishes the batch (a worker, the journal's writer) and must only hand it over. */
struct batch_handoff {
    void (*post)(void *ctx, struct batch *b);
    void *ctx;
};

enum batch_kind {
    BATCH_BEATS_COMPRESSED = 1, /* DATA is the payload of one C frame */
    BATCH_BEATS_FRAMES = 2,     /* DATA is a run of bare J or D frames */
    BATCH_LINES = 3,            /* DATA is events as JSON, one per line (tests, tools) */
    BATCH_SYSLOG = 4,           /* DATA is syslog messages, each as batch_syslog_append wrote it,
                                 * every one a candidate: the submitter ran
                                 * syslog_event_candidate on it (server/syslogd.c screens) */
};

struct batch {
    struct work work; /* first: the workers run it */
    enum batch_kind kind;
    uint8_t *data; /* owned */
    size_t len;
    const struct lj_limits *limits; /* borrowed, outlives the batch */
    const struct alert_sink *sink;  /* borrowed */
    json_t *source;                 /* owned: copied into each alert's "source" */
    /* The most bytes a compressed frame nested in this batch may inflate to besides
     * beats.max-inflated: the room its owner has left in its memory budgets (SIZE_MAX, the
     * default, when the owner sets none). */
    size_t inflate_room;

    /* Set by the submitter, untouched by the pipeline. COMPLETE receives the batch with its results
     * (it owns it then: it frees it); HANDOFF (may be NULL, borrowed) carries it to the submitter's
     * thread first. */
    void (*complete)(struct batch *b, void *ctx);
    void *complete_ctx;
    const struct batch_handoff *handoff;
    uint64_t tag;
    struct batch *link; /* free for the submitter's queues */

    /* Syslog: where the messages came from (copied into each alert's source). */
    char peer[96];
    char transport[8];

    /* Results, valid in COMPLETE. */
    uint32_t frames;   /* data frames (events) seen */
    uint32_t last_seq; /* the highest sequence number among them */
    uint32_t alerts;
    size_t nested_inflated; /* bytes nested compressed frames inflated to */
    int status;      /* 0, or the first error: -EBADMSG malformed, -EMSGSIZE over a limit, ... */
    char error[160]; /* why, when STATUS is not 0 */

    atomic_int pending; /* internal: 1 while running + alerts not yet durable */
    atomic_int
        journal_status; /* internal: the first failed alert write, set by the sink's thread */
};

/* Creates a batch of KIND taking ownership of DATA (LEN bytes, malloc'd). SOURCE (may be NULL) is
 * taken too. Returns NULL when out of memory (DATA and SOURCE are then freed). */
struct batch *batch_new(enum batch_kind kind, uint8_t *data, size_t len, json_t *source,
                        const struct lj_limits *limits, const struct alert_sink *sink);

/* Frees a batch (after COMPLETE, by the submitter). batch_free(NULL) is a no-op. */
void batch_free(struct batch *b);

/* Called by the sink once per emitted alert when it is durable (STATUS 0) or failed. */
void batch_alert_durable(struct batch *b, int status);

/* Appends one syslog message (the framer's FLAGS with it) to OUT in the layout BATCH_SYSLOG
 * reads: u32 length, u8 flags, u8 peer length, the peer, the bytes. PEER (may be NULL: the
 * batch's peer) names the sender of this message (UDP batches mix senders). Returns 0, or the
 * buffer's -EMSGSIZE or -ENOMEM. */
int batch_syslog_append(struct buf *out, const char *peer, const char *msg, size_t len,
                        unsigned flags);

/* Calls the batch's COMPLETE with its context (the handoff's receiving end calls it). */
static inline void batch_complete(struct batch *b)
{
    if (b->complete)
        b->complete(b, b->complete_ctx);
}

/* Runs the batch synchronously on the calling thread with CTX (what a worker does). */
void batch_run(struct batch *b, struct worker_ctx *ctx);

#endif
