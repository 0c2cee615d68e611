/* The awaitable combinators from a task: gather_await (asyncio.gather, with
 * and without return_exceptions), wait_await (asyncio.wait), as_completed
 * and shield. Children complete by timers with distinct deadlines started
 * in one iteration (deadline order, however late the loop runs), by order
 * of spawning, or by gates the test opens, never by measured time: no
 * outcome may depend on how much time passes between two steps. */
#include <math.h>

#include "task/task_util.h"

#define HOUR 3600.0

static int returns_after(void *arg, void **result)
{
    /* arg: milliseconds to sleep, also the result */
    EXPECT_OK(cio_sleep(0.001 * (double)U(arg)));
    LOG("r%u;", (unsigned)U(arg));
    *result = arg;
    return 0;
}

static int fails_after_yield(void *arg, void **result)
{
    EXPECT_OK(cio_yield());
    LOG("fail;");
    return (int)(intptr_t)arg;
}

static int returns_after_yields(void *arg, void **result)
{
    /* arg: how many loop iterations to take, also the result */
    for (uintptr_t i = 0; i < U(arg); i++)
        EXPECT_OK(cio_yield());
    LOG("y%u;", (unsigned)U(arg));
    *result = arg;
    return 0;
}

static int sleeps_forever(void *arg, void **result)
{
    int rc = cio_sleep(HOUR);
    LOG("%s-%s;", arg ? (const char *)arg : "s", cio_err_name(rc));
    return rc;
}

static void unref_all(cio_future **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cio_future_unref(f[i]);
}

/* ---- gather ------------------------------------------------------------------------- */

static int main_gather_ok(void *arg, void **result)
{
    capture_reports_here();
    cio_future *f[3] = {spawn(returns_after, V(3)), spawn(returns_after, V(1)),
                        spawn(returns_after, V(2))};
    void *res[3] = {0};
    EXPECT_OK(cio_gather(f, 3, 0, res));
    /* results in input order, not completion order */
    EXPECT_PTR_EQ(V(3), res[0]);
    EXPECT_PTR_EQ(V(1), res[1]);
    EXPECT_PTR_EQ(V(2), res[2]);
    unref_all(f, 3);
    /* n == 0 completes at once */
    EXPECT_OK(cio_gather(NULL, 0, 0, NULL));
    return 0;
}

TEST(gather_await_results_in_input_order)
{
    EXPECT_OK(cio_run(main_gather_ok, NULL, NULL));
    EXPECT_LOG("r1;r2;r3;");
    EXPECT_NO_REPORTS();
}

static int main_gather_fail(void *arg, void **result)
{
    capture_reports_here();
    cio_future *plain = new_future();
    cio_future *f[3] = {spawn(sleeps_forever, "slow"), spawn(fails_after_yield, V(-EIO)), plain};
    void *res[3] = {V(1), V(1), V(1)};
    /* the first failure is returned at once */
    EXPECT_ERR(-EIO, cio_gather(f, 3, 0, res));
    LOG("gather-returned;");
    /* the others keep running (asyncio.gather without return_exceptions) */
    EXPECT_FALSE(cio_future_is_done(f[0]));
    EXPECT_FALSE(cio_future_is_done(plain));
    EXPECT_OK(cio_future_cancel(f[0]));
    EXPECT_ERR(-ECANCELED, cio_await(f[0], NULL));
    EXPECT_OK(cio_future_set_result(plain, V(4), NULL));
    unref_all(f, 3);
    return 0;
}

TEST(gather_await_failing_child_returns_first_error_others_keep_running)
{
    EXPECT_OK(cio_run(main_gather_fail, NULL, NULL));
    EXPECT_LOG("fail;gather-returned;slow-ECANCELED;");
    EXPECT_NO_REPORTS(); /* the error gather returned was retrieved */
}

