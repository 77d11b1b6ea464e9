#include "protocol/syslog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/time.h"
#include "base/utf8.h"

/* ---- Framing ---------------------------------------------------------------------------- */

enum fstate {
    FS_START,      /* nothing of the next frame seen */
    FS_PREFIX,     /* PRE holds the start of a frame that may be "LEN SP" */
    FS_OCTET,      /* inside an octet-counted message: KEEP bytes still to deliver */
    FS_SKIP_COUNT, /* skipping SKIP bytes of an oversize octet-counted message */
    FS_LINE,       /* inside a non-transparent message */
    FS_SKIP_LINE,  /* skipping an oversize non-transparent message up to its terminator */
};

#define PREFIX_MAX 16 /* 10 digits, SP, '<' fit */
#define LEN_DIGITS 10

struct syslog_framer {
    struct syslog_framer_config cfg;
    syslog_msg_fn fn;
    void *ctx;
    enum fstate state;
    struct buf msg; /* the message in progress; at most MAX_MSG + 1 bytes (a pending CR) */
    char pre[PREFIX_MAX];
    size_t npre;
    size_t keep;    /* FS_OCTET */
    uint64_t skip;  /* FS_SKIP_COUNT */
    unsigned flags; /* of the frame in progress */
    bool stop;      /* the callback asked to stop */
    int cb_rc;      /* its last non-zero value */
    struct syslog_framer_stats st;
};

void syslog_framer_config_default(struct syslog_framer_config *c)
{
    c->framing = SYSLOG_FRAMING_AUTO;
    c->oversize = SYSLOG_OVERSIZE_TRUNCATE;
    c->max_msg = SYSLOG_DEFAULT_MAX_MSG;
    c->max_frame = 0;
}

