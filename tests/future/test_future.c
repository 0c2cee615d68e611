/* Futures: states, the first outcome wins, done-callbacks (never run
 * synchronously, run in add order, removal), references and the result's
 * destructor, steal_result, names, and errors nobody retrieved. */
#include <stdint.h>

#include "test.h"

static cio_loop *g_loop;

/* ---- helpers ---------------------------------------------------------------- */

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

static cio_loop *loop_capturing(void)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture, NULL);
    return loop;
}

static cio_future *fnew(cio_loop *loop)
{
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_TRUE(f != NULL);
    return f;
}

static int dtor_calls;
static void *dtor_last;
static void dtor(void *v)
{
    dtor_calls++;
    dtor_last = v;
}

#define LOG_MAX 64
static int log_v[LOG_MAX];
static int nlog;
static void rec_cb(cio_future *f, void *arg)
{
    EXPECT_TRUE(cio_future_is_done(f));
    if (nlog < LOG_MAX)
        log_v[nlog] = (int)(intptr_t)arg;
    nlog++;
}

/* ---- states ------------------------------------------------------------------ */

TEST(pending_state)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_PTR_EQ(loop, cio_future_loop(f));
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_FALSE(cio_future_is_cancelled(f));
    EXPECT_ERR(-EAGAIN, cio_future_error(f));
    void *v = (void *)0x1;
    EXPECT_ERR(-EAGAIN, cio_future_result(f, &v));
    EXPECT_PTR_EQ(NULL, test_peek_result(f));
    EXPECT_ERR(-EAGAIN, cio_future_take_result(f, &v));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(f);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(result_state)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_result(f, (void *)0xabc, NULL));
    EXPECT_TRUE(cio_future_is_done(f) && !cio_future_is_cancelled(f));
    EXPECT_TRUE(cio_future_is_done(f));
    EXPECT_FALSE(cio_future_is_cancelled(f));
    EXPECT_OK(cio_future_error(f));
    void *v = NULL;
    EXPECT_OK(cio_future_result(f, &v));
    EXPECT_PTR_EQ((void *)0xabc, v);
    EXPECT_OK(cio_future_result(f, NULL)); /* value may be NULL */
    EXPECT_PTR_EQ((void *)0xabc, test_peek_result(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(error_state)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_error(f, -ECONNRESET));
    EXPECT_TRUE(cio_future_is_done(f) && !cio_future_is_cancelled(f));
    EXPECT_TRUE(cio_future_is_done(f));
    EXPECT_FALSE(cio_future_is_cancelled(f));
    EXPECT_PTR_EQ(NULL, test_peek_result(f));
    void *v = (void *)0x1;
    EXPECT_ERR(-ECONNRESET, cio_future_result(f, &v));
    EXPECT_ERR(-ECONNRESET, cio_future_error(f));
    cio_future_unref(f);
    EXPECT_EQ(0, nreports); /* retrieved */
    CLOSE_LOOP(loop);
}

TEST(cancelled_state)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_cancel(f));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    EXPECT_TRUE(cio_future_is_done(f));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    EXPECT_ERR(-ECANCELED, cio_future_error(f));
    EXPECT_ERR(-EINVAL, cio_future_cancel(f)); /* second cancel */
    EXPECT_ERR(-EINVAL, cio_future_set_result(f, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_future_set_error(f, -EIO));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(set_error_ecanceled_is_cancel)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_error(f, -ECANCELED));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    EXPECT_TRUE(cio_future_is_cancelled(f));
    EXPECT_ERR(-EINVAL, cio_future_cancel(f));
    cio_future_unref(f);
    EXPECT_EQ(0, nreports); /* cancellation is never reported */
    CLOSE_LOOP(loop);
}

