/* Deadline scopes (asyncio.timeout / trio move_on_after) and await_for
 * (asyncio.wait_for). Which deadline passes first is decided by their order
 * (milliseconds against an hour), never by measuring how long a step took. */
#include <math.h>

#include "task/task_util.h"

#define HOUR 3600.0

static int run_body(cio_task_fn fn)
{
    void *res = NULL;
    return cio_run(fn, NULL, &res);
}

/* ---- one scope ------------------------------------------------------------------ */

static int scope_expires(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    EXPECT_FALSE(cio_scope_is_expired(&s));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(HOUR));
    EXPECT_TRUE(cio_scope_is_expired(&s));
    /* every later suspension inside the scope fails too */
    EXPECT_ERR(-ETIMEDOUT, cio_yield());
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(0));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    /* outside the scope the task goes on */
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_sleep(0.001));
    return 0;
}

TEST(timeout_scope_expires_and_the_task_goes_on)
{
    EXPECT_OK(run_body(scope_expires));
}

static int scope_not_expired(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, HOUR));
    EXPECT_OK(cio_sleep(0.001));
    EXPECT_OK(cio_yield());
    EXPECT_FALSE(cio_scope_is_expired(&s));
    EXPECT_OK(cio_scope_end(&s));
    return 0;
}

TEST(timeout_scope_not_expired_ends_with_zero)
{
    EXPECT_OK(run_body(scope_not_expired));
}

static int scope_zero(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0));
    /* asyncio.timeout(0): the first suspension inside fails */
    EXPECT_ERR(-ETIMEDOUT, cio_yield());
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    return 0;
}

TEST(timeout_zero_fails_the_first_suspension)
{
    EXPECT_OK(run_body(scope_zero));
}

static int scope_past_no_suspension(void *arg, void **result)
{
    /* A scope whose deadline has passed, with no suspension inside. task.h:
     * cio_scope_is_expired is true once the deadline has passed, and
     * cio_scope_end returns -ETIMEDOUT "if this deadline scope expired". The
     * two must agree (asyncio's Timeout.expired() and its TimeoutError
     * agree too). */
    cio_scope s;
    EXPECT_OK(cio_deadline_begin(&s, cio_loop_time(cio_current_loop()) - 1.0));
    bool expired = cio_scope_is_expired(&s);
    int end = cio_scope_end(&s);
    EXPECT_TRUE(expired);
    EXPECT_ERR(-ETIMEDOUT, end);
    return 0;
}

TEST(expired_scope_without_suspension_agrees_with_scope_end)
{
    EXPECT_OK(run_body(scope_past_no_suspension));
}

static int scope_bad(void *arg, void **result)
{
    cio_scope s;
    EXPECT_ERR(-EINVAL, cio_timeout_begin(&s, -1));
    EXPECT_ERR(-EINVAL, cio_timeout_begin(&s, NAN));
    EXPECT_ERR(-EINVAL, cio_deadline_begin(&s, NAN));
    EXPECT_OK(cio_yield()); /* no scope was left behind */
    return 0;
}

TEST(timeout_begin_rejects_negative_and_nan)
{
    EXPECT_OK(run_body(scope_bad));
}

static int deadline_absolute(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_scope s;
    EXPECT_OK(cio_deadline_begin(&s, cio_loop_time(loop) + 0.005));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(HOUR));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    return 0;
}

TEST(deadline_scope_with_absolute_time)
{
    EXPECT_OK(run_body(deadline_absolute));
}

static int scope_await_future(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    EXPECT_ERR(-ETIMEDOUT, cio_await(f, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    /* the scope gave up waiting; it did not cancel the future */
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_OK(cio_future_set_result(f, V(1), NULL));
    cio_future_unref(f);
    return 0;
}

TEST(timeout_scope_on_await_leaves_the_future_alone)
{
    EXPECT_OK(run_body(scope_await_future));
}

/* ---- nested scopes -------------------------------------------------------------- */

static int nested_inner_expires(void *arg, void **result)
{
    cio_scope outer, inner;
    EXPECT_OK(cio_timeout_begin(&outer, HOUR));
    EXPECT_OK(cio_timeout_begin(&inner, 0.005));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(HOUR));
    EXPECT_TRUE(cio_scope_is_expired(&inner));
    EXPECT_FALSE(cio_scope_is_expired(&outer));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&inner));
    /* back in the outer scope: suspensions work again */
    EXPECT_OK(cio_sleep(0.001));
    EXPECT_OK(cio_scope_end(&outer));
    return 0;
}

