/* cio_stream: the coroutine face of struct cio__conn (conn.h).
 *
 * Every suspending call enters the connection (a task count and a ref), so
 * that a close or abort by another task while this one waits leaves the
 * memory alive until it has returned, with the closer's error. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>

#include "conn.h"

#define C(s) ((struct cio__conn *)(s))
#define CC(s) ((const struct cio__conn *)(s))

/* Reads of at least this many bytes go straight into the caller's buffer
 * while nothing is buffered (no copy, no pool buffer). */
#define DIRECT_MIN 4096

static int enter(struct cio__conn *c)
{
    if (!cio_current_task())
        return -EPERM;
    if (cio_current_loop() != c->nfd.loop || c->mode != CIO__CONN_STREAM)
        return -EINVAL;
    c->ntasks++;
    cio__conn_ref(c);
    return 0;
}

static void leave(struct cio__conn *c)
{
    c->ntasks--;
    cio__conn_unref(c);
}

static int enter_reader(struct cio__conn *c)
{
    int rc = enter(c);
    if (rc)
        return rc;
    if (c->flags & CIO__C_READING) {
        leave(c);
        return -EBUSY;
    }
    c->flags |= CIO__C_READING;
    return 0;
}

static void leave_reader(struct cio__conn *c)
{
    c->flags &= (uint16_t)~CIO__C_READING;
    leave(c);
}

int cio_stream_new(int fd, const cio_stream_options *opts, cio_stream **out)
{
    if (out)
        *out = NULL;
    if (fd < 0 || !out)
        return -EINVAL;
    const cio_tls_config *tls;
    const char *name;
    int rc = cio__tls_options(opts, &tls, &name);
    if (rc)
        return rc;
    if (tls)
        return -EINVAL; /* a stream upgrades with cio_stream_start_tls */
    cio_loop *loop = cio_current_loop();
    if (!loop)
        return -EPERM;
    struct cio__conn *c;
    rc = cio__conn_new(loop, fd, opts, &c);
    if (rc)
        return rc;
    *out = (cio_stream *)c;
    return 0;
}

int cio__stream_new_accepted(cio_loop *loop, int fd, const cio_stream_options *opts,
                             cio_stream **out)
{
    if (out)
        *out = NULL;
    if (!loop || fd < 0 || !out)
        return -EINVAL;
    const cio_tls_config *tls;
    const char *name;
    int rc = cio__tls_options(opts, &tls, &name);
    if (rc)
        return rc;
    struct cio__conn *c;
    rc = cio__conn_new_kind(loop, fd, opts, CIO__CONN_NB_SOCKET, &c);
    if (rc)
        return rc;
    /* A server's TLS: the handshake runs in the connection's task. */
    if (tls && (rc = cio__tls_attach(c, tls, name, 0)) != 0) {
        cio__nfd_close(&c->nfd);
        c->nfd.fd = -1; /* the caller keeps fd */
        cio__conn_close(c, false, -EBADF);
        return rc;
    }
    *out = (cio_stream *)c;
    return 0;
}

/* cio__sock_connect's wait: until the connecting socket is writable (or
 * failed: an error edge sets both directions), through the connection's
 * own write-waiter queue, which arms and disarms as every other wait. */
static int connect_wait(void *arg)
{
    struct cio__conn *c = arg;
    cio__nfd_clear(&c->nfd, c->wneed);
    return cio__conn_wait_write(c, CIO__WAIT_WRITABLE);
}

