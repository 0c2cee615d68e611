/* cio_run: asyncio.run for C. */
#include <stdio.h>

#include "internal.h"

/* White-box tests (tests/task/test_many_tasks.c) count the steps of the
 * teardown's walks over the task list, to show that the total stays O(n). */
#ifndef CIO__TEARDOWN_STEP
#define CIO__TEARDOWN_STEP() ((void)0)
#endif

/* Cancels every task whose id is above `seen`. New tasks go to the head of
 * the loop's list with ever larger ids (cio__task_create), so those are the
 * first ones of the list, and the walk stops at the first older task: over
 * a whole teardown each task is visited about once, however many rounds
 * it takes, where walking the whole list every round was O(n^2).
 *
 * Cancelling a task only schedules its wakeup; no task runs here, so the
 * list does not change under the walk. Except when the ready queue is out
 * of memory: the task is then resumed on the spot (cio__task_wake), and
 * anything may happen, including the end of the next task in the list.
 * The walk therefore holds the next task's future, and starts over from
 * the head if that task ended meanwhile; tasks already cancelled are
 * passed over, and only this rare case pays twice. */
static void cancel_newer(cio_loop *loop, uint64_t seen)
{
    struct cio__task_loop *tl = cio__task_loop(loop);
    struct cio__task *t = tl->tasks;
    while (t && t->id > seen) {
        CIO__TEARDOWN_STEP();
        cio_future *next = t->next ? cio_future_ref(t->next->fut) : NULL;
        if (!cio__future_cancel_requested(t->fut))
            cio_future_cancel(t->fut);
        if (!next)
            break;
        t = cio__future_task(next); /* NULL if it ended meanwhile */
        if (!t)
            t = tl->tasks;
        cio_future_unref(next);
    }
}

/* The names of the first few tasks of the loop's list, for a report:
 * "worker, task-7, ..." (newest first). */
static void name_some_tasks(cio_loop *loop, char *buf, size_t len)
{
    size_t used = 0;
    int n = 0;
    buf[0] = 0;
    for (struct cio__task *t = cio__task_loop(loop)->tasks; t && used + 1 < len;
         t = t->next, n++) {
        int w = snprintf(buf + used, len - used, "%s%s", n ? ", " : "",
                         n == 4 ? "..." : cio_task_name(t->fut));
        if (w < 0 || (size_t)w >= len - used || n == 4)
            break;
        used += (size_t)w;
    }
}

/* asyncio.run's end: cancels the tasks main left behind, then runs the
 * loop until every one has ended. Cancellation is sticky, so a task that
 * catches it still fails at its next suspension outside a shield scope; a
 * task that shields its cleanup is waited for, however long the cleanup
 * takes. Tasks started meanwhile (by cleanup code) are cancelled too, the
 * next round. The loop blocks while nothing is ready, as any run does.
 *
 * The one case not waited for: tasks remain, but nothing is left that
 * could wake them (no callback, timer, descriptor, signal handler, pool
 * job or pending cross-thread call: they await futures nobody will
 * finish, or that only a thread of the program's own, with nothing queued
 * yet, could). asyncio would hang there forever;
 * this reports it and returns, and the tasks are left with the loop,
 * which then cannot be freed (cio_run says so and fails). A task that
 * failed other than by cancellation is reported when its future is
 * freed, as for any task ("error was never retrieved"). */
static void finish_tasks(cio_loop *loop)
{
    struct cio__task_loop *tl = cio__task_loop(loop);
    uint64_t seen = 0; /* every task with a larger id is still to cancel */
    int failures = 0;  /* polls failed in a row */
    while (tl->ntasks) {
        if (tl->task_seq > seen) {
            uint64_t last = tl->task_seq;
            cancel_newer(loop, seen);
            seen = last;
        }
        CIO__TEARDOWN_STEP();
        int rc = cio_loop_run_once(loop, 0);
        if (rc == 0 && tl->ntasks && tl->task_seq == seen) {
            char names[160];
            name_some_tasks(loop, names, sizeof names);
            cio_loop_report(loop, "cio_run: %zu task(s) (%s) did not end after cancellation and "
                                  "nothing is left that could wake them (they wait for futures "
                                  "nobody completes); left with the loop",
                            tl->ntasks, names);
            return;
        }
        /* The loop reported the failure; a failed poll waits a little
         * (poll_failed), so a hundred in a row is a second or more. */
        failures = rc < 0 ? failures + 1 : 0;
        if (failures == 100) {
            cio_loop_report(loop, "cio_run: the loop keeps failing (%s) while %zu task(s) "
                                  "are ending; left with the loop",
                            cio_strerror(rc), tl->ntasks);
            return;
        }
    }
}

int cio_run_with(const cio_loop_options *opts, cio_task_fn main, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (!main)
        return -EINVAL;
    /* asyncio.run "cannot be called from a running event loop": the new
     * loop would block the thread that runs the other one, whose tasks and
     * callbacks would wait, unseen, until this run ends. */
    if (cio__task_current() || cio_current_loop())
        return -EDEADLK;
    cio_loop *loop;
    int rc = cio_loop_new(opts, &loop);
    if (rc)
        return rc;
    cio_task *task;
    if ((rc = cio_task_new(loop, &CIO_TASK_OPTIONS(.name = "main"), main, arg, &task)) != 0) {
        cio_loop_free(loop);
        return rc;
    }
    cio__gens_begin(loop);
    rc = cio_loop_run_until_complete(loop, task);
    while (rc == -EINTR) /* someone called cio_loop_stop: main is not done */
        rc = cio_loop_run_until_complete(loop, task);
    /* Taken out, not read: dropping the task below would otherwise free a
     * result main gave a destructor (cio_task_set_result_free), and hand
     * the caller a dangling pointer. With no one to take it, it is freed. */
    if (rc == 0 && result)
        cio_future_take_result(task, result);
    cio_future_unref(task);
    finish_tasks(loop);
    /* Generators the program left open: their bodies were cancelled with
     * the other tasks above (a yield then returns -ECANCELED, as for
     * cio_gen_close), so only their memory is left to free. */
    cio__gens_end(loop);
    /* What the program left behind (timers, callbacks) dies with the loop,
     * as in asyncio; debug mode says what. */
    cio__loop_shutdown(loop);
    if (cio_loop_free(loop) != 0) {
        /* Futures still referenced by the program: freeing the loop would
         * leave them dangling, so it is kept (and said). A success here
         * would hide the leak from a caller that checks only the return
         * value; main's own error, if any, stays the more useful answer. */
        cio_loop_set_debug(loop, true);
        cio_loop_close(loop);
        cio_loop_report(loop, "cio_run: the loop could not be freed: the program still holds "
                              "references to its futures or tasks (listed above; run with "
                              "CIO_DEBUG=1 to see where each was made); the loop is leaked");
        if (rc == 0)
            rc = -EBUSY;
    }
    return rc;
}

int cio_run(cio_task_fn main, void *arg, void **result)
{
    return cio_run_with(NULL, main, arg, result);
}
