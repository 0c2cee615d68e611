/* ownership.c: who frees what. A task's result is a plain pointer with no
 * destructor: the task that takes it (cio_future_take_result) frees it.
 * A task started without a reference belongs to the loop's root scope,
 * which keeps it alive until it ends; cio_run cancels and waits for it. */
#include <stdio.h>
#include <stdlib.h>

#include <cio.h>

static int make_greeting(void *arg, void **result)
{
    char *s = malloc(64);
    if (!s)
        return -ENOMEM;
    snprintf(s, 64, "hello, %s", (const char *)arg);
    *result = s;
    return 0;
}

static int background(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int err = cio_sleep(3600);
    printf("background: woke with %s\n", cio_err_name(err));
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_task *t;
    int err = cio_spawn(make_greeting, "world", &t); /* t: our reference */
    if (err)
        return err;
    char *greeting = NULL;
    err = cio_await(t, NULL);
    if (err == 0)
        err = cio_future_take_result(t, (void **)&greeting); /* now ours */
    cio_future_unref(t);
    if (err)
        return err;
    printf("%s\n", greeting);
    free(greeting);

    /* No reference asked for: the root scope owns this one. */
    if ((err = cio_spawn(background, NULL, NULL)) != 0)
        return err;
    printf("tasks alive: %zu\n", cio_all_tasks(cio_current_loop(), NULL, 0));
    return 0; /* cio_run now cancels background and waits for it */
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    printf("cio_run: %d\n", err);
    return err ? 1 : 0;
}
