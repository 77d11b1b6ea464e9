#include "pipeline/syslog_event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/time.h"
#include "base/utf8.h"
#include "pipeline/prefilter.h"
#include "protocol/syslog_framer.h"

/* Payload markers are looked for this far into MSG: senders put them first, after at most a
 * short prefix of their own (a host name, an XML declaration). */
#define MARKER_WINDOW 512

const char *syslog_event_payload_name(enum syslog_payload k)
{
    switch (k) {
    case SYSLOG_PAYLOAD_BEATS_JSON:
        return "beats-json";
    case SYSLOG_PAYLOAD_NXLOG_JSON:
        return "nxlog-json";
    case SYSLOG_PAYLOAD_NXLOG_SD:
        return "nxlog-sd";
    case SYSLOG_PAYLOAD_SNARE:
        return "snare";
    case SYSLOG_PAYLOAD_WINCOLLECT:
        return "wincollect";
    case SYSLOG_PAYLOAD_XML:
        return "windows-xml";
    case SYSLOG_PAYLOAD_NONE:
    default:
        return "syslog";
    }
}

/* ---- Text ------------------------------------------------------------------------------- */

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* A JSON string of the N bytes at P, bad UTF-8 replaced by U+FFFD. NULL when out of memory. */
static json_t *jstr(const char *p, size_t n)
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
            memcpy(tmp + o, replacement, 3);
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

static json_t *jview(struct syslog_view v)
{
    return jstr(v.p, v.len);
}

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
                memcpy(out + o, replacement, 3);
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

static bool view_eq(struct syslog_view v, const char *s)
{
    size_t n = strlen(s);
    return v.p && v.len == n && memcmp(v.p, s, n) == 0;
}

static bool all_digits(const char *p, size_t n)
{
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
    }
    return true;
}

/* The value of N digits (all_digits said so: at most 18, so it fits). The view is not
 * NUL-terminated, so strtoll would read past it. */
