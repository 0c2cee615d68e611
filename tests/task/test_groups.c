/* Task groups (asyncio.TaskGroup): waiting for every child, the first
 * failure cancelling the siblings (and the owner, if it is still in the
 * group's body), later failures reported rather than lost, the owner
 * cancelled while waiting, spawning into a closing group. */
#include "task/task_util.h"

#define HOUR 3600.0

static int child_ok(void *arg, void **result)
{
    EXPECT_OK(cio_sleep(0.001 * (double)(U(arg) % 3)));
    LOG("ok%u;", (unsigned)U(arg));
    *result = arg;
    return 0;
}

static int child_fails(void *arg, void **result)
{
    EXPECT_OK(cio_yield());
    LOG("fail;");
    return (int)(intptr_t)arg;
}

static int child_fails_at_once(void *arg, void **result)
{
    LOG("fail%d;", -(int)(intptr_t)arg);
    return (int)(intptr_t)arg;
}

static int child_sleeps(void *arg, void **result)
{
    int rc = cio_sleep(HOUR);
    LOG("%s-%s;", (const char *)arg, cio_err_name(rc));
    return rc;
}

/* Spawns a named child; returns a reference the caller drops. */
static cio_task *group_spawn_ref(cio_task_group *g, const char *name, cio_task_fn fn, void *arg)
{
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = name;
    cio_task *t = NULL;
    EXPECT_OK(cio_task_group_spawn(g, &o, fn, arg, &t));
    return t;
}

/* Spawns a named child, keeping no reference. */
static void group_spawn_named(cio_task_group *g, const char *name, cio_task_fn fn, void *arg)
{
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = name;
    EXPECT_OK(cio_task_group_spawn(g, &o, fn, arg, NULL));
}

/* ---- success ---------------------------------------------------------------------- */

static int main_all_succeed(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    cio_task *t[3];
    for (uintptr_t i = 0; i < 3; i++)
        EXPECT_OK(cio_task_group_spawn(g, NULL, child_ok, V(i + 1), &t[i]));
    EXPECT_OK(cio_task_group_spawn(g, NULL, child_ok, V(9), NULL)); /* no reference */
    for (int i = 0; i < 3; i++)
        EXPECT_FALSE(cio_future_is_done(t[i])); /* not started inside spawn */
    EXPECT_OK(cio_task_group_end(g));
    for (uintptr_t i = 0; i < 3; i++) {
        EXPECT_TRUE(cio_future_is_done(t[i]));
        EXPECT_PTR_EQ(V(i + 1), test_peek_result(t[i]));
        cio_future_unref(t[i]);
    }
    return 0;
}

TEST(group_all_children_succeed)
{
    EXPECT_OK(cio_run(main_all_succeed, NULL, NULL));
    /* sleeps of 1, 2, 0, 0 ms: 3 and 9 wake first (spawn order), then 1, 2 */
    EXPECT_LOG("ok3;ok9;ok1;ok2;");
    EXPECT_NO_REPORTS();
}

static int main_no_children(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    EXPECT_OK(cio_task_group_end(g));
    EXPECT_OK(cio_yield());
    return 0;
}

TEST(group_with_no_children)
{
    EXPECT_OK(cio_run(main_no_children, NULL, NULL));
}

/* ---- failures --------------------------------------------------------------------- */

static int main_one_fails(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    cio_task *s1 = group_spawn_ref(g, "s1", child_sleeps, "s1");
    cio_task *bad = group_spawn_ref(g, "bad", child_fails, V(-EIO));
    cio_task *s2 = group_spawn_ref(g, "s2", child_sleeps, "s2");
    EXPECT_ERR(-EIO, cio_task_group_end(g));
    LOG("wait-returned;");
    EXPECT_TRUE(cio_future_is_cancelled(s1));
    EXPECT_TRUE(cio_future_is_cancelled(s2));
    EXPECT_FALSE(cio_future_is_cancelled(bad));
    cio_future_unref(s1);
    cio_future_unref(s2);
    cio_future_unref(bad);
    return 0;
}

