/* The callback queue and the loop's lifecycle: call_soon ordering, the
 * next-iteration rule, stop, run_until_complete, close while something is
 * live, bad input, and asyncio's iteration rule under a busy queue: a due
 * timer runs in the next iteration, I/O waits at most CIO_POLL_INTERVAL
 * callbacks or CIO_POLL_INTERVAL_MS. */
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "test.h"

/* ---- helpers ------------------------------------------------------------ */

#define LOG_MAX 4096
static int log_v[LOG_MAX];
static int nlog;
static cio_loop *g_loop;

static void rec(void *arg)
{
    if (nlog < LOG_MAX)
        log_v[nlog] = (int)(intptr_t)arg;
    nlog++;
}

static void expect_log(const int *want, int n)
{
    EXPECT_EQ(n, nlog);
    for (int i = 0; i < n; i++)
        if (log_v[i] != want[i])
            FAIL("log[%d]: expected %d, got %d", i, want[i], log_v[i]);
}

static int nreports;
static char last_report[1024];
static void capture_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    nreports++;
    snprintf(last_report, sizeof last_report, "%s", msg);
}

/* ---- call_soon ordering --------------------------------------------------- */

TEST(call_soon_fifo)
{
    cio_loop *loop = test_loop_new();
    /* More than the queue's initial size, so it grows while keeping order. */
    for (int i = 0; i < 1000; i++)
        EXPECT_OK(cio_call_soon(loop, rec, (void *)(intptr_t)i));
    EXPECT_EQ(0, nlog);
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1000, nlog);
    for (int i = 0; i < 1000; i++)
        EXPECT_EQ(i, log_v[i]);
    CLOSE_LOOP(loop);
}

/* The queue grows while it is wrapped around: order must survive. */
static int wrap_left;
static void wrap_cb(void *arg)
{
    rec(arg);
    if (wrap_left > 0) {
        /* each callback queues two more: the ring wraps, then grows */
        int v = (int)(intptr_t)arg;
        wrap_left -= 2;
        EXPECT_OK(cio_call_soon(g_loop, wrap_cb, (void *)(intptr_t)(2 * v + 1)));
        EXPECT_OK(cio_call_soon(g_loop, wrap_cb, (void *)(intptr_t)(2 * v + 2)));
    }
}

TEST(call_soon_fifo_across_growth)
{
    cio_loop *loop = g_loop = test_loop_new();
    wrap_left = 2000;
    EXPECT_OK(cio_call_soon(loop, wrap_cb, (void *)0));
    test_drain(loop);
    /* a breadth-first walk of a binary tree numbers the nodes in order */
    EXPECT_TRUE(nlog > 2000);
    for (int i = 0; i < nlog && i < LOG_MAX; i++)
        EXPECT_EQ(i, log_v[i]);
    CLOSE_LOOP(loop);
}

static void rec_odd(void *arg) { rec((void *)((intptr_t)arg & 0xffff)); }

/* cio_call_soon's fast path (the callback packed last, below a limit on
 * the queue) keeps the argument checks and the order: a NULL callback is
 * refused with the fast path warm, callbacks that alternate, arguments too
 * wide to pack, and growth of the queue between pushes all keep FIFO. */
TEST(call_soon_fast_path_keeps_checks_and_order)
{
    cio_loop *loop = g_loop = test_loop_new();
    nlog = 0;
    EXPECT_OK(cio_call_soon(loop, rec, (void *)0));
    EXPECT_ERR(-EINVAL, cio_call_soon(loop, NULL, NULL));
    static int want[3000];
    want[0] = 0;
    for (int i = 1; i < 3000; i++) {
        want[i] = i;
        if (i % 3 == 0) /* alternate with another callback */
            EXPECT_OK(cio_call_soon(loop, rec_odd, (void *)(intptr_t)i));
        else if (i % 7 == 0) /* a plain entry: the top byte is taken */
            EXPECT_OK(cio_call_soon(loop, rec_odd, (void *)(((intptr_t)1 << 60) | i)));
        else
            EXPECT_OK(cio_call_soon(loop, rec, (void *)(intptr_t)i));
        if (i == 1500)
            EXPECT_ERR(-EINVAL, cio_call_soon(loop, NULL, (void *)1));
    }
    test_drain(loop);
    expect_log(want, 3000);
    /* The same callback again, the fast path warm: still run once each. */
    nlog = 0;
    for (int i = 0; i < 300; i++)
        EXPECT_OK(cio_call_soon(loop, rec, (void *)(intptr_t)i));
    test_drain(loop);
    expect_log(want, 300);
    EXPECT_OK(cio_loop_close(loop));
    EXPECT_ERR(-EINVAL, cio_call_soon(loop, rec, (void *)1));
    EXPECT_OK(cio_loop_free(loop));
}