int syslog_framing_parse(const char *name, enum syslog_framing *out)
{
    static const char *const names[] = {"auto", "octet", "lf"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum syslog_framing)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *syslog_framing_name(enum syslog_framing f)
{
    switch (f) {
    case SYSLOG_FRAMING_OCTET:
        return "octet";
    case SYSLOG_FRAMING_LF:
        return "lf";
    case SYSLOG_FRAMING_AUTO:
    default:
        return "auto";
    }
}

int syslog_oversize_parse(const char *name, enum syslog_oversize *out)
{
    if (strcmp(name, "truncate") == 0) {
        *out = SYSLOG_OVERSIZE_TRUNCATE;
        return 0;
    }
    if (strcmp(name, "drop") == 0) {
        *out = SYSLOG_OVERSIZE_DROP;
        return 0;
    }
    return -EINVAL;
}

const char *syslog_oversize_name(enum syslog_oversize o)
{
    return o == SYSLOG_OVERSIZE_DROP ? "drop" : "truncate";
}

int syslog_framer_new(const struct syslog_framer_config *cfg, syslog_msg_fn fn, void *ctx,
                      struct syslog_framer **out)
{
    struct syslog_framer_config c;
    if (cfg)
        c = *cfg;
    else
        syslog_framer_config_default(&c);
    *out = NULL;
    if (!fn || c.max_msg < SYSLOG_MIN_MAX_MSG || c.max_msg > SIZE_MAX / 32 ||
        (c.framing != SYSLOG_FRAMING_AUTO && c.framing != SYSLOG_FRAMING_OCTET &&
         c.framing != SYSLOG_FRAMING_LF) ||
        (c.oversize != SYSLOG_OVERSIZE_TRUNCATE && c.oversize != SYSLOG_OVERSIZE_DROP))
        return -EINVAL;
    if (c.max_frame == 0)
        c.max_frame = 16 * c.max_msg;
    if (c.max_frame < c.max_msg)
        return -EINVAL;
    struct syslog_framer *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->cfg = c;
    f->fn = fn;
    f->ctx = ctx;
    f->state = FS_START;
    buf_init(&f->msg, c.max_msg + 1);
    *out = f;
    return 0;
}

void syslog_framer_free(struct syslog_framer *f)
{
    if (!f)
        return;
    buf_free(&f->msg);
    free(f);
}

const struct syslog_framer_stats *syslog_framer_stats(const struct syslog_framer *f)
{
    return &f->st;
}

bool syslog_looks_like_tls(const void *p, size_t n)
{
    const uint8_t *b = p;
    return n >= 2 && b[0] == 0x16 && b[1] == 0x03;
}

static void deliver(struct syslog_framer *f, const char *p, size_t len, unsigned flags)
{
    if (len == 0)
        return; /* empty frames (blank lines, a bare CRLF) carry nothing */
    f->st.messages++;
    if (flags & SYSLOG_MSG_TRUNCATED)
        f->st.truncated++;
    int rc = f->fn(f->ctx, p, len, flags);
    if (rc != 0) {
        f->stop = true;
        f->cb_rc = rc;
    }
}

static void frame_done(struct syslog_framer *f)
{
    buf_reset(&f->msg);
    f->flags = 0;
    f->state = FS_START;
}

enum decision { D_MORE, D_OCTET, D_LINE };

/* Looks at the start of a frame for "LEN SP" (and '<' after it in auto mode). */
static enum decision decide(const struct syslog_framer *f, const char *s, size_t n, uint64_t *len,
                            size_t *hdr)
{
    if (n == 0)
        return D_MORE;
    if (s[0] < '1' || s[0] > '9')
        return D_LINE;
    uint64_t v = 0;
    size_t k = 0;
    while (k < n && s[k] >= '0' && s[k] <= '9') {
        if (k == LEN_DIGITS)
            return D_LINE;
        v = v * 10 + (uint64_t)(s[k] - '0');
        k++;
    }
    if (k == n)
        return D_MORE;
    if (s[k] != ' ')
        return D_LINE;
    k++;
    if (f->cfg.framing == SYSLOG_FRAMING_AUTO) {
        if (k == n)
            return D_MORE;
        if (s[k] != '<')
            return D_LINE;
    }
    *len = v;
    *hdr = k;
    return D_OCTET;
}

/* Sets up an octet-counted frame of LEN bytes. False when LEN is over MAX_FRAME: a framing
 * error, and the caller reads the frame as non-transparent. */
static bool begin_octet(struct syslog_framer *f, uint64_t len)
{
    if (len > f->cfg.max_frame) {
        f->st.framing_errors++;
        f->flags |= SYSLOG_MSG_FRAMING_ERROR;
        f->state = FS_LINE;
        return false;
    }
    f->flags |= SYSLOG_MSG_OCTET_COUNTED;
    if (len <= f->cfg.max_msg) {
        f->keep = (size_t)len;
        f->skip = 0;
        f->state = FS_OCTET;
    } else if (f->cfg.oversize == SYSLOG_OVERSIZE_TRUNCATE) {
        f->keep = f->cfg.max_msg;
        f->skip = len - f->cfg.max_msg;
        f->flags |= SYSLOG_MSG_TRUNCATED;
        f->state = FS_OCTET;
    } else {
        f->st.dropped++;
        f->skip = len;
        f->state = FS_SKIP_COUNT;
    }
    return true;
}

static long octet_step(struct syslog_framer *f, const char *s, size_t n)
{
    if (f->msg.len == 0 && n >= f->keep) {
        size_t len = f->keep;
        unsigned flags = f->flags;
        uint64_t skip = f->skip;
        frame_done(f);
        if (skip) {
            f->skip = skip;
            f->state = FS_SKIP_COUNT;
        }
        deliver(f, s, len, flags);
        return (long)len;
    }
    size_t take = n < f->keep ? n : f->keep;
    if (buf_append(&f->msg, s, take) < 0)
        return -ENOMEM;
    f->keep -= take;
    if (f->keep == 0) {
        unsigned flags = f->flags;
        uint64_t skip = f->skip;
        size_t len = f->msg.len;
        f->state = skip ? FS_SKIP_COUNT : FS_START;
        deliver(f, f->msg.data, len, flags);
        buf_reset(&f->msg);
        f->flags = 0;
    }
    return (long)take;
}

/* The first LF or NUL in S, or N. */
static size_t find_term(const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t k = lf ? (size_t)(lf - s) : n;
    const char *nul = memchr(s, '\0', k);
    return nul ? (size_t)(nul - s) : k;
}

/* One non-transparent message, or the part of it in S. */
static long line_step(struct syslog_framer *f, const char *s, size_t n)
{
    const size_t max = f->cfg.max_msg;
    size_t k = find_term(s, n);
    bool term = k < n;
    size_t have = f->msg.len + k;
    char last = k > 0 ? s[k - 1] : (f->msg.len ? f->msg.data[f->msg.len - 1] : 0);
    size_t content = have;
    if (term && s[k] == '\n' && have > 0 && last == '\r')
        content--;
    /* A CR right at the limit may still be the first half of a CRLF. */
    bool cr_pending = !term && have == max + 1 && last == '\r';
    if (content > max && !cr_pending) {
        unsigned flags = f->flags | SYSLOG_MSG_TRUNCATED;
        if (f->cfg.oversize == SYSLOG_OVERSIZE_TRUNCATE) {
            if (f->msg.len == 0) {
                f->state = term ? FS_START : FS_SKIP_LINE;
                f->flags = 0;
                deliver(f, s, max, flags);
            } else {
                if (f->msg.len < max && buf_append(&f->msg, s, max - f->msg.len) < 0)
                    return -ENOMEM;
                f->state = term ? FS_START : FS_SKIP_LINE;
                f->flags = 0;
                deliver(f, f->msg.data, max, flags);
            }
        } else {
            f->st.dropped++;
            f->state = term ? FS_START : FS_SKIP_LINE;
            f->flags = 0;
        }
        buf_reset(&f->msg);
        return (long)(term ? k + 1 : n);
    }
    if (term) {
        unsigned flags = f->flags;
        if (f->msg.len == 0) {
            frame_done(f);
            deliver(f, s, content, flags);
        } else {
            if (buf_append(&f->msg, s, k) < 0)
                return -ENOMEM;
            f->state = FS_START;
            f->flags = 0;
            deliver(f, f->msg.data, content, flags);
            buf_reset(&f->msg);
        }
        return (long)(k + 1);
    }
    if (buf_append(&f->msg, s, n) < 0)
        return -ENOMEM;
    return (long)n;
}

static long skip_line_step(struct syslog_framer *f, const char *s, size_t n)
{
    size_t k = find_term(s, n);
    if (k < n) {
        frame_done(f);
        return (long)(k + 1);
    }
    return (long)n;
}

static long skip_count_step(struct syslog_framer *f, const char *s, size_t n)
{
    (void)s;
    size_t take = (uint64_t)n < f->skip ? n : (size_t)f->skip;
    f->skip -= take;
    if (f->skip == 0)
        frame_done(f);
    return (long)take;
}

/* Bytes of an undecided prefix, and a decision once there is one. */
static long prefix_step(struct syslog_framer *f, const char *s, size_t n)
{
    size_t take = 0;
    enum decision d = D_MORE;
    uint64_t len = 0;
    size_t hdr = 0;
    while (take < n && d == D_MORE) {
        f->pre[f->npre++] = s[take++];
        d = decide(f, f->pre, f->npre, &len, &hdr);
    }
    if (d == D_MORE)
        return (long)take;
    size_t npre = f->npre;
    f->npre = 0;
    /* The deciding byte is the last one in PRE, so whatever it completes is delivered last and
     * nothing is left behind if the callback asks to stop. */
    if (d == D_OCTET && begin_octet(f, len)) {
        size_t body = npre - hdr; /* the '<' already read, in auto mode */
        if (body && f->state == FS_OCTET && octet_step(f, f->pre + hdr, body) < 0)
            return -ENOMEM;
        if (body && f->state == FS_SKIP_COUNT)
            skip_count_step(f, f->pre + hdr, body);
        return (long)take;
    }
    if (d == D_LINE && f->cfg.framing == SYSLOG_FRAMING_OCTET) {
        f->st.framing_errors++;
        f->flags |= SYSLOG_MSG_FRAMING_ERROR;
    }
    f->state = FS_LINE;
    if (line_step(f, f->pre, npre) < 0)
        return -ENOMEM;
    return (long)take;
}

static long start_step(struct syslog_framer *f, const char *s, size_t n)
{
    f->flags = 0;
    if (s[0] == '\n' || s[0] == '\0')
        return 1;
    if (f->cfg.framing == SYSLOG_FRAMING_LF) {
        f->state = FS_LINE;
        return 0;
    }
    uint64_t len;
    size_t hdr;
    switch (decide(f, s, n, &len, &hdr)) {
    case D_OCTET:
        if (begin_octet(f, len))
            return (long)hdr;
        return 0; /* FS_LINE reads the frame, header included */
    case D_MORE:
        f->npre = 0;
        f->state = FS_PREFIX;
        return 0;
    case D_LINE:
    default:
        if (f->cfg.framing == SYSLOG_FRAMING_OCTET) {
            f->st.framing_errors++;
            f->flags |= SYSLOG_MSG_FRAMING_ERROR;
        }
        f->state = FS_LINE;
        return 0;
    }
}

long syslog_framer_feed(struct syslog_framer *f, const void *p, size_t n)
{
    const char *s = p;
    size_t i = 0;
    f->stop = false;
    while (i < n && !f->stop) {
        long used;
        switch (f->state) {
        case FS_START:
            used = start_step(f, s + i, n - i);
            break;
        case FS_PREFIX:
            used = prefix_step(f, s + i, n - i);
            break;
        case FS_OCTET:
            used = octet_step(f, s + i, n - i);
            break;
        case FS_SKIP_COUNT:
            used = skip_count_step(f, s + i, n - i);
            break;
        case FS_LINE:
            used = line_step(f, s + i, n - i);
            break;
        case FS_SKIP_LINE:
        default:
            used = skip_line_step(f, s + i, n - i);
            break;
        }
        if (used < 0) {
            f->st.bytes += i;
            return used;
        }
        i += (size_t)used;
    }
    f->st.bytes += i;
    /* No message in progress: its buffer goes, so that a connection that once sent a message
     * across reads does not hold up to max-message bytes while it is idle. */
    if (f->msg.len == 0)
        buf_free(&f->msg);
    return (long)i;
}

int syslog_framer_finish(struct syslog_framer *f)
{
    f->stop = false;
    f->cb_rc = 0;
    unsigned flags = f->flags;
    switch (f->state) {
    case FS_PREFIX:
        if (f->cfg.framing == SYSLOG_FRAMING_OCTET) {
            f->st.framing_errors++;
            flags |= SYSLOG_MSG_FRAMING_ERROR;
        }
        deliver(f, f->pre, f->npre, flags);
        break;
    case FS_LINE: {
        size_t len = f->msg.len;
        if (len && f->msg.data[len - 1] == '\r')
            len--;
        if (len > f->cfg.max_msg) {
            len = f->cfg.max_msg;
            flags |= SYSLOG_MSG_TRUNCATED;
        }
        deliver(f, f->msg.data, len, flags);
        break;
    }
    case FS_OCTET:
        f->st.framing_errors++;
        deliver(f, f->msg.data, f->msg.len,
                flags | SYSLOG_MSG_TRUNCATED | SYSLOG_MSG_FRAMING_ERROR);
        break;
    case FS_SKIP_COUNT:
        f->st.framing_errors++;
        break;
    case FS_START:
    case FS_SKIP_LINE:
    default:
        break;
    }
    f->npre = 0;
    f->keep = 0;
    f->skip = 0;
    frame_done(f);
    return f->cb_rc;
}

/* ---- Time --------------------------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int month_of(const char *p, size_t n)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (n < 3)
        return 0;
    char l[3] = {(char)(p[0] | 0x20), (char)(p[1] | 0x20), (char)(p[2] | 0x20)};
    for (int i = 0; i < 12; i++) {
        if (memcmp(names + 3 * i, l, 3) == 0)
            return i + 1;
    }
    return 0;
}

/* Zones seen after RFC 3164 times ("... 05:34:00 CST 1987"), in minutes east of UTC. */
static bool zone_offset(const char *p, size_t n, int *off)
{
    static const struct {
        const char *name;
        int off;
    } zones[] = {{"UTC", 0},    {"GMT", 0},    {"UT", 0},     {"Z", 0},
                 {"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300},
                 {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420},
                 {"CET", 60},   {"CEST", 120}, {"BST", 60},   {"IST", 330}};
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strlen(zones[i].name) == n && memcmp(zones[i].name, p, n) == 0) {
            *off = zones[i].off;
            return true;
        }
    }
    return false;
}

