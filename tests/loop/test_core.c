/* cio-test: threaded
 *
 * What the core layer (loop and futures, src/LAYERS.md) does on its own,
 * with no task in the program: cio_current_loop, which the core answers
 * from the runs on this thread, and the stall watchdog's life cycle and
 * argument checks (it lives with the loop it watches; tests/task/
 * test_threads.c has its reports). The watchdog starts a thread, hence
 * "threaded". */
#include <math.h>

#include "test.h"

static cio_loop *new_loop(void)
{
    cio_loop *loop = NULL;
    EXPECT_OK(cio_loop_new(NULL, &loop));
    return loop;
}

/* ---- cio_current_loop ------------------------------------------------------ */

struct seen {
    cio_loop *outer, *inner;
    cio_loop *in_outer_before, *in_inner, *in_outer_after, *in_done_cb;
};

static void in_inner(void *arg)
{
    struct seen *s = arg;
    s->in_inner = cio_current_loop();
}

/* A callback of the outer loop that tries to run an iteration of another
 * loop: refused with -EDEADLK (asyncio: "Cannot run the event loop while
 * another loop is running"), so the running loop stays the current one. */
static void in_outer(void *arg)
{
    struct seen *s = arg;
    s->in_outer_before = cio_current_loop();
    EXPECT_OK(cio_call_soon(s->inner, in_inner, s));
    EXPECT_ERR(-EDEADLK, cio_loop_run_once(s->inner, CIO_RUN_NOWAIT));
    s->in_outer_after = cio_current_loop();
}

static void on_done(cio_future *fut, void *arg)
{
    (void)fut;
    struct seen *s = arg;
    s->in_done_cb = cio_current_loop();
}

TEST(current_loop_is_null_outside_every_run)
{
    EXPECT_TRUE(cio_current_loop() == NULL);
    cio_loop *loop = new_loop();
    EXPECT_TRUE(cio_current_loop() == NULL); /* made, not running */
    EXPECT_OK(cio_loop_free(loop));
}

TEST(current_loop_is_the_running_loop_a_nested_run_is_refused)
{
    struct seen s = {0};
    s.outer = new_loop();
    s.inner = new_loop();
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(s.outer, &f));
    EXPECT_OK(cio_future_add_done_callback(f, on_done, &s));
    EXPECT_OK(cio_call_soon(s.outer, in_outer, &s));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_OK(cio_loop_run_until_complete(s.outer, f));
    for (int i = 0; i < 100 && (!s.in_done_cb || !s.in_outer_after); i++)
        EXPECT_TRUE(cio_loop_run_once(s.outer, CIO_RUN_NOWAIT) >= 0);
    EXPECT_PTR_EQ(s.outer, s.in_outer_before);
    EXPECT_PTR_EQ(NULL, s.in_inner); /* the refused run ran nothing */
    EXPECT_PTR_EQ(s.outer, s.in_outer_after);
    EXPECT_PTR_EQ(s.outer, s.in_done_cb);
    EXPECT_TRUE(cio_current_loop() == NULL);
    /* Outside the outer run, the inner loop runs, and is the current one. */
    for (int i = 0; i < 100 && !s.in_inner; i++)
        EXPECT_TRUE(cio_loop_run_once(s.inner, CIO_RUN_NOWAIT) >= 0);
    EXPECT_PTR_EQ(s.inner, s.in_inner);
    cio_future_unref(f);
    EXPECT_OK(cio_loop_free(s.inner));
    EXPECT_OK(cio_loop_free(s.outer));
}

/* ---- the stall watchdog's life cycle ------------------------------------------ */

TEST(stall_watchdog_argument_checks)
{
    EXPECT_ERR(-EINVAL, cio_loop_set_stall_watchdog(NULL, 1.0));
    cio_loop *loop = new_loop();
    EXPECT_ERR(-EINVAL, cio_loop_set_stall_watchdog(loop, NAN));
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0)); /* none to stop: fine */
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, -1.0));
    EXPECT_OK(cio_loop_close(loop));
    EXPECT_ERR(-EINVAL, cio_loop_set_stall_watchdog(loop, 1.0)); /* closed */
    EXPECT_OK(cio_loop_free(loop));
}

static void count(void *arg) { (*(int *)arg)++; }

/* Replaced, stopped, started again, and finally stopped by the loop's
 * close: each start makes a thread and each stop joins it, so a leak of
 * either shows under ASan (and TSan sees the handovers). */
TEST(stall_watchdog_is_replaced_stopped_and_stopped_by_close)
{
    cio_loop *loop = new_loop();
    int n = 0;
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 30.0));
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 60.0)); /* replaces the first */
    EXPECT_OK(cio_call_soon(loop, count, &n));
    EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0); /* a watched iteration */
    EXPECT_EQ(1, n);
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 0));
    EXPECT_OK(cio_call_soon(loop, count, &n));
    EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0); /* unwatched */
    EXPECT_EQ(2, n);
    EXPECT_OK(cio_loop_set_stall_watchdog(loop, 3600.0));
    EXPECT_OK(cio_loop_free(loop)); /* stops it */
}

int main(int argc, char **argv) { return test_main(argc, argv); }