int cio_stream_connect(const cio_addr *addr, const cio_socket_options *sopts,
                       const cio_stream_options *opts, cio_stream **out)
{
    if (out)
        *out = NULL;
    if (!addr || !out)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    size_t h, l, lim;
    int rc = cio__conn_set_opts(&h, &l, &lim, opts);
    if (rc)
        return rc;
    const cio_tls_config *tls;
    const char *name;
    rc = cio__tls_options(opts, &tls, &name);
    if (rc)
        return rc;
    int fd;
    rc = cio__sock_open(addr, sopts, &fd);
    if (rc)
        return rc;
    /* The stream's registration is the only one: the connect waits on it
     * (one epoll_ctl per connection, not three). */
    struct cio__conn *c;
    rc = cio__conn_new_kind(cio_current_loop(), fd, opts, CIO__CONN_NB_SOCKET, &c);
    if (rc) {
        close(fd);
        return rc;
    }
    rc = cio__sock_connect(fd, addr, connect_wait, c);
    if (!rc && tls) {
        int family = addr->u.sa.sa_family;
        uint16_t port = family == AF_INET    ? ntohs(addr->u.in4.sin_port)
                        : family == AF_INET6 ? ntohs(addr->u.in6.sin6_port)
                                             : 0;
        rc = cio__tls_attach(c, tls, name, port);
        if (!rc)
            rc = cio__tls_handshake(c);
    }
    if (rc) {
        cio__conn_close(c, false, rc);
        return rc;
    }
    *out = (cio_stream *)c;
    return 0;
}

/* One direct read into the caller's memory. Returns as ops->read, having
 * updated the flags and ready bits. */
static ssize_t direct_read(struct cio__conn *c, void *buf, size_t len)
{
    ssize_t r = c->ops->read(c, buf, len);
    if (r > 0) {
        if ((size_t)r < len && cio__conn_short_read_drains(c))
            cio__nfd_clear(&c->nfd, c->rneed);
    } else if (r == 0) {
        c->flags |= CIO__C_EOF;
    } else if (r == -EAGAIN) {
        cio__nfd_clear(&c->nfd, c->rneed | CIO_IOERR);
    } else {
        c->rerr = (int)r;
    }
    return r;
}

static bool read_ready(const struct cio__conn *c)
{
    return (c->nfd.ready & (c->rneed | CIO_IOERR)) || c->ops->pending(c);
}

/* The error a read sees when nothing is buffered and nothing can come:
 * 1 means "go on". */
static int read_state(const struct cio__conn *c)
{
    if (c->flags & CIO__C_CLOSED)
        return c->close_err;
    if (c->rerr)
        return c->rerr;
    if (c->flags & CIO__C_EOF)
        return 0;
    return 1;
}

ssize_t cio_stream_read(cio_stream *s, void *buf, size_t len)
{
    if (!s || !buf || !len)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter_reader(c);
    if (rc)
        return rc;
    ssize_t r;
    for (;;) {
        size_t have = cio__conn_rlen(c);
        if (have && !(c->flags & CIO__C_CLOSED)) {
            r = (ssize_t)(have < len ? have : len);
            memcpy(buf, c->rbuf + c->rpos, (size_t)r);
            cio__conn_rconsume(c, (size_t)r);
            break;
        }
        if ((r = read_state(c)) <= 0)
            break;
        if (read_ready(c)) {
            r = len >= DIRECT_MIN ? direct_read(c, buf, len)
                                  : cio__conn_fill_once(c, CIO__BUF_SIZE);
            if (r >= 0 && len >= DIRECT_MIN)
                break;
            if (r > 0 || r == 0)
                continue;
            if (r != -EAGAIN)
                break;
        }
        r = cio__conn_wait_read(c);
        if (r)
            break;
    }
    leave_reader(c);
    return r;
}

ssize_t cio_stream_read_exactly(cio_stream *s, void *buf, size_t len)
{
    if (!s || (!buf && len))
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter_reader(c);
    if (rc)
        return rc;
    size_t got = 0;
    ssize_t r;
    for (;;) {
        size_t have = cio__conn_rlen(c);
        if (have && !(c->flags & CIO__C_CLOSED)) {
            size_t n = have < len - got ? have : len - got;
            memcpy((char *)buf + got, c->rbuf + c->rpos, n);
            cio__conn_rconsume(c, n);
            got += n;
        }
        if (got == len) {
            r = (ssize_t)len;
            break;
        }
        if ((r = read_state(c)) <= 0) {
            if (r == 0)
                r = -ENODATA;
            break;
        }
        if (read_ready(c)) {
            if (len - got >= DIRECT_MIN) {
                r = direct_read(c, (char *)buf + got, len - got);
                if (r > 0)
                    got += (size_t)r;
            } else {
                r = cio__conn_fill_once(c, CIO__BUF_SIZE);
            }
            if (r >= 0)
                continue;
            if (r != -EAGAIN)
                break;
        }
        r = cio__conn_wait_read(c);
        if (r)
            break;
    }
    /* Nothing consumed unless everything was: the bytes go back. */
    if (r < 0 && got && !(c->flags & CIO__C_CLOSED) && cio__conn_unread(c, buf, got))
        r = -ENOMEM;
    leave_reader(c);
    return r;
}

