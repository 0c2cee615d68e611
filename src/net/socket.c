/* Sockets: listen, accept, connect, pairs, local and peer addresses, and
 * the helpers servers and streams share (cio__sock_*). Every socket made
 * here is non-blocking and close-on-exec; TCP sockets get TCP_NODELAY
 * unless the options ask for Nagle. (Descriptor passing, cio_socket_send_fds
 * and cio_socket_recv_fds, lives with the datagram code.) */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/opts.h"
#include "internal.h"

#define DEFAULT_BACKLOG 511

static bool is_ip(int family) { return family == AF_INET || family == AF_INET6; }

/* The caller's options over the defaults, checked. */
static int read_opts(const cio_socket_options *opts, cio_socket_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    int rc = cio__opts_copy(o, sizeof *o, opts);
    if (rc)
        return rc;
    if (o->backlog < 0 || o->keepalive_idle < 0 || o->keepalive_interval < 0 ||
        o->keepalive_count < 0)
        return -EINVAL;
    if (o->local && cio_addr_family(o->local) == AF_UNSPEC)
        return -EINVAL;
    return 0;
}

static bool addr_ok(const cio_addr *a)
{
    sa_family_t f = cio_addr_family(a);
    return (f == AF_INET || f == AF_INET6 || f == AF_UNIX) && a->len <= sizeof a->u;
}

int cio__sock_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static int setopt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : -errno;
}

int cio__sock_apply(int fd, int family, const cio_socket_options *o)
{
    if (!is_ip(family))
        return 0; /* Unix sockets have neither Nagle nor keep-alive probes */
    int rc;
    if (!(o && o->nagle) && (rc = setopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)) != 0)
        return rc;
    if (o && o->keepalive) {
        if ((rc = setopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) != 0)
            return rc;
        if (o->keepalive_idle > 0 &&
            (rc = setopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, o->keepalive_idle)) != 0)
            return rc;
        if (o->keepalive_interval > 0 &&
            (rc = setopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, o->keepalive_interval)) != 0)
            return rc;
        if (o->keepalive_count > 0 &&
            (rc = setopt(fd, IPPROTO_TCP, TCP_KEEPCNT, o->keepalive_count)) != 0)
            return rc;
    }
    return 0;
}

