/* Incident and ticketing formats: the generic alert document, PagerDuty Events v2, Opsgenie and
 * Jira (REST v2 issue create). Severity high / risk 73 maps to PagerDuty "error", Opsgenie "P2"
 * and Jira priority "High" (critical rules, risk 74 and more, would map to critical / P1 /
 * Highest). */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "notify/formats.h"

json_t *fmt_generic(const struct target *t, const struct notice *n)
{
    (void)t;
    if (n->alert)
        return json_deep_copy(n->alert);
    return json_pack("{s:s, s:s, s:o, s:o}", "type", "summary", "id", n->id ? n->id : "", "title",
                     fmt_text(n->title ? n->title : "", 4096), "text",
                     fmt_text(n->text ? n->text : "", 65536));
}

static const char *pd_severity(const struct facts *f)
{
    if (f->risk_score >= 74 || strcmp(f->severity, "critical") == 0)
        return "critical";
    if (strcmp(f->severity, "high") == 0 || f->risk_score >= 47)
        return "error";
    if (strcmp(f->severity, "medium") == 0 || f->risk_score >= 21)
        return "warning";
    return "info";
}

static const char *og_priority(const struct facts *f)
{
    const char *s = pd_severity(f);
    return !strcmp(s, "critical")  ? "P1"
           : !strcmp(s, "error")   ? "P2"
           : !strcmp(s, "warning") ? "P3"
                                   : "P4";
}

/* The facts as a map of strings (Opsgenie wants strings only), each cut to EACH bytes so that the
 * whole map stays within the targets' limits (Opsgenie: 8,000 characters). */
static json_t *details(const struct facts *f, size_t each)
{
    char risk[16];
    fmt_line(risk, sizeof(risk), "%d", f->risk_score);
    const char *kv[][2] = {
        {"rule", f->rule},          {"severity", f->severity},
        {"risk_score", risk},       {"host", f->host},
        {"user", f->user},          {"process", f->process},
        {"registry_path", f->path}, {"registry_value", f->value},
        {"registry_data", f->data}, {"event_time", f->time},
        {"clause", f->clause},      {"alert_id", f->id},
        {"response", f->response},
    };
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof(kv) / sizeof(kv[0]); i++)
        json_object_set_new(o, kv[i][0], fmt_text(kv[i][1] ? kv[i][1] : "", each));
    return o;
}

/* Appends LABEL, VALUE (cut to EACH bytes) and END to B. */
static void add_line(struct buf *b, const char *label, const char *value, size_t each,
                     const char *end)
{
    json_t *v = fmt_text(value ? value : "", each);
    buf_puts(b, label);
    buf_append(b, json_string_value(v), json_string_length(v));
    buf_puts(b, end);
    json_decref(v);
}

static void summary_line(const struct facts *f, char *out, size_t len)
{
    fmt_line(out, len, "%s on %s: %s set %s to %s by %s", f->rule, *f->host ? f->host : "?",
             *f->user ? f->user : "?", *f->path ? f->path : f->value, *f->data ? f->data : "?",
             *f->process ? f->process : "?");
}

json_t *fmt_pagerduty(const struct target *t, const struct notice *n)
{
    if (!n->alert)
        return json_pack("{s:s, s:s, s:s, s:{s:o, s:s, s:s}}", "routing_key", t->routing_key,
                         "event_action", "trigger", "dedup_key", n->id ? n->id : "", "payload",
                         "summary", fmt_text(n->title ? n->title : "", 1024), "source", "amsiwatch",
                         "severity", "warning");
    struct facts f;
    facts_of(n->alert, &f);
    char line[2048];
    summary_line(&f, line, sizeof(line));
    json_t *payload =
        json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:o}", "summary", fmt_text(line, 1024), "source",
                  fmt_text(*f.host ? f.host : "amsiwatch", 255), "severity", pd_severity(&f),
                  "component", "windows-registry", "group", "amsi", "class", "defense-evasion",
                  "custom_details", details(&f, 1024));
    if (*f.time)
        json_object_set_new(payload, "timestamp", fmt_text(f.time, 64));
    return json_pack("{s:s, s:s, s:s, s:o}", "routing_key", t->routing_key, "event_action",
                     "trigger", "dedup_key", f.id, "payload", payload);
}

