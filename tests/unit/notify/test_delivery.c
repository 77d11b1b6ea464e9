/* Webhook delivery (notify/delivery.c) from a real journal to a real HTTP server on 127.0.0.1
 * (libmicrohttpd, in this process): order, body and headers, signatures, retries, dead letters,
 * cursors and restarts. Delivery runs its own thread, so this is a plain program that CI also
 * runs under ThreadSanitizer (tests/support/check.h). Nothing here depends on timing: every wait
 * is for a condition, with a deadline generous enough for a loaded machine. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../support/check.h"
#include "base/log.h"
#include "notify/delivery.h"
#include "notify/sign.h"
#include "notify/targets.h"
#include "store/cursor.h"
#include "store/journal.h"

#define DEADLINE_S   120
#define MAX_SEEN     64
#define MAX_SCRIPTED 8

/* The key of the Standard Webhooks target: base64 of "0123456789abcdef0123456789abcdef". */
static const char std_key[] = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
static const char hub_key[] = "a github secret";

static char root[256];

/* ---- The HTTP server: records every request, answers from a per-path script ---- */

struct seen {
    char path[32];
    char *body;
    char content_type[64], webhook_id[128], webhook_ts[32], webhook_sig[256], hub_sig[128];
    unsigned status; /* what it was answered */
};

struct route {
    char path[32];
    unsigned status[MAX_SCRIPTED]; /* the answers to its first requests; 200 after them */
    size_t nstatus, used;
};

static struct {
    struct MHD_Daemon *daemon;
    uint16_t port;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct seen seen[MAX_SEEN];
    size_t nseen;
    struct route routes[4];
    size_t nroutes;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

struct upload {
    char *data;
    size_t len;
};

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t outlen)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, outlen, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **ctx)
{
    (void)cls;
    (void)version;
    if (!*ctx) {
        *ctx = calloc(1, sizeof(struct upload));
        return *ctx ? MHD_YES : MHD_NO;
    }
    struct upload *up = *ctx;
    if (*data_size) {
        char *p = realloc(up->data, up->len + *data_size + 1);
        if (!p)
            return MHD_NO;
        memcpy(p + up->len, data, *data_size);
        up->len += *data_size;
        p[up->len] = '\0';
        up->data = p;
        *data_size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    pthread_mutex_lock(&srv.mu);
    for (size_t i = 0; i < srv.nroutes; i++) {
        struct route *r = &srv.routes[i];
        if (!strcmp(r->path, url) && r->used < r->nstatus)
            status = r->status[r->used++];
    }
    if (strcmp(method, "POST") != 0)
        status = 405;
    if (srv.nseen < MAX_SEEN) {
        struct seen *s = &srv.seen[srv.nseen++];
        snprintf(s->path, sizeof(s->path), "%s", url);
        s->body = up->data ? up->data : strdup("");
        up->data = NULL;
        copy_header(c, "Content-Type", s->content_type, sizeof(s->content_type));
        copy_header(c, "webhook-id", s->webhook_id, sizeof(s->webhook_id));
        copy_header(c, "webhook-timestamp", s->webhook_ts, sizeof(s->webhook_ts));
        copy_header(c, "webhook-signature", s->webhook_sig, sizeof(s->webhook_sig));
        copy_header(c, "X-Hub-Signature-256", s->hub_sig, sizeof(s->hub_sig));
        s->status = status;
    }
    pthread_cond_broadcast(&srv.cond);
    pthread_mutex_unlock(&srv.mu);
    static char ok[] = "ok", refused[] = "this alert is refused";
    char *text = status / 100 == 2 ? ok : refused;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    struct upload *up = *ctx;
    if (up)
        free(up->data);
    free(up);
    *ctx = NULL;
}

static bool server_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    srv.daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!srv.daemon)
        return false;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv.port = info ? info->port : 0;
    return srv.port != 0;
}

