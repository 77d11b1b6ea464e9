/* Incident and ticketing formats: the generic alert document, PagerDuty Events v2, Opsgenie and
 * Jira (REST v2 issue create). Severity high / risk 73 maps to PagerDuty "error", Opsgenie "P2"
 * and Jira priority "High" (critical rules, risk 74 and more, would map to critical / P1 /
 * Highest). */
#include <stdio.h>
#include <string.h>

#include "server/formats.h"

json_t *fmt_generic(const struct target *t, const struct notice *n)
{
    (void)t;
    if (n->alert)
        return json_deep_copy(n->alert);
    return json_pack("{s:s, s:s, s:s, s:s}", "type", "summary", "id", n->id ? n->id : "", "title",
                     n->title ? n->title : "", "text", n->text ? n->text : "");
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

static json_t *details(const struct facts *f)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "rule", f->rule,
                     "host", f->host, "user", f->user, "process", f->process, "registry_path",
                     f->path, "registry_value", f->value, "registry_data", f->data, "event_time",
                     f->time, "clause", f->clause, "response", f->response, "risk_score",
                     f->risk_score);
}

static void summary_line(const struct facts *f, char *out, size_t len)
{
    snprintf(out, len, "%s on %s: %s set %s to %s by %s", f->rule, *f->host ? f->host : "?",
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
        json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:o}", "summary", fmt_text(line, 1024), "source",
                  *f.host ? f.host : "amsiwatch", "severity", pd_severity(&f), "component",
                  "windows-registry", "group", "amsi", "class", "defense-evasion", "custom_details",
                  details(&f));
    if (*f.time)
        json_object_set_new(payload, "timestamp", json_string(f.time));
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
    char msg[512], desc[4096];
    snprintf(msg, sizeof(msg), "%s on %s", f.rule, *f.host ? f.host : "?");
    summary_line(&f, desc, sizeof(desc));
    strncat(desc, "\n\nResponse: ", sizeof(desc) - strlen(desc) - 1);
    strncat(desc, f.response, sizeof(desc) - strlen(desc) - 1);
    return json_pack("{s:o, s:s, s:o, s:s, s:s, s:s, s:[s,s,s], s:o}", "message",
                     fmt_text(msg, 130), "alias", f.id, "description", fmt_text(desc, 15000),
                     "priority", og_priority(&f), "entity", *f.host ? f.host : "unknown", "source",
                     "amsiwatch", "tags", "amsiwatch", "defense-evasion", "T1562.001", "details",
                     details(&f));
}

json_t *fmt_jira(const struct target *t, const struct notice *n)
{
    char label[64];
    snprintf(label, sizeof(label), "alert-%s", n->id ? n->id : "");
    if (!n->alert)
        return json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:[s,s]}}", "fields", "project", "key",
                         t->jira_project, "summary", fmt_text(n->title ? n->title : "", 255),
                         "description", fmt_text(n->text ? n->text : "", 30000), "issuetype",
                         "name", t->jira_issue_type, "labels", "amsiwatch", label);
    struct facts f;
    facts_of(n->alert, &f);
    char summary[512], desc[8192];
    snprintf(summary, sizeof(summary), "[%s] %s on %s", f.severity, f.rule, *f.host ? f.host : "?");
    snprintf(desc, sizeof(desc),
             "h3. %s\n||Host|%s|\n||User|%s|\n||Process|%s|\n||Registry path|%s|\n||Value|%s|\n"
             "||Data|%s|\n||Event time|%s|\n||Clause|%s (%s profile)|\n||Alert id|%s|\n\n"
             "*Response:* %s",
             f.rule, f.host, f.user, f.process, f.path, f.value, f.data, f.time, f.clause,
             f.profile, f.id, f.response);
    return json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:[s,s]}}", "fields", "project", "key",
                     t->jira_project, "summary", fmt_text(summary, 255), "description",
                     fmt_text(desc, 30000), "issuetype", "name", t->jira_issue_type, "labels",
                     "amsiwatch", label);
}
