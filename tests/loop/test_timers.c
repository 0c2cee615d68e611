/* Timers: ordering, cancellation (also from inside callbacks), repeating
 * timers, handles that stay safe forever (also past 2^32 reuses of a node),
 * node storage given back when the wheel empties, the wheel working with
 * MADV_POPULATE_WRITE refused, and a million-timer run. White-box where it
 * must look inside the wheel (loop/internal.h). */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "test.h"
#include "loop/internal.h"

#define LOG_MAX 4096
static int log_v[LOG_MAX];
static int nlog;
static cio_loop *g_loop;

static void rec(void *arg)
{
    if (nlog < LOG_MAX)
        log_v[nlog] = (int)(intptr_t)arg;
    nlog++;
}

static void expect_log(const int *want, int n)
{
    EXPECT_EQ(n, nlog);
    for (int i = 0; i < n; i++)
        if (log_v[i] != want[i])
            FAIL("log[%d]: expected %d, got %d", i, want[i], log_v[i]);
}

/* Blocking iterations until nothing is left (bounded). */
static void run_all(cio_loop *loop)
{
    for (long i = 0; i < 1000000; i++) {
        int rc = cio_loop_run_once(loop, 0);
        if (rc < 0)
            FAIL("run_once: %s", cio_err_name(rc));
        if (rc == 0)
            return;
    }
    FAIL("loop did not finish");
}

static void nop(void *arg) { (void)arg; }

/* ---- ordering -------------------------------------------------------------- */

TEST(timers_fire_in_deadline_order)
{
    cio_loop *loop = test_loop_new();
    EXPECT_OK(cio_call_later(loop, 0.030, rec, (void *)3, NULL));
    EXPECT_OK(cio_call_later(loop, 0.010, rec, (void *)1, NULL));
    EXPECT_OK(cio_call_later(loop, 0.020, rec, (void *)2, NULL));
    EXPECT_OK(cio_call_later(loop, 0.000, rec, (void *)0, NULL));
    EXPECT_OK(cio_call_later(loop, 0.0105, rec, (void *)11, NULL)); /* sub-ms apart */
    EXPECT_OK(cio_call_later(loop, 0.0102, rec, (void *)10, NULL));
    run_all(loop);
    int want[] = {0, 1, 10, 11, 2, 3};
    expect_log(want, 6);
    CLOSE_LOOP(loop);
}

TEST(equal_deadlines_fire_in_start_order)
{
    cio_loop *loop = test_loop_new();
    double t = cio_loop_time(loop);
    /* two deadlines interleaved: each group keeps its start order */
    for (int i = 0; i < 200; i++)
        EXPECT_OK(cio_call_at(loop, t + (i % 2 ? 0.004 : 0.002), rec, (void *)(intptr_t)i, NULL));
    run_all(loop);
    EXPECT_EQ(200, nlog);
    for (int i = 0; i < 100; i++) {
        EXPECT_EQ(2 * i, log_v[i]);
        EXPECT_EQ(2 * i + 1, log_v[100 + i]);
    }
    CLOSE_LOOP(loop);
}

TEST(call_later_zero_runs)
{
    cio_loop *loop = test_loop_new();
    cio_handle h = 0;
    EXPECT_OK(cio_call_later(loop, 0, rec, (void *)5, &h));
    EXPECT_NE(0, h);
    EXPECT_TRUE(cio_timer_is_active(loop, h));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    int want[] = {5};
    expect_log(want, 1);
    EXPECT_FALSE(cio_timer_is_active(loop, h));
    CLOSE_LOOP(loop);
}

