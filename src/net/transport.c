/* cio_transport: the callback face of struct cio__conn (conn.h).
 *
 * The rule that keeps protocols simple: no protocol callback is ever called
 * from inside a transport function the protocol called. data_received and
 * eof_received come from the connection's events (the loop);
 * connection_made, pause_writing/resume_writing and connection_lost come
 * from one queued dispatch (cio_call_soon), which holds a reference, so
 * that a transport closed, aborted or handed to a stream inside a callback
 * stays valid until the callback returned. connection_lost is called once,
 * and last, for every connection_made. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../common/opts.h"
#include "conn.h"

#define T(t) ((struct cio__conn *)(t))
#define CT(t) ((const struct cio__conn *)(t))

/* Reads per event before the loop gets a turn (fairness); the rest is read
 * from a queued dispatch, as an edge-triggered backend will not report the
 * bytes again. */
#define READS_PER_EVENT 16

enum {
    CIO__C_LOST_DONE = 1 << 13, /* connection_lost was called */
    CIO__C_EOF_TOLD = 1 << 14,  /* eof_received was called */
};

static void dispatch(void *arg);

void cio__transport_schedule(struct cio__conn *c, int what)
{
    c->pending |= (uint8_t)what;
    if (c->flags & CIO__C_SCHEDULED)
        return;
    if (cio_call_soon(c->nfd.loop, dispatch, c) != 0)
        return; /* out of memory: the next event or call retries */
    c->flags |= CIO__C_SCHEDULED;
    cio__conn_ref(c);
}

static void connect_done_cb(cio_future *f, void *arg);

/* Completes cio_transport_connect's future (once). */
static void connect_resolve(struct cio__conn *c, int err)
{
    cio_future *f = c->connect_fut;
    if (!f)
        return;
    c->connect_fut = NULL;
    cio_future_remove_done_callback(f, connect_done_cb, c);
    if (!cio_future_is_done(f)) {
        if (err)
            cio_future_set_error(f, err);
        else
            cio_future_set_result(f, NULL, NULL);
    }
    cio_future_unref(f);
}

/* The connection is over: the descriptor closes now (reset: abortively),
 * connection_lost(err) follows from the loop. */
static void lose(struct cio__conn *c, int err, bool reset)
{
    if (c->flags & CIO__C_LOST)
        return;
    c->flags |= CIO__C_LOST;
    c->lost_err = err;
    cio__transport_schedule(c, CIO__P_LOST); /* its ref outlives the close */
    /* Before connection_made the connect future fails; from inside or
     * after it, the dispatch that called it completes the future. */
    if (!(c->flags & CIO__C_MADE))
        connect_resolve(c, err ? err : -ECONNABORTED);
    cio__conn_close(c, reset, -EBADF);
}

void cio__transport_failed(struct cio__conn *c, int err)
{
    lose(c, err, false);
}

/* Still a live transport the protocol should hear from. */
static bool live(const struct cio__conn *c)
{
    return c->mode == CIO__CONN_TRANSPORT && !(c->flags & CIO__C_LOST);
}

void cio__transport_progress(struct cio__conn *c)
{
    if (!live(c))
        return;
    size_t w = cio__conn_wlen(c);
    bool paused = c->flags & CIO__C_WPAUSED;
    if ((!paused && w > c->high) || (paused && w <= c->low))
        cio__transport_schedule(c, CIO__P_WRITE);
    if ((c->flags & CIO__C_CLOSING) && w == 0)
        lose(c, 0, false);
}

static void write_marks(struct cio__conn *c)
{
    size_t w = cio__conn_wlen(c);
    if (!(c->flags & CIO__C_WPAUSED) && w > c->high) {
        c->flags |= CIO__C_WPAUSED;
        if (c->proto->pause_writing)
            c->proto->pause_writing((cio_transport *)c, c->ctx);
    } else if ((c->flags & CIO__C_WPAUSED) && w <= c->low) {
        c->flags &= (uint16_t)~CIO__C_WPAUSED;
        if (c->proto->resume_writing)
            c->proto->resume_writing((cio_transport *)c, c->ctx);
    }
}

