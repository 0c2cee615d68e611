/* futures_cancel_message.c: a cancellation with a reason (asyncio's
 * cancel(msg)). Whoever sees the future cancelled can read why.
 * Reference: docs/api/future.md. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

/* Prints what failed and how; main returns its value. */
static int fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, cio_err_name(err), cio_strerror(err));
    return 1;
}
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static void on_done(cio_future *fut, void *arg)
{
    int *seen = arg;
    const char *why = cio_future_cancel_message(fut);
    printf("cancelled: %s\n", why ? why : "(no reason given)");
    *seen = why != NULL && strcmp(why, "shutting down") == 0;
}

int main(void)
{
    cio_loop *loop;
    cio_future *fut;
    int seen = 0, rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    if ((rc = cio_future_new(loop, &fut)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_future_add_done_callback(fut, on_done, &seen)) != 0)
        return fail("cio_future_add_done_callback", rc);

    /* The message is copied: a buffer of the caller's may go at once. */
    char reason[32];
    strcpy(reason, "shutting down");
    if ((rc = cio_future_cancel_with_message(fut, reason)) != 0)
        return fail("cio_future_cancel_with_message", rc);
    memset(reason, 0, sizeof reason);
    CHECK(cio_future_is_cancelled(fut));
    CHECK(cio_future_error(fut) == -ECANCELED);
    /* Already cancelled: a second cancel is refused, the first reason stays. */
    CHECK(cio_future_cancel_with_message(fut, "again") == -EINVAL);

    /* The done-callback runs in the next iteration. */
    while ((rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT)) == 1)
        ;
    if (rc < 0)
        return fail("cio_loop_run_once", rc);
    CHECK(seen);
    cio_future_unref(fut);

    /* A plain cancel has no message. */
    if ((rc = cio_future_new(loop, &fut)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_future_cancel(fut)) != 0)
        return fail("cio_future_cancel", rc);
    CHECK(cio_future_cancel_message(fut) == NULL);
    cio_future_unref(fut);

    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
