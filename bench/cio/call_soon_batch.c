/* call_soon_batch: callbacks through the ready queue, in two shapes.
 *
 * callbacks_per_s: schedule N (default 1M) callbacks, then run them all.
 *   One untimed round warms the queue up to its working size (the steady
 *   state of a long-running program); then `rounds` timed rounds, each
 *   scheduling and running N callbacks; callbacks per second over the
 *   timed rounds, scheduling included.
 * callbacks_per_s_rearm: the shape of libuv's figure: 1,000 callbacks in
 *   flight, each scheduling itself again when it runs, so every iteration
 *   runs 1,000 of them, until N * rounds have run (one untimed warm-up of N
 *   first). libuv's 1,000 idle handles do exactly this, except that an idle
 *   handle stays armed for free where a cio callback calls cio_call_soon.
 *
 * usage: cio_call_soon_batch [N [ROUNDS]]   (default 1M, 5) */
#include <cio/loop.h>

#include "../common.h"

#define INFLIGHT 1000

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

/* Runs `total` callbacks in all: the INFLIGHT first ones, and one more for
 * each that runs while fewer than `total` have been scheduled. */
static void on_rearm(void *arg)
{
    if (++count == total) {
        cio_loop_stop(loop);
        return;
    }
    if (count <= total - INFLIGHT)
        BENCH_CHECK(cio_call_soon(loop, on_rearm, arg));
}

static void rearm(long n)
{
    count = 0;
    total = n < INFLIGHT ? INFLIGHT : n;
    for (long i = 0; i < INFLIGHT; i++)
        BENCH_CHECK(cio_call_soon(loop, on_rearm, NULL));
    BENCH_CHECK(cio_loop_run_forever(loop));
    BENCH_CHECK(count != total);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 1000000);
    long rounds = bench_arg(argc, argv, 2, 5);
    BENCH_CHECK(cio_loop_new(NULL, &loop));

    round_of(n);
    uint64_t t0 = bench_now_ns();
    for (long r = 0; r < rounds; r++)
        round_of(n);
    uint64_t t1 = bench_now_ns();
    double batch = n * rounds / ((t1 - t0) / 1e9);

    rearm(n);
    t0 = bench_now_ns();
    rearm(n * rounds);
    t1 = bench_now_ns();
    double rearmed = total / ((t1 - t0) / 1e9);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("call_soon_batch", "cio", "callbacks_per_s", "1/s", batch, "higher");
    bench_emit("call_soon_batch", "cio", "callbacks_per_s_rearm", "1/s", rearmed, "higher");
    return 0;
}