static bool reading(const struct cio__conn *c)
{
    return live(c) && (c->flags & CIO__C_MADE) &&
           !(c->flags & (CIO__C_RPAUSED | CIO__C_EOF | CIO__C_CLOSING));
}

static void close_graceful(struct cio__conn *c)
{
    c->flags |= CIO__C_CLOSING;
    if (cio__conn_wlen(c) == 0)
        lose(c, 0, false);
    else
        cio__conn_rearm(c);
}

static void on_eof(struct cio__conn *c)
{
    c->flags |= CIO__C_EOF | CIO__C_EOF_TOLD;
    bool keep = c->proto->eof_received && c->proto->eof_received((cio_transport *)c, c->ctx);
    if (!live(c) || !(c->flags & CIO__C_MADE)) /* lost, or handed on (see do_read) */
        return;
    if (!keep && !(c->flags & CIO__C_CLOSING))
        close_graceful(c);
    else
        cio__conn_rearm(c);
}

static void deliver(struct cio__conn *c, char *buf, size_t len)
{
    c->proto->data_received((cio_transport *)c, buf, len, c->ctx);
}

/* TLS: drives a transport's handshake from the loop (before
 * connection_made, or while start_tls holds data_received). Returns true
 * while it is still running or the transport was lost by it; its end
 * schedules connection_made (or the reading) itself. */
static bool tls_busy(struct cio__conn *c)
{
    if (!c->ops_ctx || !cio__tls_handshaking(c))
        return false;
    if (cio__conn_wlen(c))
        cio__conn_flush(c); /* bytes to send in the clear first (start_tls) */
    if (!live(c))
        return true;
    if (!cio__tls_handshaking(c))
        return false;
    int rc = cio__tls_drive(c);
    if (rc == 0)
        return false;
    if (rc == -EAGAIN) {
        cio__nfd_clear(&c->nfd, c->rneed);
        cio__conn_rearm(c);
        return true;
    }
    if (live(c))
        lose(c, rc, false);
    return true;
}

static void do_read(struct cio__conn *c)
{
    if (c->ops_ctx && cio__tls_handshaking(c)) {
        tls_busy(c);
        return;
    }
    /* Bytes and an end a stream saw before it became this transport are
     * delivered even though the socket is at its end. */
    if (!live(c) || !(c->flags & CIO__C_MADE) || (c->flags & (CIO__C_RPAUSED | CIO__C_CLOSING)))
        return;
    if (cio__conn_rlen(c)) {
        /* Bytes a stream had buffered: detached first, so that a close
         * inside the callback cannot free them under it. */
        char *buf = c->rbuf;
        uint32_t pos = c->rpos, end = c->rend, cap = c->rcap;
        c->rbuf = NULL;
        c->rpos = c->rend = c->rcap = 0;
        c->peeked = 0;
        deliver(c, buf + pos, end - pos);
        if (cap == CIO__BUF_SIZE)
            cio__conn_buf_give(c->net, buf);
        else
            free(buf);
        /* (not MADE: the callback handed the connection to a stream and
         * on to a new protocol, whose connection_made comes first) */
        if (!live(c) || !(c->flags & CIO__C_MADE) ||
            (c->flags & (CIO__C_RPAUSED | CIO__C_CLOSING)))
            return;
    }
    if (c->flags & CIO__C_EOF) {
        if (!(c->flags & CIO__C_EOF_TOLD))
            on_eof(c);
        return;
    }
    for (int i = 0; i < READS_PER_EVENT; i++) {
        if (!(c->nfd.ready & (c->rneed | CIO_IOERR)) && !c->ops->pending(c)) {
            cio__conn_rearm(c);
            return;
        }
        char *buf = cio__conn_buf_take(c->net);
        if (!buf) {
            lose(c, -ENOMEM, true);
            return;
        }
        ssize_t r = c->ops->read(c, buf, CIO__BUF_SIZE);
        if (r > 0) {
            if (r < CIO__BUF_SIZE && cio__conn_short_read_drains(c))
                cio__nfd_clear(&c->nfd, c->rneed);
            deliver(c, buf, (size_t)r);
            cio__conn_buf_give(c->net, buf);
            if (!reading(c))
                return;
            continue;
        }
        cio__conn_buf_give(c->net, buf);
        if (r == 0) {
            on_eof(c);
        } else if (r == -EAGAIN) {
            cio__nfd_clear(&c->nfd, c->rneed | CIO_IOERR);
            cio__conn_rearm(c);
        } else {
            c->rerr = (int)r;
            lose(c, (int)r, false);
        }
        return;
    }
    cio__transport_schedule(c, CIO__P_READ);
}

