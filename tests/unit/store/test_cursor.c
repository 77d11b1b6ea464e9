#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../support/testutil.h"
#include "store/cursor.h"

TU_TEMPDIR_SUITE(cursor, root);

static uint64_t reopen(const char *name)
{
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, name), 0);
    uint64_t pos = cursor_get(c);
    cursor_close(c);
    return pos;
}

static void scramble(const char *name, off_t at, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cursors/%s.cur", root, name);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char junk[64];
    memset(junk, 0x77, sizeof(junk));
    cr_assert_eq(pwrite(fd, junk, n, at), (ssize_t)n);
    close(fd);
}

Test(cursor, a_new_cursor_starts_at_the_first_record)
{
    cr_assert_eq(reopen("slack"), 1);
}

Test(cursor, keeps_its_position_across_reopening)
{
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, "pagerduty"), 0);
    for (uint64_t p = 2; p <= 40; p++)
        cr_assert_eq(cursor_set(c, p), 0);
    cursor_close(c);
    cr_assert_eq(reopen("pagerduty"), 40);
}

Test(cursor, a_torn_write_of_the_newest_slot_falls_back_to_the_older_one)
{
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, "jira"), 0);
    cr_assert_eq(cursor_set(c, 10), 0); /* generation 2: slot 0 */
    cr_assert_eq(cursor_set(c, 11), 0); /* generation 3: slot 1 */
    cursor_close(c);
    /* Tear the newest slot (1) in its middle: position 10 comes back, never garbage. */
    scramble("jira", 32 + 12, 8);
    cr_assert_eq(reopen("jira"), 10);
    /* Writing goes on and survives. */
    cr_assert_eq(cursor_open(&c, root, "jira"), 0);
    cr_assert_eq(cursor_set(c, 12), 0);
    cursor_close(c);
    cr_assert_eq(reopen("jira"), 12);
}

Test(cursor, a_torn_older_slot_leaves_the_newest_position)
{
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, "teams"), 0);
    cr_assert_eq(cursor_set(c, 5), 0);
    cr_assert_eq(cursor_set(c, 6), 0);
    cursor_close(c);
    scramble("teams", 0, 32);
    cr_assert_eq(reopen("teams"), 6);
}

Test(cursor, both_slots_destroyed_restarts_from_the_beginning_rather_than_skipping)
{
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, "generic"), 0);
    cr_assert_eq(cursor_set(c, 99), 0);
    cursor_close(c);
    scramble("generic", 0, 64);
    cr_assert_eq(reopen("generic"), 1, "at least once: re-deliver rather than lose");
}

Test(cursor, lists_every_consumer_with_its_position)
{
    struct cursor *a, *b;
    cr_assert_eq(cursor_open(&a, root, "a"), 0);
    cr_assert_eq(cursor_open(&b, root, "b.target"), 0);
    cr_assert_eq(cursor_set(b, 7), 0);
    struct cursor_info *list;
    size_t n;
    cr_assert_eq(cursor_list(root, &list, &n), 0);
    cr_assert_eq(n, 2);
    uint64_t found_b = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, "b.target") == 0)
            found_b = list[i].next_seq;
    }
    cr_assert_eq(found_b, 7);
    free(list);
    cursor_close(a);
    cursor_close(b);
}

Test(cursor, refuses_names_that_are_not_plain_words)
{
    struct cursor *c;
    cr_assert_eq(cursor_open(&c, root, "../escape"), -EINVAL);
    cr_assert_eq(cursor_open(&c, root, ""), -EINVAL);
    cr_assert_eq(cursor_open(&c, root, "a b"), -EINVAL);
    cr_assert_eq(cursor_open(&c, root, ".hidden"), -EINVAL);
}
