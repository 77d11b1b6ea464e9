#include <criterion/criterion.h>
#include <string.h>

#include "base/lines.h"

struct seen {
    char text[16][64];
    int status[16];
    unsigned long long lineno[16];
    int n;
};

static int collect(void *ctx, uint64_t lineno, const char *line, size_t len,
                   enum lines_status status)
{
    struct seen *s = ctx;
    cr_assert_lt(s->n, 16);
    memcpy(s->text[s->n], line ? line : "", len);
    s->text[s->n][len] = '\0';
    s->status[s->n] = status;
    s->lineno[s->n] = lineno;
    s->n++;
    return 0;
}

Test(lines, splits_on_lf_and_strips_a_trailing_cr)
{
    struct seen s = {0};
    struct lines l;
    lines_init(&l, 32, collect, &s);
    const char *in = "one\r\ntwo\nthree";
    cr_assert_eq(lines_feed(&l, in, strlen(in)), 0);
    cr_assert_eq(lines_finish(&l), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.text[0], "one");
    cr_assert_str_eq(s.text[1], "two");
    cr_assert_str_eq(s.text[2], "three");
    cr_assert_eq(s.lineno[2], 3);
    lines_free(&l);
}

Test(lines, joins_a_line_split_across_feeds_byte_by_byte)
{
    struct seen s = {0};
    struct lines l;
    lines_init(&l, 32, collect, &s);
    const char *in = "abc\ndefgh\n";
    for (size_t i = 0; i < strlen(in); i++)
        cr_assert_eq(lines_feed(&l, in + i, 1), 0);
    cr_assert_eq(lines_finish(&l), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.text[1], "defgh");
    lines_free(&l);
}

Test(lines, reports_an_overlong_line_once_and_goes_on_with_the_next)
{
    struct seen s = {0};
    struct lines l;
    lines_init(&l, 4, collect, &s);
    const char *a = "ok\n0123";
    const char *b = "456789\nfine\n";
    cr_assert_eq(lines_feed(&l, a, strlen(a)), 0);
    cr_assert_eq(lines_feed(&l, b, strlen(b)), 0);
    cr_assert_eq(lines_finish(&l), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.text[0], "ok");
    cr_assert_eq(s.status[1], LINES_TOO_LONG);
    cr_assert_eq(s.lineno[1], 2);
    cr_assert_str_eq(s.text[2], "fine");
    cr_assert_lt(l.partial.cap, 64, "an overlong line must not be buffered");
    lines_free(&l);
}

Test(lines, an_overlong_line_inside_one_chunk_is_refused)
{
    struct seen s = {0};
    struct lines l;
    lines_init(&l, 3, collect, &s);
    const char *in = "abcdef\nxy\n";
    cr_assert_eq(lines_feed(&l, in, strlen(in)), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.status[0], LINES_TOO_LONG);
    cr_assert_str_eq(s.text[1], "xy");
    lines_free(&l);
}
