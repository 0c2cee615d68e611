/* Awaitable forms of the combinators, wait_for and to_thread: each builds
 * the callback-style combinator (src/future) and awaits it, so the
 * semantics are written once. */
#include "internal.h"

static cio_loop *task_loop(void)
{
    struct cio__task *t = cio__task_current();
    return t ? t->loop : NULL;
}

int cio_gather_await(cio_future *const *futs, size_t n, int flags, void **results)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    cio_future *g;
    int rc = cio_gather(loop, futs, n, flags, &g);
    if (rc)
        return rc;
    void *value;
    rc = cio_await(g, &value);
    if (rc && !cio_future_done(g)) {
        /* The waiting task was interrupted: asyncio cancels the children. */
        cio_future_cancel(g);
    } else if (rc == 0 && results) {
        void **r = value;
        for (size_t i = 0; i < n; i++)
            results[i] = r ? r[i] : NULL;
    }
    cio_future_unref(g);
    return rc;
}

int cio_wait_await(cio_future *const *futs, size_t n, cio_wait_mode mode, double timeout)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    cio_future *w;
    int rc = cio_wait(loop, futs, n, mode, timeout, &w);
    if (rc)
        return rc;
    void *value;
    rc = cio_await(w, &value);
    if (rc && !cio_future_done(w))
        cio_future_cancel(w); /* leaves the children alone */
    cio_future_unref(w);
    return rc ? rc : (int)(uintptr_t)value;
}

int cio_shield_await(cio_future *fut, void **result)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    cio_future *s;
    int rc = cio_shield(loop, fut, &s);
    if (rc)
        return rc;
    rc = cio_await(s, result);
    if (rc && !cio_future_done(s))
        cio_future_cancel(s); /* the inner future keeps running */
    cio_future_unref(s);
    return rc;
}

int cio_as_completed_await(cio_as_completed *it, cio_future **done)
{
    if (!task_loop())
        return -EPERM;
    if (done)
        *done = NULL;
    cio_future *next;
    int rc = cio_as_completed_next(it, &next);
    if (rc)
        return rc;
    void *value;
    rc = cio_await(next, &value);
    if (rc && !cio_future_done(next))
        cio_future_cancel(next);
    else if (rc == 0 && done)
        *done = value;
    cio_future_unref(next);
    return rc;
}

int cio_await_for(cio_future *fut, double timeout, void **result)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    if (result)
        *result = NULL;
    cio_future *w;
    int rc = cio_wait_for(loop, fut, timeout, &w);
    if (rc)
        return rc;
    rc = cio_await(w, result);
    if (rc && !cio_future_done(w))
        cio_future_cancel(w); /* the task was interrupted: cancel fut too */
    cio_future_unref(w);
    return rc;
}

int cio_to_thread(cio_work_fn fn, void *arg, void **result)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    if (result)
        *result = NULL;
    cio_future *job;
    int rc = cio_loop_run_in_executor(loop, fn, arg, &job);
    if (rc)
        return rc;
    rc = cio_await(job, result);
    if (rc && !cio_future_done(job))
        cio_future_cancel(job); /* never runs if not started yet */
    cio_future_unref(job);
    return rc;
}