TEST(first_outcome_stays)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_result(f, (void *)1, dtor));
    EXPECT_ERR(-EINVAL, cio_future_set_result(f, (void *)2, dtor));
    EXPECT_ERR(-EINVAL, cio_future_set_error(f, -EIO));
    EXPECT_ERR(-EINVAL, cio_future_cancel(f));
    EXPECT_EQ(0, dtor_calls); /* the refused value stays the caller's */
    EXPECT_TRUE(cio_future_is_done(f) && !cio_future_is_cancelled(f));
    EXPECT_PTR_EQ((void *)1, test_peek_result(f));
    EXPECT_OK(cio_future_error(f));
    cio_future_unref(f);
    EXPECT_EQ(1, dtor_calls);
    EXPECT_PTR_EQ((void *)1, dtor_last);

    f = fnew(loop);
    EXPECT_OK(cio_future_set_error(f, -EPIPE));
    EXPECT_ERR(-EINVAL, cio_future_set_error(f, -EIO));
    EXPECT_ERR(-EINVAL, cio_future_set_result(f, (void *)3, dtor));
    EXPECT_EQ(1, dtor_calls);
    EXPECT_ERR(-EPIPE, cio_future_error(f));
    cio_future_unref(f);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(set_error_rejects_non_negative)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_ERR(-EINVAL, cio_future_set_error(f, 0));
    EXPECT_ERR(-EINVAL, cio_future_set_error(f, EIO));
    EXPECT_ERR(-EINVAL, cio_future_set_error(f, 1));
    EXPECT_FALSE(cio_future_is_done(f)); /* still pending */
    EXPECT_OK(cio_future_set_error(f, -EIO));
    EXPECT_ERR(-EIO, cio_future_error(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(future_bad_input)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = NULL;
    EXPECT_ERR(-EINVAL, cio_future_new(NULL, &f));
    EXPECT_ERR(-EINVAL, cio_future_new(loop, NULL));
    f = fnew(loop);
    EXPECT_ERR(-EINVAL, cio_future_add_done_callback(f, NULL, NULL));
    EXPECT_ERR(-ENOENT, cio_future_remove_done_callback(f, rec_cb, NULL));
    EXPECT_ERR(-EINVAL, cio_future_remove_done_callback(NULL, rec_cb, NULL));
    cio_future_unref(NULL);
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    test_drain(loop);
    CLOSE_LOOP(loop);
}

/* ---- done-callbacks ------------------------------------------------------------ */

TEST(done_callbacks_never_synchronous_and_in_add_order)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    for (int i = 0; i < 10; i++)
        EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)(intptr_t)i));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_EQ(0, nlog); /* not inside set_result */
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(10, nlog);
    for (int i = 0; i < 10; i++)
        EXPECT_EQ(i, log_v[i]);
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(done_callbacks_not_synchronous_on_error_or_cancel)
{
    cio_loop *loop = loop_capturing();
    cio_future *a = fnew(loop), *b = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(a, rec_cb, (void *)1));
    EXPECT_OK(cio_future_add_done_callback(b, rec_cb, (void *)2));
    EXPECT_OK(cio_future_set_error(a, -EIO));
    EXPECT_OK(cio_future_cancel(b));
    EXPECT_EQ(0, nlog);
    test_drain(loop);
    EXPECT_EQ(2, nlog);
    EXPECT_EQ(1, log_v[0]);
    EXPECT_EQ(2, log_v[1]);
    EXPECT_ERR(-EIO, cio_future_error(a));
    cio_future_unref(a);
    cio_future_unref(b);
    CLOSE_LOOP(loop);
}

TEST(add_done_callback_on_done_future_is_scheduled)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)1));
    EXPECT_EQ(0, nlog);
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)2));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, nlog);
    EXPECT_EQ(1, log_v[0]);
    EXPECT_EQ(2, log_v[1]);
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(remove_done_callback_counts)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)1));
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)2));
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)1));
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)3));
    EXPECT_OK(cio_future_remove_done_callback(f, rec_cb, (void *)1)); /* both */
    EXPECT_ERR(-ENOENT, cio_future_remove_done_callback(f, rec_cb, (void *)1));
    EXPECT_ERR(-ENOENT, cio_future_remove_done_callback(f, rec_cb, (void *)99));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    /* already scheduled: no longer removable, and they still run */
    EXPECT_ERR(-ENOENT, cio_future_remove_done_callback(f, rec_cb, (void *)3));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, nlog);
    EXPECT_EQ(2, log_v[0]);
    EXPECT_EQ(3, log_v[1]);
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

/* Removals from the middle of a long list (the list squeezes out removed
 * entries, cio_await's O(1) removals leave tombstones): the others still
 * run once each, in the order added, with odd and even arguments alike,
 * and every registration's reference is given back. */
