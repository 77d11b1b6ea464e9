/* The Lumberjack protocol (v1 and v2, the "Beats protocol"): an incremental frame decoder and an
 * encoder, with no I/O. Frames are returned as views into the caller's bytes. Every length is
 * checked against the limits before anything is allocated or read past.
 *
 *   every frame: version byte ('1' or '2'), type byte, payload; integers are u32 big-endian
 *   W window-size | C len zlib-bytes | J seq len json | D seq pairs (klen key vlen value)* | A seq
 *
 * Pure functions: any thread may call them on buffers it owns. */
#ifndef AMSI_PROTOCOL_LUMBERJACK_H
#define AMSI_PROTOCOL_LUMBERJACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define LJ_V1 '1'
#define LJ_V2 '2'

struct lj_limits {
    uint32_t max_window;     /* data frames per window (default 10,000, as go-lumber) */
    uint32_t max_json;       /* bytes of one J frame's JSON (default 16 MiB) */
    uint32_t max_compressed; /* bytes of one C frame's payload (default 64 MiB) */
    uint32_t max_pairs;      /* key/value pairs of one D frame (default 1,024) */
    uint32_t max_item;       /* bytes of one D key or value (default 1 MiB) */
};

/* The defaults above. */
void lj_limits_default(struct lj_limits *l);

enum lj_type { LJ_WINDOW = 'W', LJ_COMPRESSED = 'C', LJ_JSON = 'J', LJ_DATA = 'D', LJ_ACK = 'A' };

struct lj_frame {
    uint8_t version;        /* '1' or '2' */
    uint8_t type;           /* enum lj_type */
    uint32_t seq;           /* J, D, A */
    uint32_t window;        /* W */
    uint32_t pairs;         /* D */
    const uint8_t *payload; /* C: the zlib bytes; J: the JSON; D: the first pair */
    uint32_t payload_len;
    size_t frame_len; /* bytes the whole frame takes */
};

/* Decodes one frame at the start of P (N bytes). Returns the frame's length (> 0) and fills *F, or
 * -EAGAIN when more bytes are needed (F->frame_len is then the whole frame's length when its header
 * is complete and says it, C and J frames, else 0), -EBADMSG for an unknown version or type,
 * -EMSGSIZE when a length is over LIMITS. ACCEPT_ACK allows 'A' frames (clients decode those). */
long lj_decode(const uint8_t *p, size_t n, const struct lj_limits *limits, bool accept_ack,
               struct lj_frame *f);

/* One line saying what bytes that are not Lumberjack look like: "TLS client on a plaintext port"
 * (0x16), "HTTP sent to the Beats port" (G, P, H), "JSON sent without framing" ({), or a generic
 * description with the byte values. OUT receives at most OUTLEN bytes. */
void lj_describe_garbage(const uint8_t *p, size_t n, char *out, size_t outlen);

/* Calls FN for each key/value pair of a D frame. Returns 0, FN's non-zero value, or -EBADMSG
 * when the pairs do not fit the frame. */
typedef int (*lj_pair_fn)(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                          uint32_t vlen);
int lj_each_pair(const struct lj_frame *f, lj_pair_fn fn, void *ctx);

/* Encoding (for the load generator and the tests). Each appends to OUT; 0, or -EMSGSIZE/-ENOMEM
 * from the buffer. */
int lj_encode_window(struct buf *out, uint8_t version, uint32_t n);
int lj_encode_json(struct buf *out, uint32_t seq, const void *json, uint32_t len);
int lj_encode_data(struct buf *out, uint32_t seq, const char *const *keys,
                   const char *const *values, uint32_t pairs);
int lj_encode_ack(struct buf *out, uint8_t version, uint32_t seq);

/* Appends a C frame holding the zlib compression (LEVEL 0-9) of the N bytes at P. */
int lj_encode_compressed(struct buf *out, uint8_t version, const void *p, size_t n, int level);

#endif
