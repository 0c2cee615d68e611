/* cio-test: threaded
 *
 * Debug mode: slow callbacks reported by name (queue, timer, I/O and
 * done-callbacks), the threshold option, calls from the wrong thread,
 * the list of live handles on a failed close, and how debug mode is chosen.
 *
 * Callback names come from dladdr, so the callbacks here are not static and
 * the test executables export their symbols (ENABLE_EXPORTS). Timing: the
 * slow callbacks sleep well past the threshold; nothing asserts an upper
 * bound on a duration. */
#include <pthread.h>
#include <stdint.h>

#include "test.h"

static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;
static char reports[32][1024];
static int nreports;

static void capture(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    pthread_mutex_lock(&rep_lock);
    if (nreports < 32)
        snprintf(reports[nreports], sizeof reports[0], "%s", msg);
    nreports++;
    pthread_mutex_unlock(&rep_lock);
}

static int find_report(const char *needle)
{
    pthread_mutex_lock(&rep_lock);
    int found = 0;
    for (int i = 0; i < nreports && i < 32; i++)
        if (strstr(reports[i], needle))
            found = 1;
    pthread_mutex_unlock(&rep_lock);
    return found;
}

static void dump_reports(void)
{
    for (int i = 0; i < nreports && i < 32; i++)
        fprintf(stderr, "  report %d: %s\n", i, reports[i]);
}

#define EXPECT_REPORT(needle)                                                                    \
    do {                                                                                         \
        if (!find_report(needle)) {                                                              \
            dump_reports();                                                                      \
            FAIL("no report mentions \"%s\" (%d reports)", needle, nreports);                  \
        }                                                                                        \
    } while (0)

static cio_loop *debug_loop(double slow)
{
    cio_loop *loop = NULL;
    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    o.debug = 1;
    o.slow_callback_duration = slow;
    EXPECT_OK(cio_loop_new(&o, &loop));
    EXPECT_TRUE(cio_loop_is_debug(loop));
    cio_loop_set_report_handler(loop, capture, NULL);
    return loop;
}

/* ---- slow callbacks ------------------------------------------------------------ */

void cio_test_slow_soon_callback(void *arg);
void cio_test_slow_soon_callback(void *arg)
{
    useconds_t us = (useconds_t)(uintptr_t)arg;
    usleep(us);
}

TEST(slow_callback_reported_by_name)
{
    cio_loop *loop = debug_loop(0); /* default threshold: 0.1 s */
    EXPECT_OK(cio_call_soon(loop, cio_test_slow_soon_callback, (void *)300000));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_REPORT("cio_test_slow_soon_callback");
    CLOSE_LOOP(loop);
}

TEST(fast_callback_not_reported)
{
    cio_loop *loop = debug_loop(0);
    EXPECT_OK(cio_call_soon(loop, cio_test_slow_soon_callback, (void *)0));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

TEST(slow_callback_threshold_option)
{
    cio_loop *loop = debug_loop(0.05);
    EXPECT_OK(cio_call_soon(loop, cio_test_slow_soon_callback, (void *)150000));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_REPORT("cio_test_slow_soon_callback");
    CLOSE_LOOP(loop);

    nreports = 0;
    loop = debug_loop(30.0);
    EXPECT_OK(cio_call_soon(loop, cio_test_slow_soon_callback, (void *)150000));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);

    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    o.slow_callback_duration = -1;
    EXPECT_ERR(-EINVAL, cio_loop_new(&o, &loop));
}

TEST(slow_callback_not_reported_without_debug)
{
    cio_loop *loop = NULL;
    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    o.debug = -1;
    EXPECT_OK(cio_loop_new(&o, &loop));
    EXPECT_FALSE(cio_loop_is_debug(loop));
    cio_loop_set_report_handler(loop, capture, NULL);
    EXPECT_OK(cio_call_soon(loop, cio_test_slow_soon_callback, (void *)300000));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(0, nreports);
    CLOSE_LOOP(loop);
}

void cio_test_slow_timer_callback(void *arg);
void cio_test_slow_timer_callback(void *arg)
{
    (void)arg;
    usleep(300000);
}

