/* Movable deadline scopes (asyncio's Timeout.when / Timeout.reschedule):
 * read the deadline, move it later or earlier, disable it, move it into
 * the past, from the scope's own task or from another task or a callback
 * while that task is suspended. Outcomes are decided by causality: the
 * loop clock is read once per iteration, so a task and the one that runs
 * after it in the same iteration see the same time; no case depends on how
 * long a step takes (the one lower bound on a sleep is one the loop keeps
 * however loaded the machine is). */
#include <math.h>

#include "task/task_util.h"

#define HOUR 3600.0

static cio_scope *g_scope; /* the scope of the task under test */

static double now(void) { return cio_loop_time(cio_current_loop()); }

/* ---- reading the deadline ------------------------------------------------------ */

static int main_deadline_reads(void *arg, void **result)
{
    cio_scope s, sh, inf;
    double t = now();
    EXPECT_OK(cio_timeout_begin(&s, 5));
    EXPECT_TRUE(fabs(cio_scope_deadline(&s) - (t + 5)) < 1e-6);
    EXPECT_OK(cio_deadline_begin(&inf, INFINITY));
    EXPECT_TRUE(isinf(cio_scope_deadline(&inf)));
    EXPECT_OK(cio_shield_begin(&sh));
    EXPECT_TRUE(isinf(cio_scope_deadline(&sh))); /* a shield has none */
    EXPECT_OK(cio_scope_end(&sh));
    EXPECT_OK(cio_scope_end(&inf));
    EXPECT_OK(cio_scope_end(&s));
    /* still readable once ended */
    EXPECT_TRUE(fabs(cio_scope_deadline(&s) - (t + 5)) < 1e-6);
    EXPECT_TRUE(isinf(cio_scope_deadline(NULL)));
    return 0;
}

TEST(scope_deadline_reads_the_absolute_deadline)
{
    EXPECT_OK(cio_run(main_deadline_reads, NULL, NULL));
}

/* ---- later ---------------------------------------------------------------------- */

static int main_extend_self(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.002));
    double when = now() + HOUR;
    EXPECT_OK(cio_scope_reschedule(&s, when));
    EXPECT_TRUE(fabs(cio_scope_deadline(&s) - when) < 1e-6);
    double t0 = now();
    EXPECT_OK(cio_sleep(0.02)); /* outlives the old deadline */
    EXPECT_TRUE(now() - t0 >= 0.02 - 1e-6);
    EXPECT_FALSE(cio_scope_is_expired(&s));
    EXPECT_OK(cio_scope_end(&s));
    return 0;
}

TEST(reschedule_later_by_the_task_lets_a_sleep_complete)
{
    EXPECT_OK(cio_run(main_extend_self, NULL, NULL));
}

static int sleeps_in_short_scope(void *arg, void **result)
{
    cio_scope s;
    g_scope = &s;
    EXPECT_OK(cio_timeout_begin(&s, 0.002));
    double t0 = now();
    int rc = cio_sleep(0.05);
    /* the old deadline's timer is gone: the sleep neither failed nor
     * returned early */
    EXPECT_TRUE(now() - t0 >= 0.05 - 1e-6);
    LOG("sleep-%s;", cio_err_name(rc));
    LOG("end-%s;", cio_err_name(cio_scope_end(&s)));
    g_scope = NULL;
    return rc;
}

