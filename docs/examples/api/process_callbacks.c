/* process_callbacks.c: a child process without tasks. A callback starts it
 * and asks for a future of its exit; the future's done-callback reads the
 * status and frees the process; the loop then runs out of work.
 * Reference: docs/api/process.md. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include <cio.h>
#include <cio/net.h>

struct state {
    cio_process *p;
    cio_future *exit;
    int status;
    int err;
};

static void exited(cio_future *f, void *arg)
{
    struct state *s = arg;
    s->err = cio_future_error(f);
    s->status = cio_process_status(s->p);
    if (!s->err && !cio_process_is_done(s->p))
        s->err = -EINVAL;
    if (!s->err)
        s->err = cio_process_free(s->p);
    s->p = NULL;
}

static void start(void *arg)
{
    struct state *s = arg;
    const char *argv[] = {"/bin/sh", "-c", "exit 7", NULL};
    s->err = cio_process_new(argv, NULL, &s->p);
    if (!s->err)
        s->err = cio_process_wait_future(s->p, &s->exit);
    if (!s->err)
        s->err = cio_future_add_done_callback(s->exit, exited, s);
}

int main(void)
{
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    struct state s = {0};
    cio_call_soon(loop, start, &s);
    while (cio_loop_run_once(loop, 0) > 0) {
    }
    cio_future_unref(s.exit);
    cio_loop_free(loop);
    printf("the child exited with %d\n", s.status);
    if (s.err) {
        fprintf(stderr, "failed: %s\n", cio_strerror(s.err));
        return 1;
    }
    return s.status == 7 && s.p == NULL ? 0 : 1;
}
