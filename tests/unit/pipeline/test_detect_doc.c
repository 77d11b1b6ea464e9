/* detector_run_doc on a parsed document raises exactly the alert detector_run raises on the
 * document's compact JSON, under both profiles, with the prefilter on and off: over every fixture
 * event (tests/fixtures/events), the samples, and the Windows events mapped out of the syslog
 * fixtures (tests/fixtures/syslog), which is how the workers now hand them over. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../support/testutil.h"
#include "pipeline/detect.h"
#include "pipeline/syslog_event.h"
#include "protocol/syslog.h"

#define NOW_MS 1742212800000LL /* a fixed detection time */

struct totals {
    const char *file;
    int docs, alerts;
};

/* Both paths over DOC; the alerts (or their absence) must be the same document. */
static void compare(struct totals *t, const json_t *doc, int lineno)
{
    static const enum profile profiles[] = {PROFILE_ELASTIC, PROFILE_EXTENDED};
    char *text = json_dumps(doc, JSON_COMPACT);
    cr_assert_not_null(text);
    json_t *source = json_pack("{s:s, s:s}", "type", "test", "peer", "127.0.0.1:1");
    cr_assert_not_null(source);
    t->docs++;
    for (size_t p = 0; p < 2; p++) {
        for (int prefilter = 0; prefilter < 2; prefilter++) {
            struct detector a, b;
            detector_init(&a, profiles[p], prefilter, 0);
            detector_init(&b, profiles[p], prefilter, 0);
            json_t *from_text = NULL, *from_doc = NULL;
            int ra = detector_run(&a, text, strlen(text), source, NOW_MS, &from_text);
            int rb = detector_run_doc(&b, doc, source, NOW_MS, &from_doc);
            cr_expect_eq(ra, rb,
                         "%s:%d profile %zu prefilter %d: %d from the text, %d from the doc",
                         t->file, lineno, p, prefilter, ra, rb);
            if (from_text && from_doc) {
                char *x = json_dumps(from_text, JSON_COMPACT | JSON_SORT_KEYS);
                char *y = json_dumps(from_doc, JSON_COMPACT | JSON_SORT_KEYS);
                cr_expect_str_eq(x, y, "%s:%d: the alerts differ", t->file, lineno);
                free(x);
                free(y);
                t->alerts++;
            }
            cr_expect_eq(a.stats.alerts, b.stats.alerts);
            json_decref(from_text);
            json_decref(from_doc);
        }
    }
    json_decref(source);
    free(text);
}

static void event_line(void *ctx, const char *line, size_t len, int lineno)
{
    json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return; /* malformed on purpose: detector_run's own tests cover it */
    }
    compare(ctx, doc, lineno);
    json_decref(doc);
}

static void syslog_line(void *ctx, const char *line, size_t len, int lineno)
{
    if (!syslog_event_candidate(line, len))
        return;
    struct syslog_msg m;
    syslog_parse(line, len, NOW_MS, &m);
    json_t *doc = NULL;
    enum syslog_payload kind = SYSLOG_PAYLOAD_NONE;
    if (syslog_event_from_msg(&m, &doc, &kind) < 0 || !doc)
        return;
    compare(ctx, doc, lineno);
    json_decref(doc);
}

static int each_file(const char *dir, const char *suffix,
                     void (*fn)(void *, const char *, size_t, int), int *alerts)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    struct dirent *e;
    int docs = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name), sl = strlen(suffix);
        if (n < sl || strcmp(e->d_name + n - sl, suffix) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *text = tu_read_file(path, NULL);
        cr_assert_not_null(text, "cannot read %s", path);
        struct totals t = {.file = e->d_name};
        tu_each_line(text, fn, &t);
        free(text);
        docs += t.docs;
        *alerts += t.alerts;
    }
    closedir(d);
    return docs;
}

Test(detect_doc, equals_detector_run_on_the_text_for_the_fixture_events)
{
    int alerts = 0;
    int docs = each_file(AMSI_SOURCE_DIR "/tests/fixtures/events", ".ndjson", event_line, &alerts);
    docs += each_file(AMSI_SOURCE_DIR "/tests/fixtures", ".ndjson", event_line, &alerts);
    docs += each_file(AMSI_SOURCE_DIR "/samples", ".ndjson", event_line, &alerts);
    cr_expect_gt(docs, 40);
    cr_expect_gt(alerts, 20, "the fixtures raise alerts on both paths");
}

Test(detect_doc, equals_detector_run_on_the_text_for_the_syslog_fixtures)
{
    int alerts = 0;
    int docs = each_file(AMSI_SOURCE_DIR "/tests/fixtures/syslog", ".log", syslog_line, &alerts);
    cr_expect_gt(docs, 5);
    cr_expect_gt(alerts, 5, "the syslog fixtures raise alerts on both paths");
}

Test(detect_doc, a_document_that_is_not_an_object_is_malformed)
{
    struct detector d;
    detector_init(&d, PROFILE_ELASTIC, true, 0);
    json_t *arr = json_array();
    json_t *alert = NULL;
    cr_expect_eq(detector_run_doc(&d, arr, NULL, NOW_MS, &alert), -EBADMSG);
    cr_expect_null(alert);
    cr_expect_eq(d.stats.malformed, 1);
    json_decref(arr);
}
