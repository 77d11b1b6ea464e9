/* The parts of pipeline/syslog_event.c that every forwarder mapping uses: mended text, dotted
 * paths, the Winlogbeat-shaped record and what every document carries (syslog_record.h). */
#include "pipeline/syslog_record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/utf8.h"

/* ---- Text ------------------------------------------------------------------------------- */

json_t *wrec_text(const char *p, size_t n)
{
    if (!p)
        return json_stringn("", 0);
    json_t *s = json_stringn(p, n);
    if (s || n == 0)
        return s;
    char *tmp = malloc(n * 3 + 1);
    if (!tmp)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0) {
            memcpy(tmp + o, UTF8_REPLACEMENT, 3);
            o += 3;
            i++;
        } else {
            memcpy(tmp + o, p + i, l);
            o += l;
            i += l;
        }
    }
    s = json_stringn(tmp, o);
    free(tmp);
    return s;
}

json_t *wrec_view(struct syslog_view v)
{
    return wrec_text(v.p, v.len);
}

bool wrec_view_eq(struct syslog_view v, const char *s)
{
    size_t n = strlen(s);
    return v.p && v.len == n && memcmp(v.p, s, n) == 0;
}

bool wrec_text_eq(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

bool wrec_all_digits(const char *p, size_t n)
{
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
    }
    return true;
}

