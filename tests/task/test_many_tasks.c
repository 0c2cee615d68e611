/* Very many tasks: cio_run's teardown when main leaves 200,000 tasks
 * alive, and 100,000 tasks awaiting one future and then cancelled. Both
 * are O(n) in all, not O(n^2).
 *
 * White-box: this program compiles src/task/run.c and src/future/future.c
 * itself, with CIO__TEARDOWN_STEP counting the teardown's steps (task
 * visits and loop iterations) and CIO__FCB_STEP every step of every walk
 * over a future's callback list, so the cost is counted, not timed. The
 * teardown used to walk the whole task list for every 64 tasks it
 * cancelled, for at most 1,000 rounds (tasks past the 64,000th were never
 * cancelled); a cancelled awaiter used to scan the future's list to remove
 * its callback (n^2/2 steps for n awaiters). Each case's time limit is
 * only a guard against a hang. */
#include <stdint.h>
#include <stdlib.h>

#include "task_util.h"

static unsigned long long teardown_steps, fcb_steps;
#define CIO__TEARDOWN_STEP() (teardown_steps++)
#define CIO__FCB_STEP() (fcb_steps++)
#include "future/future.c"
#include "task/run.c"

#if defined(__SANITIZE_ADDRESS__)
#define LEAK_CHECK_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEAK_CHECK_OFF 1
#endif
#endif
#ifdef LEAK_CHECK_OFF
#include <sanitizer/lsan_interface.h>
#endif

#define HOUR 3600.0

/* Runs fn with stderr captured. Past the stack guard budget (under
 * cio-compat: `make compat`), the process says once that further stacks
 * are gap-protected; that line is expected, any other report is not. */
static void past_guard_budget(void (*fn)(void *))
{
    static char err[16384];
    test_capture_stderr(fn, NULL, err, sizeof err);
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n")) {
        fprintf(stderr, "[captured] %s\n", line);
        if (strncmp(line, "cio: ", 5) == 0 && !strstr(line, "no stack guard pages left"))
            FAIL("unexpected report: %s", line);
    }
}

/* ---- cio_run's teardown ------------------------------------------------------ */

#define IDLE 200000
static int cleanups;

static int idle(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int rc = cio_sleep(HOUR);
    if (rc == -ECANCELED)
        cleanups++;
    return rc;
}

static int main_leaves_idle_tasks(void *arg, void **result)
{
    (void)arg;
    capture_reports_here();
    for (int i = 0; i < IDLE; i++)
        EXPECT_OK(cio_spawn(idle, NULL, NULL));
    EXPECT_OK(cio_yield()); /* every one starts and sleeps */
    EXPECT_EQ(IDLE, cio_all_tasks(cio_current_loop(), NULL, 0) - 1);
    EXPECT_EQ(0, cleanups);
    *result = V(42);
    return 0;
}

static void idle_body(void *arg)
{
    (void)arg;
    void *res = NULL;
    EXPECT_OK(cio_run(main_leaves_idle_tasks, NULL, &res));
    EXPECT_PTR_EQ(V(42), res);
    EXPECT_EQ(IDLE, cleanups);
    EXPECT_NO_REPORTS();
    /* One visit per task to cancel it, plus one per loop iteration (a
     * handful: the wakeups all run in one). */
    if (teardown_steps > IDLE + 1000)
        FAIL("%llu teardown steps for %d tasks", teardown_steps, IDLE);
}

TEST_T(run_ends_every_idle_task_main_leaves_behind, 600)
{
    past_guard_budget(idle_body);
}

/* Tasks whose cleanup takes many iterations, in a shield scope: each is
 * waited for. Some start new tasks while they end (cancelled in turn);
 * one catches the cancellation and tries to sleep again (it is sticky);
 * one waits, shielded, for a future another one's cleanup finishes (order
 * by causality); one fails with its own error (reported, as asyncio's
 * exception handler would be told). */
#define SLOW 20000
#define SLOW_YIELDS 20
static cio_future *handoff;
static int spawned_cleanups, waiter_done, setter_done, stubborn_done;

static int spawned(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int rc = cio_sleep(HOUR);
    if (rc == -ECANCELED)
        spawned_cleanups++;
    return rc;
}

static int slow_cleanup(void *arg, void **result)
{
    (void)result;
    int rc = cio_sleep(HOUR);
    EXPECT_ERR(-ECANCELED, rc);
    cio_scope shield;
    EXPECT_OK(cio_shield_begin(&shield));
    for (int i = 0; i < SLOW_YIELDS; i++)
        EXPECT_OK(cio_yield());
    if (U(arg) % 1000 == 0)
        EXPECT_OK(cio_spawn(spawned, NULL, NULL));
    EXPECT_OK(cio_scope_end(&shield));
    cleanups++;
    return rc;
}

