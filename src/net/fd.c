/* Waiting on descriptors: struct cio__nfd (a descriptor registered once
 * with the loop, edge-triggered), the per-loop net state, SIGPIPE, and the
 * public cio_fd_* functions over raw descriptors.
 *
 * An nfd's `ready` bits record the edges the backend reported that the
 * owner has not yet seen run out (EAGAIN). A task that must wait for a
 * direction takes a future from the loop (cio_future_new: a free list, no
 * allocation in steady state), publishes it in rwait/wwait, arms the
 * direction and awaits the future, so the task's deadlines and
 * cancellation apply as to any cio_await. The edge callback completes the
 * futures of the directions that became ready. Arming costs no system
 * call: epoll keeps the registration made by cio__nfd_open for both
 * directions; poll's set entry is changed in memory.
 *
 * Who touches what after a wake: the waker (the edge callback, or
 * cio__nfd_close) clears rwait/wwait and the arm itself, because the nfd
 * may be freed before the woken task runs (a stream closed by another
 * task). The woken task touches the nfd again only if its future is still
 * pending, that is when it gave up (cancelled, deadline), in which case
 * nothing has invalidated the nfd: whoever frees it closes it first, and
 * closing completes every published future.
 *
 * Raw descriptors (cio_fd_wait, cio_fd_read, cio_fd_write) get an nfd of
 * their own, in the loop's table indexed by descriptor, made on first use
 * and kept until cio_fd_forget / cio_fd_close (or the loop's end).
 *
 * cio_fd_wait's level-triggered semantics over an edge-triggered
 * registration. After cio_fd_wait returns a direction to its caller, the
 * caller does its own I/O, which cio does not see: cio no longer knows
 * whether the descriptor is still ready (it may not have read all), and
 * no new edge would come for data already there. So each direction of a
 * raw descriptor is either known (its ready bit is what the edges and
 * cio's own calls said: set means "try", clear means "the last attempt
 * found nothing and no edge came since") or unknown (handed to the
 * caller). A wait on a known clear direction suspends at once, no system
 * call; on a set one returns at once; on an unknown one it first asks the
 * kernel with a zero-timeout poll(2) probe: ready returns, not ready makes
 * the direction known and clear, and suspends. cio_fd_read and
 * cio_fd_write keep their direction known (the bit cleared only on
 * EAGAIN), so a task that reads and writes through them never probes, and
 * a wait between them costs no system call either. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define RW (CIO_READABLE | CIO_WRITABLE)

/* ---- SIGPIPE ---------------------------------------------------------------- */

static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void sigpipe_ignore(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) != 0)
        return;
    /* A handler the program installed itself (or SIG_IGN) is left alone. */
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
    }
}

void cio__net_init_process(void)
{
    pthread_once(&sigpipe_once, sigpipe_ignore);
}

/* ---- The per-loop state ------------------------------------------------------ */

/* A raw descriptor's registration (cio_fd_*). */
struct raw {
    struct cio__nfd n; /* first */
    uint8_t unknown;   /* directions handed to the caller by cio_fd_wait */
    bool nonblock;     /* cio_fd_read/write made it non-blocking */
    bool plain;        /* the backend cannot watch it (a regular file under epoll) */
    int8_t sock;       /* cio_fd_write: 1 a socket (send with MSG_NOSIGNAL), -1 not, 0 unknown */
    dev_t dev;         /* debug mode: the file registered, to tell a reused number */
    ino_t ino;
};

static void net_free(cio_loop *loop, void *data)
{
    (void)loop;
    struct cio__net *net = data;
    cio__dns_loop_end(net->dns);
    while (net->resolvers)
        cio__dns_loop_end(net->resolvers); /* takes it off the list */
    /* The loop is closed: its registrations went with it. */
    for (int fd = 0; fd < net->nraw; fd++)
        free(net->raw[fd]);
    free(net->raw);
    /* The read-buffer pool (conn.c): a list through each buffer's first word. */
    for (void *b = net->buf_free; b;) {
        void *next = *(void **)b;
        free(b);
        b = next;
    }
    free(net);
}

