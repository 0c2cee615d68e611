/* cio-test: threaded
 *
 * Signals: delivery to the loop's thread, coalescing, removal (also from
 * inside the handler) restoring the previous disposition, bad signal
 * numbers, and two loops in two threads each getting only their signals
 * (and both getting a signal they both watch). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "test.h"

static cio_loop *g_loop;
static int hits[8];

static void hit(void *arg) { hits[(intptr_t)arg]++; }
static void nop(void *arg) { (void)arg; }

/* Runs iterations until hits[i] reaches want (bounded). */
static void run_until_hits(cio_loop *loop, int i, int want)
{
    for (int k = 0; k < 10000 && hits[i] < want; k++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_EQ(want, hits[i]);
}

TEST(signal_handler_runs_on_loop)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)0));
    EXPECT_OK(raise(SIGUSR1));
    EXPECT_EQ(0, hits[0]); /* never inside the signal handler */
    run_until_hits(loop, 0, 1);
    EXPECT_OK(kill(getpid(), SIGUSR1));
    run_until_hits(loop, 0, 2);
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    EXPECT_ERR(-ENOENT, cio_loop_remove_signal_handler(loop, SIGUSR1));
    CLOSE_LOOP(loop);
}

TEST(deliveries_before_run_coalesce)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR2, hit, (void *)0));
    for (int i = 0; i < 5; i++)
        EXPECT_OK(raise(SIGUSR2));
    run_until_hits(loop, 0, 1);
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(1, hits[0]);
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR2));
    CLOSE_LOOP(loop);
}

TEST(replacing_handler)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)0));
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)1));
    EXPECT_OK(raise(SIGUSR1));
    run_until_hits(loop, 1, 1);
    EXPECT_EQ(0, hits[0]);
    /* one registration: one removal */
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    EXPECT_ERR(-ENOENT, cio_loop_remove_signal_handler(loop, SIGUSR1));
    CLOSE_LOOP(loop);
}

TEST(invalid_signal_numbers)
{
    cio_loop *loop = test_loop_new();
    int bad[] = {0, -1, SIGKILL, SIGSTOP, 65, 1000, 1 << 30};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT_ERR(-EINVAL, cio_loop_add_signal_handler(loop, bad[i], nop, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_signal_handler(loop, SIGUSR1, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_signal_handler(NULL, SIGUSR1, nop, NULL));
    EXPECT_ERR(-ENOENT, cio_loop_remove_signal_handler(loop, SIGUSR1));
    EXPECT_TRUE(cio_loop_remove_signal_handler(loop, 0) < 0);
    EXPECT_TRUE(cio_loop_remove_signal_handler(loop, 1000) < 0);
    EXPECT_TRUE(cio_loop_remove_signal_handler(NULL, SIGUSR1) < 0);
    CLOSE_LOOP(loop); /* nothing was registered */
}

/* Fails the case on any report: the cases that install it expect none. */
static void report_fails(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    FAIL("unexpected report: %s", msg);
}

/* The synchronous fault signals are refused, and their disposition (cio's
 * stack-overflow handler, the default core dump) is left alone: a handler
 * that only queues a callback would return to the faulting instruction and
 * fault again forever. */
TEST(fault_signals_refused)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        struct sigaction before, after;
        EXPECT_OK(sigaction(faults[i], NULL, &before));
        EXPECT_ERR(-EINVAL, cio_loop_add_signal_handler(loop, faults[i], nop, NULL));
        EXPECT_OK(sigaction(faults[i], NULL, &after));
        EXPECT_TRUE(before.sa_handler == after.sa_handler);
        EXPECT_ERR(-ENOENT, cio_loop_remove_signal_handler(loop, faults[i]));
    }
    CLOSE_LOOP(loop); /* nothing was registered */
}

static volatile sig_atomic_t prev_hits;
static void prev_handler(int signo)
{
    (void)signo;
    prev_hits++;
}

