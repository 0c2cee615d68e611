/* threadpool_options.c: a pool job that owns what it is given. The options
 * say who frees the argument when the work never runs and the result when
 * nobody takes it, so cancelling a job leaks nothing.
 * Reference: docs/api/loop.md. */
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

/* Runs on a pool thread: takes the argument, returns a new string. */
static int shout(void *arg, void **result)
{
    char *in = arg;
    size_t n = strlen(in);
    char *out = malloc(n + 2);
    if (!out) {
        free(in);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 'a' + 'A') : in[i];
    out[n] = '!';
    out[n + 1] = '\0';
    free(in); /* once fn runs, arg is fn's */
    *result = out;
    return 0;
}

static char *copy(const char *s)
{
    char *p = malloc(strlen(s) + 1);
    return p ? strcpy(p, s) : NULL;
}

int main(void)
{
    cio_loop *loop;
    cio_future *fut;
    int rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    char *arg = copy("hello");
    if (!arg)
        return fail("malloc", -ENOMEM);
    /* arg_free: if the job never runs; result_free: the future's
     * destructor for the result, and the job's if nobody receives it. */
    rc = cio_to_thread_future(loop, &CIO_WORK_OPTIONS(.arg_free = free, .result_free = free),
                              shout, arg, &fut);
    if (rc != 0) {
        free(arg); /* a failed call leaves arg with the caller */
        return fail("cio_to_thread_future", rc);
    }
    if ((rc = cio_loop_run_until_complete(loop, fut)) != 0)
        return fail("shout", rc);
    void *value;
    cio_future_result(fut, &value); /* still owned by the future */
    CHECK(strcmp(value, "HELLO!") == 0);
    printf("%s\n", (const char *)value);
    cio_future_unref(fut); /* frees the result with result_free */
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
