#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/detect.h"
#include "pipeline/prefilter.h"

static bool pf(const char *s)
{
    bool fast = prefilter_candidate(s, strlen(s));
    bool slow = prefilter_candidate_scalar(s, strlen(s));
    cr_assert_eq(fast, slow, "vector and scalar prefilter disagree on: %s", s);
    return fast;
}

Test(prefilter, passes_the_value_name_in_any_ascii_case)
{
    cr_assert(pf("\"TargetObject\":\"HKU\\\\S-1\\\\Settings\\\\AmsiEnable\""));
    cr_assert(pf("amsienable"));
    cr_assert(pf("AMSIENABLE"));
    cr_assert(pf("xx aMsIeNaBlE yy"));
}

Test(prefilter, rules_out_events_that_never_mention_it)
{
    cr_assert_not(pf(""));
    cr_assert_not(pf("{\"event\":{\"code\":\"4624\"},\"message\":\"An account was logged on\"}"));
    cr_assert_not(pf("AmsiEnabl"));
    cr_assert_not(pf("Amsi Enable"));
    cr_assert_not(pf("C:\\\\Users\\\\admin\\\\AppData\\\\amsi.dll enable"));
}

Test(prefilter, finds_the_word_at_every_offset_of_a_vector_block)
{
    char buf[160];
    for (size_t off = 0; off < 100; off++) {
        memset(buf, 'x', sizeof(buf));
        memcpy(buf + off, "AmsiEnable", 10);
        cr_assert(prefilter_candidate(buf, off + 10), "missed at offset %zu (end of input)", off);
        cr_assert(prefilter_candidate(buf, sizeof(buf)), "missed at offset %zu", off);
        cr_assert_not(prefilter_candidate(buf, off + 9), "matched a cut word at offset %zu", off);
    }
}

Test(prefilter, passes_json_escapes_that_can_spell_the_word)
{
    cr_assert(pf("\"\\u0041msiEnable\""));
    cr_assert(pf("\"Amsi\\u0045nable\""));
    cr_assert(pf("\"Amsi\\u0065nable\""));
    /* A record carried as a JSON string: the escape is itself escaped. */
    cr_assert(pf("\"message\":\"{\\\"v\\\":\\\"\\\\u0041msiEnable\\\"}\""));
    /* An escaped backslash that builds an escape one level down. */
    cr_assert(pf("\"\\u005cu0041msiEnable\""));
}

Test(prefilter, ignores_escapes_that_cannot_spell_the_word)
{
    cr_assert_not(pf("\"caf\\u00e9\""));
    cr_assert_not(pf("\"\\u003cscript\\u003e\""));
    cr_assert_not(pf("\"line\\u000a\""));
    cr_assert_not(pf("\"C:\\\\Users\\\\update\""));
}

Test(prefilter, vector_and_scalar_versions_agree_on_random_input)
{
    static const char alphabet[] = "aAmMsSiIeEnNbBlL\\u0123456789xX\" {}:,";
    srand(12345);
    char buf[300];
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof(buf));
        for (size_t i = 0; i < n; i++)
            buf[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        /* Plant the word or an escape now and then so both answers occur. */
        if (n > 12 && rand() % 4 == 0)
            memcpy(buf + rand() % (int)(n - 10), (rand() & 1) ? "aMsIeNaBlE" : "\\u004d", 6);
        cr_assert_eq(prefilter_candidate(buf, n), prefilter_candidate_scalar(buf, n),
                     "disagree on round %d", round);
    }
}

/* ---- The prefilter never causes a miss: full path vs prefiltered path over variants. ---- */

static const char sysmon13[] =
    "{\"@timestamp\":\"2026-03-02T08:15:00.000Z\",\"event\":{\"code\":\"13\",\"kind\":\"event\","
    "\"provider\":\"Microsoft-Windows-Sysmon\"},\"host\":{\"name\":\"ws-017\",\"os\":{\"type\":"
    "\"windows\",\"family\":\"windows\"}},\"winlog\":{\"channel\":\"Microsoft-Windows-Sysmon/"
    "Operational\",\"event_id\":\"13\",\"provider_name\":\"Microsoft-Windows-Sysmon\",\"user\":{"
    "\"identifier\":\"S-1-5-18\"},\"event_data\":{\"EventType\":\"SetValue\",\"Image\":\"C:\\\\"
    "Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe\",\"ProcessId\":\"4242\","
    "\"TargetObject\":\"HKU\\\\S-1-5-21-1-2-3-1104\\\\Software\\\\Microsoft\\\\Windows Script\\\\"
    "Settings\\\\AmsiEnable\",\"Details\":\"DWORD (0x00000000)\",\"User\":\"CORP\\\\jdoe\","
    "\"UtcTime\":\"2026-03-02 08:15:00.000\"}}}";