TEST(call_at_in_the_past_fires_next_iteration)
{
    cio_loop *loop = test_loop_new();
    EXPECT_OK(cio_call_at(loop, cio_loop_time(loop) - 5.0, rec, (void *)1, NULL));
    EXPECT_OK(cio_call_at(loop, -1e6, rec, (void *)0, NULL)); /* far past: earlier deadline */
    EXPECT_OK(cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    int want[] = {0, 1};
    expect_log(want, 2);
    CLOSE_LOOP(loop);
}

/* A timer started from a timer callback, already due, waits for the next
 * iteration (it must not run in the pass that is firing timers now). */
static void start_past_timer(void *arg)
{
    rec(arg);
    EXPECT_OK(cio_call_at(g_loop, cio_loop_time(g_loop) - 1.0, rec, (void *)2, NULL));
    EXPECT_OK(cio_call_later(g_loop, 0, rec, (void *)3, NULL));
}

TEST(timer_started_from_timer_waits_an_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_later(loop, 0, start_past_timer, (void *)1, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    int want1[] = {1};
    expect_log(want1, 1);
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    int want2[] = {1, 2, 3};
    expect_log(want2, 3);
    CLOSE_LOOP(loop);
}

/* The same with non-blocking iterations: an overdue timer started by a
 * callback (after this iteration fired its timers) is due at once, so the
 * very next iteration runs it, without waiting for the clock to reach the
 * next millisecond tick. */
static void start_overdue(void *arg)
{
    rec(arg);
    EXPECT_OK(cio_call_at(g_loop, cio_loop_time(g_loop) - 1.0, rec, (void *)2, NULL));
    EXPECT_OK(cio_call_later(g_loop, 0, rec, (void *)3, NULL));
}

TEST(overdue_timer_started_by_callback_fires_next_nowait_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_later(loop, 0, start_overdue, (void *)1, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    int want1[] = {1};
    expect_log(want1, 1);
    int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    if (nlog != 3)
        FAIL("overdue timers did not fire in the next iteration (%d of 2 ran, run_once %d)",
             nlog - 1, rc);
    EXPECT_EQ(0, rc);
    CLOSE_LOOP(loop);
}

static long hops;
static void hop(void *arg)
{
    (void)arg;
    if (++hops < 1000)
        EXPECT_OK(cio_call_later(g_loop, 0, hop, NULL, NULL));
}

TEST(call_later_zero_chain_is_not_throttled_to_the_tick)
{
    /* 1000 hops of call_later(0) take 1000 iterations (asyncio), not 1000
     * milliseconds: with non-blocking iterations the count decides */
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_soon(loop, hop, NULL));
    long iters = 0;
    while (hops < 1000 && iters < 5000) {
        EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
        iters++;
    }
    if (hops < 1000)
        FAIL("only %ld call_later(0) hops in %ld iterations", hops, iters);
    CLOSE_LOOP(loop);
}

static void soon_then_timer(void *arg)
{
    (void)arg;
    EXPECT_OK(cio_call_soon(g_loop, rec, (void *)1));
    EXPECT_OK(cio_call_later(g_loop, 0, rec, (void *)2, NULL));
}

TEST(ready_callback_runs_before_later_zero_timer)
{
    /* asyncio: a due timer joins the ready queue behind what is already there */
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_soon(loop, soon_then_timer, NULL));
    run_all(loop);
    int want[] = {1, 2};
    expect_log(want, 2);
    CLOSE_LOOP(loop);
}

static double fire_time[8];
static double deadline_of[8];
static void rec_time(void *arg)
{
    int i = (int)(intptr_t)arg;
    fire_time[i] = cio_loop_time(g_loop);
    rec(arg);
}

TEST(timers_never_fire_early)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t = cio_loop_time(loop);
    for (int i = 0; i < 8; i++) {
        deadline_of[i] = t + 0.0013 * (i + 1);
        EXPECT_OK(cio_call_at(loop, deadline_of[i], rec_time, (void *)(intptr_t)i, NULL));
    }
    run_all(loop);
    EXPECT_EQ(8, nlog);
    for (int i = 0; i < 8; i++) {
        EXPECT_EQ(i, log_v[i]);
        if (fire_time[i] < deadline_of[i] - 1e-6)
            FAIL("timer %d fired at %.6f before its deadline %.6f", i, fire_time[i],
                 deadline_of[i]);
    }
    CLOSE_LOOP(loop);
}

/* Deadlines past level 0 of a timing wheel (256 ms) cascade correctly. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define CASC_N 3000
static double casc_when[CASC_N];
static int casc_prev = -1, casc_fired;
static void casc_cb(void *arg)
{
    int i = (int)(intptr_t)arg;
    if (casc_prev >= 0) {
        double a = casc_when[casc_prev], b = casc_when[i];
        if (!(a < b || (a == b && casc_prev < i)))
            FAIL("timer %d (%.6f) fired after %d (%.6f)", i, b, casc_prev, a);
    }
    if (cio_loop_time(g_loop) < casc_when[i] - 1e-6)
        FAIL("timer %d fired early", i);
    casc_prev = i;
    casc_fired++;
}

TEST(cascading_deadlines_keep_order)
{
    cio_loop *loop = g_loop = test_loop_new();
    rng_state = 0x9e3779b97f4a7c15ULL;
    double t = cio_loop_time(loop);
    for (int i = 0; i < CASC_N; i++) {
        /* [0, 1.3) s in 100 us steps, so ties happen */
        casc_when[i] = t + (double)(rnd() % 13000) / 10000.0;
        EXPECT_OK(cio_call_at(loop, casc_when[i], casc_cb, (void *)(intptr_t)i, NULL));
    }
    run_all(loop);
    EXPECT_EQ(CASC_N, casc_fired);
    CLOSE_LOOP(loop);
}

/* ---- handles ----------------------------------------------------------------- */