TEST(remove_restores_previous_disposition)
{
    cio_loop *loop = g_loop = test_loop_new();
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prev_handler;
    sigemptyset(&sa.sa_mask);
    EXPECT_OK(sigaction(SIGUSR1, &sa, NULL));
    /* SIGUSR2 ignored before cio takes it */
    signal(SIGUSR2, SIG_IGN);

    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)0));
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR2, hit, (void *)1));
    EXPECT_OK(sigaction(SIGUSR1, NULL, &cur));
    EXPECT_TRUE(cur.sa_handler != prev_handler);
    EXPECT_OK(raise(SIGUSR1));
    EXPECT_OK(raise(SIGUSR2));
    run_until_hits(loop, 0, 1);
    run_until_hits(loop, 1, 1);

    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR2));
    EXPECT_OK(sigaction(SIGUSR1, NULL, &cur));
    EXPECT_TRUE(cur.sa_handler == prev_handler);
    EXPECT_OK(sigaction(SIGUSR2, NULL, &cur));
    EXPECT_TRUE(cur.sa_handler == SIG_IGN);
    int before = prev_hits;
    EXPECT_OK(raise(SIGUSR1));
    EXPECT_EQ(before + 1, prev_hits);
    EXPECT_OK(raise(SIGUSR2)); /* ignored again: harmless */
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(1, hits[0]);
    EXPECT_EQ(1, hits[1]);
    CLOSE_LOOP(loop);
}

static void remove_self(void *arg)
{
    (void)arg;
    hits[0]++;
    EXPECT_OK(cio_loop_remove_signal_handler(g_loop, SIGUSR1));
}

TEST(handler_removes_itself)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, remove_self, NULL));
    EXPECT_OK(raise(SIGUSR1));
    run_until_hits(loop, 0, 1);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_ERR(-ENOENT, cio_loop_remove_signal_handler(loop, SIGUSR1));
    CLOSE_LOOP(loop);
}

TEST(removed_handler_not_called_for_pending_delivery)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)0));
    EXPECT_OK(raise(SIGUSR1)); /* pending on the loop, not yet run */
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    /* keep SIGUSR1 from killing the process from here on */
    signal(SIGUSR1, SIG_IGN);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(0, hits[0]);
    CLOSE_LOOP(loop);
}

TEST(close_busy_with_signal_handler)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)0));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    /* a delivery pending across a failed close still runs */
    EXPECT_OK(raise(SIGUSR1));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    run_until_hits(loop, 0, 1);
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    CLOSE_LOOP(loop);
}

/* Debug mode watches SIGUSR1 itself (the task dump). A user's SIGUSR1
 * handler replaces it and is the user's: live at close until removed, and
 * after its removal the loop closes (the count of live handlers used to go
 * negative: "18446744073709551615 signal handler(s)" and -EBUSY forever). */
static char close_report[2048];
static void keep_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    size_t n = strlen(close_report);
    snprintf(close_report + n, sizeof close_report - n, "%s\n", msg);
}

TEST(user_sigusr1_handler_in_debug_mode)
{
    cio_loop *loop;
    EXPECT_OK(cio_loop_new(&CIO_LOOP_OPTIONS(.debug = 1), &loop));
    cio_loop_set_report_handler(loop, test_fail_on_report, NULL);
    g_loop = loop;
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, hit, (void *)0));
    EXPECT_OK(raise(SIGUSR1));
    run_until_hits(loop, 0, 1);
    cio_loop_set_report_handler(loop, keep_report, NULL); /* the refused close lists it */
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_TRUE(strstr(close_report, "1 signal handler") != NULL);
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    cio_loop_set_report_handler(loop, test_fail_on_report, NULL);
    CLOSE_LOOP(loop);
}

/* A loop blocked in run_forever with nothing but a signal handler wakes when
 * another thread sends the signal. */
static void stop_on_signal(void *arg)
{
    (void)arg;
    hits[0]++;
    cio_loop_stop(g_loop);
}
static void *send_later(void *arg)
{
    (void)arg;
    usleep(20000);
    kill(getpid(), SIGUSR1);
    return NULL;
}

TEST(signal_from_other_thread_wakes_blocked_loop)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(loop, SIGUSR1, stop_on_signal, NULL));
    for (int round = 1; round <= 5; round++) {
        pthread_t t;
        EXPECT_OK(pthread_create(&t, NULL, send_later, NULL));
        EXPECT_OK(cio_loop_run_forever(loop));
        EXPECT_OK(pthread_join(t, NULL));
        EXPECT_EQ(round, hits[0]);
    }
    EXPECT_OK(cio_loop_remove_signal_handler(loop, SIGUSR1));
    CLOSE_LOOP(loop);
}

/* ---- two loops in two threads ----------------------------------------------- */

struct sigloop {
    cio_loop *loop;
    int own_signo;
    _Atomic int own_hits;
    _Atomic int shared_hits;
    pthread_barrier_t *ready;
};