/* Forgets the requests seen and the scripts. */
static void server_reset(void)
{
    pthread_mutex_lock(&srv.mu);
    for (size_t i = 0; i < srv.nseen; i++)
        free(srv.seen[i].body);
    srv.nseen = 0;
    srv.nroutes = 0;
    pthread_mutex_unlock(&srv.mu);
}

/* PATH answers its next N requests with STATUS, in order, then 200. */
static void server_script(const char *path, const unsigned *status, size_t n)
{
    pthread_mutex_lock(&srv.mu);
    struct route *r = &srv.routes[srv.nroutes++];
    snprintf(r->path, sizeof(r->path), "%s", path);
    memcpy(r->status, status, n * sizeof(*status));
    r->nstatus = n;
    r->used = 0;
    pthread_mutex_unlock(&srv.mu);
}

static size_t count_on(const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < srv.nseen; i++)
        n += !strcmp(srv.seen[i].path, path);
    return n;
}

/* Waits until PATH has had N requests. */
static bool wait_requests(const char *path, size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE_S;
    pthread_mutex_lock(&srv.mu);
    int rc = 0;
    while (count_on(path) < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&srv.cond, &srv.mu, &until);
    bool ok = count_on(path) >= n;
    pthread_mutex_unlock(&srv.mu);
    return ok;
}

/* The bodies PATH received, in order (copies, into OUT; returns how many). */
static size_t bodies_on(const char *path, struct seen *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&srv.mu);
    for (size_t i = 0; i < srv.nseen && n < max; i++) {
        if (strcmp(srv.seen[i].path, path) != 0)
            continue;
        out[n] = srv.seen[i];
        out[n].body = strdup(srv.seen[i].body);
        n++;
    }
    pthread_mutex_unlock(&srv.mu);
    return n;
}

static void seen_free(struct seen *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].body);
}

/* ---- The journal, the targets, the cursors ---- */

struct alert {
    char doc[256];
    char id[32];
    uint64_t seq;
};

static void make_alert(struct alert *a, const char *dir, int i)
{
    snprintf(a->id, sizeof(a->id), "alert-%s-%d", strrchr(dir, '/') + 1, i);
    snprintf(a->doc, sizeof(a->doc),
             "{\"alert_id\":\"%s\",\"@timestamp\":\"2026-12-07T10:00:%02d.000Z\","
             "\"rule\":{\"name\":\"AmsiEnable set to 0\",\"severity\":\"high\"},"
             "\"host\":{\"name\":\"ws-%d\"},\"n\":%d}",
             a->id, i % 60, i, i);
}

/* Appends alerts FROM..TO-1 of A to the journal of DIR. */
static void append(struct journal *j, const char *dir, struct alert *a, int from, int to)
{
    for (int i = from; i < to; i++) {
        make_alert(&a[i], dir, i);
        int rc = journal_append_wait(j, a[i].doc, strlen(a[i].doc), &a[i].seq);
        CHECK(rc == 0, "append %d: %s", i, strerror(-rc));
    }
}

static struct journal *journal_in(const char *dir)
{
    struct journal_opts o;
    journal_opts_default(&o);
    struct journal *j = NULL;
    int rc = journal_open(&j, dir, &o, NULL);
    CHECK(rc == 0, "journal_open %s: %s", dir, strerror(-rc));
    return j;
}

static void set(struct target *t, const char *key, const char *value)
{
    char why[256] = "";
    CHECK(target_set(t, key, value, why, sizeof(why)) == 0, "%s=%s: %s", key, value, why);
}

/* A generic target NAME posting to /NAME, fast to retry and not rate limited. */
static void target_for(struct target *t, const char *name)
{
    target_defaults(t);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/%s", (unsigned)srv.port, name);
    set(t, "name", name);
    set(t, "url", url);
    set(t, "timeout", "60s");
    set(t, "rate", "1000/s");
    set(t, "retry.max-backoff", "20ms");
}