TEST(cancel_fired_and_double_cancel)
{
    cio_loop *loop = test_loop_new();
    cio_handle a, b;
    EXPECT_OK(cio_call_later(loop, 0, rec, (void *)1, &a));
    EXPECT_OK(cio_call_later(loop, 100, rec, (void *)2, &b));
    EXPECT_NE(a, b);
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, nlog);
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, a)); /* already fired */
    EXPECT_OK(cio_timer_cancel(loop, b));
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, b)); /* double cancel */
    EXPECT_FALSE(cio_timer_is_active(loop, b));
    EXPECT_TRUE(isnan(cio_timer_remaining(loop, b)));
    CLOSE_LOOP(loop);
}

TEST(stale_handle_does_not_touch_reused_timer)
{
    cio_loop *loop = test_loop_new();
    cio_handle old, fresh[64];
    EXPECT_OK(cio_call_later(loop, 0, nop, NULL, &old));
    EXPECT_OK(cio_loop_run_once(loop, 0));
    /* new timers likely reuse the old timer's storage */
    for (int i = 0; i < 64; i++) {
        EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &fresh[i]));
        EXPECT_NE(old, fresh[i]);
    }
    EXPECT_FALSE(cio_timer_is_active(loop, old));
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, old));
    EXPECT_TRUE(isnan(cio_timer_remaining(loop, old)));
    for (int i = 0; i < 64; i++) {
        EXPECT_TRUE(cio_timer_is_active(loop, fresh[i]));
        EXPECT_OK(cio_timer_cancel(loop, fresh[i]));
    }
    /* and cancelled handles stay dead after their storage is reused */
    cio_handle again;
    EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &again));
    for (int i = 0; i < 64; i++)
        EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, fresh[i]));
    EXPECT_TRUE(cio_timer_is_active(loop, again));
    EXPECT_OK(cio_timer_cancel(loop, again));
    CLOSE_LOOP(loop);
}

/* Fails the case on any report: the cases that install it expect none. */
static void report_fails(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    FAIL("unexpected report: %s", msg);
}

/* The node behind a handle (white-box). */
static struct cio__tnode *node_of(cio_loop *loop, cio_handle h)
{
    uint32_t idx = (uint32_t)(h & 0xffffffffu) - 1;
    EXPECT_TRUE(idx < loop->wheel.used);
    return &loop->wheel.nodes[idx];
}

/* A node reused 2^32 times must not hand out a generation it handed out
 * before: the 32-bit generation used to wrap, and then a handle from 2^32
 * reuses earlier cancelled whatever timer held the node. The node's
 * generation is moved near the top (as after ~2^32 reuses) instead of
 * looping 2^32 times. */
TEST(stale_handle_after_generation_wrap_cannot_cancel)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    cio_handle first;
    EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &first));
    uint32_t idx = (uint32_t)(first & 0xffffffffu);
    EXPECT_OK(cio_timer_cancel(loop, first));
    /* the node is free: pretend it was reused 2^32 - 3 times since */
    node_of(loop, first)->gen = UINT32_MAX - 2;
    cio_handle seen[8];
    int nseen = 0;
    for (int i = 0; i < 8; i++) {
        cio_handle h;
        EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &h));
        EXPECT_NE(0, h);
        /* a pair handed out once is never handed out again */
        EXPECT_NE(first, h);
        for (int k = 0; k < nseen; k++)
            EXPECT_NE(seen[k], h);
        seen[nseen++] = h;
        /* every earlier handle is stale and leaves the new timer alone */
        EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, first));
        for (int k = 0; k < nseen - 1; k++)
            EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, seen[k]));
        EXPECT_TRUE(cio_timer_is_active(loop, h));
        EXPECT_OK(cio_timer_cancel(loop, h));
    }
    /* the node was reused up to its last generation, then retired */
    EXPECT_EQ(idx, (uint32_t)(seen[0] & 0xffffffffu));
    EXPECT_EQ(CIO__TW_GEN_RETIRED, loop->wheel.nodes[idx - 1].gen);
    for (int i = 0; i < nseen; i++)
        if ((uint32_t)(seen[i] & 0xffffffffu) == idx)
            EXPECT_TRUE((uint32_t)(seen[i] >> 32) != CIO__TW_GEN_RETIRED);
    CLOSE_LOOP(loop);
}

/* The same for a timer cancelled while its callback runs (the node's
 * generation moves twice: at the cancel and when the callback returns). */
static cio_handle self_h;
static void cancel_self_once(void *arg)
{
    (void)arg;
    EXPECT_OK(cio_timer_cancel(g_loop, self_h));
}