json_t *fmt_opsgenie(const struct target *t, const struct notice *n)
{
    (void)t;
    if (!n->alert)
        return json_pack("{s:o, s:s, s:o, s:s, s:s}", "message",
                         fmt_text(n->title ? n->title : "", 130), "alias", n->id ? n->id : "",
                         "description", fmt_text(n->text ? n->text : "", 15000), "priority", "P3",
                         "source", "amsiwatch");
    struct facts f;
    facts_of(n->alert, &f);
    char msg[512];
    fmt_line(msg, sizeof(msg), "%s on %s", f.rule, *f.host ? f.host : "?");
    struct buf b;
    buf_init(&b, 16000);
    add_line(&b, "Host: ", f.host, 1000, "\n");
    add_line(&b, "User: ", f.user, 1000, "\n");
    add_line(&b, "Process: ", f.process, 1000, "\n");
    add_line(&b, "Registry path: ", f.path, 2000, "\n");
    add_line(&b, "Data: ", f.data, 500, "\n");
    add_line(&b, "Event time: ", f.time, 100, "\n");
    add_line(&b, "Response: ", f.response, 2000, "\n");
    json_t *out = json_pack(
        "{s:o, s:s, s:o, s:s, s:o, s:s, s:[s,s,s], s:o}", "message", fmt_text(msg, 130), "alias",
        f.id, "description", fmt_text(b.data ? b.data : "", 15000), "priority", og_priority(&f),
        "entity", fmt_text(*f.host ? f.host : "unknown", 512), "source", "amsiwatch", "tags",
        "amsiwatch", "defense-evasion", "T1562.001", "details", details(&f, 500));
    buf_free(&b);
    return out;
}

json_t *fmt_jira(const struct target *t, const struct notice *n)
{
    char label[64];
    fmt_line(label, sizeof(label), "alert-%s", n->id ? n->id : "");
    if (!n->alert)
        return json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:[s,s]}}", "fields", "project", "key",
                         t->jira_project, "summary", fmt_text(n->title ? n->title : "", 255),
                         "description", fmt_text(n->text ? n->text : "", 30000), "issuetype",
                         "name", t->jira_issue_type, "labels", "amsiwatch", label);
    struct facts f;
    facts_of(n->alert, &f);
    char summary[512], head[600];
    fmt_line(summary, sizeof(summary), "[%s] %s on %s", f.severity, f.rule, *f.host ? f.host : "?");
    struct buf b;
    buf_init(&b, 32000);
    fmt_line(head, sizeof(head), "h3. %s\n", f.rule);
    buf_puts(&b, head);
    /* Each fact is cut on its own so that a huge one never pushes the others out. */
    add_line(&b, "||Host|", f.host, 1000, "|\n");
    add_line(&b, "||User|", f.user, 1000, "|\n");
    add_line(&b, "||Process|", f.process, 1000, "|\n");
    add_line(&b, "||Registry path|", f.path, 4000, "|\n");
    add_line(&b, "||Value|", f.value, 1000, "|\n");
    add_line(&b, "||Data|", f.data, 500, "|\n");
    add_line(&b, "||Event time|", f.time, 100, "|\n");
    add_line(&b, "||Clause|", f.clause, 100, "|\n");
    add_line(&b, "||Profile|", f.profile, 100, "|\n");
    add_line(&b, "||Alert id|", f.id, 100, "|\n");
    add_line(&b, "\n*Response:* ", f.response, 4000, "\n");
    json_t *out = json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:[s,s]}}", "fields", "project", "key",
                            t->jira_project, "summary", fmt_text(summary, 255), "description",
                            fmt_text(b.data ? b.data : "", 30000), "issuetype", "name",
                            t->jira_issue_type, "labels", "amsiwatch", label);
    buf_free(&b);
    return out;
}
