/* cio-test: threaded
 * Tasks and other threads: to_thread (asyncio.to_thread) results, errors
 * and cancellation; the task dump; the stall watchdog, which reports from
 * its own thread. No case asserts an upper bound on time: a blocked thread
 * is released by the test itself, never by a timer racing it. */
#include <dirent.h>
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
    EXPECT_OK(cio_task_dump_all(loop, fd));
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
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "piped-task";
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, &o, dumped_sleeper, NULL, &t));
    EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0); /* it sleeps */
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(cio_task_dump_all(loop, p[1]));
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
    EXPECT_TRUE(cio_task_dump_all(loop, -1) < 0);
    finish_loop(loop);
}

/* ---- the stall watchdog -------------------------------------------------------------
 * A stalling callback or task blocks until the watchdog has reported it
 * (ordered by causality, so a slow machine or valgrind only makes it
 * longer); the bound is there only so that a broken watchdog fails the
 * case instead of hanging it. */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Blocks the loop (never do this) until the watchdog blames `who`. */
static void block_until_reported(const char *who)
{
    double end = mono_now() + 60.0;
    while (find_report("stall", who) < 0)
        if (mono_now() > end) {
            dump_reports();
            FAIL("the watchdog did not blame %s in 60 s of stall", who);
        }
}

/* arg: the blame to wait for. An unnamed task is not asked its name here,
 * so the watchdog has to make "task-N" itself. */
static int stalling_task(void *arg, void **result)
{
    block_until_reported(arg);
    return 0;
}

static int main_watchdog_task(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    cio_task *t = arg ? spawn_named(arg, stalling_task, "task the-staller")
                      : spawn(stalling_task, "task task-");
    /* The stall to see is the task's; a slow step before it (valgrind) is
     * reported too, and does not hide it. */
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0.1));
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0)); /* stops it */
    *result = (void *)strdup(cio_task_name(t)); /* task-N for an unnamed task */
    cio_future_unref(t);
    return 0;
}

TEST(stall_watchdog_names_the_blocking_task)
{
    void *name = NULL;
    EXPECT_OK(cio_run(main_watchdog_task, "the-staller", &name));
    EXPECT_STR_EQ("the-staller", name);
    EXPECT_REPORT("stall", "task the-staller");
    free(name);
}

TEST(stall_watchdog_names_an_unnamed_task_by_its_id)
{
    void *name = NULL;
    EXPECT_OK(cio_run(main_watchdog_task, NULL, &name));
    /* the name cio_task_name gives once the task ended: task-N, N its id */
    EXPECT_TRUE(strncmp(name, "task-", 5) == 0 && strcmp(name, "task-0") != 0);
    static char want[64];
    snprintf(want, sizeof want, "task %s", (char *)name);
    const char *w = want;
    EXPECT_REPORT("stall", w);
    EXPECT_TRUE(find_report("0x", NULL) < 0); /* no address */
    free(name);
}

/* exported (ENABLE_EXPORTS) so that dladdr can name it */
void watchdog_test_stalling_callback(void *arg);
void watchdog_test_stalling_callback(void *arg)
{
    block_until_reported("watchdog_test_stalling_callback");
    *(int *)arg = 1;
}

TEST(stall_watchdog_names_the_blocking_callback)
{
    cio_loop *loop = task_loop_new();
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0.1));
    int done = 0;
    EXPECT_OK(cio_call_soon(loop, watchdog_test_stalling_callback, &done));
    test_run_until(loop, &done, 10);
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    EXPECT_REPORT("stall", "watchdog_test_stalling_callback");
    finish_loop(loop);
}

static int main_watchdog_quiet(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    /* generous: the loop only has to get from waking to polling in time */
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 2.0));
    /* a loop that sleeps is idle, not stalled */
    EXPECT_OK(cio_sleep(3.0));
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    return 0;
}

