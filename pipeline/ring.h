/* A bounded lock-free multi-producer multi-consumer queue of pointers (D. Vyukov's bounded MPMC
 * array queue): one atomic sequence number per cell, no locks, no allocation after creation.
 * Push and pop never block; callers that must wait use their own wake-up (pipeline/workers).
 * Any thread may push and pop. */
#ifndef AMSI_PIPELINE_RING_H
#define AMSI_PIPELINE_RING_H

#include <stdbool.h>
#include <stddef.h>

struct ring;

/* Creates a ring of CAPACITY slots (rounded up to a power of two, at least 2). NULL on error. */
struct ring *ring_new(size_t capacity);

/* Frees the ring (not what its items point to). ring_free(NULL) is a no-op. */
void ring_free(struct ring *r);

/* Adds ITEM (non-NULL). False when the ring is full: nothing was added. */
bool ring_push(struct ring *r, void *item);

/* Takes the oldest item, or NULL when the ring is empty. */
void *ring_pop(struct ring *r);

/* The number of slots. */
size_t ring_capacity(const struct ring *r);

/* An estimate of the number of items (exact when no push or pop runs concurrently). */
size_t ring_size(const struct ring *r);

#endif
