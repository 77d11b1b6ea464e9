/* Many appenders, one writer, readers following: run under ThreadSanitizer in CI (a plain
 * program: see tests/support/check.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../support/check.h"
#include "base/fault.h"
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

/* ---- A follower held where it has read all its segment holds and not yet looked for the next,
 * while the writer fills that segment and rotates (and the sealer compresses and removes it). ----
 */

struct hold {
    struct journal *j;
    atomic_int armed; /* 1: the next passage of reader-segment-end appends the records below */
    uint64_t next;    /* the next sequence number to append */
    uint64_t count;   /* how many to append while the reader is held */
    bool wait_seal;   /* and wait until the sealer compressed every sealed segment */
    atomic_int held;  /* times the reader was held */
};

static int payload_of(uint64_t seq, char *out, size_t outlen)
{
    return snprintf(out, outlen, "{\"seq\":%llu,\"pad\":\"%0*d\"}", (unsigned long long)seq,
                    (int)(seq % 90) + 10, 0);
}

static void append_upto(struct journal *j, uint64_t *next, uint64_t count)
{
    char p[160];
    for (uint64_t n = 0; n < count; n++, (*next)++) {
        int len = payload_of(*next, p, sizeof(p));
        uint64_t seq = 0;
        int rc = journal_append_wait(j, p, (size_t)len, &seq);
        CHECK(rc == 0 && seq == *next, "append of %llu: rc %d seq %llu", (unsigned long long)*next,
              rc, (unsigned long long)seq);
    }
}

static int hold_reader(const char *name, void *ctx)
{
    struct hold *h = ctx;
    int one = 1;
    if (strcmp(name, "reader-segment-end") != 0 ||
        !atomic_compare_exchange_strong(&h->armed, &one, 0))
        return 0;
    /* On the reader's thread, inside the window: the writer writes more records into the segment
     * the reader just found at its end, and creates the next segment. */
    append_upto(h->j, &h->next, h->count);
    if (h->wait_seal) {
        time_t start = time(NULL);
        struct journal_stats st;
        for (;;) {
            journal_get_stats(h->j, &st);
            if (st.segments_compressed == st.segments_sealed || time(NULL) - start > 60)
                break;
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        CHECK(st.segments_compressed == st.segments_sealed, "%llu of %llu segments compressed",
              (unsigned long long)st.segments_compressed, (unsigned long long)st.segments_sealed);
    }
    atomic_fetch_add(&h->held, 1);
    return 0;
}

/* Reads until nothing more is there (twice: what was appended while the reader was held in its
 * last call may be read in the next), checking every record is the next one, whole. */
static void read_on(struct journal_reader *r, uint64_t *expect, uint64_t upto)
{
    struct journal_record rec;
    int rc, empty = 0;
    char want[160];
    while ((rc = journal_reader_next(r, &rec)) >= 0 && (rc == 1 || ++empty < 2)) {
        if (rc == 0)
            continue;
        empty = 0;
        CHECK(rec.seq == *expect, "the follower read %llu where %llu was next",
              (unsigned long long)rec.seq, (unsigned long long)*expect);
        int len = payload_of(rec.seq, want, sizeof(want));
        CHECK(rec.len == (size_t)len && memcmp(rec.payload, want, rec.len) == 0, "payload of %llu",
              (unsigned long long)rec.seq);
        *expect = rec.seq + 1;
    }
    CHECK(rc == 0, "reader error %d", rc);
    CHECK(*expect == upto + 1, "the follower stopped at %llu, %llu were written",
          (unsigned long long)*expect - 1, (unsigned long long)upto);
}

static void follow_while_held_at_segment_end(bool compress)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/held-%d", root, (int)compress);
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 4096; /* about 25 records a segment */
    o.compress_sealed = compress;
    static struct hold h;
    memset(&h, 0, sizeof(h));
    h.next = 1;
    h.wait_seal = compress;
    if (journal_open(&h.j, dir, &o, NULL) != 0) {
        CHECK(0, "cannot open the journal in %s", dir);
        return;
    }
    append_upto(h.j, &h.next, 3);
    struct journal_reader *r;
    if (journal_reader_open(&r, dir, 1) != 0) {
        CHECK(0, "cannot open a reader");
        journal_close(h.j);
        return;
    }
    uint64_t expect = 1;
    read_on(r, &expect, 3);
    fault_set_hook(hold_reader, &h);
    /* Held in the first segment, then in later ones, at different depths into them. */
    const uint64_t bursts[] = {40, 30, 60, 25, 1, 50};
    for (size_t i = 0; i < sizeof(bursts) / sizeof(bursts[0]); i++) {
        h.count = bursts[i];
        atomic_store(&h.armed, 1);
        read_on(r, &expect, h.next - 1 + bursts[i]);
        CHECK(atomic_load(&h.held) == (int)i + 1, "the reader was held %d times",
              atomic_load(&h.held));
    }
    fault_set_hook(NULL, NULL);
    struct journal_stats st;
    journal_get_stats(h.j, &st);
    CHECK(st.segments_sealed >= 6, "%llu segments sealed", (unsigned long long)st.segments_sealed);
    struct reader_stats rs;
    journal_reader_stats(r, &rs);
    CHECK(rs.corrupt_regions == 0 && rs.missing_records == 0, "%llu damaged, %llu missing",
          (unsigned long long)rs.corrupt_regions, (unsigned long long)rs.missing_records);
    journal_reader_close(r);
    journal_close(h.j);
}

