/* The project's own fixture events (tests/fixtures/events, one JSON document per line, one file
 * per source and case). verdicts.tsv names, for every file, the clause each of its lines fires
 * under the elastic and the extended profile ("none" for no alert). Every line must get exactly
 * that clause from detect_clause, and the whole detection path (detector_run) must raise one alert
 * naming it, or none, with the prefilter on and off alike. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../support/testutil.h"
#include "pipeline/detect.h"

#define FIXTURE_DIR   AMSI_SOURCE_DIR "/tests/fixtures/events"
#define VERDICTS_FILE "verdicts.tsv"
#define MAX_ENTRIES   256
#define NOW_MS        1742212800000LL /* a fixed detection time */

static const enum profile profiles[] = {PROFILE_ELASTIC, PROFILE_EXTENDED};
#define N_PROFILES (sizeof(profiles) / sizeof(profiles[0]))

static const enum clause all_clauses[] = {
    CLAUSE_NONE,
    CLAUSE_SEED,
    CLAUSE_VALUE_CREATION,
    CLAUSE_SECURITY_4657,
    CLAUSE_M365_NO_PLATFORM,
    CLAUSE_RAW_DETAILS,
    CLAUSE_OS_INFERRED,
};
#define N_CLAUSES (sizeof(all_clauses) / sizeof(all_clauses[0]))

struct entry {
    char file[256];
    enum clause expected[N_PROFILES]; /* indexed by enum profile */
    int tsv_line;
};

static struct entry entries[MAX_ENTRIES];
static size_t n_entries;

static bool clause_parse(const char *name, enum clause *out)
{
    for (size_t i = 0; i < N_CLAUSES; i++) {
        if (strcmp(clause_name(all_clauses[i]), name) == 0) {
            *out = all_clauses[i];
            return true;
        }
    }
    return false;
}

/* What detect_clause returned, as text: a clause name or the error. */
static const char *verdict_text(int c, char *buf, size_t len)
{
    if (c < 0) {
        snprintf(buf, len, "error %d", c);
        return buf;
    }
    return clause_name((enum clause)c);
}

/* One line of verdicts.tsv: "file<TAB>elastic_clause<TAB>extended_clause", or a # comment. */
static void parse_verdict_line(void *ctx, const char *line, size_t len, int lineno)
{
    (void)ctx;
    if (line[0] == '#')
        return;
    char buf[512];
    cr_assert_lt(len, sizeof(buf), VERDICTS_FILE ":%d: line too long", lineno);
    memcpy(buf, line, len);
    buf[len] = '\0';

    char *fields[4] = {0};
    size_t n = 0;
    for (char *p = buf; p && n < 4;) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab)
            *tab++ = '\0';
        p = tab;
    }
    cr_assert_eq(n, 3, VERDICTS_FILE ":%d: expected 3 tab-separated fields, found %zu", lineno, n);
    cr_assert_lt(n_entries, MAX_ENTRIES, VERDICTS_FILE ":%d: more than %d entries", lineno,
                 MAX_ENTRIES);
    cr_assert(fields[0][0] != '\0' && strlen(fields[0]) < sizeof(entries[0].file),
              VERDICTS_FILE ":%d: bad file name \"%s\"", lineno, fields[0]);

    struct entry *e = &entries[n_entries];
    snprintf(e->file, sizeof(e->file), "%s", fields[0]);
    e->tsv_line = lineno;
    for (size_t k = 0; k < N_PROFILES; k++) {
        cr_assert(clause_parse(fields[1 + k], &e->expected[profiles[k]]),
                  VERDICTS_FILE ":%d: %s: unknown %s clause \"%s\"", lineno, e->file,
                  profile_name(profiles[k]), fields[1 + k]);
    }
    for (size_t i = 0; i < n_entries; i++) {
        cr_assert_str_neq(entries[i].file, e->file,
                          VERDICTS_FILE ":%d: %s is already listed on line %d", lineno, e->file,
                          entries[i].tsv_line);
    }
    n_entries++;
}

