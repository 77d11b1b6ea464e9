/* The Beats relay: a queue of whole v2 windows and the connections to the next hops that take
 * them (relay/relay.h). */
#include "relay/relay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/tlsio.h"
#include "protocol/lumberjack.h"

#define DEFAULT_PORT "5044"
#define TICK_MS      100u
#define READ_BUF     (16u * 1024u)

struct rwin {
    struct rwin *next;
    uint8_t *bytes;
    size_t len;
    uint32_t events;
    relay_done_fn done;
    void *ctx;
    uint64_t sent_ms;
};

struct fifo {
    struct rwin *head, *tail;
    size_t n;
};

enum hstate {
    H_IDLE,       /* not connected; connects at NEXT_ATTEMPT_MS (when WANTED) */
    H_RESOLVING,  /* getaddrinfo out */
    H_CONNECTING, /* uv_tcp_connect out */
    H_HANDSHAKE,  /* TLS handshake */
    H_UP,
};

struct hconn {
    struct relay *r;
    size_t host; /* index into the hosts */
    enum hstate state;
    uv_getaddrinfo_t gai;
    bool gai_out;
    uv_tcp_t tcp;
    bool tcp_open; /* TCP initialised and its close callback not yet run */
    uv_connect_t creq;
    struct tlsio *tls;
    struct fifo inflight;
    uint8_t ack[6];
    size_t ackn;
    uint64_t since_ms;        /* the last progress: connection started, ACK, keep-alive */
    uint64_t next_attempt_ms; /* H_IDLE: when to connect again */
    uint64_t backoff_ms;      /* the next wait after a failure */
    unsigned failures;        /* consecutive failed connections (failover walks the hosts) */
    bool ever_up;
    bool retired; /* of a host list replaced: waits only for its handles to close */
};

/* Connections of a host list replaced by relay_update_hosts, kept until the relay is freed: their
 * handles may still be closing and point into them. */
struct retired {
    struct retired *next;
    struct hconn *conns;
};

struct hostinfo {
    char name[256]; /* as configured */
    char node[256]; /* the name or address to resolve */
    char port[8];
    unsigned up; /* connections up */
    bool logged_down;
    struct relay_hop_stats stats;
};

struct relay {
    uv_loop_t *loop;
    struct relay_options o;
    struct hostinfo hosts[RELAY_MAX_HOSTS];
    struct hconn *conns;
    size_t nconns;
    struct retired *retired;
    size_t rr; /* round robin over the connections */
    struct fifo queue;
    uv_timer_t tick;
    uint64_t held_ms;
    bool closing;
    unsigned open_handles; /* tick, TCP handles, resolutions out */
    void (*closed)(void *);
    void *closed_arg;
    char rbuf[READ_BUF];
};

static void pump(struct relay *r);
static void hop_failed(struct hconn *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Queues ---- */

static void fifo_push(struct fifo *q, struct rwin *w)
{
    w->next = NULL;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->n++;
}

static struct rwin *fifo_pop(struct fifo *q)
{
    struct rwin *w = q->head;
    if (!w)
        return NULL;
    q->head = w->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    w->next = NULL;
    return w;
}

/* Puts every window of FROM, in order, before those of TO. */
static void fifo_prepend(struct fifo *to, struct fifo *from)
{
    if (!from->head)
        return;
    from->tail->next = to->head;
    if (!to->head)
        to->tail = from->tail;
    to->head = from->head;
    to->n += from->n;
    from->head = from->tail = NULL;
    from->n = 0;
}

static void win_finish(struct rwin *w, int status)
{
    relay_done_fn done = w->done;
    void *ctx = w->ctx;
    free(w->bytes);
    free(w);
    done(ctx, status);
}

/* ---- Hosts ---- */

static int parse_host(const char *spec, struct hostinfo *h)
{
    snprintf(h->name, sizeof(h->name), "%s", spec);
    const char *port = NULL;
    size_t nodelen;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -EINVAL;
        nodelen = (size_t)(close - spec - 1);
        spec++;
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strchr(spec, ':');
        if (colon && strchr(colon + 1, ':'))
            return -EINVAL; /* an IPv6 address wants brackets */
        nodelen = colon ? (size_t)(colon - spec) : strlen(spec);
        port = colon ? colon + 1 : NULL;
    }
    if (nodelen == 0 || nodelen >= sizeof(h->node))
        return -EINVAL;
    memcpy(h->node, spec, nodelen);
    h->node[nodelen] = '\0';
    if (!port) {
        snprintf(h->port, sizeof(h->port), DEFAULT_PORT);
        return 0;
    }
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (!*port || *end || p == 0 || p > 65535)
        return -EINVAL;
    snprintf(h->port, sizeof(h->port), "%lu", p);
    return 0;
}

