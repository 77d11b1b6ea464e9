/* The message formats: the facts of an alert, the text helpers every format cuts with, the chat
 * formats (Slack text + blocks, Microsoft Teams Workflows with an Adaptive Card 1.2, Discord
 * content
 * + embeds, Mattermost text + attachments), the incident and ticketing formats (the generic alert
 * document, PagerDuty Events v2, Opsgenie, Jira REST v2 issue create), and the table of them all at
 * the end. Severity high / risk 73 maps to PagerDuty "error", Opsgenie "P2" and Jira priority
 * "High" (critical rules, risk 74 and more, would map to critical / P1 / Highest). */
#include "notify/formats.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

/* ---- The facts of an alert ---- */

static const char *field(const json_t *alert, const char *obj, const char *key)
{
    const json_t *o = obj ? json_object_get(alert, obj) : alert;
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void facts_of(const json_t *alert, struct facts *f)
{
    memset(f, 0, sizeof(*f));
    const json_t *rule = json_object_get(alert, "rule");
    f->rule = json_string_value(json_object_get(rule, "name"));
    f->severity = json_string_value(json_object_get(rule, "severity"));
    f->response = json_string_value(json_object_get(rule, "response"));
    f->risk_score = (int)json_integer_value(json_object_get(rule, "risk_score"));
    if (!f->rule)
        f->rule = "";
    if (!f->severity)
        f->severity = "";
    if (!f->response)
        f->response = "";
    f->host = field(alert, "fields", "host.name");
    if (!*f->host)
        f->host = field(alert, "fields", "host.hostname");
    f->user = field(alert, "fields", "user.name");
    f->process = field(alert, "fields", "process.executable");
    f->path = field(alert, "fields", "registry.path");
    f->value = field(alert, "fields", "registry.value");
    f->time = field(alert, "fields", "@timestamp");
    if (!*f->time)
        f->time = field(alert, NULL, "@timestamp");
    f->clause = field(alert, NULL, "clause");
    f->profile = field(alert, NULL, "profile");
    f->id = field(alert, NULL, "alert_id");
    const json_t *data = json_object_get(json_object_get(alert, "fields"), "registry.data.strings");
    if (!data)
        data = json_object_get(json_object_get(alert, "matched"), "registry.data.strings");
    /* The elements joined with ", " and cut between two characters (never inside one: the
     * elements after "0" are the sender's choice, any length, any bytes). */
    f->data[0] = '\0';
    bool cut = false;
    if (json_is_array(data)) {
        size_t i;
        const json_t *e;
        json_array_foreach(data, i, e)
        {
            const char *s = json_string_value(e);
            if (!s || cut)
                continue;
            if (f->data[0])
                utf8_append(f->data, sizeof(f->data), ", ", 2, &cut);
            if (!cut)
                utf8_append(f->data, sizeof(f->data), s, json_string_length(e), &cut);
        }
    } else if (json_is_string(data)) {
        utf8_append(f->data, sizeof(f->data), json_string_value(data), json_string_length(data),
                    &cut);
    }
    if (cut) { /* room for an ellipsis (3 bytes) at the end */
        size_t len = utf8_cut_len(f->data, strlen(f->data), sizeof(f->data) - 4);
        memcpy(f->data + len, ELLIPSIS, sizeof(ELLIPSIS));
    }
}

/* ---- Text ---- */

/* A new JSON string of S: bytes that are not UTF-8 as U+FFFD, and when that is more than MAX
 * bytes (MAX > 3), cut between two characters to make room for an ellipsis. NULL only when out
 * of memory. Every text a format puts in a body goes through it (jansson refuses a string that
 * is not UTF-8, and the whole body with it). */
static json_t *fmt_text(const char *s, size_t max)
{
    size_t len = strlen(s);
    size_t mended = utf8_mended_len(s, len);
    if (mended == len && len <= max)
        return json_stringn(s, len); /* the usual case: valid and short enough */
    /* Mended (bad bytes as U+FFFD) and, when too long, cut between two characters with an
     * ellipsis in the room left. */
    size_t room = mended <= max ? mended : max > 3 ? max - 3 : 0;
    char *buf = malloc(room + sizeof(ELLIPSIS));
    if (!buf)
        return NULL;
    size_t n = utf8_copy(buf, room + 1, s, len, NULL);
    if (mended > max) {
        memcpy(buf + n, ELLIPSIS, sizeof(ELLIPSIS));
        n += sizeof(ELLIPSIS) - 1;
    }
    json_t *v = json_stringn(buf, n);
    free(buf);
    return v;
}

/* snprintf into OUT (LEN bytes), then, when it cut the text, back to the last whole character. */
__attribute__((format(printf, 3, 4))) static void fmt_line(char *out, size_t len, const char *fmt,
                                                           ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
    utf8_trim_partial(out);
}

/* ---- Chat formats ---- */

struct pair {
    const char *title, *value;
};

/* The facts a responder reads first, in order; empty ones are left out. */
static size_t fact_pairs(const struct facts *f, struct pair *out)
{
    const struct pair all[] = {
        {"Host", f->host},   {"User", f->user}, {"Process", f->process}, {"Registry path", f->path},
        {"Value", f->value}, {"Data", f->data}, {"Event time", f->time}, {"Clause", f->clause},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i].value && all[i].value[0])
            out[n++] = all[i];
    }
    return n;
}