static int year_of_ms(int64_t ms)
{
    int64_t days = ms / 86400000 - (ms % 86400000 < 0);
    int y, m, d;
    time_civil_from_days(days, &y, &m, &d);
    return y;
}

/* An RFC 3164 timestamp at the start of P: "Mmm dd hh:mm:ss" (day as " d", "d" or "dd"), with
 * an optional fraction, "Mmm dd yyyy hh:mm:ss", or "Mmm dd hh:mm:ss ZONE yyyy" (RFC 3164
 * example 3). How many bytes it takes (0: none). Without a year, the year that puts it nearest
 * to NOW_MS; *INFERRED says so. *HAS_MS is false when it cannot be placed in time. */
static size_t parse_3164(const char *p, size_t n, int64_t now_ms, int64_t *out, bool *has_ms,
                         bool *inferred)
{
    int mo = month_of(p, n);
    if (!mo || n < 4 || p[3] != ' ')
        return 0;
    size_t k = 4;
    if (k < n && p[k] == ' ')
        k++;
    int d = 0, nd = 0;
    while (k < n && is_digit(p[k]) && nd < 2) {
        d = d * 10 + (p[k] - '0');
        k++;
        nd++;
    }
    if (nd == 0 || d < 1 || d > 31 || k >= n || p[k] != ' ')
        return 0;
    k++;
    int year = -1;
    if (n - k >= 5 && time_digits(p + k, n - k, 4, &year) && p[k + 4] == ' ')
        k += 5;
    else
        year = -1;
    int h, mi, s, ms = 0;
    if (!time_parse_hms(p + k, n - k, &h, &mi, &s))
        return 0;
    k += 8;
    k += time_parse_fraction(p + k, n - k, &ms);
    int off = 0;
    if (year < 0 && k < n && p[k] == ' ') {
        /* "ZONE yyyy" after the time. */
        size_t z = k + 1, zl = 0;
        while (z + zl < n && p[z + zl] >= 'A' && p[z + zl] <= 'Z' && zl < 5)
            zl++;
        int y2;
        /* Only known zones: "HOST 1234" must stay a hostname and a message. */
        if (zl >= 1 && z + zl < n && p[z + zl] == ' ' && n - (z + zl + 1) >= 4 &&
            time_digits(p + z + zl + 1, n - (z + zl + 1), 4, &y2) &&
            (z + zl + 5 == n || p[z + zl + 5] == ' ') && zone_offset(p + z, zl, &off)) {
            year = y2;
            k = z + zl + 5;
        }
    }
    *inferred = year < 0;
    *has_ms = false;
    if (year >= 0) {
        if (time_valid_date(year, mo, d)) {
            *out = time_ms_from_civil(year, mo, d, h, mi, s, ms) - (int64_t)off * 60000;
            *has_ms = true;
        }
        return k;
    }
    int now_year = year_of_ms(now_ms);
    int64_t best = 0, best_dist = INT64_MAX;
    for (int y = now_year - 1; y <= now_year + 1; y++) {
        if (!time_valid_date(y, mo, d))
            continue;
        int64_t t = time_ms_from_civil(y, mo, d, h, mi, s, ms);
        int64_t dist = t > now_ms ? t - now_ms : now_ms - t;
        if (dist < best_dist) {
            best_dist = dist;
            best = t;
        }
    }
    if (best_dist != INT64_MAX) {
        *out = best;
        *has_ms = true;
    }
    return k;
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

static unsigned scan_bytes(const char *p, size_t n)
{
    unsigned flags = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                flags |= SYSLOG_F_CONTROL_CHARS;
            i++;
            continue;
        }
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0) {
            flags |= SYSLOG_F_INVALID_UTF8;
            i++;
        } else {
            i += l;
        }
    }
    return flags;
}