TEST(group_one_child_fails_siblings_cancelled_wait_returns_the_error)
{
    EXPECT_OK(cio_run(main_one_fails, NULL, NULL));
    EXPECT_LOG("fail;s1-ECANCELED;s2-ECANCELED;wait-returned;");
    EXPECT_NO_REPORTS(); /* the error wait returned counts as retrieved */
}

static int fails_whatever(void *arg, void **result)
{
    int rc = cio_sleep(HOUR);
    LOG("second-%s;", cio_err_name(rc));
    return (int)(intptr_t)arg; /* fails with its own error, cancelled or not */
}

static int main_two_fail(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "second-bad", fails_whatever, V(-ENOENT));
    group_spawn_named(g, "first-bad", child_fails_at_once, V(-EIO));
    group_spawn_named(g, "sleeper", child_sleeps, "sleeper");
    EXPECT_ERR(-EIO, cio_task_group_end(g));
    return 0;
}

TEST(group_two_failures_first_returned_second_reported)
{
    EXPECT_OK(cio_run(main_two_fail, NULL, NULL));
    EXPECT_TRUE(strstr(order_log, "fail5;") == order_log);
    EXPECT_TRUE(strstr(order_log, "second-ECANCELED;") != NULL);
    EXPECT_REPORTS(1);
    EXPECT_REPORT("second-bad", "ENOENT");
}

static int cancelled_then_pipe(void *arg, void **result)
{
    int rc = cio_sleep(HOUR);
    LOG("c-%s;", cio_err_name(rc));
    return -EPIPE;
}

static int main_fail_in_cleanup(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "cleanup-fails", cancelled_then_pipe, NULL);
    group_spawn_named(g, "first", child_fails, V(-EIO));
    EXPECT_ERR(-EIO, cio_task_group_end(g));
    return 0;
}

TEST(group_child_failing_during_cancellation_is_reported)
{
    EXPECT_OK(cio_run(main_fail_in_cleanup, NULL, NULL));
    EXPECT_LOG("fail;c-ECANCELED;");
    EXPECT_REPORTS(1);
    EXPECT_REPORT("cleanup-fails", "EPIPE");
}

/* Sleeps "forever", but gives up after 5 s so that a missing cancellation
 * fails the case quickly (with -ETIMEDOUT) instead of by the harness's
 * timeout. The passing path never depends on it. */
static int bounded_sleep(void)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 5.0));
    int rc = cio_sleep(HOUR);
    cio_scope_end(&s);
    return rc;
}

/* ---- the owner ---------------------------------------------------------------------- */

static int owner_waits(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "c1", child_sleeps, "c1");
    group_spawn_named(g, "c2", child_sleeps, "c2");
    int rc = cio_task_group_end(g);
    LOG("wait-%s;", cio_err_name(rc));
    return rc;
}

static int main_owner_cancelled(void *arg, void **result)
{
    capture_reports_here();
    cio_task *owner = spawn(owner_waits, NULL);
    yield_n(2); /* the owner waits, its children sleep */
    EXPECT_OK(cio_future_cancel(owner));
    EXPECT_ERR(-ECANCELED, cio_await(owner, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(owner));
    cio_future_unref(owner);
    return 0;
}

TEST(group_owner_cancelled_while_waiting)
{
    EXPECT_OK(cio_run(main_owner_cancelled, NULL, NULL));
    /* children cancelled and waited for before wait returns */
    EXPECT_LOG("c1-ECANCELED;c2-ECANCELED;wait-ECANCELED;");
    EXPECT_NO_REPORTS();
}

static int owner_in_body(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "failing", child_fails, V(-EIO));
    group_spawn_named(g, "sib", child_sleeps, "sib");
    /* still in the group's body, suspended elsewhere: the failure cancels
     * the owner too (asyncio) */
    int rc = bounded_sleep();
    LOG("owner-sleep-%s;", cio_err_name(rc));
    cio_task *late = NULL;
    EXPECT_ERR(-EBUSY, cio_task_group_spawn(g, NULL, child_ok, V(1), &late));
    EXPECT_PTR_EQ(NULL, late);
    rc = cio_task_group_end(g);
    LOG("wait-%s;", cio_err_name(rc));
    return rc;
}

