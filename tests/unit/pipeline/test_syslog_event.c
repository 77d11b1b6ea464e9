/* Syslog messages carrying Windows event log records become Winlogbeat-shaped documents on which
 * the rule answers as on Winlogbeat events. Fixtures: tests/fixtures/syslog (verdicts.tsv lists
 * each file's payload kind and verdicts); the reference corpus beside the checkout is read too
 * when it is there. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../support/testutil.h"
#include "pipeline/detect.h"
#include "pipeline/field.h"
#include "pipeline/prefilter.h"
#include "pipeline/syslog_event.h"
#include "protocol/syslog_framer.h"

#define FIXTURE_DIR   AMSI_SOURCE_DIR "/tests/fixtures/syslog"
#define VERDICTS_FILE "verdicts.tsv"
#define NOW_MS        1768378867000LL /* 2026-01-14T08:21:07Z */

/* ---- Helpers ------------------------------------------------------------------------------ */

static json_t *build(const char *line, size_t len, enum syslog_payload *kind)
{
    struct syslog_msg m;
    cr_assert_eq(syslog_parse(line, len, NOW_MS, &m), (long)len);
    json_t *doc = NULL;
    cr_assert_eq(syslog_event_from_msg(&m, &doc, kind), 0);
    cr_assert(json_is_object(doc));
    return doc;
}

static json_t *build_str(const char *line, enum syslog_payload *kind)
{
    return build(line, strlen(line), kind);
}

static void expect_str(const char *where, const json_t *doc, const char *path, const char *want)
{
    const char *got = field_str(doc, path);
    if (!want) {
        json_t *v = field_get(doc, path);
        cr_expect_null(v, "%s: %s should be absent", where, path);
        json_decref(v);
        return;
    }
    cr_expect(got && strcmp(got, want) == 0, "%s: %s: expected \"%s\", got \"%s\"", where, path,
              want, got ? got : "(none)");
}

static void expect_int(const char *where, const json_t *doc, const char *path, json_int_t want)
{
    json_t *v = field_get(doc, path);
    cr_expect(json_is_integer(v) && json_integer_value(v) == want,
              "%s: %s: expected the integer %lld", where, path, (long long)want);
    json_decref(v);
}

/* A field a document must hold: a string, an integer, or nothing. */
struct want_field {
    const char *path;
    bool is_int;
    const char *str; /* NULL (and not IS_INT): the field is absent */
    json_int_t num;
};

/* clang-format off */
#define STR(path, s)  {path, false, s, 0}
#define INT(path, n)  {path, true, NULL, n}
#define NO(path)      {path, false, NULL, 0}
/* clang-format on */

/* FIELDS ends at the first entry without a path. */
static void expect_fields(const char *where, const json_t *doc, const struct want_field *fields,
                          size_t max)
{
    for (size_t i = 0; i < max && fields[i].path; i++) {
        if (fields[i].is_int)
            expect_int(where, doc, fields[i].path, fields[i].num);
        else
            expect_str(where, doc, fields[i].path, fields[i].str);
    }
}

static bool clause_parse(const char *s, enum clause *out)
{
    for (int c = CLAUSE_NONE; c <= CLAUSE_OS_INFERRED; c++) {
        if (strcmp(s, clause_name((enum clause)c)) == 0) {
            *out = (enum clause)c;
            return true;
        }
    }
    return false;
}

/* Every check one alerting (or not) syslog line goes through: the document's clause in both
 * profiles, the same verdict through the JSON text and the prefiltered detector, and the raw
 * line passing syslog_event_candidate whenever it alerts. */
static void check_line(const char *where, const char *line, size_t len, enum clause elastic,
                       enum clause extended, const char *payload)
{
    enum syslog_payload kind;
    json_t *doc = build(line, len, &kind);
    if (payload)
        cr_expect_str_eq(syslog_event_payload_name(kind), payload, "%s: payload kind", where);
    int a = detect_clause(doc, PROFILE_ELASTIC);
    int b = detect_clause(doc, PROFILE_EXTENDED);
    cr_expect_eq(a, (int)elastic, "%s elastic: expected %s, got %s", where, clause_name(elastic),
                 clause_name((enum clause)a));
    cr_expect_eq(b, (int)extended, "%s extended: expected %s, got %s", where, clause_name(extended),
                 clause_name((enum clause)b));
    if (elastic != CLAUSE_NONE || extended != CLAUSE_NONE)
        cr_expect(syslog_event_candidate(line, len), "%s: the raw line must be a candidate", where);

