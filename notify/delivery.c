#include "notify/delivery.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/histogram.h"
#include "base/log.h"
#include "base/utf8.h"
#include "notify/formats.h"
#include "notify/response.h"
#include "notify/sign.h"
#include "store/cursor.h"
#include "store/reader.h"

#define MAX_SUPPRESS_KEYS 256
#define FIRST_BACKOFF_MS  1000

/* ---- One HTTP request ---- */

struct req {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    char url[1100];
    char err[CURL_ERROR_SIZE];
    char reply[256]; /* the start of the response body, for the logs */
    size_t reply_len;
    struct response resp; /* status and Retry-After, from the header lines */
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = size * n;
    size_t room = sizeof(r->reply) - 1 - r->reply_len;
    size_t take = len < room ? len : room;
    memcpy(r->reply + r->reply_len, p, take);
    r->reply_len += take;
    r->reply[r->reply_len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = size * n;
    response_header(&r->resp, p, len, (int64_t)time(NULL));
    return len;
}

static void req_free(struct req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *n = curl_slist_append(h, line);
    return n ? n : h;
}

/* Builds the request for notice N to target T. Returns 0 or a negative errno: -EBADMSG when the
 * format cannot make a body of N (sending it again would not mend that). */
static int req_build(struct req *r, const struct target *t, const struct notice *n)
{
    memset(r, 0, sizeof(*r));
    response_init(&r->resp);
    json_t *body = fault_error("delivery.format") < 0 ? NULL : format_body(t, n);
    if (!body)
        return -EBADMSG;
    r->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!r->body)
        return -ENOMEM;
    size_t blen = strlen(r->body);
    snprintf(r->url, sizeof(r->url), "%s", t->url);
    if (t->format == FMT_DISCORD && !strstr(r->url, "wait="))
        strncat(r->url, strchr(r->url, '?') ? "&wait=true" : "?wait=true",
                sizeof(r->url) - strlen(r->url) - 1);
    r->easy = curl_easy_init();
    if (!r->easy)
        return -ENOMEM;
    CURL *e = r->easy;
    r->hdrs = add_header(r->hdrs, "Content-Type: application/json");
    r->hdrs = add_header(r->hdrs, "User-Agent: amsiwatch/" AMSIWATCH_VERSION);
    for (size_t i = 0; i < t->nheaders; i++)
        r->hdrs = add_header(r->hdrs, t->headers[i]);
    char line[900];
    if (t->auth == AUTH_BEARER) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", t->secret);
        r->hdrs = add_header(r->hdrs, line);
    } else if (t->auth == AUTH_GENIEKEY) {
        snprintf(line, sizeof(line), "Authorization: GenieKey %s", t->secret);
        r->hdrs = add_header(r->hdrs, line);
    } else if (t->auth == AUTH_BASIC) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, t->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, t->secret);
    }
    sodium_memzero(line, sizeof(line));
    if (t->signing != SIGN_NONE) {
        char ts[32], sig[256];
        snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
        int rc = 0;
        if (t->signing == SIGN_GITHUB) {
            rc = sign_github(t->signing_key, r->body, blen, sig, sizeof(sig));
            snprintf(line, sizeof(line), "X-Hub-Signature-256: %s", sig);
            r->hdrs = add_header(r->hdrs, line);
        } else {
            rc =
                t->signing == SIGN_STANDARD
                    ? sign_standard_v1(t->signing_key, n->id, ts, r->body, blen, sig, sizeof(sig))
                    : sign_standard_v1a(t->signing_key, n->id, ts, r->body, blen, sig, sizeof(sig));
            snprintf(line, sizeof(line), "webhook-id: %s", n->id);
            r->hdrs = add_header(r->hdrs, line);
            snprintf(line, sizeof(line), "webhook-timestamp: %s", ts);
            r->hdrs = add_header(r->hdrs, line);
            snprintf(line, sizeof(line), "webhook-signature: %s", sig);
            r->hdrs = add_header(r->hdrs, line);
        }
        if (rc < 0)
            return -EINVAL;
    }
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(t->timeout_ms < 10000 ? t->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
    if (t->ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (t->cert_file[0])
        curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
    if (t->key_file[0])
        curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
    if (t->proxy[0])
        curl_easy_setopt(e, CURLOPT_PROXY, t->proxy);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    return 0;
}

static uint64_t backoff_ms(unsigned attempts, uint64_t cap)
{
    uint64_t d = FIRST_BACKOFF_MS;
    for (unsigned i = 1; i < attempts && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Jitter: somewhere between 75 % and 125 %, so that targets do not retry in step. */
    uint32_t r = randombytes_uniform(501);
    return d * (750 + r) / 1000;
}

/* ---- Per-target state ---- */

struct suppress_entry {
    char key[256];
    uint64_t until_ms;
    uint64_t count;
    uint64_t first_ms;
};

struct tstate {
    struct target t;
    struct cursor *cursor;
    struct journal_reader *reader;
    int read_error; /* the last journal read error logged (0: none), logged once until it clears */
    bool disabled;
    /* The alert at the cursor, when read. */
    bool have;
    bool decided; /* it passed max_signals and suppression: it goes out, however long it takes */
    uint64_t seq;
    char *doc;
    json_t *alert;
    struct facts facts; /* of ALERT, built once whatever the attempts */
    /* A summary waiting to go out (not tied to the cursor). */
    char *summary_title, *summary_text;
    char summary_id[64];
    /* The request in flight. */
    bool busy, busy_summary;
    struct req req;
    unsigned attempts;
    uint64_t next_attempt_ms;
    /* Rate limit: a token bucket. */
    double tokens, rate;
    uint64_t refill_ms;
    /* max_signals. */
    uint64_t window_start_ms, sent_in_window, held_in_window;
    int64_t held_first_wall_ms, held_last_wall_ms;
    uint64_t held_first_seq, held_last_seq;
    /* Suppression. */
    struct suppress_entry *supp;
    size_t nsupp;
    /* Counters: written by the delivery thread only, read by delivery_target_stats. */
    _Atomic uint64_t delivered, retries, dead, held, suppressed, summaries;
    _Atomic uint64_t next_seq;   /* the cursor: the next sequence number to deliver */
    _Atomic int64_t oldest_ms;   /* wall-clock time of the alert at the cursor, 0: none read */
    _Atomic bool gone;           /* disabled after a 410 */
    uint64_t request_started_ns; /* the request in flight */
    struct histogram request_seconds;
};

struct delivery {
    char data_dir[1024];
    struct tstate **ts; /* each at a fixed address: its transfer points into it */
    size_t n;
    CURLM *multi;
    pthread_t thread;
    bool running; /* THREAD was started and not yet joined */
    atomic_bool stop;
};

void delivery_dead_path(const char *data_dir, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/cursors/%s.dead", data_dir, name);
}

static void drop_item(struct tstate *s)
{
    free(s->doc);
    json_decref(s->alert);
    s->doc = NULL;
    s->alert = NULL;
    s->have = false;
    s->decided = false;
    atomic_store_explicit(&s->oldest_ms, 0, memory_order_relaxed);
}

/* Moves the cursor past the current item, durably. */
static void advance(struct delivery *d, struct tstate *s)
{
    int rc = cursor_set(s->cursor, s->seq + 1);
    atomic_store_explicit(&s->next_seq, s->seq + 1, memory_order_relaxed);
    if (rc < 0)
        log_error("delivery", "%s: cannot store the cursor at %" PRIu64 ": %s", s->t.name,
                  s->seq + 1, strerror(-rc));
    (void)d;
    drop_item(s);
    s->attempts = 0;
}

int delivery_dead_lock(const char *data_dir, const char *name)
{
    char path[1300];
    delivery_dead_path(data_dir, name, path, sizeof(path));
    strncat(path, ".lock", sizeof(path) - strlen(path) - 1);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    return fd;
}

void delivery_dead_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the lock */
}

/* Records the alert at the cursor as dead, with REASON (one line), and logs what to do. */
static void mark_dead(struct delivery *d, struct tstate *s, const char *reason)
{
    char path[1200];
    delivery_dead_path(d->data_dir, s->t.name, path, sizeof(path));
    /* `journal replay --dead` rewrites this list: the lock keeps this line from being lost. */
    int lock = delivery_dead_lock(d->data_dir, s->t.name);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd >= 0) {
        /* "SEQ<TAB>REASON": the reason has no control characters. */
        char line[400];
        int n = snprintf(line, sizeof(line), "%" PRIu64 "\t%s", s->seq, reason);
        if (n < 0 || (size_t)n >= sizeof(line) - 1)
            n = (int)utf8_trim_partial(line);
        line[n++] = '\n';
        if (write(fd, line, (size_t)n) != n || fdatasync(fd) != 0)
            log_error("delivery", "%s: cannot record dead alert %" PRIu64, s->t.name, s->seq);
        close(fd);
    }
    delivery_dead_unlock(lock);
    s->dead++;
    const char *id = json_string_value(json_object_get(s->alert, "alert_id"));
    log_error("delivery",
              "%s: alert %s (sequence %" PRIu64 ") refused (%s): marked dead, kept in the "
              "journal; `amsiwatch journal replay --target %s --dead` sends it again",
              s->t.name, id ? id : "?", s->seq, reason, s->t.name);
}