static int stubborn(void *arg, void **result)
{
    (void)arg;
    (void)result;
    EXPECT_ERR(-ECANCELED, cio_sleep(HOUR));
    EXPECT_ERR(-ECANCELED, cio_sleep(HOUR)); /* caught, but sticky */
    stubborn_done = 1;
    return -ECANCELED;
}

static int handoff_waiter(void *arg, void **result)
{
    (void)arg;
    (void)result;
    EXPECT_ERR(-ECANCELED, cio_sleep(HOUR));
    cio_scope shield;
    EXPECT_OK(cio_shield_begin(&shield));
    void *v = NULL;
    EXPECT_OK(cio_await(handoff, &v));
    EXPECT_PTR_EQ(V(5), v);
    EXPECT_OK(cio_scope_end(&shield));
    EXPECT_EQ(1, setter_done);
    waiter_done = 1;
    return -ECANCELED;
}

static int handoff_setter(void *arg, void **result)
{
    (void)arg;
    (void)result;
    EXPECT_ERR(-ECANCELED, cio_sleep(HOUR));
    cio_scope shield;
    EXPECT_OK(cio_shield_begin(&shield));
    for (int i = 0; i < 3 * SLOW_YIELDS; i++)
        EXPECT_OK(cio_yield());
    EXPECT_OK(cio_scope_end(&shield));
    setter_done = 1;
    EXPECT_OK(cio_future_set_result(handoff, V(5), NULL));
    cio_future_unref(handoff);
    return -ECANCELED;
}

static int fails_on_cancel(void *arg, void **result)
{
    (void)arg;
    (void)result;
    EXPECT_ERR(-ECANCELED, cio_sleep(HOUR));
    return -EIO;
}

static int main_leaves_slow_tasks(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    EXPECT_OK(cio_future_new(cio_current_loop(), &handoff));
    EXPECT_OK(cio_spawn_with(&CIO_TASK_OPTIONS(.name = "fails-on-cancel"), fails_on_cancel, NULL,
                             NULL));
    EXPECT_OK(cio_spawn(handoff_waiter, NULL, NULL));
    for (int i = 0; i < SLOW; i++)
        EXPECT_OK(cio_spawn(slow_cleanup, V(i), NULL));
    EXPECT_OK(cio_spawn(stubborn, NULL, NULL));
    EXPECT_OK(cio_spawn(handoff_setter, NULL, NULL));
    EXPECT_OK(cio_yield());
    return 0;
}

static void slow_body(void *arg)
{
    (void)arg;
    EXPECT_OK(cio_run(main_leaves_slow_tasks, NULL, NULL));
    EXPECT_EQ(SLOW, cleanups);
    EXPECT_EQ(SLOW / 1000, spawned_cleanups);
    EXPECT_EQ(1, stubborn_done);
    EXPECT_EQ(1, setter_done);
    EXPECT_EQ(1, waiter_done);
    EXPECT_REPORTS(1);
    EXPECT_TRUE(find_report("fails-on-cancel", "EIO") >= 0);
    /* Each task visited about once; the iterations are the cleanups'
     * yields, not a number that grows with the tasks. */
    if (teardown_steps > 2 * SLOW + 1000)
        FAIL("%llu teardown steps for %d tasks", teardown_steps, SLOW);
}

TEST_T(run_waits_for_cleanups_that_take_many_iterations, 600)
{
    past_guard_budget(slow_body);
}

/* A task that waits, shielded, for something nothing will ever finish:
 * asyncio.run would hang; cio_run says so and fails (the loop is left). */
static int stuck(void *arg, void **result)
{
    (void)result;
    EXPECT_ERR(-ECANCELED, cio_sleep(HOUR));
    cio_scope shield;
    EXPECT_OK(cio_shield_begin(&shield));
    cio_await(arg, NULL); /* never finished */
    FAIL("the stuck task resumed");
    return 0;
}

static int main_leaves_stuck_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    cio_future *never;
    EXPECT_OK(cio_future_new(cio_current_loop(), &never));
    EXPECT_OK(cio_spawn(stuck, never, NULL));
    EXPECT_OK(cio_yield());
    return 0;
}

TEST(run_reports_a_task_that_cannot_end)
{
#ifdef LEAK_CHECK_OFF
    __lsan_disable(); /* the loop and the task are left, by design */
#endif
    EXPECT_ERR(-EBUSY, cio_run(main_leaves_stuck_task, NULL, NULL));
    EXPECT_TRUE(find_report("did not end after cancellation", NULL) >= 0);
    EXPECT_TRUE(find_report("could not be freed", NULL) >= 0);
}