struct cio__net *cio__net_get(cio_loop *loop)
{
    if (!loop)
        return NULL;
    struct cio__net *net = cio__loop_slot(loop, CIO__SLOT_NET);
    if (CIO_LIKELY(net != NULL))
        return net;
    if (cio__loop_closed(loop))
        return NULL;
    net = calloc(1, sizeof *net);
    if (!net)
        return NULL;
    net->loop = loop;
    cio__loop_set_slot(loop, CIO__SLOT_NET, net, net_free);
    return net;
}

/* ---- struct cio__nfd ---------------------------------------------------------- */

static void complete(cio_future *f, int err)
{
    /* Cannot fail: the future is pending (wakers take it out of the nfd
     * before completing it, and only they complete it). */
    if (err)
        cio_future_set_error(f, err);
    else
        cio_future_set_result(f, NULL, NULL);
}

/* Wakes the tasks waiting for `dirs` with err (0: ready). */
static void wake(struct cio__nfd *n, int dirs, int err)
{
    cio_future *r = (dirs & CIO_READABLE) ? n->rwait : NULL;
    cio_future *w = (dirs & CIO_WRITABLE) ? n->wwait : NULL;
    if (r) {
        n->rwait = NULL;
        if (n->wwait == r) /* one task waiting for either direction */
            n->wwait = NULL;
        complete(r, err);
    }
    if (w && w != r) {
        n->wwait = NULL;
        if (n->rwait == w)
            n->rwait = NULL;
        complete(w, err);
    }
}

/* A task-owned nfd is armed for exactly the directions tasks wait for;
 * a callback owner (on_event) arms what it wants itself. */
static void rearm(struct cio__nfd *n)
{
    if (n->on_event || !n->registered || n->lazy)
        return;
    uint8_t want = (uint8_t)((n->rwait ? CIO_READABLE : 0) | (n->wwait ? CIO_WRITABLE : 0));
    if (want != n->armed) {
        n->armed = want;
        cio__io_edge_arm(n->loop, n->fd, want);
    }
}

static void nfd_event(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    struct cio__nfd *n = arg;
    int got = events & (RW | CIO_IOERR);
    /* An error or a hang-up ends waits in both directions: the next call
     * returns the error (or end of file) instead of blocking. */
    if (got & CIO_IOERR)
        got |= RW;
    n->ready |= (uint8_t)got;
    if ((n->rwait && (got & CIO_READABLE)) || (n->wwait && (got & CIO_WRITABLE))) {
        wake(n, got, 0);
        rearm(n);
    }
    /* Last: the owner may close and free n from its callback. */
    if (n->on_event)
        n->on_event(n, got);
}

static struct raw *raw_lookup(struct cio__net *net, int fd);
static void raw_drop(struct cio__net *net, int fd);

/* Puts n's descriptor in the backend. A raw registration (cio_fd_*,
 * cio_socket_accept) that no task waits on is taken over: a descriptor
 * read with cio_fd_read can become a stream's. */
static int nfd_register(struct cio__nfd *n)
{
    int rc = cio__io_edge_add(n->loop, n->fd, nfd_event, n);
    if (rc == -EBUSY) {
        struct cio__net *net = cio__loop_slot(n->loop, CIO__SLOT_NET);
        struct raw *r = net ? raw_lookup(net, n->fd) : NULL;
        if (r && r != (struct raw *)n && !r->n.rwait && !r->n.wwait) {
            raw_drop(net, n->fd);
            rc = cio__io_edge_add(n->loop, n->fd, nfd_event, n);
        }
    }
    return rc;
}

static void nfd_init(struct cio__nfd *n, cio_loop *loop, int fd)
{
    cio__net_init_process();
    n->loop = loop;
    n->fd = fd;
    n->ready = 0;
    n->armed = 0;
    n->rwait = n->wwait = NULL;
    n->registered = false;
    n->lazy = false;
}

int cio__nfd_open(struct cio__nfd *n, cio_loop *loop, int fd)
{
    if (!n || !loop || fd < 0)
        return -EINVAL;
    nfd_init(n, loop, fd);
    int rc = nfd_register(n);
    if (rc)
        return rc;
    n->registered = true;
    return 0;
}

int cio__nfd_open_lazy(struct cio__nfd *n, cio_loop *loop, int fd)
{
    if (!n || !loop || fd < 0)
        return -EINVAL;
    nfd_init(n, loop, fd);
    n->registered = true;
    n->lazy = true;
    return 0;
}

