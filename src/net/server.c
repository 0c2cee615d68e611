/* Servers: a listening socket accepted from a loop callback, each
 * connection handed to a handler task (cio_server_new) or to a transport
 * running a protocol (cio_server_new_protocol).
 *
 * Accepting. The listening socket is registered once (struct cio__nfd,
 * edge-triggered) and accepted from its on_event callback, not from a
 * task: a task would cost a switch per wakeup for nothing. One event
 * accepts at most ACCEPT_BATCH connections, so a flood of connections
 * cannot starve the loop's other work; when a batch ends with more
 * possibly pending (the edge will not be reported again), the rest is
 * taken from a zero-delay timer, after the callbacks already queued.
 *
 * The server's connections: a list of records, one per connection, alive
 * while the server must know about it: for the stream style until the
 * handler task ends (the task's function is conn_main here, which closes
 * the stream when the handler left it open), for the protocol style until
 * the transport is gone (freed after connection_lost, or handed to a
 * stream). cio__stream_watch / cio__transport_watch (stream.c,
 * transport.c) tell the server when its stream or transport stops being
 * one, so the server never touches a freed object.
 *
 * The accepted sockets' options (TCP_NODELAY, keep-alive) are set once,
 * on the listening socket, which Linux copies them from: accepting costs
 * one accept4 per connection and no setsockopt.
 *
 * Running out of descriptors. accept(2) failing with EMFILE/ENFILE leaves
 * the connection in the backlog and the socket readable: a loop that
 * retries at once spins, one that stops serving dies. libuv's answer is a
 * spare descriptor: close it, accept and close what is pending (the
 * clients learn at once, instead of hanging in the backlog), reopen it.
 * nginx's is to stop accepting for a while. We do both: shed, then pause
 * 10 ms, doubling up to 1 s while the shortage lasts.
 *
 * Closing: stop accepting and close the listening socket at once (new
 * clients are refused from then on), close the transports gracefully,
 * give the handler tasks `grace` seconds, then cancel them and abort the
 * transports left, and free the server once the last connection is
 * gone. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cio/tls.h>

#include "../common/opts.h"
#include "conn.h"
#include "internal.h"

#define ACCEPT_BATCH 64
#define BACKOFF_FIRST 0.010
#define BACKOFF_MAX 1.0

struct srv_conn {
    struct srv_conn *prev, *next;
    cio_server *srv;
    cio_task *task;       /* stream style: the handler task (a reference) */
    cio_stream *stream;   /* stream style: the stream while it is one */
    cio_transport *tr;    /* protocol style: the transport while it is one */
};

struct cio_server {
    cio_loop *loop;
    struct cio__nfd nfd; /* the listening socket */
    int lfd;
    int spare; /* /dev/null, given up to shed a connection on EMFILE; -1: none */
    cio_addr addr;
    /* A Unix socket file the server made: removed at close if it is still
     * the one it made (st_dev, st_ino). */
    bool unlink_path;
    dev_t path_dev;
    ino_t path_ino;

    cio_socket_options sopts;
    cio_stream_options stopts;
    bool have_stopts;
    bool sock_stream; /* the listener is SOCK_STREAM (what it accepts is too) */
    size_t max_connections;
    cio_task_options topts; /* name "<name>-conn", stack_size */
    char *task_name;

    cio_stream_handler handler;
    const cio_protocol *proto;
    void *arg;

    struct srv_conn *conns;
    size_t nconn;

    bool emfile_paused; /* waiting for the backoff timer */
    bool armed;         /* the listening socket is armed for reading */
    bool stopped;       /* an accept error that cannot pass: no more accepting */
    double backoff;     /* the current EMFILE pause (s); 0: none in a row */
    cio_handle backoff_timer;
    cio_handle soon_timer; /* the rest of a batch; 0: none */

    bool closing, cancelling;
    int hold; /* > 0: inside a walk of conns, the server must not be freed */
    cio_handle grace_timer;
    cio_future *closed; /* completes when the server is freed */

    /* Counters for tests and benchmarks (cio__server_stats). */
    uint64_t accept_calls, accepted, shed, pauses;
};

/* ---- Bookkeeping ---------------------------------------------------------- */

