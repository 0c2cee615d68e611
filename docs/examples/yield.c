/* yield.c: tasks take turns through the same callback queue. Each
 * cio_yield puts the task at the back of the queue, so three tasks
 * interleave round-robin. Coroutine style. */
#include <stdio.h>

#include <cio.h>

static int worker(void *arg, void **result)
{
    (void)result;
    const char *name = arg;
    for (int step = 1; step <= 3; step++) {
        printf("%s%d ", name, step);
        int err = cio_yield();
        if (err)
            return err;
    }
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static const char *names[3] = {"A", "B", "C"};
    cio_task *tasks[3];
    int n = 0, err = 0;
    for (; n < 3 && err == 0; n++)
        err = cio_spawn(worker, (void *)names[n], &tasks[n]);
    if (err)
        n--; /* the failed spawn gave no task */
    for (int i = 0; i < n; i++) {
        int rc = cio_await(tasks[i], NULL);
        if (err == 0)
            err = rc;
        cio_future_unref(tasks[i]);
    }
    printf("(all done)\n");
    return err;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