static int main_gather_collect(void *arg, void **result)
{
    capture_reports_here();
    cio_future *f[3] = {spawn(returns_after, V(2)), spawn(fails_after_yield, V(-EPIPE)),
                        spawn(returns_after, V(1))};
    void *res[3] = {0};
    EXPECT_OK(cio_gather(f, 3, CIO_GATHER_COLLECT, res));
    LOG("gather-returned;");
    for (int i = 0; i < 3; i++)
        EXPECT_TRUE(cio_future_is_done(f[i])); /* waited for all */
    EXPECT_PTR_EQ(V(2), res[0]);
    EXPECT_PTR_EQ(NULL, res[1]);
    EXPECT_PTR_EQ(V(1), res[2]);
    /* each child's outcome is the caller's to look at */
    EXPECT_ERR(-EPIPE, cio_future_error(f[1]));
    unref_all(f, 3);
    return 0;
}

TEST(gather_await_collect_waits_for_all_and_succeeds)
{
    EXPECT_OK(cio_run(main_gather_collect, NULL, NULL));
    EXPECT_LOG("fail;r1;r2;gather-returned;");
    EXPECT_NO_REPORTS();
}

static int main_gather_collect_unlooked(void *arg, void **result)
{
    capture_reports_here();
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "ignored-failure";
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, fails_after_yield, V(-EPIPE), &t));
    EXPECT_OK(cio_gather(&t, 1, CIO_GATHER_COLLECT, NULL));
    cio_future_unref(t); /* never looked at: cio reports it (future.h) */
    return 0;
}

TEST(gather_await_collect_error_nobody_looked_at_is_reported)
{
    EXPECT_OK(cio_run(main_gather_collect_unlooked, NULL, NULL));
    EXPECT_REPORTS(1);
    EXPECT_REPORT("ignored-failure", NULL);
}

/* ---- wait ------------------------------------------------------------------------------- */

static int main_wait_first(void *arg, void **result)
{
    cio_future *f[3] = {new_future(), new_future(), new_future()};
    complete_later(f[1], 0.002);
    cio_future *done[3] = {0}, *pending[3] = {0};
    size_t nd = 9, np = 9;
    EXPECT_OK(cio_wait(f, 3, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, done, &nd, pending, &np));
    EXPECT_EQ(1, nd);
    EXPECT_PTR_EQ(f[1], done[0]);
    EXPECT_EQ(2, np); /* in input order */
    EXPECT_PTR_EQ(f[0], pending[0]);
    EXPECT_PTR_EQ(f[2], pending[1]);
    EXPECT_PTR_EQ(NULL, done[1]); /* only n_done entries written */
    EXPECT_TRUE(cio_future_is_done(f[1]));
    EXPECT_FALSE(cio_future_is_done(f[0]));
    EXPECT_FALSE(cio_future_is_done(f[2])); /* wait cancels nothing */
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_future_set_result(f[2], NULL, NULL));
    unref_all(f, 3);

    /* one already done: at once */
    cio_future *g[2] = {new_future(), new_future()};
    EXPECT_OK(cio_future_set_result(g[0], NULL, NULL));
    /* the sets are optional: counts only */
    EXPECT_OK(cio_wait(g, 2, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, NULL, &nd, NULL, &np));
    EXPECT_EQ(1, nd);
    EXPECT_EQ(1, np);
    /* or nothing at all */
    EXPECT_OK(cio_wait(g, 2, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL));
    /* only the pending set */
    EXPECT_OK(cio_wait(g, 2, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, pending, &np));
    EXPECT_EQ(1, np);
    EXPECT_PTR_EQ(g[1], pending[0]);
    EXPECT_OK(cio_future_cancel(g[1]));
    unref_all(g, 2);
    return 0;
}

TEST(wait_await_first_completed)
{
    EXPECT_OK(cio_run(main_wait_first, NULL, NULL));
}

static int main_wait_all(void *arg, void **result)
{
    /* in the order of the iterations they take (sleeps of 1 and 2 ms
     * would swap places if the third task started a millisecond late) */
    cio_future *f[3] = {spawn(returns_after_yields, V(3)), spawn(fails_after_yield, V(-EIO)),
                        spawn(returns_after_yields, V(2))};
    cio_future *done[3] = {0}, *pending[3] = {0};
    size_t nd = 9, np = 9;
    EXPECT_OK(cio_wait(f, 3, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, done, &nd, pending, &np));
    EXPECT_LOG("fail;y2;y3;");
    EXPECT_EQ(3, nd);
    EXPECT_EQ(0, np);
    for (int i = 0; i < 3; i++) /* input order, not completion order */
        EXPECT_PTR_EQ(f[i], done[i]);
    EXPECT_ERR(-EIO, cio_future_error(f[1])); /* wait never fails: look at it */
    unref_all(f, 3);
    return 0;
}