ssize_t cio_stream_read_until(cio_stream *s, const void *sep, size_t seplen, void *buf,
                              size_t len)
{
    if (!s || !sep || !seplen || !buf || !len)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter_reader(c);
    if (rc)
        return rc;
    size_t max = len < c->limit ? len : c->limit;
    size_t cap = max > CIO__BUF_SIZE ? max : CIO__BUF_SIZE;
    size_t scanned = 0; /* bytes already searched without a match */
    ssize_t r;
    for (;;) {
        size_t have = (c->flags & CIO__C_CLOSED) ? 0 : cio__conn_rlen(c);
        if (have >= seplen) {
            size_t from = scanned >= seplen ? scanned - (seplen - 1) : 0;
            const char *base = c->rbuf + c->rpos;
            const char *p = memmem(base + from, have - from, sep, seplen);
            if (p) {
                size_t end = (size_t)(p - base) + seplen;
                if (end > max) {
                    r = -EMSGSIZE;
                    break;
                }
                memcpy(buf, base, end);
                cio__conn_rconsume(c, end);
                r = (ssize_t)end;
                break;
            }
            scanned = have;
        }
        if (have >= max) {
            r = -EMSGSIZE;
            break;
        }
        if ((r = read_state(c)) <= 0) {
            if (r == 0 && have)
                r = -ENODATA;
            break;
        }
        if (read_ready(c)) {
            r = cio__conn_fill_once(c, cap);
            if (r >= 0)
                continue;
            if (r != -EAGAIN)
                break;
        }
        r = cio__conn_wait_read(c);
        if (r)
            break;
    }
    leave_reader(c);
    return r;
}

ssize_t cio_stream_read_line(cio_stream *s, char *buf, size_t len)
{
    return cio_stream_read_until(s, "\n", 1, buf, len);
}

int cio_stream_read_all(cio_stream *s, size_t max, void **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!s || !data || !len || max >= SIZE_MAX - 1)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter_reader(c);
    if (rc)
        return rc;
    char *acc = NULL;
    size_t total = 0, cap = 0;
    /* Reads up to max + 1 bytes, to tell "exactly max" from "more". */
    size_t want = max + 1;
    for (;;) {
        size_t have = (c->flags & CIO__C_CLOSED) ? 0 : cio__conn_rlen(c);
        if (have) {
            size_t n = have < want - total ? have : want - total;
            if (total + n > cap) {
                size_t ncap = cap ? cap * 2 : 4096;
                if (ncap < total + n)
                    ncap = total + n;
                if (ncap > want)
                    ncap = want;
                char *p = realloc(acc, ncap);
                if (!p) {
                    rc = -ENOMEM;
                    break;
                }
                acc = p;
                cap = ncap;
            }
            memcpy(acc + total, c->rbuf + c->rpos, n);
            cio__conn_rconsume(c, n);
            total += n;
        }
        if (total > max) {
            rc = -EMSGSIZE;
            break;
        }
        int st = read_state(c);
        if (st <= 0) {
            rc = st;
            break;
        }
        if (read_ready(c)) {
            if (total == cap) {
                size_t ncap = cap ? cap * 2 : 16384;
                if (ncap > want)
                    ncap = want;
                char *p = realloc(acc, ncap);
                if (!p) {
                    rc = -ENOMEM;
                    break;
                }
                acc = p;
                cap = ncap;
            }
            ssize_t r = direct_read(c, acc + total, cap - total);
            if (r >= 0) {
                total += (size_t)r;
                continue;
            }
            if (r != -EAGAIN) {
                rc = (int)r;
                break;
            }
        }
        rc = cio__conn_wait_read(c);
        if (rc)
            break;
    }
    if (rc == 0) {
        char *p = realloc(acc, total + 1);
        if (!p) {
            rc = -ENOMEM;
        } else {
            p[total] = 0;
            *data = p;
            *len = total;
            acc = NULL;
        }
    }
    if (rc && total && !(c->flags & CIO__C_CLOSED) && cio__conn_unread(c, acc, total))
        rc = -ENOMEM;
    free(acc);
    leave_reader(c);
    return rc;
}

