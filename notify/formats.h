/* Webhook message formats: one formatter per target kind, each turning an alert (or a summary of
 * alerts held back) into the body the target expects, with what a responder needs first (rule,
 * severity, host, user, process, registry path, value, data, time, response advice), truncated to
 * the target's limits. Any thread (the delivery thread, `journal replay`). */
#ifndef AMSI_NOTIFY_FORMATS_H
#define AMSI_NOTIFY_FORMATS_H

#include <jansson.h>
#include <stddef.h>

#include "notify/targets.h"

/* What is being sent: an alert, or a summary (ALERT NULL). */
struct notice {
    const json_t *alert; /* the alert document */
    const char *id;      /* alert_id, or a stable id of the summary */
    const char *title;   /* summaries: one line */
    const char *text;    /* summaries: the details */
};

/* The facts every format shows, taken from an alert. Strings point into the alert or are "". */
struct facts {
    const char *rule, *severity, *host, *user, *process, *path, *value, *data, *time, *response,
        *clause, *profile, *id;
    int risk_score;
    char data_buf[256];
};

void facts_of(const json_t *alert, struct facts *f);

/* A new JSON string of S: bytes that are not UTF-8 as U+FFFD, and when that is more than MAX
 * bytes (MAX > 3), cut between two characters to make room for an ellipsis. NULL only when out
 * of memory. Every text a format puts in a body goes through it (jansson refuses a string that
 * is not UTF-8, and the whole body with it). */
json_t *fmt_text(const char *s, size_t max);

/* snprintf into OUT (LEN bytes), then, when it cut the text, back to the last whole character. */
void fmt_line(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The body for T. Returns a new JSON value, or NULL when out of memory. */
json_t *format_body(const struct target *t, const struct notice *n);

json_t *fmt_generic(const struct target *t, const struct notice *n);
json_t *fmt_slack(const struct target *t, const struct notice *n);
json_t *fmt_teams(const struct target *t, const struct notice *n);
json_t *fmt_discord(const struct target *t, const struct notice *n);
json_t *fmt_mattermost(const struct target *t, const struct notice *n);
json_t *fmt_pagerduty(const struct target *t, const struct notice *n);
json_t *fmt_opsgenie(const struct target *t, const struct notice *n);
json_t *fmt_jira(const struct target *t, const struct notice *n);

/* The default rate of a format, in requests per second (a target's rate overrides it). */
double format_default_rate(enum target_format f);

#endif
