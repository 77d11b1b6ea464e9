#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "notify/formats.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

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
    f->data_buf[0] = '\0';
    bool cut = false;
    if (json_is_array(data)) {
        size_t i;
        const json_t *e;
        json_array_foreach(data, i, e)
        {
            const char *s = json_string_value(e);
            if (!s || cut)
                continue;
            if (f->data_buf[0])
                utf8_append(f->data_buf, sizeof(f->data_buf), ", ", 2, &cut);
            if (!cut)
                utf8_append(f->data_buf, sizeof(f->data_buf), s, json_string_length(e), &cut);
        }
    } else if (json_is_string(data)) {
        utf8_append(f->data_buf, sizeof(f->data_buf), json_string_value(data),
                    json_string_length(data), &cut);
    }
    if (cut) { /* room for an ellipsis (3 bytes) at the end */
        size_t len = utf8_cut_len(f->data_buf, strlen(f->data_buf), sizeof(f->data_buf) - 4);
        memcpy(f->data_buf + len, ELLIPSIS, sizeof(ELLIPSIS));
    }
    f->data = f->data_buf;
}

json_t *fmt_text(const char *s, size_t max)
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

void fmt_line(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
    utf8_trim_partial(out);
}

json_t *format_body(const struct target *t, const struct notice *n)
{
    switch (t->format) {
    case FMT_SLACK:
        return fmt_slack(t, n);
    case FMT_TEAMS:
        return fmt_teams(t, n);
    case FMT_DISCORD:
        return fmt_discord(t, n);
    case FMT_MATTERMOST:
        return fmt_mattermost(t, n);
    case FMT_PAGERDUTY:
        return fmt_pagerduty(t, n);
    case FMT_OPSGENIE:
        return fmt_opsgenie(t, n);
    case FMT_JIRA:
        return fmt_jira(t, n);
    case FMT_GENERIC:
    default:
        return fmt_generic(t, n);
    }
}

double format_default_rate(enum target_format f)
{
    switch (f) {
    case FMT_SLACK:
        return 1.0;
    case FMT_TEAMS:
        return 4.0;
    case FMT_PAGERDUTY:
        return 2.0;
    case FMT_DISCORD:
        return 0.5; /* 30 per minute per webhook */
    case FMT_OPSGENIE:
    case FMT_JIRA:
        return 2.0;
    default:
        return 10.0;
    }
}
