/* Fuzz target for syslog without the network: the framer over one connection's bytes, then for
 * each message the parser, the structured-data iterator, the Windows payload mappers (NXLog JSON
 * and SD, Snare, WinCollect, Windows event XML) and the rule on the document they build.
 *
 * The first two bytes choose the framer's settings (framing, oversize policy, message limit,
 * frame limit) and how the stream is split; the rest is the stream. The target aborts when:
 *  - the messages differ when the same bytes are fed whole, or split into pieces with the
 *    callback asking the framer to stop now and then (the framer promises any split works);
 *  - a message is empty or longer than the limit, a truncated message (not cut by the end of
 *    the stream) is not exactly the limit long, or the counters disagree with what was
 *    delivered (messages, truncated, bytes consumed);
 *  - in LF mode, the messages differ from a plain reference framer's (split on LF and NUL, CR
 *    before LF removed, empty lines skipped, long lines truncated or dropped);
 *  - the messages, framed again with octet counting, do not come back the same;
 *  - syslog_parse does not take every byte, a view points outside the message, PRI is out of
 *    range or facility and severity do not match it, the format and version disagree (RFC 5424:
 *    1 to 999, RFC 3164: 0);
 *  - an SD value does not unescape into a buffer of its own size plus one;
 *  - utf8_seq_len disagrees with a reference UTF-8 decoder at any position;
 *  - the document (or the alert's source) is not a JSON object that serializes (valid UTF-8),
 *    syslog_event_build disagrees with syslog_event_from_msg, or the rule fires on a document
 *    whose raw message syslog_event_candidate ruled out (the syslog prefilter's contract). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "pipeline/detect.h"
#include "pipeline/syslog_event.h"
#include "protocol/syslog.h"
#include "protocol/syslog_framer.h"
#include "tests/fuzz/fuzz_target.h"

/* A fixed "now", so year-less timestamps resolve the same in every run. */
#define FUZZ_NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
/* Messages of one input that go through parsing and mapping (the framer sees them all). */
#define MAX_PARSED 32

static void violation(const char *what)
{
    fprintf(stderr, "fuzz_syslog: invariant broken: %s\n", what);
    abort();
}

/* The delivered messages of one run, each as LEN (4 bytes), FLAGS (1 byte), bytes. */
struct record {
    uint8_t *data;
    size_t len, cap;
    size_t count, truncated;
    unsigned stop_every; /* the callback returns 1 on every Nth message (0: never) */
    size_t max_msg;
};

static void rec_add(struct record *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n)
            cap *= 2;
        uint8_t *d = realloc(r->data, cap);
        if (!d)
            abort();
        r->data = d;
        r->cap = cap;
    }
    memcpy(r->data + r->len, p, n);
    r->len += n;
}

static void rec_msg(struct record *r, const char *msg, size_t len, unsigned flags)
{
    uint8_t h[5] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,
                    (uint8_t)flags};
    rec_add(r, h, sizeof(h));
    rec_add(r, msg, len);
    r->count++;
    if (flags & SYSLOG_MSG_TRUNCATED)
        r->truncated++;
}

static int on_msg(void *ctx, const char *msg, size_t len, unsigned flags)
{
    struct record *r = ctx;
    if (len == 0)
        violation("an empty message was delivered");
    if (len > r->max_msg)
        violation("a message longer than the limit was delivered");
    if ((flags & SYSLOG_MSG_TRUNCATED) && !(flags & SYSLOG_MSG_FRAMING_ERROR) && len != r->max_msg)
        violation("a truncated message is not exactly the limit long");
    rec_msg(r, msg, len, flags);
    return r->stop_every && r->count % r->stop_every == 0;
}

/* Runs the framer over the stream in pieces: CHUNK 0 feeds it whole, otherwise piece sizes come
 * from a small generator seeded with CHUNK. Returns the framer's counters in *ST. */
static void frame(const struct syslog_framer_config *cfg, const uint8_t *p, size_t n,
                  unsigned chunk, struct record *r, struct syslog_framer_stats *st)
{
    struct syslog_framer *f;
    if (syslog_framer_new(cfg, on_msg, r, &f) != 0)
        violation("a valid framer configuration was refused");
    uint32_t x = chunk * 2654435761u + 1u;
    size_t off = 0;
    while (off < n) {
        size_t piece = n - off;
        if (chunk) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t want = 1 + x % (chunk % 16 + 1);
            if (want < piece)
                piece = want;
        }
        long used = syslog_framer_feed(f, p + off, piece);
        if (used < 0)
            violation("syslog_framer_feed failed (out of memory)");
        if ((size_t)used > piece)
            violation("syslog_framer_feed consumed more than it was given");
        if ((size_t)used < piece && !r->stop_every)
            violation("syslog_framer_feed stopped without being asked to");
        off += (size_t)used;
    }
    /* Only the bytes after a stop are fed again, so the counter is the stream's length. */
    syslog_framer_finish(f);
    *st = *syslog_framer_stats(f);
    syslog_framer_free(f);
}