static void spawn_child(void *arg)
{
    int v = (int)(intptr_t)arg;
    rec(arg);
    if (v < 100)
        EXPECT_OK(cio_call_soon(g_loop, spawn_child, (void *)(intptr_t)(v + 100)));
}

TEST(next_iteration_rule)
{
    cio_loop *loop = g_loop = test_loop_new();
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_call_soon(loop, spawn_child, (void *)(intptr_t)i));
    /* the children scheduled by the running queue wait for the next iteration */
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    int first[] = {0, 1, 2};
    expect_log(first, 3);
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    int all[] = {0, 1, 2, 100, 101, 102};
    expect_log(all, 6);
    CLOSE_LOOP(loop);
}

static long chain_left;
static void self_chain(void *arg)
{
    nlog++;
    if (--chain_left > 0)
        EXPECT_OK(cio_call_soon(g_loop, self_chain, arg));
}

TEST(self_rescheduling_runs_once_per_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    chain_left = 10;
    EXPECT_OK(cio_call_soon(loop, self_chain, NULL));
    for (int i = 1; i <= 10; i++) {
        int rc = cio_loop_run_once(loop, 0);
        EXPECT_EQ(i, nlog);
        EXPECT_EQ(i < 10 ? 1 : 0, rc);
    }
    CLOSE_LOOP(loop);
}

TEST(run_once_on_empty_loop_does_not_block)
{
    cio_loop *loop = test_loop_new();
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_FALSE(cio_loop_is_running(loop));
    /* nothing live that could become due: returns at once (the case would
     * time out otherwise) */
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    /* a pending future alone cannot become due by itself either */
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

/* ---- loop time -------------------------------------------------------------- */

/* The clock is a cached reading: the same within an iteration, refreshed
 * whenever the loop polls, which a busy callback chain does at least every
 * CIO_POLL_INTERVAL callbacks. */
static double t_a;
static long chain_len, chain_refreshed_at;
static void time_chain(void *arg)
{
    (void)arg;
    chain_len++;
    if (chain_len == 1) {
        t_a = cio_loop_time(g_loop);
        usleep(3000);
        /* cached: the same value for the whole iteration */
        EXPECT_TRUE(cio_loop_time(g_loop) == t_a);
        int64_t us = cio_loop_time_ns(g_loop) / 1000, want = (int64_t)(t_a * 1e6);
        EXPECT_TRUE(us - want <= 1 && want - us <= 1);
    } else if (cio_loop_time(g_loop) > t_a) {
        chain_refreshed_at = chain_len;
        cio_loop_stop(g_loop);
        return;
    } else if (chain_len > 4 * CIO_POLL_INTERVAL) {
        FAIL("loop time not refreshed in %ld chained callbacks", chain_len);
    }
    EXPECT_OK(cio_call_soon(g_loop, time_chain, NULL));
}

TEST(loop_time_cached_and_refreshed)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_soon(loop, time_chain, NULL));
    EXPECT_OK(cio_loop_run_forever(loop));
    if (chain_refreshed_at > 2 * CIO_POLL_INTERVAL + 1)
        FAIL("loop time refreshed only after %ld chained callbacks", chain_refreshed_at);
    double before = cio_loop_time(loop);
    usleep(2000);
    EXPECT_TRUE(cio_loop_time(loop) == before);
    cio_loop_update_time(loop);
    EXPECT_TRUE(cio_loop_time(loop) > before);
    CLOSE_LOOP(loop);
}

static void nop_timer(void *arg) { (void)arg; }

TEST(loop_time_refreshed_by_waiting)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t0 = cio_loop_time(loop);
    EXPECT_OK(cio_call_later(loop, 0.002, nop_timer, NULL, NULL));
    for (int i = 0; i < 1000 && cio_loop_run_once(loop, 0) == 1; i++) {
    }
    /* the timer fired no earlier than its deadline, on the refreshed clock */
    EXPECT_TRUE(cio_loop_time(loop) >= t0 + 0.002 - 1e-6);
    CLOSE_LOOP(loop);
}

/* ---- stop ------------------------------------------------------------------- */

