/* cio-test: threaded
 * Tasks and other threads: to_thread (asyncio.to_thread) results, errors
 * and cancellation; the task dump; the stall watchdog, which reports from
 * its own thread. No case asserts an upper bound on time: a blocked thread
 * is released by the test itself, never by a timer racing it. */
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#include "task/task_util.h"

#define HOUR 3600.0

/* ---- to_thread ------------------------------------------------------------------- */

static atomic_int worker_ran_on_loop_thread;
static pthread_t loop_thread;

static int work_double(void *arg, void **result)
{
    if (pthread_equal(pthread_self(), loop_thread))
        atomic_store(&worker_ran_on_loop_thread, 1);
    *result = V(U(arg) * 2);
    return 0;
}

static int work_fails(void *arg, void **result) { return -EACCES; }

static int main_to_thread(void *arg, void **result)
{
    capture_reports_here();
    loop_thread = pthread_self();
    void *v = NULL;
    EXPECT_OK(cio_to_thread(work_double, V(21), &v));
    EXPECT_PTR_EQ(V(42), v);
    EXPECT_ERR(-EACCES, cio_to_thread(work_fails, NULL, &v));
    EXPECT_OK(cio_to_thread(work_double, V(1), NULL)); /* result may be NULL */
    return 0;
}

TEST(to_thread_result_and_error)
{
    EXPECT_OK(cio_run(main_to_thread, NULL, NULL));
    EXPECT_EQ(0, atomic_load(&worker_ran_on_loop_thread));
    EXPECT_NO_REPORTS();
}

static int many_to_thread(void *arg, void **result)
{
    void *v = NULL;
    EXPECT_OK(cio_to_thread(work_double, arg, &v));
    *result = v;
    return 0;
}

static int main_to_thread_many(void *arg, void **result)
{
    cio_task *t[64];
    for (uintptr_t i = 0; i < 64; i++)
        t[i] = spawn(many_to_thread, V(i));
    for (uintptr_t i = 0; i < 64; i++) {
        void *v = NULL;
        EXPECT_OK(cio_await(t[i], &v));
        EXPECT_EQ(2 * i, U(v));
        cio_future_unref(t[i]);
    }
    return 0;
}

TEST(to_thread_from_many_tasks)
{
    EXPECT_OK(cio_run(main_to_thread_many, NULL, NULL));
}

/* A worker that blocks until the test releases it through a pipe. */
static int gate[2];
static atomic_int blocked_started, blocked_finished;

static int work_blocks(void *arg, void **result)
{
    atomic_store(&blocked_started, 1);
    char c;
    while (read(gate[0], &c, 1) < 0 && errno == EINTR)
        ;
    atomic_store(&blocked_finished, 1);
    *result = V(5);
    return 0;
}

static int task_to_thread_blocks(void *arg, void **result)
{
    void *v = NULL;
    int rc = cio_to_thread(work_blocks, NULL, &v);
    LOG("to_thread-%s;", cio_err_name(rc));
    return rc;
}

static int main_to_thread_cancel(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(pipe(gate));
    cio_task *t = spawn(task_to_thread_blocks, NULL);
    /* wait (by yielding, without timing) until the worker is inside fn */
    while (!atomic_load(&blocked_started))
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_OK(cio_future_cancel(t));
    /* returns -ECANCELED at once: fn is still blocked on the gate */
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_EQ(0, atomic_load(&blocked_finished));
    cio_future_unref(t);
    /* release it; cio_run must wait for the pool job before closing */
    EXPECT_EQ(1, write(gate[1], "x", 1));
    return 0;
}

TEST(to_thread_cancelled_returns_at_once_fn_finishes_later)
{
    EXPECT_OK(cio_run(main_to_thread_cancel, NULL, NULL));
    EXPECT_LOG("to_thread-ECANCELED;");
    EXPECT_EQ(1, atomic_load(&blocked_finished));
    EXPECT_NO_REPORTS();
    close(gate[0]);
    close(gate[1]);
}