/* A plain LF-mode framer: lines end at LF or NUL, CR before LF is removed, a last line without
 * terminator loses a trailing CR, empty lines carry nothing, long lines are cut or dropped. */
static void reference_lf(const struct syslog_framer_config *cfg, const uint8_t *p, size_t n,
                         struct record *r)
{
    size_t start = 0;
    while (start < n) {
        size_t k = start;
        while (k < n && p[k] != '\n' && p[k] != '\0')
            k++;
        size_t len = k - start;
        if ((k < n && p[k] == '\n' && len && p[k - 1] == '\r') ||
            (k == n && len && p[k - 1] == '\r'))
            len--;
        if (len > cfg->max_msg) {
            if (cfg->oversize == SYSLOG_OVERSIZE_TRUNCATE)
                rec_msg(r, (const char *)p + start, cfg->max_msg, SYSLOG_MSG_TRUNCATED);
        } else if (len) {
            rec_msg(r, (const char *)p + start, len, 0);
        }
        start = k + 1;
    }
}

/* The length of the valid UTF-8 character at P (N > 0 bytes), or 0: decoded by value, so that
 * overlong forms, surrogates and code points over U+10FFFF are told apart independently. */
static size_t ref_utf8(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t len;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1fu;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0fu;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void check_view(struct syslog_view v, const char *p, size_t n)
{
    if (!v.p)
        return;
    if (v.p < p || v.p > p + n || v.len > (size_t)(p + n - v.p))
        violation("a view points outside the message");
}

static void check_sd(struct syslog_view sd)
{
    struct syslog_sd_iter it;
    syslog_sd_iter_init(&it, sd);
    struct syslog_view id, name, value;
    for (int e = 0; e < 64 && syslog_sd_next_element(&it, &id) == 1; e++) {
        check_view(id, sd.p, sd.len);
        for (int k = 0; k < 64 && syslog_sd_next_param(&it, &name, &value) == 1; k++) {
            check_view(name, sd.p, sd.len);
            check_view(value, sd.p, sd.len);
            char *out = malloc(value.len + 1);
            if (!out)
                abort();
            long u = syslog_sd_unescape(value.p ? value.p : "", value.len, out, value.len + 1);
            if (u < 0 || (size_t)u > value.len || out[u] != '\0')
                violation("an SD value does not unescape into its own size");
            free(out);
        }
    }
}

static void check_json(const json_t *doc, const char *what)
{
    if (!json_is_object(doc))
        violation(what);
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        violation(what);
    free(text);
}

static void check_message(struct detector *det, const char *raw, size_t len, unsigned fflags)
{
    for (size_t i = 0; i < len; i++) {
        if (utf8_seq_len(raw + i, len - i) != ref_utf8((const uint8_t *)raw + i, len - i))
            violation("utf8_seq_len disagrees with the reference decoder");
    }
    struct syslog_msg m;
    if (syslog_parse(raw, len, FUZZ_NOW_MS, &m) != (long)len)
        violation("syslog_parse did not take every byte");
    if (m.pri < 0 || m.pri > 191 || m.facility != m.pri / 8 || m.severity != m.pri % 8)
        violation("PRI out of range, or facility and severity do not match it");
    if (m.format == SYSLOG_FORMAT_RFC5424 ? m.version < 1 || m.version > 999 : m.version != 0)
        violation("the format and the version disagree");
    if (!m.msg.p)
        violation("the MSG view is NULL");
    const struct syslog_view views[] = {m.timestamp, m.hostname, m.app_name, m.procid,
                                        m.msgid,     m.tag,      m.sd,       m.msg};
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        check_view(views[i], raw, len);
    check_sd(m.sd);

    json_t *doc = NULL;
    enum syslog_payload kind = SYSLOG_PAYLOAD_NONE;
    if (syslog_event_from_msg(&m, &doc, &kind) != 0 || !doc)
        violation("syslog_event_from_msg failed");
    check_json(doc, "the document is not a JSON object that serializes");
    if (!syslog_event_payload_name(kind))
        violation("a payload kind without a name");
    /* Compared as text: json_equal cannot find keys holding a NUL (which EventData names may). */
    json_t *again = NULL;
    if (syslog_event_build(raw, len, FUZZ_NOW_MS, &again) != 0 || !again)
        violation("syslog_event_build failed where syslog_event_from_msg did not");
    char *t1 = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    char *t2 = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS);
    if (!t1 || !t2 || strcmp(t1, t2) != 0)
        violation("syslog_event_build disagrees with syslog_event_from_msg");
    free(t1);
    free(t2);
    json_decref(again);

    struct syslog_origin origin = {
        .peer = "192.0.2.7:51514", .transport = "tcp", .frame_flags = fflags};
    json_t *source = syslog_event_source(&origin, &m, raw, len, kind);
    check_json(source, "the alert's source is not a JSON object that serializes");

    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        violation("the document does not serialize");
    json_t *alert = NULL;
    int rc = detector_run(det, text, strlen(text), source, FUZZ_NOW_MS, &alert);
    if ((rc == 1) != (alert != NULL))
        violation("detector_run returned 1 without an alert, or an alert without 1");
    if (rc == 1) {
        if (!syslog_event_candidate(raw, len))
            violation("the rule fires on a message syslog_event_candidate ruled out");
        check_json(alert, "the alert is not a JSON object that serializes");
    }
    json_decref(alert);
    free(text);
    json_decref(source);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct syslog_framer_config cfg;
    syslog_framer_config_default(&cfg);
    cfg.framing = (enum syslog_framing)(data[0] % 3);
    cfg.oversize = (data[0] >> 2) & 1 ? SYSLOG_OVERSIZE_DROP : SYSLOG_OVERSIZE_TRUNCATE;
    cfg.max_msg = SYSLOG_MIN_MAX_MSG + (size_t)(data[0] >> 3) * 64u;
    cfg.max_frame = (data[1] & 0x80) ? cfg.max_msg + (data[1] & 0x3fu) : 0;
    unsigned chunk = data[1] & 0x7fu;
    const uint8_t *p = data + 2;
    size_t n = size - 2;

    struct record whole = {.max_msg = cfg.max_msg};
    struct record split = {.max_msg = cfg.max_msg, .stop_every = chunk % 5 + 1};
    struct syslog_framer_stats st_whole, st_split;
    frame(&cfg, p, n, 0, &whole, &st_whole);
    frame(&cfg, p, n, chunk ? chunk : 1, &split, &st_split);
    if (whole.len != split.len || (whole.len && memcmp(whole.data, split.data, whole.len) != 0))
        violation("the messages depend on how the stream was split");
    if (st_whole.messages != whole.count || st_whole.truncated != whole.truncated)
        violation("the counters disagree with the messages delivered");
    if (st_whole.bytes != n || st_split.bytes != n)
        violation("the bytes counter is not the stream's length");
    if (memcmp(&st_whole, &st_split, sizeof(st_whole)) != 0)
        violation("the counters depend on how the stream was split");

    if (cfg.framing == SYSLOG_FRAMING_LF) {
        struct record ref = {.max_msg = cfg.max_msg};
        reference_lf(&cfg, p, n, &ref);
        if (ref.len != whole.len || (ref.len && memcmp(ref.data, whole.data, ref.len) != 0))
            violation("LF framing differs from the reference framer");
        if (st_whole.dropped != 0 && cfg.oversize == SYSLOG_OVERSIZE_TRUNCATE)
            violation("a message was dropped under the truncate policy");
        free(ref.data);
    }

    /* The messages framed again with octet counting come back unchanged. */
    struct record framed = {0};
    for (size_t off = 0; off < whole.len;) {
        const uint8_t *h = whole.data + off;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        char hdr[24];
        int hl = snprintf(hdr, sizeof(hdr), "%zu ", len);
        rec_add(&framed, hdr, (size_t)hl);
        rec_add(&framed, h + 5, len);
        off += 5 + len;
    }
    struct syslog_framer_config octet = cfg;
    octet.framing = SYSLOG_FRAMING_OCTET;
    octet.max_frame = cfg.max_msg;
    struct record back = {.max_msg = cfg.max_msg};
    struct syslog_framer_stats st_back;
    frame(&octet, framed.data, framed.len, 0, &back, &st_back);
    if (back.count != whole.count || st_back.framing_errors || st_back.truncated)
        violation("the messages framed with octet counting do not come back");
    for (size_t a = 0, b = 0; a < whole.len;) {
        size_t len = (size_t)whole.data[a] << 24 | (size_t)whole.data[a + 1] << 16 |
                     (size_t)whole.data[a + 2] << 8 | whole.data[a + 3];
        if (memcmp(whole.data + a, back.data + b, 4) != 0 ||
            back.data[b + 4] != SYSLOG_MSG_OCTET_COUNTED ||
            memcmp(whole.data + a + 5, back.data + b + 5, len) != 0)
            violation("a message framed with octet counting comes back different");
        a += 5 + len;
        b += 5 + len;
    }

    static struct detector det;
    static bool ready;
    if (!ready) {
        detector_init(&det, PROFILE_EXTENDED, false, DETECT_DEFAULT_MAX_EVENT);
        ready = true;
    }
    size_t parsed = 0;
    for (size_t off = 0; off < whole.len && parsed < MAX_PARSED; parsed++) {
        const uint8_t *h = whole.data + off;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        /* Each message in a buffer of exactly its size, so a read past it is caught. */
        char *msg = malloc(len);
        if (!msg)
            abort();
        memcpy(msg, h + 5, len);
        check_message(&det, msg, len, h[4]);
        free(msg);
        off += 5 + len;
    }
    /* The parser also sees the whole stream as one message (a datagram). */
    if (n) {
        char *all = malloc(n);
        if (!all)
            abort();
        memcpy(all, p, n);
        check_message(&det, all, n, 0);
        free(all);
    }
    free(whole.data);
    free(split.data);
    free(framed.data);
    free(back.data);
    return 0;
}
