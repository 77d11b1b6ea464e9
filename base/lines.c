#include "base/lines.h"

#include <errno.h>
#include <string.h>

void lines_init(struct lines *l, size_t max_line, lines_cb cb, void *ctx)
{
    buf_init(&l->partial, max_line);
    l->lineno = 0;
    l->skipping = 0;
    l->cb = cb;
    l->ctx = ctx;
}

void lines_free(struct lines *l)
{
    if (!l)
        return;
    buf_free(&l->partial);
}

static int deliver(struct lines *l, const char *p, size_t len)
{
    l->lineno++;
    if (l->skipping) {
        l->skipping = 0;
        return l->cb(l->ctx, l->lineno, NULL, 0, LINES_TOO_LONG);
    }
    if (len > l->partial.max)
        return l->cb(l->ctx, l->lineno, NULL, 0, LINES_TOO_LONG);
    if (len && p[len - 1] == '\r')
        len--;
    return l->cb(l->ctx, l->lineno, p, len, LINES_OK);
}

int lines_feed(struct lines *l, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;
        if (!nl) {
            if (!l->skipping) {
                int rc = buf_append(&l->partial, p, seg);
                if (rc == -EMSGSIZE) {
                    l->skipping = 1;
                    buf_reset(&l->partial);
                } else if (rc < 0) {
                    return rc;
                }
            }
            return 0;
        }
        int rc;
        if (l->partial.len == 0 && !l->skipping) {
            rc = deliver(l, p, seg);
        } else if (l->skipping) {
            rc = deliver(l, NULL, 0);
        } else {
            int arc = buf_append(&l->partial, p, seg);
            if (arc == -EMSGSIZE) {
                l->skipping = 1;
            } else if (arc < 0) {
                return arc;
            }
            rc = l->skipping ? deliver(l, NULL, 0) : deliver(l, l->partial.data, l->partial.len);
            buf_reset(&l->partial);
        }
        if (rc)
            return rc;
        p += seg + 1;
        n -= seg + 1;
    }
    return 0;
}

int lines_finish(struct lines *l)
{
    int rc = 0;
    if (l->skipping)
        rc = deliver(l, NULL, 0);
    else if (l->partial.len)
        rc = deliver(l, l->partial.data, l->partial.len);
    buf_reset(&l->partial);
    return rc;
}
