/* Cancellation: sticky (trio-style) cancellation of tasks, shielded awaits,
 * shield scopes, the swallowed-cancellation report, and the races between a
 * cancel and a completion in one loop iteration, following asyncio 3.12
 * (Task.cancel: "the coroutine gets CancelledError at its next suspension";
 * a cancel arriving after the awaited future completed but before the task
 * resumed still wins; cancel() of a finished task returns False). */
#include "task/task_util.h"

/* ---- a sleeping task --------------------------------------------------------- */

static int sleeps_then_checks_sticky(void *arg, void **result)
{
    LOG("sleep;");
    int rc = cio_sleep(3600);
    LOG("%s;", cio_err_name(rc));
    /* sticky: every later suspension fails too */
    LOG("%s;", cio_err_name(cio_sleep(0)));
    LOG("%s;", cio_err_name(cio_yield()));
    cio_future *f = new_future();
    LOG("%s;", cio_err_name(cio_await(f, NULL))); /* a pending future */
    cio_future_unref(f);
    return rc;
}

static int main_cancel_sleeping(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(sleeps_then_checks_sticky, NULL);
    EXPECT_OK(cio_yield()); /* t sleeps */
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_FALSE(cio_future_is_done(t)); /* cancellation is a request */
    LOG("cancelled;");
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(t));
    EXPECT_TRUE(cio_future_is_cancelled(t));
    /* cancelling it again: it is done */
    EXPECT_ERR(-EINVAL, cio_future_cancel(t));
    cio_future_unref(t);
    /* the canceller itself is not cancelled */
    EXPECT_OK(cio_sleep(0));
    return 0;
}

TEST(cancel_sleeping_task_is_sticky)
{
    EXPECT_OK(cio_run(main_cancel_sleeping, NULL, NULL));
    EXPECT_LOG("sleep;cancelled;ECANCELED;ECANCELED;ECANCELED;ECANCELED;");
    EXPECT_NO_REPORTS();
}

/* ---- shielded await ------------------------------------------------------------- */

/* Finishes when main opens its gate (arg): "still running" must not depend
 * on how fast the loop gets there, as a 20 ms sleep here did. */
static int inner_work(void *arg, void **result)
{
    int rc = cio_await(arg, NULL);
    LOG("inner-%s;", cio_err_name(rc));
    *result = V(42);
    return rc;
}

static int awaits_shielded(void *arg, void **result)
{
    int rc = cio_shield(arg, NULL);
    LOG("outer-%s;", cio_err_name(rc));
    return rc;
}

static int main_shield_await(void *arg, void **result)
{
    capture_reports_here();
    cio_future *gate = new_future();
    cio_task *inner = spawn(inner_work, gate);
    cio_task *outer = spawn(awaits_shielded, inner);
    EXPECT_OK(cio_yield()); /* both started */
    EXPECT_OK(cio_future_cancel(outer));
    EXPECT_ERR(-ECANCELED, cio_await(outer, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(outer));
    EXPECT_FALSE(cio_future_is_done(inner)); /* still running */
    EXPECT_OK(cio_future_set_result(gate, NULL, NULL));
    void *v = NULL;
    EXPECT_OK(cio_await(inner, &v));
    EXPECT_PTR_EQ(V(42), v);
    cio_future_unref(gate);
    cio_future_unref(outer);
    cio_future_unref(inner);
    return 0;
}

TEST(cancel_task_awaiting_shielded_future_leaves_inner_running)
{
    EXPECT_OK(cio_run(main_shield_await, NULL, NULL));
    EXPECT_LOG("outer-ECANCELED;inner-OK;");
    /* inner's outcome was retrieved by main */
    EXPECT_NO_REPORTS();
}

static int awaits_plain(void *arg, void **result)
{
    int rc = cio_await(arg, NULL);
    LOG("waiter-%s;", cio_err_name(rc));
    return rc;
}

static int main_await_not_cancelling(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_plain, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    /* task.h: cancelling the waiting task does not cancel the future */
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_OK(cio_future_set_result(f, V(1), NULL));
    cio_future_unref(f);
    cio_future_unref(t);
    return 0;
}

TEST(cancelling_the_waiter_leaves_the_awaited_future_alone)
{
    EXPECT_OK(cio_run(main_await_not_cancelling, NULL, NULL));
    EXPECT_LOG("waiter-ECANCELED;");
}

static int awaits_task(void *arg, void **result)
{
    int rc = cio_await(arg, NULL);
    LOG("A-%s;", cio_err_name(rc));
    return rc;
}

static int main_cancel_chain(void *arg, void **result)
{
    cio_future *gate = new_future();
    cio_task *b = spawn(inner_work, gate);
    cio_task *a = spawn(awaits_task, b);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(a));
    EXPECT_ERR(-ECANCELED, cio_await(a, NULL));
    EXPECT_FALSE(cio_future_is_done(b)); /* b was not cancelled with a */
    EXPECT_OK(cio_future_set_result(gate, NULL, NULL));
    EXPECT_OK(cio_await(b, NULL));
    cio_future_unref(gate);
    cio_future_unref(a);
    cio_future_unref(b);
    return 0;
}

