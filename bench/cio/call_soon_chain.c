/* call_soon_chain: every callback schedules the next one, so exactly one
 * callback runs per loop iteration (a callback scheduled while the queue
 * runs waits for the next iteration). The loop watches one descriptor that
 * never becomes ready (the read end of a pipe nobody writes), as every
 * peer does, so that a poll is a real system call on every side. Two
 * figures, N callbacks each:
 *
 * callbacks_per_s: cio as it is. It skips the poll while callbacks are
 *   ready and polls every CIO_POLL_INTERVAL callbacks (loop.h states the
 *   bound), so this is a dispatch rate; its like-for-like peer is libevent
 *   re-activating its event from the callback with the same bound on
 *   callbacks between polls.
 * callbacks_per_s_polled: cio made to poll in every iteration, the way
 *   asyncio's loop does (and libuv's, which has no way to skip it): before
 *   returning, each callback marks the quota of callbacks between polls as
 *   used up, so the next iteration polls (epoll_wait, zero timeout) before
 *   it runs the next callback. This reaches into the loop's internals
 *   (src/loop/internal.h: since_poll); the library has no such option.
 *
 * usage: cio_call_soon_chain [N]   (default 20M) */
#include <unistd.h>

#include <cio/loop.h>

#include "loop/internal.h"

#include "../common.h"

static long count, total;
static bool poll_each;
static cio_loop *loop;

static void step(void *arg)
{
    if (++count == total) {
        cio_loop_stop(loop);
        return;
    }
    BENCH_CHECK(cio_call_soon(loop, step, arg));
    if (poll_each)
        loop->since_poll = UINT32_C(1) << 30; /* the next iteration polls */
}

static void never(cio_loop *l, int fd, int events, void *arg)
{
    (void)l, (void)fd, (void)events, (void)arg;
    fprintf(stderr, "call_soon_chain: the idle descriptor became ready\n");
    exit(1);
}

static double chain(long n, bool polled)
{
    count = 0;
    total = n;
    poll_each = polled;
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(cio_call_soon(loop, step, NULL));
    BENCH_CHECK(cio_loop_run_forever(loop));
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(count != total);
    return total / ((t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 20000000);
    BENCH_CHECK(cio_loop_new(NULL, &loop));
    int fds[2];
    BENCH_CHECK(pipe(fds));
    BENCH_CHECK(cio_loop_add_reader(loop, fds[0], never, NULL));

    double free_running = chain(n, false);
    double polled = chain(n, true);

    BENCH_CHECK(cio_loop_remove_reader(loop, fds[0]));
    close(fds[0]);
    close(fds[1]);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("call_soon_chain", "cio", "callbacks_per_s", "1/s", free_running, "higher");
    bench_emit("call_soon_chain", "cio", "callbacks_per_s_polled", "1/s", polled, "higher");
    return 0;
}