TEST(removals_from_a_long_list_keep_the_rest_in_order)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    for (int i = 0; i < 60; i++)
        EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)(intptr_t)i));
    for (int i = 0; i < 60; i += 3)
        EXPECT_OK(cio_future_remove_done_callback(f, rec_cb, (void *)(intptr_t)i));
    for (int i = 60; i < 80; i++) /* after the removals: still after the rest */
        EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)(intptr_t)i));
    EXPECT_OK(cio_future_remove_done_callback(f, rec_cb, (void *)(intptr_t)79));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    test_drain(loop);
    EXPECT_EQ(40 + 19, nlog);
    int k = 0;
    for (int i = 0; i < 79 && k < LOG_MAX; i++)
        if (i >= 60 || i % 3 != 0)
            EXPECT_EQ(i, log_v[k++]);
    cio_future_unref(f);
    CLOSE_LOOP(loop); /* fails if a reference was kept */
}

static void add_more(cio_future *f, void *arg)
{
    (void)arg;
    rec_cb(f, (void *)1);
    /* the future is done: this one is scheduled for the next iteration */
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, (void *)2));
    EXPECT_EQ(1, nlog);
}

TEST(done_callback_adds_another)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(f, add_more, NULL));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, nlog);
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, nlog);
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

static void read_result(cio_future *f, void *arg)
{
    (void)arg;
    EXPECT_PTR_EQ((void *)0x55, test_peek_result(f));
    EXPECT_EQ(0, dtor_calls);
    nlog++;
}

TEST(pending_callback_keeps_future_alive)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(f, read_result, NULL));
    EXPECT_OK(cio_future_set_result(f, (void *)0x55, dtor));
    cio_future_unref(f); /* the caller's reference is gone */
    EXPECT_EQ(0, dtor_calls);
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, nlog);
    EXPECT_EQ(1, dtor_calls); /* freed after its last callback */
    CLOSE_LOOP(loop);
}

static void unref_in_callback(cio_future *f, void *arg)
{
    (void)arg;
    nlog++;
    cio_future_unref(f); /* drops the owner's reference from inside */
}

TEST(done_callback_drops_last_owner_reference)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(f, unref_in_callback, NULL));
    EXPECT_OK(cio_future_set_result(f, (void *)7, dtor));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, nlog);
    EXPECT_EQ(1, dtor_calls);
    CLOSE_LOOP(loop);
}

/* ---- references, destructor, steal -------------------------------------------------- */

TEST(destructor_runs_on_last_unref)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_PTR_EQ(f, cio_future_ref(f));
    cio_future_ref(f);
    EXPECT_OK(cio_future_set_result(f, (void *)0x99, dtor));
    cio_future_unref(f);
    cio_future_unref(f);
    EXPECT_EQ(0, dtor_calls);
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    cio_future_unref(f);
    EXPECT_EQ(1, dtor_calls);
    EXPECT_PTR_EQ((void *)0x99, dtor_last);
    CLOSE_LOOP(loop);
}

TEST(destructor_not_run_for_pending_or_failed)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    cio_future_unref(f); /* freed pending: nothing to report or destroy */
    EXPECT_EQ(0, dtor_calls);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(steal_result)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_result(f, (void *)0x42, dtor));
    void *v = NULL;
    EXPECT_OK(cio_future_take_result(f, &v));
    EXPECT_PTR_EQ((void *)0x42, v);
    cio_future_unref(f);
    EXPECT_EQ(0, dtor_calls); /* the caller owns it now */

    /* A take empties the future: a second take or a read finds the
     * outcome 0 and no value, so one result is never owned twice. */
    f = fnew(loop);
    EXPECT_OK(cio_future_set_result(f, (void *)0x43, dtor));
    EXPECT_OK(cio_future_take_result(f, &v));
    EXPECT_PTR_EQ((void *)0x43, v);
    v = (void *)0x1;
    EXPECT_OK(cio_future_take_result(f, &v));
    EXPECT_PTR_EQ(NULL, v);
    v = (void *)0x1;
    EXPECT_OK(cio_future_result(f, &v));
    EXPECT_PTR_EQ(NULL, v);
    EXPECT_OK(cio_future_error(f));
    cio_future_unref(f);
    EXPECT_EQ(0, dtor_calls);

    f = fnew(loop);
    EXPECT_OK(cio_future_set_error(f, -EPIPE));
    v = (void *)0x1;
    EXPECT_ERR(-EPIPE, cio_future_take_result(f, &v));
    cio_future_unref(f);
    EXPECT_EQ(0, nreports); /* steal_result returned the error */

    f = fnew(loop);
    EXPECT_OK(cio_future_cancel(f));
    EXPECT_ERR(-ECANCELED, cio_future_take_result(f, &v));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

