#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "pipeline/field.h"

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    cr_assert_not_null(v, "bad test JSON: %s", err.text);
    return v;
}

static bool like(const char *s, const char *pattern)
{
    return field_like(s, strlen(s), pattern);
}

Test(field, colon_is_ascii_case_insensitive)
{
    cr_assert(like("AmsiEnable", "AmsiEnable"));
    cr_assert(like("amsienable", "AmsiEnable"));
    cr_assert(like("AMSIENABLE", "AmsiEnable"));
    cr_assert(like("0X00000000", "0x00000000"));
    cr_assert_not(like("AmsiEnabled", "AmsiEnable"));
    cr_assert_not(like("AmsiEnabl", "AmsiEnable"));
}

Test(field, colon_supports_star_and_question_mark)
{
    cr_assert(like("AmsiEnable", "amsi*"));
    cr_assert(like("AmsiEnable", "*enable"));
    cr_assert(like("AmsiEnable", "a?si*b?e"));
    cr_assert(like("", "*"));
    cr_assert_not(like("", "?"));
    cr_assert(like("aaaaaaaaaaaaaaaaaaab", "*a*a*a*b"));
    cr_assert_not(like("aaaaaaaaaaaaaaaaaaaa", "*a*a*a*b"));
}

Test(field, double_equals_is_exact_and_case_sensitive)
{
    cr_assert(field_equals("windows", 7, "windows"));
    cr_assert_not(field_equals("Windows", 7, "windows"));
    cr_assert_not(field_equals("windows ", 8, "windows"));
    cr_assert_not(field_equals("win*", 4, "windows"));
    const char *const lit[] = {"win*"};
    json_t *v = json_string("windows");
    cr_assert_not(field_any_equals(v, lit, 1), "== has no wildcards");
    json_decref(v);
}

Test(field, any_element_of_an_array_satisfies_a_condition)
{
    const char *const change[] = {"change"};
    json_t *arr = parse("[\"info\",\"change\"]");
    json_t *scalar = parse("\"change\"");
    json_t *other = parse("[\"creation\"]");
    cr_assert(field_any_equals(arr, change, 1));
    cr_assert(field_any_equals(scalar, change, 1));
    cr_assert_not(field_any_equals(other, change, 1));
    json_decref(arr);
    json_decref(scalar);
    json_decref(other);
}

Test(field, a_list_of_patterns_means_any_of_them)
{
    const char *const zero[] = {"0", "0x00000000"};
    json_t *a = parse("[\"0x00000000\"]");
    json_t *b = parse("[\"1\",\"0\"]");
    json_t *c = parse("[\"00\"]");
    cr_assert(field_any_like(a, zero, 2));
    cr_assert(field_any_like(b, zero, 2));
    cr_assert_not(field_any_like(c, zero, 2));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

Test(field, missing_null_and_empty_array_are_false)
{
    const char *const zero[] = {"0"};
    json_t *null = json_null();
    json_t *empty = parse("[]");
    json_t *nulls = parse("[null]");
    cr_assert_not(field_any_like(NULL, zero, 1));
    cr_assert_not(field_any_like(null, zero, 1));
    cr_assert_not(field_any_like(empty, zero, 1));
    cr_assert_not(field_any_like(nulls, zero, 1));
    json_decref(empty);
    json_decref(nulls);
}

Test(field, numbers_compare_as_their_keyword_text)
{
    const char *const zero[] = {"0"};
    json_t *n = parse("0");
    json_t *arr = parse("[0]");
    json_t *t = parse("true");
    cr_assert(field_any_like(n, zero, 1));
    cr_assert(field_any_like(arr, zero, 1));
    const char *const tr[] = {"true"};
    cr_assert(field_any_equals(t, tr, 1));
    json_decref(n);
    json_decref(arr);
    json_decref(t);
}

Test(field, json_escapes_are_compared_decoded)
{
    json_t *doc = parse("{\"registry\":{\"value\":\"Amsi\\u0045nable\"}}");
    const char *const pat[] = {"AmsiEnable"};
    json_t *v = field_get(doc, "registry.value");
    cr_assert(field_any_like(v, pat, 1));
    cr_assert_str_eq(json_string_value(v), "AmsiEnable");
    json_decref(v);
    json_decref(doc);
}

Test(field, reads_nested_objects_and_literal_dotted_keys_alike)
{
    json_t *nested = parse("{\"registry\":{\"data\":{\"strings\":[\"0\"]}}}");
    json_t *dotted = parse("{\"registry.data.strings\":[\"0\"]}");
    json_t *mixed = parse("{\"registry\":{\"data.strings\":[\"0\"]}}");
    json_t *mixed2 = parse("{\"registry.data\":{\"strings\":\"0\"}}");
    json_t *docs[] = {nested, dotted, mixed, mixed2};
    const char *const zero[] = {"0"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = field_get(docs[i], "registry.data.strings");
        cr_assert_not_null(v, "spelling %zu not read", i);
        cr_assert(field_any_like(v, zero, 1), "spelling %zu", i);
        json_decref(v);
        json_decref(docs[i]);
    }
}

Test(field, collects_every_spelling_when_several_are_present)
{
    json_t *doc = parse("{\"event\":{\"type\":[\"info\"]},\"event.type\":\"change\"}");
    json_t *all = field_get(doc, "event.type");
    cr_assert(json_is_array(all));
    cr_assert_eq(json_array_size(all), 2);
    const char *const change[] = {"change"};
    cr_assert(field_any_equals(all, change, 1));
    json_decref(all);
    json_decref(doc);
}

Test(field, flattens_arrays_of_objects_as_elasticsearch_does)
{
    json_t *doc = parse("{\"registry\":[{\"value\":\"Other\"},{\"value\":\"AmsiEnable\"}]}");
    json_t *v = field_get(doc, "registry.value");
    const char *const pat[] = {"amsienable"};
    cr_assert(field_any_like(v, pat, 1));
    json_decref(v);
    json_decref(doc);
}

Test(field, field_str_returns_only_a_single_string)
{
    json_t *doc = parse("{\"a\":{\"b\":\"x\"},\"n\":5,\"arr\":[\"y\"]}");
    cr_assert_str_eq(field_str(doc, "a.b"), "x");
    cr_assert_null(field_str(doc, "n"));
    cr_assert_null(field_str(doc, "arr"));
    cr_assert_null(field_str(doc, "missing.path"));
    json_decref(doc);
}
