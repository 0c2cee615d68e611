/* threadpool.c: blocking work on the shared thread pool, from callback
 * code. The future completes on the loop's thread with what the work
 * function stored; the caller takes the result and frees it.
 * Reference: docs/api/loop.md. */
#include <stdio.h>
#include <stdlib.h>

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

/* Runs on a pool thread: no cio call here but the pure ones. */
static int sum_to(void *arg, void **result)
{
    long n = *(const long *)arg;
    long *sum = malloc(sizeof *sum);
    if (!sum)
        return -ENOMEM; /* fails the future */
    *sum = n * (n + 1) / 2;
    *result = sum;
    return 0;
}

static int refuse(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -EDOM;
}

int main(void)
{
    cio_loop *loop;
    int rc;
    /* Two threads are plenty here; the default is one per CPU. */
    if ((rc = cio_threadpool_set_size(2)) != 0)
        return fail("cio_threadpool_set_size", rc);
    CHECK(cio_threadpool_size() == 2);
    CHECK(cio_threadpool_set_size(0) == -EINVAL);

    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    long n = 1000;
    cio_future *fut, *bad;
    if ((rc = cio_to_thread_future(loop, NULL, sum_to, &n, &fut)) != 0)
        return fail("cio_to_thread_future", rc);
    if ((rc = cio_to_thread_future(loop, NULL, refuse, NULL, &bad)) != 0)
        return fail("cio_to_thread_future", rc);

    if ((rc = cio_loop_run_until_complete(loop, fut)) != 0)
        return fail("sum_to", rc);
    /* Without a result_free the future would not free the result: take it. */
    void *value;
    if ((rc = cio_future_take_result(fut, &value)) != 0)
        return fail("cio_future_take_result", rc);
    long *sum = value;
    CHECK(*sum == 500500);
    printf("1 + ... + %ld = %ld, computed on a pool thread\n", n, *sum);
    free(sum);

    /* A work function's error fails its future. */
    CHECK(cio_loop_run_until_complete(loop, bad) == -EDOM);

    cio_future_unref(fut);
    cio_future_unref(bad);
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
