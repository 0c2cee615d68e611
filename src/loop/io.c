/* I/O watchers: asyncio's add_reader / add_writer over the backend.
 *
 * A table indexed by descriptor holds each one's reader and writer, so a
 * watcher costs no allocation and an event finds its watcher in O(1) (the
 * redis ae layout). Each (re)registration takes a new generation, which the
 * backend hands back with every event: an event read for a registration
 * that has since been removed, perhaps for a descriptor closed and reused
 * by a callback earlier in the same batch, is dropped. */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core.h"
#include "internal.h"

int cio__io_init(cio_loop *loop)
{
    loop->nfds = 64;
    loop->fds = calloc((size_t)loop->nfds, sizeof *loop->fds);
    return loop->fds ? 0 : -ENOMEM;
}

void cio__io_free(cio_loop *loop)
{
    free(loop->fds);
    loop->fds = NULL;
    loop->nfds = 0;
}

/* Grows the table to hold fd, which is open (checked by the caller), so
 * the size is bounded by the descriptors the process really has. Doubling
 * in size_t and capping at INT_MAX cannot overflow, whatever fd is. */
static int grow(cio_loop *loop, int fd)
{
    size_t n = (size_t)loop->nfds;
    while (n <= (size_t)fd)
        n *= 2;
    if (n > INT_MAX)
        n = INT_MAX;
    struct cio__fdw *p = realloc(loop->fds, n * sizeof *p);
    if (!p)
        return -ENOMEM;
    memset(p + loop->nfds, 0, (n - (size_t)loop->nfds) * sizeof *p);
    loop->fds = p;
    loop->nfds = (int)n;
    return 0;
}

static int set_watch(cio_loop *loop, int fd, int which, cio_io_cb cb, void *arg)
{
    if (!loop || loop->closed || fd < 0 || !cb)
        return -EINVAL;
    int rc = cio__check_thread(loop, which == CIO_READABLE ? "cio_loop_add_reader" : "cio_loop_add_writer");
    if (rc)
        return rc;
    if (fd == loop->wakefd)
        return -EINVAL;
    if (fd >= loop->nfds) {
        /* A descriptor beyond the table is checked before the table grows
         * for it: fd 20,000,000, never opened, must not cost 800 MB. */
        if (fcntl(fd, F_GETFD) < 0)
            return -errno;
        if ((rc = grow(loop, fd)) != 0)
            return rc;
    }
    struct cio__fdw *w = &loop->fds[fd];
    if (w->mask & CIO__EDGE)
        return -EBUSY; /* the net layer's edge registration has it */
    int old = w->mask, nmask = old | which;
    uint32_t gen = w->gen;
    if (old == 0)
        gen = ++loop->io_gen ? loop->io_gen : ++loop->io_gen;
    if (old != nmask) {
        rc = loop->backend->update(loop, fd, gen, old, nmask);
        if (rc)
            return rc;
    }
    if (old == 0) {
        w->gen = gen;
        loop->nwatched++;
    }
    w->mask = (uint8_t)nmask;
    if (which == CIO_READABLE) {
        w->rcb = cb;
        w->rarg = arg;
    } else {
        w->wcb = cb;
        w->warg = arg;
    }
    return 0;
}

static int clear_watch(cio_loop *loop, int fd, int which)
{
    if (!loop || loop->closed || fd < 0)
        return -EINVAL;
    int rc = cio__check_thread(loop, which == CIO_READABLE ? "cio_loop_remove_reader"
                                                             : "cio_loop_remove_writer");
    if (rc)
        return rc;
    if (fd >= loop->nfds || (loop->fds[fd].mask & CIO__EDGE) || !(loop->fds[fd].mask & which))
        return -ENOENT;
    struct cio__fdw *w = &loop->fds[fd];
    int old = w->mask, nmask = old & ~which;
    /* The descriptor may already be closed: the backend then has nothing to
     * remove, which is fine; the watcher is gone either way. */
    loop->backend->update(loop, fd, w->gen, old, nmask);
    w->mask = (uint8_t)nmask;
    if (which == CIO_READABLE) {
        w->rcb = NULL;
        w->rarg = NULL;
    } else {
        w->wcb = NULL;
        w->warg = NULL;
    }
    if (nmask == 0) {
        w->gen = 0;
        loop->nwatched--;
    }
    return 0;
}

int cio_loop_add_reader(cio_loop *loop, int fd, cio_io_cb cb, void *arg)
{
    return set_watch(loop, fd, CIO_READABLE, cb, arg);
}
int cio_loop_add_writer(cio_loop *loop, int fd, cio_io_cb cb, void *arg)
{
    return set_watch(loop, fd, CIO_WRITABLE, cb, arg);
}
int cio_loop_remove_reader(cio_loop *loop, int fd) { return clear_watch(loop, fd, CIO_READABLE); }
int cio_loop_remove_writer(cio_loop *loop, int fd) { return clear_watch(loop, fd, CIO_WRITABLE); }

