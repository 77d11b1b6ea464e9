#include "net/net.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_parse_addr(const char *spec, struct sockaddr_storage *out)
{
    const char *colon = strrchr(spec, ':');
    if (!colon)
        return -EINVAL;
    char host[200];
    size_t hl = (size_t)(colon - spec);
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']')
            return -EINVAL;
        host[hl - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out) == 0 ? 0 : -EINVAL;
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0 ? 0 : -EINVAL;
}

void net_format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[64] = "?";
    if (ss->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)ss, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%d", host, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
    } else if (ss->ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)ss, host, sizeof(host));
        snprintf(out, outlen, "%s:%d", host, ntohs(((const struct sockaddr_in *)ss)->sin_port));
    } else {
        snprintf(out, outlen, "?");
    }
}

static void free_block(uv_handle_t *h)
{
    free(h);
}

/* The last resort of net_refuse when not even a handle can be allocated. */
static uv_tcp_t spare;
static bool spare_busy;

static void spare_closed(uv_handle_t *h)
{
    (void)h;
    spare_busy = false;
}

void net_refuse(uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    uv_close_cb done = free_block;
    if (!t && !spare_busy) {
        t = &spare;
        spare_busy = true;
        done = spare_closed;
    }
    if (!t)
        return; /* both taken: the next connection's accept takes this one */
    uv_tcp_init(server->loop, t);
    uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, done);
}

int net_accept(uv_stream_t *server, uv_tcp_t *tcp, void *data, char *peer, size_t peerlen)
{
    uv_tcp_init(server->loop, tcp);
    tcp->data = data;
    if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
        uv_close((uv_handle_t *)tcp, free_block);
        return -1;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len);
    net_format_addr(&ss, peer, peerlen);
    return 0;
}
