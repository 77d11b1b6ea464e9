/* ack_sink: the cheapest possible Lumberjack receiver, for measuring a sender's own ceiling.
 * It reads frame headers only (payloads are skipped, compressed frames never inflated) and
 * acknowledges every window as soon as its last frame is read:
 *   - J/D frames: with the highest sequence number read in the window;
 *   - a C frame: the count is unknown without inflating, so it takes the window size announced
 *     by W (v2: ACK N; v1, whose numbers run on across the connection: the last ACK + N).
 * Prints "ready ADDR:PORT" on standard error once listening, and on SIGINT/SIGTERM one line of
 * totals on standard output.
 *
 * usage: ack_sink [--listen HOST:PORT]   (default 127.0.0.1:0; [::1]:0 for IPv6) */
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum state { S_HEAD, S_SKIP, S_PAIR_LEN };

struct sink_conn {
    uv_tcp_t tcp;
    enum state st;
    uint8_t hdr[10];
    size_t hlen, need;
    uint64_t skip;
    uint8_t version;
    uint32_t window, count, last_seq, acked;
    uint32_t pairs_left; /* D frame: pairs, counted down */
    int pair_half;       /* 0: next length is a key's, 1: a value's */
    bool ack_after_skip, closing;
};

static uint64_t total_events, total_bytes, total_windows, total_conns, total_errors;
static char read_buf[1 << 18];

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void drop(struct sink_conn *c)
{
    if (!c->closing) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

static void on_ack_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void send_ack(struct sink_conn *c, uint32_t seq)
{
    struct {
        uv_write_t req;
        uint8_t b[6];
    } *w = malloc(sizeof(*w));
    if (!w) {
        drop(c);
        return;
    }
    w->b[0] = c->version;
    w->b[1] = 'A';
    w->b[2] = (uint8_t)(seq >> 24);
    w->b[3] = (uint8_t)(seq >> 16);
    w->b[4] = (uint8_t)(seq >> 8);
    w->b[5] = (uint8_t)seq;
    uv_buf_t b = uv_buf_init((char *)w->b, 6);
    if (uv_try_write((uv_stream_t *)&c->tcp, &b, 1) == 6) {
        free(w);
    } else if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_ack_written) < 0) {
        free(w);
        drop(c);
        return;
    }
    c->acked = seq;
    total_windows++;
}

/* The window is complete: acknowledge it. */
static void window_done(struct sink_conn *c)
{
    send_ack(c, c->last_seq);
    c->window = c->count = 0;
}

static void header_done(struct sink_conn *c)
{
    const uint8_t *h = c->hdr;
    c->hlen = 0;
    c->st = S_HEAD;
    c->need = 2;
    switch (h[1]) {
    case 'W':
        c->version = h[0];
        c->window = be32(h + 2);
        c->count = 0;
        if (c->window == 0)
            send_ack(c, 0);
        return;
    case 'C':
        c->skip = be32(h + 2);
        c->st = c->skip ? S_SKIP : S_HEAD;
        total_events += c->window;
        c->count = c->window;
        c->last_seq = c->version == '1' ? c->acked + c->window : c->window;
        c->ack_after_skip = c->window > 0;
        if (!c->skip && c->ack_after_skip) {
            c->ack_after_skip = false;
            window_done(c);
        }
        return;
    case 'J':
        c->last_seq = be32(h + 2);
        c->skip = be32(h + 6);
        c->st = c->skip ? S_SKIP : S_HEAD;
        total_events++;
        c->ack_after_skip = ++c->count == c->window;
        if (!c->skip && c->ack_after_skip) {
            c->ack_after_skip = false;
            window_done(c);
        }
        return;
    case 'D':
        c->last_seq = be32(h + 2);
        c->pairs_left = be32(h + 6);
        c->pair_half = 0;
        total_events++;
        c->ack_after_skip = ++c->count == c->window;
        if (c->pairs_left) {
            c->st = S_PAIR_LEN;
            c->need = 4;
        } else if (c->ack_after_skip) {
            c->ack_after_skip = false;
            window_done(c);
        }
        return;
    }
}