    char *text = json_dumps(doc, JSON_COMPACT);
    cr_assert_not_null(text);
    for (int p = PROFILE_ELASTIC; p <= PROFILE_EXTENDED; p++) {
        struct detector d;
        detector_init(&d, (enum profile)p, true, 0);
        json_t *alert = NULL;
        int rc = detector_run(&d, text, strlen(text), NULL, NOW_MS, &alert);
        enum clause want = p == PROFILE_ELASTIC ? elastic : extended;
        cr_expect_eq(rc, want == CLAUSE_NONE ? 0 : 1, "%s: detector_run under %s gave %d", where,
                     profile_name((enum profile)p), rc);
        json_decref(alert);
    }
    free(text);
    json_decref(doc);
}

/* ---- Fixtures ---------------------------------------------------------------------------- */

struct entry {
    char file[128];
    char payload[32];
    enum clause elastic, extended;
};

#define MAX_ENTRIES 64
static struct entry entries[MAX_ENTRIES];
static size_t n_entries;

static void parse_verdict_line(void *ctx, const char *line, size_t len, int lineno)
{
    (void)ctx;
    if (line[0] == '#')
        return;
    char buf[512];
    cr_assert_lt(len, sizeof(buf));
    memcpy(buf, line, len);
    buf[len] = '\0';
    char *f[4];
    size_t n = 0;
    for (char *p = buf; p && n < 4;) {
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab)
            *tab++ = '\0';
        p = tab;
    }
    cr_assert_eq(n, 4, VERDICTS_FILE ":%d: expected 4 tab-separated fields", lineno);
    cr_assert_lt(n_entries, MAX_ENTRIES);
    struct entry *e = &entries[n_entries++];
    snprintf(e->file, sizeof(e->file), "%s", f[0]);
    snprintf(e->payload, sizeof(e->payload), "%s", f[1]);
    cr_assert(clause_parse(f[2], &e->elastic), VERDICTS_FILE ":%d: clause \"%s\"", lineno, f[2]);
    cr_assert(clause_parse(f[3], &e->extended), VERDICTS_FILE ":%d: clause \"%s\"", lineno, f[3]);
}

static void load_verdicts(void)
{
    char *text = tu_read_file(FIXTURE_DIR "/" VERDICTS_FILE, NULL);
    cr_assert_not_null(text, "cannot read " FIXTURE_DIR "/" VERDICTS_FILE);
    n_entries = 0;
    tu_each_line(text, parse_verdict_line, NULL);
    free(text);
    cr_assert_gt(n_entries, 0);
}

struct fixture_ctx {
    const struct entry *e;
    int lines;
};

static void check_fixture_line(void *vctx, const char *line, size_t len, int lineno)
{
    struct fixture_ctx *ctx = vctx;
    char where[256];
    snprintf(where, sizeof(where), "%s:%d", ctx->e->file, lineno);
    ctx->lines++;
    check_line(where, line, len, ctx->e->elastic, ctx->e->extended, ctx->e->payload);
}

Test(syslog_fixtures, every_fixture_gets_its_payload_kind_and_verdicts)
{
    load_verdicts();
    size_t alerts = 0, negatives = 0;
    for (size_t i = 0; i < n_entries; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, entries[i].file);
        char *text = tu_read_file(path, NULL);
        cr_assert_not_null(text, "cannot read %s", path);
        struct fixture_ctx ctx = {&entries[i], 0};
        tu_each_line(text, check_fixture_line, &ctx);
        free(text);
        cr_expect_gt(ctx.lines, 0, "%s holds no message", entries[i].file);
        if (entries[i].elastic == CLAUSE_SEED)
            alerts++;
        if (entries[i].elastic == CLAUSE_NONE && entries[i].extended == CLAUSE_NONE)
            negatives++;
    }
    cr_expect_geq(alerts, 5, "one alerting fixture per payload format at least");
    cr_expect_geq(negatives, 2);
}

