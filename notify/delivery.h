/* Webhook delivery: one thread that follows the journal with one cursor per target and posts each
 * alert with libcurl (multi interface, connection reuse), in the target's format, signed, within
 * its rate limit, retrying 429, 5xx, timeouts and connection errors with exponential backoff and
 * jitter (honouring Retry-After), marking other 4xx dead (kept in the journal, listed in
 * DATA_DIR/cursors/NAME.dead for `journal replay --dead`), disabling a target on 410. The cursor
 * advances only after success: delivery is at least once, across restarts and outages.
 * delivery_start, delivery_update and delivery_stop from the owning (main) thread. */
#ifndef AMSI_NOTIFY_DELIVERY_H
#define AMSI_NOTIFY_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/histogram.h"
#include "notify/targets.h"

struct delivery;

/* Starts delivering the journal of DATA_DIR to TARGETS (copied). Returns 0 or a negative errno. */
int delivery_start(struct delivery **out, const char *data_dir, const struct target_list *targets);

/* Stops the thread (requests in flight are abandoned: they are retried after the next start) and
 * frees D. NULL is a no-op. */
void delivery_stop(struct delivery *d);

/* What delivery_update did, target by target (matched by name). */
struct delivery_changes {
    size_t added, removed, changed, unchanged;
};

/* Applies a new list of TARGETS (copied): the thread stops between two steps, and starts again
 * once the list is in place. A target of the same name and options goes on as it was (its request
 * in flight too); a changed one resumes from its cursor with the new options (its request in
 * flight, abandoned, goes again); a new one starts from its cursor, created at the start of the
 * journal as at a first start; a removed one stops, its cursor file kept. On error (-ENOMEM,
 * -EIO: a new target's cursor cannot open) the running targets go on unchanged. -EAGAIN: the new
 * list is in place but the thread could not start again (logged): nothing is delivered until a
 * restart, and the cursors keep every alert. Owning thread. */
int delivery_update(struct delivery *d, const struct target_list *targets,
                    struct delivery_changes *changes);

/* Wakes the delivery thread: new alerts are durable. Any thread. */
void delivery_notify(struct delivery *d);

/* What a target's delivery did since the start, for the metrics. */
struct delivery_target_stats {
    const char *name;    /* the target's name */
    uint64_t sent;       /* alerts delivered (2xx) */
    uint64_t retried;    /* attempts that failed and were retried */
    uint64_t dead;       /* alerts refused for good (kept in the journal, listed as dead) */
    uint64_t held;       /* held back by max_signals */
    uint64_t suppressed; /* left out by suppression */
    uint64_t summaries;  /* summaries of held back or suppressed alerts delivered */
    uint64_t next_seq;   /* the cursor: the next journal sequence number to deliver */
    int64_t oldest_ms;   /* wall-clock time of the alert at the cursor, 0 when none waits */
    bool disabled;       /* the target answered 410 Gone */
    struct histogram_snapshot request_seconds; /* each request, sent to answered or failed */
};

/* The number of targets; 0 for NULL. Owning thread (delivery_update changes the list). */
size_t delivery_targets(const struct delivery *d);

/* Target I's counters (0 <= I < delivery_targets), read without a lock while the delivery thread
 * counts. Owning thread; NAME is valid until the next delivery_update. */
void delivery_target_stats(struct delivery *d, size_t i, struct delivery_target_stats *out);

/* Sends one alert document (or a summary) to T synchronously, with retries up to ATTEMPTS.
 * Returns the final HTTP status (2xx success), or a negative errno. For `journal replay`. */
long delivery_send_once(const struct target *t, const char *alert_json, size_t len,
                        unsigned attempts);

/* Takes the lock that guards a target's dead-letter list against concurrent rewrites (`serve`
 * appends, `journal replay --dead` rewrites). Returns the lock's descriptor, or a negative errno.
 * Blocks until the lock is free. */
int delivery_dead_lock(const char *data_dir, const char *name);
void delivery_dead_unlock(int fd);

/* The dead-letter file of a target: DATA_DIR/cursors/NAME.dead (one sequence number a line). */
void delivery_dead_path(const char *data_dir, const char *name, char *out, size_t outlen);

#endif
