/* barrier.c: asyncio.Barrier (docs/api/sync.md). Three tasks meet at a
 * barrier twice; each learns its place in the order of arrival. Then the
 * barrier is broken with abort and mended with reset. Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

static unsigned seen[2][3]; /* seen[round][index]: which task got the index */

static int party(void *arg, void **result)
{
    (void)result;
    cio_barrier *b = ((void **)arg)[0];
    unsigned id = (unsigned)(uintptr_t)((void **)arg)[1];
    for (int round = 0; round < 2; round++) {
        unsigned index;
        int err = cio_barrier_wait(b, &index); /* the last to arrive wakes all */
        if (err)
            return err;
        seen[round][index] = id + 1;
    }
    return 0;
}

static int stuck(void *arg, void **result)
{
    (void)result;
    return cio_barrier_wait(arg, NULL); /* -EPIPE once aborted */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_barrier *b;
    int err = cio_barrier_new(3, &b);
    if (err)
        return err;
    void *args[3][2];
    cio_task *t[3];
    size_t n = 0;
    for (; n < 3; n++) {
        args[n][0] = b;
        args[n][1] = (void *)(uintptr_t)n;
        if ((err = cio_spawn(party, args[n], &t[n])) != 0)
            break;
    }
    if (err == 0)
        err = cio_gather(t, n, 0, NULL);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(t[i]);
    if (err) {
        cio_barrier_free(b);
        return err;
    }
    /* Round 1: the tasks start in the order they were spawned, so they
     * arrive in it. Round 2: the last to arrive did not suspend and is
     * first at the barrier again; each index is still handed out once. */
    unsigned ids = 0;
    for (unsigned i = 0; i < 3; i++) {
        if (seen[0][i] != i + 1)
            err = -EINVAL;
        ids |= 1u << seen[1][i];
    }
    if (ids != 0xe || seen[1][0] != 3)
        err = -EINVAL;

    /* abort breaks it: the waiter fails with -EPIPE, and so does every
     * wait until reset. */
    cio_task *s;
    if (err == 0 && (err = cio_spawn(stuck, b, &s)) == 0) {
        err = cio_yield(); /* s arrives and waits */
        unsigned waiting = cio_barrier_n_waiting(b);
        cio_barrier_abort(b);
        int serr = cio_await(s, NULL);
        cio_future_unref(s);
        bool broken = cio_barrier_is_broken(b);
        int again = cio_barrier_wait(b, NULL);
        cio_barrier_reset(b);
        if (err == 0 && (waiting != 1 || serr != -EPIPE || !broken || again != -EPIPE ||
                         cio_barrier_is_broken(b)))
            err = -EINVAL;
    }
    int ferr = cio_barrier_free(b);
    if (err || ferr)
        return err ? err : ferr;
    printf("barrier: two rounds, indices in order of arrival\n");
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