Test(syslog_fixtures, every_file_in_the_directory_is_listed)
{
    load_verdicts();
    DIR *d = opendir(FIXTURE_DIR);
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".log") != 0)
            continue;
        bool listed = false;
        for (size_t i = 0; i < n_entries && !listed; i++)
            listed = strcmp(entries[i].file, de->d_name) == 0;
        cr_expect(listed, "%s is not in " VERDICTS_FILE, de->d_name);
    }
    closedir(d);
}

struct corpus_ctx {
    const char *file;
    int lines;
};

static void check_corpus_line(void *vctx, const char *line, size_t len, int lineno)
{
    struct corpus_ctx *ctx = vctx;
    char where[512];
    snprintf(where, sizeof(where), "corpus/syslog/%s:%d", ctx->file, lineno);
    ctx->lines++;
    check_line(where, line, len, CLAUSE_SEED, CLAUSE_SEED, NULL);
}

Test(syslog_fixtures, every_message_of_the_reference_corpus_alerts)
{
    const char *corpus = tu_shared_corpus();
    if (!corpus)
        cr_skip_test("no ../shared/corpus beside this checkout");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/syslog", corpus);
    DIR *d = opendir(dir);
    if (!d)
        cr_skip_test("no syslog directory in the reference corpus");
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".log") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char *text = tu_read_file(path, NULL);
        cr_assert_not_null(text, "cannot read %s", path);
        struct corpus_ctx ctx = {de->d_name, 0};
        tu_each_line(text, check_corpus_line, &ctx);
        free(text);
        cr_expect_gt(ctx.lines, 0, "%s holds no message", de->d_name);
        files++;
    }
    closedir(d);
    cr_expect_gt(files, 0);
}

/* ---- The shape of the documents ----------------------------------------------------------- */

static json_t *fixture_doc(const char *file, enum syslog_payload *kind)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, file);
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    cr_assert_not_null(text, "cannot read %s", path);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    json_t *doc = build(text, len, kind);
    free(text);
    return doc;
}

#define AMSI_ENABLE_KEY                                                                            \
    "HKU\\S-1-5-21-1111111111-2222222222-3333333333-1104\\Software\\Microsoft\\Windows "           \
    "Script\\Settings\\AmsiEnable"

/* A syslog line (a fixture's only line, or LINE) and the document it must give. */
struct doc_case {
    const char *name;
    const char *fixture, *line;
    const char *payload; /* the payload kind's name; NULL: not checked */
    struct want_field fields[24];
    const char *message_prefix;
    const char *no_keys[2];   /* top-level keys that must not be there */
    const char *only_keys[4]; /* when given, the document holds no other top-level key */
};

