/* The wait queue shared by every synchronisation object (see waitq.h). */
#include "waitq.h"

int cio__waiter_enqueue(cio__waitq *q, cio__sync_home *home, cio__waiter *w)
{
    /* Callers look at w->woken whatever this returns. */
    w->woken = false;
    w->rc = 0;
    w->fut = NULL;
    if (!cio_current_task())
        return -EPERM;
    cio_loop *loop = cio_current_loop();
    if (home->waiting && home->loop != loop)
        return -EINVAL; /* asyncio: "is bound to a different event loop" */
    int rc = cio_future_new(loop, &w->fut);
    if (rc)
        return rc;
    home->loop = loop;
    home->waiting++;
    w->home = home;
    w->item = NULL;
    w->seq = 0;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    return 0;
}

static void unlink_waiter(cio__waitq *q, cio__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
}

int cio__waiter_wait(cio__waitq *q, cio__waiter *w)
{
    int rc = cio_await(w->fut, NULL);
    if (--w->home->waiting == 0)
        w->home->loop = NULL;
    if (!w->woken)
        unlink_waiter(q, w);
    cio_future_unref(w->fut);
    w->fut = NULL;
    if (rc == 0) {
        /* Only a waker completes the future. */
        assert(w->woken);
        return w->rc;
    }
    return rc;
}

int cio__wait(cio__waitq *q, cio__sync_home *home, cio__waiter *w)
{
    int rc = cio__waiter_enqueue(q, home, w);
    return rc ? rc : cio__waiter_wait(q, w);
}

void cio__waiter_wake(cio__waitq *q, cio__waiter *w, int rc)
{
    assert(!w->woken);
    unlink_waiter(q, w);
    w->woken = true;
    w->rc = rc;
    /* Cannot fail: the future is ours, pending, and nobody else completes
     * it (cancelling the task does not cancel what it awaits). */
    int r = cio_future_set_result(w->fut, NULL, NULL);
    assert(r == 0);
    (void)r;
}

size_t cio__waitq_wake_all(cio__waitq *q, int rc)
{
    size_t n = 0;
    while (q->head) {
        cio__waiter_wake(q, q->head, rc);
        n++;
    }
    return n;
}