int cio__sock_accept(int lfd, const cio_socket_options *o, cio_addr *peer)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd;
    do
        fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    int rc = o ? cio__sock_apply(fd, ss.ss_family, o) : 0;
    if (rc == 0 && peer) {
        /* A Unix client that did not bind has no name: an empty address. */
        if (cio_addr_from_sockaddr((struct sockaddr *)&ss, sl, peer) != 0) {
            memset(peer, 0, sizeof *peer);
            if (ss.ss_family == AF_UNIX) {
                peer->u.un.sun_family = AF_UNIX;
                peer->len = offsetof(struct sockaddr_un, sun_path);
            }
        }
    }
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int cio_socket_listen(const cio_addr *addr, const cio_socket_options *opts, int *fd)
{
    if (!addr_ok(addr) || !fd)
        return -EINVAL;
    cio_socket_options o;
    int rc = read_opts(opts, &o);
    if (rc)
        return rc;
    cio__net_init_process();
    int family = addr->u.sa.sa_family;
    int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (is_ip(family)) {
        if ((rc = setopt(s, SOL_SOCKET, SO_REUSEADDR, 1)) != 0)
            goto fail;
        if (o.reuseport && (rc = setopt(s, SOL_SOCKET, SO_REUSEPORT, 1)) != 0)
            goto fail;
        if (family == AF_INET6 && (rc = setopt(s, IPPROTO_IPV6, IPV6_V6ONLY, o.v6only)) != 0)
            goto fail;
        /* Accepted sockets inherit TCP_NODELAY and the keep-alive settings
         * from the listener on Linux; cio__sock_accept applies them too. */
        if ((rc = cio__sock_apply(s, family, &o)) != 0)
            goto fail;
    } else if (o.unlink && addr->len > offsetof(struct sockaddr_un, sun_path) &&
               addr->u.un.sun_path[0] != 0) {
        /* A stale socket file from an earlier run: remove it, but only a
         * socket, never another kind of file that happens to be there. */
        struct stat st;
        if (lstat(addr->u.un.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(addr->u.un.sun_path);
    }
    if (bind(s, &addr->u.sa, addr->len) != 0 ||
        listen(s, o.backlog ? o.backlog : DEFAULT_BACKLOG) != 0) {
        rc = -errno;
        goto fail;
    }
    *fd = s;
    return 0;
fail:
    close(s);
    return rc;
}

struct accept_arg {
    cio_addr *peer;
};

static ssize_t do_accept(int lfd, void *arg)
{
    static const cio_socket_options defaults = CIO_SOCKET_OPTIONS_INIT;
    struct accept_arg *a = arg;
    /* lfd may be any listener: TCP_NODELAY is set on what it accepts. */
    return cio__sock_accept(lfd, &defaults, a->peer);
}

int cio_socket_accept(int lfd, int *fd, cio_addr *peer)
{
    if (lfd < 0 || !fd)
        return -EINVAL;
    struct accept_arg a = {peer};
    ssize_t rc = cio__fd_io(lfd, CIO_READABLE, do_accept, &a);
    if (rc < 0)
        return (int)rc;
    *fd = (int)rc;
    return 0;
}

/* Waits for a non-blocking connect on s (a new socket of the running loop)
 * to finish, through a registration of its own (one ADD, one DEL). */
static int connect_wait(void *arg)
{
    int s = *(int *)arg;
    struct cio__nfd n;
    memset(&n, 0, sizeof n);
    int rc = cio__nfd_open(&n, cio__running_loop(), s);
    if (rc)
        return rc;
    rc = cio__nfd_wait(&n, CIO_WRITABLE);
    cio__nfd_close(&n);
    return rc;
}

int cio__sock_open(const cio_addr *addr, const cio_socket_options *opts, int *fd)
{
    if (!addr_ok(addr) || !fd)
        return -EINVAL;
    cio_socket_options o;
    int rc = read_opts(opts, &o);
    if (rc)
        return rc;
    int family = addr->u.sa.sa_family;
    if (o.local && cio_addr_family(o.local) != family)
        return -EINVAL;
    cio__net_init_process();
    int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if ((rc = cio__sock_apply(s, family, &o)) != 0)
        goto fail;
    if (o.local && bind(s, &o.local->u.sa, o.local->len) != 0) {
        rc = -errno;
        goto fail;
    }
    *fd = s;
    return 0;
fail:
    close(s);
    return rc;
}

int cio__sock_connect(int s, const cio_addr *addr, int (*wait)(void *arg), void *arg)
{
    /* A Unix listener whose backlog is full refuses a non-blocking
     * connect with EAGAIN (there is no connection in progress to wait
     * for): retry after a pause growing from 1 ms to 100 ms, until the
     * task's deadline or cancellation ends it. */
    double pause = 0.001;
    int rc;
    for (;;) {
        if (connect(s, &addr->u.sa, addr->len) == 0)
            return 0;
        int e = errno;
        if (e == EINPROGRESS || e == EINTR)
            break;
        if (e == EAGAIN && addr->u.sa.sa_family == AF_UNIX) {
            if ((rc = cio_sleep(pause)) != 0)
                return rc;
            pause = pause * 2 > 0.1 ? 0.1 : pause * 2;
            continue;
        }
        return -e;
    }
    if ((rc = wait ? wait(arg) : connect_wait(&s)) != 0)
        return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

int cio_socket_connect(const cio_addr *addr, const cio_socket_options *opts, int *fd)
{
    if (!addr_ok(addr) || !fd)
        return -EINVAL;
    cio_socket_options o;
    int rc = read_opts(opts, &o);
    if (rc)
        return rc;
    if (!cio_current_task())
        return -EPERM;
    int s;
    if ((rc = cio__sock_open(addr, opts, &s)) != 0)
        return rc;
    if ((rc = cio__sock_connect(s, addr, NULL, NULL)) != 0) {
        close(s);
        return rc;
    }
    *fd = s;
    return 0;
}

int cio_socket_pair(int type, int fds[2])
{
    if (!fds || (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET))
        return -EINVAL;
    cio__net_init_process();
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return -errno;
    return 0;
}

static int name_of(int fd, cio_addr *out, bool peer)
{
    if (!out)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                  : getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (rc != 0)
        return -errno;
    if (ss.ss_family == AF_UNIX && sl <= offsetof(struct sockaddr_un, sun_path)) {
        /* Unnamed. */
        memset(out, 0, sizeof *out);
        out->u.un.sun_family = AF_UNIX;
        out->len = offsetof(struct sockaddr_un, sun_path);
        return 0;
    }
    rc = cio_addr_from_sockaddr((struct sockaddr *)&ss, sl, out);
    return rc == -EINVAL ? -EAFNOSUPPORT : rc;
}

int cio_socket_local(int fd, cio_addr *out) { return name_of(fd, out, false); }
int cio_socket_peer(int fd, cio_addr *out) { return name_of(fd, out, true); }
