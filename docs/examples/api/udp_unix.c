/* udp_unix.c: Unix datagram sockets through cio_udp (docs/api/udp.md); the
 * family comes from the address, here a Linux abstract name, so no file is
 * left behind. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    char name[64];
    snprintf(name, sizeof name, "@cio-example-udp-%ld", (long)getpid());
    cio_addr addr, client_addr;
    cio_udp *srv = NULL, *cli = NULL;
    int err = cio_addr_unix(name, &addr);
    if (!err)
        err = cio_udp_new(&addr, NULL, &srv);
    /* a client with a name of its own, so that the server can answer */
    char cname[72];
    snprintf(cname, sizeof cname, "%s-client", name);
    if (!err)
        err = cio_addr_unix(cname, &client_addr);
    if (!err)
        err = cio_udp_new(&client_addr, NULL, &cli);
    ssize_t n = -1;
    char buf[32];
    cio_addr from;
    if (!err && cio_udp_send(cli, "ping", 4, &addr) == 4 &&
        cio_udp_recv(srv, buf, sizeof buf, &from) == 4 && cio_udp_send(srv, "pong", 4, &from) == 4)
        n = cio_udp_recv(cli, buf, sizeof buf, NULL);
    char text[CIO_ADDR_STRLEN] = "";
    if (n == 4)
        cio_addr_format(&from, text, sizeof text);
    cio_udp_close(cli);
    cio_udp_close(srv);
    if (err)
        return err;
    if (n != 4 || !cio_addr_is_equal(&from, &client_addr))
        return -EIO;
    printf("%.4s, answered to %s\n", buf, text);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