TEST(wait_await_all_completed)
{
    EXPECT_OK(cio_run(main_wait_all, NULL, NULL));
}

static int main_wait_first_exception(void *arg, void **result)
{
    /* f[2] finishes eight iterations later than f[1] fails, by causality:
     * a 1 ms sleep there was often done too by the time the waiter ran
     * (under valgrind), and wait counted two. */
    cio_future *f[3] = {spawn(sleeps_forever, "x"), spawn(fails_after_yield, V(-EIO)),
                        spawn(returns_after_yields, V(8))};
    cio_future *done[3] = {0}, *pending[3] = {0};
    size_t nd = 9, np = 9;
    EXPECT_OK(cio_wait(f, 3, CIO_WAIT_FIRST_EXCEPTION, CIO_NO_TIMEOUT, done, &nd, pending, &np));
    EXPECT_EQ(1, nd);
    EXPECT_PTR_EQ(f[1], done[0]);
    EXPECT_EQ(2, np);
    EXPECT_PTR_EQ(f[0], pending[0]);
    EXPECT_PTR_EQ(f[2], pending[1]);
    EXPECT_ERR(-EIO, cio_future_error(f[1]));
    EXPECT_FALSE(cio_future_is_done(f[0]));
    EXPECT_OK(cio_future_cancel(f[0]));
    EXPECT_ERR(-ECANCELED, cio_await(f[0], NULL));
    EXPECT_OK(cio_await(f[2], NULL));
    unref_all(f, 3);
    return 0;
}

TEST(wait_await_first_exception)
{
    EXPECT_OK(cio_run(main_wait_first_exception, NULL, NULL));
}

