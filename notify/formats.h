/* Webhook message formats: one table with a row per target kind (its name, default rate, limits
 * and the function that turns an alert, or a summary of alerts held back, into the body the
 * target expects), with what a responder needs first (rule, severity, host, user, process,
 * registry path, value, data, time, response advice), cut to the target's limits. Any thread
 * (the delivery thread, `journal replay`). */
#ifndef AMSI_NOTIFY_FORMATS_H
#define AMSI_NOTIFY_FORMATS_H

#include <jansson.h>
#include <stddef.h>

#include "notify/targets.h"

/* The facts every format shows, taken from an alert. Strings point into the alert or are "". */
struct facts {
    const char *rule, *severity, *host, *user, *process, *path, *value, *time, *response, *clause,
        *profile, *id;
    int risk_score;
    char data[256]; /* registry.data.strings, joined with ", " and cut between two characters */
};

/* Takes the facts of ALERT into F. F points into ALERT: it lives as long as ALERT does. */
void facts_of(const json_t *alert, struct facts *f);

/* What is being sent: an alert, or a summary (ALERT NULL). */
struct notice {
    const json_t *alert;       /* the alert document */
    const struct facts *facts; /* facts_of(ALERT), built once per alert; NULL for a summary */
    const char *id;            /* alert_id, or a stable id of the summary */
    const char *title;         /* summaries: one line */
    const char *text;          /* summaries: the details */
};

/* The receiver's main limits, in bytes (0: none); a format's smaller parts (a footer, an entity,
 * one line of a description) keep theirs in its function. */
struct format_limits {
    size_t title;  /* the headline: a header, title, summary or message */
    size_t text;   /* the longest text: a description, the response advice, a summary's details */
    size_t field;  /* one fact */
    size_t fields; /* facts shown at most (0: all of them) */
};

struct format {
    enum target_format format;
    const char *name;    /* as the configuration spells it */
    double default_rate; /* requests per second when the target sets none */
    struct format_limits limits;
    /* The body of N for T. A new JSON value, or NULL when out of memory. */
    json_t *(*body)(const struct format *fmt, const struct target *t, const struct notice *n);
};

/* The row of F; the generic one when F is not a format (its FORMAT then differs from F). */
const struct format *format_of(enum target_format f);

/* The row named NAME ("generic", "slack", ...), or NULL. */
const struct format *format_named(const char *name);

/* The body of N for T, in T's format. Returns a new JSON value, or NULL when out of memory. */
json_t *format_body(const struct target *t, const struct notice *n);

#endif
