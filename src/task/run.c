/* cio_run: asyncio.run for C. */
#include "internal.h"

/* Lets every task end: cancels the stragglers, then runs until none is
 * left (cancellation is sticky, so each ends at its next suspension). */
static void finish_tasks(cio_loop *loop)
{
    for (int round = 0; loop->ntasks && round < 1000; round++) {
        size_t n = cio_all_tasks(loop, NULL, 0);
        cio_task *buf[64];
        size_t got = cio_all_tasks(loop, buf, n < 64 ? n : 64);
        for (size_t i = 0; i < got && i < 64; i++) {
            if (!cio_future_done(buf[i]))
                cio_future_cancel(buf[i]);
            cio_future_unref(buf[i]);
        }
        for (int k = 0; k < 100 && loop->ntasks; k++)
            cio_loop_run_once(loop, 0);
    }
}

int cio_run_with(const cio_loop_options *opts, cio_task_fn main, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (!main)
        return -EINVAL;
    if (cio__task_current() || (cio__tls_loop && cio_loop_is_running(cio__tls_loop)))
        return -EBUSY; /* asyncio.run cannot be called from a running loop */
    cio_loop *loop;
    int rc = cio_loop_new(&loop, opts);
    if (rc)
        return rc;
    cio_task_options topts = {.name = "main"};
    cio_task *task;
    if ((rc = cio_task_new(loop, &topts, main, arg, &task)) != 0) {
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
        cio_future_steal_result(task, result);
    cio_future_unref(task);
    finish_tasks(loop);
    /* Generators the program left open: their bodies were cancelled with
     * the other tasks above (a yield then returns -ECANCELED, as for
     * cio_gen_close), so only their memory is left to free. */
    cio__gens_end(loop);
    /* What the program left behind (timers, callbacks) dies with the loop,
     * as in asyncio; debug mode says what. */
    for (int i = 0; i < 1000 && loop->tail != loop->head; i++)
        cio_loop_run_once(loop, CIO_RUN_NOWAIT); /* done-callbacks release futures */
    while (loop->jobs_inflight)
        cio_loop_run_once(loop, 0); /* asyncio waits for the default executor too */
    if (cio_loop_close(loop) == -EBUSY) {
        size_t n = cio__loop_discard(loop);
        if (n && cio_loop_get_debug(loop))
            cio_loop_report(loop, "cio_run: discarded %zu pending callback(s), timer(s) or "
                                  "watcher(s) at exit", n);
        cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    }
    if (cio_loop_free(loop) != 0) {
        /* Futures still referenced by the program: freeing the loop would
         * leave them dangling, so it is kept (and said). A success here
         * would hide the leak from a caller that checks only the return
         * value; main's own error, if any, stays the more useful answer. */
        cio_loop_set_debug(loop, true);
        cio_loop_close(loop);
        cio_loop_report(loop, "cio_run: the loop could not be freed (see above); leaked");
        if (rc == 0)
            rc = -EBUSY;
    }
    return rc;
}

int cio_run(cio_task_fn main, void *arg, void **result)
{
    return cio_run_with(NULL, main, arg, result);
}
