/* cio_stream_connect_name: connect by host name ("localhost", found in
 * /etc/hosts) to a server of this program on loopback, with Happy Eyeballs
 * and a deadline over the whole of it; then by a numeric host, which needs
 * no resolver. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

/* Accepts two connections and answers each line with "hello, <line>". */
static int server(void *arg, void **result)
{
    (void)result;
    int lfd = *(int *)arg;
    for (int i = 0; i < 2; i++) {
        int fd, rc = cio_socket_accept(lfd, &fd, NULL);
        if (rc)
            return rc;
        cio_stream *s;
        if ((rc = cio_stream_new(fd, NULL, &s)) != 0) {
            close(fd);
            return rc;
        }
        char line[64];
        ssize_t n = cio_stream_read_line(s, line, sizeof line);
        if (n > 0) {
            cio_stream_write(s, "hello, ", 7);
            cio_stream_write(s, line, (size_t)n);
        }
        cio_stream_close(s);
    }
    return 0;
}

static int ask(const char *host, uint16_t port)
{
    cio_stream *s;
    /* The defaults: both families, IPv6 first, 0.25 s between attempts. */
    int rc = cio_stream_connect_name(host, port, NULL, NULL, &s);
    if (rc) {
        fprintf(stderr, "connect to %s: %s\n", host, cio_strerror(rc));
        return rc;
    }
    cio_addr peer;
    char text[CIO_ADDR_STRLEN];
    cio_socket_peer(cio_stream_fd(s), &peer);
    cio_addr_format(&peer, text, sizeof text);
    cio_stream_write(s, "world\n", 6);
    char line[64];
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    printf("%s (%s) says: %.*s", host, text, n > 0 ? (int)n : 0, line);
    cio_stream_close(s);
    return n > 0 ? 0 : -1;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr addr;
    int lfd, rc;
    cio_addr_ip("127.0.0.1", 0, &addr);
    if ((rc = cio_socket_listen(&addr, NULL, &lfd)) != 0)
        return rc;
    cio_socket_local(lfd, &addr);
    cio_task *t;
    cio_spawn(server, &lfd, &t);
    /* Resolution, attempts and all: at most 10 s. */
    cio_scope deadline;
    cio_timeout_begin(&deadline, 10);
    rc = ask("localhost", cio_addr_port(&addr));
    if (!rc)
        rc = ask("127.0.0.1", cio_addr_port(&addr));
    cio_scope_end(&deadline);
    if (rc)
        cio_future_cancel(t);
    int src = cio_await(t, NULL);
    cio_future_unref(t);
    cio_fd_close(lfd);
    return rc ? rc : src;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
