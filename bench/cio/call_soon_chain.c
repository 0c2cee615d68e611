/* call_soon_chain: every callback schedules the next one, so exactly one
 * callback runs per loop iteration (a callback scheduled while the queue
 * runs waits for the next iteration). Reports callbacks per second. */
#include <cio/loop.h>

#include "../common.h"

static long count, total;
static cio_loop *loop;

static void step(void *arg)
{
    if (++count == total) {
        cio_loop_stop(loop);
        return;
    }
    BENCH_CHECK(cio_call_soon(loop, step, arg));
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 20000000);
    BENCH_CHECK(cio_loop_new(&loop, NULL));

    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(cio_call_soon(loop, step, NULL));
    BENCH_CHECK(cio_loop_run_forever(loop));
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(count != total);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("call_soon_chain", "cio", "callbacks_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