static uint64_t now_ms(const struct relay *r)
{
    return uv_now(r->loop);
}

/* ---- Connections ---- */

static void on_handle_closed(uv_handle_t *handle);

static void release_if_done(struct relay *r)
{
    if (!r->closing || r->open_handles)
        return;
    void (*closed)(void *) = r->closed;
    void *arg = r->closed_arg;
    if (r->o.tls)
        SSL_CTX_free(r->o.tls);
    free(r->conns);
    while (r->retired) {
        struct retired *next = r->retired->next;
        free(r->retired->conns);
        free(r->retired);
        r->retired = next;
    }
    free(r);
    if (closed)
        closed(arg);
}

static void on_tcp_closed(uv_handle_t *handle)
{
    struct hconn *h = handle->data;
    h->tcp_open = false;
    struct relay *r = h->r;
    r->open_handles--;
    release_if_done(r);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct relay *r = handle->data;
    r->open_handles--;
    release_if_done(r);
}

struct wreq {
    uv_write_t req;
    struct hconn *h;
    uint8_t *owned; /* ciphertext, freed after the write; plaintext windows are the window's */
    struct rwin *w; /* the window whose last bytes this write carries */
};

static void complete_head(struct hconn *h);

static void on_write(uv_write_t *req, int status)
{
    struct wreq *wr = (struct wreq *)req;
    struct hconn *h = wr->h;
    struct rwin *w = wr->w;
    free(wr->owned);
    free(wr);
    if (status < 0 && status != UV_ECANCELED && h->state != H_IDLE && !h->r->closing)
        hop_failed(h, "write failed: %s", uv_strerror(status));
    /* Without ACKs (syslog), a window is delivered once written; one sent again after a failure
     * is no longer this connection's. */
    if (status == 0 && w && h->r->o.no_acks && h->state == H_UP && h->inflight.head == w) {
        h->since_ms = uv_now(h->r->loop);
        complete_head(h);
        pump(h->r);
    }
}

static int write_bytes(struct hconn *h, uint8_t *p, size_t n, bool owned, struct rwin *w)
{
    struct wreq *wr = calloc(1, sizeof(*wr));
    if (!wr) {
        if (owned)
            free(p);
        return -ENOMEM;
    }
    wr->h = h;
    wr->owned = owned ? p : NULL;
    wr->w = w;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int rc = uv_write(&wr->req, (uv_stream_t *)&h->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(wr->owned);
        free(wr);
    }
    return rc;
}

/* Sends the ciphertext the TLS engine holds, in one write (carrying the end of W, if given). */
static int tls_flush(struct hconn *h, struct rwin *w)
{
    size_t n = tlsio_pending(h->tls);
    if (!n)
        return 0;
    uint8_t *p = malloc(n);
    if (!p)
        return -ENOMEM;
    size_t got = tlsio_take(h->tls, p, n);
    return write_bytes(h, p, got, true, w);
}

static int send_window(struct hconn *h, struct rwin *w)
{
    if (!h->tls)
        return write_bytes(h, w->bytes, w->len, false, w);
    if (tlsio_write(h->tls, w->bytes, w->len) < 0)
        return -EPROTO;
    return tls_flush(h, w);
}