void cio__transport_on_event(struct cio__conn *c, int events)
{
    if (c->ops_ctx && live(c) && cio__tls_handshaking(c) && tls_busy(c))
        return;
    if ((events & (c->wneed | CIO_IOERR)) && cio__conn_wlen(c))
        cio__conn_flush(c);
    else if ((events & (c->wneed | CIO_IOERR)) &&
             (c->flags & (CIO__C_SHUT_WANT | CIO__C_SHUT_DONE)) == CIO__C_SHUT_WANT)
        cio__conn_progress(c); /* a half-close that waited (TLS) */
    if (live(c) && (events & (c->rneed | CIO_IOERR)))
        do_read(c);
}

static void dispatch(void *arg)
{
    struct cio__conn *c = arg;
    c->flags &= (uint16_t)~CIO__C_SCHEDULED;
    uint8_t p = c->pending;
    c->pending = 0;
    if (c->mode == CIO__CONN_TRANSPORT) {
        /* A transport closed before this ran still gets connection_made,
         * then connection_lost: its owner holds it and waits for the end. */
        /* A connect future still pending but done was cancelled by its
         * owner; its done callback (queued, c->connect_fut still set) ends
         * the attempt, and connection_made must not run meanwhile. */
        if ((p & CIO__P_MADE) && c->connect_fut && cio_future_is_done(c->connect_fut))
            p &= (uint8_t)~CIO__P_MADE;
        /* TLS: connection_made waits for the handshake, whose end
         * schedules it again. */
        if ((p & CIO__P_MADE) && !(c->flags & CIO__C_MADE) && c->ops != &cio__conn_sock_ops &&
            (live(c) ? tls_busy(c) : cio__tls_unfinished(c)))
            p &= (uint8_t)~CIO__P_MADE;
        if ((p & CIO__P_MADE) && !(c->flags & CIO__C_MADE)) {
            int rc = 0;
            c->flags |= CIO__C_MADE;
            if (c->proto->connection_made) {
                c->flags |= CIO__C_IN_MADE;
                rc = c->proto->connection_made((cio_transport *)c, c->ctx, &c->ctx);
                c->flags &= (uint16_t)~CIO__C_IN_MADE;
            }
            connect_resolve(c, rc);
            if (rc)
                lose(c, rc, true);
            else if (live(c))
                p |= CIO__P_READ;
            cio__conn_rearm(c);
        }
        if ((p & CIO__P_WRITE) && live(c) && (c->flags & CIO__C_MADE))
            write_marks(c);
        if ((p & CIO__P_READ) && live(c))
            do_read(c);
        if ((p & CIO__P_LOST) && (c->flags & CIO__C_LOST) && !(c->flags & CIO__C_LOST_DONE)) {
            c->flags |= CIO__C_LOST_DONE;
            if ((c->flags & CIO__C_MADE) && c->proto->connection_lost)
                c->proto->connection_lost((cio_transport *)c, c->lost_err, c->ctx);
            cio__conn_gone(c);
        }
    }
    cio__conn_unref(c);
}

/* ---- Connecting -------------------------------------------------------- */

static void connect_done_cb(cio_future *f, void *arg)
{
    struct cio__conn *c = arg;
    if (c->connect_fut != f)
        return;
    /* Cancelled by its owner before the connection was made: nothing of
     * the protocol is called. */
    c->connect_fut = NULL;
    c->pending &= (uint8_t)~CIO__P_MADE;
    cio_future_unref(f);
    if (c->mode == CIO__CONN_CONNECTING)
        cio__conn_close(c, false, -ECANCELED);
    else
        lose(c, -ECANCELED, true);
}