static const char m365_row[] =
    "{\"ActionType\":\"RegistryValueSet\",\"DeviceName\":\"ws-022\",\"OSPlatform\":\"Windows10\","
    "\"RegistryKey\":\"HKEY_CURRENT_USER\\\\Software\\\\Microsoft\\\\Windows Script\\\\Settings\","
    "\"RegistryValueName\":\"AmsiEnable\",\"RegistryValueData\":\"0\"}";

/* Rewrites JSON text, escaping each letter or digit inside strings as \u00XX with probability
 * 1/EVERY, in random hex case. */
static char *escape_randomly(const char *in, int every)
{
    size_t n = strlen(in);
    char *out = malloc(n * 6 + 1);
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (in_string && c == '\\') {
            out[o++] = c;
            out[o++] = in[++i];
            continue;
        }
        if (c == '"')
            in_string = !in_string;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (in_string && alnum && rand() % every == 0)
            o += (size_t)sprintf(out + o, (rand() & 1) ? "\\u%04x" : "\\u%04X", (unsigned)c);
        else
            out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* Changes the case of each letter of every "AmsiEnable" at random. */
static void mangle_case(char *s)
{
    for (char *p = s; (p = strstr(p, "AmsiEnable")) != NULL; p += 10) {
        for (int k = 0; k < 10; k++) {
            if (rand() & 1)
                p[k] = (char)(p[k] ^ 0x20);
        }
    }
}

/* Wraps a vendor record as Elastic Agent ships it: a JSON string in "message". */
static char *wrap_as_message(const char *record)
{
    json_t *rec = json_string(record);
    json_t *doc = json_pack("{s:{s:s}, s:o}", "data_stream", "dataset", "m365_defender.event",
                            "message", rec);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static int run(const char *ev, bool prefilter, enum profile p)
{
    struct detector d;
    detector_init(&d, p, prefilter, 0);
    json_t *alert = NULL;
    int rc = detector_run(&d, ev, strlen(ev), NULL, 0, &alert);
    json_decref(alert);
    return rc;
}

static void check_same_verdict(const char *ev)
{
    for (int p = PROFILE_ELASTIC; p <= PROFILE_EXTENDED; p++) {
        int full = run(ev, false, (enum profile)p);
        int fast = run(ev, true, (enum profile)p);
        cr_assert_eq(full, 1, "the full path should alert on this variant: %s", ev);
        cr_assert_eq(fast, full, "prefilter changed the verdict (%d vs %d) of: %s", fast, full, ev);
    }
}

Test(prefilter, never_misses_an_alert_of_case_and_escape_variants)
{
    srand(4242);
    for (int round = 0; round < 400; round++) {
        const char *base = (round & 1) ? sysmon13 : m365_row;
        char *copy = strdup(base);
        mangle_case(copy);
        char *variant = escape_randomly(copy, 1 + round % 7);
        check_same_verdict(variant);
        if (!(round & 1)) {
            /* The same record as a string inside a document: escapes one level deeper. */
            char *wrapped = wrap_as_message(variant);
            check_same_verdict(wrapped);
            char *wrapped_escaped = escape_randomly(wrapped, 5);
            check_same_verdict(wrapped_escaped);
            free(wrapped);
            free(wrapped_escaped);
        }
        free(variant);
        free(copy);
    }
}

Test(prefilter, finds_a_word_or_an_escape_at_every_position_of_every_length)
{
    static const char *const needles[] = {"AmsiEnable", "\\u0041", "\\u005c"};
    char buf[200];
    for (size_t k = 0; k < 3; k++) {
        size_t nl = strlen(needles[k]);
        for (size_t n = nl; n <= sizeof(buf); n++) {
            for (size_t at = 0; at + nl <= n; at++) {
                memset(buf, 'x', n);
                memcpy(buf + at, needles[k], nl);
                cr_assert(prefilter_candidate(buf, n), "missed '%s' at %zu of %zu", needles[k], at,
                          n);
            }
            memset(buf, 'x', n);
            cr_assert_not(prefilter_candidate(buf, n));
        }
    }
}
