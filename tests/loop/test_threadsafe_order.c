/* cio-test: threaded
 *
 * Ordering guarantees of cio_call_soon_threadsafe beyond one thread's FIFO:
 * calls ordered by the program across threads run in that order (the loop
 * merges its producers' rings by stamp), a ring that fills up spills into
 * the overflow list without reordering, and the pool's completions share the
 * loop with ordered producers without disturbing them. */
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

#include "test.h"

static cio_loop *g_loop;
static long expect_next = 1, total;

static void in_order(void *arg)
{
    long v = (long)(intptr_t)arg;
    if (v != expect_next)
        FAIL("call %ld ran when %ld was due", v, expect_next);
    if (++expect_next > total)
        cio_loop_stop(g_loop);
}

/* ---- two threads taking turns: a causal chain across producers --------- */

#define TURNS 20000
static sem_t turn[2];

static void *alternate(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (long i = me + 1; i <= TURNS; i += 2) {
        while (sem_wait(&turn[me]) != 0)
            ;
        int rc = cio_call_soon_threadsafe(g_loop, in_order, (void *)(intptr_t)i);
        if (rc)
            FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
        sem_post(&turn[!me]); /* the other thread's next call follows this one */
    }
    return NULL;
}

TEST_T(calls_ordered_across_threads_run_in_that_order, 120)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    expect_next = 1;
    total = TURNS;
    sem_init(&turn[0], 0, 1);
    sem_init(&turn[1], 0, 0);
    pthread_t a, b;
    EXPECT_OK(pthread_create(&a, NULL, alternate, (void *)0));
    EXPECT_OK(pthread_create(&b, NULL, alternate, (void *)1));
    EXPECT_OK(cio_loop_run_forever(loop));
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    EXPECT_EQ(TURNS + 1, expect_next);
    CLOSE_LOOP(loop);
}

/* ---- overflow: far more calls than a ring holds, loop not running ------- */

#define FLOOD 50000
static void *flood(void *arg)
{
    (void)arg;
    for (long i = 1; i <= FLOOD; i++) {
        int rc = cio_call_soon_threadsafe(g_loop, in_order, (void *)(intptr_t)i);
        if (rc)
            FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
    }
    return NULL;
}

TEST(full_ring_spills_over_in_order)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    expect_next = 1;
    total = FLOOD;
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, flood, NULL));
    pthread_join(t, NULL); /* every call made before the loop looks */
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_EQ(FLOOD + 1, expect_next);
    CLOSE_LOOP(loop);
}

/* The same while the loop runs and drains concurrently. */
TEST(spill_over_while_draining_keeps_order)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    expect_next = 1;
    total = FLOOD;
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, flood, NULL));
    EXPECT_OK(cio_loop_run_forever(loop));
    pthread_join(t, NULL);
    EXPECT_EQ(FLOOD + 1, expect_next);
    CLOSE_LOOP(loop);
}

/* ---- pool completions beside an ordered producer -------------------------- */

static int square(void *arg, void **result)
{
    intptr_t x = (intptr_t)arg;
    *result = (void *)(x * x);
    return 0;
}

static int jobs_done;
static void job_checked(cio_future *f, void *arg)
{
    void *v;
    EXPECT_OK(cio_future_result(f, &v));
    intptr_t x = (intptr_t)arg;
    EXPECT_EQ(x * x, (intptr_t)v);
    jobs_done++;
}

TEST(pool_completions_do_not_disturb_ordered_calls)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    expect_next = 1;
    total = FLOOD;
    enum { JOBS = 2000 };
    cio_future *jobs[JOBS];
    for (intptr_t i = 0; i < JOBS; i++) {
        EXPECT_OK(cio_to_thread_future(loop, NULL, square, (void *)i, &jobs[i]));
        EXPECT_OK(cio_future_add_done_callback(jobs[i], job_checked, (void *)i));
    }
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, flood, NULL));
    EXPECT_OK(cio_loop_run_forever(loop)); /* stops when every call ran */
    pthread_join(t, NULL);
    for (int i = 0; i < 100000 && jobs_done < JOBS; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_EQ(JOBS, jobs_done);
    for (int i = 0; i < JOBS; i++)
        cio_future_unref(jobs[i]);
    CLOSE_LOOP(loop);
}

/* ---- a producer's last call closes the loop ------------------------------ */

static void stop_now(void *arg)
{
    (void)arg;
    cio_loop_stop(g_loop);
}

static void *last_call(void *arg)
{
    (void)arg;
    int rc = cio_call_soon_threadsafe(g_loop, stop_now, NULL);
    if (rc)
        FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
    return NULL;
}

/* The loop may run the call and be closed while the producer is still
 * inside cio_call_soon_threadsafe (waking the loop): close must wait for it
 * (TSan checks there is no race on the loop's eventfd). */
TEST(close_right_after_a_call_waits_for_the_caller)
{
    for (int round = 0; round < 200; round++) {
        cio_loop *loop = g_loop = test_strict_loop_new();
        pthread_t t;
        EXPECT_OK(pthread_create(&t, NULL, last_call, NULL));
        EXPECT_OK(cio_loop_run_forever(loop));
        CLOSE_LOOP(loop);
        pthread_join(t, NULL);
    }
}

int main(int argc, char **argv) { return test_main(argc, argv); }
