/* loop_iter: idle loop iterations per second, N calls of
 * cio_loop_run_once(loop, CIO_RUN_NOWAIT) each, measured twice:
 *
 * iterations_per_s: the loop watches one descriptor that never becomes
 *   ready (the read end of a pipe nobody writes), as every peer does, so
 *   each iteration makes the non-blocking poll system call a real program
 *   makes;
 * iterations_per_s_nofd: the loop watches nothing. cio then skips the poll
 *   (no system call: remote work announces itself through memory), so this
 *   is the cost of an iteration without I/O.
 *
 * usage: cio_loop_iter [N]   (default 20M) */
#include <unistd.h>

#include <cio/loop.h>

#include "../common.h"

static void never(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop, (void)fd, (void)events, (void)arg;
    fprintf(stderr, "loop_iter: the idle descriptor became ready\n");
    exit(1);
}

static double iterations_per_s(cio_loop *loop, long total)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
        if (rc < 0)
            BENCH_CHECK(rc);
    }
    uint64_t t1 = bench_now_ns();
    return total / ((t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 20000000);
    cio_loop *loop;
    BENCH_CHECK(cio_loop_new(NULL, &loop));

    int fds[2];
    BENCH_CHECK(pipe(fds));
    BENCH_CHECK(cio_loop_add_reader(loop, fds[0], never, NULL));
    double with_fd = iterations_per_s(loop, total);
    BENCH_CHECK(cio_loop_remove_reader(loop, fds[0]));
    close(fds[0]);
    close(fds[1]);

    double no_fd = iterations_per_s(loop, total);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("loop_iter", "cio", "iterations_per_s", "1/s", with_fd, "higher");
    bench_emit("loop_iter", "cio", "iterations_per_s_nofd", "1/s", no_fd, "higher");
    return 0;
}