TEST(retired_node_cancelled_while_running_stays_retired)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    EXPECT_OK(cio_call_every(loop, 0, 1.0, cancel_self_once, NULL, &self_h));
    node_of(loop, self_h)->gen = UINT32_MAX - 1;
    self_h = (self_h & 0xffffffffu) | ((uint64_t)(UINT32_MAX - 1) << 32);
    EXPECT_TRUE(cio_timer_is_active(loop, self_h));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(CIO__TW_GEN_RETIRED, node_of(loop, self_h)->gen);
    cio_handle h;
    EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &h));
    EXPECT_NE(self_h & 0xffffffffu, h & 0xffffffffu); /* not the retired node */
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, self_h));
    EXPECT_OK(cio_timer_cancel(loop, h));
    CLOSE_LOOP(loop);
}

/* Starting and cancelling many timers used to keep the node storage at its
 * peak until the loop was freed; an empty wheel gives it back at the loop's
 * next poll. A handle from before still names no timer afterwards. */
#define MANY 300000
TEST(empty_wheel_gives_node_storage_back)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    cio_handle *h = malloc(MANY * sizeof *h);
    EXPECT_TRUE(h != NULL);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < MANY; i++)
            EXPECT_OK(cio_call_later(loop, 1.0 + i * 1e-5, nop, NULL, &h[i]));
        EXPECT_TRUE((size_t)loop->wheel.cap * sizeof *loop->wheel.nodes >= MANY * 40);
        for (int i = 0; i < MANY; i++)
            EXPECT_OK(cio_timer_cancel(loop, h[i]));
        EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT)); /* polls */
        EXPECT_EQ(0, loop->wheel.cap);
        EXPECT_TRUE(loop->wheel.nodes == NULL);
        for (int i = 0; i < CIO__TW_NSLOTS; i++)
            EXPECT_TRUE(loop->wheel.slots[i].v == NULL);
    }
    /* new timers land on the same indexes as old handles: those stay stale */
    cio_handle fresh[16];
    for (int i = 0; i < 16; i++)
        EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &fresh[i]));
    for (int i = 0; i < MANY; i++)
        EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, h[i]));
    for (int i = 0; i < 16; i++)
        EXPECT_OK(cio_timer_cancel(loop, fresh[i]));
    free(h);
    CLOSE_LOOP(loop);
}

/* The same when the timers fire instead: the storage goes once the last
 * one has run. */
static long many_fired;
static void count_fire(void *arg)
{
    (void)arg;
    many_fired++;
}

TEST(empty_wheel_after_firing_gives_node_storage_back)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    double t = cio_loop_time(loop) - 1.0;
    for (int i = 0; i < MANY; i++)
        EXPECT_OK(cio_call_at(loop, t, count_fire, NULL, NULL));
    EXPECT_TRUE(loop->wheel.cap >= MANY);
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(MANY, many_fired);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT)); /* the next poll */
    EXPECT_EQ(0, loop->wheel.cap);
    CLOSE_LOOP(loop);
}

/* MADV_POPULATE_WRITE is only an optimisation: with the kernel refusing it
 * (a seccomp filter here, as on kernels before 5.14), many timers still
 * start, fire in order and are freed. */
static int refuse_populate_write(void)
{
#ifndef MADV_POPULATE_WRITE
    return 0; /* the libc does not know it: the wheel never asks */
#else
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_POPULATE_WRITE, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 1 : -1;
#endif
}

static long pop_fired;
static int64_t pop_last;
static void pop_cb(void *arg)
{
    int64_t when = (int64_t)(intptr_t)arg;
    EXPECT_TRUE(when >= pop_last);
    pop_last = when;
    pop_fired++;
}

