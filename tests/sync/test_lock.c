/* Lock, Event, Semaphore: asyncio's semantics (FIFO, handoff on release),
 * cancellation and deadlines while waiting, grants passed on by a waiter
 * that gave up, -EPERM outside a task, -EINVAL for a release of a lock not
 * held, -EBUSY on free with waiters. */
#include <pthread.h>

#include "sync/sync_util.h"

/* ---- Lock ------------------------------------------------------------------ */

static cio_lock *L;

static int lock_basic_main(void *arg, void **result)
{
    EXPECT_FALSE(cio_lock_is_locked(L));
    EXPECT_ERR(-EINVAL, cio_lock_release(L)); /* not held */
    EXPECT_OK(cio_lock_acquire(L));
    EXPECT_TRUE(cio_lock_is_locked(L));
    EXPECT_ERR(-EAGAIN, cio_lock_acquire_nowait(L));
    EXPECT_OK(cio_lock_release(L));
    EXPECT_FALSE(cio_lock_is_locked(L));
    EXPECT_ERR(-EINVAL, cio_lock_release(L)); /* not held */
    EXPECT_OK(cio_lock_acquire_nowait(L));
    EXPECT_TRUE(cio_lock_is_locked(L));
    EXPECT_OK(cio_lock_release(L));
    return 0;
}

TEST(lock_basic)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN(lock_basic_main, NULL);
    /* outside a task: waits are -EPERM; the rest works */
    EXPECT_ERR(-EPERM, cio_lock_acquire(L));
    EXPECT_FALSE(cio_lock_is_locked(L));
    EXPECT_OK(cio_lock_acquire_nowait(L));
    EXPECT_OK(cio_lock_release(L));
    EXPECT_ERR(-EINVAL, cio_lock_release(L)); /* outside a task too */
    EXPECT_ERR(-EINVAL, cio_lock_release(NULL));
    EXPECT_OK(cio_lock_free(L));
    EXPECT_OK(cio_lock_free(NULL));
    EXPECT_ERR(-EINVAL, cio_lock_new(NULL));
}

static int lock_worker(void *arg, void **result)
{
    int rc = cio_lock_acquire(L);
    LOG("%d:%s;", (int)U(arg), rc ? cio_err_name(rc) : "got");
    if (rc)
        return rc;
    EXPECT_OK(cio_yield()); /* hold it a while: nobody may overtake */
    LOG("%d:rel;", (int)U(arg));
    EXPECT_OK(cio_lock_release(L));
    return 0;
}

static int lock_fifo_main(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(L));
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(lock_worker, V(i + 1));
    yield_n(2); /* all four wait */
    LOG("main:rel;");
    EXPECT_OK(cio_lock_release(L));
    /* handed to worker 1: the lock stays locked, a newcomer cannot take it */
    EXPECT_TRUE(cio_lock_is_locked(L));
    EXPECT_ERR(-EAGAIN, cio_lock_acquire_nowait(L));
    /* and main's own acquire queues behind the four */
    EXPECT_OK(cio_lock_acquire(L));
    LOG("main:got;");
    EXPECT_OK(cio_lock_release(L));
    for (int i = 0; i < 4; i++)
        EXPECT_OK(join_task(t[i]));
    EXPECT_FALSE(cio_lock_is_locked(L));
    return 0;
}

TEST(lock_fifo_fairness)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN(lock_fifo_main, NULL);
    EXPECT_LOG("main:rel;1:got;1:rel;2:got;2:rel;3:got;3:rel;4:got;4:rel;main:got;");
    EXPECT_OK(cio_lock_free(L));
}

static int lock_cancel_queued_main(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(L));
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(lock_worker, V(i + 1));
    yield_n(2);
    EXPECT_OK(cio_future_cancel(t[1]));
    yield_n(2); /* worker 2 leaves the queue */
    LOG("main:rel;");
    EXPECT_OK(cio_lock_release(L));
    EXPECT_OK(join_task(t[0]));
    EXPECT_ERR(-ECANCELED, join_task(t[1]));
    EXPECT_OK(join_task(t[2]));
    EXPECT_FALSE(cio_lock_is_locked(L));
    return 0;
}

TEST(lock_cancel_queued_waiter)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN(lock_cancel_queued_main, NULL);
    EXPECT_LOG("2:ECANCELED;main:rel;1:got;1:rel;3:got;3:rel;");
    EXPECT_OK(cio_lock_free(L));
}

