#include "base/fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char wanted[128];
static long wanted_nth = 1;
static int wanted_error;  /* negative errno for "=ERR", 0 for a kill point */
static long wanted_times; /* how many passages inject the error; 0: for ever */
static atomic_long passages;
static atomic_int armed;
static _Atomic(fault_hook_fn) hook;
static void *_Atomic hook_ctx;

static int error_named(const char *s)
{
    static const struct {
        const char *name;
        int err;
    } names[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"ENOMEM", ENOMEM}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0)
            return -names[i].err;
    return -EIO;
}

static void load(void)
{
    const char *env = getenv("AMSIWATCH_FAULT");
    if (!env || !*env)
        return;
    strncpy(wanted, env, sizeof(wanted) - 1);
    char *eq = strchr(wanted, '=');
    if (eq) {
        *eq = '\0';
        char *star = strchr(eq + 1, '*');
        if (star) {
            *star = '\0';
            wanted_times = strtol(star + 1, NULL, 10);
            if (wanted_times < 0)
                wanted_times = 0;
        }
        wanted_error = error_named(eq + 1);
    }
    char *colon = strchr(wanted, ':');
    if (colon) {
        *colon = '\0';
        wanted_nth = strtol(colon + 1, NULL, 10);
        if (wanted_nth < 1)
            wanted_nth = 1;
    }
    atomic_store(&armed, 1);
}

static int run_hook(const char *name)
{
    fault_hook_fn fn = atomic_load_explicit(&hook, memory_order_acquire);
    return fn ? fn(name, atomic_load_explicit(&hook_ctx, memory_order_relaxed)) : 0;
}

/* The passage number of NAME if the environment selects it, else 0. */
static long passage(const char *name)
{
    pthread_once(&once, load);
    if (!atomic_load_explicit(&armed, memory_order_relaxed) || strcmp(name, wanted) != 0)
        return 0;
    return atomic_fetch_add(&passages, 1) + 1;
}

bool fault_hit(const char *name)
{
    (void)run_hook(name);
    pthread_once(&once, load);
    if (wanted_error)
        return false;
    long n = passage(name);
    return n > 0 && n >= wanted_nth;
}

void fault_kill(void)
{
    for (;;)
        kill(getpid(), SIGKILL);
}

void fault_point(const char *name)
{
    if (fault_hit(name))
        fault_kill();
}

int fault_error(const char *name)
{
    int err = run_hook(name);
    if (err < 0)
        return err;
    long n = passage(name);
    if (n <= 0 || !wanted_error || n < wanted_nth)
        return 0;
    if (wanted_times > 0 && n >= wanted_nth + wanted_times)
        return 0;
    return wanted_error;
}

void fault_set_hook(fault_hook_fn fn, void *ctx)
{
    atomic_store_explicit(&hook_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&hook, fn, memory_order_release);
}
