/* Syslog: an incremental framer for stream transports (RFC 6587: octet counting and
 * non-transparent framing), a parser of one message (RFC 5424, then RFC 3164 with the heuristics
 * of rsyslog's pmrfc3164), and an iterator over RFC 5424 structured data. No I/O, no allocation
 * in the parser: results are views into the caller's bytes.
 *
 *   octet counting   LEN SP MSG          (LEN: 1-9 then digits)
 *   non-transparent  MSG LF | MSG CR LF | MSG NUL
 *   RFC 5424         <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [SP MSG]
 *   RFC 3164         <PRI>Mmm dd hh:mm:ss HOST TAG: MSG
 *
 * Threads: the framer belongs to one thread at a time (one per connection); the other functions
 * are pure and any thread may call them on buffers it owns. */
#ifndef AMSI_PROTOCOL_SYSLOG_H
#define AMSI_PROTOCOL_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Framing ---------------------------------------------------------------------------- */

enum syslog_framing {
    SYSLOG_FRAMING_AUTO = 0, /* per frame: "LEN SP <" is octet counting, anything else is LF */
    SYSLOG_FRAMING_OCTET = 1,
    SYSLOG_FRAMING_LF = 2,
};

enum syslog_oversize {
    SYSLOG_OVERSIZE_TRUNCATE = 0, /* deliver the first MAX_MSG bytes, flagged, skip the rest */
    SYSLOG_OVERSIZE_DROP = 1,     /* count it, deliver nothing */
};

#define SYSLOG_DEFAULT_MAX_MSG (64u * 1024u)
#define SYSLOG_MIN_MAX_MSG     64u

struct syslog_framer_config {
    enum syslog_framing framing;   /* default AUTO */
    enum syslog_oversize oversize; /* default TRUNCATE */
    size_t max_msg;                /* bytes of one message, at least SYSLOG_MIN_MAX_MSG */
    size_t max_frame;              /* the largest octet count taken as a frame (0: 16 x MAX_MSG);
                                      a larger one is a framing error, and that frame is read as
                                      non-transparent instead, as rsyslog does */
};

/* Fills C with the defaults above. Any thread. */
void syslog_framer_config_default(struct syslog_framer_config *c);

/* "auto", "octet", "lf" to the enum and back. Parsing returns 0 or -EINVAL. Any thread. */
int syslog_framing_parse(const char *name, enum syslog_framing *out);
const char *syslog_framing_name(enum syslog_framing f);

/* "truncate", "drop" to the enum and back. Parsing returns 0 or -EINVAL. Any thread. */
int syslog_oversize_parse(const char *name, enum syslog_oversize *out);
const char *syslog_oversize_name(enum syslog_oversize o);

/* Flags of a delivered message. */
#define SYSLOG_MSG_TRUNCATED     0x1u /* over MAX_MSG (or cut by the end of the stream) */
#define SYSLOG_MSG_OCTET_COUNTED 0x2u /* framed by octet counting */
#define SYSLOG_MSG_FRAMING_ERROR 0x4u /* delivered after a framing error (see the counters) */

struct syslog_framer_stats {
    uint64_t messages;       /* messages delivered */
    uint64_t bytes;          /* bytes consumed */
    uint64_t truncated;      /* messages delivered truncated */
    uint64_t dropped;        /* oversize messages dropped (SYSLOG_OVERSIZE_DROP) */
    uint64_t framing_errors; /* bad octet counts, frames cut by the end of the stream */
};

/* Receives each complete message: LEN (> 0) bytes at MSG, without its terminator, valid only
 * during the call (it may point into the bytes being fed, or into the framer). FLAGS is a set
 * of SYSLOG_MSG_*. Returns 0 to go on, non-zero to make syslog_framer_feed return right after
 * this message. */
typedef int (*syslog_msg_fn)(void *ctx, const char *msg, size_t len, unsigned flags);

struct syslog_framer;

/* Creates a framer with CFG (NULL: the defaults) delivering to FN. Its buffer never holds more
 * than MAX_MSG + 1 bytes. Returns 0, -EINVAL (a limit below the minimum, an unknown mode) or
 * -ENOMEM. Any thread; the framer then belongs to its caller. */
int syslog_framer_new(const struct syslog_framer_config *cfg, syslog_msg_fn fn, void *ctx,
                      struct syslog_framer **out);

/* Frees F. syslog_framer_free(NULL) is a no-op. Owner thread. */
void syslog_framer_free(struct syslog_framer *f);

/* Feeds N bytes, split anywhere (one byte at a time works). Complete messages wholly inside P
 * are delivered without copying. Limits are checked before anything is buffered; an oversize
 * message or a framing error never fails the call nor loses the next message. Returns the bytes
 * consumed: N, or fewer when FN asked to stop (feed the rest later), or -ENOMEM. Owner thread. */
long syslog_framer_feed(struct syslog_framer *f, const void *p, size_t n);

/* Ends the stream: a last message without terminator is delivered (an unfinished octet-counted
 * frame is delivered flagged truncated and counted as a framing error). The framer is then
 * ready for a new stream. Returns 0 or FN's non-zero value. Owner thread. */
int syslog_framer_finish(struct syslog_framer *f);

/* The counters so far. Owner thread. */
const struct syslog_framer_stats *syslog_framer_stats(const struct syslog_framer *f);