TEST(stall_watchdog_is_quiet_while_the_loop_sleeps)
{
    EXPECT_OK(cio_run(main_watchdog_quiet, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* CPU time (s) the watchdog's thread has used, found by its name. */
static double watchdog_cpu_seconds(void)
{
    DIR *d = opendir("/proc/self/task");
    EXPECT_TRUE(d != NULL);
    double cpu = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "cio-watchdog", 12) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        EXPECT_TRUE(f != NULL);
        char line[1024];
        EXPECT_TRUE(fgets(line, sizeof line, f) != NULL);
        fclose(f);
        /* fields 14 and 15 (utime, stime), counted after the ")" of comm */
        const char *p = strrchr(line, ')');
        unsigned long long ut = 0, st = 0;
        EXPECT_EQ(2, sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st));
        cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    closedir(d);
    if (cpu < 0)
        FAIL("no thread named cio-watchdog");
    return cpu;
}

static int main_watchdog_long_limit(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    /* 5 s: the monitor looks every 1.25 s (once, it slept with a tv_nsec
     * over a second, which fails, and spun) */
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 5.0));
    double before = watchdog_cpu_seconds();
    EXPECT_OK(cio_sleep(2.0)); /* the interval measured, not a bound */
    double used = watchdog_cpu_seconds() - before;
    /* A few looks cost microseconds; a spinning monitor burns most of the
     * 2 s even on a loaded machine. */
    if (used > 0.3)
        FAIL("the watchdog thread used %.2f s of CPU in 2 s", used);
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    return 0;
}