static int main_wait_timeout(void *arg, void **result)
{
    /* f[1] never completes, so only the timeout ends these waits, whenever
     * the loop gets to it: no race with a completion */
    cio_future *f[2] = {new_future(), new_future()};
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    cio_future *done[2] = {0}, *pending[2] = {0};
    size_t nd = 9, np = 9;
    /* the timeout is not an error: the not-done ones are pending */
    EXPECT_OK(cio_wait(f, 2, CIO_WAIT_ALL_COMPLETED, 0.001, done, &nd, pending, &np));
    EXPECT_EQ(1, nd);
    EXPECT_PTR_EQ(f[0], done[0]);
    EXPECT_EQ(1, np);
    EXPECT_PTR_EQ(f[1], pending[0]);
    EXPECT_FALSE(cio_future_is_done(f[1])); /* not cancelled */
    EXPECT_OK(cio_wait(&f[1], 1, CIO_WAIT_FIRST_COMPLETED, 0.001, done, &nd, pending, &np));
    EXPECT_EQ(0, nd);
    EXPECT_EQ(1, np);
    EXPECT_PTR_EQ(f[1], pending[0]);
    /* a timeout of 0 (or less) looks once */
    EXPECT_OK(cio_wait(f, 2, CIO_WAIT_ALL_COMPLETED, 0, NULL, &nd, NULL, &np));
    EXPECT_EQ(1, nd);
    EXPECT_EQ(1, np);
    EXPECT_OK(cio_wait(f, 2, CIO_WAIT_ALL_COMPLETED, -1, NULL, &nd, NULL, &np));
    EXPECT_EQ(1, nd);
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    /* the argument checks; the counts are 0 on an error */
    nd = np = 9;
    /* n == 0 is invalid (asyncio raises ValueError) */
    EXPECT_ERR(-EINVAL, cio_wait(NULL, 0, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, done, &nd, pending, &np));
    EXPECT_EQ(0, nd);
    EXPECT_EQ(0, np);
    EXPECT_ERR(-EINVAL, cio_wait(NULL, 1, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL));
    cio_future *with_null[2] = {f[0], NULL};
    EXPECT_ERR(-EINVAL, cio_wait(with_null, 2, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_wait(f, 2, (cio_wait_mode)3, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_wait(f, 2, CIO_WAIT_ALL_COMPLETED, NAN, NULL, NULL, NULL, NULL));
    unref_all(f, 2);
    return 0;
}

TEST(wait_await_timeout_returns_the_sets_cancels_nothing)
{
    EXPECT_OK(cio_run(main_wait_timeout, NULL, NULL));
}

/* A deadline scope of the waiting task ends cio_wait with -ETIMEDOUT, which
 * the wait's own timeout never does. */
static int main_wait_deadline(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    size_t nd = 9, np = 9;
    EXPECT_ERR(-ETIMEDOUT, cio_wait(&f, 1, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, &nd, NULL, &np));
    EXPECT_EQ(0, nd);
    EXPECT_EQ(0, np);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    EXPECT_FALSE(cio_future_is_done(f)); /* not cancelled */
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(f);
    return 0;
}

TEST(wait_await_deadline_of_the_task_is_etimedout)
{
    EXPECT_OK(cio_run(main_wait_deadline, NULL, NULL));
}

static int waits_all(void *arg, void **result)
{
    size_t nd = 9, np = 9;
    int rc = cio_wait(arg, 1, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, &nd, NULL, &np);
    if (rc) {
        EXPECT_EQ(0, nd);
        EXPECT_EQ(0, np);
    }
    LOG("wait-%s;", cio_err_name(rc));
    return rc;
}

static int main_wait_cancelled(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(waits_all, &f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    /* asyncio.wait leaves the futures alone when cancelled */
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(f);
    cio_future_unref(t);
    return 0;
}

TEST(wait_await_cancelled_leaves_futures_alone)
{
    EXPECT_OK(cio_run(main_wait_cancelled, NULL, NULL));
    EXPECT_LOG("wait-ECANCELED;");
}

/* ---- as_completed ---------------------------------------------------------------------- */

/* A child of the as_completed cases: returns its value once its gate
 * opens. The gates are opened by a driver task, in a chosen order. */
struct gated {
    cio_future *gate;
    unsigned value;
};

static int returns_at_gate(void *arg, void **result)
{
    struct gated *g = arg;
    EXPECT_OK(cio_await(g->gate, NULL));
    LOG("r%u;", g->value);
    *result = V(g->value);
    return 0;
}

static struct gated gates[3];
static int ngot;

/* Opens gates 1, 2, 0; with arg set, waits before each next gate until
 * the consumer has taken the previous child (bounded: the consumer needs a
 * few iterations, never a span of time). */
static int open_gates(void *arg, void **result)
{
    const int order[3] = {1, 2, 0};
    for (int k = 0; k < 3; k++) {
        EXPECT_OK(cio_future_set_result(gates[order[k]].gate, NULL, NULL));
        for (int i = 0; arg && i < 1000 && ngot <= k; i++)
            EXPECT_OK(cio_yield());
        if (arg && ngot <= k)
            FAIL("the consumer did not take child %d", order[k]);
    }
    return 0;
}

/* Causality, not timing: the driver opens a gate only after the consumer
 * took the child before it (this case used to let timers 10 ms apart do
 * that, and failed whenever the loop ran late). */
static int main_as_completed(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_future *f[3];
    const unsigned values[3] = {30, 10, 20};
    for (int i = 0; i < 3; i++) {
        gates[i] = (struct gated){new_future(), values[i]};
        f[i] = spawn(returns_at_gate, &gates[i]);
    }
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, f, 3, CIO_NO_TIMEOUT, &it));
    cio_task *driver = spawn(open_gates, arg);
    const int expect[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        cio_future *done = NULL;
        EXPECT_OK(cio_as_completed_next(it, &done));
        EXPECT_PTR_EQ(f[expect[i]], done);
        EXPECT_TRUE(cio_future_is_done(done));
        LOG("got%u;", (unsigned)U(test_peek_result(done)));
        ngot++;
    }
    cio_future *done = V(1);
    EXPECT_ERR(-ENODATA, cio_as_completed_next(it, &done));
    EXPECT_PTR_EQ(NULL, done);
    EXPECT_ERR(-ENODATA, cio_as_completed_next(it, NULL)); /* done may be NULL */
    done = V(1);
    EXPECT_ERR(-EINVAL, cio_as_completed_next(NULL, &done));
    EXPECT_PTR_EQ(NULL, done);
    EXPECT_OK(cio_as_completed_free(it));
    EXPECT_OK(cio_await(driver, NULL));
    cio_future_unref(driver);
    unref_all(f, 3);
    for (int i = 0; i < 3; i++)
        cio_future_unref(gates[i].gate);
    return 0;
}

TEST(as_completed_await_yields_in_completion_order)
{
    EXPECT_OK(cio_run(main_as_completed, V(1), NULL));
    EXPECT_LOG("r10;got10;r20;got20;r30;got30;");
}

/* All three complete in one iteration: still handed out in that order. */
TEST(as_completed_await_keeps_the_order_of_completions_in_one_iteration)
{
    EXPECT_OK(cio_run(main_as_completed, NULL, NULL));
    EXPECT_LOG("r10;r20;r30;got10;got20;got30;");
}

/* cio_as_completed_free while a task waits in cio_as_completed_next on the
 * iterator: refused with -EBUSY, nothing freed; the waiter goes on. */
static int waits_in_next(void *arg, void **result)
{
    cio_as_completed *it = arg;
    cio_future *done = NULL;
    int rc = cio_as_completed_next(it, &done);
    LOG("next-%s;", cio_err_name(rc));
    *result = done;
    return rc;
}

static int main_as_completed_free_busy(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_future *f = new_future();
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, &f, 1, CIO_NO_TIMEOUT, &it));
    cio_task *t = spawn(waits_in_next, it);
    yield_n(2); /* t is suspended in next */
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_ERR(-EBUSY, cio_as_completed_free(it));
    LOG("busy;");
    EXPECT_OK(cio_future_set_result(f, V(7), NULL));
    void *got = NULL;
    EXPECT_OK(cio_await(t, &got));
    EXPECT_PTR_EQ(f, got);
    cio_future_unref(t);
    EXPECT_OK(cio_as_completed_free(it)); /* no waiter now */
    cio_future_unref(f);
    return 0;
}

