/* Tasks: cio_run, spawning, awaiting, sleeping, yielding, identity, names,
 * all_tasks, -EPERM outside a task, result ownership and unretrieved errors.
 * Each case follows a documented asyncio behaviour (create_task, run,
 * current_task, all_tasks, sleep(0)) or a line of task.h. Outcomes are
 * decided by order (the FIFO callback queue, timer deadlines), never by how
 * long something took. */
#include <math.h>

#include "task/task_util.h"

/* ---- cio_run ---------------------------------------------------------------- */

static int main_result(void *arg, void **result)
{
    *result = arg;
    return 0;
}

TEST(run_returns_main_result)
{
    void *res = NULL;
    EXPECT_OK(cio_run(main_result, V(42), &res));
    EXPECT_PTR_EQ(V(42), res);
    /* result may be NULL */
    EXPECT_OK(cio_run(main_result, V(43), NULL));
}

static int main_fails(void *arg, void **result)
{
    capture_reports_here();
    return -ECONNRESET;
}

TEST(run_returns_main_error_and_does_not_report_it)
{
    void *res = V(1);
    EXPECT_ERR(-ECONNRESET, cio_run(main_fails, NULL, &res));
    EXPECT_NO_REPORTS(); /* cio_run hands the error back: it was retrieved */
}

static int main_cancels_itself(void *arg, void **result)
{
    EXPECT_OK(cio_future_cancel(cio_current_task()));
    EXPECT_ERR(-ECANCELED, cio_sleep(0));
    return -ECANCELED;
}

TEST(run_returns_ecanceled_for_cancelled_main)
{
    EXPECT_ERR(-ECANCELED, cio_run(main_cancels_itself, NULL, NULL));
}

static int leftover_sleeper(void *arg, void **result)
{
    LOG("start;");
    int rc = cio_sleep(3600);
    LOG("sleep=%s;", cio_err_name(rc));
    return rc;
}

static int main_leaves_task_behind(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(cio_spawn(leftover_sleeper, NULL, NULL));
    EXPECT_OK(cio_yield()); /* the sleeper starts and sleeps */
    LOG("main-ends;");
    *result = V(7);
    return 0;
}

TEST(run_cancels_and_waits_for_leftover_tasks)
{
    /* asyncio.run cancels the tasks main left behind and waits for them */
    void *res = NULL;
    EXPECT_OK(cio_run(main_leaves_task_behind, NULL, &res));
    EXPECT_PTR_EQ(V(7), res);
    EXPECT_LOG("start;main-ends;sleep=ECANCELED;");
    EXPECT_NO_REPORTS();
}

static int nested_run(void *arg, void **result)
{
    void *res = V(9);
    /* would block the loop running this task until the inner run ended */
    EXPECT_ERR(-EDEADLK, cio_run(main_result, V(1), &res));
    EXPECT_PTR_EQ(NULL, res);
    EXPECT_ERR(-EDEADLK, cio_run_with(NULL, main_result, V(1), NULL));
    /* so is running any other loop from here; this loop is -EBUSY */
    cio_loop *other;
    EXPECT_OK(cio_loop_new(NULL, &other));
    EXPECT_ERR(-EDEADLK, cio_loop_run_forever(other));
    EXPECT_ERR(-EDEADLK, cio_loop_run_once(other, 0));
    cio_future *f;
    EXPECT_OK(cio_future_new(other, &f));
    EXPECT_ERR(-EDEADLK, cio_loop_run_until_complete(other, f));
    cio_future_unref(f);
    EXPECT_OK(cio_loop_free(other));
    EXPECT_ERR(-EBUSY, cio_loop_run_once(cio_current_loop(), CIO_RUN_NOWAIT));
    EXPECT_OK(cio_yield()); /* and the calling task still works */
    return 0;
}

TEST(run_from_a_task_is_edeadlk)
{
    EXPECT_OK(cio_run(nested_run, NULL, NULL));
}

