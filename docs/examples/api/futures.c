/* futures.c: a future's whole life in callback code: made, named, given
 * done-callbacks, completed (with a result, an error, or cancelled), read,
 * and released.
 * Reference: docs/api/future.md. */
#include <stdio.h>
#include <stdlib.h>
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

struct calls {
    int done;
    int removed;
};

/* Done-callbacks run in a later iteration, never inside set_result. */
static void on_done(cio_future *fut, void *arg)
{
    struct calls *c = arg;
    c->done++;
    /* Reading the outcome marks an error retrieved. */
    (void)cio_future_error(fut);
}

static void never(cio_future *fut, void *arg)
{
    (void)fut;
    struct calls *c = arg;
    c->removed++;
}

/* A timer completes the future later, as I/O would. */
static void complete_later(void *arg)
{
    cio_future *fut = arg;
    char *text = malloc(6);
    if (text) {
        memcpy(text, "ready", 6);
        /* The future owns text from here on and frees it with free(). */
        if (cio_future_set_result(fut, text, free) != 0)
            free(text);
    } else {
        cio_future_set_error(fut, -ENOMEM);
    }
    cio_future_unref(fut); /* the timer's reference */
}

int main(void)
{
    struct calls c = {0};
    cio_loop *loop;
    cio_future *fut;
    int rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    if ((rc = cio_future_new(loop, &fut)) != 0)
        return fail("cio_future_new", rc);
    CHECK(cio_future_loop(fut) == loop);
    if ((rc = cio_future_set_name(fut, "greeting")) != 0)
        return fail("cio_future_set_name", rc);
    CHECK(strcmp(cio_future_name(fut), "greeting") == 0);

    /* Two callbacks; one is removed again before the future completes. */
    if ((rc = cio_future_add_done_callback(fut, on_done, &c)) != 0)
        return fail("cio_future_add_done_callback", rc);
    if ((rc = cio_future_add_done_callback(fut, never, &c)) != 0)
        return fail("cio_future_add_done_callback", rc);
    if ((rc = cio_future_remove_done_callback(fut, never, &c)) < 0)
        return fail("cio_future_remove_done_callback", rc);

    /* The timer gets its own reference (cio_future_ref returns fut). */
    if ((rc = cio_call_later(loop, 0.001, complete_later, cio_future_ref(fut), NULL)) != 0) {
        cio_future_unref(fut); /* the timer never got it */
        return fail("cio_call_later", rc);
    }
    CHECK(!cio_future_is_done(fut) && cio_future_error(fut) == -EAGAIN);

    /* Runs the loop until fut is done; returns its outcome. */
    if ((rc = cio_loop_run_until_complete(loop, fut)) != 0)
        return fail("cio_loop_run_until_complete", rc);
    /* The result stays owned by the future... */
    void *value;
    if ((rc = cio_future_result(fut, &value)) != 0)
        return fail("cio_future_result", rc);
    printf("%s: %s\n", cio_future_name(fut), (const char *)value);
    /* ...and completing it twice is refused; the first outcome stays. */
    CHECK(cio_future_set_error(fut, -EIO) == -EINVAL);
    /* The done-callback was scheduled with the completion: let it run. */
    while ((rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT)) == 1)
        ;
    CHECK(c.done == 1 && c.removed == 0);
    cio_future_unref(fut); /* the last reference: frees "ready" too */

    /* An error, read with cio_future_error (so it is not reported). */
    if ((rc = cio_future_new(loop, &fut)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_future_set_error(fut, -ENOENT)) != 0)
        return fail("cio_future_set_error", rc);
    CHECK(cio_future_error(fut) == -ENOENT);
    cio_future_unref(fut);

    /* Cancelled: cancelling again is refused, as asyncio's cancel() returns
     * False for a done future. */
    if ((rc = cio_future_new(loop, &fut)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_future_cancel(fut)) != 0)
        return fail("cio_future_cancel", rc);
    CHECK(cio_future_is_done(fut) && cio_future_is_cancelled(fut));
    CHECK(cio_future_cancel(fut) == -EINVAL);
    CHECK(cio_future_result(fut, &value) == -ECANCELED && value == NULL);
    cio_future_unref(fut);

    /* A result taken out is the caller's: the destructor will not run. */
    if ((rc = cio_future_new(loop, &fut)) != 0)
        return fail("cio_future_new", rc);
    char *owned = malloc(1);
    if (!owned)
        return fail("malloc", -ENOMEM);
    if ((rc = cio_future_set_result(fut, owned, free)) != 0)
        return fail("cio_future_set_result", rc);
    if ((rc = cio_future_take_result(fut, &value)) != 0)
        return fail("cio_future_take_result", rc);
    cio_future_unref(fut);
    free(value);

    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
