/* Fuzz target for the configuration file: one input is the bytes of a YAML file given with
 * --config, loaded over the defaults by config_load_file (options, nested and dotted keys, lists,
 * and the `webhooks:` targets). The bytes are written to a memory file, so nothing touches the
 * disk.
 *
 * The target aborts when:
 *  - the loader returns anything but 0 or -1;
 *  - it fails without saying why in one line "amsiwatch: FILE:LINE: ..." whose LINE is a line of
 *    the file as YAML counts lines (1 to the number of lines, plus one for an error at the very
 *    end);
 *  - it succeeds but prints something, or leaves a configuration that is not valid: a text field
 *    without its NUL, an enumerated option outside its choices, a listener that is neither "off"
 *    nor ADDR:PORT, a webhook target that no longer validates or holds more headers or fields than
 *    it can;
 *  - loading the same bytes twice gives different results (return, message, configuration).
 * config_free runs on every path, so LeakSanitizer reports what an error path forgets. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "notify/targets.h"
#include "protocol/syslog.h"
#include "protocol/syslog_framer.h"
#include "server/config.h"
#include "tests/fuzz/fuzz_target.h"

static void violation(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: invariant broken: %s\n%s", what, detail ? detail : "");
    abort();
}

struct outcome {
    int rc;
    char *msg;
    size_t msglen;
    struct config *c;
};

static void load(const char *path, struct outcome *o)
{
    o->c = malloc(sizeof(*o->c));
    if (!o->c)
        abort();
    config_defaults(o->c);
    FILE *err = open_memstream(&o->msg, &o->msglen);
    if (!err)
        abort();
    o->rc = config_load_file(o->c, path, err);
    fclose(err);
}

static void release(struct outcome *o)
{
    config_free(o->c);
    free(o->c);
    free(o->msg);
}

static bool terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}
#define TERMINATED(f) terminated((f), sizeof(f))

static void check_addr(const char *v, const char *msg)
{
    if (strcmp(v, "off") == 0)
        return;
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !colon[1])
        violation("a listener that is neither off nor ADDR:PORT", msg);
}

static void check_tls(const struct tls_options *t, const char *msg)
{
    if (!TERMINATED(t->certificate) || !TERMINATED(t->key) || !TERMINATED(t->key_passphrase_file) ||
        !TERMINATED(t->certificate_authorities) || !TERMINATED(t->client_authentication) ||
        !TERMINATED(t->supported_protocols) || !TERMINATED(t->cipher_suites) ||
        !TERMINATED(t->allow_networks) || !TERMINATED(t->allow_peers))
        violation("a TLS text field without its NUL", msg);
    if (strcmp(t->client_authentication, "none") != 0 &&
        strcmp(t->client_authentication, "optional") != 0 &&
        strcmp(t->client_authentication, "required") != 0)
        violation("client authentication outside its choices", msg);
}

static void check_valid(const struct config *c, const char *msg)
{
    if (!TERMINATED(c->data_dir) || !TERMINATED(c->beats) || !TERMINATED(c->syslog_tcp) ||
        !TERMINATED(c->syslog_udp) || !TERMINATED(c->syslog_tls) || !TERMINATED(c->profile) ||
        !TERMINATED(c->log_level) || !TERMINATED(c->syslog_framing) ||
        !TERMINATED(c->syslog_oversize) || !TERMINATED(c->syslog_allow_networks))
        violation("a text field without its NUL", msg);
    if (strcmp(c->profile, "elastic") != 0 && strcmp(c->profile, "extended") != 0)
        violation("a profile outside its choices", msg);
    enum syslog_framing fr;
    enum syslog_oversize ov;
    if (syslog_framing_parse(c->syslog_framing, &fr) != 0 ||
        syslog_oversize_parse(c->syslog_oversize, &ov) != 0)
        violation("a syslog framing or oversize policy outside its choices", msg);
    check_addr(c->beats, msg);
    check_addr(c->syslog_tcp, msg);
    check_addr(c->syslog_udp, msg);
    check_addr(c->syslog_tls, msg);
    check_tls(&c->beats_tls, msg);
    check_tls(&c->syslog_tls_opts, msg);
    if (c->nwebhooks > CONFIG_MAX_LIST)
        violation("more webhook flags than the list holds", msg);
    for (size_t i = 0; i < c->nwebhooks; i++) {
        if (!TERMINATED(c->webhooks[i]) || !c->webhooks[i][0])
            violation("an empty or unterminated webhook flag", msg);
    }
    if (c->targets.n && !c->targets.v)
        violation("targets counted but not stored", msg);
    for (size_t i = 0; i < c->targets.n; i++) {
        struct target t = c->targets.v[i];
        if (!TERMINATED(t.name) || !TERMINATED(t.url) || !TERMINATED(t.username) ||
            !TERMINATED(t.secret) || !TERMINATED(t.signing_key) || !TERMINATED(t.routing_key) ||
            !TERMINATED(t.proxy) || !TERMINATED(t.jira_project) || !TERMINATED(t.jira_issue_type))
            violation("a target's text field without its NUL", msg);
        if (t.nheaders > TARGET_MAX_HEADERS || t.nsuppress_fields > TARGET_MAX_FIELDS)
            violation("a target with more headers or fields than it holds", msg);
        if (!target_format_name(t.format))
            violation("a target format without a name", msg);
        char why[300];
        if (target_validate(&t, why, sizeof(why)) != 0)
            violation("a loaded target no longer validates", why);
    }
}

/* LINE of "amsiwatch: PATH:LINE: ..." is a line of the file. */
static void check_error(const char *msg, size_t msglen, const char *path, size_t lines)
{
    if (msglen == 0)
        violation("the loader failed without saying why", NULL);
    if (memchr(msg, '\n', msglen) != msg + msglen - 1)
        violation("the error is not exactly one line", msg);
    char prefix[64];
    int pl = snprintf(prefix, sizeof(prefix), "amsiwatch: %s:", path);
    if (strncmp(msg, prefix, (size_t)pl) != 0)
        violation("the error does not start with the file's name", msg);
    const char *p = msg + pl;
    size_t line = 0;
    while (*p >= '0' && *p <= '9' && line < 1000000000u)
        line = line * 10 + (size_t)(*p++ - '0');
    if (*p != ':')
        violation("the error has no line number", msg);
    if (line < 1 || line > lines + 1)
        violation("the error's line number is not a line of the file", msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        /* Secrets come from files or the environment: one variable is set, so that targets
         * with auth, signing and PagerDuty keys can load. */
        setenv("AMSIWATCH_FUZZ_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
        fd = memfd_create("amsiwatch.yml", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("memfd");
        abort();
    }
    /* Lines as YAML counts them: LF, CR LF, a lone CR, NEL, LS and PS all end one. */
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n')))
            lines++;
        else if (data[i] == 0xc2 && i + 1 < size && data[i + 1] == 0x85)
            lines++;
        else if (data[i] == 0xe2 && i + 2 < size && data[i + 1] == 0x80 &&
                 (data[i + 2] == 0xa8 || data[i + 2] == 0xa9))
            lines++;
    }

    struct outcome a, b;
    load(path, &a);
    if (a.rc != 0 && a.rc != -1)
        violation("the loader returned neither 0 nor -1", a.msg);
    if (a.rc < 0)
        check_error(a.msg, a.msglen, path, lines);
    else if (a.msglen)
        violation("the loader succeeded but printed something", a.msg);
    else
        check_valid(a.c, a.msg);

    load(path, &b);
    if (a.rc != b.rc || a.msglen != b.msglen || memcmp(a.msg, b.msg, a.msglen) != 0)
        violation("loading the same bytes twice gives different results", b.msg);
    if (a.rc == 0) {
        struct target_list ta = a.c->targets, tb = b.c->targets;
        a.c->targets = b.c->targets = (struct target_list){0};
        bool same = memcmp(a.c, b.c, sizeof(*a.c)) == 0 && ta.n == tb.n &&
                    (ta.n == 0 || memcmp(ta.v, tb.v, ta.n * sizeof(*ta.v)) == 0);
        a.c->targets = ta;
        b.c->targets = tb;
        if (!same)
            violation("loading the same bytes twice gives different configurations", NULL);
    }
    release(&a);
    release(&b);
    return 0;
}
