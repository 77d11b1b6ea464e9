/* Chat formats: Slack (text + blocks), Microsoft Teams (Workflows, Adaptive Card 1.2), Discord
 * (content + embeds), Mattermost (text + attachments). */
#include <stdio.h>
#include <string.h>

#include "notify/formats.h"

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

static void headline(const struct notice *n, const struct facts *f, char *out, size_t len)
{
    if (!n->alert)
        fmt_line(out, len, "%s", n->title ? n->title : "amsiwatch");
    else
        fmt_line(out, len, "[%s] %s on %s", f->severity, f->rule,
                 *f->host ? f->host : "unknown host");
}

json_t *fmt_slack(const struct target *t, const struct notice *n)
{
    (void)t;
    struct facts f;
    char head[512];
    if (n->alert)
        facts_of(n->alert, &f);
    else
        memset(&f, 0, sizeof(f));
    headline(n, &f, head, sizeof(head));
    json_t *blocks = json_array();
    json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:o}}", "type", "header", "text", "type",
                                            "plain_text", "text", fmt_text(head, 150)));
    if (n->alert) {
        struct pair p[8];
        size_t np = fact_pairs(&f, p);
        json_t *fields = json_array();
        for (size_t i = 0; i < np && i < 10; i++) {
            char cell[2200];
            fmt_line(cell, sizeof(cell), "*%s*\n%s", p[i].title, p[i].value);
            json_array_append_new(
                fields, json_pack("{s:s, s:o}", "type", "mrkdwn", "text", fmt_text(cell, 2000)));
        }
        json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "fields", fields));
        char resp[3200];
        fmt_line(resp, sizeof(resp), "*Response*\n%s", f.response);
        json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:o}}", "type", "section", "text",
                                                "type", "mrkdwn", "text", fmt_text(resp, 3000)));
        char ctx[256];
        fmt_line(ctx, sizeof(ctx), "alert %s | profile %s | risk %d", f.id, f.profile,
                 f.risk_score);
        json_array_append_new(blocks,
                              json_pack("{s:s, s:[{s:s, s:o}]}", "type", "context", "elements",
                                        "type", "mrkdwn", "text", fmt_text(ctx, sizeof(ctx))));
    } else {
        json_array_append_new(blocks,
                              json_pack("{s:s, s:{s:s, s:o}}", "type", "section", "text", "type",
                                        "mrkdwn", "text", fmt_text(n->text ? n->text : "", 3000)));
    }
    return json_pack("{s:o, s:o}", "text", fmt_text(head, 3000), "blocks", blocks);
}

json_t *fmt_teams(const struct target *t, const struct notice *n)
{
    (void)t;
    struct facts f;
    char head[512];
    if (n->alert)
        facts_of(n->alert, &f);
    else
        memset(&f, 0, sizeof(f));
    headline(n, &f, head, sizeof(head));
    json_t *body = json_array();
    json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "type", "TextBlock",
                                          "size", "Large", "weight", "Bolder", "color",
                                          n->alert ? "Attention" : "Warning", "wrap", 1, "text",
                                          fmt_text(head, 400)));
    if (n->alert) {
        struct pair p[8];
        size_t np = fact_pairs(&f, p);
        json_t *facts = json_array();
        for (size_t i = 0; i < np; i++)
            json_array_append_new(facts, json_pack("{s:s, s:o}", "title", p[i].title, "value",
                                                   fmt_text(p[i].value, 1000)));
        json_array_append_new(body, json_pack("{s:s, s:o}", "type", "FactSet", "facts", facts));
        json_array_append_new(body, json_pack("{s:s, s:b, s:o}", "type", "TextBlock", "wrap", 1,
                                              "text", fmt_text(f.response, 2000)));
        char ctx[256];
        fmt_line(ctx, sizeof(ctx), "alert %s, profile %s, risk score %d", f.id, f.profile,
                 f.risk_score);
        json_array_append_new(body,
                              json_pack("{s:s, s:b, s:b, s:o}", "type", "TextBlock", "wrap", 1,
                                        "isSubtle", 1, "text", fmt_text(ctx, sizeof(ctx))));
    } else {
        json_array_append_new(body, json_pack("{s:s, s:b, s:o}", "type", "TextBlock", "wrap", 1,
                                              "text", fmt_text(n->text ? n->text : "", 4000)));
    }
    json_t *card = json_pack("{s:s, s:s, s:s, s:o}", "$schema",
                             "http://adaptivecards.io/schemas/adaptive-card.json", "type",
                             "AdaptiveCard", "version", "1.2", "body", body);
    return json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments", "contentType",
                     "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
}

json_t *fmt_discord(const struct target *t, const struct notice *n)
{
    (void)t;
    struct facts f;
    char head[512];
    if (n->alert)
        facts_of(n->alert, &f);
    else
        memset(&f, 0, sizeof(f));
    headline(n, &f, head, sizeof(head));
    json_t *embed = json_pack("{s:o, s:i}", "title", fmt_text(head, 256), "color",
                              n->alert ? 0xE74C3C : 0xF1C40F);
    if (n->alert) {
        struct pair p[8];
        size_t np = fact_pairs(&f, p);
        json_t *fields = json_array();
        for (size_t i = 0; i < np && i < 25; i++)
            json_array_append_new(fields, json_pack("{s:s, s:o, s:b}", "name", p[i].title, "value",
                                                    fmt_text(p[i].value, 1024), "inline",
                                                    strlen(p[i].value) < 40));
        json_object_set_new(embed, "fields", fields);
        json_object_set_new(embed, "description", fmt_text(f.response, 4096));
        char foot[256];
        fmt_line(foot, sizeof(foot), "alert %s | profile %s | risk %d", f.id, f.profile,
                 f.risk_score);
        json_object_set_new(embed, "footer",
                            json_pack("{s:o}", "text", fmt_text(foot, sizeof(foot))));
    } else {
        json_object_set_new(embed, "description", fmt_text(n->text ? n->text : "", 4096));
    }
    return json_pack("{s:o, s:[o]}", "content", fmt_text(head, 2000), "embeds", embed);
}

json_t *fmt_mattermost(const struct target *t, const struct notice *n)
{
    (void)t;
    struct facts f;
    char head[512];
    if (n->alert)
        facts_of(n->alert, &f);
    else
        memset(&f, 0, sizeof(f));
    headline(n, &f, head, sizeof(head));
    json_t *att = json_pack("{s:o, s:s, s:o}", "fallback", fmt_text(head, 1000), "color",
                            n->alert ? "#d00000" : "#e0a000", "title", fmt_text(head, 1000));
    if (n->alert) {
        struct pair p[8];
        size_t np = fact_pairs(&f, p);
        json_t *fields = json_array();
        for (size_t i = 0; i < np; i++)
            json_array_append_new(fields, json_pack("{s:b, s:s, s:o}", "short",
                                                    strlen(p[i].value) < 40, "title", p[i].title,
                                                    "value", fmt_text(p[i].value, 1000)));
        json_object_set_new(att, "fields", fields);
        json_object_set_new(att, "text", fmt_text(f.response, 4000));
        char foot[256];
        fmt_line(foot, sizeof(foot), "alert %s | profile %s | risk %d", f.id, f.profile,
                 f.risk_score);
        json_object_set_new(att, "footer", fmt_text(foot, sizeof(foot)));
    } else {
        json_object_set_new(att, "text", fmt_text(n->text ? n->text : "", 4000));
    }
    return json_pack("{s:o, s:[o]}", "text", fmt_text(head, 4000), "attachments", att);
}
