/* tasks_1m, cio: N tasks (default 1M) alive at once, each asleep in
 * cio_sleep(3600) with default options (256 KiB stacks, of which an idle
 * task touches only what its frames use).
 *
 * start: ms from the first cio_spawn until every task has run to its sleep.
 * rss_per_task: the resident memory they add (VmRSS after minus VmRSS
 * before, over N), in KiB: stacks, task state, timers, everything.
 * pte_per_task: the page tables they add (VmPTE delta over N), in KiB:
 * memory the kernel spends on the tasks' sparse stacks that VmRSS does not
 * show (one page-table page maps 2 MiB, so 8 idle 256 KiB stacks).
 * Then cancels them all and waits for them (not timed).
 *
 * usage: cio_tasks_1m [N] */
#include <cio.h>

#include "../common.h"

static long started;

static int sleeper(void *arg, void **result)
{
    (void)arg;
    (void)result;
    started++;
    return cio_sleep(3600); /* -ECANCELED at the end */
}

static int bench_main(void *arg, void **result)
{
    (void)result;
    long n = *(long *)arg;
    /* The array of references is the benchmark's, not the tasks': touch it
     * before the first reading. */
    cio_task **tasks = calloc((size_t)n, sizeof *tasks);
    BENCH_CHECK(tasks == NULL);
    memset(tasks, 0xff, (size_t)n * sizeof *tasks);

    long rss0 = bench_rss_kib(), pte0 = bench_status_kib("VmPTE");
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(cio_spawn(sleeper, NULL, &tasks[i]));
    /* New tasks first run on a later iteration, in spawn order; a yield
     * resumes after them. */
    while (started < n)
        BENCH_CHECK(cio_yield());
    uint64_t t1 = bench_now_ns();
    long rss1 = bench_rss_kib(), pte1 = bench_status_kib("VmPTE");
    BENCH_CHECK(rss0 < 0 || rss1 < 0 || pte0 < 0 || pte1 < 0);

    bench_emit("tasks_1m", "cio", "start", "ms", (double)(t1 - t0) / 1e6, "lower");
    bench_emit("tasks_1m", "cio", "rss_per_task", "KiB", (double)(rss1 - rss0) / n, "lower");
    bench_emit("tasks_1m", "cio", "pte_per_task", "KiB", (double)(pte1 - pte0) / n, "lower");

    for (long i = 0; i < n; i++)
        BENCH_CHECK(cio_future_cancel(tasks[i]));
    for (long i = 0; i < n; i++) {
        int rc = cio_await(tasks[i], NULL);
        BENCH_CHECK(rc != -ECANCELED);
        cio_future_unref(tasks[i]);
    }
    free(tasks);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, 1, 1000000);
    BENCH_CHECK(cio_run(bench_main, &n, NULL));
    return 0;
}
