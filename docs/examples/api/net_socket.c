/* net_socket.c: a listening socket on a free loopback port, a task that
 * accepts one connection and echoes it, a client that connects, writes,
 * half-closes and reads the echo; then a socket pair. Loopback only.
 * Reference: docs/api/net.md. */
#define _POSIX_C_SOURCE 200809L /* shutdown */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return -EIO;                                                       \
        }                                                                      \
    } while (0)

static int echo_one(void *arg, void **result)
{
    int lfd = *(int *)arg, fd;
    char buf[64];
    ssize_t n;
    cio_addr peer;
    (void)result;
    /* Suspends until a client connects. */
    CHECK(cio_socket_accept(lfd, &fd, &peer) == 0);
    while ((n = cio_fd_read(fd, buf, sizeof buf)) > 0)
        CHECK(cio_fd_write(fd, buf, (size_t)n) == n);
    CHECK(n == 0); /* the client shut down its write side */
    CHECK(cio_fd_close(fd) == 0);
    return 0;
}

static int main_task(void *arg, void **result)
{
    cio_addr addr, local, peer;
    char text[CIO_ADDR_STRLEN], buf[64];
    int lfd, fd, pair[2];
    ssize_t n;
    cio_task *server = NULL;
    (void)arg;
    (void)result;
    CHECK(cio_addr_parse("127.0.0.1:0", &addr) == 0);
    CHECK(cio_socket_listen(&addr, NULL, &lfd) == 0);
    CHECK(cio_socket_local(lfd, &addr) == 0); /* the port the system picked */
    CHECK(cio_spawn(echo_one, &lfd, &server) == 0);

    CHECK(cio_socket_connect(&addr, NULL, &fd) == 0);
    CHECK(cio_socket_peer(fd, &peer) == 0 && cio_addr_is_equal(&peer, &addr));
    CHECK(cio_socket_local(fd, &local) == 0);
    CHECK(cio_addr_format(&local, text, sizeof text) == 0);
    printf("connected from %s\n", text);
    CHECK(cio_fd_write(fd, "ping", 4) == 4);
    CHECK(shutdown(fd, SHUT_WR) == 0); /* half-close: we still read */
    n = cio_fd_read(fd, buf, sizeof buf);
    CHECK(n == 4 && memcmp(buf, "ping", 4) == 0);
    CHECK(cio_fd_read(fd, buf, sizeof buf) == 0);
    printf("echoed \"%.*s\"\n", (int)n, buf);
    CHECK(cio_await(server, NULL) == 0);
    cio_future_unref(server);
    CHECK(cio_fd_close(fd) == 0);
    CHECK(cio_fd_close(lfd) == 0);

    /* A connected pair of Unix sockets. */
    CHECK(cio_socket_pair(SOCK_STREAM, pair) == 0);
    CHECK(cio_fd_write(pair[0], "hi", 2) == 2);
    CHECK(cio_fd_read(pair[1], buf, sizeof buf) == 2);
    CHECK(cio_fd_close(pair[0]) == 0);
    CHECK(cio_fd_close(pair[1]) == 0);
    return 0;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) {
        fprintf(stderr, "main: %s\n", cio_strerror(rc));
        return 1;
    }
    return 0;
}
