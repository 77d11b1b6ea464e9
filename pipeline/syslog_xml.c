/* Windows event XML: "<Event xmlns=..." with System children and EventData/Data Name=
 * (syslog_record.h). */
#include "pipeline/syslog_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/time.h"

enum xtok { X_END, X_OPEN, X_CLOSE, X_EMPTY, X_TEXT, X_CDATA };

struct xtoken {
    enum xtok kind;
    struct syslog_view name;  /* OPEN, CLOSE, EMPTY */
    struct syslog_view attrs; /* OPEN, EMPTY */
    struct syslog_view text;  /* TEXT, CDATA */
};

static const char *skip_past(const char *p, const char *end, const char *s)
{
    const char *q = memmem(p, (size_t)(end - p), s, strlen(s));
    return q ? q + strlen(s) : end;
}

/* The next token at *PP. Malformed markup ends the document (X_END). */
static enum xtok xml_next(const char **pp, const char *end, struct xtoken *t)
{
    const char *p = *pp;
    memset(t, 0, sizeof(*t));
    for (;;) {
        if (p >= end)
            return t->kind = X_END;
        if (*p != '<') {
            const char *lt = memchr(p, '<', (size_t)(end - p));
            const char *te = lt ? lt : end;
            t->text = (struct syslog_view){p, (size_t)(te - p)};
            *pp = te;
            return t->kind = X_TEXT;
        }
        size_t left = (size_t)(end - p);
        if (left >= 4 && memcmp(p, "<!--", 4) == 0) {
            p = skip_past(p + 4, end, "-->");
            continue;
        }
        if (left >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            const char *s = p + 9;
            const char *q = memmem(s, (size_t)(end - s), "]]>", 3);
            const char *te = q ? q : end;
            t->text = (struct syslog_view){s, (size_t)(te - s)};
            *pp = q ? q + 3 : end;
            return t->kind = X_CDATA;
        }
        if (left >= 2 && (p[1] == '?' || p[1] == '!')) {
            p = skip_past(p + 2, end, ">");
            continue;
        }
        bool close = left >= 2 && p[1] == '/';
        const char *s = p + (close ? 2 : 1), *q = s;
        while (q < end && !wrec_is_space(*q) && *q != '>' && *q != '/')
            q++;
        if (q == s)
            return t->kind = X_END;
        t->name = (struct syslog_view){s, (size_t)(q - s)};
        const char *a = q;
        char quote = 0;
        while (q < end && (quote || *q != '>')) {
            if (quote && *q == quote)
                quote = 0;
            else if (!quote && (*q == '"' || *q == '\''))
                quote = *q;
            q++;
        }
        if (q >= end)
            return t->kind = X_END;
        bool empty = q > a && q[-1] == '/';
        t->attrs = (struct syslog_view){a, (size_t)(q - a - (empty ? 1 : 0))};
        *pp = q + 1;
        return t->kind = close ? X_CLOSE : empty ? X_EMPTY : X_OPEN;
    }
}

/* The value of attribute NAME in ATTRS, raw (entities still encoded). */
static bool xml_attr(struct syslog_view attrs, const char *name, struct syslog_view *out)
{
    const char *p = attrs.p, *end = attrs.p + attrs.len;
    size_t nl = strlen(name);
    while (p < end) {
        while (p < end && wrec_is_space(*p))
            p++;
        const char *k = p;
        while (p < end && *p != '=' && !wrec_is_space(*p))
            p++;
        size_t kl = (size_t)(p - k);
        while (p < end && wrec_is_space(*p))
            p++;
        if (p >= end || *p != '=')
            return false;
        p++;
        while (p < end && wrec_is_space(*p))
            p++;
        if (p >= end || (*p != '"' && *p != '\''))
            return false;
        char q = *p++;
        const char *v = p;
        while (p < end && *p != q)
            p++;
        if (kl == nl && memcmp(k, name, nl) == 0) {
            *out = (struct syslog_view){v, (size_t)(p - v)};
            return true;
        }
        if (p < end)
            p++;
    }
    return false;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the five entities and character references of the N bytes at P, appending to OUT.
 * A reference that is not well formed, or names no character, is kept as it is. Never longer
 * than the input. */
static int xml_decode(struct buf *out, const char *p, size_t n)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(p + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (p + i)) : n - i;
        if (run && buf_append(out, p + i, run) < 0)
            return -ENOMEM;
        i += run;
        if (i >= n)
            break;
        size_t k = i + 1;
        char enc[4];
        size_t encl = 0, used = 0;
        if (k < n && p[k] == '#') {
            bool hex = k + 1 < n && (p[k + 1] == 'x' || p[k + 1] == 'X');
            size_t d = k + 1 + (hex ? 1 : 0), ds = d;
            unsigned long cp = 0;
            while (d < n && d - ds < 8) {
                char c = p[d];
                int v = c >= '0' && c <= '9'                            ? c - '0'
                        : hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                                        : -1;
                if (v < 0)
                    break;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
                d++;
            }
            if (d > ds && d < n && p[d] == ';' && cp > 0 && cp <= 0x10FFFF &&
                !(cp >= 0xD800 && cp <= 0xDFFF)) {
                encl = put_utf8(enc, cp);
                used = d + 1 - i;
            }
        } else {
            for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
                size_t el = strlen(ents[e].name);
                if (n - k >= el && memcmp(p + k, ents[e].name, el) == 0) {
                    enc[0] = ents[e].c;
                    encl = 1;
                    used = el + 1;
                    break;
                }
            }
        }
        if (used) {
            if (buf_append(out, enc, encl) < 0)
                return -ENOMEM;
            i += used;
        } else {
            if (buf_append(out, "&", 1) < 0)
                return -ENOMEM;
            i++;
        }
    }
    return 0;
}

