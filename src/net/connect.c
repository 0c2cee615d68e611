/* Connecting by name: cio_stream_connect_name and cio_transport_connect_name.
 *
 * Resolution (cio/dns.h; a numeric host skips the resolver), then Happy
 * Eyeballs (RFC 8305) over the addresses, then TLS when the options ask.
 *
 * The Happy Eyeballs engine runs inside the calling task, with no task of
 * its own per attempt: every attempt is a connection object (struct
 * cio__conn, made as cio_stream_connect makes it) whose connect is in
 * progress, and the task waits for all of them at once on ONE future that
 * each attempt's write-waiter completes (cio__conn_wait_write's mechanism:
 * a writable edge, or an error edge, wakes the waiters of its queue; a
 * second wake of an already completed future is a no-op). A deadline scope
 * of attempt_delay around that wait is the stagger timer. So an attempt
 * costs what cio_stream_connect costs (socket, its options, connect, the
 * registration's one epoll_ctl, SO_ERROR, and the DEL and close of a loser)
 * and a wait round one future; the first address connecting costs nothing
 * more than cio_stream_connect. Losers are closed before this returns, and
 * the resolution, the attempts and the handshake all run under the task's
 * own deadline and cancellation. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cio/dns.h>
#include <cio/tls.h>

#include "../common/opts.h"
#include "conn.h"

/* RFC 8305's recommended Connection Attempt Delay. */
#define DEFAULT_ATTEMPT_DELAY 0.25

/* One in-progress connect of the engine. */
struct attempt {
    struct cio__conn *c; /* NULL: not started, or over */
    struct cio__conn_waiter w;
};

/* Errors that say only "this family or network is not usable from here"
 * (no IPv6 route, no such local address): when every attempt fails, an
 * error that says more about the host (refused, reset, timed out) is
 * returned instead of one of these. */
static bool uninformative(int err)
{
    return err == -EAFNOSUPPORT || err == -EADDRNOTAVAIL || err == -ENETUNREACH ||
           err == -ENETDOWN || err == -EPROTONOSUPPORT;
}

/* Keeps the error to return when all attempts fail: the last one's, unless
 * it is uninformative and an earlier one was not. */
static void note_err(int *keep, int err)
{
    if (!*keep || !uninformative(err) || uninformative(*keep))
        *keep = err;
}

/* The caller's socket options over the defaults, checked. */
static int socket_opts(const cio_socket_options *sopts, cio_socket_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    int rc = cio__opts_copy(o, sizeof *o, sopts);
    if (rc)
        return rc;
    if (o->family != AF_UNSPEC && o->family != AF_INET && o->family != AF_INET6)
        return -EINVAL;
    if (isnan(o->attempt_delay) || o->attempt_delay < 0)
        return -EINVAL;
    if (o->local) {
        int lf = cio_addr_family(o->local);
        if (lf != AF_INET && lf != AF_INET6)
            return -EINVAL;
        if (o->family == AF_UNSPEC)
            o->family = lf; /* a local address picks the family */
        else if (o->family != lf)
            return -EINVAL;
    }
    if (o->attempt_delay == 0)
        o->attempt_delay = DEFAULT_ATTEMPT_DELAY;
    return 0;
}

/* Starts a connect to addr. Returns 1 (connected at once: a->c is the
 * connection), 0 (in progress: a->c set, its connect waits for writability),
 * or the error (nothing left open). */
static int attempt_start(struct attempt *a, const cio_addr *addr, const cio_socket_options *o,
                         const cio_stream_options *opts)
{
    memset(a, 0, sizeof *a);
    if (o->local && cio_addr_family(o->local) != cio_addr_family(addr))
        return -EAFNOSUPPORT;
    int fd;
    int rc = cio__sock_open(addr, o, &fd);
    if (rc)
        return rc;
    struct cio__conn *c;
    rc = cio__conn_new_kind(cio_current_loop(), fd, opts, CIO__CONN_NB_SOCKET, &c);
    if (rc) {
        close(fd);
        return rc;
    }
    int r = connect(fd, &addr->u.sa, addr->len);
    if (r < 0 && errno == EINTR)
        errno = EINPROGRESS; /* the connect goes on in the background (POSIX) */
    if (r == 0) {
        a->c = c;
        return 1;
    }
    if (errno != EINPROGRESS) {
        rc = -errno;
        cio__conn_close(c, false, rc);
        return rc;
    }
    /* The writable edge of the connect's end is what we wait for: the bit
     * cio__conn_new_kind set optimistically must go first. */
    cio__nfd_clear(&c->nfd, c->wneed);
    a->c = c;
    return 0;
}

