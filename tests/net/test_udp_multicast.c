/* Multicast and broadcast options: each setter read back with getsockopt
 * (IPv4 and IPv6; cio_udp_set_multicast_if by name, address and NULL), joining and leaving groups on the loopback interface,
 * and a multicast round trip on loopback. The round trip runs in a network
 * namespace of its own when the test may make one (unshare of a user and a
 * network namespace, then lo brought up with MULTICAST); otherwise on the
 * host's loopback (IP_MULTICAST_IF 127.0.0.1, the group joined on lo), and
 * it says so and skips where multicast does not loop back there. */
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "net/test_udp.h"

static int getint(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    EXPECT_OK(getsockopt(fd, level, name, &v, &l));
    return v;
}

static int options4_main(void *arg, void **result)
{
    cio_udp *u = udp_bound("127.0.0.1", NULL);
    int fd = cio_udp_fd(u);
    EXPECT_OK(cio_udp_set_multicast_loop(u, false));
    EXPECT_EQ(0, getint(fd, IPPROTO_IP, IP_MULTICAST_LOOP));
    EXPECT_OK(cio_udp_set_multicast_loop(u, true));
    EXPECT_EQ(1, getint(fd, IPPROTO_IP, IP_MULTICAST_LOOP));
    EXPECT_OK(cio_udp_set_multicast_ttl(u, 7));
    EXPECT_EQ(7, getint(fd, IPPROTO_IP, IP_MULTICAST_TTL));
    EXPECT_OK(cio_udp_set_multicast_ttl(u, 0));
    EXPECT_EQ(0, getint(fd, IPPROTO_IP, IP_MULTICAST_TTL));
    EXPECT_OK(cio_udp_set_multicast_ttl(u, 255));
    EXPECT_EQ(255, getint(fd, IPPROTO_IP, IP_MULTICAST_TTL));
    EXPECT_OK(cio_udp_set_broadcast(u, true));
    EXPECT_EQ(1, getint(fd, SOL_SOCKET, SO_BROADCAST));
    EXPECT_OK(cio_udp_set_broadcast(u, false));
    EXPECT_EQ(0, getint(fd, SOL_SOCKET, SO_BROADCAST));
    /* join and leave on lo, by name and by the system's choice */
    EXPECT_OK(cio_udp_join(u, "239.255.10.1", "lo"));
    EXPECT_ERR(-EADDRINUSE, cio_udp_join(u, "239.255.10.1", "lo")); /* joined already */
    EXPECT_OK(cio_udp_leave(u, "239.255.10.1", "lo"));
    EXPECT_ERR(-EADDRNOTAVAIL, cio_udp_leave(u, "239.255.10.1", "lo"));
    /* not a multicast address */
    EXPECT_ERR(-EINVAL, cio_udp_join(u, "127.0.0.1", "lo"));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_multicast_options_ipv4) { udp_run(options4_main, NULL); }

static int options6_main(void *arg, void **result)
{
    cio_udp *u = udp_bound("::1", NULL);
    int fd = cio_udp_fd(u);
    EXPECT_OK(cio_udp_set_multicast_loop(u, false));
    EXPECT_EQ(0, getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP));
    EXPECT_OK(cio_udp_set_multicast_loop(u, true));
    EXPECT_EQ(1, getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP));
    EXPECT_OK(cio_udp_set_multicast_ttl(u, 9));
    EXPECT_EQ(9, getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS));
    EXPECT_OK(cio_udp_set_broadcast(u, true));
    EXPECT_EQ(1, getint(fd, SOL_SOCKET, SO_BROADCAST));
    EXPECT_OK(cio_udp_join(u, "ff15::c10", "lo"));
    EXPECT_OK(cio_udp_leave(u, "ff15::c10", "lo"));
    EXPECT_ERR(-EADDRNOTAVAIL, cio_udp_leave(u, "ff15::c10", "lo"));
    EXPECT_ERR(-EINVAL, cio_udp_join(u, "::1", "lo"));
    /* an IPv4 group on an IPv6 socket (Linux takes it, for the IPv4
     * traffic a dual-stack socket receives) */
    EXPECT_OK(cio_udp_join(u, "239.255.10.2", "lo"));
    EXPECT_OK(cio_udp_leave(u, "239.255.10.2", "lo"));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_multicast_options_ipv6) { udp_run(options6_main, NULL); }