/* How many of NP facts a format shows. */
static size_t shown(const struct format *fmt, size_t np)
{
    return fmt->limits.fields && np > fmt->limits.fields ? fmt->limits.fields : np;
}

static void headline(const struct notice *n, char *out, size_t len)
{
    const struct facts *f = n->facts;
    if (!n->alert)
        fmt_line(out, len, "%s", n->title ? n->title : "amsiwatch");
    else
        fmt_line(out, len, "[%s] %s on %s", f->severity, f->rule,
                 *f->host ? f->host : "unknown host");
}

static json_t *fmt_slack(const struct format *fmt, const struct target *t, const struct notice *n)
{
    (void)t;
    const struct format_limits *lim = &fmt->limits;
    const struct facts *f = n->facts;
    char head[512];
    headline(n, head, sizeof(head));
    json_t *blocks = json_array();
    json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:o}}", "type", "header", "text", "type",
                                            "plain_text", "text", fmt_text(head, lim->title)));
    if (n->alert) {
        struct pair p[8];
        size_t np = shown(fmt, fact_pairs(f, p));
        json_t *fields = json_array();
        for (size_t i = 0; i < np; i++) {
            char cell[2200];
            fmt_line(cell, sizeof(cell), "*%s*\n%s", p[i].title, p[i].value);
            json_array_append_new(fields, json_pack("{s:s, s:o}", "type", "mrkdwn", "text",
                                                    fmt_text(cell, lim->field)));
        }
        json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "fields", fields));
        char resp[3200];
        fmt_line(resp, sizeof(resp), "*Response*\n%s", f->response);
        json_array_append_new(blocks,
                              json_pack("{s:s, s:{s:s, s:o}}", "type", "section", "text", "type",
                                        "mrkdwn", "text", fmt_text(resp, lim->text)));
        char ctx[256];
        fmt_line(ctx, sizeof(ctx), "alert %s | profile %s | risk %d", f->id, f->profile,
                 f->risk_score);
        json_array_append_new(blocks,
                              json_pack("{s:s, s:[{s:s, s:o}]}", "type", "context", "elements",
                                        "type", "mrkdwn", "text", fmt_text(ctx, sizeof(ctx))));
    } else {
        json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:o}}", "type", "section", "text",
                                                "type", "mrkdwn", "text",
                                                fmt_text(n->text ? n->text : "", lim->text)));
    }
    return json_pack("{s:o, s:o}", "text", fmt_text(head, lim->text), "blocks", blocks);
}

