/* The seed's `add(2, 3, callback=call_back)`: the work runs on the thread
 * pool, the callback runs on the loop's thread and prints the result. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

struct add_args {
    int x, y;
};

/* Runs on a pool thread: blocking here does not block the loop. */
static int add(void *arg, void **result)
{
    struct add_args *a = arg;
    *result = (void *)(intptr_t)(a->x + a->y);
    return 0;
}

/* Runs on the loop's thread once add() has finished. */
static void call_back(cio_future *fut, void *arg)
{
    (void)arg;
    void *value;
    int err = cio_future_result(fut, &value);
    if (err)
        printf("add failed: %s\n", cio_strerror(err));
    else
        printf("The result is: %d\n", (int)(intptr_t)value);
    cio_loop_stop(cio_future_loop(fut));
}

int main(void)
{
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    struct add_args args = {2, 3};
    cio_future *fut = NULL;
    int err = cio_to_thread_future(loop, NULL, add, &args, &fut);
    if (err == 0)
        err = cio_future_add_done_callback(fut, call_back, NULL);
    if (err == 0)
        err = cio_loop_run_forever(loop);
    if (err)
        fprintf(stderr, "callback_add: %s\n", cio_strerror(err));
    cio_future_unref(fut); /* our reference (NULL if none was made) */
    return cio_loop_free(loop) == 0 && err == 0 ? 0 : 1;
}