static void srv_finish(cio_server *srv);
static void srv_accept_batch(cio_server *srv);

static bool srv_can_accept(const cio_server *srv)
{
    return !srv->closing && !srv->stopped && !srv->emfile_paused &&
           !(srv->max_connections && srv->nconn >= srv->max_connections) &&
           !cio__loop_shutting_down(srv->loop);
}

static void srv_arm(cio_server *srv, bool on)
{
    if (srv->armed == on)
        return;
    srv->armed = on;
    cio__nfd_arm(&srv->nfd, on ? CIO_READABLE : 0);
}

static void srv_soon_cb(void *arg)
{
    cio_server *srv = arg;
    srv->soon_timer = 0;
    srv_accept_batch(srv);
}

/* Accepts again after a pause (the cap or a shortage): the socket may have
 * become readable meanwhile with its edge already reported, so try at once
 * (from the loop: the caller may be inside a callback of its own). */
static void srv_resume(cio_server *srv)
{
    if (!srv_can_accept(srv))
        return;
    srv_arm(srv, true);
    if (!srv->soon_timer && cio_call_later(srv->loop, 0, srv_soon_cb, srv, &srv->soon_timer) < 0)
        srv->soon_timer = 0; /* no memory: the next edge will do */
}

static void conn_link(cio_server *srv, struct srv_conn *c)
{
    c->srv = srv;
    c->prev = NULL;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconn++;
}

/* The connection left the server: free its record, accept again if the cap
 * held accepting back, or end a close waiting for the last connection.
 * The server may be freed when this returns. */
static void conn_unlink(struct srv_conn *c)
{
    cio_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconn--;
    if (c->task)
        cio_future_unref(c->task);
    free(c);
    if (srv->closing) {
        if (srv->nconn == 0 && !srv->hold)
            srv_finish(srv);
    } else if (srv->max_connections && srv->nconn + 1 == srv->max_connections) {
        srv_resume(srv);
    }
}

static void conn_stream_gone(void *arg)
{
    struct srv_conn *c = arg;
    c->stream = NULL;
}

static void conn_transport_gone(void *arg)
{
    struct srv_conn *c = arg;
    c->tr = NULL;
    conn_unlink(c);
}

/* ---- Handler tasks ---------------------------------------------------------- */

/* The function of every handler task: runs the handler, then closes the
 * stream if the handler left it open (cio_stream_close: flushes, and when
 * that cannot be done, as in a cancelled task, drops the rest with a
 * reset). The handler's return value is the task's outcome: a negative
 * value its error, else its result (as an intptr_t). */
static int conn_main(void *arg, void **result)
{
    struct srv_conn *c = arg;
    cio_server *srv = c->srv;
    /* TLS: the handshake first (handshake_timeout, the task's deadline);
     * a connection whose handshake fails is closed without the handler. */
    int rc = srv->stopts.tls ? cio__tls_handshake((struct cio__conn *)c->stream) : 0;
    if (rc == 0)
        rc = srv->handler(c->stream, srv->arg);
    if (c->stream) {
        cio_stream *s = c->stream;
        cio__stream_watch(s, NULL, NULL);
        c->stream = NULL;
        cio_stream_close(s); /* frees s whatever it returns in a task */
    }
    conn_unlink(c); /* may free srv */
    if (rc < 0)
        return rc;
    *result = (void *)(intptr_t)rc;
    return 0;
}

/* The server's reading of a handler task's outcome: it retrieves it (a
 * connection's error, a reset say, is the handler's business, not a report
 * of an error nobody awaited). */
static void conn_task_done(cio_future *task, void *arg)
{
    (void)arg;
    cio_future_error(task);
}

/* The two ways to start a connection: on an error fd is closed (the
 * client sees the connection end) and nothing is left behind. */
