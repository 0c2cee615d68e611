/* call_soon_batch, libuv: 1,000 idle handles, each of whose callbacks runs
 * once per loop iteration; a round counts N callbacks (N/1000 iterations)
 * and then stops every handle. Like cio's version: one untimed round, then
 * `rounds` timed ones; reports callbacks per second over those. */
#include <uv.h>

#include "../../common.h"

#define HANDLES 1000

static long count, total;
static uv_idle_t idles[HANDLES];

static void on_idle(uv_idle_t *idle)
{
    (void)idle;
    if (++count == total)
        for (int i = 0; i < HANDLES; i++)
            uv_idle_stop(&idles[i]);
}

static void round_of(uv_loop_t *loop, long n)
{
    count = 0;
    total = n;
    for (int i = 0; i < HANDLES; i++)
        BENCH_CHECK(uv_idle_start(&idles[i], on_idle));
    BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT));
    BENCH_CHECK(count != n);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 1000000);
    long rounds = bench_arg(argc, argv, 2, 5);
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    for (int i = 0; i < HANDLES; i++)
        BENCH_CHECK(uv_idle_init(&loop, &idles[i]));

    round_of(&loop, n);
    uint64_t t0 = bench_now_ns();
    for (long r = 0; r < rounds; r++)
        round_of(&loop, n);
    uint64_t t1 = bench_now_ns();

    for (int i = 0; i < HANDLES; i++)
        uv_close((uv_handle_t *)&idles[i], NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));

    bench_emit("call_soon_batch", "libuv", "callbacks_per_s", "1/s", n * rounds / ((t1 - t0) / 1e9),
               "higher");
    return 0;
}
