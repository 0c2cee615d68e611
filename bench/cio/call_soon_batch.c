/* call_soon_batch: schedule N (default 1M) callbacks, then run them all.
 * One untimed round warms the queue up to its working size (the steady
 * state of a long-running program); then `rounds` timed rounds, each
 * scheduling and running N callbacks. Reports callbacks per second over the
 * timed rounds, scheduling included. */
#include <cio/loop.h>

#include "../common.h"

static long count, total;
static cio_loop *loop;

static void on_call(void *arg)
{
    (void)arg;
    if (++count == total)
        cio_loop_stop(loop);
}

static void round_of(long n)
{
    count = 0;
    total = n;
    for (long i = 0; i < n; i++)
        BENCH_CHECK(cio_call_soon(loop, on_call, NULL));
    BENCH_CHECK(cio_loop_run_forever(loop));
    BENCH_CHECK(count != n);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 1000000);
    long rounds = bench_arg(argc, argv, 2, 5);
    BENCH_CHECK(cio_loop_new(&loop, NULL));

    round_of(n);
    uint64_t t0 = bench_now_ns();
    for (long r = 0; r < rounds; r++)
        round_of(n);
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("call_soon_batch", "cio", "callbacks_per_s", "1/s", n * rounds / ((t1 - t0) / 1e9),
               "higher");
    return 0;
}