TEST(as_completed_free_refuses_while_a_task_waits_in_next)
{
    EXPECT_OK(cio_run(main_as_completed_free_busy, NULL, NULL));
    EXPECT_LOG("busy;next-OK;");
}

static int main_as_completed_timeout(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_future *f[2] = {new_future(), new_future()};
    /* completed now, not by a timer: one that the loop ran late could fire
     * in the iteration of the timeout, and the timeout would win */
    EXPECT_OK(cio_future_set_result(f[1], V(0x5eed), NULL));
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, 0.02, &it));
    cio_future *done = NULL;
    EXPECT_OK(cio_as_completed_next(it, &done));
    EXPECT_PTR_EQ(f[1], done);
    EXPECT_ERR(-ETIMEDOUT, cio_as_completed_next(it, &done));
    EXPECT_OK(cio_as_completed_free(it));
    EXPECT_FALSE(cio_future_is_done(f[0])); /* not cancelled */
    EXPECT_OK(cio_future_cancel(f[0]));
    unref_all(f, 2);
    return 0;
}

TEST(as_completed_await_timeout)
{
    EXPECT_OK(cio_run(main_as_completed_timeout, NULL, NULL));
}

/* A cio_as_completed_next interrupted by its task's cancellation or
 * deadline gives its step back: every input is still handed out, in
 * order, also the one that had already been assigned to the interrupted
 * step when the interruption came (asyncio: a cancelled Queue.get leaves
 * its item to the next getter). */
static int next_in_expired_scope(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0)); /* expired: the wait fails at once */
    cio_future *done = V(1);
    int rc = cio_as_completed_next(arg, &done);
    EXPECT_PTR_EQ(NULL, done);
    cio_scope_end(&s);
    LOG("deadline-%s;", cio_err_name(rc));
    return 0;
}