TEST(timers_work_with_populate_write_refused)
{
    int rc = refuse_populate_write();
    EXPECT_TRUE(rc >= 0);
#ifdef MADV_POPULATE_WRITE
    if (rc == 1) {
        char *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        EXPECT_TRUE(p != MAP_FAILED);
        EXPECT_EQ(-1, madvise(p, 1 << 16, MADV_POPULATE_WRITE));
        EXPECT_EQ(EINVAL, errno); /* refused, as an old kernel does */
        munmap(p, 1 << 16);
    }
#endif
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    double t = cio_loop_time(loop) - 1.0;
    /* past 16384 nodes, where the wheel starts populating ahead */
    for (int i = 0; i < MANY; i++)
        EXPECT_OK(cio_call_at(loop, t + (double)(i / 1000) * 1e-3, pop_cb,
                              (void *)(intptr_t)(i / 1000), NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(MANY, pop_fired);
    CLOSE_LOOP(loop);
}

TEST(timer_active_and_remaining)
{
    cio_loop *loop = test_loop_new();
    cio_handle h, past;
    EXPECT_OK(cio_call_later(loop, 10.0, nop, NULL, &h));
    EXPECT_TRUE(cio_timer_is_active(loop, h));
    double r = cio_timer_remaining(loop, h);
    EXPECT_TRUE(r > 9.0 && r <= 10.0);
    EXPECT_OK(cio_call_at(loop, cio_loop_time(loop) - 2.0, nop, NULL, &past));
    EXPECT_TRUE(cio_timer_remaining(loop, past) < 0); /* overdue */
    EXPECT_OK(cio_timer_cancel(loop, past));
    EXPECT_OK(cio_timer_cancel(loop, h));
    EXPECT_FALSE(cio_timer_is_active(loop, h));
    EXPECT_TRUE(isnan(cio_timer_remaining(loop, h)));
    CLOSE_LOOP(loop);
}

TEST(far_future_timers)
{
    cio_loop *loop = test_loop_new();
    double delays[] = {100.0, 20000.0, 86400.0 * 60, 86400.0 * 365 * 10, 1e9};
    cio_handle h[5];
    for (int i = 0; i < 5; i++) {
        EXPECT_OK(cio_call_later(loop, delays[i], nop, NULL, &h[i]));
        double r = cio_timer_remaining(loop, h[i]);
        if (!(r > delays[i] * 0.999 && r <= delays[i] + 1e-3))
            FAIL("timer of %.0f s: remaining %.3f", delays[i], r);
    }
    /* a delay whose deadline overflows a 64-bit ns clock: rejected or clamped */
    cio_handle big = 0;
    int rc = cio_call_later(loop, 1e12, nop, NULL, &big);
    if (rc == 0) {
        EXPECT_TRUE(cio_timer_is_active(loop, big));
        EXPECT_TRUE(cio_timer_remaining(loop, big) > 1e9);
        EXPECT_OK(cio_timer_cancel(loop, big));
    } else {
        EXPECT_ERR(-EINVAL, rc);
    }
    /* a near timer still fires while far ones wait */
    EXPECT_OK(cio_call_later(loop, 0.002, rec, (void *)1, NULL));
    for (int i = 0; i < 1000 && nlog == 0; i++)
        EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, nlog);
    for (int i = 0; i < 5; i++)
        EXPECT_OK(cio_timer_cancel(loop, h[i]));
    CLOSE_LOOP(loop);
}

/* ---- cancel from inside callbacks ------------------------------------------- */

static cio_handle victim;
static void cancel_victim(void *arg)
{
    rec(arg);
    EXPECT_OK(cio_timer_cancel(g_loop, victim));
    EXPECT_FALSE(cio_timer_is_active(g_loop, victim));
}

TEST(timer_cancels_another_due_in_same_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t = cio_loop_time(loop);
    /* same deadline: the canceller was started first */
    EXPECT_OK(cio_call_at(loop, t + 0.002, cancel_victim, (void *)1, NULL));
    EXPECT_OK(cio_call_at(loop, t + 0.002, rec, (void *)2, &victim));
    EXPECT_OK(cio_call_at(loop, t + 0.002, rec, (void *)3, NULL));
    run_all(loop);
    int want[] = {1, 3};
    expect_log(want, 2);
    CLOSE_LOOP(loop);
}

TEST(timer_cancels_another_overdue_in_same_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t = cio_loop_time(loop);
    /* different deadlines, both overdue: they fire in the same iteration */
    EXPECT_OK(cio_call_at(loop, t - 0.5, cancel_victim, (void *)1, NULL));
    EXPECT_OK(cio_call_at(loop, t - 0.2, rec, (void *)2, &victim));
    EXPECT_OK(cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    int want[] = {1};
    expect_log(want, 1);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    expect_log(want, 1);
    CLOSE_LOOP(loop);
}

TEST(timer_cancels_repeating_timer_due_in_same_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t = cio_loop_time(loop);
    EXPECT_OK(cio_call_at(loop, t - 0.5, cancel_victim, (void *)1, NULL));
    EXPECT_OK(cio_call_every(loop, 0, 0.001, rec, (void *)2, &victim));
    EXPECT_OK(cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    int want[] = {1};
    expect_log(want, 1);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    CLOSE_LOOP(loop);
}

static cio_handle self_h;
static int self_rc = 1;
static void cancel_self_oneshot(void *arg)
{
    (void)arg;
    nlog++;
    self_rc = cio_timer_cancel(g_loop, self_h);
    EXPECT_FALSE(cio_timer_is_active(g_loop, self_h));
}

TEST(oneshot_timer_cancels_itself)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_later(loop, 0, cancel_self_oneshot, NULL, &self_h));
    run_all(loop);
    EXPECT_EQ(1, nlog);
    /* it is firing: cancelling it is harmless either way */
    if (self_rc != 0 && self_rc != -ENOENT)
        FAIL("cancel in own callback returned %s", cio_err_name(self_rc));
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, self_h));
    CLOSE_LOOP(loop);
}

