/* amsiwatch replay: the input, loaded once and encoded for the chosen protocol; the window
 * encoder; the latency histogram. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/lines.h"
#include "pipeline/prefilter.h"
#include "protocol/lumberjack.h"
#include "tools/input.h"
#include "tools/replay_int.h"

/* The most key/value pairs a v1 event may carry (a receiver's usual limit, as amsiwatch's). */
#define MAX_PAIRS 1024u
/* A UDP datagram's payload over IPv4. */
#define MAX_DATAGRAM 65507u

struct load_ctx {
    struct rp_input *in;
    const struct rp_load_opts *o;
    const char *path;
    struct lines lines;
    struct buf scratch; /* one event being built */
    struct buf key;     /* the dotted key during flattening */
    uint32_t pairs;
    char *err;
    size_t errlen;
    char stamp[32];
};

static int add_pair(struct load_ctx *c, const char *k, size_t kl, const char *v, size_t vl)
{
    if (++c->pairs > MAX_PAIRS)
        return -EMSGSIZE;
    /* lj_encode_data takes C strings: a NUL inside a key or value would cut it short. */
    if (memchr(k, 0, kl) || memchr(v, 0, vl))
        return -EBADMSG;
    int rc = buf_append(&c->scratch, k, kl);
    if (rc == 0)
        rc = buf_append(&c->scratch, "", 1);
    if (rc == 0)
        rc = buf_append(&c->scratch, v, vl);
    if (rc == 0)
        rc = buf_append(&c->scratch, "", 1);
    return rc;
}

static bool scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* v1 events are flat: nested keys are joined with '.', strings go as they are, other scalars
 * as their JSON text, null is left out, an array of one scalar is that scalar, any other array
 * its compact JSON text (what Logstash-style receivers and amsiwatch's dotted-key support read). */
static int flatten(struct load_ctx *c, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        size_t klen;
        void *tmp;
        json_object_keylen_foreach_safe(v, tmp, k, klen, child)
        {
            size_t saved = c->key.len;
            int rc = 0;
            if (saved)
                rc = buf_append(&c->key, ".", 1);
            if (rc == 0)
                rc = buf_append(&c->key, k, klen);
            if (rc == 0)
                rc = flatten(c, child);
            c->key.len = saved;
            if (rc)
                return rc;
        }
        return 0;
    }
    if (json_is_null(v))
        return 0;
    const char *key = c->key.len ? c->key.data : "message";
    size_t keylen = c->key.len ? c->key.len : strlen("message");
    if (json_is_string(v))
        return add_pair(c, key, keylen, json_string_value(v), json_string_length(v));
    if (json_is_array(v) && json_array_size(v) == 1 && scalar(json_array_get(v, 0)))
        return flatten(c, json_array_get(v, 0));
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -ENOMEM;
    int rc = add_pair(c, key, keylen, text, strlen(text));
    free(text);
    return rc;
}

static bool is_object_line(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    return n && *p == '{';
}

/* Builds the event's encoded form in C->scratch. */
static int build_event(struct load_ctx *c, const char *line, size_t len)
{
    struct buf *s = &c->scratch;
    buf_reset(s);
    c->pairs = 0;
    int rc = 0;
    switch (c->o->shape) {
    case RP_BEATS_V2:
        if (is_object_line(line, len))
            return buf_append(s, line, len);
        json_t *str = json_stringn(line, len);
        char *text = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
        json_decref(str);
        if (!text)
            return -EBADMSG; /* not UTF-8 */
        rc = buf_puts(s, "{\"message\":");
        if (rc == 0)
            rc = buf_puts(s, text);
        if (rc == 0)
            rc = buf_puts(s, "}");
        free(text);
        return rc;
    case RP_BEATS_V1: {
        json_t *doc = is_object_line(line, len) ? json_loadb(line, len, 0, NULL) : NULL;
        if (doc && json_is_object(doc)) {
            buf_reset(&c->key);
            rc = flatten(c, doc);
        } else {
            rc = add_pair(c, "message", 7, line, len);
        }
        json_decref(doc);
        return rc;
    }
    case RP_SYSLOG_OCT:
    case RP_SYSLOG_LF:
    case RP_SYSLOG_UDP: {
        /* Syslog lines go as they are; an NDJSON event gets a minimal RFC 5424 header. */
        char head[400];
        size_t hl = 0;
        if (is_object_line(line, len))
            hl = (size_t)snprintf(head, sizeof(head), "<14>1 %s %s amsiwatch - - - ", c->stamp,
                                  c->in->hostname);
        size_t msglen = hl + len;
        if (c->o->shape == RP_SYSLOG_UDP && msglen > MAX_DATAGRAM)
            return -EMSGSIZE;
        if (c->o->shape == RP_SYSLOG_OCT) {
            char pre[24];
            int pl = snprintf(pre, sizeof(pre), "%zu ", msglen);
            rc = buf_append(s, pre, (size_t)pl);
        }
        if (rc == 0)
            rc = buf_append(s, head, hl);
        if (rc == 0)
            rc = buf_append(s, line, len);
        if (rc == 0 && c->o->shape == RP_SYSLOG_LF)
            rc = buf_append(s, "\n", 1);
        return rc;
    }
    }
    return -EINVAL;
}

