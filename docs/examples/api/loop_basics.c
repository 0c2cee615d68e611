/* loop_basics.c: a loop's life from cio_loop_new to cio_loop_free, driven
 * by hand: the callback queue, one iteration at a time, stopping, the loop's
 * clock, the report handler and the stall watchdog.
 * Reference: docs/api/loop.md. */
#include <stdbool.h>
#include <stdio.h>

#include <cio.h>

/* Prints what failed and how; main returns its value. */
static int fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, cio_err_name(err), cio_strerror(err));
    return 1;
}
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

struct state {
    cio_loop *loop;
    int calls;
    int reports;
    bool current_ok;
};

static void count(void *arg)
{
    struct state *st = arg;
    st->calls++;
}

/* Runs inside cio_loop_run_forever: the loop is running, and it is the
 * current loop of this thread. */
static void check_and_stop(void *arg)
{
    struct state *st = arg;
    st->current_ok = cio_current_loop() == st->loop && cio_loop_is_running(st->loop);
    cio_loop_stop(st->loop);
}

static void on_report(cio_loop *loop, const char *message, void *arg)
{
    (void)loop;
    struct state *st = arg;
    st->reports++;
    printf("report: %s\n", message);
}

int main(void)
{
    struct state st = {0};
    int rc;
    if ((rc = cio_loop_new(NULL, &st.loop)) != 0)
        return fail("cio_loop_new", rc);
    cio_loop *loop = st.loop;
    printf("backend: %s, debug mode: %s\n", cio_loop_backend(loop),
           cio_loop_is_debug(loop) ? "on" : "off");

    /* Debug mode can be switched at any time on the loop's thread. */
    bool was_debug = cio_loop_is_debug(loop);
    cio_loop_set_debug(loop, true);
    CHECK(cio_loop_is_debug(loop));
    cio_loop_set_debug(loop, was_debug);

    /* The clock is a cached reading; cio_loop_update_time refreshes it. */
    double t0 = cio_loop_time(loop);
    int64_t ns0 = cio_loop_time_ns(loop);
    cio_loop_update_time(loop);
    CHECK(cio_loop_time(loop) >= t0 && cio_loop_time_ns(loop) >= ns0);

    /* Three callbacks, one iteration: they run in the order scheduled, and
     * then nothing is left (cio_loop_run_once returns 0). */
    for (int i = 0; i < 3; i++)
        if ((rc = cio_call_soon(loop, count, &st)) != 0)
            return fail("cio_call_soon", rc);
    if ((rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT)) < 0)
        return fail("cio_loop_run_once", rc);
    CHECK(rc == 0 && st.calls == 3);

    /* run_forever until a callback stops it. */
    if ((rc = cio_call_soon(loop, check_and_stop, &st)) != 0)
        return fail("cio_call_soon", rc);
    if ((rc = cio_loop_run_forever(loop)) != 0)
        return fail("cio_loop_run_forever", rc);
    CHECK(st.current_ok && !cio_loop_is_running(loop) && cio_current_loop() == NULL);

    /* A stop before the run makes the run do one iteration (asyncio). */
    cio_loop_stop(loop);
    if ((rc = cio_call_soon(loop, count, &st)) != 0)
        return fail("cio_call_soon", rc);
    if ((rc = cio_loop_run_forever(loop)) != 0)
        return fail("cio_loop_run_forever", rc);
    CHECK(st.calls == 4);

    /* Reports go to the handler; NULL restores the default (stderr). */
    cio_loop_set_report_handler(loop, on_report, &st);
    cio_loop_report(loop, "%d callbacks ran", st.calls);
    cio_loop_set_report_handler(loop, NULL, NULL);
    CHECK(st.reports == 1);

    /* A watchdog that reports a loop stuck for 5 s; 0 stops it again. */
    if ((rc = cio_loop_set_stall_watchdog(loop, 5.0)) != 0)
        return fail("cio_loop_set_stall_watchdog", rc);
    if ((rc = cio_loop_set_stall_watchdog(loop, 0)) != 0)
        return fail("cio_loop_set_stall_watchdog", rc);

    /* Close, then free. A closed loop stays allocated until cio_loop_free. */
    if ((rc = cio_loop_close(loop)) != 0)
        return fail("cio_loop_close", rc);
    CHECK(cio_loop_is_closed(loop));
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    printf("loop closed and freed\n");
    return 0;
}