static int conn_start_stream(cio_server *srv, int fd)
{
    struct srv_conn *c = calloc(1, sizeof *c);
    /* accept4 gave a non-blocking socket of the listener's type: a
     * SOCK_STREAM listener's need no fstat, SO_TYPE or fcntl. */
    const cio_stream_options *so = srv->have_stopts ? &srv->stopts : NULL;
    int rc = !c              ? -ENOMEM
             : srv->sock_stream ? cio__stream_new_accepted(srv->loop, fd, so, &c->stream)
                                : cio_stream_new(fd, so, &c->stream);
    if (rc < 0) {
        close(fd);
        free(c);
        return rc;
    }
    rc = cio_task_new(srv->loop, &srv->topts, conn_main, c, &c->task);
    if (rc == 0)
        rc = cio_future_add_done_callback(c->task, conn_task_done, NULL);
    if (rc < 0) {
        if (c->task) {
            /* Started but unwatched: it runs (and unlinks) as usual; only
             * its outcome goes unread. Link it so the books stay right. */
            cio__stream_watch(c->stream, conn_stream_gone, c);
            conn_link(srv, c);
            return 0;
        }
        cio_stream_abort(c->stream);
        free(c);
        return rc;
    }
    cio__stream_watch(c->stream, conn_stream_gone, c);
    conn_link(srv, c);
    return 0;
}

static int conn_start_protocol(cio_server *srv, int fd)
{
    struct srv_conn *c = calloc(1, sizeof *c);
    int rc = c ? cio__transport_new_accepted(srv->loop, fd,
                                             srv->have_stopts ? &srv->stopts : NULL, srv->proto,
                                             srv->arg, &c->tr)
               : -ENOMEM;
    if (rc < 0) {
        close(fd);
        free(c);
        return rc;
    }
    conn_link(srv, c);
    cio__transport_watch(c->tr, conn_transport_gone, c);
    return 0;
}

/* ---- Accepting ------------------------------------------------------------- */

static void srv_backoff_cb(void *arg)
{
    cio_server *srv = arg;
    srv->backoff_timer = 0;
    srv->emfile_paused = false;
    if (srv->spare < 0)
        srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv_resume(srv);
}

/* Pauses accepting for the current backoff (10 ms, doubling up to 1 s
 * while the shortage lasts). Out of descriptors (shed), it first gives up
 * the spare to accept and close what waits in the backlog (bounded: a
 * flood must not hold the loop), then takes the spare back. */
static void srv_pause(cio_server *srv, bool shed)
{
    if (shed && srv->spare >= 0) {
        close(srv->spare);
        srv->spare = -1;
        for (int i = 0; i < ACCEPT_BATCH; i++) {
            srv->accept_calls++;
            int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                break;
            }
            close(fd);
            srv->shed++;
        }
        srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    srv->backoff = srv->backoff > 0 ? fmin(srv->backoff * 2, BACKOFF_MAX) : BACKOFF_FIRST;
    srv->pauses++;
    srv->emfile_paused = true;
    srv_arm(srv, false);
    if (cio_call_later(srv->loop, srv->backoff, srv_backoff_cb, srv, &srv->backoff_timer) < 0) {
        /* No memory even for a timer: stay armed and let the next edge
         * retry (the shortage may spin then, but nothing is lost). */
        srv->backoff_timer = 0;
        srv->emfile_paused = false;
        srv_arm(srv, true);
    }
}

static void srv_accept_batch(cio_server *srv)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (!srv_can_accept(srv)) {
            srv_arm(srv, false);
            return;
        }
        srv->accept_calls++;
        /* Plain accept4: the socket options were set on the listening
         * socket, which Linux copies to every accepted TCP socket
         * (TCP_NODELAY, keep-alive and its timings), so a connection costs
         * no setsockopt. */
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            fd = -errno;
        if (fd >= 0) {
            srv->backoff = 0;
            srv->accepted++;
            int rc = srv->proto ? conn_start_protocol(srv, fd) : conn_start_stream(srv, fd);
            if (rc < 0) { /* no memory for it: the client saw it closed */
                srv_pause(srv, false);
                return;
            }
            continue;
        }
        switch (fd) {
        case -EAGAIN:
            cio__nfd_clear(&srv->nfd, CIO_READABLE);
            srv->backoff = 0;
            return;
        case -EMFILE:
        case -ENFILE:
            srv_pause(srv, true);
            return;
        case -ENOBUFS:
        case -ENOMEM:
            srv_pause(srv, false);
            return;
        case -EINTR:
        case -ECONNABORTED:
        case -EPROTO:
        case -EPERM: /* a firewall refused it */
        case -ENETDOWN:
        case -ENOPROTOOPT:
        case -EHOSTDOWN:
        case -ENONET:
        case -EHOSTUNREACH:
        case -EOPNOTSUPP:
        case -ENETUNREACH:
            continue; /* that connection's problem, not the server's */
        default:
            /* EBADF, EINVAL (the socket no longer listens), ...: retrying
             * would spin. Say so once and stop accepting. */
            srv->stopped = true;
            srv_arm(srv, false);
            cio_loop_report(srv->loop, "server: accept failed (%s): no longer accepting",
                            cio_err_name(fd));
            return;
        }
    }
    /* A full batch: the rest (if any) after the work already queued. */
    if (!srv->soon_timer && cio_call_later(srv->loop, 0, srv_soon_cb, srv, &srv->soon_timer) < 0)
        srv->soon_timer = 0;
}