TEST(slow_timer_callback_reported_by_name)
{
    cio_loop *loop = debug_loop(0);
    EXPECT_OK(cio_call_later(loop, 0, cio_test_slow_timer_callback, NULL, NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_REPORT("cio_test_slow_timer_callback");
    CLOSE_LOOP(loop);
}

void cio_test_slow_reader(cio_loop *loop, int fd, int events, void *arg);
void cio_test_slow_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    usleep(300000);
    EXPECT_OK(cio_loop_remove_reader(loop, fd));
}

TEST(slow_io_callback_reported_by_name)
{
    cio_loop *loop = debug_loop(0);
    int p[2];
    EXPECT_OK(pipe(p));
    EXPECT_EQ(1, write(p[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], cio_test_slow_reader, NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    close(p[0]);
    close(p[1]);
    EXPECT_REPORT("cio_test_slow_reader");
    CLOSE_LOOP(loop);
}

void cio_test_slow_done_callback(cio_future *f, void *arg);
void cio_test_slow_done_callback(cio_future *f, void *arg)
{
    (void)f;
    (void)arg;
    usleep(300000);
}

TEST(slow_done_callback_reported_by_name)
{
    cio_loop *loop = debug_loop(0);
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_future_add_done_callback(f, cio_test_slow_done_callback, NULL));
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    cio_future_unref(f);
    EXPECT_REPORT("cio_test_slow_done_callback");
    CLOSE_LOOP(loop);
}

/* A static callback has no dynamic symbol: named from the executable's
 * symbol table rather than as an address. */
static void slow_static_callback(void *arg)
{
    (void)arg;
    usleep(300000);
}

TEST(slow_static_callback_reported_by_name)
{
    cio_loop *loop = debug_loop(0);
    EXPECT_OK(cio_call_soon(loop, slow_static_callback, NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_REPORT("slow_static_callback()");
    CLOSE_LOOP(loop);
}

/* A task step is the slow "callback" (asyncio: "Executing <Task ...> took
 * 0.3 seconds"): reported by the task's name, never as the address of the
 * trampoline inside libcio that ran it, whether the step was run from the
 * ready queue or from the timer that ended a sleep. */
static int slow_step_task(void *arg, void **result)
{
    (void)result;
    if (arg)
        EXPECT_OK(cio_sleep(0.001));
    usleep(300000); /* blocks the loop within one step */
    return 0;
}

TEST(slow_task_step_reported_by_the_task_name)
{
    cio_loop *loop = debug_loop(0);
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "slow-stepper";
    cio_task *named, *unnamed;
    EXPECT_OK(cio_task_new(loop, &o, slow_step_task, NULL, &named));
    EXPECT_OK(cio_task_new(loop, NULL, slow_step_task, (void *)1, &unnamed));
    EXPECT_OK(cio_loop_run_until_complete(loop, named));
    EXPECT_OK(cio_loop_run_until_complete(loop, unnamed));
    EXPECT_REPORT("slow task step: task slow-stepper ");
    /* task-N, N its id: the name cio_task_name still gives after it ended */
    const char *name = cio_task_name(unnamed);
    EXPECT_TRUE(strncmp(name, "task-", 5) == 0 && strcmp(name, "task-0") != 0);
    char want[64];
    snprintf(want, sizeof want, "slow task step: task %s ", name);
    EXPECT_REPORT(want);
    if (nreports != 2) {
        dump_reports();
        FAIL("expected the 2 task steps only, got %d reports", nreports);
    }
    cio_future_unref(named);
    cio_future_unref(unnamed);
    for (int i = 0; i < 100 && cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0; i++)
        ;
    CLOSE_LOOP(loop);
}

/* ---- wrong thread ------------------------------------------------------------------- */

static void nop(void *arg) { (void)arg; }

struct wrong {
    cio_loop *loop;
    int soon_rc, later_rc, safe_rc;
};

static void *wrong_thread(void *arg)
{
    struct wrong *w = arg;
    w->soon_rc = cio_call_soon(w->loop, nop, NULL);
    w->later_rc = cio_call_later(w->loop, 0, nop, NULL, NULL);
    w->safe_rc = cio_call_soon_threadsafe(w->loop, nop, NULL);
    return NULL;
}

TEST(wrong_thread_call_reported)
{
    cio_loop *loop = debug_loop(0);
    struct wrong w = {.loop = loop};
    pthread_t t;
    EXPECT_OK(pthread_create(&t, NULL, wrong_thread, &w));
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_REPORT("cio_call_soon");
    EXPECT_REPORT("cio_call_later");
    EXPECT_ERR(-EPERM, w.soon_rc);
    EXPECT_ERR(-EPERM, w.later_rc);
    EXPECT_OK(w.safe_rc); /* the threadsafe call is fine, and not reported */
    EXPECT_EQ(2, nreports);
    /* the refused calls left nothing behind; the threadsafe one runs */
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, nreports);
    CLOSE_LOOP(loop);
}

static void *wrong_future_thread(void *arg)
{
    cio_loop *loop = arg;
    cio_future *f = NULL;
    int rc = cio_future_new(loop, &f);
    if (rc == 0) {
        cio_future_cancel(f);
        cio_future_unref(f);
    }
    return (void *)(intptr_t)rc;
}

TEST(wrong_thread_future_new_reported)
{
    cio_loop *loop = debug_loop(0);
    pthread_t t;
    void *rc;
    EXPECT_OK(pthread_create(&t, NULL, wrong_future_thread, loop));
    EXPECT_OK(pthread_join(t, &rc));
    EXPECT_ERR(-EPERM, (int)(intptr_t)rc);
    EXPECT_REPORT("cio_future_new");
    CLOSE_LOOP(loop);
}

/* ---- live handles at close ---------------------------------------------------------- */

void cio_test_live_reader(cio_loop *loop, int fd, int events, void *arg);
void cio_test_live_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)arg;
}

TEST(failed_close_lists_live_handles)
{
    cio_loop *loop = debug_loop(0);
    int p[2];
    EXPECT_OK(pipe(p));
    cio_handle h;
    EXPECT_OK(cio_call_later(loop, 100, nop, NULL, &h));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], cio_test_live_reader, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_TRUE(nreports > 0);
    EXPECT_REPORT("timer");
    EXPECT_REPORT("cio_test_live_reader");
    EXPECT_OK(cio_timer_cancel(loop, h));
    EXPECT_OK(cio_loop_remove_reader(loop, p[0]));
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

/* Live futures and tasks: by name, state and where they were made, which
 * is the caller of the public constructor. The makers are static (named
 * from the executable's .symtab, not dladdr) and not inlined, so each is
 * the function the report must name. */
static __attribute__((noinline)) cio_future *make_reply(cio_loop *loop)
{
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_future_set_name(f, "reply"));
    return f;
}

