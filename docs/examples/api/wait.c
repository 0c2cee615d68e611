/* wait.c: asyncio.wait (docs/api/task.md). cio_wait sorts the futures into
 * done and pending; it cancels nothing, and its timeout is not an error.
 * Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "wait.c:%d: check failed: %s\n", __LINE__, #cond); \
            err = -EINVAL;                                                  \
            goto out;                                                       \
        }                                                                   \
    } while (0)

static int quick(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static int forever(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cio_sleep(3600);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_task *t[3] = {NULL, NULL, NULL};
    int err = cio_spawn(forever, NULL, &t[0]);
    if (err == 0)
        err = cio_spawn(quick, NULL, &t[1]);
    if (err == 0)
        err = cio_spawn(forever, NULL, &t[2]);
    if (err)
        goto out;

    /* The first to complete: done and pending keep the input order. */
    cio_future *done[3], *pending[3];
    size_t n_done, n_pending;
    err = cio_wait(t, 3, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, done, &n_done, pending,
                   &n_pending);
    if (err)
        goto out;
    CHECK(n_done == 1 && done[0] == t[1]);
    CHECK(n_pending == 2 && pending[0] == t[0] && pending[1] == t[2]);

    /* A timeout only ends the wait: nothing is cancelled, nothing fails. */
    cio_future *still[3];
    size_t n_still;
    err = cio_wait(pending, n_pending, CIO_WAIT_ALL_COMPLETED, 0.01, NULL, &n_done, still,
                   &n_still);
    if (err)
        goto out;
    CHECK(n_done == 0 && n_still == 2 && !cio_future_is_done(t[0]) && !cio_future_is_done(t[2]));

    /* Cancelling is the caller's move; then everything is done. */
    for (size_t i = 0; i < n_still; i++)
        cio_future_cancel(still[i]);
    err = cio_wait(t, 3, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, NULL, &n_done, NULL,
                   &n_pending);
    if (err)
        goto out;
    CHECK(n_done == 3 && n_pending == 0);
    printf("wait: 1 done first, 2 pending, then all done\n");
out:
    for (size_t i = 0; i < 3; i++)
        cio_future_unref(t[i]);
    return err;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