static int main_owner_in_body(void *arg, void **result)
{
    capture_reports_here();
    cio_task *owner = spawn(owner_in_body, NULL);
    EXPECT_ERR(-EIO, cio_await(owner, NULL));
    cio_future_unref(owner);
    return 0;
}

TEST(group_failure_cancels_the_owner_suspended_in_the_body)
{
    EXPECT_OK(cio_run(main_owner_in_body, NULL, NULL));
    EXPECT_TRUE(strstr(order_log, "fail;") != NULL);
    EXPECT_TRUE(strstr(order_log, "owner-sleep-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "sib-ECANCELED;") != NULL);
    /* wait returns the child's error, not the owner's cancellation */
    EXPECT_TRUE(strstr(order_log, "wait-EIO;") != NULL);
    EXPECT_NO_REPORTS();
}

static int owner_spawns_late(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "failing", child_fails, V(-EIO));
    /* let the child fail; these yields may fail (the group may cancel its
     * owner), which is not what this case is about */
    for (int i = 0; i < 3; i++)
        (void)cio_yield();
    EXPECT_TRUE(strstr(order_log, "fail;") != NULL);
    cio_task *late = V(1);
    EXPECT_ERR(-EBUSY, cio_task_group_spawn(g, NULL, child_ok, V(1), &late));
    EXPECT_PTR_EQ(NULL, late);
    EXPECT_ERR(-EIO, cio_task_group_end(g));
    return 0;
}

TEST(group_spawn_after_a_failure_is_ebusy)
{
    EXPECT_OK(cio_run(owner_spawns_late, NULL, NULL));
    EXPECT_LOG("fail;"); /* the late child never ran */
}

static int owner_goes_on(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "failing", child_fails, V(-EIO));
    EXPECT_ERR(-ECANCELED, bounded_sleep()); /* cancelled by the group */
    EXPECT_ERR(-EIO, cio_task_group_end(g));
    /* asyncio: TaskGroup uncancels the parent it cancelled on its own
     * behalf, so the owner can go on (handle the error, suspend) */
    int rc = cio_sleep(0.001);
    LOG("after-%s;", cio_err_name(rc));
    return 0;
}

TEST(group_owner_cancelled_by_the_group_is_uncancelled_after_wait)
{
    EXPECT_OK(cio_run(owner_goes_on, NULL, NULL));
    EXPECT_LOG("fail;after-OK;");
}

static int spawns_sibling(void *arg, void **result)
{
    cio_task_group *g = arg;
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_task_group_spawn(g, NULL, child_ok, V(7), NULL));
    LOG("spawned-sibling;");
    return 0;
}

static int main_child_spawns(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    EXPECT_OK(cio_task_group_spawn(g, NULL, spawns_sibling, g, NULL));
    EXPECT_OK(cio_task_group_end(g)); /* waits for the late sibling too */
    LOG("waited;");
    return 0;
}

TEST(group_child_spawns_a_sibling_and_wait_covers_it)
{
    EXPECT_OK(cio_run(main_child_spawns, NULL, NULL));
    EXPECT_LOG("spawned-sibling;ok7;waited;");
}

/* Between the last child's end and the owner's return from the end, a
 * callback spawns into the group. The end has seen the last child end, so
 * the group is finished (asyncio's "TaskGroup is finished"): the spawn is
 * refused, rather than accepted into a group the end then frees under the
 * new child's feet. */