static void secret_file(struct target *t, const char *dir, const char *key, const char *secret)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.secret", dir, t->name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create %s", path);
    if (!f)
        return;
    fprintf(f, "%s\n", secret);
    fclose(f);
    set(t, key, path);
}

/* Adds an unsigned target NAME. */
static void plain_target(struct target_list *tl, const char *name)
{
    struct target t;
    target_for(&t, name);
    target_list_add(tl, &t);
}

/* Adds a target NAME signed with SCHEME, its key KEY read from a file in DIR. */
static void signed_target(struct target_list *tl, const char *dir, const char *name,
                          const char *scheme, const char *key)
{
    struct target t;
    target_for(&t, name);
    set(&t, "signing.scheme", scheme);
    secret_file(&t, dir, "signing.secret-file", key);
    char why[256] = "";
    CHECK(target_validate(&t, why, sizeof(why)) == 0, "%s", why);
    target_list_add(tl, &t);
}

static uint64_t cursor_at(const char *dir, const char *name)
{
    struct cursor *c = NULL;
    if (cursor_open(&c, dir, name) < 0)
        return 0;
    uint64_t at = cursor_get(c);
    cursor_close(c);
    return at;
}

/* Waits until every target's cursor in DIR, as stored on disk, is AT. */
static void wait_cursors(const char *dir, const struct target_list *tl, uint64_t at)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (size_t i = 0; i < tl->n; i++) {
        const char *name = tl->v[i].name;
        time_t until = time(NULL) + DEADLINE_S;
        while (cursor_at(dir, name) != at && time(NULL) < until)
            nanosleep(&pause, NULL);
        CHECK(cursor_at(dir, name) == at, "%s's cursor is at %" PRIu64 ", not %" PRIu64, name,
              cursor_at(dir, name), at);
    }
}

static struct delivery *start(const char *dir, const struct target_list *tl)
{
    struct delivery *d = NULL;
    int rc = delivery_start(&d, dir, tl);
    CHECK(rc == 0, "delivery_start: %s", strerror(-rc));
    return rc == 0 ? d : NULL;
}

/* Runs delivery of DIR to TL until every cursor is AT. */
static void deliver_until(const char *dir, const struct target_list *tl, uint64_t at)
{
    struct delivery *d = start(dir, tl);
    if (!d)
        return;
    wait_cursors(dir, tl, at);
    delivery_stop(d);
}

