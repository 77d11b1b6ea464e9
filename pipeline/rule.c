#include "pipeline/rule.h"

#include "pipeline/field.h"

static const struct rule_meta seed = {
    .id = "f874315d-5188-4b4a-8521-d1c73093a7e4",
    .name = "Modification of AmsiEnable Registry Key",
    .description = "Identifies modifications of the AmsiEnable registry key to 0, which disables "
                   "the Antimalware Scan Interface (AMSI). An adversary can modify this key to "
                   "disable AMSI protections.",
    .version = 312,
    .severity = "high",
    .risk_score = 73,
    .interval = "5m",
    .from = "now-9m",
    .max_signals = 100,
    .query = "registry where host.os.type == \"windows\" and event.type == \"change\" and\n"
             "  registry.value : \"AmsiEnable\" and registry.data.strings : (\"0\", "
             "\"0x00000000\")",
    .response = "Isolate the host if the change was not expected; identify the process that set "
                "AmsiEnable to 0 and its parent, restore the value (delete it or set it to 1), "
                "and review script activity (PowerShell, WSH) on the host around the alert time.",
};

const char *const rule_fields[] = {"event.category", "host.os.type",          "event.type",
                                   "registry.value", "registry.data.strings", NULL};

const struct rule_meta *rule_meta(void)
{
    return &seed;
}

json_t *rule_meta_json(void)
{
    json_t *threat = json_pack(
        "[{s:s, s:{s:s, s:s, s:s}, s:[o, o]}]", "framework", "MITRE ATT&CK", "tactic", "id",
        "TA0005", "name", "Defense Evasion", "reference",
        "https://attack.mitre.org/tactics/TA0005/", "technique",
        json_pack("{s:s, s:s, s:s}", "id", "T1112", "name", "Modify Registry", "reference",
                  "https://attack.mitre.org/techniques/T1112/"),
        json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "id", "T1562", "name", "Impair Defenses",
                  "reference", "https://attack.mitre.org/techniques/T1562/", "subtechnique", "id",
                  "T1562.001", "name", "Disable or Modify Tools", "reference",
                  "https://attack.mitre.org/techniques/T1562/001/"));
    if (!threat)
        return NULL;
    return json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:[s,s], s:o,"
        " s:[{s:s, s:s}]}",
        "id", seed.id, "name", seed.name, "description", seed.description, "version", seed.version,
        "severity", seed.severity, "risk_score", seed.risk_score, "interval", seed.interval, "from",
        seed.from, "max_signals", seed.max_signals, "language", "eql", "query", seed.query,
        "response", seed.response, "references",
        "https://hackinparis.com/data/slides/2019/talks/"
        "HIP2019-Dominic_Chell-Cracking_The_Perimeter_With_Sharpshooter.pdf",
        "https://docs.microsoft.com/en-us/windows/win32/amsi/antimalware-scan-interface-portal",
        "threat", threat, "related_rules", "id", "fe794edd-487f-4a90-b285-3ee54f2af2d3", "name",
        "Microsoft Windows Defender Tampering");
}

const char *clause_name(enum clause c)
{
    switch (c) {
    case CLAUSE_SEED:
        return "seed";
    case CLAUSE_VALUE_CREATION:
        return "value-creation";
    case CLAUSE_SECURITY_4657:
        return "security-4657";
    case CLAUSE_M365_NO_PLATFORM:
        return "m365-no-osplatform";
    case CLAUSE_RAW_DETAILS:
        return "raw-details";
    case CLAUSE_OS_INFERRED:
        return "os-inferred";
    case CLAUSE_NONE:
    default:
        return "none";
    }
}

static const char *const lit_registry[] = {"registry"};
static const char *const lit_windows[] = {"windows"};
static const char *const lit_change[] = {"change"};
static const char *const lit_creation[] = {"creation"};
static const char *const pat_value[] = {"AmsiEnable"};
static const char *const pat_data[] = {"0", "0x00000000"};
/* Zero as Sysmon's Details text writes it, from senders that never ran a pipeline. */
static const char *const pat_data_raw[] = {"DWORD (0x00000000)", "QWORD (0x00000000-0x00000000)"};
/* Zero as Security 4657 renders it: read only from a 4657 record. */
static const char *const pat_data_4657[] = {"0x0"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum clause rule_eval(const struct norm *n, enum profile profile)
{
    const json_t *v = n->view;
    bool category = field_any_equals(json_object_get(v, "event.category"), lit_registry, 1);
    if (!category)
        return CLAUSE_NONE;
    if (!field_any_like(json_object_get(v, "registry.value"), pat_value, 1))
        return CLAUSE_NONE;
    const json_t *type = json_object_get(v, "event.type");
    const json_t *data = json_object_get(v, "registry.data.strings");
    bool windows = field_any_equals(json_object_get(v, "host.os.type"), lit_windows, 1);
    bool change = field_any_equals(type, lit_change, 1);
    bool data_seed = field_any_like(data, pat_data, N(pat_data));
    /* A 4657 record reaches the rule's fields only through the extended mapping: Elastic's
     * pipeline maps its path alone, so the seed rule never fires on it there. */
    if (windows && !n->os_inferred && change && data_seed && n->shape != SHAPE_SECURITY_4657)
        return CLAUSE_SEED;
    if (profile != PROFILE_EXTENDED)
        return CLAUSE_NONE;

    bool creation = field_any_equals(type, lit_creation, 1);
    bool data_raw =
        field_any_like(data, pat_data_raw, N(pat_data_raw)) ||
        (n->shape == SHAPE_SECURITY_4657 && field_any_like(data, pat_data_4657, N(pat_data_4657)));
    if (!windows || !(change || creation) || !(data_seed || data_raw))
        return CLAUSE_NONE;
    /* Name the relaxation that made the difference, most specific first. */
    if (n->shape == SHAPE_SECURITY_4657)
        return CLAUSE_SECURITY_4657;
    if (n->shape == SHAPE_M365 && n->os_inferred)
        return CLAUSE_M365_NO_PLATFORM;
    if (!change)
        return CLAUSE_VALUE_CREATION;
    if (!data_seed)
        return CLAUSE_RAW_DETAILS;
    return CLAUSE_OS_INFERRED;
}
