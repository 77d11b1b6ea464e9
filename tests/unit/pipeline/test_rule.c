#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "pipeline/detect.h"
#include "pipeline/rule.h"

/* An ECS document that satisfies the seed rule; tests change one thing at a time. */
#define BASE_OS  "\"host\":{\"os\":{\"type\":\"windows\"}}"
#define BASE_CAT "\"event\":{\"category\":[\"registry\"],\"type\":[\"change\"]}"
#define BASE_REG "\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":[\"0\"]}}"

static enum clause verdict(const char *text, enum profile p)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    cr_assert_not_null(doc, "bad test JSON: %s: %s", err.text, text);
    int c = detect_clause(doc, p);
    json_decref(doc);
    cr_assert_geq(c, 0);
    return (enum clause)c;
}

static void expect(const char *text, enum clause elastic, enum clause extended)
{
    enum clause a = verdict(text, PROFILE_ELASTIC);
    enum clause b = verdict(text, PROFILE_EXTENDED);
    cr_expect_eq(a, elastic, "elastic: expected %s, got %s for %s", clause_name(elastic),
                 clause_name(a), text);
    cr_expect_eq(b, extended, "extended: expected %s, got %s for %s", clause_name(extended),
                 clause_name(b), text);
}

Test(rule, fires_on_the_seed_conditions)
{
    expect("{" BASE_OS "," BASE_CAT "," BASE_REG "}", CLAUSE_SEED, CLAUSE_SEED);
}

Test(rule, registry_where_needs_the_registry_category)
{
    expect("{" BASE_OS ",\"event\":{\"category\":[\"process\"],\"type\":[\"change\"]}," BASE_REG
           "}",
           CLAUSE_NONE, CLAUSE_NONE);
    expect("{" BASE_OS ",\"event\":{\"type\":[\"change\"]}," BASE_REG "}", CLAUSE_NONE,
           CLAUSE_NONE);
    expect("{" BASE_OS ",\"event\":{\"category\":[\"configuration\",\"registry\"],\"type\":"
           "[\"change\"]}," BASE_REG "}",
           CLAUSE_SEED, CLAUSE_SEED);
}

Test(rule, host_os_type_is_compared_case_sensitively)
{
    expect("{\"host\":{\"os\":{\"type\":\"Windows\"}}," BASE_CAT "," BASE_REG "}", CLAUSE_NONE,
           CLAUSE_NONE);
    expect("{\"host\":{\"os\":{\"type\":\"linux\"}}," BASE_CAT "," BASE_REG "}", CLAUSE_NONE,
           CLAUSE_NONE);
}

Test(rule, missing_host_os_type_is_false_in_both_profiles_for_ecs_documents)
{
    expect("{" BASE_CAT "," BASE_REG "}", CLAUSE_NONE, CLAUSE_NONE);
    expect("{\"host\":{\"os\":{\"type\":null}}," BASE_CAT "," BASE_REG "}", CLAUSE_NONE,
           CLAUSE_NONE);
}

Test(rule, value_name_is_case_insensitive_and_exact_otherwise)
{
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"amsiENABLE\",\"data\":{\"strings\":[\"0\"]}}}",
           CLAUSE_SEED, CLAUSE_SEED);
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"AmsiEnabled\",\"data\":{\"strings\":[\"0\"]}}}",
           CLAUSE_NONE, CLAUSE_NONE);
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"Amsi\\u0045nable\",\"data\":{\"strings\":[\"0\"]}}}",
           CLAUSE_SEED, CLAUSE_SEED);
}

Test(rule, data_strings_match_either_zero_form_in_any_case_and_nothing_else)
{
    const char *ok[] = {"[\"0\"]", "[\"0x00000000\"]", "[\"0X00000000\"]", "[\"1\",\"0\"]", "\"0\"",
                        "[0]"};
    const char *bad[] = {"[\"1\"]", "[\"00\"]", "[\"0x0\"]", "[]", "null", "[\"\"]"};
    char doc[512];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(doc, sizeof(doc),
                 "{" BASE_OS "," BASE_CAT
                 ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":%s}}}",
                 ok[i]);
        expect(doc, CLAUSE_SEED, CLAUSE_SEED);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(doc, sizeof(doc),
                 "{" BASE_OS "," BASE_CAT
                 ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":%s}}}",
                 bad[i]);
        cr_expect_eq(verdict(doc, PROFILE_ELASTIC), CLAUSE_NONE, "%s", doc);
    }
}

Test(rule, event_type_creation_fires_only_in_the_extended_profile)
{
    expect("{" BASE_OS ",\"event\":{\"category\":[\"registry\"],\"type\":[\"creation\"]}," BASE_REG
           "}",
           CLAUSE_NONE, CLAUSE_VALUE_CREATION);
    expect("{" BASE_OS ",\"event\":{\"category\":\"registry\",\"type\":\"change\"}," BASE_REG "}",
           CLAUSE_SEED, CLAUSE_SEED);
}

Test(rule, raw_details_text_fires_only_in_the_extended_profile)
{
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":[\"DWORD "
           "(0x00000000)\"]}}}",
           CLAUSE_NONE, CLAUSE_RAW_DETAILS);
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":[\"DWORD "
           "(0x00000001)\"]}}}",
           CLAUSE_NONE, CLAUSE_NONE);
}

