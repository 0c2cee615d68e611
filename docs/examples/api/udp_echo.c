/* udp_echo.c: UDP from tasks (docs/api/udp.md). An echo server task and a
 * client on 127.0.0.1: cio_udp_new, cio_udp_send, cio_udp_recv (with a
 * truncated datagram), cio_udp_send_nowait, cio_udp_local, cio_udp_fd,
 * cio_udp_close. Exits 0 on success. */
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

static int echo_server(void *arg, void **result)
{
    (void)result;
    cio_udp *srv = arg;
    char buf[512];
    for (int i = 0; i < 3; i++) {
        cio_addr from;
        ssize_t n = cio_udp_recv(srv, buf, sizeof buf, &from); /* suspends */
        if (n < 0)
            return (int)n;
        n = cio_udp_send(srv, buf, (size_t)n, &from); /* back to the sender */
        if (n < 0)
            return (int)n;
    }
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr any;
    int err = cio_addr_ip("127.0.0.1", 0, &any); /* port 0: the system picks one */
    cio_udp *srv = NULL, *cli = NULL;
    if (!err)
        err = cio_udp_new(&any, NULL, &srv);
    cio_addr srv_addr;
    if (!err)
        err = cio_udp_local(srv, &srv_addr);
    /* The client is connected to the server: it sends with to == NULL and
     * receives from the server only. */
    if (!err)
        err = cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &srv_addr), &cli);
    if (err) {
        cio_udp_close(srv);
        return err;
    }
    cio_task *server;
    err = cio_spawn(echo_server, srv, &server);
    char text[CIO_ADDR_STRLEN], reply[16];
    if (!err)
        err = cio_addr_format(&srv_addr, text, sizeof text);
    ssize_t n = 0;
    if (!err && (n = cio_udp_send(cli, "hello", 5, NULL)) == 5)
        n = cio_udp_recv(cli, reply, sizeof reply, NULL);
    if (!err && n == 5)
        printf("echo from %s: %.5s\n", text, reply);
    /* A datagram longer than the buffer: the rest is dropped and recv
     * returns the full length. */
    ssize_t full = 0;
    if (!err && cio_udp_send_nowait(cli, "a longer datagram", 17, NULL) == 17)
        full = cio_udp_recv(cli, reply, 4, NULL);
    if (!err && full == 17)
        printf("a %zd-byte datagram, %d bytes kept: %.4s\n", full, 4, reply);
    /* The third one lets the server task end. */
    if (!err && cio_udp_send(cli, "bye", 3, NULL) == 3)
        cio_udp_recv(cli, reply, sizeof reply, NULL);
    int serr = err ? 0 : cio_await(server, NULL);
    if (!err)
        cio_future_unref(server);
    int fd = cio_udp_fd(cli); /* for setsockopt and the like */
    cio_udp_close(cli);
    cio_udp_close(srv);
    if (err || serr)
        return err ? err : serr;
    return n == 5 && full == 17 && fd >= 0 ? 0 : -EIO;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
