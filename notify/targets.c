#include "notify/targets.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "notify/formats.h"

int target_format_parse(const char *s, enum target_format *out)
{
    const struct format *f = format_named(s);
    if (!f)
        return -EINVAL;
    *out = f->format;
    return 0;
}

const char *target_format_name(enum target_format f)
{
    const struct format *fmt = format_of(f);
    return fmt->format == f ? fmt->name : "?";
}

void target_defaults(struct target *t)
{
    memset(t, 0, sizeof(*t));
    t->format = FMT_GENERIC;
    t->timeout_ms = 15000;
    t->tls_verify = true;
    t->max_signals = 100;
    t->max_signals_ms = 5 * 60 * 1000;
    t->retry_max_ms = 10 * 60 * 1000;
    snprintf(t->jira_issue_type, sizeof(t->jira_issue_type), "Task");
}

static int copy(char *dst, size_t n, const char *v, char *why, size_t whylen)
{
    if (strlen(v) >= n) {
        snprintf(why, whylen, "value longer than %zu characters", n - 1);
        return -1;
    }
    snprintf(dst, n, "%s", v);
    return 0;
}

static int duration(const char *v, uint64_t *out, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    uint64_t m = 1;
    if (end == v || errno)
        goto bad;
    if (!strcmp(end, "ms") || !*end)
        m = 1;
    else if (!strcmp(end, "s"))
        m = 1000;
    else if (!strcmp(end, "m"))
        m = 60000;
    else if (!strcmp(end, "h"))
        m = 3600000;
    else
        goto bad;
    *out = n * m;
    return 0;
bad:
    snprintf(why, whylen, "'%s' is not a duration (e.g. 500ms, 15s, 5m)", v);
    return -1;
}

/* Reads a secret from a file (first line, trailing whitespace removed). */
static int secret_from_file(const char *path, char *out, size_t n, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "cannot read the secret file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)n, f))
        out[0] = '\0';
    fclose(f);
    size_t len = strlen(out);
    while (len && isspace((unsigned char)out[len - 1]))
        out[--len] = '\0';
    if (!len) {
        snprintf(why, whylen, "the secret file %s is empty", path);
        return -1;
    }
    return 0;
}

static int secret_from_env(const char *var, char *out, size_t n, char *why, size_t whylen)
{
    const char *v = getenv(var);
    if (!v || !*v) {
        snprintf(why, whylen, "the environment variable %s is not set", var);
        return -1;
    }
    return copy(out, n, v, why, whylen);
}

static int boolean(const char *v, bool *out, char *why, size_t whylen)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
        *out = false;
        return 0;
    }
    snprintf(why, whylen, "'%s' is not true or false", v);
    return -1;
}

/* "2" or "2/s", "120/min", "0.5/s". */
static int rate(const char *v, double *out, char *why, size_t whylen)
{
    char *end;
    double r = strtod(v, &end);
    if (end == v || r <= 0)
        goto bad;
    if (!*end || !strcmp(end, "/s"))
        *out = r;
    else if (!strcmp(end, "/min") || !strcmp(end, "/m"))
        *out = r / 60.0;
    else if (!strcmp(end, "/h"))
        *out = r / 3600.0;
    else
        goto bad;
    return 0;
bad:
    snprintf(why, whylen, "'%s' is not a rate (e.g. 1/s, 120/min)", v);
    return -1;
}

struct key_help {
    const char *key, *help;
};