static void waiter_link(struct cio__conn *c, struct cio__conn_waiter *w)
{
    w->next = NULL;
    w->prev = c->wq_tail;
    if (c->wq_tail)
        c->wq_tail->next = w;
    else
        c->wq_head = w;
    c->wq_tail = w;
}

static void waiter_unlink(struct cio__conn *c, struct cio__conn_waiter *w)
{
    if (w->woken)
        return; /* the waker unlinked it */
    if (w->prev)
        w->prev->next = w->next;
    else
        c->wq_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        c->wq_tail = w->prev;
    w->next = w->prev = NULL;
}

/* Closes an attempt that lost (or failed): the socket goes with its
 * registration. */
static void attempt_close(struct attempt *a, int err)
{
    if (!a->c)
        return;
    cio__conn_close(a->c, false, err);
    a->c = NULL;
}

/* An attempt whose descriptor reported the connect's end: 0 (connected)
 * or its error. */
static int attempt_result(struct attempt *a)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(a->c->nfd.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

/* Waits until one of the n attempts in flight (at[i].c set) reports, or
 * delay seconds pass (INFINITY: no timer). Returns 0 (an attempt
 * reported, or the delay passed: *expired says which) or the task's error
 * (-ECANCELED, -ETIMEDOUT, -ENOMEM). */
static int attempts_wait(struct attempt *at, size_t n, double delay, bool *expired)
{
    *expired = false;
    for (size_t i = 0; i < n; i++)
        if (at[i].c && (at[i].c->nfd.ready & (at[i].c->wneed | CIO_IOERR)))
            return 0; /* an edge came while we were busy */
    cio_future *wake;
    int rc = cio_future_new(cio_current_loop(), &wake);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct cio__conn *c = at[i].c;
        if (!c)
            continue;
        at[i].w = (struct cio__conn_waiter){.fut = wake, .kind = CIO__WAIT_WRITABLE};
        waiter_link(c, &at[i].w);
        cio__conn_rearm(c);
    }
    if (isfinite(delay)) {
        cio_scope sc;
        rc = cio_timeout_begin(&sc, delay);
        if (!rc) {
            rc = cio_await(wake, NULL);
            if (cio_scope_end(&sc) == -ETIMEDOUT) {
                /* The stagger, not the task's own deadline (which, if it
                 * passed too, ends the next wait at once). */
                *expired = true;
                if (rc == -ETIMEDOUT)
                    rc = 0;
            }
        }
    } else {
        rc = cio_await(wake, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        struct cio__conn *c = at[i].c;
        if (!c)
            continue;
        waiter_unlink(c, &at[i].w);
        cio__conn_rearm(c);
    }
    cio_future_unref(wake);
    return rc;
}

int cio__connect_addrs(const cio_addr *addrs, size_t n, const cio_socket_options *sopts,
                       const cio_stream_options *opts, cio_stream **out)
{
    if (out)
        *out = NULL;
    if (!addrs || !n || n > CIO__CONNECT_MAX || !out)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    cio_socket_options o;
    int rc = socket_opts(sopts, &o);
    if (rc)
        return rc;
    size_t h, l, lim;
    if ((rc = cio__conn_set_opts(&h, &l, &lim, opts)) != 0)
        return rc;
    struct attempt at[CIO__CONNECT_MAX];
    size_t next = 0, live = 0;
    int err = 0;
    struct cio__conn *won = NULL;
    bool start = true;
    for (;;) {
        /* Start the next address: at first, when the stagger passed, and
         * at once whenever nothing is in flight (an attempt failed). */
        while (!won && next < n && (start || !live)) {
            start = false;
            struct attempt *a = &at[next];
            int r = attempt_start(a, &addrs[next], &o, opts);
            next++;
            if (r == 1)
                won = a->c, a->c = NULL;
            else if (r == 0)
                live++;
            else
                note_err(&err, r);
        }
        if (won || !live)
            break;
        bool expired;
        rc = attempts_wait(at, next, next < n ? o.attempt_delay : INFINITY, &expired);
        if (rc)
            break;
        start = expired;
        for (size_t i = 0; i < next && !won; i++) {
            struct attempt *a = &at[i];
            if (!a->c || !(a->c->nfd.ready & (a->c->wneed | CIO_IOERR)))
                continue;
            int r = attempt_result(a);
            if (r == 0) {
                won = a->c, a->c = NULL;
            } else {
                note_err(&err, r);
                attempt_close(a, r);
                live--;
                start = true; /* RFC 8305: a failure starts the next one now */
            }
        }
    }
    for (size_t i = 0; i < next; i++)
        attempt_close(&at[i], -ECANCELED);
    if (!won)
        return rc ? rc : err;
    *out = (cio_stream *)won;
    return 0;
}

void cio__connect_order(cio_addr *addrs, size_t n)
{
    /* RFC 8305 section 4 with a First Address Family Count of 1: the
     * family of the resolver's first address first (its RFC 6724 sorting
     * puts IPv6 there when the host can use it), then the families
     * alternate, each keeping the resolver's order. */
    cio_addr tmp[CIO__CONNECT_MAX];
    if (n > CIO__CONNECT_MAX)
        n = CIO__CONNECT_MAX;
    size_t i6 = 0, i4 = 0, k = 0;
    bool six = n == 0 || cio_addr_family(&addrs[0]) == AF_INET6;
    while (k < n) {
        while (i6 < n && cio_addr_family(&addrs[i6]) != AF_INET6)
            i6++;
        while (i4 < n && cio_addr_family(&addrs[i4]) == AF_INET6)
            i4++;
        if (i6 >= n && i4 >= n)
            break;
        if ((six && i6 < n) || i4 >= n)
            tmp[k++] = addrs[i6++];
        else
            tmp[k++] = addrs[i4++];
        six = !six;
    }
    memcpy(addrs, tmp, k * sizeof *addrs);
}

/* The addresses of host: a numeric host as it is, else the resolver's
 * answer in Happy Eyeballs order. Returns the count or an error. */
static int resolve(const char *host, uint16_t port, const cio_socket_options *o,
                   cio_addr *addrs)
{
    if (cio_addr_ip(host, port, &addrs[0]) == 0) {
        int f = cio_addr_family(&addrs[0]);
        if (o->family != AF_UNSPEC && o->family != f)
            return -ENODATA;
        return 1;
    }
    int n = cio_dns_resolve(o->resolver, host, port, o->family, addrs, CIO__CONNECT_MAX);
    if (n <= 0)
        return n ? n : -ENODATA;
    cio__connect_order(addrs, (size_t)n);
    return n;
}

int cio_stream_connect_name(const char *host, uint16_t port, const cio_socket_options *sopts,
                            const cio_stream_options *opts, cio_stream **out)
{
    if (out)
        *out = NULL;
    if (!host || !*host || !port || !out)
        return -EINVAL;
    cio_socket_options o;
    int rc = socket_opts(sopts, &o);
    if (rc)
        return rc;
    size_t h, l, lim;
    if ((rc = cio__conn_set_opts(&h, &l, &lim, opts)) != 0)
        return rc;
    if (!cio_current_task())
        return -EPERM;
    cio_stream_options so = {.size = sizeof so};
    cio__opts_copy(&so, sizeof so, opts); /* checked by cio__conn_set_opts */
    const cio_tls_config *tls = so.tls;
    so.tls = NULL; /* the plain connection first; TLS is attached below */
    cio_addr addrs[CIO__CONNECT_MAX];
    int n = resolve(host, port, &o, addrs);
    if (n < 0)
        return n;
    cio_stream *s;
    rc = cio__connect_addrs(addrs, (size_t)n, &o, &so, &s);
    if (rc)
        return rc;
    if (tls) {
        /* The session cache keys resumption on this name and the port. */
        const char *name = so.server_name ? so.server_name : host;
        struct cio__conn *c = (struct cio__conn *)s;
        rc = cio__tls_attach(c, tls, name, port);
        if (!rc)
            rc = cio__tls_handshake(c);
        if (rc) {
            cio_stream_abort(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

/* ---- The callback form ------------------------------------------------------
 * A task of the library's does the work (cio_stream_connect_name, then
 * cio_stream_to_transport); the caller's future completes as
 * cio_transport_connect's does. The state is shared by that task and the
 * future's done callback (which cancels the task when the caller cancels
 * the future): the last of the two frees it. */
struct named {
    unsigned refs;
    char *host;
    uint16_t port;
    cio_socket_options so;
    cio_addr local;
    cio_stream_options sto;
    bool has_sto;
    const cio_protocol *proto;
    void *arg;
    cio_future *fut; /* the caller's future; NULL when it wanted none */
    cio_task *task;
    bool ended;      /* the task is done with the connection */
};

static void named_unref(struct named *op)
{
    if (--op->refs)
        return;
    if (op->fut)
        cio_future_unref(op->fut);
    if (op->task)
        cio_future_unref(op->task);
    if (op->sto.tls)
        cio_tls_config_free((cio_tls_config *)op->sto.tls); /* our reference */
    free((char *)op->sto.server_name);
    free(op->host);
    free(op);
}

static void named_fut_done(cio_future *f, void *arg)
{
    (void)f;
    struct named *op = arg;
    /* Cancelled by the caller while the task works: stop it (its
     * resolution and attempts end with -ECANCELED, nothing is called). */
    if (!op->ended && op->task)
        cio_future_cancel(op->task);
    named_unref(op);
}

static int named_main(void *arg, void **res)
{
    (void)res;
    struct named *op = arg;
    cio_stream *s = NULL;
    int rc = cio_stream_connect_name(op->host, op->port, &op->so, op->has_sto ? &op->sto : NULL,
                                     &s);
    if (!rc && op->fut && cio_future_is_done(op->fut))
        rc = -ECANCELED; /* cancelled as the connection was made */
    if (!rc) {
        cio_transport *t;
        rc = cio__stream_to_transport_connect(s, op->proto, op->arg, op->fut, &t);
        if (!rc)
            s = NULL;
    }
    if (s)
        cio_stream_abort(s);
    op->ended = true;
    if (rc && op->fut && !cio_future_is_done(op->fut))
        cio_future_set_error(op->fut, rc);
    named_unref(op);
    /* The outcome is the caller's future's; the task only says whether it
     * was cancelled (a cancelled task that returned 0 would be reported). */
    return rc == -ECANCELED ? rc : 0;
}

int cio_transport_connect_name(cio_loop *loop, const char *host, uint16_t port,
                               const cio_socket_options *sopts, const cio_stream_options *opts,
                               const cio_protocol *proto, void *arg, cio_future **out)
{
    if (out)
        *out = NULL;
    if (!loop || !host || !*host || !port || !proto || !proto->data_received ||
        cio_loop_is_closed(loop))
        return -EINVAL;
    cio_socket_options o;
    int rc = socket_opts(sopts, &o);
    if (rc)
        return rc;
    size_t h, l, lim;
    if ((rc = cio__conn_set_opts(&h, &l, &lim, opts)) != 0)
        return rc;
    struct named *op = calloc(1, sizeof *op);
    if (!op)
        return -ENOMEM;
    op->refs = 1;
    op->port = port;
    op->proto = proto;
    op->arg = arg;
    op->so = o; /* checked: family and delay resolved */
    if (o.local) {
        op->local = *o.local;
        op->so.local = &op->local;
    }
    rc = -ENOMEM;
    if (!(op->host = strdup(host)))
        goto fail;
    if (opts) {
        op->sto.size = sizeof op->sto;
        cio__opts_copy(&op->sto, sizeof op->sto, opts); /* checked above */
        op->has_sto = true;
        if (op->sto.tls)
            cio__tls_config_ref(op->sto.tls); /* the caller may free it now */
        if (op->sto.server_name && !(op->sto.server_name = strdup(op->sto.server_name)))
            goto fail;
    }
    if (out) {
        if ((rc = cio_future_new(loop, &op->fut)) != 0)
            goto fail;
        if ((rc = cio_future_add_done_callback(op->fut, named_fut_done, op)) != 0)
            goto fail;
        op->refs++;
    }
    rc = cio_task_new(loop, &CIO_TASK_OPTIONS(.name = "connect-name"), named_main, op, &op->task);
    if (rc) {
        if (op->fut && cio_future_remove_done_callback(op->fut, named_fut_done, op) == 0)
            op->refs--;
        goto fail;
    }
    op->refs++; /* the task's */
    if (out)
        *out = cio_future_ref(op->fut);
    named_unref(op);
    return 0;
fail:
    named_unref(op);
    return rc;
}