static json_t *fmt_teams(const struct format *fmt, const struct target *t, const struct notice *n)
{
    (void)t;
    const struct format_limits *lim = &fmt->limits;
    const struct facts *f = n->facts;
    char head[512];
    headline(n, head, sizeof(head));
    json_t *body = json_array();
    json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "type", "TextBlock",
                                          "size", "Large", "weight", "Bolder", "color",
                                          n->alert ? "Attention" : "Warning", "wrap", 1, "text",
                                          fmt_text(head, lim->title)));
    if (n->alert) {
        struct pair p[8];
        size_t np = shown(fmt, fact_pairs(f, p));
        json_t *facts = json_array();
        for (size_t i = 0; i < np; i++)
            json_array_append_new(facts, json_pack("{s:s, s:o}", "title", p[i].title, "value",
                                                   fmt_text(p[i].value, lim->field)));
        json_array_append_new(body, json_pack("{s:s, s:o}", "type", "FactSet", "facts", facts));
        json_array_append_new(body, json_pack("{s:s, s:b, s:o}", "type", "TextBlock", "wrap", 1,
                                              "text", fmt_text(f->response, 2000)));
        char ctx[256];
        fmt_line(ctx, sizeof(ctx), "alert %s, profile %s, risk score %d", f->id, f->profile,
                 f->risk_score);
        json_array_append_new(body,
                              json_pack("{s:s, s:b, s:b, s:o}", "type", "TextBlock", "wrap", 1,
                                        "isSubtle", 1, "text", fmt_text(ctx, sizeof(ctx))));
    } else {
        json_array_append_new(body, json_pack("{s:s, s:b, s:o}", "type", "TextBlock", "wrap", 1,
                                              "text", fmt_text(n->text ? n->text : "", lim->text)));
    }
    json_t *card = json_pack("{s:s, s:s, s:s, s:o}", "$schema",
                             "http://adaptivecards.io/schemas/adaptive-card.json", "type",
                             "AdaptiveCard", "version", "1.2", "body", body);
    return json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments", "contentType",
                     "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
}

static json_t *fmt_discord(const struct format *fmt, const struct target *t, const struct notice *n)
{
    (void)t;
    const struct format_limits *lim = &fmt->limits;
    const struct facts *f = n->facts;
    char head[512];
    headline(n, head, sizeof(head));
    json_t *embed = json_pack("{s:o, s:i}", "title", fmt_text(head, lim->title), "color",
                              n->alert ? 0xE74C3C : 0xF1C40F);
    if (n->alert) {
        struct pair p[8];
        size_t np = shown(fmt, fact_pairs(f, p));
        json_t *fields = json_array();
        for (size_t i = 0; i < np; i++)
            json_array_append_new(fields, json_pack("{s:s, s:o, s:b}", "name", p[i].title, "value",
                                                    fmt_text(p[i].value, lim->field), "inline",
                                                    strlen(p[i].value) < 40));
        json_object_set_new(embed, "fields", fields);
        json_object_set_new(embed, "description", fmt_text(f->response, lim->text));
        char foot[256];
        fmt_line(foot, sizeof(foot), "alert %s | profile %s | risk %d", f->id, f->profile,
                 f->risk_score);
        json_object_set_new(embed, "footer",
                            json_pack("{s:o}", "text", fmt_text(foot, sizeof(foot))));
    } else {
        json_object_set_new(embed, "description", fmt_text(n->text ? n->text : "", lim->text));
    }
    /* The message's content: at most 2,000 characters. */
    return json_pack("{s:o, s:[o]}", "content", fmt_text(head, 2000), "embeds", embed);
}

static json_t *fmt_mattermost(const struct format *fmt, const struct target *t,
                              const struct notice *n)
{
    (void)t;
    const struct format_limits *lim = &fmt->limits;
    const struct facts *f = n->facts;
    char head[512];
    headline(n, head, sizeof(head));
    json_t *att = json_pack("{s:o, s:s, s:o}", "fallback", fmt_text(head, lim->title), "color",
                            n->alert ? "#d00000" : "#e0a000", "title", fmt_text(head, lim->title));
    if (n->alert) {
        struct pair p[8];
        size_t np = shown(fmt, fact_pairs(f, p));
        json_t *fields = json_array();
        for (size_t i = 0; i < np; i++)
            json_array_append_new(fields, json_pack("{s:b, s:s, s:o}", "short",
                                                    strlen(p[i].value) < 40, "title", p[i].title,
                                                    "value", fmt_text(p[i].value, lim->field)));
        json_object_set_new(att, "fields", fields);
        json_object_set_new(att, "text", fmt_text(f->response, lim->text));
        char foot[256];
        fmt_line(foot, sizeof(foot), "alert %s | profile %s | risk %d", f->id, f->profile,
                 f->risk_score);
        json_object_set_new(att, "footer", fmt_text(foot, sizeof(foot)));
    } else {
        json_object_set_new(att, "text", fmt_text(n->text ? n->text : "", lim->text));
    }
    return json_pack("{s:o, s:[o]}", "text", fmt_text(head, lim->text), "attachments", att);
}

