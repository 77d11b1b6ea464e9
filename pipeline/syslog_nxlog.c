/* NXLog: to_json() records in MSG (and JSON already in the Beats shape, which passes unchanged),
 * and to_syslog_ietf()'s [NXLOG@14506 ...] structured data (syslog_record.h). */
#include "pipeline/syslog_record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "pipeline/field.h"

/* A copy of the JSON text P mended so that jansson can read it: bad UTF-8 as U+FFFD, raw
 * control characters inside strings as \u00XX. Malloc'd; NULL when out of memory. */
static char *mend_json(const char *p, size_t n, size_t *outlen)
{
    char *out = malloc(n * 6 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool in_str = false;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l == 0) {
                memcpy(out + o, UTF8_REPLACEMENT, 3);
                o += 3;
                i++;
            } else {
                memcpy(out + o, p + i, l);
                o += l;
                i += l;
            }
            continue;
        }
        if (in_str && c < 0x20) {
            o += (size_t)snprintf(out + o, 7, "\\u%04x", c);
            i++;
            continue;
        }
        if (in_str && c == '\\' && i + 1 < n && (unsigned char)p[i + 1] >= 0x20 &&
            (unsigned char)p[i + 1] < 0x80) {
            out[o++] = p[i++];
            out[o++] = p[i++];
            continue;
        }
        if (c == '"')
            in_str = !in_str;
        out[o++] = (char)c;
        i++;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

enum nx_kind { NX_SKIP, NX_STR, NX_INT };

/* NXLog's own fields (im_msvistalog, the syslog and input modules); every other top-level key
 * is an EventData item. */
static const struct {
    const char *key;
    const char *path; /* inside winlog */
    enum nx_kind kind;
} nx_meta[] = {
    {"EventID", "event_id", NX_STR},
    {"Channel", "channel", NX_STR},
    {"SourceName", "provider_name", NX_STR},
    {"ProviderName", "provider_name", NX_STR},
    {"Hostname", "computer_name", NX_STR},
    {"Computer", "computer_name", NX_STR},
    {"RecordNumber", "record_id", NX_INT},
    {"EventRecordID", "record_id", NX_INT},
    {"ProviderGuid", "provider_guid", NX_STR},
    {"Version", "version", NX_INT},
    {"Category", "task", NX_STR},
    {"Opcode", "opcode", NX_STR},
    {"ProcessID", "process.pid", NX_INT},
    {"ThreadID", "process.thread.id", NX_INT},
    {"Domain", "user.domain", NX_STR},
    {"AccountName", "user.name", NX_STR},
    {"UserID", "user.identifier", NX_STR},
    {"AccountType", "user.type", NX_STR},
    {"ActivityID", "activity_id", NX_STR},
    {"RelatedActivityID", "related_activity_id", NX_STR},
    {"Keywords", NULL, NX_SKIP},
    {"EventTime", NULL, NX_SKIP},
    {"EventTimeWritten", NULL, NX_SKIP},
    {"EventReceivedTime", NULL, NX_SKIP},
    {"SourceModuleName", NULL, NX_SKIP},
    {"SourceModuleType", NULL, NX_SKIP},
    {"SeverityValue", NULL, NX_SKIP},
    {"Severity", NULL, NX_SKIP},
    {"OpcodeValue", NULL, NX_SKIP},
    {"Task", NULL, NX_SKIP},
    {"Message", NULL, NX_SKIP},
    {"MessageSourceAddress", NULL, NX_SKIP},
    {"SyslogFacilityValue", NULL, NX_SKIP},
    {"SyslogFacility", NULL, NX_SKIP},
    {"SyslogSeverityValue", NULL, NX_SKIP},
    {"SyslogSeverity", NULL, NX_SKIP},
};

/* NXLog's own EventType values. Sysmon's EventType (SetValue, CreateKey...) overwrites NXLog's
 * in the same record, so the key is EventData unless it holds one of these. */
static bool nxlog_event_type(const char *s)
{
    static const char *const own[] = {"AUDIT_SUCCESS", "AUDIT_FAILURE", "ERROR",  "WARNING",
                                      "INFO",          "CRITICAL",      "VERBOSE"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        if (strcmp(s, own[i]) == 0)
            return true;
    }
    return false;
}

/* Maps an NXLog record (the to_json() object, or the SD-PARAMs gathered into one). FALLBACK
 * says whether the syslog header may stand in for Hostname and SourceName, as NXLog's
 * to_syslog_ietf() moves them there. 1 when it is a Windows record, 0 when not, -ENOMEM. */
