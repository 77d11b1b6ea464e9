#include "pipeline/normalize.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "pipeline/field.h"

const char *profile_name(enum profile p)
{
    return p == PROFILE_EXTENDED ? "extended" : "elastic";
}

int profile_parse(const char *name, enum profile *out)
{
    if (strcmp(name, "elastic") == 0) {
        *out = PROFILE_ELASTIC;
        return 0;
    }
    if (strcmp(name, "extended") == 0) {
        *out = PROFILE_EXTENDED;
        return 0;
    }
    return -EINVAL;
}

const char *shape_name(enum shape s)
{
    switch (s) {
    case SHAPE_SYSMON_REG:
        return "sysmon-registry";
    case SHAPE_SECURITY_4657:
        return "security-4657";
    case SHAPE_WINLOG_OTHER:
        return "winlog";
    case SHAPE_M365:
        return "m365-defender";
    case SHAPE_SENTINELONE:
        return "sentinelone";
    case SHAPE_ECS:
    default:
        return "ecs";
    }
}

/* ECS fields carried over from documents that already have them: what the rule reads and what an
 * investigator looks at first. */
static const char *const copied_fields[] = {
    "@timestamp",
    "event.category",
    "event.type",
    "event.action",
    "event.code",
    "event.module",
    "event.dataset",
    "host.os.type",
    "host.name",
    "host.hostname",
    "host.id",
    "user.name",
    "user.id",
    "user.domain",
    "process.executable",
    "process.name",
    "process.pid",
    "process.command_line",
    "process.entity_id",
    "process.parent.executable",
    "registry.path",
    "registry.hive",
    "registry.key",
    "registry.value",
    "registry.data.strings",
    "registry.data.type",
    "winlog.channel",
    "winlog.event_id",
    "winlog.record_id",
    "winlog.computer_name",
    "winlog.provider_name",
    "agent.type",
    "agent.version",
    "tags",
};

/* Sets KEY to V, taking the reference. NULL V removes the key. */
static int put(json_t *view, const char *key, json_t *v)
{
    if (!v) {
        json_object_del(view, key);
        return 0;
    }
    return json_object_set_new(view, key, v) == 0 ? 0 : -ENOMEM;
}

static int put_str(json_t *view, const char *key, const char *s)
{
    return s ? put(view, key, json_string(s)) : 0;
}

static int put_str_array(json_t *view, const char *key, const char *s)
{
    json_t *a = json_array();
    if (!a || json_array_append_new(a, json_string(s)) != 0) {
        json_decref(a);
        return -ENOMEM;
    }
    return put(view, key, a);
}

