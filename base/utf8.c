#include "base/utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_seq_len(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0, C1, F5 to FF */
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return len;
}

bool utf8_valid(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i + 32 <= n) { /* ASCII, the usual case: four words, one branch per 32 bytes */
            uint64_t w[4];
            memcpy(w, p + i, 32);
            if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ull)
                break;
            i += 32;
        }
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if ((unsigned char)p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* The mended form of the character at S[I]: its bytes and length. */
static size_t next_char(const char *s, size_t n, size_t i, const char **out)
{
    size_t l = utf8_seq_len(s + i, n - i);
    if (l == 0) {
        *out = UTF8_REPLACEMENT;
        return 3;
    }
    *out = s + i;
    return l;
}

size_t utf8_mended_len(const char *s, size_t n)
{
    size_t i = 0, len = 0;
    while (i < n) {
        size_t l = utf8_seq_len(s + i, n - i);
        len += l ? l : 3;
        i += l ? l : 1;
    }
    return len;
}

size_t utf8_cut_len(const char *s, size_t n, size_t max)
{
    size_t i = 0, len = 0;
    while (i < n) {
        const char *c;
        size_t l = next_char(s, n, i, &c);
        if (len + l > max)
            break;
        len += l;
        i += utf8_seq_len(s + i, n - i) ? l : 1;
    }
    return len;
}

size_t utf8_copy(char *out, size_t outsize, const char *s, size_t n, bool *cut)
{
    size_t i = 0, len = 0;
    bool short_ = false;
    while (i < n) {
        const char *c;
        size_t l = next_char(s, n, i, &c);
        if (len + l > outsize - 1) {
            short_ = true;
            break;
        }
        memcpy(out + len, c, l);
        len += l;
        i += c == s + i ? l : 1;
    }
    out[len] = '\0';
    if (cut)
        *cut = short_;
    return len;
}

size_t utf8_append(char *buf, size_t size, const char *s, size_t n, bool *cut)
{
    size_t used = strnlen(buf, size - 1);
    return used + utf8_copy(buf + used, size - used, s, n, cut);
}

size_t utf8_trim_partial(char *s)
{
    size_t len = strlen(s);
    /* A character is at most 4 bytes: look at the last lead byte within the last 4. */
    size_t k = len;
    while (k > 0 && len - k < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k == 0 || len - k >= 4 || (unsigned char)s[k - 1] < 0xC0)
        return len; /* ASCII at the end, or nothing that looks like a cut lead byte */
    size_t lead = k - 1;
    if (utf8_seq_len(s + lead, len - lead) == len - lead)
        return len; /* the last character is whole */
    /* The bytes after LEAD are fewer than LEAD announces, but may be a prefix of it. */
    size_t want = (unsigned char)s[lead] >= 0xF0 ? 4 : (unsigned char)s[lead] >= 0xE0 ? 3 : 2;
    if (len - lead < want) {
        s[lead] = '\0';
        return lead;
    }
    return len;
}