TEST(stall_watchdog_with_a_long_limit_does_not_spin)
{
    EXPECT_OK(cio_run(main_watchdog_long_limit, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* Tasks that end and rename themselves while the monitor copies their
 * names (run under ASan and TSan: a name freed under the monitor's feet
 * would show there). The reports themselves may name any of them. */
static void spin_for(double seconds)
{
    double end = mono_now() + seconds;
    while (mono_now() < end)
        ;
}

static int short_staller(void *arg, void **result)
{
    spin_for(0.002);
    EXPECT_OK(cio_task_set_name(cio_current_task(), "renamed-staller"));
    spin_for(0.002);
    return 0;
}

static int main_watchdog_churn(void *arg, void **result)
{
    capture_reports_here();
    cio_loop *loop = cio_current_loop();
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0.001));
    for (int round = 0; round < 20; round++) {
        cio_task *t[10];
        for (int i = 0; i < 10; i++)
            t[i] = i % 2 ? spawn(short_staller, NULL) : spawn_named("staller", short_staller, NULL);
        for (int i = 0; i < 10; i++) {
            EXPECT_OK(cio_await(t[i], NULL));
            cio_future_unref(t[i]);
        }
    }
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    return 0;
}

TEST(stall_watchdog_reports_while_tasks_end_and_rename)
{
    EXPECT_OK(cio_run(main_watchdog_churn, NULL, NULL));
    pthread_mutex_lock(&reports_mu);
    for (int i = 0; i < nreports && i < MAX_REPORTS; i++)
        if (!strstr(reports[i], "stall: "))
            FAIL("unexpected report: %s", reports[i]);
    pthread_mutex_unlock(&reports_mu);
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

/* ---- to_thread with owned arguments and results ------------------------------------ */

#include <semaphore.h>

static atomic_int own_args_freed, own_results_freed, own_fn_runs;
static sem_t own_started, own_release;

static void own_arg_free(void *p)
{
    atomic_fetch_add(&own_args_freed, 1);
    free(p);
}
static void own_result_free(void *p)
{
    atomic_fetch_add(&own_results_freed, 1);
    free(p);
}
/* A static initialiser cannot be a compound literal: the INIT form spelled out. */
static const cio_work_options own_opts = {.size = sizeof(cio_work_options),
                                          .arg_free = own_arg_free,
                                          .result_free = own_result_free};

static int *own_box(int v)
{
    int *p = malloc(sizeof *p);
    *p = v;
    return p;
}

/* Consumes its arg, returns a malloced copy; fails (after storing it) for
 * 0; waits for the test's release for a negative value. */
static int own_work(void *arg, void **result)
{
    atomic_fetch_add(&own_fn_runs, 1);
    int v = *(int *)arg;
    free(arg);
    if (v < 0) {
        sem_post(&own_started);
        sem_wait(&own_release);
    }
    *result = own_box(v);
    return v ? 0 : -EIO;
}

static int main_to_thread_with_results(void *arg, void **result)
{
    capture_reports_here();
    void *v = NULL;
    EXPECT_OK(cio_to_thread_with(&own_opts, own_work, own_box(7), &v));
    EXPECT_EQ(7, *(int *)v);
    EXPECT_EQ(0, atomic_load(&own_results_freed)); /* delivered: ours */
    free(v);
    /* no one to take it: freed with the job */
    EXPECT_OK(cio_to_thread_with(&own_opts, own_work, own_box(8), NULL));
    EXPECT_EQ(1, atomic_load(&own_results_freed));
    /* a failure frees what fn stored */
    EXPECT_ERR(-EIO, cio_to_thread_with(&own_opts, own_work, own_box(0), &v));
    EXPECT_PTR_EQ(NULL, v);
    EXPECT_EQ(2, atomic_load(&own_results_freed));
    EXPECT_EQ(0, atomic_load(&own_args_freed)); /* fn ran every time */
    return 0;
}

TEST(to_thread_with_result_is_the_callers_and_failures_free_it)
{
    EXPECT_OK(cio_run(main_to_thread_with_results, NULL, NULL));
    EXPECT_EQ(3, atomic_load(&own_fn_runs));
    EXPECT_NO_REPORTS();
    /* outside a task: not started, nothing freed, the arg is still ours */
    int *mine = own_box(1);
    EXPECT_ERR(-EPERM, cio_to_thread_with(&own_opts, own_work, mine, NULL));
    EXPECT_EQ(0, atomic_load(&own_args_freed));
    free(mine);
}

static int own_waiter(void *arg, void **result)
{
    void *v = NULL;
    int rc = cio_to_thread_with(&own_opts, own_work, arg, &v);
    LOG("%d:%s;", U(arg) ? 1 : 0, cio_err_name(rc));
    EXPECT_PTR_EQ(NULL, v);
    return rc;
}

static int main_to_thread_with_cancelled(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(sem_init(&own_started, 0, 0));
    EXPECT_OK(sem_init(&own_release, 0, 0));
    EXPECT_OK(cio_threadpool_set_size(1));
    /* the pool's one thread runs fn of the first task and blocks in it */
    cio_task *running = spawn(own_waiter, own_box(-1));
    while (sem_trywait(&own_started) != 0)
        EXPECT_OK(cio_sleep(0.001));
    /* the second task's job stays queued behind it */
    cio_task *queued = spawn(own_waiter, own_box(5));
    EXPECT_OK(cio_yield()); /* it submits its job and waits */
    EXPECT_OK(cio_future_cancel(queued));
    EXPECT_ERR(-ECANCELED, cio_await(queued, NULL));
    EXPECT_OK(cio_future_cancel(running));
    EXPECT_ERR(-ECANCELED, cio_await(running, NULL)); /* at once: fn still blocked */
    EXPECT_EQ(0, atomic_load(&own_args_freed)); /* the queued job is not back yet */
    EXPECT_EQ(0, atomic_load(&own_results_freed));
    cio_future_unref(queued);
    cio_future_unref(running);
    sem_post(&own_release); /* cio_run waits for both jobs before it returns */
    return 0;
}

TEST(to_thread_with_cancelled_frees_the_arg_or_the_result)
{
    EXPECT_OK(cio_run(main_to_thread_with_cancelled, NULL, NULL));
    EXPECT_EQ(1, atomic_load(&own_fn_runs));       /* only the running one */
    EXPECT_EQ(1, atomic_load(&own_args_freed));    /* the queued job's arg */
    EXPECT_EQ(1, atomic_load(&own_results_freed)); /* the running job's result */
    EXPECT_NO_REPORTS();
}

int main(int argc, char **argv) { return test_main(argc, argv); }