static int main_as_completed_interrupted(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_future *f[3] = {new_future(), new_future(), new_future()};
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, f, 3, CIO_NO_TIMEOUT, &it));

    /* 1. Cancelled while nothing had completed. */
    cio_task *t = spawn(waits_in_next, it);
    yield_n(2); /* t waits in next */
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);

    /* 2. A deadline of the waiting task. */
    t = spawn(next_in_expired_scope, it);
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);

    /* 3. Cancelled after f[1] was assigned to its step, before it ran:
     * f[1]'s done-callback runs before this task resumes from the yield,
     * and hands f[1] to t's step; t's wakeup comes after that. */
    t = spawn(waits_in_next, it);
    yield_n(2);
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);

    EXPECT_OK(cio_future_set_result(f[2], NULL, NULL));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    const int expect[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        cio_future *done = NULL;
        EXPECT_OK(cio_as_completed_next(it, &done));
        EXPECT_PTR_EQ(f[expect[i]], done);
    }
    EXPECT_ERR(-ENODATA, cio_as_completed_next(it, NULL));
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 3);
    return 0;
}

TEST(as_completed_interrupted_next_gives_its_step_back)
{
    EXPECT_OK(cio_run(main_as_completed_interrupted, NULL, NULL));
    EXPECT_LOG("next-ECANCELED;deadline-ETIMEDOUT;next-ECANCELED;");
}

/* After the iterator's timeout, an input that completes late is not
 * handed out: every remaining step fails with -ETIMEDOUT (asyncio). */
static int main_as_completed_late_after_timeout(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_future *f[2] = {new_future(), new_future()};
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, 0.01, &it));
    EXPECT_ERR(-ETIMEDOUT, cio_as_completed_next(it, NULL));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_yield()); /* its done-callback runs */
    cio_future *done = V(1);
    EXPECT_ERR(-ETIMEDOUT, cio_as_completed_next(it, &done));
    EXPECT_PTR_EQ(NULL, done);
    EXPECT_ERR(-ENODATA, cio_as_completed_next(it, NULL));
    EXPECT_OK(cio_as_completed_free(it));
    EXPECT_OK(cio_future_cancel(f[1]));
    unref_all(f, 2);
    return 0;
}

TEST(as_completed_await_input_completing_after_the_timeout)
{
    EXPECT_OK(cio_run(main_as_completed_late_after_timeout, NULL, NULL));
}

/* ---- shield ------------------------------------------------------------------------------ */

static int main_shield_plain(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(returns_after, V(2));
    void *v = NULL;
    EXPECT_OK(cio_shield(t, &v));
    EXPECT_PTR_EQ(V(2), v);
    cio_future_unref(t);

    cio_future *f = new_future();
    EXPECT_OK(cio_future_set_error(f, -ENOSPC));
    EXPECT_ERR(-ENOSPC, cio_shield(f, NULL));
    cio_future_unref(f); /* the error was retrieved by the await */
    return 0;
}

TEST(shield_await_passes_the_outcome_through)
{
    EXPECT_OK(cio_run(main_shield_plain, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static int shield_waiter(void *arg, void **result)
{
    int rc = cio_shield(arg, NULL);
    LOG("waiter-%s;", cio_err_name(rc));
    return rc;
}

static int main_shield_inner_fails_later(void *arg, void **result)
{
    capture_reports_here();
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "shielded-inner";
    cio_task *inner = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, fails_after_yield, V(-EIO), &inner));
    cio_task *w = spawn(shield_waiter, inner);
    EXPECT_OK(cio_future_cancel(w));
    EXPECT_ERR(-ECANCELED, cio_await(w, NULL));
    cio_future_unref(w);
    /* inner fails later; its error stays with it (future.h: cio reports it
     * unless retrieved, where asyncio drops it) */
    while (!cio_future_is_done(inner))
        EXPECT_OK(cio_yield());
    cio_future_unref(inner);
    return 0;
}

TEST(shield_await_cancelled_inner_error_later_is_reported)
{
    EXPECT_OK(cio_run(main_shield_inner_fails_later, NULL, NULL));
    EXPECT_REPORTS(1);
    EXPECT_REPORT("shielded-inner", NULL);
}

/* ---- combinators of combinators ------------------------------------------------------------- */

/* arg 0: await_for a child sleeping forever, with a short timeout; else
 * a child returning arg after arg ms, with no real timeout */
static int await_for_task(void *arg, void **result)
{
    cio_task *inner = arg ? spawn(returns_after, arg) : spawn(sleeps_forever, "inner");
    int rc = cio_wait_for(inner, arg ? HOUR : 0.002, result);
    cio_future_unref(inner);
    return rc;
}

static int main_nested_comb(void *arg, void **result)
{
    cio_future *f[2] = {spawn(await_for_task, V(1)), spawn(await_for_task, NULL)};
    void *res[2] = {0};
    EXPECT_OK(cio_gather(f, 2, CIO_GATHER_COLLECT, res));
    EXPECT_PTR_EQ(V(1), res[0]);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(f[1]));
    unref_all(f, 2);
    return 0;
}

