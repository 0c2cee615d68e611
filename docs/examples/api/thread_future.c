/* thread_future.c: a plain thread hands work to a loop and blocks for the
 * answer (docs/api/thread_future.md). cio_spawn_threadsafe is asyncio's
 * run_coroutine_threadsafe: it starts a task on the loop from any thread
 * and returns a cio_thread_future that thread can wait on, poll, cancel
 * and free. Exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>

#include <cio.h>

/* A task on the loop: it may suspend (here it just yields once). */
static int square(void *arg, void **result)
{
    int err = cio_yield();
    if (err)
        return err;
    long *out = malloc(sizeof *out);
    if (!out)
        return -ENOMEM;
    cio_task_set_result_free(free); /* freed by cio if nobody takes it */
    *out = (long)(intptr_t)arg * (long)(intptr_t)arg;
    *result = out;
    return 0;
}

static int forever(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cio_sleep(3600); /* -ECANCELED once cancelled */
}

/* The other thread: it does not run the loop, it only talks to it. */
static int worker(void *arg)
{
    cio_loop *loop = arg;
    cio_thread_future *tf;
    int err = cio_spawn_threadsafe(loop, &CIO_TASK_OPTIONS(.name = "square"), square,
                                   (void *)(intptr_t)12, &tf);
    if (err)
        return 1;
    void *value;
    err = cio_thread_future_wait(tf, -1, &value); /* blocks this thread; -1: no time limit */
    if (err == 0) {
        printf("12 squared is %ld\n", *(long *)value);
        free(value); /* handed over by the wait: ours now */
    }
    cio_thread_future_free(tf);
    if (err)
        return 1;

    /* Cancel from here; poll with timeout 0 until the loop has done it. */
    if (cio_spawn_threadsafe(loop, NULL, forever, NULL, &tf) != 0)
        return 1;
    if (cio_thread_future_wait(tf, 0, NULL) != -ETIMEDOUT) /* not done yet */
        return 1;
    if (cio_thread_future_cancel(tf) != 0)
        return 1;
    while (!cio_thread_future_is_done(tf))
        thrd_yield();
    err = cio_thread_future_wait(tf, 0, NULL);
    cio_thread_future_free(tf);
    printf("the long task ended: %s\n", cio_err_name(err));
    return err == -ECANCELED ? 0 : 1;
}

/* Runs on a pool thread, so that the loop goes on while it blocks. */
static int join(void *arg, void **result)
{
    int rc;
    if (thrd_join(*(thrd_t *)arg, &rc) != thrd_success)
        return -EINVAL;
    *result = (void *)(intptr_t)rc;
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    thrd_t thread;
    if (thrd_create(&thread, worker, cio_current_loop()) != thrd_success)
        return -EAGAIN;
    void *rc;
    int err = cio_to_thread(join, &thread, &rc);
    if (err)
        return err;
    return rc == NULL ? 0 : -EIO;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
