/* spawn, cio: start an empty task, run it to completion and reap it.
 *
 * ns_per_task: cio_spawn + cio_await + cio_future_unref, one task at a time
 * (asyncio's `await create_task(coro())` in a loop), N times.
 * ns_per_task_batch: the same N tasks in batches of 1,000: all spawned,
 * then awaited in order and released.
 *
 * usage: cio_spawn [N]   (default 1M) */
#include <cio.h>

#include "../common.h"

#define BATCH 1000

static int empty(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static void one_by_one(long n)
{
    for (long i = 0; i < n; i++) {
        cio_task *t;
        BENCH_CHECK(cio_spawn(empty, NULL, &t));
        BENCH_CHECK(cio_await(t, NULL));
        cio_future_unref(t);
    }
}

static void batches(long rounds)
{
    static cio_task *tasks[BATCH];
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++)
            BENCH_CHECK(cio_spawn(empty, NULL, &tasks[i]));
        for (int i = 0; i < BATCH; i++) {
            BENCH_CHECK(cio_await(tasks[i], NULL));
            cio_future_unref(tasks[i]);
        }
    }
}

static int bench_main(void *arg, void **result)
{
    (void)result;
    long n = *(long *)arg;
    one_by_one(1000); /* warm-up: stacks cached, queues grown */
    batches(1);

    uint64_t t0 = bench_now_ns();
    one_by_one(n);
    uint64_t t1 = bench_now_ns();
    bench_emit("spawn", "cio", "ns_per_task", "ns", (double)(t1 - t0) / n, "lower");

    long rounds = n / BATCH > 0 ? n / BATCH : 1;
    t0 = bench_now_ns();
    batches(rounds);
    t1 = bench_now_ns();
    bench_emit("spawn", "cio", "ns_per_task_batch", "ns", (double)(t1 - t0) / (rounds * BATCH),
               "lower");
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 1000000);
    BENCH_CHECK(cio_run(bench_main, &n, NULL));
    return 0;
}
