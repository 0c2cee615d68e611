/* task_combinators.c: awaiting several futures from a task
 * (docs/api/task.md): cio_gather (asyncio.gather), cio_wait_for
 * (asyncio.wait_for) and cio_shield (asyncio.shield). Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "task_combinators.c:%d: check failed: %s\n", __LINE__, #cond); \
            return -EINVAL;                                                             \
        }                                                                               \
    } while (0)

static int square(void *arg, void **result)
{
    int err = cio_yield();
    if (err)
        return err;
    uintptr_t x = (uintptr_t)arg;
    *result = (void *)(x * x);
    return 0;
}

static int fail(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -EIO;
}

static int forever(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cio_sleep(3600);
}

/* Waits for a future through a shield: cancelling this task does not
 * cancel the future. */
static int shielded_waiter(void *arg, void **result)
{
    return cio_shield(arg, result);
}

static void unref_all(cio_task **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cio_future_unref(t[i]);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;

    /* cio_gather: every result, in input order. */
    cio_task *t[3];
    size_t n = 0;
    int err = 0;
    for (; n < 3 && err == 0; n++)
        err = cio_spawn(square, (void *)(uintptr_t)(n + 2), &t[n]);
    if (err) {
        unref_all(t, n - 1);
        return err;
    }
    void *r[3];
    err = cio_gather(t, 3, 0, r);
    unref_all(t, 3);
    if (err)
        return err;
    CHECK((uintptr_t)r[0] == 4 && (uintptr_t)r[1] == 9 && (uintptr_t)r[2] == 16);

    /* Without CIO_GATHER_COLLECT the first failure is returned at once;
     * with it, gather waits for all and each future keeps its outcome. */
    if ((err = cio_spawn(fail, NULL, &t[0])) != 0)
        return err;
    if ((err = cio_spawn(square, (void *)(uintptr_t)5, &t[1])) != 0) {
        unref_all(t, 1);
        return err;
    }
    err = cio_gather(t, 2, CIO_GATHER_COLLECT, NULL);
    int e0 = cio_future_error(t[0]); /* looked at: not reported later */
    int e1 = cio_future_error(t[1]);
    unref_all(t, 2);
    CHECK(err == 0 && e0 == -EIO && e1 == 0);

    /* cio_wait_for: on timeout the future is cancelled. The task never
     * finishes by itself, so the outcome does not depend on timing. */
    cio_task *slow;
    if ((err = cio_spawn(forever, NULL, &slow)) != 0)
        return err;
    err = cio_wait_for(slow, 0.01, NULL);
    bool cancelled = cio_future_is_cancelled(slow);
    cio_future_unref(slow);
    CHECK(err == -ETIMEDOUT && cancelled);
    cio_task *fast;
    if ((err = cio_spawn(square, (void *)(uintptr_t)7, &fast)) != 0)
        return err;
    void *v;
    err = cio_wait_for(fast, CIO_NO_TIMEOUT, &v);
    cio_future_unref(fast);
    CHECK(err == 0 && (uintptr_t)v == 49);

    /* cio_shield: the waiter is cancelled, the future it waited for is not. */
    cio_future *f;
    if ((err = cio_future_new(cio_current_loop(), &f)) != 0)
        return err;
    cio_task *w;
    if ((err = cio_spawn(shielded_waiter, f, &w)) != 0) {
        cio_future_unref(f);
        return err;
    }
    err = cio_yield(); /* the waiter starts and suspends in cio_shield */
    if (err == 0)
        err = cio_future_cancel(w);
    int werr = cio_await(w, NULL);
    cio_future_unref(w);
    bool f_pending = !cio_future_is_done(f);
    if (err == 0)
        err = cio_future_set_result(f, (void *)(uintptr_t)1, NULL);
    cio_future_unref(f);
    if (err)
        return err;
    CHECK(werr == -ECANCELED && f_pending);
    printf("gather, wait_for and shield behaved\n");
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