static int worker_body(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static __attribute__((noinline)) cio_task *start_worker(cio_loop *loop)
{
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, NULL, worker_body, NULL, &t));
    EXPECT_OK(cio_task_set_name(t, "worker"));
    return t;
}

static __attribute__((noinline)) cio_future *gather_them(cio_loop *loop, cio_future **futs)
{
    cio_future *g = NULL;
    EXPECT_OK(cio_gather_future(loop, futs, 2, 0, &g));
    return g;
}

static cio_task *spawned;
static __attribute__((noinline)) int spawner(void *arg, void **result)
{
    (void)result;
    EXPECT_OK(cio_spawn(worker_body, arg, &spawned));
    return 0;
}

TEST(failed_close_lists_live_futures_and_tasks_where_made)
{
    cio_loop *loop = debug_loop(0);
    cio_future *reply = make_reply(loop);
    cio_task *worker = start_worker(loop);
    cio_future *both[2] = {reply, worker};
    cio_future *g = gather_them(loop, both);
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_REPORT("loop close: future reply (pending: nothing set its result), made at "
                  "make_reply+0x");
    EXPECT_REPORT("loop close: task worker (running: its function has not returned), made at "
                  "start_worker+0x");
    EXPECT_REPORT("), made at gather_them+0x");
    EXPECT_REPORT("(loop_test_debug)");
    /* A task made by cio_spawn: made where cio_spawn was called. */
    cio_task *parent;
    EXPECT_OK(cio_task_new(loop, NULL, spawner, NULL, &parent));
    EXPECT_OK(cio_future_set_result(reply, NULL, NULL));
    test_drain(loop);
    EXPECT_TRUE(cio_future_is_done(g));
    EXPECT_OK(cio_future_error(g));
    nreports = 0;
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_REPORT("loop close: task task-");
    EXPECT_REPORT(" (done), made at spawner+0x");
    EXPECT_REPORT("loop close: future reply (done), made at make_reply+0x");
    cio_future_unref(spawned);
    cio_future_unref(parent);
    cio_future_unref(g);
    cio_future_unref(worker);
    cio_future_unref(reply);
    CLOSE_LOOP(loop);
}

