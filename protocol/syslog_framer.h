/* Syslog framing for stream transports (RFC 6587): an incremental framer that cuts a byte
 * stream into messages by octet counting or non-transparent framing, with limits and counters.
 * No I/O. The messages it hands on are parsed by protocol/syslog.h.
 *
 *   octet counting   LEN SP MSG          (LEN: 1-9 then digits)
 *   non-transparent  MSG LF | MSG CR LF | MSG NUL
 *
 * Threads: a framer belongs to one thread at a time (one per connection); the other functions
 * are pure. */
#ifndef AMSI_PROTOCOL_SYSLOG_FRAMER_H
#define AMSI_PROTOCOL_SYSLOG_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
