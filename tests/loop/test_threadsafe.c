/* cio-test: threaded
 *
 * cio_call_soon_threadsafe: exact counts under a many-thread burst with the
 * loop blocking in between, per-thread FIFO order, wakeups of a loop blocked
 * with nothing else to do, and the race between a post and the loop going
 * to sleep. */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "test.h"
#include "loop/internal.h"

static cio_loop *g_loop;

/* ---- burst ------------------------------------------------------------------ */

#define NTHREADS 4
#define PER_THREAD 100000
static long run_count;
static long last_seq[NTHREADS];
static pthread_t loop_thread;

static void counted(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int t = (int)(v >> 32);
    long seq = (long)(v & 0xffffffffu);
    if (!pthread_equal(pthread_self(), loop_thread))
        FAIL("threadsafe callback ran on a foreign thread");
    if (seq != last_seq[t] + 1)
        FAIL("thread %d: callback %ld ran after %ld (FIFO per sender)", t, seq, last_seq[t]);
    last_seq[t] = seq;
    if (++run_count == (long)NTHREADS * PER_THREAD)
        cio_loop_stop(g_loop);
}

static _Atomic long sent;
static void *sender(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    for (uintptr_t i = 1; i <= PER_THREAD; i++) {
        int rc = cio_call_soon_threadsafe(g_loop, counted, (void *)((t << 32) | i));
        if (rc != 0)
            FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
        atomic_fetch_add_explicit(&sent, 1, memory_order_relaxed);
        if (i % 10000 == 0)
            usleep(100); /* let the loop catch up and go back to sleep */
    }
    return NULL;
}

static void burst_exact_count(void)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    loop_thread = pthread_self();
    pthread_t th[NTHREADS];
    for (uintptr_t t = 0; t < NTHREADS; t++)
        EXPECT_OK(pthread_create(&th[t], NULL, sender, (void *)t));
    /* nothing else is live: between bursts the loop blocks in the backend */
    EXPECT_OK(cio_loop_run_forever(loop));
    for (int t = 0; t < NTHREADS; t++)
        EXPECT_OK(pthread_join(th[t], NULL));
    EXPECT_EQ((long)NTHREADS * PER_THREAD, atomic_load(&sent));
    EXPECT_EQ((long)NTHREADS * PER_THREAD, run_count);
    for (int t = 0; t < NTHREADS; t++)
        EXPECT_EQ(PER_THREAD, last_seq[t]);
    /* nothing extra arrives later */
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ((long)NTHREADS * PER_THREAD, run_count);
    CLOSE_LOOP(loop);
}

TEST_T(threadsafe_burst_exact_count, 120) { burst_exact_count(); }

/* The same where membarrier(2) is refused (old kernels, seccomp). */
TEST_T(threadsafe_burst_exact_count_no_membarrier, 120)
{
    cio__ts_no_membarrier = true;
    burst_exact_count();
    EXPECT_FALSE(cio__ts_asym_barrier());
}

/* ---- wakeups ------------------------------------------------------------------- */

static int wake_runs;
static void stop_and_count(void *arg)
{
    (void)arg;
    wake_runs++;
    cio_loop_stop(g_loop);
}

static void *post_after(void *arg)
{
    useconds_t us = (useconds_t)(uintptr_t)arg;
    usleep(us);
    EXPECT_OK(cio_call_soon_threadsafe(g_loop, stop_and_count, NULL));
    return NULL;
}

TEST(threadsafe_wakes_loop_blocked_without_timers)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    for (int round = 1; round <= 10; round++) {
        pthread_t t;
        /* long enough that the loop is asleep in the backend when it posts */
        EXPECT_OK(pthread_create(&t, NULL, post_after, (void *)(uintptr_t)(5000 * round)));
        EXPECT_OK(cio_loop_run_forever(loop));
        EXPECT_OK(pthread_join(t, NULL));
        EXPECT_EQ(round, wake_runs);
    }
    CLOSE_LOOP(loop);
}

TEST(threadsafe_wakes_loop_blocked_on_far_timer)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    cio_handle h;
    EXPECT_OK(cio_call_later(loop, 3600.0, stop_and_count, NULL, &h));
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, post_after, (void *)(uintptr_t)20000));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_EQ(1, wake_runs);
    EXPECT_OK(cio_timer_cancel(loop, h));
    CLOSE_LOOP(loop);
}

