/* sync_errors.c: what the sync objects refuse (docs/api/sync.md): waits
 * outside a task (-EPERM), releasing a lock or condition that is not held
 * (-EINVAL, asyncio's RuntimeError), and freeing an object tasks wait on
 * (-EBUSY). Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "sync_errors.c:%d: check failed: %s\n", __LINE__, #cond); \
            return -EINVAL;                                                        \
        }                                                                          \
    } while (0)

static int holder(void *arg, void **result)
{
    (void)result;
    return cio_lock_acquire(arg);
}

static int main_task(void *arg, void **result)
{
    (void)result;
    cio_lock *lock = arg;
    CHECK(cio_lock_release(lock) == -EINVAL); /* not held */
    cio_condition *cond;
    int err = cio_condition_new(NULL, &cond);
    if (err)
        return err;
    int rel = cio_condition_release(cond);
    int acq = cio_condition_acquire(cond);
    int rel2 = cio_condition_release(cond);
    int ferr = cio_condition_free(cond);
    CHECK(rel == -EINVAL && acq == 0 && rel2 == 0 && ferr == 0);

    /* While a task waits on the lock, it cannot be freed. */
    if ((err = cio_lock_acquire(lock)) != 0)
        return err;
    cio_task *t;
    if ((err = cio_spawn(holder, lock, &t)) != 0)
        return err;
    err = cio_yield(); /* t waits for the lock */
    int busy = cio_lock_free(lock);
    int rerr = cio_lock_release(lock); /* hands it to t */
    int terr = cio_await(t, NULL);
    cio_future_unref(t);
    if (err || rerr || terr)
        return err ? err : rerr ? rerr : terr;
    CHECK(busy == -EBUSY && cio_lock_is_locked(lock)); /* t ended holding it */
    return cio_lock_release(lock);
}

int main(void)
{
    cio_lock *lock;
    if (cio_lock_new(&lock) != 0)
        return 1;
    /* Outside a task: waits refuse with -EPERM, the rest works. */
    if (cio_lock_acquire(lock) != -EPERM || cio_lock_acquire_nowait(lock) != 0 ||
        cio_lock_release(lock) != 0)
        return 1;
    int err = cio_run(main_task, lock, NULL);
    if (cio_lock_free(lock) != 0 || err)
        return 1;
    return 0;
}
