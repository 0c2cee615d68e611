/* Generators (async generators): values in order, the end, early close
 * running the generator's cleanup (asyncio's aclose: GeneratorExit at the
 * pending yield), awaiting between yields, errors propagating through next. */
#include "task/task_util.h"

#define HOUR 3600.0

static int counts(cio_gen *g, void *arg)
{
    int n = (int)U(arg);
    for (int i = 1; i <= n; i++) {
        LOG("y%d;", i);
        int rc = cio_gen_yield(g, V(i), NULL);
        if (rc) {
            LOG("yield-%s;", cio_err_name(rc));
            LOG("cleanup;");
            return rc;
        }
    }
    LOG("body-end;");
    return 0;
}

static int main_values(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, counts, V(3), &g));
    EXPECT_EQ(0, order_len); /* the body starts on the first next */
    void *v = NULL;
    for (int i = 1; i <= 3; i++) {
        EXPECT_OK(cio_gen_next(g, &v));
        EXPECT_PTR_EQ(V(i), v);
        LOG("got%d;", i);
    }
    EXPECT_EQ(-ENODATA, cio_gen_next(g, &v));
    /* asyncio: a finished generator keeps raising StopAsyncIteration */
    EXPECT_EQ(-ENODATA, cio_gen_next(g, &v));
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_yields_values_in_order_then_ends)
{
    EXPECT_OK(cio_run(main_values, NULL, NULL));
    EXPECT_LOG("y1;got1;y2;got2;y3;got3;body-end;");
}

static int main_empty(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, counts, V(0), &g));
    void *v = V(5);
    EXPECT_EQ(-ENODATA, cio_gen_next(g, &v));
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_with_no_values_ends_at_once)
{
    EXPECT_OK(cio_run(main_empty, NULL, NULL));
    EXPECT_LOG("body-end;");
}

static int main_early_close(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, counts, V(100), &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_OK(cio_gen_next(g, &v));
    LOG("close;");
    /* the body ends by its cleanup after the -ECANCELED yield: not a failure */
    EXPECT_OK(cio_gen_close(g));
    LOG("closed;");
    /* the consumer is not cancelled by closing its generator */
    EXPECT_OK(cio_yield());
    return 0;
}

TEST(generator_early_close_runs_cleanup)
{
    EXPECT_OK(cio_run(main_early_close, NULL, NULL));
    EXPECT_LOG("y1;y2;close;yield-ECANCELED;cleanup;closed;");
}

static int main_close_unstarted(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, counts, V(3), &g));
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_closed_before_first_next_never_runs)
{
    EXPECT_OK(cio_run(main_close_unstarted, NULL, NULL));
    EXPECT_LOG("");
}

static int cleanup_suspends(cio_gen *g, void *arg)
{
    int rc = cio_gen_yield(g, V(1), NULL);
    LOG("yield-%s;", cio_err_name(rc));
    /* asyncio: an async generator's finally may await during aclose; in
     * cio the pending yield is the cancellation, so cleanup that suspends
     * runs in a shield scope (task.h) */
    cio_scope s;
    EXPECT_OK(cio_shield_begin(&s));
    LOG("cleanup-sleep-%s;", cio_err_name(cio_sleep(0.001)));
    EXPECT_OK(cio_scope_end(&s));
    return rc;
}

static int main_close_cleanup_suspends(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, cleanup_suspends, NULL, &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_OK(cio_gen_close(g));
    LOG("closed;");
    return 0;
}

TEST(generator_cleanup_may_suspend_in_a_shield)
{
    EXPECT_OK(cio_run(main_close_cleanup_suspends, NULL, NULL));
    EXPECT_LOG("yield-ECANCELED;cleanup-sleep-OK;closed;");
}

/* ---- awaiting between yields ------------------------------------------------------- */

static int ticks(cio_gen *g, void *arg)
{
    cio_future *f = new_future();
    complete_later(f, 0.002);
    EXPECT_OK(cio_await(f, NULL)); /* an await before the first value */
    cio_future_unref(f);
    for (int i = 1; i <= 3; i++) {
        EXPECT_OK(cio_sleep(0.001));
        LOG("tick%d;", i);
        EXPECT_OK(cio_gen_yield(g, V(i), NULL));
    }
    return 0;
}

static int bystander(void *arg, void **result)
{
    for (int i = 0; i < 3; i++) {
        LOG("other;");
        EXPECT_OK(cio_yield());
    }
    return 0;
}

static int main_awaits(void *arg, void **result)
{
    cio_task *other = spawn(bystander, NULL);
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, ticks, NULL, &g));
    void *v = NULL;
    int sum = 0;
    int rc;
    while ((rc = cio_gen_next(g, &v)) == 0)
        sum += (int)U(v);
    EXPECT_EQ(-ENODATA, rc);
    EXPECT_EQ(6, sum);
    EXPECT_OK(cio_gen_close(g));
    EXPECT_OK(cio_await(other, NULL));
    cio_future_unref(other);
    return 0;
}

