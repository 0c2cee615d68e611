/* The portable poll(2) backend. It keeps a dense pollfd array (the wakeup
 * descriptor first) and a map from descriptor to array position, so a change
 * is O(1); removal swaps the last entry into the hole. Results are copied out
 * before any callback runs, because callbacks change the array. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct poll_event {
    int fd;
    uint32_t gen;
    int events;
};

struct poll_state {
    struct pollfd *pfds;
    uint32_t *gens;
    int n, cap;
    int *pos; /* fd -> index in pfds, -1 if absent */
    int npos;
    struct poll_event *out;
    int outcap;
};

static int ps_reserve(struct poll_state *st, int need)
{
    if (need <= st->cap)
        return 0;
    int ncap = st->cap ? st->cap : 16;
    while (ncap < need)
        ncap *= 2;
    struct pollfd *p = realloc(st->pfds, (size_t)ncap * sizeof *p);
    if (!p)
        return -ENOMEM;
    st->pfds = p;
    uint32_t *g = realloc(st->gens, (size_t)ncap * sizeof *g);
    if (!g)
        return -ENOMEM;
    st->gens = g;
    struct poll_event *o = realloc(st->out, (size_t)ncap * sizeof *o);
    if (!o)
        return -ENOMEM;
    st->out = o;
    st->cap = st->outcap = ncap;
    return 0;
}

static int pl_init(cio_loop *loop)
{
    struct poll_state *st = calloc(1, sizeof *st);
    if (!st || ps_reserve(st, 16)) {
        free(st);
        return -ENOMEM;
    }
    st->pfds[0] = (struct pollfd){.fd = loop->wakefd, .events = POLLIN};
    st->gens[0] = 0;
    st->n = 1;
    loop->bdata = st;
    return 0;
}

static void pl_free(cio_loop *loop)
{
    struct poll_state *st = loop->bdata;
    if (!st)
        return;
    free(st->pfds);
    free(st->gens);
    free(st->pos);
    free(st->out);
    free(st);
    loop->bdata = NULL;
}

/* Removes entry i (descriptor pfds[i].fd) from the set: the last entry
 * takes its place, so removal is O(1) and the set stays dense. */
static void remove_at(struct poll_state *st, int i)
{
    int fd = st->pfds[i].fd, last = st->n - 1;
    if (i != last) {
        st->pfds[i] = st->pfds[last];
        st->gens[i] = st->gens[last];
        st->pos[st->pfds[i].fd] = i;
    }
    st->n--;
    st->pos[fd] = -1;
}

static int pl_update(cio_loop *loop, int fd, uint32_t gen, int old_mask, int new_mask)
{
    struct poll_state *st = loop->bdata;
    int i = fd < st->npos ? st->pos[fd] : -1;
    /* The directions to watch: a reader's and writer's, or an edge
     * registration's armed ones (level-triggered here; see CIO__EDGE). */
    int dirs = new_mask & (CIO_READABLE | CIO_WRITABLE);
    if (new_mask == 0 || dirs == 0) {
        if (i >= 0)
            remove_at(st, i);
        if (new_mask == 0 || (old_mask & CIO__EDGE))
            return 0;
    }
    if (i < 0 && !(old_mask & CIO__EDGE)) {
        /* poll(2) reports a bad descriptor only as POLLNVAL later; refuse
         * it now, as epoll_ctl does, and before the map grows for it. An
         * edge registration is checked once, when added: arming it again
         * costs no system call. */
        loop->io_ctl_calls++;
        if (fcntl(fd, F_GETFD) < 0)
            return -errno;
    }
    if (dirs == 0)
        return 0; /* an edge registration added with nothing armed */
    if (fd >= st->npos) {
        /* Doubling in size_t, capped at INT_MAX: no overflow for any fd. */
        size_t n = st->npos ? (size_t)st->npos : 64;
        while (n <= (size_t)fd)
            n *= 2;
        if (n > INT_MAX)
            n = INT_MAX;
        int *p = realloc(st->pos, n * sizeof *p);
        if (!p)
            return -ENOMEM;
        for (size_t k = (size_t)st->npos; k < n; k++)
            p[k] = -1;
        st->pos = p;
        st->npos = (int)n;
    }
    short ev = (short)(((dirs & CIO_READABLE) ? POLLIN : 0) | ((dirs & CIO_WRITABLE) ? POLLOUT : 0));
    if (i < 0) {
        if (ps_reserve(st, st->n + 1))
            return -ENOMEM;
        i = st->n++;
        st->pos[fd] = i;
        st->pfds[i].fd = fd;
    }
    st->pfds[i].events = ev;
    st->pfds[i].revents = 0;
    st->gens[i] = gen;
    return 0;
}

