/* reader_callback.c: watching a descriptor (asyncio's loop.add_reader).
 * The loop calls on_readable whenever the pipe has data, and once more
 * at end of file; the callback reads what is there without blocking and
 * prints each complete line (data arrives in chunks of any size: two
 * writes may come in one read). Timers play the other end of the pipe.
 * Callback style. */
#define _POSIX_C_SOURCE 200809L /* pipe, fcntl: POSIX, not C11 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>

static int fds[2] = {-1, -1}; /* the pipe: read end, write end */
static char line[64];
static size_t len; /* bytes of an incomplete line in line[] */

/* Prints each complete line of line[0..len), keeps the rest. */
static void print_lines(void)
{
    char *nl;
    while ((nl = memchr(line, '\n', len)) != NULL) {
        size_t n = (size_t)(nl - line) + 1;
        printf("reader: %.*s\n", (int)(n - 1), line);
        memmove(line, line + n, len - n);
        len -= n;
    }
}

static void on_readable(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    ssize_t n = read(fd, line + len, sizeof line - len); /* never blocks */
    if (n > 0) {
        len += (size_t)n;
        print_lines();
        if (len < sizeof line)
            return; /* level-triggered: called again while data is left */
        n = -1;
        errno = EMSGSIZE; /* a line longer than the buffer */
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return; /* nothing after all: wait for the next call */
    printf("reader: %s\n", n == 0 ? "end of file" : strerror(errno));
    cio_loop_remove_reader(loop, fd); /* remove the watcher, then close */
    close(fd);
    cio_loop_stop(loop);
}

static void write_msg(void *arg)
{
    const char *msg = arg;
    if (write(fds[1], msg, strlen(msg)) < 0)
        perror("write");
}

static void close_writer(void *arg)
{
    (void)arg;
    close(fds[1]); /* the reader sees end of file */
}

int main(void)
{
    cio_loop *loop;
    if (pipe(fds) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        perror("pipe");
        return 1;
    }
    int err = cio_loop_new(NULL, &loop);
    if (err)
        return 1;
    err = cio_loop_add_reader(loop, fds[0], on_readable, NULL);
    if (err == 0)
        err = cio_call_later(loop, 0.01, write_msg, "hello\n", NULL);
    if (err == 0)
        err = cio_call_later(loop, 0.02, write_msg, "world\n", NULL);
    if (err == 0)
        err = cio_call_later(loop, 0.03, close_writer, NULL, NULL);
    if (err == 0)
        err = cio_loop_run_forever(loop);
    if (err)
        fprintf(stderr, "reader_callback: %s\n", cio_strerror(err));
    return cio_loop_free(loop) == 0 && err == 0 ? 0 : 1;
}
