/* timers_1m: start N (default 1,000,000) timers with random timeouts in
 * [0, 1000) ms, run until every one has fired. Reports the time to start
 * them all (ms) and the process's CPU time for the whole run (s). */
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
    total = bench_arg(argc, argv, 1, 1000000);
    BENCH_CHECK(cio_loop_new(NULL, &loop));
    bench_rng rng = BENCH_RNG_INIT;

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++)
        BENCH_CHECK(cio_call_later(loop, bench_rand_ms(&rng) / 1000.0, on_timer, NULL, NULL));
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(cio_loop_run_forever(loop));
    double cpu = bench_cpu_s();
    if (fired != total) {
        fprintf(stderr, "fired %ld of %ld timers\n", fired, total);
        return 1;
    }
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("timers_1m", "cio", "schedule", "ms", (double)(t1 - t0) / 1e6, "lower");
    bench_emit("timers_1m", "cio", "cpu", "s", cpu, "lower");
    return 0;
}