static void suppress_key(const struct tstate *s, const json_t *alert, char *out, size_t outlen)
{
    out[0] = '\0';
    const json_t *fields = json_object_get(alert, "fields");
    for (size_t i = 0; i < s->t.nsuppress_fields; i++) {
        const json_t *v = json_object_get(fields, s->t.suppress_fields[i]);
        char *txt = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s=%s", i ? " " : "", s->t.suppress_fields[i],
                 txt ? txt : "(none)");
        free(txt);
    }
}

static void queue_summary(struct tstate *s, const char *title, const char *text, const char *idseed)
{
    if (s->summary_title)
        return; /* one at a time; the next one waits for its turn */
    s->summary_title = strdup(title);
    s->summary_text = strdup(text);
    unsigned char h[16];
    crypto_generichash(h, sizeof(h), (const unsigned char *)idseed, strlen(idseed), NULL, 0);
    sodium_bin2hex(s->summary_id, sizeof(s->summary_id), h, sizeof(h));
}

/* Closes max_signals windows and suppression windows, queuing their summaries. */
static void roll_windows(struct tstate *s, uint64_t now)
{
    if (s->t.max_signals && now - s->window_start_ms >= s->t.max_signals_ms) {
        if (s->held_in_window && !s->summary_title) {
            char from[40], to[40], title[256], text[1024], seed[128];
            clock_format_ms(s->held_first_wall_ms, from, sizeof(from));
            clock_format_ms(s->held_last_wall_ms + 1, to, sizeof(to));
            snprintf(title, sizeof(title),
                     "%" PRIu64 " more AmsiEnable alerts held back (max_signals %" PRIu64
                     " per %" PRIu64 " s)",
                     s->held_in_window, s->t.max_signals, s->t.max_signals_ms / 1000);
            /* By sequence: alerts detected in the same millisecond cannot be told apart by
             * time, but each has its own sequence number. */
            snprintf(text, sizeof(text),
                     "%" PRIu64 " alerts were journaled but not notified between %s and %s. List "
                     "them with: amsiwatch journal list --seq %" PRIu64 "-%" PRIu64,
                     s->held_in_window, from, to, s->held_first_seq, s->held_last_seq);
            snprintf(seed, sizeof(seed), "%s held %s", s->t.name, from);
            queue_summary(s, title, text, seed);
            s->held_in_window = 0;
        }
        if (!s->held_in_window) {
            s->window_start_ms = now;
            s->sent_in_window = 0;
        }
    }
    for (size_t i = 0; i < s->nsupp && !s->summary_title; i++) {
        struct suppress_entry *e = &s->supp[i];
        if (now < e->until_ms)
            continue;
        if (e->count) {
            char title[512], text[1024], seed[400];
            snprintf(title, sizeof(title), "%" PRIu64 " more AmsiEnable alerts for %s", e->count,
                     e->key);
            snprintf(text, sizeof(text),
                     "%" PRIu64 " further alerts for %s were suppressed within %" PRIu64
                     " s after the first; they are in the journal (amsiwatch journal list).",
                     e->count, e->key, s->t.suppress_ms / 1000);
            snprintf(seed, sizeof(seed), "%s suppressed %s %" PRIu64, s->t.name, e->key,
                     e->first_ms);
            queue_summary(s, title, text, seed);
        }
        s->supp[i] = s->supp[--s->nsupp];
        i--;
    }
}