static const struct doc_case doc_cases[] = {
    {.name = "NXLog JSON maps to the Winlogbeat 8 shape",
     .fixture = "alert-nxlog-json-rfc5424.log",
     .payload = "nxlog-json",
     .fields = {STR("winlog.channel", "Microsoft-Windows-Sysmon/Operational"),
                STR("winlog.event_id", "13"),
                STR("winlog.provider_name", "Microsoft-Windows-Sysmon"),
                STR("winlog.computer_name", "WKS-FIN-07"), INT("winlog.record_id", 482210),
                INT("winlog.process.pid", 2968), STR("winlog.user.identifier", "S-1-5-18"),
                STR("host.name", "WKS-FIN-07"), STR("host.os.type", "windows"),
                STR("winlog.event_data.TargetObject", AMSI_ENABLE_KEY),
                STR("winlog.event_data.Details", "DWORD (0x00000000)"),
                STR("winlog.event_data.ProcessId", "4812"),
                STR("winlog.event_data.User", "CORP\\j.doe"),
                /* Sysmon's EventType overwrote NXLog's in the record; NXLog's own fields are
                 * not EventData. */
                STR("winlog.event_data.EventType", "SetValue"),
                NO("winlog.event_data.SourceModuleType"), NO("winlog.event_data.Hostname"),
                NO("winlog.event_data.EventID"), STR("syslog.appname", "Microsoft-Windows-Sysmon"),
                STR("@timestamp", "2026-01-14T08:21:07.415Z")},
     .message_prefix = "{" /* the message is the syslog MSG */},
    {.name = "NXLog's own EventType is never taken for event data",
     .line = "<14>1 - host nxlog - - - {\"EventID\":4624,\"Channel\":\"Security\",\"SourceName\":"
             "\"Microsoft-Windows-Security-Auditing\",\"EventType\":\"AUDIT_SUCCESS\","
             "\"TargetUserName\":\"alice\",\"LogonType\":3}",
     .fields = {NO("winlog.event_data.EventType"), STR("winlog.event_data.TargetUserName", "alice"),
                STR("winlog.event_data.LogonType", "3"), STR("winlog.event_id", "4624")}},
    {.name = "NXLog structured data values are unescaped",
     .fixture = "alert-nxlog-sd-rfc5424.log",
     .payload = "nxlog-sd",
     .fields = {STR("winlog.event_data.Image",
                    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
                STR("winlog.event_data.RuleName", "[lab] AMSI \"tamper\""),
                /* to_syslog_ietf() puts Hostname and SourceName in the header. */
                STR("winlog.computer_name", "WKS-FIN-07"),
                STR("winlog.provider_name", "Microsoft-Windows-Sysmon"),
                INT("winlog.record_id", 482210), STR("host.os.type", "windows")}},
    {.name = "Snare values with spaces are split on the known field names",
     .fixture = "alert-snare-rfc3164.log",
     .payload = "snare",
     .fields = {STR("winlog.channel", "Microsoft-Windows-Sysmon/Operational"),
                STR("winlog.event_id", "13"),
                STR("winlog.provider_name", "Microsoft-Windows-Sysmon"),
                STR("winlog.computer_name", "WKS-FIN-07"),
                STR("winlog.task", "Registry value set (rule: RegistryEvent)"),
                STR("winlog.event_data.TargetObject", AMSI_ENABLE_KEY),
                STR("winlog.event_data.Details", "DWORD (0x00000000)"),
                STR("winlog.event_data.UtcTime", "2026-01-14 08:21:07.412"),
                STR("winlog.event_data.RuleName", "-"),
                STR("winlog.event_data.User", "CORP\\j.doe"), STR("host.os.type", "windows")}},
    {.name = "Snare Security 4657 display names become event data names",
     .fixture = "extended-snare-security4657.log",
     .fields = {STR("winlog.event_data.ObjectValueName", "AmsiEnable"),
                STR("winlog.event_data.NewValue", "0"), STR("winlog.event_data.OldValue", "1"),
                STR("winlog.event_data.NewValueType", "REG_DWORD"),
                STR("winlog.event_data.SubjectUserName", "j.doe"),
                STR("winlog.event_data.ProcessName", "C:\\Windows\\System32\\reg.exe"),
                STR("winlog.event_data.ObjectName",
                    "\\REGISTRY\\USER\\S-1-5-21-1111111111-2222222222-3333333333-1104\\Software\\"
                    "Microsoft\\Windows Script\\Settings")}},
    {.name = "WinCollect key values and the message map",
     .fixture = "alert-wincollect-rfc3164.log",
     .payload = "wincollect",
     .fields = {STR("winlog.channel", "Microsoft-Windows-Sysmon/Operational"),
                STR("winlog.event_id", "13"), STR("winlog.computer_name", "WKS-FIN-07"),
                STR("host.name", "WKS-FIN-07"), STR("syslog.hostname", "10.20.30.47"),
                INT("winlog.record_id", 482210),
                STR("winlog.event_data.Details", "DWORD (0x00000000)"),
                STR("@timestamp", "2026-01-14T08:21:07.000Z")}},
    {.name = "Windows XML decodes entities and character references",
     .fixture = "alert-windows-xml-charrefs-rfc3164.log",
     .payload = "windows-xml",
     .fields = {STR("winlog.event_data.TargetObject", AMSI_ENABLE_KEY),
                STR("winlog.event_data.RuleName", "Lab & \"AMSI\" <tamper>"),
                STR("winlog.provider_name", "Microsoft-Windows-Sysmon"),
                STR("winlog.channel", "Microsoft-Windows-Sysmon/Operational"),
                STR("winlog.event_id", "13"), INT("winlog.record_id", 482210),
                STR("winlog.user.identifier", "S-1-5-18"), INT("winlog.process.thread.id", 4120),
                STR("@timestamp", "2026-01-14T08:21:07.415Z")}},
    {.name = "Windows XML unnamed Data and CDATA",
     .line = "<14>1 - h a - - - <Event xmlns=\"x\"><System><Provider Name=\"P\"/>"
             "<EventID Qualifiers=\"0\">7036</EventID><Channel>System</Channel>"
             "</System><EventData><Data>one &#x263A;</Data><Data/>"
             "<Data><![CDATA[a <b> & c]]></Data></EventData></Event>",
     .fields = {STR("winlog.event_id", "7036"), STR("winlog.event_data.param1", "one \xE2\x98\xBA"),
                STR("winlog.event_data.param3", "a <b> & c"), STR("host.os.type", "windows")}},
    {.name = "Windows XML: a reference to an entity no DTD declares stops the reading there",
     .line = "<14>1 - h a - - - <Event><System><EventID>13</EventID><Channel>c</Channel>"
             "</System><EventData><Data Name=\"a\">1</Data><Data Name=\"b\">&amsi;</Data>"
             "<Data Name=\"c\">3</Data></EventData></Event>",
     .payload = "windows-xml",
     .fields = {STR("winlog.event_data.a", "1"), NO("winlog.event_data.b"),
                NO("winlog.event_data.c")}},
    {.name = "names that are not UTF-8 are mended, not lost",
     .line = "<14>1 - h a - - - <Event xmlns=\"x\"><System><Provider Name=\"P\"/>"
             "<EventID>1</EventID></System><EventData>"
             "<Data Name=\"caf\xE9\">v</Data></EventData></Event>",
     .fields = {STR("winlog.event_data.caf\xEF\xBF\xBD", "v")}},
    {.name = "Beats-shaped JSON passes unchanged",
     .fixture = "alert-beats-json-rfc5424.log",
     .payload = "beats-json",
     .fields = {STR("@metadata.beat", "winlogbeat")},
     .no_keys = {"syslog", "message"}},
    {.name = "a non-Windows line gives message, host and syslog only",
     .fixture = "none-linux-sshd-rfc3164.log",
     .payload = "syslog",
     .fields = {STR("host.name", "bastion-02"), NO("host.os.type"), INT("syslog.facility", 4),
                INT("syslog.severity", 6), STR("syslog.appname", "sshd"),
                STR("syslog.procid", "30412"), STR("syslog.format", "rfc3164")},
     .message_prefix = "Accepted publickey",
     .no_keys = {"winlog"},
     .only_keys = {"message", "host", "syslog", "@timestamp"}},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

Test(syslog_event, each_line_gives_its_document)
{
    for (const struct doc_case *c = doc_cases; c < doc_cases + N_ELEMS(doc_cases); c++) {
        enum syslog_payload kind;
        json_t *doc = c->fixture ? fixture_doc(c->fixture, &kind) : build_str(c->line, &kind);
        if (c->payload)
            cr_expect_str_eq(syslog_event_payload_name(kind), c->payload, "%s: payload kind",
                             c->name);
        expect_fields(c->name, doc, c->fields, N_ELEMS(c->fields));
        if (c->message_prefix) {
            const char *msg = field_str(doc, "message");
            cr_expect(msg && strncmp(msg, c->message_prefix, strlen(c->message_prefix)) == 0,
                      "%s: message \"%s\" does not start with \"%s\"", c->name,
                      msg ? msg : "(none)", c->message_prefix);
        }
        for (size_t i = 0; i < N_ELEMS(c->no_keys) && c->no_keys[i]; i++)
            cr_expect_null(json_object_get(doc, c->no_keys[i]), "%s: %s should not be there",
                           c->name, c->no_keys[i]);
        if (c->only_keys[0]) {
            size_t known = 0;
            for (size_t i = 0; i < N_ELEMS(c->only_keys) && c->only_keys[i]; i++)
                known += json_object_get(doc, c->only_keys[i]) != NULL;
            cr_expect_eq(json_object_size(doc), known, "%s: nothing else in the document", c->name);
        }
        json_decref(doc);
    }
}

Test(syslog_event, invalid_utf8_in_a_record_is_mended_and_still_alerts)
{
    char *text = tu_read_file(FIXTURE_DIR "/alert-nxlog-json-rfc5424.log", NULL);
    cr_assert_not_null(text);
    /* A Latin-1 user name and a raw TAB inside a JSON string, as broken senders write them. */
    char *at = strstr(text, "CORP\\\\j.doe");
    cr_assert_not_null(at);
    at[6] = '\xE9';
    char *rule = strstr(text, "Impair Defenses");
    cr_assert_not_null(rule);
    rule[6] = '\t';
    size_t len = strlen(text);
    while (len && text[len - 1] == '\n')
        len--;
    check_line("mended nxlog json", text, len, CLAUSE_SEED, CLAUSE_SEED, "nxlog-json");
    json_t *doc = build(text, len, NULL);
    expect_str("mended nxlog json", doc, "winlog.event_data.User", "CORP\\\xEF\xBF\xBD.doe");
    cr_expect(json_is_true(json_object_get(json_object_get(doc, "syslog"), "invalid_utf8")));
    json_decref(doc);
    free(text);
}

Test(syslog_event, build_parses_and_builds_in_one_call)
{
    static const char line[] = "<14>Jan 14 08:21:07 WKS-FIN-07 app: hello";
    json_t *doc = NULL;
    cr_assert_eq(syslog_event_build(line, sizeof(line) - 1, NOW_MS, &doc), 0);
    expect_str("build", doc, "message", "hello");
    expect_str("build", doc, "@timestamp", "2026-01-14T08:21:07.000Z");
    json_decref(doc);
    cr_expect_eq(syslog_event_build(NULL, 3, NOW_MS, &doc), -EINVAL);
    cr_assert_eq(syslog_event_build(NULL, 0, NOW_MS, &doc), 0);
    expect_str("build", doc, "message", "");
    json_decref(doc);
}

/* ---- Source and prefilter ---------------------------------------------------------------- */

Test(syslog_event, the_source_object_describes_the_sender)
{
    static const char line[] = "<14>Jan 14 08:21:07 WKS-FIN-07 nxlog[22]: caf\xE9";
    struct syslog_msg m;
    syslog_parse(line, sizeof(line) - 1, NOW_MS, &m);
    struct syslog_origin o = {"192.0.2.7:51514", "tls", "CN=collector", SYSLOG_MSG_TRUNCATED};
    json_t *s = syslog_event_source(&o, &m, line, sizeof(line) - 1, SYSLOG_PAYLOAD_NONE);
    cr_assert_not_null(s);
    static const struct want_field fields[] = {
        STR("type", "syslog"),
        STR("peer", "192.0.2.7:51514"),
        STR("transport", "tls"),
        STR("tls_subject", "CN=collector"),
        STR("hostname", "WKS-FIN-07"),
        STR("appname", "nxlog"),
        STR("payload", "syslog"),
        INT("facility", 1),
        INT("severity", 6),
        INT("priority", 14),
        STR("raw", "<14>Jan 14 08:21:07 WKS-FIN-07 nxlog[22]: caf\xEF\xBF\xBD"),
    };
    expect_fields("source", s, fields, N_ELEMS(fields));
    cr_expect(json_is_true(json_object_get(s, "truncated")));
    cr_expect(json_is_true(json_object_get(s, "invalid_utf8")));
    json_decref(s);
}

static const char xml_charrefs[] = "<14>1 - h a - - - <Event><Data Name=\"TargetObject\">HKU\\x\\"
                                   "&#65;msi&#x45;nable</Data></Event>";

/* Raw lines and whether syslog_event_candidate must let them through (or may leave them out). */
static const struct candidate_case {
    const char *name;
    const char *line;
    bool want;
} candidate_cases[] = {
    {"AmsiEnable spelled with XML character references", xml_charrefs, true},
    {"AMSIENABLE in capitals", "x AMSIENABLE y", true},
    {"AmsiEnable with a JSON \\u escape", "{\"v\":\"\\u0041msiEnable\"}", true},
    {"an sshd line", "<13>Jan  1 00:00:00 host sshd[1]: hello", false},
    {"a lone ampersand", "&", false},
};

Test(syslog_event, xml_character_references_keep_a_message_a_candidate)
{
    cr_expect_not(prefilter_candidate(xml_charrefs, sizeof(xml_charrefs) - 1),
                  "the byte prefilter alone cannot see it");
    for (const struct candidate_case *c = candidate_cases;
         c < candidate_cases + N_ELEMS(candidate_cases); c++) {
        bool got = syslog_event_candidate(c->line, strlen(c->line));
        cr_expect_eq(got, c->want, "%s: candidate %d, wanted %d", c->name, got, c->want);
    }
}

Test(syslog_event, payload_names_are_stable)
{
    static const struct {
        enum syslog_payload kind;
        const char *name;
    } names[] = {
        {SYSLOG_PAYLOAD_NONE, "syslog"},           {SYSLOG_PAYLOAD_BEATS_JSON, "beats-json"},
        {SYSLOG_PAYLOAD_NXLOG_JSON, "nxlog-json"}, {SYSLOG_PAYLOAD_NXLOG_SD, "nxlog-sd"},
        {SYSLOG_PAYLOAD_SNARE, "snare"},           {SYSLOG_PAYLOAD_WINCOLLECT, "wincollect"},
        {SYSLOG_PAYLOAD_XML, "windows-xml"},
    };
    for (size_t i = 0; i < N_ELEMS(names); i++) {
        const char *got = syslog_event_payload_name(names[i].kind);
        cr_expect_str_eq(got, names[i].name, "payload kind %d: \"%s\", wanted \"%s\"",
                         (int)names[i].kind, got, names[i].name);
    }
}

Test(syslog_event, arbitrary_bytes_always_give_a_document)
{
    unsigned seed = 777;
    char s[512];
    static const char *const starts[] = {
        "<14>1 - h a - - - {", "<14>1 - h a - - [NXLOG@14506 EventID=\"13\"",
        "<13>Jan  1 00:00:00 h MSWinEventLog\t", "<13>Jan  1 00:00:00 h AgentDevice=WindowsLog\t",
        "<14>1 - h a - - - <Event xmlns=\"x\"><System>"};
    static const char alphabet[] = "<>/=\"'\t &#x;[]{}:,\\abcEventIDData Name123\xE9\xC3\xA9";
    for (int round = 0; round < 3000; round++) {
        const char *st = starts[round % 5];
        size_t n = strlen(st);
        memcpy(s, st, n);
        size_t extra = (seed = seed * 1103515245u + 12345u) % (sizeof(s) - n);
        for (size_t i = 0; i < extra; i++) {
            seed = seed * 1103515245u + 12345u;
            s[n++] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        json_t *doc = NULL;
        cr_assert_eq(syslog_event_build(s, n, NOW_MS, &doc), 0, "round %d", round);
        cr_assert(json_is_object(doc));
        cr_assert_geq(detect_clause(doc, PROFILE_EXTENDED), 0);
        json_decref(doc);
    }
}

Test(syslog_event, windows_xml_cut_short_keeps_the_fields_before_the_cut)
{
    /* As the framer delivers a record over syslog.max-message: cut inside the Data after
     * TargetObject. The fields before the cut are mapped and the rule reads them. */
    char *text = tu_read_file(FIXTURE_DIR "/alert-windows-xml-rfc5424.log", NULL);
    cr_assert_not_null(text);
    char *cut = strstr(text, "<Data Name=\"User\">CORP");
    cr_assert_not_null(cut);
    enum syslog_payload kind;
    json_t *doc = build(text, (size_t)(cut - text) + 22, &kind);
    free(text);
    cr_expect_eq(kind, SYSLOG_PAYLOAD_XML);
    expect_str("cut short", doc, "winlog.event_id", "13");
    expect_str("cut short", doc, "winlog.event_data.Details", "DWORD (0x00000000)");
    expect_str("cut short", doc, "winlog.event_data.User", NULL);
    cr_expect_eq(detect_clause(doc, PROFILE_ELASTIC), CLAUSE_SEED);
    json_decref(doc);
}
