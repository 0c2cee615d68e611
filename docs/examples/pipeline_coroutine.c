/* pipeline_coroutine.c: the same two steps, the same deadline, the same two
 * inputs. Each task reads top to bottom; the deadline is one scope around
 * both steps; errors are return values. Coroutine style. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cio.h>

static int parse(void *arg, void **result) /* a pool thread */
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*(const char *)arg == '\0' || *end != '\0')
        return -EINVAL;
    *result = (void *)(intptr_t)v;
    return 0;
}

static int twice(void *arg, void **result) /* a pool thread */
{
    *result = (void *)((intptr_t)arg * 2);
    return 0;
}

static int pipeline(void *arg, void **result)
{
    const char *text = arg;
    cio_scope deadline;
    void *value = NULL;
    int err = cio_timeout_begin(&deadline, 1.0);
    if (err)
        return err;
    err = cio_to_thread(parse, (void *)text, &value);
    if (err == 0)
        err = cio_to_thread(twice, value, &value);
    int expired = cio_scope_end(&deadline); /* -ETIMEDOUT if the deadline passed */
    if (err == 0)
        err = expired;
    *result = value;
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static const char *inputs[2] = {"21", "x"};
    cio_task *tasks[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++)
        if (cio_spawn(pipeline, (void *)inputs[i], &tasks[i]) != 0)
            printf("%s: could not start\n", inputs[i]);
    for (int i = 0; i < 2; i++) {
        if (!tasks[i])
            continue;
        void *value;
        int err = cio_await(tasks[i], &value);
        if (err)
            printf("%s: %s\n", inputs[i], cio_err_name(err));
        else
            printf("%s -> %ld\n", inputs[i], (long)(intptr_t)value);
        cio_future_unref(tasks[i]);
    }
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