static int late_spawn_rc = 1;

static void spawn_into_finished(void *arg)
{
    cio_task *late = V(1);
    late_spawn_rc = cio_task_group_spawn(arg, NULL, child_ok, V(5), &late);
    EXPECT_PTR_EQ(NULL, late);
    LOG("late-spawn-%s;", cio_err_name(late_spawn_rc));
}

static int last_child_queues_a_spawn(void *arg, void **result)
{
    EXPECT_OK(cio_yield()); /* the owner is in cio_task_group_end */
    /* Queued before this child ends, so it runs before the owner resumes. */
    EXPECT_OK(cio_call_soon(cio_current_loop(), spawn_into_finished, arg));
    LOG("last;");
    return 0;
}

static int main_spawn_into_finished(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    EXPECT_OK(cio_task_group_spawn(g, NULL, last_child_queues_a_spawn, g, NULL));
    EXPECT_OK(cio_task_group_end(g));
    LOG("waited;");
    EXPECT_OK(cio_sleep(0.005)); /* a wrongly accepted child would run now */
    return 0;
}

TEST(group_spawn_after_the_end_saw_the_last_child_is_ebusy)
{
    EXPECT_OK(cio_run(main_spawn_into_finished, NULL, NULL));
    EXPECT_ERR(-EBUSY, late_spawn_rc);
    EXPECT_LOG("last;late-spawn-EBUSY;waited;");
}

static int main_group_cancel(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "a", child_sleeps, "a");
    group_spawn_named(g, "b", child_sleeps, "b");
    EXPECT_OK(cio_yield());
    cio_task_group_cancel(g);
    /* children that end cancelled are not failures (asyncio ignores their
     * CancelledError): the group ends without error */
    EXPECT_OK(cio_task_group_end(g));
    EXPECT_OK(cio_yield()); /* the owner is not cancelled */
    return 0;
}

TEST(group_cancel_cancels_children_without_failing)
{
    EXPECT_OK(cio_run(main_group_cancel, NULL, NULL));
    EXPECT_LOG("a-ECANCELED;b-ECANCELED;");
    EXPECT_NO_REPORTS();
}

static int inner_group_owner(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "inner-bad", child_fails, V(-ECONNRESET));
    int rc = cio_task_group_end(g);
    LOG("inner-wait-%s;", cio_err_name(rc));
    return rc;
}

static int main_nested(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *outer = NULL;
    EXPECT_OK(cio_task_group_begin(&outer));
    group_spawn_named(outer, "outer-sleeper", child_sleeps, "outer-sleeper");
    group_spawn_named(outer, "inner-owner", inner_group_owner, NULL);
    EXPECT_ERR(-ECONNRESET, cio_task_group_end(outer));
    return 0;
}

TEST(nested_groups_propagate_the_failure_outward)
{
    EXPECT_OK(cio_run(main_nested, NULL, NULL));
    EXPECT_LOG("fail;inner-wait-ECONNRESET;outer-sleeper-ECANCELED;");
    EXPECT_NO_REPORTS();
}

static int main_owner_awaits_child(void *arg, void **result)
{
    /* a group waits for children that await each other */
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    cio_task *a = NULL;
    EXPECT_OK(cio_task_group_spawn(g, NULL, child_ok, V(1), &a));
    EXPECT_OK(cio_task_group_spawn(g, NULL, child_sleeps, "never", NULL));
    void *v = NULL;
    EXPECT_OK(cio_await(a, &v)); /* the owner may await a child in the body */
    EXPECT_PTR_EQ(V(1), v);
    cio_future_unref(a);
    cio_task_group_cancel(g);
    EXPECT_OK(cio_task_group_end(g));
    return 0;
}

TEST(group_owner_awaits_a_child_in_the_body)
{
    EXPECT_OK(cio_run(main_owner_awaits_child, NULL, NULL));
    EXPECT_LOG("ok1;never-ECANCELED;");
}