TEST(gather_of_tasks_using_await_for)
{
    EXPECT_OK(cio_run(main_nested_comb, NULL, NULL));
    /* two independent events: the 1 ms sleep starts an iteration after the
     * 2 ms timeout, so a late loop may see either first */
    EXPECT_TRUE(strstr(order_log, "r1;") != NULL);
    EXPECT_TRUE(strstr(order_log, "inner-ECANCELED;") != NULL);
}

/* wait_for: an inner task whose cleanup, after the cancellation that the
 * timeout (or the wrapper's cancel) sent it, fails with an error of its own
 * passes that error on (asyncio 3.12); it used to become -ETIMEDOUT /
 * -ECANCELED with the inner error marked retrieved, and so lost. */
static int sleeper_failing_cleanup(void *arg, void **result)
{
    int rc = cio_sleep(3600);
    EXPECT_ERR(-ECANCELED, rc);
    return -EIO; /* the cleanup failed */
}

static int main_wait_for_inner_error(void *arg, void **result)
{
    cio_task *t = spawn(sleeper_failing_cleanup, NULL);
    EXPECT_ERR(-EIO, cio_wait_for(t, 0, NULL));
    cio_future_unref(t);

    t = spawn(sleeper_failing_cleanup, NULL);
    cio_future *w = NULL;
    EXPECT_OK(cio_wait_for_future(cio_current_loop(), t, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_yield()); /* the sleeper is asleep */
    EXPECT_OK(cio_future_cancel(w));
    EXPECT_ERR(-EIO, cio_await(w, NULL));
    cio_future_unref(w);
    cio_future_unref(t);
    return 0;
}

TEST(wait_for_passes_on_an_inner_error_after_the_timeout_or_cancel)
{
    EXPECT_OK(cio_run(main_wait_for_inner_error, NULL, NULL));
}

/* ---- many children ---------------------------------------------------------------------- */

/* The awaitable forms add nothing worse than O(n) to the callback forms
 * (whose step count tests/future/test_combinators_many.c checks); 100,000
 * children, finished in reverse order by another task. */
#define MANY 100000
static cio_future **many;

static int finish_many_in_reverse(void *arg, void **result)
{
    for (size_t i = MANY; i-- > 0;)
        EXPECT_OK(cio_future_set_result(many[i], V(i + 1), NULL));
    return 0;
}

static int main_many(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    many = malloc(MANY * sizeof *many);
    void **res = malloc(MANY * sizeof *res);
    EXPECT_TRUE(many && res);
    for (size_t i = 0; i < MANY; i++)
        many[i] = new_future();
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, many, MANY, CIO_NO_TIMEOUT, &it));
    cio_task *t = spawn(finish_many_in_reverse, NULL);
    EXPECT_OK(cio_gather(many, MANY, 0, res));
    for (size_t i = 0; i < MANY; i++)
        if (res[i] != V(i + 1))
            FAIL("result %zu is %p", i, res[i]);
    size_t nd = 0;
    EXPECT_OK(cio_wait(many, MANY, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, &nd, NULL, NULL));
    EXPECT_EQ(MANY, nd);
    for (size_t k = 0; k < MANY; k++) {
        cio_future *done = NULL;
        EXPECT_OK(cio_as_completed_next(it, &done));
        if (done != many[MANY - 1 - k])
            FAIL("as_completed gave %p for the %zu-th completion", (void *)done, k);
    }
    EXPECT_OK(cio_as_completed_free(it));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    for (size_t i = 0; i < MANY; i++)
        cio_future_unref(many[i]);
    free(many);
    free(res);
    return 0;
}

TEST(awaitable_combinators_of_100000_children)
{
    EXPECT_OK(cio_run(main_many, NULL, NULL));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