/* The alert's detection time ("@timestamp", RFC 3339 UTC as amsiwatch writes it), or now. */
static int64_t alert_time_ms(const json_t *alert)
{
    const char *t = json_string_value(json_object_get(alert, "@timestamp"));
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof(tm));
    if (t && sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return (int64_t)timegm(&tm) * 1000 + ms;
    }
    return clock_now_ms();
}

/* Decides what happens to the alert at the cursor: send, hold back, or suppress. */
static bool should_send(struct tstate *s, uint64_t now)
{
    if (s->t.nsuppress_fields && s->t.suppress_ms) {
        char key[256];
        suppress_key(s, s->alert, key, sizeof(key));
        for (size_t i = 0; i < s->nsupp; i++) {
            if (strcmp(s->supp[i].key, key) == 0 && now < s->supp[i].until_ms) {
                s->supp[i].count++;
                s->suppressed++;
                return false;
            }
        }
        if (s->nsupp < MAX_SUPPRESS_KEYS) {
            struct suppress_entry *e = &s->supp[s->nsupp++];
            snprintf(e->key, sizeof(e->key), "%s", key);
            e->until_ms = now + s->t.suppress_ms;
            e->count = 0;
            e->first_ms = (uint64_t)clock_now_ms();
        }
    }
    if (s->t.max_signals && s->sent_in_window >= s->t.max_signals) {
        int64_t wall = alert_time_ms(s->alert);
        if (!s->held_in_window) {
            s->held_first_wall_ms = wall;
            s->held_first_seq = s->seq;
        }
        s->held_last_wall_ms = wall;
        s->held_last_seq = s->seq;
        s->held_in_window++;
        s->held++;
        return false;
    }
    return true;
}