static int64_t digits_value(const char *p, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

/* The last second of year 9999: a later TimeGenerated is not a time (and would overflow as
 * milliseconds). */
#define MAX_EPOCH_SECONDS 253402300799LL

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct syslog_view trim(const char *p, size_t n)
{
    while (n && is_space(p[0])) {
        p++;
        n--;
    }
    while (n && is_space(p[n - 1]))
        n--;
    return (struct syslog_view){p, n};
}

/* The first occurrence of the NUL-terminated NEEDLE in the first LIMIT bytes of V. */
static const char *find_marker(struct syslog_view v, const char *needle, size_t limit)
{
    size_t nl = strlen(needle);
    size_t n = v.len < limit + nl ? v.len : limit + nl;
    if (!v.p || n < nl)
        return NULL;
    return memmem(v.p, n, needle, nl);
}

/* ---- Building ---------------------------------------------------------------------------- */

/* Sets PATH (dotted, inside ROOT) to V, taking the reference; intermediate objects are made. */
static int set_path(json_t *root, const char *path, json_t *v)
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

/* Sets the key spelled by the N bytes at K (any bytes: bad UTF-8 is mended), taking V. */
static int set_key(json_t *obj, const char *k, size_t n, json_t *v)
{
    if (!v)
        return -ENOMEM;
    if (utf8_valid(k, n))
        return json_object_setn_new(obj, k, n, v) == 0 ? 0 : -ENOMEM;
    json_t *ks = jstr(k, n);
    if (!ks) {
        json_decref(v);
        return -ENOMEM;
    }
    int rc = json_object_setn_new(obj, json_string_value(ks), json_string_length(ks), v);
    json_decref(ks);
    return rc == 0 ? 0 : -ENOMEM;
}

/* The record being built in the Winlogbeat 8 shape. */
struct wdoc {
    json_t *doc;    /* owned */
    json_t *winlog; /* borrowed from DOC */
    json_t *ed;     /* borrowed: winlog.event_data */
    bool has_id, has_channel, has_provider, has_computer;
};

static int wd_init(struct wdoc *w)
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

static void wd_free(struct wdoc *w)
{
    json_decref(w->doc);
    w->doc = NULL;
}

/* winlog.<key> = the N bytes at P as a string; empty values are left out. */
static int wd_str(struct wdoc *w, const char *path, const char *p, size_t n)
{
    struct syslog_view v = trim(p, n);
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
    return set_path(w->winlog, path, jstr(v.p, v.len));
}

/* winlog.<key> = an integer when the text is one, else the text. */
static int wd_num(struct wdoc *w, const char *path, const char *p, size_t n)
{
    struct syslog_view v = trim(p, n);
    if (v.len == 0)
        return 0;
    if (all_digits(v.p, v.len))
        return set_path(w->winlog, path, json_integer(digits_value(v.p, v.len)));
    return set_path(w->winlog, path, jstr(v.p, v.len));
}

static int wd_event_data(struct wdoc *w, const char *k, size_t kn, const char *v, size_t vn)
{
    if (kn == 0)
        return 0;
    return set_key(w->ed, k, kn, jstr(v, vn));
}

static int put_time(json_t *doc, int64_t ms)
{
    char iso[40];
    clock_format_ms(ms, iso, sizeof(iso));
    return set_path(doc, "@timestamp", json_string(iso));
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
            rc |= json_object_set_new(o, views[i].key, jview(*v));
    }
    if (m->flags & SYSLOG_F_INVALID_UTF8)
        rc |= json_object_set_new(o, "invalid_utf8", json_true());
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* What every document gets: message, host.name, @timestamp, syslog{}. */
static int add_common(json_t *doc, const struct syslog_msg *m)
{
    if (set_path(doc, "message", jview(m->msg)) < 0)
        return -ENOMEM;
    json_t *host = json_object_get(doc, "host");
    if (!json_object_get(host, "name") && m->hostname.p &&
        set_path(doc, "host.name", jview(m->hostname)) < 0)
        return -ENOMEM;
    if (!json_object_get(doc, "@timestamp") && m->has_time && put_time(doc, m->time_ms) < 0)
        return -ENOMEM;
    return set_path(doc, "syslog", syslog_object(m));
}

/* Completes a recognised Windows record: host.name from the computer name, host.os.type. */
static int wd_finish(struct wdoc *w, const struct syslog_msg *m)
{
    if (json_object_size(w->ed) == 0)
        json_object_del(w->winlog, "event_data");
    json_t *computer = json_object_get(w->winlog, "computer_name");
    if (json_is_string(computer) && set_path(w->doc, "host.name", json_incref(computer)) < 0)
        return -ENOMEM;
    if (set_path(w->doc, "host.os.type", json_string("windows")) < 0)
        return -ENOMEM;
    return add_common(w->doc, m);
}

/* ---- Rendered messages ("Key: value ...") ----------------------------------------------- */

struct label {
    const char *label; /* as Windows renders it */
    const char *field; /* the EventData name; NULL for a section header ("Subject:") */
};

/* Sysmon renders each EventData item as "Name: value"; registry events 12, 13 and 14 have only
 * these, so a value (a registry path, REG_SZ data) can hold any other word. */
static const struct label sysmon_registry_labels[] = {
    {"RuleName", "RuleName"},
    {"EventType", "EventType"},
    {"UtcTime", "UtcTime"},
    {"ProcessGuid", "ProcessGuid"},
    {"ProcessId", "ProcessId"},
    {"Image", "Image"},
    {"TargetObject", "TargetObject"},
    {"Details", "Details"},
    {"NewName", "NewName"},
    {"User", "User"},
    {NULL, NULL},
};

#define SAME(x)                                                                                    \
    {                                                                                              \
        x, x                                                                                       \
    }
/* The other Sysmon events' EventData names. */
static const struct label sysmon_labels[] = {
    SAME("RuleName"),
    SAME("EventType"),
    SAME("UtcTime"),
    SAME("ProcessGuid"),
    SAME("ProcessId"),
    SAME("Image"),
    SAME("FileVersion"),
    SAME("Description"),
    SAME("Product"),
    SAME("Company"),
    SAME("OriginalFileName"),
    SAME("CommandLine"),
    SAME("CurrentDirectory"),
    SAME("User"),
    SAME("LogonGuid"),
    SAME("LogonId"),
    SAME("TerminalSessionId"),
    SAME("IntegrityLevel"),
    SAME("Hashes"),
    SAME("Hash"),
    SAME("ParentProcessGuid"),
    SAME("ParentProcessId"),
    SAME("ParentImage"),
    SAME("ParentCommandLine"),
    SAME("ParentUser"),
    SAME("TargetFilename"),
    SAME("CreationUtcTime"),
    SAME("PreviousCreationUtcTime"),
    SAME("Protocol"),
    SAME("Initiated"),
    SAME("SourceIsIpv6"),
    SAME("SourceIp"),
    SAME("SourceHostname"),
    SAME("SourcePort"),
    SAME("SourcePortName"),
    SAME("DestinationIsIpv6"),
    SAME("DestinationIp"),
    SAME("DestinationHostname"),
    SAME("DestinationPort"),
    SAME("DestinationPortName"),
    SAME("ImageLoaded"),
    SAME("Signed"),
    SAME("Signature"),
    SAME("SignatureStatus"),
    SAME("SourceProcessGuid"),
    SAME("SourceProcessId"),
    SAME("SourceImage"),
    SAME("SourceThreadId"),
    SAME("SourceUser"),
    SAME("TargetProcessGuid"),
    SAME("TargetProcessId"),
    SAME("TargetImage"),
    SAME("TargetUser"),
    SAME("NewThreadId"),
    SAME("StartAddress"),
    SAME("StartModule"),
    SAME("StartFunction"),
    SAME("GrantedAccess"),
    SAME("CallTrace"),
    SAME("TargetObject"),
    SAME("Details"),
    SAME("NewName"),
    SAME("PipeName"),
    SAME("QueryName"),
    SAME("QueryStatus"),
    SAME("QueryResults"),
    SAME("IsExecutable"),
    SAME("Archived"),
    SAME("SchemaVersion"),
    SAME("Configuration"),
    SAME("ConfigurationFileHash"),
    {NULL, NULL},
};

/* Security 4657 renders its EventData under display names and section headers. */
static const struct label security_4657_labels[] = {
    {"Subject", NULL},
    {"Object", NULL},
    {"Process Information", NULL},
    {"Change Information", NULL},
    {"Security ID", "SubjectUserSid"},
    {"Account Name", "SubjectUserName"},
    {"Account Domain", "SubjectDomainName"},
    {"Logon ID", "SubjectLogonId"},
    {"Object Name", "ObjectName"},
    {"Object Value Name", "ObjectValueName"},
    {"Handle ID", "HandleId"},
    {"Operation Type", "OperationType"},
    {"Process ID", "ProcessId"},
    {"Process Name", "ProcessName"},
    {"Old Value Type", "OldValueType"},
    {"Old Value", "OldValue"},
    {"New Value Type", "NewValueType"},
    {"New Value", "NewValue"},
    {NULL, NULL},
};

/* The longest label at P followed by ':' and a space (or the end). Its length with the colon
 * in *USED. */
static const struct label *match_label(const char *p, size_t n, const struct label *labels,
                                       size_t *used)
{
    const struct label *best = NULL;
    size_t best_len = 0;
    for (const struct label *l = labels; l->label; l++) {
        size_t ll = strlen(l->label);
        if (ll <= best_len || ll + 1 > n || memcmp(p, l->label, ll) != 0 || p[ll] != ':')
            continue;
        if (ll + 1 < n && !is_space(p[ll + 1]))
            continue;
        best = l;
        best_len = ll;
    }
    if (best)
        *used = best_len + 1;
    return best;
}

static int emit_value(struct wdoc *w, const struct label *l, const char *p, size_t n)
{
    if (!l || !l->field)
        return 0;
    struct syslog_view v = trim(p, n);
    if (v.len == 0 || json_object_get(w->ed, l->field))
        return 0; /* the first occurrence of a name is the real one */
    return set_path(w->ed, l->field, jstr(v.p, v.len));
}

/* Splits the rendered text at the known labels; each value runs to the next label. */
static int parse_rendered(struct wdoc *w, const char *p, size_t n, const struct label *labels)
{
    const struct label *cur = NULL;
    size_t vstart = 0;
    for (size_t i = 0; i < n;) {
        if ((i == 0 || is_space(p[i - 1])) && p[i] >= 'A' && p[i] <= 'Z') {
            size_t used;
            const struct label *l = match_label(p + i, n - i, labels, &used);
            if (l) {
                if (emit_value(w, cur, p + vstart, i - vstart) < 0)
                    return -ENOMEM;
                cur = l;
                i += used;
                vstart = i;
                continue;
            }
        }
        i++;
    }
    return emit_value(w, cur, p + vstart, n - vstart);
}

static bool text_eq(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Which labels the rendered message of this record has, NULL when unknown. */
static const struct label *labels_for(const json_t *winlog)
{
    const char *channel = json_string_value(json_object_get(winlog, "channel"));
    const char *provider = json_string_value(json_object_get(winlog, "provider_name"));
    const char *id = json_string_value(json_object_get(winlog, "event_id"));
    if (!id)
        return NULL;
    bool sysmon = (channel && strcmp(channel, "Microsoft-Windows-Sysmon/Operational") == 0) ||
                  (provider && strcmp(provider, "Microsoft-Windows-Sysmon") == 0);
    if (sysmon) {
        if (strcmp(id, "12") == 0 || strcmp(id, "13") == 0 || strcmp(id, "14") == 0)
            return sysmon_registry_labels;
        return sysmon_labels;
    }
    bool security = (channel && strcmp(channel, "Security") == 0) ||
                    (provider && strcmp(provider, "Microsoft-Windows-Security-Auditing") == 0);
    if (security && strcmp(id, "4657") == 0)
        return security_4657_labels;
    return NULL;
}

static int parse_rendered_for(struct wdoc *w, const char *p, size_t n)
{
    const struct label *labels = labels_for(w->winlog);
    return labels ? parse_rendered(w, p, n, labels) : 0;
}

/* ---- NXLog (to_json() and structured data) ----------------------------------------------- */

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

/* The text of a scalar (strings as they are, numbers in decimal). False for others. */
static bool scalar_text(const json_t *v, char *tmp, size_t tmplen, const char **s, size_t *n)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        *s = json_string_value(v);
        *n = json_string_length(v);
        return true;
    case JSON_INTEGER:
        *n = (size_t)snprintf(tmp, tmplen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *s = tmp;
        return true;
    case JSON_REAL:
        *n = (size_t)snprintf(tmp, tmplen, "%.17g", json_real_value(v));
        *s = tmp;
        return true;
    case JSON_TRUE:
    case JSON_FALSE:
        *s = json_is_true(v) ? "true" : "false";
        *n = strlen(*s);
        return true;
    default:
        return false;
    }
}

/* Maps an NXLog record (the to_json() object, or the SD-PARAMs gathered into one). FALLBACK
 * says whether the syslog header may stand in for Hostname and SourceName, as NXLog's
 * to_syslog_ietf() moves them there. 1 when it is a Windows record, 0 when not, -ENOMEM. */
static int map_nxlog(const json_t *rec, const struct syslog_msg *m, bool fallback, struct wdoc *w)
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
            if (nx_meta[i].kind == NX_SKIP || !scalar_text(v, tmp, sizeof(tmp), &s, &n))
                continue;
            if (json_object_get(w->winlog, nx_meta[i].path))
                continue; /* of two synonyms (SourceName, ProviderName), the first */
            rc = nx_meta[i].kind == NX_INT ? wd_num(w, nx_meta[i].path, s, n)
                                           : wd_str(w, nx_meta[i].path, s, n);
        } else if (json_is_null(v)) {
            continue;
        } else if (strcmp(key, "EventData") == 0 && json_is_object(v)) {
            /* Some configurations nest the items instead of spreading them. */
            rc = json_object_update_missing(w->ed, v) == 0 ? 0 : -ENOMEM;
        } else if (scalar_text(v, tmp, sizeof(tmp), &s, &n)) {
            if (strcmp(key, "EventType") == 0 && json_is_string(v) && nxlog_event_type(s))
                continue;
            rc = wd_event_data(w, key, kl, s, n);
        } else {
            rc = set_key(w->ed, key, kl, json_deep_copy(v));
        }
        if (rc < 0)
            return rc;
    }
    if (fallback) {
        if (!w->has_computer && m->hostname.p &&
            wd_str(w, "computer_name", m->hostname.p, m->hostname.len) < 0)
            return -ENOMEM;
        if (!w->has_provider && m->app_name.p &&
            wd_str(w, "provider_name", m->app_name.p, m->app_name.len) < 0)
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

static int try_json(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    struct syslog_view t = trim(m->msg.p, m->msg.len);
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
    struct wdoc w;
    if (wd_init(&w) < 0) {
        json_decref(rec);
        return -ENOMEM;
    }
    int rc = map_nxlog(rec, m, false, &w);
    json_decref(rec);
    if (rc == 1)
        rc = wd_finish(&w, m) < 0 ? -ENOMEM : 1;
    if (rc == 1) {
        *doc = w.doc;
        *kind = SYSLOG_PAYLOAD_NXLOG_JSON;
        return 1;
    }
    wd_free(&w);
    return rc;
}

static bool nxlog_sd_id(struct syslog_view id)
{
    return id.len >= 6 && memcmp(id.p + id.len - 6, "@14506", 6) == 0;
}

static int try_nxlog_sd(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
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
        if (n < 0 || set_key(rec, name.p, name.len, jstr(tmp, (size_t)n)) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    free(tmp);
    struct wdoc w;
    if (rc == -ENOMEM || wd_init(&w) < 0) {
        json_decref(rec);
        return -ENOMEM;
    }
    rc = map_nxlog(rec, m, true, &w);
    json_decref(rec);
    if (rc == 1)
        rc = wd_finish(&w, m) < 0 ? -ENOMEM : 1;
    if (rc == 1) {
        *doc = w.doc;
        *kind = SYSLOG_PAYLOAD_NXLOG_SD;
        return 1;
    }
    wd_free(&w);
    return rc;
}

/* ---- Snare ------------------------------------------------------------------------------ */

#define SNARE_FIELDS 64

/* The trailing column of a Snare record: its event counter, or an MD5 in some versions. */
static bool snare_trailer(struct syslog_view v)
{
    if (all_digits(v.p, v.len))
        return true;
    if (v.len != 32)
        return false;
    for (size_t i = 0; i < 32; i++) {
        char c = (char)(v.p[i] | 0x20);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static int try_snare(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = find_marker(m->msg, "MSWinEventLog\t", MARKER_WINDOW);
    if (!start)
        return 0;
    const char *end = m->msg.p + m->msg.len;
    struct syslog_view f[SNARE_FIELDS];
    size_t nf = 0;
    const char *p = start;
    while (nf < SNARE_FIELDS) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *fe = tab ? tab : end;
        f[nf++] = (struct syslog_view){p, (size_t)(fe - p)};
        if (!tab)
            break;
        p = tab + 1;
    }
    /* MSWinEventLog, criticality, channel, counter, date, EventID, source, user, SID type,
     * event type, computer, category, [data,] expanded string, counter */
    if (nf < 12 || !all_digits(trim(f[5].p, f[5].len).p, trim(f[5].p, f[5].len).len))
        return 0;
    struct wdoc w;
    if (wd_init(&w) < 0)
        return -ENOMEM;
    int rc = 0;
    rc |= wd_str(&w, "channel", f[2].p, f[2].len);
    rc |= wd_str(&w, "event_id", f[5].p, f[5].len);
    rc |= wd_str(&w, "provider_name", f[6].p, f[6].len);
    if (!view_eq(f[7], "N/A") && !view_eq(f[7], "Unknown User"))
        rc |= wd_str(&w, "user.name", f[7].p, f[7].len);
    if (!view_eq(f[8], "N/A"))
        rc |= wd_str(&w, "user.type", f[8].p, f[8].len);
    rc |= wd_str(&w, "computer_name", f[10].p, f[10].len);
    rc |= wd_str(&w, "task", f[11].p, f[11].len);
    size_t last = nf;
    if (last > 13 && snare_trailer(trim(f[last - 1].p, f[last - 1].len)))
        last--;
    for (size_t i = last; rc == 0 && i > 12; i--) {
        struct syslog_view d = trim(f[i - 1].p, f[i - 1].len);
        if (d.len) {
            rc = parse_rendered_for(&w, d.p, d.len);
            break;
        }
    }
    if (rc == 0)
        rc = wd_finish(&w, m);
    if (rc < 0) {
        wd_free(&w);
        return -ENOMEM;
    }
    *doc = w.doc;
    *kind = SYSLOG_PAYLOAD_SNARE;
    return 1;
}

/* ---- QRadar WinCollect ------------------------------------------------------------------ */

static int try_wincollect(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = find_marker(m->msg, "AgentDevice=WindowsLog", MARKER_WINDOW);
    if (!start)
        return 0;
    const char *end = m->msg.p + m->msg.len, *p = start;
    struct syslog_view id = {NULL, 0}, idcode = {NULL, 0}, message = {NULL, 0};
    struct wdoc w;
    if (wd_init(&w) < 0)
        return -ENOMEM;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *fe = tab ? tab : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        if (eq) {
            const char *k = p, *v = eq + 1;
            size_t kl = (size_t)(eq - p), vl = (size_t)(fe - v);
            if (text_eq(k, kl, "Message")) {
                /* Last, and the rest of the record whatever it holds. */
                message = (struct syslog_view){v, (size_t)(end - v)};
                break;
            }
            if (text_eq(k, kl, "AgentLogFile"))
                rc = wd_str(&w, "channel", v, vl);
            else if (text_eq(k, kl, "Source"))
                rc = wd_str(&w, "provider_name", v, vl);
            else if (text_eq(k, kl, "Computer"))
                rc = wd_str(&w, "computer_name", v, vl);
            else if (text_eq(k, kl, "User"))
                rc = wd_str(&w, "user.name", v, vl);
            else if (text_eq(k, kl, "Domain"))
                rc = wd_str(&w, "user.domain", v, vl);
            else if (text_eq(k, kl, "RecordNumber"))
                rc = wd_num(&w, "record_id", v, vl);
            else if (text_eq(k, kl, "EventID"))
                id = (struct syslog_view){v, vl};
            else if (text_eq(k, kl, "EventIDCode"))
                idcode = (struct syslog_view){v, vl};
            else if (text_eq(k, kl, "TimeGenerated") && all_digits(v, vl) &&
                     digits_value(v, vl) <= MAX_EPOCH_SECONDS)
                rc = put_time(w.doc, digits_value(v, vl) * 1000);
        }
        if (!tab)
            break;
        p = tab + 1;
    }
    /* EventIDCode is the event id proper; EventID may carry the qualifiers of classic logs. */
    struct syslog_view eid = idcode.p ? idcode : id;
    if (rc == 0 && eid.p)
        rc = wd_str(&w, "event_id", eid.p, eid.len);
    if (rc == 0 && !(w.has_id && (w.has_channel || w.has_provider))) {
        wd_free(&w);
        return 0;
    }
    if (rc == 0 && message.p)
        rc = parse_rendered_for(&w, message.p, message.len);
    if (rc == 0)
        rc = wd_finish(&w, m);
    if (rc < 0) {
        wd_free(&w);
        return -ENOMEM;
    }
    *doc = w.doc;
    *kind = SYSLOG_PAYLOAD_WINCOLLECT;
    return 1;
}

/* ---- Windows event XML ------------------------------------------------------------------ */

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
        while (q < end && !is_space(*q) && *q != '>' && *q != '/')
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
        while (p < end && is_space(*p))
            p++;
        const char *k = p;
        while (p < end && *p != '=' && !is_space(*p))
            p++;
        size_t kl = (size_t)(p - k);
        while (p < end && is_space(*p))
            p++;
        if (p >= end || *p != '=')
            return false;
        p++;
        while (p < end && is_space(*p))
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
    struct wdoc *w;
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
    struct wdoc *w = x->w;
    struct syslog_view v;
    int rc = 0;
    if (view_eq(name, "Provider")) {
        if ((rc = xml_attr_text(x, attrs, "Name", &v)) == 0 && v.p)
            rc = wd_str(w, "provider_name", v.p, v.len);
        if (rc == 0 && (rc = xml_attr_text(x, attrs, "Guid", &v)) == 0 && v.p)
            rc = wd_str(w, "provider_guid", v.p, v.len);
    } else if (view_eq(name, "TimeCreated")) {
        int64_t ms;
        if ((rc = xml_attr_text(x, attrs, "SystemTime", &v)) == 0 && v.p &&
            time_rfc3339_parse(v.p, v.len, &ms) == 0)
            rc = put_time(w->doc, ms);
    } else if (view_eq(name, "Security")) {
        if ((rc = xml_attr_text(x, attrs, "UserID", &v)) == 0 && v.p)
            rc = wd_str(w, "user.identifier", v.p, v.len);
    } else if (view_eq(name, "Execution")) {
        if ((rc = xml_attr_text(x, attrs, "ProcessID", &v)) == 0 && v.p)
            rc = wd_num(w, "process.pid", v.p, v.len);
        if (rc == 0 && (rc = xml_attr_text(x, attrs, "ThreadID", &v)) == 0 && v.p)
            rc = wd_num(w, "process.thread.id", v.p, v.len);
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
        if (view_eq(name, map[i].element))
            return map[i].num ? wd_num(x->w, map[i].path, t, x->text.len)
                              : wd_str(x->w, map[i].path, t, x->text.len);
    }
    return 0;
}

static int xml_data(struct xml_walk *x, struct syslog_view attrs)
{
    struct syslog_view name;
    char key[32];
    x->unnamed++;
    /* The value first: the name's decoding reuses TMP. */
    json_t *v = jstr(x->text.data ? x->text.data : "", x->text.len);
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
    return set_key(x->w->ed, name.p, name.len, v);
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
            if (depth == 0 && !view_eq(t.name, "Event"))
                return 0;
            if (depth == 1) {
                section = view_eq(t.name, "System")      ? XS_SYSTEM
                          : view_eq(t.name, "EventData") ? XS_EVENTDATA
                                                         : XS_NONE;
            } else if (depth == 2 && section != XS_NONE) {
                leaf = t.name;
                leaf_attrs = t.attrs;
                buf_reset(&x->text);
                if (section == XS_SYSTEM)
                    rc = xml_system_attrs(x, t.name, t.attrs);
                if (rc == 0 && t.kind == X_EMPTY && section == XS_EVENTDATA &&
                    view_eq(t.name, "Data"))
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
                else if (view_eq(leaf, "Data"))
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
    const char *p = msg.p, *end = msg.p + (msg.len < MARKER_WINDOW ? msg.len : MARKER_WINDOW);
    while (p && p < end) {
        const char *q = memmem(p, (size_t)(msg.p + msg.len - p), "<Event", 6);
        if (!q || q >= end)
            return NULL;
        if ((size_t)(msg.p + msg.len - q) > 6 && (is_space(q[6]) || q[6] == '>'))
            return q;
        p = q + 6;
    }
    return NULL;
}

static int try_xml(const struct syslog_msg *m, json_t **doc, enum syslog_payload *kind)
{
    const char *start = find_event_element(m->msg);
    if (!start)
        return 0;
    struct wdoc w;
    if (wd_init(&w) < 0)
        return -ENOMEM;
    struct xml_walk x = {.w = &w};
    /* Decoding never lengthens text, so the message length bounds both buffers. */
    buf_init(&x.text, m->msg.len + 1);
    buf_init(&x.tmp, m->msg.len + 1);
    int rc = walk_xml(&x, start, m->msg.p + m->msg.len);
    buf_free(&x.text);
    buf_free(&x.tmp);
    if (rc == 0 && !(w.has_id && (w.has_channel || w.has_provider))) {
        wd_free(&w);
        return 0;
    }
    if (rc == 0)
        rc = wd_finish(&w, m);
    if (rc < 0) {
        wd_free(&w);
        return -ENOMEM;
    }
    *doc = w.doc;
    *kind = SYSLOG_PAYLOAD_XML;
    return 1;
}

/* ---- Entry points ------------------------------------------------------------------------ */

static int generic_doc(const struct syslog_msg *m, json_t **doc)
{
    json_t *d = json_object();
    if (!d || add_common(d, m) < 0) {
        json_decref(d);
        return -ENOMEM;
    }
    *doc = d;
    return 0;
}

int syslog_event_from_msg(const struct syslog_msg *m, json_t **doc_out, enum syslog_payload *kind)
{
    static int (*const tries[])(const struct syslog_msg *, json_t **, enum syslog_payload *) = {
        try_nxlog_sd, try_json, try_snare, try_wincollect, try_xml,
    };
    enum syslog_payload k = SYSLOG_PAYLOAD_NONE;
    *doc_out = NULL;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        int rc = tries[i](m, doc_out, &k);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (kind)
                *kind = k;
            return 0;
        }
    }
    if (kind)
        *kind = SYSLOG_PAYLOAD_NONE;
    return generic_doc(m, doc_out);
}