TEST(cancel_task_awaiting_another_task)
{
    EXPECT_OK(cio_run(main_cancel_chain, NULL, NULL));
    EXPECT_LOG("A-ECANCELED;inner-OK;");
}

/* ---- shield scopes ---------------------------------------------------------------- */

static int cleanup_in_shield(void *arg, void **result)
{
    int rc = cio_sleep(3600);
    LOG("body-%s;", cio_err_name(rc));
    cio_scope s;
    EXPECT_OK(cio_shield_begin(&s));
    LOG("cleanup-sleep-%s;", cio_err_name(cio_sleep(0.005)));
    cio_future *f = new_future();
    complete_later(f, 0.005);
    LOG("cleanup-await-%s;", cio_err_name(cio_await(f, NULL)));
    cio_future_unref(f);
    LOG("end-%s;", cio_err_name(cio_scope_end(&s)));
    /* the held-back cancellation resumes after the shield */
    LOG("after-%s;", cio_err_name(cio_yield()));
    return rc;
}

static int main_shield_cleanup(void *arg, void **result)
{
    cio_task *t = spawn(cleanup_in_shield, NULL);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(shield_scope_lets_cleanup_suspend_after_cancel)
{
    EXPECT_OK(cio_run(main_shield_cleanup, NULL, NULL));
    EXPECT_LOG("body-ECANCELED;cleanup-sleep-OK;cleanup-await-OK;end-OK;after-ECANCELED;");
}

static int shielded_from_start(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_shield_begin(&s));
    LOG("in-shield;");
    int rc = cio_sleep(0.01);
    LOG("sleep-%s;", cio_err_name(rc));
    EXPECT_OK(cio_scope_end(&s));
    rc = cio_sleep(0);
    LOG("after-%s;", cio_err_name(rc));
    return rc;
}

static int main_shield_holds_back(void *arg, void **result)
{
    cio_task *t = spawn(shielded_from_start, NULL);
    EXPECT_OK(cio_yield()); /* t is inside the shield, sleeping */
    EXPECT_OK(cio_future_cancel(t));
    LOG("cancel;");
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(shield_scope_holds_back_a_cancel_that_arrives_inside)
{
    EXPECT_OK(cio_run(main_shield_holds_back, NULL, NULL));
    EXPECT_LOG("in-shield;cancel;sleep-OK;after-ECANCELED;");
}

static int nested_shield_then_timeout(void *arg, void **result)
{
    cio_scope sh, to;
    EXPECT_OK(cio_shield_begin(&sh));
    EXPECT_OK(cio_timeout_begin(&to, 0.005));
    /* a deadline begun inside a shield still applies */
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(3600));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&to));
    EXPECT_OK(cio_scope_end(&sh));
    return 0;
}

TEST(deadline_inside_shield_still_applies)
{
    EXPECT_OK(cio_run(nested_shield_then_timeout, NULL, NULL));
}

/* ---- swallowed cancellation ------------------------------------------------------ */

static int swallows(void *arg, void **result)
{
    int rc = cio_sleep(3600);
    LOG("%s;", cio_err_name(rc));
    *result = V(11);
    return 0; /* swallows it */
}