static int lock_cancel_granted_main(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(L));
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(lock_worker, V(i + 1));
    yield_n(2);
    LOG("main:rel;");
    EXPECT_OK(cio_lock_release(L));     /* handed to worker 1 ... */
    EXPECT_OK(cio_future_cancel(t[0])); /* ... which is cancelled before it runs */
    EXPECT_ERR(-ECANCELED, join_task(t[0]));
    EXPECT_OK(join_task(t[1]));
    EXPECT_OK(join_task(t[2]));
    EXPECT_FALSE(cio_lock_is_locked(L));
    return 0;
}

TEST(lock_cancel_granted_waiter_passes_lock_on)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN(lock_cancel_granted_main, NULL);
    EXPECT_LOG("main:rel;1:ECANCELED;2:got;2:rel;3:got;3:rel;");
    EXPECT_OK(cio_lock_free(L));
}

static int lock_timeout_worker(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.01));
    int rc = cio_lock_acquire(L);
    LOG("acquire:%s;", cio_err_name(rc));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    return rc == -ETIMEDOUT ? 0 : -EINVAL;
}

static int lock_timeout_main(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(L));
    cio_task *t1 = spawn(lock_timeout_worker, NULL);
    cio_task *t2 = spawn(lock_worker, V(2));
    EXPECT_OK(join_task(t1));
    EXPECT_TRUE(cio_lock_is_locked(L));
    LOG("main:rel;");
    EXPECT_OK(cio_lock_release(L));
    EXPECT_OK(join_task(t2));
    EXPECT_FALSE(cio_lock_is_locked(L));
    return 0;
}

TEST(lock_timeout_while_waiting)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN(lock_timeout_main, NULL);
    EXPECT_LOG("acquire:ETIMEDOUT;main:rel;2:got;2:rel;");
    EXPECT_OK(cio_lock_free(L));
}

static int lock_busy_main(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(L));
    cio_task *t = spawn(lock_worker, V(1));
    yield_n(2);
    EXPECT_ERR(-EBUSY, cio_lock_free(L));
    EXPECT_OK(cio_lock_release(L));
    /* granted but not yet resumed: still busy */
    EXPECT_ERR(-EBUSY, cio_lock_free(L));
    EXPECT_OK(join_task(t));
    return 0;
}

TEST(lock_free_with_waiters_is_ebusy)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN(lock_busy_main, NULL);
    EXPECT_OK(cio_lock_free(L));
}

static int lock_cancelled_task_main(void *arg, void **result)
{
    /* A cancelled task's acquire of a free lock does not suspend, so it
     * succeeds (asyncio too); one that would wait fails at once. */
    EXPECT_OK(cio_future_cancel(cio_current_task()));
    EXPECT_OK(cio_lock_acquire(L));
    EXPECT_ERR(-ECANCELED, cio_lock_acquire(L));
    EXPECT_OK(cio_lock_release(L));
    EXPECT_FALSE(cio_lock_is_locked(L));
    return -ECANCELED;
}

TEST(lock_in_cancelled_task)
{
    EXPECT_OK(cio_lock_new(&L));
    RUN_EXPECT(-ECANCELED, lock_cancelled_task_main, NULL);
    EXPECT_OK(cio_lock_free(L));
}

/* ---- Event ---------------------------------------------------------------------- */

static cio_event *E;

static int event_waiter(void *arg, void **result)
{
    int rc = cio_event_wait(E);
    LOG("%d:%s;", (int)U(arg), rc ? cio_err_name(rc) : "woke");
    return rc;
}

static int event_main(void *arg, void **result)
{
    EXPECT_FALSE(cio_event_is_set(E));
    cio_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = spawn(event_waiter, V(i + 1));
    yield_n(2);
    EXPECT_ERR(-EBUSY, cio_event_free(E));
    LOG("set;");
    cio_event_set(E);
    cio_event_set(E);   /* idempotent */
    cio_event_clear(E); /* too late to strand anyone: all were woken */
    EXPECT_FALSE(cio_event_is_set(E));
    for (int i = 0; i < 5; i++)
        EXPECT_OK(join_task(t[i]));
    /* cleared: a new wait blocks until the next set */
    cio_task *late = spawn(event_waiter, V(6));
    yield_n(3);
    LOG("set2;");
    cio_event_set(E);
    EXPECT_TRUE(cio_event_is_set(E));
    EXPECT_OK(join_task(late));
    /* set: returns at once */
    EXPECT_OK(cio_event_wait(E));
    return 0;
}