TEST(nested_scopes_inner_expiry_belongs_to_inner)
{
    EXPECT_OK(run_body(nested_inner_expires));
}

static int nested_outer_expires(void *arg, void **result)
{
    cio_scope outer, inner;
    EXPECT_OK(cio_timeout_begin(&outer, 0.005));
    EXPECT_OK(cio_timeout_begin(&inner, HOUR));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(HOUR));
    EXPECT_FALSE(cio_scope_is_expired(&inner));
    EXPECT_TRUE(cio_scope_is_expired(&outer));
    /* the inner scope did not expire: its end returns 0 ... */
    EXPECT_OK(cio_scope_end(&inner));
    /* ... and the outer expiry still holds inside the outer scope */
    EXPECT_ERR(-ETIMEDOUT, cio_yield());
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&outer));
    EXPECT_OK(cio_yield());
    return 0;
}

TEST(nested_scopes_outer_expiry_inside_inner)
{
    EXPECT_OK(run_body(nested_outer_expires));
}

static int nested_inner_later_deadline(void *arg, void **result)
{
    /* an inner scope cannot extend an outer deadline */
    cio_scope outer, inner;
    EXPECT_OK(cio_timeout_begin(&outer, 0.005));
    EXPECT_OK(cio_timeout_begin(&inner, 10 * HOUR));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(2 * HOUR));
    EXPECT_OK(cio_scope_end(&inner));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&outer));
    return 0;
}

TEST(nested_inner_scope_cannot_extend_outer_deadline)
{
    EXPECT_OK(run_body(nested_inner_later_deadline));
}

static int shield_holds_back_outer_deadline(void *arg, void **result)
{
    cio_scope to, sh;
    EXPECT_OK(cio_timeout_begin(&to, 0.002));
    EXPECT_OK(cio_shield_begin(&sh));
    /* the deadline passes while shielded: this sleep completes */
    EXPECT_OK(cio_sleep(0.02));
    EXPECT_OK(cio_scope_end(&sh));
    EXPECT_TRUE(cio_scope_is_expired(&to));
    /* and resumes after the shield */
    EXPECT_ERR(-ETIMEDOUT, cio_yield());
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&to));
    return 0;
}

TEST(shield_scope_holds_back_an_enclosing_deadline)
{
    EXPECT_OK(run_body(shield_holds_back_outer_deadline));
}

/* ---- cancel versus deadline ------------------------------------------------------ */

static int cancelled_inside_timeout(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, HOUR));
    int rc = cio_sleep(HOUR);
    LOG("sleep-%s;", cio_err_name(rc));
    LOG("end-%s;", cio_err_name(cio_scope_end(&s)));
    return rc;
}

static int main_cancel_in_timeout(void *arg, void **result)
{
    cio_task *t = spawn(cancelled_inside_timeout, NULL);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(cancel_inside_timeout_scope_is_a_cancel_not_a_timeout)
{
    EXPECT_OK(run_body(main_cancel_in_timeout));
    EXPECT_LOG("sleep-ECANCELED;end-OK;");
}

/* ---- a timeout while holding a lock ------------------------------------------------- */

/* The lock: a cio_lock from sync.h. The holder times out inside the lock,
 * releases it in its cleanup, and the waiter gets it. */
static cio_lock *lock;

static int lock_holder(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(lock));
    LOG("A-holds;");
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    int rc = cio_sleep(HOUR); /* the critical section */
    int end = cio_scope_end(&s);
    LOG("A-%s-%s;", cio_err_name(rc), cio_err_name(end));
    EXPECT_TRUE(cio_lock_is_locked(lock)); /* still ours after the timeout */
    EXPECT_OK(cio_lock_release(lock));
    LOG("A-released;");
    return end;
}

static int lock_waiter(void *arg, void **result)
{
    LOG("B-waits;");
    EXPECT_OK(cio_lock_acquire(lock));
    LOG("B-holds;");
    EXPECT_OK(cio_lock_release(lock));
    return 0;
}