static int main_swallow(void *arg, void **result)
{
    capture_reports_here();
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "swallower";
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, swallows, NULL, &t));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    void *v = NULL;
    /* asyncio: the task completes normally with the value it returned */
    EXPECT_OK(cio_await(t, &v));
    EXPECT_PTR_EQ(V(11), v);
    EXPECT_FALSE(cio_future_is_cancelled(t));
    cio_future_unref(t);
    return 0;
}

TEST(swallowed_cancellation_is_reported)
{
    EXPECT_OK(cio_run(main_swallow, NULL, NULL));
    EXPECT_LOG("ECANCELED;");
    EXPECT_REPORTS(1);
    EXPECT_REPORT("swallower", NULL);
}

static int cancelled_then_fails(void *arg, void **result)
{
    EXPECT_ERR(-ECANCELED, cio_sleep(3600));
    return -EIO; /* another error while handling the cancel */
}

static int main_other_error(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(cancelled_then_fails, NULL);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    /* asyncio: an exception raised while handling CancelledError is the
     * task's outcome, and the task is not "cancelled" */
    EXPECT_ERR(-EIO, cio_await(t, NULL));
    EXPECT_FALSE(cio_future_is_cancelled(t));
    cio_future_unref(t);
    return 0;
}

TEST(cancelled_task_failing_with_another_error_keeps_that_error)
{
    EXPECT_OK(cio_run(main_other_error, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- cancel and completion in one iteration ----------------------------------------- */

static int main_complete_then_cancel(void *arg, void **result)
{
    capture_reports_here();
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_plain, f);
    EXPECT_OK(cio_yield()); /* t waits on f */
    /* Same iteration: f completes (t's wakeup is queued), then t is
     * cancelled before it resumes. asyncio 3.12: the cancel wins at the
     * await. */
    EXPECT_OK(cio_future_set_result(f, V(3), NULL));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(t));
    /* f keeps its result */
    EXPECT_PTR_EQ(V(3), test_peek_result(f));
    cio_future_unref(f);
    cio_future_unref(t);
    return 0;
}

TEST(cancel_after_awaited_future_completed_same_iteration_cancel_wins)
{
    EXPECT_OK(cio_run(main_complete_then_cancel, NULL, NULL));
    EXPECT_LOG("waiter-ECANCELED;");
    EXPECT_NO_REPORTS();
}

static void cb_complete_and_cancel(void *arg)
{
    cio_future **fs = arg; /* f, t */
    EXPECT_OK(cio_future_set_result(fs[0], V(3), NULL));
    EXPECT_OK(cio_future_cancel(fs[1]));
}

static int main_complete_then_cancel_cb(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_plain, f);
    EXPECT_OK(cio_yield());
    cio_future *fs[2] = {f, t};
    EXPECT_OK(cio_call_soon(cio_current_loop(), cb_complete_and_cancel, fs));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_PTR_EQ(V(3), test_peek_result(f));
    cio_future_unref(f);
    cio_future_unref(t);
    return 0;
}

TEST(complete_and_cancel_in_one_callback_cancel_wins)
{
    EXPECT_OK(cio_run(main_complete_then_cancel_cb, NULL, NULL));
    EXPECT_LOG("waiter-ECANCELED;");
}

static int main_cancel_then_complete(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_plain, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    /* f was not cancelled with t (task.h), so it still takes a result */
    EXPECT_OK(cio_future_set_result(f, V(3), NULL));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_PTR_EQ(V(3), test_peek_result(f));
    cio_future_unref(f);
    cio_future_unref(t);
    return 0;
}

TEST(cancel_then_complete_same_iteration)
{
    EXPECT_OK(cio_run(main_cancel_then_complete, NULL, NULL));
    EXPECT_LOG("waiter-ECANCELED;");
}

static int returns_at_once(void *arg, void **result)
{
    LOG("ran;");
    *result = V(7);
    return 0;
}

