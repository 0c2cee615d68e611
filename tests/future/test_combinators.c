/* Combinators: gather, wait, wait_for, shield, as_completed, with their edge
 * cases. Children are completed by hand between iterations (or by timers
 * where a deadline is the point), so every outcome is decided by order,
 * never by timing. Each case also checks that nothing was reported: a
 * combinator retrieves the error it passes on. Errors it does not pass on
 * (a gather's later failures, an inner future's failure after its shield
 * was cancelled) are the caller's to retrieve in cio (asyncio marks them
 * retrieved); the cases here retrieve them, so they hold either way. */
#include <math.h>
#include <stdint.h>

#include "test.h"

static cio_loop *g_loop;

static char reports[16][1024];
static int nreports;
static void capture(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    if (nreports < 16)
        snprintf(reports[nreports], sizeof reports[0], "%s", msg);
    nreports++;
}

static void expect_no_reports(void)
{
    if (nreports) {
        for (int i = 0; i < nreports && i < 16; i++)
            fprintf(stderr, "  report: %s\n", reports[i]);
        FAIL("%d unexpected report(s)", nreports);
    }
}

static cio_loop *loop_new(void)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture, NULL);
    return loop;
}

/* A few non-blocking iterations: enough for done-callbacks to propagate
 * through a combinator and on to its own callbacks. */
