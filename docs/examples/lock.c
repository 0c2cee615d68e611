/* lock.c: asyncio.Lock. Two tasks add to one balance, reading it, then
 * suspending (as a real update would, to write a log or ask a database),
 * then writing it back. Without the lock each overwrites the other's
 * update; with it, the read-suspend-write steps of one task never
 * interleave with the other's. Coroutine style. */
#include <stdio.h>

#include <cio.h>

static int balance;

struct depositor {
    cio_lock *lock; /* NULL: no locking */
    int amount;
};

static int deposit(void *arg, void **result)
{
    (void)result;
    const struct depositor *d = arg;
    for (int i = 0; i < 3; i++) {
        int err = d->lock ? cio_lock_acquire(d->lock) : 0; /* may wait */
        if (err)
            return err;
        int seen = balance;
        err = cio_yield(); /* the other task runs here */
        if (err == 0)
            balance = seen + d->amount;
        if (d->lock)
            cio_lock_release(d->lock); /* on every path out, like a `with` block */
        if (err)
            return err;
    }
    return 0;
}

static int run_both(cio_lock *lock)
{
    struct depositor a = {lock, 10}, b = {lock, 100};
    cio_task_group *group;
    balance = 0;
    int err = cio_task_group_begin(&group);
    if (err)
        return err;
    err = cio_task_group_spawn(group, NULL, deposit, &a, NULL);
    if (err == 0)
        err = cio_task_group_spawn(group, NULL, deposit, &b, NULL);
    int gerr = cio_task_group_end(group);
    if (err == 0)
        err = gerr;
    if (err == 0)
        printf("%s the lock: balance %d (expected 330)\n", lock ? "with" : "without", balance);
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_lock *lock;
    int err = run_both(NULL);
    if (err)
        return err;
    if ((err = cio_lock_new(&lock)) != 0)
        return err;
    err = run_both(lock);
    int ferr = cio_lock_free(lock);
    return err ? err : ferr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
