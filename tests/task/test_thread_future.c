/* cio-test: threaded
 * cio_spawn_threadsafe and the cio_thread_future_* functions (asyncio's
 * run_coroutine_threadsafe): results and their ownership, errors, cancel
 * from the thread (before and after the task started), polling with
 * timeout 0, -EDEADLK on the loop's own thread, free before the task ended
 * (and -EBUSY while a thread waits), cio_run's end, many threads, and the
 * argument checks. The loop runs on the test's thread; other threads wait.
 * Every wait is ordered by causality (futures the test completes,
 * semaphores); timeouts are only ever expected to expire when the task
 * provably cannot have ended.
 *
 * White-box: the source is compiled in, so one case can see that a thread
 * is inside cio_thread_future_wait before it calls free. */
#include <math.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "task/task_util.h"

#include "task/threadsafe.c"

/* Options in the form of the header this is built with (0.2 adds a size
 * field and CIO_TASK_OPTIONS). */
#ifdef CIO_TASK_OPTIONS
#define TOPTS(...) CIO_TASK_OPTIONS(__VA_ARGS__)
#else
#define TOPTS(...) ((cio_task_options){__VA_ARGS__})
#endif

static cio_loop *g_loop;
static pthread_t loop_thread;

static void stop_cb(void *arg) { cio_loop_stop(arg); }

static void stop_loop_from_thread(void)
{
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, stop_cb, g_loop));
}

/* Runs a loop on this thread until fn, on another thread, stops it; then
 * drains it and closes it cleanly. */
static void run_with_thread(void *(*fn)(void *), void *arg)
{
    g_loop = task_loop_new();
    loop_thread = pthread_self();
    pthread_t th;
    EXPECT_OK(pthread_create(&th, NULL, fn, arg));
    EXPECT_OK(cio_loop_run_forever(g_loop));
    EXPECT_OK(pthread_join(th, NULL));
    finish_loop(g_loop);
}

static atomic_int results_freed;
static void result_free(void *p)
{
    atomic_fetch_add(&results_freed, 1);
    free(p);
}

static int *box(int v)
{
    int *p = malloc(sizeof *p);
    *p = v;
    return p;
}

static cio_context_var ctx_var = CIO_CONTEXT_VAR_INIT("ctx", V(7));

/* Returns a boxed copy of arg with a destructor, from the loop's thread. */
static int boxed_task(void *arg, void **result)
{
    EXPECT_TRUE(pthread_equal(pthread_self(), loop_thread));
    EXPECT_PTR_EQ(V(7), cio_context_var_get(&ctx_var)); /* starts with the defaults */
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_task_set_result_free(result_free));
    *result = box((int)U(arg));
    return 0;
}

static int failing_task(void *arg, void **result)
{
    EXPECT_OK(cio_yield());
    return (int)(intptr_t)arg;
}

/* ---- result and error ---------------------------------------------------------- */

static void *thread_result(void *unused)
{
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(g_loop, &TOPTS(.name = "remote"), boxed_task,
                                   V(42), &tf));
    void *r = NULL;
    EXPECT_OK(cio_thread_future_wait(tf, -1, &r));
    EXPECT_TRUE(cio_thread_future_is_done(tf));
    EXPECT_EQ(42, *(int *)r);
    void *again = NULL;
    EXPECT_OK(cio_thread_future_wait(tf, 0, &again)); /* the same pointer */
    EXPECT_PTR_EQ(r, again);
    EXPECT_OK(cio_thread_future_free(tf));
    EXPECT_EQ(0, atomic_load(&results_freed)); /* handed out: ours */
    free(r);

    /* never handed out: freed with the thread future, by its destructor */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, boxed_task, V(43), &tf));
    EXPECT_OK(cio_thread_future_wait(tf, -1, NULL));
    EXPECT_EQ(0, atomic_load(&results_freed));
    EXPECT_OK(cio_thread_future_free(tf));
    EXPECT_EQ(1, atomic_load(&results_freed));

    /* an error is the outcome, and counts as retrieved (no report) */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, failing_task, V(-EIO), &tf));
    r = V(1);
    EXPECT_ERR(-EIO, cio_thread_future_wait(tf, -1, &r));
    EXPECT_PTR_EQ(NULL, r);
    EXPECT_ERR(-EIO, cio_thread_future_wait(tf, 0, NULL));
    EXPECT_OK(cio_thread_future_free(tf));
    stop_loop_from_thread();
    return NULL;
}