TEST(generator_awaits_between_yields_and_others_run_meanwhile)
{
    EXPECT_OK(cio_run(main_awaits, NULL, NULL));
    /* the bystander ran while the generator waited for its first value */
    EXPECT_LOG("other;other;other;tick1;tick2;tick3;");
}

/* ---- errors ------------------------------------------------------------------------- */

static int fails_after_one(cio_gen *g, void *arg)
{
    EXPECT_OK(cio_gen_yield(g, V(1), NULL));
    return -EPROTO;
}

static int main_error(void *arg, void **result)
{
    capture_reports_here();
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, fails_after_one, NULL, &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_PTR_EQ(V(1), v);
    EXPECT_ERR(-EPROTO, cio_gen_next(g, &v));
    /* the error was delivered by next; close may repeat it ("the body's
     * outcome if it failed") or return 0, but must not lose or crash */
    int rc = cio_gen_close(g);
    EXPECT_TRUE(rc == 0 || rc == -EPROTO);
    return 0;
}

TEST(generator_error_propagates_through_next)
{
    EXPECT_OK(cio_run(main_error, NULL, NULL));
    EXPECT_NO_REPORTS(); /* delivered to the consumer: retrieved */
}

static int fails_in_cleanup(cio_gen *g, void *arg)
{
    int rc = cio_gen_yield(g, V(1), NULL);
    LOG("yield-%s;", cio_err_name(rc));
    return -EIO; /* cleanup failed */
}

static int main_close_failing_cleanup(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, fails_in_cleanup, NULL, &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_ERR(-EIO, cio_gen_close(g)); /* "the body's outcome if it failed" */
    return 0;
}

TEST(generator_close_returns_a_cleanup_failure)
{
    EXPECT_OK(cio_run(main_close_failing_cleanup, NULL, NULL));
    EXPECT_LOG("yield-ECANCELED;");
}

/* ---- options, and a cancelled consumer --------------------------------------------- */

static int gen_name_check(cio_gen *g, void *arg)
{
    char big[64 * 1024];
    memset(big, 1, sizeof big); /* more than a 16 KiB minimum stack */
    EXPECT_OK(cio_gen_yield(g, V(big[100] + big[60000]), NULL));
    return 0;
}

static int main_gen_options(void *arg, void **result)
{
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "big-gen";
    o.stack_size = 1 << 20;
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(&o, gen_name_check, NULL, &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_PTR_EQ(V(2), v);
    EXPECT_EQ(-ENODATA, cio_gen_next(g, &v));
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_with_custom_stack_size)
{
    EXPECT_OK(cio_run(main_gen_options, NULL, NULL));
}

static int slow_gen(cio_gen *g, void *arg)
{
    int rc = cio_sleep(HOUR);
    LOG("gen-sleep-%s;", cio_err_name(rc));
    if (rc)
        return rc;
    return cio_gen_yield(g, V(1), NULL);
}

static int consumer(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, slow_gen, NULL, &g));
    void *v = NULL;
    int rc = cio_gen_next(g, &v);
    LOG("next-%s;", cio_err_name(rc));
    int crc = cio_gen_close(g);
    LOG("close-%s;", cio_err_name(crc));
    return rc;
}

static int main_consumer_cancelled(void *arg, void **result)
{
    cio_task *t = spawn(consumer, NULL);
    yield_n(2);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST_T(cancelled_consumer_gets_ecanceled_and_can_close, 10)
{
    EXPECT_OK(cio_run(main_consumer_cancelled, NULL, NULL));
    /* next is interrupted by the consumer's cancellation while the body is
     * suspended elsewhere than its yield; closing it then must end the body
     * (its suspension fails, its cleanup runs), not wait for it forever */
    EXPECT_TRUE(strstr(order_log, "next-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "gen-sleep-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "close-") != NULL);
}

static int many(cio_gen *g, void *arg)
{
    for (uintptr_t i = 0; i < 10000; i++)
        EXPECT_OK(cio_gen_yield(g, V(i), NULL));
    return 0;
}

static int main_many(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, many, NULL, &g));
    void *v = NULL;
    uintptr_t expect = 0;
    while (cio_gen_next(g, &v) == 0)
        EXPECT_EQ(expect++, U(v));
    EXPECT_EQ(10000, expect);
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_ten_thousand_values)
{
    EXPECT_OK(cio_run(main_many, NULL, NULL));
}

/* ---- generators left open when cio_run's main returns --------------------------- */

