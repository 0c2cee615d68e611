/* switch, cio: what a context switch costs, two ways.
 *
 * ns_per_switch: the raw primitive under every task, cio__ctx_switch (an
 * internal function, src/task/ctx.h: the bench is built with src/ on its
 * include path). The main context and one coroutine switch back and forth,
 * exactly as the Boost.Context and ucontext peers do; every switch counts.
 * Skipped (not printed) if the internal header is not there.
 *
 * ns_per_yield: what a task pays through the public API. Two tasks
 * alternate cio_yield; each yield suspends one task into the loop, which
 * resumes the other from its callback queue, so one yield is two raw
 * switches plus a trip through the scheduler. Time per yield.
 *
 * usage: cio_switch [SWITCHES [YIELDS]]   (default 100M, 10M) */
#include <cio.h>

#include "../common.h"

#if defined(__has_include)
#if __has_include("task/ctx.h")
#include "task/ctx.h"
#define HAVE_CTX 1
#endif
#endif

#ifdef HAVE_CTX
static cio__ctx main_ctx, co_ctx;

static void body(void *arg)
{
    (void)arg;
    for (;;)
        cio__ctx_switch(&co_ctx, &main_ctx);
}

static double raw_switch(long total)
{
    long rounds = total / 2; /* a round trip is two switches */
    const size_t size = 64 * 1024;
    char *stack = malloc(size);
    BENCH_CHECK(stack == NULL);
    cio__ctx_init(&co_ctx, stack, size, body, NULL);
    for (long i = 0; i < 10000; i++) /* warm-up */
        cio__ctx_switch(&main_ctx, &co_ctx);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++)
        cio__ctx_switch(&main_ctx, &co_ctx);
    uint64_t t1 = bench_now_ns();
    free(stack);
    return (double)(t1 - t0) / (2.0 * rounds);
}
#endif

static long yields;

static int yielder(void *arg, void **result)
{
    (void)arg;
    (void)result;
    for (long i = 0; i < yields; i++) {
        int rc = cio_yield();
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int bench_main(void *arg, void **result)
{
    (void)result;
    double *ns = arg;
    cio_task *other;
    /* Warm-up: a few yields with the other task not there yet. */
    for (int i = 0; i < 1000; i++)
        BENCH_CHECK(cio_yield());
    BENCH_CHECK(cio_spawn(yielder, NULL, &other));
    BENCH_CHECK(cio_yield()); /* let it start: from here on the two alternate */
    uint64_t t0 = bench_now_ns();
    int rc = yielder(NULL, NULL);
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(rc);
    BENCH_CHECK(cio_await(other, NULL));
    cio_future_unref(other);
    *ns = (double)(t1 - t0) / (2.0 * yields);
    return 0;
}

int main(int argc, char **argv)
{
    long switches = bench_arg(argc, argv, 1, 100000000);
    yields = bench_arg(argc, argv, 2, 10000000);
#ifdef HAVE_CTX
    bench_emit("switch", "cio", "ns_per_switch", "ns", raw_switch(switches), "lower");
#else
    (void)switches;
    fprintf(stderr, "cio_switch: src/task/ctx.h not found: raw switch not measured\n");
#endif
    double ns = 0;
    BENCH_CHECK(cio_run(bench_main, &ns, NULL));
    bench_emit("switch", "cio", "ns_per_yield", "ns", ns, "lower");
    return 0;
}