/* An owned result of main is handed over, not freed under the caller. */
static int run_result_frees;
static void run_result_free(void *p)
{
    run_result_frees++;
    free(p);
}

static int main_owned_result(void *arg, void **result)
{
    EXPECT_OK(cio_task_set_result_free(run_result_free));
    char *s = malloc(16);
    strcpy(s, "main's");
    *result = s;
    return 0;
}

TEST(run_hands_over_a_result_main_gave_a_destructor)
{
    void *res = NULL;
    EXPECT_OK(cio_run(main_owned_result, NULL, &res));
    /* Read after cio_run returned: ASan reports a use after free, and any
     * build the destructor's early call, if cio_run freed it. */
    EXPECT_EQ(0, run_result_frees);
    EXPECT_STR_EQ("main's", res);
    run_result_free(res); /* ours now */
    /* with nobody to take it, cio_run frees it */
    EXPECT_OK(cio_run(main_owned_result, NULL, NULL));
    EXPECT_EQ(2, run_result_frees);
}

/* A loop cio_run cannot free is an error, not a silent success. */
static cio_future *kept_future;

static int main_keeps_a_future(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(cio_future_new(cio_current_loop(), &kept_future)); /* never dropped */
    *result = V(9);
    return 0;
}

static int main_keeps_a_future_and_fails(void *arg, void **result)
{
    main_keeps_a_future(arg, result);
    return -EIO;
}

TEST(run_fails_when_it_cannot_free_its_loop)
{
    void *res = NULL;
    EXPECT_ERR(-EBUSY, cio_run(main_keeps_a_future, NULL, &res));
    EXPECT_PTR_EQ(V(9), res); /* main did succeed */
    EXPECT_REPORT("could not be freed", NULL);
    EXPECT_REPORT("1 future(s) or task(s) still referenced", NULL);
    /* The loop was kept for the future's sake: dropping it lets the loop
     * be freed after all. */
    cio_loop *loop = cio_future_loop(kept_future);
    cio_future_unref(kept_future);
    EXPECT_OK(cio_loop_free(loop));
    /* main's own error is the more useful answer */
    nreports = 0;
    EXPECT_ERR(-EIO, cio_run(main_keeps_a_future_and_fails, NULL, NULL));
    EXPECT_REPORT("could not be freed", NULL);
    loop = cio_future_loop(kept_future);
    cio_future_unref(kept_future);
    EXPECT_OK(cio_loop_free(loop));
}

/* ---- spawn and await ----------------------------------------------------------- */

static int set_flag(void *arg, void **result)
{
    *(int *)arg = 1;
    LOG("child;");
    return 0;
}

static int main_spawn_later(void *arg, void **result)
{
    int flag = 0;
    cio_task *t = NULL;
    EXPECT_OK(cio_spawn(set_flag, &flag, &t));
    EXPECT_EQ(0, flag); /* not run inside cio_spawn */
    EXPECT_FALSE(cio_future_is_done(t));
    LOG("spawned;");
    EXPECT_OK(cio_yield());
    EXPECT_EQ(1, flag);
    EXPECT_TRUE(cio_future_is_done(t));
    EXPECT_OK(cio_future_error(t));
    cio_future_unref(t);
    return 0;
}

TEST(spawn_runs_later_not_inside_the_call)
{
    EXPECT_OK(cio_run(main_spawn_later, NULL, NULL));
    EXPECT_LOG("spawned;child;");
}

static int child_sleeps_then_returns(void *arg, void **result)
{
    EXPECT_OK(cio_sleep(0.005));
    *result = arg;
    return 0;
}

static int child_returns_error(void *arg, void **result)
{
    EXPECT_OK(cio_yield());
    return (int)(intptr_t)arg;
}

