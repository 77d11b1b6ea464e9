/* Helpers shared by the unit tests: reading fixture files, finding the shared corpus, temporary
 * directories. */
#ifndef AMSI_TESTS_SUPPORT_TESTUTIL_H
#define AMSI_TESTS_SUPPORT_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads a whole file; returns a NUL-terminated malloc'd buffer (length in *LEN) or NULL. */
static inline char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    size_t r;
    while (p && (r = fread(p + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    fclose(f);
    if (p) {
        p[n] = '\0';
        if (len)
            *len = n;
    }
    return p;
}

/* The reference corpus beside the checkout ("../shared/corpus"), or NULL when absent (a user's
 * clone has none; tests over it are then skipped). */
static inline const char *tu_shared_corpus(void)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/../shared/corpus", AMSI_SOURCE_DIR);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return path;
}

/* Calls FN(ctx, line, len, lineno) for each non-blank line of BUF. */
static inline void tu_each_line(const char *buf, void (*fn)(void *, const char *, size_t, int),
                                void *ctx)
{
    int lineno = 0;
    const char *p = buf;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len && p[len - 1] == '\r')
            len--;
        if (len)
            fn(ctx, p, len, lineno);
        if (!nl)
            break;
        p = nl + 1;
    }
}

/* Makes a fresh directory /tmp/amsiwatch-test-NAME-XXXXXX, its path in DIR (SIZE bytes). Returns
 * DIR, or NULL on error. */
static inline char *tu_make_tempdir(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "/tmp/amsiwatch-test-%s-XXXXXX", name);
    return mkdtemp(dir);
}

/* Removes DIR and everything below it. Returns 0, or non-zero on error. */
static inline int tu_remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

/* Declares the Criterion suite SUITE, each of whose tests finds a fresh temporary directory in
 * ROOT (a char array it declares) and leaves it removed. */
#define TU_TEMPDIR_SUITE(suite, root)                                                              \
    static char root[256];                                                                         \
    static void suite##_make_tempdir(void)                                                         \
    {                                                                                              \
        cr_assert_not_null(tu_make_tempdir(root, sizeof(root), #suite));                           \
    }                                                                                              \
    static void suite##_remove_tempdir(void)                                                       \
    {                                                                                              \
        cr_assert_eq(tu_remove_tree(root), 0);                                                     \
    }                                                                                              \
    TestSuite(suite, .init = suite##_make_tempdir, .fini = suite##_remove_tempdir)

#endif
