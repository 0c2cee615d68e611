/* The connection behind cio_stream and cio_transport: its registration,
 * its buffers (the read buffer from the per-loop pool, the write buffer for
 * what the socket did not take), the plain ops, the task waits and the
 * write-side progress shared by both faces. See conn.h. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../common/opts.h"
#include "conn.h"

_Thread_local size_t cio__conn_rbufs_held;

/* ---- The plain ops -------------------------------------------------------- */

/* The outcome of a failed plain system call: -EAGAIN, noting in *need the
 * direction to wait for, or -errno. Read errno right after the call. */
static ssize_t plain_failed(uint8_t *need, int dir)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *need = (uint8_t)dir;
        return -EAGAIN;
    }
    return -errno;
}

/* On a socket, recv(2): the same as read(2) without flags, but it skips the
 * VFS read path (fdget_pos, vfs_read) the kernel takes for read(2). */
static ssize_t sock_read(struct cio__conn *c, void *buf, size_t len)
{
    ssize_t r;
    do
        r = recv(c->nfd.fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    return r >= 0 ? r : plain_failed(&c->rneed, CIO_READABLE);
}

/* Pipes and other descriptors: read(2). */
static ssize_t plain_read(struct cio__conn *c, void *buf, size_t len)
{
    ssize_t r;
    do
        r = read(c->nfd.fd, buf, len);
    while (r < 0 && errno == EINTR);
    return r >= 0 ? r : plain_failed(&c->rneed, CIO_READABLE);
}

static ssize_t sock_writev(struct cio__conn *c, const struct iovec *iov, int iovcnt)
{
    ssize_t r;
    do {
        if (iovcnt == 1) {
            r = send(c->nfd.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
            r = sendmsg(c->nfd.fd, &m, MSG_NOSIGNAL);
        }
    } while (r < 0 && errno == EINTR);
    return r >= 0 ? r : plain_failed(&c->wneed, CIO_WRITABLE);
}

static int sock_shutdown(struct cio__conn *c)
{
    if (shutdown(c->nfd.fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -errno;
    return 0;
}

static void sock_close(struct cio__conn *c, bool reset)
{
    if (reset) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->nfd.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
}

static size_t plain_pending(const struct cio__conn *c)
{
    (void)c;
    return 0;
}

static ssize_t pipe_writev(struct cio__conn *c, const struct iovec *iov, int iovcnt)
{
    ssize_t r;
    do
        r = writev(c->nfd.fd, iov, iovcnt);
    while (r < 0 && errno == EINTR);
    return r >= 0 ? r : plain_failed(&c->wneed, CIO_WRITABLE);
}

/* A pipe has no half-close: its write end is closed (the reader sees the
 * end); the connection then has no descriptor left. */
static int pipe_shutdown(struct cio__conn *c)
{
    cio__nfd_close(&c->nfd);
    close(c->nfd.fd);
    c->nfd.fd = -1;
    c->armed = 0;
    return 0;
}

static void pipe_close(struct cio__conn *c, bool reset)
{
    (void)c;
    (void)reset;
}

const struct cio__conn_ops cio__conn_sock_ops = {
    sock_read, sock_writev, sock_shutdown, sock_close, plain_pending,
};
const struct cio__conn_ops cio__conn_pipe_ops = {
    plain_read, pipe_writev, pipe_shutdown, pipe_close, plain_pending,
};

/* ---- The pool ------------------------------------------------------------- */

void *cio__conn_buf_take(struct cio__net *net)
{
    void *p = net->buf_free;
    if (p) {
        memcpy(&net->buf_free, p, sizeof(void *));
        net->buf_nfree--;
    } else {
        p = malloc(CIO__BUF_SIZE);
        if (!p)
            return NULL;
    }
    cio__conn_rbufs_held++;
    return p;
}

void cio__conn_buf_give(struct cio__net *net, void *buf)
{
    cio__conn_rbufs_held--;
    if (net->buf_nfree >= CIO__BUF_POOL_MAX) {
        free(buf);
        return;
    }
    memcpy(buf, &net->buf_free, sizeof(void *));
    net->buf_free = buf;
    net->buf_nfree++;
}

/* ---- Life --------------------------------------------------------------- */

int cio__conn_set_opts(size_t *high, size_t *low, size_t *limit, const cio_stream_options *opts)
{
    cio_stream_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if (o.limit > UINT32_MAX / 2)
        return -EINVAL;
    *high = o.high_water ? o.high_water : 64 * 1024;
    *low = o.low_water ? o.low_water : *high / 4;
    if (*low > *high)
        return -EINVAL;
    *limit = o.limit ? o.limit : 64 * 1024;
    return 0;
}

int cio__conn_new(cio_loop *loop, int fd, const cio_stream_options *opts, struct cio__conn **out)
{
    return cio__conn_new_kind(loop, fd, opts, 0, out);
}

int cio__conn_new_kind(cio_loop *loop, int fd, const cio_stream_options *opts, int kind,
                       struct cio__conn **out)
{
    if (!loop || fd < 0 || !out)
        return -EINVAL;
    size_t high, low, limit;
    int rc = cio__conn_set_opts(&high, &low, &limit, opts);
    if (rc)
        return rc;
    struct stat st;
    if (kind == CIO__CONN_NB_SOCKET) {
        st.st_mode = S_IFSOCK; /* accept4(SOCK_NONBLOCK): no fstat, no fcntl */
    } else if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return -EINVAL;
    cio__net_init_process();
    struct cio__net *net = cio__net_get(loop);
    if (!net)
        return -ENOMEM;
    struct cio__conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    rc = kind == CIO__CONN_NB_SOCKET ? 0 : cio__sock_nonblock(fd);
    if (!rc)
        rc = kind == CIO__CONN_NB_SOCKET ? cio__nfd_open_lazy(&c->nfd, loop, fd)
                                         : cio__nfd_open(&c->nfd, loop, fd);
    if (rc) {
        free(c);
        return rc;
    }
    c->nfd.owner = c;
    c->nfd.on_event = cio__conn_on_event;
    /* Try the system calls first: the first read or write finds out. */
    c->nfd.ready |= CIO_READABLE | CIO_WRITABLE;
    c->net = net;
    c->ops = S_ISSOCK(st.st_mode) ? &cio__conn_sock_ops : &cio__conn_pipe_ops;
    if (S_ISSOCK(st.st_mode))
        c->flags |= CIO__C_SOCKET;
    else if (!S_ISFIFO(st.st_mode))
        c->notdrained = true;
    if (S_ISSOCK(st.st_mode) && kind != CIO__CONN_NB_SOCKET) {
        /* A SOCK_SEQPACKET (or datagram) socket reads a record at a time. */
        int type = SOCK_STREAM;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)
            c->notdrained = true;
    }
    c->rneed = CIO_READABLE;
    c->wneed = CIO_WRITABLE;
    c->high = high;
    c->low = low;
    c->limit = limit;
    c->refs = 1;
    *out = c;
    return 0;
}

void cio__conn_ref(struct cio__conn *c)
{
    c->refs++;
}

void cio__conn_unref(struct cio__conn *c)
{
    assert(c->refs > 0);
    if (--c->refs)
        return;
    assert(c->flags & CIO__C_CLOSED);
    assert(!c->rfut && !c->wq_head && !c->rbuf && !c->wbuf);
    free(c);
}

void cio__conn_gone(struct cio__conn *c)
{
    void (*gone)(void *) = c->gone;
    if (!gone)
        return;
    c->gone = NULL;
    gone(c->gone_arg);
}

static void rbuf_release(struct cio__conn *c)
{
    if (!c->rbuf)
        return;
    if (c->rcap == CIO__BUF_SIZE)
        cio__conn_buf_give(c->net, c->rbuf);
    else
        free(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rend = c->rcap = 0;
    c->peeked = 0;
}

static void wbuf_release(struct cio__conn *c)
{
    free(c->wbuf);
    c->wbuf = NULL;
    c->wpos = c->wend = c->wcap = 0;
}

static void wake_reader(struct cio__conn *c)
{
    if (c->rfut && !cio_future_is_done(c->rfut))
        cio_future_set_result(c->rfut, NULL, NULL);
}

static void wake_waiter(struct cio__conn *c, struct cio__conn_waiter *w, int rc)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        c->wq_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        c->wq_tail = w->prev;
    w->next = w->prev = NULL;
    w->woken = true;
    w->rc = rc;
    cio_future_set_result(w->fut, NULL, NULL);
}

static void wake_all_writers(struct cio__conn *c, int rc)
{
    while (c->wq_head)
        wake_waiter(c, c->wq_head, rc);
}

void cio__conn_close(struct cio__conn *c, bool reset, int err)
{
    if (c->flags & CIO__C_CLOSED)
        return;
    c->flags |= CIO__C_CLOSED;
    c->close_err = err;
    if (c->nfd.fd >= 0) {
        cio__nfd_close(&c->nfd);
        c->ops->close(c, reset);
        close(c->nfd.fd);
        c->nfd.fd = -1;
    }
    c->armed = 0;
    rbuf_release(c);
    wbuf_release(c);
    wake_reader(c);
    wake_all_writers(c, err);
    cio__conn_unref(c);
}

void cio__conn_rearm(struct cio__conn *c)
{
    int want = 0;
    if (c->nfd.fd < 0 || (c->flags & (CIO__C_CLOSED | CIO__C_IN_MADE)))
        return;
    switch (c->mode) {
    case CIO__CONN_STREAM:
        if (c->rfut)
            want |= c->rneed;
        if (c->wend > c->wpos && !(c->flags & CIO__C_SENDFILE))
            want |= c->wneed;
        for (struct cio__conn_waiter *w = c->wq_head; w; w = w->next)
            if (w->kind == CIO__WAIT_WRITABLE)
                want |= c->wneed;
        break;
    case CIO__CONN_TRANSPORT:
        if ((c->flags & CIO__C_MADE) &&
            !(c->flags & (CIO__C_RPAUSED | CIO__C_EOF | CIO__C_CLOSING | CIO__C_LOST)))
            want |= c->rneed;
        if (c->wend > c->wpos)
            want |= c->wneed;
        /* TLS: the handshake runs before connection_made (and holds
         * data_received after start_tls) */
        if (c->ops_ctx && !(c->flags & CIO__C_LOST) && cio__tls_handshaking(c))
            want |= c->rneed;
        break;
    default:
        want = CIO_WRITABLE;
        break;
    }
    /* A half-close waiting for the descriptor (TLS: its close_notify). */
    if ((c->flags & (CIO__C_SHUT_WANT | CIO__C_SHUT_DONE)) == CIO__C_SHUT_WANT &&
        c->wend == c->wpos && c->mode != CIO__CONN_CONNECTING)
        want |= c->wneed;
    if (want != c->armed) {
        c->armed = (uint8_t)want;
        cio__nfd_arm(&c->nfd, want);
    }
}

/* ---- Read buffer ---------------------------------------------------------- */

size_t cio__conn_rlen(const struct cio__conn *c)
{
    return c->rend - c->rpos;
}

/* A buffer of cap bytes: the pool's for CIO__BUF_SIZE (the invariant: a
 * buffer of exactly that size came from the pool). */
static char *rbuf_alloc(struct cio__conn *c, size_t cap)
{
    return cap == CIO__BUF_SIZE ? cio__conn_buf_take(c->net) : malloc(cap);
}

int cio__conn_rroom(struct cio__conn *c, size_t cap)
{
    if (!c->rbuf) {
        c->rbuf = cio__conn_buf_take(c->net);
        if (!c->rbuf)
            return -ENOMEM;
        c->rcap = CIO__BUF_SIZE;
        c->rpos = c->rend = 0;
        return 0;
    }
    if (c->rend < c->rcap)
        return 0;
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
        c->rend -= c->rpos;
        c->rpos = 0;
        return 0;
    }
    if (c->rcap >= cap)
        return -EMSGSIZE;
    size_t ncap = (size_t)c->rcap * 2;
    if (ncap > cap)
        ncap = cap;
    if (ncap <= CIO__BUF_SIZE)
        ncap = CIO__BUF_SIZE + 1;
    char *n = malloc(ncap);
    if (!n)
        return -ENOMEM;
    memcpy(n, c->rbuf, c->rend);
    uint32_t rend = c->rend, peeked = c->peeked;
    rbuf_release(c);
    c->rbuf = n;
    c->rcap = (uint32_t)ncap;
    c->rend = rend;
    c->peeked = peeked;
    return 0;
}

void cio__conn_rconsume(struct cio__conn *c, size_t n)
{
    assert(n <= cio__conn_rlen(c));
    c->rpos += (uint32_t)n;
    c->peeked = 0;
    if (c->rpos == c->rend)
        rbuf_release(c);
}

int cio__conn_unread(struct cio__conn *c, const void *data, size_t len)
{
    if (!len)
        return 0;
    if (c->rbuf && c->rpos >= len) {
        c->rpos -= (uint32_t)len;
        memcpy(c->rbuf + c->rpos, data, len);
        return 0;
    }
    size_t have = cio__conn_rlen(c);
    size_t cap = have + len <= CIO__BUF_SIZE ? CIO__BUF_SIZE : have + len;
    if (cap > UINT32_MAX)
        return -ENOMEM;
    char *n = rbuf_alloc(c, cap);
    if (!n)
        return -ENOMEM;
    memcpy(n, data, len);
    if (have)
        memcpy(n + len, c->rbuf + c->rpos, have);
    rbuf_release(c);
    c->rbuf = n;
    c->rcap = (uint32_t)cap;
    c->rpos = 0;
    c->rend = (uint32_t)(have + len);
    return 0;
}

ssize_t cio__conn_fill_once(struct cio__conn *c, size_t cap)
{
    if (c->flags & CIO__C_CLOSED)
        return c->close_err ? c->close_err : -EBADF;
    if (c->rerr)
        return c->rerr;
    if (c->flags & CIO__C_EOF)
        return 0;
    int rc = cio__conn_rroom(c, cap);
    if (rc)
        return rc;
    size_t room = c->rcap - c->rend;
    ssize_t r = c->ops->read(c, c->rbuf + c->rend, room);
    if (r > 0) {
        c->rend += (uint32_t)r;
        /* A short read drained the socket: the next arrival is a new edge
         * (a pending hang-up stays in the ready bits as CIO_IOERR). */
        if ((size_t)r < room && cio__conn_short_read_drains(c))
            cio__nfd_clear(&c->nfd, c->rneed);
        return r;
    }
    if (c->rpos == c->rend)
        rbuf_release(c);
    if (r == 0) {
        c->flags |= CIO__C_EOF;
        return 0;
    }
    if (r == -EAGAIN) {
        cio__nfd_clear(&c->nfd, c->rneed | CIO_IOERR);
        return -EAGAIN;
    }
    c->rerr = (int)r;
    return r;
}

/* ---- Write side ------------------------------------------------------------ */

size_t cio__conn_wlen(const struct cio__conn *c)
{
    return c->wend - c->wpos;
}

void cio__conn_write_failed(struct cio__conn *c, int err)
{
    if (!c->werr)
        c->werr = err;
    wbuf_release(c);
    wake_all_writers(c, c->werr);
    if (c->mode == CIO__CONN_TRANSPORT) {
        cio__transport_failed(c, c->werr);
    }
    cio__conn_rearm(c);
}

static int wbuf_append(struct cio__conn *c, const struct iovec *iov, int iovcnt, size_t skip)
{
    size_t add = 0;
    for (int i = 0; i < iovcnt; i++)
        add += iov[i].iov_len;
    add -= skip;
    if (!add)
        return 0;
    size_t have = cio__conn_wlen(c);
    if (c->wcap - c->wend < add) {
        if (c->wpos && c->wcap - have >= add) {
            memmove(c->wbuf, c->wbuf + c->wpos, have);
        } else {
            size_t ncap = c->wcap * 2;
            if (ncap < have + add)
                ncap = have + add;
            if (ncap < 4096)
                ncap = 4096;
            char *n = malloc(ncap);
            if (!n)
                return -ENOMEM;
            if (have)
                memcpy(n, c->wbuf + c->wpos, have);
            free(c->wbuf);
            c->wbuf = n;
            c->wcap = ncap;
        }
        c->wpos = 0;
        c->wend = have;
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t l = iov[i].iov_len;
        const char *p = iov[i].iov_base;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(c->wbuf + c->wend, p + skip, l - skip);
        c->wend += l - skip;
        skip = 0;
    }
    return 0;
}

int cio__conn_write(struct cio__conn *c, const struct iovec *iov, int iovcnt)
{
    if (c->werr)
        return c->werr;
    if (c->flags & (CIO__C_SHUT_WANT | CIO__C_SHUT_DONE | CIO__C_CLOSING | CIO__C_CLOSED))
        return -EPIPE;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (!total)
        return 0;
    size_t skip = 0;
    bool shrank = false;
    if (!(c->flags & CIO__C_SENDFILE) && (c->nfd.ready & c->wneed)) {
        /* The buffered bytes go first, in the same system call. */
        struct iovec v[64];
        int n = 0;
        size_t have = cio__conn_wlen(c), tried = have;
        if (have)
            v[n++] = (struct iovec){c->wbuf + c->wpos, have};
        for (int i = 0; i < iovcnt && n < 64; i++) {
            if (!iov[i].iov_len)
                continue;
            v[n++] = iov[i];
            tried += iov[i].iov_len;
        }
        ssize_t r = c->ops->writev(c, v, n);
        if (r > 0) {
            size_t took = (size_t)r;
            if (took < tried)
                cio__nfd_clear(&c->nfd, c->wneed);
            size_t from_buf = took < have ? took : have;
            c->wpos += from_buf;
            shrank = from_buf > 0;
            skip = took - from_buf;
            if (c->wpos == c->wend)
                wbuf_release(c);
        } else if (r == -EAGAIN) {
            cio__nfd_clear(&c->nfd, c->wneed);
        } else {
            cio__conn_write_failed(c, (int)r);
            return c->werr;
        }
    }
    if (skip < total) {
        int rc = wbuf_append(c, iov, iovcnt, skip);
        if (rc)
            return rc;
    }
    if (shrank)
        cio__conn_progress(c);
    else
        cio__conn_rearm(c);
    return 0;
}

void cio__conn_flush(struct cio__conn *c)
{
    while (c->wend > c->wpos && !(c->flags & (CIO__C_SENDFILE | CIO__C_CLOSED)) &&
           (c->nfd.ready & c->wneed)) {
        struct iovec v = {c->wbuf + c->wpos, c->wend - c->wpos};
        ssize_t r = c->ops->writev(c, &v, 1);
        if (r > 0) {
            c->wpos += (size_t)r;
            if ((size_t)r < v.iov_len)
                cio__nfd_clear(&c->nfd, c->wneed);
        } else if (r == -EAGAIN) {
            cio__nfd_clear(&c->nfd, c->wneed);
        } else {
            cio__conn_write_failed(c, (int)r);
            return;
        }
    }
    if (c->wbuf && c->wpos == c->wend)
        wbuf_release(c);
    cio__conn_progress(c);
}

bool cio__conn_wait_done(const struct cio__conn *c, int kind)
{
    if (c->werr || (c->flags & CIO__C_CLOSED))
        return true;
    switch (kind) {
    case CIO__WAIT_DRAIN:
        return cio__conn_wlen(c) <= c->low;
    case CIO__WAIT_FLUSH:
        return cio__conn_wlen(c) == 0;
    default:
        return (c->nfd.ready & c->wneed) != 0;
    }
}

void cio__conn_progress(struct cio__conn *c)
{
    for (struct cio__conn_waiter *w = c->wq_head, *next; w; w = next) {
        next = w->next;
        if (cio__conn_wait_done(c, w->kind))
            wake_waiter(c, w, c->werr);
    }
    if (cio__conn_wlen(c) == 0 && (c->flags & CIO__C_SHUT_WANT) &&
        !(c->flags & (CIO__C_SHUT_DONE | CIO__C_CLOSED)) && c->nfd.fd >= 0 &&
        !(c->flags & CIO__C_SENDFILE)) {
        int rc = c->ops->shutdown(c);
        if (rc == 0) {
            c->flags |= CIO__C_SHUT_DONE;
        } else if (rc == -EAGAIN) {
            /* (TLS: close_notify) wait for the direction, not a loop */
            cio__nfd_clear(&c->nfd, c->wneed);
        } else {
            cio__conn_write_failed(c, rc);
            return;
        }
    }
    if (c->mode == CIO__CONN_TRANSPORT) {
        cio__transport_progress(c);
    }
    cio__conn_rearm(c);
}

/* ---- Events ----------------------------------------------------------------- */

static void stream_event(struct cio__conn *c, int events)
{
    if (events & (c->wneed | CIO_IOERR)) {
        if (c->wend > c->wpos)
            cio__conn_flush(c);
        else
            cio__conn_progress(c); /* WRITABLE waiters (sendfile) */
    }
    if (events & (c->rneed | CIO_IOERR))
        wake_reader(c);
}

void cio__conn_on_event(struct cio__nfd *n, int events)
{
    struct cio__conn *c = n->owner;
    if (events & CIO_IOERR)
        events |= CIO_READABLE | CIO_WRITABLE;
    n->ready |= (uint8_t)events;
    if (c->flags & CIO__C_CLOSED)
        return;
    cio__conn_ref(c);
    switch (c->mode) {
    case CIO__CONN_STREAM:
        stream_event(c, events);
        break;
    case CIO__CONN_TRANSPORT:
        cio__transport_on_event(c, events);
        break;
    default:
        cio__transport_connecting_event(c, events);
        break;
    }
    cio__conn_unref(c);
}

/* ---- Task waits ------------------------------------------------------------ */

int cio__conn_wait_read(struct cio__conn *c)
{
    if (!cio_current_task())
        return -EPERM;
    if (c->flags & CIO__C_CLOSED)
        return c->close_err;
    cio_future *f;
    int rc = cio_future_new(c->nfd.loop, &f);
    if (rc)
        return rc;
    c->rfut = f;
    cio__conn_rearm(c);
    rc = cio_await(f, NULL);
    c->rfut = NULL;
    cio_future_unref(f);
    if (c->flags & CIO__C_CLOSED)
        return c->close_err;
    cio__conn_rearm(c);
    return rc;
}

int cio__conn_wait_write(struct cio__conn *c, int kind)
{
    if (!cio_current_task())
        return -EPERM;
    if (c->flags & CIO__C_CLOSED)
        return c->close_err;
    if (cio__conn_wait_done(c, kind))
        return c->werr;
    struct cio__conn_waiter w = {.kind = (uint8_t)kind};
    int rc = cio_future_new(c->nfd.loop, &w.fut);
    if (rc)
        return rc;
    w.prev = c->wq_tail;
    if (c->wq_tail)
        c->wq_tail->next = &w;
    else
        c->wq_head = &w;
    c->wq_tail = &w;
    cio__conn_rearm(c);
    rc = cio_await(w.fut, NULL);
    if (!w.woken) {
        if (w.prev)
            w.prev->next = w.next;
        else
            c->wq_head = w.next;
        if (w.next)
            w.next->prev = w.prev;
        else
            c->wq_tail = w.prev;
    }
    cio_future_unref(w.fut);
    if (c->flags & CIO__C_CLOSED)
        return c->close_err;
    cio__conn_rearm(c);
    return rc ? rc : w.rc;
}