static void own_cb(void *arg)
{
    struct sigloop *s = arg;
    atomic_fetch_add(&s->own_hits, 1);
}
static void shared_cb(void *arg)
{
    struct sigloop *s = arg;
    atomic_fetch_add(&s->shared_hits, 1);
}
static void stop_cb(void *arg) { cio_loop_stop(arg); }

static void *sigloop_thread(void *arg)
{
    struct sigloop *s = arg;
    s->loop = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(s->loop, s->own_signo, own_cb, s));
    EXPECT_OK(cio_loop_add_signal_handler(s->loop, SIGWINCH, shared_cb, s));
    pthread_barrier_wait(s->ready);
    EXPECT_OK(cio_loop_run_forever(s->loop));
    EXPECT_OK(cio_loop_remove_signal_handler(s->loop, s->own_signo));
    EXPECT_OK(cio_loop_remove_signal_handler(s->loop, SIGWINCH));
    /* take in anything still queued, then close on the owning thread */
    while (cio_loop_run_once(s->loop, CIO_RUN_NOWAIT) > 0) {
    }
    CLOSE_LOOP(s->loop);
    return NULL;
}

static void wait_for_count(_Atomic int *v, int want)
{
    for (int i = 0; i < 10000 && atomic_load(v) < want; i++)
        usleep(1000);
    EXPECT_EQ(want, atomic_load(v));
}

TEST(signals_reach_the_right_loop)
{
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, 3);
    struct sigloop a = {.own_signo = SIGUSR1, .ready = &ready};
    struct sigloop b = {.own_signo = SIGUSR2, .ready = &ready};
    pthread_t ta, tb;
    EXPECT_OK(pthread_create(&ta, NULL, sigloop_thread, &a));
    EXPECT_OK(pthread_create(&tb, NULL, sigloop_thread, &b));
    pthread_barrier_wait(&ready);

    EXPECT_OK(kill(getpid(), SIGUSR1));
    wait_for_count(&a.own_hits, 1);
    EXPECT_OK(kill(getpid(), SIGUSR2));
    wait_for_count(&b.own_hits, 1);
    EXPECT_OK(raise(SIGUSR2)); /* raise: delivered to this (non-loop) thread */
    wait_for_count(&b.own_hits, 2);
    EXPECT_OK(kill(getpid(), SIGWINCH));
    wait_for_count(&a.shared_hits, 1);
    wait_for_count(&b.shared_hits, 1);

    /* let both loops settle, then check nothing ran twice or crossed over */
    usleep(20000);
    EXPECT_EQ(1, atomic_load(&a.own_hits));
    EXPECT_EQ(2, atomic_load(&b.own_hits));
    EXPECT_EQ(1, atomic_load(&a.shared_hits));
    EXPECT_EQ(1, atomic_load(&b.shared_hits));

    EXPECT_OK(cio_call_soon_threadsafe(a.loop, stop_cb, a.loop));
    EXPECT_OK(cio_call_soon_threadsafe(b.loop, stop_cb, b.loop));
    EXPECT_OK(pthread_join(ta, NULL));
    EXPECT_OK(pthread_join(tb, NULL));
    pthread_barrier_destroy(&ready);
}

/* Both loops in the main thread watching the same signal: each runs its own. */
TEST(two_loops_same_signal_same_thread)
{
    cio_loop *a = test_loop_new(), *b = test_loop_new();
    EXPECT_OK(cio_loop_add_signal_handler(a, SIGUSR1, hit, (void *)0));
    EXPECT_OK(cio_loop_add_signal_handler(b, SIGUSR1, hit, (void *)1));
    EXPECT_OK(raise(SIGUSR1));
    run_until_hits(a, 0, 1);
    run_until_hits(b, 1, 1);
    /* removing one loop's handler keeps the other working */
    EXPECT_OK(cio_loop_remove_signal_handler(a, SIGUSR1));
    EXPECT_OK(raise(SIGUSR1));
    run_until_hits(b, 1, 2);
    EXPECT_EQ(0, cio_loop_run_once(a, CIO_RUN_NOWAIT));
    EXPECT_EQ(1, hits[0]);
    EXPECT_OK(cio_loop_remove_signal_handler(b, SIGUSR1));
    CLOSE_LOOP(a);
    CLOSE_LOOP(b);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
