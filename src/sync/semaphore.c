/* asyncio.Semaphore and BoundedSemaphore. A release with waiters hands the
 * unit straight to the first one (value stays 0), so a newcomer's acquire
 * cannot take it first: the fairness that asyncio only reached after
 * several fixes (gh-90155), by construction. */
#include <limits.h>
#include <stdlib.h>

#include "waitq.h"

struct cio_semaphore {
    unsigned value; /* 0 while anyone waits */
    unsigned initial;
    bool bounded;
    cio__sync_home home;
    cio__waitq waiters;
};

int cio_semaphore_new(unsigned value, bool bounded, cio_semaphore **out)
{
    if (!out)
        return -EINVAL;
    cio_semaphore *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->value = s->initial = value;
    s->bounded = bounded;
    *out = s;
    return 0;
}

int cio_semaphore_free(cio_semaphore *sem)
{
    if (!sem)
        return 0;
    if (sem->home.waiting)
        return -EBUSY;
    free(sem);
    return 0;
}

int cio_semaphore_acquire(cio_semaphore *sem)
{
    if (!sem)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (sem->value > 0) {
        sem->value--;
        return 0;
    }
    cio__waiter w;
    int rc = cio__wait(&sem->waiters, &sem->home, &w);
    if (rc < 0 && w.woken) {
        /* A unit was handed to us but we gave up: pass it on. Cannot hit
         * the bound: the unit we hold is not counted in value. */
        cio_semaphore_release(sem);
    }
    return rc;
}

int cio_semaphore_acquire_nowait(cio_semaphore *sem)
{
    if (!sem)
        return -EINVAL;
    if (sem->value == 0)
        return -EAGAIN;
    sem->value--;
    return 0;
}

int cio_semaphore_release(cio_semaphore *sem)
{
    if (!sem)
        return -EINVAL;
    /* Units held = initial - value, waiters or not, so the bound check
     * needs no special case for handed-over units. */
    if (sem->bounded && sem->value >= sem->initial)
        return -EINVAL;
    if (cio__waitq_wake_one(&sem->waiters, 0))
        return 0;
    if (sem->value == UINT_MAX)
        return -EINVAL;
    sem->value++;
    return 0;
}

unsigned cio_semaphore_value(const cio_semaphore *sem)
{
    return sem ? sem->value : 0;
}
