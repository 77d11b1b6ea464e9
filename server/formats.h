/* Webhook message formats: one formatter per target kind, each turning an alert (or a summary of
 * alerts held back) into the body the target expects, with what a responder needs first (rule,
 * severity, host, user, process, registry path, value, data, time, response advice), truncated to
 * the target's limits. Any thread (the delivery thread, `journal replay`). */
#ifndef AMSI_SERVER_FORMATS_H
#define AMSI_SERVER_FORMATS_H

#include <jansson.h>
#include <stddef.h>

#include "server/targets.h"

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

/* A new string of at most MAX bytes (UTF-8 safe), with an ellipsis when cut. */
json_t *fmt_text(const char *s, size_t max);

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

/* The format's default rate (requests per second) and whether STATUS is its success. */
double format_default_rate(enum target_format f);

#endif