static void a_follower_held_at_a_segment_end_across_rotation_reads_every_record_once(void)
{
    follow_while_held_at_segment_end(false);
}

static void a_follower_held_at_a_segment_end_across_sealing_reads_every_record_once(void)
{
    follow_while_held_at_segment_end(true);
}

/* ---- A follower that opened a segment whose creation then failed (a full disk): the writer
 * removes the half-made file and makes it again when space is back. ---- */

struct failed_create {
    atomic_int fail; /* 1: the next creation of a segment fails with ENOSPC */
    atomic_int hold; /* 1: the writer waits, the half-made file in place, until release */
    atomic_int held; /* the writer waits */
    atomic_int release;
    atomic_int completed;
};

static int fail_creation(const char *name, void *ctx)
{
    struct failed_create *c = ctx;
    int one = 1;
    if (strcmp(name, "journal-create") == 0)
        return atomic_compare_exchange_strong(&c->fail, &one, 0) ? -ENOSPC : 0;
    if (strcmp(name, "segment-created-before-dir-sync") == 0 &&
        atomic_compare_exchange_strong(&c->hold, &one, 0)) {
        atomic_store(&c->held, 1);
        while (!atomic_load(&c->release)) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

static void count_completion(void *arg, int status, uint64_t seq)
{
    struct failed_create *c = arg;
    (void)seq;
    if (status == 0)
        atomic_fetch_add(&c->completed, 1);
}

static void a_follower_on_a_segment_whose_creation_failed_reads_it_once_made_again(void)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/failed-create", root);
    struct journal_opts o;
    journal_opts_default(&o);
    o.segment_bytes = 4096;
    o.compress_sealed = false;
    struct journal *j;
    if (journal_open(&j, dir, &o, NULL) != 0) {
        CHECK(0, "cannot open the journal in %s", dir);
        return;
    }
    uint64_t next = 1, expect = 1;
    append_upto(j, &next, 3);
    struct journal_reader *r;
    if (journal_reader_open(&r, dir, 1) != 0) {
        CHECK(0, "cannot open a reader");
        journal_close(j);
        return;
    }
    read_on(r, &expect, 3);
    static struct failed_create c;
    memset(&c, 0, sizeof(c));
    atomic_store(&c.fail, 1);
    atomic_store(&c.hold, 1);
    fault_set_hook(fail_creation, &c);
    const uint64_t more = 40; /* fills the first segment and goes on in the second */
    char p[160];
    for (uint64_t n = 0; n < more; n++, next++) {
        int len = payload_of(next, p, sizeof(p));
        CHECK(journal_append(j, p, (size_t)len, count_completion, &c) == 0, "append");
    }
    time_t start = time(NULL);
    while (!atomic_load(&c.held) && time(NULL) - start < 60) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(atomic_load(&c.held), "the writer never reached the creation of the next segment");
    /* The first segment is complete and the half-made second one is there: the follower reads
     * the first to its end and moves on to the second. */
    uint64_t first_segment = 3 + (uint64_t)atomic_load(&c.completed);
    read_on(r, &expect, first_segment);
    atomic_store(&c.release, 1);
    CHECK(journal_flush(j) == 0, "flush");
    CHECK(atomic_load(&c.completed) == (int)more, "%d of %d appends completed",
          atomic_load(&c.completed), (int)more);
    read_on(r, &expect, next - 1);
    fault_set_hook(NULL, NULL);
    journal_reader_close(r);
    journal_close(j);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/amsiwatch-test-conc-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(many_appenders_one_writer_and_a_follower_lose_and_duplicate_nothing);
    RUN_TEST(a_follower_held_at_a_segment_end_across_rotation_reads_every_record_once);
    RUN_TEST(a_follower_held_at_a_segment_end_across_sealing_reads_every_record_once);
    RUN_TEST(a_follower_on_a_segment_whose_creation_failed_reads_it_once_made_again);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_summary();
}