int cio_stream_peek(cio_stream *s, const void **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!s || !data || !len)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter_reader(c);
    if (rc)
        return rc;
    size_t cap = c->limit > CIO__BUF_SIZE ? c->limit : CIO__BUF_SIZE;
    for (;;) {
        size_t have = (c->flags & CIO__C_CLOSED) ? 0 : cio__conn_rlen(c);
        if (have > c->peeked) {
            *data = c->rbuf + c->rpos;
            *len = have;
            c->peeked = (uint32_t)have;
            rc = 0;
            break;
        }
        rc = read_state(c);
        if (rc <= 0) {
            /* At the end: 0 with nothing left; -ENODATA when the bytes
             * left were all shown already (no more will come). */
            if (rc == 0 && have)
                rc = -ENODATA;
            break;
        }
        if (read_ready(c)) {
            ssize_t r = cio__conn_fill_once(c, cap);
            if (r >= 0)
                continue;
            if (r != -EAGAIN) {
                rc = (int)r;
                break;
            }
        }
        rc = cio__conn_wait_read(c);
        if (rc)
            break;
    }
    leave_reader(c);
    return rc;
}

int cio_stream_consume(cio_stream *s, size_t n)
{
    if (!s)
        return -EINVAL;
    struct cio__conn *c = C(s);
    if (c->flags & CIO__C_CLOSED || n > cio__conn_rlen(c))
        return -EINVAL;
    if (n)
        cio__conn_rconsume(c, n);
    return 0;
}

int cio_stream_writev(cio_stream *s, const struct iovec *iov, int iovcnt)
{
    if (!s || iovcnt < 0 || (!iov && iovcnt))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        if (!iov[i].iov_base && iov[i].iov_len)
            return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter(c);
    if (rc)
        return rc;
    if (c->flags & CIO__C_CLOSED)
        rc = c->close_err;
    else
        rc = cio__conn_write(c, iov, iovcnt);
    if (!rc && cio__conn_wlen(c) > c->high)
        rc = cio__conn_wait_write(c, CIO__WAIT_DRAIN);
    leave(c);
    return rc;
}

int cio_stream_write(cio_stream *s, const void *buf, size_t len)
{
    if (!buf && len)
        return -EINVAL;
    struct iovec v = {(void *)buf, len};
    return cio_stream_writev(s, &v, 1);
}

static int wait_kind(cio_stream *s, int kind)
{
    if (!s)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter(c);
    if (rc)
        return rc;
    rc = cio__conn_wait_write(c, kind);
    leave(c);
    return rc;
}

int cio_stream_drain(cio_stream *s)
{
    return wait_kind(s, CIO__WAIT_DRAIN);
}

int cio_stream_flush(cio_stream *s)
{
    return wait_kind(s, CIO__WAIT_FLUSH);
}

/* sendfile(2) can move file pages only to a plain socket or pipe. */
static bool can_sendfile(const struct cio__conn *c)
{
    return c->ops == &cio__conn_sock_ops || c->ops == &cio__conn_pipe_ops;
}

