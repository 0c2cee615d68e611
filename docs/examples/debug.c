/* debug.c: debug mode (asyncio's debug mode), on here through the loop's
 * options; CIO_DEBUG=1 in the environment turns it on for any program.
 * It reports callbacks and task steps that hold the loop longer than
 * slow_callback_duration (0.1 s unless set), by name; and a task dump
 * shows every task, what it waits for and where. Reports go through the
 * loop's report function: this one counts the reports about this
 * program's slow code and prints every report to stderr, as the default
 * does. Coroutine style, with a callback. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cio.h>

static int slow_reports;

static void report(cio_loop *loop, const char *message, void *arg)
{
    (void)loop;
    (void)arg;
    fprintf(stderr, "cio: %s\n", message);
    if (strstr(message, "slow_callback") || strstr(message, "cruncher"))
        slow_reports++;
}

/* Keeps the thread busy for `seconds` of processor time, so for at least
 * as long on the clock: a stand-in for a long computation. */
static void busy(double seconds)
{
    clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
    while (clock() < end)
        ;
}

static void slow_callback(void *arg)
{
    (void)arg;
    busy(0.1); /* nothing else runs on the loop meanwhile */
}

static int cruncher(void *arg, void **result)
{
    (void)arg;
    (void)result;
    busy(0.1); /* a step of a task that does not suspend holds the loop too */
    return 0;
}

static int sleeper(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int err = cio_sleep(3600); /* until cancelled: cio_run cancels it at the end */
    printf("sleeper: woke with %s\n", cio_err_name(err));
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop *loop = cio_current_loop();
    cio_loop_set_report_handler(loop, report, NULL);
    printf("debug mode: %s\n", cio_loop_is_debug(loop) ? "on" : "off");

    int err = cio_call_soon(loop, slow_callback, NULL);
    if (err == 0)
        err = cio_yield(); /* slow_callback runs, and is reported */
    cio_task *t;
    if (err == 0)
        err = cio_spawn_with(&CIO_TASK_OPTIONS(.name = "cruncher"), cruncher, NULL, &t);
    if (err == 0) {
        err = cio_await(t, NULL); /* its step is reported */
        cio_future_unref(t);
    }
    printf("reports naming this program's slow code: %d\n", slow_reports);

    /* The dump: every task of the loop, with its stack's backtrace. */
    if (err == 0)
        err = cio_spawn_with(&CIO_TASK_OPTIONS(.name = "sleeper"), sleeper, NULL, NULL);
    if (err == 0)
        err = cio_yield(); /* the sleeper starts and suspends */
    if (err == 0)
        err = cio_task_dump_all(loop, 2); /* to stderr */
    return err;
}

int main(void)
{
    int err = cio_run_with(&CIO_LOOP_OPTIONS(.debug = 1, .slow_callback_duration = 0.05),
                           main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
