/* The plumbing every TCP connection of the daemon shares (Beats, syslog over TCP and TLS): the
 * handle and the peer's name, the list of its listener, reference counts, closing with one log
 * line, pausing, and writing through the TLS engine when there is one. A connection type embeds
 * struct conn as its first member (a pointer to either is a pointer to both) and gives two hooks.
 *
 * References: the handle holds one until it has closed; whoever hands the connection to another
 * party that will call back (a batch to the workers, a write to libuv) takes one with conn_ref
 * and drops it with conn_unref in the callback. The last conn_unref calls the type's RELEASE.
 * Loop thread only. */
#ifndef AMSI_SERVER_CONN_H
#define AMSI_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/secure.h"

struct server;
struct conn;

/* The open connections of one kind, newest first. */
struct conn_list {
    struct conn *head;
    uint64_t count;
};

struct conn_ops {
    /* At close, once, before the handle closes: gives back what the connection holds that others
     * wait for (memory budgets, batches the workers refused). ERROR: closed for an error. May be
     * NULL. */
    void (*closing)(struct conn *c, bool error);
    /* When the last reference goes: frees what the connection owns, then the connection. */
    void (*release)(struct conn *c);
};

struct conn {
    uv_tcp_t tcp; /* first: the handle's data is the connection */
    struct server *srv;
    const struct conn_ops *ops;
    const char *logname; /* the component its log lines name */
    struct conn_list *list;
    struct conn *prev, *next;
    char peer[96]; /* "ADDR:PORT" */
    int refs;
    bool closing, reading, paused;
    struct sec_conn sec; /* TLS (sec.io NULL on a plaintext listener) */
};

/* Accepts the connection pending on LISTENER into C (zeroed, malloc'd, struct conn first), for
 * server SRV, into LIST, logging as LOGNAME (a string that outlives C) with OPS. Returns 0 with C
 * in LIST and holding the handle's reference, or net_accept's -1 when the accept failed: C is
 * then freed. */
int conn_accept(struct conn *c, uv_stream_t *listener, struct server *srv, struct conn_list *list,
                const char *logname, const struct conn_ops *ops);

void conn_ref(struct conn *c);

/* Drops a reference; the last one releases the connection (OPS->release). */
void conn_unref(struct conn *c);

/* Closes C once, saying why in one line (a warning when ERROR, else at debug level): runs
 * OPS->closing, leaves the list and closes the handle. Closing a closing connection does nothing.
 */
void conn_close(struct conn *c, const char *why, bool error);

/* Stops reading until the server resumes its paused connections. */
void conn_pause(struct conn *c);

/* Stops reading (stopping, draining): not a pause, nothing resumes it. */
void conn_stop_reading(struct conn *c);

/* Starts reading with ALLOC and READ unless reading or closing. Returns true when it started
 * (no longer paused). */
bool conn_start_reading(struct conn *c, uv_alloc_cb alloc, uv_read_cb read);

/* Sends what the TLS engine has ready (handshake messages, alerts, encrypted data); a failure
 * closes C. */
void conn_flush_tls(struct conn *c);

/* Writes the N bytes at P (copied) to the peer, through the TLS engine when there is one.
 * Returns 0, or a negative errno when it failed: C is then closing, the reason logged. */
int conn_write(struct conn *c, const void *p, size_t n);

/* Bytes written and not yet taken by the kernel. */
size_t conn_write_queue(const struct conn *c);

#endif