static int on_line(void *ctx, uint64_t lineno, const char *line, size_t len,
                   enum lines_status status)
{
    struct load_ctx *c = ctx;
    struct rp_input *in = c->in;
    if (status == LINES_TOO_LONG) {
        snprintf(c->err, c->errlen, "%s:%" PRIu64 ": line longer than --max-event (%zu bytes)",
                 c->path, lineno, c->o->max_event);
        return -EMSGSIZE;
    }
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return 0; /* blank lines are not events */
    int rc = build_event(c, line, len);
    if (rc < 0) {
        const char *why = rc == -EMSGSIZE
                              ? (c->o->shape == RP_SYSLOG_UDP ? "longer than a UDP datagram"
                                                              : "more than 1024 key/value pairs")
                          : rc == -EBADMSG ? "cannot be encoded (invalid UTF-8, or a NUL byte)"
                                           : "out of memory";
        snprintf(c->err, c->errlen, "%s:%" PRIu64 ": event %s", c->path, lineno, why);
        return rc;
    }
    if (in->data.len + c->scratch.len > c->o->max_input) {
        snprintf(c->err, c->errlen, "the input is larger than --max-input (%zu bytes)",
                 c->o->max_input);
        return -EMSGSIZE;
    }
    if (in->n + 1 >= in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 4096;
        struct rp_event *ev = realloc(in->ev, cap * sizeof(*ev));
        uint32_t *cand = ev ? realloc(in->cand, (cap + 1) * sizeof(*cand)) : NULL;
        if (ev)
            in->ev = ev;
        if (!ev || !cand) {
            snprintf(c->err, c->errlen, "out of memory");
            return -ENOMEM;
        }
        in->cand = cand;
        in->cap = cap;
    }
    struct rp_event *e = &in->ev[in->n];
    e->off = in->data.len;
    e->len = (uint32_t)c->scratch.len;
    e->pairs = c->pairs;
    if (buf_append(&in->data, c->scratch.data, c->scratch.len) < 0) {
        snprintf(c->err, c->errlen, "out of memory");
        return -ENOMEM;
    }
    in->cand[in->n + 1] = in->cand[in->n] + (prefilter_candidate(line, len) ? 1u : 0u);
    in->n++;
    in->raw_bytes += len;
    return 0;
}

static int on_chunk(void *ctx, const char *p, size_t n)
{
    struct load_ctx *c = ctx;
    return lines_feed(&c->lines, p, n);
}

static int load_one(struct load_ctx *c, const char *path)
{
    c->path = strcmp(path, "-") == 0 ? "standard input" : path;
    lines_init(&c->lines, c->o->max_event, on_line, c);
    char why[200] = "";
    c->err[0] = '\0';
    int rc = input_read(path, on_chunk, c, why, sizeof(why));
    if (rc == 0)
        rc = lines_finish(&c->lines);
    lines_free(&c->lines);
    if (rc < 0 && !c->err[0])
        snprintf(c->err, c->errlen, "%s: %s", c->path, why[0] ? why : "out of memory");
    return rc;
}