static bool take_token(struct tstate *s, uint64_t now)
{
    double burst = s->rate > 1.0 ? s->rate : 1.0;
    s->tokens += (double)(now - s->refill_ms) * s->rate / 1000.0;
    if (s->tokens > burst)
        s->tokens = burst;
    s->refill_ms = now;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}

static void start_request(struct delivery *d, struct tstate *s, bool summary)
{
    struct notice n = {0};
    if (summary) {
        n.id = s->summary_id;
        n.title = s->summary_title;
        n.text = s->summary_text;
    } else {
        n.alert = s->alert;
        n.facts = &s->facts;
        n.id = json_string_value(json_object_get(s->alert, "alert_id"));
        if (!n.id)
            n.id = "";
    }
    int rc = req_build(&s->req, &s->t, &n);
    if (rc == -EBADMSG) {
        /* The same alert would fail the same way for ever: it must not hold up the ones after
         * it. */
        req_free(&s->req);
        char reason[128];
        snprintf(reason, sizeof(reason), "cannot be formatted as %s",
                 target_format_name(s->t.format));
        if (summary) {
            log_error("delivery", "%s: a summary %s; dropped", s->t.name, reason);
            free(s->summary_title);
            free(s->summary_text);
            s->summary_title = s->summary_text = NULL;
        } else {
            mark_dead(d, s, reason);
            advance(d, s);
        }
        return;
    }
    if (rc < 0) {
        log_error("delivery", "%s: cannot build the request: %s", s->t.name, strerror(-rc));
        req_free(&s->req);
        s->next_attempt_ms = clock_mono_ns() / 1000000u + 60000;
        return;
    }
    curl_easy_setopt(s->req.easy, CURLOPT_PRIVATE, s);
    curl_multi_add_handle(d->multi, s->req.easy);
    s->request_started_ns = clock_mono_ns();
    s->busy = true;
    s->busy_summary = summary;
}

