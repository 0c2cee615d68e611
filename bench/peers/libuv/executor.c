/* executor, libuv: N no-op jobs through uv_queue_work, at most 1,024 in
 * flight: each after-work callback resubmits its request until N were
 * submitted. libuv's pool has 4 threads unless $UV_THREADPOOL_SIZE says
 * otherwise; bench/run sets it to 2, the size of cio's default pool here.
 * Jobs per second, and CPU time per job (loop thread, whole process). */
#include <uv.h>

#include "../../common.h"

#define IN_FLIGHT 1024

static long submitted, done, total;
static uv_work_t reqs[IN_FLIGHT];

static void noop(uv_work_t *req) { (void)req; }

static void after(uv_work_t *req, int status)
{
    BENCH_CHECK(status);
    done++;
    if (submitted < total) {
        submitted++;
        BENCH_CHECK(uv_queue_work(req->loop, req, noop, after));
    }
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 1000000);
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    const char *size = getenv("UV_THREADPOOL_SIZE");
    fprintf(stderr, "executor: libuv pool of %s threads\n", size ? size : "4 (default)");

    bench_cpu_mark cpu0 = bench_cpu_now();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < IN_FLIGHT && submitted < total; i++) {
        submitted++;
        BENCH_CHECK(uv_queue_work(&loop, &reqs[i], noop, after));
    }
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    uint64_t t1 = bench_now_ns();
    bench_cpu_mark cpu1 = bench_cpu_now();
    BENCH_CHECK(done != total);
    BENCH_CHECK(uv_loop_close(&loop));

    bench_emit("executor", "libuv", "jobs_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    bench_emit_cpu("executor", "libuv", cpu0, cpu1, total);
    return 0;
}
