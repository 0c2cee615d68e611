/* add_callback.c: add(2, 3) runs on the thread pool; call_back runs on the
 * loop's thread once the result is there. Callback style. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

static int add(void *arg, void **result) /* a pool thread */
{
    const int *xy = arg;
    *result = (void *)(intptr_t)(xy[0] + xy[1]);
    return 0;
}

static void call_back(cio_future *fut, void *arg) /* the loop's thread */
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
    static const int xy[2] = {2, 3};
    cio_loop *loop;
    cio_future *fut;
    int err = cio_loop_new(NULL, &loop);
    if (err)
        return 1;
    err = cio_to_thread_future(loop, NULL, add, (void *)xy, &fut);
    if (err == 0) {
        cio_future_add_done_callback(fut, call_back, NULL);
        cio_loop_run_forever(loop);
        cio_future_unref(fut); /* our reference, from cio_to_thread_future */
    }
    return cio_loop_free(loop) == 0 && err == 0 ? 0 : 1;
}