static void finish_request(struct delivery *d, struct tstate *s, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(s->req.easy, CURLINFO_RESPONSE_CODE, &status);
    long retry_after = s->req.resp.retry_after_ms;
    char err[CURL_ERROR_SIZE + 300], reason[300];
    snprintf(err, sizeof(err), "%s",
             rc != CURLE_OK ? (s->req.err[0] ? s->req.err : curl_easy_strerror(rc)) : s->req.reply);
    response_reason(status, s->req.reply, s->req.reply_len, reason, sizeof(reason));
    curl_multi_remove_handle(d->multi, s->req.easy);
    histogram_observe_ns(&s->request_seconds, clock_mono_ns() - s->request_started_ns);
    req_free(&s->req);
    s->busy = false;
    uint64_t now = clock_mono_ns() / 1000000u;
    enum response_outcome o = response_classify(rc == CURLE_OK, status);
    if (s->busy_summary) {
        if (o == RESP_RETRY) {
            s->attempts++;
            s->next_attempt_ms = now + backoff_ms(s->attempts, s->t.retry_max_ms);
            return;
        }
        if (o != RESP_OK)
            log_warn("delivery", "%s: a summary was refused with HTTP %ld", s->t.name, status);
        s->summaries += o == RESP_OK;
        free(s->summary_title);
        free(s->summary_text);
        s->summary_title = s->summary_text = NULL;
        s->attempts = 0;
        return;
    }
    switch (o) {
    case RESP_OK:
        advance(d, s); /* first: a reader that sees it counted sees the cursor past it */
        s->delivered++;
        s->sent_in_window++;
        break;
    case RESP_RETRY: {
        s->attempts++;
        s->retries++;
        uint64_t wait = response_wait_ms(retry_after, backoff_ms(s->attempts, s->t.retry_max_ms));
        s->next_attempt_ms = now + wait;
        if (s->attempts == 1 || s->attempts % 10 == 0)
            log_warn("delivery", "%s: attempt %u failed (%s%s%ld: %s); retrying in %" PRIu64 " ms",
                     s->t.name, s->attempts, rc != CURLE_OK ? "connection" : "HTTP",
                     rc != CURLE_OK ? " " : " ", rc != CURLE_OK ? (long)rc : status, err, wait);
        break;
    }
    case RESP_GONE:
        s->disabled = true;
        atomic_store_explicit(&s->gone, true, memory_order_relaxed);
        log_error("delivery",
                  "%s: HTTP 410 Gone: the target no longer exists; it is disabled until the next "
                  "start (its alerts stay in the journal from sequence %" PRIu64 ")",
                  s->t.name, s->seq);
        break;
    case RESP_DEAD:
        mark_dead(d, s, reason);
        advance(d, s);
        break;
    }
}

/* Reads the next alert at the cursor. True when one is ready. */
static bool load_next(struct tstate *s)
{
    if (s->have)
        return true;
    struct journal_record rec;
    int rc = journal_reader_next(s->reader, &rec);
    if (rc <= 0) {
        if (rc < 0 && rc != s->read_error)
            log_warn("delivery", "%s: journal read error: %s (retrying)", s->t.name, strerror(-rc));
        if (rc < 0)
            s->read_error = rc;
        return false;
    }
    if (s->read_error) {
        log_info("delivery", "%s: the journal reads again", s->t.name);
        s->read_error = 0;
    }
    s->seq = rec.seq;
    s->doc = strndup(rec.payload, rec.len);
    s->alert = s->doc ? json_loads(s->doc, 0, NULL) : NULL;
    if (!s->alert) {
        log_warn("delivery", "%s: journal record %" PRIu64 " is not an alert document; skipped",
                 s->t.name, rec.seq);
        free(s->doc);
        s->doc = NULL;
        s->have = true;
        return false;
    }
    facts_of(s->alert, &s->facts);
    atomic_store_explicit(&s->oldest_ms, alert_time_ms(s->alert), memory_order_relaxed);
    s->have = true;
    return true;
}