static int main_await_task(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(child_sleeps_then_returns, V(99));
    void *v = NULL;
    EXPECT_OK(cio_await(t, &v));
    EXPECT_PTR_EQ(V(99), v);
    EXPECT_PTR_EQ(V(99), test_peek_result(t));
    EXPECT_TRUE(cio_future_is_done(t) && !cio_future_is_cancelled(t));
    /* awaiting a finished task returns its outcome again */
    v = NULL;
    EXPECT_OK(cio_await(t, &v));
    EXPECT_PTR_EQ(V(99), v);
    cio_future_unref(t);

    t = spawn(child_returns_error, V(-ECONNRESET));
    EXPECT_ERR(-ECONNRESET, cio_await(t, NULL));
    EXPECT_FALSE(cio_future_is_cancelled(t));
    cio_future_unref(t); /* retrieved by cio_await: no report */
    return 0;
}

TEST(await_task_result_and_error)
{
    EXPECT_OK(cio_run(main_await_task, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static int main_await_future(void *arg, void **result)
{
    cio_future *f = new_future();
    complete_later(f, 0.01);
    void *v = NULL;
    EXPECT_OK(cio_await(f, &v));
    EXPECT_PTR_EQ(V(0x5eed), v);
    cio_future_unref(f);

    /* an already-done future: its outcome at once */
    f = new_future();
    EXPECT_OK(cio_future_set_error(f, -EPIPE));
    EXPECT_ERR(-EPIPE, cio_await(f, NULL));
    cio_future_unref(f);

    /* a cancelled future */
    f = new_future();
    EXPECT_OK(cio_future_cancel(f));
    EXPECT_ERR(-ECANCELED, cio_await(f, NULL));
    cio_future_unref(f);
    return 0;
}

TEST(await_plain_future_completed_by_timer)
{
    EXPECT_OK(cio_run(main_await_future, NULL, NULL));
}

static void cb_complete(void *arg) { EXPECT_OK(cio_future_set_result(arg, V(5), NULL)); }

static int main_await_future_cb(void *arg, void **result)
{
    cio_future *f = new_future();
    EXPECT_OK(cio_call_soon(cio_current_loop(), cb_complete, f));
    void *v = NULL;
    EXPECT_OK(cio_await(f, &v));
    EXPECT_PTR_EQ(V(5), v);
    cio_future_unref(f);
    return 0;
}

TEST(await_future_completed_by_callback)
{
    EXPECT_OK(cio_run(main_await_future_cb, NULL, NULL));
}

/* ---- sleep and yield ordering ------------------------------------------------- */

static int sleeper(void *arg, void **result)
{
    const char *name = arg;
    double d = name[0] == 'A' ? 0.02 : name[0] == 'B' ? 0.01 : 0.0;
    LOG("%s-start;", name);
    EXPECT_OK(cio_sleep(d));
    LOG("%s-woke;", name);
    return 0;
}

static int main_sleep_order(void *arg, void **result)
{
    cio_task *a = spawn(sleeper, "A"), *b = spawn(sleeper, "B"), *c = spawn(sleeper, "C");
    EXPECT_OK(cio_await(a, NULL));
    EXPECT_OK(cio_await(b, NULL));
    EXPECT_OK(cio_await(c, NULL));
    cio_future_unref(a);
    cio_future_unref(b);
    cio_future_unref(c);
    return 0;
}

TEST(sleep_wakes_in_deadline_order)
{
    EXPECT_OK(cio_run(main_sleep_order, NULL, NULL));
    /* tasks start in spawn order; sleep(0) wakes first, then 0.01, then 0.02 */
    EXPECT_LOG("A-start;B-start;C-start;C-woke;B-woke;A-woke;");
}

static int yielder(void *arg, void **result)
{
    for (int i = 1; i <= 3; i++) {
        LOG("%s%d;", (const char *)arg, i);
        EXPECT_OK(cio_yield());
    }
    return 0;
}

static int main_yield(void *arg, void **result)
{
    cio_task *a = spawn(yielder, "a"), *b = spawn(yielder, "b");
    EXPECT_OK(cio_await(a, NULL));
    EXPECT_OK(cio_await(b, NULL));
    cio_future_unref(a);
    cio_future_unref(b);
    return 0;
}

TEST(yield_interleaves_tasks)
{
    EXPECT_OK(cio_run(main_yield, NULL, NULL));
    EXPECT_LOG("a1;b1;a2;b2;a3;b3;");
}

static int main_sleep_bad(void *arg, void **result)
{
    EXPECT_ERR(-EINVAL, cio_sleep(-1));
    EXPECT_ERR(-EINVAL, cio_sleep(NAN));
    EXPECT_OK(cio_sleep(0));
    return 0;
}

TEST(sleep_rejects_negative_and_nan)
{
    EXPECT_OK(cio_run(main_sleep_bad, NULL, NULL));
}

/* ---- identity -------------------------------------------------------------------- */

static cio_task *seen_task;
static cio_loop *seen_loop;

static int record_identity(void *arg, void **result)
{
    seen_task = cio_current_task();
    seen_loop = cio_current_loop();
    return 0;
}

static int cb_ran;
static void cb_check_identity(void *arg)
{
    EXPECT_PTR_EQ(arg, cio_current_loop());
    EXPECT_PTR_EQ(NULL, cio_current_task());
    EXPECT_ERR(-EPERM, cio_sleep(0));
    EXPECT_ERR(-EPERM, cio_yield());
    EXPECT_ERR(-EPERM, cio_spawn(set_flag, NULL, NULL));
    cb_ran = 1;
}

static int main_identity(void *arg, void **result)
{
    cio_task *me = cio_current_task();
    EXPECT_TRUE(me != NULL);
    EXPECT_TRUE(cio_future_is_task(me));
    cio_loop *loop = cio_current_loop();
    EXPECT_TRUE(loop != NULL);
    EXPECT_PTR_EQ(loop, cio_future_loop(me));

    cio_task *t = spawn(record_identity, NULL);
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_PTR_EQ(t, seen_task);
    EXPECT_PTR_EQ(loop, seen_loop);
    EXPECT_PTR_EQ(me, cio_current_task()); /* back in main */
    cio_future_unref(t);

    /* a plain callback on the same loop: a loop, no task */
    EXPECT_OK(cio_call_soon(loop, cb_check_identity, loop));
    EXPECT_OK(cio_yield());
    EXPECT_EQ(1, cb_ran);

    cio_future *f = new_future();
    EXPECT_FALSE(cio_future_is_task(f));
    cio_future_unref(f);
    return 0;
}

TEST(current_task_and_loop_inside_and_outside)
{
    EXPECT_PTR_EQ(NULL, cio_current_task());
    EXPECT_PTR_EQ(NULL, cio_current_loop());
    EXPECT_OK(cio_run(main_identity, NULL, NULL));
    EXPECT_PTR_EQ(NULL, cio_current_task());
    EXPECT_PTR_EQ(NULL, cio_current_loop());
}

TEST(current_loop_inside_callback_of_hand_made_loop)
{
    cio_loop *loop = task_loop_new();
    EXPECT_PTR_EQ(NULL, cio_current_loop()); /* not running */
    EXPECT_OK(cio_call_soon(loop, cb_check_identity, loop));
    EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
    EXPECT_EQ(1, cb_ran);
    EXPECT_PTR_EQ(NULL, cio_current_loop());
    finish_loop(loop);
    EXPECT_NO_REPORTS();
}

static int noop(void *arg, void **result) { return 0; }

static int main_names(void *arg, void **result)
{
    cio_task *a = spawn(noop, NULL), *b = spawn(noop, NULL);
    const char *na = cio_task_name(a), *nb = cio_task_name(b);
    EXPECT_TRUE(na && nb);
    EXPECT_TRUE(strncmp(na, "task-", 5) == 0);
    EXPECT_TRUE(strncmp(nb, "task-", 5) == 0);
    EXPECT_TRUE(strcmp(na, nb) != 0); /* task-N: a counter */
    EXPECT_TRUE(cio_task_name(cio_current_task()) != NULL);

    EXPECT_OK(cio_task_set_name(a, "renamed"));
    EXPECT_STR_EQ("renamed", cio_task_name(a));
    EXPECT_STR_EQ("renamed", cio_future_name(a)); /* a task is a future */

    /* the option's name is copied */
    char buf[32];
    snprintf(buf, sizeof buf, "worker-%d", 7);
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = buf;
    cio_task *c = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, noop, NULL, &c));
    memset(buf, 'x', sizeof buf - 1);
    EXPECT_STR_EQ("worker-7", cio_task_name(c));

    EXPECT_OK(cio_await(a, NULL));
    EXPECT_OK(cio_await(b, NULL));
    EXPECT_OK(cio_await(c, NULL));
    EXPECT_STR_EQ("worker-7", cio_task_name(c)); /* kept after the end */
    cio_future_unref(a);
    cio_future_unref(b);
    cio_future_unref(c);
    return 0;
}

TEST(task_names_default_and_set)
{
    EXPECT_OK(cio_run(main_names, NULL, NULL));
}

static int main_all_tasks(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    cio_task *out[8] = {0};
    EXPECT_EQ(1, cio_all_tasks(loop, out, 8)); /* main itself */
    EXPECT_PTR_EQ(cio_current_task(), out[0]);
    cio_future_unref(out[0]);

    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(yielder, "x");
    memset(out, 0, sizeof out);
    size_t n = cio_all_tasks(loop, out, 8);
    EXPECT_EQ(4, n);
    for (int i = 0; i < 3; i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++)
            found |= out[j] == t[i];
        EXPECT_TRUE(found);
    }
    for (size_t j = 0; j < n; j++)
        cio_future_unref(out[j]);

    /* a short array: fills max, returns the total */
    memset(out, 0, sizeof out);
    EXPECT_EQ(4, cio_all_tasks(loop, out, 2));
    EXPECT_TRUE(out[0] && out[1] && !out[2]);
    cio_future_unref(out[0]);
    cio_future_unref(out[1]);
    EXPECT_EQ(4, cio_all_tasks(loop, NULL, 0));

    for (int i = 0; i < 3; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    /* ended tasks are not listed */
    EXPECT_EQ(1, cio_all_tasks(loop, NULL, 0));
    return 0;
}

TEST(all_tasks_lists_live_tasks)
{
    EXPECT_OK(cio_run(main_all_tasks, NULL, NULL));
}

/* ---- -EPERM outside a task ------------------------------------------------------ */

static int work_noop(void *arg, void **result) { return 0; }
static int gen_noop(cio_gen *g, void *arg) { return 0; }

TEST(suspending_calls_outside_a_task_return_eperm)
{
    cio_loop *loop = task_loop_new();
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(loop, &f));
    void *v = V(1);
    EXPECT_ERR(-EPERM, cio_await(f, &v));
    EXPECT_PTR_EQ(V(1), v);
    EXPECT_ERR(-EPERM, cio_wait_for(f, 1.0, NULL));
    EXPECT_ERR(-EPERM, cio_shield(f, NULL));
    EXPECT_ERR(-EPERM, cio_gather(&f, 1, 0, NULL));
    EXPECT_ERR(-EPERM, cio_wait(&f, 1, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL));
    EXPECT_ERR(-EPERM, cio_sleep(0));
    EXPECT_ERR(-EPERM, cio_sleep(1));
    EXPECT_ERR(-EPERM, cio_yield());
    EXPECT_ERR(-EPERM, cio_to_thread(work_noop, NULL, NULL));
    cio_scope s;
    EXPECT_ERR(-EPERM, cio_timeout_begin(&s, 1));
    EXPECT_ERR(-EPERM, cio_deadline_begin(&s, 1));
    EXPECT_ERR(-EPERM, cio_shield_begin(&s));
    cio_task_group *g = NULL;
    EXPECT_ERR(-EPERM, cio_task_group_begin(&g));
    EXPECT_ERR(-EPERM, cio_spawn(noop, NULL, NULL));
    cio_as_completed *it = NULL;
    EXPECT_OK(cio_as_completed_new(loop, &f, 1, CIO_NO_TIMEOUT, &it));
    cio_future *d = NULL;
    EXPECT_ERR(-EPERM, cio_as_completed_next(it, &d));
    EXPECT_OK(cio_as_completed_free(it));
    cio_gen *gen = NULL;
    int rc = cio_gen_new(NULL, gen_noop, NULL, &gen);
    if (rc == 0) {
        EXPECT_ERR(-EPERM, cio_gen_next(gen, &v));
        /* closing an unstarted generator need not suspend */
        EXPECT_OK(cio_gen_close(gen));
    } else {
        EXPECT_ERR(-EPERM, rc);
    }
    EXPECT_PTR_EQ(NULL, cio_current_task());
    /* nothing was done: the future is still pending */
    EXPECT_FALSE(cio_future_is_done(f));
    cio_future_unref(f);
    finish_loop(loop);
    EXPECT_NO_REPORTS();
}

