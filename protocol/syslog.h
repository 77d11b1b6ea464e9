/* Syslog messages: a parser of one message (RFC 5424, then RFC 3164 with the heuristics of
 * rsyslog's pmrfc3164) and an iterator over RFC 5424 structured data. No I/O, no allocation:
 * results are views into the caller's bytes. Stream framing is protocol/syslog_framer.h's.
 *
 *   RFC 5424         <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [SP MSG]
 *   RFC 3164         <PRI>Mmm dd hh:mm:ss HOST TAG: MSG
 *
 * Threads: pure functions; any thread may call them on buffers it owns. */
#ifndef AMSI_PROTOCOL_SYSLOG_H
#define AMSI_PROTOCOL_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