/* ---- Structured data -------------------------------------------------------------------- */

/* SD-NAME: printable US-ASCII except '=', SP, ']' and '"'. */
static bool sd_name_char(char c)
{
    return c > 32 && c < 127 && c != '=' && c != ']' && c != '"';
}

/* The length of the quoted PARAM-VALUE starting at the opening quote P[0], quotes included, or
 * 0 when unterminated. */
static size_t sd_value_len(const char *p, size_t n)
{
    for (size_t k = 1; k < n; k++) {
        if (p[k] == '\\' && k + 1 < n && (p[k + 1] == '"' || p[k + 1] == '\\' || p[k + 1] == ']'))
            k++;
        else if (p[k] == '"')
            return k + 1;
    }
    return 0;
}

void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_view sd)
{
    it->p = sd.p;
    it->end = sd.p ? sd.p + sd.len : NULL;
    it->in_element = false;
}

int syslog_sd_next_param(struct syslog_sd_iter *it, struct syslog_view *name,
                         struct syslog_view *value)
{
    if (!it->in_element)
        return 0;
    const char *p = it->p, *end = it->end;
    if (p < end && *p == ']') {
        it->p = p + 1;
        it->in_element = false;
        return 0;
    }
    if (p >= end || *p != ' ')
        return -EBADMSG;
    p++;
    const char *nm = p;
    while (p < end && sd_name_char(*p))
        p++;
    if (p == nm || p + 1 >= end || p[0] != '=' || p[1] != '"')
        return -EBADMSG;
    name->p = nm;
    name->len = (size_t)(p - nm);
    p++;
    size_t vl = sd_value_len(p, (size_t)(end - p));
    if (vl == 0)
        return -EBADMSG;
    value->p = p + 1;
    value->len = vl - 2;
    it->p = p + vl;
    return 1;
}

