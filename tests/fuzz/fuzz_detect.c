/* Fuzz target for the detection path: the prefilter, JSON parse, normalization, the rule and the
 * alert document. One input is one event (raw bytes, as they arrive).
 *
 * Each input runs under both profiles, once with the prefilter and once parsing in full, and the
 * target aborts when:
 *  - the prefiltered path misses an alert the full path raises (the prefilter's contract);
 *  - the SSE2 and the portable prefilter disagree;
 *  - for a prefilter candidate, the two paths return different results or different alerts (they
 *    do the same work, so they must agree exactly);
 *  - the prefiltered path returns anything but 0 for an event the prefilter ruled out;
 *  - detector_run returns 1 without an alert, or an alert without 1;
 *  - an alert document cannot be serialized.
 * Every alert is released, so LeakSanitizer reports any reference the pipeline leaks. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/detect.h"
#include "pipeline/normalize.h"
#include "pipeline/prefilter.h"
#include "tests/fuzz/fuzz_target.h"

/* A fixed detection time, so both paths build byte-identical alerts. */
#define FUZZ_NOW_MS 1767225600000

static void violation(const char *what, enum profile p, int full, int pre)
{
    fprintf(stderr,
            "fuzz_detect: invariant broken: %s (profile %s, full path %d, prefiltered %d)\n", what,
            profile_name(p), full, pre);
    abort();
}

static void check_alert(const json_t *alert, enum profile p, int rc)
{
    if ((rc == 1) != (alert != NULL))
        violation("detector_run returned 1 without an alert, or an alert without 1", p, rc, rc);
    if (!alert)
        return;
    char *text = json_dumps(alert, JSON_COMPACT);
    if (!text)
        violation("the alert document cannot be serialized", p, rc, rc);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ev = (const char *)data;
    bool candidate = prefilter_candidate(ev, size);
    if (candidate != prefilter_candidate_scalar(ev, size)) {
        fprintf(stderr,
                "fuzz_detect: invariant broken: prefilter_candidate says %d, "
                "prefilter_candidate_scalar says %d\n",
                candidate, !candidate);
        abort();
    }
    for (int i = PROFILE_ELASTIC; i <= PROFILE_EXTENDED; i++) {
        enum profile p = (enum profile)i;
        struct detector full, pre;
        detector_init(&full, p, false, 0);
        detector_init(&pre, p, true, 0);
        json_t *alert_full = NULL, *alert_pre = NULL;
        int rc_full = detector_run(&full, ev, size, NULL, FUZZ_NOW_MS, &alert_full);
        int rc_pre = detector_run(&pre, ev, size, NULL, FUZZ_NOW_MS, &alert_pre);
        check_alert(alert_full, p, rc_full);
        check_alert(alert_pre, p, rc_pre);
        if (rc_full == 1 && rc_pre != 1)
            violation("the prefiltered path missed an alert the full path raises", p, rc_full,
                      rc_pre);
        if (candidate) {
            if (rc_pre != rc_full)
                violation("a prefilter candidate gave different results on the two paths", p,
                          rc_full, rc_pre);
            if (alert_full && !json_equal(alert_full, alert_pre))
                violation("a prefilter candidate gave different alerts on the two paths", p,
                          rc_full, rc_pre);
        } else if (rc_pre != 0 || pre.stats.parsed != 0) {
            violation("the prefiltered path parsed or failed an event the prefilter ruled out", p,
                      rc_full, rc_pre);
        }
        json_decref(alert_full);
        json_decref(alert_pre);
    }
    return 0;
}
