/* Condition and Barrier: notify(n) / notify_all / wait_for in FIFO order,
 * a cancelled or timed-out wait re-acquires the lock, a notified waiter
 * that gives up passes the notification on; barrier indices, abort, reset,
 * a cancelled waiter breaking the barrier; -EPERM outside a task, -EINVAL
 * without the lock, -EBUSY. */
#include "sync/sync_util.h"

/* ---- Condition ---------------------------------------------------------------- */

static cio_condition *C;
static cio_lock *CL; /* C's lock, so tests can look at it */
static int counter;

static void cond_new(void)
{
    EXPECT_OK(cio_lock_new(&CL));
    EXPECT_OK(cio_condition_new(CL, &C));
}

static void cond_free(void)
{
    EXPECT_OK(cio_condition_free(C));
    EXPECT_FALSE(cio_lock_is_locked(CL));
    EXPECT_OK(cio_lock_free(CL)); /* the condition does not own it */
}

static int cond_waiter(void *arg, void **result)
{
    EXPECT_OK(cio_condition_acquire(C));
    int rc = cio_condition_wait(C);
    /* on return the lock is held again, whatever the outcome */
    EXPECT_TRUE(cio_lock_is_locked(CL));
    LOG("%d:%s;", (int)U(arg), rc ? cio_err_name(rc) : "woke");
    if (rc == 0)
        EXPECT_OK(cio_yield()); /* holds the lock: others wait for it */
    EXPECT_OK(cio_condition_release(C));
    return rc;
}

static bool always_true(void *arg) { return arg == NULL; }

static int cond_notify_main(void *arg, void **result)
{
    /* Without the lock: the condition is in the wrong state. */
    EXPECT_ERR(-EINVAL, cio_condition_notify(C, 1));
    EXPECT_ERR(-EINVAL, cio_condition_notify_all(C));
    EXPECT_ERR(-EINVAL, cio_condition_wait(C));
    EXPECT_ERR(-EINVAL, cio_condition_release(C));
    EXPECT_FALSE(cio_lock_is_locked(CL));
    cio_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = spawn(cond_waiter, V(i + 1));
    yield_n(2); /* all five wait */
    EXPECT_ERR(-EBUSY, cio_condition_free(C));
    EXPECT_OK(cio_condition_acquire(C));
    LOG("notify2;");
    EXPECT_OK(cio_condition_notify(C, 2));
    EXPECT_OK(cio_condition_release(C));
    EXPECT_OK(join_task(t[0]));
    EXPECT_OK(join_task(t[1]));
    yield_n(3); /* nobody else wakes */
    EXPECT_OK(cio_condition_acquire(C));
    LOG("notify0;");
    EXPECT_OK(cio_condition_notify(C, 0));
    LOG("notify_all;");
    EXPECT_OK(cio_condition_notify_all(C));
    EXPECT_OK(cio_condition_release(C));
    for (int i = 2; i < 5; i++)
        EXPECT_OK(join_task(t[i]));
    return 0;
}

TEST(condition_notify_n_and_all)
{
    cond_new();
    RUN(cond_notify_main, NULL);
    EXPECT_LOG("notify2;1:woke;2:woke;notify0;notify_all;3:woke;4:woke;5:woke;");
    EXPECT_ERR(-EPERM, cio_condition_wait(C));
    EXPECT_ERR(-EPERM, cio_condition_acquire(C));
    /* Outside a task, a wait is -EPERM even with the lock held; the
     * non-waiting calls work. */
    EXPECT_OK(cio_lock_acquire_nowait(CL));
    EXPECT_ERR(-EPERM, cio_condition_wait(C));
    EXPECT_ERR(-EPERM, cio_condition_wait_for(C, always_true, NULL));
    EXPECT_ERR(-EINVAL, cio_condition_wait_for(C, NULL, NULL));
    EXPECT_OK(cio_condition_notify(C, 1));
    EXPECT_TRUE(cio_lock_is_locked(CL));
    EXPECT_OK(cio_condition_release(C));
    EXPECT_ERR(-EINVAL, cio_condition_release(C));
    EXPECT_ERR(-EINVAL, cio_condition_notify(NULL, 1));
    EXPECT_ERR(-EINVAL, cio_condition_wait(NULL));
    cond_free();
}

static bool counter_at_least_3(void *arg)
{
    LOG("pred%d;", counter);
    return counter >= 3;
}

static int cond_wait_for_waiter(void *arg, void **result)
{
    EXPECT_OK(cio_condition_acquire(C));
    EXPECT_OK(cio_condition_wait_for(C, counter_at_least_3, NULL));
    LOG("done;");
    EXPECT_OK(cio_condition_release(C));
    return 0;
}