void cio__transport_connecting_event(struct cio__conn *c, int events)
{
    (void)events;
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(c->nfd.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = errno;
    if (err) {
        connect_resolve(c, -err);
        cio__conn_close(c, false, -err);
        return;
    }
    c->mode = CIO__CONN_TRANSPORT;
    c->nfd.ready |= CIO_WRITABLE;
    cio__conn_rearm(c);
    cio__transport_schedule(c, CIO__P_MADE);
}

/* ---- Public ------------------------------------------------------------- */

static int transport_new(cio_loop *loop, int fd, const cio_stream_options *opts, int kind,
                         const cio_protocol *proto, void *arg, cio_transport **out)
{
    if (out)
        *out = NULL;
    if (!loop || fd < 0 || !proto || !proto->data_received || !out || cio_loop_is_closed(loop))
        return -EINVAL;
    const cio_tls_config *tls;
    const char *name;
    int rc = cio__tls_options(opts, &tls, &name);
    if (rc)
        return rc;
    struct cio__conn *c;
    rc = cio__conn_new_kind(loop, fd, opts, kind, &c);
    if (rc)
        return rc;
    if (tls && (rc = cio__tls_attach(c, tls, name, 0)) != 0) {
        cio__nfd_close(&c->nfd);
        c->nfd.fd = -1; /* the caller keeps fd */
        cio__conn_close(c, false, -EBADF);
        return rc;
    }
    c->mode = CIO__CONN_TRANSPORT;
    c->proto = proto;
    c->ctx = arg;
    cio__transport_schedule(c, CIO__P_MADE);
    if (!(c->flags & CIO__C_SCHEDULED)) {
        cio__nfd_close(&c->nfd);
        c->nfd.fd = -1; /* the caller keeps fd */
        cio__conn_close(c, false, -EBADF);
        return -ENOMEM;
    }
    *out = (cio_transport *)c;
    return 0;
}

int cio_transport_new(cio_loop *loop, int fd, const cio_stream_options *opts,
                      const cio_protocol *proto, void *arg, cio_transport **out)
{
    return transport_new(loop, fd, opts, 0, proto, arg, out);
}

int cio__transport_new_accepted(cio_loop *loop, int fd, const cio_stream_options *opts,
                                const cio_protocol *proto, void *arg, cio_transport **out)
{
    return transport_new(loop, fd, opts, CIO__CONN_NB_SOCKET, proto, arg, out);
}

int cio_transport_connect(cio_loop *loop, const cio_addr *addr, const cio_socket_options *sopts,
                          const cio_stream_options *opts, const cio_protocol *proto, void *arg,
                          cio_future **out)
{
    if (out)
        *out = NULL;
    if (!loop || !addr || !addr->len || !proto || !proto->data_received ||
        cio_loop_is_closed(loop))
        return -EINVAL;
    cio_socket_options so = {.size = sizeof so};
    int rc = cio__opts_copy(&so, sizeof so, sopts);
    if (rc)
        return rc;
    size_t h, l, lim;
    rc = cio__conn_set_opts(&h, &l, &lim, opts);
    if (rc)
        return rc;
    const cio_tls_config *tls;
    const char *name;
    rc = cio__tls_options(opts, &tls, &name);
    if (rc)
        return rc;
    int family = addr->u.sa.sa_family;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return -EINVAL;
    cio__net_init_process();
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = cio__sock_apply(fd, family, &so);
    if (!rc && so.local && bind(fd, &so.local->u.sa, so.local->len) < 0)
        rc = -errno;
    if (rc) {
        close(fd);
        return rc;
    }
    int cerr = 0;
    bool progress = false;
    if (connect(fd, &addr->u.sa, addr->len) < 0) {
        if (errno == EINPROGRESS)
            progress = true;
        else
            cerr = -errno;
    }
    struct cio__conn *c;
    rc = cio__conn_new_kind(loop, fd, opts, CIO__CONN_NB_SOCKET, &c);
    if (rc) {
        close(fd);
        return rc;
    }
    c->proto = proto;
    c->ctx = arg;
    if (tls) {
        uint16_t port = family == AF_INET    ? ntohs(addr->u.in4.sin_port)
                        : family == AF_INET6 ? ntohs(addr->u.in6.sin6_port)
                                             : 0;
        rc = cio__tls_attach(c, tls, name, port);
        if (rc) {
            cio__conn_close(c, false, -EBADF);
            return rc;
        }
    }
    if (out) {
        rc = cio_future_new(loop, &c->connect_fut);
        if (!rc)
            rc = cio_future_add_done_callback(c->connect_fut, connect_done_cb, c);
        if (rc) {
            if (c->connect_fut)
                cio_future_unref(c->connect_fut);
            c->connect_fut = NULL;
            cio__conn_close(c, false, -EBADF);
            return rc;
        }
        *out = cio_future_ref(c->connect_fut);
    }
    if (cerr) {
        connect_resolve(c, cerr);
        cio__conn_close(c, false, cerr);
    } else if (progress) {
        c->mode = CIO__CONN_CONNECTING;
        cio__conn_rearm(c);
    } else {
        c->mode = CIO__CONN_TRANSPORT;
        cio__transport_schedule(c, CIO__P_MADE);
    }
    return 0;
}

int cio_transport_writev(cio_transport *t, const struct iovec *iov, int iovcnt)
{
    if (!t || iovcnt < 0 || (!iov && iovcnt))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        if (!iov[i].iov_base && iov[i].iov_len)
            return -EINVAL;
    struct cio__conn *c = T(t);
    if (c->mode != CIO__CONN_TRANSPORT)
        return -EINVAL;
    if (c->flags & CIO__C_LOST)
        return c->werr ? c->werr : c->rerr ? c->rerr : -EPIPE;
    int rc = cio__conn_write(c, iov, iovcnt);
    if (!rc && live(c) && !(c->flags & CIO__C_WPAUSED) && cio__conn_wlen(c) > c->high)
        cio__transport_schedule(c, CIO__P_WRITE);
    return rc;
}

int cio_transport_write(cio_transport *t, const void *data, size_t len)
{
    if (!data && len)
        return -EINVAL;
    struct iovec v = {(void *)data, len};
    return cio_transport_writev(t, &v, 1);
}

int cio_transport_write_eof(cio_transport *t)
{
    if (!t)
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!live(c) || (c->flags & CIO__C_CLOSING))
        return -EINVAL;
    if (c->werr)
        return c->werr;
    if (!(c->flags & CIO__C_SHUT_WANT)) {
        c->flags |= CIO__C_SHUT_WANT;
        cio__conn_progress(c);
    }
    return c->werr;
}