static void hop_up(struct hconn *h)
{
    struct relay *r = h->r;
    struct hostinfo *hi = &r->hosts[h->host];
    h->state = H_UP;
    h->since_ms = now_ms(r);
    h->failures = 0;
    if (hi->up++ == 0) {
        hi->stats.up = true;
        const struct log_field f[] = {
            LOG_STR("relay.hop", hi->name),
            LOG_STR("relay.hop_state", "up"),
            LOG_U64("relay.windows_waiting", r->queue.n),
        };
        if (hi->logged_down || h->ever_up)
            log_fields(LOG_INFO, r->o.log_name, f, LOG_NFIELDS(f),
                       "next hop %s is up again (%zu windows waiting)", hi->name, r->queue.n);
        else
            log_fields(LOG_INFO, r->o.log_name, f, LOG_NFIELDS(f), "connected to the next hop %s",
                       hi->name);
        hi->logged_down = false;
    }
    h->ever_up = true;
    pump(r);
}

static void hop_failed(struct hconn *h, const char *fmt, ...)
{
    struct relay *r = h->r;
    struct hostinfo *hi = &r->hosts[h->host];
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    bool was_up = h->state == H_UP;
    size_t back = h->inflight.n;
    fifo_prepend(&r->queue, &h->inflight);
    if (h->tls) {
        tlsio_free(h->tls);
        h->tls = NULL;
    }
    if (h->tcp_open && !uv_is_closing((uv_handle_t *)&h->tcp))
        uv_close((uv_handle_t *)&h->tcp, on_tcp_closed);
    h->state = H_IDLE;
    h->ackn = 0;
    hi->stats.errors++;
    if (was_up && --hi->up == 0)
        hi->stats.up = false;
    /* Failover walks the hosts at once and waits once all of them failed in a row. */
    uint64_t wait = h->backoff_ms;
    h->failures++;
    if (!r->o.loadbalance && r->o.nhosts > 1) {
        h->host = (h->host + 1) % r->o.nhosts;
        if (h->failures % r->o.nhosts != 0)
            wait = 0;
    }
    if (wait) {
        h->backoff_ms =
            h->backoff_ms * 2 > r->o.backoff_max_ms ? r->o.backoff_max_ms : h->backoff_ms * 2;
    }
    h->next_attempt_ms = now_ms(r) + wait;
    if (!hi->up && (!hi->logged_down || back)) {
        const struct log_field f[] = {
            LOG_STR("relay.hop", hi->name),  LOG_STR("relay.hop_state", "down"),
            LOG_STR("error.message", why),   LOG_U64("relay.windows_waiting", r->queue.n),
            LOG_U64("relay.retry_ms", wait),
        };
        log_fields(LOG_WARN, r->o.log_name, f, LOG_NFIELDS(f),
                   "next hop %s is down: %s; %zu windows waiting, trying again in %" PRIu64 " ms",
                   hi->name, why, r->queue.n, wait);
        hi->logged_down = true;
    }
    if (back)
        pump(r); /* another connection may take them */
}

/* The window at the head of H's flight is delivered: the next hop acknowledged it (or, without
 * ACKs, it was written). */
static void complete_head(struct hconn *h)
{
    struct relay *r = h->r;
    struct rwin *w = fifo_pop(&h->inflight);
    struct relay_hop_stats *st = &r->hosts[h->host].stats;
    uint64_t took = uv_now(r->loop) - w->sent_ms;
    st->windows++;
    st->events += w->events;
    st->bytes += w->len;
    st->ack_ms_total += took;
    if (took > st->ack_ms_max)
        st->ack_ms_max = took;
    h->backoff_ms = r->o.backoff_init_ms;
    win_finish(w, 0);
}