static void srv_on_event(struct cio__nfd *n, int events)
{
    cio_server *srv = n->owner;
    (void)events;
    if (srv->soon_timer || !srv_can_accept(srv))
        return; /* a batch is due anyway, or accepting is paused */
    srv_accept_batch(srv);
}

/* ---- Making a server --------------------------------------------------------- */

/* Reads a nested options struct (cio_socket_options, cio_stream_options)
 * the same way as the outer one. */
static int copy_nested(void *dst, size_t size, const void *src)
{
    return src ? cio__opts_copy(dst, size, src) : 0;
}

/* Adopts an existing listening socket: it must be one (SO_ACCEPTCONN). */
static int adopt_listener(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;
    if (fd < 0)
        return -EINVAL;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0)
        return errno == ENOTSOCK ? -EINVAL : -errno;
    if (!on)
        return -EINVAL;
    return cio__sock_nonblock(fd);
}

static int server_new(const cio_addr *addr, const cio_server_options *opts,
                      cio_stream_handler handler, const cio_protocol *proto, void *arg,
                      cio_server **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cio_server_options o = CIO_SERVER_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc < 0)
        return rc;
    if ((!addr) == (!o.fd) || (addr && addr->len == 0))
        return -EINVAL;
    cio_loop *loop = cio__running_loop();
    if (!loop)
        return -EPERM;

    cio_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    srv->lfd = srv->spare = -1;
    srv->sopts = (cio_socket_options)CIO_SOCKET_OPTIONS_INIT;
    srv->stopts = (cio_stream_options)CIO_STREAM_OPTIONS_INIT;
    if ((rc = copy_nested(&srv->sopts, sizeof srv->sopts, o.socket)) < 0 ||
        (rc = copy_nested(&srv->stopts, sizeof srv->stopts, o.stream)) < 0)
        goto fail;
    srv->have_stopts = o.stream != NULL;
    srv->sopts.local = NULL; /* a connect option; not kept past this call */
    const char *name = o.name ? o.name : "server";
    size_t nlen = strlen(name);
    srv->task_name = malloc(nlen + sizeof "-conn");
    if (!srv->task_name) {
        rc = -ENOMEM;
        goto fail;
    }
    memcpy(srv->task_name, name, nlen);
    memcpy(srv->task_name + nlen, "-conn", sizeof "-conn");
    srv->topts = (cio_task_options)CIO_TASK_OPTIONS_INIT;
    srv->topts.name = srv->task_name;
    srv->topts.stack_size = o.stack_size;
    srv->max_connections = o.max_connections;
    srv->handler = handler;
    srv->proto = proto;
    srv->arg = arg;
    srv->loop = loop;

    cio__net_init_process();
    if (o.fd) {
        if ((rc = adopt_listener(*o.fd)) < 0)
            goto fail;
        srv->lfd = *o.fd;
    } else if ((rc = cio_socket_listen(addr, &srv->sopts, &srv->lfd)) < 0) {
        goto fail;
    }
    if ((rc = cio_socket_local(srv->lfd, &srv->addr)) < 0)
        goto fail;
    int type = 0;
    socklen_t tl = sizeof type;
    srv->sock_stream = getsockopt(srv->lfd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
                       type == SOCK_STREAM;
    /* TLS needs a byte stream (a SOCK_SEQPACKET listener's connections
     * could never handshake) and a server's configuration (a client's
     * would make every accepted connection a TLS client). */
    if (srv->stopts.tls && (!srv->sock_stream || !cio__tls_config_is_server(srv->stopts.tls))) {
        rc = -EINVAL;
        goto fail;
    }
    /* The accepted sockets' options, set once on the listener (they are
     * inherited). */
    sa_family_t family = srv->addr.u.sa.sa_family;
    if ((family == AF_INET || family == AF_INET6) &&
        (rc = cio__sock_apply(srv->lfd, family, &srv->sopts)) < 0)
        goto fail;
    struct stat st;
    if (!o.fd && srv->addr.u.sa.sa_family == AF_UNIX &&
        srv->addr.len > offsetof(struct sockaddr_un, sun_path) &&
        srv->addr.u.un.sun_path[0] != '\0' && stat(srv->addr.u.un.sun_path, &st) == 0) {
        srv->unlink_path = true;
        srv->path_dev = st.st_dev;
        srv->path_ino = st.st_ino;
    }
    /* The spare may fail to open in a shortage already: it is opened again
     * after each pause. */
    srv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv->nfd.on_event = srv_on_event;
    srv->nfd.owner = srv;
    if ((rc = cio__nfd_open(&srv->nfd, loop, srv->lfd)) < 0)
        goto fail;
    srv_arm(srv, true);
    /* The server's own reference on its TLS configuration. */
    if (srv->stopts.tls)
        cio__tls_config_ref(srv->stopts.tls);
    *out = srv;
    return 0;

fail:
    if (srv->lfd >= 0 && !o.fd) {
        if (srv->unlink_path)
            unlink(srv->addr.u.un.sun_path);
        close(srv->lfd);
    }
    if (srv->spare >= 0)
        close(srv->spare);
    free(srv->task_name);
    free(srv);
    return rc;
}

