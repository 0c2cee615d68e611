/* Task stacks on kernels without MADV_GUARD_INSTALL (Linux before 6.13:
 * Debian 12, Ubuntu 22.04): guards made with mprotect within a budget read
 * from vm.max_map_count, gap protection past it (src/task/stack.c).
 *
 * The first case spawns many idle tasks and checks the program still has
 * room for threads and large mallocs; `make compat` runs it with a million
 * tasks (CIO_TEST_IDLE_TASKS=1000000) under tests/compat/cio-compat, where
 * the budget is the real one. The other cases force the fallback with a
 * small budget (cio__stack_test_guard_budget), so they test it on any
 * kernel, and run the overflowing task in a child whose stderr they read;
 * one installs cio-compat's filter in a child and takes every kernel
 * fallback there. */
#include <sys/mman.h>

#include "compat/filter.h"
#include "task/stack.h"
#include "task/task_util.h"

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    EXPECT_TRUE(f != NULL);
    long n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static long max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = 65530;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

/* ---- many idle tasks ------------------------------------------------------------- */

static long idle_started;

static int idle(void *arg, void **result)
{
    (void)arg;
    (void)result;
    idle_started++;
    return cio_sleep(3600); /* -ECANCELED at the end */
}

static void *thread_body(void *arg)
{
    /* A thread with a default stack, and a malloc that is its own mapping. */
    char *p = malloc(1 << 20);
    if (p)
        memset(p, 1, 1 << 20);
    *(int *)arg = p != NULL;
    free(p);
    return NULL;
}

static int main_many_idle(void *arg, void **result)
{
    (void)result;
    capture_reports_here();
    long n = *(long *)arg;
    cio_task **tasks = calloc((size_t)n, sizeof *tasks);
    EXPECT_TRUE(tasks != NULL);
    for (long i = 0; i < n; i++)
        EXPECT_OK(cio_spawn(idle, NULL, &tasks[i]));
    while (idle_started < n)
        EXPECT_OK(cio_yield());

    /* All alive at once: the rest of the program still has room. */
    long maps = count_maps(), max = max_map_count();
    fprintf(stderr, "%ld idle tasks: %ld of %ld mappings in use\n", n, maps, max);
    if (maps > max - max / 8)
        FAIL("%ld idle tasks use %ld of %ld mappings: too little left for the program", n, maps,
             max);
    for (int i = 0; i < 8; i++) {
        pthread_t th;
        int ok = 0;
        EXPECT_OK(pthread_create(&th, NULL, thread_body, &ok));
        EXPECT_OK(pthread_join(th, NULL));
        EXPECT_TRUE(ok);
    }
    char *big = malloc(1 << 20);
    EXPECT_TRUE(big != NULL);
    memset(big, 2, 1 << 20);
    free(big);

    for (long i = 0; i < n; i++)
        EXPECT_OK(cio_future_cancel(tasks[i]));
    for (long i = 0; i < n; i++) {
        EXPECT_ERR(-ECANCELED, cio_await(tasks[i], NULL));
        cio_future_unref(tasks[i]);
    }
    free(tasks);
    EXPECT_NO_REPORTS();
    return 0;
}

/* 100,000 by default (past the real budget, about 24,000 guards at the
 * default vm.max_map_count, when run under cio-compat); `make compat` asks
 * for a million. */
static void many_idle_env(void *arg)
{
    (void)arg;
    long n = env_long("CIO_TEST_IDLE_TASKS", 100000);
    EXPECT_OK(cio_run(main_many_idle, &n, NULL));
}

TEST_T(many_idle_tasks_leave_room_for_threads_and_malloc, 900)
{
    /* Past the real budget (under cio-compat) the process says once that
     * stacks are gap-protected; that line is expected, any other is not. */
    char err[8192];
    test_capture_stderr(many_idle_env, NULL, err, sizeof err);
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n")) {
        fprintf(stderr, "[captured] %s\n", line);
        if (strncmp(line, "cio: ", 5) == 0 && !strstr(line, "no stack guard pages left"))
            FAIL("unexpected report: %s", line);
    }
}

/* The same with a forced small budget: the fallback path on any kernel. */
static void many_idle_20000(void *arg)
{
    (void)arg;
    long n = 20000;
    EXPECT_OK(cio_run(main_many_idle, &n, NULL));
}

