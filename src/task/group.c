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
 * wait, which returns the failure (asyncio cancels and later uncancels).
 *
 * C has no `async with`, so an owner can return without waiting. Its task
 * state lives in its stack slot, which the next task reuses: a group left
 * behind would interrupt that stranger on a child's failure. So an owner
 * tracks its open groups as it tracks its open scopes, and its end closes
 * them the way leaving the `async with` block would. */
#include <stdlib.h>

#include "internal.h"

struct cio_task_group {
    struct cio__task *owner;
    struct cio_task_group *next_open; /* the owner's list of open groups */
    cio_loop *loop;
    cio_future **kids;
    size_t n, cap;
    size_t alive;
    int first_err;
    bool closing;
    bool waited;
    bool interrupted_owner;
    /* Completed when alive drops to zero in cio_task_group_end. Made by
     * cio_task_group_begin, so that the end allocates nothing: a wait that
     * could fail with -ENOMEM inside the end's shield would leave it no
     * choice but to free the group under its living children. */
    cio_future *all_done;
};

int cio_task_group_begin(cio_task_group **out)
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
    int rc = cio_future_new(t->loop, &g->all_done);
    if (rc) {
        free(g);
        return rc;
    }
    g->owner = t;
    g->loop = t->loop;
    g->next_open = t->groups;
    t->groups = g;
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
    if (g->waited && g->alive == 0)
        return -EBUSY; /* the end saw the last child end (asyncio: "finished") */
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
    CIO__FUTURE_SITE(child); /* debug mode: made by our caller */
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
        if (!cio_future_is_done(g->kids[i]))
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
            cio_loop_report(g->loop, "task group: task %s also failed: %s (%s); the group "
                                     "returns only its first error",
                            cio_task_name(child), cio_err_name(err), cio_strerror(err));
        }
    }
    if (g->alive == 0 && g->waited)
        cio_future_set_result(g->all_done, NULL, NULL);
}

/* Waits until no child is alive; returns how the wait was interrupted.
 * It allocates nothing: all_done exists since cio_task_group_begin, and
 * its only awaiter fits in the future's own room for two entries (an
 * interrupted wait leaves a tombstone the next one compacts away). So
 * inside a shield, where no interruption reaches it, it returns 0. */
static int wait_children(cio_task_group *g)
{
    if (!g->alive)
        return 0;
    return cio_await(g->all_done, NULL);
}

int cio_task_group_end(cio_task_group *g)
{
    if (!g || g->waited)
        return -EINVAL;
    if (cio__task_current() != g->owner)
        return -EPERM;
    /* Groups are usually waited for newest first: the walk is short. */
    cio_task_group **pp = &g->owner->groups;
    while (*pp != g)
        pp = &(*pp)->next_open;
    *pp = g->next_open;
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
        /* Until the last child has ended, whatever a wait returns: the
         * group must not be freed while a child can still write to it. */
        while (g->alive)
            (void)wait_children(g);
        cio_scope_end(&shield);
    }
    int result = g->first_err ? g->first_err : rc;
    for (size_t i = 0; i < g->n; i++)
        cio_future_unref(g->kids[i]);
    cio_future_unref(g->all_done);
    free(g->kids);
    free(g);
    return result;
}

int cio__groups_close_left_open(struct cio__task *t, int rc)
{
    while (t->groups) {
        cio_task_group *g = t->groups;
        /* Said before waiting, so a wait that never ends is explained. */
        cio_loop_report(g->loop,
                        "task %s returned with a task group still open (every cio_task_group_begin "
                        "needs its cio_task_group_end): %s its %zu running child task(s)",
                        cio_task_name(t->fut), rc < 0 ? "cancelling and waiting for" : "waiting for",
                        g->alive);
        if (rc < 0) {
            /* The body failed: asyncio's `async with` cancels on the way out. */
            g->closing = true;
            cio_task_group_cancel(g);
        }
        int err = cio_task_group_end(g); /* unlinks and frees g */
        if (err && rc == 0) {
            /* The group's failure (or the task's cancellation while it
             * waited) is the task's outcome, as it would be in asyncio. */
            rc = err;
        } else if (err && err != rc && err != -ECANCELED) {
            cio_loop_report(t->loop, "task %s: the task group it left open also failed: %s (%s); "
                                     "the task's own error is its outcome",
                            cio_task_name(t->fut), cio_err_name(err), cio_strerror(err));
        }
    }
    return rc;
}
