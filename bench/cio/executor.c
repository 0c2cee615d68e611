/* executor: N (default 1M) no-op jobs through the thread pool and back to
 * the loop, at most 1,024 in flight: each completion's done-callback drops
 * the future and submits the next job. Reports jobs per second, and CPU time
 * per job (loop thread, whole process with the pool). The pool
 * size is cio's default ($CIO_THREADS, else the online CPUs); bench/run
 * sets CIO_THREADS=2. */
#include <cio/future.h>
#include <cio/loop.h>

#include "../common.h"

#define IN_FLIGHT 1024

static long submitted, done, total;
static cio_loop *loop;

static int noop(void *arg, void **result)
{
    (void)arg;
    *result = NULL;
    return 0;
}

static void submit(void);

static void on_done(cio_future *fut, void *arg)
{
    (void)arg;
    BENCH_CHECK(cio_future_error(fut));
    cio_future_unref(fut);
    if (++done == total)
        cio_loop_stop(loop);
    else if (submitted < total)
        submit();
}

static void submit(void)
{
    cio_future *fut;
    BENCH_CHECK(cio_to_thread_future(loop, NULL, noop, NULL, &fut));
    BENCH_CHECK(cio_future_add_done_callback(fut, on_done, NULL));
    submitted++;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 1000000);
    BENCH_CHECK(cio_loop_new(NULL, &loop));
    fprintf(stderr, "executor: cio pool of %u threads\n", cio_threadpool_size());

    bench_cpu_mark cpu0 = bench_cpu_now();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < IN_FLIGHT && submitted < total; i++)
        submit();
    BENCH_CHECK(cio_loop_run_forever(loop));
    uint64_t t1 = bench_now_ns();
    bench_cpu_mark cpu1 = bench_cpu_now();
    BENCH_CHECK(done != total);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("executor", "cio", "jobs_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    bench_emit_cpu("executor", "cio", cpu0, cpu1, total);
    return 0;
}
