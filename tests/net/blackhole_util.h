/* Loopback peers for the connect-by-name tests: listeners, and BLACKHOLES.
 *
 * A blackhole is a loopback listener made with listen(fd, 0) whose accept
 * queue the test fills with connections that complete (it never accepts
 * them), until the kernel says the queue is full (TCP_INFO of a listener:
 * tcpi_unacked is the queue's length, tcpi_sacked its limit). SYNs to a
 * full accept queue are dropped, so a connect to it stays in progress: the
 * same as a host that does not answer, on loopback. Include after test.h. */
#ifndef CIO_TEST_NET_BLACKHOLE_H
#define CIO_TEST_NET_BLACKHOLE_H

#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cio.h>

/* A listening socket on ip:port (port 0: any free one), IPv6 only for an
 * IPv6 address, with the backlog given; *addr receives its address.
 * Returns the descriptor, or -errno (EADDRINUSE when port is taken). */
static int listen_on(const char *ip, uint16_t port, int backlog, cio_addr *addr)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip(ip, port, &a));
    int fd = socket(a.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    int one = 1;
    if (a.u.sa.sa_family == AF_INET6)
        EXPECT_EQ(0, setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    if (bind(fd, &a.u.sa, a.len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    EXPECT_EQ(0, listen(fd, backlog));
    EXPECT_OK(cio_socket_local(fd, addr));
    return fd;
}

#define BH_FILL_MAX 16

struct blackhole {
    int lfd;
    int fill[BH_FILL_MAX];
    int nfill;
    cio_addr addr;
};

/* The listener's accept queue: its length and its limit. */
static void queue_of(int lfd, unsigned *len, unsigned *max)
{
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    memset(&ti, 0, sizeof ti);
    EXPECT_EQ(0, getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &tl));
    *len = ti.tcpi_unacked;
    *max = ti.tcpi_sacked;
}

/* Makes ip:port a blackhole (port 0: any). Returns false if the port is
 * taken. */
static bool blackhole_open(struct blackhole *b, const char *ip, uint16_t port)
{
    memset(b, 0, sizeof *b);
    b->lfd = listen_on(ip, port, 0, &b->addr);
    if (b->lfd == -EADDRINUSE)
        return false;
    EXPECT_TRUE(b->lfd >= 0);
    for (;;) {
        unsigned len, max;
        queue_of(b->lfd, &len, &max);
        if (len > max)
            return true; /* full: the kernel drops the next SYN */
        if (b->nfill == BH_FILL_MAX)
            FAIL("the accept queue of %s never filled", ip);
        int c = socket(b->addr.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        EXPECT_TRUE(c >= 0);
        b->fill[b->nfill++] = c;
        int r = connect(c, &b->addr.u.sa, b->addr.len);
        EXPECT_TRUE(r == 0 || errno == EINPROGRESS);
        /* Until this one is in the queue (a generous bound against a hang;
         * the loop above notices a full queue either way). */
        struct pollfd p = {.fd = c, .events = POLLOUT};
        if (poll(&p, 1, 10000) != 1)
            return true; /* it stays in progress: the queue is full */
    }
}

static void blackhole_close(struct blackhole *b)
{
    for (int i = 0; i < b->nfill; i++)
        close(b->fill[i]);
    close(b->lfd);
}

/* The blackhole still holds only the test's own connections. */
static void blackhole_untouched(const struct blackhole *b)
{
    unsigned len, max;
    queue_of(b->lfd, &len, &max);
    EXPECT_TRUE(len <= (unsigned)b->nfill);
}

#endif