TEST(result_and_error)
{
    run_with_thread(thread_result, NULL);
    EXPECT_EQ(1, atomic_load(&results_freed));
    EXPECT_NO_REPORTS();
}

static int named_task(void *arg, void **result)
{
    EXPECT_STR_EQ("remote", cio_task_name(cio_current_task()));
    return 0;
}

static void *thread_named(void *unused)
{
    /* the name is copied: the options may go before the task starts */
    char name[] = "remote";
    cio_task_options opts = TOPTS(.name = name, .stack_size = 64 * 1024);
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(g_loop, &opts, named_task, NULL, &tf));
    memset(name, 'x', sizeof name - 1);
    EXPECT_OK(cio_thread_future_wait(tf, -1, NULL));
    EXPECT_OK(cio_thread_future_free(tf));
    stop_loop_from_thread();
    return NULL;
}

TEST(options_are_copied)
{
    run_with_thread(thread_named, NULL);
    EXPECT_NO_REPORTS();
}

/* ---- cancel ---------------------------------------------------------------------- */

static sem_t started;
static atomic_int bodies_ran;

static int sleeper(void *arg, void **result)
{
    atomic_fetch_add(&bodies_ran, 1);
    sem_post(&started);
    return cio_sleep(3600); /* -ECANCELED */
}

static void *thread_cancel(void *unused)
{
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, sleeper, NULL, &tf));
    EXPECT_OK(sem_wait(&started)); /* it runs and sleeps */
    EXPECT_FALSE(cio_thread_future_is_done(tf));
    EXPECT_OK(cio_thread_future_cancel(tf));
    EXPECT_OK(cio_thread_future_cancel(tf)); /* asked already */
    EXPECT_ERR(-ECANCELED, cio_thread_future_wait(tf, -1, NULL));
    EXPECT_ERR(-EINVAL, cio_thread_future_cancel(tf)); /* done */
    EXPECT_OK(cio_thread_future_free(tf));
    stop_loop_from_thread();
    return NULL;
}

TEST(cancel_from_the_thread)
{
    EXPECT_OK(sem_init(&started, 0, 0));
    run_with_thread(thread_cancel, NULL);
    EXPECT_NO_REPORTS();
}

TEST(cancel_before_the_task_started)
{
    EXPECT_OK(sem_init(&started, 0, 0));
    g_loop = task_loop_new();
    /* the loop does not run yet: this thread is "another thread" to it */
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, sleeper, NULL, &tf));
    EXPECT_OK(cio_thread_future_cancel(tf));
    EXPECT_ERR(-ETIMEDOUT, cio_thread_future_wait(tf, 0, NULL));
    for (int i = 0; i < 1000 && !cio_thread_future_is_done(tf); i++)
        EXPECT_TRUE(cio_loop_run_once(g_loop, CIO_RUN_NOWAIT) >= 0);
    /* the body ran (it owns arg), and its first suspension failed */
    EXPECT_EQ(1, atomic_load(&bodies_ran));
    EXPECT_ERR(-ECANCELED, cio_thread_future_wait(tf, -1, NULL));
    EXPECT_OK(cio_thread_future_free(tf));
    finish_loop(g_loop);
    EXPECT_NO_REPORTS();
}

/* ---- polling and timeouts ------------------------------------------------------------- */

static cio_future *gate;
static sem_t gate_made;

/* Publishes a new future in `gate` for the thread, awaits it, then returns
 * arg. */
static int gated_task(void *arg, void **result)
{
    cio_future *mine;
    EXPECT_OK(cio_future_new(cio_current_loop(), &mine));
    gate = mine;
    sem_post(&gate_made);
    EXPECT_OK(cio_await(mine, NULL));
    cio_future_unref(mine);
    *result = arg;
    return 0;
}

