/* reader_task.c: waiting for a descriptor from a task. wait_readable
 * turns the loop's readiness callback into a future the task awaits,
 * which is how asyncio builds a socket's recv on add_reader. Another task
 * writes the other end. Coroutine style. */
#define _POSIX_C_SOURCE 200809L /* pipe, fcntl: POSIX, not C11 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>

/* The watcher's callback: fd is readable; wake the task. The watcher
 * held a reference to the future, which it drops as it goes. */
static void on_readable(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    cio_future *fut = arg;
    cio_loop_remove_reader(loop, fd);
    cio_future_set_result(fut, NULL, NULL);
    cio_future_unref(fut);
}

/* Suspends the calling task until fd is readable. May suspend. */
static int wait_readable(int fd)
{
    cio_loop *loop = cio_current_loop();
    cio_future *fut;
    int err = cio_future_new(loop, &fut);
    if (err)
        return err;
    err = cio_loop_add_reader(loop, fd, on_readable, cio_future_ref(fut));
    if (err) {
        cio_future_unref(fut); /* the watcher's reference */
        cio_future_unref(fut);
        return err;
    }
    err = cio_await(fut, NULL);
    /* Cancelled (or timed out) while waiting: the watcher is still there,
     * with its reference. Remove it; it will not run. */
    if (err && cio_loop_remove_reader(loop, fd) == 0)
        cio_future_unref(fut);
    cio_future_unref(fut);
    return err;
}

/* Reads up to a newline; the line, without it, goes to line[]. Returns
 * the line's length, or -ENODATA at end of file. May suspend. */
static int read_line(int fd, char *line, size_t size)
{
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1); /* a byte at a time keeps it short */
        if (n == 1) {
            if (c == '\n') {
                line[len] = '\0';
                return (int)len;
            }
            if (len + 1 == size)
                return -EMSGSIZE;
            line[len++] = c;
            continue;
        }
        if (n == 0)
            return -ENODATA;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int err = wait_readable(fd); /* nothing there yet: suspend */
        if (err)
            return err;
    }
}

static int reader(void *arg, void **result)
{
    (void)result;
    int fd = *(const int *)arg;
    char line[64];
    int n;
    while ((n = read_line(fd, line, sizeof line)) >= 0)
        printf("reader: %s\n", line);
    if (n != -ENODATA)
        return n;
    printf("reader: end of file\n");
    return 0;
}

static int writer(void *arg, void **result)
{
    (void)result;
    int fd = *(const int *)arg;
    static const char *msgs[2] = {"hello\n", "world\n"};
    int err = 0;
    for (int i = 0; i < 2 && err == 0; i++) {
        if ((err = cio_sleep(0.01)) == 0 && write(fd, msgs[i], strlen(msgs[i])) < 0)
            err = -errno;
    }
    close(fd); /* the reader sees end of file */
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int fds[2];
    if (pipe(fds) != 0)
        return -errno;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        int err = -errno;
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    cio_task_group *group;
    int err = cio_task_group_begin(&group);
    if (err == 0) {
        err = cio_task_group_spawn(group, NULL, reader, &fds[0], NULL);
        if (err == 0)
            err = cio_task_group_spawn(group, NULL, writer, &fds[1], NULL);
        else
            close(fds[1]); /* the writer never started */
        int gerr = cio_task_group_end(group);
        if (err == 0)
            err = gerr;
    } else {
        close(fds[1]);
    }
    close(fds[0]);
    return err;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
