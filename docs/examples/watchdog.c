/* watchdog.c: the stall watchdog, meant to stay on in production. A
 * monitor thread reports when the loop has not come back to its poll for
 * longer than a limit, naming the task (or callback) that holds it: the
 * bug that freezes every connection of a server at once. Its reports come
 * from the monitor thread, so a report function must be thread-safe; this
 * one keeps the report about the stuck task for the task to print.
 * Coroutine style. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cio.h>

static char stall_report[256];
static atomic_bool reported;

static void report(cio_loop *loop, const char *message, void *arg) /* any thread */
{
    (void)loop;
    (void)arg;
    fprintf(stderr, "cio: %s\n", message);
    if (strstr(message, "task stuck") && !atomic_load(&reported)) {
        snprintf(stall_report, sizeof stall_report, "%s", message);
        atomic_store(&reported, true); /* publishes stall_report */
    }
}

/* Computes without suspending, as a bug would, until the watchdog has
 * reported it (or 30 s of processor time have passed). */
static int stuck(void *arg, void **result)
{
    (void)arg;
    (void)result;
    clock_t limit = clock() + 30 * CLOCKS_PER_SEC;
    while (!atomic_load(&reported) && clock() < limit)
        ;
    return atomic_load(&reported) ? 0 : -ETIMEDOUT;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop *loop = cio_current_loop();
    cio_loop_set_report_handler(loop, report, NULL);
    int err = cio_loop_set_stall_watchdog(loop, 0.05); /* report stalls over 50 ms */
    if (err)
        return err;
    cio_task *t;
    err = cio_spawn_with(&CIO_TASK_OPTIONS(.name = "stuck"), stuck, NULL, &t);
    if (err == 0) {
        err = cio_await(t, NULL);
        cio_future_unref(t);
    }
    if (err == 0)
        printf("the watchdog said: %s\n", stall_report);
    cio_loop_set_stall_watchdog(loop, 0); /* stops the monitor */
    return err;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