static void step(struct delivery *d, struct tstate *s, uint64_t now)
{
    if (s->busy || s->disabled)
        return;
    roll_windows(s, now);
    if (now < s->next_attempt_ms)
        return;
    if (s->summary_title) {
        if (take_token(s, now))
            start_request(d, s, true);
        return;
    }
    while (!s->busy) {
        if (!load_next(s)) {
            if (s->have && !s->alert) /* an unreadable record: move past it */
                advance(d, s);
            return;
        }
        if (!s->decided) {
            if (!should_send(s, now)) {
                advance(d, s); /* held back or suppressed: journaled, counted, summarised */
                continue;
            }
            s->decided = true;
        }
        if (take_token(s, now))
            start_request(d, s, false);
        return;
    }
}

static void *delivery_main(void *arg)
{
    struct delivery *d = arg;
    while (!atomic_load(&d->stop)) {
        uint64_t now = clock_mono_ns() / 1000000u;
        for (size_t i = 0; i < d->n; i++)
            step(d, d->ts[i], now);
        int running = 0;
        curl_multi_perform(d->multi, &running);
        CURLMsg *m;
        int left;
        bool finished = false;
        while ((m = curl_multi_info_read(d->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct tstate *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            if (s) {
                finish_request(d, s, m->data.result);
                finished = true;
            }
        }
        /* Wait only when nothing just finished: a finished request frees its target for the
         * next alert at once. New alerts and stop requests wake the wait early. */
        if (!finished)
            curl_multi_poll(d->multi, NULL, 0, 100, NULL);
    }
    return NULL;
}

/* Opens the state of target T: its cursor (created at the journal's start when new) and a reader
 * from there. Returns NULL after logging why. */
static struct tstate *tstate_open(const char *data_dir, const struct target *t, uint64_t now)
{
    struct tstate *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->t = *t;
    s->rate = s->t.rate_per_s > 0 ? s->t.rate_per_s : format_of(s->t.format)->default_rate;
    s->tokens = 1.0;
    s->refill_ms = now;
    s->window_start_ms = now;
    s->supp = calloc(MAX_SUPPRESS_KEYS, sizeof(*s->supp));
    histogram_init(&s->request_seconds, histogram_latency_bounds, histogram_latency_nbounds);
    int rc = cursor_open(&s->cursor, data_dir, s->t.name);
    if (rc == 0)
        rc = journal_reader_open(&s->reader, data_dir, cursor_get(s->cursor));
    if (rc == 0)
        atomic_store_explicit(&s->next_seq, cursor_get(s->cursor), memory_order_relaxed);
    if (rc < 0 || !s->supp) {
        log_error("delivery", "%s: cannot open its cursor or the journal: %s", s->t.name,
                  strerror(rc < 0 ? -rc : ENOMEM));
        cursor_close(s->cursor);
        journal_reader_close(s->reader);
        free(s->supp);
        free(s);
        return NULL;
    }
    log_info("delivery", "%s: %s %s from sequence %" PRIu64 ", at most %.2f requests/s", s->t.name,
             target_format_name(s->t.format), s->t.url, cursor_get(s->cursor), s->rate);
    return s;
}

/* Abandons the request in flight, if any: the alert stays at the cursor and goes again. */
static void abandon_request(struct delivery *d, struct tstate *s)
{
    if (!s->busy)
        return;
    curl_multi_remove_handle(d->multi, s->req.easy);
    req_free(&s->req);
    s->busy = false;
}

/* Logs the target's counters, then frees its state (its cursor file stays). */
static void tstate_close(struct delivery *d, struct tstate *s)
{
    abandon_request(d, s);
    log_info("delivery",
             "%s: %" PRIu64 " delivered, %" PRIu64 " retries, %" PRIu64 " dead, %" PRIu64
             " held back, %" PRIu64 " suppressed, %" PRIu64 " summaries; next sequence %" PRIu64,
             s->t.name, s->delivered, s->retries, s->dead, s->held, s->suppressed, s->summaries,
             cursor_get(s->cursor));
    drop_item(s);
    free(s->summary_title);
    free(s->summary_text);
    free(s->supp);
    cursor_close(s->cursor);
    journal_reader_close(s->reader);
    free(s);
}

static int start_thread(struct delivery *d)
{
    atomic_store(&d->stop, false);
    d->running = pthread_create(&d->thread, NULL, delivery_main, d) == 0;
    return d->running ? 0 : -EAGAIN;
}

static void stop_thread(struct delivery *d)
{
    if (!d->running)
        return;
    atomic_store(&d->stop, true);
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);
    d->running = false;
}

int delivery_start(struct delivery **out, const char *data_dir, const struct target_list *targets)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0)
        return -EIO;
    struct delivery *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    snprintf(d->data_dir, sizeof(d->data_dir), "%s", data_dir);
    d->ts = calloc(targets->n ? targets->n : 1, sizeof(*d->ts));
    d->multi = curl_multi_init();
    if (!d->ts || !d->multi)
        goto fail;
    uint64_t now = clock_mono_ns() / 1000000u;
    for (size_t i = 0; i < targets->n; i++) {
        d->ts[i] = tstate_open(data_dir, &targets->v[i], now);
        if (!d->ts[i])
            goto fail;
        d->n++;
    }
    if (start_thread(d) < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    for (size_t i = 0; i < d->n; i++)
        tstate_close(d, d->ts[i]);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    free(d->ts);
    free(d);
    return -EIO;
}