static int main_lock_timeout(void *arg, void **result)
{
    EXPECT_OK(cio_lock_new(&lock));
    cio_task *a = spawn(lock_holder, NULL);
    cio_task *b = spawn(lock_waiter, NULL);
    EXPECT_ERR(-ETIMEDOUT, cio_await(a, NULL));
    EXPECT_OK(cio_await(b, NULL));
    EXPECT_FALSE(cio_lock_is_locked(lock));
    EXPECT_OK(cio_lock_free(lock));
    cio_future_unref(a);
    cio_future_unref(b);
    return 0;
}

TEST(timeout_expires_while_a_lock_is_held)
{
    EXPECT_OK(run_body(main_lock_timeout));
    EXPECT_LOG("A-holds;B-waits;A-ETIMEDOUT-ETIMEDOUT;A-released;B-holds;");
}

static int lock_waiter_times_out(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    int rc = cio_lock_acquire(lock);
    LOG("C-%s;", cio_err_name(rc));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    EXPECT_FALSE(rc == 0); /* never got it */
    return 0;
}

static int main_waiter_timeout(void *arg, void **result)
{
    EXPECT_OK(cio_lock_new(&lock));
    EXPECT_OK(cio_lock_acquire(lock));
    cio_task *c = spawn(lock_waiter_times_out, NULL);
    cio_task *b = spawn(lock_waiter, NULL);
    EXPECT_OK(cio_await(c, NULL));
    /* the timed-out waiter passes nothing on wrongly: b gets the lock once
     * we release it */
    EXPECT_OK(cio_lock_release(lock));
    EXPECT_OK(cio_await(b, NULL));
    EXPECT_OK(cio_lock_free(lock));
    cio_future_unref(b);
    cio_future_unref(c);
    return 0;
}

TEST(timeout_while_waiting_for_a_lock)
{
    EXPECT_OK(run_body(main_waiter_timeout));
    EXPECT_LOG("B-waits;C-ETIMEDOUT;B-holds;");
}

/* A plain future as the "lock" (released = completed): the holder times out
 * inside its critical section and releases in its cleanup. */
static int future_lock_holder(void *arg, void **result)
{
    cio_future *released = arg;
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    cio_future *never = new_future();
    int rc = cio_await(never, NULL);
    cio_future_unref(never);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    LOG("holder-%s;", cio_err_name(rc));
    EXPECT_OK(cio_future_set_result(released, NULL, NULL));
    return 0;
}

static int future_lock_waiter(void *arg, void **result)
{
    EXPECT_OK(cio_await(arg, NULL));
    LOG("waiter-got-it;");
    return 0;
}

static int main_future_lock(void *arg, void **result)
{
    cio_future *released = new_future();
    cio_task *a = spawn(future_lock_holder, released);
    cio_task *b = spawn(future_lock_waiter, released);
    EXPECT_OK(cio_await(a, NULL));
    EXPECT_OK(cio_await(b, NULL));
    cio_future_unref(released);
    cio_future_unref(a);
    cio_future_unref(b);
    return 0;
}

TEST(timeout_expires_while_a_future_lock_is_held)
{
    EXPECT_OK(run_body(main_future_lock));
    EXPECT_LOG("holder-ETIMEDOUT;waiter-got-it;");
}

/* ---- await_for ----------------------------------------------------------------------- */

static int slow_inner(void *arg, void **result)
{
    int rc = cio_sleep(HOUR);
    LOG("inner-%s;", cio_err_name(rc));
    return rc;
}

static int main_await_for_timeout(void *arg, void **result)
{
    capture_reports_here();
    cio_task *inner = spawn(slow_inner, NULL);
    EXPECT_ERR(-ETIMEDOUT, cio_wait_for(inner, 0.005, NULL));
    LOG("timed-out;");
    /* asyncio.wait_for cancels the inner awaitable and waits for it */
    EXPECT_TRUE(cio_future_is_done(inner));
    EXPECT_TRUE(cio_future_is_cancelled(inner));
    cio_future_unref(inner);
    /* the waiting task is not cancelled */
    EXPECT_OK(cio_yield());
    return 0;
}

TEST(await_for_timeout_cancels_the_inner_task)
{
    EXPECT_OK(run_body(main_await_for_timeout));
    EXPECT_LOG("inner-ECANCELED;timed-out;");
    EXPECT_NO_REPORTS();
}