/* The late registration of a lazy nfd (0 if it is in the backend already). */
static int nfd_unlazy(struct cio__nfd *n)
{
    if (CIO_LIKELY(!n->lazy))
        return 0;
    int rc = nfd_register(n);
    if (rc == 0)
        n->lazy = false;
    return rc;
}

void cio__nfd_close(struct cio__nfd *n)
{
    if (!n || !n->registered)
        return;
    n->registered = false;
    if (n->lazy)
        n->lazy = false; /* never reached the backend */
    else
        cio__io_edge_del(n->loop, n->fd); /* also fine on a closed loop or descriptor */
    n->armed = 0;
    wake(n, RW, -EBADF);
}

int cio__nfd_arm(struct cio__nfd *n, int events)
{
    if (!n || !n->registered)
        return -EBADF;
    uint8_t want = (uint8_t)((events & RW) | (n->rwait ? CIO_READABLE : 0) |
                             (n->wwait ? CIO_WRITABLE : 0));
    if (want == n->armed)
        return 0;
    int rc = nfd_unlazy(n);
    if (rc)
        return rc;
    rc = cio__io_edge_arm(n->loop, n->fd, want);
    if (rc == 0)
        n->armed = want;
    return rc;
}

int cio__nfd_wait(struct cio__nfd *n, int events)
{
    int dirs = events & RW;
    if (!n || !dirs)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (!n->registered)
        return -EBADF;
    if (n->ready & dirs)
        return 0;
    if (cio__running_loop() != n->loop)
        return -EINVAL;
    if (((dirs & CIO_READABLE) && n->rwait) || ((dirs & CIO_WRITABLE) && n->wwait))
        return -EBUSY;
    int rc = nfd_unlazy(n);
    if (rc)
        return rc;
    cio_future *f;
    rc = cio_future_new(n->loop, &f);
    if (rc)
        return rc;
    if (dirs & CIO_READABLE)
        n->rwait = f;
    if (dirs & CIO_WRITABLE)
        n->wwait = f;
    uint8_t want = (uint8_t)(n->armed | dirs);
    if (want != n->armed) {
        rc = cio__io_edge_arm(n->loop, n->fd, want);
        if (rc) {
            if (n->rwait == f)
                n->rwait = NULL;
            if (n->wwait == f)
                n->wwait = NULL;
            cio_future_unref(f);
            return rc;
        }
        n->armed = want;
    }
    rc = cio_await(f, NULL);
    if (!cio_future_is_done(f)) {
        /* Gave up (cancelled, deadline): still published, and n still
         * valid (see the top of this file). */
        if (n->rwait == f)
            n->rwait = NULL;
        if (n->wwait == f)
            n->wwait = NULL;
        rearm(n);
    } else if (rc != 0) {
        (void)cio_future_error(f); /* retrieved, whichever outcome we report */
    }
    cio_future_unref(f);
    return rc;
}

/* ---- Raw descriptors ------------------------------------------------------------ */

static struct raw *raw_lookup(struct cio__net *net, int fd)
{
    return fd < net->nraw ? (struct raw *)net->raw[fd] : NULL;
}

static void raw_drop(struct cio__net *net, int fd)
{
    struct raw *r = raw_lookup(net, fd);
    if (!r)
        return;
    net->raw[fd] = NULL;
    cio__nfd_close(&r->n); /* wakes a waiting task with -EBADF */
    free(r);
}

static int raw_grow(struct cio__net *net, int fd)
{
    size_t n = net->nraw ? (size_t)net->nraw : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct cio__nfd **p = realloc(net->raw, n * sizeof *p);
    if (!p)
        return -ENOMEM;
    memset(p + net->nraw, 0, (n - (size_t)net->nraw) * sizeof *p);
    net->raw = p;
    net->nraw = (int)n;
    return 0;
}

/* Debug mode: whether r still names the file it was registered for. A
 * descriptor closed with close(2) instead of cio_fd_close loses its epoll
 * registration with the file, and a new file that gets the number would
 * never be reported ready: that is reported, and the registration dropped
 * (so it is made anew for the new file). */