TEST_T(many_idle_tasks_past_a_small_guard_budget, 300)
{
    cio__stack_test_guard_budget(200);
    /* Past the budget the process says once that stacks are gap-protected. */
    char err[4096];
    test_capture_stderr(many_idle_20000, NULL, err, sizeof err);
    if (!strstr(err, "no stack guard pages left"))
        FAIL("expected the gap-protection line on stderr, got: %s", err);
}

/* ---- children ------------------------------------------------------------------------ */

static char child_err[16384];

/* Runs fn in a child with a guard budget of `budget` mappings; returns the
 * wait status, the child's stderr in child_err. */
struct budget_child {
    long budget;
    void (*fn)(void);
};

static void budget_child_body(void *arg)
{
    const struct budget_child *c = arg;
    cio__stack_test_guard_budget(c->budget);
    c->fn();
}

static int run_child(long budget, void (*fn)(void))
{
    struct budget_child c = {budget, fn};
    return test_run_child(budget_child_body, &c, child_err, sizeof child_err);
}

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void expect_overflow_named(int st, const char *name)
{
    if (WIFEXITED(st))
        FAIL("the overflowing child exited (%d); stderr: %s", WEXITSTATUS(st), child_err);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
        FAIL("the child did not abort (status %#x); stderr: %s", st, child_err);
    char want[128];
    snprintf(want, sizeof want, "cio: stack overflow in task '%s'", name);
    if (!strstr(child_err, want))
        FAIL("no \"%s\" in the child's stderr: \"%s\"", want, child_err);
    if (strstr(child_err, "neighbour ran") || strstr(child_err, "neighbour corrupted"))
        FAIL("another task ran after the overflow: \"%s\"", child_err);
}

/* ---- overflow past the budget --------------------------------------------------------- */

/* ~600 bytes per frame, each frame writing its ends; stops once its frame is
 * below `stop` (or never, for stop 0) and then calls at_bottom. */
static int (*at_bottom)(void);
static __attribute__((noinline)) int dive(volatile char *prev, uintptr_t stop)
{
    volatile char buf[512];
    buf[0] = 1;
    buf[511] = prev ? prev[0] : 1;
    if (stop && (uintptr_t)buf < stop)
        return at_bottom ? at_bottom() : buf[0];
    return dive(buf, stop) + buf[511];
}

static int yield_at_bottom(void) { return cio_yield() == 0; }

/* Idle neighbours: they check their own state each time they run, and say
 * so if they run at all after the diver started. */
static volatile int diver_started;

static int neighbour(void *arg, void **result)
{
    (void)result;
    volatile uint64_t mine[8];
    for (int i = 0; i < 8; i++)
        mine[i] = 0x5eed0000u + (uint64_t)(uintptr_t)arg + (uint64_t)i;
    for (;;) {
        if (cio_yield() != 0)
            return 0;
        for (int i = 0; i < 8; i++)
            if (mine[i] != 0x5eed0000u + (uint64_t)(uintptr_t)arg + (uint64_t)i)
                fprintf(stderr, "neighbour corrupted\n");
        if (diver_started)
            fprintf(stderr, "neighbour ran after the diver\n");
    }
}

struct dive_case {
    uintptr_t below; /* how far below the task's first frame to dive; 0: forever */
    bool yield_at_bottom;
};
static struct dive_case the_case;

static int diver(void *arg, void **result)
{
    (void)arg;
    (void)result;
    volatile char here;
    diver_started = 1;
    uintptr_t stop = the_case.below ? (uintptr_t)&here - the_case.below : 0;
    at_bottom = the_case.yield_at_bottom ? yield_at_bottom : NULL;
    int r = dive(NULL, stop);
    /* Back at the top: the next switch-out is where a bounded overflow is
     * caught. */
    (void)cio_yield();
    fprintf(stderr, "survived %d\n", r);
    return 0;
}

static void dive_child(void)
{
    cio_loop *loop = task_loop_new();
    /* Neighbours on both sides of the diver, all past the budget. */
    for (int i = 0; i < 8; i++)
        EXPECT_OK(cio_task_new(loop, NULL, neighbour, V(i), NULL));
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "gap-diver";
    o.stack_size = 64 * 1024;
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, &o, diver, NULL, &t));
    o.name = NULL;
    for (int i = 8; i < 16; i++)
        EXPECT_OK(cio_task_new(loop, &o, neighbour, V(i), NULL));
    cio_loop_run_until_complete(loop, t);
    fprintf(stderr, "survived the loop\n");
}

