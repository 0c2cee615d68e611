/* task_new.c: starting tasks without cio_run (docs/api/task.md). cio_task_new
 * starts a task on a loop from plain code on the loop's thread: before the
 * loop runs, and from a callback, where cio_spawn is not available (it
 * needs a current task). Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

static int double_it(void *arg, void **result)
{
    int err = cio_yield(); /* a task may suspend, wherever it was started */
    if (err)
        return err;
    *result = (void *)((uintptr_t)arg * 2);
    return 0;
}

struct from_callback {
    cio_loop *loop;
    cio_task *task;
    int err;
};

/* A callback is not a task: cio_spawn refuses, cio_task_new works. */
static void start_from_callback(void *arg)
{
    struct from_callback *fc = arg;
    if (cio_current_task() != NULL || cio_spawn(double_it, NULL, NULL) != -EPERM) {
        fc->err = -EINVAL;
        return;
    }
    fc->err = cio_task_new(fc->loop, NULL, double_it, (void *)(uintptr_t)10, &fc->task);
}

int main(void)
{
    cio_loop *loop;
    int err = cio_loop_new(NULL, &loop);
    if (err) {
        fprintf(stderr, "cio_loop_new: %s\n", cio_strerror(err));
        return 1;
    }
    /* Before the loop runs: the task starts with the first iteration. */
    cio_task *t;
    if ((err = cio_task_new(loop, NULL, double_it, (void *)(uintptr_t)21, &t)) != 0)
        goto out;
    err = cio_loop_run_until_complete(loop, t);
    void *value = NULL;
    if (err == 0)
        err = cio_future_result(t, &value);
    cio_future_unref(t);
    if (err)
        goto out;
    printf("21 * 2 = %u\n", (unsigned)(uintptr_t)value);

    /* From a callback. */
    struct from_callback fc = {loop, NULL, 0};
    if ((err = cio_call_soon(loop, start_from_callback, &fc)) != 0)
        goto out;
    while (!fc.task && !fc.err && (err = cio_loop_run_once(loop, 0)) > 0)
        ;
    if (err < 0 || fc.err || !fc.task) {
        err = err < 0 ? err : fc.err ? fc.err : -EINVAL;
        goto out;
    }
    err = cio_loop_run_until_complete(loop, fc.task);
    if (err == 0)
        err = cio_future_result(fc.task, &value);
    cio_future_unref(fc.task);
    if (err == 0)
        printf("10 * 2 = %u\n", (unsigned)(uintptr_t)value);
out:
    if (err)
        fprintf(stderr, "task_new: %s\n", cio_strerror(err));
    if (cio_loop_free(loop) != 0)
        return 1;
    return err ? 1 : 0;
}