static bool raw_still_valid(struct cio__net *net, struct raw *r, int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino)
        return true;
    cio_loop_report(net->loop,
                    "fd %d was closed behind cio's back: it was waited on with cio_fd_*, so "
                    "close it with cio_fd_close (or call cio_fd_forget before close(2))",
                    fd);
    raw_drop(net, fd);
    return false;
}

/* The registration of raw descriptor fd on the running loop, made if need
 * be. Returns 0 (*out set), -EPERM (no loop), -ENOMEM, -EBUSY (fd has a
 * reader or writer of cio_loop_add_reader/_writer, or a stream owns it),
 * -EBADF, or the backend's error (-EPERM: a regular file under epoll; then
 * *out is set too, marked plain, for cio_fd_read/write to use directly). */
static int raw_get(int fd, struct raw **out)
{
    cio_loop *loop = cio__running_loop();
    if (!loop)
        return -EPERM;
    struct cio__net *net = cio__net_get(loop);
    if (!net)
        return -ENOMEM;
    struct raw *r = raw_lookup(net, fd);
    if (r && CIO_UNLIKELY(cio__loop_debug(loop)) && !raw_still_valid(net, r, fd))
        r = NULL;
    if (r) {
        *out = r;
        return r->plain ? -EPERM : 0;
    }
    if (fd >= net->nraw && raw_grow(net, fd))
        return -ENOMEM;
    r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    struct stat st;
    if (cio__loop_debug(loop) && fstat(fd, &st) == 0) {
        r->dev = st.st_dev;
        r->ino = st.st_ino;
    }
    int rc = cio__nfd_open(&r->n, loop, fd);
    if (rc == -EPERM) {
        r->plain = true; /* never blocks; read and write it directly */
    } else if (rc) {
        free(r);
        return rc;
    }
    r->unknown = RW; /* nothing seen yet: the first wait probes */
    net->raw[fd] = &r->n;
    *out = r;
    return rc;
}

/* Looks r up again after a wait, by descriptor: another task may have
 * forgotten it meanwhile (NULL then). */
static struct raw *raw_again(int fd)
{
    struct cio__net *net = cio__net_current();
    return net ? raw_lookup(net, fd) : NULL;
}