int syslog_event_build(const char *raw, size_t len, int64_t now_ms, json_t **doc_out)
{
    *doc_out = NULL;
    if (!raw && len)
        return -EINVAL;
    struct syslog_msg m;
    syslog_parse(raw ? raw : "", len, now_ms, &m);
    return syslog_event_from_msg(&m, doc_out, NULL);
}

json_t *syslog_event_source(const struct syslog_origin *o, const struct syslog_msg *m,
                            const char *raw, size_t len, enum syslog_payload kind)
{
    json_t *s = json_pack("{s:s, s:s, s:i, s:i, s:i}", "type", "syslog", "payload",
                          syslog_event_payload_name(kind), "facility", m->facility, "severity",
                          m->severity, "priority", m->pri);
    if (!s)
        return NULL;
    int rc = 0;
    if (o && o->peer)
        rc |= json_object_set_new(s, "peer", jstr(o->peer, strlen(o->peer)));
    if (o && o->transport)
        rc |= json_object_set_new(s, "transport", jstr(o->transport, strlen(o->transport)));
    if (o && o->tls_subject)
        rc |= json_object_set_new(s, "tls_subject", jstr(o->tls_subject, strlen(o->tls_subject)));
    if (m->hostname.p)
        rc |= json_object_set_new(s, "hostname", jview(m->hostname));
    if (m->app_name.p)
        rc |= json_object_set_new(s, "appname", jview(m->app_name));
    if (o && (o->frame_flags & SYSLOG_MSG_TRUNCATED))
        rc |= json_object_set_new(s, "truncated", json_true());
    if (m->flags & SYSLOG_F_INVALID_UTF8)
        rc |= json_object_set_new(s, "invalid_utf8", json_true());
    rc |= json_object_set_new(s, "raw", jstr(raw ? raw : "", raw ? len : 0));
    if (rc) {
        json_decref(s);
        return NULL;
    }
    return s;
}

bool syslog_event_candidate(const char *p, size_t n)
{
    if (prefilter_candidate(p, n))
        return true;
    /* XML character references ("&#65;") can spell the word too. memchr is vectorised and '&'
     * is rare in event text, so this costs far less than a two-byte memmem. */
    const char *end = p + n;
    for (const char *a = memchr(p, '&', n); a && a + 1 < end;
         a = memchr(a + 1, '&', (size_t)(end - a - 1))) {
        if (a[1] == '#')
            return true;
    }
    return false;
}