static int holds_memory(cio_gen *g, void *arg)
{
    char *mem = malloc(100); /* freed by the cleanup, only */
    int rc;
    for (uintptr_t i = 1; (rc = cio_gen_yield(g, V(i), NULL)) == 0; i++)
        ;
    LOG("%s-yield-%s;", (const char *)arg, cio_err_name(rc));
    free(mem);
    return rc;
}

static int open_gen_consumer(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, holds_memory, "straggler", &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    int rc = cio_sleep(HOUR); /* cancelled when main returns */
    /* closing while cio_run tears down takes it off cio_run's list */
    EXPECT_OK(cio_gen_close(g));
    LOG("straggler-closed;");
    return rc;
}

static int main_leaves_generators_open(void *arg, void **result)
{
    capture_reports_here();
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "named-gen"; /* its copied name must be freed too */
    cio_gen *suspended = NULL, *unstarted = NULL, *finished = NULL;
    EXPECT_OK(cio_gen_new(&o, holds_memory, "suspended", &suspended));
    EXPECT_OK(cio_gen_new(&o, holds_memory, "unstarted", &unstarted));
    EXPECT_OK(cio_gen_new(NULL, counts, V(1), &finished));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(suspended, &v));
    EXPECT_OK(cio_gen_next(suspended, &v));
    EXPECT_PTR_EQ(V(2), v);
    EXPECT_OK(cio_gen_next(finished, &v));
    EXPECT_EQ(-ENODATA, cio_gen_next(finished, &v));
    cio_task *t = spawn(open_gen_consumer, NULL);
    cio_future_unref(t);
    yield_n(3); /* the straggler's generator yields its first value */
    LOG("main-returns;");
    return 0; /* none of them closed */
}

TEST(run_closes_and_frees_generators_left_open)
{
    EXPECT_OK(cio_run(main_leaves_generators_open, NULL, NULL));
    /* the suspended bodies ran their cleanup (a yield that fails), the
     * unstarted one never ran; then every generator's memory was freed */
    EXPECT_TRUE(strstr(order_log, "main-returns;") != NULL);
    EXPECT_TRUE(strstr(order_log, "suspended-yield-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "straggler-yield-ECANCELED;") != NULL);
    EXPECT_TRUE(strstr(order_log, "straggler-closed;") != NULL);
    EXPECT_TRUE(strstr(order_log, "unstarted") == NULL);
    EXPECT_NO_REPORTS();
}

static int main_gen_of_own_loop(void *arg, void **result)
{
    /* A generator used inside cio_run on a loop the program runs itself
     * is the program's to close: cio_run's list must not take it. */
    cio_gen **out = arg;
    EXPECT_OK(cio_gen_new(NULL, counts, V(1), out));
    return 0;
}

TEST(generator_of_a_loop_run_by_hand_is_not_freed_by_cio_run)
{
    /* made in a task of a hand-run loop, outlives it, closed afterwards */
    cio_loop *loop = task_loop_new();
    cio_gen *g = NULL;
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, NULL, main_gen_of_own_loop, &g, &t));
    EXPECT_OK(cio_loop_run_until_complete(loop, t));
    cio_future_unref(t);
    finish_loop(loop);
    EXPECT_OK(cio_gen_close(g)); /* unstarted: needs no loop */
    EXPECT_NO_REPORTS();
}

/* ---- sending values in (asyncio's asend) ------------------------------------------ */

/* A running total: each yield hands out the total so far and adds what the
 * consumer sends in; NULL (cio_gen_next) adds nothing. */
static int accumulator(cio_gen *g, void *arg)
{
    (void)arg;
    uintptr_t total = 0;
    for (;;) {
        void *in = V(0xdead); /* must be overwritten, also with NULL */
        int rc = cio_gen_yield(g, V(total), &in);
        if (rc) {
            EXPECT_PTR_EQ(NULL, in);
            LOG("yield-%s;", cio_err_name(rc));
            return rc;
        }
        LOG("in%u;", (unsigned)U(in));
        if (U(in) == 99)
            return 0;
        total += U(in);
    }
}

static int main_send(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, accumulator, NULL, &g));
    void *v = V(7);
    /* a value sent before the body started has no yield to go to */
    EXPECT_ERR(-EINVAL, cio_gen_send(g, V(1), &v));
    EXPECT_PTR_EQ(NULL, v);
    EXPECT_EQ(0, order_len); /* and nothing ran */
    EXPECT_OK(cio_gen_send(g, NULL, &v)); /* starts it, like next */
    EXPECT_EQ(0, U(v));
    EXPECT_OK(cio_gen_send(g, V(5), &v));
    EXPECT_EQ(5, U(v));
    EXPECT_OK(cio_gen_next(g, &v)); /* next sends NULL */
    EXPECT_EQ(5, U(v));
    EXPECT_OK(cio_gen_send(g, V(3), NULL)); /* value may be NULL */
    EXPECT_OK(cio_gen_send(g, V(2), &v));
    EXPECT_EQ(10, U(v));
    EXPECT_EQ(-ENODATA, cio_gen_send(g, V(99), &v)); /* the body returns */
    EXPECT_PTR_EQ(NULL, v);
    /* after the end every send is the end, as asend's StopAsyncIteration */
    EXPECT_EQ(-ENODATA, cio_gen_send(g, V(1), &v));
    EXPECT_EQ(-ENODATA, cio_gen_send(g, NULL, &v));
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_send_delivers_values_to_the_yield)
{
    EXPECT_OK(cio_run(main_send, NULL, NULL));
    EXPECT_LOG("in5;in0;in3;in2;in99;");
}