/* gated_task that fails with -EIO once the gate opens */
static int gated_failure(void *arg, void **result)
{
    void *ignored;
    int rc = gated_task(arg, &ignored);
    return rc ? rc : -EIO;
}

static void open_gate(void *arg)
{
    EXPECT_OK(cio_future_set_result(arg, NULL, NULL));
}

static void *thread_poll(void *unused)
{
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, gated_task, V(5), &tf));
    EXPECT_OK(sem_wait(&gate_made));
    /* the task cannot end before the gate opens, which only this thread does */
    void *r = V(1);
    EXPECT_ERR(-ETIMEDOUT, cio_thread_future_wait(tf, 0, &r));
    EXPECT_PTR_EQ(NULL, r);
    EXPECT_FALSE(cio_thread_future_is_done(tf));
    EXPECT_ERR(-ETIMEDOUT, cio_thread_future_wait(tf, 0.01, &r));
    EXPECT_ERR(-EINVAL, cio_thread_future_wait(tf, NAN, &r));
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, open_gate, gate));
    int rc;
    while ((rc = cio_thread_future_wait(tf, 0, &r)) == -ETIMEDOUT)
        sched_yield();
    EXPECT_OK(rc);
    EXPECT_PTR_EQ(V(5), r);
    EXPECT_TRUE(cio_thread_future_is_done(tf));
    EXPECT_OK(cio_thread_future_free(tf));

    /* a timeout long enough: the wait returns when the task ends */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, gated_task, V(6), &tf));
    EXPECT_OK(sem_wait(&gate_made));
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, open_gate, gate));
    EXPECT_OK(cio_thread_future_wait(tf, 3600, &r));
    EXPECT_PTR_EQ(V(6), r);
    EXPECT_OK(cio_thread_future_free(tf));
    stop_loop_from_thread();
    return NULL;
}

TEST(poll_with_timeout_zero_and_wait_with_a_timeout)
{
    EXPECT_OK(sem_init(&gate_made, 0, 0));
    run_with_thread(thread_poll, NULL);
    EXPECT_NO_REPORTS();
}

/* ---- on the loop's own thread ------------------------------------------------------------ */

static int quick_task(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static void cb_waits(void *arg)
{
    EXPECT_ERR(-EDEADLK, cio_thread_future_wait(arg, -1, NULL));
}

static int main_deadlock(void *arg, void **result)
{
    capture_reports_here();
    /* spawning from the loop's own thread is allowed */
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(cio_current_loop(), NULL, quick_task, V(9), &tf));
    EXPECT_ERR(-EDEADLK, cio_thread_future_wait(tf, -1, NULL));
    EXPECT_ERR(-EDEADLK, cio_thread_future_wait(tf, 1.0, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_thread_future_wait(tf, 0, NULL)); /* a poll is fine */
    /* from a callback of the loop too */
    EXPECT_OK(cio_call_soon(cio_current_loop(), cb_waits, tf));
    while (!cio_thread_future_is_done(tf))
        EXPECT_OK(cio_yield());
    /* done: nothing to block for any more */
    void *r = NULL;
    EXPECT_OK(cio_thread_future_wait(tf, -1, &r));
    EXPECT_PTR_EQ(V(9), r);
    EXPECT_OK(cio_thread_future_free(tf));
    return 0;
}

TEST(wait_on_the_loops_own_thread_is_a_deadlock)
{
    EXPECT_OK(cio_run(main_deadlock, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- free before done ----------------------------------------------------------------- */

static void *thread_free_early(void *unused)
{
    cio_thread_future *a = NULL, *b = NULL, *c = NULL;
    /* a: freed at once, probably before it started */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, boxed_task, V(1), &a));
    EXPECT_OK(cio_thread_future_free(a));
    /* b: freed while it waits at the gate */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, gated_task, V(2), &b));
    EXPECT_OK(sem_wait(&gate_made));
    EXPECT_OK(cio_thread_future_free(b));
    cio_future *gate_b = gate;
    /* c: fails after its thread future is gone: the loop reports it */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, &TOPTS(.name = "abandoned"), gated_failure, NULL,
                                   &c));
    EXPECT_OK(sem_wait(&gate_made));
    EXPECT_OK(cio_thread_future_free(c));
    cio_future *gate_c = gate;
    /* after the frees, in this thread's order: open the gates, then stop */
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, open_gate, gate_b));
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, open_gate, gate_c));
    stop_loop_from_thread();
    return NULL;
}