static int cond_wait_for_main(void *arg, void **result)
{
    EXPECT_ERR(-EINVAL, cio_condition_wait_for(C, counter_at_least_3, NULL)); /* no lock */
    cio_task *t = spawn(cond_wait_for_waiter, NULL);
    yield_n(2);
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(cio_condition_acquire(C));
        counter++;
        EXPECT_OK(cio_condition_notify_all(C));
        EXPECT_OK(cio_condition_release(C));
        yield_n(3);
    }
    EXPECT_OK(join_task(t));
    /* true at once: no wait */
    EXPECT_OK(cio_condition_acquire(C));
    EXPECT_OK(cio_condition_wait_for(C, counter_at_least_3, NULL));
    EXPECT_OK(cio_condition_release(C));
    return 0;
}

TEST(condition_wait_for)
{
    EXPECT_OK(cio_condition_new(NULL, &C)); /* makes and owns its lock */
    RUN(cond_wait_for_main, NULL);
    EXPECT_LOG("pred0;pred1;pred2;pred3;done;pred3;");
    EXPECT_OK(cio_condition_free(C));
}

static int cond_locked_check(void *arg, void **result)
{
    EXPECT_OK(cio_condition_acquire(C));
    int rc = cio_condition_wait(C);
    EXPECT_TRUE(cio_lock_is_locked(CL));
    LOG("%d:%s:%s;", (int)U(arg), cio_err_name(rc), counter ? "main-done" : "main-holds");
    EXPECT_ERR(-ECANCELED, cio_yield()); /* still cancelled */
    EXPECT_OK(cio_condition_release(C));
    return rc;
}

static int cond_cancel_main(void *arg, void **result)
{
    counter = 0;
    cio_task *t = spawn(cond_locked_check, V(1));
    yield_n(2);
    EXPECT_OK(cio_condition_acquire(C)); /* main holds the lock ... */
    EXPECT_OK(cio_future_cancel(t));     /* ... when the waiter is cancelled */
    yield_n(3);
    /* the waiter must wait for the lock before its wait returns */
    LOG("main:rel;");
    counter = 1;
    EXPECT_OK(cio_condition_release(C));
    EXPECT_ERR(-ECANCELED, join_task(t));
    EXPECT_FALSE(cio_lock_is_locked(CL));
    return 0;
}

TEST(condition_cancelled_wait_reacquires_lock)
{
    cond_new();
    RUN(cond_cancel_main, NULL);
    EXPECT_LOG("main:rel;1:ECANCELED:main-done;");
    cond_free();
}

static int cond_timeout_waiter(void *arg, void **result)
{
    EXPECT_OK(cio_condition_acquire(C));
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.005));
    int rc = cio_condition_wait(C);
    EXPECT_TRUE(cio_lock_is_locked(CL));
    int erc = cio_scope_end(&s);
    LOG("wait:%s;end:%s;", cio_err_name(rc), cio_err_name(erc));
    EXPECT_OK(cio_condition_release(C));
    return 0;
}

static int cond_timeout_main(void *arg, void **result)
{
    cio_task *t = spawn(cond_timeout_waiter, NULL);
    EXPECT_OK(join_task(t));
    return 0;
}

TEST(condition_wait_timeout_reacquires_lock)
{
    cond_new();
    RUN(cond_timeout_main, NULL);
    EXPECT_LOG("wait:ETIMEDOUT;end:ETIMEDOUT;");
    cond_free();
}

static int cond_pass_on_main(void *arg, void **result)
{
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(cond_waiter, V(i + 1));
    yield_n(2);
    EXPECT_OK(cio_condition_acquire(C));
    EXPECT_OK(cio_condition_notify(C, 1)); /* 1 is notified ... */
    EXPECT_OK(cio_future_cancel(t[0]));    /* ... and cancelled before it runs */
    EXPECT_OK(cio_condition_release(C));
    EXPECT_ERR(-ECANCELED, join_task(t[0]));
    EXPECT_OK(join_task(t[1])); /* got the notification 1 passed on */
    yield_n(3);
    EXPECT_OK(cio_condition_acquire(C));
    LOG("last;");
    EXPECT_OK(cio_condition_notify(C, 1));
    EXPECT_OK(cio_condition_release(C));
    EXPECT_OK(join_task(t[2]));
    return 0;
}

TEST(condition_notified_waiter_that_gives_up_passes_it_on)
{
    cond_new();
    RUN(cond_pass_on_main, NULL);
    EXPECT_LOG("1:ECANCELED;2:woke;last;3:woke;");
    cond_free();
}

/* ---- Barrier ------------------------------------------------------------------------ */

static cio_barrier *B;

static int barrier_waiter(void *arg, void **result)
{
    unsigned index = 99;
    int rc = cio_barrier_wait(B, &index);
    if (rc)
        EXPECT_EQ(0, index); /* 0 on an error */
    LOG("%d:%s%u;", (int)U(arg), rc < 0 ? cio_err_name(rc) : "", index);
    return rc;
}