int syslog_sd_next_element(struct syslog_sd_iter *it, struct syslog_view *id)
{
    if (!it->p)
        return 0;
    while (it->in_element) {
        struct syslog_view n, v;
        int rc = syslog_sd_next_param(it, &n, &v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
    }
    const char *p = it->p, *end = it->end;
    if (p >= end)
        return 0;
    if (*p != '[')
        return -EBADMSG;
    p++;
    const char *s = p;
    while (p < end && sd_name_char(*p))
        p++;
    if (p == s || p >= end || (*p != ' ' && *p != ']'))
        return -EBADMSG;
    id->p = s;
    id->len = (size_t)(p - s);
    it->p = p;
    it->in_element = true;
    return 1;
}

long syslog_sd_unescape(const char *raw, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '\\' && i + 1 < len &&
            (raw[i + 1] == '"' || raw[i + 1] == '\\' || raw[i + 1] == ']'))
            c = raw[++i];
        if (o + 1 >= outlen)
            return -EMSGSIZE;
        out[o++] = c;
    }
    if (o >= outlen)
        return -EMSGSIZE;
    out[o] = '\0';
    return (long)o;
}

/* The length of the SD part (one or more SD-ELEMENTs) at P, or 0 when malformed. */
static size_t sd_scan(const char *p, size_t n)
{
    struct syslog_sd_iter it = {p, p + n, false};
    struct syslog_view id, name, value;
    int rc;
    size_t used = 0;
    while (it.p < it.end && *it.p == '[') {
        rc = syslog_sd_next_element(&it, &id);
        if (rc <= 0)
            return 0;
        while ((rc = syslog_sd_next_param(&it, &name, &value)) == 1)
            ;
        if (rc < 0)
            return 0;
        used = (size_t)(it.p - p);
    }
    return used;
}