static __attribute__((noinline)) void fail_unretrieved(cio_loop *loop)
{
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio_future_set_name(f, "config"));
    EXPECT_OK(cio_future_set_error(f, -ENOENT));
    cio_future_unref(f);
}

TEST(unretrieved_error_says_where_the_future_was_made)
{
    cio_loop *loop = debug_loop(0);
    fail_unretrieved(loop);
    EXPECT_EQ(1, nreports);
    EXPECT_REPORT("future config: error was never retrieved: ENOENT (No such file or directory); "
                  "made at fail_unretrieved+0x");
    CLOSE_LOOP(loop);
}

TEST(futures_made_before_debug_mode_are_counted)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture, NULL);
    cio_future *old = make_reply(loop);
    cio_loop_set_debug(loop, true);
    cio_future *recent = make_reply(loop);
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_REPORT("loop close: future reply (pending: nothing set its result), made at make_reply");
    EXPECT_REPORT("loop close: 1 more future(s) or task(s), made while debug mode was off: not "
                  "listed");
    /* Freed after debug mode was turned off again: the table forgets it. */
    cio_loop_set_debug(loop, false);
    cio_future_unref(recent);
    cio_future_unref(old);
    CLOSE_LOOP(loop);
}

/* ---- how debug mode is chosen ------------------------------------------------------- */

TEST(debug_from_environment)
{
    cio_loop *loop;
    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    EXPECT_OK(setenv("CIO_DEBUG", "1", 1));
    EXPECT_OK(cio_loop_new(NULL, &loop));
    EXPECT_TRUE(cio_loop_is_debug(loop));
    CLOSE_LOOP(loop);
    o.debug = -1; /* explicit off beats the environment */
    EXPECT_OK(cio_loop_new(&o, &loop));
    EXPECT_FALSE(cio_loop_is_debug(loop));
    CLOSE_LOOP(loop);
    EXPECT_OK(setenv("CIO_DEBUG", "0", 1));
    EXPECT_OK(cio_loop_new(NULL, &loop));
    EXPECT_FALSE(cio_loop_is_debug(loop));
    cio_loop_set_debug(loop, true);
    EXPECT_TRUE(cio_loop_is_debug(loop));
    cio_loop_set_debug(loop, false);
    EXPECT_FALSE(cio_loop_is_debug(loop));
    CLOSE_LOOP(loop);
    EXPECT_OK(unsetenv("CIO_DEBUG"));
    o.debug = 1;
    EXPECT_OK(cio_loop_new(&o, &loop));
    EXPECT_TRUE(cio_loop_is_debug(loop));
    CLOSE_LOOP(loop);
}

static void report_to_default(void *loop) { cio_loop_report(loop, "to stderr"); }

TEST(report_goes_through_handler)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture, NULL);
    cio_loop_report(loop, "hello %d %s", 42, "world");
    EXPECT_EQ(1, nreports);
    EXPECT_STR_EQ("hello 42 world", reports[0]);
    cio_loop_set_report_handler(loop, NULL, NULL); /* default: stderr */
    char out[64];
    test_capture_stderr(report_to_default, loop, out, sizeof out);
    EXPECT_STR_EQ("cio: to stderr\n", out);
    EXPECT_EQ(1, nreports);
    CLOSE_LOOP(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
