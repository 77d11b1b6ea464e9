#include "pipeline/prefilter.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char word[] = "amsienable"; /* lower case; compared with (byte | 0x20) */
#define WORD_LEN 10

/* Characters whose \u00XX escape may take part in spelling "AmsiEnable" at some nesting level:
 * the word's letters in both cases, hex digits, 'u' and the backslash. */
static bool escape_relevant(unsigned v)
{
    if (v >= '0' && v <= '9')
        return true;
    if ((v >= 'a' && v <= 'f') || (v >= 'A' && v <= 'F'))
        return true;
    if (v == '\\' || v == 'u')
        return true;
    unsigned lower = v | 0x20u;
    if (!((v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z')))
        return false;
    return memchr(word, (int)lower, WORD_LEN) != NULL;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* P[I] is a backslash and P[I+1] a 'u': is this a relevant escape? */
static bool escape_at(const unsigned char *p, size_t n, size_t i)
{
    if (i + 6 > n || p[i + 2] != '0' || p[i + 3] != '0')
        return false;
    int hi = hexval(p[i + 4]), lo = hexval(p[i + 5]);
    if (hi < 0 || lo < 0)
        return false;
    return escape_relevant((unsigned)(hi * 16 + lo));
}

static bool word_at(const unsigned char *p, size_t n, size_t i)
{
    if (i + WORD_LEN > n)
        return false;
    for (size_t k = 0; k < WORD_LEN; k++) {
        if ((p[i + k] | 0x20) != (unsigned char)word[k])
            return false;
    }
    return true;
}

static bool check_at(const unsigned char *p, size_t n, size_t i)
{
    if (p[i] == '\\' && i + 1 < n && p[i + 1] == 'u' && escape_at(p, n, i))
        return true;
    return word_at(p, n, i);
}

bool prefilter_candidate_scalar(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (check_at(p, n, i))
            return true;
    }
    return false;
}

#if defined(__SSE2__)
/* 16 positions per step: a position is checked in full only when bytes +1 and +7 read 'm' and
 * 'b' (any case), the rarest pair of the word, or when it starts a backslash-u. */
bool prefilter_candidate(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    const __m128i lc = _mm_set1_epi8(0x20);
    const __m128i m = _mm_set1_epi8('m');
    const __m128i b = _mm_set1_epi8('b');
    const __m128i bs = _mm_set1_epi8('\\');
    const __m128i u = _mm_set1_epi8('u');
    /* Loads reach p[i + 7 + 15]. */
    while (i + 23 <= n) {
        __m128i b0 = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b1 = _mm_loadu_si128((const __m128i *)(p + i + 1));
        __m128i b7 = _mm_loadu_si128((const __m128i *)(p + i + 7));
        __m128i wm = _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(b1, lc), m),
                                   _mm_cmpeq_epi8(_mm_or_si128(b7, lc), b));
        __m128i em = _mm_and_si128(_mm_cmpeq_epi8(b0, bs), _mm_cmpeq_epi8(b1, u));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(wm, em));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (check_at(p, n, i + bit))
                return true;
            mask &= mask - 1;
        }
        i += 16;
    }
    for (; i < n; i++) {
        if (check_at(p, n, i))
            return true;
    }
    return false;
}
#else
bool prefilter_candidate(const char *s, size_t n)
{
    return prefilter_candidate_scalar(s, n);
}
#endif