static void parse_acks(struct hconn *h, const uint8_t *p, size_t n)
{
    struct relay *r = h->r;
    if (r->o.no_acks)
        return; /* a syslog receiver answers nothing: what it sends is not read */
    while (n > 0 && h->state == H_UP) {
        size_t take = sizeof(h->ack) - h->ackn;
        if (take > n)
            take = n;
        memcpy(h->ack + h->ackn, p, take);
        h->ackn += take;
        p += take;
        n -= take;
        if (h->ackn < sizeof(h->ack))
            return;
        h->ackn = 0;
        if ((h->ack[0] != LJ_V2 && h->ack[0] != LJ_V1) || h->ack[1] != LJ_ACK) {
            hop_failed(h, "sent bytes that are not a Lumberjack ACK (0x%02x 0x%02x)", h->ack[0],
                       h->ack[1]);
            return;
        }
        uint32_t seq = (uint32_t)h->ack[2] << 24 | (uint32_t)h->ack[3] << 16 |
                       (uint32_t)h->ack[4] << 8 | h->ack[5];
        uint64_t now = now_ms(r);
        h->since_ms = now; /* an ACK, even a keep-alive, is progress */
        struct rwin *w = h->inflight.head;
        if (!w || seq < w->events)
            continue;
        complete_head(h);
    }
    if (h->state == H_UP)
        pump(r);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    struct hconn *h = handle->data;
    (void)suggested;
    *out = uv_buf_init(h->r->rbuf, sizeof(h->r->rbuf));
}

static void tls_progress(struct hconn *h)
{
    if (h->state == H_HANDSHAKE) {
        int rc = tlsio_handshake(h->tls);
        if (tls_flush(h, NULL) < 0) {
            hop_failed(h, "out of memory");
            return;
        }
        if (rc == TLSIO_ERROR) {
            hop_failed(h, "TLS handshake failed: %s", tlsio_error(h->tls));
            return;
        }
        if (rc != 1)
            return;
        hop_up(h);
    }
    uint8_t plain[4096];
    long n;
    while (h->state == H_UP && (n = tlsio_read(h->tls, plain, sizeof(plain))) > 0)
        parse_acks(h, plain, (size_t)n);
    if (h->state != H_UP)
        return;
    if (n == TLSIO_CLOSED)
        hop_failed(h, "closed the TLS session");
    else if (n == TLSIO_ERROR)
        hop_failed(h, "TLS error: %s", tlsio_error(h->tls));
    else if (tls_flush(h, NULL) < 0)
        hop_failed(h, "out of memory");
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct hconn *h = st->data;
    if (nread == 0 || h->state == H_IDLE)
        return;
    if (nread < 0) {
        hop_failed(h, "%s", nread == UV_EOF ? "closed the connection" : uv_strerror((int)nread));
        return;
    }
    if (!h->tls) {
        parse_acks(h, (const uint8_t *)b->base, (size_t)nread);
        return;
    }
    if (tlsio_feed(h->tls, b->base, (size_t)nread) < 0) {
        hop_failed(h, "TLS error: %s", tlsio_error(h->tls));
        return;
    }
    tls_progress(h);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct hconn *h = req->data;
    struct relay *r = h->r;
    if (r->closing || h->state != H_CONNECTING)
        return;
    if (status < 0) {
        hop_failed(h, "cannot connect: %s", uv_strerror(status));
        return;
    }
    /* A connection to a port nobody listens on, from the same port picked as its source, meets
     * itself (TCP simultaneous open): that is no next hop. */
    struct sockaddr_storage self, peer;
    int sl = sizeof(self), pl = sizeof(peer);
    if (uv_tcp_getsockname(&h->tcp, (struct sockaddr *)&self, &sl) == 0 &&
        uv_tcp_getpeername(&h->tcp, (struct sockaddr *)&peer, &pl) == 0 && sl == pl &&
        memcmp(&self, &peer, (size_t)sl) == 0) {
        hop_failed(h, "cannot connect: the connection met itself (nothing listens there)");
        return;
    }
    uv_tcp_nodelay(&h->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read);
    if (rc < 0) {
        hop_failed(h, "cannot read: %s", uv_strerror(rc));
        return;
    }
    if (!r->o.tls) {
        hop_up(h);
        return;
    }
    const struct hostinfo *hi = &r->hosts[h->host];
    rc = tlsio_new(&h->tls, r->o.tls, false, r->o.tls_verify_host ? hi->node : NULL);
    if (rc < 0) {
        hop_failed(h, "cannot start TLS: %s", strerror(-rc));
        return;
    }
    h->state = H_HANDSHAKE;
    tls_progress(h);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    struct hconn *h = req->data;
    struct relay *r = h->r;
    h->gai_out = false;
    r->open_handles--;
    if (h->retired) {
        if (ai)
            uv_freeaddrinfo(ai);
        release_if_done(r);
        return;
    }
    if (r->closing || status < 0) {
        if (ai)
            uv_freeaddrinfo(ai);
        if (r->closing)
            release_if_done(r);
        else
            hop_failed(h, "cannot resolve %s: %s", r->hosts[h->host].node, uv_strerror(status));
        return;
    }
    int rc = uv_tcp_init(r->loop, &h->tcp);
    if (rc < 0) {
        uv_freeaddrinfo(ai);
        hop_failed(h, "cannot create a socket: %s", uv_strerror(rc));
        return;
    }
    h->tcp.data = h;
    h->tcp_open = true;
    r->open_handles++;
    h->state = H_CONNECTING;
    h->creq.data = h;
    rc = uv_tcp_connect(&h->creq, &h->tcp, ai->ai_addr, on_connect);
    uv_freeaddrinfo(ai);
    if (rc < 0)
        hop_failed(h, "cannot connect: %s", uv_strerror(rc));
}