static int main_send_close(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, accumulator, NULL, &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_OK(cio_gen_send(g, V(4), &v));
    /* closing: the pending yield fails with -ECANCELED and *sent is NULL */
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_closed_after_send_cancels_the_pending_yield)
{
    EXPECT_OK(cio_run(main_send_close, NULL, NULL));
    EXPECT_LOG("in4;yield-ECANCELED;");
}

static int fails_on_send(cio_gen *g, void *arg)
{
    (void)arg;
    void *in = NULL;
    EXPECT_OK(cio_gen_yield(g, V(1), &in));
    return -(int)U(in); /* the consumer chooses the error */
}

static int main_send_error(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, fails_on_send, NULL, &g));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(g, &v));
    EXPECT_ERR(-EPROTO, cio_gen_send(g, V(EPROTO), &v));
    EXPECT_ERR(-EPROTO, cio_gen_send(g, NULL, &v)); /* the error stays */
    int rc = cio_gen_close(g);
    EXPECT_TRUE(rc == 0 || rc == -EPROTO);
    return 0;
}

TEST(generator_send_returns_the_body_error)
{
    EXPECT_OK(cio_run(main_send_error, NULL, NULL));
}

static int main_send_args(void *arg, void **result)
{
    void *v = V(1);
    EXPECT_ERR(-EINVAL, cio_gen_send(NULL, NULL, &v));
    EXPECT_PTR_EQ(NULL, v);
    void *s = V(1);
    EXPECT_ERR(-EINVAL, cio_gen_yield(NULL, V(1), &s));
    EXPECT_PTR_EQ(NULL, s);
    /* a yield from outside the generator's body */
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, accumulator, NULL, &g));
    s = V(1);
    EXPECT_ERR(-EPERM, cio_gen_yield(g, V(1), &s));
    EXPECT_PTR_EQ(NULL, s);
    EXPECT_OK(cio_gen_close(g));
    return 0;
}

TEST(generator_send_and_yield_check_their_arguments)
{
    EXPECT_OK(cio_run(main_send_args, NULL, NULL));
    void *v = NULL;
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, accumulator, NULL, &g));
    EXPECT_ERR(-EPERM, cio_gen_send(g, NULL, &v)); /* outside a task */
    EXPECT_OK(cio_gen_close(g));
}

/* A value sent while the body runs instead of waiting in a yield has
 * nowhere to go (asyncio: "already running"): refused; a plain next may
 * still wait for the next yield. */
static int yields_then_sleeps(cio_gen *g, void *arg)
{
    (void)arg;
    EXPECT_OK(cio_gen_yield(g, V(1), NULL));
    int rc = cio_sleep(HOUR); /* busy, not in a yield */
    LOG("body-sleep-%s;", cio_err_name(rc));
    return rc;
}

static int consumes_two(void *arg, void **result)
{
    (void)result;
    void *v = NULL;
    EXPECT_OK(cio_gen_next(arg, &v));
    int rc = cio_gen_next(arg, &v); /* waits while the body sleeps */
    LOG("next-%s;", cio_err_name(rc));
    return rc;
}

static int main_send_while_running(void *arg, void **result)
{
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(NULL, yields_then_sleeps, NULL, &g));
    cio_task *c = spawn(consumes_two, g);
    yield_n(3); /* c took 1 and waits in its second next; the body sleeps */
    EXPECT_OK(cio_future_cancel(c));
    EXPECT_ERR(-ECANCELED, cio_await(c, NULL));
    cio_future_unref(c);
    void *v = V(1);
    EXPECT_ERR(-EINVAL, cio_gen_send(g, V(5), &v));
    EXPECT_PTR_EQ(NULL, v);
    EXPECT_OK(cio_gen_close(g)); /* interrupts the sleeping body */
    return 0;
}

TEST(generator_send_while_the_body_runs_is_refused)
{
    EXPECT_OK(cio_run(main_send_while_running, NULL, NULL));
    EXPECT_LOG("next-ECANCELED;body-sleep-ECANCELED;");
}

int main(int argc, char **argv) { return test_main(argc, argv); }
