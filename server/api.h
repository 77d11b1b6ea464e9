/* The HTTP endpoint for machines (api.address): GET /metrics (the Prometheus text format),
 * /health (alive), /ready (listeners bound, journal writable, not stopping), /stats (the metrics
 * as one JSON document). Served by libmicrohttpd without a thread of its own: its epoll
 * descriptor is watched by the serve loop, so the handlers run on the loop thread and read its
 * counters as they are; counters of other threads come through their modules' lock-free getters.
 * With api.ssl-enabled the endpoint accepts on its own socket and terminates TLS as the listeners
 * do (server/secure.c), passing each connection's plaintext to libmicrohttpd over a socketpair.
 * Loop thread only. */
#ifndef AMSI_SERVER_API_H
#define AMSI_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>

/* The default of api.address (config.c): outside Logstash's 9600-9700. */
#define API_DEFAULT_ADDRESS "127.0.0.1:9184"

struct server;
struct api;
struct config;

/* Starts the endpoint on S->cfg.api (not "off") with its allow list; BOUND receives "ADDR:PORT"
 * as bound (port 0 picks one). Returns 0, -EINVAL for a bad address or allow list (printed), or
 * another negative errno (printed). */
int api_start(struct server *s, char *bound, size_t boundlen);

/* Checks the endpoint's TLS files and allow list (api.*) as api_start would, binding nothing.
 * Returns 0, or -1 after printing what is wrong. */
int api_check(const struct config *c);

/* SIGHUP (server/reload.c): the endpoint's access rules and TLS context built from configuration
 * C into L (api_rules: 0, or -1 with the reason in WHY), compared with the running ones, and taken
 * in place of them, C being the configuration the server now runs (api.address and
 * api.ssl-enabled need a restart). */
struct sec_listener;
int api_rules(const struct config *c, struct sec_listener *l, char *why, size_t whylen);
bool api_same_rules(const struct api *a, const struct sec_listener *from);
bool api_tls(const struct api *a); /* the endpoint serves HTTPS */
void api_take_rules(struct api *a, struct sec_listener *from, const struct config *c);

/* Closes the endpoint (connections in progress are dropped). NULL is a no-op. */
void api_stop(struct api *a);

/* The metrics in the Prometheus text format, or as JSON (JSON true), into a malloc'd string
 * (*LEN bytes), or NULL when out of memory. Exposed for the tests. */
char *api_render(struct server *s, int json, size_t *len);

#endif
