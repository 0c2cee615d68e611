/* cio_stream_connect, cio_stream_sendfile and cio_stream_abort over TCP
 * loopback. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

static int server(void *arg, void **result)
{
    (void)result;
    int lfd = *(int *)arg, fd;
    int rc = cio_socket_accept(lfd, &fd, NULL);
    if (rc)
        return rc;
    cio_stream *s;
    if ((rc = cio_stream_new(fd, NULL, &s)) != 0) {
        close(fd);
        return rc;
    }
    void *all;
    size_t len;
    rc = cio_stream_read_all(s, 1 << 20, &all, &len);
    if (rc == 0) {
        printf("server got %zu bytes: %.9s...\n", len, (char *)all);
        free(all);
    }
    cio_stream_abort(s); /* a reset instead of a graceful close */
    return rc;
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
    cio_stream *s;
    if ((rc = cio_stream_connect(&addr, NULL, NULL, &s)) != 0)
        return rc;
    /* a file: this program's own source is not at hand, so a temporary */
    FILE *f = tmpfile();
    for (int i = 0; i < 1000; i++)
        fprintf(f, "line %04d of the file\n", i);
    fflush(f);
    ssize_t sent = cio_stream_sendfile(s, fileno(f), 0, 1 << 20);
    printf("sendfile sent %zd bytes\n", sent);
    fclose(f);
    cio_stream_shutdown(s);
    rc = cio_await(t, NULL);
    cio_future_unref(t);
    cio_stream_close(s);
    cio_fd_close(lfd);
    return sent == 22000 ? rc : -1;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
