/* signals.c: a signal handled on the loop's thread. The C handler cio
 * installs only notes the signal; the callback runs in a later iteration,
 * where it may do anything a callback does.
 * Reference: docs/api/loop.md. */
#define _POSIX_C_SOURCE 200809L /* SIGUSR2 */
#include <signal.h>
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

static void on_usr2(void *arg)
{
    int *calls = arg;
    (*calls)++;
}

int main(void)
{
    cio_loop *loop;
    int calls = 0, rc;
    if ((rc = cio_loop_new(NULL, &loop)) != 0)
        return fail("cio_loop_new", rc);
    if ((rc = cio_loop_add_signal_handler(loop, SIGUSR2, on_usr2, &calls)) != 0)
        return fail("cio_loop_add_signal_handler", rc);
    /* Signals that cannot wait for the loop are refused. */
    CHECK(cio_loop_add_signal_handler(loop, SIGKILL, on_usr2, &calls) == -EINVAL);
    CHECK(cio_loop_add_signal_handler(loop, SIGSEGV, on_usr2, &calls) == -EINVAL);

    /* Two deliveries before the loop runs coalesce into one call. */
    if (raise(SIGUSR2) != 0 || raise(SIGUSR2) != 0)
        return fail("raise", -EINVAL);
    CHECK(calls == 0); /* never inside the C signal handler */
    for (int i = 0; i < 1000 && calls == 0; i++)
        if ((rc = cio_loop_run_once(loop, 0)) < 0)
            return fail("cio_loop_run_once", rc);
    CHECK(calls == 1);
    printf("SIGUSR2 handled on the loop's thread\n");

    /* Removing restores SIGUSR2's previous disposition; a second removal
     * finds nothing. */
    if ((rc = cio_loop_remove_signal_handler(loop, SIGUSR2)) != 0)
        return fail("cio_loop_remove_signal_handler", rc);
    CHECK(cio_loop_remove_signal_handler(loop, SIGUSR2) == -ENOENT);
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