TEST(event_set_clear_wait_many)
{
    EXPECT_OK(cio_event_new(&E));
    RUN(event_main, NULL);
    EXPECT_LOG("set;1:woke;2:woke;3:woke;4:woke;5:woke;set2;6:woke;");
    EXPECT_ERR(-EPERM, cio_event_wait(E));
    EXPECT_OK(cio_event_free(E));
}

static int event_cancel_main(void *arg, void **result)
{
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(event_waiter, V(i + 1));
    yield_n(2);
    EXPECT_OK(cio_future_cancel(t[1]));
    EXPECT_ERR(-ECANCELED, join_task(t[1]));
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    EXPECT_ERR(-ETIMEDOUT, cio_event_wait(E));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    LOG("set;");
    cio_event_set(E);
    EXPECT_OK(join_task(t[0]));
    EXPECT_OK(join_task(t[2]));
    return 0;
}

TEST(event_cancel_and_timeout)
{
    EXPECT_OK(cio_event_new(&E));
    RUN(event_cancel_main, NULL);
    EXPECT_LOG("2:ECANCELED;set;1:woke;3:woke;");
    EXPECT_OK(cio_event_free(E));
}

/* ---- Semaphore --------------------------------------------------------------------- */

static cio_semaphore *S;

static int sem_basic_main(void *arg, void **result)
{
    EXPECT_EQ(2, cio_semaphore_value(S));
    EXPECT_OK(cio_semaphore_acquire(S));
    EXPECT_OK(cio_semaphore_acquire_nowait(S));
    EXPECT_EQ(0, cio_semaphore_value(S));
    EXPECT_ERR(-EAGAIN, cio_semaphore_acquire_nowait(S));
    EXPECT_OK(cio_semaphore_release(S));
    EXPECT_OK(cio_semaphore_release(S));
    EXPECT_EQ(2, cio_semaphore_value(S));
    return 0;
}

TEST(semaphore_basic_and_unbounded_release)
{
    EXPECT_OK(cio_semaphore_new(2, false, &S));
    RUN(sem_basic_main, NULL);
    EXPECT_ERR(-EPERM, cio_semaphore_acquire(S));
    /* unbounded: release above the initial value is fine */
    EXPECT_OK(cio_semaphore_release(S));
    EXPECT_EQ(3, cio_semaphore_value(S));
    EXPECT_OK(cio_semaphore_free(S));
}

TEST(semaphore_bounded_release_overflow)
{
    EXPECT_OK(cio_semaphore_new(2, true, &S));
    EXPECT_ERR(-EINVAL, cio_semaphore_release(S));
    EXPECT_OK(cio_semaphore_acquire_nowait(S));
    EXPECT_OK(cio_semaphore_release(S));
    EXPECT_ERR(-EINVAL, cio_semaphore_release(S));
    EXPECT_EQ(2, cio_semaphore_value(S));
    EXPECT_OK(cio_semaphore_free(S));
    EXPECT_OK(cio_semaphore_new(0, true, &S));
    EXPECT_ERR(-EINVAL, cio_semaphore_release(S));
    EXPECT_OK(cio_semaphore_free(S));
}

static int sem_worker(void *arg, void **result)
{
    int rc = cio_semaphore_acquire(S);
    LOG("%d:%s;", (int)U(arg), rc ? cio_err_name(rc) : "got");
    if (rc)
        return rc;
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_semaphore_release(S));
    return 0;
}

/* gh-90155: a task that releases and re-acquires at once must not overtake
 * the waiters, and a waiter cancelled after it was woken must not lose the
 * wakeup (asyncio then deadlocked). */
static int sem_fair_main(void *arg, void **result)
{
    EXPECT_OK(cio_semaphore_acquire(S));
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(sem_worker, V(i + 1));
    yield_n(2);
    EXPECT_OK(cio_semaphore_release(S)); /* handed to 1 */
    EXPECT_EQ(0, cio_semaphore_value(S));
    EXPECT_ERR(-EAGAIN, cio_semaphore_acquire_nowait(S));
    EXPECT_OK(cio_future_cancel(t[0]));  /* 1 gives up: 2 must get it */
    EXPECT_OK(cio_future_cancel(t[2]));  /* 3 gives up while queued */
    EXPECT_OK(cio_semaphore_acquire(S)); /* main queues behind 2 and 4 */
    LOG("main:got;");
    EXPECT_OK(cio_semaphore_release(S));
    EXPECT_ERR(-ECANCELED, join_task(t[0]));
    EXPECT_OK(join_task(t[1]));
    EXPECT_ERR(-ECANCELED, join_task(t[2]));
    EXPECT_OK(join_task(t[3]));
    EXPECT_EQ(1, cio_semaphore_value(S));
    return 0;
}