static void hop_start(struct hconn *h)
{
    struct relay *r = h->r;
    const struct hostinfo *hi = &r->hosts[h->host];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    h->state = H_RESOLVING;
    h->since_ms = now_ms(r);
    h->gai.data = h;
    if (h->ever_up || h->failures)
        r->hosts[h->host].stats.reconnects++;
    int rc = uv_getaddrinfo(r->loop, &h->gai, on_resolved, hi->node, hi->port, &hints);
    if (rc < 0) {
        hop_failed(h, "cannot resolve %s: %s", hi->node, uv_strerror(rc));
        return;
    }
    h->gai_out = true;
    r->open_handles++;
}

/* ---- The queue ---- */

static struct hconn *pick(struct relay *r)
{
    for (size_t k = 0; k < r->nconns; k++) {
        struct hconn *h = &r->conns[(r->rr + k) % r->nconns];
        if (h->state == H_UP && h->inflight.n < r->o.pipelining) {
            r->rr = (r->rr + k + 1) % r->nconns;
            return h;
        }
    }
    return NULL;
}

static void pump(struct relay *r)
{
    if (r->closing)
        return;
    if (r->queue.n)
        r->held_ms = now_ms(r);
    struct hconn *h;
    while (r->queue.head && (h = pick(r)) != NULL) {
        struct rwin *w = fifo_pop(&r->queue);
        if (!h->inflight.n)
            h->since_ms = now_ms(r);
        w->sent_ms = now_ms(r);
        fifo_push(&h->inflight, w);
        int rc = send_window(h, w);
        if (rc < 0)
            hop_failed(h, "cannot send: %s", rc == -ENOMEM ? "out of memory" : uv_strerror(rc));
    }
}

static void on_tick(uv_timer_t *t)
{
    struct relay *r = t->data;
    uint64_t now = now_ms(r);
    if (relay_pending(r))
        r->held_ms = now;
    for (size_t i = 0; i < r->nconns; i++) {
        struct hconn *h = &r->conns[i];
        switch (h->state) {
        case H_IDLE:
            if (!h->tcp_open && !h->gai_out && now >= h->next_attempt_ms)
                hop_start(h);
            break;
        case H_RESOLVING:
            break;
        case H_CONNECTING:
        case H_HANDSHAKE:
            if (now - h->since_ms >= r->o.timeout_ms)
                hop_failed(h, "%s timed out after %" PRIu64 " ms",
                           h->state == H_CONNECTING ? "connecting" : "the TLS handshake",
                           now - h->since_ms);
            break;
        case H_UP:
            if (h->inflight.n && now - h->since_ms >= r->o.timeout_ms)
                hop_failed(h, "no ACK for %" PRIu64 " ms", now - h->since_ms);
            break;
        }
    }
}

