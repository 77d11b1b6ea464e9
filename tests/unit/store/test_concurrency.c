/* Many appenders, one writer, readers following: run under ThreadSanitizer in CI (a plain
 * program: see tests/support/check.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../support/check.h"
#include "store/journal.h"
#include "store/reader.h"
#include "store/verify.h"

#define APPENDERS  4
#define PER_THREAD 400

static char root[256];

struct shared {
    struct journal *j;
    atomic_int done_ok;
    atomic_int done_err;
    atomic_int appenders_left;
    unsigned char seen[APPENDERS][PER_THREAD];
};

struct appender {
    struct shared *s;
    int id;
};

static void completed(void *arg, int status, uint64_t seq)
{
    struct shared *s = arg;
    (void)seq;
    if (status == 0)
        atomic_fetch_add(&s->done_ok, 1);
    else
        atomic_fetch_add(&s->done_err, 1);
}

static void *append_main(void *arg)
{
    struct appender *a = arg;
    char p[256];
    for (int i = 0; i < PER_THREAD; i++) {
        int n = snprintf(p, sizeof(p), "{\"t\":%d,\"i\":%d,\"pad\":\"%0*d\"}", a->id, i,
                         (i % 50) + 1, 0);
        if (i % 3 == 0) {
            uint64_t seq;
            int rc = journal_append_wait(a->s->j, p, (size_t)n, &seq);
            CHECK(rc == 0 && seq > 0, "append_wait: rc %d seq %llu", rc, (unsigned long long)seq);
            atomic_fetch_add(&a->s->done_ok, 1);
        } else {
            int rc = journal_append(a->s->j, p, (size_t)n, completed, a->s);
            CHECK(rc == 0, "append: rc %d", rc);
        }
    }
    atomic_fetch_sub(&a->s->appenders_left, 1);
    return NULL;
}

static void *follow_main(void *arg)
{
    struct shared *s = arg;
    struct journal_reader *r;
    if (journal_reader_open(&r, root, 1) != 0) {
        CHECK(0, "cannot open a reader");
        return NULL;
    }
    int total = 0;
    uint64_t expect = 1;
    time_t start = time(NULL);
    while (total < APPENDERS * PER_THREAD && time(NULL) - start < 60) {
        struct journal_record rec;
        int rc = journal_reader_next(r, &rec);
        CHECK(rc >= 0, "reader error %d", rc);
        if (rc < 0)
            break;
        if (rc == 0) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (rec.seq != expect)
            CHECK(rec.seq == expect, "reader saw %llu, expected %llu", (unsigned long long)rec.seq,
                  (unsigned long long)expect);
        expect = rec.seq + 1;
        int t = -1, i = -1;
        if (sscanf(rec.payload, "{\"t\":%d,\"i\":%d", &t, &i) != 2 || t < 0 || t >= APPENDERS ||
            i < 0 || i >= PER_THREAD) {
            CHECK(0, "unexpected payload at %llu", (unsigned long long)rec.seq);
            continue;
        }
        if (s->seen[t][i])
            CHECK(0, "record t%d i%d read twice", t, i);
        s->seen[t][i] = 1;
        total++;
    }
    CHECK(total == APPENDERS * PER_THREAD, "the follower read %d records", total);
    journal_reader_close(r);
    return NULL;
}

static void many_appenders_one_writer_and_a_follower_lose_and_duplicate_nothing(void)
{
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 16384; /* rotations and sealing while readers follow */
    static struct shared s;
    memset(&s, 0, sizeof(s));
    if (journal_open(&s.j, root, &o, NULL) != 0) {
        CHECK(0, "cannot open the journal in %s", root);
        return;
    }
    atomic_store(&s.appenders_left, APPENDERS);
    pthread_t follower, apps[APPENDERS];
    struct appender a[APPENDERS];
    pthread_create(&follower, NULL, follow_main, &s);
    for (int i = 0; i < APPENDERS; i++) {
        a[i] = (struct appender){&s, i};
        pthread_create(&apps[i], NULL, append_main, &a[i]);
    }
    for (int i = 0; i < APPENDERS; i++)
        pthread_join(apps[i], NULL);
    CHECK(journal_flush(s.j) == 0, "flush");
    pthread_join(follower, NULL);
    journal_close(s.j);
    CHECK(atomic_load(&s.done_ok) == APPENDERS * PER_THREAD, "%d completions",
          atomic_load(&s.done_ok));
    CHECK(atomic_load(&s.done_err) == 0, "%d failed completions", atomic_load(&s.done_err));
    struct verify_report rep;
    CHECK(journal_verify(root, &rep, NULL, NULL) == 0, "verify ran");
    CHECK(rep.faults == 0, "%llu faults", (unsigned long long)rep.faults);
    CHECK(rep.records == APPENDERS * PER_THREAD, "%llu records", (unsigned long long)rep.records);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/amsiwatch-test-conc-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(many_appenders_one_writer_and_a_follower_lose_and_duplicate_nothing);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_summary();
}
