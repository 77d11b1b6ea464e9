#include "server/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/net.h"
#include "server/server.h"

struct write_req {
    uv_write_t req;
    uint8_t bytes[];
};

int conn_accept(struct conn *c, uv_stream_t *listener, struct server *srv, struct conn_list *list,
                const char *logname, const struct conn_ops *ops)
{
    c->srv = srv;
    c->ops = ops;
    c->logname = logname;
    c->refs = 1;
    /* The handle is the first member: a failed accept closes it and frees C. */
    if (net_accept(listener, &c->tcp, c, c->peer, sizeof(c->peer)) < 0)
        return -1;
    c->list = list;
    c->next = list->head;
    if (list->head)
        list->head->prev = c;
    list->head = c;
    list->count++;
    return 0;
}

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    sec_conn_free(&c->sec);
    c->ops->release(c);
}

static void on_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

void conn_close(struct conn *c, const char *why, bool error)
{
    if (c->closing)
        return;
    c->closing = true;
    if (error)
        log_warn(c->logname, "%s: closing: %s", c->peer, why);
    else
        log_debug(c->logname, "%s: closing: %s", c->peer, why);
    if (c->ops->closing)
        c->ops->closing(c, error);
    struct conn_list *l = c->list;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    l->count--;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void conn_stop_reading(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

void conn_pause(struct conn *c)
{
    conn_stop_reading(c);
    c->paused = true;
    c->srv->need_resume = true;
}

bool conn_start_reading(struct conn *c, uv_alloc_cb alloc, uv_read_cb read)
{
    if (c->reading || c->closing)
        return false;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc, read) != 0)
        return false;
    c->reading = true;
    c->paused = false;
    return true;
}

static void on_tls_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    sec_write_free(req);
    if (status < 0 && status != UV_ECANCELED)
        conn_close(c, uv_strerror(status), false);
    conn_unref(c);
}

void conn_flush_tls(struct conn *c)
{
    c->refs++;
    int rc = sec_conn_send(&c->sec, (uv_stream_t *)&c->tcp, c, on_tls_written);
    if (rc != 0) {
        c->refs--;
        if (rc < 0)
            conn_close(c, uv_strerror(rc), true);
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        conn_close(c, uv_strerror(status), false);
    conn_unref(c);
}

int conn_write(struct conn *c, const void *p, size_t n)
{
    if (c->sec.io) {
        if (sec_conn_write(&c->sec, p, n) < 0) {
            conn_close(c, "TLS write failed", true);
            return -EIO;
        }
        conn_flush_tls(c);
        return c->closing ? -EIO : 0;
    }
    struct write_req *w = malloc(sizeof(*w) + n);
    if (!w) {
        conn_close(c, "out of memory", true);
        return -ENOMEM;
    }
    memcpy(w->bytes, p, n);
    uv_buf_t ub = uv_buf_init((char *)w->bytes, (unsigned)n);
    w->req.data = c;
    c->refs++;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_written);
    if (rc < 0) {
        free(w);
        c->refs--;
        conn_close(c, uv_strerror(rc), false);
        return rc;
    }
    return 0;
}

size_t conn_write_queue(const struct conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}