/* ---- API ---- */

int relay_set_hosts(struct relay_options *o, const char *lines, const char *port)
{
    o->nhosts = 0;
    for (const char *p = lines; *p;) {
        size_t len = strcspn(p, "\n");
        if (o->nhosts == RELAY_MAX_HOSTS || len + strlen(port) + 2 > sizeof(o->hosts[0]))
            return -E2BIG;
        char *h = o->hosts[o->nhosts++];
        memcpy(h, p, len);
        h[len] = '\0';
        const char *after = h[0] == '[' ? strchr(h, ']') : h; /* "[V6]" has colons of its own */
        if (after && !strchr(after, ':'))
            snprintf(h + len, sizeof(o->hosts[0]) - len, ":%s", port);
        p += len + (p[len] ? 1 : 0);
    }
    return 0;
}

/* Lets go of H's connection for good (new hosts, or the relay closing): its windows in flight go
 * back to the head of the queue, its TLS state, a name lookup under way and its socket go. Returns
 * how many windows went back. */
static size_t conn_let_go(struct relay *r, struct hconn *h)
{
    size_t back = h->inflight.n;
    fifo_prepend(&r->queue, &h->inflight);
    if (h->tls) {
        tlsio_free(h->tls);
        h->tls = NULL;
    }
    if (h->gai_out)
        uv_cancel((uv_req_t *)&h->gai);
    if (h->tcp_open && !uv_is_closing((uv_handle_t *)&h->tcp))
        uv_close((uv_handle_t *)&h->tcp, on_tcp_closed);
    h->state = H_IDLE;
    return back;
}

/* The connections for R's host list, idle (*N of them). NULL when out of memory. */
static struct hconn *new_conns(struct relay *r, size_t *n)
{
    *n = (r->o.loadbalance ? r->o.nhosts : 1) * r->o.worker;
    struct hconn *conns = calloc(*n, sizeof(*conns));
    for (size_t i = 0; conns && i < *n; i++) {
        struct hconn *h = &conns[i];
        h->r = r;
        h->host = r->o.loadbalance ? i / r->o.worker : 0;
        h->backoff_ms = r->o.backoff_init_ms;
        h->state = H_IDLE;
        h->next_attempt_ms = 0;
    }
    return conns;
}

int relay_check_hosts(const struct relay_options *o)
{
    if (o->nhosts == 0 || o->nhosts > RELAY_MAX_HOSTS)
        return -EINVAL;
    for (size_t i = 0; i < o->nhosts; i++) {
        struct hostinfo h;
        if (parse_host(o->hosts[i], &h) < 0)
            return -EINVAL;
    }
    return 0;
}

int relay_update_hosts(struct relay *r, const struct relay_options *o)
{
    if (relay_check_hosts(o) < 0)
        return -EINVAL;
    bool same = o->nhosts == r->o.nhosts;
    for (size_t i = 0; same && i < o->nhosts; i++)
        same = strcmp(o->hosts[i], r->o.hosts[i]) == 0;
    if (same)
        return 0;
    struct retired *old = calloc(1, sizeof(*old));
    struct relay_options next = r->o;
    memcpy(next.hosts, o->hosts, sizeof(next.hosts));
    next.nhosts = o->nhosts;
    struct relay_options prev = r->o;
    r->o = next;
    size_t n;
    struct hconn *conns = old ? new_conns(r, &n) : NULL;
    if (!conns) {
        r->o = prev;
        free(old);
        return -ENOMEM;
    }
    /* Every connection goes: its windows go back to the head of the queue, to be sent again to
     * the new hosts (at least once, as after a failure). */
    size_t back = 0;
    for (size_t i = 0; i < r->nconns; i++) {
        back += conn_let_go(r, &r->conns[i]);
        r->conns[i].retired = true;
    }
    old->conns = r->conns;
    old->next = r->retired;
    r->retired = old;
    r->conns = conns;
    r->nconns = n;
    r->rr = 0;
    /* A host that stays keeps its counters. */
    struct hostinfo hosts[RELAY_MAX_HOSTS];
    memset(hosts, 0, sizeof(hosts));
    for (size_t i = 0; i < o->nhosts; i++) {
        parse_host(o->hosts[i], &hosts[i]);
        for (size_t k = 0; k < prev.nhosts; k++) {
            if (strcmp(r->hosts[k].name, hosts[i].name) == 0)
                hosts[i].stats = r->hosts[k].stats;
        }
        hosts[i].stats.up = false;
    }
    memcpy(r->hosts, hosts, sizeof(hosts));
    char list[1024] = "";
    for (size_t i = 0; i < o->nhosts; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                 o->hosts[i]);
    log_info(r->o.log_name, "next hops now %s; %zu windows in flight go again, %zu waiting", list,
             back, r->queue.n);
    return 0;
}