/* ---- names and unretrieved errors --------------------------------------------------- */

TEST(names)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    char name[32] = "fetch-user";
    EXPECT_OK(cio_future_set_name(f, name));
    strcpy(name, "overwritten");
    EXPECT_STR_EQ("fetch-user", cio_future_name(f)); /* copied */
    EXPECT_OK(cio_future_set_name(f, "second"));
    EXPECT_STR_EQ("second", cio_future_name(f));
    EXPECT_OK(cio_future_set_name(f, NULL));
    EXPECT_TRUE(cio_future_name(f) == NULL || cio_future_name(f)[0] == 0 ||
                strcmp(cio_future_name(f), "second") != 0);
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(unretrieved_error_reported_at_free)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_name(f, "lost-request"));
    EXPECT_OK(cio_future_set_error(f, -ECONNRESET));
    EXPECT_EQ(0, nreports);
    cio_future_unref(f);
    EXPECT_EQ(1, nreports);
    if (!strstr(reports[0], "ECONNRESET"))
        FAIL("report does not name the error: \"%s\"", reports[0]);
    if (!strstr(reports[0], "lost-request"))
        FAIL("report does not name the future: \"%s\"", reports[0]);
    CLOSE_LOOP(loop);
}

TEST(unretrieved_error_reported_after_callbacks_ran)
{
    /* a done-callback that ignores the outcome does not retrieve it */
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, NULL));
    EXPECT_OK(cio_future_set_error(f, -ETIMEDOUT));
    cio_future_unref(f);
    EXPECT_EQ(0, nreports); /* the pending callback still holds it */
    test_drain(loop);
    EXPECT_EQ(1, nreports);
    EXPECT_TRUE(strstr(reports[0], "ETIMEDOUT") != NULL);
    CLOSE_LOOP(loop);
}

TEST(retrieved_error_not_reported)
{
    cio_loop *loop = loop_capturing();
    cio_future *a = fnew(loop), *b = fnew(loop), *c = fnew(loop);
    EXPECT_OK(cio_future_set_error(a, -EIO));
    EXPECT_OK(cio_future_set_error(b, -EIO));
    EXPECT_OK(cio_future_set_error(c, -EIO));
    EXPECT_ERR(-EIO, cio_future_error(a));
    void *v;
    EXPECT_ERR(-EIO, cio_future_result(b, &v));
    EXPECT_ERR(-EIO, cio_loop_run_until_complete(loop, c));
    cio_future_unref(a);
    cio_future_unref(b);
    cio_future_unref(c);
    test_drain(loop);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(state_predicates_do_not_retrieve)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_error(f, -EPIPE));
    EXPECT_TRUE(cio_future_is_done(f));
    EXPECT_TRUE(cio_future_is_done(f) && !cio_future_is_cancelled(f));
    cio_future_unref(f);
    EXPECT_EQ(1, nreports);
    EXPECT_TRUE(strstr(reports[0], "EPIPE") != NULL);
    CLOSE_LOOP(loop);
}

TEST(cancellation_not_reported)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    f = fnew(loop);
    EXPECT_OK(cio_future_add_done_callback(f, rec_cb, NULL));
    EXPECT_OK(cio_future_set_error(f, -ECANCELED));
    cio_future_unref(f);
    test_drain(loop);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

/* ---- lots of futures --------------------------------------------------------------- */

TEST(many_futures_and_callbacks)
{
    cio_loop *loop = loop_capturing();
    enum { N = 20000 };
    static cio_future *fs[N];
    for (int i = 0; i < N; i++) {
        fs[i] = fnew(loop);
        EXPECT_OK(cio_future_add_done_callback(fs[i], unref_in_callback, NULL));
    }
    for (int i = N - 1; i >= 0; i--)
        EXPECT_OK(cio_future_set_result(fs[i], (void *)(intptr_t)i, dtor));
    EXPECT_EQ(0, nlog);
    test_drain(loop);
    EXPECT_EQ(N, nlog);
    EXPECT_EQ(N, dtor_calls);
    CLOSE_LOOP(loop);
}

