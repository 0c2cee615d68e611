/* asyncio.Barrier, with threading.Barrier's rule that a waiter giving up
 * (cancelled, timed out) breaks the barrier: the others would otherwise
 * wait for a party that is gone.
 *
 * The last task to arrive hands every waiter its index through its waiter
 * node and starts the next cycle at once, so asyncio's "draining" state,
 * where newcomers wait for the woken to leave, is not needed: a newcomer
 * simply joins the next cycle. */
#include <limits.h>
#include <stdlib.h>

#include "waitq.h"

struct cio_barrier {
    unsigned parties;
    unsigned count; /* tasks waiting in this cycle */
    bool broken;
    cio__sync_home home;
    cio__waitq waiters;
};

int cio_barrier_new(unsigned parties, cio_barrier **out)
{
    if (!out || parties < 1 || parties > INT_MAX)
        return -EINVAL;
    cio_barrier *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->parties = parties;
    *out = b;
    return 0;
}

int cio_barrier_free(cio_barrier *b)
{
    if (!b)
        return 0;
    if (b->home.waiting)
        return -EBUSY;
    free(b);
    return 0;
}

/* Fails every current waiter with -EPIPE and empties the cycle. */
static void fail_waiters(cio_barrier *b)
{
    cio__waitq_wake_all(&b->waiters, -EPIPE);
    b->count = 0;
}

int cio_barrier_wait(cio_barrier *b, unsigned *index)
{
    if (index)
        *index = 0;
    if (!b)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (b->broken)
        return -EPIPE;
    if (b->count + 1 == b->parties) {
        /* Arrivals are queued in order, so indices follow arrival as in
         * asyncio and threading.Barrier: the first gets 0 and the last
         * (this task, which does not wait) parties - 1. The waker's code
         * for each waiter is its index, which cannot be mistaken for an
         * error since parties <= INT_MAX. */
        int next = 0;
        while (!cio__waitq_empty(&b->waiters))
            cio__waitq_wake_one(&b->waiters, next++);
        b->count = 0;
        if (index)
            *index = (unsigned)next;
        return 0;
    }
    cio__waiter w;
    int rc = cio__waiter_enqueue(&b->waiters, &b->home, &w);
    if (rc)
        return rc;
    b->count++;
    rc = cio__waiter_wait(&b->waiters, &w);
    if (rc < 0 && !w.woken) {
        /* We left while the others still count on us. */
        b->count--;
        b->broken = true;
        fail_waiters(b);
    }
    if (rc < 0)
        return rc;
    if (index)
        *index = (unsigned)rc;
    return 0;
}

void cio_barrier_abort(cio_barrier *b)
{
    if (!b)
        return;
    b->broken = true;
    fail_waiters(b);
}

void cio_barrier_reset(cio_barrier *b)
{
    if (!b)
        return;
    fail_waiters(b);
    b->broken = false;
}

unsigned cio_barrier_n_waiting(const cio_barrier *b)
{
    return b ? b->count : 0;
}
bool cio_barrier_is_broken(const cio_barrier *b)
{
    return b && b->broken;
}