/* Read and write through the write buffer, with the flow control. */
static ssize_t copy_file(struct cio__conn *c, int file_fd, off_t offset, size_t count)
{
    size_t chunk = count < CIO__BUF_SIZE ? count : CIO__BUF_SIZE;
    char *tmp = malloc(chunk ? chunk : 1);
    if (!tmp)
        return -ENOMEM;
    size_t sent = 0;
    ssize_t r = 0;
    while (sent < count) {
        size_t n = count - sent < chunk ? count - sent : chunk;
        ssize_t got = pread(file_fd, tmp, n, offset + (off_t)sent);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = -errno;
            break;
        }
        if (got == 0)
            break;
        struct iovec v = {tmp, (size_t)got};
        if (c->flags & CIO__C_CLOSED) {
            r = c->close_err;
            break;
        }
        int rc = cio__conn_write(c, &v, 1);
        if (!rc && cio__conn_wlen(c) > c->high)
            rc = cio__conn_wait_write(c, CIO__WAIT_DRAIN);
        if (rc) {
            r = rc;
            break;
        }
        sent += (size_t)got;
    }
    free(tmp);
    return r ? r : (ssize_t)sent;
}

ssize_t cio_stream_sendfile(cio_stream *s, int file_fd, off_t offset, size_t count)
{
    if (!s || file_fd < 0 || offset < 0)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter(c);
    if (rc)
        return rc;
    if (c->flags & CIO__C_SENDFILE) {
        leave(c);
        return -EBUSY;
    }
    ssize_t r = cio__conn_wait_write(c, CIO__WAIT_FLUSH);
    if (!r && (c->flags & (CIO__C_SHUT_WANT | CIO__C_SHUT_DONE)))
        r = -EPIPE;
    if (r) {
        leave(c);
        return r;
    }
    size_t sent = 0;
    /* TLS: SSL_sendfile where the kernel encrypts (kTLS), else the copy. */
    bool ktls = c->ops_ctx && cio__tls_ktls_send(c);
    bool fallback = !can_sendfile(c) && !ktls;
    c->flags |= CIO__C_SENDFILE;
    off_t off = offset;
    while (!fallback && sent < count) {
        if (c->flags & CIO__C_CLOSED) {
            r = c->close_err;
            break;
        }
        if (c->werr) {
            r = c->werr;
            break;
        }
        if (c->nfd.ready & CIO_WRITABLE) {
            size_t n = count - sent < (1u << 30) ? count - sent : (1u << 30);
            ssize_t w;
            if (ktls) {
                w = cio__tls_sendfile(c, file_fd, off, n);
                if (w > 0) {
                    off += w;
                } else if (w == -EAGAIN) {
                    cio__nfd_clear(&c->nfd, c->wneed);
                    r = cio__conn_wait_write(c, CIO__WAIT_WRITABLE);
                    if (r)
                        break;
                    continue;
                } else if (w < 0) {
                    r = w;
                    cio__conn_write_failed(c, (int)r);
                    break;
                }
            } else {
                w = sendfile(c->nfd.fd, file_fd, &off, n);
            }
            if (w > 0) {
                sent += (size_t)w;
                continue;
            }
            if (w == 0)
                break; /* the file ended */
            if (errno == EINTR)
                continue;
            if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
                if (sent == 0) {
                    fallback = true;
                    break;
                }
                r = -errno;
                break;
            }
            if (errno != EAGAIN) {
                /* The connection's errors are sticky, the file's are not. */
                r = -errno;
                if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
                    cio__conn_write_failed(c, (int)r);
                break;
            }
            cio__nfd_clear(&c->nfd, CIO_WRITABLE);
        }
        r = cio__conn_wait_write(c, CIO__WAIT_WRITABLE);
        if (r)
            break;
    }
    if (!(c->flags & CIO__C_CLOSED)) {
        c->flags &= (uint16_t)~CIO__C_SENDFILE;
        /* Writes that came meanwhile were buffered behind the file. */
        cio__conn_flush(c);
    }
    if (fallback && !r) {
        r = copy_file(c, file_fd, offset, count);
    } else if (!r || (sent && r != -ECANCELED && r != -ETIMEDOUT)) {
        r = (ssize_t)sent;
    }
    /* Cancelled or timed out after some bytes went: the count tells. */
    if ((r == -ECANCELED || r == -ETIMEDOUT) && sent)
        r = (ssize_t)sent;
    leave(c);
    return r;
}