static void stopper(void *arg)
{
    rec(arg);
    cio_loop_stop(g_loop);
    /* scheduled during the stopping iteration: must not run in it */
    EXPECT_OK(cio_call_soon(g_loop, rec, (void *)(intptr_t)99));
}

TEST(stop_inside_callback)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_soon(loop, rec, (void *)(intptr_t)1));
    EXPECT_OK(cio_call_soon(loop, stopper, (void *)(intptr_t)2));
    EXPECT_OK(cio_call_soon(loop, rec, (void *)(intptr_t)3));
    EXPECT_OK(cio_loop_run_forever(loop));
    /* every callback ready when the iteration began ran; 99 did not */
    int want[] = {1, 2, 3};
    expect_log(want, 3);
    EXPECT_FALSE(cio_loop_is_running(loop));
    /* the stop was consumed: the next run drains 99 normally */
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    int want2[] = {1, 2, 3, 99};
    expect_log(want2, 4);
    CLOSE_LOOP(loop);
}

static void timer_stopper(void *arg)
{
    rec(arg);
    cio_loop_stop(g_loop);
}

TEST(stop_from_timer_finishes_the_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t = cio_loop_time(loop) - 1.0; /* due on the first iteration */
    EXPECT_OK(cio_call_at(loop, t, timer_stopper, (void *)1, NULL));
    EXPECT_OK(cio_call_at(loop, t, rec, (void *)2, NULL));
    EXPECT_OK(cio_call_at(loop, t + 0.5, rec, (void *)3, NULL));
    EXPECT_OK(cio_loop_run_forever(loop));
    /* every timer due in the stopping iteration ran */
    int want[] = {1, 2, 3};
    expect_log(want, 3);
    CLOSE_LOOP(loop);
}

static void resched(void *arg)
{
    rec(arg);
    EXPECT_OK(cio_call_soon(g_loop, rec, (void *)(intptr_t)((int)(intptr_t)arg + 10)));
}

TEST(stop_before_run_forever_runs_one_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_handle far;
    /* a far timer: if run_forever blocked for it, the case would time out */
    EXPECT_OK(cio_call_later(loop, 1000.0, rec, (void *)(intptr_t)-1, &far));
    EXPECT_OK(cio_call_soon(loop, resched, (void *)(intptr_t)1));
    cio_loop_stop(loop);
    EXPECT_OK(cio_loop_run_forever(loop));
    int want[] = {1};
    expect_log(want, 1);
    /* and with nothing ready at all: one non-blocking iteration */
    EXPECT_EQ(1, cio_loop_run_once(loop, 0)); /* runs 11; the timer remains */
    EXPECT_EQ(2, nlog);
    cio_loop_stop(loop);
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_EQ(2, nlog);
    EXPECT_OK(cio_timer_cancel(loop, far));
    CLOSE_LOOP(loop);
}

static int stop_count;
static void stop_then_count(void *arg)
{
    (void)arg;
    stop_count++;
    cio_loop_stop(g_loop);
}

TEST(run_forever_repeatedly)
{
    cio_loop *loop = g_loop = test_loop_new();
    for (int i = 1; i <= 5; i++) {
        EXPECT_OK(cio_call_soon(loop, stop_then_count, NULL));
        EXPECT_OK(cio_loop_run_forever(loop));
        EXPECT_EQ(i, stop_count);
    }
    CLOSE_LOOP(loop);
}

/* ---- re-entrancy --------------------------------------------------------------- */

static void reenter(void *arg)
{
    (void)arg;
    EXPECT_TRUE(cio_loop_is_running(g_loop));
    EXPECT_ERR(-EBUSY, cio_loop_run_forever(g_loop));
    EXPECT_ERR(-EBUSY, cio_loop_run_once(g_loop, CIO_RUN_NOWAIT));
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(g_loop, &f));
    EXPECT_ERR(-EBUSY, cio_loop_run_until_complete(g_loop, f));
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    EXPECT_ERR(-EBUSY, cio_loop_close(g_loop));
    EXPECT_ERR(-EBUSY, cio_loop_free(g_loop));
    EXPECT_FALSE(cio_loop_is_closed(g_loop));
    nlog++;
}

TEST(reentrant_run_and_close_are_busy)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_FALSE(cio_loop_is_running(loop));
    EXPECT_OK(cio_call_soon(loop, reenter, NULL));
    test_drain(loop);
    EXPECT_EQ(1, nlog);
    EXPECT_FALSE(cio_loop_is_running(loop));
    CLOSE_LOOP(loop);
}

