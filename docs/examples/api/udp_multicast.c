/* udp_multicast.c: multicast and broadcast options (docs/api/udp.md):
 * cio_udp_join, cio_udp_leave (on the loopback interface, which every
 * Linux system has), cio_udp_set_multicast_loop, cio_udp_set_multicast_ttl,
 * cio_udp_set_broadcast, cio_udp_set_multicast_if, each read back with
 * getsockopt. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L /* inet_ntop */
#include <arpa/inet.h>
#include <stdio.h>

#include <cio.h>
#include <cio/net.h>

static int readback(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    getsockopt(fd, level, name, &v, &len);
    return v;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr any;
    cio_udp *u = NULL;
    /* reuseaddr: several receivers of one group may share the port */
    int err = cio_addr_ip("0.0.0.0", 0, &any);
    if (!err)
        err = cio_udp_new(&any, &CIO_UDP_OPTIONS(.reuseaddr = true), &u);
    if (err)
        return err;
    int fd = cio_udp_fd(u);
    err = cio_udp_join(u, "239.255.0.1", "lo"); /* group, interface name */
    if (!err)
        err = cio_udp_set_multicast_loop(u, false); /* our own sends not looped back */
    if (!err)
        err = cio_udp_set_multicast_ttl(u, 4);      /* at most 4 router hops */
    if (!err)
        err = cio_udp_set_broadcast(u, true);       /* may send to 255.255.255.255 */
    if (!err)
        err = cio_udp_set_multicast_if(u, "127.0.0.1"); /* send through lo (by address) */
    struct in_addr ifaddr = {0};
    socklen_t len = sizeof ifaddr;
    char text[INET_ADDRSTRLEN];
    if (!err && getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, &len) == 0 &&
        inet_ntop(AF_INET, &ifaddr, text, sizeof text))
        printf("multicast interface %s\n", text);
    if (!err)
        err = cio_udp_set_multicast_if(u, NULL); /* the routing table's choice again */
    if (!err)
        printf("loop %d, ttl %d, broadcast %d\n", readback(fd, IPPROTO_IP, IP_MULTICAST_LOOP),
               readback(fd, IPPROTO_IP, IP_MULTICAST_TTL), readback(fd, SOL_SOCKET, SO_BROADCAST));
    if (!err)
        err = cio_udp_leave(u, "239.255.0.1", "lo");
    int again = err ? 0 : cio_udp_leave(u, "239.255.0.1", "lo"); /* not a member any more */
    cio_udp_close(u);
    if (err)
        return err;
    return again == -EADDRNOTAVAIL ? 0 : -EIO;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
