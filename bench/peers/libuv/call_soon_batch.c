/* call_soon_batch, libuv. libuv has no callback queue; two ways to run
 * many callbacks with it:
 *
 * default: 1,000 idle handles, each of whose callbacks runs once per loop
 *   iteration; a round counts N callbacks (N/1000 iterations) and then
 *   stops every handle. Like cio's version: one untimed round, then
 *   `rounds` timed ones; callbacks per second over those, reported as
 *   callbacks_per_s (the figure cio's target is set against) and as
 *   callbacks_per_s_rearm (the same run: it is the shape cio's rearm figure
 *   copies, 1,000 callbacks in flight that stay armed).
 * "oneshot" (second argument): the work cio's callbacks_per_s does, N
 *   distinct callbacks pending at once, each run once: N idle handles
 *   (initialised untimed), a round starts them all, then runs the loop;
 *   each callback stops its own handle. Reported as callbacks_per_s under
 *   the implementation name libuv_oneshot.
 *
 * usage: libuv_call_soon_batch [N [ROUNDS [oneshot]]]   (default 1M, 5) */
#include <stdbool.h>
#include <uv.h>

#include "../../common.h"

#define HANDLES 1000

static long count, total;
static uv_idle_t *idles;
static long nidles;

static void on_idle(uv_idle_t *idle)
{
    (void)idle;
    if (++count == total)
        for (long i = 0; i < nidles; i++)
            uv_idle_stop(&idles[i]);
}

static void on_idle_once(uv_idle_t *idle)
{
    count++;
    uv_idle_stop(idle);
}

static void round_of(uv_loop_t *loop, long n, bool oneshot)
{
    count = 0;
    total = n;
    for (long i = 0; i < nidles; i++)
        BENCH_CHECK(uv_idle_start(&idles[i], oneshot ? on_idle_once : on_idle));
    BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT));
    BENCH_CHECK(count != n);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 1000000);
    long rounds = bench_arg(argc, argv, 2, 5);
    bool oneshot = argc > 3 && strcmp(argv[3], "oneshot") == 0;
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    nidles = oneshot ? n : HANDLES;
    idles = calloc(nidles, sizeof *idles);
    BENCH_CHECK(idles == NULL);
    for (long i = 0; i < nidles; i++)
        BENCH_CHECK(uv_idle_init(&loop, &idles[i]));

    round_of(&loop, n, oneshot);
    uint64_t t0 = bench_now_ns();
    for (long r = 0; r < rounds; r++)
        round_of(&loop, n, oneshot);
    uint64_t t1 = bench_now_ns();
    double rate = n * rounds / ((t1 - t0) / 1e9);

    for (long i = 0; i < nidles; i++)
        uv_close((uv_handle_t *)&idles[i], NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));
    free(idles);

    bench_emit("call_soon_batch", oneshot ? "libuv_oneshot" : "libuv", "callbacks_per_s", "1/s", rate,
               "higher");
    if (!oneshot)
        bench_emit("call_soon_batch", "libuv", "callbacks_per_s_rearm", "1/s", rate, "higher");
    return 0;
}