struct xml_walk {
    struct wrec *w;
    struct buf text; /* the current leaf's text, decoded */
    struct buf tmp;  /* a decoded attribute */
    unsigned unnamed;
};

/* A decoded attribute of ATTRS as a view into X->tmp, or NULL view. */
static int xml_attr_text(struct xml_walk *x, struct syslog_view attrs, const char *name,
                         struct syslog_view *out)
{
    struct syslog_view raw;
    out->p = NULL;
    out->len = 0;
    if (!xml_attr(attrs, name, &raw))
        return 0;
    buf_reset(&x->tmp);
    if (xml_decode(&x->tmp, raw.p, raw.len) < 0)
        return -ENOMEM;
    out->p = x->tmp.data ? x->tmp.data : "";
    out->len = x->tmp.len;
    return 0;
}

/* Attributes of System's children. */
static int xml_system_attrs(struct xml_walk *x, struct syslog_view name, struct syslog_view attrs)
{
    struct wrec *w = x->w;
    struct syslog_view v;
    int rc = 0;
    if (wrec_view_eq(name, "Provider")) {
        if ((rc = xml_attr_text(x, attrs, "Name", &v)) == 0 && v.p)
            rc = wrec_str(w, "provider_name", v.p, v.len);
        if (rc == 0 && (rc = xml_attr_text(x, attrs, "Guid", &v)) == 0 && v.p)
            rc = wrec_str(w, "provider_guid", v.p, v.len);
    } else if (wrec_view_eq(name, "TimeCreated")) {
        int64_t ms;
        if ((rc = xml_attr_text(x, attrs, "SystemTime", &v)) == 0 && v.p &&
            time_rfc3339_parse(v.p, v.len, &ms) == 0)
            rc = wrec_time(w->doc, ms);
    } else if (wrec_view_eq(name, "Security")) {
        if ((rc = xml_attr_text(x, attrs, "UserID", &v)) == 0 && v.p)
            rc = wrec_str(w, "user.identifier", v.p, v.len);
    } else if (wrec_view_eq(name, "Execution")) {
        if ((rc = xml_attr_text(x, attrs, "ProcessID", &v)) == 0 && v.p)
            rc = wrec_num(w, "process.pid", v.p, v.len);
        if (rc == 0 && (rc = xml_attr_text(x, attrs, "ThreadID", &v)) == 0 && v.p)
            rc = wrec_num(w, "process.thread.id", v.p, v.len);
    }
    return rc;
}

static int xml_system_text(struct xml_walk *x, struct syslog_view name)
{
    static const struct {
        const char *element, *path;
        bool num;
    } map[] = {
        {"EventID", "event_id", false},       {"Channel", "channel", false},
        {"Computer", "computer_name", false}, {"EventRecordID", "record_id", true},
        {"Version", "version", true},
    };
    const char *t = x->text.data ? x->text.data : "";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (wrec_view_eq(name, map[i].element))
            return map[i].num ? wrec_num(x->w, map[i].path, t, x->text.len)
                              : wrec_str(x->w, map[i].path, t, x->text.len);
    }
    return 0;
}

