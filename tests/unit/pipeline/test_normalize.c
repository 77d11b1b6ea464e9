#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "pipeline/normalize.h"

static void details(const char *in, const char *want, const char *want_type)
{
    json_t *strings = NULL;
    const char *type = NULL;
    cr_assert_eq(normalize_sysmon_details(in, &strings, &type), 0);
    cr_assert_eq(json_array_size(strings), 1);
    cr_expect_str_eq(json_string_value(json_array_get(strings, 0)), want, "Details '%s'", in);
    cr_expect_str_eq(type, want_type, "Details '%s'", in);
    json_decref(strings);
}

Test(normalize, converts_dword_details_to_decimal)
{
    details("DWORD (0x00000000)", "0", "SZ_DWORD");
    details("DWORD (0x0000000a)", "10", "SZ_DWORD");
    details("DWORD (0x0000000A)", "10", "SZ_DWORD");
    details("dword (0x00000001)", "1", "SZ_DWORD");
    details("DWORD (0xffffffff)", "4294967295", "SZ_DWORD");
}

Test(normalize, converts_qword_details_with_elastics_eight_bit_shift)
{
    details("QWORD (0x00000000-0x00000005)", "5", "SZ_QWORD");
    details("QWORD (0x00000000-0x00000000)", "0", "SZ_QWORD");
    details("QWORD (0x00000001-0x00000000)", "256", "SZ_QWORD");
}

Test(normalize, keeps_binary_data_and_other_text_as_strings)
{
    details("Binary Data", "Binary Data", "REG_BINARY");
    details("binary data", "binary data", "REG_SZ");
    details("C:\\Program Files\\x.exe", "C:\\Program Files\\x.exe", "REG_SZ");
    /* The regexes match the whole string only. */
    details("DWORD (0x0)", "DWORD (0x0)", "REG_SZ");
    details("DWORD (0x00000000) ", "DWORD (0x00000000) ", "REG_SZ");
    details("DWORD (0x0000000g)", "DWORD (0x0000000g)", "REG_SZ");
}

static struct norm norm_of(const char *text, enum profile p)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    cr_assert_not_null(doc, "bad test JSON: %s", err.text);
    struct norm n;
    cr_assert_eq(normalize(doc, p, &n), 0);
    json_decref(doc);
    return n;
}

static const char *vstr(const struct norm *n, const char *key)
{
    return json_string_value(json_object_get(n->view, key));
}

#define SYSMON(ED)                                                                                 \
    "{\"host\":{\"name\":\"h1\",\"os\":{\"type\":\"windows\"}},\"winlog\":{\"channel\":"           \
    "\"Microsoft-Windows-Sysmon/Operational\",\"event_id\":\"13\",\"user\":{\"identifier\":"       \
    "\"S-1-5-18\"},\"event_data\":{" ED "}}}"

Test(normalize, maps_a_raw_sysmon_13_like_elastics_pipeline)
{
    struct norm n = norm_of(
        SYSMON("\"TargetObject\":\"HKLM\\\\SOFTWARE\\\\Microsoft\\\\AmsiEnable\",\"Details\":"
               "\"DWORD (0x00000000)\",\"Image\":\"C:\\\\Windows\\\\regedit.exe\",\"ProcessId\":"
               "\"6072\",\"ProcessGuid\":\"{AB}\",\"User\":\"CORP\\\\alice\",\"UtcTime\":"
               "\"2024-01-02 03:04:05.678\""),
        PROFILE_ELASTIC);
    cr_assert_eq(n.shape, SHAPE_SYSMON_REG);
    cr_assert_str_eq(vstr(&n, "registry.path"), "HKLM\\SOFTWARE\\Microsoft\\AmsiEnable");
    cr_assert_str_eq(vstr(&n, "registry.hive"), "HKLM");
    cr_assert_str_eq(vstr(&n, "registry.key"), "SOFTWARE\\Microsoft\\AmsiEnable");
    cr_assert_str_eq(vstr(&n, "registry.value"), "AmsiEnable");
    cr_assert_str_eq(vstr(&n, "registry.data.type"), "SZ_DWORD");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(n.view, "registry.data.strings"), 0)),
        "0");
    cr_assert_str_eq(vstr(&n, "process.executable"), "C:\\Windows\\regedit.exe");
    cr_assert_str_eq(vstr(&n, "process.name"), "regedit.exe");
    cr_assert_eq(json_integer_value(json_object_get(n.view, "process.pid")), 6072);
    cr_assert_str_eq(vstr(&n, "process.entity_id"), "{AB}");
    cr_assert_str_eq(vstr(&n, "user.domain"), "CORP");
    cr_assert_str_eq(vstr(&n, "user.name"), "alice");
    cr_assert_str_eq(vstr(&n, "user.id"), "S-1-5-18");
    cr_assert_str_eq(vstr(&n, "@timestamp"), "2024-01-02T03:04:05.678Z");
    json_t *cat = json_object_get(n.view, "event.category");
    cr_assert_eq(json_array_size(cat), 2);
    cr_assert_str_eq(json_string_value(json_array_get(cat, 0)), "configuration");
    cr_assert_str_eq(json_string_value(json_array_get(cat, 1)), "registry");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(n.view, "event.type"), 0)),
                     "change");
    norm_free(&n);
}

