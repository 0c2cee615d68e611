/* UDP and Unix datagram sockets: cio_udp_*.
 *
 * A cio_udp is a non-blocking SOCK_DGRAM socket with one edge registration
 * (struct cio__nfd, embedded) kept for its whole life. Tasks use it the
 * edge-triggered way: the system call first, and only on EAGAIN clear the
 * direction's ready bit and wait (cio__nfd_wait). The callback receiver
 * (cio_udp_set_receiver) is the nfd's on_event owner: every readable edge
 * drains the socket with recvmmsg.
 *
 * Where batching pays. A system call costs about as much as copying a few
 * kilobytes, so for small datagrams the call, not the copy, is the price.
 * recvmmsg takes every datagram queued at once: it pays when datagrams
 * arrive faster than the loop wakes up (a burst, a busy server), where one
 * call replaces up to UDP_RX_SLOTS; when they trickle in one per wakeup it
 * returns one and costs what recvfrom would. So the callback receiver,
 * which sees bursts, always batches; cio_udp_recv, which has room for one
 * datagram, uses recvfrom; cio_udp_recv_many and cio_udp_send_many give
 * the caller the batch (UDP_BATCH messages per system call). sendmmsg pays
 * whenever the program has several datagrams ready at once, which only it
 * knows: cio_udp_send stays one sendto.
 *
 * Lifetime. cio_udp_close closes the descriptor at once; the memory is
 * freed when no task is inside a call on the socket and no receiver drain
 * runs (`busy`), so a task woken by the close (-EBADF) or a receiver
 * callback that closes its own socket never touches freed memory. */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/opts.h"
#include "internal.h"

enum {
    /* Messages per recvmmsg/sendmmsg of the task calls (the header arrays
     * live on the task's stack: 16 * 80 bytes). */
    UDP_BATCH = 16,
    /* The receiver's batch: UDP_RX_SLOTS slots of UDP_RX_SLOT bytes, which
     * holds the largest UDP datagram (65,507 bytes over IPv4, 65,527 over
     * IPv6). A Unix datagram may be as large as the sender's SO_SNDBUF
     * (208 KiB by default), so Unix sockets get fewer, larger slots. The
     * buffer is mapped, not malloc'd: only the pages datagrams touch cost
     * memory, so small datagrams cost one page per slot. */
    UDP_RX_SLOTS = 16,
    UDP_RX_SLOT = 64 * 1024,
    UDP_RX_SLOTS_UNIX = 4,
    UDP_RX_SLOT_UNIX = 256 * 1024,
    /* Batches one readable edge drains before the receiver lets the loop
     * run other work (a zero-delay timer resumes it): a flood on one
     * socket cannot starve the loop. */
    UDP_RX_ROUNDS = 4,
};

/* The callback receiver's batch: what one recvmmsg filled, delivered from
 * pos to count. Datagrams read but not yet delivered when the receiver
 * stops stay here and come first for the next receiver or cio_udp_recv. */
struct udp_rx {
    char *mem; /* nslots * slot bytes, mapped */
    size_t slot;
    unsigned nslots;
    unsigned pos, count;
    struct mmsghdr *hdr;
    struct iovec *iov;
    struct sockaddr_storage *names;
};

struct cio_udp {
    struct cio__nfd nfd; /* first: the nfd's owner pointer is u anyway */
    cio_loop *loop;
    int fd;
    int family;
    bool closed;
    bool draining;       /* the receiver's drain is on the stack */
    unsigned busy;       /* tasks inside a call, plus a running drain */
    cio_udp_cb cb;
    void *cb_arg;
    struct udp_rx *rx;
    cio_handle resume;   /* the zero-delay timer that resumes a drain; 0: none */
};

/* ---- Lifetime ------------------------------------------------------------ */

static void udp_rx_free(struct udp_rx *rx)
{
    if (!rx)
        return;
    if (rx->mem)
        munmap(rx->mem, rx->slot * rx->nslots);
    free(rx);
}

static void udp_free(cio_udp *u)
{
    udp_rx_free(u->rx);
    free(u);
}

/* Leaves a call (or a drain): frees a socket closed meanwhile. */
static void udp_leave(cio_udp *u)
{
    if (--u->busy == 0 && u->closed)
        udp_free(u);
}

/* Frees the receiver's buffer once nothing uses it: no receiver and no
 * datagram left in it. */
