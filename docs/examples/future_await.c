/* future_await.c: the same future, awaited by a task. cio_await suspends
 * the task (not the thread) until a timer's callback sets the result.
 * Coroutine style. */
#define _POSIX_C_SOURCE 200809L /* strdup is POSIX, not C11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

static void complete(void *arg)
{
    cio_future *fut = arg;
    char *answer = strdup("forty-two");
    if (!answer || cio_future_set_result(fut, answer, free) != 0)
        free(answer);
    printf("timer: result set\n");
    cio_future_unref(fut);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop *loop = cio_current_loop();
    cio_future *fut;
    int err = cio_future_new(loop, &fut);
    if (err)
        return err;
    if ((err = cio_call_later(loop, 0.1, complete, cio_future_ref(fut), NULL)) != 0) {
        cio_future_unref(fut);
        cio_future_unref(fut);
        return err;
    }
    printf("task: awaiting the future\n");
    void *value;
    err = cio_await(fut, &value); /* value stays owned by fut */
    if (err == 0)
        printf("task: the answer is %s\n", (const char *)value);
    cio_future_unref(fut); /* frees the future and its result */
    return err;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task failed: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
