/* A reason with a cancellation (asyncio's Task.cancel(msg)): the cancelled
 * task reads it from its own future, its awaiters from the task; a task
 * suspended in cio_gather or cio_wait_for passes it to the children it
 * cancels, as asyncio's Task.cancel(msg) passes msg to the future it
 * awaits; cio_await leaves the awaited future alone and so passes nothing;
 * a deadline cancels with no message. */
#include "task/task_util.h"

#define HOUR 3600.0

static int reads_its_reason(void *arg, void **result)
{
    (void)arg;
    (void)result;
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(cio_current_task()));
    int rc = cio_sleep(HOUR);
    const char *msg = cio_future_cancel_message(cio_current_task());
    LOG("%s:%s;", cio_err_name(rc), msg ? msg : "(none)");
    return rc;
}

static int main_task_reason(void *arg, void **result)
{
    cio_task *t = spawn(reads_its_reason, NULL);
    yield_n(1); /* t sleeps */
    EXPECT_OK(cio_future_cancel_with_message(t, "client went away"));
    /* while t unwinds: a second cancel is a no-op, the reason stays */
    EXPECT_OK(cio_future_cancel_with_message(t, "other"));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_STR_EQ("client went away", cio_future_cancel_message(t)); /* the awaiter's view */
    cio_future_unref(t);

    /* cancelled without one: none */
    t = spawn(reads_its_reason, NULL);
    yield_n(1);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(t));
    cio_future_unref(t);
    return 0;
}

TEST(cancelled_task_and_its_awaiter_read_the_reason)
{
    EXPECT_OK(cio_run(main_task_reason, NULL, NULL));
    EXPECT_LOG("ECANCELED:client went away;ECANCELED:(none);");
}

/* ---- passed on by cio_gather and cio_wait_for ------------------------------------ */

static int gathers_two(void *arg, void **result)
{
    (void)result;
    cio_task **kids = arg;
    return cio_gather(kids, 2, 0, NULL);
}

static int main_gather_passes(void *arg, void **result)
{
    cio_task *kids[2] = {spawn(reads_its_reason, NULL), spawn(reads_its_reason, NULL)};
    cio_task *t = spawn(gathers_two, kids);
    yield_n(2); /* the children sleep, t waits in cio_gather */
    EXPECT_OK(cio_future_cancel_with_message(t, "stop"));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_ERR(-ECANCELED, cio_await(kids[0], NULL));
    EXPECT_ERR(-ECANCELED, cio_await(kids[1], NULL));
    EXPECT_STR_EQ("stop", cio_future_cancel_message(kids[0]));
    cio_future_unref(t);
    cio_future_unref(kids[0]);
    cio_future_unref(kids[1]);
    return 0;
}

TEST(task_in_gather_passes_the_reason_to_the_children)
{
    EXPECT_OK(cio_run(main_gather_passes, NULL, NULL));
    EXPECT_LOG("ECANCELED:stop;ECANCELED:stop;");
}

static int waits_for_with_deadline(void *arg, void **result)
{
    (void)result;
    return cio_wait_for(arg, HOUR, NULL);
}

static int main_wait_for_passes(void *arg, void **result)
{
    cio_task *kid = spawn(reads_its_reason, NULL);
    cio_task *t = spawn(waits_for_with_deadline, kid);
    yield_n(2);
    EXPECT_OK(cio_future_cancel_with_message(t, "why"));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_ERR(-ECANCELED, cio_await(kid, NULL));
    EXPECT_STR_EQ("why", cio_future_cancel_message(kid));
    cio_future_unref(t);
    cio_future_unref(kid);
    return 0;
}

TEST(task_in_wait_for_passes_the_reason_to_the_awaited)
{
    EXPECT_OK(cio_run(main_wait_for_passes, NULL, NULL));
    EXPECT_LOG("ECANCELED:why;");
}

/* ---- not passed on -------------------------------------------------------------- */

static int awaits_plain(void *arg, void **result)
{
    (void)result;
    return cio_await(arg, NULL);
}

static int main_await_passes_nothing(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_plain, f);
    yield_n(1);
    EXPECT_OK(cio_future_cancel_with_message(t, "only mine"));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_FALSE(cio_future_is_done(f)); /* cio_await never cancels what it awaits */
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(f));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(task_in_await_passes_nothing_to_the_awaited_future)
{
    EXPECT_OK(cio_run(main_await_passes_nothing, NULL, NULL));
}

static int gathers_under_deadline(void *arg, void **result)
{
    (void)result;
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0));
    int rc = cio_gather(arg, 1, 0, NULL);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    return rc == -ETIMEDOUT ? 0 : -EPROTO;
}

static int main_deadline_no_message(void *arg, void **result)
{
    cio_task *kid = spawn(reads_its_reason, NULL);
    cio_task *t = spawn(gathers_under_deadline, &kid);
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_ERR(-ECANCELED, cio_await(kid, NULL));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(kid));
    cio_future_unref(t);
    cio_future_unref(kid);
    return 0;
}

TEST(deadline_cancels_children_without_a_message)
{
    EXPECT_OK(cio_run(main_deadline_no_message, NULL, NULL));
    EXPECT_LOG("ECANCELED:(none);");
}

int main(int argc, char **argv) { return test_main(argc, argv); }
