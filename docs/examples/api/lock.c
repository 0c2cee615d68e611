/* lock.c: asyncio.Lock (docs/api/sync.md). Three tasks update a shared
 * record in two steps with a suspension between them; the lock keeps
 * another task from seeing it half updated. Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

struct account {
    cio_lock *lock;
    int balance, history; /* kept equal outside the critical section */
    int torn;             /* times a task saw them differ */
};

static int deposit(void *arg, void **result)
{
    (void)result;
    struct account *a = arg;
    for (int i = 0; i < 3; i++) {
        int err = cio_lock_acquire(a->lock); /* may suspend */
        if (err)
            return err;
        if (a->balance != a->history)
            a->torn++;
        a->balance += 10;
        err = cio_yield(); /* the others run meanwhile, and queue on the lock */
        a->history += 10;
        int rerr = cio_lock_release(a->lock); /* the first waiter gets it */
        if (err || rerr)
            return err ? err : rerr;
    }
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    struct account a = {0};
    int err = cio_lock_new(&a.lock);
    if (err)
        return err;
    cio_task *t[3];
    size_t n = 0;
    while (n < 3 && (err = cio_spawn(deposit, &a, &t[n])) == 0)
        n++;
    if (err == 0)
        err = cio_gather(t, n, 0, NULL);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(t[i]);

    /* Without waiting: -EAGAIN while held. */
    int first = cio_lock_acquire_nowait(a.lock);
    int second = cio_lock_acquire_nowait(a.lock);
    bool held = cio_lock_is_locked(a.lock);
    int rel = cio_lock_release(a.lock);
    int ferr = cio_lock_free(a.lock);
    if (err || ferr)
        return err ? err : ferr;
    if (a.balance != 90 || a.history != 90 || a.torn || first || second != -EAGAIN || !held ||
        rel) {
        fprintf(stderr, "lock.c: unexpected state\n");
        return -EINVAL;
    }
    printf("balance %d, never seen half updated\n", a.balance);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