/* ---- Incident and ticketing formats ---- */

static json_t *fmt_generic(const struct format *fmt, const struct target *t, const struct notice *n)
{
    (void)t;
    if (n->alert)
        return json_deep_copy(n->alert);
    return json_pack("{s:s, s:s, s:o, s:o}", "type", "summary", "id", n->id ? n->id : "", "title",
                     fmt_text(n->title ? n->title : "", fmt->limits.title), "text",
                     fmt_text(n->text ? n->text : "", fmt->limits.text));
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

static json_t *fmt_pagerduty(const struct format *fmt, const struct target *t,
                             const struct notice *n)
{
    const struct format_limits *lim = &fmt->limits;
    if (!n->alert)
        return json_pack("{s:s, s:s, s:s, s:{s:o, s:s, s:s}}", "routing_key", t->routing_key,
                         "event_action", "trigger", "dedup_key", n->id ? n->id : "", "payload",
                         "summary", fmt_text(n->title ? n->title : "", lim->title), "source",
                         "amsiwatch", "severity", "warning");
    const struct facts *f = n->facts;
    char line[2048];
    summary_line(f, line, sizeof(line));
    json_t *payload =
        json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:o}", "summary", fmt_text(line, lim->title),
                  "source", fmt_text(*f->host ? f->host : "amsiwatch", 255), "severity",
                  pd_severity(f), "component", "windows-registry", "group", "amsi", "class",
                  "defense-evasion", "custom_details", details(f, lim->field));
    if (*f->time)
        json_object_set_new(payload, "timestamp", fmt_text(f->time, 64));
    return json_pack("{s:s, s:s, s:s, s:o}", "routing_key", t->routing_key, "event_action",
                     "trigger", "dedup_key", f->id, "payload", payload);
}

static json_t *fmt_opsgenie(const struct format *fmt, const struct target *t,
                            const struct notice *n)
{
    (void)t;
    const struct format_limits *lim = &fmt->limits;
    if (!n->alert)
        return json_pack(
            "{s:o, s:s, s:o, s:s, s:s}", "message", fmt_text(n->title ? n->title : "", lim->title),
            "alias", n->id ? n->id : "", "description", fmt_text(n->text ? n->text : "", lim->text),
            "priority", "P3", "source", "amsiwatch");
    const struct facts *f = n->facts;
    char msg[512];
    fmt_line(msg, sizeof(msg), "%s on %s", f->rule, *f->host ? f->host : "?");
    struct buf b;
    buf_init(&b, 16000);
    add_line(&b, "Host: ", f->host, 1000, "\n");
    add_line(&b, "User: ", f->user, 1000, "\n");
    add_line(&b, "Process: ", f->process, 1000, "\n");
    add_line(&b, "Registry path: ", f->path, 2000, "\n");
    add_line(&b, "Data: ", f->data, 500, "\n");
    add_line(&b, "Event time: ", f->time, 100, "\n");
    add_line(&b, "Response: ", f->response, 2000, "\n");
    json_t *out =
        json_pack("{s:o, s:s, s:o, s:s, s:o, s:s, s:[s,s,s], s:o}", "message",
                  fmt_text(msg, lim->title), "alias", f->id, "description",
                  fmt_text(b.data ? b.data : "", lim->text), "priority", og_priority(f), "entity",
                  fmt_text(*f->host ? f->host : "unknown", 512), "source", "amsiwatch", "tags",
                  "amsiwatch", "defense-evasion", "T1562.001", "details", details(f, lim->field));
    buf_free(&b);
    return out;
}