static void spin(cio_loop *loop)
{
    for (int i = 0; i < 8; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
}

/* Runs until f is done (blocking iterations; something must be scheduled). */
static void run_until_done(cio_loop *loop, cio_future *f)
{
    for (int i = 0; i < 100000 && !cio_future_is_done(f); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_TRUE(cio_future_is_done(f));
}

/* Finishes: drains callbacks, then closes the loop cleanly. */
static void finish(cio_loop *loop)
{
    for (int i = 0; i < 100; i++) {
        int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
        EXPECT_TRUE(rc >= 0);
        if (rc == 0)
            break;
    }
    expect_no_reports();
    CLOSE_LOOP(loop);
}

static void mk(cio_loop *loop, cio_future **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        EXPECT_OK(cio_future_new(loop, &f[i]));
}

static void unref_all(cio_future **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cio_future_unref(f[i]);
}

#define V(i) ((void *)(uintptr_t)(0x100 + (i)))

/* ---- gather ----------------------------------------------------------------------- */

TEST(gather_empty_completes_at_once)
{
    cio_loop *loop = loop_new();
    cio_future *g = NULL;
    EXPECT_OK(cio_gather_future(loop, NULL, 0, 0, &g));
    EXPECT_TRUE(cio_future_is_done(g));
    void *v = (void *)0x1;
    EXPECT_OK(cio_future_result(g, &v));
    EXPECT_PTR_EQ(NULL, v);
    cio_future_unref(g);
    EXPECT_OK(cio_gather_future(loop, NULL, 0, CIO_GATHER_COLLECT, &g));
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_OK(cio_future_error(g));
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_results_in_input_order)
{
    cio_loop *loop = loop_new();
    cio_future *f[5], *g;
    mk(loop, f, 5);
    EXPECT_OK(cio_gather_future(loop, f, 5, 0, &g));
    int order[] = {3, 1, 4, 0, 2};
    for (int k = 0; k < 5; k++) {
        EXPECT_FALSE(cio_future_is_done(g));
        EXPECT_OK(cio_future_set_result(f[order[k]], V(order[k]), NULL));
        spin(loop);
    }
    EXPECT_TRUE(cio_future_is_done(g));
    void *v;
    EXPECT_OK(cio_future_result(g, &v));
    void **res = v;
    EXPECT_TRUE(res != NULL);
    for (int i = 0; i < 5; i++)
        EXPECT_PTR_EQ(V(i), res[i]);
    unref_all(f, 5);
    /* the array lives as long as the gather future */
    EXPECT_PTR_EQ(V(4), ((void **)test_peek_result(g))[4]);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_of_already_done_children)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *g;
    mk(loop, f, 3);
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_future_set_result(f[i], V(i), NULL));
    EXPECT_OK(cio_gather_future(loop, f, 3, 0, &g));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(g));
    void **res = test_peek_result(g);
    for (int i = 0; i < 3; i++)
        EXPECT_PTR_EQ(V(i), res[i]);
    EXPECT_OK(cio_future_error(g));
    unref_all(f, 3);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_same_child_twice)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *g;
    mk(loop, f, 1);
    f[1] = f[0];
    EXPECT_OK(cio_gather_future(loop, f, 2, 0, &g));
    EXPECT_OK(cio_future_set_result(f[0], V(7), NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(g));
    void **res = test_peek_result(g);
    EXPECT_PTR_EQ(V(7), res[0]);
    EXPECT_PTR_EQ(V(7), res[1]);
    EXPECT_OK(cio_future_error(g));
    cio_future_unref(f[0]);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_first_error_fails_at_once_others_keep_running)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *g;
    mk(loop, f, 3);
    EXPECT_OK(cio_gather_future(loop, f, 3, 0, &g));
    EXPECT_OK(cio_future_set_error(f[1], -EIO));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_ERR(-EIO, cio_future_error(g));
    /* the others are neither cancelled nor finished */
    EXPECT_FALSE(cio_future_is_done(f[0]));
    EXPECT_FALSE(cio_future_is_done(f[2]));
    /* a later failure changes nothing */
    EXPECT_OK(cio_future_set_error(f[2], -EPIPE));
    EXPECT_OK(cio_future_set_result(f[0], V(0), NULL));
    spin(loop);
    EXPECT_ERR(-EIO, cio_future_error(g));
    EXPECT_ERR(-EPIPE, cio_future_error(f[2]));
    unref_all(f, 3);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_all_fail)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *g;
    mk(loop, f, 3);
    EXPECT_OK(cio_gather_future(loop, f, 3, 0, &g));
    /* completion order decides: f2 first */
    EXPECT_OK(cio_future_set_error(f[2], -EIO));
    EXPECT_OK(cio_future_set_error(f[0], -EPIPE));
    EXPECT_OK(cio_future_set_error(f[1], -ECONNRESET));
    spin(loop);
    EXPECT_ERR(-EIO, cio_future_error(g));
    EXPECT_ERR(-EPIPE, cio_future_error(f[0]));
    EXPECT_ERR(-ECONNRESET, cio_future_error(f[1]));
    unref_all(f, 3);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_collect_never_fails)
{
    cio_loop *loop = loop_new();
    cio_future *f[4], *g;
    mk(loop, f, 4);
    EXPECT_OK(cio_gather_future(loop, f, 4, CIO_GATHER_COLLECT, &g));
    EXPECT_OK(cio_future_set_error(f[2], -EIO));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(g));
    EXPECT_OK(cio_future_cancel(f[3]));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(g));
    EXPECT_OK(cio_future_set_result(f[1], V(1), NULL));
    EXPECT_OK(cio_future_set_result(f[0], V(0), NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_OK(cio_future_error(g));
    void **res = test_peek_result(g);
    EXPECT_PTR_EQ(V(0), res[0]);
    EXPECT_PTR_EQ(V(1), res[1]);
    EXPECT_PTR_EQ(NULL, res[2]);
    EXPECT_PTR_EQ(NULL, res[3]);
    /* each child holds its own outcome */
    EXPECT_ERR(-EIO, cio_future_error(f[2]));
    EXPECT_TRUE(cio_future_is_cancelled(f[3]));
    unref_all(f, 4);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_cancel_cancels_children)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *g;
    mk(loop, f, 3);
    EXPECT_OK(cio_future_set_result(f[0], V(0), NULL)); /* one already done */
    EXPECT_OK(cio_gather_future(loop, f, 3, 0, &g));
    spin(loop);
    EXPECT_OK(cio_future_cancel(g));
    spin(loop);
    EXPECT_FALSE(cio_future_is_cancelled(f[0]));
    EXPECT_TRUE(cio_future_is_cancelled(f[1]));
    EXPECT_TRUE(cio_future_is_cancelled(f[2]));
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_TRUE(cio_future_is_cancelled(g));
    EXPECT_ERR(-ECANCELED, cio_future_error(g));
    EXPECT_ERR(-EINVAL, cio_future_cancel(g));
    unref_all(f, 3);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_child_cancelled_fails_gather)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *g;
    mk(loop, f, 2);
    EXPECT_OK(cio_gather_future(loop, f, 2, 0, &g));
    EXPECT_OK(cio_future_cancel(f[0]));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_ERR(-ECANCELED, cio_future_error(g));
    EXPECT_FALSE(cio_future_is_done(f[1])); /* the sibling keeps running */
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    unref_all(f, 2);
    cio_future_unref(g);
    finish(loop);
}

