/* cio-test: threaded
 *
 * Bounds of cio_call_soon_threadsafe: the loop takes in at most
 * CIO_THREADSAFE_BATCH calls per iteration, so a due timer fires between
 * every two batches however large the backlog; cio_call_soon_threadsafe_try
 * refuses (-EAGAIN) once a producer's ring is full and accepts again after
 * the loop took calls in, and cio_call_soon_threadsafe_wait blocks instead;
 * allocation failures (injected) refuse the call they hit and never reorder
 * the others; membarrier is issued only while producers are active. */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "test.h"
#include "loop/internal.h"

static cio_loop *g_loop;

/* Calls carry (producer << 32 | sequence number); each producer's numbers
 * must run in increasing order (gaps are refused calls). */
#define MAXP 8
static long last_seq[MAXP], ran_per[MAXP], ran_total, expect_total;
static bool stop_when_all_ran;

/* ---- a timer that is due on every iteration -------------------------------- */

static long since_tick, max_between, ticks;
static cio_handle tick_handle;
static bool ticking;

static void tick(void *arg)
{
    (void)arg;
    if (since_tick > max_between)
        max_between = since_tick;
    since_tick = 0;
    ticks++;
    if (ticking) /* delay 0: overdue at once, fires on the next iteration */
        EXPECT_OK(cio_call_later(g_loop, 0, tick, NULL, &tick_handle));
}

static void start_ticking(void)
{
    since_tick = max_between = ticks = 0;
    ticking = true;
    EXPECT_OK(cio_call_later(g_loop, 0, tick, NULL, &tick_handle));
}

static void stop_ticking(void)
{
    ticking = false;
    cio_timer_cancel(g_loop, tick_handle);
}

static void call(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int p = (int)(v >> 32);
    long seq = (long)(v & 0xffffffffu);
    if (seq <= last_seq[p])
        FAIL("producer %d: call %ld ran after %ld", p, seq, last_seq[p]);
    last_seq[p] = seq;
    ran_per[p]++;
    since_tick++;
    if (++ran_total == expect_total && stop_when_all_ran) {
        stop_ticking();
        cio_loop_stop(g_loop);
    }
}

static void *arg_of(int p, long seq) { return (void *)(((uintptr_t)p << 32) | (uintptr_t)seq); }

static void reset(long total)
{
    memset(last_seq, 0, sizeof last_seq);
    memset(ran_per, 0, sizeof ran_per);
    ran_total = 0;
    expect_total = total;
    stop_when_all_ran = true;
}

/* ---- a large backlog is taken in batch by batch ---------------------------- */

struct flood {
    int p;
    long n;
    bool try_mode;
};

static void *flood(void *arg)
{
    struct flood *f = arg;
    for (long i = 1; i <= f->n; i++) {
        int rc;
        while ((rc = f->try_mode ? cio_call_soon_threadsafe_try(g_loop, call, arg_of(f->p, i))
                                 : cio_call_soon_threadsafe(g_loop, call, arg_of(f->p, i))) ==
               -EAGAIN)
            sched_yield();
        if (rc)
            FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
    }
    return NULL;
}

static void backlog_in_batches(int producers, long per, bool concurrently, bool try_mode)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    reset(producers * per);
    pthread_t th[MAXP];
    struct flood f[MAXP];
    for (int i = 0; i < producers; i++) {
        f[i] = (struct flood){i, per, try_mode};
        EXPECT_OK(pthread_create(&th[i], NULL, flood, &f[i]));
    }
    if (!concurrently) /* the whole backlog is there before the loop looks */
        for (int i = 0; i < producers; i++)
            EXPECT_OK(pthread_join(th[i], NULL));
    start_ticking();
    EXPECT_OK(cio_loop_run_forever(loop));
    if (concurrently)
        for (int i = 0; i < producers; i++)
            EXPECT_OK(pthread_join(th[i], NULL));
    EXPECT_EQ(producers * per, ran_total);
    for (int i = 0; i < producers; i++)
        EXPECT_EQ(per, last_seq[i]);
    /* The timer fired between every two batches. */
    if (max_between > CIO_THREADSAFE_BATCH)
        FAIL("%ld threadsafe calls ran between two firings of a due timer (bound %d)",
             max_between, CIO_THREADSAFE_BATCH);
    EXPECT_TRUE(ticks >= producers * per / CIO_THREADSAFE_BATCH);
    CLOSE_LOOP(loop);
}

TEST(due_timer_fires_between_batches_of_a_backlog)
{
    backlog_in_batches(1, 200000, false, false);
}