static int main_extend_other(void *arg, void **result)
{
    cio_task *t = spawn(sleeps_in_short_scope, NULL);
    /* t runs first in the next iteration and suspends in its sleep; this
     * task runs after it in the same iteration, with the same loop time, so
     * the 2 ms deadline cannot have passed yet */
    EXPECT_OK(cio_yield());
    EXPECT_TRUE(g_scope != NULL);
    EXPECT_OK(cio_scope_reschedule(g_scope, now() + HOUR));
    LOG("extended;");
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(reschedule_later_by_another_task_while_suspended)
{
    EXPECT_OK(cio_run(main_extend_other, NULL, NULL));
    EXPECT_LOG("extended;sleep-OK;end-OK;");
}

/* ---- earlier, past, disabled --------------------------------------------------------- */

static int awaits_in_hour_scope(void *arg, void **result)
{
    cio_scope s;
    g_scope = &s;
    EXPECT_OK(cio_timeout_begin(&s, HOUR));
    int rc = cio_await(arg, NULL);
    LOG("await-%s;", cio_err_name(rc));
    LOG("expired-%d;", cio_scope_is_expired(&s));
    LOG("end-%s;", cio_err_name(cio_scope_end(&s)));
    g_scope = NULL;
    return 0;
}

static int main_earlier(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_in_hour_scope, f);
    EXPECT_OK(cio_yield());
    /* a millisecond from now instead of an hour: the wait times out (an
     * hour-long one would end the test by its time limit) */
    EXPECT_OK(cio_scope_reschedule(g_scope, now() + 0.001));
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_FALSE(cio_future_is_done(f)); /* a deadline cancels nothing it awaits */
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(reschedule_earlier_times_out_a_wait)
{
    EXPECT_OK(cio_run(main_earlier, NULL, NULL));
    EXPECT_LOG("await-ETIMEDOUT;expired-1;end-ETIMEDOUT;");
}

static int main_past(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_in_hour_scope, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_scope_reschedule(g_scope, now() - 1));
    LOG("moved;");
    /* expired at once: refused from now on, as asyncio refuses to move an
     * expiring Timeout */
    EXPECT_TRUE(cio_scope_is_expired(g_scope));
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(g_scope, now() + HOUR));
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(reschedule_into_the_past_expires_the_suspension_in_progress)
{
    EXPECT_OK(cio_run(main_past, NULL, NULL));
    EXPECT_LOG("moved;await-ETIMEDOUT;expired-1;end-ETIMEDOUT;");
}

static void past_from_callback(void *arg)
{
    (void)arg;
    EXPECT_OK(cio_scope_reschedule(g_scope, -INFINITY));
    LOG("callback;");
}

static int main_past_callback(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_in_hour_scope, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_call_soon(cio_current_loop(), past_from_callback, NULL));
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(reschedule_from_a_callback)
{
    EXPECT_OK(cio_run(main_past_callback, NULL, NULL));
    EXPECT_LOG("callback;await-ETIMEDOUT;expired-1;end-ETIMEDOUT;");
}

static int main_past_self(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, HOUR));
    EXPECT_OK(cio_scope_reschedule(&s, now() - 1));
    EXPECT_TRUE(cio_scope_is_expired(&s));
    EXPECT_ERR(-ETIMEDOUT, cio_yield()); /* the next suspension */
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    return 0;
}

TEST(reschedule_into_the_past_by_the_task_fails_its_next_suspension)
{
    EXPECT_OK(cio_run(main_past_self, NULL, NULL));
}

static int main_disable(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.002));
    EXPECT_OK(cio_scope_reschedule(&s, INFINITY));
    EXPECT_TRUE(isinf(cio_scope_deadline(&s)));
    EXPECT_OK(cio_sleep(0.02));
    EXPECT_FALSE(cio_scope_is_expired(&s));
    /* and back on: a deadline can be set again after being removed */
    EXPECT_OK(cio_scope_reschedule(&s, now() + 0.001));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(HOUR));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));

    /* disabled by another task while this one waits */
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_in_hour_scope, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_scope_reschedule(g_scope, INFINITY));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(reschedule_to_infinity_disables_the_deadline)
{
    EXPECT_OK(cio_run(main_disable, NULL, NULL));
    EXPECT_LOG("await-OK;expired-0;end-OK;");
}

/* ---- nesting and shields ------------------------------------------------------------ */

static int awaits_in_nested(void *arg, void **result)
{
    cio_scope outer, inner;
    EXPECT_OK(cio_timeout_begin(&outer, HOUR));
    EXPECT_OK(cio_timeout_begin(&inner, HOUR));
    g_scope = &outer;
    int rc = cio_await(arg, NULL);
    LOG("await-%s;", cio_err_name(rc));
    EXPECT_ERR(-EINVAL, cio_scope_end(&outer)); /* the inner one ends first */
    LOG("inner-%d-%s;", cio_scope_is_expired(&inner), cio_err_name(cio_scope_end(&inner)));
    LOG("outer-%d-%s;", cio_scope_is_expired(&outer), cio_err_name(cio_scope_end(&outer)));
    g_scope = NULL;
    return 0;
}

static int main_nested(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_in_nested, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_scope_reschedule(g_scope, now() - 1)); /* the outer one */
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(rescheduled_outer_scope_expires_alone_and_the_order_stays)
{
    EXPECT_OK(cio_run(main_nested, NULL, NULL));
    EXPECT_LOG("await-ETIMEDOUT;inner-0-OK;outer-1-ETIMEDOUT;");
}