static void udp_rx_trim(cio_udp *u)
{
    if (u->rx && !u->cb && !u->draining && u->rx->pos == u->rx->count) {
        udp_rx_free(u->rx);
        u->rx = NULL;
    }
}

int cio_udp_close(cio_udp *u)
{
    if (!u || u->closed)
        return -EINVAL;
    u->closed = true;
    u->cb = NULL;
    if (u->resume) {
        cio_timer_cancel(u->loop, u->resume);
        u->resume = 0;
    }
    /* Deregister first (a waiting task gets -EBADF), then close: the
     * descriptor number may be reused at once. */
    cio__nfd_close(&u->nfd);
    close(u->fd);
    u->fd = -1;
    if (u->busy == 0)
        udp_free(u);
    return 0;
}

/* ---- Addresses ------------------------------------------------------------ */

static bool udp_family_ok(int family)
{
    return family == AF_INET || family == AF_INET6 || family == AF_UNIX;
}

/* An address the caller passes in: NULL or len 0 is "none" (0), else its
 * family, or -EINVAL for one no socket call could take. */
static int udp_addr_family(const cio_addr *a)
{
    if (!a || a->len == 0)
        return 0;
    if (a->len > sizeof a->u.storage || a->len < sizeof(sa_family_t) ||
        !udp_family_ok(a->u.sa.sa_family))
        return -EINVAL;
    return a->u.sa.sa_family;
}

/* Fills *out from a sender address the kernel wrote into `name`. IP
 * addresses are copied as they are; Unix ones go through
 * cio_addr_from_sockaddr, which knows the form cio_addr_unix makes (so
 * cio_addr_is_equal works on them). An unnamed sender is the empty
 * address (len 0, AF_UNSPEC). */
static void udp_sender(cio_addr *out, const void *name, socklen_t len)
{
    const struct sockaddr *sa = name;
    if (len > sizeof(sa_family_t) && len <= sizeof out->u.storage &&
        (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
        if (name != &out->u)
            memcpy(&out->u, name, len);
        out->len = len;
        return;
    }
    if (len > offsetof(struct sockaddr_un, sun_path) && sa->sa_family == AF_UNIX) {
        struct sockaddr_storage copy;
        memcpy(&copy, name, len);
        if (cio_addr_from_sockaddr((const struct sockaddr *)&copy, len, out) == 0)
            return;
    }
    memset(out, 0, sizeof *out);
    out->u.sa.sa_family = AF_UNSPEC;
}

/* ---- Creating ------------------------------------------------------------- */

static int udp_setopt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : -errno;
}

static void udp_on_event(struct cio__nfd *n, int events);

int cio_udp_new(const cio_addr *local, const cio_udp_options *opts, cio_udp **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cio_udp_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    int lf = udp_addr_family(local), rf = udp_addr_family(o.remote);
    if (lf < 0 || rf < 0 || (lf && rf && lf != rf))
        return -EINVAL;
    if (o.family && (!udp_family_ok(o.family) || (lf && o.family != lf) ||
                     (rf && o.family != rf)))
        return -EINVAL;
    int family = lf ? lf : rf ? rf : o.family ? o.family : AF_INET;
    cio_loop *loop = cio__running_loop();
    if (!loop)
        return -EPERM;
    cio__net_init_process();

    cio_udp *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    u->loop = loop;
    u->family = family;
    u->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        rc = -errno;
        free(u);
        return rc;
    }
    if (o.reuseaddr)
        rc = udp_setopt(u->fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!rc && o.reuseport)
        rc = udp_setopt(u->fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (!rc && o.broadcast)
        rc = udp_setopt(u->fd, SOL_SOCKET, SO_BROADCAST, 1);
    if (!rc && lf && bind(u->fd, &local->u.sa, local->len) != 0)
        rc = -errno;
    if (!rc && rf && connect(u->fd, &o.remote->u.sa, o.remote->len) != 0)
        rc = -errno;
    if (!rc)
        rc = cio__nfd_open(&u->nfd, loop, u->fd);
    if (rc) {
        close(u->fd);
        free(u);
        return rc;
    }
    /* on_event is set only while a receiver is: until then the nfd is
     * task-owned, armed exactly for the directions tasks wait for, so an
     * idle socket is not the loop's live work. */
    u->nfd.owner = u;
    *out = u;
    return 0;
}

/* ---- Sending -------------------------------------------------------------- */

/* The checks every send makes; 0 or -EINVAL. */
static int udp_check_send(const cio_udp *u, const void *buf, size_t len, const cio_addr *to)
{
    if (!u || u->closed || (!buf && len) || udp_addr_family(to) < 0)
        return -EINVAL;
    return 0;
}

