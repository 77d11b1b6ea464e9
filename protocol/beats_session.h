/* The Beats session: the Lumberjack v1/v2 state machine of one connection, with no I/O. Bytes
 * come in and are cut into frames (lumberjack.h, limits checked on each header); what the workers
 * must see goes out as units (one compressed frame, or a run of bare J/D frames) tied to their
 * window; completions of units come back in; ACK bytes go out, in window order.
 *
 * Windows. A W frame opens a window of N data frames and closes the partial window before it;
 * W 0 is closed at once (so it is acknowledged with ACK 0). Bare data frames are counted as they
 * are cut: the window closes when its count is reached. Data frames that come while the last
 * window is closed but not yet acknowledged join it; once it is acknowledged, a data frame with
 * no W before it is an error, except on v1: after a v1 W of N > 0, a v1 data frame that finds no
 * open window opens another of N (implicit windows; the sequence numbers run on across them).
 * Frames inside a compressed frame are counted by whoever runs the unit and reported with its
 * completion.
 *
 * ACKs. A window is finished when every unit handed on for it has completed and it is closed or
 * its units held as many data frames as it announced. Finished windows at the head are
 * acknowledged one by one, in order, each with its version byte and the highest sequence number
 * its units held (0 when none), and forgotten: no window is acknowledged before the ones opened
 * before it. While a v2 window waits at the head and no ACK was produced for KEEPALIVE_MS, a
 * keep-alive ACK 0 goes out; a window in flight for KEEPALIVE_MAX_MS is stalled.
 * Every ACK is encoded by lj_encode_ack.
 *
 * Errors. Bytes that are not Lumberjack, a length over a limit, a compressed or data frame
 * before any window frame, a unit that failed and a stalled window end the session: the function
 * returns a negative errno, beats_session_error says why in one line (the reason the connection
 * is closed with), and every later call returns the same code. Nothing is acknowledged after an
 * error.
 *
 * Time is the caller's: monotonic milliseconds passed in. Threads: a session belongs to one
 * thread at a time (the loop thread of its connection); units may be run anywhere, but their
 * completions come back on the session's thread. */
#ifndef AMSI_PROTOCOL_BEATS_SESSION_H
#define AMSI_PROTOCOL_BEATS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/histogram.h"
#include "protocol/lumberjack.h"

struct beats_session_config {
    struct lj_limits limits;   /* checked on every frame header (copied) */
    uint64_t keepalive_ms;     /* v2: ACK 0 after this long without an ACK while a window waits */
    uint64_t keepalive_max_ms; /* a window in flight this long is stalled */
    struct histogram *ack_seconds; /* each window, from its W frame to its ACK; NULL: not kept */
};

struct beats_session;

/* A window not yet acknowledged: the ticket a unit carries back to beats_session_complete. It
 * stays valid while any unit handed on for it has not completed. */
struct beats_window;

enum beats_event {
    BEATS_NEED_MORE = 0,     /* nothing more can be cut from the bytes given */
    BEATS_WINDOW_OPENED = 1, /* a window opened (a W frame, or an implicit v1 window) */
    BEATS_UNIT = 2,          /* a unit to hand on (then complete it exactly once) */
};

enum beats_unit_kind {
    BEATS_UNIT_COMPRESSED = 1, /* DATA is the zlib payload of one C frame */
    BEATS_UNIT_FRAMES = 2,     /* DATA is a run of whole bare J or D frames, as they arrived */
};

struct beats_step {
    enum beats_event event;
    size_t need; /* NEED_MORE: the whole length of the unfinished frame at the bytes given, once
                    its header says it (C and J frames), else 0 */
    enum beats_unit_kind kind; /* UNIT */
    const uint8_t *data;       /* UNIT: a view into the bytes given, valid as long as they are */
    size_t len;                /* UNIT */
    uint8_t version;           /* WINDOW_OPENED, UNIT: the window's version byte, LJ_V1 or LJ_V2 */
    struct beats_window *window; /* WINDOW_OPENED, UNIT: the window */
};

/* Creates a session, NOW_MS counting as its last write (the first keep-alive comes
 * KEEPALIVE_MS after it at the earliest). Returns NULL when out of memory. */
