/* Passing descriptors over Unix sockets (SCM_RIGHTS):
 * cio_socket_send_fds, cio_socket_recv_fds.
 *
 * The socket stays the caller's: these calls neither adopt nor close it.
 * They run through cio__fd_io, as cio_fd_read and cio_fd_write do: the
 * system call first, a wait only on EAGAIN, on the descriptor's raw
 * registration, which then stays with it (no epoll_ctl and no probe per
 * wait; the socket is made non-blocking once). So a socket these calls
 * used must leave through cio_fd_close, or cio_fd_forget before the
 * program closes it or hands it to a stream. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* Control room for CIO_SOCKET_MAX_FDS descriptors (the kernel's SCM_MAX_FD,
 * the most one message carries), plus credentials should the socket have
 * SO_PASSCRED on. Receiving always offers all of it, so the kernel never
 * drops descriptors for want of room: the ones the caller has no room for
 * are closed here, and counted. */
#define FDPASS_RIGHTS_SPACE CMSG_SPACE(CIO_SOCKET_MAX_FDS * sizeof(int))
#define FDPASS_CTRL_SPACE (FDPASS_RIGHTS_SPACE + CMSG_SPACE(sizeof(struct ucred)))

union fdpass_ctrl {
    char buf[FDPASS_CTRL_SPACE];
    struct cmsghdr align;
};

static ssize_t do_sendmsg(int fd, void *arg)
{
    ssize_t n = sendmsg(fd, arg, MSG_NOSIGNAL);
    return n >= 0 ? n : -errno;
}

/* Each try offers the whole control buffer again (a failed recvmsg may
 * have changed msg_controllen). */
static ssize_t do_recvmsg(int fd, void *arg)
{
    struct msghdr *msg = arg;
    msg->msg_controllen = sizeof(union fdpass_ctrl);
    msg->msg_flags = 0;
    ssize_t n = recvmsg(fd, msg, MSG_CMSG_CLOEXEC);
    return n >= 0 ? n : -errno;
}

ssize_t cio_socket_send_fds(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
    if (fd < 0 || !buf || len == 0 || nfds > CIO_SOCKET_MAX_FDS || (nfds && !fds))
        return -EINVAL;
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] < 0)
            return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (nfds) {
        /* Other families take SCM_RIGHTS without a word and send the bytes
         * alone (UDP does): refuse rather than lose the descriptors. One
         * getsockopt per call that passes descriptors, a rare call. */
        int domain = 0;
        socklen_t dl = sizeof domain;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) != 0)
            return -errno;
        if (domain != AF_UNIX)
            return -EINVAL;
    }
    union fdpass_ctrl ctrl;
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        msg.msg_control = ctrl.buf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    return cio__fd_io(fd, CIO_WRITABLE, do_sendmsg, &msg);
}

/* Stores the descriptors of every SCM_RIGHTS message of msg: the first
 * `room` into fds, closing the rest. Returns how many arrived. */
static size_t fdpass_take(struct msghdr *msg, int *fds, size_t room, size_t *stored)
{
    size_t total = 0;
    *stored = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *p = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int d;
            memcpy(&d, p + i * sizeof d, sizeof d);
            if (*stored < room)
                fds[(*stored)++] = d;
            else
                close(d);
        }
        total += n;
    }
    return total;
}

ssize_t cio_socket_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds)
{
    if (fd < 0 || !buf || len == 0 || !nfds || (*nfds && !fds))
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    size_t room = *nfds;
    *nfds = 0;
    union fdpass_ctrl ctrl;
    struct iovec iov = {buf, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf};
    ssize_t n = cio__fd_io(fd, CIO_READABLE, do_recvmsg, &msg);
    if (n < 0)
        return n;
    size_t stored;
    size_t total = fdpass_take(&msg, fds, room, &stored);
    *nfds = stored;
    /* MSG_CTRUNC: the kernel had descriptors it could not put in the
     * control buffer (it closed them itself); with room for the most a
     * message carries that takes another control message (credentials
     * the socket asked for) in the way: a loss all the same. */
    if (total > stored || (msg.msg_flags & MSG_CTRUNC))
        return -EMSGSIZE;
    return n;
}
