/* loop_run.c: cio_run is asyncio.run: it makes a loop, runs main_task as a
 * task until it returns, cleans up and returns main_task's outcome. Inside,
 * the loop is cio_current_loop(), and callbacks mix freely with tasks.
 * Coroutine style. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

static void callback(void *arg) { printf("callback: %s\n", (const char *)arg); }

static int main_task(void *arg, void **result)
{
    (void)arg;
    cio_loop *loop = cio_current_loop();
    int err = cio_call_soon(loop, callback, "scheduled by the task");
    if (err)
        return err;
    printf("task: before cio_yield\n");
    if ((err = cio_yield()) != 0) /* lets the callback run */
        return err;
    printf("task: after cio_yield\n");
    *result = (void *)(intptr_t)42;
    return 0;
}

int main(void)
{
    /* Suspending calls need a task: outside one they fail, they never block. */
    int err = cio_sleep(1.0);
    printf("cio_sleep outside a task: %s\n", cio_err_name(err));

    void *result;
    err = cio_run(main_task, NULL, &result);
    printf("cio_run: %d, result %d\n", err, (int)(intptr_t)result);
    return err ? 1 : 0;
}
