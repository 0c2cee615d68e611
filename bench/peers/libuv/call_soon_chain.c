/* call_soon_chain, libuv: libuv has no callback queue of its own; the way
 * to run one callback per loop iteration is an idle handle, whose callback
 * runs once per iteration until stopped. Counts N iterations. libuv polls
 * in every iteration (it cannot skip the poll: uv_loop_init already
 * watches descriptors of its own), so its figure is callbacks_per_s_polled,
 * beside cio's polled figure, asyncio's and uvloop's. One uv_poll_t
 * watches a pipe nobody writes, as in every implementation.
 *
 * usage: libuv_call_soon_chain [N]   (default 20M) */
#include <unistd.h>
#include <uv.h>

#include "../../common.h"

static long count, total;
static uv_poll_t poll;

static void on_idle(uv_idle_t *idle)
{
    if (++count == total) {
        uv_idle_stop(idle);
        uv_poll_stop(&poll);
    }
}

static void never(uv_poll_t *p, int status, int events)
{
    (void)p, (void)status, (void)events;
    fprintf(stderr, "call_soon_chain: the idle descriptor became ready\n");
    exit(1);
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 20000000);
    uv_loop_t loop;
    uv_idle_t idle;
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_idle_init(&loop, &idle));
    int fds[2];
    BENCH_CHECK(pipe(fds));
    BENCH_CHECK(uv_poll_init(&loop, &poll, fds[0]));
    BENCH_CHECK(uv_poll_start(&poll, UV_READABLE, never));

    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(uv_idle_start(&idle, on_idle));
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(count != total);

    uv_close((uv_handle_t *)&idle, NULL);
    uv_close((uv_handle_t *)&poll, NULL);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(uv_loop_close(&loop));
    close(fds[0]);
    close(fds[1]);

    bench_emit("call_soon_chain", "libuv", "callbacks_per_s_polled", "1/s",
               total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