static int copy_generic(const json_t *doc, json_t *view)
{
    for (size_t i = 0; i < sizeof(copied_fields) / sizeof(copied_fields[0]); i++) {
        json_t *v = field_get(doc, copied_fields[i]);
        if (v && put(view, copied_fields[i], v) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* The text of a scalar field (number or string), in TMP when it must be formatted. */
static const char *scalar_text(const json_t *v, char *tmp, size_t tmplen)
{
    const char *s;
    size_t len;
    if (!v || !field_scalar_text(v, tmp, tmplen, &s, &len))
        return NULL;
    return s;
}

/* Elastic's sysmon pipeline drops these from winlog.event_data before anything else. */
static bool empty_value(const char *s)
{
    return !s || s[0] == '\0' || strcmp(s, "-") == 0 ||
           strcmp(s, "{00000000-0000-0000-0000-000000000000}") == 0 ||
           strcmp(s, "00000000-0000-0000-0000-000000000000") == 0;
}

/* An event_data value as text, NULL when missing or empty. TMP holds formatted numbers. */
static const char *ed_text(const json_t *ed, const char *key, char *tmp, size_t tmplen)
{
    const char *s = scalar_text(json_object_get(ed, key), tmp, tmplen);
    return empty_value(s) ? NULL : s;
}

static bool tags_contain(const json_t *view, const char *tag)
{
    const char *const lit[] = {tag};
    return field_any_equals(json_object_get(view, "tags"), lit, 1);
}

/* "2020-05-05 14:57:40.589" (Sysmon UtcTime) to "2020-05-05T14:57:40.589Z". */
static bool utc_time_to_iso(const char *s, char *out, size_t outlen)
{
    int y, mo, d, h, mi, sec, ms = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return false;
    if (s[n] == '.') {
        int digits = 0;
        n++;
        while (isdigit((unsigned char)s[n])) {
            if (digits < 3)
                ms = ms * 10 + (s[n] - '0');
            digits++;
            n++;
        }
        if (digits == 0)
            return false;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (s[n] != '\0')
        return false;
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, ms);
    return true;
}

static const struct {
    const char *long_name, *short_name;
} hives[] = {
    {"HKEY_CLASSES_ROOT", "HKCR"},
    {"HKCR", "HKCR"},
    {"HKEY_CURRENT_CONFIG", "HKCC"},
    {"HKCC", "HKCC"},
    {"HKEY_CURRENT_USER", "HKCU"},
    {"HKCU", "HKCU"},
    {"HKEY_DYN_DATA", "HKDD"},
    {"HKDD", "HKDD"},
    {"HKEY_LOCAL_MACHINE", "HKLM"},
    {"HKLM", "HKLM"},
    {"HKEY_PERFORMANCE_DATA", "HKPD"},
    {"HKPD", "HKPD"},
    {"HKEY_USERS", "HKU"},
    {"HKU", "HKU"},
};

/* registry.path, .hive, .key and .value from a Sysmon TargetObject, as Elastic's script does. */
static int map_target_object(json_t *view, const char *target)
{
    if (put_str(view, "registry.path", target) < 0)
        return -ENOMEM;
    const char *first_sep = strchr(target, '\\');
    size_t tok0 = first_sep ? (size_t)(first_sep - target) : strlen(target);
    for (size_t i = 0; i < sizeof(hives) / sizeof(hives[0]); i++) {
        if (strlen(hives[i].long_name) == tok0 && memcmp(target, hives[i].long_name, tok0) == 0) {
            if (put_str(view, "registry.hive", hives[i].short_name) < 0)
                return -ENOMEM;
            if (first_sep && put_str(view, "registry.key", first_sep + 1) < 0)
                return -ENOMEM;
            break;
        }
    }
    const char *last_sep = strrchr(target, '\\');
    return put_str(view, "registry.value", last_sep ? last_sep + 1 : target);
}

/* Matches "(?i)<NAME> \((0x[0-9A-F]{8})<SEP>...\)" over the whole string. */
static bool parse_hex8(const char *s, uint32_t *out)
{
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return false;
    uint32_t v = 0;
    for (int i = 2; i < 10; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return false;
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return true;
}

int normalize_sysmon_details(const char *details, json_t **strings, const char **type)
{
    char num[32];
    const char *text = details;
    uint32_t hi, lo;
    size_t len = strlen(details);
    if (len == 29 && strncasecmp(details, "QWORD (", 7) == 0 && parse_hex8(details + 7, &hi) &&
        details[17] == '-' && parse_hex8(details + 18, &lo) && details[28] == ')' &&
        details[29] == '\0') {
        /* Elastic's script shifts the high word by 8, not 32; kept for parity. */
        snprintf(num, sizeof(num), "%" PRIu64, ((uint64_t)hi << 8) + lo);
        text = num;
        *type = "SZ_QWORD";
    } else if (len == 18 && strncasecmp(details, "DWORD (", 7) == 0 &&
               parse_hex8(details + 7, &hi) && details[17] == ')') {
        snprintf(num, sizeof(num), "%" PRIu32, hi);
        text = num;
        *type = "SZ_DWORD";
    } else if (strcmp(details, "Binary Data") == 0) {
        *type = "REG_BINARY";
    } else {
        *type = "REG_SZ";
    }
    json_t *a = json_array();
    if (!a || json_array_append_new(a, json_string(text)) != 0) {
        json_decref(a);
        return -ENOMEM;
    }
    *strings = a;
    return 0;
}

static int put_category_type(json_t *view, const char *category2, const char *category,
                             const char *type)
{
    json_t *cat = json_array();
    if (!cat || (category2 && json_array_append_new(cat, json_string(category2)) != 0) ||
        json_array_append_new(cat, json_string(category)) != 0) {
        json_decref(cat);
        return -ENOMEM;
    }
    if (put(view, "event.category", cat) < 0)
        return -ENOMEM;
    return type ? put_str_array(view, "event.type", type) : put(view, "event.type", NULL);
}

/* Elastic's sysmon pipeline for registry events 12, 13 and 14. */
static int map_sysmon_registry(const json_t *doc, const json_t *ed, json_t *view)
{
    char tmp[64];
    static const char *const reg_fields[] = {"registry.path",         "registry.hive",
                                             "registry.key",          "registry.value",
                                             "registry.data.strings", "registry.data.type"};
    for (size_t i = 0; i < sizeof(reg_fields) / sizeof(reg_fields[0]); i++)
        json_object_del(view, reg_fields[i]);
    if (put_category_type(view, "configuration", "registry", "change") < 0)
        return -ENOMEM;

    const char *target = ed_text(ed, "TargetObject", tmp, sizeof(tmp));
    if (target && map_target_object(view, target) < 0)
        return -ENOMEM;
    const char *details = ed_text(ed, "Details", tmp, sizeof(tmp));
    if (details) {
        json_t *strings;
        const char *type;
        if (normalize_sysmon_details(details, &strings, &type) < 0)
            return -ENOMEM;
        if (put(view, "registry.data.strings", strings) < 0 ||
            put_str(view, "registry.data.type", type) < 0)
            return -ENOMEM;
    }

    const char *image = ed_text(ed, "Image", tmp, sizeof(tmp));
    if (image) {
        const char *base = strrchr(image, '\\');
        if (put_str(view, "process.executable", image) < 0 ||
            put_str(view, "process.name", base ? base + 1 : image) < 0)
            return -ENOMEM;
    }
    const char *pid = ed_text(ed, "ProcessId", tmp, sizeof(tmp));
    if (pid) {
        char *end;
        long long v = strtoll(pid, &end, 10);
        if (*end == '\0' && end != pid && put(view, "process.pid", json_integer(v)) < 0)
            return -ENOMEM;
    }
    const char *guid = ed_text(ed, "ProcessGuid", tmp, sizeof(tmp));
    if (guid && put_str(view, "process.entity_id", guid) < 0)
        return -ENOMEM;

    const char *sid = field_str(doc, "winlog.user.identifier");
    if (sid && put_str(view, "user.id", sid) < 0)
        return -ENOMEM;
    const char *user = ed_text(ed, "User", tmp, sizeof(tmp));
    if (user) {
        const char *sep = strchr(user, '\\');
        if (sep && !strchr(sep + 1, '\\')) {
            if (put(view, "user.domain", json_stringn(user, (size_t)(sep - user))) < 0 ||
                put_str(view, "user.name", sep + 1) < 0)
                return -ENOMEM;
        }
    }
    const char *utc = ed_text(ed, "UtcTime", tmp, sizeof(tmp));
    char iso[40];
    if (utc && utc_time_to_iso(utc, iso, sizeof(iso)) && put_str(view, "@timestamp", iso) < 0)
        return -ENOMEM;
    return 0;
}

/* Windows Security 4657. Elastic maps only registry.path; the extended profile reads the value
 * name and the new value as well. */
static int map_security_4657(const json_t *ed, enum profile profile, json_t *view)
{
    char tmp[64];
    const char *object = ed_text(ed, "ObjectName", tmp, sizeof(tmp));
    if (object && put_str(view, "registry.path", object) < 0)
        return -ENOMEM;
    if (profile != PROFILE_EXTENDED)
        return 0;
    const char *name = ed_text(ed, "ObjectValueName", tmp, sizeof(tmp));
    if (name && put_str(view, "registry.value", name) < 0)
        return -ENOMEM;
    const char *value = ed_text(ed, "NewValue", tmp, sizeof(tmp));
    if (value && put_str_array(view, "registry.data.strings", value) < 0)
        return -ENOMEM;
    if (put_category_type(view, NULL, "registry", "change") < 0)
        return -ENOMEM;
    const char *proc = ed_text(ed, "ProcessName", tmp, sizeof(tmp));
    if (proc && put_str(view, "process.executable", proc) < 0)
        return -ENOMEM;
    const char *subject = ed_text(ed, "SubjectUserName", tmp, sizeof(tmp));
    if (subject && put_str(view, "user.name", subject) < 0)
        return -ENOMEM;
    return 0;
}

static bool event_id_is(const json_t *id, const char *want)
{
    char tmp[32];
    const char *s = scalar_text(id, tmp, sizeof(tmp));
    return s && strcmp(s, want) == 0;
}

/* Raw Windows event log records (Winlogbeat shape): Sysmon registry events and Security 4657 get
 * their pipelines; host.os.type is inferred where Elastic would (forwarded events) and, under the
 * extended profile, for every Windows event log record. */
static int map_winlog(const json_t *doc, enum profile profile, struct norm *out)
{
    json_t *view = out->view;
    const char *channel = field_str(doc, "winlog.channel");
    const char *provider = field_str(doc, "winlog.provider_name");
    json_t *id = field_get(doc, "winlog.event_id");
    json_t *ed = field_get(doc, "winlog.event_data");
    int rc = 0;
    out->shape = out->evtx ? SHAPE_WINLOG_OTHER : SHAPE_ECS;
    bool sysmon = (channel && strcmp(channel, "Microsoft-Windows-Sysmon/Operational") == 0) ||
                  (provider && strcmp(provider, "Microsoft-Windows-Sysmon") == 0);
    bool security = (channel && strcmp(channel, "Security") == 0) ||
                    (provider && strcmp(provider, "Microsoft-Windows-Security-Auditing") == 0);
    if (json_is_object(ed)) {
        /* Only raw records still carry the source fields; ECS documents whose pipeline already
         * ran keep what it produced. */
        if (sysmon && (event_id_is(id, "12") || event_id_is(id, "13") || event_id_is(id, "14")) &&
            (json_object_get(ed, "TargetObject") || json_object_get(ed, "Details"))) {
            out->shape = SHAPE_SYSMON_REG;
            rc = map_sysmon_registry(doc, ed, view);
        } else if (security && event_id_is(id, "4657") &&
                   (json_object_get(ed, "ObjectName") || json_object_get(ed, "ObjectValueName"))) {
            out->shape = SHAPE_SECURITY_4657;
            rc = map_security_4657(ed, profile, view);
        }
    }
    if (rc == 0 && !json_object_get(view, "host.os.type")) {
        if (tags_contain(view, "forwarded") || out->evtx) {
            rc = put_str(view, "host.os.type", "windows");
        } else if (profile == PROFILE_EXTENDED) {
            rc = put_str(view, "host.os.type", "windows");
            out->os_inferred = true;
        }
    }
    json_decref(id);
    json_decref(ed);
    return rc;
}

/* Microsoft 365 Defender DeviceRegistryEvents, as the m365_defender integration maps it. */
static int map_m365(const json_t *row, enum profile profile, struct norm *out)
{
    json_t *view = out->view;
    char tmp[64];
    out->shape = SHAPE_M365;
    const char *action = field_str(row, "ActionType");
    const char *type = NULL;
    if (action &&
        (strcmp(action, "RegistryValueSet") == 0 || strcmp(action, "RegistryKeyRenamed") == 0))
        type = "change";
    else if (action && strcmp(action, "RegistryKeyCreated") == 0)
        type = "creation";
    else if (action && (strcmp(action, "RegistryKeyDeleted") == 0 ||
                        strcmp(action, "RegistryValueDeleted") == 0))
        type = "deletion";
    if (put_category_type(view, NULL, "registry", type) < 0)
        return -ENOMEM;
    if (action) {
        char lower[64];
        size_t n = strlen(action);
        if (n >= sizeof(lower))
            n = sizeof(lower) - 1;
        for (size_t i = 0; i < n; i++)
            lower[i] = (char)tolower((unsigned char)action[i]);
        lower[n] = '\0';
        if (put_str(view, "event.action", lower) < 0)
            return -ENOMEM;
    }
    static const struct {
        const char *from, *to;
    } direct[] = {
        {"RegistryKey", "registry.key"},
        {"RegistryValueName", "registry.value"},
        {"DeviceName", "host.name"},
        {"DeviceId", "host.id"},
        {"InitiatingProcessFolderPath", "process.executable"},
        {"InitiatingProcessFileName", "process.name"},
        {"InitiatingProcessCommandLine", "process.command_line"},
        {"InitiatingProcessAccountName", "user.name"},
        {"InitiatingProcessAccountDomain", "user.domain"},
        {"InitiatingProcessAccountSid", "user.id"},
        {"Timestamp", "@timestamp"},
    };
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
        const char *s = field_str(row, direct[i].from);
        if (s && s[0] && put_str(view, direct[i].to, s) < 0)
            return -ENOMEM;
    }
    const char *data = scalar_text(json_object_get(row, "RegistryValueData"), tmp, sizeof(tmp));
    if (data && put_str_array(view, "registry.data.strings", data) < 0)
        return -ENOMEM;
    json_t *pid = json_object_get(row, "InitiatingProcessId");
    if (json_is_integer(pid) && put(view, "process.pid", json_incref(pid)) < 0)
        return -ENOMEM;
    const char *platform = field_str(row, "OSPlatform");
    if (platform) {
        if (strncasecmp(platform, "windows", 7) == 0 &&
            put_str(view, "host.os.type", "windows") < 0)
            return -ENOMEM;
    } else if (profile == PROFILE_EXTENDED) {
        /* DeviceRegistryEvents exist only for Windows devices. */
        out->os_inferred = true;
        if (put_str(view, "host.os.type", "windows") < 0)
            return -ENOMEM;
    }
    return 0;
}

/* SentinelOne Cloud Funnel, as the sentinel_one_cloud_funnel integration maps registry events.
 * S1's own "registry.value" holds the data, not the value name. */
static int map_sentinelone(const json_t *rec, struct norm *out)
{
    json_t *view = out->view;
    char tmp[64];
    out->shape = SHAPE_SENTINELONE;
    const char *category = field_str(rec, "event.category");
    const char *s1type = field_str(rec, "event.type");
    const char *type = NULL;
    if (s1type) {
        char lower[128];
        size_t n = strlen(s1type);
        if (n >= sizeof(lower))
            n = sizeof(lower) - 1;
        for (size_t i = 0; i < n; i++)
            lower[i] = (char)tolower((unsigned char)s1type[i]);
        lower[n] = '\0';
        if (strstr(lower, "create"))
            type = "creation";
        else if (strstr(lower, "delet"))
            type = "deletion";
        else if (strstr(lower, "change") || strstr(lower, "modif"))
            type = "change";
    }
    if (category) {
        char lowercat[64];
        size_t n = strlen(category);
        if (n >= sizeof(lowercat))
            n = sizeof(lowercat) - 1;
        for (size_t i = 0; i < n; i++)
            lowercat[i] = (char)tolower((unsigned char)category[i]);
        lowercat[n] = '\0';
        if (put_category_type(view, NULL, lowercat, type) < 0)
            return -ENOMEM;
    } else if (type && put_str_array(view, "event.type", type) < 0) {
        return -ENOMEM;
    }
    const char *keypath = field_str(rec, "registry.keyPath");
    if (keypath) {
        const char *sep = strrchr(keypath, '\\');
        if (put_str(view, "registry.path", keypath) < 0)
            return -ENOMEM;
        if (sep) {
            if (put(view, "registry.key", json_stringn(keypath, (size_t)(sep - keypath))) < 0 ||
                put_str(view, "registry.value", sep + 1) < 0)
                return -ENOMEM;
        } else if (put_str(view, "registry.value", keypath) < 0) {
            return -ENOMEM;
        }
    }
    json_t *data = field_get(rec, "registry.value");
    const char *datatext = scalar_text(data, tmp, sizeof(tmp));
    int rc = datatext ? put_str_array(view, "registry.data.strings", datatext) : 0;
    json_decref(data);
    if (rc < 0)
        return rc;
    static const struct {
        const char *from, *to;
    } direct[] = {
        {"endpoint.os", "host.os.type"},
        {"endpoint.name", "host.name"},
        {"agent.uuid", "host.id"},
        {"src.process.image.path", "process.executable"},
        {"src.process.name", "process.name"},
        {"src.process.cmdline", "process.command_line"},
        {"src.process.user", "user.name"},
        {"src.process.parent.image.path", "process.parent.executable"},
        {"src.process.uid", "process.entity_id"},
    };
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
        const char *s = field_str(rec, direct[i].from);
        if (s && s[0] && put_str(view, direct[i].to, s) < 0)
            return -ENOMEM;
    }
    json_t *pid = field_get(rec, "src.process.pid");
    if (json_is_integer(pid)) {
        if (put(view, "process.pid", pid) < 0)
            return -ENOMEM;
    } else {
        json_decref(pid);
    }
    json_t *t = field_get(rec, "event.time");
    if (json_is_integer(t)) {
        char iso[40];
        clock_format_ms(json_integer_value(t), iso, sizeof(iso));
        rc = put_str(view, "@timestamp", iso);
    }
    json_decref(t);
    return rc;
}

static bool is_m365_row(const json_t *v)
{
    return json_is_object(v) && json_object_get(v, "ActionType") &&
           (json_object_get(v, "RegistryKey") || json_object_get(v, "RegistryValueName"));
}

static bool is_sentinelone(const json_t *v)
{
    if (json_object_get(v, "registry.keyPath"))
        return true;
    const char *ds = field_str(v, "dataSource.name");
    return ds && strcmp(ds, "SentinelOne") == 0 && field_str(v, "event.category");
}

/* evtx_dump JSON ({"Event":{"System":{...},"EventData":{...}}}) rewritten into the Winlogbeat shape
 * so the same pipelines apply. Returns a new object or NULL. */
static json_t *evtx_to_winlog(const json_t *event)
{
    const json_t *sys = json_object_get(event, "System");
    json_t *doc = json_object();
    json_t *winlog = json_object();
    if (!doc || !winlog || json_object_set_new(doc, "winlog", winlog) != 0) {
        json_decref(doc);
        json_decref(winlog);
        return NULL;
    }
    char tmp[64];
    json_t *id = json_object_get(sys, "EventID");
    if (json_is_object(id))
        id = json_object_get(id, "#text");
    const char *idtext = scalar_text(id, tmp, sizeof(tmp));
    int bad = 0;
    if (idtext)
        bad |= json_object_set_new(winlog, "event_id", json_string(idtext));
    const char *channel = field_str(sys, "Channel");
    if (channel)
        bad |= json_object_set_new(winlog, "channel", json_string(channel));
    const char *computer = field_str(sys, "Computer");
    if (computer) {
        bad |= json_object_set_new(winlog, "computer_name", json_string(computer));
        json_t *host = json_pack("{s:s}", "name", computer);
        bad |= host ? json_object_set_new(doc, "host", host) : -1;
    }
    const char *provider = field_str(sys, "Provider.#attributes.Name");
    if (provider)
        bad |= json_object_set_new(winlog, "provider_name", json_string(provider));
    json_t *record = json_object_get(sys, "EventRecordID");
    if (record)
        bad |= json_object_set(winlog, "record_id", record);
    const char *sid = field_str(sys, "Security.#attributes.UserID");
    if (sid) {
        json_t *user = json_pack("{s:s}", "identifier", sid);
        bad |= user ? json_object_set_new(winlog, "user", user) : -1;
    }
    const char *when = field_str(sys, "TimeCreated.#attributes.SystemTime");
    if (when)
        bad |= json_object_set_new(doc, "@timestamp", json_string(when));
    json_t *ed = json_object_get(event, "EventData");
    if (json_is_object(ed))
        bad |= json_object_set(winlog, "event_data", ed);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Elastic Agent integrations that poll vendor APIs ship the vendor record as a JSON string in
 * "message" and name the integration in data_stream.dataset. Returns the decoded record or NULL. */
static json_t *unwrap_string_record(const json_t *doc)
{
    const char *dataset = field_str(doc, "data_stream.dataset");
    if (!dataset || (strcmp(dataset, "m365_defender.event") != 0 &&
                     strcmp(dataset, "sentinel_one_cloud_funnel.event") != 0))
        return NULL;
    const json_t *msg = json_object_get(doc, "message");
    if (!json_is_string(msg))
        return NULL;
    json_t *inner =
        json_loadb(json_string_value(msg), json_string_length(msg), JSON_ALLOW_NUL, NULL);
    if (inner && !json_is_object(inner)) {
        json_decref(inner);
        return NULL;
    }
    return inner;
}

/* True when the view holds any normalized registry.data.* field. */
static bool has_registry_data(const json_t *view)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)view, key, v)
    {
        if (strncmp(key, "registry.data.", 14) == 0)
            return true;
    }
    return false;
}