/* ---- hand-made loops ------------------------------------------------------------ */

TEST(task_new_before_the_loop_runs)
{
    cio_loop *loop = task_loop_new();
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, NULL, child_sleeps_then_returns, V(3), &t));
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_loop_run_until_complete(loop, t));
    EXPECT_PTR_EQ(V(3), test_peek_result(t));
    cio_future_unref(t);
    finish_loop(loop);
    EXPECT_NO_REPORTS();
}

TEST(task_new_rejects_bad_arguments)
{
    cio_loop *loop = task_loop_new();
    cio_task *t = NULL;
    EXPECT_ERR(-EINVAL, cio_task_new(NULL, NULL, noop, NULL, &t));
    EXPECT_ERR(-EINVAL, cio_task_new(loop, NULL, NULL, NULL, &t));
    finish_loop(loop);
}

static void task_done_cb(cio_future *f, void *arg)
{
    LOG("done-cb(%s);", cio_err_name(cio_future_error(f)));
}

static int main_done_callbacks(void *arg, void **result)
{
    cio_task *t = spawn(child_returns_error, V(-EIO));
    EXPECT_OK(cio_future_add_done_callback(t, task_done_cb, NULL));
    EXPECT_ERR(-EIO, cio_await(t, NULL));
    LOG("awaited;");
    /* the callback runs through the queue */
    EXPECT_OK(cio_yield());
    cio_future_unref(t);
    return 0;
}

