/* Helpers for the sync tests: an order log, spawning, yielding.
 *
 * Outcomes are decided by order, never by timing: a spawned task first runs
 * on the next iteration, in spawn order; a woken waiter runs once the
 * future it awaits has scheduled its done-callback, in wake order; a
 * cio_yield lets everything already queued run first. */
#ifndef CIO_TEST_SYNC_UTIL_H
#define CIO_TEST_SYNC_UTIL_H

#include <stdarg.h>
#include <stdint.h>

#include "test.h"

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

static char order_log[8192];
static size_t order_len;

static inline void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(order_log + order_len, sizeof order_log - order_len, fmt, ap);
    va_end(ap);
    if (n > 0 && order_len + (size_t)n < sizeof order_log)
        order_len += (size_t)n;
}
#define LOG(...) logf_(__VA_ARGS__)
#define EXPECT_LOG(expected) EXPECT_STR_EQ((expected), order_log)

/* No report may be made (an unretrieved error, a swallowed cancel). RUN
 * installs the counting handler on the loop before the test's main runs,
 * so no main can forget it; a loop a test makes by hand gets it with
 * watch_reports_of. (tests/test.h also fails a case on any report that
 * reaches a default handler.) */
static int nreports;
static void count_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    fprintf(stderr, "report: %s\n", msg);
    nreports++;
}
static inline void watch_reports_of(cio_loop *loop)
{
    cio_loop_set_report_handler(loop, count_report, NULL);
}

static inline cio_task *spawn(cio_task_fn fn, void *arg)
{
    cio_task *t = NULL;
    EXPECT_OK(cio_spawn(fn, arg, &t));
    return t;
}

/* Awaits t, drops the reference, returns its outcome. */
static inline int join_task(cio_task *t)
{
    int rc = cio_await(t, NULL);
    cio_future_unref(t);
    return rc;
}

static inline void yield_n(int n)
{
    for (int i = 0; i < n; i++)
        EXPECT_OK(cio_yield());
}

/* Runs main as a task on a fresh loop, with the counting report handler
 * installed first; expects main to return `expected` and the loop to have
 * reported nothing. */
static cio_task_fn run_main_;
static int run_watched_(void *arg, void **result)
{
    watch_reports_of(cio_current_loop());
    return run_main_(arg, result);
}
#define RUN_EXPECT(expected, fn, arg)                                                              \
    do {                                                                                           \
        nreports = 0;                                                                              \
        run_main_ = (fn);                                                                          \
        EXPECT_ERR((expected), cio_run(run_watched_, (arg), NULL));                               \
        EXPECT_EQ(0, nreports);                                                                    \
    } while (0)
#define RUN(fn, arg) RUN_EXPECT(0, fn, arg)

#endif