/* Where a skip (a payload, a key or a value) ends. */
static void skip_done(struct sink_conn *c)
{
    if (c->pairs_left) { /* inside a D frame */
        if (c->pair_half == 1 && --c->pairs_left == 0)
            goto frame_end;
        c->pair_half ^= 1;
        c->st = S_PAIR_LEN;
        c->need = 4;
        c->hlen = 0;
        return;
    }
frame_end:
    c->st = S_HEAD;
    c->need = 2;
    c->hlen = 0;
    if (c->ack_after_skip) {
        c->ack_after_skip = false;
        window_done(c);
    }
}

static void parse(struct sink_conn *c, const uint8_t *p, size_t n)
{
    while (n && !c->closing) {
        if (c->st == S_SKIP) {
            size_t k = c->skip < n ? (size_t)c->skip : n;
            c->skip -= k;
            p += k;
            n -= k;
            if (c->skip == 0)
                skip_done(c);
            continue;
        }
        c->hdr[c->hlen++] = *p++;
        n--;
        if (c->st == S_HEAD && c->hlen == 2) {
            if ((c->hdr[0] != '1' && c->hdr[0] != '2') ||
                !strchr("WCJD", c->hdr[1] ? c->hdr[1] : 'x')) {
                total_errors++;
                fprintf(stderr, "ack_sink: not a Lumberjack frame (0x%02x 0x%02x): closing\n",
                        c->hdr[0], c->hdr[1]);
                drop(c);
                return;
            }
            c->need = c->hdr[1] == 'J' || c->hdr[1] == 'D' ? 10 : 6;
        }
        if (c->hlen < c->need)
            continue;
        if (c->st == S_PAIR_LEN) {
            c->skip = be32(c->hdr);
            c->hlen = 0;
            c->st = S_SKIP;
            if (c->skip == 0)
                skip_done(c);
        } else {
            header_done(c);
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct sink_conn *c = s->data;
    if (nread < 0) {
        drop(c);
        return;
    }
    total_bytes += (uint64_t)nread;
    parse(c, (const uint8_t *)b->base, (size_t)nread);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct sink_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->need = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    total_conns++;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static uint64_t start_ns;

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    double secs = (double)(uv_hrtime() - start_ns) / 1e9;
    printf("events %" PRIu64 " bytes %" PRIu64 " windows %" PRIu64 " connections %" PRIu64
           " errors %" PRIu64 " seconds %.3f\n",
           total_events, total_bytes, total_windows, total_conns, total_errors, secs);
    fflush(stdout);
    uv_stop(s->loop);
}

int main(int argc, char **argv)
{
    const char *listen_at = "127.0.0.1:0";
    if (argc == 3 && strcmp(argv[1], "--listen") == 0) {
        listen_at = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: ack_sink [--listen HOST:PORT]\n");
        return 2;
    }
    char host[256];
    const char *colon = strrchr(listen_at, ':');
    size_t hl = colon ? (size_t)(colon - listen_at) : 0;
    if (!colon || hl >= sizeof(host)) {
        fprintf(stderr, "ack_sink: '%s' is not HOST:PORT\n", listen_at);
        return 2;
    }
    if (listen_at[0] == '[' && hl >= 2 && listen_at[hl - 1] == ']') {
        memcpy(host, listen_at + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, listen_at, hl);
        host[hl] = '\0';
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        fprintf(stderr, "ack_sink: cannot resolve '%s'\n", listen_at);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, res->ai_addr, 0);
    freeaddrinfo(res);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc < 0) {
        fprintf(stderr, "ack_sink: cannot listen on %s: %s\n", listen_at, uv_strerror(rc));
        return 1;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
    char addr[INET6_ADDRSTRLEN];
    int port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, addr, sizeof(addr));
        port = ntohs(a->sin6_port);
        fprintf(stderr, "ready [%s]:%d\n", addr, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, addr, sizeof(addr));
        port = ntohs(a->sin_port);
        fprintf(stderr, "ready %s:%d\n", addr, port);
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    start_ns = uv_hrtime();
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