TEST(task_done_callbacks_run_through_the_queue)
{
    EXPECT_OK(cio_run(main_done_callbacks, NULL, NULL));
    /* Both the callback and main's wakeup are scheduled when the task ends;
     * the callback was added first. */
    EXPECT_LOG("done-cb(EIO);awaited;");
}

/* ---- results and errors nobody retrieved ------------------------------------------- */

static int child_returns_malloced(void *arg, void **result)
{
    char *s = malloc(16);
    strcpy(s, "owned");
    *result = s;
    return 0;
}

static int main_result_ownership(void *arg, void **result)
{
    cio_task *t = spawn(child_returns_malloced, NULL);
    void *v = NULL;
    EXPECT_OK(cio_await(t, &v));
    EXPECT_STR_EQ("owned", v);
    /* the task owns no destructor for it: take it out and free it here */
    void *s = NULL;
    EXPECT_OK(cio_future_take_result(t, &s));
    EXPECT_PTR_EQ(v, s);
    cio_future_unref(t);
    free(s); /* a double free (ASan) would mean the task freed it too */
    return 0;
}

TEST(task_result_ownership)
{
    EXPECT_OK(cio_run(main_result_ownership, NULL, NULL));
}

static int main_unretrieved_error(void *arg, void **result)
{
    capture_reports_here();
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "forgotten-child";
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, child_returns_error, V(-EIO), &t));
    yield_n(4);
    EXPECT_TRUE(cio_future_is_done(t));
    /* we still hold a reference: nothing reported yet */
    EXPECT_EQ(0, report_count());
    cio_future_unref(t);
    EXPECT_REPORT("forgotten-child", NULL);
    return 0;
}