/* The extended profile's raw-details clause, for senders that never ran a pipeline: where no
 * registry.data.* was normalized, the value a Sysmon registry event set is read from the
 * "Details: ..." line of its message, as registry.data.strings (named in the alert as inferred).
 * Where registry.data.* exists it is the truth and the message is not read. */
static int read_message_details(const json_t *rec, struct norm *out)
{
    const char *msg = field_str(rec, "message");
    if (!msg || has_registry_data(out->view))
        return 0;
    static const char tag[] = "Details: ";
    for (const char *p = msg; p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, tag, sizeof(tag) - 1) != 0)
            continue;
        const char *text = p + sizeof(tag) - 1;
        size_t len = strcspn(text, "\r\n");
        if (len == 0 || len > 256)
            return 0;
        json_t *strings = json_array();
        if (!strings || json_array_append_new(strings, json_stringn(text, len)) != 0 ||
            put(out->view, "registry.data.strings", strings) < 0) {
            json_decref(strings);
            return -ENOMEM;
        }
        out->data_from_message = true;
        return 0;
    }
    return 0;
}

int normalize(const json_t *doc, enum profile profile, struct norm *out)
{
    memset(out, 0, sizeof(*out));
    out->view = json_object();
    if (!out->view)
        return -ENOMEM;
    json_t *inner = unwrap_string_record(doc);
    const json_t *rec = inner ? inner : doc;
    json_t *synth = NULL;
    int rc;

    const json_t *props = json_object_get(rec, "properties");
    const json_t *evtx = json_object_get(rec, "Event");
    if (is_m365_row(props)) {
        rc = map_m365(props, profile, out);
    } else if (is_m365_row(rec)) {
        rc = map_m365(rec, profile, out);
    } else if (is_sentinelone(rec)) {
        rc = map_sentinelone(rec, out);
    } else if (json_is_object(evtx) && json_is_object(json_object_get(evtx, "System"))) {
        out->evtx = true;
        synth = evtx_to_winlog(evtx);
        rc = synth ? copy_generic(synth, out->view) : -ENOMEM;
        if (rc == 0)
            rc = map_winlog(synth, profile, out);
    } else {
        rc = copy_generic(rec, out->view);
        if (rc == 0 && json_is_object(json_object_get(rec, "winlog")) &&
            (field_str(rec, "winlog.channel") || field_str(rec, "winlog.provider_name")))
            rc = map_winlog(rec, profile, out);
        if (rc == 0 && profile == PROFILE_EXTENDED)
            rc = read_message_details(rec, out);
    }
    json_decref(synth);
    json_decref(inner);
    if (rc < 0) {
        norm_free(out);
        return rc;
    }
    return 0;
}

void norm_free(struct norm *n)
{
    if (!n)
        return;
    json_decref(n->view);
    n->view = NULL;
}