TEST(free_before_the_task_ended)
{
    EXPECT_OK(sem_init(&gate_made, 0, 0));
    run_with_thread(thread_free_early, NULL); /* the drain lets every task end */
    EXPECT_EQ(1, atomic_load(&results_freed)); /* a's, by its destructor */
    EXPECT_REPORTS(1);
    EXPECT_REPORT("never retrieved", "abandoned");
}

static atomic_int waiter_rc = 1;

static void *waiter_thread(void *arg)
{
    atomic_store(&waiter_rc, cio_thread_future_wait(arg, -1, NULL));
    return NULL;
}

static void *thread_free_busy(void *unused)
{
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, gated_task, V(3), &tf));
    EXPECT_OK(sem_wait(&gate_made));
    pthread_t w;
    EXPECT_OK(pthread_create(&w, NULL, waiter_thread, tf));
    for (;;) { /* until the other thread is inside the wait */
        pthread_mutex_lock(&tf->lock);
        unsigned n = tf->waiters;
        pthread_mutex_unlock(&tf->lock);
        if (n)
            break;
        sched_yield();
    }
    EXPECT_ERR(-EBUSY, cio_thread_future_free(tf));
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, open_gate, gate));
    EXPECT_OK(pthread_join(w, NULL));
    EXPECT_OK(atomic_load(&waiter_rc));
    EXPECT_OK(cio_thread_future_free(tf));
    stop_loop_from_thread();
    return NULL;
}

TEST(free_while_a_thread_waits_is_busy)
{
    EXPECT_OK(sem_init(&gate_made, 0, 0));
    run_with_thread(thread_free_busy, NULL);
    EXPECT_NO_REPORTS();
}

/* ---- cio_run's end ---------------------------------------------------------------------- */

static cio_loop *run_loop;
static atomic_int left_rc = 1;

static void *thread_left_behind(void *unused)
{
    cio_thread_future *tf = NULL;
    EXPECT_OK(cio_spawn_threadsafe(run_loop, NULL, sleeper, NULL, &tf));
    /* main returns once the task sleeps; cio_run then cancels it */
    atomic_store(&left_rc, cio_thread_future_wait(tf, -1, NULL));
    EXPECT_OK(cio_thread_future_free(tf));
    return NULL;
}

static int main_leaves(void *arg, void **result)
{
    capture_reports_here();
    run_loop = cio_current_loop();
    pthread_t *th = arg;
    EXPECT_OK(pthread_create(th, NULL, thread_left_behind, NULL));
    while (sem_trywait(&started) != 0)
        EXPECT_OK(cio_sleep(0.001));
    return 0;
}

TEST(cio_run_cancels_a_task_left_running)
{
    EXPECT_OK(sem_init(&started, 0, 0));
    pthread_t th;
    EXPECT_OK(cio_run(main_leaves, &th, NULL));
    EXPECT_OK(pthread_join(th, NULL));
    EXPECT_ERR(-ECANCELED, atomic_load(&left_rc));
    EXPECT_NO_REPORTS();
}