TEST(gather_freed_while_children_pending)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *g;
    mk(loop, f, 2);
    EXPECT_OK(cio_gather_future(loop, f, 2, 0, &g));
    cio_future_unref(g);
    spin(loop);
    /* completing the children after the gather is gone must be harmless */
    EXPECT_OK(cio_future_set_result(f[0], V(0), NULL));
    EXPECT_OK(cio_future_set_error(f[1], -EIO));
    spin(loop);
    EXPECT_ERR(-EIO, cio_future_error(f[1]));
    unref_all(f, 2);
    finish(loop);
}

TEST(gather_bad_input)
{
    cio_loop *loop = loop_new();
    cio_loop *other = test_loop_new();
    cio_future *f[2], *g = (cio_future *)0x1;
    mk(loop, f, 1);
    EXPECT_OK(cio_future_new(other, &f[1]));
    EXPECT_ERR(-EINVAL, cio_gather_future(loop, f, 2, 0, &g)); /* another loop's child */
    EXPECT_ERR(-EINVAL, cio_gather_future(NULL, f, 1, 0, &g));
    EXPECT_ERR(-EINVAL, cio_gather_future(loop, NULL, 2, 0, &g));
    EXPECT_ERR(-EINVAL, cio_gather_future(loop, f, 1, 0, NULL));
    cio_future *withnull[2] = {f[0], NULL};
    EXPECT_ERR(-EINVAL, cio_gather_future(loop, withnull, 2, 0, &g));
    cio_future_unref(f[0]);
    cio_future_unref(f[1]);
    CLOSE_LOOP(other);
    finish(loop);
}

/* ---- wait ------------------------------------------------------------------------- */

/* Checks the wait future's sets against pattern, one letter per input:
 * 'd' done, 'p' pending; each set holds its inputs in input order. */
static void expect_sets(cio_future *w, cio_future *const *f, const char *pattern)
{
    void *v = NULL;
    EXPECT_OK(cio_future_result(w, &v));
    const cio_wait_sets *sets = v;
    EXPECT_TRUE(sets != NULL);
    size_t n = strlen(pattern), d = 0, p = 0;
    for (size_t i = 0; i < n; i++) {
        if (pattern[i] == 'd')
            EXPECT_PTR_EQ(f[i], sets->done[d++]);
        else
            EXPECT_PTR_EQ(f[i], sets->pending[p++]);
    }
    EXPECT_EQ(d, sets->n_done);
    EXPECT_EQ(p, sets->n_pending);
}

TEST(wait_all_completed)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *w;
    mk(loop, f, 3);
    EXPECT_OK(cio_wait_future(loop, f, 3, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_future_set_error(f[1], -EIO));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(w));
    EXPECT_OK(cio_future_cancel(f[2]));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "ddd");
    EXPECT_ERR(-EIO, cio_future_error(f[1])); /* wait never fails: the child holds it */
    unref_all(f, 3);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_first_completed)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *w;
    mk(loop, f, 3);
    EXPECT_OK(cio_wait_future(loop, f, 3, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, &w));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(w));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "pdp");
    EXPECT_FALSE(cio_future_is_done(f[0])); /* never cancels the others */
    EXPECT_FALSE(cio_future_is_done(f[2]));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_future_set_result(f[2], NULL, NULL));
    unref_all(f, 3);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_first_completed_with_one_already_done)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *w;
    mk(loop, f, 2);
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    EXPECT_OK(cio_wait_future(loop, f, 2, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, &w));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "pd");
    EXPECT_OK(cio_future_cancel(f[0]));
    unref_all(f, 2);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_first_exception)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *w;
    mk(loop, f, 3);
    EXPECT_OK(cio_wait_future(loop, f, 3, CIO_WAIT_FIRST_EXCEPTION, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(w)); /* a result is not an exception */
    EXPECT_OK(cio_future_set_error(f[2], -ECONNRESET));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "dpd");
    EXPECT_FALSE(cio_future_is_done(f[1]));
    EXPECT_ERR(-ECONNRESET, cio_future_error(f[2]));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    unref_all(f, 3);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_first_exception_without_failures_waits_for_all)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *w;
    mk(loop, f, 2);
    EXPECT_OK(cio_wait_future(loop, f, 2, CIO_WAIT_FIRST_EXCEPTION, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(w));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "dd");
    unref_all(f, 2);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_first_exception_ignores_cancellation)
{
    /* asyncio: FIRST_EXCEPTION counts futures that raised, not cancelled ones */
    cio_loop *loop = loop_new();
    cio_future *f[2], *w;
    mk(loop, f, 2);
    EXPECT_OK(cio_wait_future(loop, f, 2, CIO_WAIT_FIRST_EXCEPTION, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_future_cancel(f[0]));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(w));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "dd");
    unref_all(f, 2);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_timeout_leaves_children_alone)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *w;
    mk(loop, f, 2);
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_wait_future(loop, f, 2, CIO_WAIT_ALL_COMPLETED, 0.01, &w));
    run_until_done(loop, w);
    EXPECT_OK(cio_future_error(w)); /* never fails */
    expect_sets(w, f, "dp");
    EXPECT_FALSE(cio_future_is_done(f[1]));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    unref_all(f, 2);
    cio_future_unref(w);
    finish(loop); /* the timeout's timer is gone */
}