Test(normalize, applies_the_hive_table_only_to_exact_hive_names)
{
    struct {
        const char *target, *hive, *key, *value;
    } cases[] = {
        {"HKEY_LOCAL_MACHINE\\\\A\\\\V", "HKLM", "A\\V", "V"},
        {"HKEY_USERS\\\\S-1\\\\V", "HKU", "S-1\\V", "V"},
        {"HKCU\\\\Software\\\\V", "HKCU", "Software\\V", "V"},
        {"HKEY_CLASSES_ROOT\\\\x\\\\V", "HKCR", "x\\V", "V"},
        {"hklm\\\\A\\\\V", NULL, NULL, "V"},
        {"\\\\REGISTRY\\\\MACHINE\\\\A\\\\V", NULL, NULL, "V"},
        {"V", NULL, NULL, "V"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc), SYSMON("\"TargetObject\":\"%s\""), cases[i].target);
        struct norm n = norm_of(doc, PROFILE_ELASTIC);
        const char *hive = vstr(&n, "registry.hive"), *key = vstr(&n, "registry.key");
        if (cases[i].hive)
            cr_expect(hive && strcmp(hive, cases[i].hive) == 0, "hive of %s", cases[i].target);
        else
            cr_expect_null(hive, "no hive for %s", cases[i].target);
        if (cases[i].key)
            cr_expect(key && strcmp(key, cases[i].key) == 0, "key of %s", cases[i].target);
        else
            cr_expect_null(key, "no key for %s", cases[i].target);
        cr_expect_str_eq(vstr(&n, "registry.value"), cases[i].value);
        norm_free(&n);
    }
}

Test(normalize, drops_empty_event_data_values_first)
{
    struct norm n = norm_of(SYSMON("\"TargetObject\":\"-\",\"Details\":\"\",\"ProcessGuid\":"
                                   "\"{00000000-0000-0000-0000-000000000000}\",\"User\":\"-\""),
                            PROFILE_ELASTIC);
    cr_assert_null(json_object_get(n.view, "registry.path"));
    cr_assert_null(json_object_get(n.view, "registry.value"));
    cr_assert_null(json_object_get(n.view, "registry.data.strings"));
    cr_assert_null(json_object_get(n.view, "process.entity_id"));
    cr_assert_null(json_object_get(n.view, "user.name"));
    norm_free(&n);
}

Test(normalize, leaves_documents_whose_pipeline_already_ran_as_they_are)
{
    struct norm n = norm_of(
        "{\"winlog\":{\"channel\":\"Microsoft-Windows-Sysmon/Operational\",\"event_id\":"
        "\"13\",\"event_data\":{\"EventType\":\"SetValue\"}},\"registry\":{\"value\":"
        "\"Key 1\",\"data\":{\"strings\":[\"4\"]}},\"event\":{\"category\":[\"registry\"]}}",
        PROFILE_ELASTIC);
    cr_assert_eq(n.shape, SHAPE_ECS);
    cr_assert_str_eq(vstr(&n, "registry.value"), "Key 1");
    norm_free(&n);
}

Test(normalize, infers_windows_for_forwarded_events_and_in_the_extended_profile_only)
{
    const char *raw = "{\"winlog\":{\"channel\":\"Microsoft-Windows-Sysmon/Operational\","
                      "\"event_id\":13,\"event_data\":{\"TargetObject\":\"HKLM\\\\V\"}}}";
    struct norm e = norm_of(raw, PROFILE_ELASTIC);
    cr_assert_null(json_object_get(e.view, "host.os.type"));
    norm_free(&e);
    struct norm x = norm_of(raw, PROFILE_EXTENDED);
    cr_assert_str_eq(vstr(&x, "host.os.type"), "windows");
    cr_assert(x.os_inferred);
    norm_free(&x);
    struct norm f = norm_of("{\"tags\":[\"forwarded\"],\"winlog\":{\"channel\":"
                            "\"Microsoft-Windows-Sysmon/Operational\",\"event_id\":\"13\","
                            "\"event_data\":{\"TargetObject\":\"HKLM\\\\V\"}}}",
                            PROFILE_ELASTIC);
    cr_assert_str_eq(vstr(&f, "host.os.type"), "windows");
    cr_assert_not(f.os_inferred);
    norm_free(&f);
}

