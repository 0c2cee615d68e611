/* net_fd.c: waiting on raw descriptors from tasks. A task writes into a
 * pipe with cio_fd_write while main waits for it with cio_fd_wait and
 * reads with cio_fd_read; both ends leave through cio_fd_close (or
 * cio_fd_forget before a plain close). Reference: docs/api/net.md. */
#define _POSIX_C_SOURCE 200809L /* pipe: POSIX, not C11 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return -EIO;                                                       \
        }                                                                      \
    } while (0)

static int writer(void *arg, void **result)
{
    int fd = *(int *)arg;
    (void)result;
    ssize_t n = cio_fd_write(fd, "hello", 5); /* suspends while the pipe is full */
    CHECK(n == 5);
    return 0;
}

static int main_task(void *arg, void **result)
{
    int fds[2];
    int ready = 0;
    char buf[16];
    ssize_t n;
    cio_task *t = NULL;
    (void)arg;
    (void)result;
    CHECK(pipe(fds) == 0);
    CHECK(cio_spawn(writer, &fds[1], &t) == 0);
    /* Suspends until the writer wrote: level-triggered, as poll(2). */
    CHECK(cio_fd_wait(fds[0], CIO_READABLE, &ready) == 0);
    CHECK(ready & CIO_READABLE);
    n = cio_fd_read(fds[0], buf, sizeof buf - 1);
    CHECK(n == 5);
    buf[n] = 0;
    printf("read \"%s\"\n", buf);
    CHECK(cio_await(t, NULL) == 0);
    cio_future_unref(t);
    /* The write end: forget, then close it yourself... */
    CHECK(cio_fd_forget(fds[1]) == 0);
    CHECK(close(fds[1]) == 0);
    /* ...and the read end sees the end of the stream. */
    CHECK(cio_fd_read(fds[0], buf, sizeof buf) == 0);
    CHECK(cio_fd_close(fds[0]) == 0);
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
