/* timers_10m: libuv's million_timers workload at 10M timers: timer i is due
 * after 1 + i/1000 ms, so a thousand timers share each millisecond. Reports
 * the time to start them all (ms) and the process's CPU time until the last
 * one fired (s). */
#include <cio/loop.h>

#include "../common.h"

static long fired, total;
static cio_loop *loop;

static void on_timer(void *arg)
{
    (void)arg;
    if (++fired == total)
        cio_loop_stop(loop);
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 10000000);
    BENCH_CHECK(cio_loop_new(NULL, &loop));

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++)
        BENCH_CHECK(cio_call_later(loop, bench_million_timeout_ms(i) / 1000.0, on_timer, NULL, NULL));
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(cio_loop_run_forever(loop));
    double cpu = bench_cpu_s();
    if (fired != total) {
        fprintf(stderr, "fired %ld of %ld timers\n", fired, total);
        return 1;
    }
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("timers_10m", "cio", "init", "ms", (double)(t1 - t0) / 1e6, "lower");
    bench_emit("timers_10m", "cio", "cpu", "s", cpu, "lower");
    return 0;
}
