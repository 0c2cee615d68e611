/* timers_1m, libuv: N uv_timer_t in one array, each started with a random
 * timeout in [0, 1000) ms (the same sequence as every other impl). */
#include <uv.h>

#include "../../common.h"

static long fired, total;

static void on_timer(uv_timer_t *t)
{
    (void)t;
    fired++;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 1000000);
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    uv_timer_t *timers = malloc(total * sizeof *timers);
    BENCH_CHECK(timers == NULL);
    bench_rng rng = BENCH_RNG_INIT;

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        BENCH_CHECK(uv_timer_init(&loop, &timers[i]));
        BENCH_CHECK(uv_timer_start(&timers[i], on_timer, bench_rand_ms(&rng), 0));
    }
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    double cpu = bench_cpu_s();
    BENCH_CHECK(fired != total);

    for (long i = 0; i < total; i++)
        uv_close((uv_handle_t *)&timers[i], NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));
    free(timers);

    bench_emit("timers_1m", "libuv", "schedule", "ms", (double)(t1 - t0) / 1e6, "lower");
    bench_emit("timers_1m", "libuv", "cpu", "s", cpu, "lower");
    return 0;
}
