#include "pipeline/workers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fault.h"
#include "pipeline/ring.h"

struct workers {
    struct ring *ring;
    sem_t items; /* counts queued items (and stop tokens) */
    atomic_bool stopping;
    unsigned n;
    pthread_t *threads;
    struct worker_ctx *ctx;
};

static void *worker_main(void *arg)
{
    struct worker_ctx *ctx = arg;
    struct workers *p = ctx->pool;
    for (;;) {
        while (sem_wait(&p->items) != 0 && errno == EINTR)
            ;
        /* Each post follows a finished push, but pops take the oldest slot first: while another
         * thread's submit still holds it, the ring looks empty. Waiting again would lose this
         * post and strand an item (and workers_stop with it); the slot's item comes next. */
        struct work *w;
        while (!(w = ring_pop(p->ring)) && !atomic_load(&p->stopping))
            sched_yield();
        if (!w && atomic_load(&p->stopping))
            w = ring_pop(p->ring); /* every submit returned before stopping was set */
        if (w) {
            w->run(w, ctx);
            const struct detect_stats *s = &ctx->det.stats;
            const uint64_t v[5] = {s->events, s->candidates, s->parsed, s->alerts, s->malformed};
            for (int i = 0; i < 5; i++)
                atomic_store_explicit(&ctx->published[i], v[i], memory_order_relaxed);
            for (int i = 0; i < CLAUSE_COUNT; i++)
                atomic_store_explicit(&ctx->published[5 + i], s->alerts_by_clause[i],
                                      memory_order_relaxed);
            continue;
        }
        if (atomic_load(&p->stopping))
            break;
    }
    return NULL;
}

int workers_start(struct workers **out, const struct workers_opts *o)
{
    struct workers *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    unsigned n = o->threads;
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (unsigned)cores : 1;
    }
    p->n = n;
    p->ring = ring_new(o->queue ? o->queue : 1024);
    p->threads = calloc(n, sizeof(pthread_t));
    p->ctx = calloc(n, sizeof(struct worker_ctx));
    if (!p->ring || !p->threads || !p->ctx || sem_init(&p->items, 0, 0) != 0)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        struct worker_ctx *c = &p->ctx[i];
        c->index = i;
        detector_init(&c->det, o->profile, true, o->max_event);
        c->max_inflated = o->max_inflated ? o->max_inflated : WORKERS_DEFAULT_MAX_INFLATED;
        c->max_ratio = o->max_ratio ? o->max_ratio : WORKERS_DEFAULT_MAX_RATIO;
        c->inflater = inflater_new(c->max_inflated, c->max_ratio);
        if (!c->inflater)
            goto fail_threads;
    }
    for (unsigned i = 0; i < n; i++) {
        p->ctx[i].pool = p;
        int err = fault_error("workers-thread-start");
        if (err == 0 && pthread_create(&p->threads[i], NULL, worker_main, &p->ctx[i]) != 0)
            err = -EAGAIN;
        if (err < 0) {
            /* workers_stop joins and frees the I threads that started; the rest never ran. */
            for (unsigned j = i; j < n; j++)
                inflater_free(p->ctx[j].inflater);
            p->n = i;
            workers_stop(p);
            return err;
        }
    }
    *out = p;
    return 0;
fail_threads:
    for (unsigned i = 0; i < n; i++)
        inflater_free(p->ctx[i].inflater);
fail:
    ring_free(p->ring);
    free(p->threads);
    free(p->ctx);
    free(p);
    return -ENOMEM;
}

bool workers_submit(struct workers *p, struct work *w)
{
    if (!ring_push(p->ring, w))
        return false;
    sem_post(&p->items);
    return true;
}

void workers_stop(struct workers *p)
{
    if (!p)
        return;
    atomic_store(&p->stopping, true);
    for (unsigned i = 0; i < p->n; i++)
        sem_post(&p->items);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    for (unsigned i = 0; i < p->n; i++)
        inflater_free(p->ctx[i].inflater);
    sem_destroy(&p->items);
    ring_free(p->ring);
    free(p->threads);
    free(p->ctx);
    free(p);
}

unsigned workers_count(const struct workers *p)
{
    return p->n;
}

void workers_stats(struct workers *p, struct detect_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < p->n; i++) {
        _Atomic unsigned long long *v = p->ctx[i].published;
        out->events += atomic_load_explicit(&v[0], memory_order_relaxed);
        out->candidates += atomic_load_explicit(&v[1], memory_order_relaxed);
        out->parsed += atomic_load_explicit(&v[2], memory_order_relaxed);
        out->alerts += atomic_load_explicit(&v[3], memory_order_relaxed);
        out->malformed += atomic_load_explicit(&v[4], memory_order_relaxed);
        for (int c = 0; c < CLAUSE_COUNT; c++)
            out->alerts_by_clause[c] += atomic_load_explicit(&v[5 + c], memory_order_relaxed);
    }
}
