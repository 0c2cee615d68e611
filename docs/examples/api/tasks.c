/* tasks.c: the life of a task (docs/api/task.md). Starting tasks with
 * cio_spawn, awaiting them, names, results with a destructor, sleeping and
 * yielding, sticky cancellation, listing and dumping the tasks of a loop,
 * and cio_run handing main's result to its caller. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L /* pipe, read, close */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "tasks.c:%d: check failed: %s\n", __LINE__, #cond); \
            return -EINVAL;                                                  \
        }                                                                    \
    } while (0)

/* A result the task allocates: cio_task_set_result_free makes the task's
 * future free it, so nobody has to remember to. */
static int make_greeting(void *arg, void **result)
{
    int err = cio_task_set_result_free(free);
    if (err)
        return err;
    char *s = malloc(64);
    if (!s)
        return -ENOMEM;
    snprintf(s, 64, "hello, %s", (const char *)arg);
    *result = s;
    return 0;
}

static int ran; /* set by quick(), read by main_task after cio_yield */

static int quick(void *arg, void **result)
{
    (void)arg;
    (void)result;
    ran = 1;
    return 0;
}

/* Cancellation is sticky: once cancelled, every suspension fails. */
static int sleeper(void *arg, void **result)
{
    (void)result;
    int *seen = arg;
    int err = cio_sleep(3600);   /* woken by the cancel: -ECANCELED */
    int again = cio_yield();     /* still cancelled: -ECANCELED again */
    *seen = (err == -ECANCELED && again == -ECANCELED);
    return err;                  /* pass the cancellation on */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    cio_task *self = cio_current_task();
    CHECK(self != NULL && cio_future_is_task(self));
    CHECK(strcmp(cio_task_name(self), "main") == 0); /* cio_run's name for it */

    /* Spawn, rename, await: the value stays owned by the task's future. */
    cio_task *t;
    int err = cio_spawn(make_greeting, "world", &t);
    if (err)
        return err;
    CHECK(strncmp(cio_task_name(t), "task-", 5) == 0);
    if ((err = cio_task_set_name(t, "greeter")) != 0) {
        cio_future_unref(t);
        return err;
    }
    CHECK(strcmp(cio_task_name(t), "greeter") == 0);
    void *value;
    err = cio_await(t, &value);
    if (err == 0)
        printf("%s (from %s)\n", (const char *)value, cio_task_name(t));
    cio_future_unref(t); /* the last reference: frees the greeting too */
    if (err)
        return err;

    /* A task spawned without a reference belongs to the root scope. It
     * first runs on a later iteration; cio_yield lets it. */
    if ((err = cio_spawn(quick, NULL, NULL)) != 0)
        return err;
    CHECK(ran == 0);
    if ((err = cio_yield()) != 0)
        return err;
    CHECK(ran == 1);
    if ((err = cio_sleep(0.001)) != 0)
        return err;

    /* Cancel a sleeping task and see the cancellation stick. */
    int seen = 0;
    cio_task *s;
    if ((err = cio_spawn(sleeper, &seen, &s)) != 0)
        return err;
    if ((err = cio_yield()) != 0) { /* let it start and suspend */
        cio_future_unref(s);
        return err;
    }
    cio_loop *loop = cio_current_loop();
    cio_task *all[8];
    size_t n = cio_all_tasks(loop, all, 8); /* main and sleeper */
    for (size_t i = 0; i < n && i < 8; i++)
        cio_future_unref(all[i]);
    CHECK(n == 2);

    /* The dump names every task, with its state and backtrace. */
    int fds[2];
    CHECK(pipe(fds) == 0);
    err = cio_task_dump_all(loop, fds[1]);
    close(fds[1]);
    char buf[256] = "";
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    if (err) {
        cio_future_unref(s);
        return err;
    }
    CHECK(got > 0 && strncmp(buf, "cio task dump: 2 task(s)", 24) == 0);

    if ((err = cio_future_cancel(s)) != 0) {
        cio_future_unref(s);
        return err;
    }
    err = cio_await(s, NULL);
    cio_future_unref(s);
    CHECK(err == -ECANCELED && seen == 1);

    /* main's result goes to cio_run's caller, and with it its ownership. */
    char *done = malloc(8);
    if (!done)
        return -ENOMEM;
    memcpy(done, "done", 5);
    *result = done;
    return cio_task_set_result_free(free);
}

int main(void)
{
    void *result;
    int err = cio_run(main_task, NULL, &result);
    if (err) {
        fprintf(stderr, "cio_run: %s\n", cio_strerror(err));
        return 1;
    }
    printf("%s\n", (char *)result);
    free(result); /* ours: cio_run took it out of main's future */
    return 0;
}
