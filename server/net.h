/* Address helpers shared by the listeners. Loop thread. */
#ifndef AMSI_SERVER_NET_H
#define AMSI_SERVER_NET_H

#include <stddef.h>
#include <uv.h>

/* Parses "ADDR:PORT" ("[::1]:5044" for IPv6) into OUT. Returns 0 or -EINVAL. */
int net_parse_addr(const char *spec, struct sockaddr_storage *out);

/* Formats an address as "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into OUT. */
void net_format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen);

#endif