TEST(wait_completes_before_timeout_cancels_timer)
{
    cio_loop *loop = loop_new();
    cio_future *f[1], *w;
    mk(loop, f, 1);
    EXPECT_OK(cio_wait_future(loop, f, 1, CIO_WAIT_ALL_COMPLETED, 3600.0, &w));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    expect_sets(w, f, "d");
    unref_all(f, 1);
    cio_future_unref(w);
    finish(loop); /* CLOSE_LOOP fails if the hour-long timer is still live */
}

TEST(wait_cancel_leaves_children_alone)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *w;
    mk(loop, f, 2);
    EXPECT_OK(cio_wait_future(loop, f, 2, CIO_WAIT_ALL_COMPLETED, 3600.0, &w));
    EXPECT_OK(cio_future_cancel(w));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(w));
    EXPECT_FALSE(cio_future_is_done(f[0]));
    EXPECT_FALSE(cio_future_is_done(f[1]));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    unref_all(f, 2);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_bad_input)
{
    cio_loop *loop = loop_new();
    cio_future *f[1], *w = (cio_future *)0x1;
    mk(loop, f, 1);
    EXPECT_ERR(-EINVAL, cio_wait_future(loop, f, 0, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, &w));
    EXPECT_ERR(-EINVAL, cio_wait_future(loop, NULL, 0, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, &w));
    EXPECT_ERR(-EINVAL, cio_wait_future(NULL, f, 1, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, &w));
    EXPECT_ERR(-EINVAL, cio_wait_future(loop, f, 1, (cio_wait_mode)7, CIO_NO_TIMEOUT, &w));
    EXPECT_ERR(-EINVAL, cio_wait_future(loop, f, 1, CIO_WAIT_ALL_COMPLETED, NAN, &w));
    EXPECT_OK(cio_future_cancel(f[0]));
    unref_all(f, 1);
    finish(loop);
}

/* ---- wait_for ---------------------------------------------------------------------- */

TEST(wait_for_success)
{
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, 3600.0, &w));
    EXPECT_OK(cio_future_set_result(f, V(1), NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(w));
    void *v;
    EXPECT_OK(cio_future_result(w, &v));
    EXPECT_PTR_EQ(V(1), v);
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop); /* the hour-long timer was cancelled */
}

TEST(wait_for_child_error)
{
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, 3600.0, &w));
    EXPECT_OK(cio_future_set_error(f, -ECONNRESET));
    spin(loop);
    EXPECT_ERR(-ECONNRESET, cio_future_error(w));
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_for_timeout_cancels_child)
{
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, 0.01, &w));
    run_until_done(loop, w);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(w));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_for_zero_timeout)
{
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, 0, &w));
    run_until_done(loop, w);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(w));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    cio_future_unref(f);
    cio_future_unref(w);
    /* a done child with timeout 0: its outcome wins */
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_future_set_result(f, V(3), NULL));
    EXPECT_OK(cio_wait_for_future(loop, f, 0, &w));
    run_until_done(loop, w);
    EXPECT_OK(cio_future_error(w));
    EXPECT_PTR_EQ(V(3), test_peek_result(w));
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_for_no_timeout)
{
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, CIO_NO_TIMEOUT, &w));
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT)); /* no timer started */
    EXPECT_OK(cio_future_set_result(f, V(2), NULL));
    spin(loop);
    EXPECT_PTR_EQ(V(2), test_peek_result(w));
    EXPECT_OK(cio_future_error(w));
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop);
}

static void complete_child(void *arg) { EXPECT_OK(cio_future_set_result(arg, V(9), NULL)); }

