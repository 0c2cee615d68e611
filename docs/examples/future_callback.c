/* future_callback.c: a future is a result that is not there yet. A timer
 * sets it; the done-callback runs on a later iteration, never inside
 * cio_future_set_result. Callback style. */
#define _POSIX_C_SOURCE 200809L /* strdup is POSIX, not C11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

/* The timer's callback. The timer was handed its own reference to the
 * future, so the future is alive here whatever main did meanwhile. */
static void complete(void *arg)
{
    cio_future *fut = arg;
    char *answer = strdup("forty-two");
    /* The future owns answer from here on and frees it with free(). */
    if (!answer || cio_future_set_result(fut, answer, free) != 0)
        free(answer);
    printf("timer: result set; done-callbacks not run yet\n");
    cio_future_unref(fut);
}

static void on_done(cio_future *fut, void *arg)
{
    (void)arg;
    void *value;
    int err = cio_future_result(fut, &value); /* 0, or the error it failed with */
    if (err)
        printf("done-callback: failed: %s\n", cio_strerror(err));
    else
        printf("done-callback: the answer is %s\n", (const char *)value);
    cio_loop_stop(cio_future_loop(fut));
}

int main(void)
{
    cio_loop *loop;
    cio_future *fut;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    if (cio_future_new(loop, &fut) != 0)
        return 1;
    cio_future_add_done_callback(fut, on_done, NULL);
    if (cio_call_later(loop, 0.1, complete, cio_future_ref(fut), NULL) != 0)
        cio_future_unref(fut); /* the timer never got its reference */
    printf("main: the future is %s\n", cio_future_is_done(fut) ? "done" : "pending");

    cio_loop_run_forever(loop);
    cio_future_unref(fut); /* the last reference: frees "forty-two" too */
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
