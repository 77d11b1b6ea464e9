/* Webhook targets: where alerts are delivered, in which format, how signed and how often.
 * Parsed from the `webhooks:` list of the YAML file (one mapping per target, declared in one
 * option table like the rest of the configuration) and from `--webhook [NAME=][FORMAT:]URL`.
 * Main thread, before the delivery thread starts. */
#ifndef AMSI_NOTIFY_TARGETS_H
#define AMSI_NOTIFY_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TARGET_MAX_HEADERS    16
#define TARGET_MAX_FIELDS     4
#define TARGET_MIN_BACKOFF_MS 10 /* retry.max-backoff: the shortest accepted */

enum target_format {
    FMT_GENERIC = 0,
    FMT_SLACK,
    FMT_TEAMS,
    FMT_DISCORD,
    FMT_MATTERMOST,
    FMT_PAGERDUTY,
    FMT_OPSGENIE,
    FMT_JIRA,
};

enum target_signing { SIGN_NONE = 0, SIGN_STANDARD, SIGN_STANDARD_ED25519, SIGN_GITHUB };
enum target_auth { AUTH_NONE = 0, AUTH_BEARER, AUTH_BASIC, AUTH_GENIEKEY };

struct target {
    char name[65];
    char url[1024];
    enum target_format format;
    uint64_t timeout_ms;
    double rate_per_s;                     /* 0: the format's default */
    char headers[TARGET_MAX_HEADERS][256]; /* "Name: value" */
    size_t nheaders;
    enum target_auth auth;
    char username[128];
    char secret[512]; /* token, password or API key; read from a file or the environment */
    enum target_signing signing;
    char signing_key[256]; /* as given (whsec_..., base64 Ed25519 seed, or a GitHub secret) */
    bool tls_verify;
    char ca_file[512], cert_file[512], key_file[512];
    char proxy[512];
    char routing_key[128]; /* PagerDuty */
    char jira_project[64], jira_issue_type[64];
    uint64_t max_signals;    /* notifications per interval (0: unlimited) */
    uint64_t max_signals_ms; /* the interval */
    char suppress_fields[TARGET_MAX_FIELDS][64];
    size_t nsuppress_fields;
    uint64_t suppress_ms;  /* 0: no suppression */
    uint64_t retry_max_ms; /* backoff cap */
};

struct target_list {
    struct target *v;
    size_t n;
};

/* "generic", "slack", ... to the enum and back. */
int target_format_parse(const char *s, enum target_format *out);
const char *target_format_name(enum target_format f);

/* Fills T with the defaults (generic, timeout 15 s, TLS verification on, max_signals 100 per 5 min,
 * retries capped at 10 min). */
void target_defaults(struct target *t);

/* Applies one option of a target mapping by its (dotted) key. On error writes why and returns -1.
 * Secrets given as `*-file` or `*-env` are read here and never logged. */
int target_set(struct target *t, const char *key, const char *value, char *why, size_t whylen);

/* Parses `--webhook [NAME=][FORMAT:]URL` into T (defaults applied first). -1 with WHY on error. */
int target_from_flag(struct target *t, const char *spec, size_t index, char *why, size_t whylen);

/* Checks a complete target (a URL, the keys its format needs) and fills defaults that depend on
 * other options. -1 with WHY on error. */
int target_validate(struct target *t, char *why, size_t whylen);

/* True when A and B are the same target, option for option (a new option belongs here too). */
bool target_same(const struct target *a, const struct target *b);

/* Appends a target to L (copied). -1 when out of memory. */
int target_list_add(struct target_list *l, const struct target *t);
void target_list_free(struct target_list *l);

/* Prints the per-target option reference (text or Markdown). */
void target_print_reference(FILE *f, bool markdown);

#endif
