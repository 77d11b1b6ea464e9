/* Address helpers shared by the listeners. Loop thread. */
#ifndef AMSI_NET_NET_H
#define AMSI_NET_NET_H

#include <stddef.h>
#include <uv.h>

/* Parses "ADDR:PORT" ("[::1]:5044" for IPv6) into OUT. Returns 0 or -EINVAL. */
int net_parse_addr(const char *spec, struct sockaddr_storage *out);

/* Formats an address as "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into OUT. */
void net_format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen);

/* Accepts a connection of SERVER into TCP (initialised here, its data set to DATA) and writes the
 * peer's "ADDR:PORT" into PEER. TCP must be the first member of a malloc'd block: on failure it is
 * closed, the block freed, and -1 returned. */
int net_accept(uv_stream_t *server, uv_tcp_t *tcp, void *data, char *peer, size_t peerlen);

/* Takes the pending connection off SERVER and closes it, for when the connection's own memory
 * could not be had: libuv stops watching a listener whose connection is left unaccepted. */
void net_refuse(uv_stream_t *server);

#endif
