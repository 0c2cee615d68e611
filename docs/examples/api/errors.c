/* errors.c: cio's error convention. A call that fails returns a negative
 * errno; cio_strerror gives its standard text and cio_err_name its symbol,
 * for either sign, never NULL.
 * Reference: docs/api/common.md. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cio.h>

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
    int rc = cio_loop_new(NULL, &loop);
    if (rc != 0) {
        fprintf(stderr, "cio_loop_new: %s (%s)\n", cio_err_name(rc), cio_strerror(rc));
        return 1;
    }
    /* Removing a signal handler that was never added: -ENOENT, which in
     * this call means "no handler for that signal" (its Errors say so). */
    rc = cio_loop_remove_signal_handler(loop, SIGINT);
    CHECK(rc == -ENOENT);
    printf("cio_loop_remove_signal_handler: %s (%s)\n", cio_err_name(rc), cio_strerror(rc));
    /* A bad argument. */
    rc = cio_threadpool_set_size(0);
    CHECK(rc == -EINVAL);
    printf("cio_threadpool_set_size: %s (%s)\n", cio_err_name(rc), cio_strerror(rc));

    /* Both accept the code with either sign, and never return NULL. */
    CHECK(strcmp(cio_err_name(-ENOENT), "ENOENT") == 0);
    CHECK(strcmp(cio_err_name(ENOENT), "ENOENT") == 0);
    CHECK(strcmp(cio_strerror(-ENOENT), cio_strerror(ENOENT)) == 0);
    CHECK(cio_strerror(-123456) != NULL && cio_err_name(-123456) != NULL);
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
