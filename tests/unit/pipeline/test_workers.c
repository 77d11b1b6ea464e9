/* The worker pool, under ThreadSanitizer in CI (a plain program: see tests/support/check.h).
 * Every wait is on a condition, with a deadline only to fail instead of hanging: nothing here
 * assumes how fast the threads run. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../support/check.h"
#include "pipeline/workers.h"

/* How long a wait may take before the test calls it lost (a failure, not a measure). */
#define DEADLINE_S 60

/* Counts under a lock with a condition to wait for a count. */
struct counter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long n;
};

static void counter_init(struct counter *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->n = 0;
}

static void counter_destroy(struct counter *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static void counter_add(struct counter *c, long k)
{
    pthread_mutex_lock(&c->mu);
    c->n += k;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static long counter_get(struct counter *c)
{
    pthread_mutex_lock(&c->mu);
    long n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Waits until the count reaches AT_LEAST; returns the count (less only past the deadline). */
static long counter_wait(struct counter *c, long at_least)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE_S;
    pthread_mutex_lock(&c->mu);
    while (c->n < at_least) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT)
            break;
    }
    long n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* A gate the items wait at until the test opens it. */
struct gate {
    struct counter waiting; /* items that reached the gate */
    struct counter open;    /* 1 once open */
};

static void gate_init(struct gate *g)
{
    counter_init(&g->waiting);
    counter_init(&g->open);
}

static void gate_destroy(struct gate *g)
{
    counter_destroy(&g->waiting);
    counter_destroy(&g->open);
}

static void gate_pass(struct gate *g)
{
    counter_add(&g->waiting, 1);
    counter_wait(&g->open, 1);
}

/* One item: records that it ran (and on which worker), passes the gate if it has one, and hands
 * its completion back through its callback, as server/ does with the loop. */
struct job {
    struct work base;
    long id;
    struct gate *gate;
    atomic_int *runs;    /* runs[id]: how many times the item ran */
    atomic_int *workers; /* workers[ctx->index]: how many items that worker ran */
    struct counter *done;
    void (*complete)(struct job *j);
    bool count_event; /* counts one event in the worker's detector */
};

static void complete_job(struct job *j)
{
    counter_add(j->done, 1);
    free(j);
}

static void job_run(struct work *self, struct worker_ctx *ctx)
{
    struct job *j = (struct job *)self;
    CHECK(ctx->pool != NULL && ctx->inflater != NULL, "worker %u has its pool and inflater",
          ctx->index);
    atomic_fetch_add(&j->runs[j->id], 1);
    if (j->workers)
        atomic_fetch_add(&j->workers[ctx->index], 1);
    if (j->count_event)
        ctx->det.stats.events++;
    if (j->gate)
        gate_pass(j->gate);
    j->complete(j);
}

struct batch {
    long n;
    atomic_int *runs;
    atomic_int *workers;
    struct counter done;
};

static void batch_init(struct batch *b, long n, unsigned nworkers)
{
    b->n = n;
    b->runs = calloc((size_t)n, sizeof(atomic_int));
    b->workers = calloc(nworkers, sizeof(atomic_int));
    counter_init(&b->done);
}

static void batch_destroy(struct batch *b)
{
    free(b->runs);
    free(b->workers);
    counter_destroy(&b->done);
}

static struct job *job_new(struct batch *b, long id, struct gate *gate)
{
    struct job *j = calloc(1, sizeof(*j));
    j->base.run = job_run;
    j->id = id;
    j->gate = gate;
    j->runs = b->runs;
    j->workers = b->workers;
    j->done = &b->done;
    j->complete = complete_job;
    return j;
}

/* Submits until the pool takes it (a full queue is the caller's to wait out). */
static void submit(struct workers *p, struct job *j)
{
    while (!workers_submit(p, &j->base))
        sched_yield();
}

/* Checks that each of the batch's items ran exactly once. */
static void check_each_ran_once(struct batch *b)
{
    long never = 0, twice = 0;
    for (long i = 0; i < b->n; i++) {
        int r = atomic_load(&b->runs[i]);
        never += r == 0;
        twice += r > 1;
    }
    CHECK(never == 0 && twice == 0, "of %ld items, %ld never ran and %ld ran more than once", b->n,
          never, twice);
}

static struct workers *start(unsigned threads, size_t queue)
{
    struct workers_opts o = {.threads = threads, .queue = queue, .profile = PROFILE_ELASTIC};
    struct workers *p = NULL;
    int rc = workers_start(&p, &o);
    CHECK(rc == 0 && p != NULL, "workers_start: %d", rc);
    return p;
}

static void every_item_runs_once_and_completes_before_stop(void)
{
    struct workers *p = start(3, 32);
    CHECK(workers_count(p) == 3, "%u workers", workers_count(p));
    struct batch b;
    batch_init(&b, 20000, 3);
    for (long i = 0; i < b.n; i++)
        submit(p, job_new(&b, i, NULL));
    /* The completions come back while the pool runs: nothing waits for workers_stop. */
    long done = counter_wait(&b.done, b.n);
    CHECK(done == b.n, "%ld of %ld completions came back", done, b.n);
    check_each_ran_once(&b);
    workers_stop(p);
    check_each_ran_once(&b);
    batch_destroy(&b);
}

/* Several threads submit at once ("workers_submit from any thread"). */
struct producer {
    struct workers *p;
    struct batch *b;
    long from, to;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    for (long i = pr->from; i < pr->to; i++)
        submit(pr->p, job_new(pr->b, i, NULL));
    return NULL;
}

static void items_submitted_from_several_threads_all_run_and_complete(void)
{
    enum { PRODUCERS = 3, PER = 30000 };
    struct workers *p = start(2, 16);
    struct batch b;
    batch_init(&b, PRODUCERS * PER, 2);
    pthread_t t[PRODUCERS];
    struct producer pr[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        pr[i] = (struct producer){p, &b, (long)i * PER, (long)(i + 1) * PER};
        pthread_create(&t[i], NULL, produce, &pr[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    long done = counter_wait(&b.done, b.n);
    CHECK(done == b.n, "%ld of %ld completions came back before stop", done, b.n);
    workers_stop(p);
    CHECK(counter_get(&b.done) == b.n, "%ld of %ld completions after stop", counter_get(&b.done),
          b.n);
    check_each_ran_once(&b);
    batch_destroy(&b);
}

static void a_full_queue_refuses_without_taking_the_item(void)
{
    enum { THREADS = 2, QUEUE = 16 };
    struct workers *p = start(THREADS, QUEUE);
    struct gate g;
    gate_init(&g);
    struct batch b;
    batch_init(&b, THREADS + QUEUE + 1, THREADS);
    /* Every worker holds one item at the gate, so that nothing leaves the queue. */
    for (long i = 0; i < THREADS; i++)
        submit(p, job_new(&b, i, &g));
    long waiting = counter_wait(&g.waiting, THREADS);
    CHECK(waiting == THREADS, "%ld of %d workers busy", waiting, THREADS);
    long queued = 0;
    for (long i = THREADS; i < THREADS + QUEUE; i++) {
        struct job *j = job_new(&b, i, NULL);
        if (workers_submit(p, &j->base))
            queued++;
        else
            free(j);
    }
    CHECK(queued == QUEUE, "the queue of %d slots took %ld items", QUEUE, queued);
    struct job *refused = job_new(&b, THREADS + QUEUE, NULL);
    CHECK(!workers_submit(p, &refused->base), "a full queue refuses");
    /* Not taken: the item is still the caller's, and never runs. */
    free(refused);
    counter_add(&g.open, 1);
    long done = counter_wait(&b.done, THREADS + QUEUE);
    CHECK(done == THREADS + QUEUE, "%ld of %d completions", done, THREADS + QUEUE);
    workers_stop(p);
    CHECK(atomic_load(&b.runs[THREADS + QUEUE]) == 0, "the refused item ran");
    b.n = THREADS + QUEUE;
    check_each_ran_once(&b);
    batch_destroy(&b);
    gate_destroy(&g);
}

/* workers_stop while items are in flight (held at the gate) and queued behind them: it lets all
 * of them finish before it returns. */
struct stopper {
    struct workers *p;
    struct counter stopped;
};

static void *stop_pool(void *arg)
{
    struct stopper *s = arg;
    workers_stop(s->p);
    counter_add(&s->stopped, 1);
    return NULL;
}

static void stop_lets_in_flight_and_queued_items_finish(void)
{
    enum { THREADS = 2, QUEUED = 200 };
    struct workers *p = start(THREADS, 256);
    struct gate g;
    gate_init(&g);
    struct batch b;
    batch_init(&b, THREADS + QUEUED, THREADS);
    for (long i = 0; i < THREADS; i++)
        submit(p, job_new(&b, i, &g));
    CHECK(counter_wait(&g.waiting, THREADS) == THREADS, "the workers hold the gate items");
    for (long i = THREADS; i < b.n; i++)
        submit(p, job_new(&b, i, NULL));
    CHECK(counter_get(&b.done) == 0, "nothing completes while the workers are held");
    struct stopper s = {.p = p};
    counter_init(&s.stopped);
    pthread_t t;
    pthread_create(&t, NULL, stop_pool, &s);
    /* Whether workers_stop starts before or after the gate opens, it returns only once every
     * item has finished. */
    counter_add(&g.open, 1);
    CHECK(counter_wait(&s.stopped, 1) == 1, "workers_stop returned");
    CHECK(counter_get(&b.done) == b.n, "%ld of %ld items finished when workers_stop returned",
          counter_get(&b.done), b.n);
    pthread_join(t, NULL);
    check_each_ran_once(&b);
    batch_destroy(&b);
    counter_destroy(&s.stopped);
    gate_destroy(&g);
    workers_stop(NULL);
}

/* Each worker's own context: a distinct index below the count, the limits given (or the defaults)
 * and an inflater that obeys them. */
struct ctx_probe {
    struct work base;
    const uint8_t *stream;
    size_t stream_len;
    size_t inflated_len;
    struct counter *done;
    int rc;
    unsigned index;
    const struct inflater *inflater;
    size_t max_inflated;
    unsigned max_ratio;
};

static void probe_run(struct work *self, struct worker_ctx *ctx)
{
    struct ctx_probe *pr = (struct ctx_probe *)self;
    pr->index = ctx->index;
    pr->inflater = ctx->inflater;
    pr->max_inflated = ctx->max_inflated;
    pr->max_ratio = ctx->max_ratio;
    const uint8_t *out;
    size_t outlen = 0;
    pr->rc = inflater_run(ctx->inflater, pr->stream, pr->stream_len, &out, &outlen);
    if (pr->rc == 0 && outlen != pr->inflated_len)
        pr->rc = -EPROTO;
    counter_add(pr->done, 1);
}

/* Runs PROBES probe items of the zlib stream of LEN zeros on a pool with OPTS; checks each saw the
 * limits WANT_BYTES and WANT_RATIO and inflating gave WANT_RC. */
static void probe_pool(const struct workers_opts *opts, size_t len, size_t want_bytes,
                       unsigned want_ratio, int want_rc)
{
    enum { PROBES = 64 };
    uint8_t *zeros = calloc(1, len);
    uLongf clen = compressBound(len);
    uint8_t *stream = malloc(clen);
    CHECK(compress2(stream, &clen, zeros, len, 9) == Z_OK, "compress2");
    struct workers *p = NULL;
    CHECK(workers_start(&p, opts) == 0, "workers_start");
    unsigned n = workers_count(p);
    struct counter done;
    counter_init(&done);
    static struct ctx_probe probes[PROBES];
    for (int i = 0; i < PROBES; i++) {
        probes[i] = (struct ctx_probe){.base.run = probe_run,
                                       .stream = stream,
                                       .stream_len = clen,
                                       .inflated_len = len,
                                       .done = &done};
        while (!workers_submit(p, &probes[i].base))
            sched_yield();
    }
    CHECK(counter_wait(&done, PROBES) == PROBES, "the probes ran");
    workers_stop(p);
    for (int i = 0; i < PROBES; i++) {
        CHECK(probes[i].index < n, "index %u of %u workers", probes[i].index, n);
        /* One inflater a worker: the same index, the same inflater, and only then. */
        for (int k = 0; k < i; k++)
            CHECK((probes[k].index == probes[i].index) ==
                      (probes[k].inflater == probes[i].inflater),
                  "workers %u and %u, inflaters %p and %p", probes[k].index, probes[i].index,
                  (const void *)probes[k].inflater, (const void *)probes[i].inflater);
        CHECK(probes[i].max_inflated == want_bytes, "max_inflated %zu, not %zu",
              probes[i].max_inflated, want_bytes);
        CHECK(probes[i].max_ratio == want_ratio, "max_ratio %u, not %u", probes[i].max_ratio,
              want_ratio);
        CHECK(probes[i].rc == want_rc, "inflating %zu zeros: %d, not %d", len, probes[i].rc,
              want_rc);
    }
    counter_destroy(&done);
    free(stream);
    free(zeros);
}

static void each_worker_has_its_own_bounded_inflater(void)
{
    /* The defaults: 64 MiB and 1000 times (10000 zeros deflate to a few dozen bytes). */
    struct workers_opts o = {.threads = 2, .profile = PROFILE_ELASTIC};
    probe_pool(&o, 10000, WORKERS_DEFAULT_MAX_INFLATED, WORKERS_DEFAULT_MAX_RATIO, 0);
    /* Given limits reach the inflater: the byte cap, then the ratio. */
    o.max_inflated = 9999;
    o.max_ratio = 1000000;
    probe_pool(&o, 10000, 9999, 1000000, -EMSGSIZE);
    o.max_inflated = 10000;
    probe_pool(&o, 10000, 10000, 1000000, 0);
    o.max_inflated = (size_t)1 << 30;
    o.max_ratio = 2;
    probe_pool(&o, 10000, (size_t)1 << 30, 2, -EMSGSIZE);
}

static void zero_threads_means_one_per_core(void)
{
    struct workers *p = start(0, 0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(cores > 0 && workers_count(p) == (unsigned)cores, "%u workers for %ld cores",
          workers_count(p), cores);
    /* And the default queue (1024 slots) works like any other. */
    struct batch b;
    batch_init(&b, 3000, workers_count(p));
    for (long i = 0; i < b.n; i++)
        submit(p, job_new(&b, i, NULL));
    CHECK(counter_wait(&b.done, b.n) == b.n, "the items completed");
    workers_stop(p);
    check_each_ran_once(&b);
    batch_destroy(&b);
}

static void stats_sum_what_every_worker_published(void)
{
    enum { THREADS = 3, ITEMS = 3000 };
    struct workers *p = start(THREADS, 64);
    struct detect_stats st;
    workers_stats(p, &st);
    CHECK(st.events == 0 && st.alerts == 0, "a new pool has counted nothing");
    struct batch b;
    batch_init(&b, ITEMS, THREADS);
    for (long i = 0; i < b.n; i++) {
        struct job *j = job_new(&b, i, NULL);
        j->count_event = true;
        submit(p, j);
    }
    CHECK(counter_wait(&b.done, b.n) == b.n, "the items completed");
    /* A worker publishes its counters after its item returns: wait for the sum to get there. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        workers_stats(p, &st);
        CHECK(st.events <= ITEMS, "%llu events counted for %d items", (unsigned long long)st.events,
              ITEMS);
        if (st.events >= ITEMS)
            break;
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < DEADLINE_S);
    CHECK(st.events == ITEMS, "%llu events published for %d items", (unsigned long long)st.events,
          ITEMS);
    CHECK(st.alerts == 0 && st.candidates == 0 && st.parsed == 0 && st.malformed == 0,
          "only events were counted");
    workers_stop(p);
    check_each_ran_once(&b);
    batch_destroy(&b);
}

int main(void)
{
    RUN_TEST(every_item_runs_once_and_completes_before_stop);
    RUN_TEST(items_submitted_from_several_threads_all_run_and_complete);
    RUN_TEST(a_full_queue_refuses_without_taking_the_item);
    RUN_TEST(stop_lets_in_flight_and_queued_items_finish);
    RUN_TEST(each_worker_has_its_own_bounded_inflater);
    RUN_TEST(zero_threads_means_one_per_core);
    RUN_TEST(stats_sum_what_every_worker_published);
    return check_summary();
}