/* cio_udp_set_multicast_if. IPv4 reads back the interface's address only
 * (getsockopt(IP_MULTICAST_IF) gives an in_addr: 0.0.0.0 after a choice by
 * index or NULL), IPv6 the index. */
static struct in_addr getif4(int fd)
{
    struct in_addr a = {htonl(0x01020304)};
    socklen_t l = sizeof a;
    EXPECT_OK(getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &a, &l));
    return a;
}

static int multicast_if_main(void *arg, void **result)
{
    cio_udp *u = udp_bound("127.0.0.1", NULL);
    int fd = cio_udp_fd(u);
    EXPECT_EQ(htonl(INADDR_ANY), getif4(fd).s_addr); /* the system's choice */
    EXPECT_OK(cio_udp_set_multicast_if(u, "127.0.0.1"));
    EXPECT_EQ(htonl(INADDR_LOOPBACK), getif4(fd).s_addr);
    EXPECT_OK(cio_udp_set_multicast_if(u, NULL));
    EXPECT_EQ(htonl(INADDR_ANY), getif4(fd).s_addr);
    EXPECT_OK(cio_udp_set_multicast_if(u, "lo")); /* by index: the address reads 0 */
    EXPECT_EQ(htonl(INADDR_ANY), getif4(fd).s_addr);
    EXPECT_OK(cio_udp_set_multicast_if(u, NULL));
    /* no such interface; an address no interface has (TEST-NET-1) */
    EXPECT_ERR(-ENODEV, cio_udp_set_multicast_if(u, "cio-no-such-if0"));
    EXPECT_ERR(-ENODEV, cio_udp_set_multicast_if(u, ""));
    EXPECT_ERR(-EADDRNOTAVAIL, cio_udp_set_multicast_if(u, "192.0.2.1"));
    EXPECT_EQ(htonl(INADDR_ANY), getif4(fd).s_addr); /* unchanged by the failures */
    EXPECT_OK(cio_udp_close(u));

    u = udp_bound("::1", NULL);
    fd = cio_udp_fd(u);
    unsigned lo = if_nametoindex("lo");
    EXPECT_TRUE(lo > 0);
    EXPECT_OK(cio_udp_set_multicast_if(u, "lo"));
    EXPECT_EQ((int)lo, getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF));
    EXPECT_OK(cio_udp_set_multicast_if(u, NULL));
    EXPECT_EQ(0, getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_if(u, "127.0.0.1")); /* IPv4 address */
    EXPECT_ERR(-ENODEV, cio_udp_set_multicast_if(u, "cio-no-such-if0"));
    EXPECT_EQ(0, getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF));
    EXPECT_OK(cio_udp_close(u));

    /* NULL and Unix sockets */
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_if(NULL, "lo"));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_if(NULL, NULL));
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_UNIX), &u)); /* unnamed */
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_if(u, "lo"));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_multicast_if) { udp_run(multicast_if_main, NULL); }

/* ---- a round trip ------------------------------------------------------------ */

static bool in_namespace;

/* A private network namespace with lo up and MULTICAST on; false if the
 * system refuses (no unprivileged user namespaces, seccomp, ...). */
static bool enter_namespace(void)
{
    if (getenv("CIO_TEST_NO_NETNS")) { /* to try the fallback by hand */
        fprintf(stderr, "CIO_TEST_NO_NETNS set\n");
        return false;
    }
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
        fprintf(stderr, "unshare(CLONE_NEWUSER|CLONE_NEWNET): %s\n", strerror(errno));
        return false;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(s >= 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    EXPECT_OK(ioctl(s, SIOCGIFFLAGS, &ifr));
    ifr.ifr_flags |= IFF_UP | IFF_MULTICAST;
    int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    if (rc != 0)
        fprintf(stderr, "SIOCSIFFLAGS on lo: %s\n", strerror(errno));
    close(s);
    return rc == 0;
}

struct member {
    int got;
    cio_event *ev;
};

static void rx_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    struct member *m = arg;
    if (len == 5 && memcmp(data, "group", 5) == 0) {
        m->got++;
        cio_event_set(m->ev);
    }
}

