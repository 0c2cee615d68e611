/* Task groups (asyncio.TaskGroup, trio's nursery).
 *
 * The group holds a reference to every child. When a child fails, the
 * group records the first failure, cancels the other children, and stops
 * accepting new ones; wait returns that failure once every child has
 * ended. Later failures are reported through the loop's report function
 * (asyncio collects them in an ExceptionGroup; C has no such value, and a
 * lost error is the one thing cio does not allow). A child that ends
 * cancelled is not a failure. The owner task is
 * not cancelled for good when a child fails: its current (or next)
 * suspension in the group's body fails once with -ECANCELED, so it reaches
 * wait, which returns the failure (asyncio cancels and later uncancels). */
#include <stdlib.h>

#include "internal.h"

struct cio_task_group {
    struct cio__task *owner;
    cio_loop *loop;
    cio_future **kids;
    size_t n, cap;
    size_t alive;
    int first_err;
    bool closing;
    bool waited;
    bool interrupted_owner;
    cio_future *all_done; /* completed when alive drops to zero */
};

int cio_task_group_new(cio_task_group **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct cio__task *t = cio__task_current();
    if (!t)
        return -EPERM;
    cio_task_group *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->owner = t;
    g->loop = t->loop;
    *out = g;
    return 0;
}

int cio_task_group_spawn(cio_task_group *g, const cio_task_options *opts, cio_task_fn fn,
                         void *arg, cio_task **out)
{
    if (out)
        *out = NULL;
    if (!g)
        return -EINVAL;
    if (g->closing)
        return -EBUSY; /* a child failed, or the owner was interrupted */
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 8;
        void *p = realloc(g->kids, ncap * sizeof *g->kids);
        if (!p)
            return -ENOMEM;
        g->kids = p;
        g->cap = ncap;
    }
    cio_future *child;
    int rc = cio__task_create(g->loop, opts, fn, arg, g, false, &child);
    if (rc)
        return rc;
    g->kids[g->n++] = child;
    g->alive++;
    if (out)
        *out = cio_future_ref(child);
    return 0;
}

void cio_task_group_cancel(cio_task_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        if (!cio_future_done(g->kids[i]))
            cio_future_cancel(g->kids[i]);
    }
}

void cio__group_child_done(struct cio_task_group *g, cio_future *child)
{
    g->alive--;
    int err = cio__future_peek_error(child);
    if (err && err != -ECANCELED) {
        cio__future_mark_retrieved(child);
        if (!g->first_err) {
            g->first_err = err;
            g->closing = true;
            cio_task_group_cancel(g);
            if (!g->waited) {
                /* The owner is still in the group's body: interrupt it once
                 * (asyncio cancels it), so it reaches wait. */
                g->interrupted_owner = true;
                cio__task_interrupt(g->owner, -ECANCELED);
            }
        } else {
            cio_loop_report(g->loop, "task group: task %s also failed: %s (%s)",
                            cio_task_name(child), cio_err_name(err), cio_strerror(err));
        }
    }
    if (g->alive == 0 && g->all_done)
        cio_future_set_result(g->all_done, NULL, NULL);
}

/* Waits until no child is alive; returns how the wait was interrupted. */
static int wait_children(cio_task_group *g)
{
    if (!g->alive)
        return 0;
    int rc = cio_future_new(g->loop, &g->all_done);
    if (rc)
        return rc;
    rc = cio_await(g->all_done, NULL);
    cio_future_unref(g->all_done);
    g->all_done = NULL;
    return rc;
}

int cio_task_group_wait(cio_task_group *g)
{
    if (!g || g->waited)
        return -EINVAL;
    if (cio__task_current() != g->owner)
        return -EPERM;
    g->waited = true;
    if (g->interrupted_owner)
        g->owner->interrupt = 0; /* undo what the group did (asyncio's uncancel) */
    int rc = wait_children(g);
    if (rc) {
        /* The owner was cancelled or its deadline passed: cancel the
         * children and wait for them without being interrupted again. */
        g->closing = true;
        cio_task_group_cancel(g);
        cio_scope shield;
        cio_shield_begin(&shield);
        while (g->alive && wait_children(g) == 0)
            ;
        cio_scope_end(&shield);
    }
    int result = g->first_err ? g->first_err : rc;
    for (size_t i = 0; i < g->n; i++)
        cio_future_unref(g->kids[i]);
    free(g->kids);
    free(g);
    return result;
}