/* The running target named NAME, or NULL. */
static struct tstate *running(const struct delivery *d, const char *name)
{
    for (size_t k = 0; k < d->n; k++) {
        if (strcmp(d->ts[k]->t.name, name) == 0)
            return d->ts[k];
    }
    return NULL;
}

int delivery_update(struct delivery *d, const struct target_list *targets,
                    struct delivery_changes *ch)
{
    memset(ch, 0, sizeof(*ch));
    struct tstate **next = calloc(targets->n ? targets->n : 1, sizeof(*next));
    if (!next)
        return -ENOMEM;
    uint64_t now = clock_mono_ns() / 1000000u;
    /* New targets first, while the thread runs: their cursors are the only step that can fail,
     * and then nothing has changed. */
    for (size_t i = 0; i < targets->n; i++) {
        if (running(d, targets->v[i].name))
            continue;
        next[i] = tstate_open(d->data_dir, &targets->v[i], now);
        if (!next[i]) {
            for (size_t k = 0; k < i; k++) {
                if (next[k])
                    tstate_close(d, next[k]);
            }
            free(next);
            return -EIO;
        }
        ch->added++;
    }
    /* The thread stops between two steps; the multi handle and its transfers stay. */
    stop_thread(d);
    for (size_t i = 0; i < targets->n; i++) {
        const struct target *t = &targets->v[i];
        struct tstate *s = running(d, t->name);
        if (!s)
            continue;
        next[i] = s;
        if (target_same(&s->t, t)) {
            ch->unchanged++;
            continue;
        }
        /* Changed: the alert at the cursor (read, maybe decided) goes again with the new
         * options; held-back and suppression windows carry over. */
        ch->changed++;
        abandon_request(d, s);
        s->t = *t;
        s->rate = t->rate_per_s > 0 ? t->rate_per_s : format_of(t->format)->default_rate;
        s->tokens = 1.0;
        s->refill_ms = now;
        s->attempts = 0;
        s->next_attempt_ms = 0;
        s->disabled = false;
        atomic_store_explicit(&s->gone, false, memory_order_relaxed);
        log_info("delivery", "%s: now %s %s from sequence %" PRIu64 ", at most %.2f requests/s",
                 t->name, target_format_name(t->format), t->url,
                 s->have ? s->seq : cursor_get(s->cursor), s->rate);
    }
    for (size_t k = 0; k < d->n; k++) {
        struct tstate *s = d->ts[k];
        bool kept = false;
        for (size_t i = 0; i < targets->n && !kept; i++)
            kept = next[i] == s;
        if (kept)
            continue;
        ch->removed++;
        log_info("delivery", "%s: removed; its cursor stays at sequence %" PRIu64, s->t.name,
                 cursor_get(s->cursor));
        tstate_close(d, s);
    }
    free(d->ts);
    d->ts = next;
    d->n = targets->n;
    /* The new list is in place: the thread must come back. pthread_create fails only for want of
     * resources for a moment; past a second of tries, nothing is delivered until a restart. */
    for (int tries = 0; tries < 10; tries++) {
        if (start_thread(d) == 0)
            return 0;
        usleep(100 * 1000);
    }
    log_error("delivery", "cannot start the delivery thread again: no alert is delivered until "
                          "amsiwatch is restarted (the cursors keep every one)");
    return -EAGAIN;
}