int cio_server_new(const cio_addr *addr, const cio_server_options *opts,
                   cio_stream_handler handler, void *arg, cio_server **out)
{
    if (out)
        *out = NULL;
    if (!handler)
        return -EINVAL;
    return server_new(addr, opts, handler, NULL, arg, out);
}

int cio_server_new_protocol(const cio_addr *addr, const cio_server_options *opts,
                            const cio_protocol *proto, void *arg, cio_server **out)
{
    if (out)
        *out = NULL;
    if (!proto || !proto->data_received) /* cio_transport_new would refuse each one */
        return -EINVAL;
    return server_new(addr, opts, NULL, proto, arg, out);
}

/* ---- Closing ------------------------------------------------------------------ */

/* The last connection is gone: complete the close and free the server. */
static void srv_finish(cio_server *srv)
{
    if (srv->grace_timer)
        cio_timer_cancel(srv->loop, srv->grace_timer);
    cio_future *closed = srv->closed;
    cio_tls_config_free((cio_tls_config *)srv->stopts.tls);
    free(srv->task_name);
    free(srv);
    cio_future_set_result(closed, NULL, NULL);
    cio_future_unref(closed);
}

/* Closes (abort: aborts) every transport, and with abort cancels every
 * handler task. Neither is expected to call back synchronously (the
 * transports' connection_lost and the tasks' ends come from the loop);
 * should one do so, the record walk and the server stay valid: the
 * server is freed after the walk. Returns whether it was freed. */
static bool srv_walk(cio_server *srv, bool abort)
{
    srv->hold++;
    for (struct srv_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->tr && abort)
            cio_transport_abort(c->tr);
        else if (c->tr)
            cio_transport_close(c->tr);
        else if (abort && c->task)
            cio_future_cancel(c->task);
    }
    if (--srv->hold == 0 && srv->nconn == 0) {
        srv_finish(srv);
        return true;
    }
    return false;
}

/* The grace period is over (or was cut short): cancel the handler tasks
 * still running and abort the transports left. */
static void srv_cancel_all(cio_server *srv)
{
    if (srv->cancelling)
        return;
    srv->cancelling = true;
    if (srv->grace_timer) {
        cio_timer_cancel(srv->loop, srv->grace_timer);
        srv->grace_timer = 0;
    }
    srv_walk(srv, true);
}

static void srv_grace_cb(void *arg)
{
    cio_server *srv = arg;
    srv->grace_timer = 0;
    srv_cancel_all(srv);
}