/* At most 18 digits, so it fits. The view is not NUL-terminated, so strtoll would read past it. */
int64_t wrec_digits_value(const char *p, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

const char *wrec_find_marker(struct syslog_view v, const char *needle, size_t limit)
{
    size_t nl = strlen(needle);
    size_t n = v.len < limit + nl ? v.len : limit + nl;
    if (!v.p || n < nl)
        return NULL;
    return memmem(v.p, n, needle, nl);
}

/* ---- Building ---------------------------------------------------------------------------- */

int wrec_set_path(json_t *root, const char *path, json_t *v)
{
    if (!v)
        return -ENOMEM;
    json_t *o = root;
    const char *dot;
    char key[64];
    while ((dot = strchr(path, '.')) != NULL) {
        size_t kl = (size_t)(dot - path);
        memcpy(key, path, kl);
        key[kl] = '\0';
        json_t *c = json_object_get(o, key);
        if (!json_is_object(c)) {
            c = json_object();
            if (!c || json_object_set_new(o, key, c) != 0) {
                json_decref(v);
                return -ENOMEM;
            }
        }
        o = c;
        path = dot + 1;
    }
    return json_object_set_new(o, path, v) == 0 ? 0 : -ENOMEM;
}

int wrec_set_key(json_t *obj, const char *k, size_t n, json_t *v)
{
    if (!v)
        return -ENOMEM;
    if (utf8_valid(k, n))
        return json_object_setn_new(obj, k, n, v) == 0 ? 0 : -ENOMEM;
    json_t *ks = wrec_text(k, n);
    if (!ks) {
        json_decref(v);
        return -ENOMEM;
    }
    int rc = json_object_setn_new(obj, json_string_value(ks), json_string_length(ks), v);
    json_decref(ks);
    return rc == 0 ? 0 : -ENOMEM;
}

int wrec_init(struct wrec *w)
{
    memset(w, 0, sizeof(*w));
    w->doc = json_object();
    w->winlog = json_object();
    w->ed = json_object();
    if (!w->doc || !w->winlog || !w->ed) {
        json_decref(w->doc);
        json_decref(w->winlog);
        json_decref(w->ed);
        return -ENOMEM;
    }
    if (json_object_set_new(w->doc, "winlog", w->winlog) != 0) {
        json_decref(w->ed);
        json_decref(w->doc);
        return -ENOMEM;
    }
    if (json_object_set_new(w->winlog, "event_data", w->ed) != 0) {
        json_decref(w->doc);
        return -ENOMEM;
    }
    return 0;
}

void wrec_free(struct wrec *w)
{
    json_decref(w->doc);
    w->doc = NULL;
}

int wrec_str(struct wrec *w, const char *path, const char *p, size_t n)
{
    struct syslog_view v = wrec_trim(p, n);
    if (v.len == 0)
        return 0;
    if (strcmp(path, "event_id") == 0)
        w->has_id = true;
    else if (strcmp(path, "channel") == 0)
        w->has_channel = true;
    else if (strcmp(path, "provider_name") == 0)
        w->has_provider = true;
    else if (strcmp(path, "computer_name") == 0)
        w->has_computer = true;
    return wrec_set_path(w->winlog, path, wrec_text(v.p, v.len));
}

int wrec_num(struct wrec *w, const char *path, const char *p, size_t n)
{
    struct syslog_view v = wrec_trim(p, n);
    if (v.len == 0)
        return 0;
    if (wrec_all_digits(v.p, v.len))
        return wrec_set_path(w->winlog, path, json_integer(wrec_digits_value(v.p, v.len)));
    return wrec_set_path(w->winlog, path, wrec_text(v.p, v.len));
}

int wrec_event_data(struct wrec *w, const char *k, size_t kn, const char *v, size_t vn)
{
    if (kn == 0)
        return 0;
    return wrec_set_key(w->ed, k, kn, wrec_text(v, vn));
}

int wrec_time(json_t *doc, int64_t ms)
{
    char iso[40];
    clock_format_ms(ms, iso, sizeof(iso));
    return wrec_set_path(doc, "@timestamp", json_string(iso));
}

/* The syslog header as an object. */
static json_t *syslog_object(const struct syslog_msg *m)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:s}", "facility", m->facility, "severity", m->severity,
                          "priority", m->pri, "format",
                          m->format == SYSLOG_FORMAT_RFC5424 ? "rfc5424" : "rfc3164");
    if (!o)
        return NULL;
    int rc = 0;
    if (m->format == SYSLOG_FORMAT_RFC5424)
        rc |= json_object_set_new(o, "version", json_integer(m->version));
    static const struct {
        const char *key;
        size_t off;
    } views[] = {
        {"timestamp", offsetof(struct syslog_msg, timestamp)},
        {"hostname", offsetof(struct syslog_msg, hostname)},
        {"appname", offsetof(struct syslog_msg, app_name)},
        {"procid", offsetof(struct syslog_msg, procid)},
        {"msgid", offsetof(struct syslog_msg, msgid)},
        {"structured_data", offsetof(struct syslog_msg, sd)},
    };
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
        const struct syslog_view *v = (const struct syslog_view *)((const char *)m + views[i].off);
        if (v->p && v->len)
            rc |= json_object_set_new(o, views[i].key, wrec_view(*v));
    }
    if (m->flags & SYSLOG_F_INVALID_UTF8)
        rc |= json_object_set_new(o, "invalid_utf8", json_true());
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int wrec_common(json_t *doc, const struct syslog_msg *m)
{
    if (wrec_set_path(doc, "message", wrec_view(m->msg)) < 0)
        return -ENOMEM;
    json_t *host = json_object_get(doc, "host");
    if (!json_object_get(host, "name") && m->hostname.p &&
        wrec_set_path(doc, "host.name", wrec_view(m->hostname)) < 0)
        return -ENOMEM;
    if (!json_object_get(doc, "@timestamp") && m->has_time && wrec_time(doc, m->time_ms) < 0)
        return -ENOMEM;
    return wrec_set_path(doc, "syslog", syslog_object(m));
}

int wrec_finish(struct wrec *w, const struct syslog_msg *m)
{
    if (json_object_size(w->ed) == 0)
        json_object_del(w->winlog, "event_data");
    json_t *computer = json_object_get(w->winlog, "computer_name");
    if (json_is_string(computer) && wrec_set_path(w->doc, "host.name", json_incref(computer)) < 0)
        return -ENOMEM;
    if (wrec_set_path(w->doc, "host.os.type", json_string("windows")) < 0)
        return -ENOMEM;
    return wrec_common(w->doc, m);
}

int wrec_deliver(struct wrec *w, int rc, const struct syslog_msg *m, json_t **doc,
                 enum syslog_payload *kind, enum syslog_payload k)
{
    if (rc == 0)
        rc = wrec_finish(w, m);
    if (rc < 0) {
        wrec_free(w);
        return -ENOMEM;
    }
    *doc = w->doc;
    *kind = k;
    return 1;
}