static void load_verdicts(void)
{
    char *text = tu_read_file(FIXTURE_DIR "/" VERDICTS_FILE, NULL);
    cr_assert_not_null(text, "cannot read %s", FIXTURE_DIR "/" VERDICTS_FILE);
    n_entries = 0;
    tu_each_line(text, parse_verdict_line, NULL);
    free(text);
    cr_assert_gt(n_entries, 0, VERDICTS_FILE " lists no fixture");
}

static bool is_fixture_name(const char *name)
{
    static const char ext[] = ".ndjson";
    size_t n = strlen(name), e = sizeof(ext) - 1;
    return name[0] != '.' && n > e && strcmp(name + n - e, ext) == 0;
}

struct line_ctx {
    const struct entry *e;
    void (*check)(const struct entry *e, const char *line, size_t len, int lineno);
    int lines;
};

static void count_and_check(void *vctx, const char *line, size_t len, int lineno)
{
    struct line_ctx *ctx = vctx;
    ctx->lines++;
    ctx->check(ctx->e, line, len, lineno);
}

/* Runs CHECK over every line of every listed fixture; each file must hold at least one event. */
static void each_fixture_line(void (*check)(const struct entry *, const char *, size_t, int))
{
    load_verdicts();
    for (size_t i = 0; i < n_entries; i++) {
        const struct entry *e = &entries[i];
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, e->file);
        char *text = tu_read_file(path, NULL);
        cr_assert_not_null(text, "%s (listed on " VERDICTS_FILE ":%d) cannot be read", path,
                           e->tsv_line);
        struct line_ctx ctx = {e, check, 0};
        tu_each_line(text, count_and_check, &ctx);
        free(text);
        cr_expect_gt(ctx.lines, 0, "%s holds no event", e->file);
    }
}

static void check_clause(const struct entry *e, const char *line, size_t len, int lineno)
{
    json_error_t err;
    json_t *doc = json_loadb(line, len, 0, &err);
    cr_assert_not_null(doc, "%s:%d: invalid JSON at column %d: %s", e->file, lineno, err.column,
                       err.text);
    cr_assert(json_is_object(doc), "%s:%d: not a JSON object", e->file, lineno);
    for (size_t k = 0; k < N_PROFILES; k++) {
        enum profile p = profiles[k];
        enum clause want = e->expected[p];
        int got = detect_clause(doc, p);
        char buf[32];
        cr_expect_eq(got, (int)want, "%s:%d, profile %s: expected clause %s, got %s", e->file,
                     lineno, profile_name(p), clause_name(want),
                     verdict_text(got, buf, sizeof(buf)));
    }
    json_decref(doc);
}

static void check_alert(const struct entry *e, int lineno, enum profile p, const char *mode,
                        const json_t *alert, const char *line, size_t len)
{
    enum clause want = e->expected[p];
    const char *clause = json_string_value(json_object_get(alert, "clause"));
    const char *prof = json_string_value(json_object_get(alert, "profile"));
    const json_t *orig = json_object_get(alert, "original");
    cr_expect(clause && strcmp(clause, clause_name(want)) == 0,
              "%s:%d, profile %s, prefilter %s: expected the alert to name clause %s, it names %s",
              e->file, lineno, profile_name(p), mode, clause_name(want), clause ? clause : "none");
    cr_expect(prof && strcmp(prof, profile_name(p)) == 0,
              "%s:%d, profile %s, prefilter %s: expected the alert to name profile %s, it names %s",
              e->file, lineno, profile_name(p), mode, profile_name(p), prof ? prof : "none");
    cr_expect(json_is_string(orig) && json_string_length(orig) == len &&
                  memcmp(json_string_value(orig), line, len) == 0,
              "%s:%d, profile %s, prefilter %s: expected the alert to carry the original event "
              "byte for byte",
              e->file, lineno, profile_name(p), mode);
}