TEST(semaphore_fairness_gh90155)
{
    EXPECT_OK(cio_semaphore_new(1, true, &S));
    RUN(sem_fair_main, NULL);
    EXPECT_LOG("1:ECANCELED;3:ECANCELED;2:got;4:got;main:got;");
    EXPECT_OK(cio_semaphore_free(S));
}

static int sem_many_main(void *arg, void **result)
{
    /* value 2, six workers: at most two inside, FIFO */
    cio_task *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = spawn(sem_worker, V(i + 1));
    for (int i = 0; i < 6; i++)
        EXPECT_OK(join_task(t[i]));
    EXPECT_EQ(2, cio_semaphore_value(S));
    return 0;
}

TEST(semaphore_fifo_with_value_2)
{
    EXPECT_OK(cio_semaphore_new(2, false, &S));
    RUN(sem_many_main, NULL);
    EXPECT_LOG("1:got;2:got;3:got;4:got;5:got;6:got;");
    EXPECT_OK(cio_semaphore_free(S));
}

static int sem_timeout_main(void *arg, void **result)
{
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    EXPECT_ERR(-ETIMEDOUT, cio_semaphore_acquire(S));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    cio_task *t = spawn(sem_worker, V(1));
    yield_n(2);
    EXPECT_ERR(-EBUSY, cio_semaphore_free(S));
    EXPECT_OK(cio_semaphore_release(S));
    EXPECT_OK(join_task(t));
    EXPECT_EQ(1, cio_semaphore_value(S));
    return 0;
}

TEST(semaphore_timeout_and_busy_free)
{
    EXPECT_OK(cio_semaphore_new(0, false, &S));
    RUN(sem_timeout_main, NULL);
    EXPECT_LOG("1:got;");
    EXPECT_OK(cio_semaphore_free(S));
}

/* ---- every wait, outside a task and on another loop ---------------------------- */

static cio_condition *C;
static cio_barrier *B;
static cio_queue *Q;
static int cb_ran;

static bool always(void *arg)
{
    return true;
}

static void all_waits_eperm(void *arg)
{
    void *item = V(1);
    EXPECT_ERR(-EPERM, cio_lock_acquire(L));
    EXPECT_ERR(-EPERM, cio_event_wait(E));
    EXPECT_ERR(-EPERM, cio_semaphore_acquire(S));
    EXPECT_ERR(-EPERM, cio_condition_acquire(C));
    EXPECT_ERR(-EPERM, cio_condition_wait(C));
    EXPECT_ERR(-EPERM, cio_condition_wait_for(C, always, NULL));
    EXPECT_ERR(-EPERM, cio_barrier_wait(B, NULL));
    EXPECT_ERR(-EPERM, cio_queue_put(Q, V(2)));
    EXPECT_ERR(-EPERM, cio_queue_get(Q, &item));
    EXPECT_PTR_EQ(V(1), item);
    EXPECT_ERR(-EPERM, cio_queue_join(Q));
    /* the calls that do not wait work in a callback */
    EXPECT_OK(cio_lock_acquire_nowait(L));
    EXPECT_OK(cio_lock_release(L));
    EXPECT_OK(cio_queue_put_nowait(Q, V(3)));
    EXPECT_OK(cio_queue_get_nowait(Q, &item));
    EXPECT_OK(cio_queue_task_done(Q));
    cb_ran++;
}

static int callback_main(void *arg, void **result)
{
    EXPECT_OK(cio_call_soon(cio_current_loop(), all_waits_eperm, NULL));
    yield_n(2);
    EXPECT_EQ(2, cb_ran);
    return 0;
}

static void new_all(void)
{
    EXPECT_OK(cio_lock_new(&L));
    EXPECT_OK(cio_event_new(&E));
    EXPECT_OK(cio_semaphore_new(0, false, &S));
    EXPECT_OK(cio_condition_new(NULL, &C));
    EXPECT_OK(cio_barrier_new(3, &B));
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
}

static void free_all(void)
{
    EXPECT_OK(cio_lock_free(L));
    EXPECT_OK(cio_event_free(E));
    EXPECT_OK(cio_semaphore_free(S));
    EXPECT_OK(cio_condition_free(C));
    EXPECT_OK(cio_barrier_free(B));
    EXPECT_OK(cio_queue_free(Q));
}