/* Another loop's run functions from a callback: that loop would block this
 * one (asyncio: "Cannot run the event loop while another loop is
 * running"). cio_run too. Nothing changes on either loop. */
static cio_loop *g_other;
static int other_main(void *arg, void **result) { return 0; }
static void run_other_after(void *arg)
{
    (void)arg;
    EXPECT_TRUE(cio_loop_is_running(g_other));
    EXPECT_FALSE(cio_loop_is_running(g_loop));
    nlog++;
}
static void run_other(void *arg)
{
    (void)arg;
    EXPECT_ERR(-EDEADLK, cio_loop_run_forever(g_other));
    EXPECT_ERR(-EDEADLK, cio_loop_run_once(g_other, CIO_RUN_NOWAIT));
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(g_other, &f));
    EXPECT_ERR(-EDEADLK, cio_loop_run_until_complete(g_other, f));
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    EXPECT_FALSE(cio_loop_is_running(g_other));
    EXPECT_ERR(-EDEADLK, cio_run(other_main, NULL, NULL));
    EXPECT_ERR(-EDEADLK, cio_run_with(NULL, other_main, NULL, NULL));
    /* the same loop re-entered stays -EBUSY */
    EXPECT_ERR(-EBUSY, cio_loop_run_once(g_loop, CIO_RUN_NOWAIT));
    nlog++;
}

TEST(another_loops_run_from_a_callback_is_edeadlk)
{
    cio_loop *loop = g_loop = test_loop_new();
    g_other = test_loop_new();
    EXPECT_OK(cio_call_soon(loop, run_other, NULL));
    test_drain(loop);
    EXPECT_EQ(1, nlog);
    /* once the first loop has stopped, the other runs on this thread */
    EXPECT_OK(cio_call_soon(g_other, run_other_after, NULL));
    test_drain(g_other);
    EXPECT_EQ(2, nlog);
    EXPECT_OK(cio_run(other_main, NULL, NULL));
    CLOSE_LOOP(g_other);
    CLOSE_LOOP(loop);
}

/* ---- run_until_complete ------------------------------------------------------- */

static int dtor_calls;
static void count_dtor(void *v)
{
    (void)v;
    dtor_calls++;
}

static void complete_ok(void *arg) { EXPECT_OK(cio_future_set_result(arg, (void *)0x1234, NULL)); }
static void complete_err(void *arg) { EXPECT_OK(cio_future_set_error(arg, -ECONNRESET)); }
static void complete_cancel(void *arg) { EXPECT_OK(cio_future_cancel(arg)); }
static void just_stop(void *arg)
{
    (void)arg;
    cio_loop_stop(g_loop);
}

TEST(run_until_complete_result_from_timer)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture_report, NULL);
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_call_later(loop, 0.005, complete_ok, f, NULL));
    EXPECT_OK(cio_loop_run_until_complete(loop, f));
    EXPECT_TRUE(cio_future_is_done(f));
    EXPECT_PTR_EQ((void *)0x1234, test_peek_result(f));
    /* already done: returns its outcome again without blocking */
    EXPECT_OK(cio_loop_run_until_complete(loop, f));
    cio_future_unref(f);
    test_drain(loop);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(run_until_complete_error_is_retrieved)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture_report, NULL);
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_call_later(loop, 0.001, complete_err, f, NULL));
    EXPECT_ERR(-ECONNRESET, cio_loop_run_until_complete(loop, f));
    cio_future_unref(f);
    test_drain(loop);
    EXPECT_EQ(0, nreports); /* the run retrieved the error */
    CLOSE_LOOP(loop);
}

TEST(run_until_complete_cancelled)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture_report, NULL);
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_call_soon(loop, complete_cancel, f));
    EXPECT_ERR(-ECANCELED, cio_loop_run_until_complete(loop, f));
    cio_future_unref(f);
    test_drain(loop);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(run_until_complete_stopped_first)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_call_soon(loop, just_stop, NULL));
    EXPECT_ERR(-EINTR, cio_loop_run_until_complete(loop, f));
    EXPECT_FALSE(cio_future_is_done(f));
    /* a later run still completes it */
    EXPECT_OK(cio_call_soon(loop, complete_ok, f));
    EXPECT_OK(cio_loop_run_until_complete(loop, f));
    cio_future_unref(f);
    test_drain(loop);
    CLOSE_LOOP(loop);
}