/* Stops accepting at once and starts the close, which completes `closed`
 * (the server takes the reference) when the last connection is gone: the
 * server may be freed before this returns. */
static void srv_close_start(cio_server *srv, double grace, cio_future *closed)
{
    srv->closed = closed;
    srv->closing = true;
    if (srv->soon_timer)
        cio_timer_cancel(srv->loop, srv->soon_timer);
    if (srv->backoff_timer)
        cio_timer_cancel(srv->loop, srv->backoff_timer);
    srv->soon_timer = srv->backoff_timer = 0;
    cio__nfd_close(&srv->nfd);
    if (srv->unlink_path) {
        struct stat st;
        if (stat(srv->addr.u.un.sun_path, &st) == 0 && st.st_dev == srv->path_dev &&
            st.st_ino == srv->path_ino)
            unlink(srv->addr.u.un.sun_path);
    }
    close(srv->lfd);
    srv->lfd = -1;
    if (srv->spare >= 0)
        close(srv->spare);
    srv->spare = -1;
    if (srv->nconn == 0) {
        srv_finish(srv);
        return;
    }
    if (srv_walk(srv, false))
        return;
    if (grace <= 0)
        srv_cancel_all(srv);
    else if (grace < 1e9 &&
             cio_call_later(srv->loop, grace, srv_grace_cb, srv, &srv->grace_timer) < 0)
        srv_cancel_all(srv); /* no memory for the timer: no grace */
}

static bool grace_ok(double grace)
{
    return !isnan(grace) && grace >= 0;
}

/* A new future for the close: one reference for the server, one for the
 * caller. */
static int srv_closed_future(cio_server *srv, cio_future **out)
{
    int rc = cio_future_new(srv->loop, out);
    if (rc < 0)
        return rc;
    cio_future_ref(*out);
    return 0;
}

int cio_server_close_future(cio_server *srv, double grace, cio_future **out)
{
    if (!srv || !out || srv->closing || !grace_ok(grace))
        return -EINVAL;
    cio_future *closed;
    int rc = srv_closed_future(srv, &closed);
    if (rc < 0)
        return rc;
    srv_close_start(srv, grace, closed);
    *out = closed;
    return 0;
}

int cio_server_close(cio_server *srv, double grace)
{
    if (!srv || srv->closing || !grace_ok(grace))
        return -EINVAL;
    cio_task *self = cio_current_task();
    if (srv->nconn > 0) {
        if (!self)
            return -EPERM;
        for (struct srv_conn *c = srv->conns; c; c = c->next)
            if (c->task == self)
                return -EDEADLK; /* it would wait for its own end */
    }
    cio_future *closed;
    int rc = srv_closed_future(srv, &closed);
    if (rc < 0)
        return rc;
    srv_close_start(srv, grace, closed);
    rc = 0;
    if (!cio_future_is_done(closed)) {
        rc = cio_await(closed, NULL);
        if (rc < 0) {
            /* Cancelled, or the caller's deadline passed: cut the grace
             * short, and still wait (shielded) for the handlers, which
             * end soon once cancelled, so the server is gone on return. */
            if (!cio_future_is_done(closed))
                srv_cancel_all(srv);
            cio_scope shield;
            cio_shield_begin(&shield);
            cio_await(closed, NULL);
            cio_scope_end(&shield);
        }
    }
    cio_future_unref(closed);
    return rc;
}

/* ---- Getters ------------------------------------------------------------------ */

int cio_server_addr(const cio_server *srv, cio_addr *out)
{
    if (!srv || !out)
        return -EINVAL;
    *out = srv->addr;
    return 0;
}

size_t cio_server_connections(const cio_server *srv)
{
    return srv ? srv->nconn : 0;
}

/* For tests and benchmarks (white-box, declared where used): accept(2)
 * calls made, connections accepted, connections shed for lack of
 * descriptors, pauses taken. */
void cio__server_stats(const cio_server *srv, uint64_t out[4]);
void cio__server_stats(const cio_server *srv, uint64_t out[4])
{
    out[0] = srv->accept_calls;
    out[1] = srv->accepted;
    out[2] = srv->shed;
    out[3] = srv->pauses;
}
