/* loop_callback.c: the event loop by hand. run_until_complete runs it until
 * one future is done; freeing the loop fails while anything still lives on
 * it, because nothing is collected behind your back. Callback style. */
#include <stdio.h>

#include <cio.h>

static void complete(void *arg)
{
    cio_future *fut = arg;
    cio_future_set_result(fut, "done", NULL); /* a static string: no destructor */
    cio_future_unref(fut);
}

int main(void)
{
    cio_loop *loop;
    cio_future *fut;
    if (cio_loop_new(NULL, &loop) != 0 || cio_future_new(loop, &fut) != 0)
        return 1;
    if (cio_call_later(loop, 0.05, complete, cio_future_ref(fut), NULL) != 0)
        return 1;

    void *value = NULL;
    int err = cio_loop_run_until_complete(loop, fut);
    cio_future_result(fut, &value);
    printf("run_until_complete: %d, result \"%s\"\n", err, (const char *)value);

    err = cio_loop_free(loop); /* fut is still referenced */
    printf("loop_free with a live future: %s (%s)\n", cio_err_name(err), cio_strerror(err));

    cio_future_unref(fut);
    err = cio_loop_free(loop);
    printf("loop_free after the last unref: %d\n", err);
    return err == 0 ? 0 : 1;
}