static const struct key_help reference[] = {
    {"name", "the target's name: its journal cursor and its log lines (default webhook-N)"},
    {"url", "where to POST (https://...); required"},
    {"format",
     "generic, slack, teams, discord, mattermost, pagerduty, opsgenie or jira (default generic)"},
    {"timeout", "time allowed for one request (default 15s)"},
    {"rate", "most requests per second (default per format: slack 1/s, teams 4/s, pagerduty 2/s, "
             "others 10/s)"},
    {"headers.NAME", "an extra HTTP header"},
    {"auth.type", "none, bearer, basic or genie (Opsgenie's GenieKey)"},
    {"auth.username", "user for basic"},
    {"auth.secret-file / auth.secret-env", "the token, password or API key, from a file or a "
                                           "variable (never in the file itself, never logged)"},
    {"signing.scheme", "none, standard-webhooks (HMAC-SHA256), standard-webhooks-ed25519 or github "
                       "(X-Hub-Signature-256)"},
    {"signing.secret-file / signing.secret-env",
     "the signing key: whsec_... (standard-webhooks), a base64 Ed25519 seed or secret key "
     "(standard-webhooks-ed25519), any text (github)"},
    {"tls.verify", "verify the server's certificate (default true)"},
    {"tls.ca-file, tls.cert-file, tls.key-file", "CA bundle, client certificate and key (PEM)"},
    {"proxy", "HTTP(S) proxy URL"},
    {"pagerduty.routing-key-file / -env", "PagerDuty Events v2 integration key (format pagerduty)"},
    {"jira.project, jira.issue-type", "Jira project key and issue type (default Task)"},
    {"max-signals, max-signals-interval",
     "notifications per interval, then one summary (default 100 per 5m, the rule's max_signals; "
     "0 for no cap)"},
    {"suppress.fields, suppress.window",
     "send one notification per value of these fields (comma-separated; host.id when only the "
     "window is given) per window, then one with the count (default off)"},
    {"retry.max-backoff", "the longest wait between retries (default 10m, at least 10ms)"},
};

void target_print_reference(FILE *f, bool markdown)
{
    if (markdown)
        fprintf(f, "| key | meaning |\n|---|---|\n");
    for (size_t i = 0; i < sizeof(reference) / sizeof(reference[0]); i++) {
        if (markdown)
            fprintf(f, "| `%s` | %s |\n", reference[i].key, reference[i].help);
        else
            fprintf(f, "  %-44s %s\n", reference[i].key, reference[i].help);
    }
}