/* ---- Parsing ------------------------------------------------------------------------------ */

static const char *const bom = "\xEF\xBB\xBF";

static void set_msg(struct syslog_msg *m, const char *p, const char *end)
{
    if ((size_t)(end - p) >= 3 && memcmp(p, bom, 3) == 0) {
        p += 3;
        m->flags |= SYSLOG_F_BOM;
    }
    m->msg.p = p;
    m->msg.len = (size_t)(end - p);
}

/* "<PRI>": its length, 0 when absent or invalid. */
static size_t parse_pri(const char *p, size_t n, int *pri)
{
    if (n < 3 || p[0] != '<')
        return 0;
    size_t k = 1;
    int v = 0;
    while (k < n && k <= 3 && is_digit(p[k])) {
        v = v * 10 + (p[k] - '0');
        k++;
    }
    if (k == 1 || k >= n || p[k] != '>' || v > 191)
        return 0;
    *pri = v;
    return k + 1;
}

/* A header field: everything up to the next SP (or the end). */
static const char *token(const char *p, const char *end, struct syslog_view *v)
{
    const char *s = p;
    while (p < end && *p != ' ')
        p++;
    if (p == s || (p - s == 1 && *s == '-')) {
        v->p = NULL;
        v->len = 0;
    } else {
        v->p = s;
        v->len = (size_t)(p - s);
    }
    return p < end ? p + 1 : p;
}