/* ---- many tasks awaiting one future ------------------------------------------ */

#define AWAITERS 100000
static cio_future *shared;
static char cb_log[64];
static int awaiters_cancelled, awaiters_woken;

static void log_cb(cio_future *fut, void *arg)
{
    (void)fut;
    size_t n = strlen(cb_log);
    if (n + 1 < sizeof cb_log)
        cb_log[n] = (char)U(arg);
}

static int awaiter(void *arg, void **result)
{
    (void)arg;
    (void)result;
    void *v = NULL;
    int rc = cio_await(shared, &v);
    if (rc == -ECANCELED)
        awaiters_cancelled++;
    else if (rc == 0 && v == V(9))
        awaiters_woken++;
    return rc;
}

/* Callbacks still in the list, tombstones passed over. */
static uint32_t live_entries(const cio_future *f)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->ncb; i++)
        n += f->cbs[i].cb != NULL;
    return n;
}

static void cancel_and_reap(cio_task **tasks, int from, int to, int step)
{
    for (int i = from; i < to; i += step)
        EXPECT_OK(cio_future_cancel(tasks[i]));
    for (int i = from; i < to; i += step) {
        EXPECT_ERR(-ECANCELED, cio_await(tasks[i], NULL));
        cio_future_unref(tasks[i]);
        tasks[i] = NULL;
    }
}

static int main_cancels_awaiters(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    EXPECT_OK(cio_future_new(cio_current_loop(), &shared));
    EXPECT_OK(cio_future_add_done_callback(shared, log_cb, V('a')));
    cio_task **tasks = calloc(AWAITERS, sizeof *tasks);
    EXPECT_TRUE(tasks != NULL);
    for (int i = 0; i < AWAITERS; i++)
        EXPECT_OK(cio_spawn(awaiter, NULL, &tasks[i]));
    EXPECT_OK(cio_yield()); /* every one awaits `shared` */
    EXPECT_EQ(AWAITERS + 1, live_entries(shared));
    EXPECT_OK(cio_future_add_done_callback(shared, log_cb, V('b')));

    /* All cancelled: each removes its callback without a scan. */
    fcb_steps = 0;
    cancel_and_reap(tasks, 0, AWAITERS, 1);
    if (fcb_steps > 4ull * AWAITERS)
        FAIL("%llu steps over the callback list for %d awaiters", fcb_steps, AWAITERS);
    EXPECT_EQ(AWAITERS, awaiters_cancelled);
    EXPECT_EQ(2, live_entries(shared));

    /* Again, with the list compacted while half the awaiters are still in
     * it: they find their entries where the compaction moved them. */
    awaiters_cancelled = 0;
    for (int i = 0; i < AWAITERS; i++)
        EXPECT_OK(cio_spawn(awaiter, NULL, &tasks[i]));
    EXPECT_OK(cio_yield());
    cancel_and_reap(tasks, 0, AWAITERS, 2);
    for (int i = 0; i < 2 * AWAITERS; i++) /* fills the list: compacts it */
        EXPECT_OK(cio_future_add_done_callback(shared, log_cb, V('.')));
    EXPECT_OK(cio_future_remove_done_callback(shared, log_cb, V('.')));
    EXPECT_ERR(-ENOENT, cio_future_remove_done_callback(shared, log_cb, V('.'))); /* all went */
    EXPECT_OK(cio_future_add_done_callback(shared, log_cb, V('c')));
    cancel_and_reap(tasks, 1, AWAITERS / 2, 2); /* a quarter left awaiting */
    EXPECT_EQ(3 * AWAITERS / 4, awaiters_cancelled);
    EXPECT_EQ(3 + AWAITERS / 4, live_entries(shared));
    /* The room stays within a few times the most entries held at once. */
    EXPECT_TRUE(shared->capcb <= 8u * AWAITERS);

    /* The rest run once each, in the order added. */
    EXPECT_OK(cio_future_set_result(shared, V(9), NULL));
    for (int i = AWAITERS / 2 + 1; i < AWAITERS; i += 2) {
        EXPECT_OK(cio_await(tasks[i], NULL));
        cio_future_unref(tasks[i]);
    }
    EXPECT_EQ(AWAITERS / 4, awaiters_woken);
    EXPECT_OK(cio_yield());
    EXPECT_STR_EQ("abc", cb_log);
    cio_future_unref(shared);
    free(tasks);
    return 0;
}

static void awaiters_body(void *arg)
{
    (void)arg;
    EXPECT_OK(cio_run(main_cancels_awaiters, NULL, NULL));
    EXPECT_NO_REPORTS();
}

TEST_T(cancelled_awaiters_leave_the_future_in_o1_each, 600)
{
    past_guard_budget(awaiters_body);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
