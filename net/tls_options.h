/* The TLS and access-control options of one listener, named as Logstash's beats input names them
 * (the configuration fills them; server/tls.c and server/secure.c read them). Lists hold one value
 * per line. */
#ifndef AMSI_NET_TLS_OPTIONS_H
#define AMSI_NET_TLS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

struct tls_options {
    bool ssl_enabled; /* Beats only: the syslog-tls listener is TLS by definition */
    char certificate[1024];
    char key[1024];
    char key_passphrase_file[1024];
    char certificate_authorities[4096];
    char client_authentication[16]; /* none | optional | required */
    char supported_protocols[128];
    char cipher_suites[4096];
    uint64_t handshake_timeout_ms;
    char allow_networks[4096];
    char allow_peers[4096];
};

/* The TLS options of a client (the relay's connections to its next hops), named as Beats'
 * `output.logstash` names them under `ssl.`. */
struct tls_client_options {
    bool enabled;
    char certificate_authorities[4096]; /* one PEM file per line; empty: the system's CAs */
    char certificate[1024];             /* a client certificate, for servers that ask */
    char key[1024];
    char key_passphrase_file[1024];
    char verification_mode[16]; /* full | strict | certificate | none */
    char supported_protocols[128];
};

#endif