TEST(due_timer_fires_between_batches_of_a_merged_backlog)
{
    backlog_in_batches(3, 60000, false, false);
}

TEST_T(due_timer_fires_between_batches_while_producers_run_flat_out, 120)
{
    backlog_in_batches(4, 100000, true, false);
}

TEST_T(try_producers_flat_out_keep_order, 120)
{
    backlog_in_batches(4, 100000, true, true);
}

/* ---- -EAGAIN when full, accepted again after a drain -------------------------- */

static long fill_with_try(int p, long first)
{
    long i = first;
    int rc;
    while ((rc = cio_call_soon_threadsafe_try(g_loop, call, arg_of(p, i))) == 0)
        i++;
    EXPECT_ERR(-EAGAIN, rc);
    return i - first;
}

TEST(try_refuses_when_full_and_accepts_after_the_loop_drains)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    reset(0);
    stop_when_all_ran = false;
    /* The loop's own thread is a producer like another (and cannot block). */
    long accepted = fill_with_try(0, 1);
    EXPECT_EQ(CIO_THREADSAFE_RING, accepted);
    EXPECT_ERR(-EAGAIN, cio_call_soon_threadsafe_try(loop, call, arg_of(0, accepted + 1)));
    /* One iteration takes one batch in and runs it: room again. */
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(CIO_THREADSAFE_BATCH, ran_total);
    long more = fill_with_try(0, accepted + 1);
    EXPECT_EQ(CIO_THREADSAFE_BATCH, more);
    accepted += more;
    /* An unbounded call spills into the overflow; a bounded one may not
     * pass it. */
    EXPECT_OK(cio_call_soon_threadsafe(loop, call, arg_of(0, ++accepted)));
    EXPECT_ERR(-EAGAIN, cio_call_soon_threadsafe_try(loop, call, arg_of(0, accepted + 1)));
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(accepted, ran_total);
    EXPECT_EQ(accepted, last_seq[0]);
    EXPECT_OK(cio_call_soon_threadsafe_try(loop, call, arg_of(0, ++accepted)));
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(accepted, ran_total);
    CLOSE_LOOP(loop);
}

/* Only the first push of an overflow episode signals the loop; the later
 * ones rely on the loop owing the list a look while `overflowing` stays set
 * (ts_more after a partial batch). Every one must still be taken in, in
 * order, by iterations that never block, including pushes made after the
 * loop has taken part of the list. */
TEST(overflow_pushes_after_the_first_are_taken_in_without_a_signal)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    reset(0);
    stop_when_all_ran = false;
    long accepted = 0;
    for (long i = 0; i < CIO_THREADSAFE_RING + 3 * CIO_THREADSAFE_BATCH; i++)
        EXPECT_OK(cio_call_soon_threadsafe(loop, call, arg_of(0, ++accepted)));
    int rounds = 0;
    while (ran_total < accepted) {
        EXPECT_TRUE(++rounds < 1000);
        if (rounds > 1000)
            break;
        /* The loop has work: an iteration that may block must not (a lost
         * look would block here for good: the test's time limit). */
        int rc = cio_loop_run_once(loop, 0);
        EXPECT_TRUE(rc == 1 || (rc == 0 && ran_total == accepted));
        if (rounds == 5) /* the ring is drained, part of the overflow too */
            for (int i = 0; i < 3; i++)
                EXPECT_OK(cio_call_soon_threadsafe(loop, call, arg_of(0, ++accepted)));
    }
    EXPECT_EQ(accepted, ran_total);
    EXPECT_EQ(accepted, last_seq[0]);
    CLOSE_LOOP(loop);
}

static sem_t fill_go[3], fill_done;
static long fill_accepted;
static void *fill_thread(void *arg)
{
    int p = (int)(intptr_t)arg;
    long next = 1;
    for (int round = 0; round < 2; round++) {
        while (sem_wait(&fill_go[p]) != 0) {
        }
        long n = fill_with_try(p, next);
        next += n;
        fill_accepted = n;
        sem_post(&fill_done);
    }
    return NULL;
}