TEST(unretrieved_task_error_reported_when_last_reference_dropped)
{
    EXPECT_OK(cio_run(main_unretrieved_error, NULL, NULL));
    EXPECT_REPORTS(1);
}

static int main_unretrieved_no_ref(void *arg, void **result)
{
    capture_reports_here();
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "fire-and-forget";
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, child_returns_error, V(-EIO), NULL));
    yield_n(4);
    /* the root scope dropped the only reference when the task ended */
    EXPECT_REPORT("fire-and-forget", NULL);
    return 0;
}

TEST(unretrieved_error_of_unreferenced_task_reported)
{
    EXPECT_OK(cio_run(main_unretrieved_no_ref, NULL, NULL));
    EXPECT_REPORTS(1);
}

static int main_retrieved_no_report(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t = spawn(child_returns_error, V(-EIO));
    yield_n(4);
    EXPECT_ERR(-EIO, cio_future_error(t));
    cio_future_unref(t);
    return 0;
}

TEST(retrieved_task_error_not_reported)
{
    EXPECT_OK(cio_run(main_retrieved_no_report, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- many tasks ---------------------------------------------------------------- */

#define MANY 10000
static int many_done;

static int many_sleeper(void *arg, void **result)
{
    /* deadlines spread over a few milliseconds, several share one */
    EXPECT_OK(cio_sleep(0.001 * (double)(U(arg) % 7)));
    many_done++;
    return 0;
}

static int main_many(void *arg, void **result)
{
    for (uintptr_t i = 0; i < MANY; i++)
        EXPECT_OK(cio_spawn(many_sleeper, V(i), NULL));
    EXPECT_EQ(MANY + 1, cio_all_tasks(cio_current_loop(), NULL, 0));
    while (many_done < MANY)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(1, cio_all_tasks(cio_current_loop(), NULL, 0));
    return 0;
}

TEST(ten_thousand_concurrent_sleeping_tasks)
{
    EXPECT_OK(cio_run(main_many, NULL, NULL));
    EXPECT_EQ(MANY, many_done);
}

/* ---- an owned result with a destructor ------------------------------------------ */

static int freed_results;
static void free_result(void *p)
{
    freed_results++;
    free(p);
}

static int owned_result(void *arg, void **result)
{
    EXPECT_OK(cio_task_set_result_free(free_result));
    int *v = malloc(sizeof *v);
    *v = 42;
    *result = v;
    return arg ? -EIO : 0;
}

static int main_owned(void *arg, void **result)
{
    cio_task *kept, *dropped, *failed, *stolen;
    EXPECT_OK(cio_spawn(owned_result, NULL, &kept));
    EXPECT_OK(cio_spawn(owned_result, NULL, &dropped));
    EXPECT_OK(cio_spawn(owned_result, V(1), &failed));
    EXPECT_OK(cio_spawn(owned_result, NULL, &stolen));
    void *v;
    EXPECT_OK(cio_await(kept, &v));
    EXPECT_EQ(42, *(int *)v);
    EXPECT_OK(cio_await(stolen, NULL));
    void *mine;
    EXPECT_OK(cio_future_take_result(stolen, &mine));
    EXPECT_ERR(-EIO, cio_await(failed, NULL));
    EXPECT_EQ(1, freed_results); /* the failed task's, at once */
    cio_future_unref(dropped);   /* never awaited: freed when it ends */
    cio_future_unref(failed);
    cio_future_unref(stolen);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_yield());
    EXPECT_EQ(2, freed_results);
    cio_future_unref(kept);
    EXPECT_EQ(3, freed_results);
    free(mine); /* the stolen one is ours */
    return 0;
}

TEST(task_result_destructor_frees_owned_results)
{
    freed_results = 0;
    EXPECT_OK(cio_run(main_owned, NULL, NULL));
    EXPECT_EQ(3, freed_results);
    EXPECT_ERR(-EPERM, cio_task_set_result_free(free_result)); /* outside a task */
}

int main(int argc, char **argv) { return test_main(argc, argv); }