static int roundtrip_main(void *arg, void **result)
{
    const char *group = "239.255.10.3";
    cio_addr any = udp_ip("0.0.0.0", 0);
    cio_udp *rx = NULL, *rx2 = NULL;
    EXPECT_OK(cio_udp_new(&any, &CIO_UDP_OPTIONS(.reuseaddr = true), &rx));
    cio_addr la = udp_local(rx);
    uint16_t port = cio_addr_port(&la);
    /* a second member on the same port (reuseaddr), with the callback style */
    cio_addr same = udp_ip("0.0.0.0", port);
    EXPECT_OK(cio_udp_new(&same, &CIO_UDP_OPTIONS(.reuseaddr = true), &rx2));
    EXPECT_OK(cio_udp_join(rx, group, "lo"));
    EXPECT_OK(cio_udp_join(rx2, group, "lo"));
    struct member m2 = {0, NULL};
    EXPECT_OK(cio_event_new(&m2.ev));
    EXPECT_OK(cio_udp_set_receiver(rx2, rx_cb, &m2));

    cio_udp *tx = udp_bound("127.0.0.1", NULL);
    EXPECT_OK(cio_udp_set_multicast_if(tx, "127.0.0.1"));
    EXPECT_OK(cio_udp_set_multicast_loop(tx, true));
    EXPECT_OK(cio_udp_set_multicast_ttl(tx, 1));
    cio_addr to = udp_ip(group, port);
    ssize_t n = cio_udp_send(tx, "group", 5, &to);
    if (!in_namespace && n < 0) {
        fprintf(stderr, "skipped: multicast send on the host's loopback: %s\n", cio_strerror((int)n));
        goto out;
    }
    EXPECT_EQ(5, n);
    char buf[16];
    cio_addr from, tx_addr = udp_local(tx);
    cio_scope sc;
    /* In our own namespace delivery is certain; on the host's loopback it
     * may not be looped back at all: then wait a bounded while and skip. */
    EXPECT_OK(cio_timeout_begin(&sc, in_namespace ? 60 : 10));
    n = cio_udp_recv(rx, buf, sizeof buf, &from);
    int end = cio_scope_end(&sc);
    if (!in_namespace && n == -ETIMEDOUT) {
        EXPECT_ERR(-ETIMEDOUT, end);
        fprintf(stderr, "skipped: multicast is not looped back on this host's lo\n");
        goto out;
    }
    EXPECT_OK(end);
    EXPECT_EQ(5, n);
    EXPECT_TRUE(memcmp(buf, "group", 5) == 0);
    EXPECT_TRUE(cio_addr_is_equal(&from, &tx_addr));
    /* the callback member got it too (delivered to both at once) */
    EXPECT_OK(cio_event_wait(m2.ev));
    EXPECT_EQ(1, m2.got);

    /* after leaving, rx gets nothing: a unicast datagram sent after the
     * group one arrives first. (rx2 goes first: with IP_MULTICAST_ALL, on
     * by default, a socket bound to the group's port gets the datagrams
     * of every group some socket joined on the interface.) */
    EXPECT_OK(cio_udp_close(rx2));
    rx2 = NULL;
    EXPECT_OK(cio_udp_leave(rx, group, "lo"));
    EXPECT_EQ(5, cio_udp_send(tx, "group", 5, &to));
    cio_addr rx_uni = udp_ip("127.0.0.1", port);
    cio_udp *tx2 = udp_bound("127.0.0.1", NULL);
    EXPECT_EQ(7, cio_udp_send(tx2, "unicast", 7, &rx_uni));
    EXPECT_EQ(7, cio_udp_recv(rx, buf, sizeof buf, NULL));
    EXPECT_OK(cio_udp_close(tx2));
out:
    if (rx2)
        EXPECT_OK(cio_udp_close(rx2));
    EXPECT_OK(cio_udp_close(rx));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(m2.ev));
    return 0;
}

TEST(udp_multicast_roundtrip_on_loopback)
{
    in_namespace = enter_namespace();
    if (!in_namespace)
        fprintf(stderr, "no network namespace of our own: trying the host's loopback\n");
    udp_run(roundtrip_main, NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