/* Two producers: each call carries a stamp, so a ring holds half as many. */
TEST(try_capacity_with_several_producers)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    reset(0);
    stop_when_all_ran = false;
    sem_init(&fill_go[1], 0, 0);
    sem_init(&fill_go[2], 0, 0);
    sem_init(&fill_done, 0, 0);
    pthread_t a, b;
    EXPECT_OK(pthread_create(&a, NULL, fill_thread, (void *)1));
    EXPECT_OK(pthread_create(&b, NULL, fill_thread, (void *)2));
    sem_post(&fill_go[1]); /* the first fills its ring before the second exists */
    sem_wait(&fill_done);
    EXPECT_EQ(CIO_THREADSAFE_RING, fill_accepted);
    sem_post(&fill_go[2]);
    sem_wait(&fill_done);
    EXPECT_EQ(CIO_THREADSAFE_RING / 2, fill_accepted);
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(CIO_THREADSAFE_RING + CIO_THREADSAFE_RING / 2, ran_total);
    sem_post(&fill_go[1]);
    sem_wait(&fill_done);
    EXPECT_EQ(CIO_THREADSAFE_RING / 2, fill_accepted);
    sem_post(&fill_go[2]);
    sem_wait(&fill_done);
    EXPECT_EQ(CIO_THREADSAFE_RING / 2, fill_accepted);
    EXPECT_OK(pthread_join(a, NULL));
    EXPECT_OK(pthread_join(b, NULL));
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(CIO_THREADSAFE_RING * 2 + CIO_THREADSAFE_RING / 2, ran_total);
    EXPECT_EQ(CIO_THREADSAFE_RING + CIO_THREADSAFE_RING / 2, last_seq[1]);
    EXPECT_EQ(CIO_THREADSAFE_RING, last_seq[2]);
    CLOSE_LOOP(loop);
}

/* ---- cio_call_soon_threadsafe_wait ----------------------------------------- */

static _Atomic long waited_accepted;
static long max_backlog;

static void waited(void *arg)
{
    call(arg);
    long backlog = atomic_load(&waited_accepted) - ran_total;
    if (backlog > max_backlog)
        max_backlog = backlog;
}

static void *wait_producer(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 1; i <= n; i++) {
        EXPECT_OK(cio_call_soon_threadsafe_wait(g_loop, waited, arg_of(1, i), -1));
        atomic_fetch_add(&waited_accepted, 1);
    }
    return NULL;
}

/* A producer far faster than the loop blocks instead of growing the
 * backlog: what it has accepted and the loop has not run never exceeds its
 * ring plus the batch the loop is running. */
TEST_T(wait_blocks_the_producer_and_bounds_the_backlog, 120)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    const long n = 10 * CIO_THREADSAFE_RING;
    reset(n);
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, wait_producer, (void *)(intptr_t)n));
    start_ticking();
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_EQ(n, ran_total);
    EXPECT_EQ(n, last_seq[1]);
    if (max_backlog > CIO_THREADSAFE_RING + CIO_THREADSAFE_BATCH)
        FAIL("backlog reached %ld calls", max_backlog);
    CLOSE_LOOP(loop);
}

TEST_T(wait_bounds_the_backlog_no_membarrier, 120)
{
    cio__ts_no_membarrier = true;
    cio_loop *loop = g_loop = test_strict_loop_new();
    const long n = 10 * CIO_THREADSAFE_RING;
    reset(n);
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, wait_producer, (void *)(intptr_t)n));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_EQ(n, ran_total);
    EXPECT_TRUE(max_backlog <= CIO_THREADSAFE_RING + CIO_THREADSAFE_BATCH);
    CLOSE_LOOP(loop);
}

static int deadlk_rc;
static void wait_on_own_loop(void *arg)
{
    (void)arg;
    deadlk_rc = cio_call_soon_threadsafe_wait(g_loop, wait_on_own_loop, NULL, -1);
    cio_loop_stop(g_loop);
}

TEST(wait_on_the_loops_own_thread_is_refused)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    EXPECT_OK(cio_call_soon(loop, wait_on_own_loop, NULL));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_ERR(-EDEADLK, deadlk_rc);
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe_wait(loop, NULL, NULL, 0));
    CLOSE_LOOP(loop);
}

static void *fill_then_wait(void *arg)
{
    (void)arg;
    EXPECT_EQ(CIO_THREADSAFE_RING, fill_with_try(2, 1));
    EXPECT_ERR(-ETIMEDOUT, cio_call_soon_threadsafe_wait(g_loop, call, arg_of(2, 100000), 0));
    EXPECT_ERR(-ETIMEDOUT, cio_call_soon_threadsafe_wait(g_loop, call, arg_of(2, 100001), 0.01));
    return NULL;
}

/* The loop does not run: a full ring stays full, and the wait ends with
 * its timeout, having done nothing. */
TEST(wait_times_out_on_a_full_ring)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    reset(0);
    stop_when_all_ran = false;
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, fill_then_wait, NULL));
    EXPECT_OK(pthread_join(t, NULL));
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(CIO_THREADSAFE_RING, ran_total);
    EXPECT_EQ(CIO_THREADSAFE_RING, last_seq[2]);
    CLOSE_LOOP(loop);
}