/* ---- an owner that returns without waiting ------------------------------------------ */

static cio_task *late_child;
static int owner_returned;

static int child_fails_when_told(void *arg, void **result)
{
    int rc = cio_await(arg, NULL);
    LOG("child-woke-%s;", cio_err_name(rc));
    return -EIO;
}

static int forgetful_owner(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    late_child = group_spawn_ref(g, "late-failer", child_fails_when_told, arg);
    EXPECT_OK(cio_yield()); /* the child starts and awaits the future */
    LOG("owner-returns;");
    owner_returned = 1;
    return 0; /* no cio_task_group_end: the bug this case is about */
}

static int stranger(void *arg, void **result)
{
    int rc = cio_await(arg, NULL);
    LOG("stranger-%s;", cio_err_name(rc));
    return rc;
}

static int main_owner_returns_open(void *arg, void **result)
{
    capture_reports_here();
    cio_future *tell_child = new_future(), *tell_stranger = new_future();
    cio_task *owner = spawn_named("forgetful-owner", forgetful_owner, tell_child);
    for (int i = 0; i < 1000 && !owner_returned; i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(owner_returned);
    /* A task started now may take the owner's stack slot, where the
     * owner's task state lived; the group must not point there. */
    cio_task *other = spawn_named("stranger", stranger, tell_stranger);
    yield_n(2); /* it awaits its future */
    EXPECT_FALSE(cio_future_is_done(other));
    /* The child fails now, after its owner's body returned. */
    EXPECT_OK(cio_future_set_result(tell_child, NULL, NULL));
    EXPECT_ERR(-EIO, cio_await(late_child, NULL));
    yield_n(2);
    EXPECT_FALSE(cio_future_is_done(other)); /* not interrupted by someone else's group */
    EXPECT_OK(cio_future_set_result(tell_stranger, NULL, NULL));
    EXPECT_OK(cio_await(other, NULL));
    /* The group's failure is the owner's outcome, as in asyncio. */
    EXPECT_ERR(-EIO, cio_await(owner, NULL));
    cio_future_unref(late_child);
    cio_future_unref(other);
    cio_future_unref(owner);
    cio_future_unref(tell_child);
    cio_future_unref(tell_stranger);
    return 0;
}

TEST(group_left_open_is_waited_for_not_a_strangers_problem)
{
    EXPECT_OK(cio_run(main_owner_returns_open, NULL, NULL));
    EXPECT_LOG("owner-returns;child-woke-OK;stranger-OK;");
    EXPECT_REPORTS(1);
    EXPECT_REPORT("forgetful-owner", "task group still open");
}

static int failing_forgetful_owner(void *arg, void **result)
{
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    group_spawn_named(g, "sleeper", child_sleeps, "sleeper");
    cio_task_group *g2 = NULL; /* a second one, waited for: not reported */
    EXPECT_OK(cio_task_group_begin(&g2));
    group_spawn_named(g2, "quick", child_ok, V(3));
    EXPECT_OK(cio_task_group_end(g2));
    EXPECT_OK(cio_yield());
    LOG("owner-fails;");
    return -EPIPE; /* fails with its group open */
}

static int main_failing_owner_open(void *arg, void **result)
{
    capture_reports_here();
    cio_task *owner = spawn_named("failing-owner", failing_forgetful_owner, NULL);
    EXPECT_ERR(-EPIPE, cio_await(owner, NULL));
    cio_future_unref(owner);
    return 0;
}

TEST(group_left_open_by_a_failing_owner_cancels_its_children)
{
    EXPECT_OK(cio_run(main_failing_owner_open, NULL, NULL));
    EXPECT_LOG("ok3;owner-fails;sleeper-ECANCELED;");
    EXPECT_REPORTS(1);
    EXPECT_REPORT("failing-owner", "cancelling");
}

int main(int argc, char **argv) { return test_main(argc, argv); }