static void check_detector(const struct entry *e, const char *line, size_t len, int lineno)
{
    for (size_t k = 0; k < N_PROFILES; k++) {
        enum profile p = profiles[k];
        int want = e->expected[p] == CLAUSE_NONE ? 0 : 1;
        for (int prefilter = 1; prefilter >= 0; prefilter--) {
            const char *mode = prefilter ? "on" : "off";
            struct detector d;
            detector_init(&d, p, prefilter != 0, 0);
            json_t *alert = NULL;
            int rc = detector_run(&d, line, len, NULL, NOW_MS, &alert);
            cr_expect_eq(rc, want,
                         "%s:%d, profile %s, prefilter %s: expected %s (clause %s), "
                         "detector_run returned %d",
                         e->file, lineno, profile_name(p), mode, want ? "one alert" : "no alert",
                         clause_name(e->expected[p]), rc);
            cr_expect_eq(d.stats.alerts, (uint64_t)want,
                         "%s:%d, profile %s, prefilter %s: expected %d alert(s) counted, got %llu",
                         e->file, lineno, profile_name(p), mode, want,
                         (unsigned long long)d.stats.alerts);
            cr_expect_eq(d.stats.malformed, 0,
                         "%s:%d, profile %s, prefilter %s: expected a well-formed event, got: %s",
                         e->file, lineno, profile_name(p), mode, d.error);
            if (want) {
                cr_expect_eq(d.stats.candidates, 1,
                             "%s:%d: expected the prefilter to pass an event that alerts", e->file,
                             lineno);
            }
            if (rc == 1 && alert)
                check_alert(e, lineno, p, mode, alert, line, len);
            json_decref(alert);
        }
    }
}

Test(fixtures, every_fixture_gets_its_expected_clause_in_both_profiles)
{
    each_fixture_line(check_clause);
}

Test(fixtures, the_detection_path_alerts_exactly_when_a_clause_fires_with_the_prefilter_on_or_off)
{
    each_fixture_line(check_detector);
}

Test(fixtures, every_fixture_file_is_listed_in_verdicts_and_every_listed_file_exists)
{
    load_verdicts();
    bool seen[MAX_ENTRIES] = {false};
    DIR *dir = opendir(FIXTURE_DIR);
    cr_assert_not_null(dir, "cannot open %s", FIXTURE_DIR);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, VERDICTS_FILE) == 0)
            continue;
        cr_expect(is_fixture_name(de->d_name),
                  "%s: expected only *.ndjson fixtures and " VERDICTS_FILE " in %s", de->d_name,
                  FIXTURE_DIR);
        bool listed = false;
        for (size_t i = 0; i < n_entries; i++) {
            if (strcmp(entries[i].file, de->d_name) == 0) {
                seen[i] = listed = true;
                break;
            }
        }
        cr_expect(listed, "%s: expected a line in " VERDICTS_FILE ", found none", de->d_name);
    }
    closedir(dir);
    for (size_t i = 0; i < n_entries; i++) {
        cr_expect(seen[i], VERDICTS_FILE ":%d: expected %s in %s, it is not there",
                  entries[i].tsv_line, entries[i].file, FIXTURE_DIR);
    }
}

Test(fixtures, the_elastic_profile_expects_only_the_seed_clause_or_none)
{
    load_verdicts();
    for (size_t i = 0; i < n_entries; i++) {
        enum clause c = entries[i].expected[PROFILE_ELASTIC];
        cr_expect(c == CLAUSE_NONE || c == CLAUSE_SEED,
                  VERDICTS_FILE ":%d: %s: expected seed or none under elastic, listed %s",
                  entries[i].tsv_line, entries[i].file, clause_name(c));
    }
}

Test(fixtures, every_clause_is_expected_of_some_fixture)
{
    load_verdicts();
    for (size_t c = 0; c < N_CLAUSES; c++) {
        bool found = false;
        for (size_t i = 0; i < n_entries && !found; i++) {
            for (size_t k = 0; k < N_PROFILES; k++)
                found |= entries[i].expected[profiles[k]] == all_clauses[c];
        }
        cr_expect(found, "expected some fixture in " VERDICTS_FILE " to fire clause %s",
                  clause_name(all_clauses[c]));
    }
}
