#include "protocol/syslog_framer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

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
