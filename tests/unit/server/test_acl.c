/* Access control of a listener: CIDR allow lists (IPv4, IPv6, v4-mapped), certificate subject and
 * fingerprint allow lists, refusals logged once per peer and minute. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/acl.h"

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else {
        cr_assert_eq(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1, "%s", ip);
        v6->sin6_family = AF_INET6;
    }
    return ss;
}

static bool allows(const struct acl *a, const char *ip)
{
    struct sockaddr_storage ss = addr(ip);
    return acl_allows_address(a, (struct sockaddr *)&ss);
}

static void add_net(struct acl *a, const char *cidr)
{
    char why[200];
    cr_assert_eq(acl_add_network(a, cidr, why, sizeof(why)), 0, "%s: %s", cidr, why);
}

Test(acl, no_network_rule_allows_everyone)
{
    struct acl a = {0};
    cr_assert(allows(&a, "203.0.113.9"));
    cr_assert(allows(&a, "2001:db8::1"));
}

Test(acl, ipv4_networks_match_by_prefix)
{
    struct acl a = {0};
    add_net(&a, "10.0.0.0/8");
    add_net(&a, "192.168.1.0/25");
    add_net(&a, "198.51.100.7");
    cr_assert(allows(&a, "10.200.3.4"));
    cr_assert(allows(&a, "192.168.1.127"));
    cr_assert_not(allows(&a, "192.168.1.128"));
    cr_assert(allows(&a, "198.51.100.7"));
    cr_assert_not(allows(&a, "198.51.100.8"));
    cr_assert_not(allows(&a, "11.0.0.1"));
    /* IPv6 peers do not match IPv4 rules, except v4-mapped ones. */
    cr_assert_not(allows(&a, "2001:db8::1"));
    cr_assert(allows(&a, "::ffff:10.1.2.3"));
    cr_assert_not(allows(&a, "::ffff:11.1.2.3"));
    acl_free(&a);
}

Test(acl, ipv6_networks_match_by_prefix)
{
    struct acl a = {0};
    add_net(&a, "2001:db8:1::/48");
    add_net(&a, "::1");
    cr_assert(allows(&a, "2001:db8:1:ffff::2"));
    cr_assert_not(allows(&a, "2001:db8:2::2"));
    cr_assert(allows(&a, "::1"));
    cr_assert_not(allows(&a, "127.0.0.1"));
    acl_free(&a);
}

Test(acl, zero_prefix_matches_the_whole_family)
{
    struct acl a = {0};
    add_net(&a, "0.0.0.0/0");
    cr_assert(allows(&a, "203.0.113.1"));
    cr_assert_not(allows(&a, "2001:db8::1"));
    acl_free(&a);
}

Test(acl, bad_networks_are_refused_with_a_reason)
{
    struct acl a = {0};
    char why[200];
    cr_assert_eq(acl_add_network(&a, "10.0.0.0/33", why, sizeof(why)), -1);
    cr_assert(strstr(why, "/32"), "%s", why);
    cr_assert_eq(acl_add_network(&a, "2001:db8::/129", why, sizeof(why)), -1);
    cr_assert(strstr(why, "/128"), "%s", why);
    cr_assert_eq(acl_add_network(&a, "example.com", why, sizeof(why)), -1);
    cr_assert(strstr(why, "not a network"), "%s", why);
    cr_assert_eq(acl_add_network(&a, "10.0.0.0/x", why, sizeof(why)), -1);
    cr_assert_eq(acl_add_network(&a, "10.0.0.0/", why, sizeof(why)), -1);
    cr_assert_eq(a.nnets, 0);
}

Test(acl, peers_by_subject_or_fingerprint)
{
    struct acl a = {0};
    char why[200];
    uint8_t fp[32], other[32];
    for (int i = 0; i < 32; i++) {
        fp[i] = (uint8_t)(0xa0 + i);
        other[i] = (uint8_t)i;
    }
    cr_assert(acl_allows_peer(&a, NULL, NULL), "no rule: everyone");
    cr_assert_eq(acl_add_peer(&a, "CN=winlogbeat-01,O=Example", why, sizeof(why)), 0, "%s", why);
    char hex[200] = "sha256:";
    for (int i = 0; i < 32; i++)
        snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), i ? ":%02X" : "%02X", fp[i]);
    cr_assert_eq(acl_add_peer(&a, hex, why, sizeof(why)), 0, "%s", why);
    cr_assert(acl_has_peer_rules(&a));
    cr_assert(acl_allows_peer(&a, "CN=winlogbeat-01,O=Example", other));
    cr_assert(acl_allows_peer(&a, "CN=someone-else", fp));
    cr_assert_not(acl_allows_peer(&a, "CN=winlogbeat-01", other));
    cr_assert_not(acl_allows_peer(&a, NULL, NULL), "no certificate, rules set: refused");
    acl_free(&a);
}

Test(acl, plain_hex_fingerprint_and_bad_specs)
{
    struct acl a = {0};
    char why[200];
    const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    cr_assert_eq(acl_add_peer(&a, hex, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(a.nfingerprints, 1);
    cr_assert_eq(a.fingerprints[0][31], 0xff);
    cr_assert_eq(acl_add_peer(&a, "sha256:0011", why, sizeof(why)), -1);
    cr_assert(strstr(why, "SHA-256"), "%s", why);
    cr_assert_eq(acl_add_peer(&a, "winlogbeat-01", why, sizeof(why)), -1);
    cr_assert(strstr(why, "subject"), "%s", why);
    acl_free(&a);
}

Test(acl, refusals_are_logged_once_per_peer_and_minute)
{
    struct acl a = {0};
    cr_assert(acl_should_log(&a, "192.0.2.1", 1000));
    cr_assert_not(acl_should_log(&a, "192.0.2.1", 2000));
    cr_assert(acl_should_log(&a, "192.0.2.2", 2000), "another peer is logged");
    cr_assert_not(acl_should_log(&a, "192.0.2.1", 60999));
    cr_assert(acl_should_log(&a, "192.0.2.1", 61000), "a minute later it is logged again");
    cr_assert_eq(a.refusals_not_logged, 2);
    /* Many peers: the table recycles its oldest slot and keeps working. */
    char host[32];
    for (int i = 0; i < ACL_LOG_SLOTS * 2; i++) {
        snprintf(host, sizeof(host), "198.51.100.%d", i);
        cr_assert(acl_should_log(&a, host, 70000 + (uint64_t)i));
    }
    cr_assert_not(acl_should_log(&a, host, 80000));
}
