/* as_completed_next.c: futures in the order they complete (docs/api/task.md):
 * cio_as_completed_next is asyncio.as_completed's `async for`. The
 * iteration ends with -ENODATA. Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

/* Task i yields 3 - i times, so they complete in reverse order: the
 * order follows from the number of iterations, not from time. */
static int countdown(void *arg, void **result)
{
    uintptr_t i = (uintptr_t)arg;
    for (uintptr_t k = i; k < 3; k++) {
        int err = cio_yield();
        if (err)
            return err;
    }
    *result = arg;
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_task *t[3];
    int err = 0;
    size_t n = 0;
    for (; n < 3 && err == 0; n++)
        err = cio_spawn(countdown, (void *)(uintptr_t)n, &t[n]);
    if (err)
        n--; /* t[n - 1] was not made */
    cio_as_completed *it = NULL;
    if (err == 0)
        err = cio_as_completed_new(cio_current_loop(), t, n, CIO_NO_TIMEOUT, &it);
    uintptr_t expect = 2;
    while (err == 0) {
        cio_future *done; /* owned by the iterator */
        err = cio_as_completed_next(it, &done);
        if (err)
            break;
        void *v;
        if ((err = cio_future_result(done, &v)) != 0)
            break;
        printf("task %u completed\n", (unsigned)(uintptr_t)v);
        if ((uintptr_t)v != expect--)
            err = -EINVAL;
    }
    if (err == -ENODATA) /* the end of the iteration */
        err = 0;
    int ferr = cio_as_completed_free(it);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(t[i]);
    return err ? err : ferr;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