/* True when the first bytes are a TLS handshake record (0x16 0x03): a TLS client on a
 * plaintext port. Pure. */
bool syslog_looks_like_tls(const void *p, size_t n);

/* ---- One message ------------------------------------------------------------------------ */

/* A view into the message. P is NULL when the field is absent or NILVALUE ('-'). */
struct syslog_view {
    const char *p;
    size_t len;
};

enum syslog_format {
    SYSLOG_FORMAT_RFC3164 = 0, /* also everything that is not RFC 5424 */
    SYSLOG_FORMAT_RFC5424 = 1,
};

/* Flags of a parsed message. */
#define SYSLOG_F_NO_PRI        0x01u /* no valid PRI: 13 (user.notice) assumed */
#define SYSLOG_F_BOM           0x02u /* a UTF-8 BOM before MSG was removed */
#define SYSLOG_F_INVALID_UTF8  0x04u /* some bytes are not UTF-8; they are kept as they are */
#define SYSLOG_F_BAD_SD        0x08u /* RFC 5424 header, malformed SD: it is left in MSG */
#define SYSLOG_F_YEAR_INFERRED 0x10u /* year-less timestamp: the year nearest to NOW was taken */
#define SYSLOG_F_CONTROL_CHARS 0x20u /* control characters other than TAB inside (kept) */

struct syslog_msg {
    enum syslog_format format;
    unsigned flags;  /* SYSLOG_F_* */
    int pri;         /* 0-191 */
    int facility;    /* pri / 8 */
    int severity;    /* pri % 8 */
    int version;     /* 1 for RFC 5424, 0 for RFC 3164 */
    bool has_time;   /* TIME_MS holds the timestamp */
    int64_t time_ms; /* epoch milliseconds, UTC (a timestamp without zone is taken as UTC) */
    struct syslog_view timestamp; /* the timestamp as sent */
    struct syslog_view hostname;
    struct syslog_view app_name; /* RFC 3164: the TAG's name, before '[' or ':' */
    struct syslog_view procid;   /* RFC 3164: between '[' and ']' in the TAG */
    struct syslog_view msgid;    /* RFC 5424 only */
    struct syslog_view tag;      /* RFC 3164 only: the TAG as sent, "sshd[42]:" */
    struct syslog_view sd;       /* RFC 5424 only: all SD-ELEMENTs, raw */
    struct syslog_view msg;      /* never NULL (P points into the input even when empty) */
};

/* Parses the N bytes at P (one framed message; any bytes, NUL and LF included) into M, whose
 * views point into P. RFC 5424 is tried first, then RFC 3164; a message that is neither is
 * all MSG. NOW_MS (epoch milliseconds) chooses the year of year-less timestamps: the one that
 * puts the timestamp nearest to NOW (a Dec 31 message read on Jan 1 is last year's).
 * RFC 3164 heuristics (rsyslog pmrfc3164's): after the timestamp, a token of letters, digits,
 * '.', '_', '-' (or an IPv6 literal) followed by SP is the hostname, so a token with ':' or '['
 * ("su:", "sshd[42]:") means there is none; a TAG is a name ended by ':' or "[pid]" (then an
 * optional ':'), else there is no TAG and the text is all MSG ("Use the BFG!"); without a
 * valid timestamp there is no hostname either (RFC 3164 4.3.3), though a leading TAG is read.
 * Never fails on any input: returns N (every byte belongs to the message). Pure. */
long syslog_parse(const char *p, size_t n, int64_t now_ms, struct syslog_msg *m);

/* ---- Structured data (RFC 5424 section 6.3) ------------------------------------------- */

/* An iterator over the SD-ELEMENTs of a message's SD view and their SD-PARAMs. The caller
 * embeds it (it lives on the stack); its fields are private. */
struct syslog_sd_iter {
    const char *p, *end;
    bool in_element;
};

/* Starts iterating SD (a struct syslog_msg's SD view; a NULL view has no elements). The
 * iterator belongs to its caller's thread, like the bytes it reads. */
void syslog_sd_iter_init(struct syslog_sd_iter *it, struct syslog_view sd);

/* Moves to the next SD-ELEMENT (skipping the PARAMs left in the current one) and sets *ID to
 * its SD-ID. Returns 1, 0 when there are no more, -EBADMSG when malformed. Caller's thread. */
int syslog_sd_next_element(struct syslog_sd_iter *it, struct syslog_view *id);

/* Moves to the next SD-PARAM of the current element: *NAME, and *VALUE raw (still escaped,
 * without the quotes). Returns 1, 0 at the end of the element, -EBADMSG when malformed.
 * Caller's thread. */
int syslog_sd_next_param(struct syslog_sd_iter *it, struct syslog_view *name,
                         struct syslog_view *value);

/* Unescapes a raw PARAM-VALUE exactly as RFC 5424 6.3.3: '\"', '\\' and '\]' lose their
 * backslash; a backslash before any other character is kept. Writes the result and a NUL into
 * OUT (OUTLEN bytes). Returns the length written (without the NUL), or -EMSGSIZE when it does
 * not fit (the result is never longer than LEN). Pure. */
long syslog_sd_unescape(const char *raw, size_t len, char *out, size_t outlen);

#endif