static void call_io(cio_loop *loop, cio_io_cb cb, int fd, int events, void *arg)
{
    if (CIO_LIKELY(!loop->debug)) {
        cb(loop, fd, events, arg);
        return;
    }
    int64_t t0 = cio__now_ns();
    cb(loop, fd, events, arg);
    int64_t dt = cio__now_ns() - t0;
    if (dt > loop->slow_ns) {
        char buf[160];
        cio_loop_report(loop, "slow I/O callback (fd %d): %s took %.3f s", fd,
                        cio__describe_fn((const void *)cb, buf, sizeof buf), (double)dt / 1e9);
    }
}

void cio__io_event(cio_loop *loop, int fd, uint32_t gen, int events)
{
    if (fd < 0 || fd >= loop->nfds)
        return;
    struct cio__fdw *w = &loop->fds[fd];
    if (w->gen != gen || gen == 0)
        return; /* stale: removed (and maybe reused) since the poll */
    if (w->mask & CIO__EDGE) {
        call_io(loop, w->rcb, fd, events, w->rarg);
        return;
    }
    if ((events & (CIO_READABLE | CIO_IOERR)) && (w->mask & CIO_READABLE)) {
        call_io(loop, w->rcb, fd, events & (CIO_READABLE | CIO_IOERR), w->rarg);
        if (fd >= loop->nfds)
            return;
        w = &loop->fds[fd]; /* the callback may have grown the table */
        if (w->gen != gen)
            return;
    }
    if ((events & (CIO_WRITABLE | CIO_IOERR)) && (w->mask & CIO_WRITABLE))
        call_io(loop, w->wcb, fd, events & (CIO_WRITABLE | CIO_IOERR), w->warg);
}

/* ---- Edge registrations (src/core.h) -------------------------------------
 * The net layer's registrations live in the same table as readers and
 * writers (a descriptor has one kind or the other), with CIO__EDGE in the
 * mask, the callback in rcb/rarg and the armed directions in the mask's
 * low bits. The generation is taken once, at cio__io_edge_add: arming and
 * disarming keep it, so an event read before a disarm still reaches the
 * owner (who wants to know about every edge), and only an event of a
 * registration since removed is dropped. An armed registration counts in
 * nwatched (the loop's live work); an unarmed one is kept quietly. */

int cio__io_edge_add(cio_loop *loop, int fd, cio_io_cb cb, void *arg)
{
    if (!loop || loop->closed || fd < 0 || !cb)
        return -EINVAL;
    int rc = cio__check_thread(loop, "cio__io_edge_add");
    if (rc)
        return rc;
    if (fd == loop->wakefd)
        return -EINVAL;
    if (fd >= loop->nfds) {
        if (fcntl(fd, F_GETFD) < 0)
            return -errno;
        if ((rc = grow(loop, fd)) != 0)
            return rc;
    }
    struct cio__fdw *w = &loop->fds[fd];
    if (w->mask)
        return -EBUSY; /* a reader, a writer or another edge registration */
    uint32_t gen = ++loop->io_gen ? loop->io_gen : ++loop->io_gen;
    rc = loop->backend->update(loop, fd, gen, 0, CIO__EDGE);
    if (rc)
        return rc;
    w->gen = gen;
    w->mask = CIO__EDGE;
    w->rcb = cb;
    w->rarg = arg;
    w->wcb = NULL;
    w->warg = NULL;
    return 0;
}

int cio__io_edge_arm(cio_loop *loop, int fd, int armed)
{
    if (CIO_UNLIKELY(!loop || fd < 0 || fd >= loop->nfds))
        return -ENOENT;
    struct cio__fdw *w = &loop->fds[fd];
    int old = w->mask, nmask = CIO__EDGE | (armed & (CIO_READABLE | CIO_WRITABLE));
    if (CIO_UNLIKELY(!(old & CIO__EDGE)))
        return -ENOENT;
    if (old == nmask)
        return 0;
    /* epoll: nothing to do; poll: the set entry changes, no system call. */
    int rc = loop->backend->update(loop, fd, w->gen, old, nmask);
    if (CIO_UNLIKELY(rc))
        return rc;
    if (old == CIO__EDGE)
        loop->nwatched++;
    else if (nmask == CIO__EDGE)
        loop->nwatched--;
    w->mask = (uint8_t)nmask;
    return 0;
}

int cio__io_edge_del(cio_loop *loop, int fd)
{
    if (!loop || loop->closed || fd < 0)
        return -EINVAL;
    if (fd >= loop->nfds || !(loop->fds[fd].mask & CIO__EDGE))
        return -ENOENT;
    struct cio__fdw *w = &loop->fds[fd];
    /* The descriptor may be closed already (the backend then has nothing
     * to remove, or the file lives on in a duplicate and its stale events
     * are dropped by the generation below). */
    loop->backend->update(loop, fd, w->gen, w->mask, 0);
    if (w->mask != CIO__EDGE)
        loop->nwatched--;
    w->mask = 0;
    w->gen = 0;
    w->rcb = NULL;
    w->rarg = NULL;
    return 0;
}