TEST(wait_for_timeout_exactly_at_completion)
{
    /* The child is completed by a timer with the same deadline as the
     * wait_for timeout, started before it: both fire in one iteration and
     * the child's outcome wins. */
    cio_loop *loop = loop_new();
    for (int round = 0; round < 20; round++) {
        cio_future *f, *w;
        EXPECT_OK(cio_future_new(loop, &f));
        double delay = 0.002 + 0.0007 * round;
        EXPECT_OK(cio_call_later(loop, delay, complete_child, f, NULL));
        EXPECT_OK(cio_wait_for_future(loop, f, delay, &w));
        run_until_done(loop, w);
        int rc = cio_future_error(w);
        if (rc != 0)
            FAIL("round %d: wait_for returned %s, the child completed in the same iteration",
                 round, cio_err_name(rc));
        EXPECT_PTR_EQ(V(9), test_peek_result(w));
        EXPECT_FALSE(cio_future_is_cancelled(f));
        cio_future_unref(f);
        cio_future_unref(w);
    }
    finish(loop);
}

static void try_complete_child(void *arg)
{
    /* the timeout may have cancelled the child already */
    if (!cio_future_is_done(arg))
        EXPECT_OK(cio_future_set_result(arg, V(9), NULL));
}

TEST(wait_for_timeout_same_iteration_child_started_after)
{
    /* Both timers due in one iteration, the completing one started after the
     * wait_for: the timeout fires first and cancels the still-pending child,
     * or (if the timers land in different iterations) the child completes
     * first. Either way the wrapper agrees with the child. */
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, 0.005, &w));
    EXPECT_OK(cio_call_later(loop, 0.005, try_complete_child, f, NULL));
    run_until_done(loop, w);
    int rc = cio_future_error(w);
    /* the timeout may have cancelled f first; then f is cancelled and the
     * wrapper fails with ETIMEDOUT; otherwise the result wins. Either way the
     * outcomes agree with each other. */
    if (rc == 0) {
        EXPECT_PTR_EQ(V(9), test_peek_result(w));
        EXPECT_FALSE(cio_future_is_cancelled(f));
    } else {
        EXPECT_ERR(-ETIMEDOUT, rc);
        EXPECT_TRUE(cio_future_is_cancelled(f));
    }
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_for_timeout_on_gather)
{
    /* the inner future (a gather) stays pending after its cancel until its
     * children report: wait_for fails with ETIMEDOUT only then */
    cio_loop *loop = loop_new();
    cio_future *f[2], *g, *w;
    mk(loop, f, 2);
    EXPECT_OK(cio_gather_future(loop, f, 2, 0, &g));
    EXPECT_OK(cio_wait_for_future(loop, g, 0.005, &w));
    run_until_done(loop, w);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(w));
    EXPECT_TRUE(cio_future_is_cancelled(f[0]));
    EXPECT_TRUE(cio_future_is_cancelled(f[1]));
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_ERR(-ECANCELED, cio_future_error(g));
    unref_all(f, 2);
    cio_future_unref(g);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_for_cancel_wrapper_cancels_child)
{
    cio_loop *loop = loop_new();
    cio_future *f, *w;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_wait_for_future(loop, f, 3600.0, &w));
    EXPECT_OK(cio_future_cancel(w));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(f));
    EXPECT_TRUE(cio_future_is_cancelled(w));
    cio_future_unref(f);
    cio_future_unref(w);
    finish(loop);
}

TEST(wait_for_bad_input)
{
    cio_loop *loop = loop_new();
    cio_loop *other = test_loop_new();
    cio_future *f, *w = (cio_future *)0x1;
    EXPECT_OK(cio_future_new(other, &f));
    EXPECT_ERR(-EINVAL, cio_wait_for_future(loop, f, 1.0, &w));
    EXPECT_ERR(-EINVAL, cio_wait_for_future(loop, NULL, 1.0, &w));
    EXPECT_ERR(-EINVAL, cio_wait_for_future(NULL, f, 1.0, &w));
    EXPECT_ERR(-EINVAL, cio_wait_for_future(other, f, NAN, &w));
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    CLOSE_LOOP(other);
    finish(loop);
}

/* ---- shield ------------------------------------------------------------------------ */

TEST(shield_cancel_outer_inner_continues)
{
    cio_loop *loop = loop_new();
    cio_future *f, *s;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_shield_future(loop, f, &s));
    EXPECT_OK(cio_future_cancel(s));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(s));
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_OK(cio_future_set_result(f, V(1), NULL));
    spin(loop);
    EXPECT_PTR_EQ(V(1), test_peek_result(f));
    EXPECT_TRUE(cio_future_is_cancelled(s));
    cio_future_unref(f);
    cio_future_unref(s);
    finish(loop);
}

