/* Fuzz target for protocol/winxml (Windows event XML read by expat from untrusted bytes). One
 * input is one document. It is read with the default limits, then again cut short, with a lower
 * depth limit, a lower memory limit and a size limit just under its length (the lower limits and
 * the cut come from a hash of the input, so the seeds stay plain XML). The target aborts when:
 *  - the return code and EV->error disagree (0 with WINXML_OK, -EBADMSG with syntax, not-event,
 *    doctype and entity, -EMSGSIZE with depth, size and memory, -ENOMEM with nomem);
 *  - an item has a field out of range, a name on anything but WINXML_DATA, a name or value that
 *    is not NUL-terminated at its length, or that is not a sequence of characters XML allows
 *    (checked by a decoder of its own: no bad UTF-8, no NUL or other forbidden control, no
 *    U+FFFE or U+FFFF);
 *  - EV->mended disagrees with that decoder on the input (some position is not such a
 *    character);
 *  - a DOCTYPE, a root other than Event or a refused size gave items; the default limits
 *    refused a document (the inputs are far smaller than they are);
 *  - reading a prefix of the input gives items that are not the first items of the whole
 *    (a document cut short keeps exactly the items complete before the cut);
 *  - a lower depth or memory limit gives anything but the same result, or its own error with
 *    the first items of the unlimited reading; the size limit does not refuse the document with
 *    no items;
 *  - reading the same bytes twice gives another result. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/winxml.h"
#include "tests/fuzz/fuzz_target.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_winxml: broken invariant: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The length of the character XML 1.0 allows at P (N > 0 bytes), 0 when there is none: decoded
 * here apart from base/utf8 and protocol/winxml. */
static size_t ref_char(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t len;
    if (p[0] < 0x80) {
        cp = p[0];
        len = 1;
    } else if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        cp = p[0] & 0x1Fu;
        len = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        cp = p[0] & 0x0Fu;
        len = 3;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        cp = p[0] & 0x07u;
        len = 4;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    if (cp < 0x20 && cp != 0x9 && cp != 0xA && cp != 0xD)
        return 0;
    if (cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return len;
}

static bool ref_text(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        size_t l = ref_char(p + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

static int code_of(enum winxml_error e)
{
    switch (e) {
    case WINXML_OK:
        return 0;
    case WINXML_ERR_SYNTAX:
    case WINXML_ERR_NOT_EVENT:
    case WINXML_ERR_DOCTYPE:
    case WINXML_ERR_ENTITY:
        return -EBADMSG;
    case WINXML_ERR_DEPTH:
    case WINXML_ERR_SIZE:
    case WINXML_ERR_MEMORY:
        return -EMSGSIZE;
    case WINXML_ERR_NOMEM:
        return -ENOMEM;
    }
    return 1; /* never a return code */
}

static void check_string(const char *s, size_t n)
{
    CHECK(s != NULL);
    CHECK(s[n] == '\0');
    CHECK(ref_text(s, n));
}

static void check_event(int rc, const struct winxml_event *ev)
{
    CHECK(rc == code_of(ev->error));
    CHECK(ev->count == 0 || ev->items != NULL);
    if (ev->error == WINXML_ERR_DOCTYPE || ev->error == WINXML_ERR_NOT_EVENT ||
        ev->error == WINXML_ERR_SIZE)
        CHECK(ev->count == 0);
    for (size_t i = 0; i < ev->count; i++) {
        const struct winxml_item *it = &ev->items[i];
        CHECK(it->field >= WINXML_PROVIDER_NAME && it->field <= WINXML_DATA);
        CHECK(it->name == NULL || it->field == WINXML_DATA);
        if (it->name)
            check_string(it->name, it->name_len);
        check_string(it->value, it->value_len);
    }
}

static bool same_item(const struct winxml_item *a, const struct winxml_item *b)
{
    if (a->field != b->field || (a->name == NULL) != (b->name == NULL) ||
        a->value_len != b->value_len || memcmp(a->value, b->value, a->value_len) != 0)
        return false;
    return !a->name || (a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0);
}

/* The items of A are the first items of B. */
static bool is_prefix(const struct winxml_event *a, const struct winxml_event *b)
{
    if (a->count > b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        if (!same_item(&a->items[i], &b->items[i]))
            return false;
    }
    return true;
}

static bool same_event(const struct winxml_event *a, const struct winxml_event *b)
{
    return a->error == b->error && a->mended == b->mended && a->count == b->count &&
           is_prefix(a, b);
}

static uint32_t hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Reads P with LIMITS and checks what any reading must be. */
static int read_checked(const uint8_t *p, size_t n, const struct winxml_limits *limits,
                        struct winxml_event *ev)
{
    int rc = winxml_parse((const char *)p, n, limits, ev);
    check_event(rc, ev);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct winxml_limits def;
    winxml_limits_default(&def);
    struct winxml_event full, again, other;
    read_checked(data, size, &def, &full);
    CHECK(full.error != WINXML_ERR_MEMORY && full.error != WINXML_ERR_NOMEM &&
          full.error != WINXML_ERR_SIZE);
    CHECK(full.mended == !ref_text((const char *)data, size));

    read_checked(data, size, NULL, &again);
    CHECK(same_event(&full, &again));
    winxml_event_free(&again);

    uint32_t h = hash(data, size);

    /* Cut short: the first items of the whole. */
    if (size > 0) {
        size_t cut = h % size;
        read_checked(data, cut, &def, &other);
        CHECK(is_prefix(&other, &full));
        winxml_event_free(&other);
    }

    /* A lower depth limit: the same, or stopped there with the first items. */
    struct winxml_limits l = def;
    l.max_depth = 1 + (h >> 8) % 6;
    read_checked(data, size, &l, &other);
    if (other.error == WINXML_ERR_DEPTH)
        CHECK(is_prefix(&other, &full));
    else
        CHECK(same_event(&other, &full));
    winxml_event_free(&other);

    /* A lower memory limit: the same, or stopped for memory with the first items. */
    l = def;
    l.max_memory = (size_t)1024 << ((h >> 16) % 8);
    read_checked(data, size, &l, &other);
    if (other.error == WINXML_ERR_MEMORY)
        CHECK(is_prefix(&other, &full));
    else
        CHECK(same_event(&other, &full));
    winxml_event_free(&other);

    /* Over the size limit: refused whole. */
    if (size > 0) {
        l = def;
        l.max_bytes = size - 1;
        l.max_memory = 0;
        CHECK(read_checked(data, size, &l, &other) == -EMSGSIZE);
        CHECK(other.error == WINXML_ERR_SIZE && other.count == 0);
        winxml_event_free(&other);
    }

    winxml_event_free(&full);
    return 0;
}