TEST(past_the_budget_a_bounded_overflow_is_caught_at_switch_out)
{
    /* 96 KiB below the first frame of a 64 KiB stack: through the 8 KiB
     * guard area into the unused slot below, then back up; the task then
     * yields and must die before any neighbour runs. */
    the_case = (struct dive_case){96 * 1024, false};
    int st = run_child(0, dive_child);
    expect_overflow_named(st, "gap-diver");
    if (!strstr(child_err, "caught at its switch-out"))
        FAIL("not caught at the switch-out: \"%s\"", child_err);
}

TEST(past_the_budget_suspending_below_the_stack_is_caught)
{
    /* The task suspends with its stack pointer below its stack. */
    the_case = (struct dive_case){96 * 1024, true};
    int st = run_child(0, dive_child);
    expect_overflow_named(st, "gap-diver");
}

TEST(past_the_budget_unbounded_recursion_dies_naming_the_task)
{
    the_case = (struct dive_case){0, false};
    int st = run_child(0, dive_child);
    expect_overflow_named(st, "gap-diver");
}

TEST(past_a_partly_used_budget_unbounded_recursion_dies_naming_the_task)
{
    /* A few guards first, then gap protection, in the same region. */
    the_case = (struct dive_case){0, false};
    int st = run_child(11, dive_child);
    expect_overflow_named(st, "gap-diver");
}

/* ---- said once ---------------------------------------------------------------------------- */

static int noop(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cio_yield();
}

static int main_some_tasks(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    cio_task *ts[300];
    for (int i = 0; i < 300; i++)
        EXPECT_OK(cio_spawn(noop, NULL, &ts[i]));
    for (int i = 0; i < 300; i++) {
        EXPECT_OK(cio_await(ts[i], NULL));
        cio_future_unref(ts[i]);
    }
    EXPECT_NO_REPORTS();
    return 0;
}

static void some_tasks_child(void)
{
    EXPECT_OK(cio_run(main_some_tasks, NULL, NULL));
    EXPECT_OK(cio_run(main_some_tasks, NULL, NULL));
}

TEST(gap_protection_is_said_once)
{
    int st = run_child(20, some_tasks_child);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("child failed (status %#x): %s", st, child_err);
    EXPECT_EQ(1, count_str(child_err, "cio: no stack guard pages left"));
    EXPECT_TRUE(strstr(child_err, "vm.max_map_count=") != NULL);
}

TEST(within_the_budget_nothing_is_said)
{
    int st = run_child(100000, some_tasks_child);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("child failed (status %#x): %s", st, child_err);
    EXPECT_EQ(0, count_str(child_err, "cio:"));
}

/* ---- every fallback at once, under cio-compat's filter -------------------------------------- */

static int pool_job(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static int big_stack_task(void *arg, void **result)
{
    (void)result;
    volatile char buf[64 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = 1;
    int rc = cio_sleep(0.001); /* the timer wheel without MADV_POPULATE_WRITE */
    if (rc)
        return rc;
    if ((uintptr_t)arg % 100 == 0) {
        /* a pool job: its completion crosses threads without membarrier */
        void *r = NULL;
        rc = cio_to_thread(pool_job, arg, &r);
        if (rc == 0 && r != arg)
            rc = -EIO;
    }
    return rc ? rc : buf[0] - 1;
}

static int main_fallbacks(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    /* 1,500 stacks of 1 MiB: more than one 1 GiB region, which the filter
     * refuses (as vm.overcommit_memory=2 would). */
    enum { N = 1500 };
    static cio_task *ts[N];
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.stack_size = 1u << 20;
    for (int i = 0; i < N; i++)
        EXPECT_OK(cio_task_new(cio_current_loop(), &o, big_stack_task, V(i), &ts[i]));
    for (int i = 0; i < N; i++) {
        EXPECT_OK(cio_await(ts[i], NULL));
        cio_future_unref(ts[i]);
    }
    EXPECT_NO_REPORTS();
    return 0;
}

static void fallbacks_child(void)
{
    if (cio_compat_install() != 0 || cio_compat_check() != 0)
        _exit(77);
    EXPECT_OK(cio_run(main_fallbacks, NULL, NULL));
}

TEST_T(every_kernel_fallback_under_the_compat_filter, 300)
{
    /* The child's guard budget: a quarter of what its stacks need, so it
     * ends in gap mode (the real budget, from vm.max_map_count, would take
     * some 24,000 tasks to exhaust: `make compat` does that). */
    int st = run_child(2 * 1500 / 4, fallbacks_child);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("child failed (status %#x): %s", st, child_err);
    EXPECT_EQ(1, count_str(child_err, "cio: no stack guard pages left"));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