struct beats_session *beats_session_new(const struct beats_session_config *cfg, uint64_t now_ms);

/* Frees the session and its windows; units still out must not be completed afterwards.
 * beats_session_free(NULL) is a no-op. */
void beats_session_free(struct beats_session *s);

/* Takes the next step out of the N bytes at P (bytes the caller has not consumed yet, starting at
 * a frame boundary), filling *STEP. Returns how many bytes the step consumed (the caller drops
 * them before the next call), or a negative errno when the session ends: -EBADMSG (not
 * Lumberjack, a frame out of place), -EMSGSIZE (a length over a limit), -ENOMEM. A step consumes
 * 0 bytes when it needs more (BEATS_NEED_MORE) or opens an implicit v1 window before the data
 * frame that caused it. Call it until it returns BEATS_NEED_MORE: a unit is handed on as soon as
 * its run of bare frames ends (at another frame, a full window, or the end of the bytes), so work
 * starts before the window is whole. Windows opened take NOW_MS as their start. */
long beats_session_input(struct beats_session *s, const uint8_t *p, size_t n, uint64_t now_ms,
                         struct beats_step *step);

/* Completes a unit of window W: FRAMES data frames seen in it, LAST_SEQ the highest sequence
 * number among them, STATUS 0 or a negative errno with ERROR saying why. Returns 0, or when
 * STATUS is not 0 that status: the window cannot be acknowledged and the session ends, with
 * ERROR as its reason. ACKs the completion made due come from beats_session_acks. */
int beats_session_complete(struct beats_session *s, struct beats_window *w, uint32_t frames,
                           uint32_t last_seq, int status, const char *error);

/* Appends to OUT an ACK frame for each finished window at the head, in order, and forgets those
 * windows; NOW_MS counts as the last write when any was appended. When OUT refuses an ACK (full,
 * or out of memory), the windows not appended stay for the next call. Returns how many ACKs were
 * appended (0 or more), or a negative errno: the session's error, or OUT's -EMSGSIZE or -ENOMEM
 * when it took none. */
int beats_session_acks(struct beats_session *s, struct buf *out, uint64_t now_ms);

/* The session's timers at NOW_MS. A window's time in flight counts from the later of its start
 * and HELD_SINCE_MS (the last time something beyond the sender held windows back, such as a full
 * disk; 0 for none). Returns 1 with a keep-alive ACK 0 appended to OUT (v2 head window, nothing
 * produced for KEEPALIVE_MS; NOW_MS then counts as the last write), 0 when nothing is due,
 * -ETIMEDOUT when the head window stayed in flight for KEEPALIVE_MAX_MS (the session ends), or
 * OUT's error. */
int beats_session_tick(struct beats_session *s, uint64_t now_ms, uint64_t held_since_ms,
                       struct buf *out);

/* Relaying. A window is whole once no frame can join it any more: it is closed (a later W frame,
 * or as many bare data frames as announced) or its completed units held as many data frames as
 * it announced. */
bool beats_window_whole(const struct beats_window *w);

/* The window's size (its W frame) and version byte. */
uint32_t beats_window_size(const struct beats_window *w);
uint8_t beats_window_version(const struct beats_window *w);

/* One more unit to wait for before W is acknowledged (the next hop's ACK, say), completed like
 * the others with beats_session_complete (FRAMES 0, LAST_SEQ 0). */
void beats_session_hold(struct beats_session *s, struct beats_window *w);

/* No frame joins W any more: the bare data frames that come for it without a W frame before them
 * are out of place (v2) or open an implicit window (v1), as after its ACK. For a window whose
 * bytes were passed on whole. */
void beats_session_seal(struct beats_session *s, struct beats_window *w);

/* Windows opened and not yet acknowledged. */
size_t beats_session_windows(const struct beats_session *s);

/* Units handed on and not yet completed. */
size_t beats_session_in_flight(const struct beats_session *s);

/* Why the session ended ("" while it has not): one line, at most 199 bytes. */
const char *beats_session_error(const struct beats_session *s);

#endif