static ssize_t udp_sendto(cio_udp *u, const void *buf, size_t len, const cio_addr *to)
{
    bool addr = to && to->len;
    ssize_t n = sendto(u->fd, buf, len, MSG_NOSIGNAL, addr ? &to->u.sa : NULL, addr ? to->len : 0);
    return n >= 0 ? n : -errno;
}

ssize_t cio_udp_send_nowait(cio_udp *u, const void *buf, size_t len, const cio_addr *to)
{
    int rc = udp_check_send(u, buf, len, to);
    if (rc)
        return rc;
    ssize_t n;
    do
        n = udp_sendto(u, buf, len, to);
    while (n == -EINTR);
    if (n == -EAGAIN)
        cio__nfd_clear(&u->nfd, CIO_WRITABLE);
    return n;
}

/* Waits for `dir` after an EAGAIN. 0, or the error to return: the wait's,
 * or -EBADF if the socket was closed meanwhile. */
static int udp_wait(cio_udp *u, int dir)
{
    cio__nfd_clear(&u->nfd, dir);
    int rc = cio__nfd_wait(&u->nfd, dir);
    if (u->closed) /* u's memory lives on while busy; the nfd is closed */
        return -EBADF;
    /* A callback owner's arming is its own to keep: a task that waited to
     * send while a receiver runs leaves WRITABLE armed, which a
     * level-triggered backend (poll) would report on every iteration. */
    if (u->cb)
        cio__nfd_arm(&u->nfd, CIO_READABLE);
    return rc;
}

ssize_t cio_udp_send(cio_udp *u, const void *buf, size_t len, const cio_addr *to)
{
    int rc = udp_check_send(u, buf, len, to);
    if (rc)
        return rc;
    if (!cio_current_task())
        return -EPERM;
    u->busy++;
    ssize_t n;
    for (;;) {
        n = udp_sendto(u, buf, len, to);
        if (n >= 0 || (n != -EAGAIN && n != -EINTR))
            break;
        if (n == -EAGAIN && (rc = udp_wait(u, CIO_WRITABLE)) != 0) {
            n = rc;
            break;
        }
    }
    udp_leave(u);
    return n;
}