/* ---- allocation failures never reorder --------------------------------------- */

struct failing {
    int p;
    long n;
    long accepted, refused;
};

/* Makes n calls with an allocation failure injected every 700 calls: the
 * calls that hit one are refused (-ENOMEM), the others must all run, in
 * order. */
static void *failing_producer(void *arg)
{
    struct failing *f = arg;
    for (long i = 1; i <= f->n; i++) {
        if (i % 700 == 0)
            atomic_store(&cio__ts_fail_allocs, 1);
        int rc = cio_call_soon_threadsafe(g_loop, call, arg_of(f->p, i));
        if (rc == -ENOMEM) {
            f->refused++;
            continue;
        }
        if (rc)
            FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
        f->accepted++;
    }
    return NULL;
}

static void alloc_failures_keep_order(int producers)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    reset(0);
    stop_when_all_ran = false;
    pthread_t th[MAXP];
    struct failing f[MAXP];
    for (int i = 0; i < producers; i++) {
        f[i] = (struct failing){.p = i, .n = 30000};
        EXPECT_OK(pthread_create(&th[i], NULL, failing_producer, &f[i]));
    }
    long total = 0, refused = 0;
    for (int i = 0; i < producers; i++) {
        EXPECT_OK(pthread_join(th[i], NULL));
        total += f[i].accepted;
        refused += f[i].refused;
    }
    EXPECT_TRUE(refused > 0); /* the overflow lists grew and failed */
    /* The loop's side: the ready queue cannot grow for the first drains. */
    atomic_store(&cio__ts_fail_allocs, 3);
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(0, atomic_load(&cio__ts_fail_allocs) > 0);
    EXPECT_EQ(total, ran_total);
    for (int i = 0; i < producers; i++)
        EXPECT_EQ(f[i].accepted, ran_per[i]);
    CLOSE_LOOP(loop);
}

TEST(allocation_failures_refuse_calls_and_never_reorder)
{
    alloc_failures_keep_order(1);
}

TEST(allocation_failures_never_reorder_merged_producers)
{
    alloc_failures_keep_order(3);
}

/* ---- membarrier only while producers are active ------------------------------- */

static sem_t post_go, post_back;
static _Atomic int posts_done;
static int posts_ran;
static void post_ran(void *arg)
{
    (void)arg;
    posts_ran++;
    cio_loop_stop(g_loop);
}

static void *poster(void *arg)
{
    long rounds = (long)(intptr_t)arg;
    for (long r = 0; r < rounds; r++) {
        while (sem_wait(&post_go) != 0) {
        }
        EXPECT_OK(cio_call_soon_threadsafe(g_loop, post_ran, NULL));
        sem_post(&post_back); /* out of the call: its ring is no longer busy */
    }
    atomic_store(&posts_done, 1);
    return NULL;
}

static int sleeps_left;
static void sleep_chain(void *arg)
{
    (void)arg;
    /* 1 ms: nothing else is due, so every iteration blocks in the backend */
    if (--sleeps_left > 0)
        EXPECT_OK(cio_call_later(g_loop, 0.001, sleep_chain, NULL, NULL));
    else
        cio_loop_stop(g_loop);
}

static void sleep_n(int n)
{
    sleeps_left = n;
    EXPECT_OK(cio_call_later(g_loop, 0.001, sleep_chain, NULL, NULL));
    EXPECT_OK(cio_loop_run_forever(g_loop));
}

TEST(membarrier_stops_when_producers_go_quiet)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    sem_init(&post_go, 0, 0);
    sem_init(&post_back, 0, 0);
    pthread_t t;
    const long rounds = 20;
    EXPECT_OK(pthread_create(&t, NULL, poster, (void *)(intptr_t)rounds));
    sem_post(&post_go);
    EXPECT_OK(cio_loop_run_forever(loop)); /* until the post ran */
    /* A producer still inside its call when the ring cools keeps it hot
     * (that is correct, and depends on scheduling): count from the moment
     * the producer is known to be out of it. */
    while (sem_wait(&post_back) != 0) {
    }
    uint64_t before = atomic_load(&cio__ts_membarriers);
    sleep_n(1000);
    uint64_t issued = atomic_load(&cio__ts_membarriers) - before;
    printf("     %llu membarrier(s) in 1000 sleeps after one call (available: %s)\n",
           (unsigned long long)issued, cio__ts_asym_barrier() ? "yes" : "no");
    if (issued > 4)
        FAIL("%llu membarriers in 1000 sleeps after a single call", (unsigned long long)issued);
    /* A cooled ring still wakes the loop: the producer's next call fences.
     * Each round lets the ring cool first, then posts to a loop that has
     * nothing else to wake it (a lost wakeup hangs here). */
    for (long r = 1; r < rounds; r++) {
        sleep_n(4);
        sem_post(&post_go);
        EXPECT_OK(cio_loop_run_forever(loop));
        EXPECT_EQ(r + 1, posts_ran);
        while (sem_wait(&post_back) != 0) {
        }
    }
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_TRUE(atomic_load(&posts_done));
    CLOSE_LOOP(loop);
}

