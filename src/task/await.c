/* Awaitable forms of the combinators, wait_for and to_thread: each builds
 * the callback-style combinator (src/future) and awaits it, so the
 * semantics are written once. */
#include "../common/opts.h"
#include "internal.h"

static cio_loop *task_loop(void)
{
    struct cio__task *t = cio__task_current();
    return t ? t->loop : NULL;
}

/* Awaits f, a future the caller made for this one wait and owns: if the
 * waiting task is interrupted first, f is cancelled, with the task's
 * cancellation message if it was cancelled with one (for a gather that
 * cancels the children, for a shield or wait nothing else, for a job it
 * never starts); f is released either way. *value as for cio_await, so
 * it must not point into f's own memory. */
static int await_own(cio_future *f, void **value)
{
    int rc = cio_await(f, value);
    if (rc && !cio_future_is_done(f)) {
        /* asyncio's Task.cancel(msg) cancels the future the task awaits with
         * the same msg, so a gather's or wait_for's children learn why. A
         * deadline cancels with none. A message that cannot be copied is
         * dropped, the cancellation is not. */
        const char *msg = rc == -ECANCELED ? cio_future_cancel_message(cio_current_task()) : NULL;
        if (cio_future_cancel_with_message(f, msg) == -ENOMEM)
            cio_future_cancel(f);
    }
    cio_future_unref(f);
    return rc;
}

int cio_gather(cio_future *const *futs, size_t n, int flags, void **results)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    cio_future *g;
    int rc = cio_gather_future(loop, futs, n, flags, &g);
    if (rc)
        return rc;
    void **r;
    cio_future_ref(g); /* its result array is read after the wait */
    rc = await_own(g, (void **)&r);
    if (rc == 0 && results) {
        for (size_t i = 0; i < n; i++)
            results[i] = r ? r[i] : NULL;
    }
    cio_future_unref(g);
    return rc;
}

int cio_wait(cio_future *const *futs, size_t n, cio_wait_mode mode, double timeout, cio_future **done,
             size_t *n_done, cio_future **pending, size_t *n_pending)
{
    if (n_done)
        *n_done = 0;
    if (n_pending)
        *n_pending = 0;
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    cio_future *w;
    int rc = cio_wait_future(loop, futs, n, mode, timeout, &w);
    if (rc)
        return rc;
    rc = await_own(w, NULL);
    if (rc)
        return rc;
    /* The sets are taken now, when the task runs again, not from the wait
     * future's result: asyncio's wait() also sorts the futures after its
     * waiter resumed, so what finished in between is reported done. */
    size_t d = 0, p = 0;
    for (size_t i = 0; i < n; i++) {
        if (cio_future_is_done(futs[i])) {
            if (done)
                done[d] = futs[i];
            d++;
        } else {
            if (pending)
                pending[p] = futs[i];
            p++;
        }
    }
    if (n_done)
        *n_done = d;
    if (n_pending)
        *n_pending = p;
    return 0;
}

int cio_shield(cio_future *fut, void **result)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    cio_future *s;
    int rc = cio_shield_future(loop, fut, &s);
    return rc ? rc : await_own(s, result); /* the value is fut's */
}

int cio_as_completed_next(cio_as_completed *it, cio_future **done)
{
    if (!task_loop())
        return -EPERM;
    if (done)
        *done = NULL;
    cio_future *next;
    int rc = cio_as_completed_next_future(it, &next);
    if (rc)
        return rc;
    void *child; /* owned by the iterator */
    cio__as_completed_task_waits(it, +1);
    rc = cio_await(next, &child);
    cio__as_completed_task_waits(it, -1);
    /* Not await_own: an interrupted step is given back, not only
     * cancelled (no message either: nobody else sees this future). */
    if (rc)
        cio__as_completed_step_interrupted(it, next, rc);
    cio_future_unref(next);
    if (rc == 0 && done)
        *done = child;
    return rc;
}

int cio_wait_for(cio_future *fut, double timeout, void **result)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    if (result)
        *result = NULL;
    cio_future *w;
    int rc = cio_wait_for_future(loop, fut, timeout, &w);
    return rc ? rc : await_own(w, result); /* the value is fut's */
}

int cio_to_thread_with(const cio_work_options *opts, cio_work_fn fn, void *arg, void **result)
{
    cio_loop *loop = task_loop();
    if (!loop)
        return -EPERM;
    if (result)
        *result = NULL;
    /* Copied: result_free is read below, after the wait, and a caller's
     * struct from an older header may not have it. */
    cio_work_options o = CIO_WORK_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    cio_future *job;
    rc = cio__context_to_thread_future(loop, &o, fn, arg, &job); /* with the task's context */
    if (rc)
        return rc;
    /* The result is taken out of the job after the wait, so that dropping
     * the job does not free it under the caller. One the caller does not
     * want is freed here, not whenever the job's last reference goes (a
     * wakeup in the ready queue may still hold one). On an error the job
     * freed any result itself. */
    cio_future_ref(job);
    rc = await_own(job, NULL);
    void *value = NULL;
    if (rc == 0)
        cio_future_take_result(job, &value);
    cio_future_unref(job);
    if (result)
        *result = value;
    else if (value && o.result_free)
        o.result_free(value);
    return rc;
}

int cio_to_thread(cio_work_fn fn, void *arg, void **result)
{
    return cio_to_thread_with(NULL, fn, arg, result);
}
