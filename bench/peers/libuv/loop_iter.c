/* loop_iter, libuv: N calls of uv_run(UV_RUN_NOWAIT), each one iteration
 * (libuv's loop_count benchmark counts the same iterations). One uv_poll_t
 * watches the read end of a pipe nobody writes, as every implementation
 * does: it keeps the loop alive (with no active handle uv_run returns
 * without iterating), and each iteration calls epoll_wait with a zero
 * timeout.
 *
 * There is no zero-descriptor figure for libuv: it cannot skip the poll.
 * uv_loop_init (libuv 1.44, Debian 12) already watches two descriptors of
 * its own, the signal pipe and the eventfd of its thread-pool wakeup, so
 * uv__io_poll always calls epoll_wait, even on a loop whose only handle is
 * an idle handle (strace shows one epoll_wait per uv_run).
 *
 * usage: libuv_loop_iter [N]   (default 20M) */
#include <unistd.h>
#include <uv.h>

#include "../../common.h"

static void never(uv_poll_t *poll, int status, int events)
{
    (void)poll, (void)status, (void)events;
    fprintf(stderr, "loop_iter: the idle descriptor became ready\n");
    exit(1);
}

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 20000000);
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    int fds[2];
    BENCH_CHECK(pipe(fds));
    uv_poll_t poll;
    BENCH_CHECK(uv_poll_init(&loop, &poll, fds[0]));
    BENCH_CHECK(uv_poll_start(&poll, UV_READABLE, never));

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    uint64_t t1 = bench_now_ns();

    uv_close((uv_handle_t *)&poll, NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));
    close(fds[0]);
    close(fds[1]);

    bench_emit("loop_iter", "libuv", "iterations_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
