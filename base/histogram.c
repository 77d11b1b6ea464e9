#include "base/histogram.h"

#include <string.h>

const double histogram_latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                           1,      2.5,     5,      10};
const size_t histogram_latency_nbounds =
    sizeof(histogram_latency_bounds) / sizeof(histogram_latency_bounds[0]);

void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
    if (n > HISTOGRAM_MAX_BOUNDS)
        n = HISTOGRAM_MAX_BOUNDS;
    h->nbounds = n;
    memcpy(h->bounds, bounds, n * sizeof(*bounds));
    for (size_t i = 0; i <= HISTOGRAM_MAX_BOUNDS; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->sum_ns, 0);
}

void histogram_observe_ns(struct histogram *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < h->nbounds && s > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void histogram_read(const struct histogram *h, struct histogram_snapshot *out)
{
    out->nbounds = h->nbounds;
    memcpy(out->bounds, h->bounds, h->nbounds * sizeof(h->bounds[0]));
    uint64_t total = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        total += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        out->cumulative[i] = total;
    }
    out->count = total;
    out->sum = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
}