static bool parse_5424(const char *p, const char *end, struct syslog_msg *m)
{
    /* VERSION: 1-3 digits, not starting with 0; then the timestamp must be '-' or RFC 3339, so
     * that an RFC 3164 message whose text starts with a number is not taken for one. */
    const char *s = p;
    int version = 0;
    while (p < end && is_digit(*p) && p - s < 3) {
        version = version * 10 + (*p - '0');
        p++;
    }
    if (p == s || *s == '0' || p >= end || *p != ' ')
        return false;
    p++;
    const char *ts = p;
    while (p < end && *p != ' ')
        p++;
    size_t tslen = (size_t)(p - ts);
    int64_t ms = 0;
    bool nil = tslen == 1 && ts[0] == '-';
    if (!nil && (tslen == 0 || time_rfc3339_prefix(ts, tslen, false, &ms) != tslen))
        return false;
    m->format = SYSLOG_FORMAT_RFC5424;
    m->version = version;
    if (!nil) {
        m->timestamp.p = ts;
        m->timestamp.len = tslen;
        m->time_ms = ms;
        m->has_time = true;
    }
    if (p < end)
        p++;
    p = token(p, end, &m->hostname);
    p = token(p, end, &m->app_name);
    p = token(p, end, &m->procid);
    p = token(p, end, &m->msgid);
    if (p >= end) {
        set_msg(m, end, end);
        return true;
    }
    if (*p == '-' && (p + 1 == end || p[1] == ' ')) {
        p++;
    } else {
        size_t sdl = *p == '[' ? sd_scan(p, (size_t)(end - p)) : 0;
        if (sdl == 0) {
            /* Not SD after all: keep every byte, in MSG. */
            m->flags |= SYSLOG_F_BAD_SD;
            set_msg(m, p, end);
            return true;
        }
        m->sd.p = p;
        m->sd.len = sdl;
        p += sdl;
    }
    if (p < end && *p == ' ')
        p++;
    set_msg(m, p, end);
    return true;
}

