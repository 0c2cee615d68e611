/* asyncio.Event. */
#include <stdlib.h>

#include "waitq.h"

struct cio_event {
    bool set;
    cio__sync_home home;
    cio__waitq waiters; /* nonempty only while clear */
};

int cio_event_new(cio_event **out)
{
    if (!out)
        return -EINVAL;
    cio_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return -ENOMEM;
    *out = ev;
    return 0;
}

int cio_event_free(cio_event *ev)
{
    if (!ev)
        return 0;
    if (ev->home.waiting)
        return -EBUSY;
    free(ev);
    return 0;
}

void cio_event_set(cio_event *ev)
{
    if (!ev || ev->set)
        return;
    ev->set = true;
    /* Every waiter is woken now, so a clear() right after this set does
     * not strand any of them (asyncio's semantics too). */
    cio__waitq_wake_all(&ev->waiters, 0);
}

void cio_event_clear(cio_event *ev)
{
    if (ev)
        ev->set = false;
}

bool cio_event_is_set(const cio_event *ev)
{
    return ev && ev->set;
}

int cio_event_wait(cio_event *ev)
{
    if (!ev)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (ev->set)
        return 0;
    cio__waiter w;
    /* A set() seen by a waiter that then gave up wakes nobody else: every
     * waiter was woken by it. */
    return cio__wait(&ev->waiters, &ev->home, &w);
}