TEST(shield_cancelled_outer_inner_fails_later)
{
    cio_loop *loop = loop_new();
    cio_future *f, *s;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_shield_future(loop, f, &s));
    EXPECT_OK(cio_future_cancel(s));
    spin(loop);
    EXPECT_OK(cio_future_set_error(f, -EIO));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(s)); /* stays cancelled */
    EXPECT_ERR(-EIO, cio_future_error(f));
    cio_future_unref(f);
    cio_future_unref(s);
    finish(loop);
}

TEST(shield_mirrors_outcome)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *s[3];
    mk(loop, f, 3);
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_shield_future(loop, f[i], &s[i]));
    EXPECT_OK(cio_future_set_result(f[0], V(0), NULL));
    EXPECT_OK(cio_future_set_error(f[1], -EPIPE));
    EXPECT_OK(cio_future_cancel(f[2]));
    spin(loop);
    EXPECT_OK(cio_future_error(s[0]));
    EXPECT_PTR_EQ(V(0), test_peek_result(s[0]));
    EXPECT_ERR(-EPIPE, cio_future_error(s[1]));
    EXPECT_TRUE(cio_future_is_cancelled(s[2]));
    unref_all(f, 3);
    unref_all(s, 3);
    finish(loop);
}

TEST(shield_of_done_future)
{
    cio_loop *loop = loop_new();
    cio_future *f, *s;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_future_set_result(f, V(4), NULL));
    EXPECT_OK(cio_shield_future(loop, f, &s));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(s));
    EXPECT_PTR_EQ(V(4), test_peek_result(s));
    EXPECT_OK(cio_future_error(s));
    cio_future_unref(f);
    cio_future_unref(s);
    finish(loop);
}

TEST(shield_bad_input)
{
    cio_loop *loop = loop_new();
    cio_future *s = (cio_future *)0x1;
    EXPECT_ERR(-EINVAL, cio_shield_future(loop, NULL, &s));
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_ERR(-EINVAL, cio_shield_future(NULL, f, &s));
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    finish(loop);
}

/* ---- as_completed ------------------------------------------------------------------ */

TEST(as_completed_in_completion_order)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *n[3];
    mk(loop, f, 3);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 3, CIO_NO_TIMEOUT, &it));
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_as_completed_next_future(it, &n[i]));
    cio_future *extra = (cio_future *)0x1;
    EXPECT_ERR(-ENODATA, cio_as_completed_next_future(it, &extra));
    int order[] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        EXPECT_OK(cio_future_set_result(f[order[k]], V(order[k]), NULL));
        spin(loop);
        EXPECT_TRUE(cio_future_is_done(n[k]));
        if (k + 1 < 3)
            EXPECT_FALSE(cio_future_is_done(n[k + 1]));
    }
    for (int k = 0; k < 3; k++) {
        void *v;
        EXPECT_OK(cio_future_result(n[k], &v));
        EXPECT_PTR_EQ(f[order[k]], v);
    }
    unref_all(n, 3);
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 3);
    finish(loop);
}

TEST(as_completed_next_after_completion)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *n;
    mk(loop, f, 2);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, CIO_NO_TIMEOUT, &it));
    EXPECT_OK(cio_future_set_error(f[1], -EIO));
    spin(loop);
    EXPECT_OK(cio_as_completed_next_future(it, &n));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(n));
    EXPECT_PTR_EQ(f[1], test_peek_result(n)); /* the child itself, failed */
    EXPECT_ERR(-EIO, cio_future_error(f[1]));
    cio_future_unref(n);
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_as_completed_next_future(it, &n));
    spin(loop);
    EXPECT_PTR_EQ(f[0], test_peek_result(n));
    cio_future_unref(n);
    EXPECT_ERR(-ENODATA, cio_as_completed_next_future(it, &n));
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 2);
    finish(loop);
}

TEST(as_completed_timeout)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *n[2];
    mk(loop, f, 2);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, 0.01, &it));
    EXPECT_OK(cio_as_completed_next_future(it, &n[0]));
    run_until_done(loop, n[0]);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(n[0]));
    EXPECT_OK(cio_as_completed_next_future(it, &n[1]));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(n[1]));
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(n[1]));
    cio_future *extra;
    EXPECT_ERR(-ENODATA, cio_as_completed_next_future(it, &extra));
    /* the children were not cancelled */
    EXPECT_FALSE(cio_future_is_done(f[0]));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    unref_all(n, 2);
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 2);
    finish(loop);
}