/* The dead-letter list of NAME (its first 4 KiB), or NULL when there is none. */
static char *dead_letters(const char *dir, const char *name)
{
    char path[1024];
    delivery_dead_path(dir, name, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = calloc(1, 4096);
    if (text && fread(text, 1, 4095, f) == 0 && ferror(f)) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

static void make_dir(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/%s", root, name);
    CHECK(mkdir(out, 0700) == 0, "mkdir %s: %s", out, strerror(errno));
}

/* A new data directory NAME under the root with a journal holding N alerts (into A), and a server
 * that has seen nothing yet. NULL when the journal cannot be opened. */
static struct journal *fresh(char *dir, size_t dirlen, const char *name, struct alert *a, int n)
{
    make_dir(dir, dirlen, name);
    server_reset();
    struct journal *j = journal_in(dir);
    if (j)
        append(j, dir, a, 0, n);
    return j;
}

/* Checks that V (N requests) are the alerts A[FROM..FROM+N-1] in order, as generic bodies. */
static void check_bodies(const struct seen *v, size_t n, const struct alert *a, int from)
{
    for (size_t i = 0; i < n; i++) {
        json_t *got = json_loads(v[i].body, 0, NULL);
        json_t *want = json_loads(a[from + (int)i].doc, 0, NULL);
        CHECK(got && json_equal(got, want), "%s request %zu is alert %d: %s", v[i].path, i,
              from + (int)i, v[i].body);
        CHECK(!strcmp(v[i].content_type, "application/json"), "%s Content-Type: %s", v[i].path,
              v[i].content_type);
        json_decref(got);
        json_decref(want);
    }
}

/* ---- The tests ---- */

/* Two targets, one signed the Standard Webhooks way and one the GitHub way: each alert once, in
 * journal order, with its headers; alerts appended while delivery runs follow; the cursors on disk
 * move; a restart goes on from them without sending anything again. */
static void delivers_each_alert_once_in_order_signed_and_resumes_from_the_cursor(void)
{
    char dir[512];
    struct alert a[9];
    struct journal *j = fresh(dir, sizeof(dir), "order", a, 3);
    if (!j)
        return;

    struct target_list tl = {0};
    signed_target(&tl, dir, "std", "standard-webhooks", std_key);
    signed_target(&tl, dir, "hub", "github", hub_key);

    struct delivery *d = start(dir, &tl);
    if (d) {
        CHECK(wait_requests("/std", 3) && wait_requests("/hub", 3), "the first three arrive");
        wait_cursors(dir, &tl, a[2].seq + 1);
        append(j, dir, a, 3, 6);
        delivery_notify(d);
        wait_cursors(dir, &tl, a[5].seq + 1);
        delivery_stop(d);
    }

    struct seen v[MAX_SEEN];
    size_t n = bodies_on("/std", v, MAX_SEEN);
    CHECK(n == 6, "std got %zu requests, not 6", n);
    check_bodies(v, n, a, 0);
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        CHECK(!strcmp(v[i].webhook_id, a[i].id), "webhook-id %s", v[i].webhook_id);
        long long ts = strtoll(v[i].webhook_ts, NULL, 10);
        CHECK(ts > now - 600 && ts <= now + 5, "webhook-timestamp %s", v[i].webhook_ts);
        char sig[256];
        CHECK(sign_standard_v1(std_key, v[i].webhook_id, v[i].webhook_ts, v[i].body,
                               strlen(v[i].body), sig, sizeof(sig)) == 0 &&
                  !strcmp(sig, v[i].webhook_sig),
              "webhook-signature %s, expected %s", v[i].webhook_sig, sig);
        CHECK(!v[i].hub_sig[0], "no GitHub signature on a Standard Webhooks target");
    }
    seen_free(v, n);
    n = bodies_on("/hub", v, MAX_SEEN);
    CHECK(n == 6, "hub got %zu requests, not 6", n);
    check_bodies(v, n, a, 0);
    for (size_t i = 0; i < n; i++) {
        char sig[256];
        CHECK(sign_github(hub_key, v[i].body, strlen(v[i].body), sig, sizeof(sig)) == 0 &&
                  !strcmp(sig, v[i].hub_sig),
              "X-Hub-Signature-256 %s, expected %s", v[i].hub_sig, sig);
        CHECK(!v[i].webhook_sig[0] && !v[i].webhook_id[0], "no Standard Webhooks headers");
    }
    seen_free(v, n);

    /* A restart: only what was appended since goes out. */
    append(j, dir, a, 6, 9);
    deliver_until(dir, &tl, a[8].seq + 1);
    const char *paths[] = {"/std", "/hub"};
    for (size_t p = 0; p < 2; p++) {
        n = bodies_on(paths[p], v, MAX_SEEN);
        CHECK(n == 9, "%s got %zu requests in all, not 9", paths[p], n);
        if (n == 9)
            check_bodies(v + 6, 3, a, 6);
        seen_free(v, n);
    }
    target_list_free(&tl);
    journal_close(j);
}

/* One target answering 500 then 200 to the first alert, 400 to the second and 200 after: the
 * first is sent again and delivered once, the second is listed dead, the third is delivered, and
 * the cursor ends past all three. */
static void retries_a_5xx_and_marks_a_4xx_dead_then_goes_on(void)
{
    char dir[512];
    struct alert a[3];
    struct journal *j = fresh(dir, sizeof(dir), "retry", a, 3);
    if (!j)
        return;
    server_script("/flaky", (const unsigned[]){500, 200, 400}, 3);
    struct target_list tl = {0};
    plain_target(&tl, "flaky");

    deliver_until(dir, &tl, a[2].seq + 1);
    struct seen v[MAX_SEEN];
    size_t n = bodies_on("/flaky", v, MAX_SEEN);
    CHECK(n == 4, "%zu requests, not 4 (500 and 200 for the first, 400, 200)", n);
    if (n == 4) {
        check_bodies(v, 1, a, 0); /* the first, twice */
        check_bodies(v + 1, 1, a, 0);
        check_bodies(v + 2, 2, a, 1);
        CHECK(v[0].status == 500 && v[1].status == 200 && v[2].status == 400 && v[3].status == 200,
              "answered %u %u %u %u", v[0].status, v[1].status, v[2].status, v[3].status);
    }
    seen_free(v, n);

    char *dead = dead_letters(dir, "flaky");
    char want[64];
    snprintf(want, sizeof(want), "%" PRIu64 "\tHTTP 400", a[1].seq);
    CHECK(dead && !strncmp(dead, want, strlen(want)), "the dead letters start \"%s\": %s", want,
          dead ? dead : "(no file)");
    CHECK(dead && strchr(dead, '\n') == dead + strlen(dead) - 1, "one dead letter: %s",
          dead ? dead : "(no file)");
    free(dead);
    target_list_free(&tl);
    journal_close(j);
}

/* A target that answers 410 Gone is disabled until the next start: it is sent nothing more, its
 * cursor stays where it was and nothing is marked dead, while another target goes on. The next
 * start sends it the journal again from its cursor. */
static void a_410_disables_the_target_until_the_next_start(void)
{
    char dir[512];
    struct alert a[3];
    struct journal *j = fresh(dir, sizeof(dir), "gone", a, 3);
    if (!j)
        return;
    server_script("/gone", (const unsigned[]){410}, 1);
    struct target_list tl = {0};
    plain_target(&tl, "gone");
    plain_target(&tl, "steady");

    struct delivery *d = start(dir, &tl);
    if (d) {
        CHECK(wait_requests("/gone", 1) && wait_requests("/steady", 3), "the requests arrive");
        struct target_list steady = {tl.v + 1, 1};
        wait_cursors(dir, &steady, a[2].seq + 1);
        delivery_stop(d);
    }
    struct seen v[MAX_SEEN];
    size_t n = bodies_on("/gone", v, MAX_SEEN);
    CHECK(n == 1 && v[0].status == 410, "gone got %zu requests, not one answered 410", n);
    seen_free(v, n);
    CHECK(cursor_at(dir, "gone") == a[0].seq, "gone's cursor moved to %" PRIu64,
          cursor_at(dir, "gone"));
    char *dead = dead_letters(dir, "gone");
    CHECK(!dead || !dead[0], "nothing is dead: %s", dead);
    free(dead);

    deliver_until(dir, &tl, a[2].seq + 1);
    n = bodies_on("/gone", v, MAX_SEEN);
    CHECK(n == 4, "gone got %zu requests in all, not 4", n);
    if (n == 4)
        check_bodies(v + 1, 3, a, 0);
    seen_free(v, n);
    n = bodies_on("/steady", v, MAX_SEEN);
    CHECK(n == 3, "steady got %zu requests in all, not 3", n);
    seen_free(v, n);
    target_list_free(&tl);
    journal_close(j);
}

/* An update while delivery runs: a changed target (a new URL) goes on from its cursor at the new
 * URL, a new one starts at the start of the journal, a removed one is sent nothing more and its
 * cursor stays on disk, an unchanged one goes on; the counts say which was which. */
static void an_update_keeps_each_cursor_by_name(void)
{
    char dir[512];
    struct alert a[6];
    struct journal *j = fresh(dir, sizeof(dir), "update", a, 3);
    if (!j)
        return;
    struct target_list tl = {0};
    plain_target(&tl, "moved");
    plain_target(&tl, "dropped");
    plain_target(&tl, "steady");
    struct delivery *d = start(dir, &tl);
    if (!d) {
        target_list_free(&tl);
        journal_close(j);
        return;
    }
    wait_cursors(dir, &tl, a[2].seq + 1);

    struct target_list next = {0};
    struct target t;
    target_for(&t, "moved");
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/moved-here", (unsigned)srv.port);
    set(&t, "url", url);
    target_list_add(&next, &t);
    plain_target(&next, "added");
    /* The same options reached another way (a longer name first, as a file's default name
     * "webhook-N" is before its name: key): the same target. */
    target_for(&t, "steady");
    char steady_url[sizeof(t.url)];
    snprintf(steady_url, sizeof(steady_url), "%s", t.url);
    set(&t, "name", "steady-by-another-name");
    set(&t, "name", "steady");
    set(&t, "url", "http://127.0.0.1:1/a/much/longer/path/than/the/other");
    set(&t, "url", steady_url);
    target_list_add(&next, &t);
    struct delivery_changes ch;
    int rc = delivery_update(d, &next, &ch);
    CHECK(rc == 0, "delivery_update: %s", strerror(-rc));
    CHECK(ch.added == 1 && ch.removed == 1 && ch.changed == 1 && ch.unchanged == 1,
          "%zu added, %zu removed, %zu changed, %zu unchanged", ch.added, ch.removed, ch.changed,
          ch.unchanged);
    append(j, dir, a, 3, 6);
    delivery_notify(d);
    wait_cursors(dir, &next, a[5].seq + 1);
    delivery_stop(d);

    struct seen v[MAX_SEEN];
    size_t n = bodies_on("/moved-here", v, MAX_SEEN);
    CHECK(n == 3, "the moved target got %zu requests at its new URL, not 3", n);
    if (n == 3)
        check_bodies(v, 3, a, 3);
    seen_free(v, n);
    n = bodies_on("/added", v, MAX_SEEN);
    CHECK(n == 6, "the added target got %zu requests, not the 6 alerts of the journal", n);
    if (n == 6)
        check_bodies(v, 6, a, 0);
    seen_free(v, n);
    n = bodies_on("/dropped", v, MAX_SEEN);
    CHECK(n == 3, "the removed target got %zu requests, not the 3 before the update", n);
    seen_free(v, n);
    n = bodies_on("/steady", v, MAX_SEEN);
    CHECK(n == 6, "the unchanged target got %zu requests, not 6", n);
    if (n == 6)
        check_bodies(v, 6, a, 0);
    seen_free(v, n);
    n = bodies_on("/moved", v, MAX_SEEN);
    CHECK(n == 3, "the moved target's old URL got %zu requests, not 3", n);
    seen_free(v, n);
    CHECK(cursor_at(dir, "dropped") == a[2].seq + 1, "the removed target's cursor is at %" PRIu64,
          cursor_at(dir, "dropped"));
    target_list_free(&tl);
    target_list_free(&next);
    journal_close(j);
}

int main(void)
{
    log_set_level(LOG_WARN);
    snprintf(root, sizeof(root), "/tmp/amsiwatch-test-delivery-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    if (!server_start()) {
        fprintf(stderr, "cannot start the HTTP server on 127.0.0.1\n");
        return 1;
    }
    RUN_TEST(delivers_each_alert_once_in_order_signed_and_resumes_from_the_cursor);
    RUN_TEST(retries_a_5xx_and_marks_a_4xx_dead_then_goes_on);
    RUN_TEST(a_410_disables_the_target_until_the_next_start);
    RUN_TEST(an_update_keeps_each_cursor_by_name);
    MHD_stop_daemon(srv.daemon);
    server_reset();
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_summary();
}