Test(rule, dotted_literal_keys_are_read_like_nested_objects)
{
    expect("{\"host.os.type\":\"windows\",\"event.category\":[\"registry\"],\"event.type\":"
           "[\"change\"],\"registry.value\":\"AmsiEnable\",\"registry.data.strings\":[\"0\"]}",
           CLAUSE_SEED, CLAUSE_SEED);
    expect("{\"host\":{\"os.type\":\"windows\"},\"event\":{\"category\":[\"registry\"],"
           "\"type\":[\"change\"]},\"registry\":{\"value\":\"AmsiEnable\",\"data.strings\":[\"0\"]"
           "}}",
           CLAUSE_SEED, CLAUSE_SEED);
}

Test(rule, metadata_names_the_published_rule)
{
    const struct rule_meta *m = rule_meta();
    cr_assert_str_eq(m->id, "f874315d-5188-4b4a-8521-d1c73093a7e4");
    cr_assert_eq(m->version, 312);
    cr_assert_str_eq(m->severity, "high");
    cr_assert_eq(m->risk_score, 73);
    cr_assert_eq(m->max_signals, 100);
    json_t *j = rule_meta_json();
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")),
                     "Modification of AmsiEnable Registry Key");
    json_t *threat = json_array_get(json_object_get(j, "threat"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(threat, "tactic"), "id")),
                     "TA0005");
    json_decref(j);
}

Test(rule, clause_names_are_stable)
{
    cr_assert_str_eq(clause_name(CLAUSE_SEED), "seed");
    cr_assert_str_eq(clause_name(CLAUSE_VALUE_CREATION), "value-creation");
    cr_assert_str_eq(clause_name(CLAUSE_SECURITY_4657), "security-4657");
    cr_assert_str_eq(clause_name(CLAUSE_M365_NO_PLATFORM), "m365-no-osplatform");
    cr_assert_str_eq(clause_name(CLAUSE_RAW_DETAILS), "raw-details");
    cr_assert_str_eq(clause_name(CLAUSE_OS_INFERRED), "os-inferred");
    cr_assert_str_eq(clause_name(CLAUSE_NONE), "none");
}

/* The raw-details clause reads Sysmon's "Details:" text only where nothing was normalized. */
#define SYSMON_MESSAGE                                                                             \
    "\"message\":\"Registry value set:\\nEventType: SetValue\\nTargetObject: "                     \
    "HKU\\\\S-1-5-21-1\\\\Software\\\\Microsoft\\\\Windows Script\\\\Settings\\\\AmsiEnable\\n"    \
    "Details: DWORD (0x00000000)\\nUser: CORP\\\\someone\""

/* Runs the detector over TEXT under PROFILE: the alert (the caller frees it) or NULL. */
static json_t *alert_of(const char *text, enum profile profile)
{
    struct detector d;
    detector_init(&d, profile, true, DETECT_DEFAULT_MAX_EVENT);
    json_t *alert = NULL;
    int rc = detector_run(&d, text, strlen(text), NULL, 0, &alert);
    cr_assert_geq(rc, 0, "detector_run: %d (%s)", rc, d.error);
    cr_assert_eq(rc == 1, alert != NULL);
    return alert;
}

Test(rule, normalized_registry_data_is_the_truth_over_the_message_details)
{
    /* Normalized data says 0x0 (not a zero the rule knows outside Security 4657); the message
     * still carries Sysmon's text. Nothing fires, in either profile. */
    const char *ev =
        "{" BASE_OS "," BASE_CAT
        ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":[\"0x0\"]}}," SYSMON_MESSAGE
        "}";
    expect(ev, CLAUSE_NONE, CLAUSE_NONE);
    cr_expect_null(alert_of(ev, PROFILE_EXTENDED));
    /* Any normalized registry.data.* field counts, not only the strings. */
    expect(
        "{" BASE_OS "," BASE_CAT
        ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"type\":\"SZ_DWORD\"}}," SYSMON_MESSAGE
        "}",
        CLAUSE_NONE, CLAUSE_NONE);
    /* The same value with no message does not fire either. */
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"AmsiEnable\",\"data\":{\"strings\":[\"0x0\"]}}}",
           CLAUSE_NONE, CLAUSE_NONE);
}

Test(rule, message_details_are_read_where_no_registry_data_exists)
{
    const char *ev =
        "{" BASE_OS "," BASE_CAT ",\"registry\":{\"value\":\"AmsiEnable\"}," SYSMON_MESSAGE "}";
    expect(ev, CLAUSE_NONE, CLAUSE_RAW_DETAILS);
    cr_expect_null(alert_of(ev, PROFILE_ELASTIC));
    json_t *alert = alert_of(ev, PROFILE_EXTENDED);
    cr_assert_not_null(alert);
    cr_expect_str_eq(json_string_value(json_object_get(alert, "clause")), "raw-details");
    /* What matched is the text read, and the alert says where it came from. */
    json_t *strings = json_object_get(json_object_get(alert, "matched"), "registry.data.strings");
    cr_assert(json_is_array(strings) && json_array_size(strings) == 1);
    cr_expect_str_eq(json_string_value(json_array_get(strings, 0)), "DWORD (0x00000000)");
    json_t *inferred = json_object_get(json_object_get(alert, "normalization"), "inferred");
    bool named = false;
    for (size_t i = 0; i < json_array_size(inferred); i++)
        named |=
            strcmp(json_string_value(json_array_get(inferred, i)), "registry.data.strings") == 0;
    cr_expect(named, "normalization.inferred names registry.data.strings");
    json_decref(alert);
    /* A Details text that is not zero does not fire. */
    expect("{" BASE_OS "," BASE_CAT
           ",\"registry\":{\"value\":\"AmsiEnable\"},\"message\":\"Details: DWORD (0x00000001)\"}",
           CLAUSE_NONE, CLAUSE_NONE);
}