static json_t *fmt_jira(const struct format *fmt, const struct target *t, const struct notice *n)
{
    const struct format_limits *lim = &fmt->limits;
    char label[64];
    fmt_line(label, sizeof(label), "alert-%s", n->id ? n->id : "");
    if (!n->alert)
        return json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:[s,s]}}", "fields", "project", "key",
                         t->jira_project, "summary", fmt_text(n->title ? n->title : "", lim->title),
                         "description", fmt_text(n->text ? n->text : "", lim->text), "issuetype",
                         "name", t->jira_issue_type, "labels", "amsiwatch", label);
    const struct facts *f = n->facts;
    char summary[512], head[600];
    fmt_line(summary, sizeof(summary), "[%s] %s on %s", f->severity, f->rule,
             *f->host ? f->host : "?");
    struct buf b;
    buf_init(&b, 32000);
    fmt_line(head, sizeof(head), "h3. %s\n", f->rule);
    buf_puts(&b, head);
    /* Each fact is cut on its own so that a huge one never pushes the others out. */
    add_line(&b, "||Host|", f->host, 1000, "|\n");
    add_line(&b, "||User|", f->user, 1000, "|\n");
    add_line(&b, "||Process|", f->process, 1000, "|\n");
    add_line(&b, "||Registry path|", f->path, 4000, "|\n");
    add_line(&b, "||Value|", f->value, 1000, "|\n");
    add_line(&b, "||Data|", f->data, 500, "|\n");
    add_line(&b, "||Event time|", f->time, 100, "|\n");
    add_line(&b, "||Clause|", f->clause, 100, "|\n");
    add_line(&b, "||Profile|", f->profile, 100, "|\n");
    add_line(&b, "||Alert id|", f->id, 100, "|\n");
    add_line(&b, "\n*Response:* ", f->response, 4000, "\n");
    json_t *out = json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:[s,s]}}", "fields", "project", "key",
                            t->jira_project, "summary", fmt_text(summary, lim->title),
                            "description", fmt_text(b.data ? b.data : "", lim->text), "issuetype",
                            "name", t->jira_issue_type, "labels", "amsiwatch", label);
    buf_free(&b);
    return out;
}

/* ---- The table: one row per format, at its enum target_format ---- */

/* Each row: the format, its name, its default rate (requests per second), its limits (title, text,
 * field, fields: struct format_limits) and its function. */
/* clang-format off */
static const struct format formats[] = {
    [FMT_GENERIC]    = {FMT_GENERIC,    "generic",    10.0, {4096, 65536,    0,  0}, fmt_generic},
    [FMT_SLACK]      = {FMT_SLACK,      "slack",       1.0, { 150,  3000, 2000, 10}, fmt_slack},
    [FMT_TEAMS]      = {FMT_TEAMS,      "teams",       4.0, { 400,  4000, 1000,  0}, fmt_teams},
    /* Discord: 30 requests per minute per webhook. */
    [FMT_DISCORD]    = {FMT_DISCORD,    "discord",     0.5, { 256,  4096, 1024, 25}, fmt_discord},
    [FMT_MATTERMOST] = {FMT_MATTERMOST, "mattermost", 10.0, {1000,  4000, 1000,  0}, fmt_mattermost},
    [FMT_PAGERDUTY]  = {FMT_PAGERDUTY,  "pagerduty",   2.0, {1024,     0, 1024,  0}, fmt_pagerduty},
    [FMT_OPSGENIE]   = {FMT_OPSGENIE,   "opsgenie",    2.0, { 130, 15000,  500,  0}, fmt_opsgenie},
    [FMT_JIRA]       = {FMT_JIRA,       "jira",        2.0, { 255, 30000,    0,  0}, fmt_jira},
};
/* clang-format on */

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

const struct format *format_of(enum target_format f)
{
    return (size_t)f < NFORMATS ? &formats[f] : &formats[FMT_GENERIC];
}

const struct format *format_named(const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++) {
        if (strcmp(name, formats[i].name) == 0)
            return &formats[i];
    }
    return NULL;
}

json_t *format_body(const struct target *t, const struct notice *n)
{
    const struct format *fmt = format_of(t->format);
    if (n->alert && !n->facts) { /* the caller did not build them: build them here */
        struct facts f;
        facts_of(n->alert, &f);
        struct notice with = *n;
        with.facts = &f;
        return fmt->body(fmt, t, &with);
    }
    return fmt->body(fmt, t, n);
}
