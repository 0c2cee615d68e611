/* watchdog: what the stall watchdog (cio_loop_set_stall_watchdog) costs a
 * task-switch-heavy program. cio only: the peers have no such thing. Two
 * workloads, each timed with the watchdog off and on, alternately (three
 * rounds of each, so a slow drift of the machine hits both alike):
 *
 *   yield: two tasks alternate cio_yield (as in switch's ns_per_yield);
 *          ns_per_yield, ns_per_yield_watchdog, yield_overhead_pct;
 *   spawn: cio_spawn + cio_await + cio_future_unref of an empty task, one at
 *          a time (as in spawn's ns_per_task); ns_per_task,
 *          ns_per_task_watchdog, task_overhead_pct.
 *
 * The watchdog's limit is LIMIT seconds (default 10: a production setting;
 * it never fires here, so this measures only what watching costs). Its
 * thread runs on the same CPU as the loop (the harness pins the process),
 * so whatever it spends shows in the loop's time. The overhead is
 * (on - off) / off, in percent.
 *
 * usage: cio_watchdog [N [LIMIT]]   (N yields per task and N spawns per
 *        round, default 2M) */
#include <cio.h>

#include "../common.h"

#define ROUNDS 3

static long n;
static double limit;

static int yielder(void *arg, void **result)
{
    (void)arg;
    (void)result;
    for (long i = 0; i < n; i++) {
        int rc = cio_yield();
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Time of one yield: two tasks, n yields each. */
static uint64_t yield_round(void)
{
    cio_task *other;
    BENCH_CHECK(cio_spawn(yielder, NULL, &other));
    BENCH_CHECK(cio_yield()); /* let it start: from here on the two alternate */
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(yielder(NULL, NULL));
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(cio_await(other, NULL));
    cio_future_unref(other);
    return t1 - t0;
}

static int empty(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static uint64_t spawn_round(void)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        cio_task *t;
        BENCH_CHECK(cio_spawn(empty, NULL, &t));
        BENCH_CHECK(cio_await(t, NULL));
        cio_future_unref(t);
    }
    return bench_now_ns() - t0;
}

static void watchdog(bool on)
{
    BENCH_CHECK(cio_loop_set_stall_watchdog(cio_current_loop(), on ? limit : 0));
}

static void emit(const char *unit_metric, const char *pct_metric, double off,
                 double on)
{
    char name[64];
    bench_emit("watchdog", "cio", unit_metric, "ns", off, "lower");
    snprintf(name, sizeof name, "%s_watchdog", unit_metric);
    bench_emit("watchdog", "cio", name, "ns", on, "lower");
    bench_emit("watchdog", "cio", pct_metric, "%", (on - off) / off * 100, "lower");
}

static int bench_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* Warm-up: stacks cached, queues grown, the watchdog's thread started
     * and stopped once. */
    for (int i = 0; i < 1000; i++)
        BENCH_CHECK(cio_yield());
    long saved = n;
    n = 1000;
    watchdog(true);
    spawn_round();
    yield_round();
    watchdog(false);
    spawn_round();
    n = saved;

    uint64_t yield_off = 0, yield_on = 0, task_off = 0, task_on = 0;
    for (int r = 0; r < ROUNDS; r++) {
        yield_off += yield_round();
        watchdog(true);
        yield_on += yield_round();
        watchdog(false);
        task_off += spawn_round();
        watchdog(true);
        task_on += spawn_round();
        watchdog(false);
    }
    double yields = 2.0 * n * ROUNDS, tasks = (double)n * ROUNDS;
    emit("ns_per_yield", "yield_overhead_pct", yield_off / yields, yield_on / yields);
    emit("ns_per_task", "task_overhead_pct", task_off / tasks, task_on / tasks);
    return 0;
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 2000000);
    limit = argc > 2 ? strtod(argv[2], NULL) : 10.0;
    if (!(limit > 0)) {
        fprintf(stderr, "bad watchdog limit: %s\n", argv[2]);
        return 2;
    }
    BENCH_CHECK(cio_run(bench_main, NULL, NULL));
    return 0;
}
