/* Checks over the reference corpus of real events beside the checkout (../shared/corpus), when it
 * is there. A user's clone has none; the tests then skip, and tests/fixtures covers the same
 * shapes. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "../../support/testutil.h"
#include "pipeline/detect.h"

struct expectation {
    const char *file;
    enum clause elastic, extended;
};

static const struct expectation verdicts[] = {
    {"beats/background.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/endpoint-registry.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/m365-registry-raw.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/m365-registry-ecs.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/s1-registry-raw.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/s1-registry-ecs.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/sysmon13-raw.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/sysmon13-ecs.ndjson", CLAUSE_NONE, CLAUSE_NONE},
    {"beats/sysmon13-amsienable-raw.derived.ndjson", CLAUSE_SEED, CLAUSE_SEED},
    {"beats/sysmon13-amsienable-ecs.derived.ndjson", CLAUSE_SEED, CLAUSE_SEED},
    {"evtx/sysmon13-amsienable-evtxdump.ndjson", CLAUSE_SEED, CLAUSE_SEED},
    {"evtx/sysmon1-reg-add-amsienable-evtxdump.ndjson", CLAUSE_NONE, CLAUSE_NONE},
};

static char *corpus_file(const char *rel)
{
    const char *dir = tu_shared_corpus();
    if (!dir)
        cr_skip_test("no ../shared/corpus beside this checkout");
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char *text = tu_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    return text;
}

struct verdict_ctx {
    const struct expectation *e;
    int lines;
};

static void check_line(void *vctx, const char *line, size_t len, int lineno)
{
    struct verdict_ctx *ctx = vctx;
    ctx->lines++;
    json_error_t err;
    json_t *doc = json_loadb(line, len, 0, &err);
    cr_assert_not_null(doc, "%s:%d: %s", ctx->e->file, lineno, err.text);
    int a = detect_clause(doc, PROFILE_ELASTIC);
    int b = detect_clause(doc, PROFILE_EXTENDED);
    cr_expect_eq(a, (int)ctx->e->elastic, "%s:%d elastic: expected %s, got %s", ctx->e->file,
                 lineno, clause_name(ctx->e->elastic), clause_name((enum clause)a));
    cr_expect_eq(b, (int)ctx->e->extended, "%s:%d extended: expected %s, got %s", ctx->e->file,
                 lineno, clause_name(ctx->e->extended), clause_name((enum clause)b));
    /* The prefiltered path gives the same answer as the full one. */
    for (int p = PROFILE_ELASTIC; p <= PROFILE_EXTENDED; p++) {
        struct detector fast, full;
        detector_init(&fast, (enum profile)p, true, 0);
        detector_init(&full, (enum profile)p, false, 0);
        json_t *x = NULL, *y = NULL;
        int rf = detector_run(&fast, line, len, NULL, 0, &x);
        int rs = detector_run(&full, line, len, NULL, 0, &y);
        cr_expect_eq(rf, rs, "%s:%d: prefilter changed the verdict", ctx->e->file, lineno);
        json_decref(x);
        json_decref(y);
    }
    json_decref(doc);
}

Test(corpus, every_real_event_gets_its_verdict_in_both_profiles)
{
    for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
        char *text = corpus_file(verdicts[i].file);
        struct verdict_ctx ctx = {&verdicts[i], 0};
        tu_each_line(text, check_line, &ctx);
        cr_expect_gt(ctx.lines, 0, "%s has no events", verdicts[i].file);
        free(text);
    }
}

/* Normalizing the raw Winlogbeat 8 events must give what Elastic's pipeline gave. */
static const char *const compared[] = {
    "registry.path",
    "registry.hive",
    "registry.key",
    "registry.value",
    "registry.data.strings",
    "registry.data.type",
    "event.category",
    "event.type",
    "process.executable",
    "process.name",
    "process.pid",
    "process.entity_id",
    "user.id",
    "user.name",
    "user.domain",
    "@timestamp",
};

static json_t **load_lines(const char *rel, size_t *count)
{
    char *text = corpus_file(rel);
    json_t **docs = calloc(64, sizeof(*docs));
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line && n < 64; line = strtok(NULL, "\n")) {
        json_error_t err;
        docs[n] = json_loads(line, 0, &err);
        cr_assert_not_null(docs[n], "%s: %s", rel, err.text);
        n++;
    }
    free(text);
    *count = n;
    return docs;
}

static void compare_pair(const char *raw_file, const char *ecs_file)
{
    size_t nraw, necs;
    json_t **raw = load_lines(raw_file, &nraw);
    json_t **ecs = load_lines(ecs_file, &necs);
    cr_assert_eq(nraw, necs, "%s and %s differ in length", raw_file, ecs_file);
    for (size_t i = 0; i < nraw; i++) {
        struct norm a, b;
        cr_assert_eq(normalize(raw[i], PROFILE_ELASTIC, &a), 0);
        cr_assert_eq(normalize(ecs[i], PROFILE_ELASTIC, &b), 0);
        cr_assert_eq(a.shape, SHAPE_SYSMON_REG, "%s:%zu not recognised as Sysmon", raw_file, i + 1);
        for (size_t f = 0; f < sizeof(compared) / sizeof(compared[0]); f++) {
            json_t *x = json_object_get(a.view, compared[f]);
            json_t *y = json_object_get(b.view, compared[f]);
            char *xs = x ? json_dumps(x, JSON_ENCODE_ANY) : NULL;
            char *ys = y ? json_dumps(y, JSON_ENCODE_ANY) : NULL;
            cr_expect(json_equal(x, y) || (!x && !y), "%s:%zu %s: normalized %s, Elastic %s",
                      raw_file, i + 1, compared[f], xs ? xs : "(missing)", ys ? ys : "(missing)");
            free(xs);
            free(ys);
        }
        norm_free(&a);
        norm_free(&b);
        json_decref(raw[i]);
        json_decref(ecs[i]);
    }
    free(raw);
    free(ecs);
}

Test(corpus, normalizing_raw_sysmon_13_gives_elastics_pipeline_output_field_by_field)
{
    compare_pair("beats/sysmon13-raw.ndjson", "beats/sysmon13-ecs.ndjson");
}

Test(corpus, normalizing_the_raw_amsienable_event_gives_the_derived_ecs_event)
{
    compare_pair("beats/sysmon13-amsienable-raw.derived.ndjson",
                 "beats/sysmon13-amsienable-ecs.derived.ndjson");
}