static int main_to_thread_timeout(void *arg, void **result)
{
    EXPECT_OK(pipe(gate));
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    EXPECT_ERR(-ETIMEDOUT, cio_to_thread(work_blocks, NULL, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    EXPECT_EQ(1, write(gate[1], "x", 1));
    return 0;
}

TEST(to_thread_honours_a_deadline_scope)
{
    EXPECT_OK(cio_run(main_to_thread_timeout, NULL, NULL));
    close(gate[0]);
    close(gate[1]);
}

/* ---- the task dump ---------------------------------------------------------------- */

static int dumped_sleeper(void *arg, void **result) { return cio_sleep(HOUR); }

static int dumped_waiter(void *arg, void **result) { return cio_await(arg, NULL); }

static char dump_buf[65536];

static int main_dump(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    cio_future *f = new_future();
    EXPECT_OK(cio_future_set_name(f, "the-awaited-future"));
    cio_task *a = spawn_named("dump-alpha", dumped_sleeper, NULL);
    cio_task *b = spawn_named("dump-beta", dumped_waiter, f);
    cio_task *c = spawn_named("dump-gamma-not-started", dumped_sleeper, NULL);
    EXPECT_OK(cio_task_set_name(cio_current_task(), "dump-main"));
    EXPECT_OK(cio_yield()); /* alpha sleeps, beta waits on f; gamma starts too */
    cio_task *d = spawn_named("dump-delta-new", dumped_sleeper, NULL);

    int fd = memfd_create("dump", 0);
    EXPECT_TRUE(fd >= 0);
    EXPECT_OK(cio_task_dump(loop, fd));
    ssize_t n = pread(fd, dump_buf, sizeof dump_buf - 1, 0);
    EXPECT_TRUE(n > 0);
    dump_buf[n] = 0;
    close(fd);

    cio_task *all[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        EXPECT_OK(cio_future_cancel(all[i]));
        EXPECT_ERR(-ECANCELED, cio_await(all[i], NULL));
        cio_future_unref(all[i]);
    }
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    return 0;
}

TEST(task_dump_names_every_task)
{
    EXPECT_OK(cio_run(main_dump, NULL, NULL));
    const char *names[] = {"dump-alpha", "dump-beta", "dump-gamma-not-started", "dump-delta-new",
                           "dump-main"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(dump_buf, names[i]))
            FAIL("the dump does not mention %s:\n%s", names[i], dump_buf);
    /* "what it awaits": the future's name */
    if (!strstr(dump_buf, "the-awaited-future"))
        FAIL("the dump does not say what dump-beta awaits:\n%s", dump_buf);
    EXPECT_NO_REPORTS();
}

TEST(task_dump_to_a_pipe_from_outside_a_task)
{
    cio_loop *loop = task_loop_new();
    cio_task_options o = {0};
    o.name = "piped-task";
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, &o, dumped_sleeper, NULL, &t));
    EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0); /* it sleeps */
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(cio_task_dump(loop, p[1]));
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], dump_buf + len, sizeof dump_buf - 1 - len)) > 0)
        len += (size_t)n;
    dump_buf[len] = 0;
    close(p[0]);
    if (!strstr(dump_buf, "piped-task"))
        FAIL("the dump does not mention piped-task:\n%s", dump_buf);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_loop_run_until_complete(loop, t));
    cio_future_unref(t);
    finish_loop(loop);
    EXPECT_NO_REPORTS();
}

TEST(task_dump_bad_fd)
{
    cio_loop *loop = task_loop_new();
    EXPECT_TRUE(cio_task_dump(loop, -1) < 0);
    finish_loop(loop);
}

/* ---- the stall watchdog ------------------------------------------------------------- */

static void busy_wait(double seconds)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 < seconds);
}

static int stalling_task(void *arg, void **result)
{
    busy_wait(0.3); /* blocks the loop: never do this */
    return 0;
}

static int main_watchdog_task(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0.05));
    cio_task *t = spawn_named("the-staller", stalling_task, NULL);
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0)); /* stops it */
    return 0;
}

TEST(stall_watchdog_names_the_blocking_task)
{
    EXPECT_OK(cio_run(main_watchdog_task, NULL, NULL));
    EXPECT_REPORT("the-staller", NULL);
}

/* exported (ENABLE_EXPORTS) so that dladdr can name it */
void watchdog_test_stalling_callback(void *arg);
void watchdog_test_stalling_callback(void *arg)
{
    busy_wait(0.3);
    *(int *)arg = 1;
}

TEST(stall_watchdog_names_the_blocking_callback)
{
    cio_loop *loop = task_loop_new();
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0.05));
    int done = 0;
    EXPECT_OK(cio_call_soon(loop, watchdog_test_stalling_callback, &done));
    test_run_until(loop, &done, 10);
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    EXPECT_REPORT("watchdog_test_stalling_callback", NULL);
    finish_loop(loop);
}

static int main_watchdog_quiet(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0.5));
    /* a loop that sleeps is idle, not stalled */
    EXPECT_OK(cio_sleep(1.0));
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    return 0;
}

TEST(stall_watchdog_is_quiet_while_the_loop_sleeps)
{
    EXPECT_OK(cio_run(main_watchdog_quiet, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static int main_watchdog_left_running(void *arg, void **result)
{
    capture_reports_here(); /* a loaded machine may stall the loop past 0.05 s */
    EXPECT_OK(cio_loop_set_stall_watchdog(cio_current_loop(), 0.05));
    return 0; /* cio_run closes the loop with the watchdog still on */
}

TEST(loop_closes_with_the_watchdog_still_running)
{
    EXPECT_OK(cio_run(main_watchdog_left_running, NULL, NULL));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
