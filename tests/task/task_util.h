/* Helpers shared by the task-layer semantics tests (tests/task/test_*.c).
 *
 * Every case runs in its own process (tests/test.h), so the globals here
 * start fresh for each case. Reports are captured under a mutex because the
 * stall watchdog and the thread pool may report from other threads. */
#ifndef CIO_TEST_TASK_UTIL_H
#define CIO_TEST_TASK_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "test.h"

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

/* ---- captured reports ----------------------------------------------------- */

#define MAX_REPORTS 32
static char reports[MAX_REPORTS][1024];
static int nreports;
static pthread_mutex_t reports_mu = PTHREAD_MUTEX_INITIALIZER;

static void capture_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    pthread_mutex_lock(&reports_mu);
    if (nreports < MAX_REPORTS)
        snprintf(reports[nreports], sizeof reports[0], "%s", msg);
    nreports++;
    pthread_mutex_unlock(&reports_mu);
}

static inline int report_count(void)
{
    pthread_mutex_lock(&reports_mu);
    int n = nreports;
    pthread_mutex_unlock(&reports_mu);
    return n;
}

static inline void dump_reports(void)
{
    pthread_mutex_lock(&reports_mu);
    for (int i = 0; i < nreports && i < MAX_REPORTS; i++)
        fprintf(stderr, "  report %d: %s\n", i, reports[i]);
    pthread_mutex_unlock(&reports_mu);
}

/* Index of the first report containing every given substring (NULL ends
 * the list), or -1. */
static inline int find_report(const char *a, const char *b)
{
    int found = -1;
    pthread_mutex_lock(&reports_mu);
    for (int i = 0; i < nreports && i < MAX_REPORTS && found < 0; i++)
        if (strstr(reports[i], a) && (!b || strstr(reports[i], b)))
            found = i;
    pthread_mutex_unlock(&reports_mu);
    return found;
}

#define EXPECT_NO_REPORTS()                                                                       \
    do {                                                                                          \
        if (report_count()) {                                                                     \
            dump_reports();                                                                       \
            FAIL("%d unexpected report(s)", report_count());                                     \
        }                                                                                         \
    } while (0)

#define EXPECT_REPORTS(n)                                                                         \
    do {                                                                                          \
        if (report_count() != (n)) {                                                              \
            dump_reports();                                                                       \
            FAIL("expected %d report(s), got %d", (n), report_count());                         \
        }                                                                                         \
    } while (0)

#define EXPECT_REPORT(a, b)                                                                       \
    do {                                                                                          \
        if (find_report((a), (b)) < 0) {                                                          \
            dump_reports();                                                                       \
            FAIL("no report mentions \"%s\"%s%s", (a), (b) ? " and " : "", (b) ? (b) : "");     \
        }                                                                                         \
    } while (0)

/* Installs the capturing report handler on the current loop (from a task). */
static inline void capture_reports_here(void)
{
    cio_loop *loop = cio_current_loop();
    if (!loop)
        FAIL("capture_reports_here: no current loop");
    cio_loop_set_report_handler(loop, capture_report, NULL);
}

/* ---- an order log --------------------------------------------------------- */

static char order_log[4096];
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

/* ---- loops built by hand ---------------------------------------------------- */

/* A loop with the capturing report handler. */
static inline cio_loop *task_loop_new(void)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture_report, NULL);
    return loop;
}

/* Drains what is left (a finished task's stack may be released by a
 * callback), then closes the loop cleanly. */
static inline void finish_loop(cio_loop *loop)
{
    for (int i = 0; i < 1000; i++) {
        int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
        EXPECT_TRUE(rc >= 0);
        if (rc == 0)
            break;
    }
    EXPECT_ERR(0, cio_all_tasks(loop, NULL, 0));
    CLOSE_LOOP(loop);
}

/* Runs main as cio_run does and checks its outcome. */
#define RUN_EXPECT(expected, fn, arg)                                                             \
    do {                                                                                          \
        void *res_ = NULL;                                                                        \
        EXPECT_ERR((expected), cio_run((fn), (arg), &res_));                                     \
    } while (0)

/* ---- small futures helpers ------------------------------------------------- */

static void timer_set_result(void *arg)
{
    cio_future *f = arg;
    EXPECT_OK(cio_future_set_result(f, V(0x5eed), NULL));
    cio_future_unref(f);
}

/* Completes f (with V(0x5eed)) after delay seconds; holds a reference until
 * then. */
static inline void complete_later(cio_future *f, double delay)
{
    EXPECT_OK(cio_call_later(cio_future_loop(f), delay, timer_set_result, cio_future_ref(f),
                             NULL));
}

static inline cio_future *new_future(void)
{
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(cio_current_loop(), &f));
    return f;
}

/* Spawns fn(arg) with a name and returns the caller's reference. */
static inline cio_task *spawn_named(const char *name, cio_task_fn fn, void *arg)
{
    cio_task *t = NULL;
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = name;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, fn, arg, &t));
    return t;
}

static inline cio_task *spawn(cio_task_fn fn, void *arg)
{
    cio_task *t = NULL;
    EXPECT_OK(cio_spawn(fn, arg, &t));
    return t;
}

/* Yields n times (each must succeed). */
static inline void yield_n(int n)
{
    for (int i = 0; i < n; i++)
        EXPECT_OK(cio_yield());
}

#endif