/* Descriptors closed while watched: poll(2) reports each as POLLNVAL at
 * once, every time, so a blocking poll would return immediately forever and
 * the loop would spin at 100% of a core. They are dropped from the set, as
 * epoll drops a closed descriptor by itself; the watcher stays until removed
 * (so the loop stays alive, as with epoll) but can never fire, and the
 * mistake is reported. Walks downwards, so the entry swapped into a hole
 * has already been looked at. */
static void drop_invalid(cio_loop *loop, struct poll_state *st)
{
    for (int i = st->n - 1; i >= 1; i--) {
        if (!(st->pfds[i].revents & POLLNVAL))
            continue;
        int fd = st->pfds[i].fd;
        if (fd < loop->nfds && (loop->fds[fd].mask & CIO__EDGE))
            cio_loop_report(loop, "fd %d was closed while a task or callback waited on it; "
                                  "close it with cio_fd_close (or forget it) before close(2)",
                            fd);
        else
            cio_loop_report(loop, "fd %d was closed while watched; its reader or writer can "
                                  "never run again: remove them before close(2)", fd);
        remove_at(st, i);
    }
}

static int pl_poll(cio_loop *loop, int timeout_ms)
{
    struct poll_state *st = loop->bdata;
    int r = poll(st->pfds, (nfds_t)st->n, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    if (r == 0)
        return 0;
    int nout = 0;
    bool wake = false, invalid = false;
    for (int i = 0, seen = 0; i < st->n && seen < r; i++) {
        short re = st->pfds[i].revents;
        if (!re)
            continue;
        seen++;
        if (i == 0) {
            wake = true;
            continue;
        }
        if (re & POLLNVAL) {
            invalid = true; /* closed while watched: nothing to deliver... */
            int fd = st->pfds[i].fd;
            /* ...except to an edge registration's owner, whose waiting
             * task would otherwise wait forever: it gets an error event,
             * and its next system call the EBADF. */
            if (fd < loop->nfds && (loop->fds[fd].mask & CIO__EDGE))
                st->out[nout++] = (struct poll_event){fd, st->gens[i],
                                                      CIO_IOERR | CIO_READABLE | CIO_WRITABLE};
            continue;
        }
        int events = ((re & POLLIN) ? CIO_READABLE : 0) | ((re & POLLOUT) ? CIO_WRITABLE : 0) |
                     ((re & (POLLERR | POLLHUP)) ? CIO_IOERR : 0);
        if (re & POLLHUP)
            events |= CIO_READABLE;
        st->out[nout++] = (struct poll_event){st->pfds[i].fd, st->gens[i], events};
    }
    if (invalid)
        drop_invalid(loop, st);
    if (wake)
        cio__wakeup_drain(loop);
    /* Copy out, because callbacks may grow (reallocate) st->out. */
    for (int k = 0; k < nout; k++) {
        struct poll_event e = st->out[k];
        cio__io_event(loop, e.fd, e.gen, e.events);
        st = loop->bdata;
    }
    return r;
}

const struct cio__backend cio__backend_poll = {
    .name = "poll",
    .init = pl_init,
    .free = pl_free,
    .update = pl_update,
    .poll = pl_poll,
    .submit = NULL,
};