TEST(future_of_closed_loop)
{
    cio_loop *loop = test_loop_new();
    EXPECT_OK(cio_loop_close(loop));
    cio_future *f = (cio_future *)0x1;
    EXPECT_ERR(-EINVAL, cio_future_new(loop, &f));
    EXPECT_OK(cio_loop_free(loop));
}

/* ---- a task is finished by its function alone ------------------------------------ */

static int task_returns_7(void *arg, void **result)
{
    (void)arg;
    *result = (void *)(uintptr_t)7;
    return 0;
}

/* set_result / set_error on a task used to finish its future early, so the
 * task's own outcome was lost (and its result went nowhere). */
TEST(set_result_and_set_error_refuse_a_task)
{
    cio_loop *loop = loop_capturing();
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, NULL, task_returns_7, NULL, &t));
    EXPECT_ERR(-EINVAL, cio_future_set_result(t, (void *)(uintptr_t)1, NULL));
    EXPECT_ERR(-EINVAL, cio_future_set_error(t, -EIO));
    EXPECT_ERR(-EINVAL, cio_future_set_error(t, -ECANCELED));
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_loop_run_until_complete(loop, t));
    void *v = NULL;
    EXPECT_OK(cio_future_result(t, &v));
    EXPECT_PTR_EQ((void *)(uintptr_t)7, v); /* the task's own outcome */
    cio_future_unref(t);
    test_drain(loop);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

static int task_awaits(void *arg, void **result)
{
    return cio_await(arg, result);
}

TEST(cancel_is_still_allowed_on_a_task)
{
    cio_loop *loop = loop_capturing();
    cio_future *never = fnew(loop);
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, NULL, task_awaits, never, &t));
    EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0); /* it awaits */
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_loop_run_until_complete(loop, t));
    EXPECT_TRUE(cio_future_is_cancelled(t));
    cio_future_unref(t);
    cio_future_unref(never);
    test_drain(loop);
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

/* ---- a reference dropped twice --------------------------------------------------- */

static cio_loop *debug_loop_capturing(void)
{
    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    o.debug = 1;
    cio_loop *loop = NULL;
    EXPECT_OK(cio_loop_new(&o, &loop));
    cio_loop_set_report_handler(loop, capture, NULL);
    return g_loop = loop;
}

/* A double unref used to be silent: it wrapped the count of a cached
 * future, or, once the memory was reused, dropped a reference of an
 * unrelated new future (freeing it under its owner). */
TEST(double_unref_is_reported_in_debug_mode)
{
    cio_loop *loop = debug_loop_capturing();
    cio_future *f = fnew(loop);
    cio_future_unref(f);
    EXPECT_EQ(0, nreports);
    cio_future_unref(f); /* the bug */
    EXPECT_EQ(1, nreports);
    EXPECT_TRUE(strstr(reports[0], "cio_future_unref") != NULL);
    EXPECT_TRUE(strstr(reports[0], "already freed") != NULL);
    cio_future_ref(f); /* as bad, also reported, changes nothing */
    EXPECT_EQ(2, nreports);
    /* The quarantine: the futures made next are new memory, not f, and the
     * free cache is intact (each comes and goes once). */
    cio_future *g[300];
    for (int i = 0; i < 300; i++) {
        g[i] = fnew(loop);
        EXPECT_TRUE(g[i] != f);
    }
    cio_future_unref(f); /* still caught */
    EXPECT_EQ(3, nreports);
    for (int i = 0; i < 300; i++)
        cio_future_unref(g[i]);
    for (int i = 0; i < 3000; i++) /* cycle the cache through f */
        cio_future_unref(fnew(loop));
    EXPECT_EQ(3, nreports);
    test_drain(loop);
    CLOSE_LOOP(loop);
}

/* Outside debug mode the freed future is reused at once, but a double
 * unref that comes before that is still caught. */