static int probe(int fd, int dirs, int *got)
{
    struct pollfd p = {.fd = fd,
                       .events = (short)(((dirs & CIO_READABLE) ? POLLIN : 0) |
                                         ((dirs & CIO_WRITABLE) ? POLLOUT : 0))};
    int rc;
    do
        rc = poll(&p, 1, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -errno;
    if (p.revents & POLLNVAL)
        return -EBADF;
    int ev = ((p.revents & POLLIN) ? CIO_READABLE : 0) | ((p.revents & POLLOUT) ? CIO_WRITABLE : 0);
    if (p.revents & (POLLERR | POLLHUP))
        ev |= CIO_IOERR | CIO_READABLE | (p.revents & POLLERR ? CIO_WRITABLE : 0);
    *got = ev;
    return 0;
}

int cio_fd_wait(int fd, int events, int *ready)
{
    int want = events & RW;
    if (fd < 0 || !want)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    struct raw *r;
    int rc = raw_get(fd, &r);
    if (rc)
        return rc;
    for (;;) {
        int got = r->n.ready & want;
        if (!got && (r->unknown & want)) {
            int unk = r->unknown & want, seen = 0;
            rc = probe(fd, unk, &seen);
            if (rc) {
                struct cio__net *net = cio__net_current();
                if (rc == -EBADF && net) {
                    /* Closed behind cio's back: its registration is void. */
                    if (cio__loop_debug(net->loop))
                        cio_loop_report(net->loop,
                                        "fd %d was closed behind cio's back: it was waited on "
                                        "with cio_fd_*, so close it with cio_fd_close (or call "
                                        "cio_fd_forget before close(2))",
                                        fd);
                    raw_drop(net, fd);
                }
                return rc;
            }
            /* The directions found not ready are known from now on: an
             * edge will say when they change. */
            r->unknown &= (uint8_t)~(unk & ~seen);
            if (seen & (want | CIO_IOERR)) {
                if (ready)
                    *ready = (seen & want) | (seen & CIO_IOERR);
                return 0; /* handed out: they stay unknown */
            }
        }
        if (got) {
            int out = got | (r->n.ready & CIO_IOERR);
            /* The caller takes these directions over: cio stops trusting
             * its bits for them until it looks again. */
            r->n.ready &= (uint8_t)~(got | CIO_IOERR);
            r->unknown |= (uint8_t)got;
            if (ready)
                *ready = out;
            return 0;
        }
        rc = cio__nfd_wait(&r->n, want);
        if (rc)
            return rc; /* r may be gone (-EBADF: forgotten) */
        if (!(r = raw_again(fd)))
            return -EBADF;
    }
}

static int set_nonblock(struct raw *r, int fd)
{
    if (r->nonblock)
        return 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    r->nonblock = true;
    return 0;
}

/* The shared body of cio_fd_read, cio_fd_write, cio_socket_accept...: the
 * system call first, unless the direction is known not ready; on EAGAIN
 * clear the bit and wait for the next edge. */
ssize_t cio__fd_io(int fd, int dir, ssize_t (*op)(int fd, void *arg), void *arg)
{
    if (fd < 0)
        return -EBADF;
    if (!cio_current_task())
        return -EPERM;
    struct raw *r = NULL;
    int rc = raw_get(fd, &r);
    if (rc && !(rc == -EPERM && r))
        return rc; /* -EPERM without r: no loop */
    if ((rc = set_nonblock(r, fd)) != 0)
        return rc;
    bool plain = r->plain;
    for (;;) {
        if (plain || (r->n.ready & dir) || (r->unknown & dir)) {
            ssize_t n;
            do
                n = op(fd, arg);
            while (n == -EINTR);
            if (n >= 0) {
                if (!plain) {
                    r->n.ready |= (uint8_t)dir; /* maybe more: try first next time */
                    r->unknown &= (uint8_t)~dir;
                }
                return n;
            }
            if (n != -EAGAIN && n != -EWOULDBLOCK)
                return n;
            if (plain)
                return n; /* cannot happen for a regular file */
            r->n.ready &= (uint8_t)~(dir | CIO_IOERR);
            r->unknown &= (uint8_t)~dir;
        }
        rc = cio__nfd_wait(&r->n, dir);
        if (rc)
            return rc;
        if (!(r = raw_again(fd)))
            return -EBADF;
    }
}

struct rw {
    void *buf;
    size_t len;
};

static ssize_t do_read(int fd, void *arg)
{
    struct rw *a = arg;
    ssize_t n = read(fd, a->buf, a->len);
    return n >= 0 ? n : -errno;
}

/* Sockets are sent to with MSG_NOSIGNAL; whether fd is one is learnt once
 * (ENOTSOCK) and kept with its registration (looked up at each call: the
 * registration may change while a task waits). */
static ssize_t do_write(int fd, void *arg)
{
    struct rw *a = arg;
    struct cio__net *net = cio__net_current();
    struct raw *r = net ? raw_lookup(net, fd) : NULL;
    if (!r || r->sock >= 0) {
        ssize_t n = send(fd, a->buf, a->len, MSG_NOSIGNAL);
        if (n >= 0) {
            if (r)
                r->sock = 1;
            return n;
        }
        if (errno != ENOTSOCK)
            return -errno;
        if (r)
            r->sock = -1;
    }
    ssize_t n = write(fd, a->buf, a->len);
    return n >= 0 ? n : -errno;
}

ssize_t cio_fd_read(int fd, void *buf, size_t len)
{
    struct rw a = {buf, len};
    return cio__fd_io(fd, CIO_READABLE, do_read, &a);
}

ssize_t cio_fd_write(int fd, const void *buf, size_t len)
{
    cio__net_init_process();
    struct rw a = {(void *)buf, len};
    return cio__fd_io(fd, CIO_WRITABLE, do_write, &a);
}

int cio_fd_forget(int fd)
{
    if (fd < 0)
        return -EINVAL;
    cio_loop *loop = cio__running_loop();
    if (!loop)
        return -EPERM;
    struct cio__net *net = cio__loop_slot(loop, CIO__SLOT_NET);
    if (net)
        raw_drop(net, fd);
    return 0;
}

int cio_fd_close(int fd)
{
    if (fd >= 0)
        cio_fd_forget(fd);
    /* Linux releases the descriptor even when close fails with EINTR:
     * retrying could close a number another thread just got. */
    if (close(fd) != 0 && errno != EINTR)
        return -errno;
    return 0;
}
