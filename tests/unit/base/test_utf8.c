#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"

#define FFFD UTF8_REPLACEMENT

Test(utf8, well_formed_sequences_and_their_lengths)
{
    cr_assert_eq(utf8_seq_len("A", 1), 1);
    cr_assert_eq(utf8_seq_len("\xc3\xa9", 2), 2);         /* é */
    cr_assert_eq(utf8_seq_len("\xe2\x82\xac", 3), 3);     /* € */
    cr_assert_eq(utf8_seq_len("\xf0\x9f\x98\x80", 4), 4); /* U+1F600 */
    cr_assert_eq(utf8_seq_len("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
    cr_assert_eq(utf8_seq_len("\xed\x9f\xbf", 3), 3);     /* U+D7FF, below the surrogates */
}

Test(utf8, ill_formed_sequences_start_nothing)
{
    cr_assert_eq(utf8_seq_len("\x80", 1), 0);             /* a continuation byte alone */
    cr_assert_eq(utf8_seq_len("\xc0\xaf", 2), 0);         /* overlong '/' */
    cr_assert_eq(utf8_seq_len("\xc1\xbf", 2), 0);         /* overlong */
    cr_assert_eq(utf8_seq_len("\xe0\x80\xaf", 3), 0);     /* overlong */
    cr_assert_eq(utf8_seq_len("\xf0\x80\x80\xaf", 4), 0); /* overlong */
    cr_assert_eq(utf8_seq_len("\xed\xa0\x80", 3), 0);     /* U+D800, a surrogate */
    cr_assert_eq(utf8_seq_len("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    cr_assert_eq(utf8_seq_len("\xf5\x80\x80\x80", 4), 0);
    cr_assert_eq(utf8_seq_len("\xff", 1), 0);
    cr_assert_eq(utf8_seq_len("\xe2\x82", 2), 0);     /* cut short */
    cr_assert_eq(utf8_seq_len("\xe2\x82\xac", 2), 0); /* cut short by N */
    cr_assert_eq(utf8_seq_len("\xe2\x28\xac", 3), 0); /* not a continuation */
    cr_assert(utf8_valid("caf\xc3\xa9", 5));
    cr_assert_not(utf8_valid("caf\xc3", 4));
    cr_assert(utf8_valid("", 0));
}

Test(utf8, a_bad_byte_is_found_at_any_place_of_a_long_ascii_text)
{
    /* ASCII is checked a word at a time: a bad byte (or a character cut by the end) must be
     * found wherever it stands, before, across and after the 32- and 8-byte steps. */
    char text[100];
    for (size_t len = 1; len <= sizeof text; len++) {
        memset(text, 'a', len);
        cr_assert(utf8_valid(text, len), "%zu ASCII bytes", len);
        for (size_t at = 0; at < len; at++) {
            text[at] = (char)0xff;
            cr_assert_not(utf8_valid(text, len), "0xff at %zu of %zu", at, len);
            text[at] = 'a';
        }
        if (len >= 2) {
            memcpy(text + len - 2, "\xc3\xa9", 2);
            cr_assert(utf8_valid(text, len), "\"\\xc3\\xa9\" ending %zu bytes", len);
            cr_assert_not(utf8_valid(text, len - 1), "\"\\xc3\" ending %zu bytes", len - 1);
        }
    }
}

Test(utf8, mending_replaces_each_bad_byte_and_keeps_the_rest)
{
    const char in[] = "a\xff"
                      "b\xe2\x82"
                      "c\xc3\xa9";
    char out[64];
    bool cut = true;
    size_t n = utf8_copy(out, sizeof(out), in, sizeof(in) - 1, &cut);
    cr_assert_str_eq(out, "a" FFFD "b" FFFD FFFD "c\xc3\xa9");
    cr_assert_eq(n, strlen(out));
    cr_assert_eq(utf8_mended_len(in, sizeof(in) - 1), n);
    cr_assert_not(cut);
    cr_assert(utf8_valid(out, n));
    /* A NUL in the middle is a character like any other. */
    n = utf8_copy(out, sizeof(out), "x\0y", 3, NULL);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(out, "x\0y", 4), 0);
}

Test(utf8, a_copy_is_cut_between_two_characters)
{
    /* "é" is 2 bytes: 5 of them fit in 10 bytes, never 4.5. */
    char in[64] = "";
    for (int i = 0; i < 20; i++)
        strcat(in, "\xc3\xa9");
    for (size_t room = 1; room <= 12; room++) {
        char out[16];
        bool cut = false;
        size_t n = utf8_copy(out, room, in, strlen(in), &cut);
        cr_assert_eq(n, (room - 1) / 2 * 2, "room %zu: %zu bytes", room, n);
        cr_assert_eq(out[n], '\0');
        cr_assert(cut);
        cr_assert(utf8_valid(out, n));
        cr_assert_eq(utf8_cut_len(in, strlen(in), room - 1), n);
    }
    /* Four-byte characters, and a replacement (3 bytes) that does not fit whole. */
    char out[8];
    cr_assert_eq(utf8_copy(out, 8, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8, NULL), 4);
    cr_assert_eq(utf8_copy(out, 4, "ab\xff", 3, NULL), 2);
    cr_assert_str_eq(out, "ab");
}

Test(utf8, append_joins_within_the_buffer)
{
    char buf[12] = "";
    bool cut;
    cr_assert_eq(utf8_append(buf, sizeof(buf), "0", 1, &cut), 1);
    cr_assert_not(cut);
    cr_assert_eq(utf8_append(buf, sizeof(buf), ", ", 2, &cut), 3);
    /* 8 bytes of room, 3-byte characters: two fit. */
    size_t n = utf8_append(buf, sizeof(buf), "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9, &cut);
    cr_assert_eq(n, 9);
    cr_assert(cut);
    cr_assert_str_eq(buf, "0, \xe2\x82\xac\xe2\x82\xac");
    /* Exactly full, then nothing more goes in. */
    cr_assert_eq(utf8_append(buf, sizeof(buf), "zz", 2, &cut), 11);
    cr_assert_not(cut);
    cr_assert_str_eq(buf, "0, \xe2\x82\xac\xe2\x82\xac"
                          "zz");
    cr_assert_eq(utf8_append(buf, sizeof(buf), "z", 1, &cut), 11);
    cr_assert(cut);
}

Test(utf8, trim_partial_drops_what_snprintf_cut_in_half)
{
    char s[16];
    snprintf(s, 5, "ab%s", "\xe2\x82\xac"); /* "ab" and 2 of the 3 bytes */
    cr_assert_eq(strlen(s), 4);
    cr_assert_eq(utf8_trim_partial(s), 2);
    cr_assert_str_eq(s, "ab");
    strcpy(s, "ab\xe2\x82\xac");
    cr_assert_eq(utf8_trim_partial(s), 5); /* whole: kept */
    strcpy(s, "ab\xf0\x9f\x98");
    cr_assert_eq(utf8_trim_partial(s), 2);
    strcpy(s, "ab\xc3");
    cr_assert_eq(utf8_trim_partial(s), 2);
    strcpy(s, "abc");
    cr_assert_eq(utf8_trim_partial(s), 3);
    strcpy(s, "");
    cr_assert_eq(utf8_trim_partial(s), 0);
}
