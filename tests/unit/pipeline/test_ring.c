/* The ring and the worker pool, under ThreadSanitizer in CI (a plain program: see
 * tests/support/check.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../support/check.h"
#include "base/fault.h"
#include "pipeline/ring.h"
#include "pipeline/workers.h"

static void keeps_fifo_order_and_reports_full_and_empty(void)
{
    struct ring *r = ring_new(5);
    CHECK(r != NULL, "ring_new");
    CHECK(ring_capacity(r) == 8, "capacity rounds up to a power of two: %zu", ring_capacity(r));
    CHECK(ring_pop(r) == NULL, "a new ring is empty");
    uintptr_t i;
    for (i = 1; i <= 8; i++)
        CHECK(ring_push(r, (void *)i), "push %lu", (unsigned long)i);
    CHECK(!ring_push(r, (void *)99), "a full ring refuses");
    CHECK(ring_size(r) == 8, "size %zu", ring_size(r));
    for (i = 1; i <= 8; i++)
        CHECK(ring_pop(r) == (void *)i, "pop %lu in order", (unsigned long)i);
    CHECK(ring_pop(r) == NULL, "empty again");
    /* Wrap around many laps. */
    for (i = 1; i <= 1000; i++) {
        CHECK(ring_push(r, (void *)i), "push");
        CHECK(ring_pop(r) == (void *)i, "pop");
    }
    ring_free(r);
    ring_free(NULL);
}

#define PRODUCERS    2
#define CONSUMERS    2
#define PER_PRODUCER 200000

struct stress {
    struct ring *r;
    atomic_int producers_left;
    atomic_uchar seen[PRODUCERS * PER_PRODUCER + 1];
    atomic_long popped;
};

static void *produce(void *arg)
{
    struct stress *s = ((void **)arg)[0];
    uintptr_t base = (uintptr_t)((void **)arg)[1];
    for (uintptr_t i = 1; i <= PER_PRODUCER; i++) {
        while (!ring_push(s->r, (void *)(base * PER_PRODUCER + i)))
            sched_yield();
    }
    atomic_fetch_sub(&s->producers_left, 1);
    return NULL;
}

static void *consume(void *arg)
{
    struct stress *s = arg;
    for (;;) {
        void *item = ring_pop(s->r);
        if (!item) {
            if (atomic_load(&s->producers_left) == 0 && ring_size(s->r) == 0)
                break;
            sched_yield();
            continue;
        }
        uintptr_t v = (uintptr_t)item;
        if (v == 0 || v > PRODUCERS * PER_PRODUCER)
            CHECK(0, "item %lu out of range", (unsigned long)v);
        else if (atomic_fetch_add(&s->seen[v], 1) != 0)
            CHECK(0, "item %lu popped twice", (unsigned long)v);
        atomic_fetch_add(&s->popped, 1);
    }
    return NULL;
}

static void many_producers_and_consumers_pass_every_item_exactly_once(void)
{
    static struct stress s;
    memset(&s, 0, sizeof(s));
    s.r = ring_new(64);
    atomic_store(&s.producers_left, PRODUCERS);
    pthread_t p[PRODUCERS], c[CONSUMERS];
    void *args[PRODUCERS][2];
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consume, &s);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i][0] = &s;
        args[i][1] = (void *)(uintptr_t)i;
        pthread_create(&p[i], NULL, produce, args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);
    CHECK(atomic_load(&s.popped) == PRODUCERS * PER_PRODUCER, "popped %ld", atomic_load(&s.popped));
    long missing = 0;
    for (long v = 1; v <= PRODUCERS * PER_PRODUCER; v++)
        missing += atomic_load(&s.seen[v]) == 0;
    CHECK(missing == 0, "%ld items never popped", missing);
    ring_free(s.r);
}

struct counting_work {
    struct work base;
    atomic_int *done;
    atomic_uint *which_workers;
};

static void count_run(struct work *self, struct worker_ctx *ctx)
{
    struct counting_work *w = (struct counting_work *)self;
    CHECK(ctx->inflater != NULL, "each worker has an inflater");
    atomic_fetch_or(w->which_workers, 1u << (ctx->index % 32));
    atomic_fetch_add(w->done, 1);
    free(w);
}

static void the_pool_runs_every_item_and_finishes_the_queue_on_stop(void)
{
    struct workers_opts o = {.threads = 3, .queue = 16, .profile = PROFILE_ELASTIC};
    struct workers *p;
    CHECK(workers_start(&p, &o) == 0, "start");
    CHECK(workers_count(p) == 3, "three workers");
    static atomic_int done;
    static atomic_uint which;
    atomic_store(&done, 0);
    int submitted = 0, refused = 0;
    for (int i = 0; i < 5000; i++) {
        struct counting_work *w = malloc(sizeof(*w));
        w->base.run = count_run;
        w->done = &done;
        w->which_workers = &which;
        while (!workers_submit(p, &w->base)) {
            refused++;
            sched_yield();
        }
        submitted++;
    }
    workers_stop(p);
    CHECK(atomic_load(&done) == submitted, "%d of %d items ran", atomic_load(&done), submitted);
    printf("(queue full %d times)\n", refused);
}

/* The third thread fails to start: the pool reports the error, the threads that started are
 * joined and every worker's inflater is freed (LeakSanitizer, in the sanitizer build, fails the
 * run on any that leaks). */
static atomic_int start_passages;

static int fail_third_start(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "workers-thread-start") == 0 && atomic_fetch_add(&start_passages, 1) == 2)
        return -EAGAIN;
    return 0;
}

static void a_worker_that_fails_to_start_leaves_nothing_behind(void)
{
    struct workers_opts o = {.threads = 4, .queue = 16, .profile = PROFILE_ELASTIC};
    struct workers *p = NULL;
    atomic_store(&start_passages, 0);
    fault_set_hook(fail_third_start, NULL);
    int rc = workers_start(&p, &o);
    fault_set_hook(NULL, NULL);
    CHECK(rc == -EAGAIN, "workers_start returned %d", rc);
    CHECK(atomic_load(&start_passages) == 3, "%d threads tried", atomic_load(&start_passages));
}

int main(void)
{
    RUN_TEST(keeps_fifo_order_and_reports_full_and_empty);
    RUN_TEST(many_producers_and_consumers_pass_every_item_exactly_once);
    RUN_TEST(the_pool_runs_every_item_and_finishes_the_queue_on_stop);
    RUN_TEST(a_worker_that_fails_to_start_leaves_nothing_behind);
    return check_summary();
}
