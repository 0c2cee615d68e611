/* as_completed.c: futures in the order they complete, in callback code.
 * Each cio_as_completed_next_future is a future of the next input to
 * complete; the iteration ends with -ENODATA.
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
    cio_future *f[3];
    cio_as_completed *it;
    int rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    for (int i = 0; i < 3; i++)
        if ((rc = cio_future_new(loop, &f[i])) != 0)
            return fail("cio_future_new", rc);
    if ((rc = cio_as_completed_new(loop, f, 3, CIO_NO_TIMEOUT, &it)) != 0)
        return fail("cio_as_completed_new", rc);
    /* Complete them in the order 2, 0, 1. */
    cio_future_set_result(f[2], (void *)(uintptr_t)2, NULL);
    cio_future_set_result(f[0], (void *)(uintptr_t)0, NULL);
    cio_future_set_result(f[1], (void *)(uintptr_t)1, NULL);

    int order[3], n = 0;
    cio_future *next;
    while ((rc = cio_as_completed_next_future(it, &next)) == 0) {
        if ((rc = cio_loop_run_until_complete(loop, next)) != 0)
            return fail("next", rc);
        void *value;
        cio_future_result(next, &value);
        cio_future *child = value; /* owned by the iterator */
        cio_future_result(child, &value);
        if (n < 3)
            order[n] = (int)(uintptr_t)value;
        n++;
        cio_future_unref(next);
    }
    CHECK(rc == -ENODATA && n == 3);
    CHECK(order[0] == 2 && order[1] == 0 && order[2] == 1);
    printf("completed in the order %d %d %d\n", order[0], order[1], order[2]);

    if ((rc = cio_as_completed_free(it)) != 0)
        return fail("cio_as_completed_free", rc);
    for (int i = 0; i < 3; i++)
        cio_future_unref(f[i]);
    while ((rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT)) == 1)
        ;
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
