/* Access control of one listener: the client networks allowed to connect (CIDR, checked at
 * accept), the TLS peers allowed to talk (certificate subject or SHA-256 fingerprint, checked after
 * the handshake), and refusals logged at most once per peer and minute, and counted.
 * Loop thread only (built on the main thread before the loop starts). */
#ifndef AMSI_SERVER_ACL_H
#define AMSI_SERVER_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ACL_LOG_SLOTS    256
#define ACL_LOG_EVERY_MS 60000

struct acl_net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct acl {
    struct acl_net *nets; /* owned; none: every address may connect */
    size_t nnets;
    char **subjects; /* owned; RFC 2253 text, "CN=winlogbeat-01,O=Example" */
    size_t nsubjects;
    uint8_t (*fingerprints)[32]; /* owned */
    size_t nfingerprints;
    struct {
        char host[64];
        uint64_t at_ms;
    } logged[ACL_LOG_SLOTS]; /* when each recent peer's refusal was last logged */
    uint64_t refused_network, refused_peer, refusals_not_logged;
};

/* Adds one allowed network: "10.0.0.0/8", "2001:db8::/32", or one address (a /32 or /128).
 * Returns 0, or -1 with the reason in WHY. */
int acl_add_network(struct acl *a, const char *cidr, char *why, size_t whylen);

/* Adds one allowed peer: "sha256:AB:CD:..." or 64 hex digits (with or without colons) is a
 * certificate fingerprint; anything else is a subject in RFC 2253 form, compared exactly. Returns
 * 0, or -1 with the reason in WHY. */
int acl_add_peer(struct acl *a, const char *spec, char *why, size_t whylen);

/* True when the address may connect (always, with no network rule). An IPv4-mapped IPv6 address
 * (::ffff:192.0.2.1) matches IPv4 rules. */
bool acl_allows_address(const struct acl *a, const struct sockaddr *sa);

/* True when any peer rule exists. */
bool acl_has_peer_rules(const struct acl *a);

/* True when a peer with SUBJECT (RFC 2253; NULL without a certificate) and FINGERPRINT (NULL
 * without a certificate) may talk: always with no peer rule, else when either matches. */
bool acl_allows_peer(const struct acl *a, const char *subject, const uint8_t fingerprint[32]);

/* Decides whether a refusal of HOST (the address without its port) at NOW_MS is logged: the first
 * one of each host per minute is; the others are only counted. */
bool acl_should_log(struct acl *a, const char *host, uint64_t now_ms);

/* Releases the rules. acl_free of a zeroed acl is a no-op. */
void acl_free(struct acl *a);

#endif