/* ---- many threads -------------------------------------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD 50
static atomic_int threads_left = NTHREADS;

static int yielding_task(void *arg, void **result)
{
    EXPECT_OK(cio_yield());
    *result = arg;
    return 0;
}

static void *many_thread(void *arg)
{
    uintptr_t base = U(arg) * 1000;
    cio_thread_future *tf[PER_THREAD];
    for (uintptr_t i = 0; i < PER_THREAD; i++)
        EXPECT_OK(cio_spawn_threadsafe(g_loop, NULL, yielding_task, V(base + i), &tf[i]));
    for (uintptr_t i = 0; i < PER_THREAD; i++) {
        void *r = NULL;
        /* half waited for, half polled */
        if (i % 2) {
            EXPECT_OK(cio_thread_future_wait(tf[i], -1, &r));
        } else {
            int rc;
            while ((rc = cio_thread_future_wait(tf[i], 0, &r)) == -ETIMEDOUT)
                sched_yield();
            EXPECT_OK(rc);
        }
        EXPECT_PTR_EQ(V(base + i), r);
        EXPECT_OK(cio_thread_future_free(tf[i]));
    }
    if (atomic_fetch_sub(&threads_left, 1) == 1)
        stop_loop_from_thread();
    return NULL;
}

static void *many_main(void *unused)
{
    pthread_t th[NTHREADS];
    for (uintptr_t t = 0; t < NTHREADS; t++)
        EXPECT_OK(pthread_create(&th[t], NULL, many_thread, V(t + 1)));
    for (int t = 0; t < NTHREADS; t++)
        EXPECT_OK(pthread_join(th[t], NULL));
    return NULL;
}

TEST_T(many_threads, 120)
{
    run_with_thread(many_main, NULL);
    EXPECT_NO_REPORTS();
}

/* ---- a task the loop cannot start ------------------------------------------------------- */

static atomic_int never_ran;

static int must_not_run(void *arg, void **result)
{
    atomic_store(&never_ran, 1);
    return 0;
}

TEST(a_task_the_loop_refuses_completes_the_thread_future_with_its_error)
{
    g_loop = task_loop_new();
    cio_thread_future *tf = NULL;
    /* a stack larger than the 1 GiB limit: cio_task_new refuses it on the loop */
    EXPECT_OK(cio_spawn_threadsafe(g_loop, &TOPTS(.stack_size = (size_t)1 << 40), must_not_run,
                                   NULL, &tf));
    for (int i = 0; i < 1000 && !cio_thread_future_is_done(tf); i++)
        EXPECT_TRUE(cio_loop_run_once(g_loop, CIO_RUN_NOWAIT) >= 0);
    void *r = V(1);
    EXPECT_ERR(-EINVAL, cio_thread_future_wait(tf, -1, &r));
    EXPECT_PTR_EQ(NULL, r);
    EXPECT_EQ(0, atomic_load(&never_ran));
    EXPECT_OK(cio_thread_future_free(tf));
    finish_loop(g_loop);
    EXPECT_NO_REPORTS();
}

/* ---- argument checks ------------------------------------------------------------------------ */

TEST(argument_checks)
{
    cio_loop *loop = task_loop_new();
    cio_thread_future *tf = (cio_thread_future *)V(1);
    EXPECT_ERR(-EINVAL, cio_spawn_threadsafe(NULL, NULL, quick_task, NULL, &tf));
    EXPECT_PTR_EQ(NULL, tf);
    tf = (cio_thread_future *)V(1);
    EXPECT_ERR(-EINVAL, cio_spawn_threadsafe(loop, NULL, NULL, NULL, &tf));
    EXPECT_PTR_EQ(NULL, tf);
    EXPECT_ERR(-EINVAL, cio_spawn_threadsafe(loop, NULL, quick_task, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_thread_future_wait(NULL, -1, NULL));
    EXPECT_FALSE(cio_thread_future_is_done(NULL));
    EXPECT_ERR(-EINVAL, cio_thread_future_cancel(NULL));
    EXPECT_OK(cio_thread_future_free(NULL));
    EXPECT_OK(cio_loop_close(loop));
    /* a closed loop refuses: nothing started */
    tf = (cio_thread_future *)V(1);
    EXPECT_ERR(-EINVAL, cio_spawn_threadsafe(loop, NULL, quick_task, NULL, &tf));
    EXPECT_PTR_EQ(NULL, tf);
    EXPECT_OK(cio_loop_free(loop));
    EXPECT_NO_REPORTS();
}

int main(int argc, char **argv) { return test_main(argc, argv); }
