/* asyncio.Lock. Release hands the lock straight to the first waiter (the
 * lock never looks free while someone waits), which gives FIFO fairness
 * without asyncio's "is any waiter not cancelled" scan: a newcomer cannot
 * overtake the queue, and a woken waiter cannot find the lock taken. */
#include <stdlib.h>

#include "waitq.h"

struct cio_lock {
    bool locked;
    cio__sync_home home;
    cio__waitq waiters; /* nonempty only while locked */
};

int cio_lock_new(cio_lock **out)
{
    if (!out)
        return -EINVAL;
    cio_lock *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    *out = l;
    return 0;
}

int cio_lock_free(cio_lock *lock)
{
    if (!lock)
        return 0;
    if (lock->home.waiting)
        return -EBUSY;
    free(lock);
    return 0;
}

int cio_lock_acquire(cio_lock *lock)
{
    if (!lock)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (!lock->locked) {
        lock->locked = true;
        return 0;
    }
    cio__waiter w;
    int rc = cio__wait(&lock->waiters, &lock->home, &w);
    if (rc < 0 && w.woken) {
        /* The lock was handed to us, but we gave up before running:
         * hand it on. */
        cio_lock_release(lock);
    }
    return rc;
}

int cio_lock_acquire_nowait(cio_lock *lock)
{
    if (!lock)
        return -EINVAL;
    if (lock->locked)
        return -EAGAIN;
    lock->locked = true;
    return 0;
}

int cio_lock_release(cio_lock *lock)
{
    if (!lock)
        return -EINVAL;
    if (!lock->locked)
        return -EINVAL; /* asyncio's RuntimeError; -EPERM is for suspending outside a task */
    if (!cio__waitq_wake_one(&lock->waiters, 0))
        lock->locked = false;
    return 0;
}

bool cio_lock_is_locked(const cio_lock *lock)
{
    return lock && lock->locked;
}