static int main_cancel_after_finish(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(returns_at_once, NULL);
    EXPECT_OK(cio_yield()); /* t runs to its end in this iteration */
    EXPECT_TRUE(cio_future_is_done(t));
    EXPECT_ERR(-EINVAL, cio_future_cancel(t)); /* asyncio: cancel() is False */
    EXPECT_FALSE(cio_future_is_cancelled(t));
    void *v = NULL;
    EXPECT_OK(cio_await(t, &v));
    EXPECT_PTR_EQ(V(7), v);
    cio_future_unref(t);
    return 0;
}

TEST(cancel_after_the_task_finished_is_einval_result_kept)
{
    EXPECT_OK(cio_run(main_cancel_after_finish, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- cancel before the first step ------------------------------------------------------ */

static int first_step(void *arg, void **result)
{
    /* The body runs, so whatever arg hands over (memory, a descriptor) can
     * be released; its first suspension fails. */
    LOG("body;");
    free(arg);
    int rc = cio_yield();
    LOG("first-suspension-%s;", cio_err_name(rc));
    return rc;
}

static int main_cancel_before_start(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(first_step, malloc(8));
    EXPECT_OK(cio_future_cancel(t)); /* before it ever ran */
    LOG("cancelled;");
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(t));
    cio_future_unref(t);
    return 0;
}

TEST(cancel_before_first_run_body_runs_first_suspension_fails)
{
    /* asyncio throws CancelledError into the coroutine at its first step.
     * task.h: cancellation is delivered at suspensions, so the body starts
     * and its first suspension returns -ECANCELED. */
    EXPECT_OK(cio_run(main_cancel_before_start, NULL, NULL));
    EXPECT_LOG("cancelled;body;first-suspension-ECANCELED;");
    EXPECT_NO_REPORTS();
}

static int never_suspends(void *arg, void **result)
{
    LOG("body;");
    return -ECANCELED; /* honours a cancel it saw no suspension for */
}

static int main_cancel_before_start_nosusp(void *arg, void **result)
{
    cio_task *t = spawn(never_suspends, NULL);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(t));
    cio_future_unref(t);
    return 0;
}

TEST(task_returning_ecanceled_ends_cancelled)
{
    EXPECT_OK(cio_run(main_cancel_before_start_nosusp, NULL, NULL));
}

/* ---- cancelling the running task ----------------------------------------------------- */

static int main_cancel_self_in_done_cb(void *arg, void **result)
{
    /* A task cancelled while it is the one running: its next suspension
     * fails, not the current statement. */
    EXPECT_OK(cio_future_cancel(cio_current_task()));
    LOG("still-running;");
    EXPECT_ERR(-ECANCELED, cio_yield());
    return -ECANCELED;
}

TEST(self_cancel_takes_effect_at_next_suspension)
{
    EXPECT_ERR(-ECANCELED, cio_run(main_cancel_self_in_done_cb, NULL, NULL));
    EXPECT_LOG("still-running;");
}

/* ---- cancellation of a task blocked on gather -------------------------------------- */

static int sleeper_logs(void *arg, void **result)
{
    int rc = cio_sleep(3600);
    LOG("%s-%s;", (const char *)arg, cio_err_name(rc));
    return rc;
}

static int gathers(void *arg, void **result)
{
    cio_task **kids = arg;
    int rc = cio_gather(kids, 2, 0, NULL);
    LOG("gather-%s;", cio_err_name(rc));
    return rc;
}

static int main_cancel_gather(void *arg, void **result)
{
    cio_task *kids[2] = {spawn(sleeper_logs, "k1"), spawn(sleeper_logs, "k2")};
    cio_task *g = spawn(gathers, kids);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(g));
    EXPECT_ERR(-ECANCELED, cio_await(g, NULL));
    /* task.h: a cancelled gather_await cancels its futures (asyncio too) */
    EXPECT_ERR(-ECANCELED, cio_await(kids[0], NULL));
    EXPECT_ERR(-ECANCELED, cio_await(kids[1], NULL));
    cio_future_unref(kids[0]);
    cio_future_unref(kids[1]);
    cio_future_unref(g);
    return 0;
}

TEST(cancelling_a_gathering_task_cancels_the_children)
{
    EXPECT_OK(cio_run(main_cancel_gather, NULL, NULL));
    /* the children end before the gather reports back */
    EXPECT_TRUE(strstr(order_log, "k1-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "k2-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "gather-ECANCELED;") != NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
