/* loop_iter, libuv: N calls of uv_run(UV_RUN_NOWAIT), each one iteration
 * (libuv's loop_count benchmark counts the same iterations with an idle
 * handle). The idle handle keeps the loop alive: with no active handle
 * uv_run returns without iterating. */
#include <uv.h>

#include "../../common.h"

static long idles;

static void on_idle(uv_idle_t *idle)
{
    (void)idle;
    idles++;
}

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 20000000);
    uv_loop_t loop;
    uv_idle_t idle;
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_idle_init(&loop, &idle));
    BENCH_CHECK(uv_idle_start(&idle, on_idle));

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(idles != total);

    uv_close((uv_handle_t *)&idle, NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));

    bench_emit("loop_iter", "libuv", "iterations_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
