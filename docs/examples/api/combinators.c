/* combinators.c: futures made of futures, in callback code: gather (all of
 * them, fail fast or collect), wait_for (a timeout) and shield (protection
 * from cancellation).
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

/* Runs the loop until nothing is left to do (done-callbacks included). */
static int drain(cio_loop *loop)
{
    int rc;
    while ((rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT)) == 1)
        ;
    return rc;
}

static int new_futures(cio_loop *loop, cio_future **f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = cio_future_new(loop, &f[i]);
        if (rc) {
            while (i--)
                cio_future_unref(f[i]);
            return rc;
        }
    }
    return 0;
}

static void unref_all(cio_future **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cio_future_unref(f[i]);
}

int main(void)
{
    cio_loop *loop;
    cio_future *f[3], *g;
    void *value;
    int rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);

    /* gather: the results in input order, whatever order they came in. */
    if ((rc = new_futures(loop, f, 3)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_gather_future(loop, f, 3, 0, &g)) != 0)
        return fail("cio_gather_future", rc);
    for (size_t i = 3; i-- > 0;)
        if ((rc = cio_future_set_result(f[i], (void *)(uintptr_t)(i + 1), NULL)) != 0)
            return fail("cio_future_set_result", rc);
    if ((rc = cio_loop_run_until_complete(loop, g)) != 0)
        return fail("gather", rc);
    if ((rc = cio_future_result(g, &value)) != 0)
        return fail("cio_future_result", rc);
    void **results = value; /* owned by g */
    CHECK((uintptr_t)results[0] == 1 && (uintptr_t)results[1] == 2 && (uintptr_t)results[2] == 3);
    printf("gather: %d %d %d\n", (int)(uintptr_t)results[0], (int)(uintptr_t)results[1],
           (int)(uintptr_t)results[2]);
    cio_future_unref(g);
    unref_all(f, 3);

    /* gather fails fast with the first child's error; the others go on. */
    if ((rc = new_futures(loop, f, 2)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_gather_future(loop, f, 2, 0, &g)) != 0)
        return fail("cio_gather_future", rc);
    if ((rc = cio_future_set_error(f[0], -EIO)) != 0)
        return fail("cio_future_set_error", rc);
    CHECK(cio_loop_run_until_complete(loop, g) == -EIO);
    CHECK(!cio_future_is_done(f[1]));
    cio_future_cancel(f[1]);
    cio_future_unref(g);
    unref_all(f, 2);

    /* CIO_GATHER_COLLECT: waits for every child and succeeds; a failed
     * child's slot is NULL and its error stays with it. */
    if ((rc = new_futures(loop, f, 2)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_gather_future(loop, f, 2, CIO_GATHER_COLLECT, &g)) != 0)
        return fail("cio_gather_future", rc);
    cio_future_set_error(f[0], -EIO);
    cio_future_set_result(f[1], (void *)(uintptr_t)7, NULL);
    if ((rc = cio_loop_run_until_complete(loop, g)) != 0)
        return fail("gather (collect)", rc);
    cio_future_result(g, &value);
    results = value;
    CHECK(results[0] == NULL && (uintptr_t)results[1] == 7);
    CHECK(cio_future_error(f[0]) == -EIO); /* looked at: not reported */
    cio_future_unref(g);
    unref_all(f, 2);

    /* wait_for: a future that never completes, a 1 ms timeout. The inner
     * future is cancelled, and the wrapper fails with -ETIMEDOUT. */
    if ((rc = new_futures(loop, f, 1)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_wait_for_future(loop, f[0], 0.001, &g)) != 0)
        return fail("cio_wait_for_future", rc);
    CHECK(cio_loop_run_until_complete(loop, g) == -ETIMEDOUT);
    CHECK(cio_future_is_cancelled(f[0]));
    cio_future_unref(g);
    unref_all(f, 1);

    /* shield: cancelling the shield leaves the inner future alone. */
    if ((rc = new_futures(loop, f, 1)) != 0)
        return fail("cio_future_new", rc);
    if ((rc = cio_shield_future(loop, f[0], &g)) != 0)
        return fail("cio_shield_future", rc);
    if ((rc = cio_future_cancel(g)) != 0)
        return fail("cio_future_cancel", rc);
    CHECK(cio_future_is_cancelled(g) && !cio_future_is_done(f[0]));
    cio_future_set_result(f[0], (void *)(uintptr_t)42, NULL);
    CHECK(cio_future_result(f[0], &value) == 0 && (uintptr_t)value == 42);
    cio_future_unref(g);
    unref_all(f, 1);

    /* Bad arguments: no future to wait for, an unknown gather flag. */
    CHECK(cio_wait_for_future(loop, NULL, 1.0, &g) == -EINVAL);
    CHECK(cio_gather_future(loop, NULL, 0, 1 << 8, &g) == -EINVAL);

    if ((rc = drain(loop)) < 0)
        return fail("cio_loop_run_once", rc);
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