static int rep_count;
static void repeating_self_cancel(void *arg)
{
    (void)arg;
    rep_count++;
    EXPECT_TRUE(cio_timer_is_active(g_loop, self_h));
    if (rep_count == 5) {
        EXPECT_OK(cio_timer_cancel(g_loop, self_h));
        EXPECT_FALSE(cio_timer_is_active(g_loop, self_h));
        EXPECT_ERR(-ENOENT, cio_timer_cancel(g_loop, self_h));
    }
}

TEST(repeating_timer_cancels_itself)
{
    cio_loop *loop = g_loop = test_loop_new();
    EXPECT_OK(cio_call_every(loop, 0, 0.001, repeating_self_cancel, NULL, &self_h));
    run_all(loop); /* ends only if the timer stopped */
    EXPECT_EQ(5, rep_count);
    EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, self_h));
    CLOSE_LOOP(loop);
}

static int every_count;
static int every_per_iter;
static void every_slow(void *arg)
{
    (void)arg;
    every_count++;
    every_per_iter++;
    if (every_count == 1)
        usleep(300000); /* miss about six 50 ms periods */
}

TEST(repeating_timer_skips_missed_periods)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_handle h;
    EXPECT_OK(cio_call_every(loop, 0, 0.05, every_slow, NULL, &h));
    for (int i = 0; i < 1000 && every_count == 0; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_EQ(1, every_count);
    /* right after the stall: no burst of the missed periods */
    for (int i = 0; i < 3; i++) {
        every_per_iter = 0;
        EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
        if (every_per_iter > 1)
            FAIL("repeating timer fired %d times in one iteration", every_per_iter);
    }
    if (every_count > 2)
        FAIL("repeating timer fired a burst of %d after a stall", every_count - 1);
    EXPECT_TRUE(cio_timer_is_active(loop, h));
    double r = cio_timer_remaining(loop, h);
    EXPECT_TRUE(r <= 0.05 + 1e-3);
    EXPECT_OK(cio_timer_cancel(loop, h));
    CLOSE_LOOP(loop);
}

static int every2;
static void every_counter(void *arg)
{
    (void)arg;
    every2++;
    if (every2 == 10)
        cio_loop_stop(g_loop);
}

TEST(repeating_timer_keeps_firing)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_handle h;
    EXPECT_OK(cio_call_every(loop, 0.001, 0.001, every_counter, NULL, &h));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_EQ(10, every2);
    EXPECT_TRUE(cio_timer_is_active(loop, h));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_OK(cio_timer_cancel(loop, h));
    CLOSE_LOOP(loop);
}

/* ---- storage reuse within one firing pass ---------------------------------- */

static cio_handle reuse_victims[100];
static void cancel_and_restart(void *arg)
{
    rec(arg);
    /* the victims are due in this same pass: cancelling them frees their
     * storage, which the timers started next may reuse at once */
    for (int i = 0; i < 100; i++)
        EXPECT_OK(cio_timer_cancel(g_loop, reuse_victims[i]));
    for (int i = 0; i < 100; i++)
        EXPECT_OK(cio_call_at(g_loop, cio_loop_time(g_loop) - 1.0, rec,
                              (void *)(intptr_t)(1000 + i), NULL));
}

