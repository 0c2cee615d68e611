/* loop_iter: how many idle loop iterations per second: N calls of
 * cio_loop_run_once(loop, CIO_RUN_NOWAIT) on a loop with nothing to do. */
#include <cio/loop.h>

#include "../common.h"

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 20000000);
    cio_loop *loop;
    BENCH_CHECK(cio_loop_new(&loop, NULL));

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
        if (rc < 0)
            BENCH_CHECK(rc);
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("loop_iter", "cio", "iterations_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