static int xml_data(struct xml_walk *x, struct syslog_view attrs)
{
    struct syslog_view name;
    char key[32];
    x->unnamed++;
    /* The value first: the name's decoding reuses TMP. */
    json_t *v = wrec_text(x->text.data ? x->text.data : "", x->text.len);
    if (!v)
        return -ENOMEM;
    if (xml_attr_text(x, attrs, "Name", &name) < 0) {
        json_decref(v);
        return -ENOMEM;
    }
    if (!name.p || name.len == 0) {
        /* Winlogbeat names unnamed Data elements param1, param2, ... */
        int kl = snprintf(key, sizeof(key), "param%u", x->unnamed);
        name = (struct syslog_view){key, (size_t)kl};
    }
    if (json_string_length(v) == 0) {
        json_decref(v);
        return 0;
    }
    return wrec_set_key(x->w->ed, name.p, name.len, v);
}

enum xsection { XS_NONE, XS_SYSTEM, XS_EVENTDATA };

static int walk_xml(struct xml_walk *x, const char *p, const char *end)
{
    struct xtoken t;
    int depth = 0;
    enum xsection section = XS_NONE;
    struct syslog_view leaf = {NULL, 0}, leaf_attrs = {NULL, 0};
    int rc = 0;
    while (rc == 0 && xml_next(&p, end, &t) != X_END) {
        switch (t.kind) {
        case X_OPEN:
        case X_EMPTY:
            if (depth == 0 && !wrec_view_eq(t.name, "Event"))
                return 0;
            if (depth == 1) {
                section = wrec_view_eq(t.name, "System")      ? XS_SYSTEM
                          : wrec_view_eq(t.name, "EventData") ? XS_EVENTDATA
                                                              : XS_NONE;
            } else if (depth == 2 && section != XS_NONE) {
                leaf = t.name;
                leaf_attrs = t.attrs;
                buf_reset(&x->text);
                if (section == XS_SYSTEM)
                    rc = xml_system_attrs(x, t.name, t.attrs);
                if (rc == 0 && t.kind == X_EMPTY && section == XS_EVENTDATA &&
                    wrec_view_eq(t.name, "Data"))
                    x->unnamed++;
            }
            if (t.kind == X_OPEN)
                depth++;
            else if (depth == 2)
                leaf.p = NULL;
            if (depth == 0)
                return 0; /* <Event/> */
            break;
        case X_TEXT:
        case X_CDATA:
            if (depth == 3 && leaf.p) {
                rc = t.kind == X_TEXT ? xml_decode(&x->text, t.text.p, t.text.len)
                                      : buf_append(&x->text, t.text.p, t.text.len);
                if (rc < 0)
                    rc = -ENOMEM;
            }
            break;
        case X_CLOSE:
            if (depth == 3 && leaf.p) {
                if (section == XS_SYSTEM)
                    rc = xml_system_text(x, leaf);
                else if (wrec_view_eq(leaf, "Data"))
                    rc = xml_data(x, leaf_attrs);
                leaf.p = NULL;
            }
            if (depth > 0)
                depth--;
            if (depth == 1)
                section = XS_NONE;
            if (depth == 0)
                return rc;
            break;
        case X_END:
        default:
            break;
        }
    }
    return rc;
}

static const char *find_event_element(struct syslog_view msg)
{
    const char *p = msg.p,
               *end = msg.p + (msg.len < WREC_MARKER_WINDOW ? msg.len : WREC_MARKER_WINDOW);
    while (p && p < end) {
        const char *q = memmem(p, (size_t)(msg.p + msg.len - p), "<Event", 6);
        if (!q || q >= end)
            return NULL;
        if ((size_t)(msg.p + msg.len - q) > 6 && (wrec_is_space(q[6]) || q[6] == '>'))
            return q;
        p = q + 6;
    }
    return NULL;
}

int syslog_xml_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = find_event_element(m->msg);
    if (!start)
        return 0;
    struct wrec w;
    if (wrec_init(&w) < 0)
        return -ENOMEM;
    struct xml_walk x = {.w = &w};
    /* Decoding never lengthens text, so the message length bounds both buffers. */
    buf_init(&x.text, m->msg.len + 1);
    buf_init(&x.tmp, m->msg.len + 1);
    int rc = walk_xml(&x, start, m->msg.p + m->msg.len);
    buf_free(&x.text);
    buf_free(&x.tmp);
    if (rc == 0 && !(w.has_id && (w.has_channel || w.has_provider))) {
        wrec_free(&w);
        return 0;
    }
    if (rc == 0)
        rc = wrec_finish(&w, m);
    if (rc < 0) {
        wrec_free(&w);
        return -ENOMEM;
    }
    *doc = w.doc;
    *kind = SYSLOG_PAYLOAD_XML;
    return 1;
}
