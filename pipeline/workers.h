/* A pool of worker threads taking work items from a bounded lock-free ring. The producer (the
 * libuv loop) never blocks: workers_submit fails when the ring is full and the caller stops
 * reading its sockets until items complete. Workers never touch libuv: completions leave through
 * whatever callback the item carries (server/ wires it to the loop).
 * workers_submit from any thread; the rest from the owning thread. */
#ifndef AMSI_PIPELINE_WORKERS_H
#define AMSI_PIPELINE_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/detect.h"
#include "protocol/inflate.h"

/* The inflater's limits when the pool is given none (beats.max-inflated, beats.max-ratio). */
#define WORKERS_DEFAULT_MAX_INFLATED ((size_t)64 << 20)
#define WORKERS_DEFAULT_MAX_RATIO    1000u

/* What each worker thread owns; passed to every item it runs. */
struct worker_ctx {
    unsigned index;
    struct detector det;       /* this worker's detector; its stats are published after each item */
    struct inflater *inflater; /* this worker's bounded inflater */
    size_t max_inflated;       /* its limits, which nested compressed frames obey too */
    unsigned max_ratio;
    struct workers *pool;
    /* events, candidates, parsed, alerts, malformed, then the alerts of each clause */
    _Atomic unsigned long long published[5 + CLAUSE_COUNT];
};

struct work {
    /* Runs on a worker thread; takes ownership of the item (frees it or passes it on). */
    void (*run)(struct work *self, struct worker_ctx *ctx);
};

struct workers;

struct workers_opts {
    unsigned threads; /* 0: the number of cores */
    size_t queue;     /* ring slots (default 1024) */
    enum profile profile;
    size_t max_event;    /* see detector_init */
    size_t max_inflated; /* inflater cap in bytes */
    unsigned max_ratio;  /* inflater cap as a ratio */
};

/* Starts the pool. Returns 0 with *OUT, or a negative errno. */
int workers_start(struct workers **out, const struct workers_opts *opts);

/* Queues W. False when the queue is full (W is not taken). */
bool workers_submit(struct workers *p, struct work *w);

/* Lets the queued items finish, stops the threads and frees the pool. NULL is a no-op. */
void workers_stop(struct workers *p);

/* The number of worker threads. */
unsigned workers_count(const struct workers *p);

/* Sums the workers' detection counters as published after each item. Any thread. */
void workers_stats(struct workers *p, struct detect_stats *out);

#endif
