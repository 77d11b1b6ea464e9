#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"

Test(crc32c, gives_the_castagnoli_check_value)
{
    cr_assert_eq(crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(crc32c(0, "", 0), 0u);
}

Test(crc32c, extends_across_calls_like_one_pass)
{
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t whole = crc32c(0, s, strlen(s));
    for (size_t cut = 0; cut <= strlen(s); cut++)
        cr_assert_eq(crc32c(crc32c(0, s, cut), s + cut, strlen(s) - cut), whole, "cut %zu", cut);
}

Test(crc32c, hardware_and_table_versions_agree_on_every_length_and_alignment)
{
    unsigned char buf[600];
    srand(7);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)rand();
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; off + len <= sizeof(buf); len += 7)
            cr_assert_eq(crc32c(0, buf + off, len), crc32c_sw(0, buf + off, len),
                         "offset %zu length %zu", off, len);
    }
}