static int barrier_main(void *arg, void **result)
{
    for (int cycle = 0; cycle < 2; cycle++) {
        cio_task *t[3];
        for (int i = 0; i < 2; i++)
            t[i] = spawn(barrier_waiter, V(i + 1));
        yield_n(2);
        EXPECT_EQ(2, cio_barrier_n_waiting(B));
        t[2] = spawn(barrier_waiter, V(3));
        yield_n(1);
        EXPECT_EQ(0, cio_barrier_n_waiting(B)); /* the third did not wait */
        for (int i = 0; i < 3; i++)
            EXPECT_OK(join_task(t[i]));
        LOG("|");
    }
    EXPECT_FALSE(cio_barrier_is_broken(B));
    return 0;
}

TEST(barrier_indices_and_reuse)
{
    EXPECT_OK(cio_barrier_new(3, &B));
    RUN(barrier_main, NULL);
    /* indices follow arrival order; the last to arrive does not wait */
    EXPECT_LOG("3:2;1:0;2:1;|3:2;1:0;2:1;|");
    EXPECT_ERR(-EPERM, cio_barrier_wait(B, NULL));
    EXPECT_OK(cio_barrier_free(B));
    EXPECT_ERR(-EINVAL, cio_barrier_new(0, &B));
}

static int barrier_one_main(void *arg, void **result)
{
    unsigned index = 99;
    EXPECT_OK(cio_barrier_wait(B, &index));
    EXPECT_EQ(0, index);
    index = 99;
    EXPECT_OK(cio_barrier_wait(B, &index));
    EXPECT_EQ(0, index);
    EXPECT_OK(cio_barrier_wait(B, NULL)); /* index may be NULL */
    index = 99;
    EXPECT_ERR(-EINVAL, cio_barrier_wait(NULL, &index));
    EXPECT_EQ(0, index);
    return 0;
}

TEST(barrier_of_one_party)
{
    EXPECT_OK(cio_barrier_new(1, &B));
    RUN(barrier_one_main, NULL);
    EXPECT_OK(cio_barrier_free(B));
}

static int barrier_abort_main(void *arg, void **result)
{
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = spawn(barrier_waiter, V(i + 1));
    yield_n(2);
    EXPECT_EQ(2, cio_barrier_n_waiting(B));
    EXPECT_ERR(-EBUSY, cio_barrier_free(B));
    LOG("abort;");
    cio_barrier_abort(B);
    EXPECT_TRUE(cio_barrier_is_broken(B));
    EXPECT_EQ(0, cio_barrier_n_waiting(B));
    for (int i = 0; i < 2; i++)
        EXPECT_ERR(-EPIPE, join_task(t[i]));
    EXPECT_ERR(-EPIPE, cio_barrier_wait(B, NULL)); /* broken until reset */
    LOG("reset;");
    cio_barrier_reset(B);
    EXPECT_FALSE(cio_barrier_is_broken(B));
    /* reset with waiters: they fail, the barrier stays usable */
    for (int i = 0; i < 2; i++)
        t[i] = spawn(barrier_waiter, V(i + 3));
    yield_n(2);
    LOG("reset;");
    cio_barrier_reset(B);
    EXPECT_FALSE(cio_barrier_is_broken(B));
    for (int i = 0; i < 2; i++)
        EXPECT_ERR(-EPIPE, join_task(t[i]));
    for (int i = 0; i < 2; i++)
        t[i] = spawn(barrier_waiter, V(i + 5));
    yield_n(2);
    unsigned index = 0;
    EXPECT_OK(cio_barrier_wait(B, &index)); /* main arrives last */
    EXPECT_EQ(2, index);
    for (int i = 0; i < 2; i++)
        EXPECT_OK(join_task(t[i]));
    return 0;
}

TEST(barrier_abort_and_reset)
{
    EXPECT_OK(cio_barrier_new(3, &B));
    RUN(barrier_abort_main, NULL);
    EXPECT_LOG("abort;1:EPIPE0;2:EPIPE0;reset;reset;3:EPIPE0;4:EPIPE0;5:0;6:1;");
    EXPECT_OK(cio_barrier_free(B));
}

static int barrier_cancel_main(void *arg, void **result)
{
    cio_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = spawn(barrier_waiter, V(i + 1));
    yield_n(2);
    EXPECT_OK(cio_future_cancel(t[0]));
    EXPECT_ERR(-ECANCELED, join_task(t[0]));
    EXPECT_TRUE(cio_barrier_is_broken(B));
    EXPECT_ERR(-EPIPE, join_task(t[1]));
    /* a deadline breaks it the same way */
    cio_barrier_reset(B);
    t[1] = spawn(barrier_waiter, V(3));
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    EXPECT_ERR(-ETIMEDOUT, cio_barrier_wait(B, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    EXPECT_ERR(-EPIPE, join_task(t[1]));
    EXPECT_TRUE(cio_barrier_is_broken(B));
    return 0;
}

TEST(barrier_cancelled_waiter_breaks_it)
{
    EXPECT_OK(cio_barrier_new(3, &B));
    RUN(barrier_cancel_main, NULL);
    EXPECT_LOG("1:ECANCELED0;2:EPIPE0;3:EPIPE0;");
    EXPECT_OK(cio_barrier_free(B));
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