TEST(cancelled_due_timers_storage_reused_in_same_pass)
{
    cio_loop *loop = g_loop = test_loop_new();
    double t = cio_loop_time(loop);
    EXPECT_OK(cio_call_at(loop, t - 0.5, cancel_and_restart, (void *)1, NULL));
    for (int i = 0; i < 100; i++)
        EXPECT_OK(cio_call_at(loop, t - 0.4, rec, (void *)(intptr_t)(2000 + i), &reuse_victims[i]));
    EXPECT_OK(cio_call_at(loop, t - 0.3, rec, (void *)2, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    /* the canceller and the survivor; none of the victims or new timers */
    int want1[] = {1, 2};
    expect_log(want1, 2);
    for (int i = 0; i < 100 && nlog < 102; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_EQ(102, nlog);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    for (int i = 0; i < 100; i++)
        EXPECT_EQ(1000 + i, log_v[2 + i]);
    for (int i = 0; i < 100; i++)
        EXPECT_ERR(-ENOENT, cio_timer_cancel(loop, reuse_victims[i]));
    CLOSE_LOOP(loop);
}

TEST(extreme_deadlines)
{
    cio_loop *loop = test_loop_new();
    cio_handle h;
    /* far past: due now */
    EXPECT_OK(cio_call_at(loop, -1e300, rec, (void *)1, NULL));
    EXPECT_OK(cio_call_at(loop, -INFINITY, rec, (void *)2, NULL));
    EXPECT_OK(cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    int want[] = {1, 2};
    expect_log(want, 2);
    /* far future: rejected, or scheduled and cancellable */
    double far[] = {1e300, INFINITY, 9.3e9};
    for (int i = 0; i < 3; i++) {
        int rc = cio_call_at(loop, far[i], rec, (void *)3, &h);
        if (rc == 0) {
            EXPECT_TRUE(cio_timer_is_active(loop, h));
            EXPECT_TRUE(cio_timer_remaining(loop, h) > 1e8);
            EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
            EXPECT_OK(cio_timer_cancel(loop, h));
        } else {
            EXPECT_ERR(-EINVAL, rc);
        }
        rc = cio_call_later(loop, far[i], rec, (void *)3, &h);
        if (rc == 0)
            EXPECT_OK(cio_timer_cancel(loop, h));
        else
            EXPECT_ERR(-EINVAL, rc);
    }
    EXPECT_EQ(2, nlog);
    CLOSE_LOOP(loop);
}

/* ---- a model-checked random run ----------------------------------------------
 * Timers are started and cancelled at random, from the test and from timer
 * callbacks, against a model. Checked: a timer fires once, never before its
 * deadline, never in the iteration that started it; timers firing in one
 * iteration come in (deadline, start order); after an iteration, no timer
 * started earlier is more than 2 ms overdue; cancel returns 0 exactly for
 * scheduled timers. Only timers run here (no call_soon), so every
 * iteration polls and fires what is due. */
#define RT_MAX 60000
struct rt {
    double when;
    uint64_t seq;
    int state; /* 1 scheduled, 2 fired, 3 cancelled */
    long started_iter;
    cio_handle h;
};
static struct rt *rts;
static int rt_n;
static uint64_t rt_seq;
static long rt_iter;
static int rt_last = -1; /* last fired in this iteration */
static long rt_fired, rt_cancelled;

static void rt_cb(void *arg);

static void rt_start(double now)
{
    if (rt_n >= RT_MAX)
        return;
    int i = rt_n++;
    double off = (rnd() % 10 == 0) ? 0.25 + (double)(rnd() % 1500) / 1e4 /* next wheel level */
                                   : -0.005 + (double)(rnd() % 600) / 1e4;
    /* 0.1 ms steps of absolute time, so equal deadlines happen */
    rts[i].when = floor((now + off) * 1e4) / 1e4;
    rts[i].seq = rt_seq++;
    rts[i].state = 1;
    rts[i].started_iter = rt_iter;
    EXPECT_OK(cio_call_at(g_loop, rts[i].when, rt_cb, (void *)(intptr_t)i, &rts[i].h));
}

static void rt_cancel_random(void)
{
    if (!rt_n)
        return;
    int i = (int)(rnd() % (uint64_t)rt_n);
    int rc = cio_timer_cancel(g_loop, rts[i].h);
    if (rts[i].state == 1) {
        if (rc != 0)
            FAIL("cancel of scheduled timer %d: %s", i, cio_err_name(rc));
        rts[i].state = 3;
        rt_cancelled++;
    } else if (rc != -ENOENT) {
        FAIL("cancel of timer %d in state %d: %s", i, rts[i].state, cio_err_name(rc));
    }
}

static void rt_cb(void *arg)
{
    int i = (int)(intptr_t)arg;
    double now = cio_loop_time(g_loop);
    if (rts[i].state != 1)
        FAIL("timer %d fired in state %d", i, rts[i].state);
    if (rts[i].started_iter >= rt_iter)
        FAIL("timer %d fired in the iteration that started it", i);
    if (now < rts[i].when - 1e-6)
        FAIL("timer %d fired %.6f s early", i, rts[i].when - now);
    if (rt_last >= 0) {
        struct rt *a = &rts[rt_last], *b = &rts[i];
        if (!(a->when < b->when || (a->when == b->when && a->seq < b->seq)))
            FAIL("timer %d (%.4f, #%llu) fired after %d (%.4f, #%llu) in one iteration", i,
                 b->when, (unsigned long long)b->seq, rt_last, a->when,
                 (unsigned long long)a->seq);
    }
    rt_last = i;
    rts[i].state = 2;
    rt_fired++;
    if (rnd() % 3 == 0)
        rt_cancel_random();
    if (rnd() % 2 == 0)
        rt_start(now);
}

TEST_T(random_timers_against_model, 120)
{
    cio_loop *loop = g_loop = test_loop_new();
    rts = calloc(RT_MAX, sizeof *rts);
    rng_state = 0xdeadbeef12345ULL;
    for (int i = 0; i < 3000; i++)
        rt_start(cio_loop_time(loop));
    for (rt_iter = 1; rt_iter <= 400; rt_iter++) {
        rt_last = -1;
        int rc = cio_loop_run_once(loop, 0);
        EXPECT_TRUE(rc >= 0);
        double now = cio_loop_time(loop);
        for (int i = 0; i < rt_n; i++) {
            if (rts[i].state == 1 && rts[i].started_iter < rt_iter &&
                rts[i].when <= now - 0.002)
                FAIL("timer %d is %.4f s overdue after iteration %ld", i, now - rts[i].when,
                     rt_iter);
        }
        /* between iterations: more churn */
        for (int k = 0; k < 20; k++) {
            if (rnd() % 2)
                rt_cancel_random();
            else
                rt_start(now);
        }
    }
    /* cancel what is left; then nothing is live */
    long left = 0;
    for (int i = 0; i < rt_n; i++) {
        if (rts[i].state == 1) {
            EXPECT_OK(cio_timer_cancel(loop, rts[i].h));
            rts[i].state = 3;
            left++;
        }
    }
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_TRUE(rt_fired > 1000);
    EXPECT_EQ(rt_n, rt_fired + rt_cancelled + left);
    free(rts);
    CLOSE_LOOP(loop);
}

/* ---- a million timers ------------------------------------------------------- */

#define MN 1000000
static double *m_when;
static cio_handle *m_handle;
static uint8_t *m_state; /* 0 scheduled, 1 fired, 2 cancelled up front, 3 cancelled by a timer */
static int32_t *m_victim;
static int m_prev = -1;
static long m_fired, m_cb_cancels;

static void m_cb(void *arg)
{
    int i = (int)(intptr_t)arg;
    if (m_state[i] != 0)
        FAIL("timer %d fired in state %d", i, m_state[i]);
    m_state[i] = 1;
    m_fired++;
    if (m_prev >= 0) {
        double a = m_when[m_prev], b = m_when[i];
        if (!(a < b || (a == b && m_prev < i)))
            FAIL("timer %d (deadline %.7f) fired after timer %d (deadline %.7f)", i, b, m_prev,
                 a);
    }
    if (cio_loop_time(g_loop) < m_when[i] - 1e-6)
        FAIL("timer %d fired %.6f s early", i, m_when[i] - cio_loop_time(g_loop));
    m_prev = i;
    int v = m_victim[i];
    if (v >= 0) {
        int rc = cio_timer_cancel(g_loop, m_handle[v]);
        if (rc == 0) {
            if (m_state[v] != 0)
                FAIL("cancel of timer %d in state %d succeeded", v, m_state[v]);
            m_state[v] = 3;
            m_cb_cancels++;
        } else {
            EXPECT_ERR(-ENOENT, rc);
            if (m_state[v] == 0)
                FAIL("cancel of scheduled timer %d returned ENOENT", v);
        }
    }
}

TEST_T(million_timers, 120)
{
    cio_loop *loop = g_loop = test_loop_new();
    m_when = malloc(MN * sizeof *m_when);
    m_handle = malloc(MN * sizeof *m_handle);
    m_state = calloc(MN, 1);
    m_victim = malloc(MN * sizeof *m_victim);
    EXPECT_TRUE(m_when && m_handle && m_state && m_victim);
    rng_state = 0x2545f4914f6cdd1dULL;
    double base = cio_loop_time(loop) + 0.001;
    for (int i = 0; i < MN; i++) {
        /* [0, 0.2) s in 1 us steps: about five timers share each deadline */
        m_when[i] = base + (double)(rnd() % 200000) / 1e6;
        m_victim[i] = (rnd() % 6 == 0) ? (int32_t)(rnd() % MN) : -1;
        EXPECT_OK(cio_call_at(loop, m_when[i], m_cb, (void *)(intptr_t)i, &m_handle[i]));
    }
    long upfront = 0;
    for (int i = 0; i < MN; i++) {
        if (rnd() % 6 == 0) {
            EXPECT_OK(cio_timer_cancel(loop, m_handle[i]));
            m_state[i] = 2;
            upfront++;
        }
    }
    run_all(loop);
    long never = 0;
    for (int i = 0; i < MN; i++)
        if (m_state[i] == 0)
            never++;
    if (never)
        FAIL("%ld timers never fired", never);
    EXPECT_EQ(MN, m_fired + upfront + m_cb_cancels);
    /* about a third cancelled in all */
    EXPECT_TRUE(upfront + m_cb_cancels > MN / 5);
    free(m_when);
    free(m_handle);
    free(m_state);
    free(m_victim);
    CLOSE_LOOP(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
