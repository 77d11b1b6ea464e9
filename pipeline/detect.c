#include "pipeline/detect.h"

#include <errno.h>
#include <stdio.h>

#include "pipeline/alert.h"
#include "pipeline/prefilter.h"

void detector_init(struct detector *d, enum profile profile, bool prefilter, size_t max_event)
{
    d->profile = profile;
    d->prefilter = prefilter;
    d->max_event = max_event ? max_event : DETECT_DEFAULT_MAX_EVENT;
    d->stats = (struct detect_stats){0};
    d->error[0] = '\0';
}

int detect_clause(const json_t *event, enum profile profile)
{
    struct norm n;
    int rc = normalize(event, profile, &n);
    if (rc < 0)
        return rc;
    enum clause c = rule_eval(&n, profile);
    norm_free(&n);
    return (int)c;
}

int detector_run(struct detector *d, const char *ev, size_t len, const json_t *source,
                 int64_t now_ms, json_t **alert)
{
    *alert = NULL;
    d->stats.events++;
    bool candidate = prefilter_candidate(ev, len);
    if (candidate)
        d->stats.candidates++;
    if (d->prefilter && !candidate)
        return 0;
    if (len > d->max_event) {
        d->stats.malformed++;
        snprintf(d->error, sizeof(d->error), "event of %zu bytes is over the limit of %zu", len,
                 d->max_event);
        return -EMSGSIZE;
    }
    d->stats.parsed++;
    json_error_t jerr;
    json_t *doc = json_loadb(ev, len, JSON_ALLOW_NUL, &jerr);
    if (!doc || !json_is_object(doc)) {
        d->stats.malformed++;
        if (doc)
            snprintf(d->error, sizeof(d->error), "not a JSON object");
        else
            snprintf(d->error, sizeof(d->error), "invalid JSON at column %d: %s", jerr.column,
                     jerr.text);
        json_decref(doc);
        return -EBADMSG;
    }
    struct norm n;
    int rc = normalize(doc, d->profile, &n);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    enum clause c = rule_eval(&n, d->profile);
    if (c != CLAUSE_NONE) {
        *alert = alert_build(ev, len, &n, d->profile, c, source, now_ms);
        rc = *alert ? 1 : -ENOMEM;
        if (rc == 1)
            d->stats.alerts++;
    }
    norm_free(&n);
    json_decref(doc);
    return rc;
}
