#include "base/error.h"

#include <string.h>

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry table[] = {
    {0, "OK", "success"},
    {EINVAL, "EINVAL", "invalid argument"},
    {ENOMEM, "ENOMEM", "out of memory"},
    {EBADMSG, "EBADMSG", "malformed input"},
    {EMSGSIZE, "EMSGSIZE", "over a configured limit"},
    {EAGAIN, "EAGAIN", "need more bytes"},
    {ENOENT, "ENOENT", "no such file or directory"},
    {EIO, "EIO", "input/output error"},
    {EEXIST, "EEXIST", "already exists"},
    {ENOSPC, "ENOSPC", "no space left on device"},
    {EPIPE, "EPIPE", "broken pipe"},
    {ECONNRESET, "ECONNRESET", "connection reset"},
    {ETIMEDOUT, "ETIMEDOUT", "timed out"},
    {ENOTSUP, "ENOTSUP", "not supported"},
};

static const struct err_entry *find(int err)
{
    int code = err < 0 ? -err : err;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].code == code)
            return &table[i];
    }
    return NULL;
}

const char *error_name(int err)
{
    const struct err_entry *e = find(err);
    return e ? e->name : "EUNKNOWN";
}

const char *error_text(int err)
{
    const struct err_entry *e = find(err);
    if (e)
        return e->text;
    /* strerror is not thread-safe in general, but glibc returns static strings for known codes. */
    return "unknown error";
}