TEST(every_wait_is_eperm_outside_a_task)
{
    new_all();
    all_waits_eperm(NULL);    /* no loop at all */
    RUN(callback_main, NULL); /* a callback of a running loop */
    free_all();
}

static int other_loop_waiter(void *arg, void **result)
{
    void *item;
    /* refused waits change nothing (nor pass on a grant they never had) */
    EXPECT_ERR(-EINVAL, cio_lock_acquire(L));
    EXPECT_TRUE(cio_lock_is_locked(L));
    EXPECT_ERR(-EINVAL, cio_event_wait(E));
    EXPECT_ERR(-EINVAL, cio_semaphore_acquire(S));
    EXPECT_EQ(0, cio_semaphore_value(S));
    EXPECT_ERR(-EINVAL, cio_barrier_wait(B, NULL));
    EXPECT_EQ(1, cio_barrier_n_waiting(B)); /* refused, not counted */
    EXPECT_ERR(-EINVAL, cio_queue_get(Q, &item));
    EXPECT_OK(cio_condition_acquire(C)); /* free: no wait */
    EXPECT_ERR(-EINVAL, cio_condition_wait(C));
    EXPECT_OK(cio_condition_release(C));
    return 0;
}

static void *other_loop_thread(void *arg)
{
    EXPECT_OK(cio_run(other_loop_waiter, arg, NULL));
    return NULL;
}

static int waits_on_all(void *arg, void **result)
{
    /* one waiter per object, on loop A */
    switch ((int)U(arg)) {
    case 0:
        return cio_lock_acquire(L);
    case 1:
        return cio_event_wait(E);
    case 2:
        return cio_semaphore_acquire(S);
    case 3:
        return cio_barrier_wait(B, NULL) == -EPIPE ? 0 : -EINVAL;
    case 4: {
        void *item;
        return cio_queue_get(Q, &item);
    }
    default:
        EXPECT_OK(cio_condition_acquire(C));
        int rc = cio_condition_wait(C);
        EXPECT_OK(cio_condition_release(C));
        return rc;
    }
}

static int bind_main(void *arg, void **result)
{
    EXPECT_OK(cio_lock_acquire(L));
    cio_task *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = spawn(waits_on_all, V(i));
    yield_n(2);
    /* A task of another loop may not join those waiters. That loop runs on
     * a thread of its own (running it from here would be -EDEADLK) while
     * this one waits for the thread: no object is used by two threads at
     * once. */
    pthread_t th;
    EXPECT_EQ(0, pthread_create(&th, NULL, other_loop_thread, NULL));
    EXPECT_EQ(0, pthread_join(th, NULL));
    /* release everyone */
    EXPECT_OK(cio_lock_release(L));
    cio_event_set(E);
    EXPECT_OK(cio_semaphore_release(S));
    cio_barrier_abort(B);
    EXPECT_OK(cio_queue_put(Q, V(1)));
    EXPECT_OK(cio_condition_acquire(C));
    EXPECT_OK(cio_condition_notify_all(C));
    EXPECT_OK(cio_condition_release(C));
    for (int i = 0; i < 6; i++)
        EXPECT_OK(join_task(t[i]));
    EXPECT_OK(cio_lock_release(L));
    cio_barrier_reset(B);
    cio_event_clear(E);
    return 0;
}

static int rebind_main(void *arg, void **result)
{
    /* every object waits once, on this loop, with nobody else waiting */
    void *item;
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    EXPECT_OK(cio_lock_acquire(L));
    EXPECT_ERR(-ETIMEDOUT, cio_lock_acquire(L));
    EXPECT_OK(cio_lock_release(L));
    EXPECT_ERR(-ETIMEDOUT, cio_event_wait(E));
    EXPECT_ERR(-ETIMEDOUT, cio_semaphore_acquire(S));
    EXPECT_OK(cio_condition_acquire(C));
    EXPECT_ERR(-ETIMEDOUT, cio_condition_wait(C));
    EXPECT_OK(cio_condition_release(C));
    EXPECT_ERR(-ETIMEDOUT, cio_barrier_wait(B, NULL));
    cio_barrier_reset(B);
    EXPECT_ERR(-ETIMEDOUT, cio_queue_get(Q, &item));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    return 0;
}

TEST(objects_are_bound_to_the_loop_of_their_waiters)
{
    /* asyncio: "is bound to a different event loop" */
    new_all();
    RUN(bind_main, NULL);
    /* nobody waits any more: the objects serve the next cio_run's loop */
    RUN(rebind_main, NULL);
    RUN(rebind_main, NULL);
    free_all();
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