int cio_udp_send_many(cio_udp *u, const cio_datagram *msgs, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (!u || u->closed || (!msgs && n))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((!msgs[i].data && msgs[i].len) || udp_addr_family(&msgs[i].addr) < 0)
            return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    u->busy++;
    size_t sent = 0;
    int rc = 0;
    struct mmsghdr h[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    while (sent < n) {
        unsigned k = n - sent < UDP_BATCH ? (unsigned)(n - sent) : UDP_BATCH;
        for (unsigned i = 0; i < k; i++) {
            const cio_datagram *d = &msgs[sent + i];
            iov[i] = (struct iovec){d->data, d->len};
            h[i] = (struct mmsghdr){.msg_hdr = {
                                        .msg_name = d->addr.len ? (void *)&d->addr.u : NULL,
                                        .msg_namelen = d->addr.len,
                                        .msg_iov = &iov[i],
                                        .msg_iovlen = 1,
                                    }};
        }
        /* A failure after the first message is not reported by sendmmsg
         * (it returns the count): the next round starts at that message
         * and gets its error. */
        int r = sendmmsg(u->fd, h, k, MSG_NOSIGNAL);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        if (r == 0 || errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            rc = -errno;
            break;
        }
        if ((rc = udp_wait(u, CIO_WRITABLE)) != 0)
            break;
    }
    if (done)
        *done = sent;
    udp_leave(u);
    return rc;
}

/* ---- Receiving from tasks -------------------------------------------------- */

/* Takes the next datagram the receiver read but did not deliver, if any:
 * its bytes and length (the full length; a datagram longer than the slot
 * was cut, and is reported and skipped) and sender. */
static bool udp_rx_next(cio_udp *u, const char **data, size_t *len, cio_addr *from)
{
    struct udp_rx *rx = u->rx;
    while (rx && rx->pos < rx->count) {
        unsigned i = rx->pos++;
        struct mmsghdr *m = &rx->hdr[i];
        if (m->msg_hdr.msg_flags & MSG_TRUNC) {
            cio_loop_report(u->loop, "cio_udp: a datagram of %u bytes does not fit the "
                            "receiver's %zu-byte slot: dropped", m->msg_len, rx->slot);
            continue;
        }
        *data = rx->mem + (size_t)i * rx->slot;
        *len = m->msg_len;
        if (from)
            udp_sender(from, &rx->names[i], m->msg_hdr.msg_namelen);
        return true;
    }
    return false;
}

ssize_t cio_udp_recv(cio_udp *u, void *buf, size_t len, cio_addr *from)
{
    if (!u || u->closed || (!buf && len))
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (u->cb)
        return -EBUSY;
    const char *data;
    size_t dlen;
    if (udp_rx_next(u, &data, &dlen, from)) {
        memcpy(buf, data, dlen < len ? dlen : len);
        udp_rx_trim(u);
        return (ssize_t)dlen;
    }
    u->busy++;
    ssize_t n;
    for (;;) {
        socklen_t sl = sizeof from->u.storage;
        /* MSG_TRUNC: the datagram's full length, not what was copied. */
        n = recvfrom(u->fd, buf, len, MSG_TRUNC, from ? &from->u.sa : NULL, from ? &sl : NULL);
        if (n >= 0) {
            if (from)
                udp_sender(from, &from->u, sl);
            break;
        }
        n = -errno;
        if (n == -EINTR)
            continue;
        if (n != -EAGAIN)
            break;
        int rc = udp_wait(u, CIO_READABLE);
        if (rc) {
            n = rc;
            break;
        }
        if (u->cb) { /* a receiver was set while this task waited */
            n = -EBUSY;
            break;
        }
    }
    udp_leave(u);
    return n;
}

int cio_udp_recv_many(cio_udp *u, cio_datagram *msgs, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (!u || u->closed || !msgs || !n || !done)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].data && msgs[i].len)
            return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (u->cb)
        return -EBUSY;
    size_t got = 0;
    const char *data;
    size_t dlen;
    while (got < n && udp_rx_next(u, &data, &dlen, &msgs[got].addr)) {
        memcpy(msgs[got].data, data, dlen < msgs[got].len ? dlen : msgs[got].len);
        msgs[got++].len = dlen;
    }
    udp_rx_trim(u);
    u->busy++;
    int rc = 0;
    struct mmsghdr h[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    while (got < n) {
        unsigned k = n - got < UDP_BATCH ? (unsigned)(n - got) : UDP_BATCH;
        for (unsigned i = 0; i < k; i++) {
            cio_datagram *d = &msgs[got + i];
            iov[i] = (struct iovec){d->data, d->len};
            h[i] = (struct mmsghdr){.msg_hdr = {
                                        .msg_name = &d->addr.u,
                                        .msg_namelen = sizeof d->addr.u.storage,
                                        .msg_iov = &iov[i],
                                        .msg_iovlen = 1,
                                    }};
        }
        /* MSG_TRUNC: each msg_len is the datagram's full length. */
        int r = recvmmsg(u->fd, h, k, MSG_TRUNC, NULL);
        if (r > 0) {
            for (int i = 0; i < r; i++) {
                cio_datagram *d = &msgs[got + (unsigned)i];
                d->len = h[i].msg_len;
                udp_sender(&d->addr, &d->addr.u, h[i].msg_hdr.msg_namelen);
            }
            got += (size_t)r;
            if ((unsigned)r < k)
                break; /* the queue ran dry: what arrived is all there is */
            continue;
        }
        rc = -errno;
        if (rc == -EINTR) {
            rc = 0;
            continue;
        }
        if (rc == -EAGAIN && got) {
            rc = 0;
            break;
        }
        if (rc != -EAGAIN)
            break;
        if ((rc = udp_wait(u, CIO_READABLE)) != 0)
            break;
        if (u->cb) {
            rc = -EBUSY;
            break;
        }
    }
    *done = got;
    udp_leave(u);
    return rc;
}

/* ---- The callback receiver ------------------------------------------------- */