void delivery_stop(struct delivery *d)
{
    if (!d)
        return;
    stop_thread(d);
    for (size_t i = 0; i < d->n; i++)
        tstate_close(d, d->ts[i]);
    curl_multi_cleanup(d->multi);
    free(d->ts);
    free(d);
}

void delivery_notify(struct delivery *d)
{
    if (d)
        curl_multi_wakeup(d->multi);
}

long delivery_send_once(const struct target *t, const char *alert_json, size_t len,
                        unsigned attempts)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0)
        return -EIO;
    json_t *alert = json_loadb(alert_json, len, 0, NULL);
    if (!alert)
        return -EBADMSG;
    struct facts facts;
    facts_of(alert, &facts);
    struct notice n = {.alert = alert,
                       .facts = &facts,
                       .id = json_string_value(json_object_get(alert, "alert_id"))};
    if (!n.id)
        n.id = "";
    long status = -EIO;
    for (unsigned a = 1; a <= attempts; a++) {
        struct req r;
        int e = req_build(&r, t, &n);
        if (e < 0) {
            req_free(&r);
            status = e;
            break;
        }
        CURLcode rc = curl_easy_perform(r.easy);
        status = 0;
        curl_easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &status);
        long retry_after = r.resp.retry_after_ms;
        req_free(&r);
        enum response_outcome o = response_classify(rc == CURLE_OK, status);
        if (rc != CURLE_OK)
            status = -ECONNREFUSED;
        if (o != RESP_RETRY || a == attempts)
            break;
        uint64_t wait = response_wait_ms(retry_after, backoff_ms(a, t->retry_max_ms));
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    json_decref(alert);
    return status;
}

size_t delivery_targets(const struct delivery *d)
{
    return d ? d->n : 0;
}

void delivery_target_stats(struct delivery *d, size_t i, struct delivery_target_stats *out)
{
    const struct tstate *s = d->ts[i];
    out->name = s->t.name;
    out->sent = atomic_load_explicit(&s->delivered, memory_order_relaxed);
    out->retried = atomic_load_explicit(&s->retries, memory_order_relaxed);
    out->dead = atomic_load_explicit(&s->dead, memory_order_relaxed);
    out->held = atomic_load_explicit(&s->held, memory_order_relaxed);
    out->suppressed = atomic_load_explicit(&s->suppressed, memory_order_relaxed);
    out->summaries = atomic_load_explicit(&s->summaries, memory_order_relaxed);
    out->next_seq = atomic_load_explicit(&s->next_seq, memory_order_relaxed);
    out->oldest_ms = atomic_load_explicit(&s->oldest_ms, memory_order_relaxed);
    out->disabled = atomic_load_explicit(&s->gone, memory_order_relaxed);
    histogram_read(&s->request_seconds, &out->request_seconds);
}
