/* Checks for the threaded tests. Criterion cannot start under ThreadSanitizer (its inheritable
 * arena collides with TSan's memory layout: Snaipe/Criterion#274), so the tests that CI runs under
 * TSan are plain programs: each CHECK that fails prints where and why, and main returns
 * check_summary(), which prints "N passed, N failed" and is non-zero on any failure. */
#ifndef AMSI_TESTS_SUPPORT_CHECK_H
#define AMSI_TESTS_SUPPORT_CHECK_H

#include <stdatomic.h>
#include <stdio.h>

static atomic_int check_passed, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            atomic_fetch_add(&check_passed, 1);                                                    \
        } else {                                                                                   \
            atomic_fetch_add(&check_failed, 1);                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Runs one named test function and reports it. */
#define RUN_TEST(fn)                                                                               \
    do {                                                                                           \
        int before = atomic_load(&check_failed);                                                   \
        fn();                                                                                      \
        printf("[%s] %s\n", atomic_load(&check_failed) == before ? "PASS" : "FAIL", #fn);          \
    } while (0)

static inline int check_summary(void)
{
    int p = atomic_load(&check_passed), f = atomic_load(&check_failed);
    printf("%d passed, %d failed\n", p, f);
    return f ? 1 : 0;
}

#endif
