/* errors.c: errors are negative errno values, returned. A failed task's
 * error comes back from cio_await; an error nobody retrieves is reported
 * through the loop's report function when the task is freed, never lost. */
#include <stdio.h>

#include <cio.h>

static int open_config(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -ENOENT; /* fails the task */
}

static void report(cio_loop *loop, const char *message, void *arg)
{
    (void)loop;
    (void)arg;
    printf("report: %s\n", message); /* the default prints "cio: ..." to stderr */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop_set_report_handler(cio_current_loop(), report, NULL);

    cio_task *t;
    int err = cio_spawn(open_config, NULL, &t);
    if (err)
        return err;
    err = cio_await(t, NULL); /* retrieves the error */
    printf("await: %d, %s: %s\n", err, cio_err_name(err), cio_strerror(err));
    cio_future_unref(t);

    /* The same failure, never looked at. */
    if ((err = cio_spawn(open_config, NULL, &t)) != 0)
        return err;
    cio_task_set_name(t, "forgotten");
    err = cio_sleep(0.01); /* the task ends meanwhile */
    cio_future_unref(t);   /* the last reference: the error is reported now */
    return err;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