TEST(double_unref_of_a_cached_future_is_reported)
{
    cio_loop *loop = loop_capturing();
    cio_future *f = fnew(loop);
    cio_future_unref(f);
    cio_future_unref(f);
    EXPECT_EQ(1, nreports);
    cio_future *h = fnew(loop);
    EXPECT_OK(cio_future_set_result(h, NULL, NULL));
    cio_future_unref(h);
    test_drain(loop);
    EXPECT_EQ(1, nreports);
    CLOSE_LOOP(loop);
}

/* ---- the harness itself (tests/test.h) --------------------------------------------- */

/* A report that reaches a loop's default handler fails the case, whether
 * or not the test installed a handler: here a child reports like a case
 * that forgot to, and the harness's reader must see it. */
TEST(harness_sees_a_report_that_reaches_the_default_handler)
{
    for (int forget = 0; forget < 2; forget++) {
        int p[2];
        EXPECT_OK(pipe(p));
        fflush(stderr);
        pid_t pid = fork();
        EXPECT_TRUE(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            dup2(p[1], 2);
            close(p[1]);
            cio_loop *loop = test_loop_new();
            if (!forget)
                cio_loop_set_report_handler(loop, capture, NULL);
            fprintf(stderr, "noise; not a report: cio: at mid-line\n");
            cio_loop_report(loop, "boom %d", 7);
            CLOSE_LOOP(loop);
            test_child_exit(0);
        }
        close(p[1]);
        struct test_stderr e = {.at_line_start = true};
        int st = test_wait_case(pid, p[0], &e, -1);
        close(p[0]);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        EXPECT_EQ(forget, e.report_seen);
        if (forget) {
            e.first_report[e.first_len] = 0;
            EXPECT_STR_EQ("boom 7", e.first_report);
        }
    }
    /* a prefix split across reads is still seen */
    struct test_stderr e = {.at_line_start = true};
    test_scan_stderr(&e, "x\nci", 4);
    test_scan_stderr(&e, "o: late\n", 8);
    EXPECT_TRUE(e.report_seen);
}

/* Sixteen blocks nobody points to: at most the last one's address may
 * linger in a stale stack slot that LeakSanitizer scans, never all. */
__attribute__((noinline)) static void leak_blocks(void)
{
    for (int i = 0; i < 16; i++) {
        char *volatile p = malloc(64);
        p[0] = (char)i;
    }
}

/* Forks a child that runs what a case runs and ends the way the harness
 * ends a case (test_child_exit); returns its wait status and its stderr. */
static int leaking_child(int kind, char *err, size_t len)
{
    int p[2];
    EXPECT_OK(pipe(p));
    fflush(stderr);
    pid_t pid = fork();
    EXPECT_TRUE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        cio_loop *loop = test_loop_new();
        if (kind > 0)
            leak_blocks();
        if (kind > 1)
            test_skip_leak_check("the harness's own test");
        CLOSE_LOOP(loop);
        test_child_exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(p[0], err + n, len - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = 0;
    close(p[0]);
    int st = 0;
    EXPECT_EQ(pid, waitpid(pid, &st, 0));
    return st;
}

/* A case ends with _exit, which skips LeakSanitizer's check at exit: the
 * harness runs the check itself, and a leak fails the case with its report.
 * Without ASan (or with detect_leaks=0) nothing is checked. */
TEST(harness_fails_a_case_that_leaks)
{
    static char err[16384];
    bool asan = false, checks = false;
#ifdef TEST_HAVE_LSAN
    const char *opts = getenv("ASAN_OPTIONS");
    asan = true;
    checks = !opts || !strstr(opts, "detect_leaks=0");
#endif
    int st = leaking_child(0, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("clean child: status %#x, stderr: \"%s\"", st, err);
    st = leaking_child(1, err, sizeof err);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(checks ? TEST_LEAK_EXIT : 0, WEXITSTATUS(st));
    EXPECT_EQ(checks, strstr(err, "LeakSanitizer: detected memory leaks") != NULL);
    EXPECT_EQ(checks, strstr(err, "leak_blocks") != NULL); /* where it was made */
    /* a case that leaves memory on purpose says so, and passes */
    st = leaking_child(2, err, sizeof err);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(0, WEXITSTATUS(st));
    EXPECT_EQ(asan, strstr(err, "leak check skipped: the harness's own test") != NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
