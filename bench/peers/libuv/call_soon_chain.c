/* call_soon_chain, libuv: libuv has no callback queue of its own; the way
 * to run one callback per loop iteration is an idle handle, whose callback
 * runs once per iteration until stopped. Counts N iterations. */
#include <uv.h>

#include "../../common.h"

static long count, total;

static void on_idle(uv_idle_t *idle)
{
    if (++count == total)
        uv_idle_stop(idle);
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 20000000);
    uv_loop_t loop;
    uv_idle_t idle;
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_idle_init(&loop, &idle));

    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(uv_idle_start(&idle, on_idle));
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(count != total);

    uv_close((uv_handle_t *)&idle, NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));

    bench_emit("call_soon_chain", "libuv", "callbacks_per_s", "1/s", total / ((t1 - t0) / 1e9),
               "higher");
    return 0;
}