static int main_await_for_ok(void *arg, void **result)
{
    capture_reports_here();
    cio_future *f = new_future();
    complete_later(f, 0.001);
    void *v = NULL;
    EXPECT_OK(cio_wait_for(f, HOUR, &v));
    EXPECT_PTR_EQ(V(0x5eed), v);
    cio_future_unref(f);

    /* the inner's error passes through */
    f = new_future();
    EXPECT_OK(cio_future_set_error(f, -EPIPE));
    EXPECT_ERR(-EPIPE, cio_wait_for(f, HOUR, NULL));
    cio_future_unref(f);

    /* a plain future timing out is cancelled */
    f = new_future();
    EXPECT_ERR(-ETIMEDOUT, cio_wait_for(f, 0.002, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    cio_future_unref(f);

    /* a negative timeout means none */
    f = new_future();
    complete_later(f, 0.002);
    EXPECT_OK(cio_wait_for(f, CIO_NO_TIMEOUT, NULL));
    cio_future_unref(f);
    return 0;
}

TEST(await_for_result_error_and_no_timeout)
{
    EXPECT_OK(run_body(main_await_for_ok));
    EXPECT_NO_REPORTS();
}

static void complete_nine(void *arg)
{
    cio_future *f = arg;
    if (!cio_future_is_done(f))
        EXPECT_OK(cio_future_set_result(f, V(9), NULL));
    cio_future_unref(f);
}

static int main_await_for_same_iteration(void *arg, void **result)
{
    /* The inner completes by a timer with the same deadline as the timeout,
     * started before it: both fire in one iteration, the result wins. */
    cio_loop *loop = cio_current_loop();
    for (int round = 0; round < 20; round++) {
        cio_future *f = new_future();
        double delay = 0.002 + 0.0007 * round;
        EXPECT_OK(cio_call_later(loop, delay, complete_nine, cio_future_ref(f), NULL));
        void *v = NULL;
        int rc = cio_wait_for(f, delay, &v);
        if (rc != 0)
            FAIL("round %d: await_for returned %s, the inner completed in the same iteration",
                 round, cio_err_name(rc));
        EXPECT_PTR_EQ(V(9), v);
        EXPECT_FALSE(cio_future_is_cancelled(f));
        cio_future_unref(f);
    }
    return 0;
}

TEST(await_for_inner_completing_at_the_timeout_iteration_wins)
{
    EXPECT_OK(run_body(main_await_for_same_iteration));
}

static int swallowing_inner(void *arg, void **result)
{
    int rc = cio_sleep(HOUR);
    LOG("inner-%s;", cio_err_name(rc));
    return rc;
}

static int await_for_cancelled_outer(void *arg, void **result)
{
    int rc = cio_wait_for(arg, HOUR, NULL);
    LOG("outer-%s;", cio_err_name(rc));
    return rc;
}

static int main_await_for_cancel_outer(void *arg, void **result)
{
    cio_task *inner = spawn(swallowing_inner, NULL);
    cio_task *outer = spawn(await_for_cancelled_outer, inner);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(outer));
    EXPECT_ERR(-ECANCELED, cio_await(outer, NULL));
    /* asyncio.wait_for: cancelling the waiter cancels the inner too */
    EXPECT_ERR(-ECANCELED, cio_await(inner, NULL));
    cio_future_unref(inner);
    cio_future_unref(outer);
    return 0;
}

TEST(await_for_cancelled_waiter_cancels_inner)
{
    EXPECT_OK(run_body(main_await_for_cancel_outer));
    EXPECT_TRUE(strstr(order_log, "inner-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "outer-ECANCELED;") != NULL);
}

static int await_for_in_scope(void *arg, void **result)
{
    /* an enclosing deadline shorter than await_for's own timeout */
    cio_scope s;
    cio_future *f = new_future();
    EXPECT_OK(cio_timeout_begin(&s, 0.003));
    int rc = cio_wait_for(f, HOUR, NULL);
    EXPECT_ERR(-ETIMEDOUT, rc);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    if (!cio_future_is_done(f))
        EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    return 0;
}

TEST(await_for_inside_a_shorter_deadline_scope)
{
    EXPECT_OK(run_body(await_for_in_scope));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
