#include "pipeline/field.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int collect_value(const json_t *v, json_t *out);

/* Walks PATH (LEN bytes) from V, trying every split of the dotted name into literal keys. */
static int collect_path(const json_t *v, const char *path, size_t len, json_t *out)
{
    if (len == 0)
        return collect_value(v, out);
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (json_is_object(e) && collect_path(e, path, len, out) < 0)
                return -ENOMEM;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    /* Each prefix of PATH that ends at a dot (or at the end) may be a literal key. */
    for (size_t cut = 0; cut <= len; cut++) {
        if (cut != len && path[cut] != '.')
            continue;
        const json_t *child = json_object_getn(v, path, cut);
        if (!child)
            continue;
        size_t rest = cut == len ? 0 : len - cut - 1;
        if (collect_path(child, path + cut + (cut == len ? 0 : 1), rest, out) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int collect_value(const json_t *v, json_t *out)
{
    if (json_is_null(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (collect_value(e, out) < 0)
                return -ENOMEM;
        }
        return 0;
    }
    return json_array_append(out, (json_t *)v) == 0 ? 0 : -ENOMEM;
}

json_t *field_collect(const json_t *doc, const char *path)
{
    json_t *out = json_array();
    if (!out)
        return NULL;
    if (collect_path(doc, path, strlen(path), out) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Counts the places PATH resolves to, remembering the last; used to keep a single value's shape. */
static void locate(const json_t *v, const char *path, size_t len, const json_t **found,
                   size_t *count)
{
    if (len == 0) {
        (*count)++;
        *found = v;
        return;
    }
    if (json_is_array(v)) {
        /* Values inside arrays of objects: only field_collect flattens those. */
        *count += 2;
        return;
    }
    if (!json_is_object(v))
        return;
    for (size_t cut = 0; cut <= len; cut++) {
        if (cut != len && path[cut] != '.')
            continue;
        const json_t *child = json_object_getn(v, path, cut);
        if (!child)
            continue;
        size_t rest = cut == len ? 0 : len - cut - 1;
        locate(child, path + cut + (cut == len ? 0 : 1), rest, found, count);
    }
}

json_t *field_get(const json_t *doc, const char *path)
{
    const json_t *found = NULL;
    size_t count = 0;
    locate(doc, path, strlen(path), &found, &count);
    if (count == 1) {
        if (json_is_null(found) || (json_is_array(found) && json_array_size(found) == 0))
            return NULL;
        if (!json_is_array(found) || json_array_size(found) == 0)
            return json_incref((json_t *)found);
    }
    if (count == 0)
        return NULL;
    json_t *all = field_collect(doc, path);
    if (all && json_array_size(all) == 0) {
        json_decref(all);
        return NULL;
    }
    return all;
}

const char *field_str(const json_t *doc, const char *path)
{
    const json_t *found = NULL;
    size_t count = 0;
    locate(doc, path, strlen(path), &found, &count);
    if (count != 1 || !json_is_string(found))
        return NULL;
    return json_string_value(found);
}

bool field_scalar_text(const json_t *v, char *tmp, size_t tmplen, const char **s, size_t *len)
{
    int n;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *s = json_string_value(v);
        *len = json_string_length(v);
        return true;
    case JSON_INTEGER:
        n = snprintf(tmp, tmplen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        n = snprintf(tmp, tmplen, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        n = snprintf(tmp, tmplen, "true");
        break;
    case JSON_FALSE:
        n = snprintf(tmp, tmplen, "false");
        break;
    default:
        return false;
    }
    if (n < 0 || (size_t)n >= tmplen)
        return false;
    *s = tmp;
    *len = (size_t)n;
    return true;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool field_like(const char *s, size_t len, const char *pattern)
{
    /* Iterative glob with backtracking to the last '*': linear in practice, no recursion. */
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    size_t plen = strlen(pattern);
    while (si < len) {
        if (pi < plen && pattern[pi] == '*') {
            star_p = pi++;
            star_s = si;
        } else if (pi < plen && (pattern[pi] == '?' || lower((unsigned char)pattern[pi]) ==
                                                           lower((unsigned char)s[si]))) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return false;
        }
    }
    while (pi < plen && pattern[pi] == '*')
        pi++;
    return pi == plen;
}

bool field_equals(const char *s, size_t len, const char *literal)
{
    return strlen(literal) == len && memcmp(s, literal, len) == 0;
}

typedef bool (*str_pred)(const char *s, size_t len, const char *arg);

static bool any_scalar(const json_t *v, const char *const *args, size_t n, str_pred pred)
{
    if (!v)
        return false;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_array(e) && any_scalar(e, args, n, pred))
                return true;
        }
        return false;
    }
    char tmp[64];
    const char *s;
    size_t len;
    if (!field_scalar_text(v, tmp, sizeof(tmp), &s, &len))
        return false;
    for (size_t k = 0; k < n; k++) {
        if (pred(s, len, args[k]))
            return true;
    }
    return false;
}

bool field_any_like(const json_t *v, const char *const *patterns, size_t n)
{
    return any_scalar(v, patterns, n, field_like);
}

bool field_any_equals(const json_t *v, const char *const *literals, size_t n)
{
    return any_scalar(v, literals, n, field_equals);
}