int relay_new(struct relay **out, uv_loop_t *loop, const struct relay_options *o)
{
    *out = NULL;
    if (o->nhosts == 0 || o->nhosts > RELAY_MAX_HOSTS || o->worker == 0 || o->pipelining == 0)
        return -EINVAL;
    struct relay *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->loop = loop;
    r->o = *o;
    if (!r->o.log_name[0])
        snprintf(r->o.log_name, sizeof(r->o.log_name), "relay");
    for (size_t i = 0; i < o->nhosts; i++) {
        if (parse_host(o->hosts[i], &r->hosts[i]) < 0) {
            free(r);
            return -EINVAL;
        }
    }
    r->conns = new_conns(r, &r->nconns);
    if (!r->conns) {
        free(r);
        return -ENOMEM;
    }
    if (r->o.tls)
        SSL_CTX_up_ref(r->o.tls);
    uv_timer_init(loop, &r->tick);
    r->tick.data = r;
    r->open_handles++;
    uv_timer_start(&r->tick, on_tick, 0, TICK_MS);
    *out = r;
    return 0;
}

int relay_send(struct relay *r, uint8_t *bytes, size_t len, uint32_t events, relay_done_fn done,
               void *ctx)
{
    struct rwin *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->bytes = bytes;
    w->len = len;
    w->events = events;
    w->done = done;
    w->ctx = ctx;
    fifo_push(&r->queue, w);
    pump(r);
    return 0;
}

size_t relay_reclaim(struct relay *r, relay_take_fn take, void *arg)
{
    size_t n = 0;
    struct rwin *prev = NULL, *w = r->queue.head;
    while (w) {
        struct rwin *next = w->next;
        if (!take(arg, w->bytes, w->len, w->events, w->done, w->ctx)) {
            prev = w;
            w = next;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            r->queue.head = next;
        if (r->queue.tail == w)
            r->queue.tail = prev;
        r->queue.n--;
        free(w); /* its bytes are the taker's now */
        n++;
        w = next;
    }
    return n;
}

size_t relay_pending(const struct relay *r)
{
    size_t n = r->queue.n;
    for (size_t i = 0; i < r->nconns; i++)
        n += r->conns[i].inflight.n;
    return n;
}

bool relay_up(const struct relay *r)
{
    for (size_t i = 0; i < r->o.nhosts; i++) {
        if (r->hosts[i].up)
            return true;
    }
    return false;
}

uint64_t relay_held_ms(const struct relay *r)
{
    return relay_pending(r) ? now_ms(r) : r->held_ms;
}

const struct relay_hop_stats *relay_hop(const struct relay *r, size_t i)
{
    return &r->hosts[i].stats;
}

const char *relay_host_name(const struct relay *r, size_t i)
{
    return i < r->o.nhosts ? r->hosts[i].name : NULL;
}

void relay_close(struct relay *r, void (*closed)(void *), void *arg)
{
    r->closing = true;
    r->closed = closed;
    r->closed_arg = arg;
    for (size_t i = 0; i < r->nconns; i++) {
        conn_let_go(r, &r->conns[i]);
    }
    struct rwin *w;
    while ((w = fifo_pop(&r->queue)) != NULL)
        win_finish(w, -ECANCELED);
    uv_close((uv_handle_t *)&r->tick, on_handle_closed);
}
