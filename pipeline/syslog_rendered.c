/* Rendered message text ("Key: value ...", as Snare and WinCollect carry it) split back into the
 * EventData items it was rendered from (syslog_record.h: syslog_rendered_parse). */
#include <errno.h>
#include <string.h>

#include "pipeline/syslog_record.h"

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
        if (ll + 1 < n && !wrec_is_space(p[ll + 1]))
            continue;
        best = l;
        best_len = ll;
    }
    if (best)
        *used = best_len + 1;
    return best;
}

static int emit_value(struct wrec *w, const struct label *l, const char *p, size_t n)
{
    if (!l || !l->field)
        return 0;
    struct syslog_view v = wrec_trim(p, n);
    if (v.len == 0 || json_object_get(w->ed, l->field))
        return 0; /* the first occurrence of a name is the real one */
    return wrec_set_path(w->ed, l->field, wrec_text(v.p, v.len));
}

/* Splits the rendered text at the known labels; each value runs to the next label. */
static int parse_rendered(struct wrec *w, const char *p, size_t n, const struct label *labels)
{
    const struct label *cur = NULL;
    size_t vstart = 0;
    for (size_t i = 0; i < n;) {
        if ((i == 0 || wrec_is_space(p[i - 1])) && p[i] >= 'A' && p[i] <= 'Z') {
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

int syslog_rendered_parse(struct wrec *w, const char *p, size_t n)
{
    const struct label *labels = labels_for(w->winlog);
    return labels ? parse_rendered(w, p, n, labels) : 0;
}