/* Several producers posting now and then to a loop with nothing else to
 * wake it: rings go hot and cold all the time (each sleep of the loop ends
 * with another producer's call, so the quiet ones cool) and no wakeup may
 * be lost on the way (a lost one hangs the loop until the case times out). */
#define SPORADIC_P 4
#define SPORADIC_N 300
static long sporadic_ran;
static void sporadic(void *arg)
{
    (void)arg;
    if (++sporadic_ran == SPORADIC_P * SPORADIC_N)
        cio_loop_stop(g_loop);
}

static void *sporadic_producer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < SPORADIC_N; i++) {
        seed = seed * 1103515245u + 12345u;
        usleep((seed >> 16) % 400); /* varies the interleaving only */
        EXPECT_OK(cio_call_soon_threadsafe(g_loop, sporadic, NULL));
    }
    return NULL;
}

TEST_T(rings_going_hot_and_cold_never_lose_a_wakeup, 120)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    pthread_t th[SPORADIC_P];
    for (uintptr_t i = 0; i < SPORADIC_P; i++)
        EXPECT_OK(pthread_create(&th[i], NULL, sporadic_producer, (void *)(i + 1)));
    EXPECT_OK(cio_loop_run_forever(loop));
    for (int i = 0; i < SPORADIC_P; i++)
        EXPECT_OK(pthread_join(th[i], NULL));
    EXPECT_EQ(SPORADIC_P * SPORADIC_N, sporadic_ran);
    CLOSE_LOOP(loop);
}

static int answer(void *arg, void **result)
{
    (void)arg;
    *result = (void *)42;
    return 0;
}

/* The pool's completions come in through rings of their own: one job must
 * not leave the loop issuing membarrier on every sleep either. */
TEST(membarrier_stops_after_a_pool_job)
{
    cio_loop *loop = g_loop = test_strict_loop_new();
    cio_future *f;
    EXPECT_OK(cio_to_thread_future(loop, NULL, answer, NULL, &f));
    EXPECT_OK(cio_loop_run_until_complete(loop, f));
    cio_future_unref(f);
    /* The pool's worker may still be inside its completion call when the
     * ring first cools, which keeps the ring hot for another round (correct,
     * and up to the scheduler): what must hold is that the barriers stop,
     * so the second half of the sleeps issues none. */
    uint64_t before = atomic_load(&cio__ts_membarriers);
    sleep_n(500);
    uint64_t mid = atomic_load(&cio__ts_membarriers);
    sleep_n(500);
    uint64_t late = atomic_load(&cio__ts_membarriers) - mid;
    printf("     %llu membarrier(s) in the first 500 sleeps after one pool job, %llu after\n",
           (unsigned long long)(mid - before), (unsigned long long)late);
    if (late != 0)
        FAIL("%llu membarriers in sleeps 500-1000 after a pool job", (unsigned long long)late);
    CLOSE_LOOP(loop);
}

/* The same cases on the path of a kernel that refuses membarrier. */
TEST_T(no_membarrier_backlog_in_batches, 120)
{
    cio__ts_no_membarrier = true;
    backlog_in_batches(4, 50000, true, false);
    EXPECT_FALSE(cio__ts_asym_barrier());
}

TEST_T(no_membarrier_try_producers_keep_order, 120)
{
    cio__ts_no_membarrier = true;
    backlog_in_batches(4, 50000, true, true);
}

TEST(no_membarrier_quiet_producers_still_wake_the_loop)
{
    cio__ts_no_membarrier = true;
    cio_loop *loop = g_loop = test_strict_loop_new();
    sem_init(&post_go, 0, 0);
    pthread_t t;
    const long rounds = 20;
    EXPECT_OK(pthread_create(&t, NULL, poster, (void *)(intptr_t)rounds));
    for (long r = 0; r < rounds; r++) {
        sleep_n(2);
        sem_post(&post_go);
        EXPECT_OK(cio_loop_run_forever(loop));
        EXPECT_EQ(r + 1, posts_ran);
    }
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_EQ(0, atomic_load(&cio__ts_membarriers));
    CLOSE_LOOP(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