/* A next-future its caller cancels gives its step back (asyncio: a
 * cancelled Queue.get leaves the item to the next getter): the input it
 * would have received goes to the next next-future, and every input is
 * still handed out. */
TEST(as_completed_cancelled_next_gives_its_step_back)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *n[4];
    mk(loop, f, 2);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, CIO_NO_TIMEOUT, &it));
    EXPECT_OK(cio_as_completed_next_future(it, &n[0]));
    EXPECT_OK(cio_as_completed_next_future(it, &n[1]));
    EXPECT_OK(cio_future_cancel(n[0]));
    /* Both steps were taken; the cancelled one is free again. */
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    spin(loop);
    EXPECT_PTR_EQ(f[1], test_peek_result(n[1])); /* the oldest waiting step */
    EXPECT_OK(cio_as_completed_next_future(it, &n[2]));
    EXPECT_FALSE(cio_future_is_done(n[2]));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    spin(loop);
    EXPECT_PTR_EQ(f[0], test_peek_result(n[2]));
    EXPECT_ERR(-ENODATA, cio_as_completed_next_future(it, &n[3]));
    unref_all(n, 3);
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 2);
    finish(loop);
}

/* Many steps cancelled in a row: each gives its step back, and the
 * iterator's room for waiting steps (one per input) is enough. */
TEST(as_completed_many_cancelled_steps)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *n;
    mk(loop, f, 2);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, CIO_NO_TIMEOUT, &it));
    for (int i = 0; i < 50; i++) {
        EXPECT_OK(cio_as_completed_next_future(it, &n));
        EXPECT_OK(cio_future_cancel(n));
        cio_future_unref(n);
    }
    cio_future *m[2];
    for (int i = 0; i < 2; i++)
        EXPECT_OK(cio_as_completed_next_future(it, &m[i]));
    EXPECT_ERR(-ENODATA, cio_as_completed_next_future(it, &n));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    spin(loop);
    EXPECT_PTR_EQ(f[0], test_peek_result(m[0]));
    EXPECT_PTR_EQ(f[1], test_peek_result(m[1]));
    unref_all(m, 2);
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 2);
    finish(loop);
}

/* After the iterator's timeout every remaining step fails with -ETIMEDOUT,
 * also once an input completes late (asyncio's as_completed removes its
 * callbacks at the timeout and queues a TimeoutError per remaining input).
 * An input that completed before the timeout is still handed out first. */
TEST(as_completed_input_completing_after_the_timeout_is_not_handed_out)
{
    cio_loop *loop = loop_new();
    cio_future *f[3], *n[3];
    mk(loop, f, 3);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 3, 0.01, &it));
    EXPECT_OK(cio_future_set_result(f[2], NULL, NULL));
    spin(loop);
    EXPECT_OK(cio_as_completed_next_future(it, &n[0]));
    run_until_done(loop, n[0]);
    EXPECT_PTR_EQ(f[2], test_peek_result(n[0]));
    EXPECT_OK(cio_as_completed_next_future(it, &n[1]));
    run_until_done(loop, n[1]);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(n[1]));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL)); /* late */
    spin(loop);
    EXPECT_OK(cio_as_completed_next_future(it, &n[2]));
    spin(loop);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(n[2]));
    cio_future *extra;
    EXPECT_ERR(-ENODATA, cio_as_completed_next_future(it, &extra));
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    unref_all(n, 3);
    EXPECT_OK(cio_as_completed_free(it));
    unref_all(f, 3);
    finish(loop);
}

TEST(as_completed_free_with_pending_next)
{
    cio_loop *loop = loop_new();
    cio_future *f[2], *n[2];
    mk(loop, f, 2);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, 3600.0, &it));
    EXPECT_OK(cio_as_completed_next_future(it, &n[0]));
    EXPECT_OK(cio_as_completed_next_future(it, &n[1]));
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    spin(loop);
    EXPECT_TRUE(cio_future_is_done(n[0]));
    EXPECT_OK(cio_as_completed_free(it));
    EXPECT_TRUE(cio_future_is_cancelled(n[1]));
    EXPECT_FALSE(cio_future_is_cancelled(n[0]));
    /* the child completing after the iterator is gone is harmless */
    EXPECT_OK(cio_future_set_result(f[1], NULL, NULL));
    spin(loop);
    unref_all(n, 2);
    unref_all(f, 2);
    finish(loop); /* the hour-long timer is gone */
}

