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
/* Candidate positions of 16 starting at P: bit k set when bytes k+1 and k+7 read 'm' and 'b' (any
 * case), the rarest pair of the word, or when byte k starts a backslash-u. Reads P[0..22]. */
static inline unsigned block16(const unsigned char *p)
{
    const __m128i lc = _mm_set1_epi8(0x20);
    __m128i b0 = _mm_loadu_si128((const __m128i *)p);
    __m128i b1 = _mm_loadu_si128((const __m128i *)(p + 1));
    __m128i b7 = _mm_loadu_si128((const __m128i *)(p + 7));
    __m128i wm = _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(b1, lc), _mm_set1_epi8('m')),
                               _mm_cmpeq_epi8(_mm_or_si128(b7, lc), _mm_set1_epi8('b')));
    __m128i em = _mm_and_si128(_mm_cmpeq_epi8(b0, _mm_set1_epi8('\\')),
                               _mm_cmpeq_epi8(b1, _mm_set1_epi8('u')));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(wm, em));
}

static bool check_mask(const unsigned char *p, size_t n, size_t base, uint64_t mask)
{
    while (mask) {
        unsigned bit = (unsigned)__builtin_ctzll(mask);
        if (check_at(p, n, base + bit))
            return true;
        mask &= mask - 1;
    }
    return false;
}

static bool candidate_sse2(const unsigned char *p, size_t n)
{
    size_t i = 0;
    /* 64 positions per branch: four blocks OR'd, one test. */
    while (i + 64 + 7 <= n) {
        uint64_t m = (uint64_t)block16(p + i) | (uint64_t)block16(p + i + 16) << 16 |
                     (uint64_t)block16(p + i + 32) << 32 | (uint64_t)block16(p + i + 48) << 48;
        if (m && check_mask(p, n, i, m))
            return true;
        i += 64;
    }
    while (i + 16 + 7 <= n) {
        uint64_t m = block16(p + i);
        if (m && check_mask(p, n, i, m))
            return true;
        i += 16;
    }
    if (i < n && n >= 23) {
        /* The tail: one more block ending at the last byte, without the positions already seen. */
        size_t start = n - 23;
        uint64_t m = block16(p + start) & ~((1ull << (i - start)) - 1);
        if (m && check_mask(p, n, start, m))
            return true;
        /* The block's last position is n - 8; an escape can still start at n - 7 or n - 6. */
        i = i > n - 7 ? i : n - 7;
    }
    for (; i < n; i++) {
        if (check_at(p, n, i))
            return true;
    }
    return false;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx2"))) static inline uint32_t block32(const unsigned char *p)
{
    const __m256i lc = _mm256_set1_epi8(0x20);
    __m256i b0 = _mm256_loadu_si256((const __m256i *)p);
    __m256i b1 = _mm256_loadu_si256((const __m256i *)(p + 1));
    __m256i b7 = _mm256_loadu_si256((const __m256i *)(p + 7));
    __m256i wm =
        _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_or_si256(b1, lc), _mm256_set1_epi8('m')),
                         _mm256_cmpeq_epi8(_mm256_or_si256(b7, lc), _mm256_set1_epi8('b')));
    __m256i em = _mm256_and_si256(_mm256_cmpeq_epi8(b0, _mm256_set1_epi8('\\')),
                                  _mm256_cmpeq_epi8(b1, _mm256_set1_epi8('u')));
    return (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(wm, em));
}

__attribute__((target("avx2"))) static bool candidate_avx2(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i + 64 + 7 <= n) {
        uint64_t m = (uint64_t)block32(p + i) | (uint64_t)block32(p + i + 32) << 32;
        if (m && check_mask(p, n, i, m))
            return true;
        i += 64;
    }
    while (i + 32 + 7 <= n) {
        uint64_t m = block32(p + i);
        if (m && check_mask(p, n, i, m))
            return true;
        i += 32;
    }
    if (i < n && n >= 39) {
        size_t start = n - 39;
        uint64_t m = block32(p + start) & ~((1ull << (i - start)) - 1);
        if (m && check_mask(p, n, start, m))
            return true;
        for (i = n - 7; i < n; i++) {
            if (check_at(p, n, i))
                return true;
        }
        return false;
    }
    /* Fewer than 39 bytes left: positions before I were checked with the whole buffer. */
    return candidate_sse2(p + i, n - i);
}

bool prefilter_candidate(const char *s, size_t n)
{
    static int have_avx2 = -1;
    int avx2 = __atomic_load_n(&have_avx2, __ATOMIC_RELAXED);
    if (avx2 < 0) {
        avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&have_avx2, avx2, __ATOMIC_RELAXED);
    }
    const unsigned char *p = (const unsigned char *)s;
    return avx2 ? candidate_avx2(p, n) : candidate_sse2(p, n);
}
#else
bool prefilter_candidate(const char *s, size_t n)
{
    return candidate_sse2((const unsigned char *)s, n);
}
#endif
#else
bool prefilter_candidate(const char *s, size_t n)
{
    return prefilter_candidate_scalar(s, n);
}
#endif