static bool alnum(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool hex_digit(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* pmrfc3164's hostname test: letters, digits, '.', '_', '-', ending with a letter or digit and
 * followed by SP (or the end); also IPv6 literals and "[addr]". A ':' (a TAG) or '[' (a PID)
 * means it is not a hostname. The hostname's length, or 0. */
static size_t hostname_len(const char *p, const char *end)
{
    size_t n = (size_t)(end - p), k = 0;
    if (n && p[0] == '[') {
        k = 1;
        while (k < n && (hex_digit(p[k]) || p[k] == ':' || p[k] == '.'))
            k++;
        if (k > 1 && k < n && p[k] == ']' && (k + 1 == n || p[k + 1] == ' '))
            return k + 1;
        return 0;
    }
    while (k < n && (alnum(p[k]) || p[k] == '.' || p[k] == '_' || p[k] == '-') && k < 255)
        k++;
    if (k > 0 && (k == n || p[k] == ' ') && alnum(p[k - 1]))
        return k;
    /* IPv6: hex digits, '.' and at least two ':' */
    size_t colons = 0;
    k = 0;
    while (k < n && (hex_digit(p[k]) || p[k] == ':' || p[k] == '.') && k < 64)
        colons += p[k++] == ':';
    if (colons >= 2 && (k == n || p[k] == ' '))
        return k;
    return 0;
}

/* Characters of a TAG's name: printable ASCII that does not start structure of its own (JSON,
 * XML, key=value payloads carry '{', '"', '<', '='). */
static bool tag_char(char c)
{
    return c > 32 && c < 127 && c != ':' && c != '[' && c != ']' && c != '{' && c != '}' &&
           c != '"' && c != '<' && c != '>' && c != '=';
}

#define TAG_MAX 128

/* "name:", "name[pid]:" or "name[pid]" at P: sets the views and returns where MSG starts, or
 * NULL when there is no TAG (the whole text is then MSG, as for "Use the BFG!"). */
static const char *parse_tag(const char *p, const char *end, struct syslog_msg *m)
{
    const char *s = p;
    while (p < end && tag_char(*p) && p - s < TAG_MAX)
        p++;
    if (p == s || p >= end)
        return NULL;
    struct syslog_view app = {s, (size_t)(p - s)}, pid = {NULL, 0};
    if (*p == '[') {
        const char *q = ++p;
        while (p < end && *p != ']' && *p != ' ' && p - q < TAG_MAX)
            p++;
        if (p >= end || *p != ']')
            return NULL;
        pid.p = q;
        pid.len = (size_t)(p - q);
        p++;
        if (p < end && *p == ':')
            p++;
    } else if (*p == ':') {
        p++;
    } else {
        return NULL;
    }
    m->app_name = app;
    m->procid = pid.len ? pid : (struct syslog_view){NULL, 0};
    m->tag.p = s;
    m->tag.len = (size_t)(p - s);
    if (p < end && *p == ' ')
        p++;
    return p;
}

static void parse_3164_body(const char *p, const char *end, int64_t now_ms, struct syslog_msg *m)
{
    m->format = SYSLOG_FORMAT_RFC3164;
    m->version = 0;
    size_t n = (size_t)(end - p);
    int64_t ms = 0;
    bool has_ms = false, inferred = false;
    const char *ts = p;
    size_t tl = time_rfc3339_prefix(p, n, false, &ms);
    if (tl && (tl == n || p[tl] == ' ')) {
        has_ms = true;
    } else {
        tl = parse_3164(p, n, now_ms, &ms, &has_ms, &inferred);
        if (!tl && n > 1 && p[0] == ' ') {
            /* A stray space before the timestamp (HP ProCurve does this). */
            tl = parse_3164(p + 1, n - 1, now_ms, &ms, &has_ms, &inferred);
            if (tl) {
                ts = p + 1;
                tl += 1;
            }
        }
        if (tl && tl < n && p[tl] != ' ')
            tl = 0;
    }
    if (!tl) {
        /* RFC 3164 4.3.3: without a valid TIMESTAMP, everything after PRI is CONTENT. A TAG at
         * the start is still recognised ("app[42]: text"). */
        const char *msg = parse_tag(p, end, m);
        set_msg(m, msg ? msg : p, end);
        return;
    }
    m->timestamp.p = ts;
    m->timestamp.len = (size_t)(p + tl - ts);
    m->has_time = has_ms;
    m->time_ms = has_ms ? ms : 0;
    if (inferred)
        m->flags |= SYSLOG_F_YEAR_INFERRED;
    p += tl;
    while (p < end && *p == ' ')
        p++;
    size_t hl = hostname_len(p, end);
    if (hl) {
        m->hostname.p = p;
        m->hostname.len = hl;
        p += hl;
        if (p < end)
            p++;
    }
    const char *msg = parse_tag(p, end, m);
    set_msg(m, msg ? msg : p, end);
}

long syslog_parse(const char *p, size_t n, int64_t now_ms, struct syslog_msg *m)
{
    memset(m, 0, sizeof(*m));
    const char *end = p + n;
    m->flags = scan_bytes(p, n);
    int pri = 13;
    size_t k = parse_pri(p, n, &pri);
    if (!k)
        m->flags |= SYSLOG_F_NO_PRI;
    m->pri = pri;
    m->facility = pri / 8;
    m->severity = pri % 8;
    if (k && parse_5424(p + k, end, m))
        return (long)n;
    /* parse_5424 writes nothing before it has decided. */
    parse_3164_body(p + k, end, now_ms, m);
    return (long)n;
}
