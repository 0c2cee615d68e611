/* io.c: watching descriptors. A writer callback writes into a pipe once
 * the pipe can take it; a reader callback reads it back once it arrives.
 * Each removes its watcher when done, so the loop runs out of work.
 * Reference: docs/api/loop.md. */
#define _POSIX_C_SOURCE 200809L /* pipe, fcntl: POSIX, not C11 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>

/* Prints what failed and how; main returns its value. */
static int fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, cio_err_name(err), cio_strerror(err));
    return 1;
}
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

struct state {
    int fds[2];
    char got[16];
    int err; /* the first failure inside a callback */
};

static void on_writable(cio_loop *loop, int fd, int events, void *arg)
{
    struct state *st = arg;
    if (events & CIO_IOERR)
        st->err = -EIO;
    else if (write(fd, "hello", 5) != 5)
        st->err = -errno;
    /* Done writing: stop watching (the watcher would fire again at once). */
    int rc = cio_loop_remove_writer(loop, fd);
    if (rc && !st->err)
        st->err = rc;
}

static void on_readable(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    struct state *st = arg;
    ssize_t n = read(fd, st->got, sizeof st->got - 1);
    if (n < 0 && errno == EAGAIN)
        return; /* level-triggered: called again when there is data */
    if (n < 0)
        st->err = -errno;
    int rc = cio_loop_remove_reader(loop, fd);
    if (rc && !st->err)
        st->err = rc;
}

int main(void)
{
    struct state st = {0};
    cio_loop *loop;
    int rc;
    if (pipe(st.fds) != 0)
        return fail("pipe", -errno);
    /* cio does not change descriptors: make them non-blocking yourself. */
    for (int i = 0; i < 2; i++)
        if (fcntl(st.fds[i], F_SETFL, fcntl(st.fds[i], F_GETFL) | O_NONBLOCK) != 0)
            return fail("fcntl", -errno);
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    if ((rc = cio_loop_add_reader(loop, st.fds[0], on_readable, &st)) != 0)
        return fail("cio_loop_add_reader", rc);
    if ((rc = cio_loop_add_writer(loop, st.fds[1], on_writable, &st)) != 0)
        return fail("cio_loop_add_writer", rc);

    /* Until both watchers have removed themselves. */
    while ((rc = cio_loop_run_once(loop, 0)) == 1)
        ;
    if (rc < 0)
        return fail("cio_loop_run_once", rc);
    if (st.err)
        return fail("a callback", st.err);
    CHECK(strcmp(st.got, "hello") == 0);
    printf("read \"%s\" through the pipe\n", st.got);

    /* Removing what is not watched is -ENOENT. */
    CHECK(cio_loop_remove_reader(loop, st.fds[0]) == -ENOENT);
    /* Remove watchers before closing their descriptors (done above). */
    close(st.fds[0]);
    close(st.fds[1]);
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