int rp_input_load(struct rp_input *in, const struct rp_load_opts *o, char *const *paths, int npaths,
                  char *err, size_t errlen)
{
    memset(in, 0, sizeof(*in));
    in->shape = o->shape;
    buf_init(&in->data, o->max_input);
    if (gethostname(in->hostname, sizeof(in->hostname) - 1) != 0 || !in->hostname[0])
        strcpy(in->hostname, "-");
    in->cand = calloc(1, sizeof(*in->cand));
    if (!in->cand) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct load_ctx c = {.in = in, .o = o, .err = err, .errlen = errlen};
    buf_init(&c.scratch, o->max_event + 64 + 16 * (size_t)MAX_PAIRS);
    buf_init(&c.key, 1u << 16);
    clock_format_ms(clock_now_ms(), c.stamp, sizeof(c.stamp));
    int rc = 0;
    if (npaths == 0)
        rc = load_one(&c, "-");
    for (int i = 0; rc == 0 && i < npaths; i++)
        rc = load_one(&c, paths[i]);
    buf_free(&c.scratch);
    buf_free(&c.key);
    if (rc == 0 && in->n == 0) {
        snprintf(err, errlen, "the input holds no events");
        rc = -EINVAL;
    }
    if (rc > 0)
        rc = -EINVAL;
    return rc;
}

void rp_input_free(struct rp_input *in)
{
    if (!in)
        return;
    buf_free(&in->data);
    free(in->ev);
    free(in->cand);
    in->ev = NULL;
    in->cand = NULL;
    in->n = in->cap = 0;
}

static int encode_frames(const struct rp_input *in, size_t start, uint32_t n, uint32_t seq_base,
                         struct buf *out)
{
    const char *keys[MAX_PAIRS], *vals[MAX_PAIRS];
    for (uint32_t i = 0; i < n; i++) {
        const struct rp_event *e = &in->ev[start + i];
        const char *p = in->data.data + e->off;
        uint32_t seq = seq_base + i + 1;
        int rc;
        if (in->shape == RP_BEATS_V2) {
            rc = lj_encode_json(out, seq, p, e->len);
        } else {
            for (uint32_t k = 0; k < e->pairs; k++) {
                keys[k] = p;
                p += strlen(p) + 1;
                vals[k] = p;
                p += strlen(p) + 1;
            }
            rc = lj_encode_data(out, seq, keys, vals, e->pairs);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int rp_encode_window(const struct rp_input *in, size_t start, uint32_t n, int level,
                     uint32_t seq_base, struct buf *out)
{
    uint8_t version = in->shape == RP_BEATS_V1 ? LJ_V1 : LJ_V2;
    int rc = lj_encode_window(out, version, n);
    if (rc < 0 || level == 0)
        return rc < 0 ? rc : encode_frames(in, start, n, seq_base, out);
    /* The frames' size is known: reserve once, then compress in one call. */
    size_t raw =
        (size_t)(in->ev[start + n - 1].off + in->ev[start + n - 1].len - in->ev[start].off) +
        (size_t)n * 10;
    if (in->shape == RP_BEATS_V1) {
        for (uint32_t i = 0; i < n; i++)
            raw += 8 * (size_t)in->ev[start + i].pairs;
    }
    struct buf frames;
    buf_init(&frames, raw + 1);
    rc = buf_reserve(&frames, raw);
    if (rc == 0)
        rc = encode_frames(in, start, n, seq_base, &frames);
    if (rc == 0)
        rc = lj_encode_compressed(out, version, frames.data, frames.len, level);
    buf_free(&frames);
    return rc;
}

/* Values below 128 have a bucket each; above, 64 buckets per power of two. */
static size_t bucket_of(uint64_t v)
{
    if (v < 128)
        return (size_t)v;
    unsigned e = (unsigned)(63 - __builtin_clzll(v)) - 6; /* v >> e is in [64, 128) */
    size_t i = 128 + (size_t)(e - 1) * 64 + (size_t)((v >> e) - 64);
    return i < RP_HIST_BUCKETS ? i : RP_HIST_BUCKETS - 1;
}

static uint64_t bucket_value(size_t i)
{
    if (i < 128)
        return i;
    unsigned e = (unsigned)((i - 128) / 64) + 1;
    uint64_t m = 64 + (i - 128) % 64;
    return ((m << e) + ((m + 1) << e)) / 2; /* the middle of the bucket */
}

void rp_hist_add(struct rp_hist *h, uint64_t us)
{
    h->b[bucket_of(us)]++;
    h->count++;
    if (us > h->max)
        h->max = us;
}

uint64_t rp_hist_quantile(const struct rp_hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < RP_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = bucket_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