int cio_stream_shutdown(cio_stream *s)
{
    if (!s)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter(c);
    if (rc)
        return rc;
    if (c->flags & CIO__C_CLOSED) {
        rc = c->close_err;
    } else if (!(c->flags & CIO__C_SHUT_DONE)) {
        c->flags |= CIO__C_SHUT_WANT;
        cio__conn_progress(c);
        while (!rc && !(c->flags & (CIO__C_SHUT_DONE | CIO__C_CLOSED)) && !c->werr)
            rc = cio__conn_wait_write(c, cio__conn_wlen(c) ? CIO__WAIT_FLUSH
                                                           : CIO__WAIT_WRITABLE);
        if (!rc && c->werr)
            rc = c->werr;
    }
    leave(c);
    return rc;
}

int cio_stream_close(cio_stream *s)
{
    if (!s)
        return -EINVAL;
    struct cio__conn *c = C(s);
    if (c->mode != CIO__CONN_STREAM || (c->flags & CIO__C_CLOSED))
        return -EINVAL;
    int rc = c->werr;
    bool reset = false;
    if (cio__conn_wlen(c) && !rc) {
        rc = enter(c);
        if (rc)
            return rc; /* -EPERM outside a task: nothing freed */
        rc = cio__conn_wait_write(c, CIO__WAIT_FLUSH);
        if (rc == -ETIMEDOUT || rc == -ECANCELED)
            reset = true;
        cio__conn_gone(c);
        cio__conn_close(c, reset, -EBADF);
        leave(c);
        return rc;
    }
    cio__conn_gone(c); /* before the close: it frees c (the owner's ref) */
    cio__conn_close(c, reset, -EBADF);
    return rc;
}

int cio_stream_abort(cio_stream *s)
{
    if (!s)
        return -EINVAL;
    struct cio__conn *c = C(s);
    if (c->mode != CIO__CONN_STREAM || (c->flags & CIO__C_CLOSED))
        return -EINVAL;
    cio__conn_gone(c); /* before the close: it frees c */
    cio__conn_close(c, true, -ECONNABORTED);
    return 0;
}

void cio__stream_watch(cio_stream *s, void (*gone)(void *arg), void *arg)
{
    struct cio__conn *c = C(s);
    c->gone = gone;
    c->gone_arg = gone ? arg : NULL;
}

int cio_stream_fd(const cio_stream *s)
{
    return s ? CC(s)->nfd.fd : -1;
}

size_t cio_stream_buffered(const cio_stream *s)
{
    return s ? cio__conn_wlen(CC(s)) : 0;
}

size_t cio_stream_readable(const cio_stream *s)
{
    return s ? cio__conn_rlen(CC(s)) : 0;
}

bool cio_stream_is_eof(const cio_stream *s)
{
    return s && (CC(s)->flags & CIO__C_EOF) && cio__conn_rlen(CC(s)) == 0;
}

int cio_stream_set_water(cio_stream *s, size_t high, size_t low)
{
    if (!s || low > high)
        return -EINVAL;
    struct cio__conn *c = C(s);
    if (c->flags & CIO__C_CLOSED)
        return -EINVAL;
    if (!high && !low) {
        high = 64 * 1024;
        low = high / 4;
    }
    c->high = high;
    c->low = low;
    cio__conn_progress(c);
    return 0;
}

int cio_stream_start_tls(cio_stream *s, const cio_tls_config *cfg, const char *server_name)
{
    if (!s || !cfg)
        return -EINVAL;
    struct cio__conn *c = C(s);
    int rc = enter(c);
    if (rc)
        return rc;
    if (c->ntasks > 1 || (c->flags & CIO__C_READING)) {
        leave(c);
        return -EBUSY;
    }
    if (c->ops_ctx || !(c->flags & CIO__C_SOCKET) || (c->flags & CIO__C_CLOSED)) {
        leave(c);
        return -EINVAL;
    }
    c->flags |= CIO__C_READING;
    /* What was written before goes in the clear, all of it, first. */
    rc = cio__conn_wait_write(c, CIO__WAIT_FLUSH);
    if (!rc && !(c->flags & CIO__C_CLOSED))
        rc = cio__tls_attach(c, cfg, server_name, 0);
    if (!rc)
        rc = cio__tls_handshake(c);
    leave_reader(c);
    return rc;
}