Test(normalize, maps_security_4657_path_only_for_elastic_and_value_for_extended)
{
    const char *raw = "{\"winlog\":{\"channel\":\"Security\",\"event_id\":\"4657\",\"event_data\":"
                      "{\"ObjectName\":\"\\\\REGISTRY\\\\USER\\\\S-1\\\\Settings\","
                      "\"ObjectValueName\":\"AmsiEnable\",\"NewValue\":\"0\"}}}";
    struct norm e = norm_of(raw, PROFILE_ELASTIC);
    cr_assert_eq(e.shape, SHAPE_SECURITY_4657);
    cr_assert_str_eq(vstr(&e, "registry.path"), "\\REGISTRY\\USER\\S-1\\Settings");
    cr_assert_null(json_object_get(e.view, "registry.value"));
    norm_free(&e);
    struct norm x = norm_of(raw, PROFILE_EXTENDED);
    cr_assert_str_eq(vstr(&x, "registry.value"), "AmsiEnable");
    norm_free(&x);
}

Test(normalize, maps_m365_defender_rows_and_their_string_wrapped_form)
{
    const char *row = "{\"ActionType\":\"RegistryValueSet\",\"DeviceName\":\"d1\",\"DeviceId\":"
                      "\"42\",\"RegistryKey\":\"HKEY_CURRENT_USER\\\\S\",\"RegistryValueName\":"
                      "\"AmsiEnable\",\"RegistryValueData\":\"0\",\"InitiatingProcessId\":7}";
    struct norm n = norm_of(row, PROFILE_ELASTIC);
    cr_assert_eq(n.shape, SHAPE_M365);
    cr_assert_str_eq(vstr(&n, "registry.value"), "AmsiEnable");
    cr_assert_str_eq(vstr(&n, "registry.key"), "HKEY_CURRENT_USER\\S");
    cr_assert_str_eq(vstr(&n, "event.action"), "registryvalueset");
    cr_assert_str_eq(vstr(&n, "host.name"), "d1");
    cr_assert_null(json_object_get(n.view, "host.os.type"), "no OSPlatform, no host.os.type");
    norm_free(&n);

    json_t *wrapped = json_pack("{s:{s:s}, s:s}", "data_stream", "dataset", "m365_defender.event",
                                "message", row);
    char *text = json_dumps(wrapped, 0);
    struct norm w = norm_of(text, PROFILE_EXTENDED);
    cr_assert_eq(w.shape, SHAPE_M365);
    cr_assert_str_eq(vstr(&w, "registry.value"), "AmsiEnable");
    cr_assert(w.os_inferred);
    norm_free(&w);
    free(text);
    json_decref(wrapped);
}

Test(normalize, maps_sentinelone_data_from_its_registry_value_key)
{
    struct norm n = norm_of(
        "{\"event.category\":\"Registry\",\"event.type\":\"Registry Value Modified\","
        "\"registry.keyPath\":\"MACHINE\\\\SOFTWARE\\\\AmsiEnable\",\"registry.value\":\"0\","
        "\"endpoint.os\":\"windows\",\"endpoint.name\":\"e1\",\"event.time\":1664811149466}",
        PROFILE_ELASTIC);
    cr_assert_eq(n.shape, SHAPE_SENTINELONE);
    cr_assert_str_eq(vstr(&n, "registry.key"), "MACHINE\\SOFTWARE");
    cr_assert_str_eq(vstr(&n, "registry.value"), "AmsiEnable");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(n.view, "registry.data.strings"), 0)),
        "0");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(n.view, "event.type"), 0)),
                     "change");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(n.view, "event.category"), 0)),
        "registry");
    cr_assert_str_eq(vstr(&n, "host.os.type"), "windows");
    cr_assert_str_eq(vstr(&n, "@timestamp"), "2022-10-03T15:32:29.466Z");
    norm_free(&n);
}

Test(normalize, maps_evtx_dump_documents_into_the_winlogbeat_shape)
{
    struct norm n = norm_of(
        "{\"Event\":{\"System\":{\"Provider\":{\"#attributes\":{\"Name\":"
        "\"Microsoft-Windows-Sysmon\"}},\"EventID\":13,\"Channel\":"
        "\"Microsoft-Windows-Sysmon/Operational\",\"Computer\":\"pc9\",\"EventRecordID\":5},"
        "\"EventData\":{\"TargetObject\":\"HKU\\\\S-1\\\\AmsiEnable\",\"Details\":"
        "\"DWORD (0x00000000)\",\"ProcessId\":12}}}",
        PROFILE_ELASTIC);
    cr_assert(n.evtx);
    cr_assert_eq(n.shape, SHAPE_SYSMON_REG);
    cr_assert_str_eq(vstr(&n, "host.name"), "pc9");
    cr_assert_str_eq(vstr(&n, "host.os.type"), "windows");
    cr_assert_str_eq(vstr(&n, "registry.value"), "AmsiEnable");
    cr_assert_eq(json_integer_value(json_object_get(n.view, "process.pid")), 12);
    norm_free(&n);
}

Test(normalize, profile_and_shape_names_round_trip)
{
    enum profile p;
    cr_assert_eq(profile_parse("extended", &p), 0);
    cr_assert_eq(p, PROFILE_EXTENDED);
    cr_assert_str_eq(profile_name(p), "extended");
    cr_assert_lt(profile_parse("Elastic", &p), 0);
    cr_assert_str_eq(shape_name(SHAPE_SENTINELONE), "sentinelone");
}