TEST(as_completed_free_unused)
{
    cio_loop *loop = loop_new();
    cio_future *f[2];
    mk(loop, f, 2);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, 2, 3600.0, &it));
    EXPECT_OK(cio_as_completed_free(it));
    EXPECT_OK(cio_future_cancel(f[0]));
    EXPECT_OK(cio_future_cancel(f[1]));
    unref_all(f, 2);
    finish(loop);
}

TEST(as_completed_bad_input)
{
    cio_loop *loop = loop_new();
    cio_future *f[1];
    mk(loop, f, 1);
    cio_as_completed *it = (cio_as_completed *)0x1;
    EXPECT_ERR(-EINVAL, cio_as_completed_new(NULL, f, 1, CIO_NO_TIMEOUT, &it));
    EXPECT_ERR(-EINVAL, cio_as_completed_new(loop, NULL, 1, CIO_NO_TIMEOUT, &it));
    EXPECT_ERR(-EINVAL, cio_as_completed_new(loop, f, 1, NAN, &it));
    EXPECT_OK(cio_as_completed_free(NULL));
    cio_future *n = V(1);
    EXPECT_ERR(-EINVAL, cio_as_completed_next_future(NULL, &n));
    EXPECT_PTR_EQ(NULL, n);
    EXPECT_OK(cio_future_cancel(f[0]));
    unref_all(f, 1);
    finish(loop);
}

/* ---- combinators of combinators --------------------------------------------------- */

TEST(gather_of_wait_for_and_shield)
{
    cio_loop *loop = loop_new();
    cio_future *a, *b, *wa, *sb, *g;
    EXPECT_OK(cio_future_new(loop, &a));
    EXPECT_OK(cio_future_new(loop, &b));
    EXPECT_OK(cio_wait_for_future(loop, a, 3600.0, &wa));
    EXPECT_OK(cio_shield_future(loop, b, &sb));
    cio_future *kids[2] = {wa, sb};
    EXPECT_OK(cio_gather_future(loop, kids, 2, 0, &g));
    /* cancelling the gather cancels wa (and so a) and sb, but not b */
    EXPECT_OK(cio_future_cancel(g));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(a));
    EXPECT_TRUE(cio_future_is_cancelled(wa));
    EXPECT_TRUE(cio_future_is_cancelled(sb));
    EXPECT_FALSE(cio_future_is_done(b));
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_OK(cio_future_set_result(b, NULL, NULL));
    cio_future_unref(g);
    cio_future_unref(wa);
    cio_future_unref(sb);
    cio_future_unref(a);
    cio_future_unref(b);
    finish(loop);
}

/* ---- negative timeouts have already expired (asyncio), never mean "none" ---- */

TEST(negative_timeout_has_already_expired)
{
    cio_loop *loop = loop_new();
    cio_future *f[2];
    mk(loop, f, 2);

    /* wait_for: a deadline that went negative times out, it does not wait forever */
    cio_future *w;
    EXPECT_OK(cio_wait_for_future(loop, f[0], -0.5, &w));
    run_until_done(loop, w);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(w));
    EXPECT_TRUE(cio_future_is_cancelled(f[0]));
    cio_future_unref(w);

    /* wait: completes with nothing done, the child left alone */
    cio_future *v;
    EXPECT_OK(cio_wait_future(loop, &f[1], 1, CIO_WAIT_ALL_COMPLETED, -1.0, &v));
    run_until_done(loop, v);
    expect_sets(v, &f[1], "p");
    EXPECT_FALSE(cio_future_is_done(f[1]));
    cio_future_unref(v);

    /* as_completed: next fails with ETIMEDOUT */
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, &f[1], 1, -3.0, &it));
    spin(loop);
    cio_future *n;
    EXPECT_OK(cio_as_completed_next_future(it, &n));
    run_until_done(loop, n);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(n));
    cio_future_unref(n);
    EXPECT_OK(cio_as_completed_free(it));

    /* NaN is refused; CIO_NO_TIMEOUT waits */
    EXPECT_ERR(-EINVAL, cio_wait_for_future(loop, f[1], NAN, &w));
    EXPECT_OK(cio_wait_for_future(loop, f[1], CIO_NO_TIMEOUT, &w));
    spin(loop);
    EXPECT_FALSE(cio_future_is_done(w));
    EXPECT_OK(cio_future_set_result(f[1], V(1), NULL));
    run_until_done(loop, w);
    EXPECT_PTR_EQ(V(1), test_peek_result(w));
    cio_future_unref(w);

    unref_all(f, 2);
    finish(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