static int main_inner_later(void *arg, void **result)
{
    /* an inner scope moved later than its outer one: the outer still binds */
    cio_scope outer, inner;
    EXPECT_OK(cio_timeout_begin(&outer, 0.001));
    EXPECT_OK(cio_timeout_begin(&inner, 0.001));
    EXPECT_OK(cio_scope_reschedule(&inner, INFINITY));
    EXPECT_ERR(-ETIMEDOUT, cio_sleep(HOUR));
    EXPECT_FALSE(cio_scope_is_expired(&inner));
    EXPECT_OK(cio_scope_end(&inner));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&outer));
    return 0;
}

TEST(rescheduled_inner_scope_cannot_outlast_the_outer)
{
    EXPECT_OK(cio_run(main_inner_later, NULL, NULL));
}

static int awaits_in_shield(void *arg, void **result)
{
    cio_scope s, sh;
    EXPECT_OK(cio_timeout_begin(&s, HOUR));
    g_scope = &s;
    EXPECT_OK(cio_shield_begin(&sh));
    int rc = cio_await(arg, NULL);
    LOG("await-%s;", cio_err_name(rc));
    EXPECT_OK(cio_scope_end(&sh));
    LOG("yield-%s;", cio_err_name(cio_yield())); /* held back until here */
    LOG("end-%s;", cio_err_name(cio_scope_end(&s)));
    g_scope = NULL;
    return 0;
}

static int main_shielded(void *arg, void **result)
{
    cio_future *f = new_future();
    cio_task *t = spawn(awaits_in_shield, f);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_scope_reschedule(g_scope, now() - 1));
    LOG("moved;");
    EXPECT_OK(cio_yield());
    EXPECT_FALSE(cio_future_is_done(t)); /* the shield holds it back */
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    cio_future_unref(f);
    return 0;
}

TEST(a_shield_holds_back_a_rescheduled_deadline)
{
    EXPECT_OK(cio_run(main_shielded, NULL, NULL));
    EXPECT_LOG("moved;await-OK;yield-ETIMEDOUT;end-ETIMEDOUT;");
}

/* ---- argument checks ----------------------------------------------------------------- */

static int main_bad(void *arg, void **result)
{
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(NULL, 1));
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, HOUR));
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(&s, NAN));
    EXPECT_OK(cio_scope_end(&s));
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(&s, now() + 1)); /* ended */
    cio_scope sh;
    EXPECT_OK(cio_shield_begin(&sh));
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(&sh, now() + 1));
    EXPECT_OK(cio_scope_end(&sh));
    cio_scope zero = {{0}};
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(&zero, now() + 1)); /* never begun */
    cio_scope ex;
    EXPECT_OK(cio_timeout_begin(&ex, 0));
    EXPECT_ERR(-ETIMEDOUT, cio_yield());
    EXPECT_ERR(-EINVAL, cio_scope_reschedule(&ex, now() + HOUR)); /* expired */
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&ex));
    return 0;
}

TEST(reschedule_refuses_nan_shields_ended_and_expired_scopes)
{
    EXPECT_OK(cio_run(main_bad, NULL, NULL));
}

/* The argument checks of the other scope functions. */
static int main_scope_args(void *arg, void **result)
{
    EXPECT_ERR(-EINVAL, cio_timeout_begin(NULL, 1));
    EXPECT_ERR(-EINVAL, cio_deadline_begin(NULL, 1));
    EXPECT_ERR(-EINVAL, cio_shield_begin(NULL));
    EXPECT_ERR(-EINVAL, cio_scope_end(NULL));
    EXPECT_FALSE(cio_scope_is_expired(NULL));
    cio_scope a, b;
    EXPECT_OK(cio_timeout_begin(&a, HOUR));
    EXPECT_OK(cio_shield_begin(&b));
    EXPECT_FALSE(cio_scope_is_expired(&b)); /* a shield never expires */
    EXPECT_ERR(-EINVAL, cio_scope_end(&a)); /* not the innermost */
    EXPECT_OK(cio_scope_end(&b));
    EXPECT_OK(cio_scope_end(&a));
    EXPECT_ERR(-EINVAL, cio_scope_end(&a)); /* ended already */
    EXPECT_OK(cio_yield()); /* nothing left open */
    return 0;
}

TEST(scope_functions_check_their_arguments)
{
    EXPECT_OK(cio_run(main_scope_args, NULL, NULL));
    cio_scope s;
    EXPECT_ERR(-EPERM, cio_timeout_begin(&s, 1)); /* outside a task */
    EXPECT_ERR(-EPERM, cio_deadline_begin(&s, 1));
    EXPECT_ERR(-EPERM, cio_shield_begin(&s));
    EXPECT_ERR(-EPERM, cio_scope_end(&s));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