int cio_transport_pause_reading(cio_transport *t)
{
    if (!t || !live(T(t)) || (T(t)->flags & CIO__C_CLOSING))
        return -EINVAL;
    struct cio__conn *c = T(t);
    c->flags |= CIO__C_RPAUSED;
    cio__conn_rearm(c);
    return 0;
}

int cio_transport_resume_reading(cio_transport *t)
{
    if (!t || !live(T(t)) || (T(t)->flags & CIO__C_CLOSING))
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!(c->flags & CIO__C_RPAUSED))
        return 0;
    c->flags &= (uint16_t)~CIO__C_RPAUSED;
    cio__conn_rearm(c);
    /* Bytes that arrived while paused gave their edge already. */
    if ((c->flags & CIO__C_MADE) &&
        (cio__conn_rlen(c) || (c->nfd.ready & (c->rneed | CIO_IOERR)) || c->ops->pending(c) ||
         ((c->flags & CIO__C_EOF) && !(c->flags & CIO__C_EOF_TOLD))))
        cio__transport_schedule(c, CIO__P_READ);
    return 0;
}

int cio_transport_close(cio_transport *t)
{
    if (!t)
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!live(c) || (c->flags & CIO__C_CLOSING))
        return -EINVAL;
    close_graceful(c);
    return 0;
}

int cio_transport_abort(cio_transport *t)
{
    if (!t)
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!live(c))
        return -EINVAL;
    lose(c, -ECONNABORTED, true);
    return 0;
}

int cio_transport_set_water(cio_transport *t, size_t high, size_t low)
{
    if (!t || low > high || !live(T(t)))
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!high && !low) {
        high = 64 * 1024;
        low = high / 4;
    }
    c->high = high;
    c->low = low;
    cio__transport_progress(c);
    return 0;
}

int cio_transport_fd(const cio_transport *t)
{
    return t ? CT(t)->nfd.fd : -1;
}

