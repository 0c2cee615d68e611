/* fdpass_pipe.c: passing a descriptor over a Unix socket (SCM_RIGHTS;
 * docs/api/udp.md): the write end of a pipe goes over a socket pair, and
 * the receiver writes into the pipe through its copy.
 * cio_socket_send_fds, cio_socket_recv_fds. Exits 0 on success. */
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
    int sv[2], p[2];
    int err = cio_socket_pair(SOCK_STREAM, sv);
    if (err)
        return err;
    if (pipe(p) != 0) {
        cio_fd_close(sv[0]);
        cio_fd_close(sv[1]);
        return -EIO;
    }
    /* One byte at least goes with the descriptors. */
    ssize_t n = cio_socket_send_fds(sv[0], "w", 1, &p[1], 1);
    close(p[1]); /* ours: the receiver has its own copy now */
    char tag;
    int fds[4];
    size_t nfds = 4; /* room for up to 4 */
    if (n == 1)
        n = cio_socket_recv_fds(sv[1], &tag, 1, fds, &nfds);
    char buf[16] = "";
    if (n == 1 && nfds == 1) {
        if (write(fds[0], "through", 7) != 7)
            n = -EIO;
        close(fds[0]);
        if (read(p[0], buf, sizeof buf - 1) != 7)
            n = -EIO;
    }
    close(p[0]);
    /* The sockets were waited on through cio_fd_wait: cio_fd_close them. */
    cio_fd_close(sv[0]);
    cio_fd_close(sv[1]);
    if (n < 0)
        return (int)n;
    if (n != 1 || nfds != 1 || strcmp(buf, "through") != 0)
        return -EIO;
    printf("received %zu descriptor with '%c'; wrote \"%s\" through it\n", nfds, tag, buf);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
