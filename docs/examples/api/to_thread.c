/* to_thread.c: blocking work on the thread pool, awaited from a task
 * (docs/api/task.md): cio_to_thread is asyncio.to_thread. The loop keeps
 * running other tasks while the work runs. Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

struct range {
    uint64_t from, to;
};

/* Runs on a pool thread: no cio call but the result. */
static int sum(void *arg, void **result)
{
    const struct range *r = arg;
    uint64_t s = 0;
    for (uint64_t i = r->from; i <= r->to; i++)
        s += i;
    *result = (void *)(uintptr_t)s;
    return 0;
}

static int refuse(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -EDOM; /* the work's error is cio_to_thread's */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    struct range r = {1, 10000}; /* on this task's stack: it waits */
    void *value;
    int err = cio_to_thread(sum, &r, &value);
    if (err)
        return err;
    if ((uintptr_t)value != (uintptr_t)50005000) {
        fprintf(stderr, "wrong sum\n");
        return -EINVAL;
    }
    printf("sum 1..10000 = %llu\n", (unsigned long long)(uintptr_t)value);
    err = cio_to_thread(refuse, NULL, NULL);
    if (err != -EDOM) {
        fprintf(stderr, "expected EDOM, got %s\n", cio_err_name(err));
        return -EINVAL;
    }
    return 0;
}

int main(void)
{
    /* Outside a task, the suspending call refuses and does nothing. */
    if (cio_to_thread(sum, NULL, NULL) != -EPERM)
        return 1;
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
