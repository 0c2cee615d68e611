/* The epoll backend (default on Linux). Level-triggered, so a callback that
 * does not drain its descriptor is called again on the next iteration, as
 * with asyncio's selectors. The event's data carries (generation, fd).
 * Edge registrations (CIO__EDGE, the net layer's) are the exception: added
 * once with EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET and never modified,
 * so arming and disarming them costs no epoll_ctl. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "internal.h"

#define MAX_EVENTS 1024

struct epoll_state {
    int epfd;
    struct epoll_event events[MAX_EVENTS];
};

static int ep_init(cio_loop *loop)
{
    struct epoll_state *st = malloc(sizeof *st);
    if (!st)
        return -ENOMEM;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        int e = errno;
        free(st);
        return -e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
        int e = errno;
        close(st->epfd);
        free(st);
        return -e;
    }
    loop->bdata = st;
    return 0;
}

static void ep_free(cio_loop *loop)
{
    struct epoll_state *st = loop->bdata;
    if (!st)
        return;
    close(st->epfd);
    free(st);
    loop->bdata = NULL;
}

static int ep_update(cio_loop *loop, int fd, uint32_t gen, int old_mask, int new_mask)
{
    struct epoll_state *st = loop->bdata;
    /* An edge registration stays as it was added, whatever is armed. */
    if ((old_mask & CIO__EDGE) && (new_mask & CIO__EDGE))
        return 0;
    struct epoll_event ev = {0};
    if (new_mask & CIO__EDGE)
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    else
        ev.events = ((new_mask & CIO_READABLE) ? EPOLLIN : 0) |
                    ((new_mask & CIO_WRITABLE) ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd;
    int op = old_mask == 0 ? EPOLL_CTL_ADD : new_mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    loop->io_ctl_calls++;
    if (epoll_ctl(st->epfd, op, fd, &ev) == 0)
        return 0;
    int e = errno;
    if (op == EPOLL_CTL_MOD && e == ENOENT) {
        /* The descriptor was closed (dropping its registration) and its
         * number reused without the watcher being removed first. */
        if (loop->debug)
            cio_loop_report(loop, "fd %d was closed while watched (its number is now reused); "
                                  "remove its reader and writer before close(2)",
                            fd);
        loop->io_ctl_calls++;
        if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
            return 0;
        e = errno;
    }
    if (op == EPOLL_CTL_ADD && e == EEXIST) {
        /* Registered through another descriptor number sharing the file
         * (dup) that was closed: take it over. */
        loop->io_ctl_calls++;
        if (epoll_ctl(st->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
            return 0;
        e = errno;
    }
    return -e;
}

static int ep_poll(cio_loop *loop, int timeout_ms)
{
    struct epoll_state *st = loop->bdata;
    int n = epoll_wait(st->epfd, st->events, MAX_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint64_t data = st->events[i].data.u64;
        uint32_t e = st->events[i].events;
        if (data == UINT64_MAX) {
            cio__wakeup_drain(loop);
            continue;
        }
        int events = ((e & EPOLLIN) ? CIO_READABLE : 0) | ((e & EPOLLOUT) ? CIO_WRITABLE : 0) |
                     ((e & (EPOLLERR | EPOLLHUP)) ? CIO_IOERR : 0);
        /* A hang-up with data still to read is readable too, and so is the
         * peer's half-close (EPOLLRDHUP, asked for by edge registrations):
         * a read then returns what is left, then 0. The half-close is also
         * CIO_IOERR, a bit a reader does not clear on a short read: the
         * end of the stream must not hide behind the last bytes' edge
         * (data and FIN seen in one edge, then a short read that counts as
         * drained would wait forever). */
        if (e & (EPOLLHUP | EPOLLRDHUP))
            events |= CIO_READABLE;
        if (e & EPOLLRDHUP)
            events |= CIO_IOERR;
        cio__io_event(loop, (int)(uint32_t)data, (uint32_t)(data >> 32), events);
    }
    return n;
}

const struct cio__backend cio__backend_epoll = {
    .name = "epoll",
    .init = ep_init,
    .free = ep_free,
    .update = ep_update,
    .poll = ep_poll,
    .submit = NULL,
};
