/* What the core asks of the task layer through the hooks the task layer
 * registers (src/core.h, src/LAYERS.md): debug mode's task dump on
 * SIGUSR1, and what cio_current_loop answers inside a task. (The other
 * hooks are in every await, and in the stall watchdog's reports:
 * tests/task/test_threads.c.) */
#include <sys/mman.h> /* memfd_create (the tests build with _GNU_SOURCE) */

#include "task_util.h"

#define HOUR 3600.0

static int sleeper(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cio_sleep(HOUR);
}

static char dump_buf[65536];

/* Reads what fd holds so far into dump_buf; true if it mentions needle. */
static bool dump_mentions(int fd, const char *needle)
{
    ssize_t n = pread(fd, dump_buf, sizeof dump_buf - 1, 0);
    dump_buf[n > 0 ? n : 0] = 0;
    return strstr(dump_buf, needle) != NULL;
}

static int main_sigusr1(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    EXPECT_TRUE(cio_loop_is_debug(cio_current_loop()));
    cio_task *t = spawn_named("hooked-sleeper", sleeper, NULL);
    EXPECT_OK(cio_yield()); /* it sleeps */
    /* The dump goes to stderr: catch it in a memory file. */
    int fd = memfd_create("dump", 0);
    EXPECT_TRUE(fd >= 0);
    int saved = dup(2);
    EXPECT_TRUE(saved >= 0);
    EXPECT_TRUE(dup2(fd, 2) == 2);
    EXPECT_OK(raise(SIGUSR1));
    /* The loop takes the signal in at its next poll, which a sleep makes;
     * the bound only keeps a broken hook from hanging the case. */
    bool seen = false;
    for (int i = 0; i < 60000 && !(seen = dump_mentions(fd, "hooked-sleeper")); i++)
        EXPECT_OK(cio_sleep(0.001));
    dup2(saved, 2);
    close(saved);
    close(fd);
    if (!seen)
        FAIL("SIGUSR1 in debug mode printed no dump naming hooked-sleeper:\n%s", dump_buf);
    if (!strstr(dump_buf, "cio task dump: 2 task(s)"))
        FAIL("the dump does not count main and the sleeper:\n%s", dump_buf);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(debug_mode_sigusr1_dumps_the_tasks_through_the_hook)
{
    EXPECT_OK(setenv("CIO_DEBUG", "1", 1)); /* this case's process only */
    EXPECT_OK(cio_run(main_sigusr1, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- hooks registered before a program's own constructors ------------------------ */

static void complete(void *arg) { EXPECT_OK(cio_future_set_result(arg, V(42), NULL)); }

static void cancel_task(void *arg) { cio_future_cancel(arg); }

/* Awaits a future a callback completes: the wakeup goes through the
 * await_done hook. Were the hook missing, the wakeup would be lost, and
 * the guard timer's cancel would end the wait with -ECANCELED instead of
 * hanging the program. */
static int main_awaits_a_future(void *arg, void **result)
{
    (void)arg;
    cio_loop *loop = cio_current_loop();
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(loop, &f));
    cio_handle guard;
    EXPECT_OK(cio_call_later(loop, 60.0, cancel_task, cio_current_task(), &guard));
    EXPECT_OK(cio_call_soon(loop, complete, f));
    int rc = cio_await(f, result);
    cio_timer_cancel(loop, guard);
    cio_future_unref(f);
    return rc;
}

static int ctor_rc = -1;
static void *ctor_result;

/* A program's own constructor that already runs tasks. The test programs
 * link libcio statically, where constructors of equal priority run in link
 * order (this one first): the task layer's hooks must be registered before
 * it all the same. */
__attribute__((constructor)) static void program_constructor(void)
{
    ctor_rc = cio_run(main_awaits_a_future, NULL, &ctor_result);
}

TEST(tasks_work_in_a_program_constructor)
{
    EXPECT_OK(ctor_rc);
    EXPECT_PTR_EQ(V(42), ctor_result);
}

/* ---- cio_current_loop inside a task ------------------------------------------ */

struct loops {
    cio_loop *own, *other;
    cio_loop *in_task, *in_other_cb, *after;
};

static void in_other(void *arg)
{
    struct loops *l = arg;
    l->in_other_cb = cio_current_loop();
}

/* A task of one loop that tries to run an iteration of another: refused
 * with -EDEADLK (it would block its own loop), and its loop stays the
 * current one. */
static int task_runs_another_loop(void *arg, void **result)
{
    (void)result;
    struct loops *l = arg;
    l->in_task = cio_current_loop();
    EXPECT_OK(cio_call_soon(l->other, in_other, l));
    EXPECT_ERR(-EDEADLK, cio_loop_run_once(l->other, CIO_RUN_NOWAIT));
    l->after = cio_current_loop();
    return 0;
}

TEST(current_loop_in_a_task_is_its_loop_a_nested_run_is_refused)
{
    struct loops l = {0};
    l.own = task_loop_new();
    l.other = task_loop_new();
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(l.own, NULL, task_runs_another_loop, &l, &t));
    EXPECT_OK(cio_loop_run_until_complete(l.own, t));
    cio_future_unref(t);
    EXPECT_PTR_EQ(l.own, l.in_task);
    EXPECT_PTR_EQ(NULL, l.in_other_cb);
    EXPECT_PTR_EQ(l.own, l.after);
    EXPECT_TRUE(cio_current_loop() == NULL);
    for (int i = 0; i < 100 && !l.in_other_cb; i++)
        EXPECT_TRUE(cio_loop_run_once(l.other, CIO_RUN_NOWAIT) >= 0);
    EXPECT_PTR_EQ(l.other, l.in_other_cb);
    finish_loop(l.other);
    finish_loop(l.own);
    EXPECT_NO_REPORTS();
}

int main(int argc, char **argv) { return test_main(argc, argv); }
