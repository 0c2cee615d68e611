/* asyncio.Condition. A waiter that is notified and then gives up before it
 * runs (cancelled, timed out) passes the notification to the next waiter,
 * so notify(n) always reaches n tasks that can act on it. */
#include <stdint.h>
#include <stdlib.h>

#include "waitq.h"

struct cio_condition {
    cio_lock *lock;
    bool own_lock;
    cio__sync_home home;
    cio__waitq waiters;
};

int cio_condition_new(cio_lock *lock, cio_condition **out)
{
    if (!out)
        return -EINVAL;
    cio_condition *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    if (!lock) {
        int rc = cio_lock_new(&lock);
        if (rc) {
            free(c);
            return rc;
        }
        c->own_lock = true;
    }
    c->lock = lock;
    *out = c;
    return 0;
}

int cio_condition_free(cio_condition *cond)
{
    if (!cond)
        return 0;
    if (cond->home.waiting)
        return -EBUSY;
    if (cond->own_lock) {
        int rc = cio_lock_free(cond->lock);
        if (rc)
            return rc;
    }
    free(cond);
    return 0;
}

int cio_condition_acquire(cio_condition *cond)
{
    return cond ? cio_lock_acquire(cond->lock) : -EINVAL;
}

int cio_condition_release(cio_condition *cond)
{
    return cond ? cio_lock_release(cond->lock) : -EINVAL;
}

static void notify(cio_condition *cond, size_t n)
{
    while (n-- && cio__waitq_wake_one(&cond->waiters, 0))
        ;
}

/* The wait's checks, in the order the header promises: a suspending call
 * outside a task is -EPERM whatever the lock's state, and a wait without
 * the lock is a condition in the wrong state, -EINVAL. */
static int wait_check(const cio_condition *cond)
{
    if (!cond)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (!cio_lock_is_locked(cond->lock))
        return -EINVAL;
    return 0;
}

int cio_condition_wait(cio_condition *cond)
{
    int rc = wait_check(cond);
    if (rc)
        return rc;
    cio__waiter w;
    /* Queue first: if that fails, we still hold the lock, as promised. */
    rc = cio__waiter_enqueue(&cond->waiters, &cond->home, &w);
    if (rc)
        return rc;
    cio_lock_release(cond->lock);
    rc = cio__waiter_wait(&cond->waiters, &w);

    /* Re-acquire even if cancelled or timed out: the caller's unlock must
     * find the lock held. The shield holds back our cancellation and
     * deadlines so the acquire can wait; they resume when it ends. */
    cio_scope shield;
    int src = cio_shield_begin(&shield);
    int arc = cio_lock_acquire(cond->lock);
    if (src == 0)
        cio_scope_end(&shield);

    if (rc < 0 && w.woken)
        notify(cond, 1); /* notified, but we gave up: pass it on */
    return rc < 0 ? rc : arc;
}

int cio_condition_wait_for(cio_condition *cond, bool (*pred)(void *arg), void *arg)
{
    if (!pred)
        return -EINVAL;
    int rc = wait_check(cond);
    if (rc)
        return rc;
    while (!pred(arg)) {
        rc = cio_condition_wait(cond);
        if (rc)
            return rc;
    }
    return 0;
}

int cio_condition_notify(cio_condition *cond, size_t n)
{
    if (!cond)
        return -EINVAL;
    if (!cio_lock_is_locked(cond->lock))
        return -EINVAL;
    notify(cond, n);
    return 0;
}

int cio_condition_notify_all(cio_condition *cond)
{
    return cio_condition_notify(cond, SIZE_MAX);
}