TEST(run_until_complete_bad_input)
{
    cio_loop *loop = test_loop_new();
    cio_loop *other = test_loop_new();
    cio_future *f;
    EXPECT_OK(cio_future_new(other, &f));
    EXPECT_ERR(-EINVAL, cio_loop_run_until_complete(loop, f));
    EXPECT_ERR(-EINVAL, cio_loop_run_until_complete(loop, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_run_until_complete(NULL, f));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(f);
    test_drain(other);
    CLOSE_LOOP(other);
    CLOSE_LOOP(loop);
}

TEST(result_destructor_runs_once)
{
    cio_loop *loop = test_loop_new();
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_future_set_result(f, (void *)1, count_dtor));
    EXPECT_OK(cio_loop_run_until_complete(loop, f));
    EXPECT_EQ(0, dtor_calls);
    cio_future_unref(f);
    test_drain(loop);
    EXPECT_EQ(1, dtor_calls);
    CLOSE_LOOP(loop);
}

/* ---- close ------------------------------------------------------------------- */

static void nop(void *arg) { (void)arg; }

TEST(close_busy_with_queued_callback)
{
    cio_loop *loop = test_loop_new();
    EXPECT_OK(cio_call_soon(loop, nop, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_FALSE(cio_loop_is_closed(loop));
    EXPECT_ERR(-EBUSY, cio_loop_free(loop));
    /* nothing changed: the loop still runs the callback */
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    CLOSE_LOOP(loop);
}

TEST(close_busy_with_timer)
{
    cio_loop *loop = test_loop_new();
    cio_handle h;
    EXPECT_OK(cio_call_later(loop, 100.0, nop, NULL, &h));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_TRUE(cio_timer_is_active(loop, h));
    EXPECT_OK(cio_timer_cancel(loop, h));
    CLOSE_LOOP(loop);
}

TEST(close_busy_with_future)
{
    cio_loop *loop = test_loop_new();
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(close_busy_with_threadsafe_callback)
{
    cio_loop *loop = test_loop_new();
    EXPECT_OK(cio_call_soon_threadsafe(loop, rec, (void *)(intptr_t)7));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    /* the failed close must leave the callback runnable: one blocking
     * iteration runs it (a lost wakeup would hang here until the timeout) */
    EXPECT_OK(cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, nlog);
    CLOSE_LOOP(loop);
}

TEST(closed_loop_rejects_everything)
{
    cio_loop *loop = test_loop_new();
    EXPECT_OK(cio_loop_close(loop));
    EXPECT_TRUE(cio_loop_is_closed(loop));
    EXPECT_OK(cio_loop_close(loop)); /* already closed */
    EXPECT_ERR(-EINVAL, cio_call_soon(loop, nop, NULL));
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe(loop, nop, NULL));
    EXPECT_ERR(-EINVAL, cio_call_later(loop, 0, nop, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_call_at(loop, 0, nop, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, 0, 1, nop, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_run_forever(loop));
    EXPECT_ERR(-EINVAL, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    cio_future *f = NULL;
    EXPECT_ERR(-EINVAL, cio_future_new(loop, &f));
    EXPECT_OK(cio_loop_free(loop));
}

/* ---- bad input ------------------------------------------------------------------ */

static int work_nop(void *arg, void **result)
{
    (void)arg;
    *result = NULL;
    return 0;
}
static void io_nop(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)arg;
}

TEST(bad_input_returns_einval)
{
    cio_loop *loop = test_loop_new();
    cio_handle h = 42;
    EXPECT_ERR(-EINVAL, cio_call_soon(NULL, nop, NULL));
    EXPECT_ERR(-EINVAL, cio_call_soon(loop, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe(NULL, nop, NULL));
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe(loop, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_call_later(NULL, 0, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_later(loop, 0, NULL, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_later(loop, -0.001, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_later(loop, -INFINITY, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_later(loop, NAN, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_at(NULL, 0, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_at(loop, 0, NULL, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_at(loop, NAN, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(NULL, 0, 1, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, 0, 1, NULL, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, -1, 1, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, NAN, 1, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, 0, 0, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, 0, -1, nop, NULL, &h));
    EXPECT_ERR(-EINVAL, cio_call_every(loop, 0, NAN, nop, NULL, &h));
    EXPECT_EQ(42, h); /* a failed call leaves the handle alone */
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, 0));
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, 0xdeadbeefcafeULL));
    EXPECT_FALSE(cio_timer_is_active(loop, 0));
    EXPECT_FALSE(cio_timer_is_active(NULL, 1));
    EXPECT_TRUE(isnan(cio_timer_remaining(loop, 0)));
    EXPECT_TRUE(isnan(cio_timer_remaining(NULL, 1)));
    EXPECT_TRUE(cio_timer_cancel(NULL, 1) < 0);
    EXPECT_ERR(-EINVAL, cio_loop_run_forever(NULL));
    EXPECT_ERR(-EINVAL, cio_loop_run_once(NULL, 0));
    EXPECT_ERR(-EINVAL, cio_loop_close(NULL));
    EXPECT_OK(cio_loop_free(NULL));
    cio_loop_stop(NULL);
    EXPECT_FALSE(cio_loop_is_running(NULL));
    cio_future *f = NULL;
    EXPECT_ERR(-EINVAL, cio_future_new(NULL, &f));
    EXPECT_PTR_EQ(NULL, f);
    EXPECT_ERR(-EINVAL, cio_to_thread_future(NULL, NULL, work_nop, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_to_thread_future(loop, NULL, NULL, NULL, &f));
    EXPECT_PTR_EQ(NULL, f);
    EXPECT_ERR(-EINVAL, cio_loop_add_signal_handler(NULL, SIGUSR1, nop, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_reader(NULL, 0, io_nop, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_writer(NULL, 1, io_nop, NULL));
    EXPECT_ERR(-EINVAL, cio_threadpool_set_size(0));
    EXPECT_ERR(-EINVAL, cio_threadpool_set_size(1025));
    CLOSE_LOOP(loop);
}

TEST(loop_new_options)
{
    cio_loop *loop = NULL;
    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    o.backend = "kqueue-on-linux";
    EXPECT_ERR(-EINVAL, cio_loop_new(&o, &loop));
    EXPECT_PTR_EQ(NULL, loop);
    o.backend = "poll";
    EXPECT_OK(cio_loop_new(&o, &loop));
    EXPECT_STR_EQ("poll", cio_loop_backend(loop));
    CLOSE_LOOP(loop);
    o.backend = "epoll";
    EXPECT_OK(cio_loop_new(&o, &loop));
    EXPECT_STR_EQ("epoll", cio_loop_backend(loop));
    CLOSE_LOOP(loop);
    /* NULL options: $CIO_BACKEND (set by CTest) or epoll */
    EXPECT_OK(cio_loop_new(NULL, &loop));
    const char *env = getenv("CIO_BACKEND");
    EXPECT_STR_EQ(env && *env ? env : "epoll", cio_loop_backend(loop));
    CLOSE_LOOP(loop);
}

TEST(error_names)
{
    EXPECT_STR_EQ("ECANCELED", cio_err_name(-ECANCELED));
    EXPECT_STR_EQ("ETIMEDOUT", cio_err_name(-ETIMEDOUT));
    EXPECT_STR_EQ("EINVAL", cio_err_name(-EINVAL));
    EXPECT_STR_EQ("UNKNOWN", cio_err_name(-123456));
    EXPECT_TRUE(cio_strerror(-123456) != NULL);
    EXPECT_TRUE(cio_strerror(0) != NULL);
    EXPECT_TRUE(cio_strerror(-EIO) != NULL);
    EXPECT_STR_EQ(cio_strerror(-ECANCELED), cio_strerror(ECANCELED));
    EXPECT_TRUE(strstr(cio_strerror(-ECANCELED), "cancel") != NULL);
}

/* ---- starvation --------------------------------------------------------------- */

static int reader_fired, timer_fired, remote_fired;
static long chain_at_reader, chain_at_timer, chain_at_remote;
static long chain_count;
static void starve_chain(void *arg)
{
    (void)arg;
    chain_count++;
    if (!(reader_fired && timer_fired && remote_fired) && chain_count < 100000)
        EXPECT_OK(cio_call_soon(g_loop, starve_chain, NULL));
}
static void starve_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)arg;
    EXPECT_TRUE(events & CIO_READABLE);
    char c;
    EXPECT_EQ(1, read(fd, &c, 1));
    EXPECT_OK(cio_loop_remove_reader(loop, fd));
    reader_fired = 1;
    chain_at_reader = chain_count;
}
static void starve_timer(void *arg)
{
    (void)arg;
    timer_fired = 1;
    chain_at_timer = chain_count;
}
static void starve_remote(void *arg)
{
    (void)arg;
    remote_fired = 1;
    chain_at_remote = chain_count;
}

TEST(callback_chain_does_not_starve_io_timers_or_remote_work)
{
    cio_loop *loop = g_loop = test_loop_new();
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_EQ(1, write(p[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], starve_reader, NULL));
    EXPECT_OK(cio_call_at(loop, cio_loop_time(loop) - 1.0, starve_timer, NULL, NULL));
    EXPECT_OK(cio_call_soon_threadsafe(loop, starve_remote, NULL));
    EXPECT_OK(cio_call_soon(loop, starve_chain, NULL));
    test_drain(loop);
    EXPECT_TRUE(reader_fired && timer_fired && remote_fired);
    /* the count bound: a poll at least every CIO_POLL_INTERVAL callbacks */
    if (chain_at_reader > CIO_POLL_INTERVAL)
        FAIL("reader waited for %ld chain callbacks", chain_at_reader);
    /* due before the first iteration: fired in it, after its one callback */
    if (chain_at_timer != 1)
        FAIL("due timer waited for %ld chain callbacks", chain_at_timer);
    if (chain_at_remote > CIO_POLL_INTERVAL)
        FAIL("threadsafe callback waited for %ld chain callbacks", chain_at_remote);
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

/* The same with the chain started first, and a reader added from inside it. */
static int p2[2];
static long chain2;
static int reader2_fired;
static void reader2(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    char c;
    EXPECT_EQ(1, read(fd, &c, 1));
    EXPECT_OK(cio_loop_remove_reader(loop, fd));
    reader2_fired = 1;
}
static long chain2_at_add;
static void chain2_cb(void *arg)
{
    (void)arg;
    chain2++;
    if (chain2 == 10) {
        EXPECT_OK(cio_loop_add_reader(g_loop, p2[0], reader2, NULL));
        chain2_at_add = chain2;
    }
    if (!reader2_fired) {
        if (chain2 - chain2_at_add > CIO_POLL_INTERVAL && chain2_at_add)
            FAIL("reader starved for %ld callbacks", chain2 - chain2_at_add);
        EXPECT_OK(cio_call_soon(g_loop, chain2_cb, NULL));
    }
}

TEST(reader_added_during_chain_runs_soon)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(pipe(p2));
    EXPECT_EQ(1, write(p2[1], "x", 1));
    EXPECT_OK(cio_call_soon(loop, chain2_cb, NULL));
    test_drain(loop);
    EXPECT_TRUE(reader2_fired);
    close(p2[0]);
    close(p2[1]);
    CLOSE_LOOP(loop);
}

/* ---- asyncio's iteration rule ------------------------------------------------ */

/* Fails the case on any report: none is expected below. */
static void report_fails(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    FAIL("unexpected report: %s", msg);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A slow callback's work: at least 1 ms on the loop's clock (longer on a
 * loaded machine, which only makes the time bounds come sooner in callbacks). */
static void busy_1ms(void)
{
    int64_t end = mono_ns() + 1000000;
    while (mono_ns() < end) {
    }
}

TEST(due_timer_runs_after_the_ready_callbacks_of_its_iteration)
{
    /* asyncio: an iteration queues the due timers behind the callbacks
     * already ready, and runs both */
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    EXPECT_OK(cio_call_at(loop, cio_loop_time(loop) - 1.0, rec, (void *)(intptr_t)2, NULL));
    EXPECT_OK(cio_call_soon(loop, rec, (void *)(intptr_t)1));
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    int want[] = {1, 2};
    expect_log(want, 2);
    CLOSE_LOOP(loop);
}

/* A chain of 1 ms callbacks, one per iteration, with a timer 2.5 ms away:
 * the timer must run in the iteration after the one during which it became
 * due, not CIO_POLL_INTERVAL callbacks later. Counted in callbacks (each is
 * one iteration), never in wall-clock time. */
static long slow_count, slow_due_at, slow_fired_at;
static int64_t slow_due_ns;
static void slow_chain(void *arg)
{
    (void)arg;
    slow_count++;
    busy_1ms();
    if (!slow_due_at && mono_ns() >= slow_due_ns)
        slow_due_at = slow_count; /* due before the next iteration starts */
    if (!slow_fired_at && slow_count < 1000)
        EXPECT_OK(cio_call_soon(g_loop, slow_chain, NULL));
}
static void slow_timer(void *arg)
{
    (void)arg;
    slow_fired_at = slow_count;
    EXPECT_TRUE(cio_loop_time_ns(g_loop) >= slow_due_ns);
}

TEST(due_timer_runs_in_next_iteration_under_slow_chain)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    int64_t deadline = cio_loop_time_ns(loop) + 2500000;
    /* the wheel's resolution is 1 ms: the timer is due from the next tick */
    slow_due_ns = (deadline + 999999) / 1000000 * 1000000;
    EXPECT_OK(cio_call_at(loop, (double)deadline / 1e9, slow_timer, NULL, NULL));
    EXPECT_OK(cio_call_soon(loop, slow_chain, NULL));
    test_drain(loop);
    if (!slow_fired_at)
        FAIL("the timer never fired in %ld callbacks", slow_count);
    EXPECT_TRUE(slow_due_at > 0);
    /* Due at the end of callback k: collected when iteration k+1 starts and
     * run after its callback (or, if it became due between callback k's
     * check and that iteration's clock read, already in iteration k). */
    if (slow_fired_at < slow_due_at || slow_fired_at > slow_due_at + 1)
        FAIL("timer due after callback %ld fired after callback %ld", slow_due_at, slow_fired_at);
    CLOSE_LOOP(loop);
}

/* The same through run_forever, the way programs run. */
static void stop_when_fired(void *arg)
{
    (void)arg;
    if (slow_fired_at)
        cio_loop_stop(g_loop);
    else
        EXPECT_OK(cio_call_soon(g_loop, stop_when_fired, NULL));
}

TEST(due_timer_runs_in_next_iteration_under_run_forever)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    int64_t deadline = cio_loop_time_ns(loop) + 2500000;
    slow_due_ns = (deadline + 999999) / 1000000 * 1000000;
    EXPECT_OK(cio_call_at(loop, (double)deadline / 1e9, slow_timer, NULL, NULL));
    EXPECT_OK(cio_call_soon(loop, slow_chain, NULL));
    EXPECT_OK(cio_call_soon(loop, stop_when_fired, NULL));
    EXPECT_OK(cio_loop_run_forever(loop));
    test_drain(loop);
    EXPECT_TRUE(slow_fired_at > 0 && slow_due_at > 0);
    if (slow_fired_at < slow_due_at || slow_fired_at > slow_due_at + 1)
        FAIL("timer due after callback %ld fired after callback %ld", slow_due_at, slow_fired_at);
    CLOSE_LOOP(loop);
}

/* I/O under a chain of 1 ms callbacks: a descriptor made readable during
 * callback k is polled when iteration k+1 starts, since at least
 * CIO_POLL_INTERVAL_MS (1 ms) has passed since the last poll: the reader
 * runs before callback k+1. Under fast callbacks the count bound applies
 * (callback_chain_does_not_starve_io_timers_or_remote_work). */
static int io_pipe[2];
static long io_count, io_written_at, io_read_at;
static void io_chain(void *arg)
{
    (void)arg;
    io_count++;
    busy_1ms();
    if (io_count == 5) {
        EXPECT_EQ(1, write(io_pipe[1], "x", 1));
        io_written_at = io_count;
    }
    if (!io_read_at && io_count < 1000)
        EXPECT_OK(cio_call_soon(g_loop, io_chain, NULL));
}
static void io_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)arg;
    EXPECT_TRUE(events & CIO_READABLE);
    char c;
    EXPECT_EQ(1, read(fd, &c, 1));
    EXPECT_OK(cio_loop_remove_reader(loop, fd));
    io_read_at = io_count;
}

TEST(readable_fd_polled_within_the_time_bound_under_slow_chain)
{
    EXPECT_EQ(1, CIO_POLL_INTERVAL_MS); /* the bound this case checks */
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    EXPECT_OK(pipe(io_pipe));
    EXPECT_OK(cio_loop_add_reader(loop, io_pipe[0], io_reader, NULL));
    EXPECT_OK(cio_call_soon(loop, io_chain, NULL));
    test_drain(loop);
    if (!io_read_at)
        FAIL("the reader never ran in %ld callbacks", io_count);
    if (io_read_at != io_written_at)
        FAIL("readable after callback %ld, read after callback %ld (bound: the next "
             "iteration, %d ms having passed)",
             io_written_at, io_read_at, CIO_POLL_INTERVAL_MS);
    close(io_pipe[0]);
    close(io_pipe[1]);
    CLOSE_LOOP(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
