/* Internal: the wait queue every synchronisation object is built on.
 *
 * A waiter is a node that lives on the waiting task's own stack (a stackful
 * task keeps its stack while suspended), so queueing allocates nothing but
 * the future the task awaits, and that comes from the loop's free list.
 * Waking a waiter means taking it off the queue, storing the outcome the
 * waker chose in it (w->rc) and completing its future; the task resumes on
 * a later iteration.
 *
 * The waker decides: once a waiter is woken, the resource it waited for
 * (the lock, a semaphore unit, a queue item, a queue slot) is already its
 * own. If the task then gives up anyway (cancelled, or its deadline passed,
 * before it ran again), the object's code sees w->woken set and passes the
 * grant on to the next waiter, so no wakeup is ever lost. */
#ifndef CIO_SYNC_WAITQ_H
#define CIO_SYNC_WAITQ_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>

#include <cio/sync.h>

/* What every object keeps about its waiters as a whole. */
typedef struct cio__sync_home {
    /* The loop of the tasks waiting now, NULL when none does. Binding only
     * while someone waits (not forever, as asyncio does) means the pointer
     * always names a live loop (a loop cannot close while its tasks are
     * suspended), and an object can serve one cio_run after another. */
    cio_loop *loop;
    /* Waiters between enqueue and return: still queued, or woken but not
     * yet resumed. Such a task will touch the object again when it runs, so
     * the object may not be freed while this is nonzero. */
    size_t waiting;
} cio__sync_home;

typedef struct cio__waiter {
    struct cio__waiter *next, *prev;
    cio__sync_home *home;
    cio_future *fut;
    int rc;                 /* the outcome the waker chose: 0, -ESHUTDOWN, -EPIPE, an index */
    bool woken;             /* a waker took the waiter off the queue and completed fut */
    void *item;             /* a queue item handed to a getter */
    unsigned long long seq; /* its put order (priority queues) */
} cio__waiter;

typedef struct cio__waitq {
    cio__waiter *head, *tail;
} cio__waitq;

/* Queues w at the tail with a fresh future. On failure w is left not
 * woken. Returns 0, -EPERM outside a
 * task, -EINVAL if tasks of another loop wait on the object, -ENOMEM. Does
 * not suspend: the caller may still change state (a condition releases its
 * lock) before cio__waiter_wait. */
int cio__waiter_enqueue(cio__waitq *q, cio__sync_home *home, cio__waiter *w);

/* Suspends until w is woken or the task gives up. Returns the waker's
 * w->rc, or the error that ended the wait (-ECANCELED, -ETIMEDOUT). In the
 * second case w is no longer queued, but w->woken may be set: the caller
 * then owns a grant it must pass on. */
int cio__waiter_wait(cio__waitq *q, cio__waiter *w);

/* Both of the above. */
int cio__wait(cio__waitq *q, cio__sync_home *home, cio__waiter *w);

/* Wakes w (which must be queued in q) with outcome rc. */
void cio__waiter_wake(cio__waitq *q, cio__waiter *w, int rc);

static inline bool cio__waitq_empty(const cio__waitq *q)
{
    return q->head == NULL;
}

/* Takes the first waiter off the queue and wakes it with rc; returns it
 * (the caller may fill w->item before the task runs), or NULL. */
static inline cio__waiter *cio__waitq_wake_one(cio__waitq *q, int rc)
{
    cio__waiter *w = q->head;
    if (w)
        cio__waiter_wake(q, w, rc);
    return w;
}

/* Wakes every queued waiter with rc, in queue order; returns how many. */
size_t cio__waitq_wake_all(cio__waitq *q, int rc);

#endif
