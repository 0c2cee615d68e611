/* semaphore.c: asyncio.Semaphore and BoundedSemaphore (docs/api/sync.md).
 * Six workers, at most two at a time in the guarded section. Exits 0 on
 * success. */
#include <stdio.h>

#include <cio.h>

struct pool {
    cio_semaphore *slots;
    int inside, most; /* workers in the section now, and the most at once */
};

static int worker(void *arg, void **result)
{
    (void)result;
    struct pool *p = arg;
    int err = cio_semaphore_acquire(p->slots); /* waits while both are taken */
    if (err)
        return err;
    if (++p->inside > p->most)
        p->most = p->inside;
    err = cio_yield(); /* the others queue meanwhile */
    p->inside--;
    int rerr = cio_semaphore_release(p->slots); /* hands the unit to the first waiter */
    return err ? err : rerr;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    struct pool p = {0};
    int err = cio_semaphore_new(2, true, &p.slots); /* bounded: at most 2 */
    if (err)
        return err;
    cio_task *t[6];
    size_t n = 0;
    while (n < 6 && (err = cio_spawn(worker, &p, &t[n])) == 0)
        n++;
    if (err == 0)
        err = cio_gather(t, n, 0, NULL);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(t[i]);

    unsigned full = cio_semaphore_value(p.slots);        /* 2 again */
    int over = cio_semaphore_release(p.slots);           /* -EINVAL: bounded */
    int a = cio_semaphore_acquire_nowait(p.slots);       /* 0 */
    int b = cio_semaphore_acquire_nowait(p.slots);       /* 0 */
    int c = cio_semaphore_acquire_nowait(p.slots);       /* -EAGAIN */
    int r = cio_semaphore_release(p.slots) | cio_semaphore_release(p.slots);
    int ferr = cio_semaphore_free(p.slots);
    if (err || ferr)
        return err ? err : ferr;
    if (p.most != 2 || full != 2 || over != -EINVAL || a || b || c != -EAGAIN || r) {
        fprintf(stderr, "semaphore.c: unexpected state\n");
        return -EINVAL;
    }
    printf("at most %d at once\n", p.most);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
