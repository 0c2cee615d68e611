/* to_thread_with.c: thread-pool work that owns memory (docs/api/task.md).
 * cio_to_thread_with says who frees the argument when the work never runs
 * and the result when nobody receives it. Exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

/* Runs on a pool thread: takes its argument, makes a new string. */
static int shout(void *arg, void **result)
{
    char *in = arg;
    size_t n = strlen(in);
    char *out = malloc(n + 2);
    if (!out) {
        free(in);
        return -EIO; /* not -ENOMEM, which the caller reads as "never started" */
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 'a' + 'A') : in[i];
    out[n] = '!';
    out[n + 1] = 0;
    free(in); /* once fn runs, arg is fn's */
    *result = out;
    return 0;
}

static char *copy(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const cio_work_options *opts = &CIO_WORK_OPTIONS(.arg_free = free, .result_free = free);

    char *in = copy("hello");
    if (!in)
        return -ENOMEM;
    void *out;
    int err = cio_to_thread_with(opts, shout, in, &out);
    if (err) {
        if (err == -EPERM || err == -EINVAL || err == -ENOMEM)
            free(in); /* not started: arg is still ours */
        return err;
    }
    printf("%s\n", (char *)out);
    int same = strcmp(out, "HELLO!") == 0;
    free(out); /* on 0 the result is the caller's */
    if (!same)
        return -EINVAL;

    /* result NULL: the result is freed with result_free before the call
     * returns, so nothing leaks. */
    if (!(in = copy("quiet")))
        return -ENOMEM;
    err = cio_to_thread_with(opts, shout, in, NULL);
    if (err == -EPERM || err == -EINVAL || err == -ENOMEM)
        free(in);
    return err;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