int target_set(struct target *t, const char *key, const char *v, char *why, size_t whylen)
{
    if (!strcmp(key, "name")) {
        for (const char *p = v; *p; p++) {
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') {
                snprintf(why, whylen, "'%s': use letters, digits, '-', '_' and '.'", v);
                return -1;
            }
        }
        if (!*v || v[0] == '.') {
            snprintf(why, whylen, "a name must not be empty or start with '.'");
            return -1;
        }
        return copy(t->name, sizeof(t->name), v, why, whylen);
    }
    if (!strcmp(key, "url")) {
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
            snprintf(why, whylen, "'%s' is not an http:// or https:// URL", v);
            return -1;
        }
        return copy(t->url, sizeof(t->url), v, why, whylen);
    }
    if (!strcmp(key, "format")) {
        if (target_format_parse(v, &t->format) < 0) {
            snprintf(why, whylen,
                     "'%s' is not a format (generic, slack, teams, discord, "
                     "mattermost, pagerduty, opsgenie, jira)",
                     v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "timeout"))
        return duration(v, &t->timeout_ms, why, whylen);
    if (!strcmp(key, "rate"))
        return rate(v, &t->rate_per_s, why, whylen);
    if (!strncmp(key, "headers.", 8)) {
        if (t->nheaders >= TARGET_MAX_HEADERS) {
            snprintf(why, whylen, "at most %d headers", TARGET_MAX_HEADERS);
            return -1;
        }
        if (strpbrk(v, "\r\n") || strpbrk(key + 8, "\r\n: ")) {
            snprintf(why, whylen, "a header name or value with a line break, colon or space");
            return -1;
        }
        int n = snprintf(t->headers[t->nheaders], sizeof(t->headers[0]), "%s: %s", key + 8, v);
        if (n < 0 || (size_t)n >= sizeof(t->headers[0])) {
            snprintf(why, whylen, "header too long");
            return -1;
        }
        t->nheaders++;
        return 0;
    }
    if (!strcmp(key, "auth.type")) {
        if (!strcmp(v, "none"))
            t->auth = AUTH_NONE;
        else if (!strcmp(v, "bearer"))
            t->auth = AUTH_BEARER;
        else if (!strcmp(v, "basic"))
            t->auth = AUTH_BASIC;
        else if (!strcmp(v, "genie"))
            t->auth = AUTH_GENIEKEY;
        else {
            snprintf(why, whylen, "'%s' is not none, bearer, basic or genie", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "auth.username"))
        return copy(t->username, sizeof(t->username), v, why, whylen);
    if (!strcmp(key, "auth.secret-file"))
        return secret_from_file(v, t->secret, sizeof(t->secret), why, whylen);
    if (!strcmp(key, "auth.secret-env"))
        return secret_from_env(v, t->secret, sizeof(t->secret), why, whylen);
    if (!strcmp(key, "signing.scheme")) {
        if (!strcmp(v, "none"))
            t->signing = SIGN_NONE;
        else if (!strcmp(v, "standard-webhooks"))
            t->signing = SIGN_STANDARD;
        else if (!strcmp(v, "standard-webhooks-ed25519"))
            t->signing = SIGN_STANDARD_ED25519;
        else if (!strcmp(v, "github"))
            t->signing = SIGN_GITHUB;
        else {
            snprintf(why, whylen,
                     "'%s' is not none, standard-webhooks, standard-webhooks-ed25519 or github", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "signing.secret-file"))
        return secret_from_file(v, t->signing_key, sizeof(t->signing_key), why, whylen);
    if (!strcmp(key, "signing.secret-env"))
        return secret_from_env(v, t->signing_key, sizeof(t->signing_key), why, whylen);
    if (!strcmp(key, "tls.verify"))
        return boolean(v, &t->tls_verify, why, whylen);
    if (!strcmp(key, "tls.ca-file"))
        return copy(t->ca_file, sizeof(t->ca_file), v, why, whylen);
    if (!strcmp(key, "tls.cert-file"))
        return copy(t->cert_file, sizeof(t->cert_file), v, why, whylen);
    if (!strcmp(key, "tls.key-file"))
        return copy(t->key_file, sizeof(t->key_file), v, why, whylen);
    if (!strcmp(key, "proxy"))
        return copy(t->proxy, sizeof(t->proxy), v, why, whylen);
    if (!strcmp(key, "pagerduty.routing-key-file"))
        return secret_from_file(v, t->routing_key, sizeof(t->routing_key), why, whylen);
    if (!strcmp(key, "pagerduty.routing-key-env"))
        return secret_from_env(v, t->routing_key, sizeof(t->routing_key), why, whylen);
    if (!strcmp(key, "jira.project"))
        return copy(t->jira_project, sizeof(t->jira_project), v, why, whylen);
    if (!strcmp(key, "jira.issue-type"))
        return copy(t->jira_issue_type, sizeof(t->jira_issue_type), v, why, whylen);
    if (!strcmp(key, "max-signals")) {
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (end == v || *end) {
            snprintf(why, whylen, "'%s' is not a whole number", v);
            return -1;
        }
        t->max_signals = n;
        return 0;
    }
    if (!strcmp(key, "max-signals-interval"))
        return duration(v, &t->max_signals_ms, why, whylen);
    if (!strcmp(key, "suppress.fields")) {
        char tmp[512];
        if (copy(tmp, sizeof(tmp), v, why, whylen) < 0)
            return -1;
        for (char *save = NULL, *f = strtok_r(tmp, ", ", &save); f;
             f = strtok_r(NULL, ", ", &save)) {
            if (t->nsuppress_fields >= TARGET_MAX_FIELDS) {
                snprintf(why, whylen, "at most %d fields", TARGET_MAX_FIELDS);
                return -1;
            }
            if (copy(t->suppress_fields[t->nsuppress_fields++], sizeof(t->suppress_fields[0]), f,
                     why, whylen) < 0)
                return -1;
        }
        return 0;
    }
    if (!strcmp(key, "suppress.window"))
        return duration(v, &t->suppress_ms, why, whylen);
    if (!strcmp(key, "retry.max-backoff")) {
        if (duration(v, &t->retry_max_ms, why, whylen) < 0)
            return -1;
        if (t->retry_max_ms < TARGET_MIN_BACKOFF_MS) {
            /* 0 would retry a failing receiver in a tight loop */
            snprintf(why, whylen, "'%s' is shorter than %d ms", v, TARGET_MIN_BACKOFF_MS);
            return -1;
        }
        return 0;
    }
    snprintf(why, whylen, "unknown key");
    return -1;
}

int target_from_flag(struct target *t, const char *spec, size_t index, char *why, size_t whylen)
{
    target_defaults(t);
    snprintf(t->name, sizeof(t->name), "webhook-%zu", index + 1);
    const char *url = strstr(spec, "://");
    if (!url) {
        snprintf(why, whylen, "'%s' is not [NAME=][FORMAT:]URL", spec);
        return -1;
    }
    /* Back up to the scheme; what precedes it is NAME=FORMAT: */
    const char *scheme = url;
    while (scheme > spec && isalpha((unsigned char)scheme[-1]))
        scheme--;
    char prefix[160] = "";
    size_t plen = (size_t)(scheme - spec);
    if (plen >= sizeof(prefix)) {
        snprintf(why, whylen, "'%s' is not [NAME=][FORMAT:]URL", spec);
        return -1;
    }
    memcpy(prefix, spec, plen);
    prefix[plen] = '\0';
    if (plen) {
        if (prefix[plen - 1] != ':') {
            snprintf(why, whylen, "'%s' is not [NAME=][FORMAT:]URL", spec);
            return -1;
        }
        prefix[plen - 1] = '\0';
        char *eq = strchr(prefix, '=');
        const char *fmt = prefix;
        if (eq) {
            *eq = '\0';
            if (target_set(t, "name", prefix, why, whylen) < 0)
                return -1;
            fmt = eq + 1;
        }
        if (*fmt && target_set(t, "format", fmt, why, whylen) < 0)
            return -1;
    }
    return target_set(t, "url", scheme, why, whylen);
}

int target_validate(struct target *t, char *why, size_t whylen)
{
    /* Suppression without fields suppresses by host.id, as the rule's alert suppression does. */
    if (t->suppress_ms && !t->nsuppress_fields) {
        snprintf(t->suppress_fields[0], sizeof(t->suppress_fields[0]), "host.id");
        t->nsuppress_fields = 1;
    }
    if (!t->url[0]) {
        snprintf(why, whylen, "target '%s' has no url", t->name);
        return -1;
    }
    if (t->format == FMT_PAGERDUTY && !t->routing_key[0]) {
        snprintf(why, whylen, "target '%s' (pagerduty) needs pagerduty.routing-key-file or -env",
                 t->name);
        return -1;
    }
    if (t->format == FMT_JIRA && !t->jira_project[0]) {
        snprintf(why, whylen, "target '%s' (jira) needs jira.project", t->name);
        return -1;
    }
    if ((t->auth == AUTH_BEARER || t->auth == AUTH_BASIC || t->auth == AUTH_GENIEKEY) &&
        !t->secret[0]) {
        snprintf(why, whylen, "target '%s' needs auth.secret-file or auth.secret-env", t->name);
        return -1;
    }
    if (t->signing != SIGN_NONE && !t->signing_key[0]) {
        snprintf(why, whylen, "target '%s' needs signing.secret-file or signing.secret-env",
                 t->name);
        return -1;
    }
    return 0;
}

bool target_same(const struct target *a, const struct target *b)
{
#define SAME_STR(f) (strcmp(a->f, b->f) == 0)
#define SAME(f)     (a->f == b->f)
    if (!SAME_STR(name) || !SAME_STR(url) || !SAME(format) || !SAME(timeout_ms) ||
        !SAME(rate_per_s) || !SAME(nheaders) || !SAME(auth) || !SAME_STR(username) ||
        !SAME_STR(secret) || !SAME(signing) || !SAME_STR(signing_key) || !SAME(tls_verify) ||
        !SAME_STR(ca_file) || !SAME_STR(cert_file) || !SAME_STR(key_file) || !SAME_STR(proxy) ||
        !SAME_STR(routing_key) || !SAME_STR(jira_project) || !SAME_STR(jira_issue_type) ||
        !SAME(max_signals) || !SAME(max_signals_ms) || !SAME(nsuppress_fields) ||
        !SAME(suppress_ms) || !SAME(retry_max_ms))
        return false;
    for (size_t i = 0; i < a->nheaders; i++) {
        if (!SAME_STR(headers[i]))
            return false;
    }
    for (size_t i = 0; i < a->nsuppress_fields; i++) {
        if (!SAME_STR(suppress_fields[i]))
            return false;
    }
    return true;
#undef SAME_STR
#undef SAME
}

int target_list_add(struct target_list *l, const struct target *t)
{
    struct target *v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    l->v = v;
    l->v[l->n++] = *t;
    return 0;
}

void target_list_free(struct target_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