size_t cio_transport_buffered(const cio_transport *t)
{
    return t ? cio__conn_wlen(CT(t)) : 0;
}

cio_loop *cio_transport_loop(const cio_transport *t)
{
    return t ? CT(t)->nfd.loop : NULL;
}

bool cio_transport_is_closing(const cio_transport *t)
{
    return t && (CT(t)->flags & (CIO__C_CLOSING | CIO__C_LOST));
}

int cio_transport_to_stream(cio_transport *t, cio_stream **out)
{
    if (out)
        *out = NULL;
    if (!t || !out)
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!live(c) || (c->flags & CIO__C_CLOSING))
        return -EINVAL;
    c->mode = CIO__CONN_STREAM;
    c->proto = NULL;
    c->ctx = NULL;
    c->pending = 0; /* a queued dispatch finds a stream and does nothing */
    c->flags &= (uint16_t)~(CIO__C_RPAUSED | CIO__C_WPAUSED | CIO__C_MADE);
    connect_resolve(c, 0);
    cio__conn_rearm(c);
    cio__conn_gone(c);
    *out = (cio_stream *)c;
    return 0;
}

int cio_stream_to_transport(cio_stream *s, const cio_protocol *proto, void *arg,
                            cio_transport **out)
{
    if (out)
        *out = NULL;
    if (!s || !proto || !proto->data_received || !out)
        return -EINVAL;
    struct cio__conn *c = T(s);
    if (c->mode != CIO__CONN_STREAM || (c->flags & CIO__C_CLOSED))
        return -EINVAL;
    if (c->ntasks)
        return -EBUSY;
    c->mode = CIO__CONN_TRANSPORT;
    c->proto = proto;
    c->ctx = arg;
    c->peeked = 0;
    /* A new protocol: it hears of an end an earlier one was told of. */
    c->flags &= (uint16_t)~CIO__C_EOF_TOLD;
    cio__transport_schedule(c, CIO__P_MADE);
    if (!(c->flags & CIO__C_SCHEDULED)) {
        c->mode = CIO__CONN_STREAM;
        c->proto = NULL;
        return -ENOMEM;
    }
    cio__conn_rearm(c);
    cio__conn_gone(c);
    *out = (cio_transport *)c;
    return 0;
}

int cio__stream_to_transport_connect(cio_stream *s, const cio_protocol *proto, void *arg,
                                     cio_future *fut, cio_transport **out)
{
    if (!fut)
        return cio_stream_to_transport(s, proto, arg, out);
    if (!s || cio_future_is_done(fut))
        return -EINVAL;
    struct cio__conn *c = T(s);
    int rc = cio_future_add_done_callback(fut, connect_done_cb, c);
    if (rc)
        return rc;
    rc = cio_stream_to_transport(s, proto, arg, out);
    if (rc) {
        cio_future_remove_done_callback(fut, connect_done_cb, c);
        return rc;
    }
    c->connect_fut = cio_future_ref(fut);
    return 0;
}

void cio__transport_watch(cio_transport *t, void (*gone)(void *arg), void *arg)
{
    struct cio__conn *c = T(t);
    c->gone = gone;
    c->gone_arg = gone ? arg : NULL;
}

int cio_transport_start_tls(cio_transport *t, const cio_tls_config *cfg, const char *server_name,
                            cio_future **out)
{
    if (out)
        *out = NULL;
    if (!t || !cfg)
        return -EINVAL;
    struct cio__conn *c = T(t);
    if (!live(c) || (c->flags & (CIO__C_CLOSING | CIO__C_CLOSED)) || c->ops_ctx)
        return -EINVAL;
    cio_future *f = NULL;
    int rc;
    if (out && (rc = cio_future_new(c->nfd.loop, &f)) != 0)
        return rc;
    rc = cio__tls_attach(c, cfg, server_name, 0);
    if (rc) {
        if (f)
            cio_future_unref(f);
        return rc;
    }
    if (f) {
        cio__tls_set_future(c, cio_future_ref(f));
        *out = f;
    }
    /* The handshake starts from the loop (no callback from inside). */
    cio__transport_schedule(c, CIO__P_READ);
    cio__conn_rearm(c);
    return 0;
}