static void idle_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)arg;
    FAIL("idle reader called");
}

TEST(threadsafe_wakes_loop_blocked_on_idle_reader)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], idle_reader, NULL));
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, post_after, (void *)(uintptr_t)20000));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_EQ(1, wake_runs);
    EXPECT_OK(cio_loop_remove_reader(loop, p[0]));
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

TEST(threadsafe_from_loop_thread)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    EXPECT_OK(cio_call_soon_threadsafe(loop, stop_and_count, NULL));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_EQ(1, wake_runs);
    CLOSE_LOOP(loop);
}

/* The racy case: the post lands while the loop is between "nothing to do"
 * and blocking. Thousands of rounds with no delay on the sender's side. */
static sem_t go;
static _Atomic int race_done;
static void *race_sender(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    for (long r = 0; r < rounds; r++) {
        sem_wait(&go);
        /* vary the timing a little: sometimes immediately, sometimes after a spin */
        for (volatile int spin = 0; spin < (int)(r % 7) * 50; spin++) {
        }
        EXPECT_OK(cio_call_soon_threadsafe(g_loop, stop_and_count, NULL));
    }
    atomic_store(&race_done, 1);
    return NULL;
}

static void post_races_with_sleep(void)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    const long rounds = 3000;
    EXPECT_OK(sem_init(&go, 0, 0));
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, race_sender, (void *)(intptr_t)rounds));
    for (long r = 1; r <= rounds; r++) {
        sem_post(&go);
        /* a lost wakeup hangs here (the case then times out) */
        EXPECT_OK(cio_loop_run_forever(loop));
        EXPECT_EQ(r, wake_runs);
    }
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_TRUE(atomic_load(&race_done));
    sem_destroy(&go);
    CLOSE_LOOP(loop);
}

TEST_T(threadsafe_post_races_with_sleep, 120) { post_races_with_sleep(); }

TEST_T(threadsafe_post_races_with_sleep_no_membarrier, 120)
{
    cio__ts_no_membarrier = true;
    post_races_with_sleep();
}

/* ---- two loops volleying through threadsafe calls ------------------------ */

#define VOLLEYS 20000
struct side {
    cio_loop *loop;
    struct side *other;
    pthread_barrier_t *ready;
    long mine;
};
static _Atomic long volleys;

static void stop_cb(void *arg) { cio_loop_stop(arg); }

static void volley(void *arg)
{
    struct side *s = arg;
    s->mine++;
    long n = atomic_fetch_add(&volleys, 1) + 1;
    if (n >= VOLLEYS) {
        cio_loop_stop(s->loop);
        EXPECT_OK(cio_call_soon_threadsafe(s->other->loop, stop_cb, s->other->loop));
        return;
    }
    EXPECT_OK(cio_call_soon_threadsafe(s->other->loop, volley, s->other));
}

static void *side_thread(void *arg)
{
    struct side *s = arg;
    s->loop = test_strict_loop_new();
    pthread_barrier_wait(s->ready); /* loop created */
    pthread_barrier_wait(s->ready); /* both loops known */
    EXPECT_OK(cio_loop_run_forever(s->loop));
    pthread_barrier_wait(s->ready); /* both stopped: no more posts */
    while (cio_loop_run_once(s->loop, CIO_RUN_NOWAIT) > 0) {
    }
    CLOSE_LOOP(s->loop);
    return NULL;
}

TEST_T(two_loops_volley, 120)
{
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, 3);
    struct side a = {.ready = &ready}, b = {.ready = &ready};
    a.other = &b;
    b.other = &a;
    pthread_t ta, tb;
    EXPECT_OK(pthread_create(&ta, NULL, side_thread, &a));
    EXPECT_OK(pthread_create(&tb, NULL, side_thread, &b));
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&ready);
    EXPECT_OK(cio_call_soon_threadsafe(a.loop, volley, &a));
    pthread_barrier_wait(&ready);
    EXPECT_OK(pthread_join(ta, NULL));
    EXPECT_OK(pthread_join(tb, NULL));
    EXPECT_EQ(VOLLEYS, atomic_load(&volleys));
    EXPECT_EQ(VOLLEYS, a.mine + b.mine);
    EXPECT_EQ(VOLLEYS / 2, a.mine);
    pthread_barrier_destroy(&ready);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
