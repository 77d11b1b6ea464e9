#include "pipeline/detect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
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

/* What the sending Beat says of itself: @metadata (beat, type, version) and agent.*. */
static void add_sender_identity(json_t *alert, const json_t *doc)
{
    json_t *src = json_object_get(alert, "source");
    if (!json_is_object(src))
        return;
    const json_t *meta = json_object_get(doc, "@metadata");
    if (json_is_object(meta)) {
        json_t *m = json_object();
        static const char *const keys[] = {"beat", "type", "version"};
        for (size_t i = 0; m && i < 3; i++) {
            json_t *v = json_object_get(meta, keys[i]);
            if (json_is_string(v))
                json_object_set(m, keys[i], v);
        }
        if (m)
            json_object_set_new(src, "metadata", m);
    }
    const json_t *agent = json_object_get(doc, "agent");
    if (json_is_object(agent))
        json_object_set_new(src, "agent", json_deep_copy(agent));
}

void detector_skip(struct detector *d)
{
    d->stats.events++;
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

/* The rule over DOC, parsed from TEXT (LEN bytes); TEXT NULL: DOC's compact JSON is the event's
 * text, made only when an alert needs it (its id and event.original are over it). */
static int run_parsed(struct detector *d, const json_t *doc, const char *text, size_t len,
                      const json_t *source, int64_t now_ms, json_t **alert)
{
    struct norm n;
    int rc = normalize(doc, d->profile, &n);
    if (rc < 0)
        return rc;
    enum clause c = rule_eval(&n, d->profile);
    if (c != CLAUSE_NONE) {
        char *dumped = NULL;
        if (!text) {
            dumped = json_dumps(doc, JSON_COMPACT);
            text = dumped;
            len = dumped ? strlen(dumped) : 0;
        }
        if (!text) {
            rc = -ENOMEM;
        } else if (len > d->max_event) {
            d->stats.malformed++;
            snprintf(d->error, sizeof(d->error), "event of %zu bytes is over the limit of %zu", len,
                     d->max_event);
            rc = -EMSGSIZE;
        } else {
            if (now_ms < 0)
                now_ms = clock_now_ms();
            *alert = alert_build(text, len, &n, d->profile, c, source, now_ms);
            rc = *alert ? 1 : -ENOMEM;
            if (rc == 1) {
                add_sender_identity(*alert, doc);
                d->stats.alerts++;
                d->stats.alerts_by_clause[c]++;
            }
        }
        free(dumped);
    }
    norm_free(&n);
    return rc;
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
    int rc = run_parsed(d, doc, ev, len, source, now_ms, alert);
    json_decref(doc);
    return rc;
}

int detector_run_doc(struct detector *d, const json_t *doc, const json_t *source, int64_t now_ms,
                     json_t **alert)
{
    *alert = NULL;
    d->stats.events++;
    d->stats.candidates++;
    d->stats.parsed++;
    if (!json_is_object(doc)) {
        d->stats.malformed++;
        snprintf(d->error, sizeof(d->error), "not a JSON object");
        return -EBADMSG;
    }
    return run_parsed(d, doc, NULL, 0, source, now_ms, alert);
}
