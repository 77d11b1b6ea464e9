/* The formats table (notify/formats.c): one row per target format, at its enum value, named as the
 * configuration spells it, with the default rates the README promises; and bodies that stay
 * within the limits of their row. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "notify/formats.h"
#include "notify/targets.h"

static const char *const names[] = {"generic",    "slack",     "teams",    "discord",
                                    "mattermost", "pagerduty", "opsgenie", "jira"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

Test(formats, every_row_sits_at_its_format_and_is_found_by_its_name)
{
    for (size_t i = 0; i < NNAMES; i++) {
        enum target_format f;
        cr_assert_eq(target_format_parse(names[i], &f), 0, "%s", names[i]);
        const struct format *row = format_of(f);
        cr_assert_eq(row->format, f, "%s", names[i]);
        cr_assert_str_eq(row->name, names[i]);
        cr_assert_eq(format_named(names[i]), row);
        cr_assert_str_eq(target_format_name(f), names[i]);
        cr_assert_not_null(row->body);
    }
    cr_assert_null(format_named("email"));
    enum target_format f = FMT_SLACK;
    cr_assert_lt(target_format_parse("Slack", &f), 0);
    cr_assert_eq(f, FMT_SLACK);
}

Test(formats, a_value_that_is_not_a_format_is_named_so_and_formatted_as_generic)
{
    cr_assert_str_eq(target_format_name((enum target_format)99), "?");
    cr_assert_eq(format_of((enum target_format)99)->format, FMT_GENERIC);
}

Test(formats, default_rates_are_the_ones_the_readme_gives)
{
    const struct {
        const char *name;
        double rate;
    } want[] = {{"slack", 1.0},    {"teams", 4.0}, {"pagerduty", 2.0}, {"discord", 0.5},
                {"opsgenie", 2.0}, {"jira", 2.0},  {"generic", 10.0},  {"mattermost", 10.0}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_float_eq(format_named(want[i].name)->default_rate, want[i].rate, 1e-9, "%s",
                           want[i].name);
}

/* The longest string anywhere in V, in bytes. */
static size_t longest(const json_t *v)
{
    size_t max = 0, i;
    const char *key;
    const json_t *e;
    if (json_is_string(v))
        return json_string_length(v);
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, e)
        {
            size_t n = longest(e);
            max = n > max ? n : max;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            size_t n = longest(e);
            max = n > max ? n : max;
        }
    }
    return max;
}

Test(formats, a_huge_summary_stays_within_the_rows_limits)
{
    static char title[100000], text[100000];
    memset(title, 'T', sizeof(title) - 1);
    memset(text, 'x', sizeof(text) - 1);
    struct notice n = {.id = "summary-1", .title = title, .text = text};
    for (size_t i = 0; i < NNAMES; i++) {
        struct target t;
        target_defaults(&t);
        const struct format *row = format_named(names[i]);
        t.format = row->format;
        json_t *body = format_body(&t, &n);
        cr_assert_not_null(body, "%s", names[i]);
        size_t max = row->limits.title > row->limits.text ? row->limits.title : row->limits.text;
        cr_assert_leq(longest(body), max, "%s: a text of %zu bytes", names[i], longest(body));
        json_decref(body);
    }
}
