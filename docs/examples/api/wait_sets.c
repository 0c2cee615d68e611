/* wait_sets.c: asyncio.wait in callback code. The wait future's result
 * says which inputs are done and which are still pending; it never fails
 * and never touches the inputs.
 * Reference: docs/api/future.md. */
#include <stdint.h>
#include <stdio.h>

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

int main(void)
{
    cio_loop *loop;
    cio_future *f[3], *w;
    void *value;
    int rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    for (int i = 0; i < 3; i++)
        if ((rc = cio_future_new(loop, &f[i])) != 0)
            return fail("cio_future_new", rc);

    /* The first to complete ends the wait. */
    if ((rc = cio_wait_future(loop, f, 3, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, &w)) != 0)
        return fail("cio_wait_future", rc);
    if ((rc = cio_future_set_result(f[1], (void *)(uintptr_t)1, NULL)) != 0)
        return fail("cio_future_set_result", rc);
    if ((rc = cio_loop_run_until_complete(loop, w)) != 0)
        return fail("cio_loop_run_until_complete", rc);
    if ((rc = cio_future_result(w, &value)) != 0)
        return fail("cio_future_result", rc);
    const cio_wait_sets *sets = value; /* owned by w: valid while w lives */
    CHECK(sets->n_done == 1 && sets->done[0] == f[1]);
    CHECK(sets->n_pending == 2 && sets->pending[0] == f[0] && sets->pending[1] == f[2]);
    printf("first completed: %zu done, %zu pending\n", sets->n_done, sets->n_pending);
    cio_future_unref(w);

    /* A timeout ends the wait too, without an error: the sets tell. */
    if ((rc = cio_wait_future(loop, f, 3, CIO_WAIT_ALL_COMPLETED, 0.001, &w)) != 0)
        return fail("cio_wait_future", rc);
    if ((rc = cio_loop_run_until_complete(loop, w)) != 0)
        return fail("cio_loop_run_until_complete", rc);
    cio_future_result(w, &value);
    sets = value;
    CHECK(sets->n_done == 1 && sets->n_pending == 2);
    printf("after the timeout: %zu done, %zu pending\n", sets->n_done, sets->n_pending);
    cio_future_unref(w);

    /* Nothing to wait for is a bad argument, as in asyncio. */
    CHECK(cio_wait_future(loop, f, 0, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, &w) == -EINVAL);

    cio_future_cancel(f[0]);
    cio_future_cancel(f[2]);
    for (int i = 0; i < 3; i++)
        cio_future_unref(f[i]);
    while ((rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT)) == 1)
        ;
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
