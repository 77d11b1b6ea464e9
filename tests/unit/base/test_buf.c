#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "base/buf.h"

Test(buf, appends_and_keeps_a_terminating_nul)
{
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(buf_puts(&b, "hello "), 0);
    cr_assert_eq(buf_append(&b, "world", 5), 0);
    cr_assert_eq(b.len, 11);
    cr_assert_str_eq(b.data, "hello world");
    buf_free(&b);
}

Test(buf, refuses_to_grow_past_its_maximum_and_stays_unchanged)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append(&b, "12345678", 8), 0);
    cr_assert_eq(buf_append(&b, "9", 1), -EMSGSIZE);
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "12345678");
    buf_free(&b);
}

Test(buf, checks_the_limit_before_allocating_a_huge_request)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_reserve(&b, (size_t)-1), -EMSGSIZE);
    cr_assert_null(b.data, "nothing may be allocated for a refused request");
    buf_free(&b);
}

Test(buf, consume_moves_the_rest_to_the_front)
{
    struct buf b;
    buf_init(&b, 64);
    buf_puts(&b, "abcdef");
    buf_consume(&b, 2);
    cr_assert_str_eq(b.data, "cdef");
    buf_consume(&b, 10);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
    buf_free(NULL);
}

Test(buf, a_buffer_without_a_maximum_grows_like_any_other)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    cr_assert_eq(buf_append(&b, "abcdef", 6), 0);
    cr_assert_eq(buf_append(&b, "ghijkl", 6), 0);
    cr_assert_geq(b.cap, 13, "room for 12 bytes and the NUL");
    cr_assert_str_eq(b.data, "abcdefghijkl");
    buf_free(&b);
}