static int udp_rx_new(cio_udp *u)
{
    unsigned n = u->family == AF_UNIX ? UDP_RX_SLOTS_UNIX : UDP_RX_SLOTS;
    size_t slot = u->family == AF_UNIX ? UDP_RX_SLOT_UNIX : UDP_RX_SLOT;
    struct udp_rx *rx = calloc(1, sizeof *rx + n * (sizeof *rx->hdr + sizeof *rx->iov +
                                                     sizeof *rx->names));
    if (!rx)
        return -ENOMEM;
    /* The names first: sockaddr_storage has the strictest alignment. */
    rx->names = (struct sockaddr_storage *)(rx + 1);
    rx->hdr = (struct mmsghdr *)(rx->names + n);
    rx->iov = (struct iovec *)(rx->hdr + n);
    rx->slot = slot;
    rx->nslots = n;
    rx->mem = mmap(NULL, slot * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rx->mem == MAP_FAILED) {
        free(rx);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        rx->iov[i] = (struct iovec){rx->mem + (size_t)i * slot, slot};
        rx->hdr[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->hdr[i].msg_hdr.msg_iovlen = 1;
        rx->hdr[i].msg_hdr.msg_name = &rx->names[i];
    }
    u->rx = rx;
    return 0;
}

static void udp_resume(void *arg);

/* Delivers what the batch holds, then reads and delivers more, up to
 * UDP_RX_ROUNDS batches; stops when the receiver stops or the socket
 * closes (undelivered datagrams stay in the batch). */
static void udp_drain(cio_udp *u)
{
    if (u->draining)
        return;
    u->draining = true;
    u->busy++;
    struct udp_rx *rx = u->rx;
    for (int round = 0;; round++) {
        const char *data;
        size_t len;
        cio_addr from;
        while (u->cb && udp_rx_next(u, &data, &len, &from))
            u->cb(u, data, len, &from, u->cb_arg);
        if (!u->cb || u->closed)
            break;
        if (round == UDP_RX_ROUNDS) {
            /* More may be queued and no new edge will say so: come back
             * after the loop ran what else is ready. */
            if (!u->resume && cio_call_later(u->loop, 0, udp_resume, u, &u->resume) != 0)
                u->resume = 0;
            break;
        }
        for (unsigned i = 0; i < rx->nslots; i++) {
            rx->hdr[i].msg_hdr.msg_namelen = sizeof rx->names[i];
            rx->hdr[i].msg_hdr.msg_flags = 0;
        }
        rx->pos = rx->count = 0;
        int r = recvmmsg(u->fd, rx->hdr, rx->nslots, 0, NULL);
        if (r < 0) {
            if (errno == EAGAIN) {
                cio__nfd_clear(&u->nfd, CIO_READABLE);
                break;
            }
            /* EINTR, or an error the socket held (ECONNREFUSED after an
             * ICMP error on a connected socket), which reading cleared:
             * the callback style has no error callback, so it is dropped
             * and the drain goes on. */
            continue;
        }
        rx->count = (unsigned)r;
        if ((unsigned)r < rx->nslots) {
            /* The queue ran dry (recvmmsg stops at EAGAIN): deliver and
             * wait for the next edge without another call. An error that
             * stopped it stays on the socket for the next read. */
            while (u->cb && udp_rx_next(u, &data, &len, &from))
                u->cb(u, data, len, &from, u->cb_arg);
            if (u->cb && !u->closed)
                cio__nfd_clear(&u->nfd, CIO_READABLE);
            break;
        }
    }
    u->draining = false;
    if (!u->closed)
        udp_rx_trim(u);
    udp_leave(u);
}

static void udp_resume(void *arg)
{
    cio_udp *u = arg;
    u->resume = 0;
    if (u->cb)
        udp_drain(u);
}

static void udp_on_event(struct cio__nfd *n, int events)
{
    cio_udp *u = n->owner;
    if ((events & (CIO_READABLE | CIO_IOERR)) && u->cb)
        udp_drain(u);
}

int cio_udp_set_receiver(cio_udp *u, cio_udp_cb cb, void *arg)
{
    if (!u || u->closed)
        return -EINVAL;
    if (!cb) {
        if (u->cb) {
            u->cb = NULL;
            u->cb_arg = NULL;
            cio__nfd_arm(&u->nfd, 0); /* keeps what waiting tasks armed */
            u->nfd.on_event = NULL;
            if (u->resume) {
                cio_timer_cancel(u->loop, u->resume);
                u->resume = 0;
            }
            udp_rx_trim(u);
        }
        return 0;
    }
    if (u->nfd.rwait)
        return -EBUSY; /* a task waits in cio_udp_recv */
    if (!u->rx) {
        int rc = udp_rx_new(u);
        if (rc)
            return rc;
    }
    u->nfd.on_event = udp_on_event;
    int rc = cio__nfd_arm(&u->nfd, CIO_READABLE);
    if (rc == 0 && !u->cb && !u->resume)
        /* Datagrams that arrived before (their edge already seen) and any
         * left in the batch: delivered on the next iteration, never from
         * inside this call. */
        rc = cio_call_later(u->loop, 0, udp_resume, u, &u->resume);
    if (rc) {
        if (!u->cb) {
            cio__nfd_arm(&u->nfd, 0);
            u->nfd.on_event = NULL;
        }
        udp_rx_trim(u);
        return rc;
    }
    u->cb = cb;
    u->cb_arg = arg;
    return 0;
}

/* ---- Options -------------------------------------------------------------- */

/* Parses a group address: its family (AF_INET/AF_INET6) or -EINVAL. */
static int udp_group(const char *group, void *addr)
{
    if (!group)
        return -EINVAL;
    if (inet_pton(AF_INET, group, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, group, addr) == 1)
        return AF_INET6;
    return -EINVAL;
}

static int udp_membership(cio_udp *u, const char *group, const char *iface, bool join)
{
    if (!u || u->closed || u->family == AF_UNIX)
        return -EINVAL;
    struct in6_addr a;
    int gf = udp_group(group, &a);
    if (gf < 0 || (gf == AF_INET6 && u->family != AF_INET6))
        return -EINVAL;
    unsigned idx = 0;
    if (iface && !(idx = if_nametoindex(iface)))
        return -errno;
    int rc;
    if (gf == AF_INET) {
        /* Also on an IPv6 socket: Linux takes the IPv4 options there, for
         * IPv4 traffic reaching a dual-stack socket. */
        struct ip_mreqn m = {.imr_ifindex = (int)idx};
        memcpy(&m.imr_multiaddr, &a, sizeof m.imr_multiaddr);
        rc = setsockopt(u->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m,
                        sizeof m);
    } else {
        struct ipv6_mreq m = {.ipv6mr_multiaddr = a, .ipv6mr_interface = idx};
        rc = setsockopt(u->fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m,
                        sizeof m);
    }
    return rc == 0 ? 0 : -errno;
}

int cio_udp_join(cio_udp *u, const char *group, const char *iface)
{
    return udp_membership(u, group, iface, true);
}

int cio_udp_leave(cio_udp *u, const char *group, const char *iface)
{
    return udp_membership(u, group, iface, false);
}

int cio_udp_set_multicast_loop(cio_udp *u, bool on)
{
    if (!u || u->closed || u->family == AF_UNIX)
        return -EINVAL;
    if (u->family == AF_INET)
        return udp_setopt(u->fd, IPPROTO_IP, IP_MULTICAST_LOOP, on);
    return udp_setopt(u->fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on);
}

int cio_udp_set_multicast_ttl(cio_udp *u, int ttl)
{
    if (!u || u->closed || u->family == AF_UNIX || ttl < 0 || ttl > 255)
        return -EINVAL;
    if (u->family == AF_INET)
        return udp_setopt(u->fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl);
    return udp_setopt(u->fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl);
}

int cio_udp_set_multicast_if(cio_udp *u, const char *iface)
{
    if (!u || u->closed || u->family == AF_UNIX)
        return -EINVAL;
    unsigned idx = 0;
    struct in_addr a4 = {htonl(INADDR_ANY)};
    if (iface && !(idx = if_nametoindex(iface))) {
        /* Not a name: an interface's IPv4 address (IPv4 sockets only). */
        if (inet_pton(AF_INET, iface, &a4) != 1)
            return -ENODEV;
        if (u->family != AF_INET)
            return -EINVAL;
    }
    int rc;
    if (u->family == AF_INET) {
        /* Index 0 and INADDR_ANY: the system's choice again. */
        struct ip_mreqn m = {.imr_address = a4, .imr_ifindex = (int)idx};
        rc = setsockopt(u->fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    } else {
        int i = (int)idx;
        rc = setsockopt(u->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &i, sizeof i);
    }
    return rc == 0 ? 0 : -errno;
}

int cio_udp_set_broadcast(cio_udp *u, bool on)
{
    if (!u || u->closed || u->family == AF_UNIX)
        return -EINVAL;
    return udp_setopt(u->fd, SOL_SOCKET, SO_BROADCAST, on);
}

/* ---- Getters -------------------------------------------------------------- */

int cio_udp_fd(const cio_udp *u)
{
    return u && !u->closed ? u->fd : -1;
}

int cio_udp_local(const cio_udp *u, cio_addr *out)
{
    if (!u || u->closed || !out)
        return -EINVAL;
    return cio_socket_local(u->fd, out);
}
