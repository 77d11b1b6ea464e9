#include "pipeline/ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct cell {
    atomic_size_t seq;
    void *item;
};

struct ring {
    /* Producer and consumer positions on their own cache lines: no false sharing. */
    alignas(64) atomic_size_t head; /* next position to push */
    alignas(64) atomic_size_t tail; /* next position to pop */
    alignas(64) size_t mask;
    struct cell *cells;
};

struct ring *ring_new(size_t capacity)
{
    size_t cap = 2;
    while (cap < capacity) {
        if (cap > SIZE_MAX / 4)
            return NULL;
        cap <<= 1;
    }
    struct ring *r = aligned_alloc(64, sizeof(struct ring));
    if (!r)
        return NULL;
    r->cells = calloc(cap, sizeof(struct cell));
    if (!r->cells) {
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < cap; i++)
        atomic_init(&r->cells[i].seq, i);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->mask = cap - 1;
    return r;
}

void ring_free(struct ring *r)
{
    if (!r)
        return;
    free(r->cells);
    free(r);
}

bool ring_push(struct ring *r, void *item)
{
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        struct cell *c = &r->cells[pos & r->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->item = item;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (diff < 0) {
            return false; /* full: the cell still holds an item from a lap ago */
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

void *ring_pop(struct ring *r)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        struct cell *c = &r->cells[pos & r->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)(pos + 1);
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                void *item = c->item;
                atomic_store_explicit(&c->seq, pos + r->mask + 1, memory_order_release);
                return item;
            }
        } else if (diff < 0) {
            return NULL; /* empty */
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
}

size_t ring_capacity(const struct ring *r)
{
    return r->mask + 1;
}

size_t ring_size(const struct ring *r)
{
    size_t h = atomic_load_explicit(&((struct ring *)r)->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&((struct ring *)r)->tail, memory_order_relaxed);
    return h >= t ? h - t : 0;
}
