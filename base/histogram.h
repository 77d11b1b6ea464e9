/* A histogram of durations with fixed bucket bounds, for the metrics: any number of threads
 * observe (relaxed atomic adds, no lock), any thread reads a snapshot. A snapshot taken while
 * others observe may count an observation in its bucket and not yet in its sum: Prometheus
 * tolerates that, and every count only grows. */
#ifndef AMSI_BASE_HISTOGRAM_H
#define AMSI_BASE_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HISTOGRAM_MAX_BOUNDS 20

struct histogram {
    size_t nbounds;
    double bounds[HISTOGRAM_MAX_BOUNDS];                /* upper bounds in seconds, increasing */
    _Atomic uint64_t buckets[HISTOGRAM_MAX_BOUNDS + 1]; /* per bucket, the last one +Inf */
    _Atomic uint64_t sum_ns;
};

/* What a reader gets: counts cumulative, as the Prometheus text format writes them. */
struct histogram_snapshot {
    size_t nbounds;
    double bounds[HISTOGRAM_MAX_BOUNDS];
    uint64_t cumulative[HISTOGRAM_MAX_BOUNDS + 1]; /* the last one is +Inf, the count */
    uint64_t count;
    double sum; /* seconds */
};

/* Bounds for short latencies: 100 us to 10 s. */
extern const double histogram_latency_bounds[];
extern const size_t histogram_latency_nbounds;

/* Prepares H with the N bounds (seconds, increasing; at most HISTOGRAM_MAX_BOUNDS, more are
 * ignored). Not thread-safe: before any observation. */
void histogram_init(struct histogram *h, const double *bounds, size_t n);

/* Counts one observation of NS nanoseconds. Any thread. */
void histogram_observe_ns(struct histogram *h, uint64_t ns);

/* Reads H. Any thread. */
void histogram_read(const struct histogram *h, struct histogram_snapshot *out);

#endif