static int map_nxlog(const json_t *rec, const struct syslog_msg *m, bool fallback, struct wrec *w)
{
    const char *key;
    json_t *v;
    char tmp[64];
    json_object_foreach((json_t *)rec, key, v)
    {
        size_t kl = strlen(key);
        const char *s;
        size_t n;
        size_t i, nm = sizeof(nx_meta) / sizeof(nx_meta[0]);
        for (i = 0; i < nm; i++) {
            if (strcmp(key, nx_meta[i].key) == 0)
                break;
        }
        int rc = 0;
        if (i < nm) {
            if (nx_meta[i].kind == NX_SKIP || !field_scalar_text(v, tmp, sizeof(tmp), &s, &n))
                continue;
            if (json_object_get(w->winlog, nx_meta[i].path))
                continue; /* of two synonyms (SourceName, ProviderName), the first */
            rc = nx_meta[i].kind == NX_INT ? wrec_num(w, nx_meta[i].path, s, n)
                                           : wrec_str(w, nx_meta[i].path, s, n);
        } else if (json_is_null(v)) {
            continue;
        } else if (strcmp(key, "EventData") == 0 && json_is_object(v)) {
            /* Some configurations nest the items instead of spreading them. */
            rc = json_object_update_missing(w->ed, v) == 0 ? 0 : -ENOMEM;
        } else if (field_scalar_text(v, tmp, sizeof(tmp), &s, &n)) {
            if (strcmp(key, "EventType") == 0 && json_is_string(v) && nxlog_event_type(s))
                continue;
            rc = wrec_event_data(w, key, kl, s, n);
        } else {
            rc = wrec_set_key(w->ed, key, kl, json_deep_copy(v));
        }
        if (rc < 0)
            return rc;
    }
    if (fallback) {
        if (!w->has_computer && m->hostname.p &&
            wrec_str(w, "computer_name", m->hostname.p, m->hostname.len) < 0)
            return -ENOMEM;
        if (!w->has_provider && m->app_name.p &&
            wrec_str(w, "provider_name", m->app_name.p, m->app_name.len) < 0)
            return -ENOMEM;
    }
    return w->has_id && (w->has_channel || w->has_provider) ? 1 : 0;
}

/* JSON already in the shape Beats send: the normalizer reads it as it is. */
static bool beats_shaped(const json_t *o)
{
    const json_t *ev = json_object_get(o, "Event");
    return json_is_object(json_object_get(o, "winlog")) ||
           (json_is_object(ev) && json_is_object(json_object_get(ev, "System"))) ||
           json_is_object(json_object_get(o, "@metadata")) ||
           json_is_object(json_object_get(o, "ecs"));
}

int syslog_nxlog_json_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    struct syslog_view t = wrec_trim(m->msg.p, m->msg.len);
    if (t.len < 2 || t.p[0] != '{')
        return 0;
    json_t *rec = json_loadb(t.p, t.len, JSON_ALLOW_NUL, NULL);
    if (!rec) {
        size_t ml;
        char *mended = mend_json(t.p, t.len, &ml);
        if (!mended)
            return -ENOMEM;
        rec = json_loadb(mended, ml, JSON_ALLOW_NUL, NULL);
        free(mended);
    }
    if (!json_is_object(rec)) {
        json_decref(rec);
        return 0;
    }
    if (beats_shaped(rec)) {
        *doc = rec;
        *kind = SYSLOG_PAYLOAD_BEATS_JSON;
        return 1;
    }
    struct wrec w;
    if (wrec_init(&w) < 0) {
        json_decref(rec);
        return -ENOMEM;
    }
    int rc = map_nxlog(rec, m, false, &w);
    json_decref(rec);
    if (rc != 1) {
        wrec_free(&w);
        return rc;
    }
    return wrec_deliver(&w, 0, m, doc, kind, SYSLOG_PAYLOAD_NXLOG_JSON);
}

static bool nxlog_sd_id(struct syslog_view id)
{
    return id.len >= 6 && memcmp(id.p + id.len - 6, "@14506", 6) == 0;
}

int syslog_nxlog_sd_map(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    if (!m->sd.p)
        return 0;
    struct syslog_sd_iter it;
    struct syslog_view id, name, value;
    syslog_sd_iter_init(&it, m->sd);
    int rc;
    while ((rc = syslog_sd_next_element(&it, &id)) == 1 && !nxlog_sd_id(id))
        ;
    if (rc != 1)
        return 0;
    json_t *rec = json_object();
    char *tmp = malloc(m->sd.len + 1); /* no value unescapes longer than the SD itself */
    if (!rec || !tmp) {
        json_decref(rec);
        free(tmp);
        return -ENOMEM;
    }
    while ((rc = syslog_sd_next_param(&it, &name, &value)) == 1) {
        long n = syslog_sd_unescape(value.p, value.len, tmp, m->sd.len + 1);
        if (n < 0 || wrec_set_key(rec, name.p, name.len, wrec_text(tmp, (size_t)n)) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    free(tmp);
    struct wrec w;
    if (rc == -ENOMEM || wrec_init(&w) < 0) {
        json_decref(rec);
        return -ENOMEM;
    }
    rc = map_nxlog(rec, m, true, &w);
    json_decref(rec);
    if (rc != 1) {
        wrec_free(&w);
        return rc;
    }
    return wrec_deliver(&w, 0, m, doc, kind, SYSLOG_PAYLOAD_NXLOG_SD);
}
